/**
 * End to end: training on synthetic data with known ground truth recovers the
 * ground-truth directions (MMCS ≥ 0.9) and the loss falls.
 */
import { assert, tf } from "../_helpers.ts";
import { parseConfig, type TrainConfigInput } from "../../lib/config.ts";
import { toySource } from "../../lib/data/toy.ts";
import { mmcs } from "../../lib/metrics/mmcs.ts";
import { type LogRecord, train } from "../../lib/run/runner.ts";
import { disposeAll } from "../../lib/run/dispose.ts";

/** Trains two SAEs (dIn 16, dSae 64) for 800 steps on 24 ground-truth features; returns the log lines. */
async function trainToy(extra: TrainConfigInput): Promise<LogRecord[]> {
  const config = parseConfig({
    dIn: 16,
    expansionFactor: 4,
    nComponents: 2,
    batchSize: 256,
    storeSize: 4096,
    steps: 800,
    logEvery: 100,
    lr: 3e-3,
    toyFeatures: 24,
    toyMeanActive: 3,
    resampleInterval: 256 * 300,
    resampleCollate: 256 * 100,
    resampleDatasetSize: 256 * 20,
    maxResamples: 1,
    seed: 7,
    ...extra,
  });
  const source = toySource({
    nComponents: 2,
    dIn: 16,
    nFeatures: 24,
    meanActive: 3,
    chunkRows: 4096,
    seed: 7,
  });
  const truth = tf.tensor3d(source.groundTruth, [2, 24, 16]);
  const logs: LogRecord[] = [];
  const result = await train({
    config,
    source,
    evaluate: (s) => ({ "eval/mmcs": mmcs(truth, s.params.wDec) }),
    onLog: (r) => logs.push(r),
  });
  disposeAll(result.state);
  truth.dispose();
  return logs;
}

function assertRecovered(last: LogRecord): void {
  for (const name of ["component_0", "component_1"]) {
    assert.ok((last[`eval/mmcs/${name}`] as number) >= 0.9, `MMCS ${name}: ${last[`eval/mmcs/${name}`]}`);
  }
}

Deno.test("training two toy SAEs recovers the ground-truth features (MMCS ≥ 0.9) and lowers the loss", async () => {
  const logs = await trainToy({ l1Coefficient: 0.02 });
  const first = logs[0], last = logs[logs.length - 1];
  assert.equal(last.step, 800);
  assertRecovered(last);
  assert.ok(
    (last["loss/total/mean"] as number) < 0.5 * (first["loss/total/mean"] as number),
    `loss ${first["loss/total/mean"]} -> ${last["loss/total/mean"]}`,
  );
  // the learned code is sparse: about meanActive = 3 features per vector, not dSae = 64
  assert.ok((last["train/l0_norm/mean"] as number) < 8, `L0 ${last["train/l0_norm/mean"]}`);
});

Deno.test("training TopK SAEs (k = 4) on toy data recovers the ground truth (MMCS ≥ 0.9) with L0 = k", async () => {
  const logs = await trainToy({ arch: "topk", k: 4 });
  const last = logs[logs.length - 1];
  assertRecovered(last);
  // TopK keeps at most k features per item (fewer only when fewer pre-activations are positive)
  assert.ok((last["train/l0_norm/mean"] as number) <= 4 && (last["train/l0_norm/mean"] as number) > 3.5);
  assert.ok((last["loss/total/mean"] as number) < 0.5 * (logs[0]["loss/total/mean"] as number));
});
