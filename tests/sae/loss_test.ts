import { assert, assertClose, tf, values } from "../_helpers.ts";
import { l1Absolute, l2Reconstruction, lossTerms, reduceLoss } from "../../lib/sae/loss.ts";

// Layouts: the original's tests use [batch, component, features]; ours is
// [component, batch, features]. Each vector below is rewritten accordingly.

Deno.test("l1Absolute() of zeros is 0 and of ones is the feature count (original test_l1_absolute_loss)", () => {
  assertClose(values(l1Absolute(tf.zeros([1, 2, 3]))), [0, 0]);
  // ones [2, 3]: each item sums three ones -> 3; two components -> [3, 3]
  assertClose(values(tf.mean(l1Absolute(tf.ones([2, 2, 3])), 1)), [3, 3]);
});

Deno.test("l1Absolute() counts negative values like positive ones", () => {
  assertClose(values(l1Absolute(tf.tensor3d([[[-1, -2, 3]]]))), [6]);
});

Deno.test("l1Absolute() averages to the original's doctest value 1.5", () => {
  // items [1,0,1] and [0,1,0]: sums 2 and 1, mean 1.5
  assertClose(values(tf.mean(l1Absolute(tf.tensor3d([[[1, 0, 1], [0, 1, 0]]])))), [1.5]);
});

Deno.test("l2Reconstruction() is a mean over input features, not a sum", () => {
  // perfect reconstruction -> 0; every error 1.0 -> mean 1.0 (a sum would give 4)
  const x = tf.zeros([2, 3, 4]) as tf.Tensor3D;
  assertClose(values(l2Reconstruction(x, x)), [0, 0, 0, 0, 0, 0]);
  assertClose(values(l2Reconstruction(x, tf.ones([2, 3, 4]))), [1, 1, 1, 1, 1, 1]);
  // original doctest: source [4,2],[2,0], decoded [2,0],[0,0] -> (4+4)/2 = 4 and (4+0)/2 = 2, mean 3
  const l2 = l2Reconstruction(tf.tensor3d([[[4, 2], [2, 0]]]), tf.tensor3d([[[2, 0], [0, 0]]]));
  assertClose(values(l2), [4, 2]);
  assertClose(values(tf.mean(l2)), [3]);
  // v1.10.0 test: input [5,4],[3,4], output [1,5],[1,5] -> (16+1)/2 = 8.5, (4+1)/2 = 2.5
  assertClose(values(l2Reconstruction(tf.tensor3d([[[5, 4], [3, 4]]]), tf.tensor3d([[[1, 5], [1, 5]]]))), [
    8.5,
    2.5,
  ]);
});

Deno.test("lossTerms() matches the original's SAE loss vectors with coefficient 0.01", () => {
  const x = tf.zeros([1, 2, 4]) as tf.Tensor3D;
  const perfect = lossTerms(x, tf.zeros([1, 2, 4]), x, 0.01);
  assertClose(values(reduceLoss(perfect.total)), [0]);
  // learned ones(2, 4): l1 = 4 per item, times 0.01 -> 0.04
  const sparse = lossTerms(x, tf.ones([1, 2, 4]), x, 0.01);
  assertClose(values(reduceLoss(sparse.total)), [0.04]);
  // reconstruction error of 1 everywhere -> 1.0
  const recon = lossTerms(x, tf.zeros([1, 2, 4]), tf.ones([1, 2, 4]), 0.01);
  assertClose(values(reduceLoss(recon.total)), [1]);
  // both -> 1.04, with one component and with three
  assertClose(values(reduceLoss(lossTerms(x, tf.ones([1, 2, 4]), tf.ones([1, 2, 4]), 0.01).total)), [1.04]);
  const x3 = tf.zeros([3, 2, 4]) as tf.Tensor3D;
  assertClose(values(reduceLoss(lossTerms(x3, tf.ones([3, 2, 4]), tf.ones([3, 2, 4]), 0.01).total)), [1.04]);
});

Deno.test("lossTerms() gives the v1.10.0 L1 and Towards Monosemanticity vectors", () => {
  // coefficient 0.1 on learned [2, -3]: 0.1 * 5 = 0.5 per item
  const t = lossTerms(tf.zeros([1, 2, 1]), tf.tensor3d([[[2, -3], [2, -3]]]), tf.zeros([1, 2, 1]), 0.1);
  assertClose(values(t.l1).map((v) => v * 0.1), [0.5, 0.5]);
  // input [3,4], learned [2,-3], output [1,5], coefficient 0.5: (4 + 1)/2 + 0.5 * 5 = 5
  const tm = lossTerms(tf.tensor3d([[[3, 4]]]), tf.tensor3d([[[2, -3]]]), tf.tensor3d([[[1, 5]]]), 0.5);
  assertClose(values(tm.total), [5]);
  assertClose(values(tm.l2), [2.5]);
});

Deno.test("reduceLoss() takes the batch mean per component, then the mean over components", () => {
  // component 0 items [1, 3] -> 2; component 1 items [10, 20] -> 15; mean 8.5
  assertClose(values(reduceLoss(tf.tensor2d([[1, 3], [10, 20]]))), [8.5]);
  assert.equal(reduceLoss(tf.tensor2d([[1]])).rank, 0);
});
