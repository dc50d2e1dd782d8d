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
 * vector-matrix product instead of a sixth matrix product: five batched
 * matrix products per step in all (two forward, three backward), none
 * through `tf.grad`.
 *
 * A backend may register a fused kernel named {@linkcode SAE_RELU_KERNEL}
 * computing the same outputs (the `blas` backend does); otherwise the same
 * maths runs as ordinary tfjs ops.
 *
 * @module
 */
import { hasKernel, runKernel, tf, tidy } from "../tf.ts";
import type { SaeParams } from "./params.ts";
import { bmm } from "./linalg.ts";
import { checkedK, forward, RELU, type SaeActivation } from "./forward.ts";
import { type LossTerms, lossTerms, reduceLoss } from "./loss.ts";
import { SAE_RELU_KERNEL } from "../backends/kernel_names.ts";

/** The fused kernel's name (defined with its contract in `lib/backends/kernel_names.ts`). */
export { SAE_RELU_KERNEL };

/** Per-batch statistics that the metrics and the resampler need, computed with the loss. */
export type BatchStats = {
  /** Non-zero features per item, `[component, batch]`. */
  readonly l0: tf.Tensor2D;
  /** Items each feature fired on (`f > 0`), `[component, dSae]`, int32. */
  readonly fired: tf.Tensor2D;
  /** `Σ_b ‖x_b − mean_b(x)‖²` per component, `[component]`. */
  readonly sst: tf.Tensor1D;
};

/** What {@linkcode saeLossAndGrads} returns. */
export type LossAndGrads = {
  /**
   * Learned activations `[component, rows, dSae]` of the first `keepActivations` rows of the batch, and
   * reconstructions `[component, batch, dIn]`.
   */
  readonly forward: { readonly f: tf.Tensor3D; readonly xHat: tf.Tensor3D };
  /** Per-item loss terms `[component, batch]`. */
  readonly terms: LossTerms;
  /** The training scalar (mean over batch and components). */
  readonly loss: tf.Scalar;
  /** `∂loss/∂params`, with the shapes of the parameters. */
  readonly grads: SaeParams;
  readonly stats: BatchStats;
};

/**
 * Per-batch statistics of learned activations and inputs.
 *
 * @param x `[component, batch, dIn]`
 * @param f `[component, batch, dSae]`
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { batchStats } from "./grads.ts";
 * const s = batchStats(tf.tensor3d([[[0], [2]]]), tf.tensor3d([[[1, 0], [3, 0]]]));
 * assert.equal(s.fired.dataSync().join(), "2,0");
 * assert.equal(s.sst.dataSync()[0], 2);
 * ```
 */
export function batchStats(x: tf.Tensor3D, f: tf.Tensor3D): BatchStats {
  return tidy(() => {
    const active = tf.cast(tf.greater(f, 0), "int32");
    const centred = tf.sub(x, tf.mean(x, 1, true));
    return {
      l0: tf.cast(tf.sum(active, -1), "float32") as tf.Tensor2D,
      fired: tf.sum(active, 1) as tf.Tensor2D,
      sst: tf.sum(tf.sum(tf.square(centred), -1), 1) as tf.Tensor1D,
    };
  });
}

/**
 * Loss and hand-derived gradients of the original's SAE loss, with the batch
 * statistics. Uses the backend's fused kernel when it has one.
 *
 * @param x `[component, batch, dIn]`
 * @param activation ReLU (default) or TopK (the gradient is the ReLU one
 *   with TopK's mask, `∂L/∂pre = ∂L/∂f ⊙ [f ≠ 0 kept]`; use `l1Coefficient` 0 for the usual TopK loss)
 * @param keepActivations rows of `f` to return (all by default; steps that only need a sample, such as
 *   capacity, ask for fewer and save a `[component, batch, dSae]` tensor)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { initParams } from "./params.ts";
 * import { saeLossAndGrads } from "./grads.ts";
 * const params = initParams({ nComponents: 1, dIn: 4, dSae: 8, seed: 0 });
 * const { grads } = saeLossAndGrads(params, tf.randomNormal([1, 16, 4], 0, 1, "float32", 1), 1e-3);
 * assert.equal(grads.wEnc.shape.join(), "1,4,8");
 * ```
 */
