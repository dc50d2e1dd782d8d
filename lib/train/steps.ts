/**
 * The steps of the default pipeline, each a pure function of
 * `(TrainState, Batch)`. The gradient step also returns its
 * {@linkcode StepOutputs}, which the steps after it read from their batch
 * (`ObservedBatch`, composed with `handOn`); nothing of them enters the state.
 *
 * @module
 */
import { tf, tidy } from "../tf.ts";
import { deriveSeed } from "../seed.ts";
import type { SaeParams } from "../sae/params.ts";
import { lossAndGradsFor } from "../sae/objective.ts";
import { archOf, makeSpec } from "../sae/arch/registry.ts";
import type { SaeSpec } from "../sae/arch/record.ts";
import { auxkActive, trackedThreshold } from "../sae/arch/shared.ts";
import { normalizeDecoder, projectDecoderGrad } from "../sae/decoder.ts";
import { applyUpdates, type GradientTransformation } from "../optim/transform.ts";
import { accumulate, accumulateCapacity } from "../metrics/accumulators.ts";
import { collectForResample, resampleDeadFeatures, type ResampleOptions } from "../resample/resampler.ts";
import { initMetrics } from "../metrics/accumulators.ts";
import type { ProducingStep, Step } from "./compose.ts";
import type { Batch, ObservedBatch, StepOutputs, TrainState } from "./state.ts";
import type { BatchStats } from "../sae/objective.ts";
import type { MetricsState } from "../metrics/accumulators.ts";
import { flattenTree, unflattenTree } from "../io/tree.ts";

/** Options of {@linkcode gradientStep}. */
export type GradientStepOptions = {
  /**
   * Rows of the batch whose learned activations `f` are kept in the outputs' `f` (all by default). The
   * default pipeline keeps only the rows capacity is measured on.
   */
  readonly keepActivations?: number;
  /** Linear warm-up of the sparsity coefficient from 0 over this many steps (0: none). */
  readonly sparsityWarmupSteps?: number;
  /** AuxK: a feature is dead after this many activations without firing (10M by default). */
  readonly deadActivations?: number;
  /**
   * Data-parallel training: how this process's gradients and batch statistics are combined with the other
   * processes' (absent: one process). An effect given from outside, as a parameter (see {@linkcode Across}).
   */
  readonly across?: Across;
};

/**
 * The collective operations of data-parallel training, given to the pure steps as parameters: every
 * process holds a share of the global batch, and these combine what the shares computed. The runner
 * fills them (with MPI, `../run/distributed/`); the steps only call them, in the same order on every
 * process.
 *
 * @example One process is `alone`: a pipeline given it trains as one without it
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { parseConfig } from "../config.ts";
 * import { defaultPipeline } from "./pipeline.ts";
 * import { alone } from "./steps.ts";
 * const config = parseConfig({ dIn: 4, batchSize: 8, storeSize: 8, steps: 2 });
 * const x = tf.randomNormal([1, 8, 4], 0, 1, "float32", 0) as tf.Tensor3D;
 * const plain = defaultPipeline(config), shared = defaultPipeline(config, { across: alone });
 * const a = plain.step(plain.init(config), { x }), b = shared.step(shared.init(config), { x });
 * const gap = tf.max(tf.abs(tf.sub(a.params.wEnc, b.params.wEnc))).dataSync()[0];
 * assert.ok(gap < 1e-6, `gap ${gap}`);
 * assert.equal(b.metrics.n, 8);
 * ```
 */
export type Across = {
  /** Element-wise sums over every process of these tensors (same shapes and order everywhere); new tensors. */
  readonly sum: (tensors: readonly tf.Tensor[]) => tf.Tensor[];
  /** Process 0's values of these tensors, on every process; new tensors. */
  readonly fromFirst: (tensors: readonly tf.Tensor[]) => tf.Tensor[];
  /** Rows of the global batch of which this process holds `local` (the runner knows the split). */
  readonly rows: (local: number) => number;
};

