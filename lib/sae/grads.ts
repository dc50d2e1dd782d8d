/**
 * The gradient of the original's SAE loss, derived by hand.
 *
 * With `s = 1 / (C·B)` (mean over batch `B` and components `C`) and `n = dIn`:
 *
 * ```
 * ∂L/∂x̂    = (2s/n)(x̂ − x)                               [C, B, n]
 * ∂L/∂f    = ∂L/∂x̂ · wDecᵀ + s·l1·sign(f)                  [C, B, m]
 * ∂L/∂pre  = ∂L/∂f ⊙ [pre > 0]                             (ReLU)
 * ∂L/∂wDec = fᵀ · ∂L/∂x̂                                    [C, m, n]
 * ∂L/∂wEnc = x̄ᵀ · ∂L/∂pre                                  [C, n, m]
 * ∂L/∂bEnc = Σ_b ∂L/∂pre                                    [C, m]
 * ∂L/∂bDec = Σ_b ∂L/∂x̂ − (∂L/∂bEnc) · wEncᵀ                 [C, n]
 * ```
 *
 * The last line uses `Σ_b (∂L/∂pre_b · wEncᵀ) = (Σ_b ∂L/∂pre_b) · wEncᵀ`, a
 * vector-matrix product instead of a sixth matrix product. Four batched
 * matrix products per step, none through `tf.grad`.
 *
 * @module
 */
import { tf, tidy } from "../tf.ts";
import type { SaeParams } from "./params.ts";
import { bmm } from "./linalg.ts";
import { forward, type ForwardResult } from "./forward.ts";
import { type LossTerms, lossTerms, reduceLoss } from "./loss.ts";

/** What {@linkcode saeLossAndGrads} returns. */
export type LossAndGrads = {
  /** The forward pass the gradient was taken at. */
  readonly forward: ForwardResult;
  /** Per-item loss terms `[component, batch]`. */
  readonly terms: LossTerms;
  /** The training scalar (mean over batch and components). */
  readonly loss: tf.Scalar;
  /** `∂loss/∂params`, with the shapes of the parameters. */
  readonly grads: SaeParams;
};

/**
 * Loss and hand-derived gradients of the original's SAE loss.
 *
 * @param x `[component, batch, dIn]`
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * import { initParams } from "./params.ts";
 * import { saeLossAndGrads } from "./grads.ts";
 * const params = initParams({ nComponents: 1, dIn: 4, dSae: 8, seed: 0 });
 * const { grads } = saeLossAndGrads(params, tf.randomNormal([1, 16, 4], 0, 1, "float32", 1), 1e-3);
 * console.assert(grads.wEnc.shape.join() === "1,4,8");
 * ```
 */
export function saeLossAndGrads(
  params: SaeParams,
  x: tf.Tensor3D,
  l1Coefficient: number,
): LossAndGrads {
  return tidy(() => {
    const fwd = forward(params, x);
    const terms = lossTerms(x, fwd.f, fwd.xHat, l1Coefficient);
    const loss = reduceLoss(terms.total);
    const [c, b, n] = x.shape;
    const s = 1 / (c * b);
    const dXHat = tf.mul(tf.sub(fwd.xHat, x), (2 * s) / n) as tf.Tensor3D;
    const dF = tf.add(
      bmm(dXHat, params.wDec, false, true),
      tf.mul(tf.sign(fwd.f), s * l1Coefficient),
    );
    const dPre = tf.mul(dF, tf.step(fwd.pre, 0)) as tf.Tensor3D;
    const xBar = tf.sub(x, tf.expandDims(params.bDec, 1)) as tf.Tensor3D;
    const wDec = bmm(fwd.f, dXHat, true, false);
    const wEnc = bmm(xBar, dPre, true, false);
    const bEnc = tf.sum(dPre, 1) as tf.Tensor2D;
    const throughEncoder = tf.squeeze(
      bmm(tf.expandDims(bEnc, 1) as tf.Tensor3D, params.wEnc, false, true),
      [1],
    );
    const bDec = tf.sub(tf.sum(dXHat, 1), throughEncoder) as tf.Tensor2D;
    return { forward: fwd, terms, loss, grads: { wEnc, bEnc, wDec, bDec } };
  });
}
