/**
 * The starting L0 of `deno task bench --l0 N`: the bias rule on hand-worked examples, and the step
 * measurement that starts from it.
 */
import { assert, tf } from "../_helpers.ts";
import { firingItems, l0EncoderBias, l0StartBias } from "../../lib/bench/l0.ts";
import { L0_ARCHS, measureStep } from "../../lib/bench/benchmarks.ts";
import { ARCH_NAMES } from "../../lib/sae/arch/registry.ts";

Deno.test("firingItems() rounds batch · N / dSae and refuses an L0 the batch cannot give", () => {
  assert.equal(firingItems(4096, 4096, 32), 32);
  assert.equal(firingItems(4096, 4096, 32.4), 32); // 32.4 → 32
  assert.equal(firingItems(100, 40, 3), 8); // 300 / 40 = 7.5 → 8
  assert.equal(firingItems(64, 32, 31), 62);
  assert.throws(() => firingItems(64, 32, 32), /--l0: expected .*\[1, 63\].*received 32 \(r = 64\)/);
  assert.throws(() => firingItems(64, 4096, 1), /received 1 \(r = 0\)/); // 64 / 4096 → 0
  assert.throws(() => firingItems(64, 32, 0), /received 0/);
  assert.throws(() => firingItems(64, 32, NaN), /received NaN \(r = none\)/);
});

Deno.test("l0EncoderBias() puts each feature's firing point halfway between its r-th and (r+1)-th largest value", () => {
  // 5 items × 3 features, row-major.
  const z = new Float32Array([
    ...[0.5, -3, 10],
    ...[2, -1, 10],
    ...[-4, -2, 7],
    ...[1, 6, 8],
    ...[3, -5, 9],
  ]);
  // r = 1: column 0 sorted 3, 2, 1, 0.5, −4 → (3 + 2)/2 = 2.5; column 1: 6, −1 → 2.5; column 2: 10, 10 → 10
  // (a tie: neither fires, pre = 0 is not > 0).
  assert.deepEqual(Array.from(l0EncoderBias(z, 5, 1)), [-2.5, -2.5, -10]);
  // r = 2: (2 + 1)/2 = 1.5; (−1 + −2)/2 = −1.5; (10 + 9)/2 = 9.5
  assert.deepEqual(Array.from(l0EncoderBias(z, 5, 2)), [-1.5, 1.5, -9.5]);
  // r = 4: (0.5 + −4)/2 = −1.75; (−3 + −5)/2 = −4; (8 + 7)/2 = 7.5
  assert.deepEqual(Array.from(l0EncoderBias(z, 5, 4)), [1.75, 4, -7.5]);
  // With firing points θ = 0.25, 0, −1 the biases move by θ: pre = z + b > θ ⇔ z > midpoint.
  assert.deepEqual(Array.from(l0EncoderBias(z, 5, 2, [0.25, 0, -1])), [-1.25, 1.5, -10.5]);
  // Each feature then fires on exactly r = 2 items: L0 = 3 · 2 / 5 = 1.2 on average.
  const bias = l0EncoderBias(z, 5, 2);
  let active = 0;
  z.forEach((v, at) => void (active += v + bias[at % 3] > 0 ? 1 : 0));
  assert.equal(active, 6);
  assert.throws(() => l0EncoderBias(z, 5, 5), /r: expected an integer in \[1, 4\], received 5/);
  assert.throws(() => l0EncoderBias(z, 4, 1), /z: expected rows × columns values/);
  assert.throws(
    () => l0EncoderBias(z, 5, 1, [0]),
    /firing: expected 3 values \(one per feature\), received 1/,
  );
});

Deno.test("l0EncoderBias() selects the same order statistics as a full sort, on columns with repeats", () => {
  // A column of 1000 values in a scrambled order with many repeats; its sorted values are known.
  const rows = 1000;
  const z = new Float32Array(rows);
  for (let b = 0; b < rows; b++) z[b] = (b * 7919) % 101 - 50; // each of −50…50 about 10 times
  const sorted = Array.from(z).sort((a, b) => b - a);
  for (const r of [1, 2, 9, 10, 11, 500, 998, 999]) {
    const [bias] = l0EncoderBias(z, rows, r);
    assert.equal(bias, 0 - (sorted[r - 1] + sorted[r]) / 2, `r = ${r}`); // firing point 0
  }
});

