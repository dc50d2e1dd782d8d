/**
 * Resampling of dead features, the recipe of "Towards Monosemanticity" as the
 * original implements it (its section 6), in two pure functions:
 *
 * - {@linkcode collectForResample} counts firings over the collection window
 *   and keeps candidate inputs for resampling;
 * - {@linkcode resampleDeadFeatures} replaces the dead features' parameters and
 *   zeroes their optimizer moments, returning new parameters and optimizer
 *   state together.
 *
 * Inputs are chosen with probability proportional to their squared loss,
 * without replacement, as `torch.multinomial(loss², d)` does. Instead of
 * keeping every input of the window (the original keeps ~819,200 vectors per
 * component), the candidates are kept in a weighted reservoir (Efraimidis &
 * Spirakis, 2006): each item gets the key `log(u) / loss²` with `u ~ U(0, 1)`
 * and the `R` largest keys are kept; the `d` largest keys of the whole window
 * are a weighted sample without replacement of `d` items, so keeping the top
 * `R ≥ d` loses nothing.
 *
 * @module
 */
import { tf, tidy } from "../tf.ts";
import { deriveSeed } from "../seed.ts";
import type { SaeParams } from "../sae/params.ts";
import { resetFeatureMoments } from "../optim/adam.ts";

/** When and how dead features are resampled. Counts are in activation vectors. */
export type ResampleOptions = {
  /** Resample every this many activations. */
  readonly interval: number;
  /** Count firings over this many activations before each resample. */
  readonly collate: number;
  /** Sample inputs from this many activations before each resample. */
  readonly datasetSize: number;
  /** Most resamples in a run. */
  readonly maxResamples: number;
  /** Dead: fired on at most `floor(deadThreshold · collated)` vectors. */
  readonly deadThreshold: number;
  /** Candidate inputs kept per component (at least the number of features to resample). */
  readonly reservoir: number;
};

/** The resampler's buffers and counters. */
export type ResamplerState = {
  /** Activations seen since the last resample (or the start). */
  readonly seen: number;
  /** Resamples done so far. */
  readonly resamples: number;
  /** Activations whose firings are in `fired`. */
  readonly collated: number;
  /** Firing counts in the collection window, `[component, dSae]`, int32. */
  readonly fired: tf.Tensor2D;
  /** Candidate inputs, `[component, reservoir, dIn]`. */
  readonly reservoirX: tf.Tensor3D;
  /** Their keys `log(u)/loss²` (−∞ for empty slots), `[component, reservoir]`. */
  readonly reservoirKey: tf.Tensor2D;
  /** Features resampled by the latest resample, `[component]`, int32. */
  readonly lastResampled: tf.Tensor1D;
};

/**
 * An empty resampler for `nComponents` SAEs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { initResampler } from "./resampler.ts";
 * const r = initResampler(2, 4, 8, 16);
 * assert.equal(r.reservoirX.shape.join(), "2,16,4");
 * assert.equal(r.seen, 0);
 * ```
 */
export function initResampler(
  nComponents: number,
  dIn: number,
  dSae: number,
  reservoir: number,
): ResamplerState {
  return tidy(() => ({
    seen: 0,
    resamples: 0,
    collated: 0,
    fired: tf.zeros([nComponents, dSae], "int32"),
    reservoirX: tf.zeros([nComponents, reservoir, dIn]),
    reservoirKey: tf.fill([nComponents, reservoir], -Infinity),
    lastResampled: tf.zeros([nComponents], "int32"),
  }));
}

/**
 * Records one training batch: its firings (inside the collection window) and
 * its inputs as resampling candidates (inside the loss window).
 *
 * @param x inputs `[component, batch, dIn]`
 * @param fired how many items of the batch each feature fired on, `[component, dSae]`, int32
 * @param itemLoss total loss per item `[component, batch]`
 * @param seed seed of this step's random keys (derive it from `(seed, step)`)
 */
export function collectForResample(
  state: ResamplerState,
  x: tf.Tensor3D,
  batchFired: tf.Tensor2D,
  itemLoss: tf.Tensor2D,
  options: ResampleOptions,
  seed: number,
): ResamplerState {
  if (state.resamples >= options.maxResamples) return state;
  const batch = x.shape[1];
  return tidy(() => {
    let { fired, collated, reservoirX, reservoirKey } = state;
    if (state.seen + batch > options.interval - options.collate) {
      fired = tf.add(fired, batchFired);
      collated += batch;
    }
    if (state.seen + batch > options.interval - options.datasetSize) {
      const u = tf.randomUniform(itemLoss.shape, 0, 1, "float32", deriveSeed(seed, 0x5e1ec7));
      const weight = tf.square(itemLoss);
      // log(u)/w; an item with zero loss (or u = 0) gets −∞ and is never chosen.
      const keys = tf.where(
        tf.logicalAnd(tf.greater(weight, 0), tf.greater(u, 0)),
        tf.div(tf.log(u), tf.maximum(weight, 1e-30)),
        -Infinity,
      );
      const allKeys = tf.concat([reservoirKey, keys], 1);
      const allX = tf.concat([reservoirX, x], 1);
      const top = tf.topk(allKeys, options.reservoir, true);
      reservoirKey = top.values as tf.Tensor2D;
      reservoirX = tf.gather(allX, top.indices, 1, 1) as tf.Tensor3D;
    }
    return { ...state, seen: state.seen + batch, fired, collated, reservoirX, reservoirKey };
  });
}

