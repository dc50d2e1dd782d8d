/**
 * `deno task sweep --sweep FILE --workers N`: a sweep file's runs (see
 * `file.ts`) trained by N worker processes that share a sweep folder
 * (see `queue.ts`), then a summary table.
 *
 * The parent expands the file, writes the plan into the folder, starts N
 * copies of `tasks/sweep.ts --worker --dir DIR`, relays their output with a
 * `[worker i]` prefix, waits for them, marks the run of a worker that died as
 * `failed`, and prints and writes `DIR/summary.md`. A worker takes runs until
 * none is left; more workers can join from other terminals with
 * `deno task sweep --worker --dir DIR`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type CommandHelp, type FlagTable, formatHelp } from "../cli/help.ts";
import type { BackendName } from "../backends/names.ts";
import { selectBackend } from "../backends/select.ts";
import { parseConfig } from "../config.ts";
import { writeTextAtomic } from "../io/files.ts";
import { prepareSource } from "../data/prepare.ts";
import { type LogRecord, train } from "../run/runner.ts";
import { disposeAll } from "../run/dispose.ts";
import { lockRunFolder } from "../run/lock.ts";
import { loadLatestCheckpoint } from "../io/checkpoint.ts";
import { stateShapes } from "../train/pipeline.ts";
import type { TrainState } from "../train/state.ts";
import { finishRunReport } from "../report/report.ts";
import {
  describeParams,
  formatSweepSummary,
  planSweep,
  type SweepRun,
  type SweepRunResult,
  sweepRunResult,
} from "./file.ts";
import {
  claimNext,
  claimRun,
  failRunsOf,
  finishRun,
  initSweepDir,
  pendingRuns,
  readStatuses,
  readSweepPlan,
  resetRuns,
  type SweepClaim,
  workerIdentity,
} from "./queue.ts";

/** What training one run of a sweep gives: its result row, unless it was stopped. */
export type SweepRunOutcome =
  | {
    readonly stopped: "completed" | "source-exhausted";
    readonly result: SweepRunResult;
    /** The numbers of the last metrics line. */
    readonly last: Readonly<Record<string, number>>;
  }
  | {
    readonly stopped: "aborted";
    /** The step of the checkpoint it wrote. */
    readonly step: number;
  };

/** Trains one run of a sweep into `out`. */
export type SweepTrainer = (run: SweepRun, out: string, signal?: AbortSignal) => Promise<SweepRunOutcome>;

let backendInUse: string | undefined;
let backendName = "";

function numbersOf(record: LogRecord | undefined): Record<string, number> {
  const numbers: Record<string, number> = {};
  for (const [key, value] of Object.entries(record ?? {})) {
    if (typeof value === "number") numbers[key] = value;
  }
  return numbers;
}

/**
 * Trains a run as `deno task train --out DIR` would, without logging sinks:
 * selects its backend (once per backend and process), prepares its source,
 * trains with checkpoints, metrics, the exported SAEs and the report in
 * `out` (resuming from the newest checkpoint an earlier attempt left there),
 * and returns the result row of the last metrics line (its seconds are
 * those of this attempt). The run folder is locked throughout
 * (`lib/run/lock.ts`): a folder another process still trains is refused
 * with "DIR is in use by process N".
 */
export const trainSweepRun: SweepTrainer = async (run, out, signal) => {
  const config = parseConfig(run.input);
  if (backendInUse !== config.backend) {
    const choice = await selectBackend(config.backend as BackendName);
    backendInUse = config.backend;
    backendName = choice.name;
  }
  // One writer per run folder: a worker still training this run (a retry of it elsewhere) refuses it.
  using lock = await lockRunFolder(out);
  const warn = (message: string) => console.error(`saekit sweep: ${out}: ${message}`);
  const prepared = await prepareSource(config, run.input, {
    onWarning: (message) => warn(`warning: ${message}`),
  });
  try {
    // Loaded once the backend is chosen, so that every tensor lives there: the newest checkpoint an earlier
    // attempt left that loads with this configuration's shapes (a broken one is passed over with a warning).
    const loaded = await loadLatestCheckpoint<TrainState>(out, {
      expected: stateShapes(prepared.config),
      warn,
    });
    const resume = loaded === undefined ? undefined : { ...loaded, config: prepared.config };
    const result = await train({
      config: prepared.config,
      source: prepared.source,
      evaluate: prepared.evaluate,
      validate: prepared.validate,
      out,
      signal,
      resume,
      lock,
    });
    try {
      if (!result.alreadyFinished) {
        await finishRunReport(out, {
          backend: backendName,
          startStep: resume?.step ?? 0,
          endStep: result.state.step,
          seconds: result.seconds,
          batchSize: prepared.config.batchSize,
          stopped: result.stopped,
        }).catch(() => {});
      }
      if (result.stopped === "aborted") return { stopped: "aborted", step: result.state.step };
      return {
        stopped: result.stopped,
        result: sweepRunResult(result.lastLog, result.seconds),
        last: numbersOf(result.lastLog),
      };
    } finally {
      disposeAll(result.state);
    }
  } finally {
    prepared.dispose();
  }
};

