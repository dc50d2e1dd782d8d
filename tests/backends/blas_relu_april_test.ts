/**
 * The `blas` backend's fused April-ReLU step (`SAE_RELU_APRIL_KERNEL`: JumpReLU's sparse machinery at θ = 0)
 * against the composed maths of lib/sae on the same backend (`lossAndGradsFor(…, { composed: true })`), and
 * against values worked out by hand: a pre-activation exactly 0 (not active), the penalty weighted by the
 * decoder norms and its gradient along each dictionary vector; two components and a few rows of `f`; the
 * reference size (batch 4096, dIn 512 → dSae 4096) from the `--l0 32` start of lib/bench/l0.ts, with the
 * worker thread and without it (bit for bit).
 *
 * Tolerance (as in blas_batchtopk_test.ts): float32 sums of at most 4096 products added in another order
 * differ by about √4096·2⁻²⁴ ≈ 4e-6 of the terms' size; we allow 2e-5 of each output's largest value.
 * Counts (L0, firing counts) must be equal: both paths compute the same pre-activations.
 */
import { assert, tf } from "../_helpers.ts";
import { assertOutputsIdentical, assertOutputsMatch, assertValues } from "./_fused.ts";
import { selectBackend } from "../../lib/backends/select.ts";
import { setTopkWorkerEnabled, topkWorkerReady } from "../../lib/backends/blas_backend.ts";
import { hasKernel } from "../../lib/tf.ts";
import { SAE_RELU_APRIL_KERNEL } from "../../lib/backends/kernel_names.ts";
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
  assert.ok(hasKernel(SAE_RELU_APRIL_KERNEL), `the blas backend registers ${SAE_RELU_APRIL_KERNEL}`);
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
] as const;
type Output = (typeof OUTPUTS)[number];
/** Compared exactly. */
const EXACT: ReadonlySet<Output> = new Set(["L0", "fired"]);

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
  const config = tf.getKernel(SAE_RELU_APRIL_KERNEL, "blas")!;
  tf.unregisterKernel(SAE_RELU_APRIL_KERNEL, "blas");
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
  assert.equal(calls, before + 1, `${SAE_RELU_APRIL_KERNEL} ran once`);
  return r;
}

function composed(spec: SaeSpec, params: SaeParams, x: tf.Tensor3D, keepActivations?: number): Host {
  const before = calls;
  const r = host(lossAndGradsFor(spec, params, x, x, { composed: true, keepActivations }));
  assert.equal(calls, before, "the composed maths ran without the kernel");
  return r;
}

