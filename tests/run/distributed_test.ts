/**
 * Data-parallel training without MPI: a stand-in for a job of two processes that hold the same share
 * (its sums double every value) must step exactly as one process on the batch made of that share twice,
 * and the collective steps must not leak tensors.
 */
import assert from "node:assert/strict";
import { tf, tidy } from "../../lib/tf.ts";
import { selectBackend } from "../../lib/backends/select.ts";
import { parseConfig, type TrainConfigInput } from "../../lib/config.ts";
import { defaultPipeline } from "../../lib/train/pipeline.ts";
import type { TrainState } from "../../lib/train/state.ts";
import { acrossProcesses, shareOf, sliceRows } from "../../lib/run/distributed/across.ts";
import { disposeAll, disposeReplaced } from "../../lib/run/dispose.ts";

tf.env().set("IS_TEST", true);
await selectBackend("cpu");

/** Two processes holding the same values: every sum is twice this one's; process 0's values are its own. */
function twinAcross(localRows: number) {
  return acrossProcesses({
    rank: 0,
    size: 2,
    allSumFloat32: (v) => v.map((x) => 2 * x),
    broadcastFloat32: (v) => v,
  }, () => 2 * localRows);
}

function maxGap(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

for (const arch of [{ arch: "relu" }, { arch: "topk", k: 3 }] as TrainConfigInput[]) {
  Deno.test(`two equal shares step as one process on the share twice (${arch.arch})`, () => {
    const config = parseConfig({
      dIn: 6,
      dSae: 12,
      nComponents: 2,
      batchSize: 16,
      storeSize: 16,
      steps: 10,
      logEvery: 10,
      capacitySample: 4,
      maxResamples: 0,
      ...arch,
    });
    const b = 8;
    const one = defaultPipeline(config);
    const two = defaultPipeline(config, { across: twinAcross(b) });
    let s1: TrainState = one.init(config), s2: TrainState = two.init(config);
    for (let i = 0; i < 5; i++) {
      const share = tf.randomNormal([2, b, 6], 0.5, 1, "float32", 100 + i) as tf.Tensor3D;
      const doubled = tf.concat([share, share], 1) as tf.Tensor3D;
      const n1 = one.step(s1, { x: doubled }), n2 = two.step(s2, { x: share });
      disposeReplaced(s1, n1);
      disposeReplaced(s2, n2);
      s1 = n1;
      s2 = n2;
      tf.dispose([share, doubled]);
    }
    assert.equal(s2.activations, 5 * 16); // the global batch's rows
    assert.equal(s2.metrics.n, s1.metrics.n);
    for (const key of ["wEnc", "bEnc", "wDec", "bDec"] as const) {
      const gap = maxGap(s1.params[key], s2.params[key]);
      assert.ok(gap < 1e-5, `${arch.arch}: params.${key}: max |difference| ${gap}`);
    }
    for (const key of ["lossSum", "l1Sum", "l2Sum", "l0Sum", "sseSum", "sstSum", "capacitySum"] as const) {
      const a = s1.metrics[key].dataSync()[0], c = s2.metrics[key].dataSync()[0];
      assert.ok(
        Math.abs(a - c) <= 1e-5 * Math.max(1, Math.abs(a)),
        `${arch.arch}: metrics.${key}: ${a} vs ${c}`,
      );
    }
    assert.deepEqual(Array.from(s2.metrics.fired.dataSync()), Array.from(s1.metrics.fired.dataSync()));
    assert.deepEqual(Array.from(s2.sinceFired.dataSync()), Array.from(s1.sinceFired.dataSync()));
    disposeAll(s1);
    disposeAll(s2);
  });
}

Deno.test("Σ‖y − ȳ‖² of the global batch from two shares with different means", () => {
  // Shares [0, 2] and [4, 6] (one component, width 1): global mean 3, Σ(y − 3)² = 9 + 1 + 1 + 9 = 20;
  // each share alone has Σ = 2. The stand-in sums: the other process holds [4, 6].
  const other = { rowSum: 10, sst: 2 };
  const config = parseConfig({ dIn: 1, dSae: 2, batchSize: 4, storeSize: 4, steps: 1, maxResamples: 0 });
  let call = 0;
  const across = acrossProcesses({
    rank: 0,
    size: 2,
    allSumFloat32: (v) => {
      call++;
      if (call === 1) return Float32Array.from([v[0] + other.rowSum]); // Σy per component
      if (call > 2) return v.slice(); // the metric sums: this process alone
      const out = v.slice();
      // the last value is this share's sst + b‖ȳₚ − ȳ‖²; the other share's is 2 + 2·(5 − 3)² = 10
      out[out.length - 1] += other.sst + 2 * 4;
      return out;
    },
    broadcastFloat32: (v) => v,
  }, () => 4);
  const pipeline = defaultPipeline(config, { across });
  const state = pipeline.init(config);
  const x = tf.tensor3d([[[0], [2]]]);
  const next = pipeline.step(state, { x });
  // this share: 2 + 2·(1 − 3)² = 10; with the other's 10: 20
  assert.equal(next.metrics.sstSum.dataSync()[0], 20);
  disposeReplaced(state, next);
  disposeAll(next);
  x.dispose();
});

Deno.test("the collective steps free what they replace: the tensor count does not grow", () => {
  const config = parseConfig({
    dIn: 4,
    dSae: 8,
    batchSize: 8,
    storeSize: 8,
    steps: 40,
    logEvery: 5,
    capacitySample: 2,
    resampleInterval: 16,
    resampleCollate: 8,
    resampleDatasetSize: 8,
    maxResamples: 3,
  });
  const pipeline = defaultPipeline(config, { across: twinAcross(4) });
  let state = pipeline.init(config);
  const x = tf.randomNormal([1, 4, 4], 0, 1, "float32", 7) as tf.Tensor3D;
  const counts: number[] = [];
  for (let i = 0; i < 30; i++) {
    const prev = state;
    const next = tidy(() => pipeline.step(prev, { x })); // as the runner steps
    disposeReplaced(state, next);
    state = next;
    if (i >= 10 && i % 5 === 0) counts.push(tf.memory().numTensors);
  }
  assert.ok(state.resampler.resamples > 0, "expected a resample within 30 steps");
  assert.equal(new Set(counts).size, 1, `tensor counts ${counts.join(", ")}`);
  disposeAll(state);
  x.dispose();
});

Deno.test("shareOf() splits any batch into contiguous shares that cover it", () => {
  for (const rows of [1, 2, 7, 64, 1000]) {
    for (const size of [1, 2, 3, 8]) {
      if (rows < size) continue;
      let next = 0;
      for (let rank = 0; rank < size; rank++) {
        const [start, end] = shareOf(rows, rank, size);
        assert.equal(start, next, `rows ${rows}, size ${size}, rank ${rank}: start`);
        assert.ok(end - start >= Math.floor(rows / size) && end - start <= Math.ceil(rows / size));
        next = end;
      }
      assert.equal(next, rows);
    }
  }
  assert.throws(() => sliceRows(new Float32Array(5), 1, 2, 2, 0, 1), /expected 1·2·2 = 4 values, received 5/);
});
