/**
 * A sweep shared by worker processes through a folder on one machine. Each
 * worker takes the next run that nobody has taken under an exclusive lock on
 * `DIR/lock` (an OS file lock, `flock`, which the system releases when its
 * process ends, so a crashed worker never leaves the queue locked), trains it
 * into `DIR/runs/<id>/`, and records how it ended there.
 *
 * | path                        | what                                                                  |
 * | --------------------------- | --------------------------------------------------------------------- |
 * | `sweep.json`                | the plan: every run's id, parameters and configuration                |
 * | `lock`                      | the lock file (empty)                                                 |
 * | `claims.jsonl`              | one line per claim: run, attempt, worker, process id, machine, time  |
 * | `runs/<id>/status.json`     | `running`, `done` (with the result row), `failed` (with the error) or `pending` (reset for a retry); absent: never claimed |
 * | `runs/<id>/`                | the run folder of `train` (`config.json`, `metrics.jsonl`, `final/`, …) |
 * | `summary.md`                | the summary table, written at the end                                |
 *
 * @module
 */
import process from "node:process";
import { writeTextAtomic } from "../io/files.ts";
import {
  formatSweepSummary,
  type SweepPlan,
  type SweepRun,
  type SweepRunResult,
  type SweepRunStatus,
} from "./file.ts";

/** The plan's file name inside a sweep folder. */
export const SWEEP_PLAN_FILE = "sweep.json";

/** Who claims runs: a worker's name, process id and machine. */
export type SweepWorkerIdentity = {
  readonly worker: string;
  readonly pid: number;
  readonly hostname: string;
};

/** This process as a worker named `worker` (default: its process id). */
export function workerIdentity(worker?: string): SweepWorkerIdentity {
  let hostname = "unknown";
  try {
    hostname = Deno.hostname();
  } catch {
    // without --allow-sys the machine stays unnamed
  }
  return { worker: worker ?? String(Deno.pid), pid: Deno.pid, hostname };
}

/**
 * Runs `fn` while holding the sweep folder's lock (an exclusive OS lock on
 * `DIR/lock`); other processes, and other calls in this process, wait.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { withSweepLock } from "./queue.ts";
 * const dir = await Deno.makeTempDir();
 * const order: number[] = [];
 * await Promise.all([1, 2].map((i) =>
 *   withSweepLock(dir, async () => {
 *     order.push(i);
 *     await new Promise((resolve) => setTimeout(resolve, 10));
 *     order.push(i);
 *   })
 * ));
 * assert.equal(order[0], order[1]);
 * assert.equal(order[2], order[3]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function withSweepLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const file = await Deno.open(`${dir}/lock`, { create: true, write: true });
  try {
    await file.lock(true);
    try {
      return await fn();
    } finally {
      await file.unlock();
    }
  } finally {
    file.close();
  }
}

function sameRuns(a: readonly SweepRun[], b: readonly SweepRun[]): boolean {
  return JSON.stringify(a.map((r) => [r.id, r.input])) === JSON.stringify(b.map((r) => [r.id, r.input]));
}

/**
 * Makes `dir` a sweep folder for `plan`, or checks that it already is one for
 * the same runs (ids and configurations). Returns whether it was created.
 * Throws an `Error` naming the folder when it holds another sweep.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { planSweep } from "./file.ts";
 * import { initSweepDir, readSweepPlan } from "./queue.ts";
 * const dir = await Deno.makeTempDir();
 * const plan = planSweep({ parameters: { k: { values: [8, 16] } } });
 * assert.equal(await initSweepDir(dir, plan), "created");
 * assert.equal(await initSweepDir(dir, plan), "existing");
 * assert.equal((await readSweepPlan(dir)).runs.length, 2);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function initSweepDir(dir: string, plan: SweepPlan): Promise<"created" | "existing"> {
  await Deno.mkdir(`${dir}/runs`, { recursive: true });
  return await withSweepLock(dir, async () => {
    let stored: SweepPlan | undefined;
    try {
      stored = JSON.parse(await Deno.readTextFile(`${dir}/${SWEEP_PLAN_FILE}`)) as SweepPlan;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    if (stored === undefined) {
      await writeTextAtomic(`${dir}/${SWEEP_PLAN_FILE}`, JSON.stringify(plan, null, 2) + "\n");
      return "created";
    }
    if (!sameRuns(stored.runs, plan.runs)) {
      throw new Error(
        `${dir}: expected a new folder or one of the same sweep (${plan.runs.length} runs), received a folder of another sweep ("${stored.name}", ${stored.runs.length} runs); choose another --dir`,
      );
    }
    return "existing";
  });
}

/** Reads a sweep folder's plan; throws a `NotFound` error that says what was expected. */
export async function readSweepPlan(dir: string): Promise<SweepPlan> {
  try {
    return JSON.parse(await Deno.readTextFile(`${dir}/${SWEEP_PLAN_FILE}`)) as SweepPlan;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(
        `${dir}: expected a sweep folder with ${SWEEP_PLAN_FILE} (made by deno task sweep --sweep FILE), received none`,
      );
    }
    throw error;
  }
}

