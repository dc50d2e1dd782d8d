/**
 * A Llama-family decoder-only transformer in float32, with hook points named
 * as in TransformerLens so that SAEs can read (and replace) its activations.
 *
 * One block, for the residual stream `x` `[batch, seq, dModel]`:
 *
 * ```
 * x   = x + Wo · attn(RoPE(Wq · rms(x)), RoPE(Wk · rms(x)), Wv · rms(x))   (causal, grouped-query)
 * x   = x + Wdown · (silu(Wgate · rms(x)) ⊙ Wup · rms(x))                  (SwiGLU)
 * ```
 *
 * with `rms(x) = x / √(mean(x²) + ε) ⊙ g`. Logits are `rms(x) · Wu` after the
 * last block. Every matrix is stored `[in, out]`, so each product is a plain
 * matmul `x · W` (a loader transposes PyTorch's `[out, in]`).
 *
 * Pure: builds tensors only, never reads them back.
 *
 * @module
 */
import { hasKernel, runKernel, tf, tidy } from "../tf.ts";
import { deriveSeed } from "../seed.ts";
import {
  CAUSAL_ATTENTION_KERNEL,
  EMBED_KERNEL,
  LINEAR_KERNEL,
  NORM_KERNEL,
  SWIGLU_KERNEL,
} from "../backends/model_kernel_names.ts";

/**
 * How rotary embeddings pair the dimensions of a head: `"interleaved"`
 * rotates `(2i, 2i+1)` (llama2.c, Meta's original code); `"half"` rotates
 * `(i, i + dHead/2)` (Hugging Face's `rotate_half`, whose q/k rows are
 * permuted accordingly).
 */
export type RotaryStyle = "interleaved" | "half";

/** The shape and constants of a Llama-family model. */
export type LlamaConfig = {
  /** Width of the residual stream. */
  readonly dModel: number;
  readonly nLayers: number;
  /** Query heads. */
  readonly nHeads: number;
  /** Key/value heads; divides `nHeads` (grouped-query attention when smaller). */
  readonly nKvHeads: number;
  /** Width of one head; even (usually `dModel / nHeads`). */
  readonly dHead: number;
  /** Hidden width of the SwiGLU MLP. */
  readonly dMlp: number;
  readonly vocabSize: number;
  /** Longest sequence (positions) the model accepts. */
  readonly maxSeq: number;
  /** ε of RMSNorm. */
  readonly normEps: number;
  /** Base of the rotary frequencies, `θ_i = ropeTheta^(−2i/dHead)`. */
  readonly ropeTheta: number;
  readonly rotary: RotaryStyle;
  /**
   * Whether the checkpoint shares the unembedding with the embedding. Loaders
   * still fill {@linkcode LlamaWeights.unembed} (with the transpose), so the
   * forward pass never transposes.
   */
  readonly tiedEmbeddings: boolean;
};

/** The weights of one transformer block; matrices are `[in, out]`. */
export type LlamaBlockWeights = {
  /** RMSNorm gain before attention, `[dModel]`. */
  readonly ln1: tf.Tensor1D;
  /** `[dModel, nHeads·dHead]` */
  readonly wQ: tf.Tensor2D;
  /** `[dModel, nKvHeads·dHead]` */
  readonly wK: tf.Tensor2D;
  /** `[dModel, nKvHeads·dHead]` */
  readonly wV: tf.Tensor2D;
  /** `[nHeads·dHead, dModel]` */
  readonly wO: tf.Tensor2D;
  /** RMSNorm gain before the MLP, `[dModel]`. */
  readonly ln2: tf.Tensor1D;
  /** `[dModel, dMlp]` (llama2.c `w1`, HF `gate_proj`) */
  readonly wGate: tf.Tensor2D;
  /** `[dModel, dMlp]` (llama2.c `w3`, HF `up_proj`) */
  readonly wUp: tf.Tensor2D;
  /** `[dMlp, dModel]` (llama2.c `w2`, HF `down_proj`) */
  readonly wDown: tf.Tensor2D;
};

/** All weights of a Llama-family model. */
export type LlamaWeights = {
  /** Token embedding `[vocabSize, dModel]`. */
  readonly embed: tf.Tensor2D;
  readonly blocks: readonly LlamaBlockWeights[];
  /** Final RMSNorm gain `[dModel]`. */
  readonly lnFinal: tf.Tensor1D;
  /** Unembedding `[dModel, vocabSize]` (the transpose of `embed` when tied). */
  readonly unembed: tf.Tensor2D;
};

/** A configuration with its weights, as the loaders return them. */
export type LlamaModel = {
  readonly config: LlamaConfig;
  readonly weights: LlamaWeights;
};

/**
 * Keys and values of the positions already processed, per layer, for
 * incremental decoding with {@linkcode llamaForwardWithCache}.
 */
export type LlamaKvCache = {
  /** Positions already cached. */
  readonly length: number;
  /** Per layer, rotated keys `[batch, nKvHeads, length, dHead]`. */
  readonly keys: readonly tf.Tensor4D[];
  /** Per layer, values `[batch, nKvHeads, length, dHead]`. */
  readonly values: readonly tf.Tensor4D[];
};

/** Replaces an activation: receives it and returns a tensor of the same shape. */
export type HookFn = (value: tf.Tensor3D) => tf.Tensor3D;

/** Options of {@linkcode llamaForward}. */
export type LlamaForwardOptions = {
  /** Hook points whose activations to return (see {@linkcode llamaHookNames}). */
  readonly capture?: readonly string[];
  /**
   * Run only blocks `0 .. stopAtLayer−1` and return no logits, like
   * TransformerLens's `stop_at_layer`. Reachable hooks are then those of the
   * blocks that run, `hook_embed`, and `blocks.{stopAtLayer}.hook_resid_pre`
   * (the residual stream the run stops with).
   */
  readonly stopAtLayer?: number;
  /**
   * Per hook point, a function that replaces the activation (an SAE
   * reconstruction, zeros, ...). What it returns flows on through the model
   * and is what `capture` records at that point. It runs inside `tf.tidy`.
   */
  readonly replace?: Readonly<Record<string, HookFn>>;
};

/** The result of {@linkcode llamaForward}. */
export type LlamaForwardResult = {
  /** `[batch, seq, vocabSize]`; absent when `stopAtLayer` is set. */
  readonly logits?: tf.Tensor3D;
  /** Captured activations by hook name, each `[batch, seq, width]`. */
  readonly activations: Readonly<Record<string, tf.Tensor3D>>;
};

