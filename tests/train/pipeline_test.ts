import { assert, assertClose, assertNoLeak, tf, values } from "../_helpers.ts";
import { parseConfig } from "../../lib/config.ts";
import { defaultPipeline, initTrainState, learningRateSchedule } from "../../lib/train/pipeline.ts";

import { constrainDecoder, observe, resetMetrics } from "../../lib/train/steps.ts";
import { toySource } from "../../lib/data/toy.ts";
import { shuffledBatches } from "../../lib/data/store.ts";

const config = parseConfig({
  dIn: 8,
  expansionFactor: 2,
  nComponents: 2,
  batchSize: 32,
  storeSize: 128,
  steps: 40,
  l1Coefficient: 0.01,
  lr: 3e-3,
  resampleInterval: 32 * 10,
  resampleCollate: 32 * 5,
  resampleDatasetSize: 32 * 4,
  maxResamples: 3,
  logEvery: 5,
});

async function batches(n: number): Promise<tf.Tensor3D[]> {
  const source = toySource({ nComponents: 2, dIn: 8, nFeatures: 12, meanActive: 2, chunkRows: 64, seed: 3 });
  const out: tf.Tensor3D[] = [];
  for await (const b of shuffledBatches(source, { storeSize: 128, batchSize: 32, seed: 3 })) {
    out.push(tf.tensor3d(b.data, [2, 32, 8]));
    if (out.length === n) break;
  }
  return out;
}

Deno.test("the default pipeline step does not leak tensors over many steps, resamples included", async () => {
  const xs = await batches(4);
  const { init, step } = defaultPipeline(config);
  const final = assertNoLeak(init(config), (s, i) => step(s, { x: xs[i % 4] }), 35);
  assert.ok(
    final.resampler.resamples >= 3,
    `expected 3 resamples by step 35, saw ${final.resampler.resamples}`,
  );
});

Deno.test("the default pipeline step is pure: it leaves its input state intact and repeats exactly", async () => {
  const [x] = await batches(1);
  const { init, step } = defaultPipeline(config);
  const s0 = init(config);
  const before = values(s0.params.wEnc);
  const a = step(s0, { x });
  const b = step(s0, { x });
  assert.deepEqual(values(s0.params.wEnc), before);
  assert.equal(s0.step, 0);
  assert.deepEqual(values(a.params.wEnc), values(b.params.wEnc));
  assert.deepEqual(values(a.params.wDec), values(b.params.wDec));
  assert.equal(a.step, 1);
  assert.equal(a.activations, 32);
});

Deno.test("after each step the dictionary rows have unit norm", async () => {
  const xs = await batches(3);
  const { init, step } = defaultPipeline(config);
  let s = init(config);
  for (const x of xs) s = step(s, { x });
  assertClose(values(tf.norm(s.params.wDec, 2, -1)), new Array(32).fill(1), 1e-5);
});

Deno.test("the default pipeline lowers the loss on toy data", async () => {
  const xs = await batches(4);
  const { init, step } = defaultPipeline(config);
  let s = init(config);
  const losses: number[] = [];
  for (let i = 0; i < 40; i++) {
    s = step(s, { x: xs[i % 4] });
    // The mean loss of the metrics window so far (windows start after steps 5, 10, …: logEvery 5).
    const sums = values(s.metrics.lossSum);
    losses.push(sums.reduce((a, b) => a + b, 0) / sums.length / s.metrics.n);
  }
  assert.ok(losses[39] < 0.5 * losses[0], `loss ${losses[0]} -> ${losses[39]}`);
});

Deno.test("observe and constrainDecoder compose as separate steps; observe reads the gradient step's outputs", async () => {
  const [x] = await batches(1);
  const s0 = initTrainState(config);
  // observe takes the batch with the outputs of the gradient step that trained on it (a type error without).
  // @ts-expect-error: a batch without outputs
  assert.throws(() => observe(s0, { x }), TypeError);
  const scaled = { ...s0, params: { ...s0.params, wDec: tf.mul(s0.params.wDec, 3) as tf.Tensor3D } };
  assertClose(
    values(tf.norm(constrainDecoder(scaled, { x }).params.wDec, 2, -1)),
    new Array(32).fill(1),
    1e-5,
  );
});