/** Whether {@linkcode resampleDeadFeatures} would act on this state. */
export function resampleDue(state: ResamplerState, options: ResampleOptions): boolean {
  return state.resamples < options.maxResamples && state.seen >= options.interval;
}

/** What {@linkcode resampleDeadFeatures} changes, all together. */
export type ResampleResult<O> = {
  readonly params: SaeParams;
  readonly opt: O;
  readonly resampler: ResamplerState;
};

/**
 * Resamples the dead features of every component, when due.
 *
 * For component `k`, with `dead = fired ≤ floor(deadThreshold · collated)`:
 * - decoder row `j` (dead) ← `x / ‖x‖`, for a sampled input `x`;
 * - encoder column `j` ← `x / ‖x‖ · 0.2 · mean ‖encoder column‖ over alive features`
 *   (alive: fired at least once; with none alive, the mean over all);
 * - encoder bias `j` ← 0; the tied bias is unchanged;
 * - both Adam moments of feature `j` in `wEnc`, `bEnc`, `wDec` ← 0 (count kept).
 *
 * Dead features beyond the candidates available stay as they are (their
 * number is `dead − lastResampled`). After a resample the window restarts.
 */
export function resampleDeadFeatures<O>(
  params: SaeParams,
  opt: O,
  state: ResamplerState,
  options: ResampleOptions,
): ResampleResult<O> {
  if (!resampleDue(state, options)) return { params, opt, resampler: state };
  return tidy(() => {
    const threshold = Math.floor(options.deadThreshold * state.collated);
    const dead = tf.lessEqual(state.fired, threshold);
    const alive = tf.cast(tf.greater(state.fired, 0), "float32");
    const available = tf.sum(tf.cast(tf.isFinite(state.reservoirKey), "int32"), 1, true);
    const rank = tf.sub(tf.cumsum(tf.cast(dead, "int32"), 1), 1);
    const chosen = tf.logicalAnd(dead, tf.less(rank, available)) as tf.Tensor2D;
    const index = tf.cast(tf.clipByValue(rank, 0, options.reservoir - 1), "int32");
    const sampled = tf.gather(state.reservoirX, index, 1, 1) as tf.Tensor3D; // [c, m, n]
    const unit = tf.div(sampled, tf.maximum(tf.norm(sampled, 2, -1, true), 1e-12));

    const encoderNorms = tf.norm(params.wEnc, 2, 1); // [c, m]
    const aliveCount = tf.sum(alive, 1);
    const meanAlive = tf.div(tf.sum(tf.mul(encoderNorms, alive), 1), tf.maximum(aliveCount, 1));
    const meanAll = tf.mean(encoderNorms, 1);
    const scale = tf.mul(tf.where(tf.greater(aliveCount, 0), meanAlive, meanAll), 0.2); // [c]

    const rowMask = tf.expandDims(chosen, 2); // [c, m, 1]
    const wDec = tf.where(rowMask, unit, params.wDec) as tf.Tensor3D;
    const newEnc = tf.transpose(tf.mul(unit, tf.reshape(scale, [-1, 1, 1])), [0, 2, 1]);
    const wEnc = tf.where(tf.expandDims(chosen, 1), newEnc, params.wEnc) as tf.Tensor3D;
    const bEnc = tf.where(chosen, tf.zerosLike(params.bEnc), params.bEnc) as tf.Tensor2D;
    const reset = tf.cast(chosen, "float32") as tf.Tensor2D;
    const [c, dSae] = state.fired.shape;
    const [, reservoir, dIn] = state.reservoirX.shape;
    const fresh = initResampler(c, dIn, dSae, reservoir);
    return {
      params: { ...params, wEnc, bEnc, wDec },
      opt: resetFeatureMoments(opt, reset),
      resampler: {
        ...fresh,
        resamples: state.resamples + 1,
        lastResampled: tf.sum(tf.cast(chosen, "int32"), 1) as tf.Tensor1D,
      },
    };
  });
}
