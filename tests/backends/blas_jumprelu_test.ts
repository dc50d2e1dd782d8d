/**
 * The `blas` backend's fused JumpReLU step (`SAE_JUMPRELU_KERNEL`, step penalty) against the composed
 * maths of lib/sae on the same backend (`lossAndGradsFor(…, { composed: true })`: ordinary tfjs ops, matrix
 * products still on OpenBLAS), and against values worked out by hand.
 *
 * Small sizes: values exactly at the threshold (not active, in the band), inside the band and active, at
 * both edges of the band (outside it: the rectangle kernel is `|u| < ½`), a negative threshold (an active
 * `f ≤ 0` counts in the step penalty but not in L0); two components; every feature active at dSae 512
 * (the entry lists fill and are emptied into the weight gradients mid-batch); a few rows of `f` kept.
 * The reference size (batch 4096, dIn 512 → dSae 4096) from the `--l0 32` start of lib/bench/l0.ts, with
 * the worker thread doing half the rows and features and without it: every run matches the composed maths
 * and the runs agree bit for bit. The tanh penalty and the pre-activation loss run the composed maths.
 *
 * Tolerance (as in blas_batchtopk_test.ts): float32 sums of at most 4096 products added in another order
 * differ by about √4096·2⁻²⁴ ≈ 4e-6 of the terms' size; we allow 2e-5 of each output's largest value.
 * Counts (the step penalty per item, L0, firing counts) must be equal: both paths compute the same
 * pre-activations and compare them with θ in the same float arithmetic.
 */
import { assert, tf } from "../_helpers.ts";
import { assertOutputsIdentical, assertOutputsMatch, assertValues } from "./_fused.ts";
import { selectBackend } from "../../lib/backends/select.ts";
import { setTopkWorkerEnabled, topkWorkerReady } from "../../lib/backends/blas_backend.ts";
import { hasKernel } from "../../lib/tf.ts";
import { SAE_JUMPRELU_KERNEL } from "../../lib/backends/kernel_names.ts";
import { initArchParams, makeSpec } from "../../lib/sae/arch/registry.ts";
import { lossAndGradsFor, type ObjectiveResult } from "../../lib/sae/objective.ts";
import type { SaeSpec } from "../../lib/sae/arch/record.ts";
import type { SaeParams } from "../../lib/sae/params.ts";
import { l0StartBias } from "../../lib/bench/l0.ts";

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
  assert.ok(hasKernel(SAE_JUMPRELU_KERNEL), `the blas backend registers ${SAE_JUMPRELU_KERNEL}`);
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
  "grad threshold",
  "L0",
  "fired",
  "sst",
] as const;
type Output = (typeof OUTPUTS)[number];
/** Compared exactly. */
const EXACT: ReadonlySet<Output> = new Set(["l1", "L0", "fired"]);

type Host = Record<Output, Float32Array>;

/** Each output within the tolerance of the reference's (the EXACT ones exactly). */
const assertMatches = (actual: Host, expected: Host, what: string) =>
  assertOutputsMatch(actual, expected, what, { outputs: OUTPUTS, exact: EXACT, tolerance: TOLERANCE });
/** Two fused runs gave the same numbers bit for bit. */
const assertIdentical = (a: Host, b: Host, what: string) => assertOutputsIdentical(a, b, what, OUTPUTS);

/** A result's outputs on the host (the tensors are freed). */
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
    "grad threshold": r.grads.threshold,
    L0: r.stats.l0,
    fired: r.stats.fired,
    sst: r.stats.sst,
  };
  const out = {} as Host;
  for (const name of OUTPUTS) out[name] = Float32Array.from(tensors[name]?.dataSync() ?? []);
  tf.dispose(r as unknown as tf.TensorContainer);
  return out;
}

/** Calls of the fused kernel, counted by a wrapper registered over it. */
let calls = 0;
if (missing === undefined) {
  const config = tf.getKernel(SAE_JUMPRELU_KERNEL, "blas")!;
  tf.unregisterKernel(SAE_JUMPRELU_KERNEL, "blas");
  tf.registerKernel({
    ...config,
    kernelFunc: (args) => {
      calls++;
      return config.kernelFunc(args);
    },
  });
}

/** The fused step, asserting that the kernel ran once (the composed path would give the same shapes). */
function fused(spec: SaeSpec, params: SaeParams, x: tf.Tensor3D, keepActivations?: number): Host {
  const before = calls;
  const r = host(lossAndGradsFor(spec, params, x, x, { keepActivations }));
  assert.equal(calls, before + 1, `${SAE_JUMPRELU_KERNEL} ran once`);
  return r;
}

function composed(spec: SaeSpec, params: SaeParams, x: tf.Tensor3D, keepActivations?: number): Host {
  const before = calls;
  const r = host(lossAndGradsFor(spec, params, x, x, { composed: true, keepActivations }));
  assert.equal(calls, before, "the composed maths ran without the kernel");
  return r;
}