Deno.test("l0StartBias() computes the products block by block, per component, with the tied bias", () => {
  // 2 components, 3 items, dIn 1, dSae 300 (two blocks of features: 256 and 44). wEnc[k][0][j] = j + 1 for
  // component 0 and −(j + 1) for component 1; bDec = [1] and [0]; x = 2, 4, 3 (component 0) and 1, −1, 2.
  const dSae = 300;
  const w = Array.from({ length: dSae }, (_, j) => j + 1);
  const params = {
    wEnc: tf.tensor3d([...w, ...w.map((v) => -v)], [2, 1, dSae]),
    bEnc: tf.zeros([2, dSae]) as tf.Tensor2D,
    wDec: tf.zeros([2, dSae, 1]) as tf.Tensor3D,
    bDec: tf.tensor2d([[1], [0]]),
    threshold: tf.fill([2, dSae], 0.5) as tf.Tensor2D,
  };
  const x = tf.tensor3d([[[2], [4], [3]], [[1], [-1], [2]]]);
  // r = round(3 · 100 / 300) = 1. Component 0: x − bDec = 1, 3, 2, so z = (j + 1)·(1, 3, 2): the two largest
  // are 3(j + 1) and 2(j + 1), midpoint 2.5(j + 1). Component 1: z = −(j + 1)·(1, −1, 2) = (−1, 1, −2)(j + 1):
  // largest 1·(j + 1), then −(j + 1), midpoint 0.
  const bias = l0StartBias(params, x, 100).arraySync() as number[][];
  assert.deepEqual(bias[0], w.map((v) => -2.5 * v));
  assert.deepEqual(bias[1], w.map(() => 0));
  const shifted = l0StartBias(params, x, 100, "threshold").arraySync() as number[][];
  assert.deepEqual(shifted[0], w.map((v) => 0.5 - 2.5 * v));
  tf.dispose([params.wEnc, params.bEnc, params.wDec, params.bDec, params.threshold, x]);
  assert.throws(
    () =>
      l0StartBias(
        {
          wEnc: tf.zeros([1, 1, 2]),
          bEnc: tf.zeros([1, 2]),
          wDec: tf.zeros([1, 2, 1]),
          bDec: tf.zeros([1, 1]),
        } as never,
        tf.zeros([1, 3, 1]),
        1,
        "threshold",
      ),
    /params\.threshold: expected a \[component, dSae\] tensor/,
  );
});

Deno.test("measureStep() with --l0 starts every coefficient architecture at the asked average L0", async () => {
  assert.deepEqual([...L0_ARCHS], ["relu", "relu-april", "jumprelu", "gated"]);
  for (const architecture of L0_ARCHS) {
    // batch 32, dSae 16, L0 4: every feature fires on round(32 · 4 / 16) = 8 items, so L0 = 16 · 8 / 32 = 4.
    const r = await measureStep({
      batch: 32,
      dIn: 8,
      dSae: 16,
      steps: 1,
      warmup: 1,
      backend: "cpu",
      architecture,
      l0: 4,
    });
    assert.equal(r.arch, architecture);
    if (architecture === "gated") {
      // The bias sets the gate to open on 8 items per feature; a feature is active only where its magnitude
      // path is positive too, so gated's L0 is at most 4 (3.97 and 4 have both been seen).
      assert.ok(
        r.start_l0 <= 4 && r.start_l0 >= 3.5,
        `gated: expected a starting L0 in [3.5, 4], received ${r.start_l0}`,
      );
      continue;
    }
    assert.equal(r.start_l0, 4, `${architecture}: expected a starting L0 of 4, received ${r.start_l0}`);
  }
  // L0 6: round(32 · 6 / 16) = 12 items per feature, 16 · 12 / 32 = 6.
  const six = await measureStep({ batch: 32, dIn: 8, dSae: 16, steps: 1, warmup: 0, backend: "cpu", l0: 6 });
  assert.equal(six.start_l0, 6);
  await assert.rejects(
    () =>
      measureStep({
        batch: 32,
        dIn: 8,
        dSae: 16,
        steps: 1,
        warmup: 0,
        backend: "cpu",
        architecture: "topk",
        l0: 4,
      }),
    /--l0: expected an architecture whose sparsity a coefficient sets \(relu, relu-april, jumprelu, gated\), received "topk", whose L0 is --k/,
  );
});

Deno.test("measureStep() measures every architecture's step and its starting L0", async () => {
  for (const architecture of ARCH_NAMES) {
    const r = await measureStep({
      batch: 32,
      dIn: 8,
      dSae: 64,
      steps: 2,
      warmup: 1,
      backend: "cpu",
      architecture,
      k: 3,
    });
    assert.equal(r.arch, architecture);
    assert.ok(r.min_ms <= r.median_ms && r.median_ms <= r.max_ms, architecture);
    assert.ok(r.peak_rss_mb > 10);
    if (L0_ARCHS.includes(architecture)) {
      // From the initialisation, about half of the features fire: between 16 and 48 of 64.
      assert.ok(r.start_l0 > 16 && r.start_l0 < 48, `${architecture}: starting L0 ${r.start_l0}`);
    } else {
      // The TopK family keeps k = 3 per item (BatchTopK: 3 · 32 over the batch), of about 32 positive.
      assert.equal(r.start_l0, 3, `${architecture}: starting L0 ${r.start_l0}`);
    }
  }
});
