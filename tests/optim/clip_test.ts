import { assertClose, assertNoLeak, tf, values } from "../_helpers.ts";
import { clipByGlobalNorm } from "../../lib/optim/clip.ts";

Deno.test("clipByGlobalNorm() scales all gradients together to the maximum norm", () => {
  // ‖(3, 4, 12)‖ = 13 -> scale 6.5/13 = 0.5
  const [g] = clipByGlobalNorm(6.5).update({ a: tf.tensor1d([3, 4]), b: tf.scalar(12) }, null, {});
  assertClose(values(g.a), [1.5, 2], 1e-6);
  assertClose(values(g.b), [6], 1e-6);
});

Deno.test("clipByGlobalNorm() leaves small gradients and a zero limit alone", () => {
  const [g] = clipByGlobalNorm(10).update({ a: tf.tensor1d([3, 4]) }, null, {});
  assertClose(values(g.a), [3, 4], 1e-6);
  const [h] = clipByGlobalNorm(0).update({ a: tf.tensor1d([30, 40]) }, null, {});
  assertClose(values(h.a), [30, 40]);
});

Deno.test("clipByGlobalNorm() does not leak tensors", () => {
  const tx = clipByGlobalNorm(1);
  assertNoLeak({ a: tf.ones([5]) }, (s) => tx.update(s, null, {})[0] as { a: tf.Tensor });
});
