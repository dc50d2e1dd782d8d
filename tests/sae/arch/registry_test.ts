/**
 * The architecture registry: every record is whole and consistent, and no code outside lib/sae/arch/
 * compares architecture names (it asks the record).
 */
import { assert, tf, values } from "../../_helpers.ts";
import {
  ARCH_NAMES,
  ARCH_RECORDS,
  archOf,
  findArch,
  initArchParams,
  makeSpec,
} from "../../../lib/sae/arch/registry.ts";
import { parseConfig, specFor, TrainConfigSchema } from "../../../lib/config.ts";

// ---------------------------------------------------------------------------------------------------------
// The scan: string literals of architecture names in comparisons and switches.
// ---------------------------------------------------------------------------------------------------------

const QUOTE = `["'\`]`;

/** The comparisons and switch cases with the literal `name` that a line of code holds. */
function comparesName(code: string, name: string): boolean {
  const literal = `${QUOTE}${name.replace(/[-]/g, "\\-")}${QUOTE}`;
  return [
    new RegExp(`(===|!==|==|!=)\\s*${literal}`),
    new RegExp(`${literal}\\s*(===|!==|==|!=)`),
    new RegExp(`\\bcase\\s+${literal}\\s*:`),
    new RegExp(`\\[[^\\]]*${literal}[^\\]]*\\]\\s*\\.(includes|indexOf|some)\\(`),
  ].some((pattern) => pattern.test(code));
}

/** `file:line: code` of each comparison of an architecture name in `text` (comments are skipped). */
function nameComparisons(file: string, text: string): string[] {
  const found: string[] = [];
  text.split("\n").forEach((line, i) => {
    const code = line.trim();
    if (code.startsWith("*") || code.startsWith("//") || code.startsWith("/*")) return;
    const withoutComment = code.replace(/\s\/\/.*$/, "");
    if (ARCH_NAMES.some((name) => comparesName(withoutComment, name))) {
      found.push(`${file}:${i + 1}: ${code}`);
    }
  });
  return found;
}

async function* sources(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* sources(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

Deno.test("the scan finds comparisons and switch cases of architecture names, and nothing else", () => {
  const bad = [
    `if (arch === "gated") return;`,
    `const free = "relu-april" === config.arch;`,
    `    case 'jumprelu':`,
    "if (x.arch !== `topk`) {",
    `const topK = ["topk", "batchtopk"].includes(arch);`,
  ];
  bad.forEach((line) => assert.equal(nameComparisons("f.ts", line).length, 1, line));
  const fine = [
    `const spec = makeSpec("relu", { sparsityCoefficient: 1 });`,
    ` * if (arch === "gated") a comment shows it`,
    `// arch === "topk" in a comment`,
    `if (arch === "reluish") return;`,
    `return { kind: "topk", k };`,
  ];
  fine.forEach((line) => assert.deepEqual(nameComparisons("f.ts", line), [], line));
});

Deno.test("no code outside lib/sae/arch/ compares architecture names (it asks the record)", async () => {
  const root = new URL("../../../", import.meta.url).pathname.replace(/\/$/, "");
  const problems: string[] = [];
  let checked = 0;
  for await (const path of sources(`${root}/lib`)) {
    const rel = path.slice(root.length + 1);
    if (rel.startsWith("lib/sae/arch/")) continue;
    checked++;
    problems.push(...nameComparisons(rel, await Deno.readTextFile(path)));
  }
  assert.ok(checked >= 50, `expected to scan lib/, scanned ${checked} files`);
  assert.deepEqual(
    problems,
    [],
    `architecture names compared outside lib/sae/arch/:\n${problems.join("\n")}`,
  );
});

// ---------------------------------------------------------------------------------------------------------
// The records
// ---------------------------------------------------------------------------------------------------------

Deno.test("ARCH_NAMES are the records' names, in order, distinct, and the configuration's enum", () => {
  assert.deepEqual([...ARCH_NAMES], ARCH_RECORDS.map((r) => r.name));
  assert.equal(new Set(ARCH_NAMES).size, ARCH_NAMES.length);
  assert.deepEqual(TrainConfigSchema.shape.arch.unwrap().options, [...ARCH_NAMES]);
  for (const name of ARCH_NAMES) assert.equal(archOf(name).name, name);
  assert.equal(findArch("dense"), undefined);
  assert.throws(() => archOf("dense"), TypeError);
});

Deno.test("the TopK family's knob is k, every other architecture's a coefficient", () => {
  const byKnob = (knob: string) => ARCH_RECORDS.filter((r) => r.sparsity === knob).map((r) => r.name);
  assert.deepEqual(byKnob("k"), ["topk", "batchtopk", "matryoshka"]);
  assert.deepEqual(byKnob("coefficient"), ["relu", "relu-april", "jumprelu", "gated"]);
  // A configuration's spec of the TopK family has no penalty and AuxK on (dIn/2 = 4 dead features).
  for (const arch of byKnob("k")) {
    const spec = specFor(parseConfig({ arch, dIn: 8, dSae: 64, k: 4, l1Coefficient: 0.5 }));
    assert.equal(spec.sparsityCoefficient, 0, arch);
    assert.equal(spec.auxK, 4, arch);
  }
  const relu = specFor(parseConfig({ arch: "relu", dIn: 8, l1Coefficient: 0.5 }));
  assert.equal(relu.sparsityCoefficient, 0.5);
  assert.equal(relu.auxK, 0);
});

Deno.test("each record initialises exactly the extra parameters it declares, after the four shared ones", () => {
  for (const record of ARCH_RECORDS) {
    const spec = makeSpec(record.name, { jumprelu: { initThreshold: 0.25 } });
    const params = initArchParams(spec, { nComponents: 2, dIn: 3, dSae: 4, seed: 0 });
    assert.deepEqual(
      Object.keys(params),
      ["wEnc", "bEnc", "wDec", "bDec", ...record.extraParams],
      record.name,
    );
    for (const key of record.extraParams) {
      assert.deepEqual(params[key]!.shape, [2, 4], `${record.name}: ${key}`);
    }
    tf.dispose(params as unknown as tf.TensorContainer);
  }
  // JumpReLU starts at its spec's threshold, BatchTopK's tracked threshold at 0, the gated paths at 0.
  const jump = initArchParams(makeSpec("jumprelu", { jumprelu: { initThreshold: 0.25 } }), {
    nComponents: 1,
    dIn: 2,
    dSae: 2,
    seed: 0,
  });
  assert.deepEqual(values(jump.threshold!), [0.25, 0.25]);
  const batch = initArchParams(makeSpec("batchtopk"), { nComponents: 1, dIn: 2, dSae: 2, seed: 0 });
  assert.deepEqual(values(batch.threshold!), [0, 0]);
});

Deno.test("every record's SAELens mapping writes the parameters it declares", () => {
  for (const record of ARCH_RECORDS) {
    assert.deepEqual(
      Object.keys(record.saelens.tensors).every((key) => (record.extraParams as string[]).includes(key)),
      true,
      record.name,
    );
  }
  // SAELens reads relu, topk, jumprelu and gated folders; BatchTopK and Matryoshka export as jumprelu.
  assert.deepEqual(
    ARCH_RECORDS.filter((r) => r.saelens.import !== undefined).map((r) => r.name),
    ["relu", "topk", "jumprelu", "gated"],
  );
  assert.equal(archOf("matryoshka").saelens.architecture.sae, "jumprelu");
});
