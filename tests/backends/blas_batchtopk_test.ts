/**
 * The `blas` backend's fused BatchTopK and Matryoshka step (`SAE_BATCHTOPK_KERNEL`) against the
 * composed maths of lib/sae on the same backend (`lossAndGradsFor(…, { composed: true })`: ordinary tfjs
 * ops, matrix products still on OpenBLAS), and against values worked out by hand.
 *
 * Small sizes: ties at the threshold (every tied value kept), a batch without any positive
 * pre-activation, fewer positive values than `k · batch` (all kept), Matryoshka with several prefixes,
 * two components, a batch whose kept values crowd into one lane's rows (the entry lists fill up and are
 * emptied into the weight gradients mid-batch), every value in the threshold's top bin, and a few rows
 * of `f` kept. The reference size (batch 4096, dIn 512 → dSae 4096, k 32) for BatchTopK and Matryoshka (the
 * default five prefixes), and AuxK after BatchTopK, with the worker thread doing half the rows and
 * features and without it: every run matches the composed maths and the runs agree bit for bit.
 *
 * AuxK (`SAE_AUXK_KERNEL`) runs after a fused TopK, BatchTopK or Matryoshka step: against the composed
 * AuxK with some, all, none and fewer than `kAux` features dead, two components (the first one's
 * pre-activations recomputed, the last one's read from the step's own encoder product).
 *
 * Tolerance (as in blas_reference_size_test.ts): every float compared is a float32 sum of at most 4096
 * products, added in another order by the two paths, so they differ by about √4096·2⁻²⁴ ≈ 4e-6 of the
 * terms' size; we allow 2e-5 of each output's largest value. A kernel that lost or doubled one row's share
 * of a batch sum would be off by about 1/√4096 ≈ 1.6% of it. Counts (L0 per item, firing counts) and the
 * smallest kept activation must be equal: both paths compute the same pre-activations (the same encoder
 * product on OpenBLAS) and select the same values.
 */
import { assert, tf } from "../_helpers.ts";
import { assertOutputsIdentical, assertOutputsMatch, assertValues } from "./_fused.ts";
import { selectBackend } from "../../lib/backends/select.ts";
import { setTopkWorkerEnabled, topkWorkerReady } from "../../lib/backends/blas_backend.ts";
import { hasKernel } from "../../lib/tf.ts";
import { SAE_AUXK_KERNEL, SAE_BATCHTOPK_KERNEL, SAE_RELU_KERNEL } from "../../lib/backends/kernel_names.ts";
import { initArchParams, makeSpec } from "../../lib/sae/arch/registry.ts";
import { lossAndGradsFor, type ObjectiveContext, type ObjectiveResult } from "../../lib/sae/objective.ts";
import type { SaeSpec } from "../../lib/sae/arch/record.ts";
import type { SaeParams } from "../../lib/sae/params.ts";

// tests/_helpers.ts selected `cpu` when imported; this module runs on `blas`.
const missing = await selectBackend("blas").then(
  () => undefined,
  (error: Error) => error.message,
);

function requireBlas(): void {
  if (missing !== undefined) {
    throw new Error(
      `${missing}. These tests run the blas backend's kernels: install OpenBLAS ` +
        "(Debian/Ubuntu: apt-get install libopenblas0-pthread; CI installs it) and run with --allow-ffi.",
    );
  }
  assert.equal(tf.getBackend(), "blas", "the active tfjs backend");
  for (const name of KERNELS) assert.ok(hasKernel(name), `the blas backend registers ${name}`);
}

const TOLERANCE = 2e-5;

/** The outputs compared, as host arrays, in a fixed order. */
const OUTPUTS = [
  "loss",
  "l1",
  "l2",
  "total",
  "xHat",
  "f",
  "grad wEnc",
  "grad bEnc",
  "grad wDec",
  "grad bDec",
  "L0",
  "fired",
  "sst",
  "minActive",
  "aux",
] as const;
type Output = (typeof OUTPUTS)[number];
/** Compared exactly. */
const EXACT: ReadonlySet<Output> = new Set(["L0", "fired", "minActive"]);

type Host = Record<Output, Float32Array>;

/** Each output within the tolerance of the reference's (the EXACT ones exactly). */
const assertMatches = (actual: Host, expected: Host, what: string) =>
  assertOutputsMatch(actual, expected, what, { outputs: OUTPUTS, exact: EXACT, tolerance: TOLERANCE });
