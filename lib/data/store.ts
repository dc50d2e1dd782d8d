/**
 * The shuffling activation store.
 *
 * Policy (the original's `TensorActivationStore`, with a seed): read
 * `storeSize` rows from the source into a buffer, permute the rows with one
 * permutation shared by all components (so rows stay aligned across hook
 * points), serve `storeSize / batchSize` batches, then refill from the next
 * rows. Fill `i` holds source rows `[i·storeSize, (i+1)·storeSize)` and is
 * permuted by a generator seeded by `(seed, i)`, so a run resumed at any
 * batch boundary sees exactly the batches it would have seen.
 *
 * A source that ends mid-fill gives one last, smaller fill (cut to whole
 * batches).
 *
 * @module
 */
import { deriveSeed, mulberry32 } from "../seed.ts";
import type { ActivationSource } from "./source.ts";
import { copyRows } from "./source.ts";

/** Options of {@linkcode shuffledBatches}. */
export type ShuffledBatchesOptions = {
  readonly storeSize: number;
  readonly batchSize: number;
  readonly seed: number;
  /** Rows already consumed (a multiple of `batchSize`): where a resumed run starts. */
  readonly start?: number;
};

/** A batch `[component, batchSize, dIn]` and the data position after it. */
export type StoreBatch = {
  readonly data: Float32Array;
  readonly rows: number;
  /** Rows consumed once this batch is used. */
  readonly position: number;
};

/** The permutation of fill `fill` of a store of `rows` rows (Fisher–Yates). */
export function fillPermutation(rows: number, seed: number, fill: number): Uint32Array {
  const perm = new Uint32Array(rows);
  for (let i = 0; i < rows; i++) perm[i] = i;
  const uniform = mulberry32(deriveSeed(seed, 0x5707e, fill));
  for (let i = rows - 1; i > 0; i--) {
    const j = Math.floor(uniform() * (i + 1));
    const t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  return perm;
}

/**
 * Shuffled batches from a source.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toySource } from "./toy.ts";
 * import { shuffledBatches } from "./store.ts";
 * const source = toySource({ nComponents: 1, dIn: 4, nFeatures: 8, meanActive: 2, chunkRows: 10, seed: 0 });
 * const it = shuffledBatches(source, { storeSize: 16, batchSize: 8, seed: 0 })[Symbol.asyncIterator]();
 * const first = (await it.next()).value;
 * assert.equal(first.rows, 8);
 * assert.equal(first.position, 8);
 * ```
 */
export async function* shuffledBatches(
  source: ActivationSource,
  options: ShuffledBatchesOptions,
): AsyncGenerator<StoreBatch> {
  const { storeSize, batchSize, seed } = options;
  const start = options.start ?? 0;
  if (storeSize % batchSize !== 0) {
    throw new RangeError(`storeSize: expected a multiple of batchSize (${batchSize}), received ${storeSize}`);
  }
  if (start % batchSize !== 0) {
    throw new RangeError(`start: expected a multiple of batchSize (${batchSize}), received ${start}`);
  }
  const { nComponents: c, dIn: n } = source;
  let fill = Math.floor(start / storeSize);
  let skipBatches = (start - fill * storeSize) / batchSize;
  const buffer = new Float32Array(c * storeSize * n);
  const chunks = source.chunks(fill * storeSize)[Symbol.asyncIterator]();
  let pending: { data: Float32Array; rows: number; offset: number } | undefined;
  while (true) {
    let filled = 0;
    while (filled < storeSize) {
      if (pending === undefined || pending.offset === pending.rows) {
        const next = await chunks.next();
        if (next.done) break;
        pending = { ...next.value, offset: 0 };
      }
      const take = Math.min(storeSize - filled, pending.rows - pending.offset);
      copyRows(pending.data, pending.rows, pending.offset, buffer, storeSize, filled, take, c, n);
      pending.offset += take;
      filled += take;
    }
    const usable = filled - (filled % batchSize);
    if (usable === 0) return;
    const perm = fillPermutation(usable, seed, fill);
    for (let b = skipBatches; b < usable / batchSize; b++) {
      const data = new Float32Array(c * batchSize * n);
      for (let k = 0; k < c; k++) {
        for (let r = 0; r < batchSize; r++) {
          const s = (k * storeSize + perm[b * batchSize + r]) * n;
          data.set(buffer.subarray(s, s + n), (k * batchSize + r) * n);
        }
      }
      yield { data, rows: batchSize, position: fill * storeSize + (b + 1) * batchSize };
    }
    skipBatches = 0;
    if (usable < storeSize) return;
    fill++;
  }
}