/**
 * One process: sums and process 0's values are the tensors themselves, the global batch is the local one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { alone } from "./steps.ts";
 * const [s] = alone.sum([tf.tensor1d([1, 2])]);
 * assert.deepEqual(Array.from(s.dataSync()), [1, 2]);
 * assert.equal(alone.rows(8), 8);
 * s.dispose();
 * ```
 */
export const alone: Across = {
  sum: (tensors) => tensors.map((t) => tf.clone(t)),
  fromFirst: (tensors) => tensors.map((t) => tf.clone(t)),
  rows: (local) => local,
};

/**
 * Combines one process's gradients and batch statistics with every process's: the gradients become the
 * row-weighted mean `Σₚ bₚ·gₚ / B` (each `gₚ` a mean over the `bₚ` rows of share `p`, so this is the
 * gradient of the mean loss over all `B` rows), the firing counts their sum, and `Σ‖y − ȳ‖²` the global
 * one, `Σₚ (sstₚ + bₚ‖ȳₚ − ȳ‖²)` (the global mean `ȳ` from summed row sums first). Per-item L0 stays local.
 */
function combineAcross(
  across: Across,
  grads: SaeParams,
  stats: BatchStats,
  y: tf.Tensor3D,
): { grads: SaeParams; stats: BatchStats; rows: number } {
  const b = y.shape[1];
  const rows = across.rows(b);
  const localSum = tf.sum(y, 1); // [c, dIn]
  const [globalSum] = across.sum([localSum]);
  const dev = tf.sub(tf.div(localSum, Math.max(b, 1)), tf.div(globalSum, rows));
  const sstLocal = tf.add(stats.sst, tf.mul(tf.sum(tf.square(dev), 1), b));
  const keys = Object.keys(grads).sort() as (keyof SaeParams)[];
  const summed = across.sum([
    ...keys.map((k) => tf.mul(grads[k] as tf.Tensor, b)),
    tf.cast(stats.fired, "float32"),
    sstLocal,
  ]);
  const combined: Record<string, tf.Tensor> = {};
  keys.forEach((k, i) => (combined[k] = tf.div(summed[i], rows)));
  return {
    grads: combined as unknown as SaeParams,
    stats: {
      l0: stats.l0,
      fired: tf.cast(tf.round(summed[keys.length]), "int32") as tf.Tensor2D,
      sst: summed[keys.length + 1] as tf.Tensor1D,
    },
    rows,
  };
}

/**
 * Loss, hand-derived gradients, projection of the decoder gradients (for
 * unit-norm architectures), and one optimizer update. Counts the step and
 * the activations, and how long each feature has not fired. Returns the next
 * state and the step's outputs (activations, loss terms, batch statistics) for
 * the steps after it.
 *
 * @param tx the optimizer, e.g. `chain(scaleByAdam(), scaleByLearningRate(schedule))`
 * @param spec the architecture (a number is the original ReLU SAE with that L1 coefficient)
 */
export function gradientStep<O>(
  tx: GradientTransformation<O>,
  spec: SaeSpec | number,
  options: GradientStepOptions = {},
): ProducingStep<TrainState<O>, Batch, StepOutputs> {
  const sae = typeof spec === "number" ? makeSpec("relu", { sparsityCoefficient: spec }) : spec;
  const warmup = options.sparsityWarmupSteps ?? 0;
  const deadAfter = options.deadActivations ?? 10_000_000;
  const arch = archOf(sae.arch);
  const unitNorm = arch.unitNormDecoder(sae);
  const withAux = arch.auxiliary !== undefined && auxkActive(sae);
  const across = options.across;
  return (state, batch) =>
    tidy(() => {
      const local = batch.x.shape[1];
      const b = across === undefined ? local : across.rows(local);
      // No feature can be dead before `deadAfter` activations: AuxK costs nothing until then.
      const dead = withAux && state.activations >= deadAfter
        ? tf.cast(tf.greaterEqual(state.sinceFired, deadAfter), "float32")
        : undefined;
      const result = lossAndGradsFor(sae, state.params, batch.x, batch.y ?? batch.x, {
        sparsityScale: warmup > 0 ? Math.min(1, (state.step + 1) / warmup) : 1,
        dead: dead as tf.Tensor2D | undefined,
        keepActivations: options.keepActivations,
      });
      const { forward, terms, loss, minActive } = result;
      const { grads, stats } = across === undefined
        ? result
        : combineAcross(across, result.grads, result.stats, batch.y ?? batch.x);
      const projected = unitNorm
        ? { ...grads, wDec: projectDecoderGrad(state.params.wDec, grads.wDec) }
        : grads;
      const [updates, opt] = tx.update(projected, state.opt, state.params);
      const params = applyUpdates(state.params, updates) as SaeParams;
      const sinceFired = tf.where(
        tf.greater(stats.fired, 0),
        tf.zerosLike(state.sinceFired),
        tf.add(state.sinceFired, tf.scalar(b, "int32")),
      ) as tf.Tensor2D;
      const next: TrainState<O> = {
        ...state,
        step: state.step + 1,
        activations: state.activations + b,
        params,
        opt,
        sinceFired,
      };
      const outputs: StepOutputs = { f: forward.f, terms, loss, stats, ...(minActive ? { minActive } : {}) };
      return [next, outputs] as const;
    });
}

