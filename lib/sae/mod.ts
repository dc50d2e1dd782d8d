/**
 * The sparse autoencoder itself, pure and synchronous: parameters and their
 * initialisation, the forward pass, losses and their hand-derived gradients,
 * the decoder constraint, the architectures and their shared objective, input
 * normalisation and the geometric median.
 *
 * @module
 */
export { initParams, type InitParamsOptions, requireParam, type SaeParams, unitNormRows } from "./params.ts";
export {
  activationMask,
  decode,
  encode,
  forward,
  type ForwardResult,
  RELU,
  type SaeActivation,
} from "./forward.ts";
export { l1Absolute, l2Reconstruction, type LossTerms, lossTerms, reduceLoss } from "./loss.ts";
export {
  type BatchStats,
  batchStats,
  composedLossAndGrads,
  type LossAndGrads,
  lossAndGradsFor,
  type ObjectiveContext,
  type ObjectiveResult,
  saeLossAndGrads,
} from "./objective.ts";
export { SAE_RELU_KERNEL } from "../backends/kernel_names.ts";
export {
  NORMALIZE_ROWS_KERNEL,
  normalizeDecoder,
  PROJECT_ROWS_KERNEL,
  projectDecoderGrad,
} from "./decoder.ts";
export { bmm } from "./linalg.ts";
export {
  activate,
  ARCH_NAMES,
  ARCH_RECORDS,
  type ArchName,
  archOf,
  findArch,
  initArchParams,
  makeSpec,
  type SpecFields,
} from "./arch/registry.ts";
export type { ArchProfile, ArchRecord, ArchSettings, JumpReluOptions, SaeSpec } from "./arch/record.ts";
export {
  alwaysUnitNorm,
  ARCH_PROFILES,
  baseSpec,
  defaultPrefixes,
  prefixProblems,
  profileOf,
  topKFamilyCheck,
  topKFamilySpec,
} from "./arch/profiles.ts";
export { RELU_ARCH } from "./arch/relu.ts";
export { RELU_APRIL_ARCH } from "./arch/relu_april.ts";
export { TOPK_ARCH } from "./arch/topk.ts";
export { BATCHTOPK_ARCH } from "./arch/batchtopk.ts";
export { JUMPRELU_ARCH } from "./arch/jumprelu.ts";
export { GATED_ARCH } from "./arch/gated.ts";
export { MATRYOSHKA_ARCH } from "./arch/matryoshka.ts";
export { expectedNormScale, foldScale, type InputScale, unitScale } from "./normalization.ts";
export { geometricMedian } from "./geometric_median.ts";