export function saeLossAndGrads(
  params: SaeParams,
  x: tf.Tensor3D,
  l1Coefficient: number,
  keepActivations = Infinity,
  activation: SaeActivation = RELU,
): LossAndGrads {
  const keepRows = Math.max(0, Math.min(keepActivations, x.shape[1]));
  if (hasKernel(SAE_RELU_KERNEL)) {
    const [c, , n] = x.shape;
    if (x.rank !== 3 || c !== params.bDec.shape[0] || n !== params.bDec.shape[1]) {
      throw new RangeError(
        `x: expected shape [${params.bDec.shape[0]}, batch, ${
          params.bDec.shape[1]
        }] ([component, batch, dIn]), received [${x.shape.join(", ")}]`,
      );
    }
    const [f, xHat, l1, l2, total, loss, wEnc, bEnc, wDec, bDec, l0, fired, sst] = runKernel(
      SAE_RELU_KERNEL,
      { x, ...params },
      {
        l1Coefficient,
        keepRows,
        k: activation.kind === "topk" ? checkedK(activation.k, params.bEnc.shape[1]) : 0,
      },
    );
    return {
      forward: { f: f as tf.Tensor3D, xHat: xHat as tf.Tensor3D },
      terms: { l1: l1 as tf.Tensor2D, l2: l2 as tf.Tensor2D, total: total as tf.Tensor2D },
      loss: loss as tf.Scalar,
      grads: {
        wEnc: wEnc as tf.Tensor3D,
        bEnc: bEnc as tf.Tensor2D,
        wDec: wDec as tf.Tensor3D,
        bDec: bDec as tf.Tensor2D,
      },
      stats: { l0: l0 as tf.Tensor2D, fired: fired as tf.Tensor2D, sst: sst as tf.Tensor1D },
    };
  }
  const all = composedLossAndGrads(params, x, l1Coefficient, activation);
  if (keepRows === x.shape[1]) return all;
  const f = tf.slice(all.forward.f, [0, 0, 0], [-1, keepRows, -1]);
  all.forward.f.dispose();
  return { ...all, forward: { ...all.forward, f } };
}

/** {@linkcode saeLossAndGrads} in ordinary tfjs ops, for every backend. */
export function composedLossAndGrads(
  params: SaeParams,
  x: tf.Tensor3D,
  l1Coefficient: number,
  activation: SaeActivation = RELU,
): LossAndGrads {
  return tidy(() => {
    const fwd = forward(params, x, activation);
    const terms = lossTerms(x, fwd.f, fwd.xHat, l1Coefficient);
    const loss = reduceLoss(terms.total);
    const [c, b, n] = x.shape;
    const s = 1 / (c * b);
    const dXHat = tf.mul(tf.sub(fwd.xHat, x), (2 * s) / n) as tf.Tensor3D;
    const dF = tf.add(
      bmm(dXHat, params.wDec, false, true),
      tf.mul(tf.sign(fwd.f), s * l1Coefficient),
    );
    const dPre = tf.mul(dF, fwd.mask) as tf.Tensor3D;
    const xBar = tf.sub(x, tf.expandDims(params.bDec, 1)) as tf.Tensor3D;
    const wDec = bmm(fwd.f, dXHat, true, false);
    const wEnc = bmm(xBar, dPre, true, false);
    const bEnc = tf.sum(dPre, 1) as tf.Tensor2D;
    const throughEncoder = tf.squeeze(
      bmm(tf.expandDims(bEnc, 1) as tf.Tensor3D, params.wEnc, false, true),
      [1],
    );
    const bDec = tf.sub(tf.sum(dXHat, 1), throughEncoder) as tf.Tensor2D;
    return {
      forward: { f: fwd.f, xHat: fwd.xHat },
      terms,
      loss,
      grads: { wEnc, bEnc, wDec, bDec },
      stats: batchStats(x, fwd.f),
    };
  });
}
