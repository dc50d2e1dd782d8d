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
 * @module
 */
import { checkStart, type DocumentSource, pathList, type Paths } from "./documents.ts";
import { readLines, type ReadOptions, readTextChunks } from "./files.ts";

/** How a plain-text file splits into documents; see the module documentation. */
export type PlainTextSplit = "file" | "blank-line" | { readonly separator: string };

/** Options of {@linkcode plainTextSource}. */
export type PlainTextOptions = ReadOptions & {
  /** Default `"file"`: one document per file. */
  readonly split?: PlainTextSplit;
  /** Trim whitespace around each document (default true). */
  readonly trim?: boolean;
};

/**
 * Documents of one file, cut at each occurrence of `separator`, in a single
 * pass: the search looks only at the new text plus the last
 * `separator.length − 1` characters before it, so it stays linear however long
 * a document is.
 */
async function* splitOnSeparator(
  path: string | URL,
  separator: string,
  options: ReadOptions,
): AsyncGenerator<string> {
  let parts: string[] = [];
  let tail = "";
  for await (const text of readTextChunks(path, options)) {
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

async function* splitOnBlankLines(path: string | URL, options: ReadOptions): AsyncGenerator<string> {
  let lines: string[] = [];
  for await (const line of readLines(path, options)) {
    if (line.trim() === "") {
      if (lines.length > 0) yield lines.join("\n");
      lines = [];
    } else {
      lines.push(line);
    }
  }
  if (lines.length > 0) yield lines.join("\n");
}

async function* wholeFile(path: string | URL, options: ReadOptions): AsyncGenerator<string> {
  const parts: string[] = [];
  for await (const text of readTextChunks(path, options)) parts.push(text);
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
  const read = (path: string | URL) =>
    typeof split === "object"
      ? splitOnSeparator(path, split.separator, options)
      : split === "blank-line"
      ? splitOnBlankLines(path, options)
      : wholeFile(path, options);
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
