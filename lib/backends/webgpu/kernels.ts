/**
 * saekit's kernels for tfjs's WebGPU backend, as tfjs kernel functions: the
 * fused SAE step of ReLU and TopK (`SAE_RELU_KERNEL`), Adam (`ADAM_KERNEL`),
 * the decoder's row projection and normalisation, the batched matrix product
 * (`BatchMatMul`) and the integer-to-float `Cast`. Each reads its inputs from
 * the backend's GPU buffers and writes new tensors of the backend, so
 * parameters and optimizer moments stay on the GPU between steps.
 *
 * Effectful (GPU).
 *
 * @module
 */
import type { tf } from "../../tf.ts";
import { SAE_RELU_KERNEL } from "../kernel_names.ts";
import {
  allocate,
  bufferOf,
  flushBackend,
  isWebgpuBackend,
  type Recording,
  runnerFor,
  type WebgpuBackendLike,
} from "./device.ts";
import {
  activateSource,
  adamSource,
  biasGradSource,
  centerSource,
  columnSource,
  intToFloatSource,
  maskGradSource,
  MATMUL_TILE,
  matmulSource,
  normalizeRowsSource,
  projectRowsSource,
  residualSource,
  segmentSumSource,
  TRANSPOSE_MAX_RANK,
  transposeSource,
} from "./wgsl.ts";

/** What tfjs passes a kernel function. */
export type KernelArgs = {
  readonly inputs: Readonly<Record<string, tf.TensorInfo>>;
  readonly backend: unknown;
  readonly attrs?: Readonly<Record<string, unknown>>;
};

function webgpuOf(args: KernelArgs, kernel: string): WebgpuBackendLike {
  if (!isWebgpuBackend(args.backend)) {
    throw new TypeError(`${kernel}: expected tfjs's webgpu backend, received ${String(args.backend)}`);
  }
  return args.backend;
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function expectFloat(kernel: string, name: string, t: tf.TensorInfo, shape?: readonly number[]): void {
  if (t.dtype !== "float32") {
    throw new TypeError(`${kernel}: ${name} expected float32, received ${t.dtype}`);
  }
  if (shape !== undefined && (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))) {
    throw new RangeError(
      `${kernel}: ${name} expected shape [${shape.join(", ")}], received [${t.shape.join(", ")}]`,
    );
  }
}

/**
 * Records `C[z] = op(A[z])·op(B[z]) (+ bias[z])` for `z < batch`
 * (see `matmulSource`); strides in values, 0 to repeat one matrix.
 *
 * @example A 2 × 2 product with a bias, where there is an adapter
 * ```ts
 * import assert from "node:assert/strict";
 * import { runnerFor } from "./device.ts";
 * import { recordMatmul } from "./kernels.ts";
 * const adapter = await navigator.gpu?.requestAdapter();
 * if (adapter) {
 *   const device = await adapter.requestDevice();
 *   const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
 *   const buffer = (values: number[]) => {
 *     const b = device.createBuffer({ size: values.length * 4, usage });
 *     device.queue.writeBuffer(b, 0, new Float32Array(values));
 *     return b;
 *   };
 *   // [[1, 2], [3, 4]] · [[5, 6], [7, 8]] + [10, 20] = [[29, 42], [53, 70]]
 *   const a = buffer([1, 2, 3, 4]), b = buffer([5, 6, 7, 8]), c = buffer([0, 0, 0, 0]), bias = buffer([10, 20]);
 *   const read = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
 *   const rec = runnerFor(device).record();
 *   recordMatmul(rec, { a, b, c, bias, m: 2, n: 2, k: 2, batch: 1, aStride: 0, bStride: 0, cStride: 0 });
 *   rec.copy(c, 0, read, 0, 4);
 *   rec.submit();
 *   await read.mapAsync(GPUMapMode.READ);
 *   assert.deepEqual([...new Float32Array(read.getMappedRange())], [29, 42, 53, 70]);
 *   device.destroy();
 * }
 * ```
 */
