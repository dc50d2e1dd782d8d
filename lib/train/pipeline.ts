/**
 * The default pipeline: the original's training step, composed from pure
 * steps.
 *
 * ```ts ignore
 * pipeSteps(
 *   gradientStep(tx, l1Coefficient), // loss, grads, projection, Adam update
 *   constrainDecoder,                // unit-norm dictionary after the update
 *   observe,                         // metric accumulators
 *   every(logEvery, observeCapacity(capacitySample)),
 *   collect(resample),               // resampler counters and reservoir
 *   resampleDead(resample),          // new rows in params AND zeroed moments
 * )
 * ```
 *
 * @module
 */
import { tidy } from "../tf.ts";
import { activationFor, resolveSizes, type TrainConfig } from "../config.ts";
import { initParams } from "../sae/params.ts";
import { scaleByAdam } from "../optim/adam.ts";
import { clipByGlobalNorm } from "../optim/clip.ts";
import {
  constantSchedule,
  cosineSchedule,
  scaleByLearningRate,
  type Schedule,
  warmupSchedule,
} from "../optim/schedules.ts";
import { addWeightDecay, chain, type ChainState, type GradientTransformation } from "../optim/transform.ts";
import { initMetrics } from "../metrics/accumulators.ts";
import { initResampler, type ResampleOptions } from "../resample/resampler.ts";
import { every, type Pipeline, pipeSteps, type Step } from "./compose.ts";
import type { Batch, TrainState } from "./state.ts";
import { collect, constrainDecoder, gradientStep, observe, observeCapacity, resampleDead } from "./steps.ts";

/** The learning-rate schedule a configuration asks for. */
export function learningRateSchedule(config: TrainConfig): Schedule {
  const { steps } = resolveSizes(config);
  switch (config.lrSchedule) {
    case "constant":
      return constantSchedule(config.lr);
    case "warmup":
      return warmupSchedule(config.lr, config.lrWarmupSteps);
    case "cosine":
      return cosineSchedule(config.lr, config.lrWarmupSteps, steps, config.lrMinRatio);
  }
}

/** The optimizer a configuration asks for: clip, L2 decay, Adam, learning rate. */
export function optimizerFor(config: TrainConfig): GradientTransformation<ChainState> {
  return chain(
    clipByGlobalNorm(config.gradClipNorm),
    addWeightDecay(config.weightDecay),
    scaleByAdam({
      b1: config.adamBeta1,
      b2: config.adamBeta2,
      eps: config.adamEps,
    }),
    scaleByLearningRate(learningRateSchedule(config)),
  );
}

/** The resampler's options from a configuration. */
export function resampleOptionsFor(config: TrainConfig): ResampleOptions {
  return {
    interval: config.resampleInterval,
    collate: config.resampleCollate,
    datasetSize: config.resampleDatasetSize,
    maxResamples: config.maxResamples,
    deadThreshold: config.deadThreshold,
    reservoir: resolveSizes(config).reservoir,
  };
}

/** The first state of a run: seeded parameters, fresh optimizer, empty accumulators. */
export function initTrainState(config: TrainConfig): TrainState {
  const { dSae, reservoir } = resolveSizes(config);
  const c = config.nComponents;
  return tidy(() => {
    const params = initParams({
      nComponents: c,
      dIn: config.dIn,
      dSae,
      seed: config.seed,
      encoderInit: config.encoderInit,
    });
    return {
      step: 0,
      seed: config.seed,
      activations: 0,
      params,
      opt: optimizerFor(config).init(params),
      metrics: initMetrics(c, dSae),
      resampler: initResampler(c, config.dIn, dSae, reservoir),
      outputs: null,
    };
  });
}

/**
 * The original's training step as a pipeline.
 *
 * @example
 * ```ts
 * import { tf } from "../tf.ts";
 * import { parseConfig } from "../config.ts";
 * import { defaultPipeline } from "./pipeline.ts";
 * const config = parseConfig({ dIn: 4, batchSize: 8, storeSize: 8, steps: 2 });
 * const { init, step } = defaultPipeline(config);
 * const s1 = step(init(config), { x: tf.randomNormal([1, 8, 4], 0, 1, "float32", 0) });
 * console.assert(s1.step === 1 && s1.activations === 8);
 * ```
 */
export function defaultPipeline(config: TrainConfig): Pipeline<TrainState, Batch, TrainConfig> {
  const tx = optimizerFor(config);
  const resample = resampleOptionsFor(config);
  const steps: Step<TrainState, Batch>[] = [
    gradientStep(tx, config.architecture === "topk" ? 0 : config.l1Coefficient, {
      keepActivations: config.capacitySample,
      activation: activationFor(config),
    }),
    constrainDecoder,
    observe,
  ];
  if (config.capacitySample > 0) {
    steps.push(
      every(config.logEvery, observeCapacity(config.capacitySample)),
    );
  }
  if (config.maxResamples > 0) {
    steps.push(
      collect(resample),
      resampleDead(resample),
    );
  }
  return { init: initTrainState, step: pipeSteps(...steps) };
}

/** The state with its metric accumulators emptied (after a log). */
export function resetMetrics<S extends TrainState>(state: S): S {
  const [c, dSae] = state.metrics.fired.shape;
  return { ...state, metrics: initMetrics(c, dSae) };
}
