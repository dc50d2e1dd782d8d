/**
 * The unit-norm decoder constraint of the original: the gradient of each
 * dictionary vector loses its component along that vector, and the vectors
 * are renormalised after every optimizer update.
 *
 * @module
 */
import { hasKernel, runKernel, tf, tidy } from "../tf.ts";
import { unitNormRows } from "./params.ts";

import { NORMALIZE_ROWS_KERNEL, PROJECT_ROWS_KERNEL } from "../backends/kernel_names.ts";
export { NORMALIZE_ROWS_KERNEL, PROJECT_ROWS_KERNEL };

/**
 * Removes from each dictionary vector's gradient its component parallel to
 * the vector: `g ← g − ŵ (g · ŵ)` with `ŵ = w / ‖w‖`, per row of `wDec`.
 * (The original's `UnitNormDecoder` backward hook; no epsilon, as there.)
 *
 * @param wDec `[component, dSae, dIn]`
 * @param grad `[component, dSae, dIn]`
 *
 * @example A gradient along the vector vanishes
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { projectDecoderGrad } from "./decoder.ts";
 * const g = projectDecoderGrad(tf.tensor3d([[[0, 2]]]), tf.tensor3d([[[1, 3]]]));
 * assert.equal(g.dataSync().join(), "1,0");
 * ```
 */
export function projectDecoderGrad(wDec: tf.Tensor3D, grad: tf.Tensor3D): tf.Tensor3D {
  if (hasKernel(PROJECT_ROWS_KERNEL)) {
    return runKernel(PROJECT_ROWS_KERNEL, { w: wDec, g: grad })[0] as tf.Tensor3D;
  }
  return tidy(() => {
    const unit = tf.div(wDec, tf.norm(wDec, 2, -1, true));
    const parallel = tf.sum(tf.mul(grad, unit), -1, true);
    return tf.sub(grad, tf.mul(unit, parallel));
  });
}

/**
 * Scales every dictionary vector (row of `wDec`) to unit L2 norm,
 * `w / max(‖w‖, 1e-12)`.
 *
 * @param wDec `[component, dSae, dIn]`
 */
export function normalizeDecoder(wDec: tf.Tensor3D): tf.Tensor3D {
  if (hasKernel(NORMALIZE_ROWS_KERNEL)) {
    return runKernel(NORMALIZE_ROWS_KERNEL, { w: wDec })[0] as tf.Tensor3D;
  }
  return unitNormRows(wDec);
}
