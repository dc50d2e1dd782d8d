/**
 * BENCHMARKS.md as a record of runs: every section belongs to one command
 * (`deno task bench`, `deno task bench --activations`, `deno task bench
 * --features`, `deno task sweep`), and a rerun adds its run under the
 * section's heading, newest first, keeping the earlier runs.
 *
 * A section is
 *
 * ```md
 * ## <heading>
 *
 * <about: which command writes it and how to read its tables; the newest writer's text>
 *
 * ### Run of <date> — <machine> — `<command>`
 *
 * <the run's details and tables; sub-headings are `####`>
 *
 * ### Run of <earlier date> — …
 * ```
 *
 * {@linkcode addBenchmarkRun} is the one function every writer uses; it
 * changes nothing outside the section it adds to, and inside it only the
 * about text, before the earlier runs, which it keeps byte for byte.
 *
 * @module
 */

/** Which section a run belongs to. */
export type BenchmarkSection = {
  /** The heading's text, without `## `: runs with the same heading are comparable. */
  readonly heading: string;
  /** Which command writes the section and how to read its tables (replaced by each new run's). */
  readonly about: string;
};

/** One run of a benchmark, as a sub-block of its section. */
export type BenchmarkRun = {
  /** `YYYY-MM-DD`. */
  readonly date: string;
  /** The CPU, its cores and memory. */
  readonly machine: string;
  /** The command as typed (`deno task bench --rounds 5`). */
  readonly command: string;
  /** Details and tables of the run; headings inside it start with `####`. */
  readonly body: string;
};

/** The head of a new BENCHMARKS.md. */
export const BENCHMARKS_HEAD = `# Benchmarks

Every section is written by a command, named at the top of the section. A rerun adds its run under the
section's heading ("### Run of DATE — MACHINE — COMMAND"), newest first, and keeps the earlier runs, so the
spread across runs and machines stays visible. Runs on different machines or code compare only loosely.
`;

const RUN_PREFIX = "### Run of ";

/** The `### Run of …` line of a run. Pure. */
export function formatRunHeading(run: Pick<BenchmarkRun, "date" | "machine" | "command">): string {
  return `${RUN_PREFIX}${run.date} — ${run.machine} — \`${run.command}\``;
}

function checkLine(what: string, value: string): void {
  if (value.trim() === "" || /[\r\n]/.test(value)) {
    throw new RangeError(`${what}: expected one non-empty line, received ${JSON.stringify(value)}`);
  }
}

