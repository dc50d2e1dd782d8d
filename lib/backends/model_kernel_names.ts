/**
 * The names of the fused kernels of the transformer forward pass, in one leaf
 * module (it imports nothing). The model code (`lib/models/`) asks
 * `hasKernel(name)` and runs the kernel where the active backend registered
 * one (`blas_model_kernels.ts` for `blas`), else the same maths as ordinary
 * tfjs ops, which stays the reference. Each kernel's contract (inputs,
 * attributes, output) is documented beside its name; every tensor is
 * float32 unless said otherwise, and `[..., n]` is any leading shape.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MODEL_KERNEL_NAMES } from "./model_kernel_names.ts";
 * assert.equal(new Set(MODEL_KERNEL_NAMES).size, MODEL_KERNEL_NAMES.length);
 * ```
 *
 * @module
 */

/**
 * `x · w + bias + residual`, then an activation: inputs `x [..., in]`,
 * `w [in, out]`, optional `bias [out]`, optional `residual [..., out]`;
 * attribute `activation`: `"none"` (default), `"gelu"` (exact,
 * `½x(1 + erf(x/√2))`), `"gelu_new"` (tanh approximation) or `"silu"`
 * (`x·σ(x)`), applied to `x · w + bias` (a residual comes only with
 * `"none"`); output `[..., out]`.
 */
export const LINEAR_KERNEL = "SaekitLinear";

/**
 * The SwiGLU hidden layer: inputs `x [..., in]`, `wGate [in, out]`,
 * `wUp [in, out]`; output `silu(x · wGate) ⊙ (x · wUp)` `[..., out]`.
 */
export const SWIGLU_KERNEL = "SaekitSwiglu";

/**
 * Normalisation over the last axis: inputs `x [..., n]`, `gain [n]`,
 * optional `bias [n]`; attributes `eps` and `rms`. LayerNorm (`rms` false):
 * `(x − mean) / √(var + eps) ⊙ gain + bias` with the population variance;
 * RMSNorm (`rms` true, no bias): `x / √(mean(x²) + eps) ⊙ gain`.
 */
export const NORM_KERNEL = "SaekitNorm";

/**
 * Causal multi-head self-attention of projected heads: inputs
 * `q [batch, seq, nHeads·dHead]`, `k` and `v [batch, seq, nKvHeads·dHead]`
 * (head `h` owns columns `h·dHead ..`), and, when `rotaryDims > 0`,
 * `cos` and `sin [seq, rotaryDims/2]` (the rotary angles of positions
 * `0..seq−1`); attributes `nHeads`, `nKvHeads` (dividing `nHeads`; query
 * head `h` reads key/value head `⌊h / (nHeads/nKvHeads)⌋`), `dHead`,
 * `rotaryDims` (even, at most `dHead`: the leading dimensions of each query
 * and key head that are rotated) and `rotaryStyle` (`"half"` pairs `i` with
 * `i + rotaryDims/2`, `"interleaved"` pairs `2i` with `2i+1`). A pair
 * `(x₁, x₂)` at angle `θ` becomes `(x₁cos θ − x₂sin θ, x₂cos θ + x₁sin θ)`.
 * Output `softmax(q kᵀ/√dHead + causal mask) · v` `[batch, seq, nHeads·dHead]`,
 * position `i` seeing positions `0..i`.
 */
export const CAUSAL_ATTENTION_KERNEL = "SaekitCausalAttention";

/**
 * Token embedding: inputs `table [vocab, d]`, `ids [batch, seq]` (int32, in
 * `[0, vocab)`), optional `positions [maxSeq, d]` (learned positional
 * embeddings, row `t` added at position `t`); output `[batch, seq, d]`.
 */
export const EMBED_KERNEL = "SaekitEmbed";

/** Every kernel name of this module. */
export const MODEL_KERNEL_NAMES: readonly string[] = [
  LINEAR_KERNEL,
  SWIGLU_KERNEL,
  NORM_KERNEL,
  CAUSAL_ATTENTION_KERNEL,
  EMBED_KERNEL,
];
