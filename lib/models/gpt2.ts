/**
 * GPT-2 in float32, with hook points named as in TransformerLens so that SAEs
 * can read (and replace) its activations.
 *
 * Learned positional embeddings are added to the token embeddings; then each
 * block, for the residual stream `x` `[batch, seq, dModel]`, is pre-LayerNorm:
 *
 * ```
 * x = x + (attn(ln1(x)) · Wo + bo)            (causal; q, k, v = ln1(x) · W + b)
 * x = x + (gelu(ln2(x) · Win + bin) · Wout + bout)
 * ```
 *
 * with `ln(x) = (x − mean(x)) / √(var(x) + ε) ⊙ g + b`. Logits are
 * `ln_f(x) · Wu` after the last block. Every matrix is stored `[in, out]`
 * (Hugging Face's GPT-2 `Conv1D` already stores them so), so each product is
 * a plain matmul `x · W`.
 *
 * Pure: builds tensors only, never reads them back.
 *
 * @module
 */
import { hasKernel, tf, tidy } from "../tf.ts";
import { deriveSeed } from "../seed.ts";
import { CAUSAL_ATTENTION_KERNEL } from "../backends/model_kernel_names.ts";
import {
  activate,
  causalSelfAttention,
  dense,
  embedTokens,
  isHooked,
  LLAMA_BLOCK_HOOKS,
  type LlamaForwardOptions,
  type LlamaForwardResult,
  normalize,
  type TokenInput,
  tokenTensor,
} from "./transformer.ts";

export { tokenTensor };

/**
 * The GELU of a model: `"gelu"` is the exact form `x·Φ(x) = ½x(1 + erf(x/√2))`
 * (GPT-NeoX, Pythia); `"gelu_new"` is the tanh approximation
 * `½x(1 + tanh(√(2/π)(x + 0.044715x³)))` (GPT-2; Hugging Face also calls it
 * `gelu_fast` and `gelu_pytorch_tanh`).
 */
export type GeluKind = "gelu" | "gelu_new";

/** The shape and constants of a GPT-2 model. */
export type Gpt2Config = {
  /** Width of the residual stream (`n_embd`). */
  readonly dModel: number;
  readonly nLayers: number;
  readonly nHeads: number;
  /** Width of one head (`n_embd / n_head` in GPT-2). */
  readonly dHead: number;
  /** Hidden width of the MLP (`n_inner`, by default `4·n_embd`). */
  readonly dMlp: number;
  readonly vocabSize: number;
  /** Positions with a learned embedding (`n_positions`); the longest sequence. */
  readonly maxSeq: number;
  /** ε of every LayerNorm (`layer_norm_epsilon`). */
  readonly normEps: number;
  readonly activation: GeluKind;
  /**
   * Whether the checkpoint shares the unembedding with the embedding (always
   * so in OpenAI's GPT-2). Loaders still fill {@linkcode Gpt2Weights.unembed}.
   */
  readonly tiedEmbeddings: boolean;
};

/** The weights of one block; matrices are `[in, out]`. */
export type Gpt2BlockWeights = {
  /** LayerNorm gain before attention, `[dModel]`. */
  readonly ln1: tf.Tensor1D;
  /** LayerNorm bias before attention, `[dModel]`. */
  readonly ln1Bias: tf.Tensor1D;
  /** `[dModel, nHeads·dHead]`, head-major columns (head `h` owns `h·dHead .. (h+1)·dHead−1`). */
  readonly wQ: tf.Tensor2D;
  /** `[nHeads·dHead]` */
  readonly bQ: tf.Tensor1D;
  /** `[dModel, nHeads·dHead]` */
  readonly wK: tf.Tensor2D;
  /** `[nHeads·dHead]` */
  readonly bK: tf.Tensor1D;
  /** `[dModel, nHeads·dHead]` */
  readonly wV: tf.Tensor2D;
  /** `[nHeads·dHead]` */
  readonly bV: tf.Tensor1D;
  /** `[nHeads·dHead, dModel]` */
  readonly wO: tf.Tensor2D;
  /** `[dModel]` */
  readonly bO: tf.Tensor1D;
  /** LayerNorm gain before the MLP, `[dModel]`. */
  readonly ln2: tf.Tensor1D;
  /** LayerNorm bias before the MLP, `[dModel]`. */
  readonly ln2Bias: tf.Tensor1D;
  /** `[dModel, dMlp]` (HF `c_fc`) */
  readonly wIn: tf.Tensor2D;
  /** `[dMlp]` */
  readonly bIn: tf.Tensor1D;
  /** `[dMlp, dModel]` (HF `mlp.c_proj`) */
  readonly wOut: tf.Tensor2D;
  /** `[dModel]` */
  readonly bOut: tf.Tensor1D;
};

