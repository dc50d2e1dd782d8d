/**
 * The default pipeline: the original's training step, composed from pure
 * steps.
 *
 * ```ts ignore
 * pipeSteps(
 *   startMetricsWindow(logged),        // a new metrics window after each metrics line
 *   handOn(
 *     gradientStep(tx, l1Coefficient), // loss, grads, projection, Adam update → [state, outputs]
 *     constrainDecoder,                // unit-norm dictionary after the update
 *     observe,                         // metric accumulators, from the outputs
 *     every(logEvery, observeCapacity(capacitySample)),
 *     collect(resample),               // resampler counters and reservoir
 *     resampleDead(resample),          // new rows in params AND zeroed moments
 *   ),
 * )
 * ```
 *
 * @module
 */
import { tf, tidy } from "../tf.ts";
import {
  decoderInitNormFor,
  encoderInitFor,
  isTranscoder,
  resolveSizes,
  specFor,
  type TrainConfig,
} from "../config.ts";
import { archOf, initArchParams } from "../sae/arch/registry.ts";
import { expectedNormScale, foldScale, type InputScale, unitScale } from "../sae/normalization.ts";
import type { SaeParams } from "../sae/params.ts";
import { geometricMedian } from "../sae/geometric_median.ts";
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
import { type TensorShapes, tensorShapes } from "../io/tree.ts";
import { every, handOn, type Pipeline, pipeSteps, type Step } from "./compose.ts";
import type { Batch, ObservedBatch, TrainState } from "./state.ts";
import {
  type Across,
  collect,
  collectAcross,
  constrainDecoder,
  fromFirstAfter,
  gradientStep,
  observe,
  observeAcross,
  observeCapacity,
  resampleDead,
  startMetricsWindow,
  updateArchitecture,
} from "./steps.ts";

