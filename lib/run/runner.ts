/**
 * The runner: the one effectful loop. It reads batches, runs the pure step
 * inside `tf.tidy`, frees what the step replaced, and does the side effects:
 * metrics lines, progress, checkpoints, the final export, and stopping on an
 * `AbortSignal` with a final checkpoint.
 *
 * @module
 */
import { tf, tidy } from "../tf.ts";
import { isTranscoder, resolveSizes, specFor, type TrainConfig } from "../config.ts";
import { archOf } from "../sae/arch/registry.ts";
import type { ExtraParamName } from "../sae/arch/record.ts";
import type { ActivationSource } from "../data/source.ts";
import { shuffledBatches } from "../data/store.ts";
import type { MetricsSnapshot } from "../metrics/summary.ts";
import { summarizeMetrics } from "../metrics/summary.ts";
import type { Pipeline } from "../train/compose.ts";
import type { Batch, TrainState } from "../train/state.ts";
import {
  defaultPipeline,
  foldedParams,
  learningRateSchedule,
  metricsLogged,
  needsInitSample,
} from "../train/pipeline.ts";
import { checkpointName, type LoadedCheckpoint, saveCheckpoint } from "../io/checkpoint.ts";
import { exportSaes } from "../io/export.ts";
import { exists, writeTextAtomic } from "../io/files.ts";
import { disposeAll, disposeReplaced } from "./dispose.ts";
import type { Progress } from "./progress.ts";
import { closeSinks, type LogRecord, type LogSink } from "./sinks.ts";

/** A log record: one line of `metrics.jsonl` (defined in `sinks.ts`, re-exported here). */
export type { LogRecord };

/** Per-component evaluation tensors computed at each log, e.g. `{ "eval/mmcs": [component] }`. */
export type Evaluate = (state: TrainState) => Readonly<Record<string, tf.Tensor1D>>;

/** Options of {@linkcode train}. */
export type TrainOptions = {
  readonly config: TrainConfig;
  readonly source: ActivationSource;
  /** Run folder for `config.json`, `metrics.jsonl`, `checkpoints/`, `final/`; nothing is written without it. */
  readonly out?: string;
  /**
   * The pipeline; the default one of the configuration when absent. A metrics line is written after each
   * step where `metricsLogged(config, step)` holds and covers the metrics accumulated since the previous
   * line: a pipeline of its own starts its windows with `startMetricsWindow` as the default one does.
   */
  readonly pipeline?: Pipeline<TrainState, Batch, TrainConfig>;
  /** Continue from this checkpoint instead of starting afresh. */
  readonly resume?: LoadedCheckpoint<TrainState>;
  /** Stop (after writing a checkpoint) when aborted. */
  readonly signal?: AbortSignal;
  /** Evaluation metrics logged with every metrics line. */
  readonly evaluate?: Evaluate;
  /**
   * Validation (e.g. with the SAEs spliced into the model), run every `validateEvery` steps of the
   * configuration and at the last step; its keys join that step's metrics line.
   */
  readonly validate?: (state: TrainState) => Promise<Record<string, number>>;
  /** Called with every log record. */
  readonly onLog?: (record: LogRecord) => void;
  /**
   * Where every log record also goes (TensorBoard, Weights & Biases, …): each `log` is awaited after the
   * metrics line is written, and every sink is closed when `train` returns or throws.
   */
  readonly sinks?: readonly LogSink[];
  /** Called after every step; it may read the state but keep nothing. */
  readonly onStep?: (state: TrainState) => void;
  readonly progress?: Progress;
};

/** How a run ended. */
export type TrainResult = {
  /** The final state (the caller owns it: `disposeAll(result.state)` when done). */
  readonly state: TrainState;
  /** Source rows consumed. */
  readonly position: number;
  /** The last log record. */
  readonly lastLog: LogRecord | undefined;
  readonly stopped: "completed" | "aborted" | "source-exhausted";
  /** Wall-clock seconds of this process's part of the run. */
  readonly seconds: number;
};

async function snapshot(state: TrainState, withAux: boolean): Promise<MetricsSnapshot> {
  const m = state.metrics;
  const [lossSum, l1Sum, l2Sum, auxSum, l0Sum, sseSum, sstSum, fired, capacitySum] = await Promise.all(
    [m.lossSum, m.l1Sum, m.l2Sum, m.auxSum, m.l0Sum, m.sseSum, m.sstSum, m.fired, m.capacitySum].map((t) =>
      t.data()
    ),
  );
  return {
    n: m.n,
    lossSum,
    l1Sum,
    l2Sum,
    ...(withAux ? { auxSum } : {}),
    l0Sum,
    sseSum,
    sstSum,
    fired,
    capacitySum,
    capacityBatches: m.capacityBatches,
  } as MetricsSnapshot;
}