/** Options of {@linkcode runSweepWorker}. */
export type SweepWorkerOptions = {
  /** The worker's name in statuses, the claim log and messages (default: its process id). */
  readonly worker?: string;
  /** Progress lines (default: none). */
  readonly log?: (line: string) => void;
  /** Stops after the current run (which is stopped with a checkpoint and marked `failed`). */
  readonly signal?: AbortSignal;
  /** Trains a run (default {@linkcode trainSweepRun}). */
  readonly trainRun?: SweepTrainer;
};

/** What a worker did. */
export type SweepWorkerReport = {
  readonly done: readonly string[];
  readonly failed: readonly string[];
  readonly interrupted: boolean;
};

/**
 * A worker: claims the next run of the sweep folder, trains it, records its
 * result (or its error: a failed run does not stop the worker), until no run
 * is left or `signal` aborts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { planSweep } from "./file.ts";
 * import { initSweepDir } from "./queue.ts";
 * import { runSweepWorker } from "./workers.ts";
 * const dir = await Deno.makeTempDir();
 * await initSweepDir(dir, planSweep({
 *   base: { source: "toy", backend: "cpu", dIn: 8, dSae: 16, batchSize: 16, storeSize: 64, steps: 2, logEvery: 2 },
 *   parameters: { arch: { values: ["relu", "topk"] }, k: { value: 4 } },
 * }));
 * const report = await runSweepWorker(dir);
 * assert.equal(report.done.length, 2);
 * assert.equal(report.failed.length, 0);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function runSweepWorker(
  dir: string,
  options: SweepWorkerOptions = {},
): Promise<SweepWorkerReport> {
  const log = options.log ?? (() => {});
  const trainRun = options.trainRun ?? trainSweepRun;
  const identity = workerIdentity(options.worker);
  const done: string[] = [];
  const failed: string[] = [];
  while (options.signal?.aborted !== true) {
    const claim = await claimNext(dir, identity);
    if (claim === undefined) break;
    const ended = await trainClaim(dir, claim, trainRun, options.signal, log);
    (ended === "done" ? done : failed).push(claim.run.id);
    if (ended === "interrupted") break;
  }
  return { done, failed, interrupted: options.signal?.aborted === true };
}

/** Trains a claimed run and records how it ended in its status (a failure is recorded, not thrown). */
async function trainClaim(
  dir: string,
  claim: SweepClaim,
  trainRun: SweepTrainer,
  signal: AbortSignal | undefined,
  log: (line: string) => void,
): Promise<"done" | "failed" | "interrupted"> {
  const { run } = claim;
  log(`${run.id} (${describeParams(run.params)}): training, attempt ${claim.status.attempt}`);
  try {
    const outcome = await trainRun(run, claim.out, signal);
    if (outcome.stopped === "aborted") {
      await finishRun(dir, claim, { state: "failed", error: `interrupted at step ${outcome.step}` });
      log(`${run.id}: interrupted at step ${outcome.step} (--retry-failed resumes it from its checkpoint)`);
      return "interrupted";
    }
    await finishRun(dir, claim, { state: "done", result: outcome.result, last: outcome.last });
    const r = outcome.result;
    log(
      `${run.id}: done in ${r.seconds.toFixed(1)} s: L0 ${r.l0.toFixed(2)} · explained variance ${
        r.explainedVariance.toFixed(3)
      } · dead ${r.deadFraction.toFixed(3)}` +
        (outcome.stopped === "source-exhausted" ? ` (the source ran out at step ${r.steps})` : ""),
    );
    return "done";
  } catch (error) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    await finishRun(dir, claim, { state: "failed", error: message });
    log(`${run.id}: failed: ${message}`);
    return "failed";
  }
}

