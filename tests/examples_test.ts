/**
 * Doc examples must assert with something that throws.
 *
 * In Deno, `console.assert` on a false value prints "Assertion failed" and carries on, so a
 * `deno test --doc` example that uses it passes whatever its values are. The
 * first tests scan the library, `mod.ts`, the README and `examples/` for such
 * calls; the last ones check, on a throw-away module, that `deno test --doc`
 * does fail on a wrong `node:assert/strict` example and passes on a right one.
 */
import assert from "node:assert/strict";

/** The repository root, as a directory URL. */
const ROOT = new URL("../", import.meta.url);

/**
 * A call of the console's assert. The pattern is assembled from pieces so that
 * this file does not contain the text it looks for.
 */
const CONSOLE_ASSERT = new RegExp(String.raw`\bconsole\s*\.\s*` + "assert" + String.raw`\s*\(`);

/** Every regular file under `dir` (relative to the root) whose name passes `keep`, recursively, sorted. */
async function filesUnder(dir: string, keep: (name: string) => boolean): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(new URL(dir, ROOT))) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) found.push(...await filesUnder(path, keep));
    else if (entry.isFile && keep(entry.name)) found.push(path);
  }
  return found.sort();
}

/** The 1-based numbers of the lines of `text` that call the console's assert. */
function consoleAssertLines(text: string): number[] {
  return text.split("\n").flatMap((line, i) => CONSOLE_ASSERT.test(line) ? [i + 1] : []);
}

/** The files the scan reads: `.ts` under lib/, mod.ts, README.md, and the text files under examples/. */
async function scannedFiles(): Promise<string[]> {
  return [
    ...await filesUnder("lib", (name) => name.endsWith(".ts")),
    "mod.ts",
    "README.md",
    ...await filesUnder("examples", (name) => /\.(ts|md|ipynb|json)$/.test(name)),
  ];
}

Deno.test("consoleAssertLines() finds the calls and only them, by line", () => {
  const call = ["console", "assert"].join(".");
  const text = [
    "/**",
    " * ```ts",
    ` * ${call}(add(1, 2) === 3);`,
    " * assert.equal(add(1, 2), 3);",
    " * ```",
    " */",
    `  ${call.replace(".", " . ")} (x);`,
    "const assertion = console.log;",
  ].join("\n");
  assert.deepEqual(consoleAssertLines(text), [3, 7]);
  assert.deepEqual(consoleAssertLines("assert.ok(true);\nconsole.log('assert');"), []);
});

Deno.test("no doc example or example file calls console.assert, which does not throw", async () => {
  const files = await scannedFiles();
  // The scan reads what it should: a test over an empty list could never fail.
  assert.ok(files.includes("lib/config.ts"), `lib/config.ts missing from the scanned files: ${files}`);
  assert.ok(files.includes("lib/sae/forward.ts"), `lib/sae/forward.ts missing from the scanned files`);
  assert.ok(files.includes("examples/train_stories260k.ipynb"), "examples/ not scanned");
  assert.ok(files.length > 60, `expected more than 60 files, scanned ${files.length}`);
  const found: string[] = [];
  for (const file of files) {
    const text = await Deno.readTextFile(new URL(file, ROOT));
    for (const line of consoleAssertLines(text)) found.push(`${file}:${line}`);
  }
  assert.equal(
    found.length,
    0,
    `${found.length} console.assert call(s); it prints and does not throw, so a doc test with it ` +
      `cannot fail. Use node:assert/strict instead:\n  ${found.join("\n  ")}`,
  );
});

/**
 * The deno binary to start. `Deno.execPath()` is the running binary; the task's
 * `--allow-run=deno` grants the `deno` found on PATH, which can be a symlink
 * to it (as /usr/bin/deno is here) that the permission does not see through.
 */
async function denoBinary(): Promise<string> {
  const self = await Deno.permissions.query({ name: "run", command: Deno.execPath() });
  return self.state === "granted" ? Deno.execPath() : "deno";
}

const FENCE = "`".repeat(3);

/** A module whose one doc example asserts that add(1, 2) is `expected`. */
function addModule(expected: number): string {
  return [
    "/**",
    " * Adds two numbers.",
    " *",
    " * @example",
    ` * ${FENCE}ts`,
    ' * import assert from "node:assert/strict";',
    ' * import { add } from "./add.ts";',
    ` * assert.equal(add(1, 2), ${expected});`,
    ` * ${FENCE}`,
    " */",
    "export function add(a: number, b: number): number {",
    "  return a + b;",
    "}",
    "",
  ].join("\n");
}

/** Runs `deno test --doc` on a throw-away module asserting add(1, 2) === `expected`. */
async function docTestAdd(expected: number): Promise<{ code: number; output: string }> {
  const dir = await Deno.makeTempDir({ prefix: "saekit_doc_" });
  try {
    await Deno.writeTextFile(`${dir}/add.ts`, addModule(expected));
    const { code, stdout, stderr } = await new Deno.Command(await denoBinary(), {
      args: ["test", "--doc", "--no-config", "--no-lock", "add.ts"],
      cwd: dir,
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    return { code, output: decode(stdout) + decode(stderr) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("deno test --doc fails on an example whose node:assert/strict value is wrong", async () => {
  const { code, output } = await docTestAdd(4); // add(1, 2) is 3
  assert.notEqual(code, 0, `expected a non-zero exit for add(1, 2) === 4, received 0:\n${output}`);
  assert.match(output, /AssertionError/, `expected the output to name the AssertionError:\n${output}`);
  assert.match(output, /1 failed/, `expected one failed doc test:\n${output}`);
});

Deno.test("deno test --doc passes the same example with the right value", async () => {
  const { code, output } = await docTestAdd(3);
  assert.equal(code, 0, `expected exit 0 for add(1, 2) === 3:\n${output}`);
  // The example ran: a zero exit with no test at all would prove nothing.
  assert.match(output, /1 passed \| 0 failed/, `expected one passed doc test:\n${output}`);
});
