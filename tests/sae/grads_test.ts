import { assert, assertClose, assertNoLeak, tf, values } from "../_helpers.ts";
import { saeLossAndGrads } from "../../lib/sae/objective.ts";
import { forward } from "../../lib/sae/forward.ts";
import { lossTerms, reduceLoss } from "../../lib/sae/loss.ts";
import { initParams, type SaeParams } from "../../lib/sae/params.ts";

Deno.test("saeLossAndGrads() matches a gradient worked out by hand", () => {
  // One component, one item, dIn = dSae = 1, l1 = 0.1.
  // x = 2, bDec = 0.5: x̄ = 1.5; pre = 2·1.5 − 1 = 2; f = 2; x̂ = 2·1 + 0.5 = 2.5
  // loss = 0.1·2 + (2.5 − 2)² = 0.45
  // ∂L/∂x̂ = 2·0.5 = 1; ∂L/∂f = 1·1 + 0.1 = 1.1 = ∂L/∂pre (pre > 0)
  // ∂wDec = f·1 = 2; ∂wEnc = x̄·1.1 = 1.65; ∂bEnc = 1.1; ∂bDec = 1 − 1.1·2 = −1.2
  const params: SaeParams = {
    wEnc: tf.tensor3d([[[2]]]),
    bEnc: tf.tensor2d([[-1]]),
    wDec: tf.tensor3d([[[1]]]),
    bDec: tf.tensor2d([[0.5]]),
  };
  const { loss, grads } = saeLossAndGrads(params, tf.tensor3d([[[2]]]), 0.1);
  assertClose(values(loss), [0.45], 1e-6);
  assertClose(values(grads.wDec), [2], 1e-6);
  assertClose(values(grads.wEnc), [1.65], 1e-6);
  assertClose(values(grads.bEnc), [1.1], 1e-6);
  assertClose(values(grads.bDec), [-1.2], 1e-6);
});

Deno.test("saeLossAndGrads() agrees with tfjs autodiff of the loss for several components", () => {
  const params = initParams({ nComponents: 3, dIn: 6, dSae: 10, seed: 11 });
  const x = tf.randomNormal([3, 7, 6], 0, 1, "float32", 12) as tf.Tensor3D;
  const l1 = 0.03;
  const mine = saeLossAndGrads(params, x, l1);
  const keys = ["wEnc", "bEnc", "wDec", "bDec"] as const;
  const lossOf = (wEnc: tf.Tensor, bEnc: tf.Tensor, wDec: tf.Tensor, bDec: tf.Tensor) => {
    const p = { wEnc, bEnc, wDec, bDec } as SaeParams;
    const out = forward(p, x);
    return reduceLoss(lossTerms(x, out.f, out.xHat, l1).total);
  };
  const auto = tf.grads(lossOf)(keys.map((k) => params[k]));
  keys.forEach((key, i) => assertClose(values(mine.grads[key]), values(auto[i]), 1e-6, key));
});

Deno.test("saeLossAndGrads() does not leak tensors", () => {
  const params = initParams({ nComponents: 2, dIn: 4, dSae: 8, seed: 0 });
  const x = tf.randomNormal([2, 5, 4], 0, 1, "float32", 1) as tf.Tensor3D;
  assertNoLeak(params, (p) => {
    const { grads } = saeLossAndGrads(p, x, 1e-3);
    return { wEnc: tf.sub(p.wEnc, grads.wEnc) as tf.Tensor3D, bEnc: p.bEnc, wDec: p.wDec, bDec: p.bDec };
  });
});

Deno.test("TopK: saeLossAndGrads() matches a hand-worked gradient (k = 1)", () => {
  // One item, dIn 1, dSae 2: wEnc = (2, 1), bEnc = (0, 0), wDec rows (1), (1), bDec 0, x = 1.
  // pre = (2, 1) -> TopK(1) keeps feature 0: f = (2, 0); x̂ = 2; loss = (2 − 1)² = 1 (no L1).
  // ∂L/∂x̂ = 2; ∂L/∂f = (2·1, 2·1) = (2, 2), masked -> ∂L/∂pre = (2, 0).
  // ∂wDec = fᵀ·2 = (4, 0); ∂wEnc = x̄·∂pre = (2, 0); ∂bEnc = (2, 0); ∂bDec = 2 − (2·2 + 0·1) = −2.
  const params: SaeParams = {
    wEnc: tf.tensor3d([[[2, 1]]]),
    bEnc: tf.tensor2d([[0, 0]]),
    wDec: tf.tensor3d([[[1], [1]]]),
    bDec: tf.tensor2d([[0]]),
  };
  const r = saeLossAndGrads(params, tf.tensor3d([[[1]]]), 0, Infinity, { kind: "topk", k: 1 });
  assertClose(values(r.forward.f), [2, 0]);
  assertClose(values(r.loss), [1], 1e-6);
  assertClose(values(r.grads.wDec), [4, 0], 1e-6);
  assertClose(values(r.grads.wEnc), [2, 0], 1e-6);
  assertClose(values(r.grads.bEnc), [2, 0], 1e-6);
  assertClose(values(r.grads.bDec), [-2], 1e-6);
});

Deno.test("TopK: saeLossAndGrads() agrees with autodiff through the same TopK mask", () => {
  const params = initParams({ nComponents: 2, dIn: 6, dSae: 12, seed: 21 });
  const x = tf.randomNormal([2, 5, 6], 0, 1, "float32", 22) as tf.Tensor3D;
  const activation = { kind: "topk", k: 3 } as const;
  const mine = saeLossAndGrads(params, x, 0, Infinity, activation);
  const mask = forward(params, x, activation).mask; // a constant for autodiff
  // at most k features per item
  assert.ok(values(tf.sum(mask, -1)).every((n) => n <= 3));
  const keys = ["wEnc", "bEnc", "wDec", "bDec"] as const;
  const lossOf = (wEnc: tf.Tensor, bEnc: tf.Tensor, wDec: tf.Tensor, bDec: tf.Tensor) => {
    const xBar = tf.sub(x, tf.expandDims(bDec, 1));
    const f = tf.mul(tf.add(tf.matMul(xBar, wEnc as tf.Tensor3D), tf.expandDims(bEnc, 1)), mask);
    const xHat = tf.add(tf.matMul(f, wDec as tf.Tensor3D), tf.expandDims(bDec, 1));
    return tf.mean(tf.mean(tf.squaredDifference(xHat, x), -1));
  };
  const auto = tf.grads(lossOf)(keys.map((k) => params[k]));
  keys.forEach((key, i) => assertClose(values(mine.grads[key]), values(auto[i]), 1e-6, key));
});
