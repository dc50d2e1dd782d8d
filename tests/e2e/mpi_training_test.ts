/**
 * Data-parallel training over MPI (issue 16): `mpirun -np 2` processes with a global batch of B rows
 * train the same SAEs as one process with batch B (parameters within float tolerance after 50 steps,
 * the same metrics lines), for ReLU and TopK on the toy source; a checkpoint written by the 2-process
 * run resumes on one process to the same end, and the other way round; a process that dies ends the
 * job (no hang) and leaves a checkpoint that loads. Needs MPICH (`apt-get install mpich`).
 */
import assert from "node:assert/strict";
import { tf } from "../../lib/tf.ts";
import { selectBackend } from "../../lib/backends/select.ts";
import { parseConfig, type TrainConfigInput } from "../../lib/config.ts";
import { toySource } from "../../lib/data/toy.ts";
import { readActivationCache, writeActivationCache } from "../../lib/data/activation_cache.ts";
import { type LogRecord, train } from "../../lib/run/runner.ts";
import { disposeAll } from "../../lib/run/dispose.ts";
import { loadCheckpoint, loadLatestCheckpoint } from "../../lib/io/checkpoint.ts";
import type { TrainState } from "../../lib/train/state.ts";

tf.env().set("IS_TEST", true);
await selectBackend("cpu");

const worker = new URL("../run/mpi_worker.ts", import.meta.url).pathname;

/** Fails with what to install when MPICH's mpirun or library is missing. */
async function assertMpich(): Promise<void> {
  let version = "";
  try {
    const run = await new Deno.Command("mpirun", { args: ["--version"], stdout: "piped", stderr: "piped" })
      .output();
    version = new TextDecoder().decode(run.stdout);
  } catch (error) {
    assert.fail(
      `mpirun: expected MPICH's mpirun (apt-get install mpich) and --allow-run=mpirun, received ${error}`,
    );
  }
  assert.match(
    version,
    /HYDRA|MPICH/i,
    `mpirun --version: expected MPICH's (apt-get install mpich), received ${version}`,
  );
}

function baseConfig(extra: TrainConfigInput): TrainConfigInput {
  return {
    dIn: 16,
    expansionFactor: 4,
    nComponents: 2,
    batchSize: 64,
    storeSize: 1024,
    steps: 50,
    logEvery: 10,
    checkpointEvery: 25,
    capacitySample: 16,
    maxResamples: 0,
    lr: 3e-3,
    seed: 3,
    ...extra,
  };
}

/** The worker's toy source (the same options as tests/run/mpi_worker.ts). */
function source(config: ReturnType<typeof parseConfig>) {
  return toySource({
    nComponents: config.nComponents,
    dIn: config.dIn,
    nFeatures: 24,
    meanActive: 3,
    chunkRows: 256,
    seed: 5,
  });
}

