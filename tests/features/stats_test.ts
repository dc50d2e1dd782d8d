import assert from "node:assert/strict";
import {
  createFeatureStats,
  featureDensities,
  observeWindows,
  summarizeFeature,
} from "../../lib/features/stats.ts";

Deno.test("observeWindows() counts firings, sums and maxima per feature, skipping the leading positions", () => {
  const stats = createFeatureStats({ nFeatures: 2, topK: 4, before: 1, after: 1 });
  // Two windows of 3 tokens, [window, position, feature]; position 0 (BOS) is skipped.
  // window 0: (9, 9) | (1, 0) | (0, 2)      window 1: (9, 9) | (3, 0) | (0.5, 0)
  const f = new Float32Array([9, 9, 1, 0, 0, 2, 9, 9, 3, 0, 0.5, 0]);
  observeWindows(stats, {
    f,
    tokens: new Int32Array([1, 10, 11, 1, 12, 13]),
    windowIds: [7, 8],
    contextSize: 3,
    skip: 1,
  });
  // 4 positions observed; feature 0 fires at 3 of them (1, 3, 0.5), feature 1 at 1 (2).
  assert.equal(stats.positions, 4);
  assert.equal(stats.windows, 2);
  const f0 = summarizeFeature(stats, 0), f1 = summarizeFeature(stats, 1);
  assert.equal(f0.count, 3);
  assert.equal(f0.density, 3 / 4);
  assert.equal(f0.meanActivation, (1 + 3 + 0.5) / 3);
  assert.equal(f0.maxActivation, 3);
  assert.equal(f1.count, 1);
  assert.deepEqual(Array.from(featureDensities(stats)), [0.75, 0.25]);
  // Largest first; each context is positions p−1 .. p+1 clipped to the window, BOS read as 0.
  assert.deepEqual(f0.contexts.map((c) => [c.activation, c.window, c.position]), [[3, 8, 1], [1, 7, 1], [
    0.5,
    8,
    2,
  ]]);
  assert.deepEqual(f0.contexts[0].tokens, [1, 12, 13]);
  assert.deepEqual(f0.contexts[0].activations, [0, 3, 0.5]);
  assert.equal(f0.contexts[0].start, 0);
  // Position 2 is the window's last: its context is positions 1 and 2.
  assert.deepEqual(f0.contexts[2].tokens, [12, 13]);
  assert.deepEqual(f0.contexts[2].activations, [3, 0.5]);
  assert.equal(f0.contexts[2].start, 1);
  assert.deepEqual(f1.contexts.map((c) => [c.activation, c.tokens]), [[2, [10, 11]]]);
});

Deno.test("the top-k heap keeps the k largest activations of a long stream, whatever the order", () => {
  // A stream of 400 values from a fixed LCG, one feature, 40 windows of 10 positions.
  let s = 12345;
  const next = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  const values = Array.from({ length: 400 }, () => Math.fround(next() * 2 - 0.5));
  const stats = createFeatureStats({ nFeatures: 1, topK: 7, before: 0, after: 0 });
  for (let w = 0; w < 40; w++) {
    observeWindows(stats, {
      f: new Float32Array(values.slice(w * 10, (w + 1) * 10)),
      tokens: Int32Array.from({ length: 10 }, (_, p) => w * 10 + p),
      windowIds: [w],
      contextSize: 10,
    });
  }
  const expected = values.map((v, i) => ({ v, i })).filter((e) => e.v > 0).sort((a, b) =>
    b.v - a.v || a.i - b.i
  )
    .slice(0, 7);
  const got = summarizeFeature(stats, 0).contexts;
  assert.deepEqual(got.map((c) => c.activation), expected.map((e) => e.v));
  // Each kept activation remembers where it came from: token id = its index in the stream here.
  assert.deepEqual(got.map((c) => c.window * 10 + c.position), expected.map((e) => e.i));
  assert.deepEqual(got.map((c) => c.tokens[0]), expected.map((e) => e.i));
  assert.equal(summarizeFeature(stats, 0).count, values.filter((v) => v > 0).length);
});

