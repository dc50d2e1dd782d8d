/**
 * The runner: the one effectful loop. It reads batches, runs the pure step
 * inside `tf.tidy`, frees what the step replaced, and does the side effects:
 * metrics lines, progress, checkpoints, the final export, and stopping on an
 * `AbortSignal` with a final checkpoint.
 *
 * What can go wrong is caught where it happens: the run folder is locked
 * for one writer (`lock.ts`); the first batch of activations, and at every
 * log step, checkpoint and the end the loss, the parameters and the optimizer
 * moments are checked for NaN and ±Inf (`../train/finite.ts`), so that no
 * metrics line, checkpoint or export is written from a state that is not
 * finite (with `onNonfinite: "skip"`, every step is checked and a batch that
 * makes one is skipped); a metrics line is written whole or not at all, and a
 * torn last line is ignored with a warning on resume; a resumed run that had
 * finished changes nothing.
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
import {
  checkpointName,
  type LoadedCheckpoint,
  removeCheckpointTemps,
  saveCheckpoint,
} from "../io/checkpoint.ts";
import {
  countNonFinite,
  describeNonFinite,
  describeTensorPath,
  finiteProbe,
  firstNonFinite,
  type NonFiniteCount,
  NonFiniteError,
  probedTensors,
} from "../train/finite.ts";
import { exportSaes } from "../io/export.ts";
import { exists, writeTextAtomic } from "../io/files.ts";
import { disposeAll, disposeReplaced } from "./dispose.ts";
import { acrossProcesses, type Collective, shareOf, sliceRows } from "./distributed/across.ts";
import type { Progress } from "./progress.ts";
import { lockRunFolder, type RunLock } from "./lock.ts";
import {
  closeSinks,
  dropTornLastLine,
  type LogRecord,
  type LogSink,
  type MetricsFile,
  openMetricsFile,
  tornLineWarning,
} from "./sinks.ts";

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
  /**
   * The lock of `out` that the caller already holds ({@linkcode lockRunFolder}); without it, `train`
   * takes the lock itself for the run and gives it back when it returns.
   */
  readonly lock?: RunLock;
  /** Warnings (a torn metrics line ignored, …); `console.warn` by default. */
  readonly warn?: (message: string) => void;
  /**
   * Data-parallel training over the processes of an MPI job (`initMpi()` of `distributed/mpi.ts`): every
   * process reads the same shuffled stream and trains on its share of each global batch of
   * `config.batchSize` rows (`shareOf`), the default pipeline combines the shares' gradients and metric
   * sums, and process 0 alone takes the lock and writes `metrics.jsonl`, checkpoints, `final/` and the
   * sinks. Every process must be given the same configuration, source and checkpoint.
   */
  readonly distributed?: Collective;
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
  /** A resumed run that had already reached its last step: nothing was trained or rewritten. */
  readonly alreadyFinished: boolean;
  /** Whether `out/final/` was written (it is left as it is when it already holds the state and last line). */
  readonly wroteFinal: boolean;
  /** Batches skipped for a non-finite loss or gradients (`onNonfinite: "skip"`). */
  readonly skipped: number;
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

/**
 * The lines of `metrics.jsonl` up to `step` (all when `step` is undefined), with the record of the last; a
 * torn last line, or a line that is not JSON, is left out with a warning naming the file and the line.
 */
async function metricsLinesUpTo(
  path: string,
  step: number | undefined,
  warn: (message: string) => void,
): Promise<{ lines: string[]; last: LogRecord | undefined }> {
  const lines: string[] = [];
  let last: LogRecord | undefined;
  if (!(await exists(path))) return { lines, last };
  const { text, torn } = dropTornLastLine(await Deno.readTextFile(path));
  if (torn !== undefined) warn(tornLineWarning(path, torn));
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    let record: LogRecord;
    try {
      record = JSON.parse(line);
    } catch (error) {
      warn(
        `${path} line ${i + 1}: ignored a line that is not JSON (${
          error instanceof Error ? error.message : error
        })`,
      );
      return;
    }
    if (step !== undefined && !((record.step as number) <= step)) return;
    lines.push(line);
    last = record;
  });
  return { lines, last };
}

/** Cuts `metrics.jsonl` back to the lines up to `step` (where a resumed run goes on); returns the last. */
async function truncateMetrics(
  path: string,
  step: number,
  warn: (message: string) => void,
): Promise<LogRecord | undefined> {
  if (!(await exists(path))) {
    await writeTextAtomic(path, "");
    return undefined;
  }
  const { lines, last } = await metricsLinesUpTo(path, step, warn);
  await writeTextAtomic(path, lines.map((line) => line + "\n").join(""));
  return last;
}

