/**
 * Validation with the SAE spliced in: the model's next-token cross-entropy
 * unchanged, with a hook point replaced by its SAE's reconstruction, and with
 * it zero-ablated; and the KL divergence of the spliced model's predictions
 * from the clean model's.
 *
 * The reconstruction score ("loss recovered") is a ratio of sums, as the
 * original computes it (its PR #157):
 * `(Σ L_zero − Σ L_recon) / (Σ L_zero − Σ L_clean)`.
 *
 * Pure: tensors in, tensors out; the runner sums them over batches.
 *
 * @module
 */
import { tf, tidy } from "../tf.ts";
import type { SaeParams } from "../sae/params.ts";
import { forward, RELU, type SaeActivation } from "../sae/forward.ts";
import type { HookedModel } from "../models/hooked.ts";

/** Sums over one batch of token windows; per-component tensors are `[component]`. */
export type SplicedLosses = {
  /** Σ of the clean model's next-token cross-entropy over predicted positions. */
  readonly clean: tf.Scalar;
  /** Σ of the cross-entropy with each component's hook replaced by its reconstruction. */
  readonly recon: tf.Tensor1D;
  /** Σ of the cross-entropy with each component's hook zero-ablated. */
  readonly zero: tf.Tensor1D;
  /** Σ over positions of KL(clean ‖ spliced). */
  readonly kl: tf.Tensor1D;
  /** Predicted positions in the batch. */
  readonly positions: number;
};

/** Component `k` of multi-component parameters, still with a component axis of 1. */
export function componentParams(params: SaeParams, k: number): SaeParams {
  const out: Record<string, tf.Tensor> = {};
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined) out[key] = tf.slice(value, [k], [1]);
  }
  return out as SaeParams;
}

/** Options of {@linkcode splicedLosses} and {@linkcode reconstructActivation}. */
export type SpliceOptions = {
  /** The encoder's activation at inference (ReLU by default). */
  readonly activation?: SaeActivation;
  /**
   * Transcoders: the hook point each component reads; its output replaces the component's hook in
   * `hooks` (which must come later in the forward pass). Absent for SAEs, which read and replace the
   * same hook.
   */
  readonly inputHooks?: readonly string[];
};

/**
 * An activation `[batch, seq, d]` passed through one component's SAE.
 */
export function reconstructActivation(
  params: SaeParams,
  value: tf.Tensor3D,
  activation: SaeActivation = RELU,
  tiedBias = true,
): tf.Tensor3D {
  return tidy(() => {
    const [b, s, d] = value.shape;
    const { xHat } = forward(params, tf.reshape(value, [1, b * s, d]), activation, { tiedBias });
    return tf.reshape(xHat, [b, s, xHat.shape[2]]);
  });
}

/** Log-probabilities of the next token at every position but the last, `[batch·(seq−1), vocab]`. */
function nextTokenLogProbs(logits: tf.Tensor3D): tf.Tensor2D {
  const [b, s, v] = logits.shape;
  const shifted = tf.slice(logits, [0, 0, 0], [b, s - 1, v]);
  return tf.logSoftmax(tf.reshape(shifted, [b * (s - 1), v])) as tf.Tensor2D;
}

function crossEntropySum(logProbs: tf.Tensor2D, targets: tf.Tensor1D): tf.Scalar {
  const picked = tf.sum(tf.mul(logProbs, tf.oneHot(targets, logProbs.shape[1])), 1);
  return tf.neg(tf.sum(picked));
}

/**
 * The spliced-in losses of one batch for every component.
 *
 * @param tokens `[batch, seq]` int32, `seq ≥ 2`
 * @param hooks the hook point of each component, in component order
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { initLlamaWeights } from "../models/transformer.ts";
 * import { hookedLlama } from "../models/hooked.ts";
 * import { initParams } from "../sae/params.ts";
 * import { splicedLosses } from "./reconstruction.ts";
 * const config = {
 *   dModel: 8, nLayers: 1, nHeads: 2, nKvHeads: 2, dHead: 4, dMlp: 16, vocabSize: 10,
 *   maxSeq: 16, normEps: 1e-5, ropeTheta: 10000, rotary: "half", tiedEmbeddings: false,
 * } as const;
 * const model = hookedLlama({ config, weights: initLlamaWeights(config, 0) });
 * const params = initParams({ nComponents: 1, dIn: 8, dSae: 16, seed: 0 });
 * const r = splicedLosses(model, params, ["blocks.0.hook_resid_post"], tf.tensor2d([[1, 2, 3]], undefined, "int32"));
 * assert.equal(r.positions, 2);
 * assert.equal(r.recon.shape[0], 1);
 * ```
 */
