/**
 * The `--help` of every command, from the table of flags the command gives
 * `node:util`'s `parseArgs`. A {@linkcode FlagSpec} is a `parseArgs` option
 * (`type`, `short`, `default`) plus what the help prints (`value`,
 * `description`, …); `parseArgs` ignores the extra keys, so one record per
 * flag serves both and the help cannot leave a flag out:
 *
 * ```ts ignore
 * const FLAGS = { out: { type: "string", value: "DIR", description: "Where to write" } } as const satisfies FlagTable;
 * const { values } = parseArgs({ args, options: FLAGS });
 * if (values.help) write(formatHelp({ usage: ["deno task x [--out DIR]"], groups: [{ title: "Options", flags: FLAGS }] }));
 * ```
 *
 * Pure: text in, text out.
 *
 * @module
 */

/**
 * One flag: the `parseArgs` option and its help. The help line is
 * `--name VALUE  description (required; one of a, b; range; default X)`.
 */
export type FlagSpec = {
  /** `parseArgs`: `"string"` takes a value, `"boolean"` is a switch. */
  readonly type: "string" | "boolean";
  /** `parseArgs`: a one-letter alias (`h` for `-h`). */
  readonly short?: string;
  /** `parseArgs`: the value when the flag is absent; the help shows it (a switch's `false` is not shown). */
  readonly default?: string | boolean;
  /** Help: the placeholder of a string flag's value (`DIR`, `N`); default `VALUE`. */
  readonly value?: string;
  /** Help: one line of meaning. */
  readonly description: string;
  /** Help: the values the flag takes, listed as `one of a, b, c`. */
  readonly choices?: readonly string[];
  /** Help: the allowed range, e.g. `N ≥ 1`. */
  readonly range?: string;
  /** Help: the command cannot run without this flag. */
  readonly required?: boolean;
  /** Help: the default in words, when `parseArgs` gets none (it is worked out later, or elsewhere). */
  readonly defaultText?: string;
};

/** A command's flags by name (kebab-case, without `--`): the `options` of `parseArgs`. */
export type FlagTable = { readonly [name: string]: FlagSpec };

/** Flags printed under one title. */
export type FlagGroup = { readonly title: string; readonly flags: FlagTable };

/**
 * A command's help: usage lines (printed as written), paragraphs before and
 * after the flags (wrapped; a paragraph that starts with a space is printed
 * as written), and the flags in groups.
 */
export type CommandHelp = {
  readonly usage: readonly string[];
  readonly about?: readonly string[];
  readonly groups: readonly FlagGroup[];
  readonly after?: readonly string[];
};

/** Widest flag column before descriptions move to their own line. */
const MAX_FLAG_COLUMN = 38;

function width(text: string): number {
  return [...text].length;
}

/**
 * Greedy word wrap: `text`'s words joined by single spaces into lines of at
 * most `columns` characters (a longer word gets a line of its own).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wrapWords } from "./help.ts";
 * assert.deepEqual(wrapWords("one two three four", 9), ["one two", "three", "four"]);
 * assert.deepEqual(wrapWords("a    b", 9), ["a b"]);
 * ```
 */
export function wrapWords(text: string, columns: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter((w) => w !== "")) {
    if (line === "") line = word;
    else if (width(line) + 1 + width(word) <= columns) line += " " + word;
    else {
      lines.push(line);
      line = word;
    }
  }
  if (line !== "") lines.push(line);
  return lines;
}

/** The left column of a flag: `-h, --help` or `    --out DIR`. */
function flagColumn(name: string, spec: FlagSpec): string {
  const alias = spec.short === undefined ? "    " : `-${spec.short}, `;
  return `  ${alias}--${name}${spec.type === "string" ? ` ${spec.value ?? "VALUE"}` : ""}`;
}

/** The description with its parenthetical: required, choices, range, default. */
function flagText(spec: FlagSpec): string {
  const shownDefault = spec.defaultText ??
    (typeof spec.default === "string" ? spec.default : spec.default === true ? "true" : undefined);
  const notes = [
    spec.required ? "required" : undefined,
    spec.choices === undefined ? undefined : `one of ${spec.choices.join(", ")}`,
    spec.range,
    shownDefault === undefined ? undefined : `default ${shownDefault === "" ? '""' : shownDefault}`,
  ].filter((note) => note !== undefined);
  return notes.length === 0 ? spec.description : `${spec.description} (${notes.join("; ")})`;
}

function paragraph(text: string, columns: number): string[] {
  return text.startsWith(" ") ? text.split("\n") : wrapWords(text, columns);
}

/**
 * The help text of a command, ending in a newline: the usage lines, the
 * `about` paragraphs, each group's title and flags (two columns, the
 * descriptions wrapped at `columns`), then the `after` paragraphs, with a
 * blank line between parts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatHelp } from "./help.ts";
 * const text = formatHelp({
 *   usage: ["deno task demo [--size N]"],
 *   groups: [{
 *     title: "Options",
 *     flags: {
 *       size: { type: "string", value: "N", default: "3", description: "How many" },
 *       help: { type: "boolean", short: "h", description: "Print this help" },
 *     },
 *   }],
 * });
 * assert.equal(
 *   text,
 *   "deno task demo [--size N]\n\nOptions:\n      --size N  How many (default 3)\n  -h, --help    Print this help\n",
 * );
 * ```
 */
export function formatHelp(help: CommandHelp, columns = 110): string {
  const lines = [...help.usage];
  for (const text of help.about ?? []) lines.push("", ...paragraph(text, columns));
  const entries = help.groups.flatMap((group) => Object.entries(group.flags));
  const widest = Math.max(0, ...entries.map(([name, spec]) => width(flagColumn(name, spec))));
  const column = Math.min(widest, MAX_FLAG_COLUMN) + 2;
  for (const group of help.groups) {
    lines.push("", `${group.title}:`);
    for (const [name, spec] of Object.entries(group.flags)) {
      const left = flagColumn(name, spec);
      const text = wrapWords(flagText(spec), Math.max(20, columns - column));
      if (width(left) + 2 <= column) {
        lines.push(left.padEnd(column + left.length - width(left)) + (text[0] ?? ""));
        text.shift();
      } else {
        lines.push(left);
      }
      for (const line of text) lines.push(" ".repeat(column) + line);
    }
  }
  for (const text of help.after ?? []) lines.push("", ...paragraph(text, columns));
  return lines.map((line) => line.trimEnd()).join("\n") + "\n";
}
