import { assert } from "../_helpers.ts";
import { planSweep, type SweepRunResult } from "../../lib/sweep/file.ts";
import { claimNext, initSweepDir, readStatuses } from "../../lib/sweep/queue.ts";
import {
  runSweepFileCommand,
  runSweepWorker,
  sweepNameFromPath,
  type SweepTrainer,
  trainSweepRun,
} from "../../lib/sweep/workers.ts";

/** A toy run of 3 steps on the cpu backend: well under a second. */
const TOY = {
  source: "toy",
  backend: "cpu",
  dIn: 8,
  dSae: 16,
  nComponents: 1,
  toyFeatures: 12,
  toyMeanActive: 2,
  toyChunkRows: 256,
  batchSize: 32,
  storeSize: 128,
  steps: 3,
  logEvery: 3,
  capacitySample: 0,
  checkpointEvery: 0,
  k: 4,
};

const RESULT: SweepRunResult = {
  steps: 3,
  loss: 0.5,
  l0: 2,
  explainedVariance: 0.5,
  deadFraction: 0,
  seconds: 1,
};

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "saekit-sweep-workers-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("runSweepWorker() trains every run, records a failure and goes on", async () => {
  await withDir(async (dir) => {
    await initSweepDir(dir, planSweep({ base: TOY, parameters: { lr: { values: [0.001, 0.002, 0.003] } } }));
    const trained: string[] = [];
    const trainRun: SweepTrainer = (run, out) => {
      trained.push(`${run.id} ${out}`);
      if (run.id === "run-001") return Promise.reject(new RangeError("lr: too fast"));
      return Promise.resolve({ stopped: "completed", result: RESULT, last: { "loss/total/mean": 0.5 } });
    };
    const lines: string[] = [];
    const report = await runSweepWorker(dir, { worker: "solo", trainRun, log: (line) => lines.push(line) });
    assert.deepEqual(report, { done: ["run-000", "run-002"], failed: ["run-001"], interrupted: false });
    assert.deepEqual(trained, [0, 1, 2].map((i) => `run-00${i} ${dir}/runs/run-00${i}`));
    const statuses = await readStatuses(dir);
    assert.deepEqual(statuses.map((s) => [s.id, s.state, s.worker]), [
      ["run-000", "done", "solo"],
      ["run-001", "failed", "solo"],
      ["run-002", "done", "solo"],
    ]);
    assert.equal(statuses[1].error, "RangeError: lr: too fast");
    assert.deepEqual(statuses[0].last, { "loss/total/mean": 0.5 });
    assert.equal(lines[0], "run-000 (lr=0.001): training, attempt 1");
    assert.equal(lines[1], "run-000: done in 1.0 s: L0 2.00 · explained variance 0.500 · dead 0.000");
    assert.equal(lines[3], "run-001: failed: RangeError: lr: too fast");
  });
});

Deno.test("runSweepWorker() stops at an abort: the run is failed as interrupted, the rest stay pending", async () => {
  await withDir(async (dir) => {
    await initSweepDir(dir, planSweep({ base: TOY, parameters: { lr: { values: [0.001, 0.002] } } }));
    const controller = new AbortController();
    const trainRun: SweepTrainer = () => {
      controller.abort();
      return Promise.resolve({ stopped: "aborted", step: 2 });
    };
    const report = await runSweepWorker(dir, { trainRun, signal: controller.signal });
    assert.deepEqual(report, { done: [], failed: ["run-000"], interrupted: true });
    const statuses = await readStatuses(dir);
    assert.equal(statuses.length, 1);
    assert.equal(statuses[0].error, "interrupted at step 2");
  });
});

