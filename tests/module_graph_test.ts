/**
 * The repository's own modules import one another without circles, `lib/tf.ts`
 * is a leaf over tfjs, and `lib/config.ts` loads no tensor library (it reads the
 * architectures' tensor-free profiles, not their records).
 *
 * The module graph is Deno's own (`deno info --json`) from `mod.ts`, every
 * sub-path export of deno.json and every `tasks/*.ts`: static imports,
 * dynamic imports with a literal specifier, and type-only imports all count
 * as edges (a circle of types is still a circle of the layout).
 */
import assert from "node:assert/strict";

/** The repository root, as a directory URL. */
const ROOT = new URL("../", import.meta.url);

/** One import: from a module to another, and how. */
type Edge = { readonly to: string; readonly kind: "code" | "type"; readonly dynamic: boolean };

/** Modules (repository-relative paths, or the specifier of an outside module) and their imports. */
type Graph = Map<string, Edge[]>;

/** What `deno info --json` says of a module and its imports (the fields read here). */
type InfoJson = {
  readonly modules: readonly {
    readonly specifier: string;
    readonly dependencies?: readonly {
      readonly specifier: string;
      readonly isDynamic?: boolean;
      readonly code?: { readonly specifier?: string };
      readonly type?: { readonly specifier?: string };
    }[];
  }[];
  readonly redirects?: Readonly<Record<string, string>>;
};

/**
 * The deno binary to start. `Deno.execPath()` is the running binary; the task's
 * `--allow-run=deno` grants the `deno` found on PATH, which can be a symlink
 * to it that the permission does not see through.
 */
async function denoBinary(): Promise<string> {
  const self = await Deno.permissions.query({ name: "run", command: Deno.execPath() });
  return self.state === "granted" ? Deno.execPath() : "deno";
}

/** `deno info --json` of `entry` (relative to the root). */
async function denoInfo(entry: string): Promise<InfoJson> {
  const { code, stdout, stderr } = await new Deno.Command(await denoBinary(), {
    args: ["info", "--json", entry],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  assert.equal(code, 0, `deno info --json ${entry}: expected exit 0, received ${code}:\n${decode(stderr)}`);
  return JSON.parse(decode(stdout));
}

/** A module's name in the graph: its path for a file of the repository, else its (redirected) specifier. */
function nameOf(specifier: string, redirects: Readonly<Record<string, string>>): string {
  const resolved = redirects[specifier] ?? specifier;
  return resolved.startsWith(ROOT.href) ? resolved.slice(ROOT.href.length) : resolved;
}

/** Adds the modules and imports of `info` to `graph`. */
function addInfo(graph: Graph, info: InfoJson): void {
  const redirects = info.redirects ?? {};
  for (const module of info.modules) {
    const from = nameOf(module.specifier, redirects);
    const edges = graph.get(from) ?? [];
    graph.set(from, edges);
    for (const dependency of module.dependencies ?? []) {
      for (const kind of ["code", "type"] as const) {
        const target = dependency[kind]?.specifier;
        if (target === undefined) continue;
        const to = nameOf(target, redirects);
        if (!edges.some((e) => e.to === to && e.kind === kind)) {
          edges.push({ to, kind, dynamic: dependency.isDynamic === true });
        }
      }
    }
  }
}

/** Whether a module of the graph is one of the repository's own (not a package, not node_modules). */
function isOwn(name: string): boolean {
  return !name.includes(":") && !name.startsWith("node_modules/");
}

/**
 * One circle per strongly connected component of `graph` that has one (a
 * component of two or more modules, or a module that imports itself), each as
 * the path `[a, b, …, a]`, starting from the component's first module in
 * sorted order. Tarjan's algorithm, without recursion.
 */
function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  let counter = 0;
  const nodes = [...new Set([...graph.keys(), ...[...graph.values()].flat()])].sort();
  for (const start of nodes) {
    if (index.has(start)) continue;
    const work: { node: string; next: number }[] = [{ node: start, next: 0 }];
    index.set(start, counter);
    low.set(start, counter++);
    stack.push(start);
    onStack.add(start);
    while (work.length > 0) {
      const frame = work[work.length - 1];
      const targets = graph.get(frame.node) ?? [];
      if (frame.next < targets.length) {
        const to = targets[frame.next++];
        if (!index.has(to)) {
          index.set(to, counter);
          low.set(to, counter++);
          stack.push(to);
          onStack.add(to);
          work.push({ node: to, next: 0 });
        } else if (onStack.has(to)) {
          low.set(frame.node, Math.min(low.get(frame.node)!, index.get(to)!));
        }
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1].node;
        low.set(parent, Math.min(low.get(parent)!, low.get(frame.node)!));
      }
      if (low.get(frame.node) === index.get(frame.node)) {
        const component: string[] = [];
        let node: string;
        do {
          node = stack.pop()!;
          onStack.delete(node);
          component.push(node);
        } while (node !== frame.node);
        const selfLoop = (graph.get(frame.node) ?? []).includes(frame.node);
        if (component.length > 1 || selfLoop) components.push(component.sort());
      }
    }
  }
  return components.map((component) => {
    const inside = new Set(component);
    const first = component[0];
    // Breadth-first from the first module back to itself, inside the component.
    const previous = new Map<string, string>();
    const queue = [first];
    search: while (queue.length > 0) {
      const node = queue.shift()!;
      for (const to of graph.get(node) ?? []) {
        if (!inside.has(to) || previous.has(to)) continue;
        previous.set(to, node);
        if (to === first) break search;
        queue.push(to);
      }
    }
    const path = [first];
    for (let node = previous.get(first)!; node !== first; node = previous.get(node)!) path.unshift(node);
    path.unshift(first);
    return path;
  }).sort((a, b) => a[0].localeCompare(b[0]));
}