/** Markdown text a writer hands in must not open a section or a run of its own. */
function checkBlock(what: string, text: string): void {
  let fenced = false;
  for (const line of text.split("\n")) {
    if (/^(```|~~~)/.test(line)) fenced = !fenced;
    if (!fenced && /^#{1,3}\s/.test(line)) {
      throw new RangeError(
        `${what}: expected headings of level 4 or deeper (#### …), received the line ${JSON.stringify(line)}`,
      );
    }
  }
}

/**
 * One section with a single run: heading, about text and the run block,
 * ending in a newline. What a writer prints, and what
 * {@linkcode addBenchmarkRun} appends for a section the file lacks. Pure.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatBenchmarkSection } from "./file.ts";
 * assert.equal(
 *   formatBenchmarkSection(
 *     { heading: "Step", about: "Written by `deno task bench`." },
 *     { date: "2026-12-02", machine: "a CPU, 2 cores", command: "deno task bench", body: "| a |\n| --- |\n| 1 |" },
 *   ),
 *   "## Step\n\nWritten by `deno task bench`.\n\n### Run of 2026-12-02 — a CPU, 2 cores — `deno task bench`\n\n" +
 *     "| a |\n| --- |\n| 1 |\n",
 * );
 * ```
 */
export function formatBenchmarkSection(section: BenchmarkSection, run: BenchmarkRun): string {
  checkLine("section heading", section.heading);
  checkBlock(`section "${section.heading}": about`, section.about);
  return `## ${section.heading.trim()}\n\n${aboutBlock(section.about)}${runBlock(run)}`;
}

function aboutBlock(about: string): string {
  const text = about.trim();
  return text === "" ? "" : `${text}\n\n`;
}

function runBlock(run: BenchmarkRun): string {
  checkLine("run date", run.date);
  checkLine("run machine", run.machine);
  checkLine("run command", run.command);
  checkBlock(`run of ${run.date}: body`, run.body);
  const body = run.body.replace(/^\n+|\s+$/g, "");
  return `${formatRunHeading(run)}\n${body === "" ? "" : `\n${body}\n`}`;
}

/** Start offsets of the lines of `text` that open a section (`## `), outside fenced code. */
function sectionStarts(text: string): number[] {
  const starts: number[] = [];
  let fenced = false;
  let offset = 0;
  for (const line of text.split("\n")) {
    if (/^(```|~~~)/.test(line)) fenced = !fenced;
    else if (!fenced && line.startsWith("## ")) starts.push(offset);
    offset += line.length + 1;
  }
  return starts;
}

/** The headings of a BENCHMARKS.md's sections and how many runs each holds, in file order. Pure. */
export function benchmarkSections(markdown: string): { heading: string; runs: number }[] {
  const starts = sectionStarts(markdown);
  return starts.map((start, i) => {
    const text = markdown.slice(start, starts[i + 1] ?? markdown.length);
    const lines = text.split("\n");
    return {
      heading: lines[0].slice(3).trim(),
      runs: lines.filter((line) => line.startsWith(RUN_PREFIX)).length,
    };
  });
}

/**
 * Adds `run` to `markdown` (a BENCHMARKS.md's text; empty for a new file):
 *
 * - where a section has `section.heading`, the run goes first under its
 *   about text, which becomes `section.about`; the earlier runs follow
 *   unchanged, and every other section and the file's head are kept byte for
 *   byte;
 * - otherwise the section is appended at the end of the file (a new file
 *   starts with {@linkcode BENCHMARKS_HEAD}).
 *
 * Throws a `RangeError` when the section exists but holds text that is not
 * in runs (`### Run of …`) and is not the about text, rather than drop it.
 * Pure.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { addBenchmarkRun } from "./file.ts";
 * const before = "# B\n\n## Step\n\nabout\n\n### Run of 2026-01-01 — m — `c`\n\nold\n\n## Other\n\nkept\n";
 * const after = addBenchmarkRun(before, { heading: "Step", about: "about" }, {
 *   date: "2026-02-01", machine: "m", command: "c", body: "new",
 * });
 * assert.equal(
 *   after,
 *   "# B\n\n## Step\n\nabout\n\n### Run of 2026-02-01 — m — `c`\n\nnew\n\n" +
 *     "### Run of 2026-01-01 — m — `c`\n\nold\n\n## Other\n\nkept\n",
 * );
 * ```
 */
export function addBenchmarkRun(markdown: string, section: BenchmarkSection, run: BenchmarkRun): string {
  const fresh = formatBenchmarkSection(section, run);
  const heading = section.heading.trim();
  const starts = sectionStarts(markdown);
  const at = starts.findIndex((start) => markdown.slice(start).split("\n", 1)[0].slice(3).trim() === heading);
  if (at < 0) {
    const base = markdown.trim() === "" ? BENCHMARKS_HEAD : markdown;
    return `${base.replace(/\n*$/, "")}\n\n${fresh}`;
  }
  const start = starts[at];
  const end = starts[at + 1] ?? markdown.length;
  const old = markdown.slice(start, end);
  const firstRun = old.search(/^### Run of /m);
  const oldAbout = (firstRun < 0 ? old : old.slice(0, firstRun)).split("\n").slice(1).join("\n").trim();
  if (firstRun < 0 && oldAbout !== "" && oldAbout !== section.about.trim()) {
    throw new RangeError(
      `section "## ${heading}": expected its earlier runs under "${RUN_PREFIX}…" headings, received text ` +
        `outside any run (${JSON.stringify(oldAbout.slice(0, 60))}…); move it into a run block first`,
    );
  }
  let replaced: string;
  if (firstRun < 0) {
    // A section with no runs yet: the new run, then the separator the old section ended with.
    const tail = /\n*$/.exec(old)![0];
    replaced = fresh.replace(/\n$/, "") + (end < markdown.length ? tail || "\n\n" : "\n");
  } else {
    replaced = `${fresh}\n${old.slice(firstRun)}`;
  }
  return markdown.slice(0, start) + replaced + markdown.slice(end);
}

/**
 * Reads the BENCHMARKS file at `path` (a missing file counts as empty), adds
 * `run` to its section with {@linkcode addBenchmarkRun}, and writes it back
 * through a temporary file renamed over it. Returns the new text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeBenchmarkRun } from "./file.ts";
 * const dir = await Deno.makeTempDir();
 * const run = { date: "2026-02-01", machine: "m", command: "c", body: "x" };
 * await writeBenchmarkRun(`${dir}/B.md`, { heading: "Step", about: "" }, run);
 * const text = await writeBenchmarkRun(`${dir}/B.md`, { heading: "Step", about: "" }, { ...run, body: "y" });
 * assert.equal(text.match(/^### Run of/gm)?.length, 2);
 * assert.ok(text.indexOf("\ny\n") < text.indexOf("\nx\n"));
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeBenchmarkRun(
  path: string,
  section: BenchmarkSection,
  run: BenchmarkRun,
): Promise<string> {
  let existing = "";
  try {
    existing = await Deno.readTextFile(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const text = addBenchmarkRun(existing, section, run);
  const temporary = `${path}.${Deno.pid}.tmp`;
  await Deno.writeTextFile(temporary, text);
  await Deno.rename(temporary, path);
  return text;
}