async function runMpi(dir: string, input: TrainConfigInput, options: { cache?: string } = {}): Promise<void> {
  const run = await new Deno.Command("mpirun", {
    args: [
      "-np",
      "2",
      Deno.execPath(),
      "run",
      "-A",
      worker,
      dir,
      JSON.stringify(input),
      JSON.stringify(options),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(run.stdout) + new TextDecoder().decode(run.stderr);
  assert.equal(run.code, 0, `mpirun -np 2 ${worker}: expected exit 0, received ${run.code}:\n${text}`);
}

async function paramsOf(state: TrainState): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  for (const [key, value] of Object.entries(state.params)) {
    if (value !== undefined) out[key] = Array.from(await value.data());
  }
  return out;
}

function assertClose(a: Record<string, number[]>, b: Record<string, number[]>, what: string): void {
  assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort(), `${what}: parameter names`);
  for (const key of Object.keys(a)) {
    assert.equal(a[key].length, b[key].length, `${what}: ${key} length`);
    let worst = 0, scale = 0;
    for (let i = 0; i < a[key].length; i++) {
      worst = Math.max(worst, Math.abs(a[key][i] - b[key][i]));
      scale = Math.max(scale, Math.abs(b[key][i]));
    }
    // float32 sums in another order over 50 Adam steps: measured 4e-7 at most (0.7 the largest value)
    assert.ok(
      worst <= 1e-5 * Math.max(scale, 1),
      `${what}: ${key}: max |difference| ${worst} (max |value| ${scale})`,
    );
  }
}

function assertLinesClose(a: LogRecord[], b: LogRecord[], what: string): void {
  assert.deepEqual(a.map((r) => r.step), b.map((r) => r.step), `${what}: logged steps`);
  for (let i = 0; i < a.length; i++) {
    for (const [key, value] of Object.entries(b[i])) {
      if (key === "time_s" || typeof value !== "number") continue;
      const got = a[i][key];
      assert.equal(typeof got, "number", `${what}: step ${b[i].step}: ${key} missing`);
      assert.ok(
        Math.abs((got as number) - value) <= 1e-5 * Math.max(1, Math.abs(value)),
        `${what}: step ${b[i].step}: ${key}: expected ${value} (one process), received ${got}`,
      );
    }
  }
}

async function lines(path: string): Promise<LogRecord[]> {
  return (await Deno.readTextFile(path)).trim().split("\n").map((l) => JSON.parse(l));
}

for (const arch of [{ arch: "relu" }, { arch: "topk", k: 4 }] as const) {
  Deno.test(`mpirun -np 2 with batch 64 trains ${arch.arch} as one process with batch 64 does`, async () => {
    await assertMpich();
    const dir = await Deno.makeTempDir({ prefix: "saekit_mpi_" });
    try {
      const input = baseConfig(arch);
      await runMpi(dir, input);
      const rank0 = JSON.parse(await Deno.readTextFile(`${dir}/rank-0.json`));
      const rank1 = JSON.parse(await Deno.readTextFile(`${dir}/rank-1.json`));
      assert.equal(rank0.step, 50);
      assert.equal(rank0.resumedFrom, undefined);
      // Every process applies the same update: the parameters are the same bits.
      assert.deepEqual(rank1.params, rank0.params, "rank 1's parameters differ from rank 0's");
      // Only process 0 wrote the run folder's files.
      const config = parseConfig(input);
      const one = await train({ config, source: source(config), out: `${dir}/one`, warn: () => {} });
      assertClose(rank0.params, await paramsOf(one.state), `${arch.arch}, 2 processes vs 1`);
      assertLinesClose(
        await lines(`${dir}/run/metrics.jsonl`),
        await lines(`${dir}/one/metrics.jsonl`),
        arch.arch,
      );
      // The 2-process checkpoint of step 25 resumes on one process to the same end.
      const resume = await loadCheckpoint<TrainState>(`${dir}/run/checkpoints/step-00000025`);
      assert.equal(resume.step, 25);
      const resumed = await train({ config, source: source(config), resume, warn: () => {} });
      assertClose(await paramsOf(resumed.state), await paramsOf(one.state), `${arch.arch}, resumed on 1`);
      disposeAll(resumed.state);
      if (arch.arch === "relu") {
        // The other way round: a one-process checkpoint of step 25 resumes on 2 processes to the same end.
        const stop = new AbortController();
        const first = await train({
          config,
          source: source(config),
          out: `${dir}/other/run`,
          signal: stop.signal,
          onStep: (state) => state.step === 25 && stop.abort(),
          warn: () => {},
        });
        assert.equal(first.stopped, "aborted");
        disposeAll(first.state);
        await runMpi(`${dir}/other`, input);
        const continued = JSON.parse(await Deno.readTextFile(`${dir}/other/rank-0.json`));
        assert.equal(continued.resumedFrom, 25, "the 2-process run did not resume the checkpoint of step 25");
        assert.equal(continued.step, 50);
        assertClose(continued.params, await paramsOf(one.state), "relu, 1 process then 2");
        assertLinesClose(
          await lines(`${dir}/other/run/metrics.jsonl`),
          await lines(`${dir}/one/metrics.jsonl`),
          "relu, 1 process then 2",
        );
      }
      disposeAll(one.state);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("a process of an MPI run that dies ends the run with an error, and its last checkpoint resumes", async () => {
  await assertMpich();
  const dir = await Deno.makeTempDir({ prefix: "saekit_mpi_" });
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), 90_000);
  try {
    const input = baseConfig({ arch: "relu", steps: 400, checkpointEvery: 10 });
    // Rank 1 is killed after step 25; checkpoints were written at 10 and 20.
    const run = await new Deno.Command("mpirun", {
      args: [
        "-np",
        "2",
        Deno.execPath(),
        "run",
        "-A",
        worker,
        dir,
        JSON.stringify(input),
        JSON.stringify({ dieAt: 25 }),
      ],
      stdout: "piped",
      stderr: "piped",
      signal: stop.signal,
    }).output();
    assert.equal(stop.signal.aborted, false, "mpirun: expected the job to end when a process died, it hung");
    assert.notEqual(run.code, 0, "mpirun: expected a failing exit status when a process died, received 0");
    const loaded = await loadLatestCheckpoint<TrainState>(`${dir}/run`);
    assert.ok(
      loaded !== undefined && loaded.step >= 20 && loaded.step < 400,
      `checkpoint step ${loaded?.step}`,
    );
    const config = parseConfig({ ...input, steps: loaded.step + 5 });
    const resumed = await train({ config, source: source(config), resume: loaded, warn: () => {} });
    assert.equal(resumed.state.step, loaded.step + 5);
    disposeAll(resumed.state);
  } finally {
    clearTimeout(timer);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mpirun -np 2 trains from an activation cache as one process does", async () => {
  await assertMpich();
  const dir = await Deno.makeTempDir({ prefix: "saekit_mpi_" });
  try {
    const input = baseConfig({ arch: "relu", steps: 30, logEvery: 10, checkpointEvery: 0 });
    const config = parseConfig(input);
    // 30 steps of 64 rows, in shards of 500 rows (a batch spans two shards now and then)
    await writeActivationCache(`${dir}/cache`, source(config), { rows: 30 * 64, shardRows: 500 });
    await runMpi(dir, input, { cache: `${dir}/cache` });
    const rank0 = JSON.parse(await Deno.readTextFile(`${dir}/rank-0.json`));
    assert.equal(rank0.step, 30);
    const one = await train({
      config,
      source: await readActivationCache(`${dir}/cache`),
      out: `${dir}/one`,
      warn: () => {},
    });
    assertClose(rank0.params, await paramsOf(one.state), "cache, 2 processes vs 1");
    assertLinesClose(
      await lines(`${dir}/run/metrics.jsonl`),
      await lines(`${dir}/one/metrics.jsonl`),
      "cache",
    );
    disposeAll(one.state);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
