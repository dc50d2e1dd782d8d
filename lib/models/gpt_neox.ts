/**
 * GPT-NeoX (EleutherAI's Pythia family) in float32, with hook points named as
 * in TransformerLens so that SAEs can read (and replace) its activations.
 *
 * No positional embedding: the first `rotaryDims` dimensions of every query
 * and key head are rotated (rotary embeddings in Hugging Face's rotate-half
 * pairing `(i, i + rotaryDims/2)`); the rest of the head passes unrotated.
 * A block, for the residual stream `x` `[batch, seq, dModel]`, is either
 * parallel (Pythia, `use_parallel_residual`)
 *
 * ```
 * x = x + attn(ln1(x)) + mlp(ln2(x))
 * ```
 *
 * or sequential (`x = x + attn(ln1(x))`, then `x = x + mlp(ln2(x))`), with
 * LayerNorms that have biases, `mlp(y) = gelu(y · Win + bin) · Wout + bout`
 * (exact GELU), and an untied unembedding after a final LayerNorm. Matrices
 * are stored `[in, out]` (a loader transposes PyTorch's `[out, in]` and splits
 * the fused `query_key_value` projection with {@linkcode splitNeoxQkv}).
 *
 * Pure: builds tensors only, never reads them back.
 *
 * @module
 */
import { hasKernel, tf, tidy } from "../tf.ts";
import { deriveSeed } from "../seed.ts";
import { CAUSAL_ATTENTION_KERNEL } from "../backends/model_kernel_names.ts";
import {
  causalSelfAttention,
  dense,
  embedTokens,
  isHooked,
  type LlamaForwardOptions,
  type LlamaForwardResult,
  type TokenInput,
} from "./transformer.ts";
import {
  causalAttention,
  checkBlockWeights,
  checkForwardOptions,
  type GeluKind,
  type Gpt2BlockWeights,
  hookCaller,
  initBlockWeights,
  layerNorm,
  tokenTensor,
} from "./gpt2.ts";

/** The shape and constants of a GPT-NeoX model. */
export type GptNeoxConfig = {
  /** Width of the residual stream (`hidden_size`). */
  readonly dModel: number;
  readonly nLayers: number;
  readonly nHeads: number;
  /** Width of one head (`hidden_size / num_attention_heads`). */
  readonly dHead: number;
  /** Hidden width of the MLP (`intermediate_size`). */
  readonly dMlp: number;
  readonly vocabSize: number;
  /** Longest sequence (`max_position_embeddings`). */
  readonly maxSeq: number;
  /** ε of every LayerNorm (`layer_norm_eps`). */
  readonly normEps: number;
  /**
   * Leading dimensions of each head that are rotated: `⌊dHead · rotary_pct⌋`;
   * even, at most `dHead` (16 of 64 in Pythia).
   */
  readonly rotaryDims: number;
  /** Base of the rotary frequencies, `θ_i = ropeTheta^(−2i/rotaryDims)` (`rotary_emb_base`). */
  readonly ropeTheta: number;
  /** `x + attn(ln1(x)) + mlp(ln2(x))` when true (Pythia), sequential blocks when false. */
  readonly parallelResidual: boolean;
  readonly activation: GeluKind;
  /** Whether the checkpoint shares the unembedding with the embedding (not in Pythia). */
  readonly tiedEmbeddings: boolean;
};

/**
 * The weights of one block: the same fields as GPT-2's (matrices `[in, out]`,
 * query/key/value already split from the fused projection). Checkpoints
 * without attention biases load them as zeros.
 */
export type GptNeoxBlockWeights = Gpt2BlockWeights;

/** All weights of a GPT-NeoX model. */
export type GptNeoxWeights = {
  /** Token embedding `[vocabSize, dModel]` (HF `embed_in`). */
  readonly embed: tf.Tensor2D;
  readonly blocks: readonly GptNeoxBlockWeights[];
  /** Final LayerNorm gain `[dModel]`. */
  readonly lnFinal: tf.Tensor1D;
  /** Final LayerNorm bias `[dModel]`. */
  readonly lnFinalBias: tf.Tensor1D;
  /** Unembedding `[dModel, vocabSize]` (HF `embed_out`, transposed). */
  readonly unembed: tf.Tensor2D;
};

