/**
 * saekit: train sparse autoencoders (SAEs) on language-model activations,
 * in TypeScript on Deno.
 *
 * Training is pure step functions over immutable state records, composed into
 * a pipeline; a thin runner does the side effects. The state is what a run
 * needs to continue and is checkpointed whole; what the gradient step hands the
 * steps after it travels beside the state (`handOn`). Each architecture is one
 * record in `lib/sae/arch/`, its tensor-free profile in `profiles.ts`.
 *
 * The main API is here; the rest of each folder is a sub-path export of
 * the package: `./sae`, `./train`, `./optim`, `./metrics`, `./resample`,
 * `./data`, `./models`, `./io`, `./backends`, `./run`, `./cli`, `./sweep`,
 * `./report`, `./features` and `./bench` (e.g.
 * `import { uploadRun } from "jsr:@saekit/saekit/io"`).
 *
 * @example Train three toy SAEs for a few steps
 * ```ts
 * import assert from "node:assert/strict";
 * import { disposeAll, parseConfig, selectBackend, toySource, train } from "./mod.ts";
 * await selectBackend("cpu");
 * const config = parseConfig({ dIn: 8, nComponents: 2, batchSize: 32, storeSize: 64, steps: 2 });
 * const source = toySource({ nComponents: 2, dIn: 8, nFeatures: 16, meanActive: 2, chunkRows: 64, seed: 0 });
 * const { state } = await train({ config, source });
 * assert.equal(state.step, 2);
 * disposeAll(state);
 * ```
 *
 * @module
 */
export { tf, tidy } from "./lib/tf.ts";
export { BACKEND_NAMES, type BackendName } from "./lib/backends/names.ts";
export { type BackendChoice, selectBackend } from "./lib/backends/select.ts";
export {
  type ArchName,
  configFromFlags,
  decoderInitNormFor,
  defaultPrefixes,
  encoderInitFor,
  isTranscoder,
  parseConfig,
  type ResolvedSizes,
  resolveSizes,
  specFor,
  STORIES_PRESET,
  TOY_PRESET,
  type TrainConfig,
  type TrainConfigInput,
  TrainConfigSchema,
} from "./lib/config.ts";

export { type SaeParams } from "./lib/sae/params.ts";
export { forward, type ForwardResult, type SaeActivation } from "./lib/sae/forward.ts";
export { l2Reconstruction, reduceLoss } from "./lib/sae/loss.ts";
export { batchStats } from "./lib/sae/objective.ts";
export { projectDecoderGrad } from "./lib/sae/decoder.ts";

export {
  addWeightDecay,
  applyUpdates,
  chain,
  type ChainState,
  type GradientTransformation,
} from "./lib/optim/transform.ts";
export { resetFeatureMoments, scaleByAdam } from "./lib/optim/adam.ts";
export { scaleByLearningRate } from "./lib/optim/schedules.ts";
export { clipByGlobalNorm } from "./lib/optim/clip.ts";

export { type MetricsState } from "./lib/metrics/accumulators.ts";
export { type MetricsSnapshot, summarizeMetrics } from "./lib/metrics/summary.ts";
export { type ResamplerState } from "./lib/resample/resampler.ts";

export {
  every,
  handOn,
  type Pipeline,
  pipeSteps,
  type ProducingStep,
  type Step,
  when,
  type WithOutputs,
} from "./lib/train/compose.ts";
export type { Batch, ObservedBatch, StepOutputs, TrainState } from "./lib/train/state.ts";
export {
  collect,
  constrainDecoder,
  gradientStep,
  observe,
  observeCapacity,
  resampleDead,
  resetMetrics,
  startMetricsWindow,
} from "./lib/train/steps.ts";
export { defaultPipeline, initTrainState, metricsLogged, optimizerFor } from "./lib/train/pipeline.ts";

export { type ActivationChunk, type ActivationSource } from "./lib/data/source.ts";
export { toySource } from "./lib/data/toy.ts";
export { shuffledBatches } from "./lib/data/store.ts";
export { type PreparedSource, prepareSource } from "./lib/data/prepare.ts";

export { exportSaes } from "./lib/io/export.ts";
export { importSaelens } from "./lib/io/saelens.ts";
export { importSparsify } from "./lib/io/sparsify.ts";

export { disposeAll, disposeReplaced } from "./lib/run/dispose.ts";
export { type LogRecord, train, type TrainOptions, type TrainResult } from "./lib/run/runner.ts";
export { RunFolderLockedError } from "./lib/run/lock.ts";
export { NonFiniteError } from "./lib/train/finite.ts";
export { type LogSink } from "./lib/run/sinks.ts";
export { tensorboardSink } from "./lib/run/sinks/tensorboard.ts";
export { wandbSink } from "./lib/run/sinks/wandb.ts";