/** All weights of a GPT-2 model. */
export type Gpt2Weights = {
  /** Token embedding `[vocabSize, dModel]` (HF `wte`). */
  readonly embed: tf.Tensor2D;
  /** Positional embedding `[maxSeq, dModel]` (HF `wpe`). */
  readonly posEmbed: tf.Tensor2D;
  readonly blocks: readonly Gpt2BlockWeights[];
  /** Final LayerNorm gain `[dModel]`. */
  readonly lnFinal: tf.Tensor1D;
  /** Final LayerNorm bias `[dModel]`. */
  readonly lnFinalBias: tf.Tensor1D;
  /** Unembedding `[dModel, vocabSize]` (the transpose of `embed` when tied). */
  readonly unembed: tf.Tensor2D;
};

/** A configuration with its weights, as the loaders return them. */
export type Gpt2Model = {
  readonly config: Gpt2Config;
  readonly weights: Gpt2Weights;
};

/** Options of {@linkcode gpt2Forward}: the same as {@linkcode LlamaForwardOptions}. */
export type Gpt2ForwardOptions = LlamaForwardOptions;

/** The result of {@linkcode gpt2Forward}: the same as {@linkcode LlamaForwardResult}. */
export type Gpt2ForwardResult = LlamaForwardResult;

/**
 * Hook points inside every GPT-2 block, in the order the computation meets
 * them; the same eight as Llama's. The full name is `blocks.{L}.<point>`.
 *
 * - `hook_resid_pre`: residual stream entering the block, `[batch, seq, dModel]`
 * - `ln1.hook_normalized`: `ln1(resid_pre)` (gain and bias applied), the attention input
 * - `hook_attn_out`: attention output after `wO` and `bO`
 * - `hook_resid_mid`: `resid_pre + attn_out`
 * - `ln2.hook_normalized`: `ln2(resid_mid)`, the MLP input
 * - `mlp.hook_post`: `gelu(ln2 · wIn + bIn)`, `[batch, seq, dMlp]`
 * - `hook_mlp_out`: MLP output after `wOut` and `bOut`
 * - `hook_resid_post`: `resid_mid + mlp_out` (= next block's `hook_resid_pre`)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GPT2_BLOCK_HOOKS } from "./gpt2.ts";
 * assert.equal(GPT2_BLOCK_HOOKS.length, 8);
 * assert.equal(GPT2_BLOCK_HOOKS[3], "hook_resid_mid");
 * ```
 */
export const GPT2_BLOCK_HOOKS: typeof LLAMA_BLOCK_HOOKS = LLAMA_BLOCK_HOOKS;

/**
 * Every hook point of a GPT-2 model with `nLayers` blocks, in computation
 * order: `hook_embed` (token embeddings), `hook_pos_embed` (positional
 * embeddings; `blocks.0.hook_resid_pre` is their sum), the
 * {@linkcode GPT2_BLOCK_HOOKS} of each block, then `ln_final.hook_normalized`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gpt2HookNames } from "./gpt2.ts";
 * const names = gpt2HookNames({ nLayers: 2 });
 * assert.equal(names[1], "hook_pos_embed");
 * assert.equal(names[2], "blocks.0.hook_resid_pre");
 * assert.equal(names.at(-1), "ln_final.hook_normalized");
 * assert.equal(names.length, 19);
 * ```
 */
export function gpt2HookNames(config: Pick<Gpt2Config, "nLayers">): string[] {
  const names = ["hook_embed", "hook_pos_embed"];
  for (let l = 0; l < config.nLayers; l++) {
    for (const point of GPT2_BLOCK_HOOKS) names.push(`blocks.${l}.${point}`);
  }
  names.push("ln_final.hook_normalized");
  return names;
}

type ParsedHook = { readonly layer: number; readonly point: string };

