/**
 * One interface over every transformer family the library runs: a forward
 * pass with TransformerLens-named hook points that can be read and replaced.
 * The activation source and the spliced-in validation use only this.
 *
 * Pure: wraps the families' pure forward passes.
 *
 * @module
 */
import { tf } from "../tf.ts";
import {
  type HookFn,
  llamaForward,
  llamaHookDim,
  llamaHookNames,
  type LlamaModel,
  type TokenInput,
} from "./transformer.ts";
import { gpt2Forward, gpt2HookDim, gpt2HookNames, type Gpt2Model } from "./gpt2.ts";
import { gptNeoxForward, gptNeoxHookDim, gptNeoxHookNames, type GptNeoxModel } from "./gpt_neox.ts";

/** Options of {@linkcode HookedModel.forward}. */
export type HookedForwardOptions = {
  /** Hook points whose activations to return. */
  readonly capture?: readonly string[];
  /** Run blocks `0 .. stopAtLayer − 1` only, and return no logits. */
  readonly stopAtLayer?: number;
  /** Functions that replace the activation at a hook point. */
  readonly replace?: Readonly<Record<string, HookFn>>;
};

/** A language model with hook points. */
export type HookedModel = {
  /** The family, e.g. `"llama"`. */
  readonly family: string;
  readonly vocabSize: number;
  readonly nLayers: number;
  /** Longest sequence the model accepts. */
  readonly maxSeq: number;
  /** Every hook point, in the order the computation meets them. */
  readonly hookNames: readonly string[];
  /** Width of a hook point's activations (a RangeError for unknown names). */
  hookDim(name: string): number;
  /**
   * The logits that directions in the residual stream write straight through the unembedding,
   * `[n, dModel]` → `[n, vocab]`: `(d ⊙ g) · W_U`, with `g` the final normalisation's gain (LayerNorm
   * models centre `d` first). This is TransformerLens's `W_U` after `fold_ln`; the normalisation's scale
   * is left out, so the values rank tokens but are not the logits of any one input.
   */
  directionLogits(directions: tf.Tensor2D): tf.Tensor2D;
  /** The forward pass: logits `[batch, seq, vocab]` (unless stopped early) and captured activations. */
  forward(
    tokens: TokenInput,
    options?: HookedForwardOptions,
  ): { readonly logits?: tf.Tensor3D; readonly activations: Readonly<Record<string, tf.Tensor3D>> };
};

/**
 * A Llama-family model as a {@linkcode HookedModel}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { initLlamaWeights } from "./transformer.ts";
 * import { hookedLlama } from "./hooked.ts";
 * const config = {
 *   dModel: 8, nLayers: 2, nHeads: 2, nKvHeads: 1, dHead: 4, dMlp: 16, vocabSize: 10,
 *   maxSeq: 16, normEps: 1e-5, ropeTheta: 10000, rotary: "half", tiedEmbeddings: false,
 * } as const;
 * const model = hookedLlama({ config, weights: initLlamaWeights(config, 0) });
 * assert.equal(model.hookDim("blocks.1.hook_resid_post"), 8);
 * ```
 */
export function hookedLlama(model: LlamaModel): HookedModel {
  const { config, weights } = model.config.rotary === "interleaved" ? toRotateHalf(model) : model;
  return {
    family: "llama",
    vocabSize: config.vocabSize,
    nLayers: config.nLayers,
    maxSeq: config.maxSeq,
    hookNames: llamaHookNames(config),
    hookDim: (name) => llamaHookDim(config, name),
    directionLogits: (d) =>
      tf.tidy(() => tf.matMul(tf.mul(d, weights.lnFinal), weights.unembed) as tf.Tensor2D),
    forward: (tokens, options = {}) => llamaForward(weights, config, tokens, options),
  };
}

