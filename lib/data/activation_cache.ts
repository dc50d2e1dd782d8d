/**
 * An on-disk activation cache: generate activations once (from any
 * {@linkcode ActivationSource}, such as a language model's hook points),
 * store them as safetensors shards, and train from the cache as often as
 * needed without running the model again.
 *
 * Layout of a cache directory:
 *
 * - `shard-00000.safetensors`, `shard-00001.safetensors`, …: each holds one
 *   float32 tensor `activations` of shape `[component, rows, dIn]`
 *   (row-major, as an {@linkcode ActivationChunk}) and string metadata
 *   (`format`, `shard`, `firstRow`, `rows`, `cacheKey`). Every shard has
 *   `shardRows` rows except the last, which may have fewer. The rows of a
 *   shard are contiguous source rows: shard `i` holds source rows
 *   `[i·shardRows, i·shardRows + rows)`.
 * - `cache.json`: the {@linkcode CacheIndex} (format tag, `nComponents`,
 *   `dIn`, component names, total rows, `shardRows`, each shard's file name
 *   and row count, the user's metadata).
 *
 * Shuffle policy: the cache stores rows in source order and does not shuffle.
 * Shuffling is the store's job at training time: `shuffledBatches`
 * (`./store.ts`) permutes each fill with a permutation seeded by
 * `(seed, fill)`, so a cache fed to the store gives exactly the batches that
 * the original source would have given, and a resumed run sees the same
 * batches as an uninterrupted one.
 *
 * Crash safety and resuming: each shard is written to a temporary name and
 * renamed into place, and `cache.json` is written last (after any stale
 * `cache.json` has been removed at the start), so an interrupted run never
 * leaves a directory that reads as a valid cache. Running
 * {@linkcode writeActivationCache} again on the same directory keeps the
 * leading shards that are complete and continues from the first one that is
 * not, reading the source from that shard's first row.
 *
 * @module
 */
import { encodeSafetensors, parseSafetensorsHeader, safetensorsHeaderLength } from "../io/safetensors.ts";
import { parseJsonFile, writeFileAtomic, writeTextAtomic } from "../io/files.ts";
import type { ActivationChunk, ActivationSource } from "./source.ts";
import { copyRows } from "./source.ts";
import { firstNonFinite } from "../train/finite.ts";

/** The format tag in `cache.json` and in every shard's metadata. */
export const ACTIVATION_CACHE_FORMAT = "saekit.activation-cache/1";

/** Bytes a shard aims for when `shardRows` is not given: 256 MiB. */
export const DEFAULT_SHARD_BYTES = 256 * 1024 * 1024;

const INDEX_FILE = "cache.json";
const TENSOR = "activations";
const SHARD_NAME = /^shard-(\d+)\.safetensors$/;
const TEMP_NAME = /^(shard-\d+\.safetensors|cache\.json)\.tmp-/;

/** One shard as listed in `cache.json`. */
export type CacheShard = {
  /** File name inside the cache directory. */
  readonly file: string;
  readonly rows: number;
  /** Source row of the shard's first row. */
  readonly firstRow: number;
};

/** The contents of `cache.json`. */
export type CacheIndex = {
  readonly format: typeof ACTIVATION_CACHE_FORMAT;
  readonly dtype: "F32";
  readonly nComponents: number;
  readonly dIn: number;
  readonly componentNames: readonly string[];
  /** Rows in the cache (per component). */
  readonly rows: number;
  /** Rows of every shard but the last. */
  readonly shardRows: number;
  readonly shards: readonly CacheShard[];
  /** The user's metadata, as JSON. */
  readonly metadata: Readonly<Record<string, unknown>>;
};

