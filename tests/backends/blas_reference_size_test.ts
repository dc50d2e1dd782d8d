/**
 * The `blas` backend's fused SAE step at the reference size (batch 4096,
 * dIn 512 → dSae 4096, one component), against the composed maths of
 * lib/sae and lib/optim on the same backend with its fused kernels taken
 * away: the pure code then runs ordinary tfjs ops (matrix products still on
 * OpenBLAS), as it does on every backend without them. (tfjs's pure-JS `cpu`
 * backend would need minutes for one step at this size.)
 *
 * One step is the loss and its hand-derived gradients, then Adam (from a
 * state 9 updates in, with moments on the scale of the reference gradients,
 * so that its update is a smooth function of the gradient) and the learning
 * rate, applied to the parameters: the loss, per-item terms, reconstruction,
 * activations, gradients, both Adam moments, the updates and the new
 * parameters are compared. The fused ReLU step runs 5 times; the fused TopK
 * step (k = 32) runs 5 times with its worker thread doing half the rows and
 * features and 5 times without it. Every run must match the composed
 * reference, and the fused runs must agree with each other bit for bit (the
 * TopK lanes split the work by data, not by thread).
 *
 * Tolerance: every float value here is a float32 sum of at most 4096
 * products (the weight gradients sum over the 4096 rows of the batch, the
 * decoder over 4096 features, the encoder over 512 inputs), added up in a
 * different order by the two paths. The rounding error of a float32 sum of N
 * terms grows like √N·u (u = 2⁻²⁴; a random walk; at most N·u): for N = 4096,
 * 64u ≈ 3.8e-6 of the terms' size, and the difference of two such sums about
 * √2 times that. We allow 2e-5 of the largest value of each output (about four
 * times the estimate, and a twelfth of the worst case 4096u ≈ 2.4e-4; the
 * measured differences are below 1e-6). A kernel that lost or doubled one row's
 * share of a batch sum would be off by about 1/√4096 ≈ 1.6% of that sum. Adam
 * adds a few roundings per value (its `nu` is at least the gradient's scale
 * squared, so the update moves by about the gradient's relative error). The
 * counts (L0 per item, firing counts) must be equal: both paths make the same
 * encoder product on OpenBLAS, so they select the same features.
 */
import { assert, tf } from "../_helpers.ts";
import { hasKernel } from "../../lib/tf.ts";
import { selectBackend } from "../../lib/backends/select.ts";
import { setTopkWorkerEnabled, topkWorkerReady } from "../../lib/backends/blas_backend.ts";
import { saeLossAndGrads } from "../../lib/sae/objective.ts";
import type { SaeActivation } from "../../lib/sae/forward.ts";
import { initParams, type SaeParams } from "../../lib/sae/params.ts";
import { type AdamState, scaleByAdam } from "../../lib/optim/adam.ts";
import { applyUpdates, chain, type TensorRecord } from "../../lib/optim/transform.ts";
import { scaleByLearningRate } from "../../lib/optim/schedules.ts";
import {
  ADAM_KERNEL,
  NORMALIZE_ROWS_KERNEL,
  PROJECT_ROWS_KERNEL,
  SAE_RELU_KERNEL,
} from "../../lib/backends/kernel_names.ts";

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
}

const BATCH = 4096, D_IN = 512, D_SAE = 4096;
const REPEATS = 5;
const TOLERANCE = 2e-5;
const LEARNING_RATE = 1e-3;
/** The fused kernels the blas backend registers; the composed reference runs without them. */
const FUSED_KERNELS = [SAE_RELU_KERNEL, ADAM_KERNEL, PROJECT_ROWS_KERNEL, NORMALIZE_ROWS_KERNEL];

/** Runs `fn` with the blas backend's fused kernels unregistered (restored afterwards). */
function withoutFusedKernels<T>(fn: () => T): T {
  const saved = FUSED_KERNELS.map((name) => tf.getKernel(name, "blas"));
  for (const name of FUSED_KERNELS) tf.unregisterKernel(name, "blas");
  try {
    return fn();
  } finally {
    for (const config of saved) if (config !== undefined) tf.registerKernel(config);
  }
}

const KEYS = ["wEnc", "bEnc", "wDec", "bDec"] as const;

/** The inputs of the step: parameters and a batch. */
type StepInputs = { params: SaeParams; x: tf.Tensor3D };

function stepInputs(): StepInputs {
  return tf.tidy(() =>
    ({
      params: initParams({ nComponents: 1, dIn: D_IN, dSae: D_SAE, seed: 11 }),
      x: tf.randomNormal([1, BATCH, D_IN], 0, 1, "float32", 12),
    }) as unknown as tf.TensorContainer
  ) as unknown as StepInputs;
}

