/**
 * Turns accumulated metrics (read into plain arrays by the runner) into the
 * log record, under the original's keys: `<prefix>/<component name>` for each
 * component and `<prefix>/mean`.
 *
 * Pure and synchronous: no tensors here.
 *
 * @module
 */

/** Host copies of a {@linkcode MetricsState}'s tensors. */
export type MetricsSnapshot = {
  readonly n: number;
  readonly lossSum: ArrayLike<number>;
  readonly l1Sum: ArrayLike<number>;
  readonly l2Sum: ArrayLike<number>;
  /** Σ of AuxK's auxiliary loss; logged as `loss/aux` when present. */
  readonly auxSum?: ArrayLike<number>;
  readonly l0Sum: ArrayLike<number>;
  readonly sseSum: ArrayLike<number>;
  readonly sstSum: ArrayLike<number>;
  /** `[component × dSae]`, row-major. */
  readonly fired: ArrayLike<number>;
  readonly capacitySum: ArrayLike<number>;
  readonly capacityBatches: number;
};

/** Options of {@linkcode summarizeMetrics}. */
export type SummarizeOptions = {
  readonly componentNames: readonly string[];
  readonly dSae: number;
  readonly l1Coefficient: number;
  /** A feature is dead when it fired on at most this fraction of the vectors. */
  readonly deadThreshold?: number;
  /** A feature is dense when it fired on more than this fraction of the vectors (0.1 by default). */
  readonly denseThreshold?: number;
};

/** Log10 firing-frequency bins of the density histogram: `(-∞, −7]`, `(−7, −6]`, …, `(−1, 0]`. */
export const DENSITY_BIN_EDGES: readonly number[] = [-7, -6, -5, -4, -3, -2, -1, 0];

/**
 * Per-component values of each metric, then the mean over components.
 *
 * Keys: `loss/total`, `loss/l1_learned_activations` (before the coefficient),
 * `loss/l2_reconstruction`, `train/l0_norm`, `train/neuron_activity` (dead
 * count), `train/dead_fraction`, `train/dense_fraction` (fired on more than
 * `denseThreshold` of the vectors), `train/explained_variance`, `loss/aux`
 * (AuxK, when accumulated),
 * `train/capacity`, and `train/feature_density_histogram` (counts of features
 * per log10-density bin; never-fired features in the first bin).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { summarizeMetrics } from "./summary.ts";
 * const log = summarizeMetrics({
 *   n: 2, lossSum: [3], l1Sum: [2], l2Sum: [1], l0Sum: [3], sseSum: [2], sstSum: [8],
 *   fired: [2, 0, 1], capacitySum: [0], capacityBatches: 0,
 * }, { componentNames: ["a"], dSae: 3, l1Coefficient: 1 });
 * assert.equal(log["train/l0_norm/a"], 1.5);
 * assert.equal(log["train/neuron_activity/a"], 1);
 * assert.equal(log["train/explained_variance/mean"], 0.75);
 * ```
 */
export function summarizeMetrics(
  snapshot: MetricsSnapshot,
  options: SummarizeOptions,
): Record<string, number | number[]> {
  const { componentNames, dSae } = options;
  const threshold = (options.deadThreshold ?? 0) * snapshot.n;
  const n = Math.max(snapshot.n, 1);
  const perComponent: Record<string, number[]> = {};
  const put = (key: string, value: number) => (perComponent[key] ??= []).push(value);
  const histograms: number[][] = [];
  componentNames.forEach((_, k) => {
    put("loss/total", snapshot.lossSum[k] / n);
    put("loss/l1_learned_activations", snapshot.l1Sum[k] / n);
    put("loss/l2_reconstruction", snapshot.l2Sum[k] / n);
    if (snapshot.auxSum !== undefined) put("loss/aux", snapshot.auxSum[k] / n);
    put("train/l0_norm", snapshot.l0Sum[k] / n);
    let dead = 0, dense = 0;
    const denseAbove = (options.denseThreshold ?? 0.1) * snapshot.n;
    const histogram = new Array(DENSITY_BIN_EDGES.length).fill(0);
    for (let j = 0; j < dSae; j++) {
      const count = snapshot.fired[k * dSae + j];
      if (count <= threshold) dead++;
      if (count > denseAbove) dense++;
      const logDensity = count > 0 ? Math.log10(count / n) : -Infinity;
      const bin = DENSITY_BIN_EDGES.findIndex((edge) => logDensity <= edge);
      histogram[bin === -1 ? DENSITY_BIN_EDGES.length - 1 : bin]++;
    }
    histograms.push(histogram);
    put("train/neuron_activity", dead);
    put("train/dead_fraction", dead / dSae);
    put("train/dense_fraction", dense / dSae);
    const sst = snapshot.sstSum[k];
    put("train/explained_variance", sst > 0 ? 1 - snapshot.sseSum[k] / sst : 0);
    if (snapshot.capacityBatches > 0) {
      put("train/capacity", snapshot.capacitySum[k] / snapshot.capacityBatches);
    }
  });
  const log: Record<string, number | number[]> = {};
  for (const [prefix, values] of Object.entries(perComponent)) {
    values.forEach((value, k) => (log[`${prefix}/${componentNames[k]}`] = value));
    log[`${prefix}/mean`] = values.reduce((a, b) => a + b, 0) / values.length;
  }
  histograms.forEach((h, k) => (log[`train/feature_density_histogram/${componentNames[k]}`] = h));
  return log;
}
