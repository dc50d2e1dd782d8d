/**
 * The collective operations of data-parallel training ({@linkcode Across} of `../../train/steps.ts`)
 * over an MPI job, and how a global batch is split between its processes.
 *
 * @module
 */
import { tf } from "../../tf.ts";
import type { Across } from "../../train/steps.ts";
import type { Mpi } from "./mpi.ts";

/** What {@linkcode acrossProcesses} needs of an MPI job (a subset of `Mpi`, so tests can stand in for it). */
export type Collective = Pick<Mpi, "rank" | "size" | "allSumFloat32" | "broadcastFloat32">;

/**
 * The rows `[start, end)` of a global batch of `rows` rows that process `rank` of `size` trains on:
 * `[⌊rank·rows/size⌋, ⌊(rank+1)·rows/size⌋)`, so the shares differ by at most one row and cover the batch
 * in order (process 0 holds its first rows).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { shareOf } from "./across.ts";
 * assert.deepEqual(shareOf(10, 0, 3), [0, 3]);
 * assert.deepEqual(shareOf(10, 1, 3), [3, 6]);
 * assert.deepEqual(shareOf(10, 2, 3), [6, 10]);
 * ```
 */
export function shareOf(rows: number, rank: number, size: number): [number, number] {
  return [Math.floor(rank * rows / size), Math.floor((rank + 1) * rows / size)];
}

/**
 * Rows `[start, end)` of a batch laid out `[component, rows, width]`: a new array `[component, end − start,
 * width]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sliceRows } from "./across.ts";
 * // 2 components, 3 rows, width 1: rows 1…2 of each component
 * assert.deepEqual(Array.from(sliceRows(new Float32Array([0, 1, 2, 10, 11, 12]), 2, 3, 1, 1, 3)), [1, 2, 11, 12]);
 * ```
 */
export function sliceRows(
  data: Float32Array,
  components: number,
  rows: number,
  width: number,
  start: number,
  end: number,
): Float32Array {
  if (data.length !== components * rows * width) {
    throw new RangeError(
      `batch: expected ${components}·${rows}·${width} = ${
        components * rows * width
      } values, received ${data.length}`,
    );
  }
  const share = end - start;
  const out = new Float32Array(components * share * width);
  for (let c = 0; c < components; c++) {
    out.set(data.subarray((c * rows + start) * width, (c * rows + end) * width), c * share * width);
  }
  return out;
}

/**
 * {@linkcode Across} over an MPI job: sums go through one `MPI_Allreduce` of float32 per call (every
 * tensor's values in one buffer), process 0's values through one `MPI_Bcast` of the tensors' bytes (so
 * int32 tensors travel exactly). `globalRows()` is the current global batch's rows, which the runner sets
 * before each step; `rows(local)` checks that `local` is this process's share of it.
 *
 * @example With a stand-in for a job of two processes that hold the same values
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../../tf.ts";
 * import { acrossProcesses } from "./across.ts";
 * const twin = {
 *   rank: 0,
 *   size: 2,
 *   allSumFloat32: (v: Float32Array) => v.map((x) => 2 * x),
 *   broadcastFloat32: (v: Float32Array) => v,
 * };
 * const across = acrossProcesses(twin, () => 10);
 * const [s, c] = across.sum([tf.tensor1d([1, 2]), tf.tensor1d([5], "int32")]);
 * assert.deepEqual(Array.from(s.dataSync()), [2, 4]);
 * assert.deepEqual(Array.from(c.dataSync()), [10]);
 * const [n] = across.fromFirst([tf.tensor1d([16777217], "int32")]); // int32 bits travel exactly
 * assert.deepEqual([n.dtype, n.dataSync()[0]], ["int32", 16777217]);
 * assert.equal(across.rows(5), 10); // rank 0's share of 10 rows is 5
 * assert.throws(() => across.rows(4), /expected this process's share of 10 rows \(5, rank 0 of 2\), received 4/);
 * tf.dispose([s, c, n]);
 * ```
 */
export function acrossProcesses(mpi: Collective, globalRows: () => number): Across {
  return {
    sum(tensors) {
      const values = tensors.map((t) => t.dataSync());
      const total = values.reduce((n, v) => n + v.length, 0);
      const buffer = new Float32Array(total);
      let offset = 0;
      for (const v of values) {
        buffer.set(v, offset);
        offset += v.length;
      }
      const summed = mpi.allSumFloat32(buffer);
      offset = 0;
      return tensors.map((t) => {
        const part = summed.slice(offset, offset + t.size);
        offset += t.size;
        return tf.tensor(part, t.shape, "float32");
      });
    },
    fromFirst(tensors) {
      const values = tensors.map((t) => t.dataSync() as Float32Array | Int32Array);
      const total = values.reduce((n, v) => n + v.length, 0);
      const buffer = new Float32Array(total); // 4-byte words: float32 and int32 bits alike
      const words = new Int32Array(buffer.buffer);
      let offset = 0;
      for (const v of values) {
        if (v instanceof Int32Array) words.set(v, offset);
        else buffer.set(v, offset);
        offset += v.length;
      }
      mpi.broadcastFloat32(buffer, 0);
      offset = 0;
      return tensors.map((t, i) => {
        const n = t.size;
        const part = values[i] instanceof Int32Array
          ? words.slice(offset, offset + n)
          : buffer.slice(offset, offset + n);
        offset += n;
        return tf.tensor(part, t.shape, t.dtype);
      });
    },
    rows(local) {
      const rows = globalRows();
      const [start, end] = shareOf(rows, mpi.rank, mpi.size);
      if (local !== end - start) {
        throw new RangeError(
          `batch: expected this process's share of ${rows} rows (${
            end - start
          }, rank ${mpi.rank} of ${mpi.size}), received ${local}`,
        );
      }
      return rows;
    },
  };
}