/** Layer of a hook: −1 for the embeddings, `nLayers` for `ln_final`. */
function parseHook(config: Pick<Gpt2Config, "nLayers">, name: string, field: string): ParsedHook {
  if (name === "hook_embed" || name === "hook_pos_embed") return { layer: -1, point: name };
  if (name === "ln_final.hook_normalized") return { layer: config.nLayers, point: name };
  const match = /^blocks\.(0|[1-9][0-9]*)\.(.+)$/.exec(name);
  if (
    match !== null && Number(match[1]) < config.nLayers &&
    (GPT2_BLOCK_HOOKS as readonly string[]).includes(match[2])
  ) {
    return { layer: Number(match[1]), point: match[2] };
  }
  throw new RangeError(
    `${field}: unknown hook ${
      JSON.stringify(name)
    }; expected one of hook_embed, hook_pos_embed, blocks.{L}.{${GPT2_BLOCK_HOOKS.join(", ")}} for L in 0..${
      config.nLayers - 1
    }, ln_final.hook_normalized`,
  );
}

/**
 * The last axis of the activation at a GPT-2 hook point: `dMlp` for
 * `blocks.{L}.mlp.hook_post`, `dModel` everywhere else.
 *
 * @throws RangeError for an unknown hook name, listing the valid ones
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gpt2HookDim } from "./gpt2.ts";
 * const config = { nLayers: 12, dModel: 768, dMlp: 3072 };
 * assert.equal(gpt2HookDim(config, "blocks.11.mlp.hook_post"), 3072);
 * assert.equal(gpt2HookDim(config, "hook_pos_embed"), 768);
 * ```
 */
export function gpt2HookDim(config: Pick<Gpt2Config, "nLayers" | "dModel" | "dMlp">, name: string): number {
  return parseHook(config, name, "hook").point === "mlp.hook_post" ? config.dMlp : config.dModel;
}

/**
 * Checks a configuration: positive integer sizes, a positive `normEps`, a
 * known `activation`.
 *
 * @throws RangeError naming the field, with expected and received values
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkGpt2Config } from "./gpt2.ts";
 * const config = {
 *   dModel: 8, nLayers: 1, nHeads: 2, dHead: 4, dMlp: 0, vocabSize: 10, maxSeq: 16,
 *   normEps: 1e-5, activation: "gelu_new", tiedEmbeddings: true,
 * } as const;
 * assert.throws(() => checkGpt2Config(config), { message: "dMlp: expected a positive integer, received 0" });
 * ```
 */
export function checkGpt2Config(config: Gpt2Config): void {
  checkSizes(config, ["dModel", "nLayers", "nHeads", "dHead", "dMlp", "vocabSize", "maxSeq"]);
  checkNormAndActivation(config);
}

/** Positive integer fields. */
function checkSizes<C>(config: C, fields: readonly (keyof C & string)[]): void {
  for (const field of fields) {
    const value = config[field] as unknown;
    if (!Number.isInteger(value) || (value as number) < 1) {
      throw new RangeError(`${field}: expected a positive integer, received ${value}`);
    }
  }
}

function checkNormAndActivation(config: { readonly normEps: number; readonly activation: GeluKind }): void {
  const eps = config.normEps;
  if (!(typeof eps === "number" && Number.isFinite(eps) && eps > 0)) {
    throw new RangeError(`normEps: expected a positive number, received ${eps}`);
  }
  if (config.activation !== "gelu" && config.activation !== "gelu_new") {
    throw new RangeError(
      `activation: expected "gelu" or "gelu_new", received ${JSON.stringify(config.activation)}`,
    );
  }
}

function expectShape(what: string, t: tf.Tensor | undefined, shape: readonly number[]): void {
  if (t === undefined || !(t instanceof tf.Tensor)) {
    throw new TypeError(`${what}: expected a tensor of shape [${shape.join(", ")}], received ${t}`);
  }
  if (t.shape.length !== shape.length || t.shape.some((n, i) => n !== shape[i])) {
    throw new RangeError(`${what}: expected shape [${shape.join(", ")}], received [${t.shape.join(", ")}]`);
  }
  if (t.dtype !== "float32") {
    throw new TypeError(`${what}: expected dtype float32, received ${t.dtype}`);
  }
}

