/**
 * Runs a `deno jupyter` notebook without Jupyter: its code cells, in order,
 * as one TypeScript module. This is what `deno task notebook` and the test of
 * the example notebook do where no headless Jupyter runner is installed.
 *
 * Two things differ from the kernel. `Deno.jupyter` exists only inside the
 * kernel, so the cells' uses of it are pointed at a stand-in whose `display`
 * hands each rich output (SVG, HTML, Markdown, text) to a callback. And a
 * cell's last expression is not displayed: notebooks meant to run both ways
 * call `Deno.jupyter.display(...)` explicitly. Since the cells become one
 * module, a name may be declared in only one cell.
 *
 * {@linkcode main} is the command line of `deno task notebook [FILE.ipynb]
 * [--out DIR]` (by default the example notebook; with `--out`, its charts are
 * written there as files).
 *
 * @module
 */
import { basename, dirname, extname, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { type CommandHelp, type FlagTable, formatHelp } from "./help.ts";

/** One rich output: a MIME bundle such as `{ "image/svg+xml": "<svg …>" }`. */
export type MimeBundle = Readonly<Record<string, unknown>>;

/** Options of {@linkcode runNotebook}. */
export type RunNotebookOptions = {
  /** Receives every `Deno.jupyter.display(...)` of the cells, in order. */
  readonly onDisplay?: (bundle: MimeBundle, index: number) => void | Promise<void>;
};

/** What {@linkcode runNotebook} reports. */
export type NotebookRun = {
  /** Code cells run. */
  readonly cells: number;
  /** Rich outputs displayed. */
  readonly displays: number;
};

/** The global under which the stand-in for `Deno.jupyter` is installed while a notebook runs. */
export const JUPYTER_STAND_IN: unique symbol = Symbol.for("saekit.notebook.jupyter");

const DISPLAY = Symbol.for("Jupyter.display");

type Cell = { readonly cell_type: string; readonly source: string | readonly string[] };

function cellsOf(notebook: unknown): readonly Cell[] {
  const cells = (notebook as { cells?: unknown } | null)?.cells;
  if (!Array.isArray(cells)) {
    throw new TypeError(
      `notebook: expected a Jupyter notebook with a "cells" array, received ${typeof notebook}`,
    );
  }
  cells.forEach((cell, i) => {
    const source = (cell as Cell | null)?.source;
    if (typeof source !== "string" && !Array.isArray(source)) {
      throw new TypeError(
        `cells[${i}].source: expected a string or an array of strings, received ${typeof source}`,
      );
    }
  });
  return cells as Cell[];
}

/** The text of a cell's `source` (nbformat stores it as one string or as lines). */
function sourceText(cell: Cell): string {
  return typeof cell.source === "string" ? cell.source : cell.source.join("");
}

/**
 * The code cells of a notebook as one module: relative import specifiers made
 * absolute against `base` (the notebook's URL, since the module itself has no
 * folder), `Deno.jupyter` read from {@linkcode JUPYTER_STAND_IN}, and a comment
 * before each cell naming it.
 *
 * @param notebook the parsed `.ipynb`
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { notebookModule } from "./notebook.ts";
 * const code = notebookModule({
 *   cells: [
 *     { cell_type: "markdown", source: "# Title" },
 *     { cell_type: "code", source: ['import { f } from "./f.ts";\n', "await Deno.jupyter.display(f());"] },
 *   ],
 * }, new URL("file:///work/examples/a.ipynb"));
 * assert.ok(code.includes('from "file:///work/examples/f.ts"'));
 * assert.ok(code.includes("await __jupyter.display(f());"));
 * ```
 */
export function notebookModule(notebook: unknown, base: URL): string {
  const parts = [
    `const __jupyter = (globalThis as unknown as Record<symbol, typeof Deno.jupyter>)[Symbol.for(${
      JSON.stringify(JUPYTER_STAND_IN.description)
    })];`,
  ];
  cellsOf(notebook).forEach((cell, i) => {
    if (cell.cell_type !== "code") return;
    const code = sourceText(cell)
      .replace(
        /(\bfrom\s*|\bimport\s*\(?\s*)(["'])(\.\.?\/[^"'\n]*)\2/g,
        (_, head: string, quote: string, specifier: string) =>
          `${head}${quote}${new URL(specifier, base).href}${quote}`,
      )
      .replace(/\bDeno\.jupyter\b/g, "__jupyter");
    parts.push(`// cell ${i}`, code);
  });
  parts.push("export {};", "");
  return parts.join("\n");
}

function interleave(strings: TemplateStringsArray, values: unknown[]): string {
  return strings.reduce((text, piece, i) => text + piece + (i < values.length ? String(values[i]) : ""), "");
}

/** A stand-in for `Deno.jupyter`: `display`, `format`, the `html`/`svg`/`md` tags and `broadcast` (a no-op). */
function jupyterStandIn(show: (bundle: MimeBundle) => Promise<void>) {
  const tag = (mime: string) => (strings: TemplateStringsArray, ...values: unknown[]) => ({
    [DISPLAY]: () => ({ [mime]: interleave(strings, values) }),
  });
  const format = (value: unknown): MimeBundle => {
    const own = (value as { [DISPLAY]?: () => MimeBundle } | null)?.[DISPLAY];
    return typeof own === "function" ? own.call(value) : { "text/plain": Deno.inspect(value) };
  };
  return {
    $display: DISPLAY,
    display: (value: unknown, options: { readonly raw?: boolean } = {}) =>
      show(options.raw ? value as MimeBundle : format(value)),
    format,
    html: tag("text/html"),
    svg: tag("image/svg+xml"),
    md: tag("text/markdown"),
    broadcast: () => Promise.resolve(),
  };
}

/**
 * Runs the code cells of a notebook file in this process, in order, as one
 * module (see {@linkcode notebookModule}). An error in a cell rejects with
 * that error.
 *
 * @param path a `.ipynb` file
 */
export async function runNotebook(path: string, options: RunNotebookOptions = {}): Promise<NotebookRun> {
  const notebook = JSON.parse(await Deno.readTextFile(path));
  const code = notebookModule(notebook, pathToFileURL(resolve(path)));
  let displays = 0;
  const global = globalThis as unknown as Record<symbol, unknown>;
  const previous = global[JUPYTER_STAND_IN];
  global[JUPYTER_STAND_IN] = jupyterStandIn(async (bundle) => {
    await options.onDisplay?.(bundle, displays);
    displays++;
  });
  try {
    await import(`data:application/typescript,${encodeURIComponent(code)}`);
  } finally {
    global[JUPYTER_STAND_IN] = previous;
  }
  return { cells: cellsOf(notebook).filter((cell) => cell.cell_type === "code").length, displays };
}

const EXTENSIONS: Readonly<Record<string, string>> = {
  "image/svg+xml": ".svg",
  "text/html": ".html",
  "text/markdown": ".md",
};

/**
 * A display callback that writes each rich output to `dir` as
 * `<notebook>-<n>.svg` (or `.html`, `.md`) and prints plain text, and says
 * on stdout where each file went.
 */
export function displayToFiles(
  dir: string,
  notebookPath: string,
): (bundle: MimeBundle, index: number) => void {
  const stem = basename(notebookPath, extname(notebookPath));
  return (bundle, index) => {
    const mime = Object.keys(EXTENSIONS).find((key) => typeof bundle[key] === "string");
    if (mime === undefined) {
      console.log(String(bundle["text/plain"] ?? JSON.stringify(bundle)));
      return;
    }
    const file = `${dir}/${stem}-${index + 1}${EXTENSIONS[mime]}`;
    Deno.mkdirSync(dirname(file), { recursive: true });
    Deno.writeTextFileSync(file, bundle[mime] as string);
    console.log(`[${mime} → ${file}]`);
  };
}

/** The notebook `deno task notebook` runs when given none. */
export const DEFAULT_NOTEBOOK = "examples/train_stories260k.ipynb";

const NOTEBOOK_FLAGS = {
  out: {
    type: "string",
    value: "DIR",
    description: "Folder to write the notebook's displays (charts) to as files",
    defaultText: "none: a line per display is printed",
  },
  help: { type: "boolean", short: "h", description: "Print this help and exit" },
} as const satisfies FlagTable;

/**
 * The help of `deno task notebook`, with the flags it parses.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatHelp } from "./help.ts";
 * import { NOTEBOOK_HELP } from "./notebook.ts";
 * assert.match(formatHelp(NOTEBOOK_HELP), /--out DIR +Folder to write the notebook's displays/);
 * ```
 */
export const NOTEBOOK_HELP: CommandHelp = {
  usage: ["deno task notebook [FILE.ipynb] [--out DIR]"],
  about: [
    `Runs a notebook's code cells in order as one script, without Jupyter; FILE.ipynb defaults to ${DEFAULT_NOTEBOOK}.`,
  ],
  groups: [{ title: "Options", flags: NOTEBOOK_FLAGS }],
};

/** Entry point of `tasks/notebook.ts`: runs the notebook and prints how long it took. */
export async function main(args: readonly string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: [...args],
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
