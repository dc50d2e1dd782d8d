/**
 * saekit's WGSL kernels on the `webgpu` backend against the `cpu` backend's
 * reference (tfjs's own kernels, and the composed maths of the SAE step), at
 * small sizes and at 256 × 64 → 512: the tiled matrix product (every
 * transpose, batched and broadcast, sizes that are not multiples of its
 * tile), the fused ReLU and TopK step (ties, k = dSae, rows with fewer
 * positive values than k, a few rows of f, an empty batch), Adam, the
 * decoder's row projection and normalisation, and the integer-to-float
 * cast that replaces tfjs's. Every test also checks that the device
 * reported no error.
 *
 * These run on any WebGPU adapter, Mesa's llvmpipe included (CI installs
 * `mesa-vulkan-drivers`): without an adapter they are ignored, and CI fails
 * on ignored tests.
 */
import { assert, assertClose, tf } from "../_helpers.ts";
import { selectBackend } from "../../lib/backends/select.ts";
import { ADAM_KERNEL } from "../../lib/backends/kernel_names.ts";
import { composedLossAndGrads, saeLossAndGrads } from "../../lib/sae/objective.ts";
import type { SaeActivation } from "../../lib/sae/arch/record.ts";
import { initParams, type SaeParams } from "../../lib/sae/params.ts";
import { normalizeDecoder, projectDecoderGrad } from "../../lib/sae/decoder.ts";
import { deviceErrors } from "../../lib/backends/webgpu/device.ts";

/** The errors reported by the device of tfjs's webgpu backend (none before the backend started). */
function webgpuDeviceErrors(): readonly string[] {
  const backend = tf.engine().registry.webgpu as { device?: GPUDevice } | undefined;
  return backend?.device === undefined ? [] : deviceErrors(backend.device);
}

const gpu = (globalThis.navigator as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
const adapter = gpu ? await gpu.requestAdapter().catch(() => null) : null;
const noAdapter = adapter ? undefined : "no WebGPU adapter (on Linux: apt-get install mesa-vulkan-drivers)";
if (noAdapter) console.warn(`webgpu kernel tests ignored: ${noAdapter}`);

type Scopes = {
  pushErrorScope(filter: string): void;
  popErrorScope(): Promise<{ message: string } | null>;
};

/**
 * Runs `fn` on a backend and returns host copies of its tensors; on `webgpu`, asserts that the device
 * reported no validation, internal or out-of-memory error meanwhile.
 */
async function on(backend: "cpu" | "webgpu", fn: () => tf.Tensor[]): Promise<Float32Array[]> {
  await selectBackend(backend);
  const device = backend === "webgpu" ? (tf.backend() as unknown as { device: Scopes }).device : undefined;
  const scopes = ["validation", "internal", "out-of-memory"];
  for (const scope of scopes) device?.pushErrorScope(scope);
  try {
    const out = tf.tidy(fn);
    const values = await Promise.all(out.map(async (t) => Float32Array.from(await t.data())));
    tf.dispose(out);
    return values;
  } finally {
    for (const scope of scopes.reverse()) {
      const error = await device?.popErrorScope();
      assert.equal(error ?? null, null, `the device reported a ${scope} error: ${error?.message}`);
    }
    await selectBackend("cpu");
  }
}

function test(name: string, fn: () => Promise<void>): void {
  Deno.test({
    name,
    ignore: noAdapter !== undefined,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      await fn();
      assert.deepEqual(
        webgpuDeviceErrors(),
        [],
        "errors the device reported outside the tests' error scopes",
      );
    },
  });
}

/** Asserts agreement within `rel` of the largest expected magnitude (at least 1). */
function assertNear(actual: Float32Array, expected: Float32Array, rel: number, what: string): void {
  const scale = expected.reduce((a, v) => Math.max(a, Math.abs(v)), 1);
  assertClose(actual, expected, rel * scale, what);
}

// ---------------------------------------------------------------------------------------------------------
// The tiled matrix product (BatchMatMul)
// ---------------------------------------------------------------------------------------------------------

