import { assertClose, tf, values } from "../_helpers.ts";
import { expectedNormScale, foldScale } from "../../lib/sae/normalization.ts";
import { geometricMedian } from "../../lib/sae/geometric_median.ts";
import { forward } from "../../lib/sae/forward.ts";
import { initParams } from "../../lib/sae/params.ts";
import { initArchParams, makeSpec } from "../../lib/sae/arch/registry.ts";

Deno.test("expectedNormScale() makes the mean norm √dIn, per component", () => {
  // Component 0: norms 3 and 5 (mean 4) in 4 dimensions → √4/4 = 0.5. Component 1: norms 1 and 1 → 2.
  const sample = tf.tensor3d([
    [[3, 0, 0, 0], [0, 3, 4, 0]],
    [[1, 0, 0, 0], [0, 0, 0, -1]],
  ]);
  assertClose(values(expectedNormScale(sample)), [0.5, 2], 1e-6);
});

Deno.test("foldScale(): the folded SAE on raw activations equals the trained SAE on scaled ones", () => {
  for (const arch of ["relu", "jumprelu", "gated"] as const) {
    const params = initArchParams(makeSpec(arch, { jumprelu: { initThreshold: 0.2 } }), {
      nComponents: 2,
      dIn: 5,
      dSae: 9,
      seed: 3,
      bDec: tf.randomNormal([2, 5], 0, 1, "float32", 4) as tf.Tensor2D,
    });
    const raw = tf.randomNormal([2, 6, 5], 0, 3, "float32", 5) as tf.Tensor3D;
    const scale = tf.tensor1d([0.4, 2.5]);
    const scaled = tf.mul(raw, tf.reshape(scale, [2, 1, 1])) as tf.Tensor3D;
    const activation = { kind: arch } as const;
    const trained = forward(params, scaled, activation);
    const folded = forward(foldScale(params, { x: scale, y: scale }), raw, activation);
    assertClose(values(folded.f), values(trained.f), 1e-4, `${arch}: f`);
    // x̂ on the raw scale is the scaled reconstruction divided by the scale
    assertClose(values(folded.xHat), values(tf.div(trained.xHat, tf.reshape(scale, [2, 1, 1]))), 1e-4, arch);
  }
});

Deno.test("foldScale() with different input and target scales (transcoders)", () => {
  // pre = (sₓ·x)·wEnc + bEnc and ŷ = (f·wDec + bDec)/s_y with an untied bias.
  const params = initParams({ nComponents: 1, dIn: 3, dSae: 4, seed: 9 });
  const raw = tf.randomNormal([1, 5, 3], 0, 1, "float32", 10) as tf.Tensor3D;
  const sx = tf.tensor1d([3]), sy = tf.tensor1d([0.5]);
  const trained = forward(params, tf.mul(raw, 3) as tf.Tensor3D, { kind: "relu" }, { tiedBias: false });
  const folded = forward(foldScale(params, { x: sx, y: sy }), raw, { kind: "relu" }, { tiedBias: false });
  assertClose(values(folded.xHat), values(tf.div(trained.xHat, 0.5)), 1e-4);
});

Deno.test("geometricMedian() is robust to an outlier where the mean is not", () => {
  // Corners (±1, ±1) and one far outlier at (100, 100): the mean is (20, 20). On the diagonal (t, t) the
  // unit vectors towards the five points sum to zero at t = 1/√3: towards (1, 1) and the outlier (½√2)(1, 1)
  // each; towards (−1, −1) −(½√2)(1, 1); towards (1, −1) (1 − t, −1 − t)/√((1−t)² + (1+t)²) and its mirror,
  // whose x parts sum with the rest to ½√2 + (1 − t − (1 + t))/√(2 + 2t²) = 0 ⇔ 2t = √(1 + t²) ⇔ t = 1/√3.
  const sample = tf.tensor3d([[[1, 1], [1, -1], [-1, 1], [-1, -1], [100, 100]]]);
  assertClose(values(geometricMedian(sample, 300)), [1 / Math.sqrt(3), 1 / Math.sqrt(3)], 1e-3);
  // Collinear points 0, 1, 10: the median is the middle point, 1.
  assertClose(values(geometricMedian(tf.tensor3d([[[0], [1], [10]]]), 300)), [1], 1e-3);
});
