/**
 * Hugging Face model folders with random weights, made from a seed, in the
 * layouts of GPT-2, GPT-NeoX (Pythia) and Llama: `config.json` and one
 * float32 `model.safetensors`, as `transformers`' `save_pretrained` writes
 * them. The forward benchmark runs saekit and the PyTorch baseline on the
 * same folder, so nothing has to be downloaded; tests make small ones.
 *
 * Tensor names and orientations are those the loaders read
 * (`lib/models/load/hf_gpt2.ts`, `hf_gpt_neox.ts`, `hf_llama.ts`):
 *
 * - GPT-2: `wte`, `wpe`, `h.{L}.ln_1`, `attn.c_attn` (`Conv1D`, `[in, out]`,
 *   columns `[q | k | v]`), `attn.c_proj`, `ln_2`, `mlp.c_fc`, `mlp.c_proj`,
 *   `ln_f`; the unembedding is tied to `wte`.
 * - GPT-NeoX: `gpt_neox.embed_in`, `gpt_neox.layers.{L}.input_layernorm`,
 *   `attention.query_key_value` (`nn.Linear`, `[out, in]`, rows grouped per
 *   head as `(q, k, v)`), `attention.dense`, `post_attention_layernorm`,
 *   `mlp.dense_h_to_4h`, `mlp.dense_4h_to_h`, `gpt_neox.final_layer_norm`,
 *   `embed_out` (untied).
 * - Llama: `model.embed_tokens`, `model.layers.{L}.input_layernorm`,
 *   `self_attn.{q,k,v,o}_proj` (`[out, in]`), `post_attention_layernorm`,
 *   `mlp.{gate,up,down}_proj`, `model.norm`, `lm_head` (untied).
 *
 * Values: matrices and embeddings `~ N(0, std²)` (`std` 0.02 by default, as
 * GPT-2's initialisation), every normalisation gain `1 + N(0, 0.1²)` and
 * every bias `N(0, std²)`, so that a reader that swaps a gain and a bias, or
 * drops one, computes something else.
 *
 * {@linkcode randomModelTensors} and {@linkcode randomModelConfig} are pure;
 * {@linkcode writeRandomModel} writes the folder.
 *
 * @module
 */
import { encodeSafetensors, type SafetensorsEntry } from "../io/safetensors.ts";
import { deriveSeed, mulberry32 } from "../seed.ts";

/** The model families whose Hugging Face layout {@linkcode randomModelTensors} writes. */
export type RandomModelFamily = "gpt2" | "gpt_neox" | "llama";

/** The families, in the order the forward benchmark runs them. */
export const RANDOM_MODEL_FAMILIES: readonly RandomModelFamily[] = ["gpt2", "gpt_neox", "llama"];

/** The shape of a random model. */
export type RandomModelShape = {
  readonly family: RandomModelFamily;
  readonly nLayers: number;
  /** Width of the residual stream. */
  readonly dModel: number;
  readonly nHeads: number;
  /** Key/value heads (Llama only; default `nHeads`). */
  readonly nKvHeads?: number;
  /** Hidden width of the MLP. */
  readonly dMlp: number;
  readonly vocabSize: number;
  /** Longest sequence (GPT-2's learned positions; the others' `max_position_embeddings`). */
  readonly maxSeq: number;
  /** GPT-NeoX: the fraction of each head that is rotated (default 0.25, Pythia's). */
  readonly rotaryPct?: number;
  /** GPT-NeoX: `use_parallel_residual` (default true, Pythia's). */
  readonly parallelResidual?: boolean;
};

/** GPT-2 small: 12 layers, 768 wide, 12 heads, vocabulary 50257, 1024 positions (124M parameters). */
export const GPT2_SMALL_SHAPE: RandomModelShape = {
  family: "gpt2",
  nLayers: 12,
  dModel: 768,
  nHeads: 12,
  dMlp: 3072,
  vocabSize: 50257,
  maxSeq: 1024,
};

