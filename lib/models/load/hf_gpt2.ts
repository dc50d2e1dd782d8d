/**
 * Loading a Hugging Face GPT-2 folder: `config.json` and either
 * `model.safetensors` or shards listed in `model.safetensors.index.json`.
 *
 * GPT-2's `Conv1D` layers store their weights `[in, out]`, the orientation
 * the forward pass uses, so nothing is transposed; the fused `c_attn`
 * projection `[dModel, 3·dModel]` is cut into its query, key and value
 * column blocks. Tensor names are read with or without the `transformer.`
 * prefix (`GPT2LMHeadModel` or `GPT2Model` checkpoints).
 *
 * This module also holds the safetensors folder reading that the GPT-NeoX
 * loader shares: tensors are indexed from each file's header and decoded only
 * when taken, so that checkpoints carrying buffers of other dtypes (GPT-2's
 * `attn.bias` causal masks in `U8`, Pythia's in `BOOL`) load, and F16 and
 * BF16 weights are widened to float32.
 *
 * @module
 */
import { tf, tidy } from "../../tf.ts";
import {
  type HfCheckpoint,
  type HfTensorEntry,
  type HfTensors,
  indexSafetensors,
  readHfCheckpoint,
  takeHfTensor,
} from "./hf_checkpoint.ts";

export {
  type HfCheckpoint,
  type HfTensorEntry,
  type HfTensors,
  indexSafetensors,
  readHfCheckpoint,
  takeHfTensor,
};
import {
  checkGpt2Weights,
  type GeluKind,
  type Gpt2BlockWeights,
  type Gpt2Config,
  type Gpt2Model,
  type Gpt2Weights,
} from "../gpt2.ts";

type Json = Record<string, unknown>;

/**
 * A positive number field of a config, with an optional default.
 *
 * @throws RangeError naming the file and field
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hfPositive } from "./hf_gpt2.ts";
 * assert.equal(hfPositive({}, "layer_norm_eps", "config.json", 1e-5), 1e-5);
 * ```
 */
