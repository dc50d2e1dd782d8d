/**
 * The geometric median of a sample, per component: the point minimising the
 * sum of Euclidean distances, a robust centre for the decoder bias
 * (Anthropic's "Towards Monosemanticity", OpenAI's TopK SAEs).
 *
 * @module
 */
import { tf, tidy } from "../tf.ts";

/**
 * Weiszfeld's iteration from the mean, `y ← Σᵢ xᵢ/dᵢ / Σᵢ 1/dᵢ` with `dᵢ = max(‖xᵢ − y‖, eps)`, a fixed
 * number of times (each step never increases the sum of distances).
 *
 * @param sample `[component, rows, n]`
 * @returns `[component, n]`
 *
 * @example Three points on a line: the median is the middle one, not the mean
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { geometricMedian } from "./geometric_median.ts";
 * const m = geometricMedian(tf.tensor3d([[[0, 0], [1, 0], [10, 0]]]), 200);
 * assert.ok(Math.abs(m.dataSync()[0] - 1) < 1e-3);
 * ```
 */
export function geometricMedian(sample: tf.Tensor3D, iterations = 100, eps = 1e-8): tf.Tensor2D {
  return tidy(() => {
    let y = tf.mean(sample, 1) as tf.Tensor2D;
    for (let i = 0; i < iterations; i++) {
      const next = tidy(() => {
        const distance = tf.maximum(tf.norm(tf.sub(sample, tf.expandDims(y, 1)), 2, -1), eps); // [c, rows]
        const w = tf.expandDims(tf.div(1, distance), -1); // [c, rows, 1]
        return tf.div(tf.sum(tf.mul(sample, w), 1), tf.sum(w, 1)) as tf.Tensor2D;
      });
      y.dispose();
      y = next;
    }
    return y;
  });
}
