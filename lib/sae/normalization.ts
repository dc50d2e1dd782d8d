/**
 * Activation normalisation: each component's activations are multiplied by
 * one constant so that `E‖x‖ = √dIn` (SAELens's `expected_average_only_in`,
 * Anthropic's April-2024 recipe), which makes coefficients and learning
 * rates transfer across models and layers. The constant is folded back into
 * the weights when they are saved, so that exported SAEs read raw
 * activations.
 *
 * @module
 */
import { tf, tidy } from "../tf.ts";
import type { SaeParams } from "./params.ts";

/** The input and target scales of a run, `[component]` each (equal for an SAE; ones without normalisation). */
export type InputScale = {
  /** Multiplies the encoder's input. */
  readonly x: tf.Tensor1D;
  /** Multiplies the reconstruction target (the encoder's input itself for an SAE). */
  readonly y: tf.Tensor1D;
};

/**
 * The scale `√n / mean_b ‖x_b‖` of each component of a sample.
 *
 * @param sample `[component, rows, n]`
 * @returns `[component]`
 *
 * @example Vectors of norm 4 in 4 dimensions are scaled by √4 / 4 = 0.5
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { expectedNormScale } from "./normalization.ts";
 * const s = expectedNormScale(tf.tensor3d([[[4, 0, 0, 0], [0, 0, 0, -4]]]));
 * assert.equal(s.dataSync()[0], 0.5);
 * ```
 */
export function expectedNormScale(sample: tf.Tensor3D): tf.Tensor1D {
  const n = sample.shape[2];
  return tidy(() => {
    const meanNorm = tf.mean(tf.norm(sample, 2, -1), 1);
    return tf.div(Math.sqrt(n), tf.maximum(meanNorm, 1e-12)) as tf.Tensor1D;
  });
}

/** Scales that change nothing, for runs without normalisation. */
export function unitScale(nComponents: number): InputScale {
  return tidy(() => ({ x: tf.ones([nComponents]) as tf.Tensor1D, y: tf.ones([nComponents]) as tf.Tensor1D }));
}

/**
 * Parameters trained on scaled activations `x' = sₓ·x`, `y' = s_y·y`, rewritten to read and write raw
 * ones: `pre = (sₓx − b')·W'ₑ + bₑ = (x − b'/sₓ)·(sₓW'ₑ) + bₑ` and `ŷ = (f·W'_d + b')/s_y`, so
 * `wEnc ← sₓ·wEnc`, `wDec ← wDec/s_y`, `bDec ← bDec/s_y` (`sₓ = s_y` when the bias is tied). The
 * activations `f`, and with them `bEnc`, thresholds and the gated parameters, are unchanged (copied:
 * the result owns all its tensors).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { foldScale } from "./normalization.ts";
 * const p = { wEnc: tf.tensor3d([[[1]]]), bEnc: tf.tensor2d([[0]]), wDec: tf.tensor3d([[[1]]]), bDec: tf.tensor2d([[2]]) };
 * const folded = foldScale(p, { x: tf.tensor1d([2]), y: tf.tensor1d([2]) });
 * assert.equal(folded.wEnc.dataSync()[0], 2);
 * assert.equal(folded.bDec.dataSync()[0], 1);
 * ```
 */
export function foldScale(params: SaeParams, scale: InputScale): SaeParams {
  return tidy(() => {
    const sx = tf.reshape(scale.x, [-1, 1, 1]);
    const sy = tf.reshape(scale.y, [-1, 1, 1]);
    const copies: Record<string, tf.Tensor> = {};
    for (const [key, value] of Object.entries(params)) if (value !== undefined) copies[key] = tf.clone(value);
    return {
      ...copies as SaeParams,
      wEnc: tf.mul(params.wEnc, sx) as tf.Tensor3D,
      wDec: tf.div(params.wDec, sy) as tf.Tensor3D,
      bDec: tf.div(params.bDec, tf.reshape(scale.y, [-1, 1])) as tf.Tensor2D,
    };
  });
}
