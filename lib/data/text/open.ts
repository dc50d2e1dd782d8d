/**
 * One entry point for a command line: a document source chosen by the files'
 * extension.
 *
 * | extension                                  | reader               |
 * | ------------------------------------------ | -------------------- |
 * | `.jsonl`, `.ndjson` (optionally `.gz`)     | JSONL, `field`       |
 * | `.parquet`                                 | Parquet, `column`    |
 * | anything else, e.g. `.txt` (optionally `.gz`) | plain text, `split` (text only) |
 *
 * @module
 */
import { type DocumentSource, pathLabel, pathList, type Paths } from "./documents.ts";
import { jsonlTextSource, jsonlTokenSource } from "./jsonl.ts";
import { parquetTextSource, parquetTokenSource } from "./parquet.ts";
import type { ParquetCompressors } from "./parquet.ts";
import { plainTextSource, type PlainTextSplit } from "./plain.ts";

/** The file formats that {@linkcode openTextSource} and {@linkcode openTokenSource} read. */
export type DocumentFormat = "jsonl" | "parquet" | "text";

/** Options of {@linkcode openTextSource} and {@linkcode openTokenSource}. */
export type OpenSourceOptions = {
  /** JSONL field or Parquet column (default `"text"`, or `"input_ids"` for tokens). */
  readonly field?: string;
  /** How plain-text files split into documents (default `"file"`). */
  readonly split?: PlainTextSplit;
  /** Extra Parquet decompressors. */
  readonly compressors?: ParquetCompressors;
  /** Plain text: called once per file that looks binary or mis-encoded (see `plainTextSource`). */
  readonly onWarning?: (message: string) => void;
};

/**
 * The format of a file, from its name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { documentFormat } from "./open.ts";
 * assert.equal(documentFormat("shard-00.jsonl.gz"), "jsonl");
 * assert.equal(documentFormat("train-00000-of-00004.parquet"), "parquet");
 * assert.equal(documentFormat("TinyStories-valid.txt"), "text");
 * ```
 */
export function documentFormat(path: string | URL): DocumentFormat {
  const name = pathLabel(path).toLowerCase().replace(/\.gz$/, "");
  if (name.endsWith(".jsonl") || name.endsWith(".ndjson")) return "jsonl";
  if (name.endsWith(".parquet")) return "parquet";
  return "text";
}

function commonFormat(paths: Paths): DocumentFormat {
  const list = pathList(paths);
  if (list.length === 0) throw new RangeError(`paths: expected at least one file, received none`);
  const format = documentFormat(list[0]);
  for (const path of list) {
    if (documentFormat(path) !== format) {
      throw new TypeError(
        `${pathLabel(path)}: expected a ${format} file like ${pathLabel(list[0])}, received a ${
          documentFormat(path)
        } file`,
      );
    }
  }
  return format;
}

/**
 * Text documents from files of one format, chosen by extension.
 *
 * @throws TypeError for a list of files of mixed formats
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openTextSource } from "./open.ts";
 * const path = await Deno.makeTempFile({ suffix: ".jsonl" });
 * await Deno.writeTextFile(path, '{"story": "Once."}\n');
 * for await (const doc of openTextSource(path, { field: "story" }).documents()) {
 *   assert.equal(doc, "Once.");
 * }
 * ```
 */
export function openTextSource(paths: Paths, options: OpenSourceOptions = {}): DocumentSource<string> {
  const format = commonFormat(paths);
  if (format === "jsonl") return jsonlTextSource(paths, { field: options.field });
  if (format === "parquet") {
    return parquetTextSource(paths, { column: options.field, compressors: options.compressors });
  }
  return plainTextSource(paths, { split: options.split, onWarning: options.onWarning });
}

/**
 * Pre-tokenized documents from JSONL or Parquet files, chosen by extension.
 *
 * @throws TypeError for plain-text files (they hold no token ids) or mixed formats
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openTokenSource } from "./open.ts";
 * const path = await Deno.makeTempFile({ suffix: ".jsonl" });
 * await Deno.writeTextFile(path, '{"input_ids": [1, 2, 3]}\n');
 * for await (const doc of openTokenSource(path).documents()) assert.equal(doc.length, 3);
 * ```
 */
export function openTokenSource(paths: Paths, options: OpenSourceOptions = {}): DocumentSource<Int32Array> {
  const format = commonFormat(paths);
  if (format === "jsonl") return jsonlTokenSource(paths, { field: options.field });
  if (format === "parquet") {
    return parquetTokenSource(paths, { column: options.field, compressors: options.compressors });
  }
  throw new TypeError(
    `${
      pathLabel(pathList(paths)[0])
    }: expected a .jsonl or .parquet file of token ids, received a plain-text file`,
  );
}