export function hfPositive(json: Json, name: string, source: string, fallback?: number): number {
  const value = json[name] ?? fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new RangeError(`${source}: ${name} expected a positive number, received ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * A positive integer field of a config, with an optional default.
 *
 * @throws RangeError naming the file and field
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hfInteger } from "./hf_gpt2.ts";
 * assert.throws(() => hfInteger({ n_layer: 1.5 }, "n_layer", "config.json"), {
 *   message: "config.json: n_layer expected a positive integer, received 1.5",
 * });
 * ```
 */
export function hfInteger(json: Json, name: string, source: string, fallback?: number): number {
  const value = json[name] ?? fallback;
  if (!Number.isInteger(value) || (value as number) <= 0) {
    throw new RangeError(`${source}: ${name} expected a positive integer, received ${JSON.stringify(value)}`);
  }
  return value as number;
}

/**
 * The {@linkcode GeluKind} of a Hugging Face activation name: `gelu` is
 * exact; `gelu_new`, `gelu_fast` and `gelu_pytorch_tanh` are the tanh
 * approximation (the same function, written three ways).
 *
 * @throws RangeError naming the field for any other activation
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hfGelu } from "./hf_gpt2.ts";
 * assert.equal(hfGelu("gelu_pytorch_tanh", "hidden_act", "config.json"), "gelu_new");
 * ```
 */
export function hfGelu(value: unknown, field: string, source: string): GeluKind {
  if (value === "gelu") return "gelu";
  if (value === "gelu_new" || value === "gelu_fast" || value === "gelu_pytorch_tanh") return "gelu_new";
  throw new RangeError(
    `${source}: ${field} expected "gelu", "gelu_new", "gelu_fast" or "gelu_pytorch_tanh", received ${
      JSON.stringify(value)
    }`,
  );
}

function asObject(json: unknown, source: string): Json {
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new TypeError(`${source}: expected a JSON object, received ${JSON.stringify(json)}`);
  }
  return json as Json;
}

/**
 * The {@linkcode Gpt2Config} of a Hugging Face `config.json` with
 * `model_type: "gpt2"`. Defaults follow `transformers`' `GPT2Config`
 * (`n_inner` null = `4·n_embd`, `n_positions` 1024, `layer_norm_epsilon`
 * 1e-5, `activation_function` `gelu_new`, `tie_word_embeddings` true).
 *
 * @param source names the file in messages
 * @throws RangeError naming the field: an unsupported `model_type`,
 *   activation or attention scaling, cross-attention, or a missing size
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hfGpt2Config } from "./hf_gpt2.ts";
 * const c = hfGpt2Config({ model_type: "gpt2", n_embd: 768, n_layer: 12, n_head: 12, vocab_size: 50257 });
 * assert.equal(c.dHead, 64);
 * assert.equal(c.dMlp, 3072);
 * assert.equal(c.maxSeq, 1024);
 * assert.equal(c.activation, "gelu_new");
 * ```
 */
export function hfGpt2Config(json: unknown, source = "config.json"): Gpt2Config {
  const c = asObject(json, source);
  if (c.model_type !== "gpt2") {
    throw new RangeError(`${source}: model_type expected "gpt2", received ${JSON.stringify(c.model_type)}`);
  }
  if (c.scale_attn_weights === false) {
    throw new RangeError(
      `${source}: scale_attn_weights expected true (unscaled attention is not supported), received false`,
    );
  }
  for (const flag of ["scale_attn_by_inverse_layer_idx", "add_cross_attention"]) {
    if (c[flag] !== undefined && c[flag] !== false) {
      throw new RangeError(
        `${source}: ${flag} expected false (not supported), received ${JSON.stringify(c[flag])}`,
      );
    }
  }
  const dModel = hfInteger(c, "n_embd", source);
  const nHeads = hfInteger(c, "n_head", source);
  if (dModel % nHeads !== 0) {
    throw new RangeError(`${source}: n_head expected a divisor of n_embd (${dModel}), received ${nHeads}`);
  }
  return {
    dModel,
    nLayers: hfInteger(c, "n_layer", source),
    nHeads,
    dHead: dModel / nHeads,
    dMlp: hfInteger(c, "n_inner", source, 4 * dModel),
    vocabSize: hfInteger(c, "vocab_size", source),
    maxSeq: hfInteger(c, "n_positions", source, 1024),
    normEps: hfPositive(c, "layer_norm_epsilon", source, 1e-5),
    activation: hfGelu(c.activation_function ?? "gelu_new", "activation_function", source),
    tiedEmbeddings: c.tie_word_embeddings !== false,
  };
}

/**
 * Builds GPT-2 weights from Hugging Face tensors (by their `transformers`
 * names, with or without the `transformer.` prefix), checking every shape.
 * Untied checkpoints read `lm_head.weight` `[vocab, dModel]`.
 *
 * @throws RangeError naming the file and tensor (missing, or a shape mismatch)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeSafetensors } from "../../io/safetensors.ts";
 * import { hfGpt2Weights, indexSafetensors } from "./hf_gpt2.ts";
 * const config = {
 *   dModel: 2, nLayers: 0, nHeads: 1, dHead: 2, dMlp: 8, vocabSize: 3, maxSeq: 4,
 *   normEps: 1e-5, activation: "gelu_new", tiedEmbeddings: true,
 * } as const;
 * const f32 = (shape: number[]) => ({ dtype: "F32" as const, shape, data: new Float32Array(shape[0] * (shape[1] ?? 1)) });
 * const bytes = encodeSafetensors({
 *   "wte.weight": f32([3, 2]), "wpe.weight": f32([4, 2]), "ln_f.weight": f32([2]), "ln_f.bias": f32([2]),
 * });
 * const w = hfGpt2Weights(indexSafetensors(bytes, "model.safetensors"), config);
 * assert.equal(w.unembed.shape.join(), "2,3");
 * ```
 */
export function hfGpt2Weights(tensors: HfTensors, config: Gpt2Config): Gpt2Weights {
  const { dModel: d, nHeads, dHead, dMlp, vocabSize, maxSeq } = config;
  const inner = nHeads * dHead;
  const prefix = tensors["transformer.wte.weight"] !== undefined ? "transformer." : "";
  const matrix = (name: string, rows: number, cols: number) =>
    tf.tensor2d(takeHfTensor(tensors, prefix + name, [rows, cols]), [rows, cols]);
  const vector = (name: string, n: number) => tf.tensor1d(takeHfTensor(tensors, prefix + name, [n]));
  return tidy(() => {
    const blocks: Gpt2BlockWeights[] = [];
    for (let l = 0; l < config.nLayers; l++) {
      const at = `h.${l}.`;
      // c_attn: [dModel, 3·inner] = [q | k | v] column blocks; its bias likewise.
      const [wQ, wK, wV] = tf.split(matrix(`${at}attn.c_attn.weight`, d, 3 * inner), 3, 1) as tf.Tensor2D[];
      const [bQ, bK, bV] = tf.split(vector(`${at}attn.c_attn.bias`, 3 * inner), 3) as tf.Tensor1D[];
      blocks.push({
        ln1: vector(`${at}ln_1.weight`, d),
        ln1Bias: vector(`${at}ln_1.bias`, d),
        wQ,
        bQ,
        wK,
        bK,
        wV,
        bV,
        wO: matrix(`${at}attn.c_proj.weight`, inner, d),
        bO: vector(`${at}attn.c_proj.bias`, d),
        ln2: vector(`${at}ln_2.weight`, d),
        ln2Bias: vector(`${at}ln_2.bias`, d),
        wIn: matrix(`${at}mlp.c_fc.weight`, d, dMlp),
        bIn: vector(`${at}mlp.c_fc.bias`, dMlp),
        wOut: matrix(`${at}mlp.c_proj.weight`, dMlp, d),
        bOut: vector(`${at}mlp.c_proj.bias`, d),
      });
    }
    const embed = matrix("wte.weight", vocabSize, d);
    // lm_head is an nn.Linear ([out, in] = [vocab, dModel]) and never carries the prefix.
    const unembed = config.tiedEmbeddings
      ? tf.transpose(embed)
      : tf.transpose(tf.tensor2d(takeHfTensor(tensors, "lm_head.weight", [vocabSize, d]), [vocabSize, d]));
    return {
      embed,
      posEmbed: matrix("wpe.weight", maxSeq, d),
      blocks,
      lnFinal: vector("ln_f.weight", d),
      lnFinalBias: vector("ln_f.bias", d),
      unembed,
    } as Gpt2Weights;
  });
}

/**
 * Loads a Hugging Face GPT-2 folder (`config.json` with `model_type:
 * "gpt2"`, safetensors weights in F32, F16 or BF16).
 *
 * @param folder a directory path
 * @throws RangeError naming the file and the tensor or field that is wrong
 *
 * @example A missing folder is an error naming the file it looked for
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadHfGpt2 } from "./hf_gpt2.ts";
 * await assert.rejects(() => loadHfGpt2("no/such/folder"), {
 *   message: /^no\/such\/folder\/config\.json: expected a Hugging Face config\.json/,
 * });
 * ```
 *
 * @example Typical use (a folder saved by `transformers`' `save_pretrained`)
 * ```ts ignore
 * import { loadHfGpt2 } from "./hf_gpt2.ts";
 * import { gpt2Forward } from "../gpt2.ts";
 * const { config, weights } = await loadHfGpt2("models/gpt2");
 * const { activations } = gpt2Forward(weights, config, [[50256, 15496, 995]], {
 *   capture: ["blocks.8.hook_resid_pre"],
 *   stopAtLayer: 8,
 * });
 * ```
 */
export async function loadHfGpt2(folder: string): Promise<Gpt2Model> {
  const { dir, configPath, config: json, tensors } = await readHfCheckpoint(folder);
  const config = hfGpt2Config(json, configPath);
  const weights = hfGpt2Weights(tensors, config);
  checkGpt2Weights(weights, config, dir);
  return { config, weights };
}
