/**
 * Loading a Hugging Face Llama folder: `config.json` and either
 * `model.safetensors` or shards listed in `model.safetensors.index.json`.
 *
 * Hugging Face stores q/k projection rows in the rotate-half layout, so the
 * configuration says `rotary: "half"`. Matrices are stored `[out, in]` and
 * transposed to `[in, out]`. F32, F16 and BF16 weights are read (half
 * precision is widened to float32 here).
 *
 * @module
 */
import { tf, tidy } from "../../tf.ts";
import type { SafetensorsEntry } from "../../io/safetensors.ts";
import { readHfCheckpoint, takeHfTensor, widenHalf } from "./hf_checkpoint.ts";
import { assertFiniteValues } from "../../train/finite.ts";

export { widenHalf };
import {
  checkLlamaWeights,
  type LlamaBlockWeights,
  type LlamaConfig,
  type LlamaModel,
  type LlamaWeights,
} from "../transformer.ts";

type Json = Record<string, unknown>;

function field(json: Json, name: string, source: string, fallback?: number): number {
  const value = json[name] ?? fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new RangeError(`${source}: ${name} expected a positive number, received ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * The {@linkcode LlamaConfig} of a Hugging Face `config.json` with
 * `model_type: "llama"`. Defaults follow `transformers`' `LlamaConfig`
 * (`num_key_value_heads` = `num_attention_heads`, `head_dim` =
 * `hidden_size / num_attention_heads`, `rms_norm_eps` 1e-6, `rope_theta`
 * 10000, `tie_word_embeddings` false).
 *
 * @param source names the file in messages
 * @throws RangeError naming the field: an unsupported `model_type`,
 *   `hidden_act`, `rope_scaling` or bias, or a missing size
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hfLlamaConfig } from "./hf_llama.ts";
 * const c = hfLlamaConfig({
 *   model_type: "llama", hidden_size: 64, intermediate_size: 172, num_hidden_layers: 5,
 *   num_attention_heads: 8, num_key_value_heads: 4, vocab_size: 512, tie_word_embeddings: true,
 * });
 * assert.equal(c.dHead, 8);
 * assert.equal(c.rotary, "half");
 * assert.equal(c.normEps, 1e-6);
 * ```
 */
export function hfLlamaConfig(json: unknown, source = "config.json"): LlamaConfig {
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new TypeError(`${source}: expected a JSON object, received ${JSON.stringify(json)}`);
  }
  const c = json as Json;
  if (c.model_type !== "llama") {
    throw new RangeError(`${source}: model_type expected "llama", received ${JSON.stringify(c.model_type)}`);
  }
  const act = c.hidden_act ?? "silu";
  if (act !== "silu") {
    throw new RangeError(`${source}: hidden_act expected "silu", received ${JSON.stringify(act)}`);
  }
  if (c.rope_scaling !== undefined && c.rope_scaling !== null) {
    throw new RangeError(
      `${source}: rope_scaling expected null (scaled RoPE is not supported), received ${
        JSON.stringify(c.rope_scaling)
      }`,
    );
  }
  for (const bias of ["attention_bias", "mlp_bias"]) {
    if (c[bias] !== undefined && c[bias] !== false) {
      throw new RangeError(
        `${source}: ${bias} expected false (biases are not supported), received ${c[bias]}`,
      );
    }
  }
  const dModel = field(c, "hidden_size", source);
  const nHeads = field(c, "num_attention_heads", source);
  return {
    dModel,
    nLayers: field(c, "num_hidden_layers", source),
    nHeads,
    nKvHeads: field(c, "num_key_value_heads", source, nHeads),
    dHead: field(c, "head_dim", source, dModel / nHeads),
    dMlp: field(c, "intermediate_size", source),
    vocabSize: field(c, "vocab_size", source),
    maxSeq: field(c, "max_position_embeddings", source, 2048),
    normEps: field(c, "rms_norm_eps", source, 1e-6),
    ropeTheta: field(c, "rope_theta", source, 10000),
    rotary: "half",
    tiedEmbeddings: c.tie_word_embeddings === true,
  };
}

/** A tensor with the file it came from (named in messages). */
export type LocatedTensor = { readonly entry: SafetensorsEntry; readonly file: string };

/**
 * Builds Llama weights from Hugging Face tensors (by their `transformers`
 * names), checking every shape against the configuration.
 *
 * @param tensors by name; `file` names the source of each in messages
 * @throws RangeError naming the file and tensor (missing, or a shape mismatch)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hfLlamaWeights } from "./hf_llama.ts";
 * const config = {
 *   dModel: 2, nLayers: 0, nHeads: 1, nKvHeads: 1, dHead: 2, dMlp: 2, vocabSize: 3,
 *   maxSeq: 4, normEps: 1e-6, ropeTheta: 10000, rotary: "half", tiedEmbeddings: true,
 * } as const;
 * const entry = (shape: number[]) => ({
 *   entry: { dtype: "F32" as const, shape, data: new Float32Array(shape[0] * (shape[1] ?? 1)) },
 *   file: "model.safetensors",
 * });
 * const w = hfLlamaWeights({ "model.embed_tokens.weight": entry([3, 2]), "model.norm.weight": entry([2]) }, config);
 * assert.equal(w.unembed.shape.join(), "2,3");
 * ```
 */
export function hfLlamaWeights(
  tensors: Readonly<Record<string, LocatedTensor>>,
  config: LlamaConfig,
): LlamaWeights {
  const { dModel: d, nHeads, nKvHeads, dHead, dMlp, vocabSize } = config;
  const take = (name: string, shape: number[]): Float32Array => {
    const found = tensors[name];
    if (found === undefined) {
      const files = [...new Set(Object.values(tensors).map((t) => t.file))].join(", ") || "no files";
      throw new RangeError(`${files}: tensor ${name} expected with shape [${shape.join(", ")}], not found`);
    }
    const { entry, file } = found;
    if (entry.shape.length !== shape.length || entry.shape.some((n, i) => n !== shape[i])) {
      throw new RangeError(
        `${file}: tensor ${name} expected shape [${shape.join(", ")}], received [${entry.shape.join(", ")}]`,
      );
    }
    if (!(entry.data instanceof Float32Array)) {
      throw new TypeError(`${file}: tensor ${name} expected a floating-point dtype, received ${entry.dtype}`);
    }
    assertFiniteValues(entry.data, `${file}: tensor "${name}"`);
    return entry.data;
  };
  /** `[out, in]` as stored → `[in, out]`. */
  const matrix = (name: string, out: number, inp: number) =>
    tf.transpose(tf.tensor2d(take(name, [out, inp]), [out, inp])) as tf.Tensor2D;
  const gain = (name: string) => tf.tensor1d(take(name, [d]));
  return tidy(() => {
    const blocks: LlamaBlockWeights[] = [];
    for (let l = 0; l < config.nLayers; l++) {
      const at = `model.layers.${l}.`;
      blocks.push({
        ln1: gain(`${at}input_layernorm.weight`),
        wQ: matrix(`${at}self_attn.q_proj.weight`, nHeads * dHead, d),
        wK: matrix(`${at}self_attn.k_proj.weight`, nKvHeads * dHead, d),
        wV: matrix(`${at}self_attn.v_proj.weight`, nKvHeads * dHead, d),
        wO: matrix(`${at}self_attn.o_proj.weight`, d, nHeads * dHead),
        ln2: gain(`${at}post_attention_layernorm.weight`),
        wGate: matrix(`${at}mlp.gate_proj.weight`, dMlp, d),
        wUp: matrix(`${at}mlp.up_proj.weight`, dMlp, d),
        wDown: matrix(`${at}mlp.down_proj.weight`, d, dMlp),
      });
    }
    return {
      embed: tf.tensor2d(take("model.embed_tokens.weight", [vocabSize, d]), [vocabSize, d]),
      blocks,
      lnFinal: gain("model.norm.weight"),
      unembed: matrix(config.tiedEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight", vocabSize, d),
    };
  });
}

/**
 * Loads a Hugging Face Llama folder: `config.json`, then `model.safetensors`
 * or, when it is absent, the shards named by `model.safetensors.index.json`.
 *
 * @param folder a directory path
 * @throws RangeError naming the file and tensor or field that is wrong
 *
 * @example A missing folder is an error naming the file it looked for
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadHfLlama } from "./hf_llama.ts";
 * await assert.rejects(() => loadHfLlama("no/such/folder"), {
 *   message: /^no\/such\/folder\/config\.json: expected a Hugging Face config\.json/,
 * });
 * ```
 *
 * @example Typical use (a folder saved by `transformers`' `save_pretrained`)
 * ```ts ignore
 * import { loadHfLlama } from "./hf_llama.ts";
 * import { llamaForward } from "../transformer.ts";
 * const { config, weights } = await loadHfLlama("models/my-llama");
 * const { logits } = llamaForward(weights, config, [[1, 450, 4996]]);
 * ```
 */
export async function loadHfLlama(folder: string): Promise<LlamaModel> {
  const checkpoint = await readHfCheckpoint(folder);
  const config = hfLlamaConfig(checkpoint.config, checkpoint.configPath);
  const tensors: Record<string, LocatedTensor> = {};
  for (const [name, found] of Object.entries(checkpoint.tensors)) {
    if (!["F32", "F16", "BF16", "F64"].includes(found.dtype)) continue; // buffers, not weights
    const data = takeHfTensor(checkpoint.tensors, name, found.shape);
    tensors[name] = { entry: { dtype: "F32", shape: found.shape, data }, file: found.file };
  }
  const weights = hfLlamaWeights(tensors, config);
  checkLlamaWeights(weights, config, checkpoint.dir);
  return { config, weights };
}