function statusPath(dir: string, id: string): string {
  return `${dir}/runs/${id}/status.json`;
}

async function readStatus(dir: string, id: string): Promise<SweepRunStatus | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(statusPath(dir, id))) as SweepRunStatus;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

async function writeStatus(dir: string, status: SweepRunStatus): Promise<void> {
  await Deno.mkdir(`${dir}/runs/${status.id}`, { recursive: true });
  await writeTextAtomic(statusPath(dir, status.id), JSON.stringify(status, null, 2) + "\n");
}

/** The status of every run that has one, in run order. */
export async function readStatuses(dir: string, plan?: SweepPlan): Promise<SweepRunStatus[]> {
  const runs = (plan ?? await readSweepPlan(dir)).runs;
  const statuses: SweepRunStatus[] = [];
  for (const run of runs) {
    const status = await readStatus(dir, run.id);
    if (status !== undefined) statuses.push(status);
  }
  return statuses;
}

/** A run taken by a worker. */
export type SweepClaim = {
  readonly run: SweepRun;
  /** Its `running` status as written at the claim. */
  readonly status: SweepRunStatus;
  /** `DIR/runs/<id>`: where the run trains. */
  readonly out: string;
};

/**
 * Takes the first run (in sweep order) that no worker has claimed, or that was
 * reset to `pending` for a retry, under the folder's lock: writes its
 * `running` status and appends a line to `claims.jsonl` (an earlier
 * attempt's files stay in the run folder, so that a retry can resume from its
 * checkpoint). Returns `undefined` when no run is left. Two workers, in one
 * process or many, never get the same run.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { planSweep } from "./file.ts";
 * import { claimNext, finishRun, initSweepDir, summarizeSweep } from "./queue.ts";
 * const dir = await Deno.makeTempDir();
 * await initSweepDir(dir, planSweep({ parameters: { lr: { values: [0.001, 0.01] } } }));
 * const [a, b] = await Promise.all([claimNext(dir), claimNext(dir)]);
 * assert.notEqual(a!.run.id, b!.run.id);
 * assert.equal(await claimNext(dir), undefined);
 * await finishRun(dir, a!, { state: "failed", error: "Error: out of memory" });
 * assert.ok((await summarizeSweep(dir)).includes("2 runs: 1 failed, 1 running"));
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function claimNext(
  dir: string,
  identity: SweepWorkerIdentity = workerIdentity(),
): Promise<SweepClaim | undefined> {
  return await withSweepLock(dir, async () => {
    const plan = await readSweepPlan(dir);
    for (const run of plan.runs) {
      const previous = await readStatus(dir, run.id);
      if (previous !== undefined && previous.state !== "pending") continue;
      const status: SweepRunStatus = {
        id: run.id,
        index: run.index,
        state: "running",
        attempt: (previous?.attempt ?? 0) + 1,
        worker: identity.worker,
        pid: identity.pid,
        hostname: identity.hostname,
        startedAt: new Date().toISOString(),
      };
      const out = `${dir}/runs/${run.id}`;
      await writeStatus(dir, status);
      const line = {
        id: run.id,
        attempt: status.attempt,
        worker: identity.worker,
        pid: identity.pid,
        hostname: identity.hostname,
        at: status.startedAt,
      };
      await Deno.writeTextFile(`${dir}/claims.jsonl`, JSON.stringify(line) + "\n", { append: true });
      return { run, status, out };
    }
    return undefined;
  });
}

/**
 * Takes run number `index` of the sweep (counted from 0, in sweep order) for this worker, whatever other
 * runs are in: what one task of a job array (`sbatch --array`, a Kubernetes indexed job) does, each task
 * given its own index, so that no two claim the same run. Writes its `running` status (a new attempt) and a
 * line of `claims.jsonl`, and returns the claim; returns `undefined` when the run is already `done`. A run
 * still `running` under another worker is taken over (a requeued task is the same run again).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { planSweep } from "./file.ts";
 * import { claimRun, finishRun, initSweepDir } from "./queue.ts";
 * const dir = await Deno.makeTempDir();
 * await initSweepDir(dir, planSweep({ parameters: { lr: { values: [0.001, 0.01, 0.1] } } }));
 * const claim = await claimRun(dir, 2);
 * assert.equal(claim!.run.index, 2);
 * assert.equal(claim!.out, `${dir}/runs/${claim!.run.id}`);
 * await finishRun(dir, claim!, { state: "failed", error: "Error: out of memory" });
 * assert.equal((await claimRun(dir, 2))!.status.attempt, 2);
 * await assert.rejects(() => claimRun(dir, 3), /--run-index: expected 0…2 \(the sweep's 3 runs\), received 3/);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function claimRun(
  dir: string,
  index: number,
  identity: SweepWorkerIdentity = workerIdentity(),
): Promise<SweepClaim | undefined> {
  return await withSweepLock(dir, async () => {
    const plan = await readSweepPlan(dir);
    if (!Number.isInteger(index) || index < 0 || index >= plan.runs.length) {
      throw new RangeError(
        `--run-index: expected 0…${
          plan.runs.length - 1
        } (the sweep's ${plan.runs.length} runs), received ${index}`,
      );
    }
    const run = plan.runs[index];
    const previous = await readStatus(dir, run.id);
    if (previous?.state === "done") return undefined;
    const status: SweepRunStatus = {
      id: run.id,
      index: run.index,
      state: "running",
      attempt: (previous?.attempt ?? 0) + 1,
      worker: identity.worker,
      pid: identity.pid,
      hostname: identity.hostname,
      startedAt: new Date().toISOString(),
    };
    await writeStatus(dir, status);
    const line = {
      id: run.id,
      attempt: status.attempt,
      worker: identity.worker,
      pid: identity.pid,
      hostname: identity.hostname,
      at: status.startedAt,
    };
    await Deno.writeTextFile(`${dir}/claims.jsonl`, JSON.stringify(line) + "\n", { append: true });
    return { run, status, out: `${dir}/runs/${run.id}` };
  });
}

/** How a claimed run ended. */
export type SweepOutcome =
  | {
    readonly state: "done";
    readonly result: SweepRunResult;
    /** The numbers of the run's last metrics line. */
    readonly last?: Readonly<Record<string, number>>;
  }
  | { readonly state: "failed"; readonly error: string };