/** Two fused runs gave the same numbers bit for bit. */
const assertIdentical = (a: Host, b: Host, what: string) => assertOutputsIdentical(a, b, what, OUTPUTS);

/** A result's outputs on the host (the tensors are freed; TopK's minActive and a result's absent AuxK empty). */
function host(r: ObjectiveResult): Host {
  const tensors: Record<Output, tf.Tensor | undefined> = {
    loss: r.loss,
    l1: r.terms.l1,
    l2: r.terms.l2,
    total: r.terms.total,
    xHat: r.forward.xHat,
    f: r.forward.f,
    "grad wEnc": r.grads.wEnc,
    "grad bEnc": r.grads.bEnc,
    "grad wDec": r.grads.wDec,
    "grad bDec": r.grads.bDec,
    L0: r.stats.l0,
    fired: r.stats.fired,
    sst: r.stats.sst,
    minActive: r.minActive,
    aux: r.terms.aux,
  };
  const out = {} as Host;
  for (const name of OUTPUTS) out[name] = Float32Array.from(tensors[name]?.dataSync() ?? []);
  tf.dispose(r as unknown as tf.TensorContainer);
  return out;
}

/** The fused kernels these tests run (TopK's step only with AuxK). */
const KERNELS = [SAE_BATCHTOPK_KERNEL, SAE_AUXK_KERNEL, SAE_RELU_KERNEL];

/**
 * The fused step, asserting which kernels ran (the composed path would give the same shapes): the
 * architecture's step once, and AuxK once when the spec turns it on and dead features are given.
 */
function fused(spec: SaeSpec, params: SaeParams, x: tf.Tensor3D, context: ObjectiveContext = {}): Host {
  const before = [...calls];
  const r = host(lossAndGradsFor(spec, params, x, x, context));
  const main = spec.arch === "topk" ? SAE_RELU_KERNEL : SAE_BATCHTOPK_KERNEL;
  const withAux = context.dead !== undefined && spec.auxK > 0 && spec.auxkCoefficient > 0;
  const expected = KERNELS.map((name, i) =>
    before[i] + (name === main || (name === SAE_AUXK_KERNEL && withAux) ? 1 : 0)
  );
  assert.deepEqual(calls, expected, `${spec.arch}: calls of ${KERNELS.join(", ")}`);
  return r;
}

function composed(spec: SaeSpec, params: SaeParams, x: tf.Tensor3D, context: ObjectiveContext = {}): Host {
  const before = [...calls];
  const r = host(lossAndGradsFor(spec, params, x, x, { ...context, composed: true }));
  assert.deepEqual(calls, before, `${spec.arch}: the composed maths ran without the kernels`);
  return r;
}

/** Calls of each fused kernel (in the order of KERNELS), counted by wrappers registered over them. */
const calls = KERNELS.map(() => 0);
if (missing === undefined) {
  KERNELS.forEach((name, i) => {
    const config = tf.getKernel(name, "blas")!;
    tf.unregisterKernel(name, "blas");
    tf.registerKernel({
      ...config,
      kernelFunc: (args) => {
        calls[i]++;
        return config.kernelFunc(args);
      },
    });
  });
}

/** Parameters from nested arrays (`threshold` zero), one component. */
function paramsOf(wEnc: number[][], bEnc: number[], wDec: number[][], bDec: number[]): SaeParams {
  return {
    wEnc: tf.tensor3d([wEnc]),
    bEnc: tf.tensor2d([bEnc]),
    wDec: tf.tensor3d([wDec]),
    bDec: tf.tensor2d([bDec]),
    threshold: tf.zeros([1, bEnc.length]),
  } as SaeParams;
}

/**
 * Every row has the pre-activations `bEnc = [3, 2, 2, −1]` (wEnc is 0); 4 rows, k = 2: of the 12 positive
 * values (four 3s, eight 2s) the 8 largest end at a 2, so every 2 is kept too: 12 values, 3 per row.
 */
function tiedCase() {
  const params = paramsOf([[0, 0, 0, 0], [0, 0, 0, 0]], [3, 2, 2, -1], [[1, 0], [0, 1], [1, 0], [0, 1]], [
    0,
    0,
  ]);
  const x = tf.tensor3d([[[1, 0], [0, 1], [1, 1], [0, 0]]]);
  return { params, x };
}