/** A configuration with its weights, as the loaders return them. */
export type GptNeoxModel = {
  readonly config: GptNeoxConfig;
  readonly weights: GptNeoxWeights;
};

/** Options of {@linkcode gptNeoxForward}: the same as `llamaForward`'s. */
export type GptNeoxForwardOptions = LlamaForwardOptions;

/** The result of {@linkcode gptNeoxForward}: the same as `llamaForward`'s. */
export type GptNeoxForwardResult = LlamaForwardResult;

/**
 * Hook points inside every block, in the order the computation meets them.
 * The full name is `blocks.{L}.<point>`. With `parallelResidual` both
 * LayerNorms read `hook_resid_pre`, and there is no residual stream between
 * attention and MLP, so `hook_resid_mid` does not exist (as in
 * TransformerLens, whose `hook_resid_mid` never fires for parallel blocks):
 *
 * - `hook_resid_pre`, `ln1.hook_normalized` = `ln1(resid_pre)`, `hook_attn_out`
 * - `hook_resid_mid` = `resid_pre + attn_out` (sequential blocks only)
 * - `ln2.hook_normalized` = `ln2(resid_mid)` (sequential) or `ln2(resid_pre)` (parallel)
 * - `mlp.hook_post` = `gelu(ln2 · wIn + bIn)` `[batch, seq, dMlp]`, `hook_mlp_out`
 * - `hook_resid_post` = `resid_pre + attn_out + mlp_out` (= next block's `hook_resid_pre`)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gptNeoxBlockHooks } from "./gpt_neox.ts";
 * assert.equal(gptNeoxBlockHooks({ parallelResidual: true }).length, 7);
 * assert.equal(gptNeoxBlockHooks({ parallelResidual: false })[3], "hook_resid_mid");
 * ```
 */
export function gptNeoxBlockHooks(config: Pick<GptNeoxConfig, "parallelResidual">): string[] {
  const hooks = [
    "hook_resid_pre",
    "ln1.hook_normalized",
    "hook_attn_out",
    "hook_resid_mid",
    "ln2.hook_normalized",
    "mlp.hook_post",
    "hook_mlp_out",
    "hook_resid_post",
  ];
  return config.parallelResidual ? hooks.filter((h) => h !== "hook_resid_mid") : hooks;
}

/**
 * Every hook point of a GPT-NeoX model, in computation order: `hook_embed`,
 * the {@linkcode gptNeoxBlockHooks} of each block, then
 * `ln_final.hook_normalized`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gptNeoxHookNames } from "./gpt_neox.ts";
 * const names = gptNeoxHookNames({ nLayers: 6, parallelResidual: true });
 * assert.equal(names[1], "blocks.0.hook_resid_pre");
 * assert.equal(names.length, 1 + 7 * 6 + 1);
 * ```
 */
export function gptNeoxHookNames(config: Pick<GptNeoxConfig, "nLayers" | "parallelResidual">): string[] {
  const names = ["hook_embed"];
  const points = gptNeoxBlockHooks(config);
  for (let l = 0; l < config.nLayers; l++) for (const point of points) names.push(`blocks.${l}.${point}`);
  names.push("ln_final.hook_normalized");
  return names;
}

function parseHook(
  config: Pick<GptNeoxConfig, "nLayers" | "parallelResidual">,
  name: string,
  field: string,
): { readonly layer: number; readonly point: string } {
  if (name === "hook_embed") return { layer: -1, point: name };
  if (name === "ln_final.hook_normalized") return { layer: config.nLayers, point: name };
  const points = gptNeoxBlockHooks(config);
  const match = /^blocks\.(0|[1-9][0-9]*)\.(.+)$/.exec(name);
  if (match !== null && Number(match[1]) < config.nLayers && points.includes(match[2])) {
    return { layer: Number(match[1]), point: match[2] };
  }
  const why = config.parallelResidual && match?.[2] === "hook_resid_mid"
    ? " (parallel residual blocks have no stream between attention and MLP)"
    : "";
  throw new RangeError(
    `${field}: unknown hook ${JSON.stringify(name)}${why}; expected one of hook_embed, blocks.{L}.{${
      points.join(", ")
    }} for L in 0..${config.nLayers - 1}, ln_final.hook_normalized`,
  );
}