/** Expected shapes of the tensors of one block with biases (GPT-2 and GPT-NeoX share them). */
function blockShapes(
  config: Pick<Gpt2Config, "dModel" | "nHeads" | "dHead" | "dMlp">,
): Record<keyof Gpt2BlockWeights, number[]> {
  const { dModel: d, nHeads, dHead, dMlp } = config;
  const inner = nHeads * dHead;
  return {
    ln1: [d],
    ln1Bias: [d],
    wQ: [d, inner],
    bQ: [inner],
    wK: [d, inner],
    bK: [inner],
    wV: [d, inner],
    bV: [inner],
    wO: [inner, d],
    bO: [d],
    ln2: [d],
    ln2Bias: [d],
    wIn: [d, dMlp],
    bIn: [dMlp],
    wOut: [dMlp, d],
    bOut: [d],
  };
}

/**
 * Checks the blocks, final LayerNorm and (un)embeddings of a model whose
 * blocks have GPT-2's shape (GPT-NeoX's too).
 *
 * @param source names the weights in messages
 * @throws RangeError or TypeError naming the tensor, with expected and received shapes
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkBlockWeights, initGpt2Weights } from "./gpt2.ts";
 * const config = {
 *   dModel: 8, nLayers: 1, nHeads: 2, dHead: 4, dMlp: 32, vocabSize: 10, maxSeq: 16,
 *   normEps: 1e-5, activation: "gelu_new", tiedEmbeddings: true,
 * } as const;
 * const weights = initGpt2Weights(config, 0);
 * assert.throws(() => checkBlockWeights(weights, { ...config, nHeads: 1 }, "w"), {
 *   message: "w.blocks[0].wQ: expected shape [8, 4], received [8, 8]",
 * });
 * ```
 */
export function checkBlockWeights(
  weights: {
    readonly embed: tf.Tensor2D;
    readonly blocks: readonly Gpt2BlockWeights[];
    readonly lnFinal: tf.Tensor1D;
    readonly lnFinalBias: tf.Tensor1D;
    readonly unembed: tf.Tensor2D;
  },
  config: Pick<Gpt2Config, "dModel" | "nLayers" | "nHeads" | "dHead" | "dMlp" | "vocabSize">,
  source: string,
): void {
  const { dModel: d, vocabSize } = config;
  expectShape(`${source}.embed`, weights.embed, [vocabSize, d]);
  expectShape(`${source}.lnFinal`, weights.lnFinal, [d]);
  expectShape(`${source}.lnFinalBias`, weights.lnFinalBias, [d]);
  expectShape(`${source}.unembed`, weights.unembed, [d, vocabSize]);
  if (!Array.isArray(weights.blocks) || weights.blocks.length !== config.nLayers) {
    throw new RangeError(
      `${source}.blocks: expected ${config.nLayers} blocks (nLayers), received ${weights.blocks?.length}`,
    );
  }
  const expected = blockShapes(config);
  weights.blocks.forEach((block, l) => {
    for (const [key, shape] of Object.entries(expected)) {
      expectShape(`${source}.blocks[${l}].${key}`, block[key as keyof Gpt2BlockWeights], shape);
    }
  });
}

/**
 * Checks a configuration and that every weight has the shape it implies.
 *
 * @param source names the weights in messages (a folder path)
 * @throws RangeError or TypeError naming the tensor, with expected and received shapes
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkGpt2Weights, initGpt2Weights } from "./gpt2.ts";
 * const config = {
 *   dModel: 8, nLayers: 1, nHeads: 2, dHead: 4, dMlp: 32, vocabSize: 10, maxSeq: 16,
 *   normEps: 1e-5, activation: "gelu_new", tiedEmbeddings: true,
 * } as const;
 * const weights = initGpt2Weights(config, 0);
 * checkGpt2Weights(weights, config); // passes
 * assert.throws(() => checkGpt2Weights(weights, { ...config, maxSeq: 12 }), {
 *   message: "weights.posEmbed: expected shape [12, 8], received [16, 8]",
 * });
 * ```
 */
export function checkGpt2Weights(weights: Gpt2Weights, config: Gpt2Config, source = "weights"): void {
  checkGpt2Config(config);
  expectShape(`${source}.posEmbed`, weights.posEmbed, [config.maxSeq, config.dModel]);
  checkBlockWeights(weights, config, source);
}

/**
 * One block's weights with matrices from `normal(shape)`, LayerNorm gains 1
 * and every bias 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { initBlockWeights } from "./gpt2.ts";
 * const block = initBlockWeights({ dModel: 4, nHeads: 2, dHead: 2, dMlp: 8 }, (s) => tf.zeros(s));
 * assert.equal(block.wIn.shape.join(), "4,8");
 * assert.equal(block.ln1.dataSync()[0], 1);
 * ```
 */