/**
 * Records how a claimed run ended in its `status.json`. Throws an `Error` when
 * the run's status is no longer this claim's (it was reset and claimed again).
 */
export async function finishRun(
  dir: string,
  claim: SweepClaim,
  outcome: SweepOutcome,
): Promise<SweepRunStatus> {
  return await withSweepLock(dir, async () => {
    const current = await readStatus(dir, claim.run.id);
    if (
      current === undefined || current.attempt !== claim.status.attempt || current.pid !== claim.status.pid ||
      current.hostname !== claim.status.hostname
    ) {
      throw new Error(
        `${claim.run.id}: expected the status of attempt ${claim.status.attempt} by worker ${claim.status.worker}, received ${
          current === undefined
            ? "none"
            : `attempt ${current.attempt} by worker ${current.worker} (${current.state})`
        }`,
      );
    }
    const { error: _error, result: _result, last: _last, ...rest } = current;
    const status: SweepRunStatus = {
      ...rest,
      state: outcome.state,
      finishedAt: new Date().toISOString(),
      ...(outcome.state === "done"
        ? { result: outcome.result, ...(outcome.last !== undefined ? { last: outcome.last } : {}) }
        : { error: outcome.error }),
    };
    await writeStatus(dir, status);
    return status;
  });
}

/**
 * Whether process `pid` of this machine is alive, by signal 0 (nothing is
 * sent): `undefined` when it cannot be told, which is always the case for
 * another process without the unrestricted `--allow-run` permission (Deno
 * keeps `/proc` behind `--allow-all`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { processAlive } from "./queue.ts";
 * assert.equal(processAlive(Deno.pid), true);
 * ```
 */
