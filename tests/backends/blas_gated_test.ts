/**
 * The `blas` backend's fused gated step (`SAE_GATED_KERNEL`: both paths on each row's open gates) against
 * the composed maths of lib/sae on the same backend (`lossAndGradsFor(…, { composed: true })`), and against
 * values worked out by hand: gates exactly at 0 (closed), an open gate whose magnitude is negative (f = 0,
 * yet the auxiliary reconstruction and the penalty see it), the magnitude path's parameters; two components
 * with random rMag and bMag and a few rows of `f`; every gate open at dSae 512 (the entry lists fill and are
 * emptied mid-batch); the reference size (batch 4096, dIn 512 → dSae 4096) from the `--l0 32` start of
 * lib/bench/l0.ts, with the worker thread and without it (bit for bit).
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
import { SAE_GATED_KERNEL } from "../../lib/backends/kernel_names.ts";
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
  assert.ok(hasKernel(SAE_GATED_KERNEL), `the blas backend registers ${SAE_GATED_KERNEL}`);
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
  "grad rMag",
  "grad bMag",
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
    "grad rMag": r.grads.rMag,
    "grad bMag": r.grads.bMag,
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
  const config = tf.getKernel(SAE_GATED_KERNEL, "blas")!;
  tf.unregisterKernel(SAE_GATED_KERNEL, "blas");
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
  assert.equal(calls, before + 1, `${SAE_GATED_KERNEL} ran once`);
  return r;
}

function composed(spec: SaeSpec, params: SaeParams, x: tf.Tensor3D, keepActivations?: number): Host {
  const before = calls;
  const r = host(lossAndGradsFor(spec, params, x, x, { composed: true, keepActivations }));
  assert.equal(calls, before, "the composed maths ran without the kernel");
  return r;
}

Deno.test("fused gated: closed gates at 0, an open gate with a negative magnitude (hand-worked values)", () => {
  requireBlas();
  // x = [2, 1], bDec 0; wEnc's columns [1,0], [0,1], [1,1], [1,−1]: z = [2, 1, 3, 1].
  // πgate = z + bEnc = [1, 0, 0, 1]: gates 0 and 3 open (1 and 2 exactly at 0: closed).
  // πmag = z·exp(0) + bMag = [−1, 1, 3, 1.5]: f = [0, 0, 0, 1.5] (gate 0 open, its magnitude negative).
  const params = {
    wEnc: tf.tensor3d([[[1, 0, 1, 1], [0, 1, 1, -1]]]),
    bEnc: tf.tensor2d([[-1, -1, -3, 0]]),
    wDec: tf.tensor3d([[[1, 0], [0, 1], [1, 1], [2, 0]]]),
    bDec: tf.zeros([1, 2]),
    rMag: tf.zeros([1, 4]),
    bMag: tf.tensor2d([[-3, 0, 0, 0.5]]),
  } as SaeParams;
  const x = tf.tensor3d([[[2, 1]]]);
  const spec = makeSpec("gated", { sparsityCoefficient: 0.5 });
  try {
    const r = fused(spec, params, x);
    assertValues(r.f, [0, 0, 0, 1.5], "f");
    // x̂ = 1.5·[2, 0] = [3, 0]; the gate's x̂ = 1·[1, 0] + 1·[2, 0] = [3, 0]; both miss x by [1, −1]: mse 1.
    assertValues(r.xHat, [3, 0], "xHat");
    assertValues(r.L0, [1], "L0");
    assertValues(r.fired, [0, 0, 0, 1], "fired");
    // penalty Σ ReLU(πgate) = 2; total = 1 + .5·2 + 1 (auxiliary) = 3.
    assertValues(r.l1, [2], "l1 (the gate's penalty)");
    assertValues(r.l2, [1], "l2");
    assertValues(r.total, [3], "total");
    assertValues(r.loss, [3], "loss");
    // s = 1, 2s/n = 1: Q = Q_gate = [1, −1]; Q·wDec_j = [1, −1, 0, 2].
    // ∂L/∂πmag = [0, 0, 0, 2] (only gate 3 open with πmag > 0); ∂L/∂πgate = ([1, −1, 0, 2] + sλ)·open =
    // [1.5, 0, 0, 2.5]; ∂L/∂z = ∂L/∂πmag + ∂L/∂πgate = [1.5, 0, 0, 4.5].
    assertValues(r["grad bEnc"], [1.5, 0, 0, 2.5], "grad bEnc");
    assertValues(r["grad bMag"], [0, 0, 0, 2], "grad bMag");
    // ∂L/∂rMag = Σ_b ∂L/∂πmag · z · exp(rMag) = 2·1.
    assertValues(r["grad rMag"], [0, 0, 0, 2], "grad rMag");
    // ∂L/∂wEnc[i, j] = x̄[i] ∂L/∂z_j.
    assertValues(r["grad wEnc"], [3, 0, 0, 9, 1.5, 0, 0, 4.5], "grad wEnc");
    // ∂L/∂wDec_j = f_j Q (the gate's decoder is frozen).
    assertValues(r["grad wDec"], [0, 0, 0, 0, 0, 0, 1.5, -1.5], "grad wDec");
    // ∂L/∂bDec = Q − (∂L/∂z)·wEncᵀ = [1, −1] − [1.5 + 4.5, −4.5].
    assertValues(r["grad bDec"], [-5, 3.5], "grad bDec");
    assertMatches(r, composed(spec, params, x), "hand-worked");
  } finally {
    tf.dispose([params, x] as unknown as tf.TensorContainer);
  }
});

/** Parameters with random magnitude-path parameters (zero at init). */
function randomParams(spec: SaeSpec, c: number, dIn: number, dSae: number, seed: number, bEncShift = 0) {
  const params = initArchParams(spec, { nComponents: c, dIn, dSae, seed });
  tf.dispose([params.rMag!, params.bMag!, params.bEnc]);
  return {
    ...params,
    bEnc: tf.add(tf.randomNormal([c, dSae], 0, 0.3, "float32", seed + 1), bEncShift) as tf.Tensor2D,
    rMag: tf.randomNormal([c, dSae], 0, 0.3, "float32", seed + 2) as tf.Tensor2D,
    bMag: tf.randomNormal([c, dSae], 0, 0.3, "float32", seed + 3) as tf.Tensor2D,
  };
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

Deno.test("fused gated matches the composed maths: two components, random magnitude parameters, a few rows of f; the same bits with the worker and without", async () => {
  requireBlas();
  const spec = makeSpec("gated", { sparsityCoefficient: 0.05 });
  const params = randomParams(spec, 2, 32, 128, 51);
  // 700 rows: two blocks of rows (512 and 188), each split between the lanes.
  const x = tf.randomNormal([2, 700, 32], 0, 1, "float32", 53) as tf.Tensor3D;
  try {
    await withAndWithout(spec, params, x, composed(spec, params, x, 40), "gated, 2 components", 2, 40);
  } finally {
    tf.dispose([params, x] as unknown as tf.TensorContainer);
  }
});

Deno.test("fused gated: every gate open at dSae 512 fills the entry lists (emptied mid-batch)", async () => {
  requireBlas();
  const spec = makeSpec("gated", { sparsityCoefficient: 0.001 });
  const params = randomParams(spec, 1, 32, 512, 61, 100);
  const x = tf.randomNormal([1, 700, 32], 0, 1, "float32", 63) as tf.Tensor3D;
  try {
    const expected = composed(spec, params, x);
    await withAndWithout(spec, params, x, expected, "gated, every gate open", 1);
  } finally {
    tf.dispose([params, x] as unknown as tf.TensorContainer);
  }
});

const BATCH = 4096, D_IN = 512, D_SAE = 4096, L0 = 32, REPEATS = 1;

Deno.test({
  name:
    `fused gated (from an L0-32 start) matches the composed maths at batch 4096, dIn 512, dSae 4096, with and without its worker thread (${REPEATS} runs each)`,
  async fn() {
    requireBlas();
    const spec = makeSpec("gated");
    const init = initArchParams(spec, { nComponents: 1, dIn: D_IN, dSae: D_SAE, seed: 11 });
    const x = tf.randomNormal([1, BATCH, D_IN], 0, 1, "float32", 12) as tf.Tensor3D;
    const bEnc = l0StartBias(init, x, L0);
    tf.dispose(init.bEnc);
    const params = { ...init, bEnc };
    try {
      const expected = composed(spec, params, x);
      const l0 = expected.L0.reduce((a, v) => a + v, 0) / BATCH;
      assert.ok(Math.abs(l0 - L0) < 2, `the reference's average L0 ${l0}, expected about ${L0}`);
      await withAndWithout(spec, params, x, expected, "gated", REPEATS);
    } finally {
      tf.dispose([params, x] as unknown as tf.TensorContainer);
    }
  },
});