export function initBlockWeights(
  config: Pick<Gpt2Config, "dModel" | "nHeads" | "dHead" | "dMlp">,
  normal: (shape: [number, number]) => tf.Tensor2D,
): Gpt2BlockWeights {
  const shapes = blockShapes(config);
  const out: Record<string, tf.Tensor> = {};
  for (const [key, shape] of Object.entries(shapes)) {
    if (shape.length === 2) out[key] = normal(shape as [number, number]);
    else out[key] = key === "ln1" || key === "ln2" ? tf.ones(shape) : tf.zeros(shape);
  }
  return out as unknown as Gpt2BlockWeights;
}

/**
 * Random weights for tests and examples: matrices and embeddings
 * `~ N(0, 0.02²)`, LayerNorm gains 1, biases 0, seeded (the same seed gives
 * the same weights).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { initGpt2Weights } from "./gpt2.ts";
 * const config = {
 *   dModel: 8, nLayers: 2, nHeads: 2, dHead: 4, dMlp: 32, vocabSize: 10, maxSeq: 16,
 *   normEps: 1e-5, activation: "gelu_new", tiedEmbeddings: false,
 * } as const;
 * const w = initGpt2Weights(config, 7);
 * assert.equal(w.blocks.length, 2);
 * assert.equal(w.posEmbed.shape.join(), "16,8");
 * ```
 */
export function initGpt2Weights(config: Gpt2Config, seed: number): Gpt2Weights {
  checkGpt2Config(config);
  const { dModel: d, vocabSize, maxSeq } = config;
  let stream = 0;
  const normal = (shape: [number, number]) =>
    tf.randomNormal(shape, 0, 0.02, "float32", deriveSeed(seed, ++stream)) as tf.Tensor2D;
  return tidy(() => {
    const blocks: Gpt2BlockWeights[] = [];
    for (let l = 0; l < config.nLayers; l++) blocks.push(initBlockWeights(config, normal));
    const embed = normal([vocabSize, d]);
    return {
      embed,
      posEmbed: normal([maxSeq, d]),
      blocks,
      lnFinal: tf.ones([d]),
      lnFinalBias: tf.zeros([d]),
      unembed: config.tiedEmbeddings ? tf.transpose(embed) : normal([d, vocabSize]),
    } as Gpt2Weights;
  });
}

/**
 * LayerNorm over the last axis: `(x − mean) / √(var + ε) ⊙ gain + bias`, with
 * the biased (population) variance, as PyTorch's `nn.LayerNorm`.
 *
 * @param x `[..., d]`
 * @param gain `[d]`
 * @param bias `[d]`
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { layerNorm } from "./gpt2.ts";
 * // (1, 3): mean 2, var 1 → (−1, 1)/√(1 + 0), then ·(2, 2) + (0, 1) = (−2, 3)
 * const y = layerNorm(tf.tensor2d([[1, 3]]), tf.tensor1d([2, 2]), tf.tensor1d([0, 1]), 0);
 * assert.equal(y.dataSync().join(), "-2,3");
 * ```
 */
export function layerNorm<T extends tf.Tensor>(x: T, gain: tf.Tensor1D, bias: tf.Tensor1D, eps: number): T {
  return normalize(x, gain, { bias, eps });
}

/**
 * GELU, exact (`"gelu"`) or the tanh approximation (`"gelu_new"`); see
 * {@linkcode GeluKind}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { gelu } from "./gpt2.ts";
 * // gelu(1) = Φ(1) = 0.841345; gelu_new(1) = ½(1 + tanh(0.797885·1.044715)) = 0.841192
 * const exact = gelu(tf.scalar(1), "gelu").dataSync()[0];
 * const approx = gelu(tf.scalar(1), "gelu_new").dataSync()[0];
 * assert.ok(Math.abs(exact - 0.841345) < 1e-5);
 * assert.ok(Math.abs(approx - 0.841192) < 1e-5);
 * ```
 */
export function gelu<T extends tf.Tensor>(x: T, kind: GeluKind): T {
  return activate(x, kind);
}

