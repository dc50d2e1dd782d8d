import { assert, assertClose, assertNoLeak, tf, values } from "../_helpers.ts";
import {
  collectForResample,
  initResampler,
  resampleDeadFeatures,
  resampleDue,
  type ResampleOptions,
  type ResamplerState,
} from "../../lib/resample/resampler.ts";
import { type AdamState, scaleByAdam } from "../../lib/optim/adam.ts";
import type { SaeParams } from "../../lib/sae/params.ts";

const base: ResampleOptions = {
  interval: 3,
  collate: 3,
  datasetSize: 3,
  maxResamples: 1,
  deadThreshold: 0,
  reservoir: 1,
};

/** Batch of `c` identical components whose items are tagged by index in x[..., 0]. */
function taggedBatch(c: number, losses: number[]) {
  const b = losses.length;
  const x = tf.tile(tf.reshape(tf.range(0, b), [1, b, 1]), [c, 1, 1]) as tf.Tensor3D;
  const loss = tf.tile(tf.tensor2d([losses]), [c, 1]) as tf.Tensor2D;
  const fired = tf.zeros([c, 2], "int32") as tf.Tensor2D; // no feature fired
  return { x, loss, fired };
}

Deno.test("collectForResample() picks inputs with probability ∝ loss² (original doctest: [0.07, 0.29, 0.64])", () => {
  // 3000 independent draws at once: one component per draw, reservoir of 1.
  const c = 3000;
  const { x, loss, fired } = taggedBatch(c, [1, 2, 3]);
  const state = collectForResample(initResampler(c, 1, 2, 1), x, fired, loss, base, 1234);
  const picks = values(state.reservoirX);
  const freq = [0, 1, 2].map((i) => picks.filter((p) => p === i).length / c);
  // 1/14, 4/14, 9/14; 4 standard deviations at n = 3000 is below 0.02
  assertClose(freq, [1 / 14, 4 / 14, 9 / 14], 0.02, "frequency");
});

Deno.test("collectForResample() samples without replacement and never picks a zero-loss input", () => {
  const c = 200;
  const equal = taggedBatch(c, [1, 1, 1]);
  const two = collectForResample(initResampler(c, 1, 2, 2), equal.x, equal.fired, equal.loss, {
    ...base,
    reservoir: 2,
  }, 7);
  const rows = values(two.reservoirX);
  for (let k = 0; k < c; k++) {
    assert.notEqual(rows[2 * k], rows[2 * k + 1], `component ${k} drew an input twice`);
  }
  const zeros = taggedBatch(c, [0, 1, 0]);
  const one = collectForResample(initResampler(c, 1, 2, 2), zeros.x, zeros.fired, zeros.loss, {
    ...base,
    reservoir: 2,
  }, 8);
  const picked = values(one.reservoirX), keys = values(one.reservoirKey);
  for (let k = 0; k < c; k++) {
    assert.equal(picked[2 * k], 1);
    assert.equal(keys[2 * k + 1], -Infinity, "the second slot stays empty");
  }
});

Deno.test("collectForResample() samples over the whole window, across batches", () => {
  // batch 1 losses [1, 0], batch 2 losses [0, 3] (tags 0, 1 and 10, 11): only tags 0 and 11 can be drawn,
  // with probabilities 1/10 and 9/10.
  const c = 2000;
  const opts = { ...base, interval: 4, collate: 4, datasetSize: 4 };
  let state = initResampler(c, 1, 2, 1);
  const first = taggedBatch(c, [1, 0]);
  state = collectForResample(state, first.x, first.fired, first.loss, opts, 1);
  const second = taggedBatch(c, [0, 3]);
  state = collectForResample(state, tf.add(second.x, 10) as tf.Tensor3D, second.fired, second.loss, opts, 2);
  const picks = values(state.reservoirX);
  assert.ok(picks.every((p) => p === 0 || p === 11));
  assertClose(picks.filter((p) => p === 11).length / c, 0.9, 0.03);
});

Deno.test("collectForResample() counts firings only over the last `collate` activations", () => {
  // interval 8, collate 4, batch 2: batches starting at 0 and 2 are outside the window, 4 and 6 inside.
  const opts = { ...base, interval: 8, collate: 4, datasetSize: 2, maxResamples: 1 };
  let state = initResampler(1, 1, 2, 1);
  const x = tf.ones([1, 2, 1]) as tf.Tensor3D;
  const fired = tf.tensor2d([[2, 0]], undefined, "int32"); // feature 0 fired on both items of each batch
  const loss = tf.ones([1, 2]) as tf.Tensor2D;
  for (let i = 0; i < 4; i++) state = collectForResample(state, x, fired, loss, opts, i);
  assert.equal(state.seen, 8);
  assert.equal(state.collated, 4);
  assert.deepEqual(values(state.fired), [4, 0]);
});