/** The result of {@linkcode llamaForwardWithCache}. */
export type LlamaCachedResult = {
  /** `[batch, seq, vocabSize]` for the new positions. */
  readonly logits: tf.Tensor3D;
  /** Captured activations of the new positions, `[batch, seq, width]`. */
  readonly activations: Readonly<Record<string, tf.Tensor3D>>;
  /** The cache extended by the new positions. */
  readonly cache: LlamaKvCache;
};

/** Tokens: an int32 tensor or nested arrays, `[batch, seq]`. */
export type TokenInput = tf.Tensor2D | readonly (readonly number[])[];

/**
 * Hook points inside every block, in the order the computation meets them.
 * The full name is `blocks.{L}.<point>`.
 *
 * - `hook_resid_pre`: residual stream entering the block, `[batch, seq, dModel]`
 * - `ln1.hook_normalized`: `rms(resid_pre)`, the attention input
 * - `hook_attn_out`: attention output after `wO`
 * - `hook_resid_mid`: `resid_pre + attn_out`
 * - `ln2.hook_normalized`: `rms(resid_mid)`, the MLP input
 * - `mlp.hook_post`: `silu(gate) ⊙ up`, `[batch, seq, dMlp]`
 * - `hook_mlp_out`: MLP output after `wDown`
 * - `hook_resid_post`: `resid_mid + mlp_out` (= next block's `hook_resid_pre`)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LLAMA_BLOCK_HOOKS } from "./transformer.ts";
 * assert.equal(LLAMA_BLOCK_HOOKS.length, 8);
 * assert.equal(LLAMA_BLOCK_HOOKS[5], "mlp.hook_post");
 * ```
 */
export const LLAMA_BLOCK_HOOKS = [
  "hook_resid_pre",
  "ln1.hook_normalized",
  "hook_attn_out",
  "hook_resid_mid",
  "ln2.hook_normalized",
  "mlp.hook_post",
  "hook_mlp_out",
  "hook_resid_post",
] as const;

/**
 * Every hook point of a model with `nLayers` blocks, in computation order:
 * `hook_embed`, the {@linkcode LLAMA_BLOCK_HOOKS} of each block, then
 * `ln_final.hook_normalized`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { llamaHookNames } from "./transformer.ts";
 * const names = llamaHookNames({ nLayers: 2 });
 * assert.equal(names[0], "hook_embed");
 * assert.equal(names[1], "blocks.0.hook_resid_pre");
 * assert.equal(names.at(-1), "ln_final.hook_normalized");
 * assert.equal(names.length, 18);
 * ```
 */
export function llamaHookNames(config: Pick<LlamaConfig, "nLayers">): string[] {
  const names = ["hook_embed"];
  for (let l = 0; l < config.nLayers; l++) {
    for (const point of LLAMA_BLOCK_HOOKS) names.push(`blocks.${l}.${point}`);
  }
  names.push("ln_final.hook_normalized");
  return names;
}

type ParsedHook = { readonly layer: number; readonly point: string };

function hookListing(config: Pick<LlamaConfig, "nLayers">): string {
  return `hook_embed, blocks.{L}.{${LLAMA_BLOCK_HOOKS.join(", ")}} for L in 0..${
    config.nLayers - 1
  }, ln_final.hook_normalized`;
}

/** Layer of a hook: −1 for `hook_embed`, `nLayers` for `ln_final`. */
function parseHook(config: Pick<LlamaConfig, "nLayers">, name: string, field: string): ParsedHook {
  if (name === "hook_embed") return { layer: -1, point: name };
  if (name === "ln_final.hook_normalized") return { layer: config.nLayers, point: name };
  const match = /^blocks\.(0|[1-9][0-9]*)\.(.+)$/.exec(name);
  if (
    match !== null && Number(match[1]) < config.nLayers &&
    (LLAMA_BLOCK_HOOKS as readonly string[]).includes(match[2])
  ) {
    return { layer: Number(match[1]), point: match[2] };
  }
  throw new RangeError(
    `${field}: unknown hook ${JSON.stringify(name)}; expected one of ${hookListing(config)}`,
  );
}

/**
 * The last axis of the activation at a hook point: `dMlp` for
 * `blocks.{L}.mlp.hook_post`, `dModel` everywhere else.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { llamaHookDim } from "./transformer.ts";
 * const config = { nLayers: 5, dModel: 64, dMlp: 172 };
 * assert.equal(llamaHookDim(config, "blocks.3.mlp.hook_post"), 172);
 * assert.equal(llamaHookDim(config, "blocks.3.hook_resid_post"), 64);
 * ```
 */
export function llamaHookDim(
  config: Pick<LlamaConfig, "nLayers" | "dModel" | "dMlp">,
  name: string,
): number {
  return parseHook(config, name, "hook").point === "mlp.hook_post" ? config.dMlp : config.dModel;
}

/**
 * Checks a configuration: positive integer sizes, `nKvHeads` dividing
 * `nHeads`, an even `dHead`, positive `normEps` and `ropeTheta`.
 *
 * @throws RangeError naming the field, with expected and received values
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkLlamaConfig } from "./transformer.ts";
 * const config = {
 *   dModel: 8, nLayers: 1, nHeads: 2, nKvHeads: 3, dHead: 4, dMlp: 16, vocabSize: 10,
 *   maxSeq: 16, normEps: 1e-5, ropeTheta: 10000, rotary: "half", tiedEmbeddings: false,
 * } as const;
 * assert.throws(() => checkLlamaConfig(config), { message: /^nKvHeads/ });
 * ```
 */