/**
 * BatchTopK's inference threshold: after the first step the smallest kept activation of the batch, then
 * a running average `θ ← decay·θ + (1 − decay)·min f` (per component; a batch without any active feature
 * leaves θ as it is).
 */
export function trackThreshold(decay: number): Step<TrainState, ObservedBatch> {
  return (state, { outputs }) =>
    tidy(() => {
      const minActive = outputs.minActive;
      const threshold = state.params.threshold;
      if (minActive === undefined || threshold === undefined) {
        throw new TypeError(
          "trackThreshold: expected params.threshold and the BatchTopK outputs' minActive, received neither",
        );
      }
      return {
        ...state,
        params: { ...state.params, threshold: trackedThreshold(threshold, minActive, state.step, decay) },
      };
    });
}

/**
 * The architecture's own update of its parameters after the optimizer's, from the latest gradient
 * step's outputs (BatchTopK's and Matryoshka's tracked threshold); the state as it is for an
 * architecture without one. *
 * @example An architecture without its own update leaves the state as it is
 * ```ts
 * import assert from "node:assert/strict";
 * import { makeSpec } from "../sae/arch/registry.ts";
 * import { updateArchitecture } from "./steps.ts";
 * const state = {} as never;
 * assert.equal(updateArchitecture(makeSpec("relu"))(state, {} as never), state);
 * ```
 */
export function updateArchitecture(spec: SaeSpec): Step<TrainState, ObservedBatch> {
  const update = archOf(spec.arch).afterUpdate;
  if (update === undefined) return (state) => state;
  return (state, { outputs }) =>
    tidy(() => ({ ...state, params: update(state.params, outputs, state.step, spec) }));
}

/** Renormalises every dictionary vector to unit length (after the update, as v1.10.0). */
export const constrainDecoder: Step<TrainState, Batch> = (state) =>
  tidy(() => ({ ...state, params: { ...state.params, wDec: normalizeDecoder(state.params.wDec) } }));

/** Adds the gradient step's batch to the metric accumulators. */
export const observe: Step<TrainState, ObservedBatch> = (state, batch) => ({
  ...state,
  metrics: accumulate(state.metrics, batch.outputs.terms, batch.outputs.stats, (batch.y ?? batch.x).shape[2]),
});