export function recordMatmul(
  rec: Recording,
  o: {
    a: GPUBuffer;
    b: GPUBuffer;
    c: GPUBuffer;
    bias?: GPUBuffer;
    m: number;
    n: number;
    k: number;
    batch: number;
    aStride: number;
    bStride: number;
    cStride: number;
    biasStride?: number;
    transposeA?: boolean;
    transposeB?: boolean;
  },
): void {
  const source = matmulSource({
    transposeA: o.transposeA === true,
    transposeB: o.transposeB === true,
    bias: o.bias !== undefined,
  });
  const buffers = o.bias === undefined ? [o.a, o.b, o.c] : [o.a, o.b, o.c, o.bias];
  rec.dispatch(
    source,
    {
      m: o.m,
      n: o.n,
      k: o.k,
      aStride: o.aStride,
      bStride: o.bStride,
      cStride: o.cStride,
      biasStride: o.biasStride ?? 0,
    },
    buffers,
    [Math.ceil(o.n / MATMUL_TILE), Math.ceil(o.m / MATMUL_TILE), o.batch],
  );
}

/** Outputs of an empty step (a batch of no rows, or no features): zeros, and a NaN loss as the mean of nothing. */
function emptyStep(
  backend: WebgpuBackendLike,
  c: number,
  B: number,
  n: number,
  m: number,
  keep: number,
): tf.TensorInfo[] {
  const zeros = (shape: number[], dtype: "float32" | "int32" = "float32") =>
    backend.makeTensorInfo(
      shape,
      dtype,
      dtype === "int32" ? new Int32Array(size(shape)) : new Float32Array(size(shape)),
    );
  return [
    zeros([c, keep, m]),
    zeros([c, B, n]),
    zeros([c, B]),
    zeros([c, B]),
    zeros([c, B]),
    backend.makeTensorInfo([], "float32", new Float32Array([NaN])),
    zeros([c, n, m]),
    zeros([c, m]),
    zeros([c, m, n]),
    zeros([c, n]),
    zeros([c, B]),
    zeros([c, m], "int32"),
    zeros([c]),
  ];
}

/**
 * The fused SAE step on the GPU (the contract of `SAE_RELU_KERNEL` in
 * `lib/backends/kernel_names.ts`; the maths of `lib/sae/objective.ts`), for
 * all components at once, in one submission of 15 dispatches:
 *
 * ```
 * x̄ = x − bDec;  pre = x̄·wEnc + bEnc;  f = ReLU(pre) or TopK(pre), l1, l0
 * x̂ = f·wDec + bDec;  ∂L/∂x̂ = (2s/n)(x̂ − x), l2, total
 * ∂L/∂pre = (∂L/∂x̂·wDecᵀ + s·λ) ⊙ [f > 0]
 * ∂L/∂wDec = fᵀ·∂L/∂x̂;  ∂L/∂wEnc = x̄ᵀ·∂L/∂pre;  ∂L/∂bEnc = Σ_b ∂L/∂pre
 * ∂L/∂bDec = Σ_b ∂L/∂x̂ − ∂L/∂bEnc·wEncᵀ;  fired = Σ_b [f > 0];  sst = Σ (x − mean_b x)²
 * ```
 *
 * with `s = 1/(C·B)`; `loss = Σ total / (C·B)`.
 *
 * @example Through tfjs, where there is an adapter
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../../tf.ts";
 * import { registerWebgpuKernels } from "./register.ts";
 * if (await navigator.gpu?.requestAdapter()) {
 *   await registerWebgpuKernels();
 *   await tf.setBackend("webgpu");
 *   // One feature, dIn 1: x = 3, wEnc = 2, bEnc = −1, wDec = 1, bDec = 0 → pre = 5, f = 5, x̂ = 5
 *   const [f, xHat, , l2] = tf.engine().runKernel("SaekitReluSaeLossAndGrads", {
 *     x: tf.tensor3d([[[3]]]),
 *     wEnc: tf.tensor3d([[[2]]]),
 *     bEnc: tf.tensor2d([[-1]]),
 *     wDec: tf.tensor3d([[[1]]]),
 *     bDec: tf.tensor2d([[0]]),
 *   }, { l1Coefficient: 0, keepRows: 1, k: 0 }) as tf.Tensor[];
 *   assert.deepEqual([...(await f.data()), ...(await xHat.data()), ...(await l2.data())], [5, 5, 4]);
 *   await tf.setBackend("cpu");
 * }
 * ```
 */
