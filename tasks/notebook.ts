/**
 * `deno task notebook [FILE.ipynb] [--out DIR]`: runs a notebook's code cells
 * in order as one script, without Jupyter (by default the example notebook).
 * With `--out`, its charts are written there as files.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { displayToFiles, runNotebook } from "../lib/run/notebook.ts";

const DEFAULT_NOTEBOOK = "examples/train_stories260k.ipynb";

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: { out: { type: "string" }, help: { type: "boolean", short: "h" } },
    allowPositionals: true,
  });
  if (values.help || positionals.length > 1) {
    console.log("usage: deno task notebook [FILE.ipynb] [--out DIR]");
    Deno.exit(values.help ? 0 : 2);
  }
  const path = positionals[0] ?? DEFAULT_NOTEBOOK;
  const started = performance.now();
  const { cells, displays } = await runNotebook(path, {
    onDisplay: values.out === undefined
      ? (bundle) => console.log(`[display: ${Object.keys(bundle).join(", ")}]`)
      : displayToFiles(values.out, path),
  });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`${path}: ${cells} code cells, ${displays} displays, ${seconds} s`);
}
