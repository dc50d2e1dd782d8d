/**
 * Anthropic's April-2024 update of the ReLU SAE: the penalty weighs each activation by its dictionary
 * vector's norm, `S = Σ_j f_j · ‖wDec_j‖`, so the decoder is left free (no unit-norm constraint) and
 * starts small. Its gradients, with the shared reconstruction's:
 *
 * ```
 * ∂L/∂f          += sλ · ‖wDec_j‖
 * ∂L/∂‖wDec_j‖    = sλ · Σ_b f_bj          (the objective sends it on along wDec_j/‖wDec_j‖)
 * ∂L/∂pre         = ∂L/∂f ⊙ [pre > 0]
 * ```
 *
 * A backend may run the whole step as the fused kernel named `SAE_RELU_APRIL_KERNEL` (the `blas` backend
 * does, on the active features only); the composed tfjs maths is its reference and fallback.
 *
 * @module
 */
import { tf } from "../../tf.ts";
import type { ArchRecord } from "./record.ts";
import { ARCH_PROFILES } from "./profiles.ts";
import { fusedReluAprilKernel, STANDARD_SAELENS } from "./shared.ts";

/**
 * The `relu-april` architecture.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RELU_APRIL_ARCH } from "./relu_april.ts";
 * import { makeSpec } from "./registry.ts";
 * assert.equal(RELU_APRIL_ARCH.unitNormDecoder(makeSpec("relu-april")), false);
 * ```
 */
export const RELU_APRIL_ARCH: ArchRecord<"relu-april"> = {
  ...ARCH_PROFILES["relu-april"],
  extraParams: [],
  training: () => ({ kind: "relu" }),
  inference: () => ({ kind: "relu" }),
  terms: (step, dF) => {
    const { f } = step.activated;
    const scale = step.s * step.lambda;
    const normsB = tf.expandDims(step.decoderNorms(), 1) as tf.Tensor3D;
    return {
      sparsity: tf.sum(tf.mul(f, normsB), -1) as tf.Tensor2D,
      dF: tf.add(dF, tf.mul(normsB, scale)) as tf.Tensor3D,
      dNorm: tf.mul(tf.sum(f, 1), scale) as tf.Tensor2D,
    };
  },
  // The whole step as the kernel named `SAE_RELU_APRIL_KERNEL` where the backend has it (`blas`: sparse
  // after the ReLU); the composed maths above is its reference and fallback.
  fused: fusedReluAprilKernel,
  saelens: STANDARD_SAELENS,
};
