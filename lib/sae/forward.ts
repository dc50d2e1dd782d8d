/**
 * The forward pass of an SAE, for every component at once. The original's:
 *
 * ```
 * x̄ = x − bDec          (x itself when the bias is not tied, as in transcoders)
 * f = ReLU(x̄ · wEnc + bEnc)
 * x̂ = f · wDec + bDec
 * ```
 *
 * and the activations of the newer architectures in place of the ReLU.
 *
 * @module
 */
import { tf, tidy } from "../tf.ts";
import { requireParam, type SaeParams } from "./params.ts";
import { bmm } from "./linalg.ts";

/**
 * The activation function of the encoder, with `pre = x̄ · wEnc + bEnc`:
 *
 * - `relu`: the original's `ReLU(pre)`;
 * - `topk` (Gao et al., 2024): of the positive pre-activations, only the `k` largest of each item are
 *   kept;
 * - `batchtopk` (Bussmann et al., 2024): the `k · batch` largest positive pre-activations of the whole
 *   batch (per component) are kept, so items share a budget of `k` on average;
 * - `jumprelu` (Rajamanoharan et al., 2024): `pre · [pre > θ]` with the parameter `threshold` θ (also how
 *   a BatchTopK SAE encodes at inference, with its learned threshold);
 * - `gated` (Rajamanoharan et al., 2024): `[x̄·wEnc + bEnc > 0] · ReLU((x̄·wEnc) ⊙ exp(rMag) + bMag)`.
 *
 * For TopK and BatchTopK, ties at the k-th value keep every tied feature.
 */
export type SaeActivation =
  | { readonly kind: "relu" }
  | { readonly kind: "topk"; readonly k: number }
  | { readonly kind: "batchtopk"; readonly k: number }
  | { readonly kind: "jumprelu" }
  | { readonly kind: "gated" };

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
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { activationMask } from "./forward.ts";
 * const mask = activationMask(tf.tensor3d([[[3, -1, 2, 1]]]), { kind: "topk", k: 2 });
 * assert.equal(mask.dataSync().join(), "1,0,1,0");
 * ```
 */
export function activationMask(
  pre: tf.Tensor3D,
  activation: SaeActivation,
  threshold?: tf.Tensor2D,
): tf.Tensor3D {
  return tidy(() => {
    const positive = tf.step(pre, 0) as tf.Tensor3D;
    switch (activation.kind) {
      case "relu":
        return positive;
      case "jumprelu": {
        if (threshold === undefined) {
          throw new TypeError(
            "threshold: expected a [component, dSae] tensor for jumprelu, received nothing",
          );
        }
        return tf.cast(tf.greater(pre, tf.expandDims(threshold, 1)), "float32") as tf.Tensor3D;
      }
      case "gated":
        throw new TypeError("activation: the gated activation has no single mask of pre; use forward()");
      case "topk": {
        const m = pre.shape[2];
        checkedK(activation.k, m);
        const kth = tf.min(tf.topk(pre, activation.k).values, -1, true);
        return tf.mul(positive, tf.cast(tf.greaterEqual(pre, kth), "float32")) as tf.Tensor3D;
      }
      case "batchtopk": {
        const [c, b, m] = pre.shape;
        checkedK(activation.k, m);
        const flat = tf.reshape(pre, [c, b * m]);
        const kth = tf.min(tf.topk(flat, activation.k * b).values, -1, true);
        const kept = tf.reshape(tf.greaterEqual(flat, kth), [c, b, m]);
        return tf.mul(positive, tf.cast(kept, "float32")) as tf.Tensor3D;
      }
    }
  });
}

/** `k` when it is a valid TopK budget for `dSae` features, else a `RangeError` naming it. */
export function checkedK(k: number, dSae: number): number {
  if (!Number.isInteger(k) || k < 1 || k > dSae) {
    throw new RangeError(`k: expected an integer in [1, ${dSae}] (dSae), received ${k}`);
  }
  return k;
}

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
  return tidy(() => activate(params, encoderProduct(params, x, options), activation).f);
}

/** `x̄ · wEnc`, `[component, batch, dSae]`. */
function encoderProduct(params: SaeParams, x: tf.Tensor3D, options: ForwardOptions): tf.Tensor3D {
  const xBar = options.tiedBias === false ? x : tf.sub(x, tf.expandDims(params.bDec, 1)) as tf.Tensor3D;
  return bmm(xBar, params.wEnc);
}

/** The activation applied to the encoder product `z = x̄ · wEnc`. */
function activate(
  params: SaeParams,
  z: tf.Tensor3D,
  activation: SaeActivation,
): { pre: tf.Tensor3D; f: tf.Tensor3D; mask: tf.Tensor3D } {
  const pre = tf.add(z, tf.expandDims(params.bEnc, 1)) as tf.Tensor3D;
  if (activation.kind === "gated") {
    const rMag = requireParam(params, "rMag", "gated"), bMag = requireParam(params, "bMag", "gated");
    const mag = tf.add(tf.mul(z, tf.expandDims(tf.exp(rMag), 1)), tf.expandDims(bMag, 1));
    const open = tf.step(pre, 0);
    const mask = tf.mul(open, tf.step(mag, 0)) as tf.Tensor3D;
    return { pre, f: tf.mul(tf.relu(mag), open) as tf.Tensor3D, mask };
  }
  const threshold = activation.kind === "jumprelu"
    ? requireParam(params, "threshold", "jumprelu")
    : undefined;
  const mask = activationMask(pre, activation, threshold);
  const f = activation.kind === "relu" ? tf.relu(pre) : tf.mul(pre, mask) as tf.Tensor3D;
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
    const { pre, f, mask } = activate(params, encoderProduct(params, x, options), activation);
    return { pre, f, mask, xHat: decode(params, f) };
  });
}
