import { assertClose, tf, values } from "../_helpers.ts";
import { mmcs } from "../../lib/metrics/mmcs.ts";

Deno.test("mmcs() averages, over ground-truth directions, the best cosine with a learned vector", () => {
  // truth e1, e2; learned (1, 1)/√2 and (0, 3): best for e1 is 1/√2, for e2 is 1 -> (0.7071 + 1)/2
  const score = mmcs(tf.tensor3d([[[1, 0], [0, 1]]]), tf.tensor3d([[[1, 1], [0, 3]]]));
  assertClose(values(score), [(Math.SQRT1_2 + 1) / 2], 1e-6);
});

Deno.test("mmcs() is computed per component", () => {
  const truth = tf.tensor3d([[[1, 0]], [[0, 1]]]);
  const learned = tf.tensor3d([[[1, 0]], [[1, 0]]]);
  assertClose(values(mmcs(truth, learned)), [1, 0], 1e-6);
});
