/**
 * The starting sparsity of `deno task bench --l0 N`: encoder biases that make a fresh SAE's average L0
 * on the bench's batch about `N`, so that an architecture with a sparsity coefficient (ReLU, April
 * ReLU, JumpReLU, gated) is timed at a trained SAE's sparsity rather than at its initialisation's
 * (about half the features active).
 *
 * The rule, the same in saekit and in the PyTorch baseline (`tasks/baselines/torch_sae_step.py`): with
 * `z = (x − bDec) · wEnc` over the batch of `B` items and `r = round(B · N / dSae)`, each feature's
 * bias puts its firing point `t_j` (0, or JumpReLU's threshold θ_j, where `pre > t_j` fires) halfway
 * between the `r`-th and `(r+1)`-th largest values of its column of `z`:
 *
 * ```
 * bEnc_j = t_j − (z_(r),j + z_(r+1),j) / 2
 * ```
 *
 * so every feature fires on exactly `r` items (ties aside) and the batch's average L0 is
 * `dSae · r / B`, within `dSae / (2B)` of `N`. Items differ in their own L0; the average is what the
 * step's cost follows. (The gated SAE's magnitude path starts as `z` itself, so its features fire with
 * the gate whenever the bias is negative, i.e. for `N` below about `dSae / 2`.)
 *
 * @module
 */
import { tf, tidy } from "../tf.ts";
import type { SaeParams } from "../sae/params.ts";

/**
 * Items of the batch on which each feature fires under `--l0 l0`: `r = round(batch · l0 / dSae)`,
 * which must lie in `[1, batch − 1]` (a `RangeError` naming `--l0` otherwise).
 *
 * @example 4096 items, 4096 features, L0 32: each feature fires on 32 items
 * ```ts
 * import assert from "node:assert/strict";
 * import { firingItems } from "./l0.ts";
 * assert.equal(firingItems(4096, 4096, 32), 32);
 * assert.equal(firingItems(32, 16, 4), 8); // 32 · 4 / 16
 * assert.throws(() => firingItems(8, 4096, 32), /--l0: expected .* received 32 \(r = 0\)/);
 * ```
 */
export function firingItems(batch: number, dSae: number, l0: number): number {
  const r = Math.round((batch * l0) / dSae);
  if (!(l0 > 0) || !Number.isFinite(l0) || r < 1 || r > batch - 1) {
    throw new RangeError(
      `--l0: expected a number N > 0 with batch · N / dSae rounding to an integer in [1, ${batch - 1}] ` +
        `(batch ${batch}, dSae ${dSae}), received ${l0} (r = ${Number.isFinite(r) ? r : "none"})`,
    );
  }
  return r;
}

/**
 * Reorders `values` in place so that `values[n]` is its `(n+1)`-th largest value, every value before it
 * at least as large and every value after it at most as large (Hoare's quickselect, descending).
 */
function selectDescending(values: Float32Array, n: number): void {
  let lo = 0, hi = values.length - 1;
  while (hi > lo) {
    const mid = (lo + hi) >> 1;
    const a = values[lo], b = values[mid], c = values[hi];
    const pivot = a > b ? (b > c ? b : a > c ? c : a) : (a > c ? a : b > c ? c : b);
    let i = lo, j = hi;
    while (i <= j) {
      while (values[i] > pivot) i++;
      while (values[j] < pivot) j--;
      if (i <= j) {
        const t = values[i];
        values[i++] = values[j];
        values[j--] = t;
      }
    }
    if (n <= j) hi = j;
    else if (n >= i) lo = i;
    else return;
  }
}

/**
 * The `--l0` biases of a block of features: `firing_j − (z_(r),j + z_(r+1),j) / 2` for each column `j` of
 * `z` (row-major `[rows, columns]`, one row per item), with `z_(r),j` the column's `r`-th largest
 * value. Pure.
 *
 * @param z `[rows, columns]` encoder products `(x − bDec) · wEnc` of the features
 * @param rows items of the batch
 * @param r items each feature fires on (see {@linkcode firingItems})
 * @param firing each feature's firing point (JumpReLU's θ); 0 when absent
 *
 * @example Column 0 holds 3, −1, 2, 0.5: with r = 2 the bias sits between 2 and 0.5
 * ```ts
 * import assert from "node:assert/strict";
 * import { l0EncoderBias } from "./l0.ts";
 * const z = new Float32Array([3, 0, -1, 4, 2, 1, 0.5, -2]); // 4 items × 2 features
 * assert.deepEqual(Array.from(l0EncoderBias(z, 4, 2)), [-1.25, -0.5]);
 * ```
 */