export function checkLlamaConfig(config: LlamaConfig): void {
  const sizes = ["dModel", "nLayers", "nHeads", "nKvHeads", "dHead", "dMlp", "vocabSize", "maxSeq"] as const;
  for (const field of sizes) {
    const value = config[field];
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(`${field}: expected a positive integer, received ${value}`);
    }
  }
  if (config.nHeads % config.nKvHeads !== 0) {
    throw new RangeError(
      `nKvHeads: expected a divisor of nHeads (${config.nHeads}), received ${config.nKvHeads}`,
    );
  }
  if (config.dHead % 2 !== 0) {
    throw new RangeError(`dHead: expected an even number (rotary pairs), received ${config.dHead}`);
  }
  for (const field of ["normEps", "ropeTheta"] as const) {
    const value = config[field];
    if (!(typeof value === "number" && Number.isFinite(value) && value > 0)) {
      throw new RangeError(`${field}: expected a positive number, received ${value}`);
    }
  }
  if (config.rotary !== "interleaved" && config.rotary !== "half") {
    throw new RangeError(
      `rotary: expected "interleaved" or "half", received ${JSON.stringify(config.rotary)}`,
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

/**
 * Checks a configuration and that every weight has the shape it implies.
 *
 * @param source names the weights in messages (a file path)
 * @throws RangeError or TypeError naming the tensor, with expected and received shapes
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkLlamaWeights, initLlamaWeights } from "./transformer.ts";
 * const config = {
 *   dModel: 8, nLayers: 1, nHeads: 2, nKvHeads: 1, dHead: 4, dMlp: 16, vocabSize: 10,
 *   maxSeq: 16, normEps: 1e-5, ropeTheta: 10000, rotary: "half", tiedEmbeddings: false,
 * } as const;
 * const weights = initLlamaWeights(config, 0);
 * checkLlamaWeights(weights, config); // passes
 * assert.throws(() => checkLlamaWeights(weights, { ...config, dMlp: 12 }), {
 *   message: "weights.blocks[0].wGate: expected shape [8, 12], received [8, 16]",
 * });
 * ```
 */
export function checkLlamaWeights(weights: LlamaWeights, config: LlamaConfig, source = "weights"): void {
  checkLlamaConfig(config);
  const { dModel: d, nHeads, nKvHeads, dHead, dMlp, vocabSize } = config;
  expectShape(`${source}.embed`, weights.embed, [vocabSize, d]);
  expectShape(`${source}.lnFinal`, weights.lnFinal, [d]);
  expectShape(`${source}.unembed`, weights.unembed, [d, vocabSize]);
  if (!Array.isArray(weights.blocks) || weights.blocks.length !== config.nLayers) {
    throw new RangeError(
      `${source}.blocks: expected ${config.nLayers} blocks (nLayers), received ${weights.blocks?.length}`,
    );
  }
  const expected: Record<keyof LlamaBlockWeights, number[]> = {
    ln1: [d],
    wQ: [d, nHeads * dHead],
    wK: [d, nKvHeads * dHead],
    wV: [d, nKvHeads * dHead],
    wO: [nHeads * dHead, d],
    ln2: [d],
    wGate: [d, dMlp],
    wUp: [d, dMlp],
    wDown: [dMlp, d],
  };
  weights.blocks.forEach((block, l) => {
    for (const [key, shape] of Object.entries(expected)) {
      expectShape(`${source}.blocks[${l}].${key}`, block[key as keyof LlamaBlockWeights], shape);
    }
  });
}

/**
 * Random weights for tests and examples: matrices `~ N(0, 0.02²)`, norm gains
 * 1, seeded (the same seed gives the same weights).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { initLlamaWeights } from "./transformer.ts";
 * const config = {
 *   dModel: 8, nLayers: 2, nHeads: 2, nKvHeads: 1, dHead: 4, dMlp: 16, vocabSize: 10,
 *   maxSeq: 16, normEps: 1e-5, ropeTheta: 10000, rotary: "half", tiedEmbeddings: false,
 * } as const;
 * const w = initLlamaWeights(config, 7);
 * assert.equal(w.blocks.length, 2);
 * assert.equal(w.blocks[0].wK.shape.join(), "8,4");
 * ```
 */
export function initLlamaWeights(config: LlamaConfig, seed: number): LlamaWeights {
  checkLlamaConfig(config);
  const { dModel: d, nHeads, nKvHeads, dHead, dMlp, vocabSize } = config;
  let stream = 0;
  const normal = (shape: [number, number]) =>
    tf.randomNormal(shape, 0, 0.02, "float32", deriveSeed(seed, ++stream)) as tf.Tensor2D;
  return tidy(() => {
    const blocks: LlamaBlockWeights[] = [];
    for (let l = 0; l < config.nLayers; l++) {
      blocks.push({
        ln1: tf.ones([d]),
        wQ: normal([d, nHeads * dHead]),
        wK: normal([d, nKvHeads * dHead]),
        wV: normal([d, nKvHeads * dHead]),
        wO: normal([nHeads * dHead, d]),
        ln2: tf.ones([d]),
        wGate: normal([d, dMlp]),
        wUp: normal([d, dMlp]),
        wDown: normal([dMlp, d]),
      });
    }
    const embed = normal([vocabSize, d]);
    const unembed = config.tiedEmbeddings ? tf.transpose(embed) : normal([d, vocabSize]);
    return { embed, blocks, lnFinal: tf.ones([d]), unembed } as LlamaWeights;
  });
}

/**
 * Cosines and sines of the rotary angles `pos · θ_i` for positions
 * `start .. start+count−1`, each `[count, 1, dHead/2]`. Computed in float32
 * steps as llama2.c's `run.c` does (`powf`, then `pos · freq`, then `cosf`).
 */
function rotaryTables(config: LlamaConfig, start: number, count: number): [tf.Tensor3D, tf.Tensor3D] {
  const half = config.dHead / 2;
  const cos = new Float32Array(count * half);
  const sin = new Float32Array(count * half);
  const f = Math.fround;
  for (let i = 0; i < half; i++) {
    const freq = f(1 / f(Math.pow(config.ropeTheta, f((2 * i) / config.dHead))));
    for (let p = 0; p < count; p++) {
      const angle = f((start + p) * freq);
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  }
  return [tf.tensor3d(cos, [count, 1, half]), tf.tensor3d(sin, [count, 1, half])];
}

/** Rotates `x` `[batch, seq, heads, dHead]` by the tables of its positions. */
function rotate(x: tf.Tensor4D, cos: tf.Tensor3D, sin: tf.Tensor3D, style: RotaryStyle): tf.Tensor4D {
  const [b, s, h, dHead] = x.shape;
  const half = dHead / 2;
  if (style === "half") {
    const [x1, x2] = tf.split(x, 2, 3);
    return tf.concat([
      tf.sub(tf.mul(x1, cos), tf.mul(x2, sin)),
      tf.add(tf.mul(x2, cos), tf.mul(x1, sin)),
    ], 3) as tf.Tensor4D;
  }
  const pairs = tf.reshape(x, [b, s, h, half, 2]);
  const [x0, x1] = tf.split(pairs, 2, 4).map((t) => tf.reshape(t, [b, s, h, half]));
  const out0 = tf.sub(tf.mul(x0, cos), tf.mul(x1, sin));
  const out1 = tf.add(tf.mul(x0, sin), tf.mul(x1, cos));
  return tf.reshape(tf.stack([out0, out1], 4), [b, s, h, dHead]);
}

// ---------------------------------------------------------------------------
// The operations of a block, each one fused kernel where the active backend
// registered it (lib/backends/model_kernel_names.ts; the `blas` backend does),
// else the same maths as tfjs ops, which stays the reference. GPT-2 and
// GPT-NeoX use them too.
// ---------------------------------------------------------------------------

/** The activation after a dense layer: none, exact GELU, GELU's tanh approximation, or SiLU `x·σ(x)`. */
export type Activation = "none" | "gelu" | "gelu_new" | "silu";

/** Tensors by name without the absent ones, as a kernel's inputs. */
function present(inputs: Record<string, tf.Tensor | undefined>): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const [name, t] of Object.entries(inputs)) if (t !== undefined) out[name] = t;
  return out;
}

/**
 * An activation as tfjs ops: `"gelu"` is `½x(1 + erf(x/√2))`, `"gelu_new"`
 * is `½x(1 + tanh(√(2/π)(x + 0.044715x³)))`, `"silu"` is `x·σ(x)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { activate } from "./transformer.ts";
 * // silu(2) = 2 / (1 + e^−2) = 1.761594; gelu(1) = Φ(1) = 0.841345
 * assert.ok(Math.abs(activate(tf.scalar(2), "silu").dataSync()[0] - 1.761594) < 1e-5);
 * assert.ok(Math.abs(activate(tf.scalar(1), "gelu").dataSync()[0] - 0.841345) < 1e-5);
 * ```
 */
export function activate<T extends tf.Tensor>(x: T, kind: Activation): T {
  if (kind === "none") return x;
  return tidy(() => {
    if (kind === "silu") return tf.mul(x, tf.sigmoid(x)) as T;
    if (kind === "gelu") return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)) as T;
    if (kind !== "gelu_new") {
      throw new RangeError(
        `activation: expected none, gelu, gelu_new or silu, received ${JSON.stringify(kind)}`,
      );
    }
    const inner = tf.mul(tf.add(x, tf.mul(tf.mul(tf.square(x), x), 0.044715)), Math.sqrt(2 / Math.PI));
    return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1)) as T;
  });
}