export function saeStep(args: KernelArgs): tf.TensorInfo[] {
  const kernel = SAE_RELU_KERNEL;
  const backend = webgpuOf(args, kernel);
  const { x, wEnc, bEnc, wDec, bDec } = args.inputs;
  const [c, B, n] = x.shape;
  const m = bEnc.shape[1];
  expectFloat(kernel, "x", x);
  expectFloat(kernel, "wEnc", wEnc, [c, n, m]);
  expectFloat(kernel, "bEnc", bEnc, [c, m]);
  expectFloat(kernel, "wDec", wDec, [c, m, n]);
  expectFloat(kernel, "bDec", bDec, [c, n]);
  const l1c = Number(args.attrs?.l1Coefficient ?? 0);
  const keep = Math.max(0, Math.min(B, Number(args.attrs?.keepRows ?? B)));
  const k = Number(args.attrs?.k ?? 0);
  if (!Number.isInteger(k) || k < 0 || k > m) {
    throw new RangeError(`${kernel}: k expected 0 (ReLU) or an integer in [1, ${m}] (dSae), received ${k}`);
  }
  if (c * B * n === 0 || m === 0) return emptyStep(backend, c, B, n, m, keep);
  if (c > 65_535 || n > 65_535) {
    throw new RangeError(`${kernel}: expected at most 65535 components and dIn, received ${c} and ${n}`);
  }

  const largest = 4 * Math.max(c * B * Math.max(n, m), c * n * m);
  const limit = backend.device.limits.maxStorageBufferBindingSize;
  if (largest > limit) {
    throw new RangeError(
      `${kernel}: expected buffers within this adapter's maxStorageBufferBindingSize (${limit} bytes), received a step of ${c} × ${B} × ${n} → ${m} that needs ${largest} bytes in one buffer (use a smaller batch or fewer components per run)`,
    );
  }
  const runner = runnerFor(backend.device);
  flushBackend(backend);
  const [bx, bwEnc, bbEnc, bwDec, bbDec] = [x, wEnc, bEnc, wDec, bDec].map((t) => bufferOf(backend, t));
  flushBackend(backend);
  const rows = c * B;
  const full = keep === B;
  const f = allocate(backend, [c, keep, m]);
  const xHat = allocate(backend, [c, B, n]);
  const l1 = allocate(backend, [c, B]), l2 = allocate(backend, [c, B]), total = allocate(backend, [c, B]);
  const loss = allocate(backend, []);
  const gwEnc = allocate(backend, [c, n, m]), gbEnc = allocate(backend, [c, m]);
  const gwDec = allocate(backend, [c, m, n]), gbDec = allocate(backend, [c, n]);
  const l0 = allocate(backend, [c, B]);
  const fired = allocate(backend, [c, m], "int32");
  const sst = allocate(backend, [c]);
  const [xBar, dX, dPre, sumDX, sstCol, fAll] = runner.workspace(
    `sae:${c}:${B}:${n}:${m}`,
    [rows * n, rows * n, rows * m, c * n, c * n, full ? 1 : rows * m],
  );
  const F = full ? f.buffer : fAll;
  const s = 1 / rows;

  const rec = runner.record();
  rec.elements(centerSource(), { total: rows * n, n, perComponent: B * n }, [bx, bbDec, xBar]);
  // pre = x̄·wEnc + bEnc, into F; then the activation in place
  recordMatmul(rec, {
    a: xBar,
    b: bwEnc,
    c: F,
    bias: bbEnc,
    m: B,
    n: m,
    k: n,
    batch: c,
    aStride: B * n,
    bStride: n * m,
    cStride: B * m,
    biasStride: m,
  });
  rec.rows(activateSource(), { rows, m, k }, [F, l1.buffer, l0.buffer]);
  // x̂ = f·wDec + bDec; ∂L/∂x̂, l2, total
  recordMatmul(rec, {
    a: F,
    b: bwDec,
    c: xHat.buffer,
    bias: bbDec,
    m: B,
    n,
    k: m,
    batch: c,
    aStride: B * m,
    bStride: m * n,
    cStride: B * n,
    biasStride: n,
  });
  rec.rows(residualSource(), { rows, n, errScale: (2 * s) / n, l1Coefficient: l1c }, [
    xHat.buffer,
    bx,
    dX,
    l1.buffer,
    l2.buffer,
    total.buffer,
  ]);
  // ∂L/∂pre = (∂L/∂x̂·wDecᵀ + s·λ) ⊙ [f > 0]
  recordMatmul(rec, {
    a: dX,
    b: bwDec,
    c: dPre,
    m: B,
    n: m,
    k: n,
    batch: c,
    aStride: B * n,
    bStride: m * n,
    cStride: B * m,
    transposeB: true,
  });
  rec.elements(maskGradSource(), { total: rows * m, add: s * l1c }, [F, dPre]);
  // ∂L/∂wDec = fᵀ·∂L/∂x̂; ∂L/∂wEnc = x̄ᵀ·∂L/∂pre
  recordMatmul(rec, {
    a: F,
    b: dX,
    c: gwDec.buffer,
    m,
    n,
    k: B,
    batch: c,
    aStride: B * m,
    bStride: B * n,
    cStride: m * n,
    transposeA: true,
  });
  recordMatmul(rec, {
    a: xBar,
    b: dPre,
    c: gwEnc.buffer,
    m: n,
    n: m,
    k: B,
    batch: c,
    aStride: B * n,
    bStride: B * m,
    cStride: n * m,
    transposeA: true,
  });
  // Sums over the batch
  const columns = (
    mode: "sum" | "countPositive" | "centeredSquares",
    src: GPUBuffer,
    out: GPUBuffer,
    cols: number,
  ) => rec.dispatch(columnSource(mode), { rows: B, cols }, [src, out], [Math.ceil(cols / 16), c, 1]);
  columns("sum", dPre, gbEnc.buffer, m);
  columns("countPositive", F, fired.buffer, m);
  columns("sum", dX, sumDX, n);
  columns("centeredSquares", bx, sstCol, n);
  rec.dispatch(biasGradSource(), { n, m }, [sumDX, gbEnc.buffer, bwEnc, gbDec.buffer], [n, c, 1]);
  rec.rows(segmentSumSource(), { rows: c, len: n, scale: 1 }, [sstCol, sst.buffer]);
  rec.rows(segmentSumSource(), { rows: 1, len: rows, scale: s }, [total.buffer, loss.buffer]);
  if (!full) {
    for (let i = 0; i < c; i++) rec.copy(F, i * B * m, f.buffer, i * keep * m, keep * m);
  }
  rec.submit();
  return [f, xHat, l1, l2, total, loss, gwEnc, gbEnc, gwDec, gbDec, l0, fired, sst].map((o) => o.info);
}

