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
 * transposes, so that every product is a plain batched matmul.
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
  readonly encoderInit?: "fan-in" | "original";
  /** Initial tied bias `[component, dIn]`; zeros when absent (copied). */
  readonly bDec?: tf.Tensor2D;
};

/**
 * Row-wise unit normalisation of the dictionary, `w / max(‖w‖₂, 1e-12)` over
 * the last axis.
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * import { unitNormRows } from "./params.ts";
 * const w = unitNormRows(tf.tensor3d([[[3, 4]]]));
 * console.assert(Math.abs(w.dataSync()[0] - 0.6) < 1e-6);
 * ```
 */
export function unitNormRows<T extends tf.Tensor>(w: T): T {
  return tidy(() => {
    const norm = tf.maximum(tf.norm(w, 2, -1, true), 1e-12);
    return tf.div(w, norm) as T;
  });
}

/**
 * Initialises the parameters like the original `SparseAutoencoder`: Kaiming
 * uniform encoder (ReLU gain), uniform encoder bias, Gaussian decoder rows
 * normalised to unit length, zero tied bias. Seeded: the same options give
 * the same tensors on every backend.
 *
 * @example
 * ```ts
 * import { initParams } from "./params.ts";
 * const p = initParams({ nComponents: 2, dIn: 3, dSae: 6, seed: 0 });
 * console.assert(p.wEnc.shape.join() === "2,3,6" && p.wDec.shape.join() === "2,6,3");
 * ```
 */
export function initParams(options: InitParamsOptions): SaeParams {
  const { nComponents: c, dIn: n, dSae: m, seed } = options;
  for (const [field, value] of Object.entries({ nComponents: c, dIn: n, dSae: m })) {
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(`${field}: expected a positive integer, received ${value}`);
    }
  }
  return tidy(() => {
    const original = options.encoderInit === "original";
    const weightFanIn = original ? m * n : n;
    const biasFanIn = original ? m : n;
    const wBound = Math.sqrt(6 / weightFanIn);
    const bBound = 1 / Math.sqrt(biasFanIn);
    const wEnc = tf.randomUniform([c, n, m], -wBound, wBound, "float32", deriveSeed(seed, 0, 1));
    const bEnc = tf.randomUniform([c, m], -bBound, bBound, "float32", deriveSeed(seed, 0, 2));
    const wDec = unitNormRows(
      tf.randomNormal([c, m, n], 0, 1, "float32", deriveSeed(seed, 0, 3)),
    );
    let bDec: tf.Tensor2D;
    if (options.bDec !== undefined) {
      if (options.bDec.shape[0] !== c || options.bDec.shape[1] !== n) {
        throw new RangeError(
          `bDec: expected shape [${c}, ${n}], received [${options.bDec.shape.join(", ")}]`,
        );
      }
      bDec = options.bDec.clone();
    } else {
      bDec = tf.zeros([c, n]);
    }
    return { wEnc, bEnc, wDec, bDec } as SaeParams;
  });
}
