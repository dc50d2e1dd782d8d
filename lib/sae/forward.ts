/**
 * The forward pass of the original's SAE, for every component at once:
 *
 * ```
 * x̄ = x − bDec
 * f = ReLU(x̄ · wEnc + bEnc)
 * x̂ = f · wDec + bDec
 * ```
 *
 * @module
 */
import { tf, tidy } from "../tf.ts";
import type { SaeParams } from "./params.ts";
import { bmm } from "./linalg.ts";

/**
 * The activation function of the encoder: the original's ReLU, or TopK
 * (Gao et al., 2024): of the ReLU'd pre-activations, only the `k` largest of
 * each item are kept. (Ties at the k-th value keep every tied feature.)
 */
export type SaeActivation = { readonly kind: "relu" } | { readonly kind: "topk"; readonly k: number };

/** The original's activation. */
export const RELU: SaeActivation = { kind: "relu" };

/**
 * Where the encoder's output is non-zero: `[pre > 0]` for ReLU, and for TopK
 * additionally `pre ≥` the item's k-th largest pre-activation.
 *
 * @param pre `[component, batch, dSae]`
 * @returns `[component, batch, dSae]` of 0 and 1
 *
 * @example TopK with k = 2 keeps the two largest positive values
 * ```ts
 * import { tf } from "../tf.ts";
 * import { activationMask } from "./forward.ts";
 * const mask = activationMask(tf.tensor3d([[[3, -1, 2, 1]]]), { kind: "topk", k: 2 });
 * console.assert(mask.dataSync().join() === "1,0,1,0");
 * ```
 */
export function activationMask(pre: tf.Tensor3D, activation: SaeActivation): tf.Tensor3D {
  return tidy(() => {
    const positive = tf.step(pre, 0) as tf.Tensor3D;
    if (activation.kind === "relu") return positive;
    const m = pre.shape[2];
    if (!Number.isInteger(activation.k) || activation.k < 1 || activation.k > m) {
      throw new RangeError(`k: expected an integer in [1, ${m}] (dSae), received ${activation.k}`);
    }
    const kth = tf.min(tf.topk(pre, activation.k).values, -1, true);
    return tf.mul(positive, tf.cast(tf.greaterEqual(pre, kth), "float32")) as tf.Tensor3D;
  });
}

/** The result of {@linkcode forward}. */
export type ForwardResult = {
  /** Pre-activations `[component, batch, dSae]`. */
  readonly pre: tf.Tensor3D;
  /** Learned feature activations `f`, `[component, batch, dSae]`. */
  readonly f: tf.Tensor3D;
  /** Where `f` may be non-zero (the activation's derivative), `[component, batch, dSae]`. */
  readonly mask: tf.Tensor3D;
  /** Reconstruction `x̂`, `[component, batch, dIn]`. */
  readonly xHat: tf.Tensor3D;
};

function checkInput(params: SaeParams, x: tf.Tensor3D): void {
  const [c, n] = params.bDec.shape;
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
 * import { tf } from "../tf.ts";
 * import { encode } from "./forward.ts";
 * const params = {
 *   wEnc: tf.tensor3d([[[1, -1]]]), bEnc: tf.tensor2d([[0, 0]]),
 *   wDec: tf.tensor3d([[[1], [1]]]), bDec: tf.tensor2d([[0]]),
 * };
 * const f = encode(params, tf.tensor3d([[[2]]]));
 * console.assert(f.dataSync().join() === "2,0");
 * ```
 */
export function encode(params: SaeParams, x: tf.Tensor3D, activation: SaeActivation = RELU): tf.Tensor3D {
  checkInput(params, x);
  return tidy(() => {
    const pre = preActivations(params, x);
    return activation.kind === "relu" ? tf.relu(pre) : tf.mul(pre, activationMask(pre, activation));
  });
}

function preActivations(params: SaeParams, x: tf.Tensor3D): tf.Tensor3D {
  const xBar = tf.sub(x, tf.expandDims(params.bDec, 1)) as tf.Tensor3D;
  return tf.add(bmm(xBar, params.wEnc), tf.expandDims(params.bEnc, 1));
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
 * import { tf } from "../tf.ts";
 * import { initParams } from "./params.ts";
 * import { forward } from "./forward.ts";
 * const params = initParams({ nComponents: 2, dIn: 3, dSae: 6, seed: 1 });
 * const { f, xHat } = forward(params, tf.ones([2, 5, 3]));
 * console.assert(f.shape.join() === "2,5,6" && xHat.shape.join() === "2,5,3");
 * ```
 */
export function forward(params: SaeParams, x: tf.Tensor3D, activation: SaeActivation = RELU): ForwardResult {
  checkInput(params, x);
  return tidy(() => {
    const pre = preActivations(params, x);
    const mask = activationMask(pre, activation);
    const f = activation.kind === "relu" ? tf.relu(pre) : tf.mul(pre, mask) as tf.Tensor3D;
    const xHat = decode(params, f);
    return { pre, f, mask, xHat };
  });
}
