/**
 * Optimizers composed the way optax composes them: gradient transformations
 * (`chain`, weight decay, clipping), Adam with per-feature moment reset, and
 * learning-rate schedules. Pure and synchronous.
 *
 * @module
 */
export {
  addWeightDecay,
  applyUpdates,
  chain,
  type ChainState,
  type GradientTransformation,
  mapRecord,
  type TensorRecord,
} from "./transform.ts";
export {
  ADAM_KERNEL,
  type AdamState,
  type FeatureAxes,
  resetFeatureMoments,
  SAE_FEATURE_AXES,
  scaleByAdam,
  type ScaleByAdamOptions,
} from "./adam.ts";
export {
  constantSchedule,
  cosineSchedule,
  scaleByLearningRate,
  type Schedule,
  warmupSchedule,
} from "./schedules.ts";
export { clipByGlobalNorm } from "./clip.ts";
