/**
 * Parquet documents: one row per document, from a text column (`"text"` by
 * default) or a token-id list column (`"input_ids"` by default), read with
 * `hyparquet` one row group at a time. Memory holds the file's footer and one
 * row group of one column, never the whole file; the other columns are not
 * read at all. Skipping documents (`documents(start)`) skips whole row groups
 * by their row counts in the footer without reading them.
 *
 * Uncompressed and Snappy files (the default of pandas, pyarrow and the
 * Hugging Face Hub) are read as they are; for gzip, zstd and the other codecs
 * pass `compressors` (for example those of the `hyparquet-compressors`
 * package).
 *
 * @module
 */
import { parquetMetadataAsync, parquetRead, parquetSchema } from "hyparquet";
import {
  checkStart,
  describe,
  type DocumentSource,
  pathLabel,
  pathList,
  type Paths,
  toTokenIds,
} from "./documents.ts";
import { openFile } from "./files.ts";

/** Decompressors by codec name (`"ZSTD"`, `"GZIP"`, …), as `hyparquet` takes them. */
export type ParquetCompressors = {
  readonly [codec: string]: ((input: Uint8Array, outputLength: number) => Uint8Array) | undefined;
};

/** Options of {@linkcode parquetTextSource} and {@linkcode parquetTokenSource}. */
export type ParquetOptions = {
  /** The column that holds the document. */
  readonly column?: string;
  /** Extra decompressors for codecs other than Snappy. */
  readonly compressors?: ParquetCompressors;
};

/** A file opened for random access as `hyparquet` reads it, and how to close it. */
export type ParquetFile = {
  readonly byteLength: number;
  slice(start: number, end?: number): Promise<ArrayBuffer>;
  close(): void;
};

/**
 * Opens a local file for random access: `slice(start, end)` reads those bytes
 * (reads are queued, so concurrent slices do not interleave their seeks).
 *
 * @throws Deno.errors.NotFound naming the file when it does not exist
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openParquetFile } from "./parquet.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeFile(path, new Uint8Array([1, 2, 3, 4, 5]));
 * const file = await openParquetFile(path);
 * const bytes = new Uint8Array(await file.slice(1, 3));
 * file.close();
 * assert.equal(file.byteLength, 5);
 * assert.equal(bytes.join(), "2,3");
 * ```
 */
export async function openParquetFile(path: string | URL): Promise<ParquetFile> {
  const file = await openFile(path);
  const byteLength = (await file.stat()).size;
  const label = pathLabel(path);
  let queue: Promise<unknown> = Promise.resolve();
  const read = async (start: number, end: number): Promise<ArrayBuffer> => {
    const out = new Uint8Array(Math.max(0, end - start));
    await file.seek(start, Deno.SeekMode.Start);
    let filled = 0;
    while (filled < out.length) {
      const n = await file.read(out.subarray(filled));
      if (n === null) {
        throw new RangeError(`${label}: expected ${out.length} bytes at byte ${start}, received ${filled}`);
      }
      filled += n;
    }
    return out.buffer;
  };
  return {
    byteLength,
    slice(start: number, end = byteLength) {
      const result = queue.then(() => read(start, end));
      queue = result.catch(() => {});
      return result;
    },
    close: () => file.close(),
  };
}

/** Reads the footer of a file, with an error naming the file when it is not Parquet. */
async function readFooter(file: ParquetFile, label: string) {
  try {
    return await parquetMetadataAsync(file);
  } catch (error) {
    throw new TypeError(
      `${label}: expected a Parquet file, received one whose footer does not parse (${
        (error as Error).message
      })`,
      { cause: error },
    );
  }
}

/**
 * The values of `column` in the rows of Parquet files from row `start` on,
 * one row group at a time.
 */