/** Options of {@linkcode runSweepIndex}. */
export type SweepIndexOptions = {
  /** The worker's name in the run's status (default `index-<index>`). */
  readonly worker?: string;
  /** Progress lines (default: none). */
  readonly log?: (line: string) => void;
  /** Stops the run with a checkpoint (it is marked `failed`; the same index again resumes it). */
  readonly signal?: AbortSignal;
  /** Trains a run (default {@linkcode trainSweepRun}). */
  readonly trainRun?: SweepTrainer;
};

/**
 * One task of a job array: trains run number `index` of the sweep folder `dir` (resuming from the
 * checkpoint an earlier attempt left), whatever other runs are in, and records it in its `status.json`.
 * Returns `"already-done"` without training when the run is done.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { planSweep } from "./file.ts";
 * import { initSweepDir, readStatuses } from "./queue.ts";
 * import { runSweepIndex } from "./workers.ts";
 * const dir = await Deno.makeTempDir();
 * await initSweepDir(dir, planSweep({
 *   base: { source: "toy", backend: "cpu", dIn: 8, dSae: 16, batchSize: 16, storeSize: 64, steps: 2, logEvery: 2 },
 *   parameters: { lr: { values: [0.001, 0.01] } },
 * }));
 * assert.equal(await runSweepIndex(dir, 1), "done");
 * assert.deepEqual((await readStatuses(dir)).map((s) => [s.index, s.state]), [[1, "done"]]);
 * assert.equal(await runSweepIndex(dir, 1), "already-done");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function runSweepIndex(
  dir: string,
  index: number,
  options: SweepIndexOptions = {},
): Promise<"done" | "failed" | "interrupted" | "already-done"> {
  const claim = await claimRun(dir, index, workerIdentity(options.worker ?? `index-${index}`));
  if (claim === undefined) return "already-done";
  return await trainClaim(
    dir,
    claim,
    options.trainRun ?? trainSweepRun,
    options.signal,
    options.log ?? (() => {}),
  );
}

/** Permissions of a worker process: those of `deno task train` (a worker spawns nothing but `cat`). */
export const WORKER_PERMISSIONS: readonly string[] = [
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-ffi",
  "--allow-sys",
  "--allow-net",
  "--allow-run=cat",
];

/**
 * `runs/sweep-<name>`, the default folder of a sweep.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultSweepDir } from "./workers.ts";
 * assert.equal(defaultSweepDir("l1"), "runs/sweep-l1");
 * ```
 */
export function defaultSweepDir(name: string): string {
  return `runs/sweep-${name}`;
}

/**
 * The sweep's name from a file name, for a file without `name`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sweepNameFromPath } from "./workers.ts";
 * assert.equal(sweepNameFromPath("sweeps/l1 grid.json"), "l1-grid");
 * ```
 */
export function sweepNameFromPath(path: string): string {
  const base = path.split(/[\\/]/).pop()!.replace(/\.[^.]*$/, "");
  return base.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^-+|-+$/g, "") || "sweep";
}

async function relayLines(
  stream: ReadableStream<Uint8Array>,
  prefix: string,
  write: (text: string) => void,
): Promise<void> {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of stream) {
    pending += decoder.decode(chunk, { stream: true });
    const lines = pending.split(/\r?\n/);
    pending = lines.pop()!;
    for (const line of lines) write(`${prefix}${line}\n`);
  }
  pending += decoder.decode();
  if (pending !== "") write(`${prefix}${pending}\n`);
}

/** Output channels and process settings of {@linkcode runSweepFileCommand}, for tests. */
export type SweepFileCommandIO = {
  /** Progress and the workers' output (default: stderr). */
  readonly write?: (text: string) => void;
  /** The summary table (default: stdout). */
  readonly print?: (text: string) => void;
  /**
   * The module a worker process runs with `--worker --dir DIR --worker-name N`:
   * the entry point's own (`tasks/sweep.ts` passes its `import.meta.url`).
   * Needed only when workers are started: the library never starts a task
   * file by itself.
   */
  readonly workerScript?: string;
  /** Stops the workers (instead of Ctrl-C). */
  readonly signal?: AbortSignal;
};

