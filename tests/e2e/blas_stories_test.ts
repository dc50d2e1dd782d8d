/**
 * End to end on stories260K and the `blas` backend users get: TopK (the fused
 * sparse kernel, half of whose work runs on a worker thread) and BatchTopK
 * (composed ops, matrix products on OpenBLAS) trained with the settings of the
 * architecture sweep's stories260K rows (one SAE 64 → 256 on
 * `blocks.2.hook_resid_post`, windows of 128, 150 steps of 1024; the middle
 * sparsity, k = 20) reach an explained variance of at least 0.7, five runs in a
 * row each.
 *
 * The five runs have the same seed: each must reach the bound, and all five must
 * log the same numbers bit for bit. The lanes of the TopK kernel split the work
 * by data, not by thread, so a race between the threads (or a buffer reused
 * while still in use) shows up as a difference between runs: the first run
 * starts before the worker thread is up, and every run reuses arrays that the
 * backend's pool took back from the one before.
 *
 * The activations are generated once for the file (an activation cache in a
 * temporary folder, as `deno task sweep` does) and read by every run. Not
 * skipped where OpenBLAS is missing: the tests fail and say to install it.
 */
import { assert } from "../_helpers.ts";
import { selectBackend } from "../../lib/backends/select.ts";
import { parseConfig } from "../../lib/config.ts";
import { activationCacheName, sweepGrid } from "../../lib/sweep/architectures.ts";
import { prepareSource } from "../../lib/data/prepare.ts";
import { type LogRecord, train } from "../../lib/run/runner.ts";
import { disposeAll } from "../../lib/run/dispose.ts";
import { topkWorkerReady } from "../../lib/backends/blas_backend.ts";

// tests/_helpers.ts selected `cpu` when imported; this module trains on `blas`.
const missing = await selectBackend("blas").then(
  () => undefined,
  (error: Error) => error.message,
);

const cacheRoot = await Deno.makeTempDir({ prefix: "saekit-blas-stories-" });
globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(cacheRoot, { recursive: true });
  } catch {
    // already gone
  }
});

const RUNS = 5;
const MIN_EXPLAINED_VARIANCE = 0.7;

function requireBlas(): void {
  if (missing !== undefined) {
    throw new Error(
      `${missing}. These tests train on the blas backend: install OpenBLAS ` +
        "(Debian/Ubuntu: apt-get install libopenblas0-pthread; CI installs it) and run with --allow-ffi.",
    );
  }
}

/** The sweep's stories260K run of `arch` at the middle sparsity, reading the file's activation cache. */
async function trainSweepRun(arch: "topk" | "batchtopk"): Promise<LogRecord> {
  const specs = sweepGrid({ sources: ["stories"], archs: [arch] });
  const spec = specs[1];
  assert.equal(spec.value, 20, `${arch}: the sweep's middle k`);
  const input = {
    ...spec.input,
    activationCache: `${cacheRoot}/${activationCacheName(parseConfig(spec.input))}`,
  };
  const prepared = await prepareSource(parseConfig(input), input);
  try {
    // No validation: the bound is on the training metrics of the last tenth of the run, as in the sweep.
    const result = await train({ config: prepared.config, source: prepared.source });
    disposeAll(result.state);
    assert.ok(result.lastLog !== undefined, `${arch}: the run logged nothing`);
    assert.equal(result.lastLog.step, 150, `${arch}: steps`);
    return result.lastLog;
  } finally {
    prepared.dispose();
  }
}

/** The logged metrics of a run (everything but the clock), for comparing runs. */
function metricsOf(record: LogRecord): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([key]) => key !== "time_s"));
}

async function fiveRuns(arch: "topk" | "batchtopk"): Promise<void> {
  requireBlas();
  const records: LogRecord[] = [];
  for (let run = 0; run < RUNS; run++) {
    const last = await trainSweepRun(arch);
    records.push(last);
    const ev = last["train/explained_variance/mean"] as number;
    console.log(`${arch} k = 20, run ${run + 1}: explained variance ${ev}, L0 ${last["train/l0_norm/mean"]}`);
    assert.ok(
      ev >= MIN_EXPLAINED_VARIANCE,
      `${arch} k = 20, run ${
        run + 1
      } of ${RUNS}: explained variance expected ≥ ${MIN_EXPLAINED_VARIANCE}, received ${ev}`,
    );
    assert.equal(last["train/l0_norm/mean"], 20, `${arch} k = 20, run ${run + 1}: L0`);
    if (arch === "topk" && navigator.hardwareConcurrency >= 2) {
      // The worker started during the first run at the latest, so the runs exercised the two-thread path.
      assert.ok(topkWorkerReady(), `${arch}, run ${run + 1}: the TopK worker thread was not running`);
    }
  }
  for (let run = 1; run < RUNS; run++) {
    assert.deepEqual(
      metricsOf(records[run]),
      metricsOf(records[0]),
      `${arch}: run ${run + 1} logged other numbers than run 1 with the same seed and data`,
    );
  }
}

Deno.test("TopK (fused kernel, two threads) on stories260K: explained variance ≥ 0.7 in 5 runs in a row, identical", async () => {
  await fiveRuns("topk");
});

Deno.test("BatchTopK on stories260K (blas): explained variance ≥ 0.7 in 5 runs in a row, identical", async () => {
  await fiveRuns("batchtopk");
});