test("matMul: saekit's tiled kernel matches cpu for every transpose, batched and broadcast", async () => {
  // [a shape, b shape, transposeA, transposeB]: sizes around the 64 × 64 tile and its 16-deep slices
  const cases: [number[], number[], boolean, boolean][] = [
    [[2, 3, 5], [2, 5, 7], false, false],
    [[2, 67, 33], [2, 33, 129], false, false],
    [[2, 33, 67], [2, 33, 129], true, false],
    [[2, 67, 33], [2, 129, 33], false, true],
    [[2, 33, 67], [2, 129, 33], true, true],
    [[1, 65, 17], [3, 17, 64], false, false],
    [[3, 64, 16], [1, 16, 80], false, false],
    [[256, 64], [64, 512], false, false],
    [[64, 256], [64, 512], true, false],
    [[1, 1], [1, 1], false, false],
  ];
  const run = () =>
    cases.map(([sa, sb, ta, tb], i) =>
      tf.matMul(
        tf.randomNormal(sa, 0, 1, "float32", 2 * i + 1) as tf.Tensor,
        tf.randomNormal(sb, 0, 1, "float32", 2 * i + 2) as tf.Tensor,
        ta,
        tb,
      )
    );
  const got = await on("webgpu", run);
  const want = await on("cpu", run);
  cases.forEach(([sa, sb, ta, tb], i) => {
    assert.equal(got[i].length, want[i].length, `case ${i}: output size`);
    assertNear(got[i], want[i], 1e-5, `matMul [${sa}]${ta ? "ᵀ" : ""} · [${sb}]${tb ? "ᵀ" : ""}`);
  });
});

test("matMul: hand-worked products (a 2 × 3 by 3 × 2, and its transposes)", async () => {
  // [[1, 2, 3], [4, 5, 6]] · [[7, 8], [9, 10], [11, 12]] = [[58, 64], [139, 154]]
  const [plain, both] = await on("webgpu", () => {
    const a = tf.tensor2d([[1, 2, 3], [4, 5, 6]]), b = tf.tensor2d([[7, 8], [9, 10], [11, 12]]);
    // (bᵀ)ᵀ·... : aᵀ stored as [3, 2], bᵀ stored as [2, 3]
    return [tf.matMul(a, b), tf.matMul(tf.transpose(a), tf.transpose(b), true, true)];
  });
  assert.deepEqual(Array.from(plain), [58, 64, 139, 154]);
  assert.deepEqual(Array.from(both), [58, 64, 139, 154]);
});

// ---------------------------------------------------------------------------------------------------------
// The fused SAE step (SAE_RELU_KERNEL)
// ---------------------------------------------------------------------------------------------------------

const OUTPUTS = [
  "f",
  "xHat",
  "l1",
  "l2",
  "total",
  "loss",
  "wEnc",
  "bEnc",
  "wDec",
  "bDec",
  "l0",
  "fired",
  "sst",
];

function outputsOf(r: ReturnType<typeof saeLossAndGrads>): tf.Tensor[] {
  return [
    r.forward.f,
    r.forward.xHat,
    r.terms.l1,
    r.terms.l2,
    r.terms.total,
    r.loss,
    r.grads.wEnc,
    r.grads.bEnc,
    r.grads.wDec,
    r.grads.bDec,
    r.stats.l0,
    tf.cast(r.stats.fired, "float32"),
    r.stats.sst,
  ];
}

/**
 * Small integers everywhere the encoder looks (x, wEnc, bEnc, bDec), so that every pre-activation is an
 * exact integer whatever the order of the sums: many ties, and rows with few positive values.
 */
function integerParams(c: number, n: number, m: number, seed: number): SaeParams {
  const int = (shape: number[], s: number) => tf.round(tf.randomUniform(shape, -2.5, 2.5, "float32", s));
  return {
    wEnc: int([c, n, m], seed) as tf.Tensor3D,
    bEnc: int([c, m], seed + 1) as tf.Tensor2D,
    wDec: tf.randomNormal([c, m, n], 0, 0.3, "float32", seed + 2) as tf.Tensor3D,
    bDec: int([c, n], seed + 3) as tf.Tensor2D,
  };
}

type StepCase = {
  readonly what: string;
  readonly c: number;
  readonly b: number;
  readonly n: number;
  readonly m: number;
  readonly activation: SaeActivation;
  readonly l1?: number;
  readonly integer?: boolean;
  /** Every feature the same encoder column: a row keeps all its features or none. */
  readonly allTied?: boolean;
};

