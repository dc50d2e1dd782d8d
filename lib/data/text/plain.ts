/**
 * Plain-text documents from local files, read as a stream.
 *
 * How a file becomes documents is the `split` option:
 *
 * - `"file"` (the default): the whole file is one document.
 * - `"blank-line"`: paragraphs. A document is a run of non-blank lines; one or
 *   more blank (empty or whitespace-only) lines end it. Its lines are joined
 *   with `\n`.
 * - `{ separator }`: the file is cut at every occurrence of a literal string,
 *   for example `"<|endoftext|>"`, which separates the stories in
 *   TinyStories' `.txt` files.
 *
 * Each document is trimmed of surrounding whitespace unless `trim: false`, and
 * empty documents are skipped (so two separators in a row, or a separator at
 * the end of the file, give no document). A document must fit in memory; the
 * file need not.
 *
 * ## Binary or mis-encoded files
 *
 * Each file is judged by its first {@linkcode JUNK_SAMPLE_CHARS} decoded
 * characters (the whole file when it is shorter): when more than
 * {@linkcode JUNK_FRACTION} (10%) of them are junk, that is U+FFFD (the
 * decoder's replacement for bytes that are not UTF-8) or C0 control
 * characters other than tab, line feed and carriage return, the source warns
 * once, naming the file (`onWarning`, by default `console.warn` once per file
 * and process). The file is still read as it is: a warning, not an error,
 * since some corpora hold a little binary on purpose.
 *
 * @module
 */
import { checkStart, type DocumentSource, pathLabel, pathList, type Paths } from "./documents.ts";
import { type ReadOptions, readTextChunks, splitLines } from "./files.ts";

/** How a plain-text file splits into documents; see the module documentation. */
export type PlainTextSplit = "file" | "blank-line" | { readonly separator: string };

/** Options of {@linkcode plainTextSource}. */
export type PlainTextOptions = ReadOptions & {
  /** Default `"file"`: one document per file. */
  readonly split?: PlainTextSplit;
  /** Trim whitespace around each document (default true). */
  readonly trim?: boolean;
  /**
   * Called once per file that looks binary or mis-encoded (see the module documentation); default:
   * `console.warn`, once per file in the process.
   */
  readonly onWarning?: (message: string) => void;
};

/**
 * Decoded characters at the start of each file that are judged for junk: 65,536.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JUNK_SAMPLE_CHARS } from "./plain.ts";
 * assert.equal(JUNK_SAMPLE_CHARS, 2 ** 16);
 * ```
 */
export const JUNK_SAMPLE_CHARS = 65_536;

/**
 * A file is reported when more than this fraction of its judged characters are junk: 0.1.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JUNK_FRACTION } from "./plain.ts";
 * assert.equal(JUNK_FRACTION, 0.1);
 * ```
 */
export const JUNK_FRACTION = 0.1;

/**
 * The junk characters of a text: U+FFFD (what a UTF-8 decoder puts for bytes
 * that are not UTF-8) and C0 control characters (U+0000 to U+001F) other than
 * tab, line feed and carriage return.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { junkCount } from "./plain.ts";
 * assert.equal(junkCount("tab\tand\r\nlines"), 0);
 * assert.equal(junkCount("\u0000\u0007ok\ufffd"), 3);
 * ```
 */
export function junkCount(text: string): number {
  let junk = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0xfffd || (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d)) junk++;
  }
  return junk;
}

/**
 * The warning for a file whose judged characters are more than
 * {@linkcode JUNK_FRACTION} junk, or `undefined` when they are not.
 *
 * @param chars characters judged (at most {@linkcode JUNK_SAMPLE_CHARS})
 * @param whole whether those are the whole file
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { junkWarning } from "./plain.ts";
 * assert.equal(junkWarning("a.txt", 1000, 100, true), undefined); // exactly 10%: not more
 * assert.equal(
 *   junkWarning("a.txt", 1000, 101, true),
 *   "a.txt: 10.1% of its 1000 characters are U+FFFD (bytes that are not UTF-8) or control characters " +
 *     "(more than 10%): is it a binary file, or text in another encoding? It is read as it is",
 * );
 * ```
 */
export function junkWarning(file: string, chars: number, junk: number, whole: boolean): string | undefined {
  if (chars === 0 || junk <= JUNK_FRACTION * chars) return undefined;
  return `${file}: ${(100 * junk / chars).toFixed(1)}% of its ${whole ? "" : "first "}${chars} characters ` +
    `are U+FFFD (bytes that are not UTF-8) or control characters (more than ${100 * JUNK_FRACTION}%): ` +
    `is it a binary file, or text in another encoding? It is read as it is`;
}

/** Files already reported by the default `onWarning` in this process. */
const warnedFiles = new Set<string>();

function warnOnce(message: string, file: string): void {
  if (warnedFiles.has(file)) return;
  warnedFiles.add(file);
  console.warn(message);
}

