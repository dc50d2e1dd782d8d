/**
 * Transformer forward passes with named hook points (Llama, GPT-2, GPT-NeoX),
 * sampling, and the loading of weights and tokenizers (llama2.c, Hugging Face
 * checkpoints and tokenizers, the Hub cache).
 *
 * @module
 */
export {
  activate,
  type Activation,
  causalSelfAttention,
  checkLlamaConfig,
  checkLlamaWeights,
  dense,
  type DenseOptions,
  embedTokens,
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
  normalize,
  type NormalizeOptions,
  type RotaryStyle,
  type SelfAttentionOptions,
  swiglu,
  type TokenInput,
} from "./transformer.ts";
export { greedyGenerate, sampleGenerate, type SampleOptions } from "./generate.ts";
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
} from "./load/llama2c.ts";
export {
  hfLlamaConfig,
  hfLlamaWeights,
  loadHfLlama,
  type LocatedTensor,
  widenHalf,
} from "./load/hf_llama.ts";
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
} from "./gpt2.ts";
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
} from "./gpt_neox.ts";
export { hfGpt2Config, loadHfGpt2 } from "./load/hf_gpt2.ts";
export { hfGptNeoxConfig, loadHfGptNeox } from "./load/hf_gpt_neox.ts";
export { type HfTokenizer, hfTokenizerFromJson, loadHfTokenizer } from "./load/hf_tokenizer.ts";
export {
  type HookedForwardOptions,
  hookedGpt2,
  hookedGptNeox,
  hookedLlama,
  type HookedModel,
  stopLayerFor,
  toRotateHalf,
} from "./hooked.ts";
export {
  BUILTIN_CORPUS_URL,
  BUILTIN_MODEL,
  llama2cTextTokenizer,
  type LoadedModel,
  loadModel,
  type TextTokenizer,
} from "./load/model.ts";
export {
  DEFAULT_HUB_URL,
  defaultHubCacheDir,
  downloadHubModel,
  type DownloadHubModelOptions,
  hubSnapshotDir,
  isHubModelId,
  parseHubModelId,
} from "./load/hub.ts";
