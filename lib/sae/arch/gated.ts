/**
 * Gated SAEs (Rajamanoharan et al., 2024): a gate decides which features are active, a magnitude path
 * with its own scale and bias says how much,
 *
 * ```
 * πgate = x̄·wEnc + bEnc,  πmag = (x̄·wEnc) ⊙ exp(rMag) + bMag,  f = [πgate > 0] · ReLU(πmag)
 * ```
 *
 * The penalty `S = Σ_j ReLU(πgate_j)` and an auxiliary reconstruction through the gate with a frozen
 * decoder, `mse(ReLU(πgate)·wDec + bDec, y)`, train the gate (which has no gradient through `f`):
 *
 * ```
 * ∂L/∂πmag  = ∂L/∂f ⊙ [πgate > 0][πmag > 0]
 * ∂L/∂πgate = ((2s/n)(x̂_gate − y)·wDecᵀ + sλ) ⊙ [πgate > 0]
 * ∂L/∂z     = ∂L/∂πmag ⊙ exp(rMag) + ∂L/∂πgate,   ∂L/∂bEnc = Σ_b ∂L/∂πgate
 * ∂L/∂rMag  = Σ_b ∂L/∂πmag ⊙ z ⊙ exp(rMag),       ∂L/∂bMag = Σ_b ∂L/∂πmag
 * ```
 *
 * A backend may run the whole step as the fused kernel named `SAE_GATED_KERNEL` (the `blas` backend does,
 * on each row's open gates, which carry both paths); the composed tfjs maths is its reference and fallback.
 *
 * @module
 */
import { tf } from "../../tf.ts";
import { requireParam } from "../params.ts";
import { bmm } from "../linalg.ts";
import { l2Reconstruction } from "../loss.ts";
import type { ArchRecord } from "./record.ts";
import { ARCH_PROFILES } from "./profiles.ts";
import { fusedGatedKernel } from "./shared.ts";

/**
 * The `gated` architecture.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GATED_ARCH } from "./gated.ts";
 * assert.deepEqual(GATED_ARCH.extraParams, ["rMag", "bMag"]);
 * assert.equal(GATED_ARCH.saelens.encoderBias, "b_gate");
 * ```
 */
export const GATED_ARCH: ArchRecord<"gated"> = {
  ...ARCH_PROFILES.gated,
  extraParams: ["rMag", "bMag"],
  initParams: (c, dSae) => ({ rMag: tf.zeros([c, dSae]), bMag: tf.zeros([c, dSae]) }),
  activation: {
    apply: (params, z, pre) => {
      const scale = tf.expandDims(tf.exp(requireParam(params, "rMag", "gated")), 1) as tf.Tensor3D;
      const mag = tf.add(
        tf.mul(z, scale),
        tf.expandDims(requireParam(params, "bMag", "gated"), 1),
      ) as tf.Tensor3D;
      const open = tf.step(pre, 0) as tf.Tensor3D;
      const mask = tf.mul(open, tf.step(mag, 0)) as tf.Tensor3D;
      return { f: tf.mul(tf.relu(mag), open) as tf.Tensor3D, mask, saved: { open, scale } };
    },
  },
  training: () => ({ kind: "gated" }),
  inference: () => ({ kind: "gated" }),
  terms: (step, dF) => ({ sparsity: tf.sum(tf.relu(step.pre), -1) as tf.Tensor2D, dF }),
  backward: (step, terms) => {
    const { params, pre, z, y, s, lambda } = step;
    const { mask, saved } = step.activated;
    const { open, scale } = saved!;
    const n = y.shape[2];
    const dMag = tf.mul(terms.dF, mask) as tf.Tensor3D;
    // Gate path: the auxiliary reconstruction through a frozen decoder, and the L1 of the gate.
    const g = tf.relu(pre) as tf.Tensor3D;
    const xGate = tf.add(bmm(g, params.wDec), tf.expandDims(params.bDec, 1)) as tf.Tensor3D;
    const rGate = tf.mul(tf.sub(xGate, y), (2 * s) / n) as tf.Tensor3D;
    const dGate = tf.mul(tf.add(bmm(rGate, params.wDec, false, true), s * lambda), open) as tf.Tensor3D;
    return {
      dZ: tf.add(tf.mul(dMag, scale), dGate) as tf.Tensor3D,
      dbEnc: tf.sum(dGate, 1) as tf.Tensor2D,
      grads: {
        rMag: tf.sum(tf.mul(tf.mul(dMag, z), scale), 1) as tf.Tensor2D,
        bMag: tf.sum(dMag, 1) as tf.Tensor2D,
      },
      extraLoss: l2Reconstruction(y, xGate),
    };
  },
  // The whole step as the kernel named `SAE_GATED_KERNEL` where the backend has it (`blas`: both paths on
  // each row's open gates); the composed maths above is its reference and fallback.
  fused: fusedGatedKernel,
  saelens: {
    architecture: { sae: "gated", transcoder: "gated" },
    encoderBias: "b_gate",
    tensors: { rMag: "r_mag", bMag: "b_mag" },
    activationFn: "relu",
    import: {},
  },
};
