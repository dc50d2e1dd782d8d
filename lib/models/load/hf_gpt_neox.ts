/**
 * Loading a Hugging Face GPT-NeoX folder (EleutherAI's Pythia models):
 * `config.json` and either `model.safetensors` or shards listed in
 * `model.safetensors.index.json`.
 *
 * GPT-NeoX's `nn.Linear` weights are stored `[out, in]` and transposed to
 * `[in, out]`; the fused `attention.query_key_value` projection is split per
 * head with {@linkcode splitNeoxQkv}. F32, F16 and BF16 weights are read.
 *
 * @module
 */
import { tf, tidy } from "../../tf.ts";
import {
  checkGptNeoxWeights,
  type GptNeoxBlockWeights,
  type GptNeoxConfig,
  type GptNeoxModel,
  type GptNeoxWeights,
  splitNeoxQkv,
} from "../gpt_neox.ts";
import { hfGelu, hfInteger, hfPositive, type HfTensors, readHfCheckpoint, takeHfTensor } from "./hf_gpt2.ts";

type Json = Record<string, unknown>;

/**
 * The {@linkcode GptNeoxConfig} of a Hugging Face `config.json` with
 * `model_type: "gpt_neox"`. Defaults follow `transformers`' `GPTNeoXConfig`
 * (`rotary_pct` 0.25, `rotary_emb_base` 10000, `use_parallel_residual` true,
 * `layer_norm_eps` 1e-5, `hidden_act` `gelu`, `max_position_embeddings`
 * 2048, `tie_word_embeddings` false). The newer spellings
 * `partial_rotary_factor`, `rope_theta` and `rope_parameters` are read too.
 * `rotaryDims` is `⌊dHead · rotary_pct⌋`, as `transformers` computes it.
 *
 * @param source names the file in messages
 * @throws RangeError naming the field: an unsupported `model_type`,
 *   `hidden_act` or `rope_scaling`, an odd rotary width, or a missing size
 *
 * @example Pythia-70m's configuration
 * ```ts
 * import assert from "node:assert/strict";
 * import { hfGptNeoxConfig } from "./hf_gpt_neox.ts";
 * const c = hfGptNeoxConfig({
 *   model_type: "gpt_neox", hidden_size: 512, num_hidden_layers: 6, num_attention_heads: 8,
 *   intermediate_size: 2048, vocab_size: 50304, rotary_pct: 0.25, use_parallel_residual: true,
 * });
 * assert.equal(c.dHead, 64);
 * assert.equal(c.rotaryDims, 16);
 * assert.ok(c.parallelResidual);
 * assert.equal(c.activation, "gelu");
 * ```
 */