export function processAlive(pid: number): boolean | undefined {
  try {
    return process.kill(pid, 0);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "ESRCH") return false;
    if (code === "EPERM") return true;
    return undefined;
  }
}

/** What {@linkcode resetRuns} changed. */
export type ResetReport = {
  /** `running` runs of workers of this machine that are gone, now `failed`. */
  readonly orphaned: readonly string[];
  /** `failed` runs now `pending` (with `failed: true`). */
  readonly retried: readonly string[];
};

/** Options of {@linkcode resetRuns}. */
export type ResetRunsOptions = {
  /** Make every `failed` run `pending` (default false). */
  readonly failed?: boolean;
  /** This machine's name (default `Deno.hostname()`). */
  readonly hostname?: string;
  /** Whether a process of this machine is alive (default {@linkcode processAlive}). */
  readonly alive?: (pid: number) => boolean | undefined;
};

/**
 * Tidies a sweep folder before workers start, under its lock: a `running`
 * run whose worker was a process of this machine that no longer exists
 * becomes `failed` ("worker … is gone"; where that cannot be told, the run is
 * left `running`); with `failed: true`, every `failed`
 * run (those included) becomes `pending`, so that workers claim it again.
 * Runs of live workers, and of other machines, are left alone.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { planSweep } from "./file.ts";
 * import { claimNext, initSweepDir, pendingRuns, resetRuns } from "./queue.ts";
 * const dir = await Deno.makeTempDir();
 * await initSweepDir(dir, planSweep({ parameters: { lr: { values: [0.001] } } }));
 * await claimNext(dir, { worker: "old", pid: 4242, hostname: "here" });
 * const report = await resetRuns(dir, { failed: true, hostname: "here", alive: () => false });
 * assert.equal(report.orphaned[0], "run-000");
 * assert.equal(report.retried[0], "run-000");
 * assert.equal((await pendingRuns(dir))[0], "run-000");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function resetRuns(
  dir: string,
  options: ResetRunsOptions = {},
): Promise<ResetReport> {
  const hostname = options.hostname ?? workerIdentity().hostname;
  const alive = options.alive ?? processAlive;
  return await withSweepLock(dir, async () => {
    const orphaned: string[] = [];
    const retried: string[] = [];
    for (const status of await readStatuses(dir)) {
      let next = status;
      if (status.state === "running" && status.hostname === hostname && alive(status.pid) === false) {
        next = {
          ...status,
          state: "failed",
          finishedAt: new Date().toISOString(),
          error: `worker ${status.worker} (process ${status.pid}) is gone`,
        };
        orphaned.push(status.id);
      }
      if (options.failed === true && next.state === "failed") {
        next = { ...next, state: "pending" };
        retried.push(status.id);
      }
      if (next !== status) await writeStatus(dir, next);
    }
    return { orphaned, retried };
  });
}

/**
 * Marks as `failed` the runs that a worker process left `running` when it
 * exited (its `pid` on this machine), with `reason` as the error. Returns
 * their ids.
 */
export async function failRunsOf(
  dir: string,
  pid: number,
  reason: string,
  hostname: string = workerIdentity().hostname,
): Promise<string[]> {
  return await withSweepLock(dir, async () => {
    const ids: string[] = [];
    for (const status of await readStatuses(dir)) {
      if (status.state !== "running" || status.pid !== pid || status.hostname !== hostname) continue;
      await writeStatus(dir, {
        ...status,
        state: "failed",
        finishedAt: new Date().toISOString(),
        error: reason,
      });
      ids.push(status.id);
    }
    return ids;
  });
}

/** The runs that no worker holds or has finished: never claimed, or reset to `pending`. */
export async function pendingRuns(dir: string): Promise<string[]> {
  const plan = await readSweepPlan(dir);
  const statuses = new Map((await readStatuses(dir, plan)).map((s) => [s.id, s]));
  return plan.runs.filter((run) => (statuses.get(run.id)?.state ?? "pending") === "pending").map((r) => r.id);
}

/**
 * The markdown summary of a sweep folder (see `formatSweepSummary`): every
 * run's parameters, state and results.
 */
export async function summarizeSweep(dir: string): Promise<string> {
  const plan = await readSweepPlan(dir);
  return formatSweepSummary(plan, await readStatuses(dir, plan));
}