/**
 * `x · w + b` for `x` `[batch, seq, in]`, `w` `[in, out]`, `b` `[out]`
 * (or no bias), as `[batch, seq, out]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { affine } from "./gpt2.ts";
 * // (1, 2) · [[1, 0, 1], [0, 1, 1]] + (0, 0, 10) = (1, 2, 13)
 * const y = affine(tf.tensor3d([[[1, 2]]]), tf.tensor2d([[1, 0, 1], [0, 1, 1]]), tf.tensor1d([0, 0, 10]));
 * assert.equal(y.dataSync().join(), "1,2,13");
 * ```
 */
export function affine(x: tf.Tensor3D, w: tf.Tensor2D, b: tf.Tensor1D | undefined): tf.Tensor3D {
  return dense(x, w, { bias: b });
}

/**
 * Causal softmax attention of heads already projected (and rotated):
 * `q`, `k`, `v` `[batch, seq, heads, dHead]` → `[batch, seq, heads·dHead]`,
 * scores scaled by `1/√dHead`, position `i` seeing positions `0..i`.
 *
 * @example Zero queries: each position averages the values it can see
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { causalAttention } from "./gpt2.ts";
 * const q = tf.zeros([1, 2, 1, 1]) as tf.Tensor4D;
 * const v = tf.tensor4d([2, 4], [1, 2, 1, 1]);
 * assert.equal(causalAttention(q, q, v).dataSync().join(), "2,3");
 * ```
 */
export function causalAttention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D): tf.Tensor3D {
  const [b, s, h, dHead] = q.shape;
  if (hasKernel(CAUSAL_ATTENTION_KERNEL)) {
    const flat = (t: tf.Tensor4D) => tf.reshape(t, [b, s, h * dHead]) as tf.Tensor3D;
    return causalSelfAttention(flat(q), flat(k), flat(v), { nHeads: h, nKvHeads: h, dHead });
  }
  const heads = (t: tf.Tensor4D) => tf.reshape(tf.transpose(t, [0, 2, 1, 3]), [b * h, s, dHead]);
  // kᵀ as an explicit transpose: a plain matmul is much faster than transposeB on the wasm backend.
  const kT = tf.reshape(tf.transpose(k, [0, 2, 3, 1]), [b * h, dHead, s]);
  let scores = tf.div(tf.matMul(heads(q), kT), Math.sqrt(dHead));
  if (s > 1) {
    const mask = new Float32Array(s * s);
    for (let i = 0; i < s; i++) mask.fill(-Infinity, i * s + i + 1, (i + 1) * s);
    scores = tf.add(scores, tf.tensor2d(mask, [s, s]));
  }
  const mixed = tf.matMul(tf.softmax(scores), heads(v));
  return tf.reshape(tf.transpose(tf.reshape(mixed, [b, h, s, dHead]), [0, 2, 1, 3]), [b, s, h * dHead]);
}

/**
 * A hook caller for one forward pass: applies `replace[name]` (checking the
 * shape it returns) and records a clone into `activations` when `name` is
 * captured; returns the value that flows on.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { hookCaller } from "./gpt2.ts";
 * const activations: Record<string, tf.Tensor3D> = {};
 * const hook = hookCaller({ capture: ["a"], replace: { a: (x) => tf.neg(x) } }, activations);
 * const out = hook("a", tf.ones([1, 1, 2]));
 * assert.equal(out.dataSync().join(), "-1,-1");
 * assert.equal(activations.a.dataSync()[0], -1);
 * ```
 */
export function hookCaller(
  options: LlamaForwardOptions,
  activations: Record<string, tf.Tensor3D>,
): (name: string, value: tf.Tensor3D) => tf.Tensor3D {
  const capture = new Set(options.capture ?? []);
  const replace = options.replace ?? {};
  return (name, value) => {
    let out = value;
    const fn = replace[name];
    if (fn !== undefined) {
      out = fn(value);
      if (!(out instanceof tf.Tensor) || out.rank !== 3 || out.shape.some((n, i) => n !== value.shape[i])) {
        throw new RangeError(
          `replace[${JSON.stringify(name)}]: expected a tensor of shape [${
            value.shape.join(", ")
          }], received ${out instanceof tf.Tensor ? `shape [${out.shape.join(", ")}]` : String(out)}`,
        );
      }
    }
    // Kept: a forward pass frees each block's tensors when the block ends; the captures outlive it.
    if (capture.has(name)) activations[name] = tf.keep(out.clone());
    return out;
  };
}