/** The learning-rate schedule a configuration asks for. */
export function learningRateSchedule(config: TrainConfig): Schedule {
  const { steps } = resolveSizes(config);
  switch (config.lrSchedule) {
    case "constant":
      return constantSchedule(config.lr);
    case "warmup":
      return warmupSchedule(config.lr, config.lrWarmupSteps, {
        steps: config.lrDecaySteps,
        totalSteps: steps,
        minRatio: config.lrMinRatio,
      });
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

/**
 * Whether the first state of a configuration depends on data: the activation scale or a decoder bias at
 * the mean or geometric median of a sample.
 */
export function needsInitSample(config: TrainConfig): boolean {
  return config.normalizeActivations !== "none" || config.bDecInit !== "zeros";
}

/**
 * A raw batch as the model or the store delivers it, made into what the SAEs train on: for transcoders
 * the first half of the components is the input and the second the target; then the constant scales.
 */
export function prepareBatch(batch: Batch, scale: InputScale, transcoder: boolean): Batch {
  return tidy(() => {
    let x = batch.x, y = batch.y;
    if (transcoder && y === undefined) {
      const c = x.shape[0] / 2;
      if (!Number.isInteger(c)) {
        throw new RangeError(
          `x: expected an even number of components for transcoders (inputs then targets), received ${
            x.shape[0]
          }`,
        );
      }
      [x, y] = tf.split(x, 2, 0) as [tf.Tensor3D, tf.Tensor3D];
    }
    const sx = tf.reshape(scale.x, [-1, 1, 1]);
    const xs = tf.mul(x, sx) as tf.Tensor3D;
    if (y === undefined) return { x: xs };
    return { x: xs, y: tf.mul(y, tf.reshape(scale.y, [-1, 1, 1])) as tf.Tensor3D };
  });
}

/**
 * The first state of a run: seeded parameters, fresh optimizer, empty accumulators. With a `sample`
 * (raw activations of the run's first batches), the activation scale and the decoder bias that the
 * configuration asks for are estimated on it.
 */
export function initTrainState(config: TrainConfig, sample?: Batch): TrainState {
  const { dSae, reservoir } = resolveSizes(config);
  const c = config.nComponents;
  if (needsInitSample(config) && sample === undefined) {
    throw new TypeError(
      `sample: expected a batch of activations for normalizeActivations ${
        JSON.stringify(config.normalizeActivations)
      } and bDecInit ${JSON.stringify(config.bDecInit)}, received nothing`,
    );
  }
  return tidy(() => {
    let scale = unitScale(c);
    let bDec: tf.Tensor2D | undefined;
    if (sample !== undefined && needsInitSample(config)) {
      const raw = prepareBatch(sample, scale, isTranscoder(config));
      const xRaw = raw.x, yRaw = raw.y ?? raw.x;
      if (config.normalizeActivations === "expected-norm") {
        const sx = expectedNormScale(xRaw);
        scale = { x: sx, y: raw.y === undefined ? sx : expectedNormScale(yRaw) };
      }
      const y = tf.mul(yRaw, tf.reshape(scale.y, [-1, 1, 1])) as tf.Tensor3D;
      if (config.bDecInit === "mean") bDec = tf.mean(y, 1) as tf.Tensor2D;
      if (config.bDecInit === "geometric-median") bDec = geometricMedian(y);
    }
    const params = initArchParams(specFor(config), {
      nComponents: c,
      dIn: config.dIn,
      dSae,
      seed: config.seed,
      encoderInit: encoderInitFor(config),
      decoderInitNorm: decoderInitNormFor(config),
      bDec,
    });
    return {
      step: 0,
      seed: config.seed,
      activations: 0,
      params,
      opt: optimizerFor(config).init(params),
      metrics: initMetrics(c, dSae),
      resampler: initResampler(c, config.dIn, dSae, reservoir),
      sinceFired: tf.zeros([c, dSae], "int32") as tf.Tensor2D,
      scale,
    };
  });
}

/**
 * The shape of every tensor of a configuration's training state, by path (`params.wEnc`, `opt.2.mu.wDec`, …):
 * what a checkpoint of a run with this configuration holds. (A fresh state's: the activation normalisation and
 * the decoder bias's initialisation change values, not shapes, and need no sample.)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseConfig } from "../config.ts";
 * import { stateShapes } from "./pipeline.ts";
 * const shapes = stateShapes(parseConfig({ dIn: 4, dSae: 8, nComponents: 2 }));
 * assert.deepEqual(shapes["params.wEnc"], [2, 4, 8]);
 * assert.deepEqual(shapes["sinceFired"], [2, 8]);
 * ```
 */
export function stateShapes(config: TrainConfig): TensorShapes {
  const fresh = initTrainState({ ...config, normalizeActivations: "none", bDecInit: "zeros" });
  try {
    return tensorShapes(fresh);
  } finally {
    tf.dispose(fresh as unknown as tf.TensorContainer);
  }
}

/** Options of {@linkcode defaultPipeline}. */
export type DefaultPipelineOptions = {
  /**
   * Data-parallel training: each process steps on its share of the global batch and these collective
   * operations combine the shares (gradients, metric sums, firing counts), so that every process makes
   * the update of one process on the whole batch (see `Across` in `steps.ts`). Absent: one process.
   */
  readonly across?: Across;
};

/**
 * The training step of a configuration as a pipeline: the original's for `relu`, and the same shape
 * for every architecture, whose record says whether the decoder is held at unit norm and what it
 * updates after the optimizer (BatchTopK's threshold tracking).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { parseConfig } from "../config.ts";
 * import { defaultPipeline } from "./pipeline.ts";
 * const config = parseConfig({ dIn: 4, batchSize: 8, storeSize: 8, steps: 2 });
 * const { init, step } = defaultPipeline(config);
 * const s1 = step(init(config), { x: tf.randomNormal([1, 8, 4], 0, 1, "float32", 0) });
 * assert.equal(s1.step, 1);
 * assert.equal(s1.activations, 8);
 * ```
 */
export function defaultPipeline(
  config: TrainConfig,
  options: DefaultPipelineOptions = {},
): Pipeline<TrainState, Batch, TrainConfig> {
  const across = options.across;
  const tx = optimizerFor(config);
  const resample = resampleOptionsFor(config);
  const spec = specFor(config);
  const arch = archOf(spec.arch);
  const transcoder = isTranscoder(config);
  const after: Step<TrainState, ObservedBatch>[] = [];
  if (arch.unitNormDecoder(spec)) after.push(constrainDecoder);
  if (arch.afterUpdate !== undefined) after.push(updateArchitecture(spec));
  if (across === undefined) {
    after.push(observe);
    if (config.capacitySample > 0) after.push(every(config.logEvery, observeCapacity(config.capacitySample)));
    if (config.maxResamples > 0) after.push(collect(resample), resampleDead(resample));
  } else {
    after.push(observeAcross(across));
    if (config.capacitySample > 0) {
      const capacity = every(config.logEvery, observeCapacity(config.capacitySample));
      after.push(
        fromFirstAfter(
          capacity,
          across,
          "capacity",
          (a, b) => a.metrics.capacityBatches !== b.metrics.capacityBatches,
        ),
      );
    }
    if (config.maxResamples > 0) {
      after.push(
        collectAcross(resample, across),
        fromFirstAfter(
          resampleDead(resample),
          across,
          "parameters",
          (a, b) => a.resampler.resamples !== b.resampler.resamples,
        ),
      );
    }
  }
  const inner = pipeSteps<TrainState, Batch>(
    startMetricsWindow((step) => metricsLogged(config, step)),
    handOn(
      gradientStep(tx, spec, {
        keepActivations: config.capacitySample,
        sparsityWarmupSteps: config.sparsityWarmupSteps,
        deadActivations: config.deadActivations,
        ...(across === undefined ? {} : { across }),
      }),
      ...after,
    ),
  );
  if (!transcoder && config.normalizeActivations === "none") return { init: initTrainState, step: inner };
  return {
    init: initTrainState,
    step: (state, batch) => tidy(() => inner(state, prepareBatch(batch, state.scale, transcoder))),
  };
}

/**
 * Whether a metrics line is written after step `step` (counted from 1): every `logEvery` steps, every
 * `validateEvery` steps (a validation's results join a metrics line) and at the last step. The runner
 * writes the lines; the default pipeline starts a new metrics window after each.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseConfig } from "../config.ts";
 * import { metricsLogged } from "./pipeline.ts";
 * const config = parseConfig({ logEvery: 10, validateEvery: 15, steps: 32 });
 * assert.deepEqual([10, 15, 20, 30, 32].map((s) => metricsLogged(config, s)), [true, true, true, true, true]);
 * assert.deepEqual([1, 12, 31].map((s) => metricsLogged(config, s)), [false, false, false]);
 * ```
 */
export function metricsLogged(config: TrainConfig, step: number): boolean {
  const { steps } = resolveSizes(config);
  return step % config.logEvery === 0 || (config.validateEvery > 0 && step % config.validateEvery === 0) ||
    step === steps;
}

/**
 * The parameters of a state as they apply to raw activations: the activation scale folded into the
 * weights (new tensors, owned by the caller). Export and validation use these.
 */
export function foldedParams(state: TrainState): SaeParams {
  return foldScale(state.params, state.scale);
}