Deno.test("fused BatchTopK keeps every value tied at the threshold (hand-worked values)", () => {
  requireBlas();
  const { params, x } = tiedCase();
  try {
    const spec = makeSpec("batchtopk", { k: 2 });
    const r = fused(spec, params, x);
    // f: 3, 2, 2, 0 in every row; x̂ = 3·[1,0] + 2·[0,1] + 2·[1,0] = [5, 2].
    assertValues(r.L0, [3, 3, 3, 3], "L0");
    assertValues(r.fired, [4, 4, 4, 0], "fired");
    assertValues(r.minActive, [2], "minActive");
    assertValues(r.l1, [7, 7, 7, 7], "l1");
    assertValues(r.f, [3, 2, 2, 0, 3, 2, 2, 0, 3, 2, 2, 0, 3, 2, 2, 0], "f");
    assertValues(r.xHat, [5, 2, 5, 2, 5, 2, 5, 2], "xHat");
    // mse per row: ([4,2]² → 10), ([5,1]² → 13), ([4,1]² → 8.5), ([5,2]² → 14.5); loss their mean 11.5.
    assertValues(r.l2, [10, 13, 8.5, 14.5], "l2");
    assertValues(r.total, [10, 13, 8.5, 14.5], "total");
    assertValues(r.loss, [11.5], "loss");
    // ∂L/∂x̂ = (2s/n)(x̂ − x) = (x̂ − x)/4: [1, .5], [1.25, .25], [1, .25], [1.25, .5]; Σ = [4.5, 1.5].
    // ∂L/∂pre_j = ∂L/∂x̂ · wDec_j at the kept features; ∂L/∂bEnc = Σ_b; ∂L/∂wDec_j = f_j · Σ_b ∂L/∂x̂.
    assertValues(r["grad bEnc"], [4.5, 1.5, 4.5, 0], "grad bEnc");
    assertValues(r["grad wDec"], [13.5, 4.5, 9, 3, 9, 3, 0, 0], "grad wDec");
    // ∂L/∂wEnc[i, j] = Σ_b x̄_b[i] ∂L/∂pre_bj: feature 0 gets rows 0 and 2 (i = 0) 1 + 1, rows 1 and 2 (i = 1)
    // 1.25 + 1; feature 1: .5 + .25 and .25 + .25.
    assertValues(r["grad wEnc"], [2, 0.75, 2, 0, 2.25, 0.5, 2.25, 0], "grad wEnc");
    // ∂L/∂bDec = Σ_b ∂L/∂x̂ − (∂L/∂bEnc) · wEncᵀ, and wEnc is 0.
    assertValues(r["grad bDec"], [4.5, 1.5], "grad bDec");
    assertMatches(r, composed(spec, params, x), "ties");
    // AuxK with every feature dead and kAux = 2 keeps the same tied values: ê = [5, 2] = x̂, so the residual
    // e = x − x̂ is reconstructed with ê − e = 2x̂ − x: [9, 4], [10, 3], [9, 3], [10, 4] → mse 48.5, 54.5, 45,
    // 58; with α = 0.5 the totals gain half of them, the loss 0.5 · 51.5.
    const withAux = makeSpec("batchtopk", { k: 2, auxK: 2, auxkCoefficient: 0.5 });
    const dead = tf.ones([1, 4]) as tf.Tensor2D;
    const a = fused(withAux, params, x, { dead });
    assertValues(a.aux, [48.5, 54.5, 45, 58], "aux");
    assertValues(a.total, [34.25, 40.25, 31, 43.5], "total with AuxK");
    assertValues(a.loss, [37.25], "loss with AuxK");
    assertMatches(a, composed(withAux, params, x, { dead }), "ties, AuxK");
    dead.dispose();
  } finally {
    tf.dispose([params, x] as unknown as tf.TensorContainer);
  }
});

