/**
 * saekit: train sparse autoencoders (SAEs) on language-model activations,
 * in TypeScript on Deno.
 *
 * Training is pure step functions over immutable state records, composed into
 * a pipeline; a thin runner does the side effects.
 *
 * @example Train three toy SAEs for a few steps
 * ```ts
 * import { disposeAll, parseConfig, selectBackend, toySource, train } from "./mod.ts";
 * await selectBackend("cpu");
 * const config = parseConfig({ dIn: 8, nComponents: 2, batchSize: 32, storeSize: 64, steps: 2 });
 * const source = toySource({ nComponents: 2, dIn: 8, nFeatures: 16, meanActive: 2, chunkRows: 64, seed: 0 });
 * const { state } = await train({ config, source });
 * console.assert(state.step === 2);
 * disposeAll(state);
 * ```
 *
 * @module
 */
export {
  BACKEND_NAMES,
  type BackendChoice,
  type BackendName,
  hasKernel,
  runKernel,
  selectBackend,
  tf,
  tidy,
} from "./lib/tf.ts";
export { deriveSeed, gaussian, mulberry32 } from "./lib/seed.ts";
export {
  configFromFlags,
  parseConfig,
  type ResolvedSizes,
  resolveSizes,
  TOY_PRESET,
  type TrainConfig,
  type TrainConfigInput,
  TrainConfigSchema,
} from "./lib/config.ts";

export { initParams, type InitParamsOptions, type SaeParams, unitNormRows } from "./lib/sae/params.ts";
export { decode, encode, forward, type ForwardResult } from "./lib/sae/forward.ts";
export { l1Absolute, l2Reconstruction, type LossTerms, lossTerms, reduceLoss } from "./lib/sae/loss.ts";
export {
  type BatchStats,
  batchStats,
  composedLossAndGrads,
  type LossAndGrads,
  SAE_RELU_KERNEL,
  saeLossAndGrads,
} from "./lib/sae/grads.ts";
export {
  NORMALIZE_ROWS_KERNEL,
  normalizeDecoder,
  PROJECT_ROWS_KERNEL,
  projectDecoderGrad,
} from "./lib/sae/decoder.ts";
export { bmm } from "./lib/sae/linalg.ts";

export {
  addWeightDecay,
  applyUpdates,
  chain,
  type ChainState,
  type GradientTransformation,
  mapRecord,
  type TensorRecord,
} from "./lib/optim/transform.ts";
export {
  ADAM_KERNEL,
  type AdamState,
  type FeatureAxes,
  resetFeatureMoments,
  SAE_FEATURE_AXES,
  scaleByAdam,
  type ScaleByAdamOptions,
} from "./lib/optim/adam.ts";
export {
  constantSchedule,
  cosineSchedule,
  scaleByLearningRate,
  type Schedule,
  warmupSchedule,
} from "./lib/optim/schedules.ts";
export { clipByGlobalNorm } from "./lib/optim/clip.ts";

export {
  accumulate,
  accumulateCapacity,
  capacities,
  initMetrics,
  type MetricsState,
} from "./lib/metrics/accumulators.ts";
export {
  DENSITY_BIN_EDGES,
  type MetricsSnapshot,
  summarizeMetrics,
  type SummarizeOptions,
} from "./lib/metrics/summary.ts";
export { mmcs } from "./lib/metrics/mmcs.ts";

export {
  collectForResample,
  initResampler,
  resampleDeadFeatures,
  resampleDue,
  type ResampleOptions,
  type ResampleResult,
  type ResamplerState,
} from "./lib/resample/resampler.ts";

export { every, type Pipeline, pipeSteps, type Step, when } from "./lib/train/compose.ts";
export type { Batch, StepOutputs, TrainState } from "./lib/train/state.ts";
export {
  collect,
  constrainDecoder,
  gradientStep,
  type GradientStepOptions,
  observe,
  observeCapacity,
  resampleDead,
} from "./lib/train/steps.ts";
export {
  defaultPipeline,
  initTrainState,
  learningRateSchedule,
  optimizerFor,
  resampleOptionsFor,
  resetMetrics,
} from "./lib/train/pipeline.ts";

export { type ActivationChunk, type ActivationSource } from "./lib/data/source.ts";
export { type ToySource, toySource, type ToySourceOptions } from "./lib/data/toy.ts";
export { fillPermutation, shuffledBatches, type StoreBatch } from "./lib/data/store.ts";

export {
  decodeSafetensors,
  encodeSafetensors,
  readSafetensors,
  type SafetensorsEntry,
  type SafetensorsFile,
} from "./lib/io/safetensors.ts";
export {
  checkpointName,
  latestCheckpoint,
  loadCheckpoint,
  type LoadedCheckpoint,
  saveCheckpoint,
} from "./lib/io/checkpoint.ts";
export { exportSaes } from "./lib/io/export.ts";

export { collectTensors, disposeAll, disposeReplaced } from "./lib/run/dispose.ts";
export { createProgress, type Progress } from "./lib/run/progress.ts";
export {
  type Evaluate,
  type LogRecord,
  train,
  type TrainOptions,
  type TrainResult,
} from "./lib/run/runner.ts";
export { runTrainCommand } from "./lib/run/cli.ts";
export { type BenchResult, type BenchSize, measureStep } from "./lib/run/bench.ts";

export {
  checkLlamaConfig,
  checkLlamaWeights,
  type HookFn,
  initLlamaWeights,
  LLAMA_BLOCK_HOOKS,
  type LlamaBlockWeights,
  type LlamaCachedResult,
  type LlamaConfig,
  llamaForward,
  type LlamaForwardOptions,
  type LlamaForwardResult,
  llamaForwardWithCache,
  llamaHookDim,
  llamaHookNames,
  type LlamaKvCache,
  type LlamaModel,
  type LlamaWeights,
  type RotaryStyle,
  type TokenInput,
} from "./lib/models/transformer.ts";
export { greedyGenerate } from "./lib/models/generate.ts";
export {
  decodeLlama2c,
  decodeLlama2cHeader,
  decodeLlama2cTokenizer,
  decodeTokens,
  encodeText,
  type EncodeTextOptions,
  llama2cConfig,
  type Llama2cHeader,
  type Llama2cTokenizer,
  loadStories260k,
  readLlama2c,
  readLlama2cTokenizer,
  STORIES260K_TOKENIZER_URL,
  STORIES260K_URL,
} from "./lib/models/load/llama2c.ts";
export {
  hfLlamaConfig,
  hfLlamaWeights,
  loadHfLlama,
  type LocatedTensor,
  widenHalf,
} from "./lib/models/load/hf_llama.ts";
