/**
 * The original SAE (`sparse_autoencoder`, Anthropic's "Towards Monosemanticity"): `f = ReLU(pre)`, the
 * penalty `λ Σ_j |f_j|`, dictionary vectors held at unit norm. Its gradient, with the shared
 * reconstruction's `∂L/∂f`:
 *
 * ```
 * ∂L/∂f   += sλ · sign(f)
 * ∂L/∂pre  = ∂L/∂f ⊙ [pre > 0]
 * ```
 *
 * A backend may run the whole step as the fused kernel named `SAE_RELU_KERNEL` (the `blas` backend
 * does); the composed tfjs maths of `lib/sae/objective.ts` is its reference and fallback.
 *
 * @module
 */
import { tf } from "../../tf.ts";
import type { ArchRecord } from "./record.ts";
import { ARCH_PROFILES } from "./profiles.ts";
import { fusedReluKernel, l1Terms, STANDARD_SAELENS } from "./shared.ts";

/**
 * The `relu` architecture.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RELU_ARCH } from "./relu.ts";
 * import { makeSpec } from "./registry.ts";
 * assert.equal(RELU_ARCH.training(makeSpec("relu")).kind, "relu");
 * assert.equal(RELU_ARCH.sparsity, "coefficient");
 * ```
 */
export const RELU_ARCH: ArchRecord<"relu"> = {
  ...ARCH_PROFILES.relu,
  extraParams: [],
  activation: {
    mask: (pre) => tf.step(pre, 0) as tf.Tensor3D,
    apply: (_params, _z, pre) => ({ f: tf.relu(pre) as tf.Tensor3D, mask: tf.step(pre, 0) as tf.Tensor3D }),
  },
  training: () => ({ kind: "relu" }),
  inference: () => ({ kind: "relu" }),
  terms: l1Terms,
  fused: fusedReluKernel(() => 0),
  saelens: {
    ...STANDARD_SAELENS,
    import: {},
  },
};