function stepInputs(s: StepCase): { params: SaeParams; x: tf.Tensor3D } {
  let params = s.integer
    ? integerParams(s.c, s.n, s.m, 7)
    : initParams({ nComponents: s.c, dIn: s.n, dSae: s.m, seed: 5 });
  if (s.allTied) {
    params = {
      ...params,
      wEnc: tf.tile(tf.slice(params.wEnc, [0, 0, 0], [-1, -1, 1]), [1, 1, s.m]) as tf.Tensor3D,
      bEnc: tf.zerosLike(params.bEnc),
    };
  }
  const x =
    (s.integer
      ? tf.round(tf.randomUniform([s.c, s.b, s.n], -2.5, 2.5, "float32", 8))
      : tf.randomNormal([s.c, s.b, s.n], 0, 1, "float32", 6)) as tf.Tensor3D;
  return { params, x };
}

async function assertStepMatches(cases: readonly StepCase[]): Promise<void> {
  const run = (fused: boolean) => () =>
    cases.flatMap((s) => {
      const { params, x } = stepInputs(s);
      const l1 = s.l1 ?? 0.02;
      return outputsOf(
        fused
          ? saeLossAndGrads(params, x, l1, Infinity, s.activation)
          : composedLossAndGrads(params, x, l1, s.activation),
      );
    });
  const got = await on("webgpu", run(true));
  const want = await on("cpu", run(false));
  cases.forEach((s, k) =>
    OUTPUTS.forEach((name, i) => {
      const at = k * OUTPUTS.length + i;
      assert.equal(got[at].length, want[at].length, `${s.what}: ${name} size`);
      assertNear(got[at], want[at], 2e-5, `${s.what}: ${name}`);
    })
  );
}

test("fused ReLU step matches the composed maths: small, several components, and 256 × 64 → 512", async () => {
  await assertStepMatches([
    { what: "ReLU 2 × 37 × 6 → 70", c: 2, b: 37, n: 6, m: 70, activation: { kind: "relu" } },
    { what: "ReLU 3 × 300 × 12 → 40, λ 0", c: 3, b: 300, n: 12, m: 40, activation: { kind: "relu" }, l1: 0 },
    { what: "ReLU 1 × 256 × 64 → 512", c: 1, b: 256, n: 64, m: 512, activation: { kind: "relu" } },
    { what: "ReLU 1 × 1 × 1 → 1", c: 1, b: 1, n: 1, m: 1, activation: { kind: "relu" } },
  ]);
});

test("fused TopK step matches the composed maths: k = 1, k = dSae, ties, rows with fewer than k positives", async () => {
  await assertStepMatches([
    { what: "TopK k=5 2 × 37 × 6 → 70", c: 2, b: 37, n: 6, m: 70, activation: { kind: "topk", k: 5 } },
    { what: "TopK k=1", c: 2, b: 37, n: 6, m: 70, activation: { kind: "topk", k: 1 } },
    { what: "TopK k=dSae", c: 2, b: 37, n: 6, m: 70, activation: { kind: "topk", k: 70 } },
    {
      what: "TopK k=3, integer pre-activations (ties)",
      c: 2,
      b: 61,
      n: 5,
      m: 33,
      activation: { kind: "topk", k: 3 },
      integer: true,
    },
    {
      what: "TopK k=4, every feature tied",
      c: 2,
      b: 20,
      n: 5,
      m: 24,
      activation: { kind: "topk", k: 4 },
      allTied: true,
    },
    {
      what: "TopK k=8 with L1, 1 × 256 × 64 → 512",
      c: 1,
      b: 256,
      n: 64,
      m: 512,
      activation: { kind: "topk", k: 8 },
    },
  ]);
});

test("fused TopK keeps every value tied with the k-th largest (hand-worked row)", async () => {
  // One component, one row, dIn 1: x = [1], bDec = 0, bEnc = 0, wEnc = [3, -1, 2, 2, 0.5], so pre = wEnc.
  // k = 2: the 2nd largest is 2, tied at features 2 and 3: f = [3, 0, 2, 2, 0], l0 = 3, l1 = 7.
  const [f, l1, l0] = await on("webgpu", () => {
    const params = {
      wEnc: tf.tensor3d([[[3, -1, 2, 2, 0.5]]]),
      bEnc: tf.zeros([1, 5]) as tf.Tensor2D,
      wDec: tf.ones([1, 5, 1]) as tf.Tensor3D,
      bDec: tf.zeros([1, 1]) as tf.Tensor2D,
    };
    const r = saeLossAndGrads(params, tf.tensor3d([[[1]]]), 0, Infinity, { kind: "topk", k: 2 });
    return [r.forward.f, r.terms.l1, r.stats.l0];
  });
  assert.deepEqual(Array.from(f), [3, 0, 2, 2, 0]);
  assert.deepEqual([l1[0], l0[0]], [7, 3]);
});