/** Pythia-160M: 12 layers, 768 wide, 12 heads, rotary on a quarter of each head, parallel residual. */
export const PYTHIA_160M_SHAPE: RandomModelShape = {
  family: "gpt_neox",
  nLayers: 12,
  dModel: 768,
  nHeads: 12,
  dMlp: 3072,
  vocabSize: 50304,
  maxSeq: 2048,
  rotaryPct: 0.25,
  parallelResidual: true,
};

/**
 * A Llama of the same class: 12 layers, 768 wide, 12 heads, SwiGLU MLP 2048
 * wide, vocabulary 32000, RMSNorm, rotary on whole heads (134M parameters).
 */
export const LLAMA_160M_SHAPE: RandomModelShape = {
  family: "llama",
  nLayers: 12,
  dModel: 768,
  nHeads: 12,
  nKvHeads: 12,
  dMlp: 2048,
  vocabSize: 32000,
  maxSeq: 2048,
};

/** The real-size shape of each family, as the forward benchmark runs them. */
export const RANDOM_MODEL_SHAPES: Readonly<Record<RandomModelFamily, RandomModelShape>> = {
  gpt2: GPT2_SMALL_SHAPE,
  gpt_neox: PYTHIA_160M_SHAPE,
  llama: LLAMA_160M_SHAPE,
};

/** Options of {@linkcode randomModelTensors}. */
export type RandomModelOptions = {
  /** Standard deviation of matrices, embeddings and biases (default 0.02). */
  readonly std?: number;
};

function checkShape(shape: RandomModelShape): void {
  if (!RANDOM_MODEL_FAMILIES.includes(shape.family)) {
    throw new RangeError(
      `family: expected one of ${RANDOM_MODEL_FAMILIES.join(", ")}, received ${JSON.stringify(shape.family)}`,
    );
  }
  for (const field of ["nLayers", "dModel", "nHeads", "dMlp", "vocabSize", "maxSeq"] as const) {
    const value = shape[field];
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(`${field}: expected a positive integer, received ${value}`);
    }
  }
  if (shape.dModel % shape.nHeads !== 0) {
    throw new RangeError(`nHeads: expected a divisor of dModel (${shape.dModel}), received ${shape.nHeads}`);
  }
  const dHead = shape.dModel / shape.nHeads;
  const kv = shape.nKvHeads ?? shape.nHeads;
  if (!Number.isInteger(kv) || kv < 1 || shape.nHeads % kv !== 0) {
    throw new RangeError(`nKvHeads: expected a divisor of nHeads (${shape.nHeads}), received ${kv}`);
  }
  if (shape.family !== "gpt2" && dHead % 2 !== 0) {
    throw new RangeError(
      `nHeads: expected an even head width (dModel / nHeads) for rotary, received ${dHead}`,
    );
  }
  const pct = shape.rotaryPct ?? 0.25;
  if (shape.family === "gpt_neox" && (!(pct >= 0 && pct <= 1) || Math.floor(dHead * pct) % 2 !== 0)) {
    throw new RangeError(
      `rotaryPct: expected a fraction in [0, 1] giving an even rotary width of ${dHead}, received ${pct}`,
    );
  }
}

/**
 * The `config.json` of a random model, as `transformers` writes it for the
 * family, with `saekit_random_seed` added (the loaders ignore it; a folder
 * made again from the same shape and seed is recognised by it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PYTHIA_160M_SHAPE, randomModelConfig } from "./random_models.ts";
 * const c = randomModelConfig(PYTHIA_160M_SHAPE, 7);
 * assert.equal(c.model_type, "gpt_neox");
 * assert.equal(c.rotary_pct, 0.25);
 * assert.equal(c.saekit_random_seed, 7);
 * ```
 */
