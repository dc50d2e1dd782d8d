/**
 * BatchTopK SAEs (Bussmann et al., 2024): while training, the `k · batch` largest positive
 * pre-activations of the whole batch are kept (items share a budget of `k` on average), with TopK's
 * gradient `∂L/∂pre = ∂L/∂f ⊙ mask` and AuxK. At inference each item is encoded on its own as a JumpReLU
 * at a threshold θ that tracks the smallest kept activation of the training batches (a parameter that
 * no gradient trains).
 *
 * @module
 */
import type { ArchRecord } from "./record.ts";
import { ARCH_PROFILES } from "./profiles.ts";
import {
  auxK,
  batchTopkMask,
  fusedBatchTopkKernel,
  JUMPRELU_SAELENS,
  kOf,
  l1Terms,
  maskedActivation,
  minActive,
  THRESHOLD_METRICS,
  thresholdParam,
  trackThresholdUpdate,
} from "./shared.ts";

/**
 * The `batchtopk` architecture.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BATCHTOPK_ARCH } from "./batchtopk.ts";
 * import { makeSpec } from "./registry.ts";
 * assert.equal(BATCHTOPK_ARCH.inference(makeSpec("batchtopk")).kind, "jumprelu");
 * assert.deepEqual(BATCHTOPK_ARCH.extraParams, ["threshold"]);
 * ```
 */
export const BATCHTOPK_ARCH: ArchRecord<"batchtopk"> = {
  ...ARCH_PROFILES.batchtopk,
  extraParams: ["threshold"],
  initParams: (c, dSae) => thresholdParam(c, dSae, 0),
  activation: maskedActivation((pre, activation) => batchTopkMask(pre, kOf(activation))),
  training: (spec) => ({ kind: "batchtopk", k: spec.k }),
  inference: () => ({ kind: "jumprelu" }),
  terms: l1Terms,
  outputs: minActive,
  auxiliary: auxK,
  fused: fusedBatchTopkKernel(),
  afterUpdate: trackThresholdUpdate,
  metrics: THRESHOLD_METRICS,
  saelens: JUMPRELU_SAELENS,
};