/** The shortest chain of imports from `start` to a module that `wanted` accepts, or undefined. */
function chainTo(graph: Graph, start: string, wanted: (name: string) => boolean): string[] | undefined {
  const previous = new Map<string, string | null>([[start, null]]);
  const queue = [start];
  while (queue.length > 0) {
    const node = queue.shift()!;
    if (wanted(node)) {
      const chain = [node];
      for (let p = previous.get(node); p !== null && p !== undefined; p = previous.get(p)) chain.unshift(p);
      return chain;
    }
    for (const { to } of graph.get(node) ?? []) {
      if (!previous.has(to)) {
        previous.set(to, node);
        queue.push(to);
      }
    }
  }
  return undefined;
}

/** `a → b (type) → c (dynamic) → a`: a path of the graph with how each import is made. */
function describePath(graph: Graph, path: readonly string[]): string {
  return path.map((node, i) => {
    if (i === 0) return node;
    const edge = graph.get(path[i - 1])?.find((e) => e.to === node);
    const how = [edge?.kind === "type" ? "type-only" : "", edge?.dynamic ? "dynamic" : ""].filter(Boolean);
    return how.length > 0 ? `${node} (${how.join(", ")})` : node;
  }).join(" → ");
}

/** The repository's own modules and the imports among them. */
function ownGraph(graph: Graph): Map<string, string[]> {
  const own = new Map<string, string[]>();
  for (const [from, edges] of graph) {
    if (!isOwn(from)) continue;
    own.set(from, [...new Set(edges.filter((e) => isOwn(e.to)).map((e) => e.to))]);
  }
  return own;
}