Deno.test("trainSweepRun() trains into the run folder, and resumes from the checkpoint of an interrupted attempt", async () => {
  await withDir(async (dir) => {
    const plan = planSweep({ base: { ...TOY, steps: 6 }, parameters: { arch: { values: ["topk"] } } });
    const [run] = plan.runs;
    const out = `${dir}/run`;
    const controller = new AbortController();
    controller.abort();
    // Aborted before it starts: it stops after the first step with a checkpoint.
    const first = await trainSweepRun(run, out, controller.signal);
    assert.deepEqual(first, { stopped: "aborted", step: 1 });
    const second = await trainSweepRun(run, out);
    assert.equal(second.stopped, "completed");
    assert.equal(second.result.steps, 6);
    // TopK with k = 4 keeps at most 4 features per item (fewer where a kept pre-activation is not positive).
    assert.ok(second.result.l0 > 3 && second.result.l0 <= 4, `L0 ${second.result.l0}`);
    assert.ok(second.result.mmcs !== undefined && second.result.mmcs > 0 && second.result.mmcs <= 1);
    assert.equal(second.last["train/l0_norm/mean"], second.result.l0);
    const segments = JSON.parse(await Deno.readTextFile(`${out}/run.json`)).segments;
    assert.deepEqual(segments.map((s: { startStep: number; endStep: number }) => [s.startStep, s.endStep]), [
      [0, 1],
      [1, 6],
    ]);
    await Deno.stat(`${out}/final/component_0/sae_weights.safetensors`);
  });
});

Deno.test("sweepNameFromPath() keeps a file name's safe characters", () => {
  assert.equal(sweepNameFromPath("sweeps/l1 grid.json"), "l1-grid");
  assert.equal(sweepNameFromPath("a\\b\\toy_v2.sweep.json"), "toy_v2.sweep");
  assert.equal(sweepNameFromPath("???.json"), "sweep");
});