Deno.test("resampleDue() follows the original's schedule: max 2, interval 3 -> at activations 3 and 6 only", () => {
  const opts = { ...base, maxResamples: 2 };
  const params: SaeParams = {
    wEnc: tf.ones([1, 1, 2]) as tf.Tensor3D,
    bEnc: tf.zeros([1, 2]) as tf.Tensor2D,
    wDec: tf.ones([1, 2, 1]) as tf.Tensor3D,
    bDec: tf.zeros([1, 1]) as tf.Tensor2D,
  };
  let state = initResampler(1, 1, 2, 1);
  const x = tf.ones([1, 1, 1]) as tf.Tensor3D;
  const fired = tf.tensor2d([[1, 0]], undefined, "int32");
  const loss = tf.ones([1, 1]) as tf.Tensor2D;
  const resampledAt: number[] = [];
  for (let activation = 1; activation <= 10; activation++) {
    state = collectForResample(state, x, fired, loss, opts, activation);
    if (resampleDue(state, opts)) {
      resampledAt.push(activation);
      state = resampleDeadFeatures(params, null, state, opts).resampler;
    }
  }
  assert.deepEqual(resampledAt, [3, 6]);
  assert.equal(state.resamples, 2);
});

function handState(): { params: SaeParams; resampler: ResamplerState; opt: AdamState } {
  // Two components, dIn 2, dSae 3. Dead: feature 1 of component 0, feature 2 of component 1.
  const params: SaeParams = {
    wEnc: tf.ones([2, 2, 3]) as tf.Tensor3D, // every encoder column has norm √2
    bEnc: tf.fill([2, 3], 0.5) as tf.Tensor2D,
    wDec: tf.fill([2, 3, 2], Math.SQRT1_2) as tf.Tensor3D,
    bDec: tf.fill([2, 2], 0.25) as tf.Tensor2D,
  };
  const resampler: ResamplerState = {
    seen: 3,
    resamples: 0,
    collated: 3,
    fired: tf.tensor2d([[5, 0, 3], [2, 4, 0]], undefined, "int32"),
    reservoirX: tf.tensor3d([[[3, 4]], [[0, 2]]]),
    reservoirKey: tf.tensor2d([[-0.5], [-0.1]]),
    lastResampled: tf.zeros([2], "int32") as tf.Tensor1D,
  };
  const ones = {
    wEnc: tf.ones([2, 2, 3]),
    bEnc: tf.ones([2, 3]),
    wDec: tf.ones([2, 3, 2]),
    bDec: tf.ones([2, 2]),
  };
  const opt: AdamState = { kind: "adam", count: 42, mu: ones, nu: ones };
  return { params, resampler, opt };
}

Deno.test("resampleDeadFeatures() rewrites exactly the dead features, as the original's procedure", () => {
  const { params, resampler, opt } = handState();
  const out = resampleDeadFeatures(params, opt, resampler, base);
  // decoder rows: unit inputs (0.6, 0.8) and (0, 1); the rest unchanged
  const r = Math.SQRT1_2;
  assertClose(values(out.params.wDec), [r, r, 0.6, 0.8, r, r, r, r, r, r, 0, 1], 1e-6, "wDec");
  // encoder columns: unit input · 0.2 · mean alive norm (√2): (0.1697, 0.2263) and (0, 0.2828)
  const s = 0.2 * Math.SQRT2;
  assertClose(values(out.params.wEnc), [1, 0.6 * s, 1, 1, 0.8 * s, 1, 1, 1, 0, 1, 1, s], 1e-6, "wEnc");
  assertClose(values(out.params.bEnc), [0.5, 0, 0.5, 0.5, 0.5, 0], 1e-7, "bEnc");
  // the tied bias is not touched
  assert.equal(out.params.bDec, params.bDec);
  // moments zeroed for exactly those features, step count kept
  const adam = out.opt;
  assert.equal(adam.count, 42);
  assert.deepEqual(values(adam.mu.bEnc), [1, 0, 1, 1, 1, 0]);
  assert.deepEqual(values(adam.nu.wDec), [1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0]);
  assert.deepEqual(values(adam.mu.wEnc), [1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 1, 0]);
  assert.deepEqual(values(adam.mu.bDec), [1, 1, 1, 1]);
  // the window restarts and the resample is counted
  assert.equal(out.resampler.resamples, 1);
  assert.equal(out.resampler.seen, 0);
  assert.deepEqual(values(out.resampler.fired), [0, 0, 0, 0, 0, 0]);
  assert.deepEqual(values(out.resampler.lastResampled), [1, 1]);
});