/** Options of {@linkcode writeActivationCache}. */
export type WriteActivationCacheOptions = {
  /**
   * Rows to write. A source that ends sooner gives a cache of the rows it
   * had (the returned index says how many).
   */
  readonly rows: number;
  /** Rows per shard; by default as many as fit in 256 MiB (at least 1). */
  readonly shardRows?: number;
  /**
   * One name per component (the hook points); by default the source's
   * `hooks` when it has them (a model source does), else `component-0`, ….
   */
  readonly componentNames?: readonly string[];
  /** Anything JSON that describes the activations (model, hooks, dataset). */
  readonly metadata?: Readonly<Record<string, unknown>>;
  /** Called after each shard this call writes (not for shards kept from an earlier run). */
  readonly onShard?: (index: number, rows: number) => void;
};

/** A cache opened for reading: an activation source with its description. */
export type CachedActivationSource = ActivationSource & {
  /** Rows in the cache; `chunks` ends after them. */
  readonly rows: number;
  readonly componentNames: readonly string[];
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly index: CacheIndex;
  readonly dir: string;
};

/**
 * The file name of shard `index`: `shard-00000.safetensors`, ….
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { shardFileName } from "./activation_cache.ts";
 * assert.equal(shardFileName(12), "shard-00012.safetensors");
 * ```
 */
export function shardFileName(index: number): string {
  return `shard-${String(index).padStart(5, "0")}.safetensors`;
}

/**
 * Default rows per shard for a source of this width: about 256 MiB of float32, in whole rows.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultShardRows } from "./activation_cache.ts";
 * // 2 components × 512 floats × 4 bytes = 4 KiB a row: 256 MiB / 4 KiB = 65,536 rows
 * assert.equal(defaultShardRows(2, 512), 65536);
 * // a row wider than 256 MiB still gets a shard of one row
 * assert.equal(defaultShardRows(1, 2 ** 27), 1);
 * ```
 */
export function defaultShardRows(nComponents: number, dIn: number): number {
  return Math.max(1, Math.floor(DEFAULT_SHARD_BYTES / (nComponents * dIn * 4)));
}