/**
 * One Adam update of one tensor (the contract of `ADAM_KERNEL`).
 *
 * @example Through tfjs, where there is an adapter
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../../tf.ts";
 * import { registerWebgpuKernels } from "./register.ts";
 * if (await navigator.gpu?.requestAdapter()) {
 *   await registerWebgpuKernels();
 *   await tf.setBackend("webgpu");
 *   // The first update (c1 = 1/(1 − β1), c2 = 1/(1 − β2), zero moments) is the sign of the gradient.
 *   const zeros = tf.zeros([2]);
 *   const [, , update] = tf.engine().runKernel("SaekitAdamMoments", { g: tf.tensor1d([3, -0.5]), mu: zeros, nu: zeros }, {
 *     b1: 0.9,
 *     b2: 0.999,
 *     eps: 1e-8,
 *     c1: 10,
 *     c2: 1000,
 *   }) as tf.Tensor[];
 *   const [a, b] = await update.data();
 *   assert.ok(Math.abs(a - 1) < 1e-5 && Math.abs(b + 1) < 1e-5);
 *   await tf.setBackend("cpu");
 * }
 * ```
 */
export function adamMoments(args: KernelArgs): tf.TensorInfo[] {
  const backend = webgpuOf(args, "ADAM_KERNEL");
  const { g, mu, nu } = args.inputs;
  for (const [name, t] of [["g", g], ["mu", mu], ["nu", nu]] as const) {
    expectFloat("ADAM_KERNEL", name, t, g.shape);
  }
  const { b1, b2, eps, c1, c2 } = args.attrs as Record<string, number>;
  const total = size(g.shape);
  if (total === 0) {
    return [0, 1, 2].map(() => backend.makeTensorInfo(g.shape, "float32", new Float32Array(0)));
  }
  const runner = runnerFor(backend.device);
  flushBackend(backend);
  const inputs = [g, mu, nu].map((t) => bufferOf(backend, t));
  flushBackend(backend);
  const outs = [0, 1, 2].map(() => allocate(backend, g.shape));
  const rec = runner.record();
  rec.elements(
    adamSource(),
    { total, b1, a1: 1 - b1, b2, a2: 1 - b2, eps, c1, c2 },
    [...inputs, ...outs.map((o) => o.buffer)],
  );
  rec.submit();
  return outs.map((o) => o.info);
}