Deno.test("resampleDeadFeatures() averages encoder norms over features that fired at all, not over the not-dead", () => {
  // deadThreshold 0.5 of 4 collated -> dead when fired ≤ 2: features with 2 firings are dead but alive
  // for the norm average. Encoder column norms: 1, 3, 5 (fired 0, 2, 9) -> mean over fired > 0 is 4.
  const params: SaeParams = {
    wEnc: tf.tensor3d([[[1, 3, 5]]]),
    bEnc: tf.zeros([1, 3]) as tf.Tensor2D,
    wDec: tf.ones([1, 3, 1]) as tf.Tensor3D,
    bDec: tf.zeros([1, 1]) as tf.Tensor2D,
  };
  const resampler: ResamplerState = {
    seen: 4,
    resamples: 0,
    collated: 4,
    fired: tf.tensor2d([[0, 2, 9]], undefined, "int32"),
    reservoirX: tf.tensor3d([[[-2], [5]]]),
    reservoirKey: tf.tensor2d([[-0.1, -0.2]]),
    lastResampled: tf.zeros([1], "int32") as tf.Tensor1D,
  };
  const out = resampleDeadFeatures(params, null, resampler, {
    ...base,
    interval: 4,
    deadThreshold: 0.5,
    reservoir: 2,
  });
  // feature 0 gets the first candidate (−2 -> unit −1), feature 1 the second (5 -> unit 1); scale 0.2·4 = 0.8
  assertClose(values(out.params.wEnc), [-0.8, 0.8, 5], 1e-6);
  assertClose(values(out.params.wDec), [-1, 1, 1], 1e-6);
});

Deno.test("resampleDeadFeatures() leaves dead features alone when candidates run out, and does nothing when not due", () => {
  const { params, resampler, opt } = handState();
  // component 0 now has two dead features (0 and 1) but one candidate: only feature 0 is resampled
  const starved = {
    ...resampler,
    fired: tf.tensor2d([[0, 0, 3], [2, 4, 1]], undefined, "int32") as tf.Tensor2D,
  };
  const out = resampleDeadFeatures(params, opt, starved, base);
  assert.deepEqual(values(out.resampler.lastResampled), [1, 0]);
  const r = Math.SQRT1_2;
  assertClose(values(out.params.wDec).slice(0, 6), [0.6, 0.8, r, r, r, r], 1e-6);
  const notDue = { ...resampler, seen: 2 };
  const same = resampleDeadFeatures(params, opt, notDue, base);
  assert.equal(same.params, params);
  assert.equal(same.resampler, notDue);
});

Deno.test("collectForResample() and resampleDeadFeatures() do not leak tensors", () => {
  const opts = { ...base, interval: 4, collate: 4, datasetSize: 4, maxResamples: 100, reservoir: 2 };
  const params: SaeParams = {
    wEnc: tf.ones([2, 3, 4]) as tf.Tensor3D,
    bEnc: tf.zeros([2, 4]) as tf.Tensor2D,
    wDec: tf.ones([2, 4, 3]) as tf.Tensor3D,
    bDec: tf.zeros([2, 3]) as tf.Tensor2D,
  };
  const tx = scaleByAdam();
  const x = tf.randomNormal([2, 2, 3], 0, 1, "float32", 3) as tf.Tensor3D;
  const fired = tf.tensor2d([[1, 0, 0, 0], [0, 0, 1, 0]], undefined, "int32");
  const loss = tf.tensor2d([[1, 2], [3, 4]]);
  assertNoLeak({ params, opt: tx.init(params), resampler: initResampler(2, 3, 4, 2) }, (s, i) => {
    const resampler = collectForResample(s.resampler, x, fired, loss, opts, i);
    return resampleDeadFeatures(s.params, s.opt, resampler, opts);
  }, 24);
});
