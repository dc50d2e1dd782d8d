import { assert, assertNoLeak, tf } from "../_helpers.ts";
import { parseConfig } from "../../lib/config.ts";
import { initTrainState, optimizerFor, resampleOptionsFor } from "../../lib/train/pipeline.ts";
import {
  collect,
  constrainDecoder,
  gradientStep,
  observe,
  observeCapacity,
  resampleDead,
} from "../../lib/train/steps.ts";
import type { Batch, ObservedBatch, TrainState } from "../../lib/train/state.ts";
import { handOn, type Step } from "../../lib/train/compose.ts";
import { addWeightDecay, chain } from "../../lib/optim/transform.ts";
import { clipByGlobalNorm } from "../../lib/optim/clip.ts";

const config = parseConfig({
  dIn: 6,
  nComponents: 2,
  batchSize: 16,
  storeSize: 32,
  steps: 50,
  resampleInterval: 48,
  resampleCollate: 32,
  resampleDatasetSize: 32,
  maxResamples: 100,
  weightDecay: 0.01,
  gradClipNorm: 1,
});
const batch: Batch = { x: tf.randomNormal([2, 16, 6], 0, 1, "float32", 0) as tf.Tensor3D };
const gradient = gradientStep(optimizerFor(config), config.l1Coefficient);
/** The gradient step alone, its outputs dropped. */
const grad = (s: TrainState, b: Batch) => gradient(s, b)[0];
/** The gradient step, then `step` with its outputs. */
const after = (step: Step<TrainState, ObservedBatch>) => handOn(gradient, step);

function leakCheck(name: string, step: Step<TrainState, ObservedBatch>) {
  Deno.test(`${name} does not leak tensors over many steps`, () => {
    const start = grad(initTrainState(config), batch);
    const end = assertNoLeak(start, (s) => after(step)(s, batch), 20);
    assert.ok(end.step > start.step);
  });
}

leakCheck("gradientStep()", (s) => s);
leakCheck("constrainDecoder", constrainDecoder);
leakCheck("observe", observe);
leakCheck("observeCapacity()", observeCapacity(8));
leakCheck("collect()", collect(resampleOptionsFor(config)));
leakCheck(
  "collect() with resampleDead()",
  (s, b) => resampleDead(resampleOptionsFor(config))(collect(resampleOptionsFor(config))(s, b), b),
);

Deno.test("chain(clipByGlobalNorm, addWeightDecay) does not leak tensors", () => {
  const tx = chain(clipByGlobalNorm(0.5), addWeightDecay(0.1));
  const params = { w: tf.ones([4, 4]) };
  assertNoLeak({ u: tf.zeros([4, 4]) }, () => {
    const [updates] = tx.update({ w: tf.fill([4, 4], 2) }, tx.init(params), params);
    return { u: updates.w };
  });
});

Deno.test("resampleDead() resamples when due and leaves the state alone otherwise", () => {
  const options = resampleOptionsFor(config);
  let s = initTrainState(config);
  for (let i = 0; i < 3; i++) s = after(collect(options))(s, batch); // 48 activations: due
  const resampled = resampleDead(options)(s, batch);
  assert.equal(resampled.resampler.resamples, 1);
  const early = after(collect(options))(initTrainState(config), batch);
  assert.equal(resampleDead(options)(early, batch), early);
});

Deno.test("gradientStep() warms the sparsity coefficient up linearly", () => {
  // With sparsityWarmupSteps 4, step 0 uses λ/4: the logged total is l2 + (λ/4)·l1.
  const config = parseConfig({ dIn: 4, batchSize: 8, storeSize: 8, steps: 5, l1Coefficient: 0.2 });
  const state = initTrainState(config);
  const x = tf.randomNormal([1, 8, 4], 0, 1, "float32", 3) as tf.Tensor3D;
  const [, outputs] = gradientStep(optimizerFor(config), 0.2, { sparsityWarmupSteps: 4 })(state, { x });
  const { l1, l2, total } = outputs.terms;
  const expected = tf.add(l2, tf.mul(l1, 0.05));
  assert.ok(tf.max(tf.abs(tf.sub(total, expected))).dataSync()[0] < 1e-6);
});

Deno.test("gradientStep() counts activations since each feature last fired", () => {
  const config = parseConfig({ dIn: 4, dSae: 8, batchSize: 8, storeSize: 8, steps: 3 });
  let state = initTrainState(config);
  const x = tf.randomNormal([1, 8, 4], 0, 1, "float32", 3) as tf.Tensor3D;
  const step = gradientStep(optimizerFor(config), 0.001);
  state = step(state, { x })[0];
  const [next, outputs] = step(state, { x });
  state = next;
  const fired = outputs.stats.fired.dataSync();
  const since = state.sinceFired.dataSync();
  // After two batches of 8: 0 where the feature fired on the second batch, else 8 or 16.
  fired.forEach((count, j) => assert.ok(count > 0 ? since[j] === 0 : since[j] === 8 || since[j] === 16));
});

Deno.test("trackThreshold() takes the first batch's smallest activation, then a running average", async () => {
  const { trackThreshold } = await import("../../lib/train/steps.ts");
  const config = parseConfig({
    arch: "batchtopk",
    dIn: 4,
    dSae: 3,
    k: 1,
    batchSize: 8,
    storeSize: 8,
    steps: 3,
  });
  const base = initTrainState(config);
  const withThreshold = (step: number, threshold: number): TrainState => ({
    ...base,
    step,
    params: { ...base.params, threshold: tf.fill([1, 3], threshold) as tf.Tensor2D },
  });
  const withMin = (minActive: number) =>
    ({
      outputs: { ...({} as ObservedBatch["outputs"]), minActive: tf.tensor1d([minActive]) },
    }) as ObservedBatch;
  const track = trackThreshold(0.9);
  // step 1: θ = 2 (the first value seen); later: 0.9·2 + 0.1·3 = 2.1; a batch with no activation keeps θ.
  assert.deepEqual(Array.from(track(withThreshold(1, 0), withMin(2)).params.threshold!.dataSync()), [
    2,
    2,
    2,
  ]);
  const later = Array.from(track(withThreshold(5, 2), withMin(3)).params.threshold!.dataSync());
  later.forEach((v) => assert.ok(Math.abs(v - 2.1) < 1e-6));
  assert.deepEqual(Array.from(track(withThreshold(5, 2), withMin(Infinity)).params.threshold!.dataSync()), [
    2,
    2,
    2,
  ]);
});

Deno.test("gradientStep() keeps sinceFired int32 (exact counts past float32's 2^24)", () => {
  const config = parseConfig({ dIn: 4, dSae: 8, batchSize: 8, storeSize: 8, steps: 3 });
  const x = tf.randomNormal([1, 8, 4], 0, 1, "float32", 3) as tf.Tensor3D;
  const [next] = gradientStep(optimizerFor(config), 0.001)(initTrainState(config), { x });
  assert.equal(next.sinceFired.dtype, "int32");
});
