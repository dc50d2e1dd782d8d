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
};

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
  return (state, batch) =>
    tidy(() => {
      const b = batch.x.shape[1];
      // No feature can be dead before `deadAfter` activations: AuxK costs nothing until then.
      const dead = withAux && state.activations >= deadAfter
        ? tf.cast(tf.greaterEqual(state.sinceFired, deadAfter), "float32")
        : undefined;
      const result = lossAndGradsFor(sae, state.params, batch.x, batch.y ?? batch.x, {
        sparsityScale: warmup > 0 ? Math.min(1, (state.step + 1) / warmup) : 1,
        dead: dead as tf.Tensor2D | undefined,
        keepActivations: options.keepActivations,
      });
      const { forward, terms, loss, grads, stats, minActive } = result;
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
