import { assert, assertClose, assertNoLeak, tf, values } from "../_helpers.ts";
import {
  constantSchedule,
  cosineSchedule,
  scaleByLearningRate,
  warmupSchedule,
} from "../../lib/optim/schedules.ts";

Deno.test("constantSchedule() is constant", () => {
  assert.equal(constantSchedule(0.3)(0), 0.3);
  assert.equal(constantSchedule(0.3)(1e6), 0.3);
});

Deno.test("warmupSchedule() rises linearly to the peak over the warm-up steps", () => {
  const s = warmupSchedule(0.01, 4);
  assertClose([0, 1, 2, 3, 4, 100].map(s), [0.0025, 0.005, 0.0075, 0.01, 0.01, 0.01], 1e-12);
  assert.equal(warmupSchedule(0.01, 0)(0), 0.01);
});

Deno.test("cosineSchedule() warms up, then follows half a cosine to the floor at the last step", () => {
  // peak 1, warm-up 2, 12 steps, floor 0.1: decay over steps 2..11 (span 9)
  const s = cosineSchedule(1, 2, 12, 0.1);
  assertClose([s(0), s(1), s(2)], [0.5, 1, 1], 1e-12);
  // step 2 + 4.5 is halfway: 0.1 + 0.9·0.5 = 0.55; last step: the floor 0.1
  assertClose(cosineSchedule(1, 0, 10, 0.1)(4.5), 0.55, 1e-12);
  assertClose(s(11), 0.1, 1e-12);
  assertClose(s(50), 0.1, 1e-12);
});

Deno.test("scaleByLearningRate() multiplies by −lr(step) and counts", () => {
  const tx = scaleByLearningRate((step) => (step + 1) * 0.1);
  const [u1, s1] = tx.update({ g: tf.scalar(2) }, tx.init({}), {});
  const [u2, s2] = tx.update({ g: tf.scalar(2) }, s1, {});
  assertClose(values(u1.g), [-0.2], 1e-7);
  assertClose(values(u2.g), [-0.4], 1e-7);
  assert.equal(s2.count, 2);
});

Deno.test("scaleByLearningRate() does not leak tensors", () => {
  const tx = scaleByLearningRate(() => 0.1);
  const g = { g: tf.ones([4]) };
  assertNoLeak({ s: tx.init({}), u: tf.zeros([4]) }, (st) => {
    const [u, s] = tx.update(g, st.s, {});
    return { s, u: u.g };
  });
});
