/**
 * saekit: train sparse autoencoders (SAEs) on language-model activations,
 * in TypeScript on Deno.
 *
 * Training is pure step functions over immutable state records, composed into
 * a pipeline; a thin runner does the side effects.
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
export {
  BACKEND_NAMES,
  type BackendChoice,
  type BackendName,
  hasKernel,
  runKernel,
  selectBackend,
  type SelectBackendOptions,
  type TensorflowOptions,
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

export {
  initParams,
  type InitParamsOptions,
  requireParam,
  type SaeParams,
  unitNormRows,
} from "./lib/sae/params.ts";
export {
  activationMask,
  decode,
  encode,
  forward,
  type ForwardResult,
  RELU,
  type SaeActivation,
} from "./lib/sae/forward.ts";
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
  trackThreshold,
} from "./lib/train/steps.ts";
export {
  defaultPipeline,
  foldedParams,
  initTrainState,
  learningRateSchedule,
  needsInitSample,
  optimizerFor,
  prepareBatch,
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
  type SaveCheckpointOptions,
} from "./lib/io/checkpoint.ts";
export {
  componentFolder,
  type ExportOptions,
  exportSaes,
  hookLayer,
  saelensArchitecture,
  saelensConfig,
  type SaelensConfigOptions,
  type SaelensMetadata,
  saelensMetadataOf,
} from "./lib/io/export.ts";
export {
  type ImportedArch,
  type ImportedSaes,
  importSaelens,
  readCfg,
  type SaeComponent,
  saeFolders,
  SAELENS_CFG,
  SAELENS_WEIGHTS,
  saelensComponent,
  stackComponents,
} from "./lib/io/saelens.ts";
export { importSparsify, SPARSIFY_WEIGHTS, sparsifyComponent } from "./lib/io/sparsify.ts";
export {
  type DownloadedSaes,
  downloadSae,
  type DownloadSaeOptions,
  modelCard,
  type ModelCardInput,
  uploadRun,
  type UploadRunOptions,
  type UploadRunResult,
} from "./lib/io/hub.ts";
export { runHubCommand } from "./lib/run/hub_cli.ts";

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
export { closeSinks, type LogSink, memorySink } from "./lib/run/sinks.ts";
export {
  crc32c,
  densityHistogram,
  encodeEvent,
  type EventContent,
  type TensorBoardHistogram,
  type TensorBoardSink,
  tensorboardSink,
  type TensorBoardSinkOptions,
  tfRecord,
} from "./lib/run/sinks/tensorboard.ts";
export {
  wandbData,
  type WandbRun,
  type WandbSdk,
  type WandbSink,
  wandbSink,
  type WandbSinkOptions,
} from "./lib/run/sinks/wandb.ts";
export { type BenchResult, type BenchSize, measureStep } from "./lib/run/bench.ts";
export {
  activationCacheName,
  formatSweepSection,
  formatSweepTable,
  runSweep,
  type RunSweepOptions,
  SWEEP_BASE,
  SWEEP_LEVELS,
  SWEEP_SECTION,
  SWEEP_SOURCES,
  sweepBenchmarkRun,
  sweepGrid,
  type SweepGridOptions,
  type SweepResult,
  type SweepRow,
  sweepRow,
  type SweepSectionInfo,
  type SweepSourceName,
  type SweepSpec,
} from "./lib/run/sweep.ts";
export {
  addBenchmarkRun,
  type BenchmarkRun,
  BENCHMARKS_HEAD,
  type BenchmarkSection,
  benchmarkSections,
  formatBenchmarkSection,
  formatRunHeading,
  writeBenchmarkRun,
} from "./lib/run/benchmarks_file.ts";
export {
  describeParams,
  expandSweep,
  formatParamValue,
  formatSweepSummary,
  MAX_SWEEP_RUNS,
  parseSweepFile,
  planSweep,
  SWEEP_DISTRIBUTIONS,
  type SweepDistribution,
  type SweepFile,
  type SweepFileInput,
  SweepFileSchema,
  type SweepMetric,
  SweepMetricSchema,
  type SweepParameter,
  SweepParameterSchema,
  type SweepPlan,
  type SweepRun,
  type SweepRunResult,
  sweepRunResult,
  type SweepRunState,
  type SweepRunStatus,
} from "./lib/run/sweep_file.ts";
export {
  readRun,
  recordRunSegment,
  renderReport,
  type ReportOptions,
  type RunData,
  type RunInfo,
  type RunSegment,
  writeReport,
} from "./lib/run/report.ts";

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
export { greedyGenerate, sampleGenerate, type SampleOptions } from "./lib/models/generate.ts";
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
export {
  checkGpt2Weights,
  type GeluKind,
  GPT2_BLOCK_HOOKS,
  type Gpt2BlockWeights,
  type Gpt2Config,
  gpt2Forward,
  gpt2HookDim,
  gpt2HookNames,
  type Gpt2Model,
  type Gpt2Weights,
  initGpt2Weights,
} from "./lib/models/gpt2.ts";
export {
  checkGptNeoxWeights,
  gptNeoxBlockHooks,
  type GptNeoxConfig,
  gptNeoxForward,
  gptNeoxHookDim,
  gptNeoxHookNames,
  type GptNeoxModel,
  type GptNeoxWeights,
  initGptNeoxWeights,
  splitNeoxQkv,
} from "./lib/models/gpt_neox.ts";
export { hfGpt2Config, loadHfGpt2 } from "./lib/models/load/hf_gpt2.ts";
export { hfGptNeoxConfig, loadHfGptNeox } from "./lib/models/load/hf_gpt_neox.ts";
export { type HfTokenizer, hfTokenizerFromJson, loadHfTokenizer } from "./lib/models/load/hf_tokenizer.ts";
export {
  type HookedForwardOptions,
  hookedGpt2,
  hookedGptNeox,
  hookedLlama,
  type HookedModel,
  stopLayerFor,
  toRotateHalf,
} from "./lib/models/hooked.ts";
export {
  BUILTIN_CORPUS_URL,
  BUILTIN_MODEL,
  llama2cTextTokenizer,
  type LoadedModel,
  loadModel,
  type TextTokenizer,
} from "./lib/models/load/model.ts";
export {
  componentParams,
  reconstructActivation,
  type SplicedLosses,
  splicedLosses,
  type SplicedTotals,
  type SpliceOptions,
  validationRecord,
} from "./lib/metrics/reconstruction.ts";
export {
  type ModelActivationSource,
  modelActivationSource,
  type ModelSourceOptions,
} from "./lib/data/model_source.ts";
export { arrayDocuments, type DocumentSource, type Paths, toTokenIds } from "./lib/data/text/documents.ts";
export { readChunks, readLines, type ReadOptions, readTextChunks } from "./lib/data/text/files.ts";
export { type PlainTextOptions, plainTextSource, type PlainTextSplit } from "./lib/data/text/plain.ts";
export { type JsonlOptions, jsonlTextSource, jsonlTokenSource } from "./lib/data/text/jsonl.ts";
export {
  type ParquetCompressors,
  type ParquetOptions,
  parquetTextSource,
  parquetTokenSource,
} from "./lib/data/text/parquet.ts";
export {
  type DocumentFormat,
  documentFormat,
  type OpenSourceOptions,
  openTextSource,
  openTokenSource,
} from "./lib/data/text/open.ts";
export {
  type EncodeOptions,
  tokenizeDocuments,
  type Tokenizer,
  tokenizerFromEncoder,
} from "./lib/data/text/tokenizer.ts";
export {
  type DocumentEnd,
  type PackSeparator,
  textWindows,
  type TokenWindow,
  type TokenWindows,
  tokenWindows,
  type WindowBatch,
  windowBatches,
  type WindowBatchesOptions,
  type WindowOptions,
} from "./lib/data/text/windows.ts";
export {
  shuffleDocuments,
  type ShuffleOptions,
  shuffleStream,
  shuffleWindows,
} from "./lib/data/text/shuffle.ts";
export { type PreparedSource, prepareSource } from "./lib/run/sources.ts";
export { STORIES_PRESET } from "./lib/config.ts";
export {
  ACTIVATION_CACHE_FORMAT,
  type CachedActivationSource,
  type CacheIndex,
  type CacheShard,
  defaultShardRows,
  readActivationCache,
  writeActivationCache,
  type WriteActivationCacheOptions,
} from "./lib/data/activation_cache.ts";
export {
  DEFAULT_HUB_URL,
  defaultHubCacheDir,
  downloadHubModel,
  type DownloadHubModelOptions,
  hubSnapshotDir,
  isHubModelId,
  parseHubModelId,
} from "./lib/models/load/hub.ts";
export {
  type ArchName,
  decoderInitNormFor,
  defaultPrefixes,
  encoderInitFor,
  isTranscoder,
  specFor,
} from "./lib/config.ts";
export {
  ARCH_NAMES,
  extraParamsOf,
  hasUnitNormDecoder,
  inferenceActivation,
  isTopKFamily,
  type JumpReluOptions,
  makeSpec,
  prefixesOf,
  type SaeSpec,
  trainingActivation,
  trainsThreshold,
} from "./lib/sae/architecture.ts";
export { lossAndGradsFor, type ObjectiveContext, type ObjectiveResult } from "./lib/sae/objective.ts";
export { expectedNormScale, foldScale, type InputScale, unitScale } from "./lib/sae/normalization.ts";
export { geometricMedian } from "./lib/sae/geometric_median.ts";
export {
  createFeatureStats,
  featureDensities,
  type FeatureStats,
  type FeatureStatsOptions,
  type FeatureSummary,
  observeWindows,
  summarizeFeature,
  type TopActivation,
  type WindowBlock,
} from "./lib/run/features/stats.ts";
export {
  collectFeatureStats,
  type CollectOptions,
  heldOutFirst,
  type IndexedWindow,
  loadRunSaes,
  type RunSaes,
  tokenPieces,
  trainingWindows,
  type WindowPlan,
} from "./lib/run/features/collect.ts";
export {
  type BrowserSummary,
  type ComponentSummary,
  type ContextDocument,
  createFeatureBrowser,
  type FeatureBrowser,
  type FeatureBrowserOptions,
  type FeatureDocument,
  type SearchDocument,
  type TokenLogit,
} from "./lib/run/features/browser.ts";
export {
  type FeatureServer,
  handleFeatureRequest,
  serveFeatureBrowser,
  type ServeFeatureOptions,
  type StaticFeatureOptions,
  writeStaticFeatures,
} from "./lib/run/features/server.ts";
export { featurePageHtml } from "./lib/run/features/page.ts";
export {
  type FeaturesCommandIO,
  type PreparedFeatures,
  prepareFeatureBrowser,
  type PrepareFeaturesOptions,
  runFeaturesCommand,
} from "./lib/run/features/cli.ts";