/** Every flag of a sweep file's command: the `options` of `parseArgs` and the lines of `--help`. */
const SWEEP_FILE_FLAGS = {
  sweep: {
    type: "string",
    value: "FILE.json",
    description: "Sweep file: a grid or random search over configuration fields",
  },
  workers: {
    type: "string",
    default: "1",
    value: "N",
    description: "Worker processes that share the sweep folder",
  },
  dir: { type: "string", value: "DIR", defaultText: "runs/sweep-<name>", description: "Sweep folder" },
  "retry-failed": { type: "boolean", default: false, description: "Train failed runs again" },
  "run-index": {
    type: "string",
    value: "I",
    description: "Train only run I (from 0) of the sweep and exit: one task of a job array (Slurm's " +
      "$SLURM_ARRAY_TASK_ID); no workers are started and no summary printed",
  },
  summary: {
    type: "boolean",
    default: false,
    description: "Print and write DIR/summary.md of the runs so far, and train nothing",
  },
  worker: {
    type: "boolean",
    default: false,
    description: "Join the workers of the sweep folder --dir from another terminal",
  },
  "worker-name": {
    type: "string",
    value: "NAME",
    defaultText: "the process id",
    description: "This worker's name in the runs' status.json",
  },
  help: { type: "boolean", short: "h", default: false, description: "Print this help and exit" },
} as const satisfies FlagTable;

/**
 * The help of `deno task sweep --sweep FILE` and `--worker`, with the flags
 * they parse.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatHelp } from "../cli/help.ts";
 * import { SWEEP_FILE_HELP } from "./workers.ts";
 * assert.match(formatHelp(SWEEP_FILE_HELP), /--retry-failed +Train failed runs again\n/);
 * ```
 */
export const SWEEP_FILE_HELP: CommandHelp = {
  usage: [
    "deno task sweep --sweep FILE.json [--workers N] [--dir DIR] [--retry-failed]",
    "deno task sweep --worker --dir DIR [--worker-name NAME]",
    "deno task sweep --sweep FILE.json --run-index I [--dir DIR]",
    "deno task sweep --sweep FILE.json --summary [--dir DIR]",
  ],
  about: [
    "Runs the grid or random search of a sweep file with N worker processes that share the sweep folder DIR: " +
    "each worker takes the next run nobody has taken (under a file lock), trains it into DIR/runs/<id>/ and " +
    "records it in DIR/runs/<id>/status.json. At the end the summary table is printed and written to " +
    "DIR/summary.md. Running the same command again continues the sweep: finished runs are kept, and runs " +
    "whose worker died are marked failed; --retry-failed trains failed runs again. --worker joins the " +
    "workers of a sweep folder from another terminal. On a cluster, a job array runs one run per task with " +
    "--run-index (sbatch --array=0-<runs − 1>, --run-index $SLURM_ARRAY_TASK_ID; the folder on a shared file " +
    "system), and --summary gathers the results afterwards.",
  ],
  groups: [{ title: "Options", flags: SWEEP_FILE_FLAGS }],
  after: [
    "A sweep file (W&B's shape; parameters are configuration fields):",
    `  { "name": "l1", "method": "grid" | "random", "count": 8, "seed": 0,
    "base": { "source": "toy", "steps": 300 },
    "parameters": { "l1Coefficient": { "values": [0.003, 0.01] },
                    "lr": { "min": 1e-4, "max": 1e-2, "distribution": "log_uniform_values" } },
    "metric": { "name": "train/explained_variance/mean", "goal": "maximize" } }`,
  ],
};

/**
 * Runs `deno task sweep` with a sweep file (`--sweep`) or as one of its
 * workers (`--worker`); returns the exit code: 0 when every run is done,
 * 1 when some failed or were left, 130 when interrupted.
 */