export function randomModelConfig(shape: RandomModelShape, seed: number): Record<string, unknown> {
  checkShape(shape);
  const { nLayers, dModel, nHeads, dMlp, vocabSize, maxSeq } = shape;
  const common = { torch_dtype: "float32", saekit_random_seed: seed };
  if (shape.family === "gpt2") {
    return {
      architectures: ["GPT2LMHeadModel"],
      model_type: "gpt2",
      n_layer: nLayers,
      n_embd: dModel,
      n_head: nHeads,
      n_inner: dMlp,
      n_positions: maxSeq,
      n_ctx: maxSeq,
      vocab_size: vocabSize,
      layer_norm_epsilon: 1e-5,
      activation_function: "gelu_new",
      tie_word_embeddings: true,
      ...common,
    };
  }
  if (shape.family === "gpt_neox") {
    return {
      architectures: ["GPTNeoXForCausalLM"],
      model_type: "gpt_neox",
      num_hidden_layers: nLayers,
      hidden_size: dModel,
      num_attention_heads: nHeads,
      intermediate_size: dMlp,
      max_position_embeddings: maxSeq,
      vocab_size: vocabSize,
      rotary_pct: shape.rotaryPct ?? 0.25,
      rotary_emb_base: 10000,
      layer_norm_eps: 1e-5,
      hidden_act: "gelu",
      use_parallel_residual: shape.parallelResidual ?? true,
      attention_bias: true,
      tie_word_embeddings: false,
      ...common,
    };
  }
  return {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    num_hidden_layers: nLayers,
    hidden_size: dModel,
    num_attention_heads: nHeads,
    num_key_value_heads: shape.nKvHeads ?? nHeads,
    intermediate_size: dMlp,
    max_position_embeddings: maxSeq,
    vocab_size: vocabSize,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    hidden_act: "silu",
    attention_bias: false,
    mlp_bias: false,
    tie_word_embeddings: false,
    ...common,
  };
}

/**
 * The number of values in a random model's weights (its parameters, tied
 * embeddings counted once).
 *
 * @example GPT-2 small has 124,439,808 parameters
 * ```ts
 * import assert from "node:assert/strict";
 * import { GPT2_SMALL_SHAPE, randomModelParameters } from "./random_models.ts";
 * // 50257·768 + 1024·768 + 12·(4·768 + 768·2304 + 2304 + 768·768 + 768 + 768·3072 + 3072 + 3072·768 + 768)
 * //   + 2·768 = 39,383,808 + 12·7,087,872 + 1,536 = 124,439,808
 * assert.equal(randomModelParameters(GPT2_SMALL_SHAPE), 124_439_808);
 * ```
 */
export function randomModelParameters(shape: RandomModelShape): number {
  return Object.values(tensorShapes(shape)).reduce((sum, s) => sum + s.reduce((a, b) => a * b, 1), 0);
}

type TensorKind = "matrix" | "gain" | "bias";

/** Every tensor of the family's layout: its shape and what kind of values it holds. */
function tensorShapes(shape: RandomModelShape): Record<string, number[]> {
  return Object.fromEntries(Object.entries(tensorLayout(shape)).map(([name, [s]]) => [name, s]));
}