Deno.test("fused JumpReLU: the threshold and the band's edges (hand-worked values)", () => {
  requireBlas();
  // wEnc is 0, so every row's pre-activations are bEnc. With ε = 1, u = pre − θ:
  //   j  pre    θ      u      active  band (|u| < ½)
  //   0  3      1      2      yes     no
  //   1  2      2      0      no (pre = θ)  yes: ∂L/∂f from Q · wDec_1
  //   2  1.5    1.25   0.25   yes     yes
  //   3  1      0.5    0.5    yes     no (upper edge)
  //   4  0      0.5    −0.5   no      no (lower edge)
  //   5  −0.5   −1     0.5    yes (f = −0.5 ≤ 0)  no
  const params = {
    wEnc: tf.zeros([1, 2, 6]),
    bEnc: tf.tensor2d([[3, 2, 1.5, 1, 0, -0.5]]),
    wDec: tf.tensor3d([[[1, 0], [0, 1], [1, 0], [0, 1], [1, 1], [1, 0]]]),
    bDec: tf.zeros([1, 2]),
    threshold: tf.tensor2d([[1, 2, 1.25, 0.5, 0.5, -1]]),
  } as SaeParams;
  const x = tf.tensor3d([[[1, 0], [0, 1], [1, 1], [0, 0]]]);
  const spec = makeSpec("jumprelu", { sparsityCoefficient: 0.25, jumprelu: { bandwidth: 1 } });
  try {
    const r = fused(spec, params, x);
    // f = [3, 0, 1.5, 1, 0, −0.5] in every row; x̂ = 3·[1,0] + 1.5·[1,0] + [0,1] − 0.5·[1,0] = [4, 1].
    assertValues(r.f, [0, 1, 2, 3].flatMap(() => [3, 0, 1.5, 1, 0, -0.5]), "f");
    assertValues(r.xHat, [4, 1, 4, 1, 4, 1, 4, 1], "xHat");
    // The step penalty counts 4 active features; L0 and fired count f > 0 (3 per row).
    assertValues(r.l1, [4, 4, 4, 4], "l1 (step penalty)");
    assertValues(r.L0, [3, 3, 3, 3], "L0");
    assertValues(r.fired, [4, 0, 4, 4, 0, 0], "fired");
    // x̂ − x: [3,1], [4,0], [3,0], [4,1] → mse 5, 8, 4.5, 8.5; total = mse + 0.25·4; loss = 30/4.
    assertValues(r.l2, [5, 8, 4.5, 8.5], "l2");
    assertValues(r.total, [6, 9, 5.5, 9.5], "total");
    assertValues(r.loss, [7.5], "loss");
    // Q = (2s/n)(x̂ − x) = (x̂ − x)/4: [.75,.25], [1,0], [.75,0], [1,.25]; Σ_b Q = [3.5, .5].
    // ∂L/∂f_j = Q · wDec_j; ∂L/∂bEnc = Σ_b over the active rows: 3.5, 0, 3.5, .5, 0, 3.5.
    assertValues(r["grad bEnc"], [3.5, 0, 3.5, 0.5, 0, 3.5], "grad bEnc");
    // ∂L/∂wDec_j = f_j · Σ_b Q.
    assertValues(r["grad wDec"], [10.5, 1.5, 0, 0, 5.25, 0.75, 3.5, 0.5, 0, 0, -1.75, -0.25], "grad wDec");
    // ∂L/∂wEnc[i, j] = Σ_b x_b[i] ∂L/∂pre_bj: i = 0 takes rows 0 and 2, i = 1 rows 1 and 2.
    assertValues(r["grad wEnc"], [1.5, 0, 1.5, 0.25, 0, 1.5, 1.75, 0, 1.75, 0, 0, 1.75], "grad wEnc");
    assertValues(r["grad bDec"], [3.5, 0.5], "grad bDec");
    // ∂L/∂θ_j = −(sλ/ε)·Σ_b K − (θ_j/ε)·Σ_b K·∂L/∂f, sλ = 1/16: feature 1: −4/16 − 2·(Σ_b Q[1] = .5) = −1.25;
    // feature 2: −4/16 − 1.25·3.5 = −4.625; the others have no value in the band.
    assertValues(r["grad threshold"], [0, -1.25, -4.625, 0, 0, 0], "grad threshold");
    assertMatches(r, composed(spec, params, x), "hand-worked");
  } finally {
    tf.dispose([params, x] as unknown as tf.TensorContainer);
  }
});

/** Parameters with thresholds drawn from [lo, hi) (the default init gives every feature the same one). */
function randomParams(
  spec: SaeSpec,
  c: number,
  dIn: number,
  dSae: number,
  seed: number,
  lo: number,
  hi: number,
) {
  const params = initArchParams(spec, { nComponents: c, dIn, dSae, seed });
  tf.dispose(params.threshold!);
  return { ...params, threshold: tf.randomUniform([c, dSae], lo, hi, "float32", seed + 1) as tf.Tensor2D };
}