/** A row kernel over the last axis of `w` (and `g`). */
function rowsKernel(
  args: KernelArgs,
  name: string,
  source: ReturnType<typeof projectRowsSource>,
  inputs: readonly tf.TensorInfo[],
): tf.TensorInfo {
  const backend = webgpuOf(args, name);
  const w = inputs[0];
  inputs.forEach((t, i) => expectFloat(name, i === 0 ? "w" : "g", t, w.shape));
  const cols = w.shape[w.shape.length - 1] ?? 1;
  const total = size(w.shape);
  if (total === 0) return backend.makeTensorInfo(w.shape, "float32", new Float32Array(0));
  const runner = runnerFor(backend.device);
  flushBackend(backend);
  const buffers = inputs.map((t) => bufferOf(backend, t));
  flushBackend(backend);
  const out = allocate(backend, w.shape);
  const rec = runner.record();
  rec.rows(source, { rows: total / cols, cols }, [...buffers, out.buffer]);
  rec.submit();
  return out.info;
}

/**
 * Rows of `g` projected off the rows of `w` (the contract of `PROJECT_ROWS_KERNEL`).
 *
 * @example Through tfjs, where there is an adapter
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../../tf.ts";
 * import { registerWebgpuKernels } from "./register.ts";
 * if (await navigator.gpu?.requestAdapter()) {
 *   await registerWebgpuKernels();
 *   await tf.setBackend("webgpu");
 *   const g = tf.engine().runKernel("SaekitProjectRows", { w: tf.tensor2d([[0, 2]]), g: tf.tensor2d([[1, 3]]) }) as tf.Tensor;
 *   assert.deepEqual([...(await g.data())], [1, 0]);
 *   await tf.setBackend("cpu");
 * }
 * ```
 */
export function projectRows(args: KernelArgs): tf.TensorInfo {
  return rowsKernel(args, "PROJECT_ROWS_KERNEL", projectRowsSource(), [args.inputs.w, args.inputs.g]);
}

/**
 * Rows of `w` at unit norm (the contract of `NORMALIZE_ROWS_KERNEL`).
 *
 * @example Through tfjs, where there is an adapter
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../../tf.ts";
 * import { registerWebgpuKernels } from "./register.ts";
 * if (await navigator.gpu?.requestAdapter()) {
 *   await registerWebgpuKernels();
 *   await tf.setBackend("webgpu");
 *   const w = tf.engine().runKernel("SaekitNormalizeRows", { w: tf.tensor2d([[3, 4], [0, 0]]) }) as tf.Tensor;
 *   assert.deepEqual([...(await w.data())].map((v) => Math.round(v * 1e6) / 1e6), [0.6, 0.8, 0, 0]);
 *   await tf.setBackend("cpu");
 * }
 * ```
 */
