/**
 * Parameters of a multi-component SAE and their initialisation.
 *
 * Layout (the dictionary vectors are rows of `wDec`, as in SAELens):
 * - `wEnc` `[component, dIn, dSae]`: column `j` of component `k` is encoder direction `j`;
 * - `bEnc` `[component, dSae]`;
 * - `wDec` `[component, dSae, dIn]`: row `j` is dictionary vector `j` (unit norm);
 * - `bDec` `[component, dIn]`: the tied pre-encoder / post-decoder bias.
 *
 * The original stores `W_e [c, m, n]` and `W_d [c, n, m]`; ours are their
 * transposes, so that every product is a plain batched matmul. An
 * architecture's own parameters (`threshold`, `rMag`, `bMag`) are declared
 * and initialised by its record in `lib/sae/arch/` (`initArchParams` there
 * makes all of them).
 *
 * @module
 */
import { tf, tidy } from "../tf.ts";
import { deriveSeed } from "../seed.ts";

/** The parameters of `C` SAEs, one per component, with a leading component axis. */
export type SaeParams = {
  /** `[component, dIn, dSae]` */
  readonly wEnc: tf.Tensor3D;
  /** `[component, dSae]` */
  readonly bEnc: tf.Tensor2D;
  /** `[component, dSae, dIn]`, unit-norm rows */
  readonly wDec: tf.Tensor3D;
  /** `[component, dIn]` */
  readonly bDec: tf.Tensor2D;
  /**
   * `[component, dSae]`: JumpReLU's threshold θ (a raw parameter, trained), or BatchTopK's inference
   * threshold (not trained: an average of the smallest kept activation). Absent for other architectures.
   */
  readonly threshold?: tf.Tensor2D;
  /** Gated: `[component, dSae]`, the log-scale of the magnitude path, `wMag = wEnc ⊙ exp(rMag)`. */
  readonly rMag?: tf.Tensor2D;
  /** Gated: `[component, dSae]`, the bias of the magnitude path (`bEnc` is the gate's bias). */
  readonly bMag?: tf.Tensor2D;
};

/** Options of {@linkcode initParams}. */
export type InitParamsOptions = {
  readonly nComponents: number;
  readonly dIn: number;
  readonly dSae: number;
  readonly seed: number;
  /**
   * `fan-in` (default): `wEnc ~ U(±√(6/dIn))`, `bEnc ~ U(±1/√dIn)` for every
   * component, as the original does without a component axis. `original`:
   * the original's scale with a component axis (`fan_in = dSae·dIn` for the
   * weight and `dSae` for the bias, its defect B2).
   */
  readonly encoderInit?: "fan-in" | "original" | "transpose";
  /**
   * Norm of every dictionary vector at initialisation (1 by default). With `encoderInit: "transpose"`
   * the encoder starts as the decoder's transpose, `wEnc = wDecᵀ`, and `bEnc` at 0 (Anthropic's April-2024
   * update, OpenAI's TopK paper).
   */
  readonly decoderInitNorm?: number;
  /** Width of the reconstruction when it differs from the input (transcoders); `dIn` by default. */
  readonly dOut?: number;
  /** Initial decoder bias `[component, dOut]`; zeros when absent (copied). */
  readonly bDec?: tf.Tensor2D;
};

/**
 * Row-wise unit normalisation of the dictionary, `w / max(‖w‖₂, 1e-12)` over
 * the last axis.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { unitNormRows } from "./params.ts";
 * const w = unitNormRows(tf.tensor3d([[[3, 4]]]));
 * assert.ok(Math.abs(w.dataSync()[0] - 0.6) < 1e-6);
 * ```
 */
export function unitNormRows<T extends tf.Tensor>(w: T): T {
  return tidy(() => {
    const norm = tf.maximum(tf.norm(w, 2, -1, true), 1e-12);
    return tf.div(w, norm) as T;
  });
}

/**
 * Initialises the four parameters every architecture has like the original
 * `SparseAutoencoder`: Kaiming uniform encoder (ReLU gain), uniform encoder
 * bias, Gaussian decoder rows normalised to unit length, zero tied bias.
 * Seeded: the same options give the same tensors on every backend.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { initParams } from "./params.ts";
 * const p = initParams({ nComponents: 2, dIn: 3, dSae: 6, seed: 0 });
 * assert.equal(p.wEnc.shape.join(), "2,3,6");
 * assert.equal(p.wDec.shape.join(), "2,6,3");
 * ```
 */
export function initParams(options: InitParamsOptions): SaeParams {
  const { nComponents: c, dIn: n, dSae: m, seed } = options;
  const dOut = options.dOut ?? n;
  for (const [field, value] of Object.entries({ nComponents: c, dIn: n, dSae: m, dOut })) {
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(`${field}: expected a positive integer, received ${value}`);
    }
  }
  const norm = options.decoderInitNorm ?? 1;
  if (!(norm > 0)) throw new RangeError(`decoderInitNorm: expected a positive number, received ${norm}`);
  if (options.encoderInit === "transpose" && dOut !== n) {
    throw new RangeError(
      `encoderInit: "transpose" needs dOut = dIn (${n}), received dOut ${dOut}; use "fan-in" for transcoders of unequal widths`,
    );
  }
  return tidy(() => {
    const wDec = tf.mul(
      unitNormRows(tf.randomNormal([c, m, dOut], 0, 1, "float32", deriveSeed(seed, 0, 3))),
      norm,
    ) as tf.Tensor3D;
    let wEnc: tf.Tensor3D, bEnc: tf.Tensor2D;
    if (options.encoderInit === "transpose") {
      wEnc = tf.transpose(wDec, [0, 2, 1]);
      bEnc = tf.zeros([c, m]);
    } else {
      const original = options.encoderInit === "original";
      const weightFanIn = original ? m * n : n;
      const biasFanIn = original ? m : n;
      const wBound = Math.sqrt(6 / weightFanIn);
      const bBound = 1 / Math.sqrt(biasFanIn);
      wEnc = tf.randomUniform([c, n, m], -wBound, wBound, "float32", deriveSeed(seed, 0, 1));
      bEnc = tf.randomUniform([c, m], -bBound, bBound, "float32", deriveSeed(seed, 0, 2));
    }
    let bDec: tf.Tensor2D;
    if (options.bDec !== undefined) {
      if (options.bDec.shape[0] !== c || options.bDec.shape[1] !== dOut) {
        throw new RangeError(
          `bDec: expected shape [${c}, ${dOut}], received [${options.bDec.shape.join(", ")}]`,
        );
      }
      bDec = options.bDec.clone();
    } else {
      bDec = tf.zeros([c, dOut]);
    }
    return { wEnc, bEnc, wDec, bDec };
  });
}

/**
 * An architecture's extra parameter, or a `TypeError` naming it when the record lacks it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { initParams, requireParam } from "./params.ts";
 * const p = initParams({ nComponents: 1, dIn: 2, dSae: 3, seed: 0 });
 * assert.throws(() => requireParam(p, "threshold", "jumprelu"), { message: /^params\.threshold: expected/ });
 * ```
 */
export function requireParam(
  params: SaeParams,
  key: "threshold" | "rMag" | "bMag",
  arch: string,
): tf.Tensor2D {
  const value = params[key];
  if (value === undefined) {
    throw new TypeError(`params.${key}: expected a [component, dSae] tensor for ${arch}, received nothing`);
  }
  return value;
}