function tensorLayout(shape: RandomModelShape): Record<string, [number[], TensorKind]> {
  checkShape(shape);
  const { nLayers, dModel: d, nHeads, dMlp, vocabSize, maxSeq } = shape;
  const dHead = d / nHeads;
  const out: Record<string, [number[], TensorKind]> = {};
  const put = (name: string, s: number[], kind: TensorKind) => void (out[name] = [s, kind]);
  if (shape.family === "gpt2") {
    put("wte.weight", [vocabSize, d], "matrix");
    put("wpe.weight", [maxSeq, d], "matrix");
    for (let l = 0; l < nLayers; l++) {
      const at = `h.${l}.`;
      put(`${at}ln_1.weight`, [d], "gain");
      put(`${at}ln_1.bias`, [d], "bias");
      put(`${at}attn.c_attn.weight`, [d, 3 * d], "matrix");
      put(`${at}attn.c_attn.bias`, [3 * d], "bias");
      put(`${at}attn.c_proj.weight`, [d, d], "matrix");
      put(`${at}attn.c_proj.bias`, [d], "bias");
      put(`${at}ln_2.weight`, [d], "gain");
      put(`${at}ln_2.bias`, [d], "bias");
      put(`${at}mlp.c_fc.weight`, [d, dMlp], "matrix");
      put(`${at}mlp.c_fc.bias`, [dMlp], "bias");
      put(`${at}mlp.c_proj.weight`, [dMlp, d], "matrix");
      put(`${at}mlp.c_proj.bias`, [d], "bias");
    }
    put("ln_f.weight", [d], "gain");
    put("ln_f.bias", [d], "bias");
    return out;
  }
  if (shape.family === "gpt_neox") {
    put("gpt_neox.embed_in.weight", [vocabSize, d], "matrix");
    for (let l = 0; l < nLayers; l++) {
      const at = `gpt_neox.layers.${l}.`;
      put(`${at}input_layernorm.weight`, [d], "gain");
      put(`${at}input_layernorm.bias`, [d], "bias");
      put(`${at}attention.query_key_value.weight`, [3 * d, d], "matrix");
      put(`${at}attention.query_key_value.bias`, [3 * d], "bias");
      put(`${at}attention.dense.weight`, [d, d], "matrix");
      put(`${at}attention.dense.bias`, [d], "bias");
      put(`${at}post_attention_layernorm.weight`, [d], "gain");
      put(`${at}post_attention_layernorm.bias`, [d], "bias");
      put(`${at}mlp.dense_h_to_4h.weight`, [dMlp, d], "matrix");
      put(`${at}mlp.dense_h_to_4h.bias`, [dMlp], "bias");
      put(`${at}mlp.dense_4h_to_h.weight`, [d, dMlp], "matrix");
      put(`${at}mlp.dense_4h_to_h.bias`, [d], "bias");
    }
    put("gpt_neox.final_layer_norm.weight", [d], "gain");
    put("gpt_neox.final_layer_norm.bias", [d], "bias");
    put("embed_out.weight", [vocabSize, d], "matrix");
    return out;
  }
  const kv = (shape.nKvHeads ?? nHeads) * dHead;
  put("model.embed_tokens.weight", [vocabSize, d], "matrix");
  for (let l = 0; l < nLayers; l++) {
    const at = `model.layers.${l}.`;
    put(`${at}input_layernorm.weight`, [d], "gain");
    put(`${at}self_attn.q_proj.weight`, [d, d], "matrix");
    put(`${at}self_attn.k_proj.weight`, [kv, d], "matrix");
    put(`${at}self_attn.v_proj.weight`, [kv, d], "matrix");
    put(`${at}self_attn.o_proj.weight`, [d, d], "matrix");
    put(`${at}post_attention_layernorm.weight`, [d], "gain");
    put(`${at}mlp.gate_proj.weight`, [dMlp, d], "matrix");
    put(`${at}mlp.up_proj.weight`, [dMlp, d], "matrix");
    put(`${at}mlp.down_proj.weight`, [d, dMlp], "matrix");
  }
  put("model.norm.weight", [d], "gain");
  put("lm_head.weight", [vocabSize, d], "matrix");
  return out;
}

/** Fills `out` with `offset + std · N(0, 1)` (Box–Muller on a seeded Mulberry32 stream). */
function fillNormal(out: Float32Array, seed: number, offset: number, std: number): void {
  const uniform = mulberry32(seed);
  for (let i = 0; i < out.length; i += 2) {
    const u1 = 1 - uniform(); // (0, 1]: the logarithm stays finite
    const r = Math.sqrt(-2 * Math.log(u1)) * std;
    const angle = 2 * Math.PI * uniform();
    out[i] = offset + r * Math.cos(angle);
    if (i + 1 < out.length) out[i + 1] = offset + r * Math.sin(angle);
  }
}

/**
 * The float32 tensors of a random model by their Hugging Face names. Each
 * tensor has its own stream, `deriveSeed(seed, index)` with `index` its place
 * in the family's layout, so the same shape and seed always give the same
 * values. Pure.
 *
 * @example A one-layer GPT-2: its `c_attn` is `[in, out]` = `[8, 24]`, and gains sit near 1
 * ```ts
 * import assert from "node:assert/strict";
 * import { randomModelTensors } from "./random_models.ts";
 * const shape = { family: "gpt2", nLayers: 1, dModel: 8, nHeads: 2, dMlp: 32, vocabSize: 10, maxSeq: 16 } as const;
 * const t = randomModelTensors(shape, 1);
 * assert.deepEqual(t["h.0.attn.c_attn.weight"].shape, [8, 24]);
 * assert.ok(t["h.0.ln_1.weight"].data.every((g) => Math.abs(g - 1) < 0.6));
 * assert.deepEqual(randomModelTensors(shape, 1)["wte.weight"].data, t["wte.weight"].data);
 * ```
 */
