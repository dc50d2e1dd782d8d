/**
 * JumpReLU SAEs (Rajamanoharan et al., 2024; Gemma Scope): `f = pre · [pre > θ]` with a trained
 * threshold θ per feature. The penalty is the L0 norm `S = Σ_j [pre_j > θ_j]` (`step`, unit-norm
 * decoder) or Anthropic's `S = Σ_j tanh(c · f_j · ‖wDec_j‖)` (`tanh`, January 2025, free decoder),
 * optionally with the pre-activation loss `P = Σ_j ReLU(θ_j − pre_j) · ‖wDec_j‖`. θ gets
 * straight-through gradients through the rectangle kernel `K(u) = [|u| < ½]` at `u = (pre − θ)/ε`:
 *
 * ```
 * ∂[pre > θ]/∂θ := −(1/ε) K((pre − θ)/ε)                  (step penalty)
 * ∂f/∂θ         := −(θ/ε) K((pre − θ)/ε)                  (through f = pre·[pre > θ])
 * ∂L/∂f        += sλc (1 − tanh²) ‖wDec_j‖,  ∂L/∂‖wDec_j‖ = sλc Σ_b (1 − tanh²) f      (tanh penalty)
 * ∂L/∂pre      += −sλ_P [θ > pre] ‖wDec_j‖, ∂L/∂θ += sλ_P Σ_b [θ > pre] ‖wDec_j‖,
 * ∂L/∂‖wDec_j‖ += sλ_P Σ_b ReLU(θ − pre)                                               (pre-activation loss)
 * ```
 *
 * with `∂L/∂pre = ∂L/∂f ⊙ [pre > θ]` on the path through `f`.
 *
 * With the step penalty and no pre-activation loss, a backend may run the whole step as the fused kernel
 * named `SAE_JUMPRELU_KERNEL` (the `blas` backend does: sparse after the threshold); the composed tfjs
 * maths here is its reference and the fallback.
 *
 * @module
 */
import { tf } from "../../tf.ts";
import { requireParam } from "../params.ts";
import type { ArchRecord } from "./record.ts";
import { ARCH_PROFILES } from "./profiles.ts";
import {
  fusedJumpReluKernel,
  JUMPRELU_SAELENS,
  maskedActivation,
  THRESHOLD_METRICS,
  thresholdParam,
} from "./shared.ts";

/** Rectangle kernel `[|u| < ½]` at `u = (pre − θ)/ε`, `[component, batch, dSae]`. */
function rectangle(pre: tf.Tensor3D, threshold: tf.Tensor2D, bandwidth: number): tf.Tensor3D {
  const u = tf.div(tf.sub(pre, tf.expandDims(threshold, 1)), bandwidth);
  return tf.cast(tf.less(tf.abs(u), 0.5), "float32") as tf.Tensor3D;
}

/**
 * The `jumprelu` architecture.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JUMPRELU_ARCH } from "./jumprelu.ts";
 * import { makeSpec } from "./registry.ts";
 * const tanh = makeSpec("jumprelu", { jumprelu: { penalty: "tanh" } });
 * assert.equal(JUMPRELU_ARCH.unitNormDecoder(tanh), false);
 * assert.equal(JUMPRELU_ARCH.unitNormDecoder(makeSpec("jumprelu")), true);
 * ```
 */