/** A GPT-2 model as a {@linkcode HookedModel}. */
export function hookedGpt2(model: Gpt2Model): HookedModel {
  const { config, weights } = model;
  return {
    family: "gpt2",
    vocabSize: config.vocabSize,
    nLayers: config.nLayers,
    maxSeq: config.maxSeq,
    hookNames: gpt2HookNames(config),
    hookDim: (name) => gpt2HookDim(config, name),
    directionLogits: (d) => centredDirectionLogits(d, weights.lnFinal, weights.unembed),
    forward: (tokens, options = {}) => gpt2Forward(weights, config, tokens, options),
  };
}

/** A GPT-NeoX (Pythia) model as a {@linkcode HookedModel}. */
export function hookedGptNeox(model: GptNeoxModel): HookedModel {
  const { config, weights } = model;
  return {
    family: "gpt_neox",
    vocabSize: config.vocabSize,
    nLayers: config.nLayers,
    maxSeq: config.maxSeq,
    hookNames: gptNeoxHookNames(config),
    hookDim: (name) => gptNeoxHookDim(config, name),
    directionLogits: (d) => centredDirectionLogits(d, weights.lnFinal, weights.unembed),
    forward: (tokens, options = {}) => gptNeoxForward(weights, config, tokens, options),
  };
}

/** `((d − mean(d)) ⊙ g) · W_U`: the direct logits of directions under a LayerNorm's centring and gain. */
function centredDirectionLogits(d: tf.Tensor2D, gain: tf.Tensor1D, unembed: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const centred = tf.sub(d, tf.mean(d, 1, true));
    return tf.matMul(tf.mul(centred, gain), unembed) as tf.Tensor2D;
  });
}

/**
 * The same model with rotary embeddings in the rotate-half layout: within each
 * head, the query and key columns `(2i, 2i+1)` move to `(i, i + dHead/2)`.
 * Attention scores are unchanged (queries and keys are permuted alike) and the
 * forward pass avoids splitting every head into pairs, which is slow in tfjs.
 * The caller keeps ownership of the original weights.
 */
export function toRotateHalf(model: LlamaModel): LlamaModel {
  const { config, weights } = model;
  if (config.rotary === "half") return model;
  const half = config.dHead / 2;
  const order = (heads: number) =>
    Array.from({ length: heads * config.dHead }, (_, col) => {
      const h = Math.floor(col / config.dHead), j = col % config.dHead;
      return h * config.dHead + (j < half ? 2 * j : 2 * (j - half) + 1);
    });
  const q = tf.tensor1d(order(config.nHeads), "int32");
  const k = tf.tensor1d(order(config.nKvHeads), "int32");
  const blocks = weights.blocks.map((b) => ({
    ...b,
    wQ: tf.gather(b.wQ, q, 1) as tf.Tensor2D,
    wK: tf.gather(b.wK, k, 1) as tf.Tensor2D,
  }));
  q.dispose();
  k.dispose();
  return { config: { ...config, rotary: "half" }, weights: { ...weights, blocks } };
}

/**
 * The layer after which a set of hook points has been computed: the largest
 * block number among them, plus one (TransformerLens's `stop_at_layer`), or
 * `undefined` when one of them lies after the last block (e.g.
 * `ln_final.hook_normalized`) and the whole model must run.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stopLayerFor } from "./hooked.ts";
 * assert.equal(stopLayerFor(["blocks.0.hook_mlp_out", "blocks.2.hook_resid_pre"], 4), 3);
 * assert.equal(stopLayerFor(["hook_embed"], 4), 0);
 * assert.equal(stopLayerFor(["ln_final.hook_normalized"], 4), undefined);
 * ```
 */
export function stopLayerFor(hooks: readonly string[], nLayers: number): number | undefined {
  let stop = 0;
  for (const hook of hooks) {
    const match = /^blocks\.(\d+)\./.exec(hook);
    if (match) stop = Math.max(stop, Number(match[1]) + 1);
    else if (hook !== "hook_embed" && hook !== "hook_pos_embed") return undefined;
  }
  return stop >= nLayers ? undefined : stop;
}