/**
 * {@linkcode observe} for data-parallel training: this process's per-item sums are summed over every
 * process, so that every process's accumulators hold the global batch's (the firing counts and `Σ‖y − ȳ‖²`
 * arrive already global from the gradient step).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { initMetrics } from "../metrics/accumulators.ts";
 * import { alone, observeAcross } from "./steps.ts";
 * const terms = { total: tf.tensor2d([[1, 2]]), l1: tf.tensor2d([[0, 1]]), l2: tf.tensor2d([[1, 1]]) };
 * const stats = { l0: tf.tensor2d([[3, 1]]), fired: tf.tensor2d([[2, 0]], undefined, "int32"), sst: tf.tensor1d([5]) };
 * const x = tf.zeros([1, 2, 4]) as tf.Tensor3D;
 * const state = { metrics: initMetrics(1, 2) } as never;
 * const next = observeAcross(alone)(state, { x, outputs: { terms, stats } as never });
 * assert.equal(next.metrics.n, 2);
 * assert.deepEqual(Array.from(next.metrics.lossSum.dataSync()), [3]);
 * assert.deepEqual(Array.from(next.metrics.sseSum.dataSync()), [8]); // dIn · Σ l2 = 4 · 2
 * ```
 */
export function observeAcross(across: Across): Step<TrainState, ObservedBatch> {
  return (state, batch) =>
    tidy(() => {
      const { terms, stats } = batch.outputs;
      const m = state.metrics;
      const local = terms.total.shape[1];
      const dIn = (batch.y ?? batch.x).shape[2];
      const aux = terms.aux;
      const sums = across.sum([
        tf.sum(terms.total, 1),
        tf.sum(terms.l1, 1),
        tf.sum(terms.l2, 1),
        tf.sum(stats.l0, 1),
        ...(aux === undefined ? [] : [tf.sum(aux, 1)]),
      ]);
      const metrics: MetricsState = {
        ...m,
        n: m.n + across.rows(local),
        batches: m.batches + 1,
        lossSum: tf.add(m.lossSum, sums[0]),
        l1Sum: tf.add(m.l1Sum, sums[1]),
        l2Sum: tf.add(m.l2Sum, sums[2]),
        l0Sum: tf.add(m.l0Sum, sums[3]),
        auxSum: aux === undefined ? tf.clone(m.auxSum) : tf.add(m.auxSum, sums[4]),
        sseSum: tf.add(m.sseSum, tf.mul(sums[2], dIn)),
        sstSum: tf.add(m.sstSum, stats.sst),
        fired: tf.add(m.fired, stats.fired),
      };
      return { ...state, metrics };
    });
}

/**
 * A step whose result's `what` is then replaced by process 0's: `"capacity"` for what is measured on the
 * first rows of the global batch (whose rows are process 0's share), `"parameters"` (parameters and
 * optimizer state) for resampling, decided by process 0 from its reservoir and handed to every process.
 * `changed` says when to share (it must give the same answer on every process).
 *
 * @example Nothing changed: the step's own result
 * ```ts
 * import assert from "node:assert/strict";
 * import { alone, fromFirstAfter } from "./steps.ts";
 * const state = { step: 1 } as never;
 * assert.equal(fromFirstAfter((s) => s, alone, "parameters", () => false)(state, {} as never), state);
 * ```
 */
export function fromFirstAfter<B>(
  step: Step<TrainState, B>,
  across: Across,
  what: "capacity" | "parameters",
  changed: (before: TrainState, after: TrainState) => boolean,
): Step<TrainState, B> {
  return (state, batch) =>
    tidy(() => {
      const next = step(state, batch);
      if (!changed(state, next)) return next;
      if (what === "capacity") {
        const [capacitySum] = across.fromFirst([next.metrics.capacitySum]);
        return { ...next, metrics: { ...next.metrics, capacitySum: capacitySum as tf.Tensor1D } };
      }
      const flat = flattenTree({ params: next.params, opt: next.opt });
      const names = Object.keys(flat.tensors).sort();
      const shared = across.fromFirst(names.map((n) => flat.tensors[n]));
      const byName: Record<string, tf.Tensor> = {};
      names.forEach((n, i) => (byName[n] = shared[i]));
      const rebuilt = unflattenTree(flat.skeleton, byName) as Pick<TrainState, "params" | "opt">;
      return { ...next, params: rebuilt.params, opt: rebuilt.opt };
    });
}