/**
 * Refuses a batch of activations that is not finite, naming the component (the hook) and where in the
 * batch: checked on the first batches of a run, before they reach the SAEs.
 */
function assertFiniteActivations(
  batch: { readonly data: Float32Array; readonly rows: number },
  source: ActivationSource,
  config: TrainConfig,
  componentNames: readonly string[],
): void {
  const found = firstNonFinite(batch.data, source.nComponents, batch.rows, source.dIn);
  if (found === undefined) return;
  const c = config.nComponents;
  const name = isTranscoder(config)
    ? `${componentNames[found.component % c]} (its ${found.component < c ? "input" : "target"})`
    : componentNames[found.component];
  throw new NonFiniteError(
    `the first batch of activations of ${name} is not finite (${found.value} at row ${found.row}, column ${found.column}); ` +
      "check the model and its weights, or the activation cache",
    0,
    "activations",
    name,
  );
}

/** Whether `out/final/` exists and its `summary.json` is `lastLog` (or it has none and there is no line). */
async function finalHolds(out: string, lastLog: LogRecord | undefined): Promise<boolean> {
  if (!(await exists(`${out}/final`))) return false;
  const path = `${out}/final/summary.json`;
  if (!(await exists(path))) return lastLog === undefined;
  try {
    return lastLog !== undefined &&
      JSON.stringify(JSON.parse(await Deno.readTextFile(path))) === JSON.stringify(lastLog);
  } catch {
    return false; // unreadable: written again
  }
}

/**
 * Whether run folder `out` holds a finished export: `final/` exists and its
 * `summary.json` is the last line of `metrics.jsonl` (a torn last line is
 * ignored, with a warning). What `deno task train --resume` of a finished run
 * checks before doing nothing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { finalIsCurrent } from "./runner.ts";
 * const out = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${out}/metrics.jsonl`, '{"step":1}\n{"step":2}\n');
 * assert.equal(await finalIsCurrent(out), false); // no final/
 * await Deno.mkdir(`${out}/final`);
 * await Deno.writeTextFile(`${out}/final/summary.json`, '{\n  "step": 2\n}\n');
 * assert.equal(await finalIsCurrent(out), true);
 * await Deno.writeTextFile(`${out}/metrics.jsonl`, '{"step":1}\n{"step":2}\n{"step":3}\n');
 * assert.equal(await finalIsCurrent(out), false); // final/ holds an older line
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export async function finalIsCurrent(
  out: string,
  warn: (message: string) => void = (message) => console.warn(`saekit: warning: ${message}`),
): Promise<boolean> {
  return await finalHolds(out, (await metricsLinesUpTo(`${out}/metrics.jsonl`, undefined, warn)).last);
}

/**
 * With `onNonfinite: "skip"`, a run that skips this many batches in a row stops with an error: its
 * training does not recover.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MAX_SKIPPED_IN_A_ROW } from "./runner.ts";
 * assert.equal(MAX_SKIPPED_IN_A_ROW, 100);
 * ```
 */
export const MAX_SKIPPED_IN_A_ROW = 100;

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
  let lock: RunLock | undefined;
  let result: TrainResult;
  try {
    // One writer per run folder: locked before anything is written, until the sinks are closed.
    const writer = (options.distributed?.rank ?? 0) === 0;
    if (writer && options.out !== undefined && options.lock === undefined) {
      lock = await lockRunFolder(options.out);
    }
    result = await trainLoop(options);
  } catch (error) {
    // The run's own failure is the one to report; a sink that also fails to close must not hide it.
    await closeSinks(sinks).catch(() => {});
    lock?.release();
    throw error;
  }
  try {
    await closeSinks(sinks);
  } catch (error) {
    disposeAll(result.state);
    throw error;
  } finally {
    lock?.release();
  }
  return result;
}

