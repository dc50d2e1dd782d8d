import { assert, assertClose, tf, values } from "../_helpers.ts";
import { decode, encode, forward } from "../../lib/sae/forward.ts";
import { initParams, type SaeParams } from "../../lib/sae/params.ts";

// One component, dIn 2, dSae 2; hand-computed.
function handParams(): SaeParams {
  return {
    wEnc: tf.tensor3d([[[1, 0], [0, -1]]]), // [c, n, m]: encoder column 0 = (1, 0), column 1 = (0, -1)
    bEnc: tf.tensor2d([[0.5, 0]]),
    wDec: tf.tensor3d([[[1, 0], [0, 1]]]), // [c, m, n]
    bDec: tf.tensor2d([[1, 1]]),
  };
}

Deno.test("encode() subtracts the tied bias, adds the encoder bias and zeroes negative pre-activations", () => {
  // x = (3, 4): x̄ = (2, 3); pre = (2·1 + 3·0 + 0.5, 2·0 + 3·(−1) + 0) = (2.5, −3); f = (2.5, 0)
  const f = encode(handParams(), tf.tensor3d([[[3, 4]]]));
  assertClose(values(f), [2.5, 0]);
});

Deno.test("decode() adds the tied bias after the decoder", () => {
  // f = (2.5, 0): x̂ = (2.5, 0) + (1, 1) = (3.5, 1)
  assertClose(values(decode(handParams(), tf.tensor3d([[[2.5, 0]]]))), [3.5, 1]);
});

Deno.test("forward() returns pre-activations, features and reconstruction", () => {
  const { pre, f, xHat } = forward(handParams(), tf.tensor3d([[[3, 4], [1, 1]]]));
  // second item: x̄ = (0, 0), pre = (0.5, 0), f = (0.5, 0), x̂ = (1.5, 1)
  assertClose(values(pre), [2.5, -3, 0.5, 0]);
  assertClose(values(f), [2.5, 0, 0.5, 0]);
  assertClose(values(xHat), [3.5, 1, 1.5, 1]);
});

Deno.test("forward() keeps components independent: C components equal C separate SAEs", () => {
  const both = initParams({ nComponents: 2, dIn: 3, dSae: 5, seed: 4 });
  const x = tf.randomNormal([2, 4, 3], 0, 1, "float32", 5) as tf.Tensor3D;
  const joint = forward(both, x);
  for (const k of [0, 1]) {
    const one: SaeParams = {
      wEnc: tf.slice(both.wEnc, [k, 0, 0], [1, -1, -1]),
      bEnc: tf.slice(both.bEnc, [k, 0], [1, -1]),
      wDec: tf.slice(both.wDec, [k, 0, 0], [1, -1, -1]),
      bDec: tf.slice(both.bDec, [k, 0], [1, -1]),
    };
    const alone = forward(one, tf.slice(x, [k, 0, 0], [1, -1, -1]));
    assertClose(values(alone.xHat), values(tf.slice(joint.xHat, [k, 0, 0], [1, -1, -1])), 1e-6);
    assertClose(values(alone.f), values(tf.slice(joint.f, [k, 0, 0], [1, -1, -1])), 1e-6);
  }
});

Deno.test("forward() rejects an input of the wrong shape, naming the expected and received shapes", () => {
  const params = initParams({ nComponents: 2, dIn: 3, dSae: 5, seed: 0 });
  assert.throws(
    () => forward(params, tf.zeros([1, 4, 3])),
    /x: expected shape \[2, batch, 3\].*received \[1, 4, 3\]/,
  );
});

Deno.test("encode() with TopK keeps the k largest positive pre-activations of each item", () => {
  // pre = x·wEnc: item 1 (x = 1) pre (3, −1, 2, 1) -> k = 2 keeps 3 and 2;
  // item 2 (x = −0.5) pre (−1.5, 0.5, −1, −0.5) -> the top two are 0.5 and −0.5, only 0.5 is positive.
  const params: SaeParams = {
    wEnc: tf.tensor3d([[[3, -1, 2, 1]]]),
    bEnc: tf.tensor2d([[0, 0, 0, 0]]),
    wDec: tf.tensor3d([[[1], [1], [1], [1]]]),
    bDec: tf.tensor2d([[0]]),
  };
  const f = encode(params, tf.tensor3d([[[1], [-0.5]]]), { kind: "topk", k: 2 });
  assertClose(values(f), [3, 0, 2, 0, 0, 0.5, 0, 0]);
  assert.throws(
    () => encode(params, tf.tensor3d([[[1]]]), { kind: "topk", k: 5 }),
    /k: expected an integer in \[1, 4\] \(dSae\), received 5/,
  );
});