/**
 * Checks `stopAtLayer` and that every captured or replaced hook exists (as
 * `parse` decides) and is reached; returns the number of blocks to run.
 *
 * @throws RangeError for a bad `stopAtLayer` or a hook that is not reached
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkForwardOptions } from "./gpt2.ts";
 * const parse = (name: string) => ({ layer: Number(name.split(".")[1]), point: name.split(".")[2] });
 * assert.equal(checkForwardOptions({ capture: ["blocks.1.hook_resid_pre"], stopAtLayer: 1 }, 4, parse), 1);
 * ```
 */
export function checkForwardOptions(
  options: LlamaForwardOptions,
  nLayers: number,
  parse: (name: string, field: string) => { readonly layer: number; readonly point: string },
): number {
  const stop = options.stopAtLayer;
  if (stop !== undefined && (!Number.isInteger(stop) || stop < 0 || stop > nLayers)) {
    throw new RangeError(`stopAtLayer: expected an integer in [0, ${nLayers}], received ${stop}`);
  }
  const lastLayer = stop ?? nLayers;
  const names: [string, string][] = [
    ...(options.capture ?? []).map((n): [string, string] => [n, "capture"]),
    ...Object.keys(options.replace ?? {}).map((n): [string, string] => [n, "replace"]),
  ];
  for (const [name, field] of names) {
    const { layer, point } = parse(name, field);
    const reached = layer < lastLayer ||
      (stop !== undefined && layer === lastLayer && point === "hook_resid_pre") ||
      (stop === undefined && layer === nLayers);
    if (!reached) {
      throw new RangeError(
        `${field}: hook ${name} is not reached with stopAtLayer ${lastLayer}; expected a hook of blocks 0..${
          lastLayer - 1
        }, the embeddings or blocks.${lastLayer}.hook_resid_pre`,
      );
    }
  }
  return lastLayer;
}

/**
 * The GPT-2 forward pass over whole sequences, batched, with hook points
 * (see {@linkcode gpt2HookNames}). Options behave as in `llamaForward`:
 * `capture` returns activations, `stopAtLayer` runs blocks `0..stopAtLayer−1`
 * only (reaching `blocks.{stopAtLayer}.hook_resid_pre`) and returns no
 * logits, and `replace` substitutes an activation, which then flows on.
 *
 * @param tokens `[batch, seq]` int32 token ids, `seq ≤ maxSeq`
 * @returns logits `[batch, seq, vocabSize]` (unless `stopAtLayer`) and the
 *   captured activations, each `[batch, seq, width]`, owned by the caller
 * @throws RangeError for an unknown hook name (listing the valid ones), a hook
 *   not reached with `stopAtLayer`, or tokens of the wrong shape
 *
 * @example Logits, and the residual stream after block 0 without running the rest
 * ```ts
 * import assert from "node:assert/strict";
 * import { gpt2Forward, initGpt2Weights } from "./gpt2.ts";
 * const config = {
 *   dModel: 8, nLayers: 2, nHeads: 2, dHead: 4, dMlp: 32, vocabSize: 10, maxSeq: 16,
 *   normEps: 1e-5, activation: "gelu_new", tiedEmbeddings: true,
 * } as const;
 * const weights = initGpt2Weights(config, 0);
 * const { logits } = gpt2Forward(weights, config, [[1, 2, 3]]);
 * assert.equal(logits?.shape.join(), "1,3,10");
 * const { activations } = gpt2Forward(weights, config, [[1, 2, 3]], {
 *   capture: ["blocks.0.hook_resid_post", "hook_pos_embed"],
 *   stopAtLayer: 1,
 * });
 * assert.equal(activations["blocks.0.hook_resid_post"].shape.join(), "1,3,8");
 * ```
 *
 * @example Zero-ablate the MLP of block 1
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { gpt2Forward, initGpt2Weights } from "./gpt2.ts";
 * const config = {
 *   dModel: 8, nLayers: 2, nHeads: 2, dHead: 4, dMlp: 32, vocabSize: 10, maxSeq: 16,
 *   normEps: 1e-5, activation: "gelu_new", tiedEmbeddings: true,
 * } as const;
 * const { activations } = gpt2Forward(initGpt2Weights(config, 1), config, [[4, 5]], {
 *   replace: { "blocks.1.hook_mlp_out": (x) => tf.zerosLike(x) },
 *   capture: ["blocks.1.hook_resid_mid", "blocks.1.hook_resid_post"],
 * });
 * const same = tf.equal(activations["blocks.1.hook_resid_mid"], activations["blocks.1.hook_resid_post"]);
 * assert.equal(same.all().dataSync()[0], 1);
 * ```
 */
