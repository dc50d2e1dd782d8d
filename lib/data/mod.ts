/**
 * Activation sources: the synthetic toy source, text datasets (plain, JSONL,
 * Parquet) tokenized into windows, a model's activations at hook points, the
 * on-disk activation cache, the shuffling store, and `prepareSource`, the
 * source (with evaluation and validation) that a configuration asks for.
 *
 * @module
 */
export { type ActivationChunk, type ActivationSource } from "./source.ts";
export { type ToySource, toySource, type ToySourceOptions } from "./toy.ts";
export { fillPermutation, shuffledBatches, type StoreBatch } from "./store.ts";
export {
  type ModelActivationSource,
  modelActivationSource,
  type ModelSourceOptions,
} from "./model_source.ts";
export { arrayDocuments, type DocumentSource, type Paths, toTokenIds } from "./text/documents.ts";
export { readChunks, readLines, type ReadOptions, readTextChunks, splitLines } from "./text/files.ts";
export {
  JUNK_FRACTION,
  JUNK_SAMPLE_CHARS,
  junkCount,
  junkWarning,
  type PlainTextOptions,
  plainTextSource,
  type PlainTextSplit,
} from "./text/plain.ts";
export { type JsonlOptions, jsonlTextSource, jsonlTokenSource } from "./text/jsonl.ts";
export {
  type ParquetCompressors,
  type ParquetOptions,
  parquetTextSource,
  parquetTokenSource,
} from "./text/parquet.ts";
export {
  type DocumentFormat,
  documentFormat,
  type OpenSourceOptions,
  openTextSource,
  openTokenSource,
} from "./text/open.ts";
export {
  type EncodeOptions,
  tokenizeDocuments,
  type Tokenizer,
  tokenizerFromEncoder,
} from "./text/tokenizer.ts";
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
} from "./text/windows.ts";
export { shuffleDocuments, type ShuffleOptions, shuffleStream, shuffleWindows } from "./text/shuffle.ts";
export {
  checkDatasetSize,
  configuredWindows,
  type DatasetCount,
  type DatasetOptions,
  type PreparedSource,
  prepareSource,
  type PrepareSourceOptions,
} from "./prepare.ts";
export {
  ACTIVATION_CACHE_FORMAT,
  type CachedActivationSource,
  type CacheIndex,
  type CacheShard,
  defaultShardRows,
  readActivationCache,
  writeActivationCache,
  type WriteActivationCacheOptions,
} from "./activation_cache.ts";