export function l0EncoderBias(
  z: Float32Array,
  rows: number,
  r: number,
  firing?: ArrayLike<number>,
): Float32Array {
  const columns = z.length / rows;
  if (!Number.isInteger(columns) || rows < 2) {
    throw new RangeError(
      `z: expected rows × columns values with rows ≥ 2, received ${z.length} for ${rows} rows`,
    );
  }
  if (!Number.isInteger(r) || r < 1 || r > rows - 1) {
    throw new RangeError(`r: expected an integer in [1, ${rows - 1}], received ${r}`);
  }
  if (firing !== undefined && firing.length !== columns) {
    throw new RangeError(`firing: expected ${columns} values (one per feature), received ${firing.length}`);
  }
  const bias = new Float32Array(columns);
  const column = new Float32Array(rows);
  for (let j = 0; j < columns; j++) {
    for (let b = 0; b < rows; b++) column[b] = z[b * columns + j];
    selectDescending(column, r - 1);
    let next = -Infinity;
    for (let b = r; b < rows; b++) next = Math.max(next, column[b]);
    bias[j] = (firing?.[j] ?? 0) - (column[r - 1] + next) / 2;
  }
  return bias;
}

/** Features whose encoder products are computed at once by {@linkcode l0StartBias}. */
const FEATURE_BLOCK = 256;

/**
 * The encoder bias `[component, dSae]` from which the SAE's average L0 on `x` is about `l0` (see the
 * module's rule), computed `FEATURE_BLOCK` features at a time so that no `[batch, dSae]` tensor is
 * held. The firing point is `params.threshold` when `firing` says so (JumpReLU), else 0. A new tensor,
 * owned by the caller.
 *
 * @param x `[component, batch, dIn]`
 *
 * @example Two items, three features: each feature fires on round(2 · 1.5 / 3) = 1 item
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { l0StartBias } from "./l0.ts";
 * await tf.setBackend("cpu");
 * const params = {
 *   wEnc: tf.tensor3d([[[1, 0, -1], [0, 1, 1]]]), bEnc: tf.zeros([1, 3]),
 *   wDec: tf.zeros([1, 3, 2]), bDec: tf.tensor2d([[1, 0]]),
 * } as never;
 * // x − bDec = [[1, 2], [3, −1]]; z = [[1, 2, 1], [3, −1, −4]]: midpoints 2, 0.5, −1.5
 * const bias = l0StartBias(params, tf.tensor3d([[[2, 2], [4, -1]]]), 1.5);
 * assert.deepEqual(Array.from(bias.dataSync()), [-2, -0.5, 1.5]);
 * ```
 */
export function l0StartBias(
  params: SaeParams,
  x: tf.Tensor3D,
  l0: number,
  firing: "zero" | "threshold" = "zero",
): tf.Tensor2D {
  const [c, b, dIn] = x.shape;
  const dSae = params.wEnc.shape[2];
  const r = firingItems(b, dSae, l0);
  const thresholds = firing === "threshold" ? params.threshold?.dataSync() : undefined;
  if (firing === "threshold" && thresholds === undefined) {
    throw new TypeError(
      "params.threshold: expected a [component, dSae] tensor for the firing point, received none",
    );
  }
  const bias = new Float32Array(c * dSae);
  for (let k = 0; k < c; k++) {
    const xBar = tidy(() =>
      tf.reshape(tf.sub(tf.slice(x, [k, 0, 0], [1, b, dIn]), tf.slice(params.bDec, [k, 0], [1, dIn])), [
        b,
        dIn,
      ])
    );
    for (let j0 = 0; j0 < dSae; j0 += FEATURE_BLOCK) {
      const width = Math.min(FEATURE_BLOCK, dSae - j0);
      const z = tidy(() =>
        tf.matMul(xBar, tf.reshape(tf.slice(params.wEnc, [k, 0, j0], [1, dIn, width]), [dIn, width]))
      );
      const values = z.dataSync() as Float32Array;
      z.dispose();
      const firingBlock = thresholds?.subarray(k * dSae + j0, k * dSae + j0 + width);
      bias.set(l0EncoderBias(values, b, r, firingBlock), k * dSae + j0);
    }
    xBar.dispose();
  }
  return tf.tensor2d(bias, [c, dSae]);
}