export function gpt2Forward(
  weights: Gpt2Weights,
  config: Gpt2Config,
  tokens: TokenInput,
  options: Gpt2ForwardOptions = {},
): Gpt2ForwardResult {
  checkGpt2Weights(weights, config);
  const lastLayer = checkForwardOptions(options, config.nLayers, (n, f) => parseHook(config, n, f));
  const { nHeads, dHead, normEps: eps } = config;
  return tidy(() => {
    const ids = tokenTensor(tokens, config.vocabSize);
    const [batch, seq] = ids.shape;
    if (seq < 1 || seq > config.maxSeq) {
      throw new RangeError(`tokens: expected 1 to ${config.maxSeq} positions (maxSeq), received ${seq}`);
    }
    const activations: Record<string, tf.Tensor3D> = {};
    const hook = hookCaller(options, activations);
    // Where a hook point between a product and a residual add is neither captured nor replaced, the residual
    // stream is added inside the product (one pass fewer); the values are the same.
    const free = (name: string) => !isHooked(options, name);
    let resid: tf.Tensor3D;
    if (free("hook_embed") && free("hook_pos_embed")) {
      resid = embedTokens(weights.embed, ids, weights.posEmbed);
    } else {
      const embed = hook("hook_embed", embedTokens(weights.embed, ids));
      const positions = tf.slice(weights.posEmbed, [0, 0], [seq, config.dModel]);
      const posEmbed = free("hook_pos_embed") ? positions : hook(
        "hook_pos_embed",
        tf.broadcastTo(tf.expandDims(positions, 0), [batch, seq, config.dModel]) as tf.Tensor3D,
      );
      resid = tf.add(embed, posEmbed);
    }
    const fusedAttention = hasKernel(CAUSAL_ATTENTION_KERNEL);
    const split = (t: tf.Tensor3D) => tf.reshape(t, [batch, seq, nHeads, dHead]) as tf.Tensor4D;
    for (let l = 0; l < lastLayer; l++) {
      // Each block in its own scope: its intermediate tensors are freed (their buffers reused) as it ends.
      const input = resid;
      resid = tidy(() => {
        const w = weights.blocks[l];
        const at = `blocks.${l}.`;
        const resid = hook(`${at}hook_resid_pre`, input);
        const normed1 = hook(`${at}ln1.hook_normalized`, layerNorm(resid, w.ln1, w.ln1Bias, eps));
        const q = dense(normed1, w.wQ, { bias: w.bQ });
        const k = dense(normed1, w.wK, { bias: w.bK });
        const v = dense(normed1, w.wV, { bias: w.bV });
        const z = fusedAttention
          ? causalSelfAttention(q, k, v, { nHeads, nKvHeads: nHeads, dHead })
          : causalAttention(split(q), split(k), split(v));
        const mid = hook(
          `${at}hook_resid_mid`,
          free(`${at}hook_attn_out`)
            ? dense(z, w.wO, { bias: w.bO, residual: resid })
            : tf.add(resid, hook(`${at}hook_attn_out`, dense(z, w.wO, { bias: w.bO }))),
        );
        const normed2 = hook(`${at}ln2.hook_normalized`, layerNorm(mid, w.ln2, w.ln2Bias, eps));
        const post = hook(
          `${at}mlp.hook_post`,
          dense(normed2, w.wIn, { bias: w.bIn, activation: config.activation }),
        );
        return hook(
          `${at}hook_resid_post`,
          free(`${at}hook_mlp_out`)
            ? dense(post, w.wOut, { bias: w.bOut, residual: mid })
            : tf.add(mid, hook(`${at}hook_mlp_out`, dense(post, w.wOut, { bias: w.bOut }))),
        );
      });
    }
    if (options.stopAtLayer !== undefined) {
      if (lastLayer < config.nLayers) hook(`blocks.${lastLayer}.hook_resid_pre`, resid);
      return { activations };
    }
    const normed = hook(
      "ln_final.hook_normalized",
      layerNorm(resid, weights.lnFinal, weights.lnFinalBias, eps),
    );
    return { logits: dense(normed, weights.unembed), activations };
  });
}