test("fused step: keepRows returns the first rows of f, and an empty batch gives zero gradients", async () => {
  const s: StepCase = { what: "keep", c: 2, b: 50, n: 6, m: 20, activation: { kind: "topk", k: 3 } };
  const [few, all, ...empty] = await on("webgpu", () => {
    const { params, x } = stepInputs(s);
    const none = saeLossAndGrads(params, tf.zeros([2, 0, 6]) as tf.Tensor3D, 0.02);
    return [
      saeLossAndGrads(params, x, 0.02, 7, s.activation).forward.f,
      saeLossAndGrads(params, x, 0.02, Infinity, s.activation).forward.f,
      none.forward.xHat,
      none.grads.wEnc,
      none.grads.bDec,
      none.loss,
    ];
  });
  assert.equal(few.length, 2 * 7 * 20);
  for (let c = 0; c < 2; c++) {
    assert.deepEqual(
      Array.from(few.subarray(c * 140, (c + 1) * 140)),
      Array.from(all.subarray(c * 1000, c * 1000 + 140)),
    );
  }
  assert.equal(empty[0].length, 0);
  assert.ok(empty[1].length === 2 * 6 * 20 && empty[1].every((v) => v === 0));
  assert.ok(empty[2].length === 12 && empty[2].every((v) => v === 0));
  assert.ok(Number.isNaN(empty[3][0]), "the mean loss of no items is NaN, as the composed maths gives");
});

test("fused step: the same inputs give the same bits, and no tensor or GPU memory is left behind", async () => {
  await selectBackend("webgpu");
  try {
    const s: StepCase = { what: "", c: 2, b: 256, n: 32, m: 128, activation: { kind: "topk", k: 6 } };
    const { params, x } = stepInputs(s);
    const runs: Float32Array[][] = [];
    const tensors: number[] = [], bytes: number[] = [];
    for (let i = 0; i < 6; i++) {
      const out = tf.tidy(() =>
        outputsOf(saeLossAndGrads(params, x, 0.02, Infinity, i % 2 ? s.activation : undefined))
      );
      runs.push(await Promise.all(out.map(async (t) => Float32Array.from(await t.data()))));
      tf.dispose(out);
      tensors.push(tf.memory().numTensors);
      bytes.push((tf.memory() as { numBytesInGPU?: number }).numBytesInGPU ?? 0);
    }
    for (let i = 2; i < 6; i++) {
      runs[i].forEach((v, j) =>
        assert.deepEqual(v, runs[i - 2][j], `run ${i}: ${OUTPUTS[j]} differs from run ${i - 2}`)
      );
    }
    assert.deepEqual(tensors.slice(2), new Array(4).fill(tensors[1]), `live tensors: ${tensors}`);
    assert.deepEqual(bytes.slice(3), new Array(3).fill(bytes[2]), `bytes in GPU buffers: ${bytes}`);
    tf.dispose([x, ...Object.values(params)]);
  } finally {
    await selectBackend("cpu");
  }
});

// ---------------------------------------------------------------------------------------------------------
// Adam, the decoder constraint, the cast
// ---------------------------------------------------------------------------------------------------------