/**
 * {@linkcode collect} for data-parallel training: the firing counts arrive global from the gradient step,
 * and the rows seen and collated count the global batch, so that resampling is due at the same step on
 * every process (and as with one process). The reservoir holds this process's own rows: process 0's
 * decides (see {@linkcode fromFirstAfter}).
 *
 * @example The rows seen count the global batch
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { initResampler } from "../resample/resampler.ts";
 * import { collectAcross } from "./steps.ts";
 * const options = { interval: 100, collate: 10, datasetSize: 10, maxResamples: 1, deadThreshold: 0, reservoir: 4 };
 * const twoOfUs = { sum: () => [], fromFirst: () => [], rows: (local: number) => 2 * local };
 * const state = { seed: 0, step: 0, resampler: initResampler(1, 2, 3, 4) } as never;
 * const outputs = { stats: { fired: tf.zeros([1, 3], "int32") }, terms: { total: tf.ones([1, 5]) } };
 * const next = collectAcross(options, twoOfUs)(state, { x: tf.ones([1, 5, 2]) as tf.Tensor3D, outputs } as never);
 * assert.equal(next.resampler.seen, 10);
 * ```
 */
export function collectAcross(options: ResampleOptions, across: Across): Step<TrainState, ObservedBatch> {
  const inner = collect(options);
  return (state, batch) => {
    const next = inner(state, batch);
    const local = batch.x.shape[1];
    const rows = across.rows(local);
    const before = state.resampler, after = next.resampler;
    return {
      ...next,
      resampler: {
        ...after,
        seen: before.seen + rows,
        collated: after.collated === before.collated ? after.collated : before.collated + rows,
      },
    };
  };
}

/** Adds the mean capacity over the first `sample` items of the gradient step's batch. */
export function observeCapacity(sample: number): Step<TrainState, ObservedBatch> {
  return (state, { outputs }) => ({
    ...state,
    metrics: accumulateCapacity(state.metrics, outputs.f, sample),
  });
}

/**
 * Starts a new metrics window (empties the accumulators) at the first step after each step at which
 * `logged(step)` holds: the runner writes a metrics line after those steps, and the line covers the
 * steps since the previous one. A state saved between the line and the next step still holds the
 * window just logged, so a resumed run starts its window at the same step as an unbroken one.
 *
 * @param logged whether a metrics line is written after the step of that number (counted from 1)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { initMetrics } from "../metrics/accumulators.ts";
 * import { startMetricsWindow } from "./steps.ts";
 * const metrics = { ...initMetrics(1, 2), n: 5 };
 * const step = startMetricsWindow((s) => s % 10 === 0);
 * assert.equal(step({ step: 20, metrics } as never, {} as never).metrics.n, 0); // a line was written at 20
 * assert.equal(step({ step: 21, metrics } as never, {} as never).metrics.n, 5);
 * assert.equal(step({ step: 0, metrics } as never, {} as never).metrics.n, 5); // nothing logged yet
 * tf.dispose(metrics as never);
 * ```
 */
export function startMetricsWindow(logged: (step: number) => boolean): Step<TrainState, Batch> {
  return (state) => (state.step > 0 && logged(state.step) ? resetMetrics(state) : state);
}

/** The state with its metric accumulators emptied. */
export function resetMetrics<S extends TrainState>(state: S): S {
  const [c, dSae] = state.metrics.fired.shape;
  return { ...state, metrics: initMetrics(c, dSae) };
}

/** Feeds the gradient step's batch to the resampler's counters and reservoir. */
export function collect(options: ResampleOptions): Step<TrainState, ObservedBatch> {
  return (state, batch) => {
    const outputs = batch.outputs;
    const seed = deriveSeed(state.seed, state.step, 2);
    return {
      ...state,
      resampler: collectForResample(
        state.resampler,
        batch.x,
        outputs.stats.fired,
        outputs.terms.total,
        options,
        seed,
      ),
    };
  };
}

/** Resamples dead features when due: new parameters and optimizer moments together. */
export function resampleDead(options: ResampleOptions): Step<TrainState, Batch> {
  return (state) => {
    const result = resampleDeadFeatures(state.params, state.opt, state.resampler, options);
    if (result.resampler === state.resampler) return state;
    return { ...state, params: result.params, opt: result.opt, resampler: result.resampler };
  };
}