/** Options of {@linkcode dense}. */
export type DenseOptions = {
  /** Added to each row of the product, `[out]`. */
  readonly bias?: tf.Tensor1D;
  /** Added after the bias, `[batch, seq, out]` (only without an activation): a residual stream. */
  readonly residual?: tf.Tensor3D;
  /** Applied to `x · w + bias` (default `"none"`). */
  readonly activation?: Activation;
};

/**
 * A dense layer, `act(x · w + bias) + residual`, for `x` `[batch, seq, in]`
 * and `w` `[in, out]`: one kernel ({@linkcode LINEAR_KERNEL}) where the
 * backend has it (the product on the BLAS, bias and residual folded into it,
 * the activation on the product's output), else tfjs ops.
 *
 * @throws RangeError for a residual with an activation
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { dense } from "./transformer.ts";
 * // (1, 2) · [[1, 0, 1], [0, 1, 1]] + (0, 0, 10) + (5, 5, 5) = (6, 7, 18)
 * const y = dense(tf.tensor3d([[[1, 2]]]), tf.tensor2d([[1, 0, 1], [0, 1, 1]]), {
 *   bias: tf.tensor1d([0, 0, 10]),
 *   residual: tf.tensor3d([[[5, 5, 5]]]),
 * });
 * assert.deepEqual(Array.from(y.dataSync()), [6, 7, 18]);
 * ```
 */
export function dense(x: tf.Tensor3D, w: tf.Tensor2D, options: DenseOptions = {}): tf.Tensor3D {
  const activation = options.activation ?? "none";
  if (options.residual !== undefined && activation !== "none") {
    throw new RangeError(
      `dense: a residual expected activation "none", received ${JSON.stringify(activation)}`,
    );
  }
  if (hasKernel(LINEAR_KERNEL)) {
    const inputs = present({ x, w, bias: options.bias, residual: options.residual });
    return runKernel(LINEAR_KERNEL, inputs, { activation })[0] as tf.Tensor3D;
  }
  return tidy(() => {
    const [b, s, n] = x.shape;
    let y: tf.Tensor = tf.matMul(tf.reshape(x, [b * s, n]), w);
    if (options.bias !== undefined) y = tf.add(y, options.bias);
    const out = tf.reshape(activate(y, activation), [b, s, w.shape[1]]) as tf.Tensor3D;
    return options.residual === undefined ? out : tf.add(options.residual, out);
  });
}

/** Options of {@linkcode normalize}. */
export type NormalizeOptions = {
  /** ε under the square root. */
  readonly eps: number;
  /** LayerNorm's bias `[n]` (none for RMSNorm). */
  readonly bias?: tf.Tensor1D;
  /** RMSNorm (no centring) rather than LayerNorm. */
  readonly rms?: boolean;
};

/**
 * LayerNorm, `(x − mean) / √(var + ε) ⊙ gain + bias` with the population
 * variance, or RMSNorm (`rms`), `x / √(mean(x²) + ε) ⊙ gain`, over the last
 * axis: one kernel ({@linkcode NORM_KERNEL}) where the backend has it, else
 * tfjs ops.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { normalize } from "./transformer.ts";
 * // (3, 4): mean square 12.5 → (3, 4)/√12.5 · (1, 2) = (0.848528, 2.262742)
 * const y = normalize(tf.tensor2d([[3, 4]]), tf.tensor1d([1, 2]), { eps: 0, rms: true }).dataSync();
 * assert.ok(Math.abs(y[0] - 0.848528) < 1e-5 && Math.abs(y[1] - 2.262742) < 1e-5);
 * ```
 */
export function normalize<T extends tf.Tensor>(x: T, gain: tf.Tensor1D, options: NormalizeOptions): T {
  const rms = options.rms === true;
  if (rms && options.bias !== undefined) throw new RangeError("normalize: RMSNorm expected no bias");
  if (hasKernel(NORM_KERNEL)) {
    return runKernel(NORM_KERNEL, present({ x, gain, bias: options.bias }), {
      eps: options.eps,
      rms,
    })[0] as T;
  }
  return tidy(() => {
    if (rms) {
      const meanSquare = tf.mean(tf.square(x), -1, true);
      return tf.mul(tf.mul(x, tf.rsqrt(tf.add(meanSquare, options.eps))), gain) as T;
    }
    const centred = tf.sub(x, tf.mean(x, -1, true));
    const variance = tf.mean(tf.square(centred), -1, true);
    const scaled = tf.mul(tf.mul(centred, tf.rsqrt(tf.add(variance, options.eps))), gain);
    return (options.bias === undefined ? scaled : tf.add(scaled, options.bias)) as T;
  });
}

