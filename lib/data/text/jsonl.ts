/**
 * JSON Lines documents: one JSON object per line, the document in one field
 * (`"text"` by default for text, `"input_ids"` for token ids). Blank lines are
 * skipped; every other line is one document. Files are read as a stream, a
 * chunk at a time, so a file larger than memory works; a `.jsonl.gz` file is
 * decompressed as it is read.
 *
 * Errors name the file, the line (1-based, counting blank lines) and the
 * field.
 *
 * @module
 */
import {
  checkStart,
  describe,
  type DocumentSource,
  pathLabel,
  pathList,
  type Paths,
  toTokenIds,
} from "./documents.ts";
import { readLines, type ReadOptions } from "./files.ts";

/** Options of {@linkcode jsonlTextSource} and {@linkcode jsonlTokenSource}. */
export type JsonlOptions = ReadOptions & {
  /** The top-level field that holds the document. */
  readonly field?: string;
};

/**
 * The field values of the non-blank lines of JSONL files, from the `start`-th
 * non-blank line on. Skipped lines are counted, not parsed.
 */
async function* fieldValues(
  files: readonly (string | URL)[],
  field: string,
  options: ReadOptions,
  start: number,
): AsyncGenerator<{ value: unknown; where: string }> {
  let skip = start;
  for (const path of files) {
    let line = 0;
    for await (const text of readLines(path, options)) {
      line++;
      if (text.trim() === "") continue;
      if (skip > 0) {
        skip--;
        continue;
      }
      const where = `${pathLabel(path)} line ${line}`;
      let row: unknown;
      try {
        row = JSON.parse(text);
      } catch (error) {
        throw new SyntaxError(
          `${where}: expected a JSON object, received invalid JSON (${(error as Error).message})`,
          { cause: error },
        );
      }
      if (row === null || typeof row !== "object" || Array.isArray(row)) {
        throw new TypeError(`${where}: expected a JSON object, received ${describe(row)}`);
      }
      if (!Object.hasOwn(row, field)) {
        const fields = Object.keys(row).map((k) => JSON.stringify(k)).join(", ");
        throw new TypeError(
          `${where}: expected a field ${JSON.stringify(field)}, received an object with fields [${fields}]`,
        );
      }
      yield {
        value: (row as Record<string, unknown>)[field],
        where: `${where} field ${JSON.stringify(field)}`,
      };
    }
  }
}

/**
 * Text documents from the `field` (default `"text"`) of each line of one or
 * more JSONL files. `documents(start)` skips `start` documents.
 *
 * @throws SyntaxError naming the file and line for a line that is not JSON
 * @throws TypeError naming the file, line and field when the field is missing or not a string
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { jsonlTextSource } from "./jsonl.ts";
 * const path = await Deno.makeTempFile({ suffix: ".jsonl" });
 * await Deno.writeTextFile(path, '{"text": "a cat"}\n\n{"text": "a dog", "id": 2}\n');
 * const docs: string[] = [];
 * for await (const doc of jsonlTextSource(path).documents()) docs.push(doc);
 * assert.equal(docs.join("|"), "a cat|a dog");
 * ```
 */
export function jsonlTextSource(paths: Paths, options: JsonlOptions = {}): DocumentSource<string> {
  const field = options.field ?? "text";
  const files = pathList(paths);
  return {
    async *documents(start = 0) {
      checkStart(start);
      for await (const { value, where } of fieldValues(files, field, options, start)) {
        if (typeof value !== "string") {
          throw new TypeError(`${where}: expected a string, received ${describe(value)}`);
        }
        yield value;
      }
    },
  };
}

/**
 * Pre-tokenized documents from the `field` (default `"input_ids"`) of each
 * line of one or more JSONL files: each a JSON array of integer token ids.
 *
 * @throws SyntaxError naming the file and line for a line that is not JSON
 * @throws TypeError naming the file, line and field when the field is missing or not a list of integers
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { jsonlTokenSource } from "./jsonl.ts";
 * const path = await Deno.makeTempFile({ suffix: ".jsonl" });
 * await Deno.writeTextFile(path, '{"input_ids": [1, 5, 9]}\n{"input_ids": [1, 4]}\n');
 * const docs: Int32Array[] = [];
 * for await (const doc of jsonlTokenSource(path).documents(1)) docs.push(doc);
 * assert.equal(docs.length, 1);
 * assert.equal(docs[0].join(), "1,4");
 * ```
 */
export function jsonlTokenSource(paths: Paths, options: JsonlOptions = {}): DocumentSource<Int32Array> {
  const field = options.field ?? "input_ids";
  const files = pathList(paths);
  return {
    async *documents(start = 0) {
      checkStart(start);
      for await (const { value, where } of fieldValues(files, field, options, start)) {
        yield toTokenIds(value, where);
      }
    },
  };
}
