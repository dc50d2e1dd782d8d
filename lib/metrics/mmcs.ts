/**
 * Mean max cosine similarity (MMCS), the measure of dictionary recovery of
 * Sharkey et al. (2022): for each ground-truth direction, the best cosine
 * similarity with any learned dictionary vector, averaged.
 *
 * @module
 */
import { tf, tidy } from "../tf.ts";
import { unitNormRows } from "../sae/params.ts";

/**
 * MMCS per component.
 *
 * @param truth `[component, nFeatures, dIn]` ground-truth directions
 * @param wDec `[component, dSae, dIn]` learned dictionary (rows)
 * @returns `[component]`
 *
 * @example A dictionary that contains the truth scores 1
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { mmcs } from "./mmcs.ts";
 * const truth = tf.tensor3d([[[1, 0], [0, 1]]]);
 * const learned = tf.tensor3d([[[0, 2], [1, 1], [3, 0]]]);
 * assert.ok(Math.abs(mmcs(truth, learned).dataSync()[0] - 1) < 1e-6);
 * ```
 */
export function mmcs(truth: tf.Tensor3D, wDec: tf.Tensor3D): tf.Tensor1D {
  return tidy(() => {
    const cosine = tf.matMul(unitNormRows(truth), unitNormRows(wDec), false, true);
    return tf.mean(tf.max(cosine, -1), -1) as tf.Tensor1D;
  });
}