/**
 * The SwiGLU hidden layer `silu(x · wGate) ⊙ (x · wUp)`, `[batch, seq, out]`:
 * one kernel ({@linkcode SWIGLU_KERNEL}) where the backend has it, else tfjs
 * ops.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { swiglu } from "./transformer.ts";
 * // x = (1, 1): gate 2, up 3 → silu(2)·3 = 1.761594·3 = 5.284782
 * const y = swiglu(tf.tensor3d([[[1, 1]]]), tf.tensor2d([[1], [1]]), tf.tensor2d([[1], [2]]));
 * assert.ok(Math.abs(y.dataSync()[0] - 5.284782) < 1e-5);
 * ```
 */
export function swiglu(x: tf.Tensor3D, wGate: tf.Tensor2D, wUp: tf.Tensor2D): tf.Tensor3D {
  if (hasKernel(SWIGLU_KERNEL)) return runKernel(SWIGLU_KERNEL, { x, wGate, wUp })[0] as tf.Tensor3D;
  return tidy(() => {
    const gate = dense(x, wGate);
    return tf.mul(tf.mul(gate, tf.sigmoid(gate)), dense(x, wUp));
  });
}

/**
 * Token embeddings `[batch, seq, d]`: rows of `table` `[vocab, d]`, plus row
 * `t` of `positions` `[≥ seq, d]` at position `t` when given (GPT-2's learned
 * positions): one kernel ({@linkcode EMBED_KERNEL}) where the backend has it,
 * else tfjs ops.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { embedTokens } from "./transformer.ts";
 * const table = tf.tensor2d([[1, 1], [2, 2], [3, 3]]);
 * const positions = tf.tensor2d([[10, 20], [30, 40]]);
 * const e = embedTokens(table, tf.tensor2d([[2, 0]], [1, 2], "int32"), positions);
 * assert.deepEqual(Array.from(e.dataSync()), [13, 23, 31, 41]);
 * ```
 */
export function embedTokens(table: tf.Tensor2D, ids: tf.Tensor2D, positions?: tf.Tensor2D): tf.Tensor3D {
  if (hasKernel(EMBED_KERNEL)) {
    return runKernel(EMBED_KERNEL, present({ table, ids, positions }))[0] as tf.Tensor3D;
  }
  return tidy(() => {
    const gathered = tf.gather(table, ids) as unknown as tf.Tensor3D;
    if (positions === undefined) return gathered;
    return tf.add(gathered, tf.slice(positions, [0, 0], [ids.shape[1], table.shape[1]]));
  });
}

/** Options of {@linkcode causalSelfAttention}. */
export type SelfAttentionOptions = {
  readonly nHeads: number;
  /** Key/value heads, dividing `nHeads`: query head `h` reads `⌊h / (nHeads/nKvHeads)⌋`. */
  readonly nKvHeads: number;
  readonly dHead: number;
  /** The leading dimensions of each query and key head that are rotated (even; default 0, none). */
  readonly rotaryDims?: number;
  /** How rotated dimensions pair up (default `"half"`: `i` with `i + rotaryDims/2`). */
  readonly rotaryStyle?: RotaryStyle;
  /** Cosines of the rotary angles of positions `0..seq−1`, `[seq, rotaryDims/2]`. */
  readonly cos?: tf.Tensor2D;
  /** Sines of the same angles, `[seq, rotaryDims/2]`. */
  readonly sin?: tf.Tensor2D;
};

/** Rotates the first `2·half` dimensions of each head of `x` `[b, s, h, dHead]`; the rest pass through. */
function rotateLeading(
  x: tf.Tensor4D,
  cos: tf.Tensor2D,
  sin: tf.Tensor2D,
  style: RotaryStyle,
): tf.Tensor4D {
  const [b, s, h, dHead] = x.shape;
  const half = cos.shape[1];
  const c = tf.reshape(cos, [s, 1, half]) as tf.Tensor3D, sn = tf.reshape(sin, [s, 1, half]) as tf.Tensor3D;
  const rot = 2 * half;
  const head = rot === dHead ? x : tf.slice(x, [0, 0, 0, 0], [b, s, h, rot]) as tf.Tensor4D;
  const rotated = rotate(head, c, sn, style);
  return rot === dHead
    ? rotated
    : tf.concat([rotated, tf.slice(x, [0, 0, 0, rot], [b, s, h, dHead - rot])], 3);
}

/**
 * Causal multi-head self-attention of projected queries, keys and values
 * (head `h` owning columns `h·dHead ..`), with rotary embeddings on the
 * leading `rotaryDims` of each query and key head and grouped-query
 * attention: `softmax(q kᵀ/√dHead + mask) · v` `[batch, seq, nHeads·dHead]`,
 * position `i` seeing positions `0..i`. One kernel
 * ({@linkcode CAUSAL_ATTENTION_KERNEL}) where the backend has it (products on
 * the BLAS reading the heads in place, only the keys each block of queries
 * sees), else tfjs ops.
 *
 * @param q `[batch, seq, nHeads·dHead]`
 * @param k `[batch, seq, nKvHeads·dHead]`
 * @param v `[batch, seq, nKvHeads·dHead]`
 *
 * @example Zero queries: each position averages the values it can see
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { causalSelfAttention } from "./transformer.ts";
 * const q = tf.zeros([1, 3, 2]) as tf.Tensor3D; // two heads of width 1
 * const v = tf.tensor3d([[[2, 0], [4, 3], [6, 9]]]);
 * const z = causalSelfAttention(q, q, v, { nHeads: 2, nKvHeads: 2, dHead: 1 });
 * // head 0: 2, (2+4)/2, (2+4+6)/3; head 1: 0, 1.5, 4
 * assert.deepEqual(Array.from(z.dataSync()), [2, 0, 3, 1.5, 4, 4]);
 * ```
 */