Deno.test("resetMetrics() empties the accumulators and keeps everything else", async () => {
  const [x] = await batches(1);
  const { init, step } = defaultPipeline(config);
  const s = step(init(config), { x });
  assert.equal(s.metrics.n, 32);
  const r = resetMetrics(s);
  assert.equal(r.metrics.n, 0);
  assert.equal(r.params, s.params);
  assert.deepEqual(values(r.metrics.fired), new Array(32).fill(0));
});

Deno.test("learningRateSchedule() follows the configured schedule", () => {
  const cosine = learningRateSchedule(parseConfig({ ...config, lrSchedule: "cosine", lrWarmupSteps: 4 }));
  assertClose([cosine(0), cosine(3), cosine(39)], [3e-3 / 4, 3e-3, 0], 1e-12);
  assert.equal(learningRateSchedule(config)(17), 3e-3);
});

Deno.test("initTrainState() estimates the activation scale and the decoder bias on a sample", async () => {
  const { initTrainState } = await import("../../lib/train/pipeline.ts");
  // Two rows of norm 4 in 4 dimensions: scale √4/4 = 0.5; the mean of the scaled rows is [1, 0, 0, −1]·…
  const sample = tf.tensor3d([[[4, 0, 0, 0], [0, 0, 0, -4]]]);
  const config = parseConfig({
    dIn: 4,
    batchSize: 2,
    storeSize: 2,
    steps: 1,
    normalizeActivations: "expected-norm",
    bDecInit: "mean",
  });
  const state = initTrainState(config, { x: sample });
  assert.deepEqual(Array.from(state.scale.x.dataSync()), [0.5]);
  // scaled rows [2, 0, 0, 0] and [0, 0, 0, −2]: mean [1, 0, 0, −1]
  assert.deepEqual(Array.from(state.params.bDec.dataSync()), [1, 0, 0, -1]);
  assert.throws(() => initTrainState(config), /sample: expected a batch of activations/);
});

Deno.test("prepareBatch() splits transcoder batches into inputs and targets and scales each", async () => {
  const { prepareBatch } = await import("../../lib/train/pipeline.ts");
  const x = tf.tensor3d([[[1, 2]], [[3, 4]]]); // 2 source components: input hook, target hook
  const out = prepareBatch({ x }, { x: tf.tensor1d([2]), y: tf.tensor1d([10]) }, true);
  assert.deepEqual(Array.from(out.x.dataSync()), [2, 4]);
  assert.deepEqual(Array.from(out.y!.dataSync()), [30, 40]);
  assert.throws(
    () => prepareBatch({ x: tf.zeros([3, 1, 2]) }, { x: tf.ones([1]), y: tf.ones([1]) }, true),
    /even number of components/,
  );
});

Deno.test("the default pipeline starts a new metrics window after each step a metrics line follows", async () => {
  // logEvery 5 (config above), validateEvery 7: lines after steps 5, 7, 10; batches of 32 items.
  const xs = await batches(2);
  const withValidation = parseConfig({ ...config, validateEvery: 7 });
  const { init, step } = defaultPipeline(withValidation);
  let s = init(withValidation);
  const counts: number[] = [];
  for (let i = 0; i < 11; i++) {
    s = step(s, { x: xs[i % 2] });
    counts.push(s.metrics.n);
  }
  // steps 1–5 accumulate, 6–7 start after 5, 8–10 after 7, 11 after 10.
  assert.deepEqual(counts, [32, 64, 96, 128, 160, 32, 64, 32, 64, 96, 32]);
  assert.ok(!("outputs" in s), "what a step hands the next is not in the state");
});
