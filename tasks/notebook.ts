/**
 * `deno task notebook [FILE.ipynb] [--out DIR]`: runs a notebook's code cells
 * in order as one script, without Jupyter (by default the example notebook).
 * With `--out`, its charts are written there as files. See `--help`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { displayToFiles, runNotebook } from "../lib/run/notebook.ts";
import { type CommandHelp, type FlagTable, formatHelp } from "../lib/cli/help.ts";

const DEFAULT_NOTEBOOK = "examples/train_stories260k.ipynb";

const NOTEBOOK_FLAGS = {
  out: {
    type: "string",
    value: "DIR",
    description: "Folder to write the notebook's displays (charts) to as files",
    defaultText: "none: a line per display is printed",
  },
  help: { type: "boolean", short: "h", description: "Print this help and exit" },
} as const satisfies FlagTable;

const NOTEBOOK_HELP: CommandHelp = {
  usage: ["deno task notebook [FILE.ipynb] [--out DIR]"],
  about: [
    `Runs a notebook's code cells in order as one script, without Jupyter; FILE.ipynb defaults to ${DEFAULT_NOTEBOOK}.`,
  ],
  groups: [{ title: "Options", flags: NOTEBOOK_FLAGS }],
};

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: NOTEBOOK_FLAGS,
    allowPositionals: true,
  });
  if (values.help || positionals.length > 1) {
    console.log(formatHelp(NOTEBOOK_HELP).trimEnd());
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