test("Adam's fused kernel matches the formula (float64 in JS) at 64 × 512", async () => {
  const shape = [64, 512], size = 64 * 512;
  const [b1, b2, eps] = [0.9, 0.999, 1e-8];
  const count = 7, c1 = 1 / (1 - b1 ** count), c2 = 1 / (1 - b2 ** count);
  const g = Float32Array.from({ length: size }, (_, i) => Math.sin(i * 0.37) * (i % 5));
  const mu = Float32Array.from({ length: size }, (_, i) => Math.cos(i * 0.11) * 0.1);
  const nu = Float32Array.from({ length: size }, (_, i) => (Math.sin(i * 0.05) * 0.2) ** 2);
  const [m2, v2, u] = await on(
    "webgpu",
    () =>
      tf.engine().runKernel(ADAM_KERNEL, {
        g: tf.tensor(g, shape),
        mu: tf.tensor(mu, shape),
        nu: tf.tensor(nu, shape),
      }, {
        b1,
        b2,
        eps,
        c1,
        c2,
      }) as tf.Tensor[],
  );
  for (let i = 0; i < size; i++) {
    const m = b1 * mu[i] + (1 - b1) * g[i], v = b2 * nu[i] + (1 - b2) * g[i] * g[i];
    const want = (c1 * m) / (Math.sqrt(c2 * v) + eps);
    assert.ok(
      Math.abs(m2[i] - m) <= 1e-6 * Math.max(1, Math.abs(m)),
      `mu[${i}]: expected ${m}, received ${m2[i]}`,
    );
    assert.ok(Math.abs(v2[i] - v) <= 1e-6 * Math.max(1, v), `nu[${i}]: expected ${v}, received ${v2[i]}`);
    assert.ok(
      Math.abs(u[i] - want) <= 2e-5 * Math.max(1, Math.abs(want)),
      `update[${i}]: expected ${want}, received ${u[i]}`,
    );
  }
});

test("decoder projection and normalisation match cpu (small and 512 × 64, a zero row stays zero)", async () => {
  const run = () => {
    const out: tf.Tensor[] = [];
    for (const [c, m, n] of [[2, 70, 6], [1, 512, 64]]) {
      const w = tf.randomNormal([c, m, n], 0, 1, "float32", m) as tf.Tensor3D;
      const g = tf.randomNormal([c, m, n], 0, 1, "float32", m + 1) as tf.Tensor3D;
      out.push(projectDecoderGrad(w, g), normalizeDecoder(w));
    }
    // a zero row: w / max(‖w‖, 1e-12) = 0
    out.push(normalizeDecoder(tf.tensor3d([[[0, 0, 0], [3, 0, 4]]])));
    return out;
  };
  const got = await on("webgpu", run), want = await on("cpu", run);
  want.forEach((w, i) => assertNear(got[i], w, 1e-5, `output ${i}`));
  assert.deepEqual(Array.from(got[4]).map((v) => Math.round(v * 1e6) / 1e6), [0, 0, 0, 0.6, 0, 0.8]);
});

test("cast to float32 of a GPU bool or int32 converts the values (tfjs's webgpu Cast gave zeros after a sum)", async () => {
  // x = sin(7.3 i), 180 values [2, 9, 10]: relu runs on the GPU, so the mask lives in a GPU buffer.
  const run = () => {
    const x = tf.tensor3d(Array.from({ length: 180 }, (_, i) => Math.sin(i * 7.3)), [2, 9, 10]);
    const mask = tf.greater(tf.relu(x), 0);
    const small = tf.tensor1d([1, 0, 1], "bool"); // still on the CPU
    return [
      tf.sum(tf.cast(mask, "float32"), 1),
      tf.cast(tf.sum(tf.cast(mask, "int32"), 1), "float32"),
      tf.cast(tf.cast(mask, "int32"), "float32"),
      tf.cast(small, "float32"),
      tf.cast(tf.tensor1d([-3, 7], "int32"), "float32"),
    ];
  };
  const got = await on("webgpu", run), want = await on("cpu", run);
  want.forEach((w, i) => assert.deepEqual(Array.from(got[i]), Array.from(w), `output ${i}`));
  // Hand-checked: the first column of component 0 counts the positive sin(7.3·(10j)), j < 9.
  const expected = [0, 10, 20, 30, 40, 50, 60, 70, 80].filter((i) => Math.sin(i * 7.3) > 0).length;
  assert.equal(got[0][0], expected);
  assert.deepEqual(Array.from(got[4]), [-3, 7]);
});

