import { assert, assertClose, assertNoLeak, tf, values } from "../_helpers.ts";
import { accumulate, accumulateCapacity, capacities, initMetrics } from "../../lib/metrics/accumulators.ts";
import { lossTerms } from "../../lib/sae/loss.ts";
import { batchStats } from "../../lib/sae/objective.ts";

// The original's vectors are [batch, component, feature]; ours are [component, batch, feature].

function add(f: number[][][], x?: number[][][], xHat?: number[][][]) {
  const ft = tf.tensor3d(f);
  const [c, b] = ft.shape;
  const xt = x ? tf.tensor3d(x) : tf.zeros([c, b, 1]) as tf.Tensor3D;
  const xh = xHat ? tf.tensor3d(xHat) : xt;
  return accumulate(initMetrics(c, ft.shape[2]), lossTerms(xt, ft, xh, 0.5), batchStats(xt, ft), xt.shape[2]);
}

Deno.test("accumulate() counts L0 like the original's L0NormMetric", () => {
  // [[[1, 0, 1]]] -> 2 non-zero features
  const one = add([[[1, 0, 1]]]);
  assertClose(values(one.l0Sum).map((v) => v / one.n), [2]);
  // zeros -> 0
  const zero = add([[[0, 0, 0]]]);
  assertClose(values(zero.l0Sum), [0]);
  // two components: batch items ([1,0,1],[1,0,1]) and ([0,1,0],[1,0,1]) -> [1.5, 2]
  const two = add([[[1, 0, 1], [0, 1, 0]], [[1, 0, 1], [1, 0, 1]]]);
  assertClose(values(two.l0Sum).map((v) => v / two.n), [1.5, 2]);
});

Deno.test("accumulate() counts firings like NeuronFiredCountMetric and FeatureDensityMetric", () => {
  // fired counts: [[1, 1, 1]] and the two-component case [[1, 1, 1], [2, 0, 2]]
  assert.deepEqual(values(add([[[1, 1, 1]]]).fired), [1, 1, 1]);
  const two = add([[[1, 0, 1], [0, 1, 0]], [[1, 0, 1], [1, 0, 1]]]);
  assert.deepEqual(values(two.fired), [1, 1, 1, 2, 0, 2]);
  // density of items [1,0,1] and [0,0,0]: [0.5, 0, 0.5]
  const density = add([[[1, 0, 1], [0, 0, 0]]]);
  assertClose(values(density.fired).map((v) => v / density.n), [0.5, 0, 0.5]);
  // negative values do not fire
  assert.deepEqual(values(add([[[-1, 0, 2]]]).fired), [0, 0, 1]);
});

Deno.test("accumulate() sums the loss terms per component and keeps counting over batches", () => {
  // x = (1, 3), x̂ = (1, 1), f = (2, 0): l1 = 2, l2 = (0 + 4)/2 = 2, total = 0.5·2 + 2 = 3
  let m = add([[[2, 0]]], [[[1, 3]]], [[[1, 1]]]);
  assertClose(values(m.l1Sum), [2]);
  assertClose(values(m.l2Sum), [2]);
  assertClose(values(m.lossSum), [3]);
  const x = tf.tensor3d([[[1, 3]]]), f = tf.tensor3d([[[2, 0]]]);
  m = accumulate(m, lossTerms(x, f, tf.tensor3d([[[1, 1]]]), 0.5), batchStats(x, f), 2);
  assert.equal(m.n, 2);
  assert.equal(m.batches, 2);
  assertClose(values(m.lossSum), [6]);
});

Deno.test("accumulate() measures explained variance against the batch mean", () => {
  // x items (0, 0) and (2, 2): mean (1, 1), Σ‖x − mean‖² = 2 + 2 = 4.
  // x̂ items (0, 1) and (2, 2): Σ‖x − x̂‖² = 1 -> explained variance 1 − 1/4 = 0.75
  const m = add([[[1], [1]]], [[[0, 0], [2, 2]]], [[[0, 1], [2, 2]]]);
  assertClose(values(m.sseSum), [1], 1e-6);
  assertClose(values(m.sstSum), [4], 1e-6);
});

Deno.test("capacities() reproduces the original's capacity vectors", () => {
  // orthogonal items -> [1, 1]
  assertClose(values(capacities(tf.tensor3d([[[1, 0, 0], [0, 1, 0]]]))), [1, 1]);
  // second component of two identical items -> [0.5, 0.5]
  const both = capacities(tf.tensor3d([[[1, 0, 0], [0, 1, 0]], [[-0.8, -0.8, -0.8], [-0.8, -0.8, -0.8]]]));
  assertClose(values(both), [1, 1, 0.5, 0.5], 1e-6);
  // [1,0,0], [1/√2,1/√2,0], [0,0,1] -> [2/3, 2/3, 1]
  const s = Math.SQRT1_2;
  assertClose(values(capacities(tf.tensor3d([[[1, 0, 0], [s, s, 0], [0, 0, 1]]]))), [2 / 3, 2 / 3, 1], 1e-6);
  // an all-zero item has capacity 0, not NaN
  assertClose(values(capacities(tf.tensor3d([[[0, 0], [1, 0]]]))), [0, 1]);
});

Deno.test("accumulateCapacity() averages the mean capacity of the first items of each batch", () => {
  const f = tf.tensor3d([[[1, 0, 0], [0, 1, 0], [1, 0, 0]]]);
  // first two items are orthogonal: mean capacity 1; all three: (0.5 + 1 + 0.5)/3
  const two = accumulateCapacity(initMetrics(1, 3), f, 2);
  assertClose(values(two.capacitySum), [1]);
  assert.equal(two.capacityBatches, 1);
  assertClose(values(accumulateCapacity(initMetrics(1, 3), f, 10).capacitySum), [2 / 3], 1e-6);
  assert.equal(accumulateCapacity(two, f, 0), two);
});

Deno.test("accumulate() does not leak tensors", () => {
  const x = tf.randomNormal([2, 8, 3], 0, 1, "float32", 0) as tf.Tensor3D;
  const f = tf.relu(tf.randomNormal([2, 8, 5], 0, 1, "float32", 1)) as tf.Tensor3D;
  const terms = lossTerms(x, f, x, 0.1);
  const stats = batchStats(x, f);
  assertNoLeak(initMetrics(2, 5), (m) => accumulateCapacity(accumulate(m, terms, stats, 3), f, 4));
});