Deno.test("fused Matryoshka: each prefix's loss and the suffix sums of its residuals (hand-worked values)", () => {
  requireBlas();
  const { params, x } = tiedCase();
  try {
    const spec = makeSpec("matryoshka", { k: 2, prefixes: [1, 4], prefixWeights: [0.5, 0.5] });
    const r = fused(spec, params, x);
    // x̂_0 = f_0 · wDec_0 = [3, 0]; x̂_1 = [5, 2]. mse_0 per row: 2, 5, 2.5, 4.5; mse_1: 10, 13, 8.5, 14.5.
    assertValues(r.l2, [10, 13, 8.5, 14.5], "l2 (the whole dictionary's)");
    assertValues(r.total, [6, 9, 5.5, 9.5], "total = (mse_0 + mse_1)/2");
    assertValues(r.loss, [7.5], "loss");
    assertValues(r.xHat, [5, 2, 5, 2, 5, 2, 5, 2], "xHat");
    // R_t = w_t (2s/n)(x̂_t − x) = (x̂_t − x)/8; Q_1 = R_1 = [.5,.25], [.625,.125], [.5,.125], [.625,.25];
    // Q_0 = R_0 + Q_1 = [.75,.25], [1,0], [.75,0], [1,.25] (Σ = [3.5, .5]). Feature 0 reads Q_0, 1 and 2 Q_1.
    assertValues(r["grad bEnc"], [3.5, 0.75, 2.25, 0], "grad bEnc");
    assertValues(r["grad wDec"], [10.5, 1.5, 4.5, 1.5, 4.5, 1.5, 0, 0], "grad wDec");
    assertValues(r["grad wEnc"], [1.5, 0.375, 1, 0, 1.75, 0.25, 1.125, 0], "grad wEnc");
    assertValues(r["grad bDec"], [3.5, 0.5], "grad bDec (Σ_b Q_0)");
    assertMatches(r, composed(spec, params, x), "Matryoshka, hand-worked");
  } finally {
    tf.dispose([params, x] as unknown as tf.TensorContainer);
  }
});

Deno.test("fused BatchTopK: a batch without any positive pre-activation, and one with fewer than k·batch", () => {
  requireBlas();
  const spec = makeSpec("batchtopk", { k: 3 });
  const base = initArchParams(spec, { nComponents: 2, dIn: 8, dSae: 32, seed: 4 });
  const x = tf.randomNormal([2, 20, 8], 0, 1, "float32", 5) as tf.Tensor3D;
  // bEnc −100: no feature is positive. bEnc −2.5: a few are, fewer than 3·20 per component.
  const none = { ...base, bEnc: tf.fill([2, 32], -100) as tf.Tensor2D };
  const few = { ...base, bEnc: tf.fill([2, 32], -2.5) as tf.Tensor2D };
  try {
    const r = fused(spec, none, x);
    assertValues(r.L0, new Array(40).fill(0), "no feature: L0");
    assertValues(r.minActive, [Infinity, Infinity], "no feature: minActive");
    assert.ok(r.f.every((v) => v === 0), "no feature: f is 0");
    assert.ok(r["grad wEnc"].every((v) => v === 0), "no feature: ∂L/∂wEnc is 0");
    assertMatches(r, composed(spec, none, x), "no feature");
    const s = fused(spec, few, x);
    const kept = s.L0.reduce((a, v) => a + v, 0);
    assert.ok(kept > 0 && kept < 2 * 3 * 20, `fewer than k·batch: ${kept} kept of at most ${2 * 3 * 20}`);
    assertMatches(s, composed(spec, few, x), "fewer than k·batch");
    // Every positive pre-activation is kept: f > 0 exactly where pre > 0.
    const pre = tf.tidy(() =>
      Float32Array.from(
        tf.add(tf.matMul(tf.sub(x, tf.expandDims(few.bDec, 1)), few.wEnc), tf.expandDims(few.bEnc, 1))
          .dataSync(),
      )
    );
    const positive = pre.reduce((a, v) => a + (v > 0 ? 1 : 0), 0);
    assert.equal(kept, positive, "fewer than k·batch: every positive value kept");
  } finally {
    tf.dispose([base, none.bEnc, few.bEnc, x] as unknown as tf.TensorContainer);
  }
});