/**
 * The text of a file, a chunk at a time, judging its first
 * {@linkcode JUNK_SAMPLE_CHARS} characters on the way (before the chunk that
 * completes them is passed on). A read that stops early is judged on what it
 * read.
 */
async function* judgedText(
  path: string | URL,
  options: ReadOptions,
  report: (file: string, message: string) => void,
): AsyncGenerator<string> {
  const file = pathLabel(path);
  let chars = 0;
  let junk = 0;
  let judged = false;
  const judge = (whole: boolean) => {
    judged = true;
    const message = junkWarning(file, chars, junk, whole);
    if (message !== undefined) report(file, message);
  };
  let ended = false;
  try {
    for await (const text of readTextChunks(path, options)) {
      if (!judged) {
        const part = chars + text.length > JUNK_SAMPLE_CHARS
          ? text.slice(0, JUNK_SAMPLE_CHARS - chars)
          : text;
        chars += part.length;
        junk += junkCount(part);
        if (chars === JUNK_SAMPLE_CHARS) judge(false);
      }
      yield text;
    }
    ended = true;
  } finally {
    if (!judged) judge(ended);
  }
}

/**
 * Documents of one file, cut at each occurrence of `separator`, in a single
 * pass: the search looks only at the new text plus the last
 * `separator.length − 1` characters before it, so it stays linear however long
 * a document is.
 */
async function* splitOnSeparator(
  chunks: AsyncIterable<string>,
  separator: string,
): AsyncGenerator<string> {
  let parts: string[] = [];
  let tail = "";
  for await (const text of chunks) {
    const window = tail + text;
    let from = 0;
    while (true) {
      const at = window.indexOf(separator, from);
      if (at === -1) break;
      parts.push(window.slice(from, at));
      yield parts.join("");
      parts = [];
      from = at + separator.length;
    }
    // Keep the characters that could begin a separator completed by the next chunk.
    const keep = Math.min(separator.length - 1, window.length - from);
    parts.push(window.slice(from, window.length - keep));
    tail = window.slice(window.length - keep);
  }
  parts.push(tail);
  yield parts.join("");
}

async function* splitOnBlankLines(chunks: AsyncIterable<string>): AsyncGenerator<string> {
  let lines: string[] = [];
  for await (const line of splitLines(chunks)) {
    if (line.trim() === "") {
      if (lines.length > 0) yield lines.join("\n");
      lines = [];
    } else {
      lines.push(line);
    }
  }
  if (lines.length > 0) yield lines.join("\n");
}

async function* wholeFile(chunks: AsyncIterable<string>): AsyncGenerator<string> {
  const parts: string[] = [];
  for await (const text of chunks) parts.push(text);
  yield parts.join("");
}

/**
 * Plain-text documents from one or more files, in order (see the module
 * documentation for `split`). `documents(start)` skips `start` documents.
 *
 * @throws Deno.errors.NotFound naming a missing file, when iteration reaches it
 * @throws TypeError for an empty separator
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { plainTextSource } from "./plain.ts";
 * const path = await Deno.makeTempFile({ suffix: ".txt" });
 * await Deno.writeTextFile(path, "Once upon a time.\n<|endoftext|>\nThe end.\n");
 * const source = plainTextSource(path, { split: { separator: "<|endoftext|>" } });
 * const docs: string[] = [];
 * for await (const doc of source.documents()) docs.push(doc);
 * assert.equal(docs.length, 2);
 * assert.equal(docs[1], "The end.");
 * ```
 */
export function plainTextSource(paths: Paths, options: PlainTextOptions = {}): DocumentSource<string> {
  const split = options.split ?? "file";
  const trim = options.trim ?? true;
  if (typeof split === "object") {
    if (typeof split.separator !== "string" || split.separator.length === 0) {
      throw new TypeError(
        `split.separator: expected a non-empty string, received ${JSON.stringify(split.separator)}`,
      );
    }
  } else if (split !== "file" && split !== "blank-line") {
    throw new TypeError(
      `split: expected "file", "blank-line" or { separator }, received ${JSON.stringify(split)}`,
    );
  }
  const files = pathList(paths);
  const reported = new Set<string>();
  const report = (file: string, message: string) => {
    if (reported.has(file)) return;
    reported.add(file);
    if (options.onWarning !== undefined) options.onWarning(message);
    else warnOnce(message, file);
  };
  const read = (path: string | URL) => {
    const chunks = judgedText(path, options, report);
    return typeof split === "object"
      ? splitOnSeparator(chunks, split.separator)
      : split === "blank-line"
      ? splitOnBlankLines(chunks)
      : wholeFile(chunks);
  };
  return {
    async *documents(start = 0) {
      checkStart(start);
      let skip = start;
      for (const path of files) {
        for await (const raw of read(path)) {
          const doc = trim ? raw.trim() : raw;
          if (doc.length === 0) continue;
          if (skip > 0) {
            skip--;
            continue;
          }
          yield doc;
        }
      }
    },
  };
}