/**
 * The last axis of the activation at a hook point: `dMlp` for
 * `blocks.{L}.mlp.hook_post`, `dModel` everywhere else.
 *
 * @throws RangeError for an unknown hook name, listing the valid ones
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gptNeoxHookDim } from "./gpt_neox.ts";
 * const config = { nLayers: 6, dModel: 512, dMlp: 2048, parallelResidual: true };
 * assert.equal(gptNeoxHookDim(config, "blocks.5.mlp.hook_post"), 2048);
 * assert.throws(() => gptNeoxHookDim(config, "blocks.0.hook_resid_mid"), { message: /parallel residual/ });
 * ```
 */
export function gptNeoxHookDim(
  config: Pick<GptNeoxConfig, "nLayers" | "dModel" | "dMlp" | "parallelResidual">,
  name: string,
): number {
  return parseHook(config, name, "hook").point === "mlp.hook_post" ? config.dMlp : config.dModel;
}

/**
 * Checks a configuration: positive integer sizes, an even `rotaryDims` in
 * `[0, dHead]`, positive `normEps` and `ropeTheta`, a known `activation`.
 *
 * @throws RangeError naming the field, with expected and received values
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkGptNeoxConfig } from "./gpt_neox.ts";
 * const config = {
 *   dModel: 8, nLayers: 1, nHeads: 2, dHead: 4, dMlp: 32, vocabSize: 10, maxSeq: 16, normEps: 1e-5,
 *   rotaryDims: 3, ropeTheta: 10000, parallelResidual: true, activation: "gelu", tiedEmbeddings: false,
 * } as const;
 * assert.throws(() => checkGptNeoxConfig(config), {
 *   message: "rotaryDims: expected an even integer in [0, 4] (dHead), received 3",
 * });
 * ```
 */
export function checkGptNeoxConfig(config: GptNeoxConfig): void {
  for (const field of ["dModel", "nLayers", "nHeads", "dHead", "dMlp", "vocabSize", "maxSeq"] as const) {
    const value = config[field];
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(`${field}: expected a positive integer, received ${value}`);
    }
  }
  const rot = config.rotaryDims;
  if (!Number.isInteger(rot) || rot < 0 || rot > config.dHead || rot % 2 !== 0) {
    throw new RangeError(
      `rotaryDims: expected an even integer in [0, ${config.dHead}] (dHead), received ${rot}`,
    );
  }
  for (const field of ["normEps", "ropeTheta"] as const) {
    const value = config[field];
    if (!(typeof value === "number" && Number.isFinite(value) && value > 0)) {
      throw new RangeError(`${field}: expected a positive number, received ${value}`);
    }
  }
  if (config.activation !== "gelu" && config.activation !== "gelu_new") {
    throw new RangeError(
      `activation: expected "gelu" or "gelu_new", received ${JSON.stringify(config.activation)}`,
    );
  }
  if (typeof config.parallelResidual !== "boolean") {
    throw new TypeError(`parallelResidual: expected a boolean, received ${config.parallelResidual}`);
  }
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
 * import { checkGptNeoxWeights, initGptNeoxWeights } from "./gpt_neox.ts";
 * const config = {
 *   dModel: 8, nLayers: 1, nHeads: 2, dHead: 4, dMlp: 32, vocabSize: 10, maxSeq: 16, normEps: 1e-5,
 *   rotaryDims: 2, ropeTheta: 10000, parallelResidual: true, activation: "gelu", tiedEmbeddings: false,
 * } as const;
 * const weights = initGptNeoxWeights(config, 0);
 * assert.throws(() => checkGptNeoxWeights(weights, { ...config, dMlp: 16 }), {
 *   message: "weights.blocks[0].wIn: expected shape [8, 16], received [8, 32]",
 * });
 * ```
 */
export function checkGptNeoxWeights(
  weights: GptNeoxWeights,
  config: GptNeoxConfig,
  source = "weights",
): void {
  checkGptNeoxConfig(config);
  checkBlockWeights(weights, config, source);
}

/**
 * Random weights for tests and examples: matrices and embeddings
 * `~ N(0, 0.02²)`, LayerNorm gains 1, biases 0, seeded.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { initGptNeoxWeights } from "./gpt_neox.ts";
 * const config = {
 *   dModel: 8, nLayers: 2, nHeads: 2, dHead: 4, dMlp: 32, vocabSize: 10, maxSeq: 16, normEps: 1e-5,
 *   rotaryDims: 2, ropeTheta: 10000, parallelResidual: true, activation: "gelu", tiedEmbeddings: false,
 * } as const;
 * const w = initGptNeoxWeights(config, 3);
 * assert.equal(w.blocks.length, 2);
 * assert.equal(w.unembed.shape.join(), "8,10");
 * ```
 */