Deno.test("deno task sweep --sweep: argument errors name the flag, the expected and the received value", async () => {
  await withDir(async (dir) => {
    const run = (args: string[]) =>
      runSweepFileCommand(args, { write: () => {}, print: () => {}, signal: new AbortController().signal });
    await assert.rejects(
      () => run(["--sweep", "x.json", "--workers", "0"]),
      /--workers: expected a positive integer, received "0"/,
    );
    await assert.rejects(() => run(["--workers", "2"]), /--sweep: expected a sweep file, received nothing/);
    await assert.rejects(
      () => run(["--worker"]),
      /--dir: expected the sweep folder with --worker, received nothing/,
    );
    await assert.rejects(() => run(["--worker", "--dir", dir]), /expected a sweep folder with sweep.json/);
    await assert.rejects(
      () => run(["--sweep", `${dir}/none.json`]),
      /--sweep: expected a JSON sweep file, received ".*none.json" \(not found\)/,
    );
    await Deno.writeTextFile(`${dir}/bad.json`, "{ nope");
    await assert.rejects(
      () => run(["--sweep", `${dir}/bad.json`]),
      /--sweep .*bad.json: expected JSON, received text that does not parse/,
    );
    await Deno.writeTextFile(`${dir}/wrong.json`, JSON.stringify({ parameters: { lr: { values: [-1] } } }));
    await assert.rejects(
      () => run(["--sweep", `${dir}/wrong.json`, "--dir", `${dir}/s`]),
      /run-000 \(lr=-1\): invalid configuration:\n {2}lr: /,
    );
    await assert.rejects(
      () => run(["--sweep", "x.json", "--archs", "relu"]),
      /Unknown option '--archs'.*\(expected --sweep FILE/,
    );
    let help = "";
    assert.equal(await runSweepFileCommand(["--help"], { write: (t) => (help += t) }), 0);
    assert.match(help, /deno task sweep --sweep FILE.json \[--workers N\]/);
  });
});

Deno.test("deno task sweep --sweep: a folder whose runs are all done prints its summary without starting workers", async () => {
  await withDir(async (dir) => {
    const file = { name: "done", base: TOY, parameters: { lr: { values: [0.001] } } };
    await Deno.writeTextFile(`${dir}/s.json`, JSON.stringify(file));
    await initSweepDir(`${dir}/s`, planSweep(file));
    await runSweepWorker(`${dir}/s`, {
      trainRun: () => Promise.resolve({ stopped: "completed", result: RESULT, last: {} }),
    });
    let out = "", err = "";
    const code = await runSweepFileCommand([
      "--sweep",
      `${dir}/s.json`,
      "--dir",
      `${dir}/s`,
      "--workers",
      "3",
    ], {
      write: (t) => (err += t),
      print: (t) => (out += t),
      signal: new AbortController().signal,
    });
    assert.equal(code, 0);
    assert.match(
      err,
      /saekit sweep "done": 1 runs \(grid over lr\) in .*\/s \(continuing\)\nno runs left to train\n/,
    );
    assert.match(out, /^\| run \| lr \| state \|/);
    assert.match(out, /\| run-000 \| 0\.001 \| done \| 2\.00 \|/);
    assert.equal(await Deno.readTextFile(`${dir}/s/summary.md`), out);
    assert.equal(await claimNext(`${dir}/s`), undefined);
  });
});

const canRunDeno = Deno.permissions.querySync({ name: "run", command: "deno" }).state === "granted";

Deno.test({
  name: "deno task sweep --sweep FILE --workers 2: two processes share the grid, every run done exactly once",
  ignore: !canRunDeno,
  async fn() {
    await withDir(async (dir) => {
      // 4 runs of 3 steps: 2 architectures × 2 learning rates.
      const file = {
        name: "two",
        base: TOY,
        parameters: { arch: { values: ["relu", "topk"] }, lr: { values: [0.001, 0.003] } },
      };
      await Deno.writeTextFile(`${dir}/sweep.json`, JSON.stringify(file));
      const sweepDir = `${dir}/out`;
      const result = await new Deno.Command("deno", {
        args: [
          "task",
          "--quiet",
          "sweep",
          "--sweep",
          `${dir}/sweep.json`,
          "--workers",
          "2",
          "--dir",
          sweepDir,
        ],
        cwd: new URL("../..", import.meta.url).pathname,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stdout = new TextDecoder().decode(result.stdout);
      const stderr = new TextDecoder().decode(result.stderr);
      assert.equal(result.code, 0, stderr);
      // Both workers started (each says when it has no run left).
      assert.match(stderr, /\[worker 1\] no runs left/);
      assert.match(stderr, /\[worker 2\] no runs left/);
      const claims = (await Deno.readTextFile(`${sweepDir}/claims.jsonl`)).trim().split("\n").map((l) =>
        JSON.parse(l)
      );
      assert.deepEqual(claims.map((c) => c.id), ["run-000", "run-001", "run-002", "run-003"]);
      assert.ok(claims.every((c) => c.attempt === 1));
      assert.ok(new Set(claims.map((c) => c.pid)).size <= 2);
      const statuses = await readStatuses(sweepDir);
      assert.deepEqual(statuses.map((s) => [s.id, s.state, s.attempt]), [
        ["run-000", "done", 1],
        ["run-001", "done", 1],
        ["run-002", "done", 1],
        ["run-003", "done", 1],
      ]);
      // Each run trained in its own folder, by the process that claimed it.
      for (const [i, status] of statuses.entries()) {
        assert.equal(status.pid, claims[i].pid);
        const config = JSON.parse(await Deno.readTextFile(`${sweepDir}/runs/${status.id}/config.json`));
        assert.deepEqual([config.arch, config.lr], [
          file.parameters.arch.values[i >> 1],
          file.parameters.lr.values[i & 1],
        ]);
        const metrics = (await Deno.readTextFile(`${sweepDir}/runs/${status.id}/metrics.jsonl`)).trim().split(
          "\n",
        );
        assert.equal(metrics.length, 1);
        assert.equal(JSON.parse(metrics[0]).step, 3);
      }
      // The summary on stdout and in summary.md.
      assert.equal(await Deno.readTextFile(`${sweepDir}/summary.md`), stdout);
      assert.match(stdout, /\| run-003 \| topk \| 0\.003 \| done \| \d\.\d\d \|/);
      assert.match(stdout, /4 runs: 4 done\./);
    });
  },
});