export function normalizeRows(args: KernelArgs): tf.TensorInfo {
  return rowsKernel(args, "NORMALIZE_ROWS_KERNEL", normalizeRowsSource(), [args.inputs.w]);
}

/**
 * `BatchMatMul` on saekit's tiled kernel: float32, batch dimensions equal
 * (or one side a single matrix); `undefined` for what it does not handle.
 *
 * @example Through tfjs, where there is an adapter
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../../tf.ts";
 * import { registerWebgpuKernels } from "./register.ts";
 * if (await navigator.gpu?.requestAdapter()) {
 *   await registerWebgpuKernels();
 *   await tf.setBackend("webgpu");
 *   const c = tf.matMul(tf.tensor2d([[1, 2, 3], [4, 5, 6]]), tf.tensor2d([[7, 8], [9, 10], [11, 12]]));
 *   assert.deepEqual([...(await c.data())], [58, 64, 139, 154]);
 *   await tf.setBackend("cpu");
 * }
 * ```
 */
export function batchMatMul(args: KernelArgs): tf.TensorInfo | undefined {
  const backend = webgpuOf(args, "BatchMatMul");
  const { a, b } = args.inputs;
  const transposeA = args.attrs?.transposeA === true, transposeB = args.attrs?.transposeB === true;
  if (a.dtype !== "float32" || b.dtype !== "float32" || a.shape.length < 2 || b.shape.length < 2) {
    return undefined;
  }
  const batchShapeA = a.shape.slice(0, -2), batchShapeB = b.shape.slice(0, -2);
  const batchA = size(batchShapeA), batchB = size(batchShapeB);
  const sameBatch = batchShapeA.length === batchShapeB.length &&
    batchShapeA.every((d, i) => d === batchShapeB[i]);
  if (!sameBatch && batchA !== 1 && batchB !== 1) return undefined;
  const [ar, ac] = a.shape.slice(-2), [br, bc] = b.shape.slice(-2);
  const m = transposeA ? ac : ar, k = transposeA ? ar : ac;
  const n = transposeB ? br : bc;
  if ((transposeB ? bc : br) !== k) {
    throw new RangeError(
      `matMul: inner dimensions must agree, received [${a.shape}] and [${b.shape}] (transposeA ${transposeA}, transposeB ${transposeB})`,
    );
  }
  const batch = Math.max(batchA, batchB);
  const outShape = [
    ...(batchA >= batchB && batchShapeA.length >= batchShapeB.length ? batchShapeA : batchShapeB),
    m,
    n,
  ];
  if (batch > 65_535) return undefined;
  if (batch * m * n === 0) {
    return backend.makeTensorInfo(outShape, "float32", new Float32Array(batch * m * n));
  }
  if (k === 0) return backend.makeTensorInfo(outShape, "float32", new Float32Array(batch * m * n));
  const runner = runnerFor(backend.device);
  flushBackend(backend);
  const ba = bufferOf(backend, a), bb = bufferOf(backend, b);
  flushBackend(backend);
  const out = allocate(backend, outShape);
  const rec = runner.record();
  recordMatmul(rec, {
    a: ba,
    b: bb,
    c: out.buffer,
    m,
    n,
    k,
    batch,
    aStride: batchA === 1 ? 0 : ar * ac,
    bStride: batchB === 1 ? 0 : br * bc,
    cStride: m * n,
    transposeA,
    transposeB,
  });
  rec.submit();
  return out.info;
}

/**
 * `Cast` from int32 or bool to float32 as a real conversion. tfjs's webgpu
 * `Cast` hands back the same 32-bit integer buffer labelled float32 (a cast
 * "without encoding loss"), and some of its kernels then read those bits as
 * floats: `tf.sum(tf.cast(mask, "float32"), 1)` of a mask computed on the
 * GPU gives zeros, an int32 sum of a cast float gives 1065353216 (the bits
 * of 1.0). `undefined` for the other casts, which tfjs's kernel handles.
 *
 * @example Through tfjs, where there is an adapter
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../../tf.ts";
 * import { registerWebgpuKernels } from "./register.ts";
 * if (await navigator.gpu?.requestAdapter()) {
 *   await registerWebgpuKernels();
 *   await tf.setBackend("webgpu");
 *   const x = tf.add(tf.range(0, 2000, 1, "float32"), -1000); // on the GPU
 *   const counts = tf.sum(tf.cast(tf.reshape(tf.greater(x, 0), [2, 1000]), "float32"), 1);
 *   assert.deepEqual([...(await counts.data())], [0, 999]);
 *   await tf.setBackend("cpu");
 * }
 * ```
 */
