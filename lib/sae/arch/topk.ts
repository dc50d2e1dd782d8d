/**
 * TopK SAEs (Gao et al., 2024; OpenAI): of the positive pre-activations, only the `k` largest of each
 * item are kept, `f = pre ⊙ mask`; no penalty (λ = 0 unless asked, then the L1 of ReLU), unit-norm
 * decoder, and AuxK to revive dead features. The gradient is ReLU's with TopK's mask,
 * `∂L/∂pre = ∂L/∂f ⊙ mask`. The fused kernel named `SAE_RELU_KERNEL` runs it with its `k`.
 *
 * @module
 */
import type { ArchRecord } from "./record.ts";
import { ARCH_PROFILES } from "./profiles.ts";
import { auxK, checkedK, fusedReluKernel, kOf, l1Terms, maskedActivation, topkMask } from "./shared.ts";

/**
 * The `topk` architecture.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TOPK_ARCH } from "./topk.ts";
 * import { makeSpec } from "./registry.ts";
 * assert.deepEqual(TOPK_ARCH.inference(makeSpec("topk", { k: 4 })), { kind: "topk", k: 4 });
 * assert.equal(TOPK_ARCH.sparsity, "k");
 * ```
 */
export const TOPK_ARCH: ArchRecord<"topk"> = {
  ...ARCH_PROFILES.topk,
  extraParams: [],
  activation: maskedActivation((pre, activation) => topkMask(pre, kOf(activation))),
  training: (spec) => ({ kind: "topk", k: spec.k }),
  inference: (spec) => ({ kind: "topk", k: spec.k }),
  terms: l1Terms,
  auxiliary: auxK,
  fused: fusedReluKernel((spec, dSae) => checkedK(spec.k, dSae)),
  saelens: {
    architecture: { sae: "topk", transcoder: "topk" },
    encoderBias: "b_enc",
    tensors: {},
    activationFn: "topk",
    cfg: (k) => ({ fields: { k, rescale_acts_by_decoder_norm: false }, kwargs: { k } }),
    import: {
      fields: ({ cfg, dSae, source }) => {
        const kwargs = cfg.activation_fn_kwargs as Record<string, unknown> | undefined;
        const value = cfg.k ?? kwargs?.k;
        if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > dSae) {
          throw new TypeError(
            `${source}: k expected an integer in [1, ${dSae}] (d_sae), received ${JSON.stringify(value)}`,
          );
        }
        return { k: value };
      },
      tensors: ({ cfg, dSae, dOut }, { wEnc, bEnc, wDec }) => {
        if (cfg.rescale_acts_by_decoder_norm !== true) return {};
        // SAELens encodes TopK(pre·n) and decodes (f/n)·W_dec with n the decoder row norms: the same as
        // encoding with W_enc·n, b_enc·n and decoding with W_dec/n.
        const norms = new Float32Array(dSae);
        for (let j = 0; j < dSae; j++) {
          let sum = 0;
          for (let i = 0; i < dOut; i++) sum += wDec[j * dOut + i] ** 2;
          norms[j] = Math.sqrt(sum);
        }
        return {
          wEnc: wEnc.map((v, at) => v * norms[at % dSae]),
          bEnc: bEnc.map((v, j) => v * norms[j]),
          wDec: wDec.map((
            v,
            at,
          ) => (norms[Math.floor(at / dOut)] > 0 ? v / norms[Math.floor(at / dOut)] : v)),
        };
      },
    },
  },
  sparsify: { activation: "topk" },
};