test("transpose of float32, int32 and bool tensors on the GPU matches cpu (tfjs's int transpose did not compile)", async () => {
  // 1,200 values: more than tfjs keeps on the CPU, so every input lives in a GPU buffer.
  const perms = [[1, 0], [0, 2, 1], [2, 1, 0], [1, 2, 0], [3, 1, 0, 2]];
  const shapes = [[40, 30], [10, 12, 10], [10, 12, 10], [10, 12, 10], [2, 5, 12, 10]];
  const run = () =>
    perms.flatMap((perm, i) => {
      const x = tf.add(tf.reshape(tf.range(0, 1200, 1, "float32"), shapes[i]), tf.scalar(-600));
      return [
        tf.transpose(x, perm),
        tf.cast(tf.transpose(tf.cast(x, "int32"), perm), "float32"),
        tf.cast(tf.transpose(tf.greater(x, 0), perm), "float32"),
      ];
    }).concat([
      // sums over a leading axis go through a transpose: int32 counts of a GPU mask
      tf.cast(
        tf.sum(tf.cast(tf.greater(tf.relu(tf.randomNormal([3, 500, 7], 0, 1, "float32", 3)), 0), "int32"), 1),
        "float32",
      ),
    ]);
  const got = await on("webgpu", run), want = await on("cpu", run);
  want.forEach((w, i) => assert.deepEqual(Array.from(got[i]), Array.from(w), `output ${i}`));
  // hand-checked: [40, 30] transposed, element [1, 0] is x[0, 1] = 1 − 600
  assert.equal(got[0][1 * 40 + 0], 1 - 600);
});

test("reductions, arg-max/min and cumulative sums of int32 and bool tensors on the GPU match cpu, any axis", async () => {
  // tfjs's versions transpose the input with its own int transpose (which does not compile under Deno)
  // whenever the axes are not the last ones; saekit's wrappers transpose first with saekit's kernel.
  const ints = () =>
    tf.cast(tf.add(tf.reshape(tf.range(0, 1200, 1, "float32"), [10, 12, 10]), -600), "int32");
  const bools = () => tf.greater(tf.sin(tf.reshape(tf.range(0, 1200, 1, "float32"), [10, 12, 10])), 0);
  const ops: ((x: tf.Tensor) => tf.Tensor)[] = [
    (x) => tf.sum(x, 1),
    (x) => tf.sum(x, [0, 2], true),
    (x) => tf.max(x, 1),
    (x) => tf.min(x, [0, 2], true),
    (x) => tf.mean(x, 0),
    (x) => tf.argMax(x, 1),
    (x) => tf.argMin(x, 0),
    (x) => tf.cumsum(x, 1),
    (x) => tf.cumsum(x, 0, true, true),
    (x) => tf.prod(tf.clipByValue(x, -1, 1), 1),
    (x) => tf.any(tf.cast(x, "bool"), 1),
    (x) => tf.all(tf.cast(x, "bool"), [0, 1]),
    (x) => tf.sum(x, -1),
  ];
  const run = () => [ints, bools].flatMap((make) => ops.map((op) => tf.cast(op(make()), "float32")));
  const got = await on("webgpu", run), want = await on("cpu", run);
  want.forEach((w, i) => {
    assert.equal(
      got[i].length,
      w.length,
      `op ${i % ops.length} (${i < ops.length ? "int32" : "bool"}): size`,
    );
    assertNear(got[i], w, 1e-6, `op ${i % ops.length} (${i < ops.length ? "int32" : "bool"})`);
  });
  // hand-checked: the sum over axis 1 of x[i, j, k] = 120 i + 10 j + k − 600 at i = k = 0 is 660 − 7200
  assert.equal(got[0][0], 10 * (0 + 11) * 6 - 12 * 600);
});

test("a fused step larger than the adapter's largest storage buffer is refused with the limit named", async () => {
  await selectBackend("webgpu");
  try {
    const limit =
      (tf.backend() as unknown as { device: GPUDevice }).device.limits.maxStorageBufferBindingSize;
    // f alone needs 4·B·dSae bytes: one row more than fits
    const m = 4096, b = Math.floor(limit / (4 * m)) + 1;
    const params = initParams({ nComponents: 1, dIn: 1, dSae: m, seed: 1 });
    const x = tf.zeros([1, b, 1]) as tf.Tensor3D;
    assert.throws(
      () => saeLossAndGrads(params, x, 0.01),
      (e: Error) =>
        e instanceof RangeError && e.message.includes(`maxStorageBufferBindingSize (${limit} bytes)`),
    );
    tf.dispose([x, ...Object.values(params)]);
  } finally {
    await selectBackend("cpu");
  }
});