Deno.test("fused BatchTopK and Matryoshka match the composed maths: two components, several prefixes, a few rows of f", () => {
  requireBlas();
  const cases: [string, SaeSpec][] = [
    ["batchtopk", makeSpec("batchtopk", { k: 4 })],
    ["batchtopk, λ 0.01", makeSpec("batchtopk", { k: 4, sparsityCoefficient: 0.01 })],
    [
      "matryoshka",
      makeSpec("matryoshka", { k: 4, prefixes: [8, 16, 40, 64], prefixWeights: [0.1, 0.2, 0.3, 0.4] }),
    ],
    ["matryoshka, one prefix", makeSpec("matryoshka", { k: 6 })],
  ];
  for (const [what, spec] of cases) {
    // dIn 39: the kernels' loops by 32 columns, by 4 and one by one all run.
    const params = initArchParams(spec, { nComponents: 2, dIn: 39, dSae: 64, seed: 7 });
    const x = tf.randomNormal([2, 300, 39], 0, 1, "float32", 8) as tf.Tensor3D;
    try {
      const r = fused(spec, params, x);
      assertMatches(r, composed(spec, params, x), what);
      const l0 = r.L0.reduce((a, v) => a + v, 0);
      assert.ok(
        l0 >= 2 * spec.k * 300 && l0 <= 2 * spec.k * 300 + 10,
        `${what}: ${l0} kept of k·batch per component`,
      );
      const some = fused(spec, params, x, { keepActivations: 3 });
      assert.deepEqual(Array.from(some.f), [...r.f.subarray(0, 3 * 64), ...r.f.subarray(300 * 64, 303 * 64)]);
    } finally {
      tf.dispose([params, x] as unknown as tf.TensorContainer);
    }
  }
});

Deno.test("fused BatchTopK: kept values crowded into one lane's rows fill its entry list (emptied mid-batch)", () => {
  requireBlas();
  // One block of 256 rows: lane 0 does rows [0, 128), lane 1 [128, 256). Rows 128… are 0 (with bDec 0 and
  // bEnc −1, every pre-activation there is −1); rows 0…127 hold all k·batch = 2048 kept values, 16 a row on
  // average, more than lane 0's share of the entry lists (1.25 · 129 · 8 + 64 = 1354 entries).
  const spec = makeSpec("batchtopk", { k: 8 });
  const base = initArchParams(spec, { nComponents: 1, dIn: 16, dSae: 64, seed: 9 });
  const params = {
    ...base,
    bEnc: tf.fill([1, 64], -1) as tf.Tensor2D,
    bDec: tf.zeros([1, 16]) as tf.Tensor2D,
  };
  const x = tf.tidy(() => {
    const big = tf.mul(tf.randomNormal([1, 128, 16], 0, 1, "float32", 10), 20);
    return tf.concat([big, tf.zeros([1, 128, 16])], 1) as tf.Tensor3D;
  });
  try {
    const r = fused(spec, params, x);
    const kept0 = r.L0.subarray(0, 128).reduce((a, v) => a + v, 0);
    assert.ok(kept0 > 1354, `lane 0 kept ${kept0} values, more than its share of 1354`);
    assertValues(r.L0.subarray(128), new Array(128).fill(0), "the zero rows keep nothing");
    assertMatches(r, composed(spec, params, x), "crowded lane");
  } finally {
    tf.dispose([base, params.bEnc, params.bDec, x] as unknown as tf.TensorContainer);
  }
});

Deno.test("fused BatchTopK: every pre-activation in the threshold's top bin (the select by low bits decides)", () => {
  requireBlas();
  // bEnc 1.003 and a tiny encoder: every pre-activation lies in [1.0025, 1.0035], inside the bin of floats
  // whose top 16 bits are those of 1.0 ([1, 1 + 2⁻⁷)), nearly all distinct: the first pass cannot tell
  // them apart, the second (by the low 16 bits) picks the (k·batch)-th; one value missed or counted twice
  // there moves the threshold by one value and changes the counts.
  const spec = makeSpec("batchtopk", { k: 4 });
  const base = initArchParams(spec, { nComponents: 2, dIn: 8, dSae: 64, seed: 16 });
  const params = {
    ...base,
    wEnc: tf.mul(base.wEnc, 1e-4) as tf.Tensor3D,
    bEnc: tf.fill([2, 64], 1.003) as tf.Tensor2D,
  };
  const x = tf.randomNormal([2, 300, 8], 0, 1, "float32", 17) as tf.Tensor3D;
  try {
    const r = fused(spec, params, x);
    const expected = composed(spec, params, x);
    assert.ok(
      r.minActive.every((v) => v >= 1 && v < 1 + 2 ** -7),
      `minActive ${r.minActive} in [1, 1 + 2⁻⁷)`,
    );
    assertMatches(r, expected, "one bin");
  } finally {
    tf.dispose([base, params.wEnc, params.bEnc, x] as unknown as tf.TensorContainer);
  }
});