export function initGptNeoxWeights(config: GptNeoxConfig, seed: number): GptNeoxWeights {
  checkGptNeoxConfig(config);
  const { dModel: d, vocabSize } = config;
  let stream = 0;
  const normal = (shape: [number, number]) =>
    tf.randomNormal(shape, 0, 0.02, "float32", deriveSeed(seed, ++stream)) as tf.Tensor2D;
  return tidy(() => {
    const blocks: GptNeoxBlockWeights[] = [];
    for (let l = 0; l < config.nLayers; l++) blocks.push(initBlockWeights(config, normal));
    const embed = normal([vocabSize, d]);
    return {
      embed,
      blocks,
      lnFinal: tf.ones([d]),
      lnFinalBias: tf.zeros([d]),
      unembed: config.tiedEmbeddings ? tf.transpose(embed) : normal([d, vocabSize]),
    } as GptNeoxWeights;
  });
}

/**
 * Splits GPT-NeoX's fused `query_key_value` projection as Hugging Face
 * stores it (`nn.Linear`, weight `[3·nHeads·dHead, dModel]` = `[out, in]`,
 * bias `[3·nHeads·dHead]`) into `[in, out]` matrices and biases. The output
 * rows are grouped per head, `[head, (q, k, v), dHead]`: row
 * `h·3·dHead + j·dHead + i` is dimension `i` of head `h`'s query (`j = 0`),
 * key (`j = 1`) or value (`j = 2`).
 *
 * @returns `wQ`, `wK`, `wV` `[dModel, nHeads·dHead]` (head-major columns) and
 *   `bQ`, `bK`, `bV` `[nHeads·dHead]`
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { splitNeoxQkv } from "./gpt_neox.ts";
 * // 2 heads of width 1, dModel 1: rows are (q0, k0, v0, q1, k1, v1) = 10, 11, 12, 20, 21, 22
 * const w = tf.tensor2d([[10], [11], [12], [20], [21], [22]]);
 * const { wQ, wV, bK } = splitNeoxQkv(w, tf.tensor1d([0, 1, 2, 3, 4, 5]), 2, 1);
 * assert.equal(wQ.dataSync().join(), "10,20");
 * assert.equal(wV.dataSync().join(), "12,22");
 * assert.equal(bK.dataSync().join(), "1,4");
 * ```
 */
export function splitNeoxQkv(
  weight: tf.Tensor2D,
  bias: tf.Tensor1D,
  nHeads: number,
  dHead: number,
): {
  wQ: tf.Tensor2D;
  wK: tf.Tensor2D;
  wV: tf.Tensor2D;
  bQ: tf.Tensor1D;
  bK: tf.Tensor1D;
  bV: tf.Tensor1D;
} {
  const inner = nHeads * dHead;
  if (weight.shape[0] !== 3 * inner) {
    throw new RangeError(
      `query_key_value: expected ${3 * inner} rows (3·nHeads·dHead), received [${weight.shape.join(", ")}]`,
    );
  }
  if (bias.shape[0] !== 3 * inner) {
    throw new RangeError(
      `query_key_value bias: expected [${3 * inner}] (3·nHeads·dHead), received [${bias.shape.join(", ")}]`,
    );
  }
  return tidy(() => {
    const dModel = weight.shape[1];
    const ws = tf.split(tf.reshape(weight, [nHeads, 3, dHead, dModel]), 3, 1)
      .map((w) => tf.transpose(tf.reshape(w, [inner, dModel])) as tf.Tensor2D);
    const bs = tf.split(tf.reshape(bias, [nHeads, 3, dHead]), 3, 1)
      .map((b) => tf.reshape(b, [inner]) as tf.Tensor1D);
    return { wQ: ws[0], wK: ws[1], wV: ws[2], bQ: bs[0], bK: bs[1], bV: bs[2] };
  });
}