/**
 * Writes the first `options.rows` rows of a source to `dir` as a cache, and
 * returns its index (also written to `dir/cache.json`).
 *
 * Resuming: shards are checked from shard 0 on, and kept while complete. A
 * shard counts as complete when its file exists, its header passes the
 * checks of the safetensors reader (`parseSafetensorsHeader`), its
 * `activations` tensor is float32 of shape `[nComponents, expectedRows, dIn]`
 * (`expectedRows` = `shardRows`, or what is left for the last shard), the
 * file size is exactly 8 + header length + the tensor's bytes, and its
 * metadata carries the same format, shard number, first row and cache key
 * (`nComponents`, `dIn`, component names, `shardRows` and the user's
 * metadata). Writing continues from the first shard that is not complete,
 * reading the source from that shard's first row; that shard and all after it
 * are (re)written. Raising `rows` on a finished cache therefore extends it.
 * Shards past the new end and leftover temporary files are removed.
 *
 * Memory: one shard buffer, plus its encoded bytes while it is written.
 *
 * A NaN or infinite value from the source throws a `RangeError` naming the
 * source row, the component and the column, and the shard that would have
 * held it; the shards before it stay written.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toySource } from "./toy.ts";
 * import { readActivationCache, writeActivationCache } from "./activation_cache.ts";
 * const dir = await Deno.makeTempDir();
 * const source = toySource({ nComponents: 2, dIn: 8, nFeatures: 16, meanActive: 3, chunkRows: 32, seed: 0 });
 * const index = await writeActivationCache(dir, source, { rows: 100, shardRows: 40 });
 * assert.equal(index.shards.map((s) => s.rows).join(), "40,40,20");
 * const cache = await readActivationCache(dir);
 * assert.equal(cache.rows, 100);
 * assert.equal(cache.dIn, 8);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeActivationCache(
  dir: string,
  source: ActivationSource,
  options: WriteActivationCacheOptions,
): Promise<CacheIndex> {
  const { nComponents: c, dIn: n } = source;
  positiveInteger("source.nComponents", c);
  positiveInteger("source.dIn", n);
  const total = options.rows;
  positiveInteger("rows", total);
  const shardRows = options.shardRows ?? defaultShardRows(c, n);
  positiveInteger("shardRows", shardRows);
  const componentNames = options.componentNames ?? defaultNames(source);
  if (
    !Array.isArray(componentNames) || componentNames.length !== c ||
    !componentNames.every((name) => typeof name === "string")
  ) {
    throw new RangeError(
      `componentNames: expected ${c} strings (one per component), received ${JSON.stringify(componentNames)}`,
    );
  }
  const metadata = normalizeMetadata(options.metadata ?? {});
  const cacheKey = canonicalJson({ nComponents: c, dIn: n, componentNames, shardRows, metadata });

  await Deno.mkdir(dir, { recursive: true });
  await Deno.remove(`${dir}/${INDEX_FILE}`).catch(ignoreNotFound);
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile && TEMP_NAME.test(entry.name)) {
      await Deno.remove(`${dir}/${entry.name}`).catch(ignoreNotFound);
    }
  }

  const count = Math.ceil(total / shardRows);
  const expectedRows = (i: number) => Math.min(shardRows, total - i * shardRows);
  const expect = (i: number): ShardExpectation => ({
    nComponents: c,
    dIn: n,
    rows: expectedRows(i),
    shard: i,
    firstRow: i * shardRows,
    cacheKey,
  });
  const shards: CacheShard[] = [];
  while (
    shards.length < count &&
    await shardIsComplete(`${dir}/${shardFileName(shards.length)}`, expect(shards.length))
  ) {
    const i = shards.length;
    shards.push({ file: shardFileName(i), rows: expectedRows(i), firstRow: i * shardRows });
  }

  const write = async (i: number, data: Float32Array, rows: number) => {
    const meta = {
      format: ACTIVATION_CACHE_FORMAT,
      shard: String(i),
      firstRow: String(i * shardRows),
      rows: String(rows),
      cacheKey,
    };
    const bytes = encodeSafetensors({ [TENSOR]: { dtype: "F32", shape: [c, rows, n], data } }, meta);
    await writeFileAtomic(`${dir}/${shardFileName(i)}`, bytes);
    shards.push({ file: shardFileName(i), rows, firstRow: i * shardRows });
    options.onShard?.(i, rows);
  };

  if (shards.length < count) {
    const first = shards.length;
    let bufferRows = expectedRows(first);
    let buffer = new Float32Array(c * bufferRows * n);
    let filled = 0;
    let sourceRow = first * shardRows;
    for await (const chunk of source.chunks(sourceRow)) {
      checkChunk(chunk, c, n);
      const bad = firstNonFinite(chunk.data, c, chunk.rows, n);
      if (bad !== undefined) {
        const row = sourceRow + bad.row;
        throw new RangeError(
          `source: expected finite activations, received ${bad.value} at row ${row}, component ${bad.component} ` +
            `(${componentNames[bad.component]}), column ${bad.column}; not written to ${dir}/${
              shardFileName(Math.floor(row / shardRows))
            }`,
        );
      }
      sourceRow += chunk.rows;
      let offset = 0;
      while (offset < chunk.rows && shards.length < count) {
        const take = Math.min(bufferRows - filled, chunk.rows - offset);
        copyRows(chunk.data, chunk.rows, offset, buffer, bufferRows, filled, take, c, n);
        offset += take;
        filled += take;
        if (filled === bufferRows) {
          await write(shards.length, buffer, bufferRows);
          filled = 0;
          if (shards.length < count && expectedRows(shards.length) !== bufferRows) {
            bufferRows = expectedRows(shards.length);
            buffer = new Float32Array(c * bufferRows * n);
          }
        }
      }
      if (shards.length === count) break;
    }
    if (filled > 0) {
      // The source ended inside this shard: keep the rows it gave.
      const part = new Float32Array(c * filled * n);
      copyRows(buffer, bufferRows, 0, part, filled, 0, filled, c, n);
      await write(shards.length, part, filled);
    }
  }
  if (shards.length === 0) {
    throw new RangeError(`source: expected at least one row to cache in ${dir}, received none`);
  }

  for await (const entry of Deno.readDir(dir)) {
    const match = SHARD_NAME.exec(entry.name);
    if (entry.isFile && match !== null && Number(match[1]) >= shards.length) {
      await Deno.remove(`${dir}/${entry.name}`).catch(ignoreNotFound);
    }
  }
  const index: CacheIndex = {
    format: ACTIVATION_CACHE_FORMAT,
    dtype: "F32",
    nComponents: c,
    dIn: n,
    componentNames: [...componentNames],
    rows: shards.reduce((sum, s) => sum + s.rows, 0),
    shardRows,
    shards,
    metadata,
  };
  await writeTextAtomic(`${dir}/${INDEX_FILE}`, JSON.stringify(index, null, 2) + "\n");
  return index;
}

/**
 * Opens a cache written by {@linkcode writeActivationCache} as an activation
 * source. Every shard's header, shape and file size are checked against
 * `cache.json` here, before any data is read. `chunks(start)` yields one
 * chunk per shard, from row `start` to the end of the cache, reading one
 * shard at a time (from the middle of a shard, only the rows needed), so
 * memory stays at about one shard.
 *
 * Errors: a missing `cache.json` (`Deno.errors.NotFound`), one that is not
 * JSON (`TypeError` naming it), a wrong format tag or malformed field
 * (`TypeError`/`RangeError` naming the field), a missing shard
 * (`Deno.errors.NotFound` naming the file), a damaged shard header or a
 * truncated shard (the messages of `parseSafetensorsHeader`, the one
 * safetensors reader, naming the file, the tensor, and what was expected
 * and received), a shard whose dtype or shape disagrees with `cache.json`
 * (`TypeError`/`RangeError` with both), bytes after the tensor, a
 * cache with no shards (`TypeError` naming `cache.json`), and, as each shard
 * is read, a NaN or infinite activation (`RangeError` naming the shard file,
 * the row in the shard and in the source, the component and the column).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toySource } from "./toy.ts";
 * import { readActivationCache, writeActivationCache } from "./activation_cache.ts";
 * const dir = await Deno.makeTempDir();
 * const source = toySource({ nComponents: 1, dIn: 4, nFeatures: 8, meanActive: 2, chunkRows: 16, seed: 1 });
 * await writeActivationCache(dir, source, { rows: 30, shardRows: 12, metadata: { model: "toy" } });
 * const cache = await readActivationCache(dir);
 * const sizes = [];
 * for await (const chunk of cache.chunks(5)) sizes.push(chunk.rows);
 * assert.equal(sizes.join(), "7,12,6");
 * assert.equal(cache.metadata.model, "toy");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readActivationCache(dir: string): Promise<CachedActivationSource> {
  const indexPath = `${dir}/${INDEX_FILE}`;
  let text: string;
  try {
    text = await Deno.readTextFile(indexPath);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(
        `${indexPath}: expected the index of an activation cache, which is missing ` +
          `(the cache was never written, or its writing did not finish)`,
      );
    }
    throw error;
  }
  const index = parseIndex(parseJsonFile(text, indexPath), indexPath);
  for (const shard of index.shards) {
    const path = `${dir}/${shard.file}`;
    const file = await openShard(path);
    try {
      checkShard(await readShardHeader(file, path), path, index.nComponents, shard.rows, index.dIn);
    } finally {
      file.close();
    }
  }
  const { nComponents, dIn, rows } = index;
  return {
    nComponents,
    dIn,
    rows,
    componentNames: index.componentNames,
    metadata: index.metadata,
    index,
    dir,
    async *chunks(start: number): AsyncIterable<ActivationChunk> {
      if (!Number.isInteger(start) || start < 0) {
        throw new RangeError(`start: expected a non-negative integer row, received ${start}`);
      }
      for (const shard of index.shards) {
        const end = shard.firstRow + shard.rows;
        if (end <= start) continue;
        const offset = Math.max(0, start - shard.firstRow);
        const path = `${dir}/${shard.file}`;
        const file = await openShard(path);
        let data: Float32Array;
        try {
          const header = checkShard(await readShardHeader(file, path), path, nComponents, shard.rows, dIn);
          data = await readRows(file, path, header, nComponents, shard.rows, dIn, offset);
        } finally {
          file.close();
        }
        const bad = firstNonFinite(data, nComponents, shard.rows - offset, dIn);
        if (bad !== undefined) {
          const row = offset + bad.row;
          throw new RangeError(
            `${path}: expected finite activations, received ${bad.value} at row ${row} of the shard ` +
              `(source row ${shard.firstRow + row}), component ${bad.component} (${
                index.componentNames[bad.component]
              }), column ${bad.column}; write the cache again from finite activations`,
          );
        }
        yield { data, rows: shard.rows - offset };
      }
    },
  };
}

// ---------------------------------------------------------------------------
// Shards on disk

type ShardHeader = {
  readonly shape: readonly number[];
  readonly dtype: string;
  /** Byte offset of the tensor data in the file. */
  readonly dataStart: number;
  readonly dataBytes: number;
  readonly fileBytes: number;
  readonly metadata: Readonly<Record<string, string>>;
};