export const JUMPRELU_ARCH: ArchRecord<"jumprelu"> = {
  ...ARCH_PROFILES.jumprelu,
  extraParams: ["threshold"],
  initParams: (c, dSae, spec) => thresholdParam(c, dSae, spec.jumprelu.initThreshold),
  activation: maskedActivation(
    (pre, _activation, threshold) => {
      if (threshold === undefined) {
        throw new TypeError("threshold: expected a [component, dSae] tensor for jumprelu, received nothing");
      }
      return tf.cast(tf.greater(pre, tf.expandDims(threshold, 1)), "float32") as tf.Tensor3D;
    },
    (params) => requireParam(params, "threshold", "jumprelu"),
  ),
  training: () => ({ kind: "jumprelu" }),
  inference: () => ({ kind: "jumprelu" }),
  terms: (step, reconstructionDF) => {
    const { spec, params, pre, s, lambda } = step;
    const { f, mask } = step.activated;
    const threshold = requireParam(params, "threshold", "jumprelu");
    const { penalty, bandwidth, tanhScale, preActCoefficient } = spec.jumprelu;
    const kernel = rectangle(pre, threshold, bandwidth);
    let dF = reconstructionDF;
    let sparsity: tf.Tensor2D;
    let dThreshold: tf.Tensor2D | undefined;
    let dNorm: tf.Tensor2D | undefined;
    if (penalty === "step") {
      sparsity = tf.sum(mask, -1);
      // ∂[pre > θ]/∂θ := −(1/ε) K((pre − θ)/ε)
      dThreshold = tf.mul(tf.sum(kernel, 1), (-s * lambda) / bandwidth) as tf.Tensor2D;
    } else {
      const normsB = tf.expandDims(step.decoderNorms(), 1);
      const th = tf.tanh(tf.mul(tf.mul(f, normsB), tanhScale));
      const slope = tf.sub(1, tf.square(th));
      sparsity = tf.sum(th, -1);
      dF = tf.add(dF, tf.mul(tf.mul(slope, normsB), s * lambda * tanhScale)) as tf.Tensor3D;
      dNorm = tf.mul(tf.sum(tf.mul(slope, f), 1), s * lambda * tanhScale) as tf.Tensor2D;
    }
    // Through f = pre·[pre > θ]: ∂f/∂θ := −(θ/ε) K((pre − θ)/ε).
    const throughF = tf.mul(tf.sum(tf.mul(dF, kernel), 1), tf.mul(threshold, -1 / bandwidth)) as tf.Tensor2D;
    dThreshold = dThreshold === undefined ? throughF : tf.add(dThreshold, throughF) as tf.Tensor2D;
    if (!(preActCoefficient > 0)) return { sparsity, dF, dNorm, grads: { threshold: dThreshold } };
    // P = Σ_j ReLU(θ_j − pre_j)·‖wDec_j‖
    const normsB = tf.expandDims(step.decoderNorms(), 1);
    const gap = tf.sub(tf.expandDims(threshold, 1), pre);
    const below = tf.step(gap, 0);
    const extraLoss = tf.mul(tf.sum(tf.mul(tf.relu(gap), normsB), -1), preActCoefficient) as tf.Tensor2D;
    const sp = s * preActCoefficient;
    const dPre = tf.mul(tf.mul(below, normsB), -sp) as tf.Tensor3D;
    dThreshold = tf.add(dThreshold, tf.mul(tf.sum(tf.mul(below, normsB), 1), sp)) as tf.Tensor2D;
    const dP = tf.mul(tf.sum(tf.relu(gap), 1), sp) as tf.Tensor2D;
    dNorm = dNorm === undefined ? dP : tf.add(dNorm, dP) as tf.Tensor2D;
    return { sparsity, dF, dNorm, dPre, extraLoss, grads: { threshold: dThreshold } };
  },
  // The step penalty as the kernel named `SAE_JUMPRELU_KERNEL` where the backend has it (`blas`); the tanh
  // penalty and the pre-activation loss run the composed maths above.
  fused: fusedJumpReluKernel,
  metrics: THRESHOLD_METRICS,
  saelens: {
    ...JUMPRELU_SAELENS,
    import: {
      tensors: ({ dSae, take, has }) => {
        // SAELens encodes ReLU(pre)·[pre > θ], saekit pre·[pre > θ]: the same for θ ≥ 0.
        const threshold = !has("threshold") && has("log_threshold")
          ? take("log_threshold", [dSae]).map(Math.exp)
          : take("threshold", [dSae]);
        return { threshold: threshold.map((t) => Math.max(t, 0)) };
      },
    },
  },
};
