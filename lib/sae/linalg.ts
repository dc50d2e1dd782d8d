/**
 * Batched matrix products used by the SAE step.
 *
 * tfjs's wasm backend runs a matmul with `transposeA`/`transposeB` 15 to 35
 * times slower than a plain one, so on that backend the operand is
 * transposed explicitly first; other backends get the flags.
 *
 * @module
 */
import { tf, tidy } from "../tf.ts";

const SLOW_TRANSPOSED_MATMUL = new Set(["wasm"]);

/**
 * `a @ b` over a leading batch axis, with optional transposes of the last two
 * axes of either operand.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { bmm } from "./linalg.ts";
 * const a = tf.tensor3d([[[1, 2], [3, 4]]]);
 * const p = bmm(a, a, true, false); // aᵀa = [[10, 14], [14, 20]]
 * assert.equal(p.dataSync()[1], 14);
 * ```
 */
export function bmm(
  a: tf.Tensor3D,
  b: tf.Tensor3D,
  transposeA = false,
  transposeB = false,
): tf.Tensor3D {
  if (!(transposeA || transposeB) || !SLOW_TRANSPOSED_MATMUL.has(tf.getBackend())) {
    return tf.matMul(a, b, transposeA, transposeB);
  }
  return tidy(() => {
    const left = transposeA ? tf.transpose(a, [0, 2, 1]) : a;
    const right = transposeB ? tf.transpose(b, [0, 2, 1]) : b;
    return tf.matMul(left, right);
  });
}