type ShardExpectation = {
  readonly nComponents: number;
  readonly dIn: number;
  readonly rows: number;
  readonly shard: number;
  readonly firstRow: number;
  readonly cacheKey: string;
};

async function openShard(path: string): Promise<Deno.FsFile> {
  try {
    return await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(`${path}: expected a shard listed in cache.json, which is missing`);
    }
    throw error;
  }
}

async function readExactly(file: Deno.FsFile, into: Uint8Array, path: string): Promise<void> {
  let at = 0;
  while (at < into.length) {
    const got = await file.read(into.subarray(at));
    if (got === null) {
      throw new RangeError(
        `${path}: expected ${into.length} more bytes, received ${at} before the file ended`,
      );
    }
    at += got;
  }
}

/**
 * Reads a shard's safetensors header (no tensor data) and checks it with the
 * one safetensors reader of the library (`parseSafetensorsHeader`), so that a
 * damaged shard gets the same messages, naming the file and the tensor, as a
 * damaged checkpoint or import; what is particular to a cache (the tensor's
 * name, dtype and shape, nothing after it) is checked by {@linkcode checkShard}.
 */
async function readShardHeader(file: Deno.FsFile, path: string): Promise<ShardHeader> {
  const fileBytes = (await file.stat()).size;
  const first = new Uint8Array(Math.min(8, fileBytes));
  await file.seek(0, Deno.SeekMode.Start);
  await readExactly(file, first, path);
  let headerLength: number;
  try {
    headerLength = safetensorsHeaderLength(first, fileBytes, path);
  } catch (error) {
    if (fileBytes === 0 && error instanceof RangeError) {
      throw new RangeError(`${error.message}: the shard is empty`);
    }
    throw error;
  }
  const head = new Uint8Array(8 + headerLength);
  head.set(first);
  await readExactly(file, head.subarray(8), path);
  const { dataStart, tensors, metadata } = parseSafetensorsHeader(head, fileBytes, path);
  const entry = Object.hasOwn(tensors, TENSOR) ? tensors[TENSOR] : undefined;
  if (entry === undefined) {
    throw new TypeError(
      `${path}: expected a tensor "${TENSOR}", received tensors [${Object.keys(tensors).join(", ")}]`,
    );
  }
  return {
    shape: entry.shape,
    dtype: entry.dtype,
    dataStart: dataStart + entry.begin,
    dataBytes: entry.end - entry.begin,
    fileBytes,
    metadata,
  };
}