export async function runSweepFileCommand(
  args: readonly string[],
  io: SweepFileCommandIO = {},
): Promise<number> {
  const write = io.write ?? ((text: string) => Deno.stderr.writeSync(new TextEncoder().encode(text)));
  const print = io.print ?? ((text: string) => Deno.stdout.writeSync(new TextEncoder().encode(text)));
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: false,
      options: SWEEP_FILE_FLAGS,
    }));
  } catch (error) {
    throw new TypeError(
      `${
        error instanceof Error ? error.message : error
      } (expected --sweep FILE, --workers N, --dir DIR, --retry-failed, or --worker with --dir; see --help)`,
    );
  }
  if (values.help) {
    write(formatHelp(SWEEP_FILE_HELP));
    return 0;
  }
  const controller = new AbortController();
  io.signal?.addEventListener("abort", () => controller.abort());
  const listen = io.signal === undefined;
  let interrupts = 0;
  const onInterrupt = () => {
    if (++interrupts > 1) Deno.exit(130);
    write(
      values.worker
        ? "\nsaekit sweep: interrupted; stopping the run with a checkpoint (Ctrl-C again to quit at once)\n"
        : "\nsaekit sweep: interrupted; waiting for the workers to stop\n",
    );
    controller.abort();
  };
  if (listen) Deno.addSignalListener("SIGINT", onInterrupt);
  try {
    if (values.worker) {
      if (values.sweep !== undefined) {
        throw new TypeError(
          `--sweep: expected nothing with --worker (a worker reads DIR/sweep.json), received "${values.sweep}"`,
        );
      }
      if (values.dir === undefined) {
        throw new TypeError(`--dir: expected the sweep folder with --worker, received nothing`);
      }
      const dir = values.dir;
      await readSweepPlan(dir);
      const report = await runSweepWorker(dir, {
        worker: values["worker-name"],
        log: (line) => write(line + "\n"),
        signal: controller.signal,
      });
      write(
        `${
          report.interrupted ? "stopped" : "no runs left"
        } (this worker: ${report.done.length} done, ${report.failed.length} failed)\n`,
      );
      return report.interrupted ? 130 : report.failed.length > 0 ? 1 : 0;
    }
    if (values.sweep === undefined) throw new TypeError(`--sweep: expected a sweep file, received nothing`);
    const workers = Number(values.workers);
    if (!Number.isInteger(workers) || workers < 1) {
      throw new RangeError(
        `--workers: expected a positive integer, received ${JSON.stringify(values.workers)}`,
      );
    }
    let text: string;
    try {
      text = await Deno.readTextFile(values.sweep);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new Deno.errors.NotFound(
          `--sweep: expected a JSON sweep file, received "${values.sweep}" (not found)`,
        );
      }
      throw error;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new SyntaxError(
        `--sweep ${values.sweep}: expected JSON, received text that does not parse (${
          (error as Error).message
        })`,
      );
    }
    const plan = planSweep(json, sweepNameFromPath(values.sweep));
    const dir = values.dir ?? defaultSweepDir(plan.name);
    const made = await initSweepDir(dir, plan);
    if (values["run-index"] !== undefined) {
      const index = Number(values["run-index"]);
      if (values["run-index"].trim() === "" || !Number.isInteger(index)) {
        throw new RangeError(
          `--run-index: expected an integer, received ${JSON.stringify(values["run-index"])}`,
        );
      }
      const ended = await runSweepIndex(dir, index, {
        worker: values["worker-name"],
        log: (line) => write(line + "\n"),
        signal: controller.signal,
      });
      if (ended === "already-done") write(`run ${index} of ${dir} is already done; nothing to train\n`);
      return ended === "interrupted" ? 130 : ended === "failed" ? 1 : 0;
    }
    if (values.summary) {
      const summary = formatSweepSummary(plan, await readStatuses(dir, plan));
      await writeTextAtomic(`${dir}/summary.md`, summary);
      print(summary);
      write(`summary: ${dir}/summary.md\n`);
      return 0;
    }
    write(
      `saekit sweep "${plan.name}": ${plan.runs.length} runs (${plan.method} over ${
        plan.parameters.join(", ") || "nothing"
      }) in ${dir}${made === "existing" ? " (continuing)" : ""}\n`,
    );
    const reset = await resetRuns(dir, { failed: values["retry-failed"] });
    if (reset.orphaned.length > 0) {
      write(`runs of workers that are gone, marked failed: ${reset.orphaned.join(", ")}\n`);
    }
    if (reset.retried.length > 0) write(`retrying: ${reset.retried.join(", ")}\n`);
    const pending = await pendingRuns(dir);
    const count = Math.min(workers, pending.length);
    if (count === 0) {
      write(`no runs left to train\n`);
    } else {
      write(
        `${pending.length} run${pending.length === 1 ? "" : "s"} to train with ${count} worker${
          count === 1 ? "" : "s"
        }\n`,
      );
      // Ctrl-C reaches the workers from the terminal; a caller's signal is passed on to them.
      if (io.workerScript === undefined) {
        throw new TypeError(
          "workerScript: expected the module a worker process runs (tasks/sweep.ts passes its own), " +
            "received nothing",
        );
      }
      await spawnWorkers(dir, count, io.workerScript, io.signal, write);
    }
    const statuses = await readStatuses(dir, plan);
    const summary = formatSweepSummary(plan, statuses);
    await writeTextAtomic(`${dir}/summary.md`, summary);
    print(summary);
    write(`summary: ${dir}/summary.md\n`);
    const failed = statuses.filter((s) => s.state === "failed").length;
    if (failed > 0) write(`${failed} failed: the same command with --retry-failed trains them again\n`);
    if (controller.signal.aborted) return 130;
    return statuses.filter((s) => s.state === "done").length === plan.runs.length ? 0 : 1;
  } finally {
    if (listen) Deno.removeSignalListener("SIGINT", onInterrupt);
  }
}