export function causalSelfAttention(
  q: tf.Tensor3D,
  k: tf.Tensor3D,
  v: tf.Tensor3D,
  options: SelfAttentionOptions,
): tf.Tensor3D {
  const { nHeads, nKvHeads, dHead } = options;
  const rotaryDims = options.rotaryDims ?? 0;
  const rotaryStyle = options.rotaryStyle ?? "half";
  if (rotaryDims > 0 && (options.cos === undefined || options.sin === undefined)) {
    throw new TypeError(
      `causalSelfAttention: rotaryDims ${rotaryDims} expected cos and sin tables, received none`,
    );
  }
  if (hasKernel(CAUSAL_ATTENTION_KERNEL)) {
    const tables = rotaryDims > 0 ? { cos: options.cos, sin: options.sin } : {};
    return runKernel(CAUSAL_ATTENTION_KERNEL, present({ q, k, v, ...tables }), {
      nHeads,
      nKvHeads,
      dHead,
      rotaryDims,
      rotaryStyle,
    })[0] as tf.Tensor3D;
  }
  return tidy(() => {
    const [b, s] = q.shape;
    const group = nHeads / nKvHeads;
    const heads = (t: tf.Tensor3D, n: number) => tf.reshape(t, [b, s, n, dHead]) as tf.Tensor4D;
    const turn = (t: tf.Tensor4D) =>
      rotaryDims > 0 ? rotateLeading(t, options.cos!, options.sin!, rotaryStyle) : t;
    const qh = turn(heads(q, nHeads)), kh = turn(heads(k, nKvHeads));
    // Queries grouped under their key/value head: [batch·kvHeads, group·seq, dHead], scaled.
    const qGrouped = tf.reshape(tf.transpose(tf.mul(qh, 1 / Math.sqrt(dHead)), [0, 2, 1, 3]), [
      b * nKvHeads,
      group * s,
      dHead,
    ]);
    const kT = tf.reshape(tf.transpose(kh, [0, 2, 3, 1]), [b * nKvHeads, dHead, s]);
    let scores = tf.reshape(tf.matMul(qGrouped, kT), [b * nKvHeads, group, s, s]);
    if (s > 1) scores = tf.add(scores, causalMask(0, s));
    const probs = tf.reshape(tf.softmax(scores), [b * nKvHeads, group * s, s]);
    const vh = tf.reshape(tf.transpose(heads(v, nKvHeads), [0, 2, 1, 3]), [b * nKvHeads, s, dHead]);
    const mixed = tf.matMul(probs, vh);
    return tf.reshape(
      tf.transpose(tf.reshape(mixed, [b, nHeads, s, dHead]), [0, 2, 1, 3]),
      [b, s, nHeads * dHead],
    ) as tf.Tensor3D;
  });
}

/**
 * Whether a hook point is captured or replaced: when neither, a forward pass
 * may fuse the computation around it (a residual add into a product).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isHooked } from "./transformer.ts";
 * assert.equal(isHooked({ capture: ["blocks.0.hook_attn_out"] }, "blocks.0.hook_attn_out"), true);
 * assert.equal(isHooked({ replace: { "blocks.1.hook_mlp_out": (x) => x } }, "blocks.0.hook_mlp_out"), false);
 * ```
 */
export function isHooked(options: LlamaForwardOptions, name: string): boolean {
  return (options.capture?.includes(name) ?? false) || options.replace?.[name] !== undefined;
}

function rmsNorm(x: tf.Tensor3D, gain: tf.Tensor1D, eps: number): tf.Tensor3D {
  return normalize(x, gain, { eps, rms: true });
}

/** `x · w` for `x` `[batch, seq, in]` and `w` `[in, out]`. */
function linear(x: tf.Tensor3D, w: tf.Tensor2D): tf.Tensor3D {
  return dense(x, w);
}

/**
 * Additive causal mask `[seq, past+seq]`: query `i` (position `past+i`) sees
 * keys `0 .. past+i`.
 */
function causalMask(past: number, seq: number): tf.Tensor2D {
  const total = past + seq;
  const mask = new Float32Array(seq * total);
  for (let i = 0; i < seq; i++) mask.fill(-Infinity, i * total + past + i + 1, (i + 1) * total);
  return tf.tensor2d(mask, [seq, total]);
}

type AttentionContext = {
  readonly config: LlamaConfig;
  readonly cos: tf.Tensor3D;
  readonly sin: tf.Tensor3D;
  readonly mask: tf.Tensor2D | undefined;
  /** Whether the fused attention kernel runs (no cache to read or keep, and the backend has it). */
  readonly fused: boolean;
};

/**
 * Grouped-query causal self-attention of the new positions `x`
 * `[batch, seq, dModel]` (already normalised) over the cached and new keys,
 * before the output projection (`z` `[batch, seq, nHeads·dHead]`). Query head
 * `h` reads key/value head `⌊h / (nHeads/nKvHeads)⌋`. The fused kernel keeps
 * no keys or values (`keys`, `values` undefined).
 */
function attention(
  x: tf.Tensor3D,
  w: LlamaBlockWeights,
  ctx: AttentionContext,
  pastKeys: tf.Tensor4D | undefined,
  pastValues: tf.Tensor4D | undefined,
): { z: tf.Tensor3D; keys?: tf.Tensor4D; values?: tf.Tensor4D } {
  const { nHeads, nKvHeads, dHead, rotary } = ctx.config;
  const [b, s] = x.shape;
  if (ctx.fused) {
    const table = (t: tf.Tensor3D) => tf.reshape(t, [s, dHead / 2]) as tf.Tensor2D;
    const z = causalSelfAttention(linear(x, w.wQ), linear(x, w.wK), linear(x, w.wV), {
      nHeads,
      nKvHeads,
      dHead,
      rotaryDims: dHead,
      rotaryStyle: rotary,
      cos: table(ctx.cos),
      sin: table(ctx.sin),
    });
    return { z };
  }
  const group = nHeads / nKvHeads;
  const q = rotate(tf.reshape(linear(x, w.wQ), [b, s, nHeads, dHead]), ctx.cos, ctx.sin, rotary);
  const kNew = rotate(tf.reshape(linear(x, w.wK), [b, s, nKvHeads, dHead]), ctx.cos, ctx.sin, rotary);
  const vNew = tf.reshape(linear(x, w.wV), [b, s, nKvHeads, dHead]);
  // [batch, kvHeads, seq, dHead]
  const kHeads = tf.transpose(kNew, [0, 2, 1, 3]);
  const vHeads = tf.transpose(vNew, [0, 2, 1, 3]);
  const keys = (pastKeys === undefined ? kHeads : tf.concat([pastKeys, kHeads], 2)) as tf.Tensor4D;
  const values = (pastValues === undefined ? vHeads : tf.concat([pastValues, vHeads], 2)) as tf.Tensor4D;
  const total = keys.shape[2];
  // Queries grouped under their key/value head: [batch·kvHeads, group·seq, dHead].
  // Scale the queries rather than the scores: the same result on far fewer values.
  const qGrouped = tf.reshape(tf.transpose(tf.mul(q, 1 / Math.sqrt(dHead)), [0, 2, 1, 3]), [
    b * nKvHeads,
    group * s,
    dHead,
  ]);
  const kT = tf.reshape(tf.transpose(keys, [0, 1, 3, 2]), [b * nKvHeads, dHead, total]);
  let scores = tf.matMul(qGrouped, kT).reshape([b * nKvHeads, group, s, total]);
  if (ctx.mask !== undefined) scores = tf.add(scores, ctx.mask);
  const probs = tf.reshape(tf.softmax(scores), [b * nKvHeads, group * s, total]);
  const mixed = tf.matMul(probs, tf.reshape(values, [b * nKvHeads, total, dHead]));
  // [batch, kvHeads, group, seq, dHead] → [batch, seq, heads·dHead], head = kvHead·group + g
  const z: tf.Tensor3D = tf.reshape(
    tf.transpose(tf.reshape(mixed, [b, nKvHeads * group, s, dHead]), [0, 2, 1, 3]),
    [b, s, nHeads * dHead],
  );
  return { z, keys, values };
}

