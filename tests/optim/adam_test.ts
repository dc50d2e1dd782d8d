import { assert, assertClose, assertNoLeak, tf, values } from "../_helpers.ts";
import { type AdamState, resetFeatureMoments, SAE_FEATURE_AXES, scaleByAdam } from "../../lib/optim/adam.ts";
import { applyUpdates, chain, type ChainState } from "../../lib/optim/transform.ts";
import { scaleByLearningRate } from "../../lib/optim/schedules.ts";

Deno.test("scaleByAdam() with a learning rate reproduces torch.optim.Adam over two steps", () => {
  // β = (0.9, 0.999), ε = 1e-8, lr = 0.1, gradients 1 then 2 (worked by hand):
  // t=1: m = 0.1, v = 0.001, m̂ = 1, v̂ = 1 -> p = −0.1·1/(1 + 1e-8) = −0.099999999
  // t=2: m = 0.29, v = 0.004999, m̂ = 0.29/0.19, v̂ = 0.004999/0.001999 -> p = −0.196518201
  const tx = chain(scaleByAdam(), scaleByLearningRate(() => 0.1));
  let params = { w: tf.scalar(0) } as Record<string, tf.Tensor>;
  let state = tx.init(params);
  for (const [g, expected] of [[1, -0.099999999], [2, -0.1965182009718337]]) {
    const [updates, next] = tx.update({ w: tf.scalar(g) }, state, params);
    params = applyUpdates(params, updates);
    state = next;
    assertClose(values(params.w), [expected], 1e-7);
  }
  const adam = (state as ChainState)[0] as AdamState;
  assert.equal(adam.count, 2);
  assertClose(values(adam.mu.w), [0.29], 1e-7);
  assertClose(values(adam.nu.w), [0.004999], 1e-9);
});

Deno.test("resetFeatureMoments() zeroes exactly the chosen features of the chosen component and keeps the count", () => {
  // c = 2, dIn = 2, dSae = 3; reset feature 1 of component 0 and feature 2 of component 1.
  const ones = {
    wEnc: tf.ones([2, 2, 3]),
    bEnc: tf.ones([2, 3]),
    wDec: tf.ones([2, 3, 2]),
    bDec: tf.ones([2, 2]),
  };
  const state: AdamState = { kind: "adam", count: 7, mu: ones, nu: ones };
  const reset = tf.tensor2d([[0, 1, 0], [0, 0, 1]]);
  const next = resetFeatureMoments(state, reset, SAE_FEATURE_AXES);
  assert.equal(next.count, 7);
  // wEnc [c, n, m]: feature axis 2
  assert.deepEqual(values(next.mu.wEnc), [1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 1, 0]);
  // bEnc [c, m]
  assert.deepEqual(values(next.nu.bEnc), [1, 0, 1, 1, 1, 0]);
  // wDec [c, m, n]: feature axis 1 (rows)
  assert.deepEqual(values(next.mu.wDec), [1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0]);
  // bDec has no feature axis and is untouched
  assert.deepEqual(values(next.nu.bDec), [1, 1, 1, 1]);
});

Deno.test("resetFeatureMoments() with nothing chosen changes nothing, and reaches Adam inside a chain", () => {
  const m = { bEnc: tf.tensor2d([[1, 2, 3]]) };
  const chained: ChainState = [null, { kind: "adam", count: 1, mu: m, nu: m } satisfies AdamState];
  const next = resetFeatureMoments(chained, tf.zeros([1, 3]) as tf.Tensor2D, { bEnc: 1 });
  assert.deepEqual(values((next[1] as AdamState).mu.bEnc), [1, 2, 3]);
  const reset = resetFeatureMoments(chained, tf.tensor2d([[1, 0, 0]]), { bEnc: 1 });
  assert.deepEqual(values((reset[1] as AdamState).mu.bEnc), [0, 2, 3]);
});

Deno.test("after a reset the first update is about lr·(1−β1)/√(1−β2) in size (moments reset, step kept)", () => {
  // With t large, m̂ ≈ 0.1·g and v̂ ≈ 0.001·g², so the update ≈ 0.1/√0.001 ≈ 3.162 (before the learning rate).
  const tx = scaleByAdam();
  const params = { w: tf.tensor2d([[0]]) };
  const state: AdamState = {
    kind: "adam",
    count: 10_000,
    mu: { w: tf.tensor2d([[0]]) },
    nu: { w: tf.tensor2d([[0]]) },
  };
  const [updates] = tx.update({ w: tf.tensor2d([[0.5]]) }, state, params);
  assertClose(values(updates.w), [3.1623], 1e-3);
});

Deno.test("scaleByAdam() does not leak tensors", () => {
  const tx = scaleByAdam();
  const params = { w: tf.ones([3, 4]) };
  const g = { w: tf.fill([3, 4], 0.5) };
  assertNoLeak(tx.init(params), (s) => tx.update(g, s, params)[1]);
});