/** The entry points: mod.ts, deno.json's exports and every tasks/*.ts. */
async function entryPoints(): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
  const exports = Object.values(config.exports as Record<string, string>).map((p) => p.replace(/^\.\//, ""));
  const tasks: string[] = [];
  for await (const entry of Deno.readDir(new URL("tasks/", ROOT))) {
    if (entry.isFile && entry.name.endsWith(".ts")) tasks.push(`tasks/${entry.name}`);
  }
  return [...new Set(["mod.ts", ...exports, ...tasks.sort()])];
}

Deno.test("findCycles() names each circle as a path, and finds none in a graph without one", () => {
  const circle = new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a", "d"]], ["d", ["e"]], ["e", []]]);
  assert.deepEqual(findCycles(circle), [["a", "b", "c", "a"]]);
  // Two circles, one through a shortcut, and a module that imports itself.
  const several = new Map([
    ["x", ["y"]],
    ["y", ["x", "z"]],
    ["z", ["z"]],
    ["p", ["q", "r"]],
    ["q", ["r"]],
    ["r", ["p"]],
  ]);
  assert.deepEqual(findCycles(several), [["p", "r", "p"], ["x", "y", "x"], ["z", "z"]]);
  // A diamond is not a circle.
  const diamond = new Map([["a", ["b", "c"]], ["b", ["d"]], ["c", ["d"]], ["d", []]]);
  assert.deepEqual(findCycles(diamond), []);
});

Deno.test("chainTo() and describePath() name the imports that lead somewhere, and how they are made", () => {
  const graph: Graph = new Map([
    ["a.ts", [{ to: "b.ts", kind: "code", dynamic: false }]],
    ["b.ts", [{ to: "c.ts", kind: "type", dynamic: false }, { to: "a.ts", kind: "code", dynamic: true }]],
    ["c.ts", [{ to: "npm:/pkg@1.0.0", kind: "code", dynamic: false }]],
  ]);
  const chain = chainTo(graph, "a.ts", (name) => name.startsWith("npm:"));
  assert.deepEqual(chain, ["a.ts", "b.ts", "c.ts", "npm:/pkg@1.0.0"]);
  assert.equal(describePath(graph, chain!), "a.ts → b.ts → c.ts (type-only) → npm:/pkg@1.0.0");
  assert.equal(describePath(graph, ["a.ts", "b.ts", "a.ts"]), "a.ts → b.ts → a.ts (dynamic)");
  assert.equal(chainTo(graph, "c.ts", (name) => name === "a.ts"), undefined);
});

Deno.test({
  name: "no import circles among the repository's own modules (static, dynamic and type-only imports)",
  async fn() {
    const graph: Graph = new Map();
    const entries = await entryPoints();
    for (const entry of entries) addInfo(graph, await denoInfo(entry));
    const own = ownGraph(graph);
    // The graph is the whole library: an empty or partial one could have no circle to find.
    for (
      const module of ["mod.ts", "lib/tf.ts", "lib/run/runner.ts", "lib/backends/select.ts", "tasks/sweep.ts"]
    ) {
      assert.ok(own.has(module), `expected ${module} in the module graph of ${entries.join(", ")}`);
    }
    assert.ok(own.size > 100, `expected more than 100 of the repository's modules, found ${own.size}`);
    // Dynamic and type-only imports are edges too: selectBackend loads the BLAS backend on demand, and the
    // W&B sink imports only types from the sinks module.
    assert.deepEqual(
      graph.get("lib/backends/select.ts")?.find((e) => e.to === "lib/backends/blas_backend.ts"),
      { to: "lib/backends/blas_backend.ts", kind: "code", dynamic: true },
    );
    assert.deepEqual(
      graph.get("lib/run/sinks/wandb.ts")?.find((e) => e.to === "lib/run/sinks.ts"),
      { to: "lib/run/sinks.ts", kind: "type", dynamic: false },
    );
    const cycles = findCycles(own);
    assert.deepEqual(
      cycles.map((cycle) => describePath(graph, cycle)),
      [],
      `${cycles.length} import circle(s) among the repository's modules`,
    );
  },
});

Deno.test("lib/tf.ts is a leaf over tfjs: it imports none of the repository's modules", async () => {
  const graph: Graph = new Map();
  addInfo(graph, await denoInfo("lib/tf.ts"));
  assert.ok(
    chainTo(graph, "lib/tf.ts", (name) => name.includes("@tensorflow/tfjs@")),
    `expected lib/tf.ts to import @tensorflow/tfjs: ${[...graph.keys()].join(", ")}`,
  );
  const backends = [...graph.keys()].filter((name) => name.startsWith("lib/backends/"));
  assert.deepEqual(backends, [], "lib/tf.ts: expected no module under lib/backends/ among its imports");
  const own = [...graph.keys()].filter((name) => isOwn(name) && name !== "lib/tf.ts");
  assert.deepEqual(own, [], "lib/tf.ts: expected none of the repository's modules among its imports");
});

/** The graph with its type-only imports left out: what loading a module runs. */
function codeGraph(graph: Graph): Graph {
  return new Map([...graph].map(([from, edges]) => [from, edges.filter((e) => e.kind === "code")]));
}

Deno.test("lib/config.ts loads no tensor library: parsing a configuration does not start tfjs", async () => {
  const graph: Graph = new Map();
  addInfo(graph, await denoInfo("lib/config.ts"));
  const tensors = (name: string) => name.includes("@tensorflow/") || name === "lib/tf.ts";
  // Its types do come from modules that name tensors (the spec's record types): erased when it runs.
  assert.ok(chainTo(graph, "lib/config.ts", tensors), "expected a type-only path from lib/config.ts to tfjs");
  const chain = chainTo(codeGraph(graph), "lib/config.ts", tensors);
  assert.equal(
    chain,
    undefined,
    `lib/config.ts: expected no code import of tfjs, received ${chain && describePath(graph, chain)}`,
  );
  // The architecture profiles it reads are in its graph (not an empty graph that proves nothing).
  assert.ok(
    graph.get("lib/config.ts")?.some((e) => e.to === "lib/sae/arch/profiles.ts" && e.kind === "code"),
  );
});