export function splicedLosses(
  model: HookedModel,
  params: SaeParams,
  hooks: readonly string[],
  tokens: tf.Tensor2D,
  options: SaeActivation | SpliceOptions = {},
): SplicedLosses {
  const { activation = RELU, inputHooks } = "kind" in options ? { activation: options } : options;
  const [b, s] = tokens.shape;
  if (s < 2) throw new RangeError(`tokens: expected at least 2 positions, received ${s}`);
  if (hooks.length !== params.wEnc.shape[0]) {
    throw new RangeError(
      `hooks: expected one per component (${params.wEnc.shape[0]}), received ${hooks.length}`,
    );
  }
  return tidy(() => {
    const targets = tf.reshape(tf.slice(tokens, [0, 1], [b, s - 1]), [b * (s - 1)]) as tf.Tensor1D;
    const cleanLogProbs = nextTokenLogProbs(model.forward(tokens).logits!);
    const clean = crossEntropySum(cleanLogProbs, targets);
    const cleanProbs = tf.exp(cleanLogProbs);
    const recon: tf.Scalar[] = [], zero: tf.Scalar[] = [], kl: tf.Scalar[] = [];
    hooks.forEach((hook, k) => {
      const own = componentParams(params, k);
      let replace: Record<string, (value: tf.Tensor3D) => tf.Tensor3D>;
      if (inputHooks === undefined) {
        replace = { [hook]: (value) => reconstructActivation(own, value, activation) };
      } else {
        // A transcoder: keep its input as the pass goes by, and replace its target with its output.
        let input: tf.Tensor3D | undefined;
        replace = {
          [inputHooks[k]]: (value) => (input = value),
          [hook]: () => {
            if (input === undefined) {
              throw new RangeError(
                `inputHooks: expected ${inputHooks[k]} to run before ${hook} in the forward pass, it did not`,
              );
            }
            return reconstructActivation(own, input, activation, false);
          },
        };
      }
      const spliced = nextTokenLogProbs(model.forward(tokens, { replace }).logits!);
      recon.push(crossEntropySum(spliced, targets));
      kl.push(tf.sum(tf.mul(cleanProbs, tf.sub(cleanLogProbs, spliced))));
      const ablated = nextTokenLogProbs(
        model.forward(tokens, { replace: { [hook]: (value) => tf.zerosLike(value) } }).logits!,
      );
      zero.push(crossEntropySum(ablated, targets));
    });
    return {
      clean,
      recon: tf.stack(recon) as tf.Tensor1D,
      zero: tf.stack(zero) as tf.Tensor1D,
      kl: tf.stack(kl) as tf.Tensor1D,
      positions: b * (s - 1),
    };
  });
}

/** Sums of {@linkcode SplicedLosses} over batches, on the host. */
export type SplicedTotals = {
  readonly clean: number;
  readonly recon: readonly number[];
  readonly zero: readonly number[];
  readonly kl: readonly number[];
  readonly positions: number;
};

/**
 * The `validate/…` log keys for each component and their mean: mean losses
 * per predicted position (`validate/loss_clean`, `validate/loss_recon`,
 * `validate/loss_zero`), `validate/reconstruction_score` as a ratio of sums,
 * and `validate/kl_div` (mean per position).
 *
 * @example The original's doctest: clean 2, recon 3, zero 5 give (5 − 3)/(5 − 2) = 0.6667
 * ```ts
 * import assert from "node:assert/strict";
 * import { validationRecord } from "./reconstruction.ts";
 * const log = validationRecord({ clean: 2, recon: [3], zero: [5], kl: [0.5], positions: 1 }, ["a"]);
 * assert.ok(Math.abs(log["validate/reconstruction_score/a"] - 2 / 3) < 1e-12);
 * ```
 */
export function validationRecord(totals: SplicedTotals, names: readonly string[]): Record<string, number> {
  const n = Math.max(totals.positions, 1);
  const log: Record<string, number> = {};
  const put = (prefix: string, values: number[]) => {
    values.forEach((v, k) => (log[`${prefix}/${names[k]}`] = v));
    log[`${prefix}/mean`] = values.reduce((a, b) => a + b, 0) / values.length;
  };
  put("validate/loss_clean", names.map(() => totals.clean / n));
  put("validate/loss_recon", totals.recon.map((v) => v / n));
  put("validate/loss_zero", totals.zero.map((v) => v / n));
  put("validate/reconstruction_score", totals.zero.map((z, k) => (z - totals.recon[k]) / (z - totals.clean)));
  put("validate/kl_div", totals.kl.map((v) => v / n));
  return log;
}
