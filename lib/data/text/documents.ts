/**
 * Document sources: where the text (or the token ids) that a language model
 * reads comes from, as async iterables of documents with random access by
 * document index.
 *
 * A document is one unit of text (a story, a web page, a JSONL line's text
 * field) or one pre-tokenized sequence of token ids. Readers stream their
 * files: memory holds one read chunk (or one Parquet row group) and the
 * document being assembled, never a whole file, so a dataset larger than
 * memory works.
 *
 * @module
 */

/** Where documents come from: text (`string`) or pre-tokenized ids (`Int32Array`). */
export type DocumentSource<T> = {
  /**
   * Documents from document `start` (0-based, default 0) onward, in order;
   * ends when the source is exhausted. The same `start` always gives the same
   * documents, so a resumed run reads what it would have read.
   */
  documents(start?: number): AsyncIterable<T>;
};

/** One path, or several read one after another as a single source. */
export type Paths = string | URL | readonly (string | URL)[];

/**
 * The paths of a {@linkcode Paths} value as a list.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pathList } from "./documents.ts";
 * assert.equal(pathList("a.jsonl").length, 1);
 * assert.equal(pathList(["a", "b"]).length, 2);
 * ```
 */
export function pathList(paths: Paths): readonly (string | URL)[] {
  return typeof paths === "string" || paths instanceof URL ? [paths] : paths;
}

/**
 * How a path is named in error messages: a `file:` URL by its path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pathLabel } from "./documents.ts";
 * assert.equal(pathLabel(new URL("file:///data/a.jsonl")), "/data/a.jsonl");
 * ```
 */
export function pathLabel(path: string | URL): string {
  return path instanceof URL ? (path.protocol === "file:" ? path.pathname : path.href) : path;
}

/**
 * Throws a RangeError naming `field` unless `value` is an integer ≥ `min`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkInteger } from "./documents.ts";
 * checkInteger("contextSize", 8, 2);
 * assert.throws(() => checkInteger("contextSize", 1, 2), {
 *   message: "contextSize: expected an integer ≥ 2, received 1",
 * });
 * ```
 */
export function checkInteger(field: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    const what = min === 0
      ? "a non-negative integer"
      : min === 1
      ? "a positive integer"
      : `an integer ≥ ${min}`;
    throw new RangeError(`${field}: expected ${what}, received ${value}`);
  }
}

/**
 * Throws a RangeError unless `start` is a valid document or window position
 * (a non-negative integer).
 *
 * @example
 * ```ts
 * import { checkStart } from "./documents.ts";
 * checkStart(0);
 * ```
 */
export function checkStart(start: number): void {
  checkInteger("start", start, 0);
}

/**
 * An in-memory source, for notebooks, tests and small corpora.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { arrayDocuments } from "./documents.ts";
 * const source = arrayDocuments(["one", "two", "three"]);
 * const docs: string[] = [];
 * for await (const doc of source.documents(1)) docs.push(doc);
 * assert.equal(docs.join(), "two,three");
 * ```
 */
export function arrayDocuments<T>(documents: readonly T[]): DocumentSource<T> {
  return {
    async *documents(start = 0) {
      checkStart(start);
      for (let i = start; i < documents.length; i++) yield documents[i];
    },
  };
}

/**
 * Token ids as an `Int32Array`, checked: every id must be an integer in
 * `[0, 2³¹)`. Accepts an array of numbers or bigints (Parquet INT64 lists
 * decode to bigints) or a typed array.
 *
 * @param where names the value in messages (file, line or row, field)
 * @throws TypeError when `value` is not a list of integers; RangeError for an id out of range
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toTokenIds } from "./documents.ts";
 * const ids = toTokenIds([5n, 6, 7], "row 0");
 * assert.ok(ids instanceof Int32Array);
 * assert.equal(ids[0], 5);
 * assert.equal(ids[2], 7);
 * ```
 */
export function toTokenIds(value: unknown, where: string): Int32Array {
  if (value instanceof Int32Array) {
    for (let i = 0; i < value.length; i++) {
      if (value[i] < 0) {
        throw new RangeError(`${where}: token ${i} expected an id ≥ 0, received ${value[i]}`);
      }
    }
    return value;
  }
  const isList = Array.isArray(value) || (ArrayBuffer.isView(value) && !(value instanceof DataView));
  if (!isList) {
    throw new TypeError(`${where}: expected a list of token ids, received ${describe(value)}`);
  }
  const list = value as ArrayLike<unknown>;
  const out = new Int32Array(list.length);
  for (let i = 0; i < list.length; i++) {
    const v = list[i];
    const n = typeof v === "bigint" ? Number(v) : v;
    if (typeof n !== "number" || !Number.isInteger(n)) {
      throw new TypeError(`${where}: token ${i} expected an integer id, received ${describe(v)}`);
    }
    if (n < 0 || n > 0x7fffffff) {
      throw new RangeError(`${where}: token ${i} expected an id in [0, 2147483647], received ${n}`);
    }
    out[i] = n;
  }
  return out;
}

/**
 * A short description of a value for error messages.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describe } from "./documents.ts";
 * assert.equal(describe(null), "null");
 * assert.equal(describe(3), "number 3");
 * ```
 */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (typeof value === "string") {
    return `a string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + "…" : value)}`;
  }
  if (typeof value === "object") {
    return ArrayBuffer.isView(value) ? value.constructor.name : "an object";
  }
  return `${typeof value} ${String(value)}`;
}