/**
 * Cosines and sines of the rotary angles of positions `0..seq−1`, each
 * `[seq, rotaryDims/2]` row-major, computed as PyTorch does: `inv_freq =
 * 1 / θ^(2i/rotaryDims)` in float32, `angle = pos · inv_freq` in float32.
 */
function rotaryTables(config: GptNeoxConfig, seq: number): { cos: Float32Array; sin: Float32Array } {
  const half = config.rotaryDims / 2;
  const cos = new Float32Array(seq * half);
  const sin = new Float32Array(seq * half);
  for (let i = 0; i < half; i++) {
    const invFreq = Math.fround(1 / Math.pow(config.ropeTheta, (2 * i) / config.rotaryDims));
    for (let p = 0; p < seq; p++) {
      const angle = Math.fround(p * invFreq);
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  }
  return { cos, sin };
}

/**
 * Rotates the first `rotaryDims` dimensions of every head of `x`
 * `[batch, seq, heads, dHead]` by position, pairing `i` with
 * `i + rotaryDims/2`; the other dimensions pass through.
 */
function rotate(x: tf.Tensor4D, config: GptNeoxConfig): tf.Tensor4D {
  const rot = config.rotaryDims;
  if (rot === 0) return x;
  const [, seq, , dHead] = x.shape;
  const half = rot / 2;
  const tables = rotaryTables(config, seq);
  const c = tf.tensor3d(tables.cos, [seq, 1, half]);
  const s = tf.tensor3d(tables.sin, [seq, 1, half]);
  const parts = tf.split(x, rot === dHead ? [half, half] : [half, half, dHead - rot], 3);
  const [x1, x2] = parts;
  return tf.concat([
    tf.sub(tf.mul(x1, c), tf.mul(x2, s)),
    tf.add(tf.mul(x2, c), tf.mul(x1, s)),
    ...parts.slice(2),
  ], 3) as tf.Tensor4D;
}

/**
 * The GPT-NeoX forward pass over whole sequences, batched, with hook points
 * (see {@linkcode gptNeoxHookNames}). Options behave as in `llamaForward`:
 * `capture` returns activations, `stopAtLayer` runs blocks
 * `0..stopAtLayer−1` only (reaching `blocks.{stopAtLayer}.hook_resid_pre`)
 * and returns no logits, and `replace` substitutes an activation, which then
 * flows on. In a parallel block, a replaced `ln1.hook_normalized` feeds only
 * attention and a replaced `ln2.hook_normalized` only the MLP.
 *
 * @param tokens `[batch, seq]` int32 token ids, `seq ≤ maxSeq`
 * @returns logits `[batch, seq, vocabSize]` (unless `stopAtLayer`) and the
 *   captured activations, each `[batch, seq, width]`, owned by the caller
 * @throws RangeError for an unknown hook name (listing the valid ones; for
 *   parallel blocks that includes `hook_resid_mid`), a hook not reached with
 *   `stopAtLayer`, or tokens of the wrong shape
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { gptNeoxForward, initGptNeoxWeights } from "./gpt_neox.ts";
 * const config = {
 *   dModel: 8, nLayers: 2, nHeads: 2, dHead: 4, dMlp: 32, vocabSize: 10, maxSeq: 16, normEps: 1e-5,
 *   rotaryDims: 2, ropeTheta: 10000, parallelResidual: true, activation: "gelu", tiedEmbeddings: false,
 * } as const;
 * const weights = initGptNeoxWeights(config, 0);
 * const { logits, activations: a } = gptNeoxForward(weights, config, [[1, 2, 3]], {
 *   capture: ["blocks.1.hook_resid_pre", "blocks.1.hook_attn_out", "blocks.1.hook_mlp_out", "blocks.1.hook_resid_post"],
 * });
 * assert.equal(logits?.shape.join(), "1,3,10");
 * // parallel residual: resid_post = resid_pre + attn_out + mlp_out
 * const sum = tf.addN([a["blocks.1.hook_resid_pre"], a["blocks.1.hook_attn_out"], a["blocks.1.hook_mlp_out"]]);
 * assert.ok(tf.max(tf.abs(tf.sub(sum, a["blocks.1.hook_resid_post"]))).dataSync()[0] < 1e-6);
 * ```
 */
export function gptNeoxForward(
  weights: GptNeoxWeights,
  config: GptNeoxConfig,
  tokens: TokenInput,
  options: GptNeoxForwardOptions = {},
): GptNeoxForwardResult {
  checkGptNeoxWeights(weights, config);
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
    const split = (t: tf.Tensor3D) => tf.reshape(t, [batch, seq, nHeads, dHead]) as tf.Tensor4D;
    const fusedAttention = hasKernel(CAUSAL_ATTENTION_KERNEL);
    let cos: tf.Tensor2D | undefined, sin: tf.Tensor2D | undefined;
    if (fusedAttention && config.rotaryDims > 0) {
      const tables = rotaryTables(config, seq);
      cos = tf.tensor2d(tables.cos, [seq, config.rotaryDims / 2]);
      sin = tf.tensor2d(tables.sin, [seq, config.rotaryDims / 2]);
    }
    const attend = (q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D): tf.Tensor3D =>
      fusedAttention
        ? causalSelfAttention(q, k, v, {
          nHeads,
          nKvHeads: nHeads,
          dHead,
          rotaryDims: config.rotaryDims,
          cos,
          sin,
        })
        : causalAttention(rotate(split(q), config), rotate(split(k), config), split(v));
    let resid = hook("hook_embed", embedTokens(weights.embed, ids));
    for (let l = 0; l < lastLayer; l++) {
      // Each block in its own scope: its intermediate tensors are freed (their buffers reused) as it ends.
      const input = resid;
      resid = tidy(() => {
        const w = weights.blocks[l];
        const at = `blocks.${l}.`;
        const resid = hook(`${at}hook_resid_pre`, input);
        const normed1 = hook(`${at}ln1.hook_normalized`, layerNorm(resid, w.ln1, w.ln1Bias, eps));
        const z = attend(
          dense(normed1, w.wQ, { bias: w.bQ }),
          dense(normed1, w.wK, { bias: w.bK }),
          dense(normed1, w.wV, { bias: w.bV }),
        );
        const attnFree = free(`${at}hook_attn_out`);
        // resid + attn_out, made inside the product when attn_out is not hooked (the MLP's input in a
        // sequential block; in a parallel block, the stream that mlp_out is added to).
        const withAttn = attnFree ? dense(z, w.wO, { bias: w.bO, residual: resid }) : undefined;
        const attnOut = attnFree ? undefined : hook(`${at}hook_attn_out`, dense(z, w.wO, { bias: w.bO }));
        const mlpIn = config.parallelResidual
          ? resid
          : hook(`${at}hook_resid_mid`, withAttn ?? tf.add(resid, attnOut!));
        const normed2 = hook(`${at}ln2.hook_normalized`, layerNorm(mlpIn, w.ln2, w.ln2Bias, eps));
        const post = hook(
          `${at}mlp.hook_post`,
          dense(normed2, w.wIn, { bias: w.bIn, activation: config.activation }),
        );
        const base = config.parallelResidual ? withAttn : mlpIn;
        if (base !== undefined && free(`${at}hook_mlp_out`)) {
          return hook(`${at}hook_resid_post`, dense(post, w.wOut, { bias: w.bOut, residual: base }));
        }
        const mlpOut = hook(`${at}hook_mlp_out`, dense(post, w.wOut, { bias: w.bOut }));
        const sum: tf.Tensor3D = config.parallelResidual
          ? (withAttn === undefined ? tf.addN([resid, attnOut!, mlpOut]) : tf.add(withAttn, mlpOut))
          : tf.add(mlpIn, mlpOut);
        return hook(`${at}hook_resid_post`, sum);
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
