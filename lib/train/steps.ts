/**
 * The steps of the default pipeline, each a pure function of
 * `(TrainState, Batch)`.
 *
 * @module
 */
import { tidy } from "../tf.ts";
import { deriveSeed } from "../seed.ts";
import type { SaeParams } from "../sae/params.ts";
import { saeLossAndGrads } from "../sae/grads.ts";
import type { SaeActivation } from "../sae/forward.ts";
import { normalizeDecoder, projectDecoderGrad } from "../sae/decoder.ts";
import { applyUpdates, type GradientTransformation } from "../optim/transform.ts";
import { accumulate, accumulateCapacity } from "../metrics/accumulators.ts";
import { collectForResample, resampleDeadFeatures, type ResampleOptions } from "../resample/resampler.ts";
import type { Step } from "./compose.ts";
import type { Batch, TrainState } from "./state.ts";

/** Options of {@linkcode gradientStep}. */
export type GradientStepOptions = {
  /**
   * Rows of the batch whose learned activations `f` are kept in `state.outputs.f` (all by default). The
   * default pipeline keeps only the rows capacity is measured on.
   */
  readonly keepActivations?: number;
  /** The encoder activation (ReLU by default). */
  readonly activation?: SaeActivation;
};

/**
 * Loss, hand-derived gradients, projection of the decoder gradients, and one
 * optimizer update. Counts the step and the activations.
 *
 * @param tx the optimizer, e.g. `chain(scaleByAdam(), scaleByLearningRate(schedule))`
 */
export function gradientStep<O>(
  tx: GradientTransformation<O>,
  l1Coefficient: number,
  options: GradientStepOptions = {},
): Step<TrainState<O>, Batch> {
  return (state, batch) =>
    tidy(() => {
      const { forward, terms, loss, grads, stats } = saeLossAndGrads(
        state.params,
        batch.x,
        l1Coefficient,
        options.keepActivations,
        options.activation,
      );
      const projected = { ...grads, wDec: projectDecoderGrad(state.params.wDec, grads.wDec) };
      const [updates, opt] = tx.update(projected, state.opt, state.params);
      const params = applyUpdates(state.params, updates) as SaeParams;
      return {
        ...state,
        step: state.step + 1,
        activations: state.activations + batch.x.shape[1],
        params,
        opt,
        outputs: { f: forward.f, xHat: forward.xHat, terms, loss, stats },
      };
    });
}

/** Renormalises every dictionary vector to unit length (after the update, as v1.10.0). */
export const constrainDecoder: Step<TrainState, Batch> = (state) =>
  tidy(() => ({ ...state, params: { ...state.params, wDec: normalizeDecoder(state.params.wDec) } }));

function requireOutputs(state: TrainState, name: string) {
  if (state.outputs === null) {
    throw new TypeError(`${name}: expected the outputs of a gradient step in state.outputs, received null`);
  }
  return state.outputs;
}

/** Adds the latest gradient step's batch to the metric accumulators. */
export const observe: Step<TrainState, Batch> = (state, batch) => {
  const outputs = requireOutputs(state, "observe");
  return {
    ...state,
    metrics: accumulate(state.metrics, outputs.terms, outputs.stats, batch.x.shape[2]),
  };
};

/** Adds the mean capacity over the first `sample` items of the latest batch. */
export function observeCapacity(sample: number): Step<TrainState, Batch> {
  return (state) => ({
    ...state,
    metrics: accumulateCapacity(state.metrics, requireOutputs(state, "observeCapacity").f, sample),
  });
}

/** Feeds the latest batch to the resampler's counters and reservoir. */
export function collect(options: ResampleOptions): Step<TrainState, Batch> {
  return (state, batch) => {
    const outputs = requireOutputs(state, "collect");
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