Deno.test("fused AuxK after fused BatchTopK, Matryoshka and TopK steps matches the composed AuxK", () => {
  requireBlas();
  const dIn = 39, dSae = 64, batch = 300;
  const x = tf.randomNormal([2, batch, dIn], 0, 1, "float32", 12) as tf.Tensor3D;
  // Half the features dead (a different half in each component), all of them, none, and 3 (fewer than kAux).
  const deadSets: [string, tf.Tensor2D][] = [
    [
      "half",
      tf.tidy(() => tf.cast(tf.greater(tf.randomUniform([2, dSae], 0, 1, "float32", 13), 0.5), "float32")),
    ],
    ["all", tf.ones([2, dSae])],
    ["none", tf.zeros([2, dSae])],
    [
      "three",
      // features 0, 9, 40 in the first component, 7, 10, 40 in the second
      tf.tensor2d(
        [[0, 9, 40], [7, 10, 40]].map((d) => Array.from({ length: dSae }, (_, j) => d.includes(j) ? 1 : 0)),
      ),
    ],
  ];
  const specs = [
    makeSpec("batchtopk", { k: 3, auxK: 8, auxkCoefficient: 1 / 32 }),
    makeSpec("matryoshka", {
      k: 3,
      auxK: 8,
      auxkCoefficient: 0.5,
      prefixes: [8, 32, 64],
      prefixWeights: [0.2, 0.3, 0.5],
    }),
    makeSpec("topk", { k: 3, auxK: 8, auxkCoefficient: 1 / 32 }),
  ];
  try {
    for (const spec of specs) {
      const params = initArchParams(spec, { nComponents: 2, dIn, dSae, seed: 11 });
      try {
        const without = fused(spec, params, x);
        for (const [what, dead] of deadSets) {
          const label = `${spec.arch}, ${what} dead`;
          const r = fused(spec, params, x, { dead });
          assert.equal(r.aux.length, 2 * batch, `${label}: aux per item`);
          // With no dead feature nothing reconstructs the residual: the loss still gains α·mse(0, e) (as in
          // the composed maths), the gradients nothing.
          assert.ok(r.loss[0] > without.loss[0], `${label}: AuxK adds to the loss`);
          if (what === "none") {
            for (const name of ["grad wEnc", "grad bEnc", "grad wDec", "grad bDec"] as const) {
              assert.deepEqual(r[name], without[name], `${label}: ${name} as without AuxK`);
            }
          }
          assertMatches(r, composed(spec, params, x, { dead }), label);
        }
      } finally {
        tf.dispose(params as unknown as tf.TensorContainer);
      }
    }
  } finally {
    tf.dispose([x, ...deadSets.map(([, d]) => d)]);
  }
});

