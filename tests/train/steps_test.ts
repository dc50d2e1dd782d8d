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
import type { Batch, TrainState } from "../../lib/train/state.ts";
import type { Step } from "../../lib/train/compose.ts";
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
const grad = gradientStep(optimizerFor(config), config.l1Coefficient);

function leakCheck(name: string, step: Step<TrainState, Batch>) {
  Deno.test(`${name} does not leak tensors over many steps`, () => {
    const start = grad(initTrainState(config), batch);
    const end = assertNoLeak(start, (s) => step(grad(s, batch), batch), 20);
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
  for (let i = 0; i < 3; i++) s = collect(options)(grad(s, batch), batch); // 48 activations: due
  const after = resampleDead(options)(s, batch);
  assert.equal(after.resampler.resamples, 1);
  const early = collect(options)(grad(initTrainState(config), batch), batch);
  assert.equal(resampleDead(options)(early, batch), early);
});
