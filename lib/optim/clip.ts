/**
 * Gradient clipping by global norm.
 *
 * @module
 */
import { tf } from "../tf.ts";
import { type GradientTransformation, mapRecord } from "./transform.ts";

/**
 * Scales all gradients by `min(1, maxNorm / ‖g‖)`, where `‖g‖` is the L2 norm
 * of all gradients together. `maxNorm = 0` passes them through.
 *
 * @example A gradient of norm 5 clipped to 1
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { clipByGlobalNorm } from "./clip.ts";
 * const [g] = clipByGlobalNorm(1).update({ a: tf.tensor1d([3, 4]) }, null, {});
 * assert.ok(Math.abs(g.a.dataSync()[0] - 0.6) < 1e-6);
 * ```
 */
export function clipByGlobalNorm(maxNorm: number): GradientTransformation<null> {
  return {
    init: () => null,
    update: (grads, state) => {
      if (maxNorm === 0) return [grads, state];
      const squares = Object.values(grads).map((g) => tf.sum(tf.square(g)));
      const norm = tf.sqrt(tf.addN(squares));
      const scale = tf.minimum(1, tf.div(maxNorm, tf.maximum(norm, 1e-30)));
      return [mapRecord(grads, (g) => tf.mul(g, scale)), state];
    },
  };
}
