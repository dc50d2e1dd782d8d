import { assert, assertClose, tf, values } from "../_helpers.ts";
import { normalizeDecoder, projectDecoderGrad } from "../../lib/sae/decoder.ts";
import { initParams } from "../../lib/sae/params.ts";

Deno.test("projectDecoderGrad() removes the component of the gradient along each dictionary vector", () => {
  // w = (3, 4)/5·2 (norm 2, direction (0.6, 0.8)); g = (1, 1): g·ŵ = 1.4; g' = (1 − 0.84, 1 − 1.12) = (0.16, −0.12)
  const g = projectDecoderGrad(tf.tensor3d([[[1.2, 1.6]]]), tf.tensor3d([[[1, 1]]]));
  assertClose(values(g), [0.16, -0.12], 1e-6);
});

Deno.test("projectDecoderGrad() leaves every row's gradient orthogonal to its row", () => {
  const { wDec } = initParams({ nComponents: 2, dIn: 5, dSae: 6, seed: 1 });
  const g = projectDecoderGrad(wDec, tf.randomNormal([2, 6, 5], 0, 1, "float32", 2) as tf.Tensor3D);
  assertClose(values(tf.sum(tf.mul(g, wDec), -1)), new Array(12).fill(0), 1e-6);
});

Deno.test("normalizeDecoder() scales every row to unit norm", () => {
  const w = normalizeDecoder(tf.tensor3d([[[3, 4], [0, 2]]]));
  assertClose(values(w), [0.6, 0.8, 0, 1]);
});

Deno.test("a gradient step with the projection stays closer to unit norm than without (original test)", () => {
  const { wDec } = initParams({ nComponents: 1, dIn: 8, dSae: 16, seed: 5 });
  const g = tf.randomNormal([1, 16, 8], 0, 1, "float32", 6) as tf.Tensor3D;
  const lr = 0.1;
  const drift = (grad: tf.Tensor) =>
    values(tf.abs(tf.sub(tf.sum(tf.square(tf.sub(wDec, tf.mul(grad, lr))), -1), 1)));
  const withHook = drift(projectDecoderGrad(wDec, g));
  const without = drift(g);
  const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
  assert.ok(mean(withHook) < mean(without), `${mean(withHook)} should be below ${mean(without)}`);
});