async function waitForWorker(): Promise<void> {
  if (navigator.hardwareConcurrency < 2) return;
  for (let i = 0; i < 500 && !topkWorkerReady(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(topkWorkerReady(), "the worker thread started within 5 s");
}

/** The fused step matches `expected` with the worker thread and without, bit for bit between runs. */
async function withAndWithout(
  spec: SaeSpec,
  params: SaeParams,
  x: tf.Tensor3D,
  expected: Host,
  what: string,
  repeats: number,
  keepActivations?: number,
): Promise<void> {
  const enabled = setTopkWorkerEnabled(true);
  try {
    const first = fused(spec, params, x, keepActivations);
    assertMatches(first, expected, `${what}, first run`);
    await waitForWorker();
    for (let run = 1; run <= repeats; run++) {
      for (const worker of [true, false]) {
        setTopkWorkerEnabled(worker);
        const label = `${what}, run ${run} ${worker ? "with" : "without"} the worker`;
        if (navigator.hardwareConcurrency >= 2) assert.equal(topkWorkerReady(), worker, `${label}: threaded`);
        const r = fused(spec, params, x, keepActivations);
        assertMatches(r, expected, label);
        assertIdentical(first, r, label);
      }
    }
  } finally {
    setTopkWorkerEnabled(enabled);
  }
}

Deno.test("fused JumpReLU matches the composed maths: two components, a wide band, negative thresholds, a few rows of f; the same bits with the worker and without", async () => {
  requireBlas();
  const spec = makeSpec("jumprelu", { sparsityCoefficient: 0.01, jumprelu: { bandwidth: 0.5 } });
  const params = randomParams(spec, 2, 32, 128, 21, -0.3, 0.6);
  // 700 rows: two blocks of rows (512 and 188), each split between the lanes.
  const x = tf.randomNormal([2, 700, 32], 0, 1, "float32", 23) as tf.Tensor3D;
  try {
    const expected = composed(spec, params, x, 40);
    // The band is busy: many features get a threshold gradient.
    const nonzero = expected["grad threshold"].filter((v) => v !== 0).length;
    assert.ok(nonzero > 128, `features with a threshold gradient: ${nonzero} of 256`);
    await withAndWithout(spec, params, x, expected, "jumprelu, 2 components", 2, 40);
  } finally {
    tf.dispose([params, x] as unknown as tf.TensorContainer);
  }
});

Deno.test("fused JumpReLU: every feature active at dSae 512 fills the entry lists (emptied mid-batch)", async () => {
  requireBlas();
  const spec = makeSpec("jumprelu", { sparsityCoefficient: 0.001 });
  const params = randomParams(spec, 1, 32, 512, 31, -100, -99);
  const x = tf.randomNormal([1, 700, 32], 0, 1, "float32", 33) as tf.Tensor3D;
  try {
    const expected = composed(spec, params, x);
    assertValues(expected.l1, new Array(700).fill(512), "the reference: every feature active");
    await withAndWithout(spec, params, x, expected, "jumprelu, all active", 1);
  } finally {
    tf.dispose([params, x] as unknown as tf.TensorContainer);
  }
});

Deno.test("fused JumpReLU: the tanh penalty and the pre-activation loss run the composed maths", () => {
  requireBlas();
  for (const jumprelu of [{ penalty: "tanh" as const }, { preActCoefficient: 0.1 }]) {
    const spec = makeSpec("jumprelu", { jumprelu });
    const params = initArchParams(spec, { nComponents: 1, dIn: 4, dSae: 8, seed: 0 });
    const x = tf.randomNormal([1, 16, 4], 0, 1, "float32", 1) as tf.Tensor3D;
    try {
      const before = calls;
      tf.dispose(lossAndGradsFor(spec, params, x) as unknown as tf.TensorContainer);
      assert.equal(calls, before, `${JSON.stringify(jumprelu)}: the kernel did not run`);
    } finally {
      tf.dispose([params, x] as unknown as tf.TensorContainer);
    }
  }
});

const BATCH = 4096, D_IN = 512, D_SAE = 4096, L0 = 32, REPEATS = 1;

Deno.test({
  name:
    `fused JumpReLU (from an L0-32 start) matches the composed maths at batch 4096, dIn 512, dSae 4096, with and without its worker thread (${REPEATS} runs each)`,
  async fn() {
    requireBlas();
    const spec = makeSpec("jumprelu");
    const init = initArchParams(spec, { nComponents: 1, dIn: D_IN, dSae: D_SAE, seed: 11 });
    const x = tf.randomNormal([1, BATCH, D_IN], 0, 1, "float32", 12) as tf.Tensor3D;
    const bEnc = l0StartBias(init, x, L0, "threshold");
    tf.dispose(init.bEnc);
    const params = { ...init, bEnc };
    try {
      const expected = composed(spec, params, x);
      const l0 = expected.l1.reduce((a, v) => a + v, 0) / BATCH;
      assert.ok(Math.abs(l0 - L0) < 2, `the reference's average L0 ${l0}, expected about ${L0}`);
      const banded = expected["grad threshold"].filter((v) => v !== 0).length;
      assert.ok(banded > D_SAE / 2, `features with a threshold gradient: ${banded} of ${D_SAE}`);
      await withAndWithout(spec, params, x, expected, "jumprelu", REPEATS);
    } finally {
      tf.dispose([params, x] as unknown as tf.TensorContainer);
    }
  },
});