/** Starts `count` worker processes on `dir`, relays their output, waits, and fails the runs of dead ones. */
async function spawnWorkers(
  dir: string,
  count: number,
  module: string,
  signal: AbortSignal | undefined,
  write: (text: string) => void,
): Promise<void> {
  const env: Record<string, string> = {};
  if (Deno.env.get("OPENBLAS_NUM_THREADS") === undefined) {
    // Workers share the cores: one BLAS thread pool per worker of cores / workers threads.
    env.OPENBLAS_NUM_THREADS = String(Math.max(1, Math.floor(navigator.hardwareConcurrency / count)));
  }
  const children = Array.from({ length: count }, (_, i) => {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...WORKER_PERMISSIONS, module, "--worker", "--dir", dir, "--worker-name", String(i + 1)],
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const prefix = `[worker ${i + 1}] `;
    return {
      name: String(i + 1),
      child,
      relayed: Promise.all([
        relayLines(child.stdout, prefix, write),
        relayLines(child.stderr, prefix, write),
      ]),
    };
  });
  const stop = () => {
    for (const { child } of children) {
      try {
        child.kill("SIGINT");
      } catch {
        // already gone
      }
    }
  };
  signal?.addEventListener("abort", stop);
  try {
    await Promise.all(children.map(async ({ name, child, relayed }) => {
      const status = await child.status;
      await relayed;
      if (status.code !== 0 && status.code !== 1) {
        const reason = `worker ${name} exited with code ${status.code}${
          status.signal ? ` (${status.signal})` : ""
        }`;
        const ids = await failRunsOf(dir, child.pid, reason);
        write(`${reason}${ids.length > 0 ? `; marked failed: ${ids.join(", ")}` : ""}\n`);
      }
    }));
  } finally {
    signal?.removeEventListener("abort", stop);
  }
}

/**
 * Whether `deno task sweep` arguments ask for a sweep file (`--sweep`) or a
 * worker (`--worker`), rather than the built-in architecture sweep.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isSweepFileCommand } from "./workers.ts";
 * assert.ok(isSweepFileCommand(["--sweep", "s.json", "--workers", "2"]));
 * assert.ok(isSweepFileCommand(["--sweep=s.json"]));
 * assert.ok(isSweepFileCommand(["--worker", "--dir", "d"]));
 * assert.ok(!isSweepFileCommand(["--source", "toy", "--quick"]));
 * ```
 */
export function isSweepFileCommand(args: readonly string[]): boolean {
  return args.some((arg) => arg === "--sweep" || arg.startsWith("--sweep=") || arg === "--worker");
}

/**
 * Entry point of `deno task sweep --sweep …`: prints errors without a stack
 * trace. The task passes its own module as `io.workerScript`, which the
 * workers run.
 */
export async function sweepFileMain(args: readonly string[], io: SweepFileCommandIO = {}): Promise<void> {
  try {
    Deno.exitCode = await runSweepFileCommand(args, io);
  } catch (error) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    Deno.stderr.writeSync(new TextEncoder().encode(`saekit sweep: ${message}\n`));
    Deno.exitCode = 2;
  }
}