/**
 * An Adam state 9 updates in, with moments on the scale `G` of each gradient (its largest magnitude in the
 * reference): `mu ~ N(0, G)`, `nu = G²(1 + N(0, 1)²)`. The update `c1·mu/(√(c2·nu) + eps)` then depends
 * smoothly on the gradient (`nu` is not dominated by one gradient's square), so that a difference of
 * `TOLERANCE·G` in a gradient moves the update by about `TOLERANCE` of its own scale.
 */
function adamState(scales: Record<(typeof KEYS)[number], number>, params: SaeParams): AdamState {
  return tf.tidy(() => {
    const mu: Record<string, tf.Tensor> = {}, nu: Record<string, tf.Tensor> = {};
    KEYS.forEach((key, i) => {
      const shape = params[key].shape, g = scales[key];
      mu[key] = tf.randomNormal(shape, 0, g, "float32", 20 + i);
      nu[key] = tf.mul(tf.add(tf.square(tf.randomNormal(shape, 0, 1, "float32", 30 + i)), 1), g * g);
    });
    return { kind: "adam", count: 9, mu, nu } as unknown as tf.TensorContainer;
  }) as unknown as AdamState;
}

const NAMES = [
  "loss",
  "l1",
  "l2",
  "xHat",
  "f",
  "L0",
  "fired",
  "grad wEnc",
  "grad bEnc",
  "grad wDec",
  "grad bDec",
  "Adam mu wEnc",
  "Adam mu bEnc",
  "Adam mu wDec",
  "Adam mu bDec",
  "Adam nu wEnc",
  "Adam nu bEnc",
  "Adam nu wDec",
  "Adam nu bDec",
  "update wEnc",
  "update bEnc",
  "update wDec",
  "update bDec",
  "new wEnc",
  "new bEnc",
  "new wDec",
  "new bDec",
] as const;
/** Outputs compared exactly (counts). */
const EXACT = new Set(["L0", "fired"]);

/** Host copies of tensors (which are freed). */
function host(tensors: tf.Tensor[]): Float32Array[] {
  const values = tensors.map((t) => Float32Array.from(t.dataSync()));
  tf.dispose(tensors);
  return values;
}

/** The loss and gradients of one step: the first 11 outputs of `NAMES` (gradients last), as host arrays. */
function lossAndGrads(inputs: StepInputs, l1: number, activation: SaeActivation): Float32Array[] {
  return host(tf.tidy(() => {
    const r = saeLossAndGrads(inputs.params, inputs.x, l1, Infinity, activation);
    return [
      r.loss,
      r.terms.l1,
      r.terms.l2,
      r.forward.xHat,
      r.forward.f,
      r.stats.l0,
      tf.cast(r.stats.fired, "float32"),
      ...KEYS.map((k) => r.grads[k]),
    ];
  }));
}

/** Adam and the learning rate applied to the gradients (`grads`: the last four of `lossAndGrads`). */
function update(inputs: StepInputs, grads: Float32Array[], adam: AdamState): Float32Array[] {
  return host(tf.tidy(() => {
    const params = inputs.params as unknown as TensorRecord;
    const g: Record<string, tf.Tensor> = {};
    KEYS.forEach((key, i) => (g[key] = tf.tensor(grads[i], inputs.params[key].shape)));
    const tx = chain(scaleByAdam(), scaleByLearningRate(() => LEARNING_RATE));
    const [updates, next] = tx.update(g, [adam, tx.init(params)[1]], params);
    const moments = next[0] as AdamState;
    const updated = applyUpdates(params, updates);
    return [
      ...KEYS.map((k) => moments.mu[k]),
      ...KEYS.map((k) => moments.nu[k]),
      ...KEYS.map((k) => updates[k]),
      ...KEYS.map((k) => updated[k]),
    ];
  }));
}

/** One whole step, in the order of `NAMES`. */
function step(inputs: StepInputs, l1: number, activation: SaeActivation, adam: AdamState): Float32Array[] {
  const first = lossAndGrads(inputs, l1, activation);
  return [...first, ...update(inputs, first.slice(-4), adam)];
}

/**
 * The composed reference of a step, and the Adam state both paths start from (sized from the reference
 * gradients).
 */
function reference(inputs: StepInputs, l1: number, activation: SaeActivation): {
  expected: Float32Array[];
  adam: AdamState;
} {
  return withoutFusedKernels(() => {
    assert.ok(!hasKernel(SAE_RELU_KERNEL) && !hasKernel(ADAM_KERNEL), "the fused kernels are bypassed");
    const first = lossAndGrads(inputs, l1, activation);
    const grads = first.slice(-4);
    const scales = Object.fromEntries(
      KEYS.map((key, i) => [key, grads[i].reduce((a, v) => Math.max(a, Math.abs(v)), 0)]),
    ) as Record<(typeof KEYS)[number], number>;
    const adam = adamState(scales, inputs.params);
    return { expected: [...first, ...update(inputs, grads, adam)], adam };
  });
}

