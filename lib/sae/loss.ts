/**
 * The original's loss, per item and component:
 *
 * ```
 * loss = l1 · Σⱼ |fⱼ| + (1/dIn) Σᵢ (x̂ᵢ − xᵢ)²
 * ```
 *
 * averaged over the batch for each component, then over components.
 *
 * @module
 */
import { tf, tidy } from "../tf.ts";

/** Per-item loss terms, each `[component, batch]`. */
export type LossTerms = {
  /** The sparsity penalty before its coefficient: `Σⱼ |fⱼ|` for the original's SAE. */
  readonly l1: tf.Tensor2D;
  /** `mean_i (x̂ᵢ − xᵢ)²` of the whole dictionary's reconstruction. */
  readonly l2: tf.Tensor2D;
  /** The whole per-item loss: `l1Coefficient · l1 + l2` for the original's SAE. */
  readonly total: tf.Tensor2D;
  /** AuxK's reconstruction of the residual by dead features, `mse(ê, y − x̂)`, before its coefficient. */
  readonly aux?: tf.Tensor2D;
};

/**
 * Per-item L1 of the learned activations, `Σⱼ |fⱼ|`.
 *
 * @param f `[component, batch, dSae]`
 * @returns `[component, batch]`
 *
 * @example The original's doctest: mean of `[[1,0,1]]` and `[[0,1,0]]` is 1.5
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { l1Absolute } from "./loss.ts";
 * const l1 = l1Absolute(tf.tensor3d([[[1, 0, 1], [0, 1, 0]]]));
 * assert.equal(l1.mean().dataSync()[0], 1.5);
 * ```
 */
export function l1Absolute(f: tf.Tensor3D): tf.Tensor2D {
  return tidy(() => tf.sum(tf.abs(f), -1));
}

/**
 * Per-item mean squared reconstruction error over the input features.
 *
 * @param x `[component, batch, dIn]`
 * @param xHat `[component, batch, dIn]`
 * @returns `[component, batch]`
 *
 * @example The original's doctest: errors of [2,2] and [2,0] give MSEs 4 and 2
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { l2Reconstruction } from "./loss.ts";
 * const l2 = l2Reconstruction(tf.tensor3d([[[4, 2], [2, 0]]]), tf.tensor3d([[[2, 0], [0, 0]]]));
 * assert.equal(l2.dataSync().join(), "4,2");
 * ```
 */
export function l2Reconstruction(x: tf.Tensor3D, xHat: tf.Tensor3D): tf.Tensor2D {
  return tidy(() => tf.mean(tf.squaredDifference(xHat, x), -1));
}

/**
 * All per-item loss terms of the original's SAE loss.
 *
 * @example The original's "Towards Monosemanticity" vector: (4+1)/2 + 0.5·5 = 5
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { lossTerms } from "./loss.ts";
 * const t = lossTerms(tf.tensor3d([[[3, 4]]]), tf.tensor3d([[[2, -3]]]), tf.tensor3d([[[1, 5]]]), 0.5);
 * assert.equal(t.total.dataSync()[0], 5);
 * ```
 */
export function lossTerms(
  x: tf.Tensor3D,
  f: tf.Tensor3D,
  xHat: tf.Tensor3D,
  l1Coefficient: number,
): LossTerms {
  return tidy(() => {
    const l1 = l1Absolute(f);
    const l2 = l2Reconstruction(x, xHat);
    const total = tf.add(tf.mul(l1, l1Coefficient), l2) as tf.Tensor2D;
    return { l1, l2, total };
  });
}

/**
 * The training scalar: mean over the batch, then over components, of the
 * per-item total loss.
 *
 * @param total `[component, batch]`
 */
export function reduceLoss(total: tf.Tensor2D): tf.Scalar {
  return tidy(() => tf.mean(tf.mean(total, 1)));
}