/**
 * Checks a shard's tensor against what `cache.json` says it holds; returns the
 * header. Its size matches its shape and lies within the file (checked by the
 * reader); nothing may follow it.
 */
function checkShard(header: ShardHeader, path: string, c: number, rows: number, n: number): ShardHeader {
  const at = `${path}: tensor ${JSON.stringify(TENSOR)}`;
  if (header.dtype !== "F32") throw new TypeError(`${at}: expected dtype F32, received ${header.dtype}`);
  const want = [c, rows, n];
  if (header.shape.length !== 3 || want.some((d, i) => header.shape[i] !== d)) {
    throw new RangeError(
      `${at}: expected shape [${want.join(", ")}] (from cache.json), received [${header.shape.join(", ")}]`,
    );
  }
  const fileBytes = header.dataStart + header.dataBytes;
  if (header.fileBytes > fileBytes) {
    throw new RangeError(
      `${path}: expected ${fileBytes} bytes (${header.dataStart} of header, ${header.dataBytes} of activations), received ${header.fileBytes}: trailing bytes after the tensor`,
    );
  }
  return header;
}

/** Whether a shard left by an earlier run can be kept (see {@linkcode writeActivationCache}). */
async function shardIsComplete(path: string, expected: ShardExpectation): Promise<boolean> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
  try {
    const header = checkShard(
      await readShardHeader(file, path),
      path,
      expected.nComponents,
      expected.rows,
      expected.dIn,
    );
    const meta = header.metadata;
    return meta.format === ACTIVATION_CACHE_FORMAT && meta.shard === String(expected.shard) &&
      meta.firstRow === String(expected.firstRow) && meta.rows === String(expected.rows) &&
      meta.cacheKey === expected.cacheKey;
  } catch (error) {
    if (error instanceof RangeError || error instanceof TypeError) return false;
    throw error;
  } finally {
    file.close();
  }
}