/** Asserts each output of a fused step within the tolerance of the reference (counts exactly). */
function assertMatches(fused: Float32Array[], reference: Float32Array[], what: string): void {
  NAMES.forEach((name, i) => {
    const f = fused[i], r = reference[i];
    assert.equal(f.length, r.length, `${what}: ${name} has ${f.length} values, expected ${r.length}`);
    let scale = 0;
    for (let j = 0; j < r.length; j++) scale = Math.max(scale, Math.abs(r[j]));
    const tol = EXACT.has(name) ? 0 : TOLERANCE * scale;
    let worst = -1, worstDiff = 0;
    for (let j = 0; j < r.length; j++) {
      const d = Math.abs(f[j] - r[j]);
      if (!(d <= worstDiff)) {
        worst = j;
        worstDiff = d;
      }
    }
    assert.ok(
      worstDiff <= tol,
      `${what}: ${name}[${worst}] expected ${
        r[worst]
      } ± ${tol} (${TOLERANCE} of the largest, ${scale}), received ${f[worst]}`,
    );
  });
}

/** Asserts two fused runs gave the same numbers bit for bit. */
function assertIdentical(a: Float32Array[], b: Float32Array[], what: string): void {
  NAMES.forEach((name, i) => {
    const x = new Uint32Array(a[i].buffer), y = new Uint32Array(b[i].buffer);
    const at = x.findIndex((v, j) => v !== y[j]);
    assert.ok(at === -1, `${what}: ${name}[${at}] ${b[i][at]} differs from the first run's ${a[i][at]}`);
  });
}

Deno.test("the fused ReLU step matches the composed maths at batch 4096, dIn 512, dSae 4096 (5 runs)", () => {
  requireBlas();
  const inputs = stepInputs();
  let adam: AdamState | undefined;
  try {
    const l1 = 5e-3;
    const ref = reference(inputs, l1, { kind: "relu" });
    adam = ref.adam;
    const expected = ref.expected;
    assert.ok(hasKernel(SAE_RELU_KERNEL) && hasKernel(ADAM_KERNEL), "the fused kernels are registered again");
    let first: Float32Array[] | undefined;
    for (let run = 1; run <= REPEATS; run++) {
      const fused = step(inputs, l1, { kind: "relu" }, adam);
      assertMatches(fused, expected, `ReLU, run ${run}`);
      if (first === undefined) first = fused;
      else assertIdentical(first, fused, `ReLU, run ${run}`);
    }
  } finally {
    tf.dispose([inputs, adam] as unknown as tf.TensorContainer);
  }
});

Deno.test({
  name:
    "the fused TopK step (k = 32) matches the composed maths at batch 4096, dIn 512, dSae 4096, with and without its worker thread (5 runs each)",
  async fn() {
    requireBlas();
    const inputs = stepInputs();
    const activation: SaeActivation = { kind: "topk", k: 32 };
    const enabled = setTopkWorkerEnabled(true);
    let adam: AdamState | undefined;
    try {
      const ref = reference(inputs, 0, activation);
      adam = ref.adam;
      const expected = ref.expected;
      // The first fused call makes the workspace, whose worker starts in the background; until it is up the
      // calling thread runs both lanes. This run is checked too, then the worker is waited for.
      const first = step(inputs, 0, activation, adam);
      assertMatches(first, expected, "TopK, first run");
      if (navigator.hardwareConcurrency >= 2) {
        // (Under `deno test` the worker's module is type-checked as it starts: seconds on a busy machine.)
        for (let i = 0; i < 1200 && !topkWorkerReady(); i++) await new Promise((r) => setTimeout(r, 50));
        assert.ok(topkWorkerReady(), "the TopK worker thread did not start within 60 s");
      }
      for (let run = 1; run <= REPEATS; run++) {
        for (const worker of [true, false]) {
          setTopkWorkerEnabled(worker);
          const what = `TopK, run ${run} ${worker ? "with" : "without"} the worker`;
          if (navigator.hardwareConcurrency >= 2) {
            assert.equal(topkWorkerReady(), worker, `${what}: threaded`);
          }
          const fused = step(inputs, 0, activation, adam);
          assertMatches(fused, expected, what);
          assertIdentical(first, fused, what);
        }
      }
    } finally {
      setTopkWorkerEnabled(enabled);
      tf.dispose([inputs, adam] as unknown as tf.TensorContainer);
    }
  },
});
