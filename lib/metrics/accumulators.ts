/**
 * Training metrics as pure accumulators: sums and counts per component that
 * grow with every batch and are read (and reset) at each log.
 *
 * Sums are taken per item first and then over the batch, so that no single
 * reduction spans more than one axis of the batch (the wasm backend's `sum`
 * loses precision over very large tensors).
 *
 * @module
 */
import { tf, tidy } from "../tf.ts";
import type { LossTerms } from "../sae/loss.ts";
import type { BatchStats } from "../sae/objective.ts";

/** Accumulated metrics since the last reset; every tensor has a leading component axis. */
export type MetricsState = {
  /** Activation vectors accumulated. */
  readonly n: number;
  /** Batches accumulated. */
  readonly batches: number;
  /** Σ over items of the total loss, `[component]`. */
  readonly lossSum: tf.Tensor1D;
  /** Σ over items of `Σⱼ|fⱼ|`, `[component]`. */
  readonly l1Sum: tf.Tensor1D;
  /** Σ over items of `mean_i (x̂ᵢ − xᵢ)²`, `[component]`. */
  readonly l2Sum: tf.Tensor1D;
  /** Σ over items of AuxK's auxiliary loss (before its coefficient), `[component]`. */
  readonly auxSum: tf.Tensor1D;
  /** Σ over items of the number of non-zero features, `[component]`. */
  readonly l0Sum: tf.Tensor1D;
  /** Σ ‖x − x̂‖², `[component]`. */
  readonly sseSum: tf.Tensor1D;
  /** Σ ‖x − mean_batch(x)‖², `[component]`. */
  readonly sstSum: tf.Tensor1D;
  /** How many vectors each feature fired on (`f > 0`), `[component, dSae]`, int32. */
  readonly fired: tf.Tensor2D;
  /** Σ of mean capacities over the batches where capacity was computed, `[component]`. */
  readonly capacitySum: tf.Tensor1D;
  /** Batches where capacity was computed. */
  readonly capacityBatches: number;
};

/**
 * Empty accumulators for `nComponents` SAEs of `dSae` features.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { initMetrics } from "./accumulators.ts";
 * const m = initMetrics(2, 8);
 * assert.equal(m.n, 0);
 * assert.equal(m.fired.shape.join(), "2,8");
 * ```
 */
export function initMetrics(nComponents: number, dSae: number): MetricsState {
  return tidy(() => ({
    n: 0,
    batches: 0,
    lossSum: tf.zeros([nComponents]),
    l1Sum: tf.zeros([nComponents]),
    l2Sum: tf.zeros([nComponents]),
    auxSum: tf.zeros([nComponents]),
    l0Sum: tf.zeros([nComponents]),
    sseSum: tf.zeros([nComponents]),
    sstSum: tf.zeros([nComponents]),
    fired: tf.zeros([nComponents, dSae], "int32"),
    capacitySum: tf.zeros([nComponents]),
    capacityBatches: 0,
  }));
}

/**
 * Adds one batch to the accumulators.
 *
 * @param terms per-item loss terms, `[component, batch]` each (`Σ‖x − x̂‖²` is `dIn · Σ l2`)
 * @param stats the batch's L0 per item, firing counts and `Σ‖x − mean(x)‖²` (see `batchStats`)
 * @param dIn input width
 */
export function accumulate(
  metrics: MetricsState,
  terms: LossTerms,
  stats: BatchStats,
  dIn: number,
): MetricsState {
  return tidy(() => ({
    ...metrics,
    n: metrics.n + terms.total.shape[1],
    batches: metrics.batches + 1,
    lossSum: tf.add(metrics.lossSum, tf.sum(terms.total, 1)),
    l1Sum: tf.add(metrics.l1Sum, tf.sum(terms.l1, 1)),
    l2Sum: tf.add(metrics.l2Sum, tf.sum(terms.l2, 1)),
    auxSum: terms.aux === undefined ? tf.clone(metrics.auxSum) : tf.add(metrics.auxSum, tf.sum(terms.aux, 1)),
    l0Sum: tf.add(metrics.l0Sum, tf.sum(stats.l0, 1)),
    sseSum: tf.add(metrics.sseSum, tf.mul(tf.sum(terms.l2, 1), dIn)),
    sstSum: tf.add(metrics.sstSum, stats.sst),
    fired: tf.add(metrics.fired, stats.fired),
  }));
}

/**
 * Capacity of each item (Scherlis et al.): with `D[a, b] = (f_a · f_b)²`
 * within a component, `capacity_a = D[a, a] / Σ_b D[a, b]`. An item whose
 * features are all zero gets capacity 0.
 *
 * @param f `[component, batch, dSae]`
 * @returns `[component, batch]`
 *
 * @example The original's test: orthogonal items have capacity 1
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { capacities } from "./accumulators.ts";
 * const c = capacities(tf.tensor3d([[[1, 0, 0], [0, 1, 0]]]));
 * assert.equal(c.dataSync().join(), "1,1");
 * ```
 */
export function capacities(f: tf.Tensor3D): tf.Tensor2D {
  return tidy(() => {
    const gram = tf.square(tf.matMul(f, f, false, true));
    const diagonal = tf.sum(tf.square(f), -1).square();
    const total = tf.sum(gram, -1);
    return tf.where(tf.greater(total, 0), tf.div(diagonal, tf.maximum(total, 1e-30)), 0) as tf.Tensor2D;
  });
}

/**
 * Adds the mean capacity of the first `sample` items of a batch (capacity is
 * quadratic in the batch size, so it is measured on a sample).
 *
 * @param f `[component, batch, dSae]`
 */
export function accumulateCapacity(metrics: MetricsState, f: tf.Tensor3D, sample: number): MetricsState {
  if (sample === 0) return metrics;
  return tidy(() => {
    const rows = Math.min(sample, f.shape[1]);
    const part = tf.slice(f, [0, 0, 0], [-1, rows, -1]);
    return {
      ...metrics,
      capacitySum: tf.add(metrics.capacitySum, tf.mean(capacities(part), 1)),
      capacityBatches: metrics.capacityBatches + 1,
    };
  });
}