/** Rows `[offset, rows)` of a shard, `[component, rows − offset, dIn]`. */
async function readRows(
  file: Deno.FsFile,
  path: string,
  header: ShardHeader,
  c: number,
  rows: number,
  n: number,
  offset: number,
): Promise<Float32Array> {
  const count = rows - offset;
  const out = new Float32Array(c * count * n);
  const bytes = new Uint8Array(out.buffer);
  if (offset === 0) {
    await file.seek(header.dataStart, Deno.SeekMode.Start);
    await readExactly(file, bytes, path);
    return out;
  }
  const span = count * n * 4;
  for (let k = 0; k < c; k++) {
    await file.seek(header.dataStart + (k * rows + offset) * n * 4, Deno.SeekMode.Start);
    await readExactly(file, bytes.subarray(k * span, (k + 1) * span), path);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Checks and small helpers

function parseIndex(raw: unknown, path: string): CacheIndex {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new TypeError(`${path}: expected a JSON object, received ${JSON.stringify(raw)}`);
  }
  const o = raw as Record<string, unknown>;
  if (o.format !== ACTIVATION_CACHE_FORMAT) {
    throw new TypeError(
      `${path} format: expected "${ACTIVATION_CACHE_FORMAT}", received ${JSON.stringify(o.format)}`,
    );
  }
  if (o.dtype !== undefined && o.dtype !== "F32") {
    throw new TypeError(`${path} dtype: expected "F32", received ${JSON.stringify(o.dtype)}`);
  }
  if (Array.isArray(o.shards) && o.shards.length === 0) {
    throw new TypeError(
      `${path} shards: expected at least one shard, received none: the cache is empty; write it again`,
    );
  }
  for (const field of ["nComponents", "dIn", "rows", "shardRows"] as const) {
    positiveInteger(`${path} ${field}`, o[field]);
  }
  const nComponents = o.nComponents as number;
  const names = o.componentNames;
  if (
    !Array.isArray(names) || names.length !== nComponents || !names.every((name) => typeof name === "string")
  ) {
    throw new TypeError(
      `${path} componentNames: expected ${nComponents} strings, received ${JSON.stringify(names)}`,
    );
  }
  const metadata = o.metadata ?? {};
  if (metadata === null || typeof metadata !== "object" || Array.isArray(metadata)) {
    throw new TypeError(`${path} metadata: expected an object, received ${JSON.stringify(metadata)}`);
  }
  if (!Array.isArray(o.shards) || o.shards.length === 0) {
    throw new TypeError(`${path} shards: expected a non-empty list, received ${JSON.stringify(o.shards)}`);
  }
  const shards: CacheShard[] = [];
  let firstRow = 0;
  o.shards.forEach((entry: unknown, i: number) => {
    const s = (entry ?? {}) as Record<string, unknown>;
    if (
      typeof s.file !== "string" || s.file === "" || s.file === "." || s.file === ".." || /[/\\]/.test(s.file)
    ) {
      throw new TypeError(
        `${path} shards[${i}].file: expected a file name in the cache directory, received ${
          JSON.stringify(s.file)
        }`,
      );
    }
    positiveInteger(`${path} shards[${i}].rows (${s.file})`, s.rows);
    if (s.firstRow !== undefined && s.firstRow !== firstRow) {
      throw new RangeError(
        `${path} shards[${i}].firstRow: expected ${firstRow} (the rows of the shards before it), received ${s.firstRow}`,
      );
    }
    shards.push({ file: s.file, rows: s.rows as number, firstRow });
    firstRow += s.rows as number;
  });
  if (firstRow !== o.rows) {
    throw new RangeError(
      `${path} rows: expected ${firstRow} (the sum of the shards' rows), received ${o.rows}`,
    );
  }
  return {
    format: ACTIVATION_CACHE_FORMAT,
    dtype: "F32",
    nComponents,
    dIn: o.dIn as number,
    componentNames: names as string[],
    rows: o.rows as number,
    shardRows: o.shardRows as number,
    shards,
    metadata: metadata as Record<string, unknown>,
  };
}

function positiveInteger(what: string, value: unknown): void {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new RangeError(`${what}: expected a positive integer, received ${JSON.stringify(value) ?? value}`);
  }
}

