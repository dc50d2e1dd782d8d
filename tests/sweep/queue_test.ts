import { assert } from "../_helpers.ts";
import { planSweep, type SweepRunResult, type SweepRunStatus } from "../../lib/sweep/file.ts";
import {
  claimNext,
  failRunsOf,
  finishRun,
  initSweepDir,
  pendingRuns,
  processAlive,
  readStatuses,
  readSweepPlan,
  resetRuns,
  summarizeSweep,
  type SweepWorkerIdentity,
  withSweepLock,
} from "../../lib/sweep/queue.ts";

const BASE = { source: "toy", dIn: 8, dSae: 16, batchSize: 16, storeSize: 64, steps: 3 };
const RESULT: SweepRunResult = {
  steps: 3,
  loss: 0.5,
  l0: 2,
  explainedVariance: 0.5,
  deadFraction: 0,
  seconds: 1,
};

function plan(n: number) {
  return planSweep({
    name: "q",
    base: BASE,
    parameters: { lr: { values: Array.from({ length: n }, (_, i) => (i + 1) / 1000) } },
  });
}

function identity(worker: string, pid = Deno.pid): SweepWorkerIdentity {
  return { worker, pid, hostname: "test-host" };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "saekit-sweep-queue-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function claimLog(dir: string): Promise<{ id: string; worker: string; attempt: number }[]> {
  const text = await Deno.readTextFile(`${dir}/claims.jsonl`);
  return text.trim().split("\n").map((line) => JSON.parse(line));
}

Deno.test("initSweepDir() writes the plan once and refuses a folder of another sweep", async () => {
  await withDir(async (dir) => {
    assert.equal(await initSweepDir(dir, plan(3)), "created");
    assert.deepEqual(await readSweepPlan(dir), JSON.parse(JSON.stringify(plan(3))));
    assert.equal(await initSweepDir(dir, plan(3)), "existing");
    await assert.rejects(
      () => initSweepDir(dir, plan(4)),
      (error: Error) =>
        error.message.includes("expected a new folder or one of the same sweep (4 runs)") &&
        error.message.includes('another sweep ("q", 3 runs)'),
    );
  });
});

Deno.test("readSweepPlan() says what a folder without a plan lacks", async () => {
  await withDir(async (dir) => {
    await assert.rejects(
      () => readSweepPlan(dir),
      (error: Error) =>
        error instanceof Deno.errors.NotFound &&
        error.message.includes("expected a sweep folder with sweep.json"),
    );
  });
});