Deno.test("the histogram doubles its bins' width and merges them, so counts stay exact", () => {
  const stats = createFeatureStats({ nFeatures: 1, bins: 4 });
  const add = (v: number) =>
    observeWindows(stats, {
      f: new Float32Array([v]),
      tokens: new Int32Array([0]),
      windowIds: [0],
      contextSize: 1,
    });
  // The first value, 1, sets the width so that it lands in the upper half: 2 / 4 = 0.5, bin 2.
  add(1);
  assert.deepEqual(summarizeFeature(stats, 0).histogram, { binWidth: 0.5, counts: [0, 0, 1, 0] });
  // 3 ≥ 4 · 0.5: bins merge pairwise ([0, 1] and [1, 2] → 1 in bin 1), width 1; 3 goes to bin 3.
  add(3);
  assert.deepEqual(summarizeFeature(stats, 0).histogram, { binWidth: 1, counts: [0, 1, 0, 1] });
  // 5 ≥ 4 · 1: merge again → [1, 1, 0, 0] with width 2; 5 goes to bin 2 ([4, 6)).
  add(5);
  assert.deepEqual(summarizeFeature(stats, 0).histogram, { binWidth: 2, counts: [1, 1, 1, 0] });
  // A small value after that falls in bin 0; zeros and negatives are not counted at all.
  add(0.01);
  add(0);
  add(-2);
  assert.deepEqual(summarizeFeature(stats, 0).histogram, { binWidth: 2, counts: [2, 1, 1, 0] });
  // 0.3 alone: 0.25 ≤ 0.3 < 0.5, so the width is 0.5 / 4 = 0.125 and 0.3 is in bin 2.
  const other = createFeatureStats({ nFeatures: 1, bins: 4 });
  observeWindows(other, {
    f: new Float32Array([0.3]),
    tokens: new Int32Array([0]),
    windowIds: [0],
    contextSize: 1,
  });
  assert.deepEqual(summarizeFeature(other, 0).histogram, { binWidth: 0.125, counts: [0, 0, 1, 0] });
  // A value exactly at a power of two: 4 → width 8 / 4 = 2, bin 2.
  const edge = createFeatureStats({ nFeatures: 1, bins: 4 });
  observeWindows(edge, {
    f: new Float32Array([4]),
    tokens: new Int32Array([0]),
    windowIds: [0],
    contextSize: 1,
  });
  assert.deepEqual(summarizeFeature(edge, 0).histogram, { binWidth: 2, counts: [0, 0, 1, 0] });
});

Deno.test("feature statistics take bounded memory: the arrays do not grow with the tokens observed", () => {
  const stats = createFeatureStats({ nFeatures: 3, topK: 2, bins: 8, before: 2, after: 1 });
  const sizes = () => [stats.value.length, stats.tokens.length, stats.histogram.length];
  const before = sizes();
  for (let w = 0; w < 50; w++) {
    observeWindows(stats, {
      f: Float32Array.from({ length: 5 * 3 }, (_, i) => ((i * 7 + w) % 5) - 1),
      tokens: new Int32Array(5),
      windowIds: [w],
      contextSize: 5,
    });
  }
  assert.deepEqual(sizes(), before);
  assert.deepEqual(before, [3 * 2, 3 * 2 * 4, 3 * 8]);
  assert.equal(stats.positions, 250);
  for (let j = 0; j < 3; j++) assert.equal(summarizeFeature(stats, j).contexts.length, 2);
});

Deno.test("feature statistics name the field, the expected and the received value in errors", () => {
  assert.throws(() => createFeatureStats({ nFeatures: 0 }), /nFeatures: expected an integer ≥ 1, received 0/);
  assert.throws(
    () => createFeatureStats({ nFeatures: 2, bins: 5 }),
    /bins: expected an even integer ≥ 2, received 5/,
  );
  const stats = createFeatureStats({ nFeatures: 2 });
  assert.throws(
    () =>
      observeWindows(stats, {
        f: new Float32Array(3),
        tokens: new Int32Array(2),
        windowIds: [0],
        contextSize: 2,
      }),
    /f: expected 1 × 2 × 2 = 4 values \(\[windows, contextSize, nFeatures\]\), received 3/,
  );
  assert.throws(
    () =>
      observeWindows(stats, {
        f: new Float32Array(4),
        tokens: new Int32Array(2),
        windowIds: [0],
        contextSize: 2,
        skip: 2,
      }),
    /skip: expected an integer in \[0, 2\), received 2/,
  );
  assert.throws(() => summarizeFeature(stats, 2), /feature: expected an integer in \[0, 2\), received 2/);
});