async function truncateMetrics(path: string, step: number): Promise<void> {
  if (!(await exists(path))) return;
  const kept = (await Deno.readTextFile(path)).split("\n").filter((line) => {
    if (line.trim() === "") return false;
    try {
      return (JSON.parse(line) as { step: number }).step <= step;
    } catch {
      return false;
    }
  });
  await writeTextAtomic(path, kept.map((line) => line + "\n").join(""));
}

/**
 * Trains until the configured number of steps, the end of the source, or an
 * abort.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { selectBackend } from "../backends/select.ts";
 * import { parseConfig } from "../config.ts";
 * import { toySource } from "../data/toy.ts";
 * import { train } from "./runner.ts";
 * import { disposeAll } from "./dispose.ts";
 * await selectBackend("cpu");
 * const config = parseConfig({ dIn: 8, batchSize: 16, storeSize: 64, steps: 3, logEvery: 3 });
 * const source = toySource({ nComponents: 1, dIn: 8, nFeatures: 16, meanActive: 2, chunkRows: 64, seed: 0 });
 * const result = await train({ config, source });
 * assert.equal(result.state.step, 3);
 * assert.equal(result.lastLog?.step, 3);
 * disposeAll(result.state);
 * ```
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const sinks = options.sinks ?? [];
  let result: TrainResult;
  try {
    result = await trainLoop(options);
  } catch (error) {
    // The run's own failure is the one to report; a sink that also fails to close must not hide it.
    await closeSinks(sinks).catch(() => {});
    throw error;
  }
  try {
    await closeSinks(sinks);
  } catch (error) {
    disposeAll(result.state);
    throw error;
  }
  return result;
}

async function trainLoop(options: TrainOptions): Promise<TrainResult> {
  const { config, source, out, signal, evaluate } = options;
  const { steps, componentNames, dSae } = resolveSizes(config);
  const sourceComponents = isTranscoder(config) ? 2 * config.nComponents : config.nComponents;
  if (source.dIn !== config.dIn || source.nComponents !== sourceComponents) {
    throw new RangeError(
      `source: expected ${sourceComponents} components of width ${config.dIn} (${
        isTranscoder(config) ? "inputs then targets of nComponents transcoders" : "nComponents"
      }, dIn), received ${source.nComponents} of width ${source.dIn}`,
    );
  }
  const spec = specFor(config);
  const arch = archOf(spec.arch);
  const withAux = spec.auxK > 0 && spec.auxkCoefficient > 0;
  const pipeline = options.pipeline ?? defaultPipeline(config);
  const schedule = learningRateSchedule(config);
  let position = options.resume?.position ?? 0;
  const batches = shuffledBatches(source, {
    storeSize: config.storeSize,
    batchSize: config.batchSize,
    seed: config.seed,
    start: position,
  })[Symbol.asyncIterator]();
  const toTensor = (data: Float32Array, rows: number) =>
    tf.tensor3d(data, [source.nComponents, rows, source.dIn]);
  // Initialisations that look at data see the first batches of the run, which are then trained on.
  const early: { data: Float32Array; rows: number; position: number }[] = [];
  let state: TrainState;
  if (options.resume !== undefined) {
    state = options.resume.state;
  } else if (needsInitSample(config)) {
    let rows = 0;
    while (rows < config.initSample) {
      const next = await batches.next();
      if (next.done) break;
      early.push(next.value);
      rows += next.value.rows;
    }
    if (early.length === 0) {
      throw new RangeError("source: expected activations for the initial sample, received none");
    }
    const sample = tf.tidy(() => tf.concat(early.map((b) => toTensor(b.data, b.rows)), 1)) as tf.Tensor3D;
    state = pipeline.init(config, { x: sample });
    sample.dispose();
  } else {
    state = pipeline.init(config);
  }
  const startStep = state.step;
  const metricsPath = out === undefined ? undefined : `${out}/metrics.jsonl`;
  if (out !== undefined) {
    await Deno.mkdir(`${out}/checkpoints`, { recursive: true });
    await writeTextAtomic(`${out}/config.json`, JSON.stringify(config, null, 2) + "\n");
    if (metricsPath !== undefined) {
      if (options.resume) await truncateMetrics(metricsPath, startStep);
      else await writeTextAtomic(metricsPath, "");
    }
  }
  const metricsFile = metricsPath === undefined ? undefined : await Deno.open(metricsPath, { append: true });
  const encoder = new TextEncoder();
  const started = performance.now();
  let lastLog: LogRecord | undefined;
  let resamplesLogged = state.resampler.resamples;
  let stopped: TrainResult["stopped"] = "source-exhausted";

  const checkpoint = async () => {
    if (out === undefined) return;
    await saveCheckpoint(`${out}/checkpoints/${checkpointName(state.step)}`, state, { position, config });
  };

  const log = async (extra: Record<string, number> = {}) => {
    const record: LogRecord = {
      step: state.step,
      activations: state.activations,
      lr: schedule(state.step - 1),
      ...summarizeMetrics(await snapshot(state, withAux), {
        componentNames,
        dSae,
        l1Coefficient: config.l1Coefficient,
        deadThreshold: config.deadThreshold,
      }),
    };
    if (arch.metrics !== undefined) {
      // The architecture's own fields (e.g. threshold/*), from host copies of the parameters it names.
      const host: Partial<Record<ExtraParamName, Float32Array>> = {};
      for (const key of arch.metrics.params) {
        const value = state.params[key];
        if (value !== undefined) host[key] = (await value.data()) as Float32Array;
      }
      Object.assign(record, arch.metrics.compute(host, componentNames, dSae));
    }
    if (withAux) {
      const since = await state.sinceFired.data();
      componentNames.forEach((name, k) => {
        let dead = 0;
        for (let j = 0; j < dSae; j++) if (since[k * dSae + j] >= config.deadActivations) dead++;
        record[`train/auxk_dead_fraction/${name}`] = dead / dSae;
      });
    }
    if (state.resampler.resamples > resamplesLogged) {
      const counts = await state.resampler.lastResampled.data();
      componentNames.forEach((name, k) => (record[`resample/dead_neurons/${name}`] = counts[k]));
      resamplesLogged = state.resampler.resamples;
    }
    if (evaluate !== undefined) {
      const evaluated = evaluate(state);
      for (const [prefix, tensor] of Object.entries(evaluated)) {
        const values = Array.from(await tensor.data());
        componentNames.forEach((name, k) => (record[`${prefix}/${name}`] = values[k]));
        record[`${prefix}/mean`] = values.reduce((a, b) => a + b, 0) / values.length;
        tensor.dispose();
      }
    }
    Object.assign(record, extra);
    record.time_s = Number(((performance.now() - started) / 1000).toFixed(3));
    lastLog = record;
    await metricsFile?.write(encoder.encode(JSON.stringify(record) + "\n"));
    options.onLog?.(record);
    for (const sink of options.sinks ?? []) await sink.log(record);
  };

  const progressUpdate = () => ({
    step: state.step,
    total: steps,
    activations: state.activations,
    elapsed: (performance.now() - started) / 1000,
    startStep,
    loss: typeof lastLog?.["loss/total/mean"] === "number" ? lastLog["loss/total/mean"] as number : undefined,
  });

  try {
    if (state.step >= steps) {
      stopped = "completed";
    } else {
      const all = async function* () {
        yield* early;
        early.length = 0;
        while (true) {
          const next = await batches.next();
          if (next.done) return;
          yield next.value;
        }
      };
      for await (const batch of all()) {
        const x = toTensor(batch.data, batch.rows);
        const prev = state;
        const next = tidy(() => pipeline.step(prev, { x }));
        disposeReplaced(prev, next);
        x.dispose();
        state = next;
        position = batch.position;
        options.onStep?.(state);
        options.progress?.step(progressUpdate());
        const last = state.step >= steps;
        const validateNow = options.validate !== undefined &&
          (last || (config.validateEvery > 0 && state.step % config.validateEvery === 0));
        if (metricsLogged(config, state.step) || last) {
          await log(validateNow ? await options.validate!(state) : {});
          options.progress?.log(progressUpdate());
        }
        if (last) {
          stopped = "completed";
          break;
        }
        if (config.checkpointEvery > 0 && state.step % config.checkpointEvery === 0) await checkpoint();
        if (signal?.aborted) {
          stopped = "aborted";
          break;
        }
      }
    }
    // A source that ran dry ends the run: log its last partial window. An abort does not log, so that the
    // checkpoint keeps the window's accumulators and a resumed run logs exactly what an unbroken one would.
    if (stopped === "source-exhausted" && lastLog?.step !== state.step && state.metrics.n > 0) await log();
    await checkpoint();
    if (out !== undefined && stopped !== "aborted") {
      const files: Record<string, string> = {};
      if (lastLog !== undefined) files["summary.json"] = JSON.stringify(lastLog, null, 2) + "\n";
      const folded = foldedParams(state);
      try {
        await exportSaes(`${out}/final`, folded, {
          componentNames,
          arch: config.arch,
          k: config.k,
          transcoder: isTranscoder(config)
            ? { from: config.transcoderFrom!, to: config.transcoderTo! }
            : undefined,
          extra: {
            saekit_step: state.step,
            saekit_activations: state.activations,
            saekit_normalize_activations: config.normalizeActivations,
          },
          files,
        });
      } finally {
        tf.dispose(folded as unknown as tf.TensorContainer);
      }
    }
  } finally {
    metricsFile?.close();
    options.progress?.done();
  }
  return { state, position, lastLog, stopped, seconds: (performance.now() - started) / 1000 };
}