export function castToFloat(args: KernelArgs): tf.TensorInfo | undefined {
  const backend = webgpuOf(args, "Cast");
  const { x } = args.inputs;
  if (args.attrs?.dtype !== "float32" || (x.dtype !== "int32" && x.dtype !== "bool")) return undefined;
  const total = size(x.shape);
  const data = backend.tensorMap.get(x.dataId);
  if (data.values != null || total === 0) {
    // Still on the CPU: convert there.
    const values = (data.values ?? new Int32Array(0)) as ArrayLike<number>;
    return backend.makeTensorInfo(x.shape, "float32", Float32Array.from(values));
  }
  const runner = runnerFor(backend.device);
  flushBackend(backend);
  const bx = bufferOf(backend, x);
  const out = allocate(backend, x.shape);
  const rec = runner.record();
  rec.elements(intToFloatSource(), { total }, [bx, out.buffer]);
  rec.submit();
  return out.info;
}

/**
 * `Transpose` of 32-bit values (float32, int32, bool) as a copy of bits.
 * tfjs's webgpu `Transpose` of int32 or bool tensors is a shader that Deno's
 * WGSL compiler rejects (an argument of the wrong type), so its dispatch,
 * and every other dispatch submitted with it, never runs: `tf.sum(mask, 1)`
 * of an int32 mask gave zeros. `undefined` for other dtypes and for more than
 * {@linkcode TRANSPOSE_MAX_RANK} axes, which tfjs's kernel handles.
 *
 * @example Through tfjs, where there is an adapter
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../../tf.ts";
 * import { registerWebgpuKernels } from "./register.ts";
 * if (await navigator.gpu?.requestAdapter()) {
 *   await registerWebgpuKernels();
 *   await tf.setBackend("webgpu");
 *   const x = tf.cast(tf.reshape(tf.range(0, 1200, 1, "float32"), [10, 12, 10]), "int32");
 *   const t = tf.transpose(x, [2, 0, 1]);
 *   assert.equal((await t.data())[1], 10); // t[0, 0, 1] = x[0, 1, 0] = 120·0 + 10·1 + 0
 *   await tf.setBackend("cpu");
 * }
 * ```
 */
export function transpose(args: KernelArgs): tf.TensorInfo | undefined {
  const backend = webgpuOf(args, "Transpose");
  const { x } = args.inputs;
  const perm = (args.attrs?.perm as number[] | undefined) ?? x.shape.map((_, i) => x.shape.length - 1 - i);
  const rank = x.shape.length;
  if (!["float32", "int32", "bool"].includes(x.dtype) || rank > TRANSPOSE_MAX_RANK) return undefined;
  if (perm.length !== rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    throw new RangeError(`transpose: perm expected a permutation of 0..${rank - 1}, received [${perm}]`);
  }
  const shape = perm.map((p) => x.shape[p]);
  const total = size(x.shape);
  if (total === 0) {
    return backend.makeTensorInfo(
      shape,
      x.dtype,
      x.dtype === "float32" ? new Float32Array(0) : new Int32Array(0),
    );
  }
  const inStrides = new Array(rank).fill(1);
  for (let a = rank - 2; a >= 0; a--) inStrides[a] = inStrides[a + 1] * x.shape[a + 1];
  const params: Record<string, number> = { total };
  const pad = TRANSPOSE_MAX_RANK - rank;
  for (let a = 0; a < TRANSPOSE_MAX_RANK; a++) {
    params[`d${a}`] = a < pad ? 1 : shape[a - pad];
    params[`s${a}`] = a < pad ? 0 : inStrides[perm[a - pad]];
  }
  const runner = runnerFor(backend.device);
  flushBackend(backend);
  const bx = bufferOf(backend, x);
  flushBackend(backend);
  const info = backend.makeTensorInfo(shape, x.dtype);
  const out = bufferOf(backend, info);
  const rec = runner.record();
  rec.elements(transposeSource(), params, [bx, out]);
  rec.submit();
  return info;
}

