/**
 * The `blas` backend: BLAS loading and its fallback, and parity of every
 * kernel it replaces or adds with tfjs's own `cpu` backend. Skipped, with the
 * reason, where no BLAS is installed (`apt-get install libopenblas0-pthread`).
 */
import { assert, assertClose, tf } from "../_helpers.ts";
import { loadBlas } from "../../lib/backends/blas_ffi.ts";
import { topkWorkerReady } from "../../lib/backends/blas_backend.ts";
import { selectBackend } from "../../lib/backends/select.ts";
import { composedLossAndGrads, saeLossAndGrads } from "../../lib/sae/objective.ts";
import { RELU, type SaeActivation } from "../../lib/sae/forward.ts";
import { initParams, type SaeParams } from "../../lib/sae/params.ts";
import { normalizeDecoder, projectDecoderGrad } from "../../lib/sae/decoder.ts";
import { scaleByAdam } from "../../lib/optim/adam.ts";
import { parseConfig } from "../../lib/config.ts";
import { defaultPipeline } from "../../lib/train/pipeline.ts";
import { disposeReplaced } from "../../lib/run/dispose.ts";

const load = loadBlas();
const noBlas = "reason" in load ? load.reason : undefined;
if (noBlas) console.warn(`blas tests skipped: ${noBlas}`);

/** Runs `fn` on a backend and returns host copies of its tensors. */
async function on(backend: "cpu" | "blas", fn: () => tf.Tensor[]): Promise<Float32Array[]> {
  await selectBackend(backend);
  try {
    const out = tf.tidy(fn);
    const values = await Promise.all(out.map((t) => t.data() as Promise<Float32Array>));
    tf.dispose(out);
    return values;
  } finally {
    await selectBackend("cpu");
  }
}

function params(c: number, n: number, m: number, seed: number): SaeParams {
  return initParams({ nComponents: c, dIn: n, dSae: m, seed });
}