export function hfGptNeoxConfig(json: unknown, source = "config.json"): GptNeoxConfig {
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new TypeError(`${source}: expected a JSON object, received ${JSON.stringify(json)}`);
  }
  const c = json as Json;
  if (c.model_type !== "gpt_neox") {
    throw new RangeError(
      `${source}: model_type expected "gpt_neox", received ${JSON.stringify(c.model_type)}`,
    );
  }
  if (c.rope_scaling !== undefined && c.rope_scaling !== null) {
    throw new RangeError(
      `${source}: rope_scaling expected null (scaled RoPE is not supported), received ${
        JSON.stringify(c.rope_scaling)
      }`,
    );
  }
  const rope = (c.rope_parameters ?? {}) as Json;
  if (rope.rope_type !== undefined && rope.rope_type !== "default") {
    throw new RangeError(
      `${source}: rope_parameters.rope_type expected "default" (scaled RoPE is not supported), received ${
        JSON.stringify(rope.rope_type)
      }`,
    );
  }
  const dModel = hfInteger(c, "hidden_size", source);
  const nHeads = hfInteger(c, "num_attention_heads", source);
  if (dModel % nHeads !== 0) {
    throw new RangeError(
      `${source}: num_attention_heads expected a divisor of hidden_size (${dModel}), received ${nHeads}`,
    );
  }
  const dHead = dModel / nHeads;
  const pctName = c.rotary_pct !== undefined
    ? "rotary_pct"
    : c.partial_rotary_factor !== undefined
    ? "partial_rotary_factor"
    : "rope_parameters.partial_rotary_factor";
  const pct = c.rotary_pct ?? c.partial_rotary_factor ?? rope.partial_rotary_factor ?? 0.25;
  if (typeof pct !== "number" || !(pct >= 0 && pct <= 1)) {
    throw new RangeError(
      `${source}: ${pctName} expected a number in [0, 1], received ${JSON.stringify(pct)}`,
    );
  }
  const rotaryDims = Math.floor(dHead * pct);
  if (rotaryDims % 2 !== 0) {
    throw new RangeError(
      `${source}: ${pctName} expected an even rotary width ⌊${dHead}·${pct}⌋, received ${rotaryDims}`,
    );
  }
  const parallel = c.use_parallel_residual ?? true;
  if (typeof parallel !== "boolean") {
    throw new RangeError(
      `${source}: use_parallel_residual expected a boolean, received ${JSON.stringify(parallel)}`,
    );
  }
  const theta = { rotary_emb_base: c.rotary_emb_base ?? c.rope_theta ?? rope.rope_theta };
  return {
    dModel,
    nLayers: hfInteger(c, "num_hidden_layers", source),
    nHeads,
    dHead,
    dMlp: hfInteger(c, "intermediate_size", source),
    vocabSize: hfInteger(c, "vocab_size", source),
    maxSeq: hfInteger(c, "max_position_embeddings", source, 2048),
    normEps: hfPositive(c, "layer_norm_eps", source, 1e-5),
    rotaryDims,
    ropeTheta: hfPositive(theta, "rotary_emb_base", source, 10000),
    parallelResidual: parallel,
    activation: hfGelu(c.hidden_act ?? "gelu", "hidden_act", source),
    tiedEmbeddings: c.tie_word_embeddings === true,
  };
}

/**
 * Builds GPT-NeoX weights from Hugging Face tensors (by their
 * `transformers` names), checking every shape. Attention biases that the
 * checkpoint lacks (`attention_bias: false`) are zeros.
 *
 * @throws RangeError naming the file and tensor (missing, or a shape mismatch)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeSafetensors } from "../../io/safetensors.ts";
 * import { indexSafetensors } from "./hf_gpt2.ts";
 * import { hfGptNeoxWeights } from "./hf_gpt_neox.ts";
 * const config = {
 *   dModel: 2, nLayers: 0, nHeads: 1, dHead: 2, dMlp: 8, vocabSize: 3, maxSeq: 4, normEps: 1e-5,
 *   rotaryDims: 2, ropeTheta: 10000, parallelResidual: true, activation: "gelu", tiedEmbeddings: false,
 * } as const;
 * const f32 = (shape: number[]) => ({ dtype: "F32" as const, shape, data: new Float32Array(shape[0] * (shape[1] ?? 1)) });
 * const bytes = encodeSafetensors({
 *   "gpt_neox.embed_in.weight": f32([3, 2]), "gpt_neox.final_layer_norm.weight": f32([2]),
 *   "gpt_neox.final_layer_norm.bias": f32([2]),
 * });
 * assert.throws(() => hfGptNeoxWeights(indexSafetensors(bytes, "model.safetensors"), config), {
 *   message: "model.safetensors: tensor embed_out.weight expected with shape [3, 2], not found",
 * });
 * ```
 */