Deno.test("fused April ReLU: a pre-activation at 0, the penalty weighted by the decoder norms (hand-worked values)", () => {
  requireBlas();
  // wEnc is 0: every row's pre-activations are bEnc = [2, 0, 0.5] (feature 1 at 0: not active).
  // ‖wDec_j‖ = 5, 1, 2.
  const params = {
    wEnc: tf.zeros([1, 2, 3]),
    bEnc: tf.tensor2d([[2, 0, 0.5]]),
    wDec: tf.tensor3d([[[3, 4], [1, 0], [0, 2]]]),
    bDec: tf.zeros([1, 2]),
  } as SaeParams;
  const x = tf.tensor3d([[[6, 9], [6, 7]]]);
  const spec = makeSpec("relu-april", { sparsityCoefficient: 0.5 });
  try {
    const r = fused(spec, params, x);
    // f = [2, 0, .5]; x̂ = 2·[3,4] + .5·[0,2] = [6, 9]; x̂ − x = [0,0], [0,2]: mse 0, 2.
    assertValues(r.f, [2, 0, 0.5, 2, 0, 0.5], "f");
    assertValues(r.xHat, [6, 9, 6, 9], "xHat");
    assertValues(r.L0, [2, 2], "L0");
    assertValues(r.fired, [2, 0, 2], "fired");
    // S = 2·5 + .5·2 = 11; total = mse + .5·11; loss = (5.5 + 7.5)/2.
    assertValues(r.l1, [11, 11], "l1 (weighted)");
    assertValues(r.l2, [0, 2], "l2");
    assertValues(r.total, [5.5, 7.5], "total");
    assertValues(r.loss, [6.5], "loss");
    // Q = (2s/n)(x̂ − x) = (x̂ − x)/2: [0,0], [0,1]. ∂L/∂f_j = Q·wDec_j + sλ‖wDec_j‖ (sλ = 1/4):
    // row 0 [1.25, .25, .5], row 1 [5.25, .25, 2.5]; ∂L/∂pre keeps features 0 and 2.
    assertValues(r["grad bEnc"], [6.5, 0, 3], "grad bEnc");
    // ∂L/∂wEnc[i, j] = Σ_b x_b[i] ∂L/∂pre_bj: 6·1.25 + 6·5.25, 6·.5 + 6·2.5; 9·1.25 + 7·5.25, 9·.5 + 7·2.5.
    assertValues(r["grad wEnc"], [39, 0, 18, 48, 0, 22], "grad wEnc");
    assertValues(r["grad bDec"], [0, 1], "grad bDec");
    // ∂L/∂wDec_j = Σ_b f_bj Q_b + sλ(Σ_b f_bj)·wDec_j/‖wDec_j‖: j = 0: [0, 2] + 1·[.6, .8]; j = 2: [0, .5] +
    // .25·[0, 1].
    const gw = r["grad wDec"];
    [0.6, 2.8, 0, 0, 0, 0.75].forEach((v, i) =>
      assert.ok(Math.abs(gw[i] - v) < 1e-6, `grad wDec[${i}] expected ${v}, received ${gw[i]}`)
    );
    assertMatches(r, composed(spec, params, x), "hand-worked");
  } finally {
    tf.dispose([params, x] as unknown as tf.TensorContainer);
  }
});

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

Deno.test("fused April ReLU matches the composed maths: two components, a few rows of f; the same bits with the worker and without", async () => {
  requireBlas();
  const spec = makeSpec("relu-april", { sparsityCoefficient: 0.05 });
  const params = initArchParams(spec, { nComponents: 2, dIn: 32, dSae: 128, seed: 41 });
  // 700 rows: two blocks of rows (512 and 188), each split between the lanes.
  const x = tf.randomNormal([2, 700, 32], 0, 1, "float32", 43) as tf.Tensor3D;
  try {
    await withAndWithout(spec, params, x, composed(spec, params, x, 40), "relu-april, 2 components", 2, 40);
  } finally {
    tf.dispose([params, x] as unknown as tf.TensorContainer);
  }
});

const BATCH = 4096, D_IN = 512, D_SAE = 4096, L0 = 32, REPEATS = 1;

Deno.test({
  name:
    `fused April ReLU (from an L0-32 start) matches the composed maths at batch 4096, dIn 512, dSae 4096, with and without its worker thread (${REPEATS} runs each)`,
  async fn() {
    requireBlas();
    const spec = makeSpec("relu-april");
    const init = initArchParams(spec, { nComponents: 1, dIn: D_IN, dSae: D_SAE, seed: 11 });
    const x = tf.randomNormal([1, BATCH, D_IN], 0, 1, "float32", 12) as tf.Tensor3D;
    const bEnc = l0StartBias(init, x, L0);
    tf.dispose(init.bEnc);
    const params = { ...init, bEnc };
    try {
      const expected = composed(spec, params, x);
      const l0 = expected.L0.reduce((a, v) => a + v, 0) / BATCH;
      assert.ok(Math.abs(l0 - L0) < 2, `the reference's average L0 ${l0}, expected about ${L0}`);
      await withAndWithout(spec, params, x, expected, "relu-april", REPEATS);
    } finally {
      tf.dispose([params, x] as unknown as tf.TensorContainer);
    }
  },
});