/**
 * Tokens as an int32 tensor `[batch, seq]`, checking nested arrays (equal
 * lengths, ids in `[0, vocabSize)`) and tensors (rank 2, int32).
 *
 * @throws RangeError or TypeError naming the offending row or id
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tokenTensor } from "./transformer.ts";
 * assert.equal(tokenTensor([[1, 2], [3, 4]], 5).dtype, "int32");
 * assert.throws(() => tokenTensor([[1, 2], [3]], 5), {
 *   message: "tokens[1]: expected 2 tokens (as tokens[0]), received 1",
 * });
 * ```
 */
export function tokenTensor(tokens: TokenInput, vocabSize: number): tf.Tensor2D {
  if (tokens instanceof tf.Tensor) {
    if (tokens.rank !== 2) {
      throw new RangeError(
        `tokens: expected rank 2 [batch, seq], received shape [${tokens.shape.join(", ")}]`,
      );
    }
    if (tokens.dtype !== "int32") {
      throw new TypeError(`tokens: expected dtype int32, received ${tokens.dtype}`);
    }
    return tokens;
  }
  if (!Array.isArray(tokens) || tokens.length === 0 || !Array.isArray(tokens[0])) {
    throw new TypeError(`tokens: expected an int32 tensor or a non-empty array of arrays [batch, seq]`);
  }
  const seq = tokens[0].length;
  tokens.forEach((row, i) => {
    if (row.length !== seq) {
      throw new RangeError(`tokens[${i}]: expected ${seq} tokens (as tokens[0]), received ${row.length}`);
    }
    row.forEach((id: number, j: number) => {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
        throw new RangeError(
          `tokens[${i}][${j}]: expected an integer in [0, ${vocabSize - 1}], received ${id}`,
        );
      }
    });
  });
  return tf.tensor2d(tokens as number[][], [tokens.length, seq], "int32");
}

function checkHooks(config: LlamaConfig, options: LlamaForwardOptions, lastLayer: number, stopped: boolean) {
  const names: [string, string][] = [
    ...(options.capture ?? []).map((n): [string, string] => [n, "capture"]),
    ...Object.keys(options.replace ?? {}).map((n): [string, string] => [n, "replace"]),
  ];
  for (const [name, field] of names) {
    const { layer, point } = parseHook(config, name, field);
    const reached = layer < lastLayer || (stopped && layer === lastLayer && point === "hook_resid_pre") ||
      (!stopped && layer === config.nLayers);
    if (!reached) {
      throw new RangeError(
        `${field}: hook ${name} is not reached with stopAtLayer ${lastLayer}; expected a hook of blocks 0..${
          lastLayer - 1
        }, hook_embed or blocks.${lastLayer}.hook_resid_pre`,
      );
    }
  }
}

function checkCache(config: LlamaConfig, cache: LlamaKvCache, batch: number): void {
  if (cache.keys.length !== config.nLayers || cache.values.length !== config.nLayers) {
    throw new RangeError(
      `cache: expected keys and values for ${config.nLayers} layers, received ${cache.keys.length} and ${cache.values.length}`,
    );
  }
  const shape = [batch, config.nKvHeads, cache.length, config.dHead];
  cache.keys.forEach((k, l) => expectShape(`cache.keys[${l}]`, k, shape));
  cache.values.forEach((v, l) => expectShape(`cache.values[${l}]`, v, shape));
}

type RunResult = { logits?: tf.Tensor3D; activations: Record<string, tf.Tensor3D>; cache: LlamaKvCache };

function run(
  weights: LlamaWeights,
  config: LlamaConfig,
  tokenInput: TokenInput,
  cache: LlamaKvCache | undefined,
  options: LlamaForwardOptions,
  keepCache: boolean,
): RunResult {
  checkLlamaWeights(weights, config);
  const stop = options.stopAtLayer;
  if (stop !== undefined && (!Number.isInteger(stop) || stop < 0 || stop > config.nLayers)) {
    throw new RangeError(`stopAtLayer: expected an integer in [0, ${config.nLayers}], received ${stop}`);
  }
  const lastLayer = stop ?? config.nLayers;
  checkHooks(config, options, lastLayer, stop !== undefined);
  const capture = new Set(options.capture ?? []);
  const replace = options.replace ?? {};
  return tidy(() => {
    const tokens = tokenTensor(tokenInput, config.vocabSize);
    const [batch, seq] = tokens.shape;
    const past = cache?.length ?? 0;
    if (seq < 1 || past + seq > config.maxSeq) {
      throw new RangeError(
        `tokens: expected 1 to ${
          config.maxSeq - past
        } positions (maxSeq ${config.maxSeq}, ${past} cached), received ${seq}`,
      );
    }
    if (cache !== undefined) checkCache(config, cache, batch);
    const activations: Record<string, tf.Tensor3D> = {};
    const hook = (name: string, value: tf.Tensor3D): tf.Tensor3D => {
      let out = value;
      const fn = replace[name];
      if (fn !== undefined) {
        out = fn(value);
        if (!(out instanceof tf.Tensor) || out.shape.some((n, i) => n !== value.shape[i]) || out.rank !== 3) {
          throw new RangeError(
            `replace[${JSON.stringify(name)}]: expected a tensor of shape [${
              value.shape.join(", ")
            }], received ${out instanceof tf.Tensor ? `shape [${out.shape.join(", ")}]` : String(out)}`,
          );
        }
      }
      // Kept: each block's tensors are freed when the block ends; the captures outlive it.
      if (capture.has(name)) activations[name] = tf.keep(out.clone());
      return out;
    };
    const [cos, sin] = rotaryTables(config, past, seq);
    const fused = cache === undefined && !keepCache && hasKernel(CAUSAL_ATTENTION_KERNEL);
    const ctx: AttentionContext = {
      config,
      cos,
      sin,
      mask: seq > 1 && !fused ? causalMask(past, seq) : undefined,
      fused,
    };
    const keys: tf.Tensor4D[] = [];
    const values: tf.Tensor4D[] = [];
    // Where a hook point between a product and a residual add is neither captured nor replaced, the
    // residual stream is added inside the product (one pass fewer); the values are the same.
    const free = (name: string) => !isHooked(options, name);
    let resid = hook("hook_embed", embedTokens(weights.embed, tokens));
    for (let l = 0; l < lastLayer; l++) {
      // Each block in its own scope: its intermediate tensors are freed (their buffers reused) as it ends.
      const input = resid;
      const block = tidy(() => {
        const w = weights.blocks[l];
        const at = `blocks.${l}.`;
        const resid = hook(`${at}hook_resid_pre`, input);
        const normed1 = hook(`${at}ln1.hook_normalized`, rmsNorm(resid, w.ln1, config.normEps));
        const attn = attention(normed1, w, ctx, cache?.keys[l], cache?.values[l]);
        const mid = hook(
          `${at}hook_resid_mid`,
          free(`${at}hook_attn_out`)
            ? dense(attn.z, w.wO, { residual: resid })
            : tf.add(resid, hook(`${at}hook_attn_out`, dense(attn.z, w.wO))),
        );
        const normed2 = hook(`${at}ln2.hook_normalized`, rmsNorm(mid, w.ln2, config.normEps));
        const post = hook(`${at}mlp.hook_post`, swiglu(normed2, w.wGate, w.wUp));
        const out = hook(
          `${at}hook_resid_post`,
          free(`${at}hook_mlp_out`)
            ? dense(post, w.wDown, { residual: mid })
            : tf.add(mid, hook(`${at}hook_mlp_out`, dense(post, w.wDown))),
        );
        return { resid: out, keys: attn.keys, values: attn.values };
      });
      resid = block.resid;
      if (block.keys !== undefined && block.values !== undefined) {
        keys.push(block.keys);
        values.push(block.values);
      }
    }
    const newCache: LlamaKvCache = { length: past + seq, keys, values };
    if (stop !== undefined) {
      if (stop < config.nLayers) hook(`blocks.${stop}.hook_resid_pre`, resid);
      return { activations, cache: newCache };
    }
    const normed = hook("ln_final.hook_normalized", rmsNorm(resid, weights.lnFinal, config.normEps));
    return { logits: linear(normed, weights.unembed), activations, cache: newCache };
  });
}