export function hfGptNeoxWeights(
  tensors: HfTensors,
  config: GptNeoxConfig,
  attentionBias = true,
): GptNeoxWeights {
  const { dModel: d, nHeads, dHead, dMlp, vocabSize } = config;
  const inner = nHeads * dHead;
  const stored = (name: string, rows: number, cols: number) =>
    tf.tensor2d(takeHfTensor(tensors, name, [rows, cols]), [rows, cols]);
  /** `[out, in]` as stored → `[in, out]`. */
  const linear = (name: string, out: number, inp: number) =>
    tf.transpose(stored(name, out, inp)) as tf.Tensor2D;
  const vector = (name: string, n: number) => tf.tensor1d(takeHfTensor(tensors, name, [n]));
  const bias = (name: string, n: number) => attentionBias ? vector(name, n) : tf.zeros([n]) as tf.Tensor1D;
  return tidy(() => {
    const blocks: GptNeoxBlockWeights[] = [];
    for (let l = 0; l < config.nLayers; l++) {
      const at = `gpt_neox.layers.${l}.`;
      const qkv = splitNeoxQkv(
        stored(`${at}attention.query_key_value.weight`, 3 * inner, d),
        bias(`${at}attention.query_key_value.bias`, 3 * inner),
        nHeads,
        dHead,
      );
      blocks.push({
        ln1: vector(`${at}input_layernorm.weight`, d),
        ln1Bias: vector(`${at}input_layernorm.bias`, d),
        ...qkv,
        wO: linear(`${at}attention.dense.weight`, d, inner),
        bO: bias(`${at}attention.dense.bias`, d),
        ln2: vector(`${at}post_attention_layernorm.weight`, d),
        ln2Bias: vector(`${at}post_attention_layernorm.bias`, d),
        wIn: linear(`${at}mlp.dense_h_to_4h.weight`, dMlp, d),
        bIn: vector(`${at}mlp.dense_h_to_4h.bias`, dMlp),
        wOut: linear(`${at}mlp.dense_4h_to_h.weight`, d, dMlp),
        bOut: vector(`${at}mlp.dense_4h_to_h.bias`, d),
      });
    }
    const embed = stored("gpt_neox.embed_in.weight", vocabSize, d);
    return {
      embed,
      blocks,
      lnFinal: vector("gpt_neox.final_layer_norm.weight", d),
      lnFinalBias: vector("gpt_neox.final_layer_norm.bias", d),
      unembed: config.tiedEmbeddings ? tf.transpose(embed) : linear("embed_out.weight", vocabSize, d),
    } as GptNeoxWeights;
  });
}

/**
 * Loads a Hugging Face GPT-NeoX folder (`config.json` with `model_type:
 * "gpt_neox"`, safetensors weights in F32, F16 or BF16).
 *
 * @param folder a directory path
 * @throws RangeError naming the file and the tensor or field that is wrong
 *
 * @example A missing folder is an error naming the file it looked for
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadHfGptNeox } from "./hf_gpt_neox.ts";
 * await assert.rejects(() => loadHfGptNeox("no/such/folder"), {
 *   message: /^no\/such\/folder\/config\.json: expected a Hugging Face config\.json/,
 * });
 * ```
 *
 * @example Typical use (Pythia-70m saved by `transformers`' `save_pretrained`)
 * ```ts ignore
 * import { loadHfGptNeox } from "./hf_gpt_neox.ts";
 * import { gptNeoxForward } from "../gpt_neox.ts";
 * const { config, weights } = await loadHfGptNeox("models/pythia-70m");
 * const { activations } = gptNeoxForward(weights, config, [[0, 12092, 1533]], {
 *   capture: ["blocks.3.hook_resid_post"],
 *   stopAtLayer: 4,
 * });
 * ```
 */
export async function loadHfGptNeox(folder: string): Promise<GptNeoxModel> {
  const { dir, configPath, config: json, tensors } = await readHfCheckpoint(folder);
  const config = hfGptNeoxConfig(json, configPath);
  const attentionBias = (json as Json).attention_bias !== false;
  const weights = hfGptNeoxWeights(tensors, config, attentionBias);
  checkGptNeoxWeights(weights, config, dir);
  return { config, weights };
}
