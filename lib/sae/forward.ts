/**
 * The forward pass of an SAE, for every component at once. The original's:
 *
 * ```
 * x̄ = x − bDec          (x itself when the bias is not tied, as in transcoders)
 * f = ReLU(x̄ · wEnc + bEnc)
 * x̂ = f · wDec + bDec
 * ```
 *
 * and the activations of the newer architectures in place of the ReLU (each
 * defined by its architecture's record in `lib/sae/arch/`; see
 * {@linkcode SaeActivation}).
 *
 * @module
 */
import { tf, tidy } from "../tf.ts";
import type { SaeParams } from "./params.ts";
import { bmm } from "./linalg.ts";
import type { SaeActivation } from "./arch/record.ts";
import { activate } from "./arch/registry.ts";

export type { SaeActivation };
export { activationMask } from "./arch/registry.ts";

/** The original's activation. */
export const RELU: SaeActivation = { kind: "relu" };

/** The result of {@linkcode forward}. */
export type ForwardResult = {
  /** Pre-activations `x̄ · wEnc + bEnc` (the gate's, for gated SAEs), `[component, batch, dSae]`. */
  readonly pre: tf.Tensor3D;
  /** Learned feature activations `f`, `[component, batch, dSae]`. */
  readonly f: tf.Tensor3D;
  /**
   * Where `f` may be non-zero, `[component, batch, dSae]`: `∂f/∂pre` for ReLU, TopK and BatchTopK, the
   * straight-through part `∂f/∂pre` of JumpReLU, and for gated SAEs where both paths are open.
   */
  readonly mask: tf.Tensor3D;
  /** Reconstruction `x̂`, `[component, batch, dIn]`. */
  readonly xHat: tf.Tensor3D;
};

/** Options of {@linkcode forward} and {@linkcode encode}. */
export type ForwardOptions = {
  /**
   * Subtract `bDec` from the input before encoding (the original's tied bias; default `true`). Transcoders,
   * whose input and output live in different spaces, do not.
   */
  readonly tiedBias?: boolean;
};

function checkInput(params: SaeParams, x: tf.Tensor3D): void {
  const [c, n] = [params.wEnc.shape[0], params.wEnc.shape[1]];
  if (x.rank !== 3 || x.shape[0] !== c || x.shape[2] !== n) {
    throw new RangeError(
      `x: expected shape [${c}, batch, ${n}] ([component, batch, dIn]), received [${x.shape.join(", ")}]`,
    );
  }
}

/**
 * Learned activations `f = ReLU((x − bDec) · wEnc + bEnc)` (or TopK of it).
 *
 * @param x `[component, batch, dIn]`
 * @returns `[component, batch, dSae]`
 *
 * @example ReLU zeroes negative pre-activations
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { encode } from "./forward.ts";
 * const params = {
 *   wEnc: tf.tensor3d([[[1, -1]]]), bEnc: tf.tensor2d([[0, 0]]),
 *   wDec: tf.tensor3d([[[1], [1]]]), bDec: tf.tensor2d([[0]]),
 * };
 * const f = encode(params, tf.tensor3d([[[2]]]));
 * assert.equal(f.dataSync().join(), "2,0");
 * ```
 */
export function encode(
  params: SaeParams,
  x: tf.Tensor3D,
  activation: SaeActivation = RELU,
  options: ForwardOptions = {},
): tf.Tensor3D {
  checkInput(params, x);
  return tidy(() => encoded(params, x, activation, options).f);
}

/** `z = x̄ · wEnc`, `pre = z + bEnc`, and the activation's `f` and mask. */
function encoded(
  params: SaeParams,
  x: tf.Tensor3D,
  activation: SaeActivation,
  options: ForwardOptions,
): { pre: tf.Tensor3D; f: tf.Tensor3D; mask: tf.Tensor3D } {
  const xBar = options.tiedBias === false ? x : tf.sub(x, tf.expandDims(params.bDec, 1)) as tf.Tensor3D;
  const z = bmm(xBar, params.wEnc);
  const pre = tf.add(z, tf.expandDims(params.bEnc, 1)) as tf.Tensor3D;
  const { f, mask } = activate(params, z, pre, activation);
  return { pre, f, mask };
}

/**
 * Reconstruction `x̂ = f · wDec + bDec`.
 *
 * @param f `[component, batch, dSae]`
 * @returns `[component, batch, dIn]`
 */
export function decode(params: SaeParams, f: tf.Tensor3D): tf.Tensor3D {
  return tidy(() => tf.add(bmm(f, params.wDec), tf.expandDims(params.bDec, 1)));
}

/**
 * Encodes then decodes a batch.
 *
 * @param x `[component, batch, dIn]`
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { initParams } from "./params.ts";
 * import { forward } from "./forward.ts";
 * const params = initParams({ nComponents: 2, dIn: 3, dSae: 6, seed: 1 });
 * const { f, xHat } = forward(params, tf.ones([2, 5, 3]));
 * assert.equal(f.shape.join(), "2,5,6");
 * assert.equal(xHat.shape.join(), "2,5,3");
 * ```
 */
export function forward(
  params: SaeParams,
  x: tf.Tensor3D,
  activation: SaeActivation = RELU,
  options: ForwardOptions = {},
): ForwardResult {
  checkInput(params, x);
  return tidy(() => {
    const { pre, f, mask } = encoded(params, x, activation, options);
    return { pre, f, mask, xHat: decode(params, f) };
  });
}