/** Waits until the BatchTopK workspace's worker thread is up (it starts when the workspace is made). */
async function waitForWorker(): Promise<void> {
  if (navigator.hardwareConcurrency < 2) return;
  for (let i = 0; i < 1200 && !topkWorkerReady(); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(topkWorkerReady(), "the worker thread did not start within 60 s");
}

/** The fused step with and without the worker (first call without, to make the workspace), bit-identical. */
async function withAndWithout(
  spec: SaeSpec,
  params: SaeParams,
  x: tf.Tensor3D,
  expected: Host,
  what: string,
  repeats: number,
  context: ObjectiveContext = {},
): Promise<void> {
  const enabled = setTopkWorkerEnabled(true);
  try {
    const first = fused(spec, params, x, context);
    assertMatches(first, expected, `${what}, first run`);
    await waitForWorker();
    for (let run = 1; run <= repeats; run++) {
      for (const worker of [true, false]) {
        setTopkWorkerEnabled(worker);
        const label = `${what}, run ${run} ${worker ? "with" : "without"} the worker`;
        if (navigator.hardwareConcurrency >= 2) assert.equal(topkWorkerReady(), worker, `${label}: threaded`);
        const r = fused(spec, params, x, context);
        assertMatches(r, expected, label);
        assertIdentical(first, r, label);
      }
    }
  } finally {
    setTopkWorkerEnabled(enabled);
  }
}

Deno.test("fused BatchTopK, Matryoshka and AuxK at small sizes: the same bits with the worker thread and without", async () => {
  requireBlas();
  const dead = tf.tidy(() =>
    tf.cast(tf.greater(tf.randomUniform([2, 128], 0, 1, "float32", 18), 0.7), "float32")
  ) as tf.Tensor2D;
  const cases: [string, SaeSpec, ObjectiveContext][] = [
    ["batchtopk", makeSpec("batchtopk", { k: 5 }), {}],
    [
      "matryoshka",
      makeSpec("matryoshka", { k: 5, prefixes: [4, 32, 96, 128], prefixWeights: [0.25, 0.25, 0.25, 0.25] }),
      {},
    ],
    ["batchtopk with AuxK", makeSpec("batchtopk", { k: 5, auxK: 16, auxkCoefficient: 1 / 32 }), { dead }],
    ["topk with AuxK", makeSpec("topk", { k: 5, auxK: 16, auxkCoefficient: 1 / 32 }), { dead }],
  ];
  try {
    for (const [what, spec, context] of cases) {
      const params = initArchParams(spec, { nComponents: 2, dIn: 32, dSae: 128, seed: 14 });
      // 700 rows: two blocks of rows (512 and 188), each split between the lanes.
      const x = tf.randomNormal([2, 700, 32], 0, 1, "float32", 15) as tf.Tensor3D;
      try {
        await withAndWithout(spec, params, x, composed(spec, params, x, context), what, 2, context);
      } finally {
        tf.dispose([params, x] as unknown as tf.TensorContainer);
      }
    }
  } finally {
    dead.dispose();
  }
});

const BATCH = 4096, D_IN = 512, D_SAE = 4096, K = 32, REPEATS = 2;

for (const arch of ["batchtopk", "matryoshka"] as const) {
  Deno.test({
    name:
      `fused ${arch} (k = 32) matches the composed maths at batch 4096, dIn 512, dSae 4096, with and without its worker thread (${REPEATS} runs each)`,
    async fn() {
      requireBlas();
      const spec = makeSpec(arch, {
        k: K,
        // Two prefixes keep the composed reference's cost within CI's time (each prefix is a dense
        // reconstruction there); the small-size tests above cover three and four prefixes.
        ...(arch === "matryoshka" ? { prefixes: [1024, 4096], prefixWeights: [0.5, 0.5] } : {}),
      });
      const params = initArchParams(spec, { nComponents: 1, dIn: D_IN, dSae: D_SAE, seed: 11 });
      const x = tf.randomNormal([1, BATCH, D_IN], 0, 1, "float32", 12) as tf.Tensor3D;
      try {
        const expected = composed(spec, params, x);
        const l0 = expected.L0.reduce((a, v) => a + v, 0);
        assert.ok(l0 >= K * BATCH, `${arch}: the reference keeps ${l0} values, at least k·batch`);
        await withAndWithout(spec, params, x, expected, arch, REPEATS);
      } finally {
        tf.dispose([params, x] as unknown as tf.TensorContainer);
      }
    },
  });
}

Deno.test({
  name:
    "fused AuxK (kAux 256, a third of the features dead) after fused BatchTopK matches the composed maths at batch 4096, dIn 512, dSae 4096, with and without the worker thread",
  async fn() {
    requireBlas();
    const spec = makeSpec("batchtopk", { k: K, auxK: D_IN / 2, auxkCoefficient: 1 / 32 });
    const params = initArchParams(spec, { nComponents: 1, dIn: D_IN, dSae: D_SAE, seed: 11 });
    const x = tf.randomNormal([1, BATCH, D_IN], 0, 1, "float32", 12) as tf.Tensor3D;
    const dead = tf.tidy(() =>
      tf.cast(tf.less(tf.randomUniform([1, D_SAE], 0, 1, "float32", 19), 1 / 3), "float32")
    ) as tf.Tensor2D;
    try {
      const context = { dead };
      await withAndWithout(
        spec,
        params,
        x,
        composed(spec, params, x, context),
        "batchtopk with AuxK",
        1,
        context,
      );
    } finally {
      tf.dispose([params, x, dead] as unknown as tf.TensorContainer);
    }
  },
});
