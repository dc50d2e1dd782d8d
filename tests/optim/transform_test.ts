import { assert, assertClose, tf, values } from "../_helpers.ts";
import { addWeightDecay, applyUpdates, chain, mapRecord } from "../../lib/optim/transform.ts";
import { scaleByLearningRate } from "../../lib/optim/schedules.ts";

Deno.test("chain() feeds each transform's updates to the next and keeps one state each", () => {
  const tx = chain(addWeightDecay(0.5), scaleByLearningRate(() => 0.1));
  const params = { w: tf.scalar(2) };
  const state = tx.init(params);
  assert.equal(state.length, 2);
  // g + 0.5·w = 1 + 1 = 2, times −0.1 = −0.2
  const [updates, next] = tx.update({ w: tf.scalar(1) }, state, params);
  assertClose(values(updates.w), [-0.2], 1e-7);
  assert.deepEqual(next[1], { count: 1 });
});

Deno.test("applyUpdates() adds updates and keeps parameters without one", () => {
  const out = applyUpdates({ a: tf.scalar(1), b: tf.scalar(5) }, { a: tf.scalar(0.5) });
  assertClose(values(out.a), [1.5]);
  assertClose(values(out.b), [5]);
});

Deno.test("mapRecord() maps every tensor and keeps the keys", () => {
  const out = mapRecord({ a: tf.scalar(1), b: tf.scalar(2) }, (t) => tf.mul(t, 3));
  assert.deepEqual(Object.keys(out), ["a", "b"]);
  assertClose(values(out.b), [6]);
});