function checkChunk(chunk: ActivationChunk, c: number, n: number): void {
  if (!Number.isInteger(chunk.rows) || chunk.rows < 0) {
    throw new RangeError(`source chunk rows: expected a non-negative integer, received ${chunk.rows}`);
  }
  if (chunk.data.length !== c * chunk.rows * n) {
    throw new RangeError(
      `source chunk data: expected ${
        c * chunk.rows * n
      } values ([${c}, ${chunk.rows}, ${n}]), received ${chunk.data.length}`,
    );
  }
}

function defaultNames(source: ActivationSource): readonly string[] {
  const hooks = (source as { hooks?: unknown }).hooks;
  if (
    Array.isArray(hooks) && hooks.length === source.nComponents && hooks.every((h) => typeof h === "string")
  ) {
    return hooks;
  }
  return Array.from({ length: source.nComponents }, (_, k) => `component-${k}`);
}

function normalizeMetadata(metadata: Readonly<Record<string, unknown>>): Record<string, unknown> {
  let json: string | undefined;
  try {
    json = JSON.stringify(metadata);
  } catch (error) {
    throw new TypeError(`metadata: expected a JSON-serializable object, received one that is not (${error})`);
  }
  const parsed = json === undefined ? undefined : JSON.parse(json);
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new TypeError(`metadata: expected a plain object, received ${json}`);
  }
  return parsed;
}

/** JSON with object keys sorted, so equal values give equal text. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const o = value as Record<string, unknown>;
    return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

function ignoreNotFound(error: unknown): void {
  if (!(error instanceof Deno.errors.NotFound)) throw error;
}