async function trainLoop(options: TrainOptions): Promise<TrainResult> {
  const { config, source, signal, evaluate } = options;
  const distributed = options.distributed;
  // Process 0 alone writes; the others train the same state and write nothing.
  const writer = (distributed?.rank ?? 0) === 0;
  const out = writer ? options.out : undefined;
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
  let globalRows = 0; // rows of the global batch being stepped (data-parallel training)
  if (distributed !== undefined && options.pipeline === undefined && arch.afterUpdate !== undefined) {
    throw new RangeError(
      `--distributed: expected an architecture whose step is per item, received ${config.arch}, whose ` +
        "update after the optimizer reads the whole batch (train it with one process)",
    );
  }
  const pipeline = options.pipeline ??
    defaultPipeline(
      config,
      distributed === undefined ? {} : { across: acrossProcesses(distributed, () => globalRows) },
    );
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
      assertFiniteActivations(next.value, source, config, componentNames);
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
  const warn = options.warn ?? ((message: string) => console.warn(`saekit: warning: ${message}`));

  // Non-finite values. The activations (through the window's Σ‖x − x̄‖²), the loss and every parameter and
  // optimizer tensor are probed at every log step, before every checkpoint and before final/ (with
  // onNonfinite "skip", after every step); the run stops at the first that is not finite, and no
  // checkpoint or export is ever written from such a state.
  const skipNonFinite = config.onNonfinite === "skip";
  let checkedState: TrainState | undefined; // the state last found finite
  let goodCheckpoint: string | undefined; // the last checkpoint this process wrote (all were checked)
  let skipped = 0, skippedInWindow = 0, skippedInRow = 0;
  const findNonFinite = async (candidate: TrainState) => {
    const tensors = probedTensors(candidate);
    const probe = finiteProbe(tensors);
    const sums = await probe.data();
    probe.dispose();
    let i = 0;
    for (const { path, tensor, perComponent } of tensors) {
      const parts = perComponent ? tensor.shape[0] : 1;
      for (let k = 0; k < parts; k++, i++) {
        if (Number.isFinite(sums[i])) continue;
        // Confirmed on the host: a sum of huge finite values can overflow.
        const values = await tensor.data();
        const size = values.length / parts;
        const count = countNonFinite(values, k * size, (k + 1) * size);
        if (count.first >= 0) return { path, component: perComponent ? componentNames[k] : undefined, count };
      }
    }
    return undefined;
  };
  const nonFiniteError = (
    found: { path: string; component: string | undefined; count: NonFiniteCount },
    lead = "",
  ) => {
    const what = describeTensorPath(found.path) +
      (found.component === undefined ? "" : ` of ${found.component}`);
    const kept = out === undefined
      ? ""
      : goodCheckpoint !== undefined
      ? `; the last finite checkpoint is ${goodCheckpoint}`
      : options.resume !== undefined
      ? `; the last finite checkpoint is the one this run resumed from (step ${startStep})`
      : `; no checkpoint was written before it (--checkpoint-every ${config.checkpointEvery})`;
    const advice = found.path === "metrics.sstSum"
      ? "check the model and its weights, or the activation cache"
      : `lower --lr (now ${config.lr}) or set --grad-clip-norm (now ${config.gradClipNorm})` +
        (skipNonFinite
          ? ""
          : out !== undefined && (goodCheckpoint !== undefined || options.resume !== undefined)
          ? `, or continue from it with --resume ${out} --on-nonfinite skip, which skips batches whose loss ` +
            "or gradients are not finite"
          : ", or use --on-nonfinite skip to skip batches whose loss or gradients are not finite");
    return new NonFiniteError(
      `step ${state.step}: ${lead}${what} ${found.path === "metrics.sstSum" ? "are" : "is"} not finite (${
        describeNonFinite(found.count)
      })${kept}; ${advice}`,
      state.step,
      found.path,
      found.component,
    );
  };
  const assertFinite = async () => {
    if (checkedState === state) return;
    const found = await findNonFinite(state);
    if (found !== undefined) throw nonFiniteError(found);
    checkedState = state;
  };
  /** Skip mode: whether the state a step made is finite; if not, it is dropped and the batch counted. */
  const acceptStep = async (prev: TrainState, next: TrainState): Promise<boolean> => {
    const found = await findNonFinite(next);
    if (found === undefined) {
      checkedState = next;
      skippedInRow = 0;
      return true;
    }
    disposeReplaced(next, prev); // frees what the step made; the state stays as before it
    skipped++;
    skippedInWindow++;
    skippedInRow++;
    if (skippedInRow >= MAX_SKIPPED_IN_A_ROW) {
      throw nonFiniteError(
        found,
        `${skippedInRow} batches in a row were skipped (--on-nonfinite skip), so training does not recover: in the last, `,
      );
    }
    return false;
  };

  if (options.resume !== undefined) {
    const found = await findNonFinite(state);
    if (found !== undefined) {
      const what = describeTensorPath(found.path) +
        (found.component === undefined ? "" : ` of ${found.component}`);
      throw new NonFiniteError(
        `step ${startStep}: the checkpoint resumed from holds ${what}, which is not finite (${
          describeNonFinite(found.count)
        }); resume from an earlier checkpoint (move this one out of checkpoints/) or train again`,
        startStep,
        found.path,
        found.component,
      );
    }
    checkedState = state;
  }

  // A resumed run that had already reached its last step: nothing is trained or rewritten (final/ only
  // when it is missing or does not hold the last metrics line).
  const alreadyFinished = options.resume !== undefined && startStep >= steps;
  const metricsPath = out === undefined ? undefined : `${out}/metrics.jsonl`;
  let previousLog: LogRecord | undefined; // the last line written before this process
  if (out !== undefined && metricsPath !== undefined) {
    if (alreadyFinished) {
      previousLog = (await metricsLinesUpTo(metricsPath, undefined, warn)).last;
    } else {
      await Deno.mkdir(`${out}/checkpoints`, { recursive: true });
      // Half-written checkpoint folders a crash left (no other writer: the run folder is locked).
      await removeCheckpointTemps(out);
      await writeTextAtomic(`${out}/config.json`, JSON.stringify(config, null, 2) + "\n");
      if (options.resume) previousLog = await truncateMetrics(metricsPath, startStep, warn);
      else await writeTextAtomic(metricsPath, "");
    }
  }
  const metricsFile: MetricsFile | undefined = metricsPath === undefined || alreadyFinished
    ? undefined
    : await openMetricsFile(metricsPath);
  const started = performance.now();
  let lastLog: LogRecord | undefined = previousLog;
  let resamplesLogged = state.resampler.resamples;
  let stopped: TrainResult["stopped"] = "source-exhausted";
  let wroteFinal = false;

  const checkpoint = async () => {
    if (out === undefined) return;
    await assertFinite();
    const path = `${out}/checkpoints/${checkpointName(state.step)}`;
    try {
      await saveCheckpoint(path, state, { position, config });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (message.includes(path)) throw error;
      throw new Error(
        `${path}: cannot write the checkpoint of step ${state.step} (${message}); the earlier checkpoints are kept`,
        { cause: error },
      );
    }
    goodCheckpoint = path;
  };

  const log = async (extra: Record<string, number> = {}) => {
    await assertFinite(); // no line, checkpoint or export from a state that is not finite
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
    if (skipNonFinite) {
      record["train/skipped_batches"] = skippedInWindow;
      skippedInWindow = 0;
    }
    Object.assign(record, extra);
    record.time_s = Number(((performance.now() - started) / 1000).toFixed(3));
    lastLog = record;
    await metricsFile?.append(record);
    if (!writer) return;
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
      let firstBatch = true;
      for await (const batch of all()) {
        if (firstBatch) assertFiniteActivations(batch, source, config, componentNames);
        firstBatch = false;
        let x: tf.Tensor3D;
        if (distributed === undefined) {
          x = toTensor(batch.data, batch.rows);
        } else {
          // Every process holds the global batch and steps on its share; a last batch with fewer rows
          // than processes ends the run (a share would be empty).
          if (batch.rows < distributed.size) break;
          const [start, end] = shareOf(batch.rows, distributed.rank, distributed.size);
          globalRows = batch.rows;
          x = toTensor(
            sliceRows(batch.data, source.nComponents, batch.rows, source.dIn, start, end),
            end - start,
          );
        }
        const prev = state;
        const next = tidy(() => pipeline.step(prev, { x }));
        if (skipNonFinite && !(await acceptStep(prev, next))) {
          // Skipped: the state stays as before the batch, whose rows count as consumed.
          x.dispose();
          position = batch.position;
          if (signal?.aborted) {
            stopped = "aborted";
            break;
          }
          continue;
        }
        disposeReplaced(prev, next);
        x.dispose();
        state = next;
        position = batch.position;
        options.onStep?.(state);
        options.progress?.step(progressUpdate());
        const last = state.step >= steps;
        const validateNow = writer && options.validate !== undefined &&
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
    // A resumed run that trained nothing rewrites neither its checkpoint nor a final/ that holds its state.
    const unchanged = state === options.resume?.state;
    if (!unchanged) await checkpoint();
    if (out !== undefined && stopped !== "aborted" && !(unchanged && await finalHolds(out, lastLog))) {
      await assertFinite();
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
        wroteFinal = true;
      } finally {
        tf.dispose(folded as unknown as tf.TensorContainer);
      }
    }
  } finally {
    metricsFile?.close();
    options.progress?.done();
  }
  return {
    state,
    position,
    lastLog,
    stopped,
    seconds: (performance.now() - started) / 1000,
    alreadyFinished,
    wroteFinal,
    skipped,
  };
}