export function randomModelTensors(
  shape: RandomModelShape,
  seed: number,
  options: RandomModelOptions = {},
): Record<string, SafetensorsEntry> {
  const std = options.std ?? 0.02;
  if (!(std > 0) || !Number.isFinite(std)) {
    throw new RangeError(`std: expected a positive number, received ${std}`);
  }
  const out: Record<string, SafetensorsEntry> = {};
  Object.entries(tensorLayout(shape)).forEach(([name, [s, kind]], index) => {
    const data = new Float32Array(s.reduce((a, b) => a * b, 1));
    fillNormal(data, deriveSeed(seed, index), kind === "gain" ? 1 : 0, kind === "gain" ? 0.1 : std);
    out[name] = { dtype: "F32", shape: s, data };
  });
  return out;
}

/** What {@linkcode writeRandomModel} did. */
export type WrittenRandomModel = {
  /** The folder. */
  readonly dir: string;
  /** Size of `model.safetensors` in bytes. */
  readonly bytes: number;
  readonly parameters: number;
  /** True when the folder already held this shape and seed and was left as it was. */
  readonly reused: boolean;
};

/**
 * Whether `dir` holds this configuration and a complete weights file: `config.json` the same text, and
 * `model.safetensors` exactly as long as its header says (8 bytes, the header, `dataBytes` of values).
 */
async function sameFolder(dir: string, configText: string, dataBytes: number): Promise<number | undefined> {
  try {
    if ((await Deno.readTextFile(`${dir}/config.json`)) !== configText) return undefined;
    const path = `${dir}/model.safetensors`;
    const size = (await Deno.stat(path)).size;
    const file = await Deno.open(path);
    try {
      const head = new Uint8Array(8);
      if ((await file.read(head)) !== 8) return undefined;
      const headerLength = Number(new DataView(head.buffer).getBigUint64(0, true));
      return size === 8 + headerLength + dataBytes ? size : undefined;
    } finally {
      file.close();
    }
  } catch {
    return undefined;
  }
}

/**
 * Writes a random model's folder: `config.json` ({@linkcode randomModelConfig})
 * and `model.safetensors` ({@linkcode randomModelTensors}). A folder that
 * already holds the same configuration (shape and seed) and a weights file of
 * the expected size is left as it is (`reused`), so a benchmark can make its
 * models once.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeRandomModel } from "./random_models.ts";
 * const dir = await Deno.makeTempDir();
 * const shape = { family: "llama", nLayers: 1, dModel: 8, nHeads: 2, dMlp: 16, vocabSize: 10, maxSeq: 16 } as const;
 * const first = await writeRandomModel(dir, shape, 3);
 * assert.equal(first.reused, false);
 * assert.equal((await writeRandomModel(dir, shape, 3)).reused, true);
 * assert.equal((await writeRandomModel(dir, shape, 4)).reused, false);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeRandomModel(
  dir: string,
  shape: RandomModelShape,
  seed: number,
  options: RandomModelOptions = {},
): Promise<WrittenRandomModel> {
  const config = randomModelConfig(shape, seed);
  if (options.std !== undefined) config.saekit_random_std = options.std;
  const configText = JSON.stringify(config, null, 2) + "\n";
  const parameters = randomModelParameters(shape);
  const existing = await sameFolder(dir, configText, 4 * parameters);
  if (existing !== undefined) return { dir, bytes: existing, parameters, reused: true };
  await Deno.mkdir(dir, { recursive: true });
  const encoded = encodeSafetensors(randomModelTensors(shape, seed, options));
  await Deno.writeFile(`${dir}/model.safetensors`, encoded);
  await Deno.writeTextFile(`${dir}/config.json`, configText);
  return { dir, bytes: encoded.length, parameters, reused: false };
}
