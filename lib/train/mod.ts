/**
 * Training as a fold of pure steps over immutable state: the state records,
 * the steps (gradient step, decoder constraint, observation, resampling), how
 * steps compose into a pipeline, the default pipeline of a configuration, and
 * the seeded random numbers every step derives from `(seed, step)`.
 *
 * @module
 */
export {
  every,
  handOn,
  type Pipeline,
  pipeSteps,
  type ProducingStep,
  type Step,
  when,
  type WithOutputs,
} from "./compose.ts";
export type { Batch, ObservedBatch, StepOutputs, TrainState } from "./state.ts";
export {
  type Across,
  alone,
  collect,
  collectAcross,
  constrainDecoder,
  fromFirstAfter,
  gradientStep,
  type GradientStepOptions,
  observe,
  observeAcross,
  observeCapacity,
  resampleDead,
  resetMetrics,
  startMetricsWindow,
  trackThreshold,
  updateArchitecture,
} from "./steps.ts";
export {
  defaultPipeline,
  type DefaultPipelineOptions,
  foldedParams,
  initTrainState,
  learningRateSchedule,
  metricsLogged,
  needsInitSample,
  optimizerFor,
  prepareBatch,
  resampleOptionsFor,
} from "./pipeline.ts";
export {
  assertFiniteValues,
  countNonFinite,
  describeNonFinite,
  describeTensorPath,
  finiteProbe,
  firstNonFinite,
  type NonFiniteCount,
  type NonFiniteEntry,
  NonFiniteError,
  type ProbedTensor,
  probedTensors,
} from "./finite.ts";
export { deriveSeed, gaussian, mulberry32 } from "../seed.ts";