Deno.test("claimNext() hands out every run once to concurrent claimers, in sweep order, then nothing", async () => {
  await withDir(async (dir) => {
    await initSweepDir(dir, plan(12));
    const claimed: string[][] = [[], [], [], []];
    // Four claimers in this process, each with its own open file (and so its own OS lock).
    await Promise.all(claimed.map(async (mine, w) => {
      while (true) {
        const claim = await claimNext(dir, identity(`w${w}`));
        if (claim === undefined) break;
        mine.push(claim.run.id);
        assert.equal(claim.status.state, "running");
        assert.equal(claim.status.attempt, 1);
        assert.equal(claim.out, `${dir}/runs/${claim.run.id}`);
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    }));
    const all = claimed.flat();
    assert.equal(all.length, 12);
    assert.equal(new Set(all).size, 12);
    const log = await claimLog(dir);
    // The log is in claim order, which is sweep order.
    assert.deepEqual(log.map((line) => line.id), plan(12).runs.map((r) => r.id));
    assert.deepEqual(
      log.map((line) => line.worker).sort(),
      claimed.flatMap((mine, w) => mine.map(() => `w${w}`)).sort(),
    );
    assert.equal(await claimNext(dir, identity("late")), undefined);
    assert.deepEqual(await pendingRuns(dir), []);
  });
});

Deno.test("withSweepLock() excludes other holders until released", async () => {
  await withDir(async (dir) => {
    const events: string[] = [];
    let release!: () => void;
    const held = withSweepLock(dir, async () => {
      events.push("a in");
      await new Promise<void>((resolve) => (release = resolve));
      events.push("a out");
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const second = withSweepLock(dir, () => {
      events.push("b in");
      return Promise.resolve();
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(events, ["a in"]);
    release();
    await Promise.all([held, second]);
    assert.deepEqual(events, ["a in", "a out", "b in"]);
  });
});

Deno.test("finishRun() records done with the result and failed with the error; a stale claim is refused", async () => {
  await withDir(async (dir) => {
    await initSweepDir(dir, plan(3));
    const a = (await claimNext(dir, identity("1")))!;
    const b = (await claimNext(dir, identity("2")))!;
    const doneStatus = await finishRun(dir, a, {
      state: "done",
      result: RESULT,
      last: { "loss/total/mean": 0.5 },
    });
    assert.equal(doneStatus.state, "done");
    assert.deepEqual(doneStatus.result, RESULT);
    assert.equal(typeof doneStatus.finishedAt, "string");
    await finishRun(dir, b, { state: "failed", error: "RangeError: boom" });
    const statuses = await readStatuses(dir);
    assert.deepEqual(statuses.map((s) => [s.id, s.state, s.worker]), [["run-000", "done", "1"], [
      "run-001",
      "failed",
      "2",
    ]]);
    assert.equal(statuses[1].error, "RangeError: boom");
    assert.equal(statuses[1].result, undefined);
    // Reset and claimed again: the old claim may no longer write.
    await resetRuns(dir, { failed: true, hostname: "test-host" });
    const again = (await claimNext(dir, identity("3")))!;
    assert.equal(again.run.id, "run-001");
    assert.equal(again.status.attempt, 2);
    await assert.rejects(
      () => finishRun(dir, b, { state: "done", result: RESULT }),
      /run-001: expected the status of attempt 1 by worker 2, received attempt 2 by worker 3 \(running\)/,
    );
    const summary = await summarizeSweep(dir);
    assert.match(summary, /\| run-000 \| 0\.001 \| done \| 2\.00 \|/);
    assert.match(summary, /\| run-001 \| 0\.002 \| running \|/);
    assert.match(summary, /\| run-002 \| 0\.003 \| pending \|/);
  });
});

Deno.test("resetRuns() fails the runs of gone workers of this machine and, asked to, makes failed runs pending", async () => {
  await withDir(async (dir) => {
    await initSweepDir(dir, plan(4));
    // pid_max is at most 2^22 on Linux, so this process never exists.
    const gone = 99_999_999;
    const live = (await claimNext(dir, identity("live")))!;
    await claimNext(dir, identity("gone", gone));
    await claimNext(dir, { worker: "elsewhere", pid: gone, hostname: "other-host" });
    const failed = (await claimNext(dir, identity("live")))!;
    await finishRun(dir, failed, { state: "failed", error: "Error: x" });
    const alive = (pid: number) => pid !== gone;
    // Where liveness cannot be told, running runs stay running.
    assert.deepEqual(await resetRuns(dir, { hostname: "test-host", alive: () => undefined }), {
      orphaned: [],
      retried: [],
    });

    const first = await resetRuns(dir, { hostname: "test-host", alive });
    assert.deepEqual(first, { orphaned: ["run-001"], retried: [] });
    const states = async () => (await readStatuses(dir)).map((s: SweepRunStatus) => [s.id, s.state]);
    assert.deepEqual(await states(), [
      ["run-000", "running"],
      ["run-001", "failed"],
      ["run-002", "running"], // another machine's worker: cannot be told, left alone
      ["run-003", "failed"],
    ]);
    assert.equal((await readStatuses(dir))[1].error, "worker gone (process 99999999) is gone");

    const second = await resetRuns(dir, { failed: true, hostname: "test-host", alive });
    assert.deepEqual(second, { orphaned: [], retried: ["run-001", "run-003"] });
    assert.deepEqual(await pendingRuns(dir), ["run-001", "run-003"]);
    const next = (await claimNext(dir, identity("again")))!;
    assert.equal(next.run.id, "run-001");
    assert.equal(next.status.attempt, 2);
    assert.equal(live.status.state, "running");
  });
});

Deno.test("processAlive() knows this process; another is alive, gone, or cannot be told", () => {
  assert.equal(processAlive(Deno.pid), true);
  const granted = Deno.permissions.querySync({ name: "run" }).state === "granted";
  // pid_max is at most 2^22 on Linux, so this process never exists.
  assert.equal(processAlive(99_999_999), granted ? false : undefined);
});

Deno.test("failRunsOf() fails only the running runs of that process", async () => {
  await withDir(async (dir) => {
    await initSweepDir(dir, plan(3));
    await claimNext(dir, identity("a", 111));
    await claimNext(dir, identity("b", 222));
    const ids = await failRunsOf(dir, 111, "worker a exited with code 137 (SIGKILL)", "test-host");
    assert.deepEqual(ids, ["run-000"]);
    const [a, b] = await readStatuses(dir);
    assert.equal(a.state, "failed");
    assert.equal(a.error, "worker a exited with code 137 (SIGKILL)");
    assert.equal(b.state, "running");
  });
});
