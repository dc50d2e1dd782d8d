/**
 * The pure core (lib/ outside run/, cli/, sweep/, report/, features/, bench/, data/, io/, backends/,
 * models/load/ and tf.ts) may not touch
 * files, clocks, global randomness, tensor data on the host, variables or
 * promises. This reads its source and fails on any such use.
 */
import { assert } from "../_helpers.ts";

const FORBIDDEN: readonly [RegExp, string][] = [
  [/\bDeno\./, "Deno.*"],
  [/\bconsole\./, "console"],
  [/Math\.random/, "Math.random"],
  [/Date\.now|new Date\(/, "clock"],
  [/performance\.now/, "clock"],
  [/\.dataSync\(|\.arraySync\(|\.data\(\)|\.array\(\)/, "host read of tensor data"],
  [/\bawait\b|\basync\b/, "await/async"],
  [/tf\.variable|\.assign\(/, "tf.Variable"],
];
const IMPURE_DIRS = [
  "lib/run/",
  "lib/cli/",
  "lib/sweep/",
  "lib/report/",
  "lib/features/",
  "lib/bench/",
  "lib/data/",
  "lib/io/",
  "lib/backends/",
  "lib/models/load/",
];
const IMPURE_FILES = ["lib/tf.ts"];

async function* sources(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* sources(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

Deno.test("the pure core has no side effects in its code", async () => {
  const root = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
  const problems: string[] = [];
  let checked = 0;
  const archRecords: string[] = [];
  for await (const path of sources(`${root}/lib`)) {
    const rel = path.slice(root.length + 1);
    if (IMPURE_DIRS.some((d) => rel.startsWith(d)) || IMPURE_FILES.includes(rel)) continue;
    checked++;
    if (rel.startsWith("lib/sae/arch/")) archRecords.push(rel);
    const lines = (await Deno.readTextFile(path)).split("\n");
    lines.forEach((line, i) => {
      const code = line.trim();
      if (code.startsWith("*") || code.startsWith("//") || code.startsWith("/*")) return; // docs may show examples
      for (const [pattern, what] of FORBIDDEN) {
        if (pattern.test(code)) problems.push(`${rel}:${i + 1}: ${what}: ${code}`);
      }
    });
  }
  assert.ok(checked >= 15, `expected to check the core's files, checked ${checked}`);
  // The architecture records are pure code too: every file of lib/sae/arch/ is checked.
  assert.ok(
    archRecords.includes("lib/sae/arch/registry.ts"),
    `expected lib/sae/arch/ checked, ${archRecords}`,
  );
  assert.ok(archRecords.length >= 10, `expected every architecture record checked, checked ${archRecords}`);
  assert.deepEqual(problems, []);
});