Deno.test("loadBlas() explains why when no library is found", () => {
  const missing = loadBlas(["libsaekit-no-such-blas.so"]);
  assert.ok("reason" in missing);
  assert.match(missing.reason, /no BLAS library found \(install OpenBLAS/);
});

Deno.test({
  name: "loadBlas() explains why when FFI is not permitted",
  permissions: { ffi: false, read: true, env: true, sys: true },
  fn() {
    const denied = loadBlas();
    assert.ok("reason" in denied);
    assert.match(denied.reason, /FFI is not permitted \(run Deno with --allow-ffi\)/);
  },
});

Deno.test("selectBackend() rejects an unknown name and says which backends 'auto' passed over", async () => {
  await assert.rejects(
    () => selectBackend("tpu" as "cpu"),
    /backend: expected one of auto, cpu, blas, wasm, webgpu, tensorflow, received "tpu"/,
  );
  const auto = await selectBackend("auto");
  assert.ok(["tensorflow", "webgpu", "blas", "wasm", "cpu"].includes(auto.name));
  for (const why of auto.skipped) assert.match(why, /^(tensorflow|webgpu|blas|wasm): /);
  await selectBackend("cpu");
});

Deno.test({
  name: "the fused SAE kernel matches the composed ops, over several row blocks and a remainder",
  ignore: noBlas !== undefined,
  async fn() {
    // 300 rows: one full block of 256 and a remainder of 44; two components.
    const run = (keep?: number, activation: SaeActivation = RELU) => () => {
      const p = params(2, 12, 40, 5);
      const x = tf.randomNormal([2, 300, 12], 0, 1, "float32", 6) as tf.Tensor3D;
      const r = keep === undefined
        ? composedLossAndGrads(p, x, 0.02, activation)
        : saeLossAndGrads(p, x, 0.02, keep, activation);
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
    };
    const expected = await on("cpu", run());
    const fused = await on("blas", run(300));
    const names = [
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
    names.forEach((name, i) =>
      assertClose(fused[i], expected[i], 2e-5 * Math.max(1, ...expected[i].map(Math.abs)), name)
    );
    // keepRows: only the first rows of f come back
    const few = await on(
      "blas",
      () => [
        saeLossAndGrads(
          params(2, 12, 40, 5),
          tf.randomNormal([2, 300, 12], 0, 1, "float32", 6) as tf.Tensor3D,
          0.02,
          3,
        ).forward.f,
      ],
    );
    assert.equal(few[0].length, 2 * 3 * 40);
    assertClose(few[0].subarray(0, 120), expected[0].subarray(0, 120), 1e-5, "f rows");
  },
});

/** Every output of `saeLossAndGrads` (fired as float32), in the kernel's order. */
function allOutputs(r: ReturnType<typeof saeLossAndGrads>): tf.Tensor[] {
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

const OUTPUT_NAMES = [
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

/**
 * Small integers everywhere the encoder looks (x, wEnc, bEnc, bDec), so that
 * every pre-activation is an exact integer whatever the order of the sums:
 * many ties, and rows with few positive values.
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

type TopkCase = {
  what: string;
  k: number;
  l1: number;
  integer: boolean;
  keep: number;
  n: number;
  m: number;
  /** Every feature the same encoder column: a row keeps all its features or none. */
  allTied?: boolean;
};

/** Rows of the TopK cases: a block of 512 and a remainder of 89 (the kernel's blocks), each split in two lanes. */
const ROWS = 601;

/** Outputs of `saeLossAndGrads` (fused) or of the composed ops for a TopK case: two components. */
const topkRun = ({ k, l1, integer, keep, n, m, allTied }: TopkCase, fused: boolean) => () => {
  const activation: SaeActivation = { kind: "topk", k };
  let p = integer ? integerParams(2, n, m, 7) : params(2, n, m, 5);
  if (allTied) {
    p = {
      ...p,
      wEnc: tf.tile(tf.slice(p.wEnc, [0, 0, 0], [-1, -1, 1]), [1, 1, m]),
      bEnc: tf.zerosLike(p.bEnc),
    };
  }
  const x =
    (integer
      ? tf.round(tf.randomUniform([2, ROWS, n], -2.5, 2.5, "float32", 8))
      : tf.randomNormal([2, ROWS, n], 0, 1, "float32", 6)) as tf.Tensor3D;
  const out = allOutputs(
    fused ? saeLossAndGrads(p, x, l1, keep, activation) : composedLossAndGrads(p, x, l1, activation),
  );
  if (!fused && keep < ROWS) out[0] = tf.slice(out[0], [0, 0, 0], [-1, keep, -1]);
  return out;
};

function assertTopkClose(fused: Float32Array[], expected: Float32Array[], what: string): void {
  OUTPUT_NAMES.forEach((name, i) =>
    assertClose(
      fused[i],
      expected[i],
      2e-5 * expected[i].reduce((a, v) => Math.max(a, Math.abs(v)), 1),
      `${what}: ${name}`,
    )
  );
}

Deno.test({
  name: "the fused TopK kernel matches the composed ops: ties, k = dSae, rows with fewer than k positives",
  ignore: noBlas !== undefined,
  async fn() {
    // dIn 37
    // takes every path of the SIMD loops (32 columns at a time, then 4, then 1).
    const cases: TopkCase[] = [
      { what: "random, k 5", k: 5, l1: 0, integer: false, keep: ROWS, n: 37, m: 40 },
      { what: "random, k 5, L1, keepRows 540", k: 5, l1: 0.02, integer: false, keep: 540, n: 12, m: 40 },
      { what: "integer ties, k 3", k: 3, l1: 0, integer: true, keep: ROWS, n: 37, m: 40 },
      { what: "integer ties, k 1", k: 1, l1: 0, integer: true, keep: ROWS, n: 12, m: 40 },
      {
        what: "all features tied, k 1 (the entry lists fill up and are emptied many times)",
        k: 1,
        l1: 0.01,
        integer: true,
        keep: 280,
        n: 37,
        m: 40,
        allTied: true,
      },
      {
        what: "integer, k 30 (rows with fewer than k positives)",
        k: 30,
        l1: 0,
        integer: true,
        keep: ROWS,
        n: 12,
        m: 40,
      },
      { what: "integer, k = dSae", k: 40, l1: 0.01, integer: true, keep: ROWS, n: 37, m: 40 },
      { what: "random, dSae 6 (fewer than 4k values)", k: 4, l1: 0, integer: false, keep: ROWS, n: 12, m: 6 },
      { what: "random, dSae 203, k 7", k: 7, l1: 0, integer: false, keep: ROWS, n: 64, m: 203 },
      { what: "integer ties, dSae 203, k 7", k: 7, l1: 0, integer: true, keep: ROWS, n: 12, m: 203 },
    ];
    for (const c of cases) {
      const expected = await on("cpu", topkRun(c, false));
      const fused = await on("blas", topkRun(c, true));
      const l0 = expected[10];
      // the cases do what they say: ties keep more than k, some rows have fewer than k positives
      if (c.what.includes("tie")) assert.ok(l0.some((v) => v > c.k), `${c.what}: no row with a tie`);
      if (c.what.includes("fewer")) assert.ok(l0.some((v) => v < c.k), `${c.what}: no row with fewer than k`);
      assertTopkClose(fused, expected, c.what);
    }
  },
});

Deno.test({
  name: "the fused TopK kernel gives the same results with its worker thread as without",
  ignore: noBlas !== undefined || navigator.hardwareConcurrency < 2,
  async fn() {
    const cases: TopkCase[] = [
      { what: "ties, k 2", k: 2, l1: 0.01, integer: true, keep: ROWS, n: 37, m: 203 },
      { what: "all tied, k 1", k: 1, l1: 0, integer: true, keep: ROWS, n: 48, m: 40, allTied: true },
    ];
    for (const c of cases) {
      const expected = await on("cpu", topkRun(c, false));
      // The first call makes the workspace, whose worker starts in the background; the kernel does not wait.
      const first = await on("blas", topkRun(c, true));
      for (let i = 0; i < 100 && !topkWorkerReady(); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(topkWorkerReady(), "the worker thread did not start within 5 s");
      const threaded = await on("blas", topkRun(c, true));
      assertTopkClose(threaded, expected, `${c.what}, with the worker`);
      // The lanes split the work by data, not by thread: the same numbers, bit for bit.
      threaded.forEach((t, i) =>
        assert.deepEqual(t, first[i], `${c.what}: ${OUTPUT_NAMES[i]} with and without`)
      );
    }
  },
});

Deno.test({
  name:
    "the blas backend reuses the arrays of disposed outputs, but never one that was read out or is shared",
  ignore: noBlas !== undefined,
  async fn() {
    await selectBackend("blas");
    try {
      const x = tf.randomNormal([512, 256], 0, 1, "float32", 9); // 131072 values: pooled sizes
      // read out, then disposed: the caller may still hold the array
      const a = tf.add(x, 1);
      const read = a.dataSync();
      const copy = read.slice();
      a.dispose();
      // shared: tfjs's Slice returns a view of its input's array
      const b = tf.add(x, 2);
      const view = tf.slice(b, [0, 0], [256, 256]);
      b.dispose();
      // freed and never read: reused by the next outputs of the same size
      const c = tf.add(x, 3);
      c.dispose();
      const outs = [tf.mul(x, 4), tf.sub(x, 5), tf.div(x, 6)];
      const same = (a: ArrayLike<number>, b: ArrayLike<number>) =>
        a.length === b.length && Array.prototype.every.call(a, (v: number, i: number) => v === b[i]);
      assert.ok(same(read, copy), "an array that was read out was reused");
      const xv = x.dataSync();
      const viewExpected = Float32Array.from(xv.subarray(0, 256 * 256), (v) => v + 2);
      assert.ok(same(view.dataSync(), viewExpected), "an array shared with a live slice was reused");
      assertClose(outs[0].dataSync(), xv.map((v) => v * 4), 1e-5, "mul");
      assertClose(outs[1].dataSync(), xv.map((v) => v - 5), 1e-5, "sub");
      assertClose(outs[2].dataSync(), xv.map((v) => v / 6), 1e-6, "div");
      tf.dispose([x, view, ...outs]);
    } finally {
      await selectBackend("cpu");
    }
  },
});

Deno.test({
  name: "the blas backend's matMul, binary ops, Adam and decoder kernels match tfjs's cpu kernels",
  ignore: noBlas !== undefined,
  async fn() {
    const run = () => {
      const a = tf.randomNormal([3, 5, 7], 0, 1, "float32", 1);
      const b = tf.randomNormal([3, 7, 4], 0, 1, "float32", 2);
      const b1 = tf.randomNormal([1, 4, 7], 0, 1, "float32", 3);
      const v = tf.randomNormal([3, 5, 4], 0, 1, "float32", 4);
      const w = tf.randomNormal([2, 6, 5], 0, 1, "float32", 5) as tf.Tensor3D;
      const g = tf.randomNormal([2, 6, 5], 0, 1, "float32", 6) as tf.Tensor3D;
      const adam = scaleByAdam({ b1: 0.9, b2: 0.99 });
      const state = { kind: "adam" as const, count: 3, mu: { g: tf.mul(g, 0.1) }, nu: { g: tf.square(g) } };
      const [updates, next] = adam.update({ g }, state, {});
      return [
        tf.matMul(a, b),
        tf.matMul(a, b1, false, true), // broadcast batch of 1, transposed
        tf.matMul(tf.transpose(a, [0, 2, 1]), b, true, false),
        tf.add(v, tf.scalar(2)),
        tf.sub(tf.scalar(1), v),
        tf.mul(v, v),
        tf.div(v, tf.add(tf.abs(v), 1)),
        tf.add(v, tf.ones([4])), // broadcast along the last axis
        tf.mul(tf.reshape(v, [3, 5, 1, 4]), tf.reshape(tf.range(0, 8), [2, 4])), // broadcast in the middle
        tf.sub(tf.reshape(tf.range(0, 6), [6, 1]), tf.reshape(tf.range(0, 5), [1, 5])),
        tf.softmax(tf.concat([v, tf.fill([3, 5, 3], -Infinity)], 2)), // rows with −∞ (causal masks)
        ...tf.split(a, [2, -1, 3], 2),
        tf.transpose(tf.reshape(a, [3, 5, 7, 1]), [2, 0, 3, 1]),
        updates.g,
        next.mu.g,
        next.nu.g,
        projectDecoderGrad(w, g),
        normalizeDecoder(w),
      ];
    };
    const expected = await on("cpu", run);
    const blas = await on("blas", run);
    expected.forEach((e, i) =>
      assertClose(blas[i], e, 1e-5 * Math.max(1, ...e.map(Math.abs)), `output ${i}`)
    );
  },
});

Deno.test({
  name: "training steps on the blas backend follow the cpu backend's",
  ignore: noBlas !== undefined,
  async fn() {
    const config = parseConfig({
      dIn: 8,
      nComponents: 2,
      batchSize: 64,
      storeSize: 64,
      steps: 10,
      l1Coefficient: 0.01,
      resampleInterval: 64 * 4,
      resampleCollate: 64 * 2,
      resampleDatasetSize: 64 * 2,
      maxResamples: 1,
    });
    const run = () => {
      const { init, step } = defaultPipeline(config);
      let s = init(config);
      for (let i = 0; i < 6; i++) {
        const x = tf.randomNormal([2, 64, 8], 0, 1, "float32", 100 + i) as tf.Tensor3D;
        const next = tf.tidy(() => step(s, { x }) as unknown as tf.TensorContainer) as unknown as typeof s;
        disposeReplaced(s, next);
        s = next;
      }
      return [s.params.wEnc, s.params.bEnc, s.params.wDec, s.params.bDec, s.metrics.lossSum];
    };
    const expected = await on("cpu", run);
    const blas = await on("blas", run);
    expected.forEach((e, i) => assertClose(blas[i], e, 1e-4, `tensor ${i}`));
  },
});