/**
 * The forward pass over whole sequences, batched, with hook points.
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
 * import { initLlamaWeights, llamaForward } from "./transformer.ts";
 * const config = {
 *   dModel: 8, nLayers: 2, nHeads: 2, nKvHeads: 1, dHead: 4, dMlp: 16, vocabSize: 10,
 *   maxSeq: 16, normEps: 1e-5, ropeTheta: 10000, rotary: "half", tiedEmbeddings: false,
 * } as const;
 * const weights = initLlamaWeights(config, 0);
 * const { logits } = llamaForward(weights, config, [[1, 2, 3]]);
 * assert.equal(logits?.shape.join(), "1,3,10");
 * const { activations } = llamaForward(weights, config, [[1, 2, 3]], {
 *   capture: ["blocks.0.hook_resid_post"],
 *   stopAtLayer: 1,
 * });
 * assert.equal(activations["blocks.0.hook_resid_post"].shape.join(), "1,3,8");
 * ```
 *
 * @example Zero-ablate the MLP of block 1
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { initLlamaWeights, llamaForward } from "./transformer.ts";
 * const config = {
 *   dModel: 8, nLayers: 2, nHeads: 2, nKvHeads: 2, dHead: 4, dMlp: 16, vocabSize: 10,
 *   maxSeq: 16, normEps: 1e-5, ropeTheta: 10000, rotary: "interleaved", tiedEmbeddings: true,
 * } as const;
 * const weights = initLlamaWeights(config, 1);
 * const { activations } = llamaForward(weights, config, [[4, 5]], {
 *   replace: { "blocks.1.hook_mlp_out": (x) => tf.zerosLike(x) },
 *   capture: ["blocks.1.hook_resid_mid", "blocks.1.hook_resid_post"],
 * });
 * const same = tf.equal(activations["blocks.1.hook_resid_mid"], activations["blocks.1.hook_resid_post"]);
 * assert.equal(same.all().dataSync()[0], 1);
 * ```
 */
export function llamaForward(
  weights: LlamaWeights,
  config: LlamaConfig,
  tokens: TokenInput,
  options: LlamaForwardOptions = {},
): LlamaForwardResult {
  const result = run(weights, config, tokens, undefined, options, false);
  tf.dispose(result.cache as unknown as tf.TensorContainer);
  return result.logits === undefined
    ? { activations: result.activations }
    : { logits: result.logits, activations: result.activations };
}

/**
 * The forward pass of new positions after those held in a key/value cache:
 * positions `cache.length ..` attend to the cached ones and causally to each
 * other. Gives the same logits as {@linkcode llamaForward} on the whole
 * sequence; used for incremental (greedy) decoding.
 *
 * @param tokens `[batch, seq]` new token ids; `cache.length + seq ≤ maxSeq`
 * @param cache what an earlier call returned, or `undefined` to start
 * @returns logits and captures of the new positions, and the extended cache
 *   (a new record; the old one stays valid and is the caller's to free)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { initLlamaWeights, llamaForwardWithCache } from "./transformer.ts";
 * const config = {
 *   dModel: 8, nLayers: 1, nHeads: 2, nKvHeads: 1, dHead: 4, dMlp: 16, vocabSize: 10,
 *   maxSeq: 16, normEps: 1e-5, ropeTheta: 10000, rotary: "half", tiedEmbeddings: false,
 * } as const;
 * const weights = initLlamaWeights(config, 0);
 * const first = llamaForwardWithCache(weights, config, [[1, 2]], undefined);
 * const next = llamaForwardWithCache(weights, config, [[3]], first.cache);
 * assert.equal(next.cache.length, 3);
 * assert.equal(next.logits.shape.join(), "1,1,10");
 * ```
 */
export function llamaForwardWithCache(
  weights: LlamaWeights,
  config: LlamaConfig,
  tokens: TokenInput,
  cache: LlamaKvCache | undefined,
  options: Omit<LlamaForwardOptions, "stopAtLayer"> = {},
): LlamaCachedResult {
  if ((options as LlamaForwardOptions).stopAtLayer !== undefined) {
    throw new RangeError("stopAtLayer: expected undefined with a key/value cache (every layer is cached)");
  }
  const { logits, activations, cache: next } = run(weights, config, tokens, cache, options, true);
  return { logits: logits!, activations, cache: next };
}