/** How a kernel that {@linkcode withIntAxesLast} wraps uses its `axis` attribute. */
export type AxisKernelKind = "reduce" | "arg" | "cumulative";

/**
 * Wraps a tfjs kernel that transposes its input internally (reductions,
 * `ArgMax`/`ArgMin`, `Cumsum`/`Cumprod`) so that, for int32 and bool inputs,
 * the transpose is saekit's ({@linkcode transpose}): the input goes in with
 * its axes already last, and the result comes back in the order (and, for
 * `keepDims`, the shape) the caller asked for. tfjs's own int transpose does
 * not compile under Deno, so `tf.sum(mask, 1)` of an int32 or bool mask gave
 * zeros; float32 inputs go straight to tfjs's kernel.
 *
 * @example Through tfjs (Sum over the first axis), where there is an adapter
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../../tf.ts";
 * import { registerWebgpuKernels } from "./register.ts";
 * if (await navigator.gpu?.requestAdapter()) {
 *   await registerWebgpuKernels();
 *   await tf.setBackend("webgpu");
 *   const mask = tf.greater(tf.reshape(tf.range(0, 2000, 1, "float32"), [2, 1000]), 1499);
 *   assert.deepEqual([...(await tf.sum(tf.cast(mask, "int32"), 0).data())].slice(498, 502), [0, 0, 1, 1]);
 *   await tf.setBackend("cpu");
 * }
 * ```
 */
export function withIntAxesLast(
  kind: AxisKernelKind,
  original: (args: KernelArgs) => unknown,
): (args: KernelArgs) => unknown {
  return (args) => {
    const { x } = args.inputs;
    if (x === undefined || (x.dtype !== "int32" && x.dtype !== "bool")) return original(args);
    const backend = webgpuOf(args, "axis kernel");
    const rank = x.shape.length;
    // Max and Min name their axes `reductionIndices`, the others `axis`.
    const key = args.attrs !== undefined && "reductionIndices" in args.attrs ? "reductionIndices" : "axis";
    const raw = args.attrs?.[key];
    const list = raw === undefined || raw === null
      ? Array.from({ length: rank }, (_, a) => a)
      : (Array.isArray(raw) ? raw : [raw]).map(Number);
    const axes = [...new Set(list.map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
    if (axes.every((a, i) => a === rank - axes.length + i)) return original(args);
    const perm = [...Array.from({ length: rank }, (_, a) => a).filter((a) => !axes.includes(a)), ...axes];
    const moved = transpose({ inputs: { x }, backend, attrs: { perm } });
    if (moved === undefined) return original(args);
    const last = axes.map((_, i) => rank - axes.length + i);
    try {
      const inputs = { ...args.inputs, x: moved };
      if (kind === "reduce") {
        const out = original({
          inputs,
          backend,
          attrs: { ...args.attrs, [key]: last, keepDims: false },
        }) as tf.TensorInfo;
        if (args.attrs?.keepDims !== true) return out;
        return { ...out, shape: x.shape.map((d, a) => (axes.includes(a) ? 1 : d)) };
      }
      if (kind === "arg") return original({ inputs, backend, attrs: { ...args.attrs, [key]: rank - 1 } });
      const out = original({ inputs, backend, attrs: { ...args.attrs, [key]: rank - 1 } }) as tf.TensorInfo;
      const back = perm.map((_, a) => perm.indexOf(a));
      const result = transpose({ inputs: { x: out }, backend, attrs: { perm: back } }) ?? out;
      if (result !== out) {
        (backend as unknown as { disposeData(id: tf.DataId): void }).disposeData(out.dataId);
      }
      return result;
    } finally {
      (backend as unknown as { disposeData(id: tf.DataId): void }).disposeData(moved.dataId);
    }
  };
}