async function* columnValues(
  files: readonly (string | URL)[],
  column: string,
  options: ParquetOptions,
  start: number,
): AsyncGenerator<{ value: unknown; where: () => string }> {
  let skip = start;
  for (const path of files) {
    const label = pathLabel(path);
    const file = await openParquetFile(path);
    try {
      const metadata = await readFooter(file, label);
      const names = parquetSchema(metadata).children.map((c) => c.element.name);
      if (!names.includes(column)) {
        throw new RangeError(
          `${label}: column expected one of [${names.map((n) => JSON.stringify(n)).join(", ")}], received ${
            JSON.stringify(column)
          }`,
        );
      }
      let groupStart = 0;
      for (const group of metadata.row_groups) {
        const groupRows = Number(group.num_rows);
        const groupEnd = groupStart + groupRows;
        if (skip >= groupRows) {
          skip -= groupRows;
          groupStart = groupEnd;
          continue;
        }
        let rows: unknown[][] = [];
        try {
          await parquetRead({
            file,
            metadata,
            columns: [column],
            rowStart: groupStart,
            rowEnd: groupEnd,
            compressors: options.compressors as Record<string, (i: Uint8Array, n: number) => Uint8Array>,
            onComplete: (data: unknown[][]) => {
              rows = data;
            },
          });
        } catch (error) {
          throw new TypeError(
            `${label}: row group of rows ${groupStart}–${groupEnd - 1} expected decodable column ${
              JSON.stringify(column)
            }, received data that fails (${(error as Error).message})`,
            { cause: error },
          );
        }
        if (rows.length !== groupRows) {
          throw new RangeError(
            `${label}: row group at row ${groupStart} expected ${groupRows} rows, received ${rows.length}`,
          );
        }
        for (let r = skip; r < rows.length; r++) {
          yield {
            value: rows[r][0],
            where: () => `${label} row ${groupStart + r} column ${JSON.stringify(column)}`,
          };
        }
        skip = 0;
        groupStart = groupEnd;
      }
    } finally {
      file.close();
    }
  }
}

/**
 * Text documents from a string column (default `"text"`) of one or more
 * Parquet files, one per row. `documents(start)` skips `start` rows (whole
 * row groups without reading them).
 *
 * @throws RangeError naming the file and the columns it has when the column is missing
 * @throws TypeError naming the file, row and column for a value that is not a string (a null, say)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parquetTextSource } from "./parquet.ts";
 * import { parquetWriteBuffer } from "hyparquet-writer";
 * const path = await Deno.makeTempFile({ suffix: ".parquet" });
 * const bytes = parquetWriteBuffer({ columnData: [{ name: "text", data: ["a cat", "a dog"], type: "STRING" }] });
 * await Deno.writeFile(path, new Uint8Array(bytes));
 * const docs: string[] = [];
 * for await (const doc of parquetTextSource(path).documents()) docs.push(doc);
 * assert.equal(docs.join("|"), "a cat|a dog");
 * ```
 */
export function parquetTextSource(paths: Paths, options: ParquetOptions = {}): DocumentSource<string> {
  const column = options.column ?? "text";
  const files = pathList(paths);
  return {
    async *documents(start = 0) {
      checkStart(start);
      for await (const { value, where } of columnValues(files, column, options, start)) {
        if (typeof value !== "string") {
          throw new TypeError(`${where()}: expected a string, received ${describe(value)}`);
        }
        yield value;
      }
    },
  };
}

/**
 * Pre-tokenized documents from a list-of-integers column (default
 * `"input_ids"`, INT32 or INT64 elements) of one or more Parquet files, one
 * per row.
 *
 * @throws RangeError naming the file and the columns it has when the column is missing
 * @throws TypeError naming the file, row and column for a value that is not a list of integers
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parquetTokenSource } from "./parquet.ts";
 * import { parquetWrite, ByteWriter } from "hyparquet-writer";
 * const writer = new ByteWriter();
 * parquetWrite({
 *   writer,
 *   columnData: [{ name: "input_ids", data: [[1, 7, 8], [1, 9]] }],
 *   schema: [
 *     { name: "root", num_children: 1 },
 *     { name: "input_ids", repetition_type: "OPTIONAL", converted_type: "LIST", num_children: 1 },
 *     { name: "list", repetition_type: "REPEATED", num_children: 1 },
 *     { name: "element", type: "INT32", repetition_type: "REQUIRED" },
 *   ],
 * });
 * const path = await Deno.makeTempFile({ suffix: ".parquet" });
 * await Deno.writeFile(path, new Uint8Array(writer.getBuffer()));
 * const docs: Int32Array[] = [];
 * for await (const doc of parquetTokenSource(path).documents()) docs.push(doc);
 * assert.equal(docs.length, 2);
 * assert.equal(docs[0].join(), "1,7,8");
 * ```
 */
export function parquetTokenSource(paths: Paths, options: ParquetOptions = {}): DocumentSource<Int32Array> {
  const column = options.column ?? "input_ids";
  const files = pathList(paths);
  return {
    async *documents(start = 0) {
      checkStart(start);
      for await (const { value, where } of columnValues(files, column, options, start)) {
        yield toTokenIds(value, where());
      }
    },
  };
}
