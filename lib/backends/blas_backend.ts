/**
 * The `blas` backend: tfjs's pure-JS `cpu` backend with its matrix products
 * sent to a system BLAS through FFI, and fused kernels for the SAE step and
 * Adam, so that a training step makes a handful of passes over memory
 * instead of dozens.
 *
 * Effectful (FFI); loaded by `selectBackend("blas")` or `"auto"`.
 *
 * @module
 */
import { tf } from "../tf.ts";
import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import type { Blas } from "./blas_ffi.ts";
import {
  type SaeBlockWorkspace,
  saeBlockWorkspace,
  setTopkWorkerEnabled,
  softmaxRows,
  type SparseStepSizes,
} from "./sae_wasm.ts";
import {
  ADAM_KERNEL,
  NORMALIZE_ROWS_KERNEL,
  PROJECT_ROWS_KERNEL,
  SAE_AUXK_KERNEL,
  SAE_BATCHTOPK_KERNEL,
  SAE_GATED_KERNEL,
  SAE_JUMPRELU_KERNEL,
  SAE_RELU_APRIL_KERNEL,
  SAE_RELU_KERNEL,
} from "./kernel_names.ts";
import { type BatchTopkAttrs, batchTopkLossAndGrads } from "./batchtopk_kernel.ts";
import { jumpReluLossAndGrads, reluAprilLossAndGrads } from "./jumprelu_kernel.ts";
import { gatedLossAndGrads } from "./gated_kernel.ts";
import { auxkLossAndGrads } from "./auxk_kernel.ts";
import { registerModelKernels } from "./blas_model_kernels.ts";

/** The name the backend is registered under. */
export const BLAS_BACKEND = "blas";

type KernelArgs = {
  inputs: Record<string, tf.TensorInfo>;
  backend: unknown;
  attrs?: Record<string, unknown>;
};

/** Arrays at least this long (256 KiB) are taken from and returned to the backend's pool. */
const POOL_MIN_LENGTH = 1 << 16;
/** The most bytes the pool keeps. */
const POOL_MAX_BYTES = 512 * 2 ** 20;

/**
 * tfjs's CPU backend with a pool of the large float32 arrays that this
 * backend's kernels allocate: a fresh array of megabytes costs a page fault
 * per 4 KiB on its first write (about three times the cost of filling warm
 * memory), and a training step allocates dozens of them. When a tensor whose
 * values came from the pool is disposed, and no other tensor shares its
 * buffer (tfjs's `Slice` shares with `subarray`), the array goes back to the
 * pool. An array that was ever read out (`dataSync`, `data`, `bufferSync`)
 * may be held by the caller and is never reused.
 */
class PooledBackend extends MathBackendCPU {
  private readonly free = new Map<number, Float32Array[]>();
  private freeBytes = 0;
  /** Pool arrays by buffer, with the number of live tensors whose values lie in that buffer. */
  private readonly owned = new WeakMap<ArrayBufferLike, { array: Float32Array; holders: number }>();
  private readonly escaped = new WeakSet<ArrayBufferLike>();

  /** A float32 array of `length` values with undefined contents (zeroed when `zero`). */
  alloc(length: number, zero = false): Float32Array {
    if (length < POOL_MIN_LENGTH) return new Float32Array(length);
    const array = this.free.get(length)?.pop();
    if (array === undefined) {
      const fresh = new Float32Array(length);
      this.owned.set(fresh.buffer, { array: fresh, holders: 0 });
      return fresh;
    }
    this.freeBytes -= array.byteLength;
    if (zero) array.fill(0);
    return array;
  }

  private hold(values: unknown): void {
    if (ArrayBuffer.isView(values)) {
      const entry = this.owned.get(values.buffer);
      if (entry !== undefined) entry.holders++;
    }
  }

  override write(values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType): tf.DataId {
    this.hold(values);
    return super.write(values, shape, dtype);
  }

  override move(
    dataId: tf.DataId,
    values: tf.backend_util.BackendValues,
    shape: number[],
    dtype: tf.DataType,
    refCount: number,
  ): void {
    this.hold(values);
    super.move(dataId, values, shape, dtype, refCount);
  }

  override readSync(dataId: tf.DataId): tf.backend_util.BackendValues {
    const values = this.data.get(dataId)?.values;
    if (ArrayBuffer.isView(values)) this.escaped.add(values.buffer);
    return super.readSync(dataId);
  }

  override disposeData(dataId: tf.DataId, force = false): boolean {
    const values = this.data.get(dataId)?.values;
    const released = super.disposeData(dataId, force);
    if (!released || !ArrayBuffer.isView(values) || this.data.has(dataId)) return released;
    const entry = this.owned.get(values.buffer);
    if (entry === undefined || --entry.holders > 0 || this.escaped.has(values.buffer)) return released;
    const array = entry.array;
    if (this.freeBytes + array.byteLength > POOL_MAX_BYTES) return released;
    const list = this.free.get(array.length) ?? [];
    list.push(array);
    this.free.set(array.length, list);
    this.freeBytes += array.byteLength;
    return released;
  }
}

/** A float32 output array: from the pool of a pooled backend, else new (zeroed either way when `zero`). */
function output(backend: MathBackendCPU, length: number, zero = false): Float32Array {
  return backend instanceof PooledBackend ? backend.alloc(length, zero) : new Float32Array(length);
}

function valuesOf(backend: MathBackendCPU, t: tf.TensorInfo): Float32Array {
  return backend.data.get(t.dataId).values as Float32Array;
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** A BatchMatMul kernel on the BLAS, falling back to tfjs's for shapes it does not handle. */
function batchMatMul(blas: Blas, fallback: tf.KernelFunc) {
  return (args: KernelArgs): tf.TensorInfo => {
    const backend = args.backend as MathBackendCPU;
    const { a, b } = args.inputs;
    const transposeA = args.attrs?.transposeA === true;
    const transposeB = args.attrs?.transposeB === true;
    const batchA = size(a.shape.slice(0, -2));
    const batchB = size(b.shape.slice(0, -2));
    if (a.dtype !== "float32" || b.dtype !== "float32" || a.shape.length !== b.shape.length) {
      return fallback(args as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
    }
    if (batchA !== batchB && batchA !== 1 && batchB !== 1) {
      return fallback(args as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
    }
    const [ar, ac] = a.shape.slice(-2);
    const [br, bc] = b.shape.slice(-2);
    const m = transposeA ? ac : ar;
    const k = transposeA ? ar : ac;
    const n = transposeB ? br : bc;
    if ((transposeB ? bc : br) !== k) {
      throw new RangeError(
        `matMul: inner dimensions must agree, received [${a.shape}] and [${b.shape}] (transposeA ${transposeA}, transposeB ${transposeB})`,
      );
    }
    const batch = Math.max(batchA, batchB);
    const outBatchShape = (batchA >= batchB ? a : b).shape.slice(0, -2);
    const out = output(backend, batch * m * n, k === 0);
    const av = valuesOf(backend, a), bv = valuesOf(backend, b);
    if (m > 0 && n > 0 && k > 0) {
      for (let i = 0; i < batch; i++) {
        const aOff = batchA === 1 ? 0 : i * ar * ac;
        const bOff = batchB === 1 ? 0 : i * br * bc;
        blas.sgemm(
          transposeA,
          transposeB,
          m,
          n,
          k,
          1,
          av.subarray(aOff, aOff + ar * ac),
          ac,
          bv.subarray(bOff, bOff + br * bc),
          bc,
          0,
          out.subarray(i * m * n, (i + 1) * m * n),
          n,
        );
      }
    }
    return backend.makeTensorInfo([...outBatchShape, m, n], "float32", out);
  };
}

/** Rows per block of the fused SAE step: a block's activations stay in cache between products. */
export const SAE_BLOCK_ROWS = 256;
/**
 * Rows per block of the TopK step: only the encoder product is done by blocks (the rows' lists of active
 * features are kept for the whole batch), and the BLAS runs a little faster on taller blocks.
 */
export const TOPK_BLOCK_ROWS = 512;

const workspaces = new Map<string, SaeBlockWorkspace>();

function workspaceFor(rows: number, dIn: number, dSae: number, sparse?: SparseStepSizes): SaeBlockWorkspace {
  const key = sparse === undefined
    ? `${rows}:${dIn}:${dSae}`
    : [rows, dIn, dSae, sparse.batch, sparse.k, sparse.prefixes ?? 1, sparse.batchTopk === true].join(":") +
      `:${sparse.batchTopk === true || sparse.keepPre === true}`;
  let ws = workspaces.get(key);
  if (ws === undefined) {
    // One workspace is enough: steps run one at a time.
    for (const old of workspaces.values()) old.topk?.dispose();
    workspaces.clear();
    ws = saeBlockWorkspace(rows, dIn, dSae, sparse);
    workspaces.set(key, ws);
  }
  return ws;
}

/**
 * The inputs whose encoder products `x̄ · wEnc` the workspace's `preAll` holds (those of the last component),
 * as the last fused TopK or BatchTopK step left them, for AuxK right after it; `undefined` once anything
 * else has written there.
 */
let cachedPre:
  | {
    readonly ws: SaeBlockWorkspace;
    readonly ids: readonly unknown[];
    readonly component: number;
  }
  | undefined;

/** The data of a step's inputs that its encoder products depend on. */
function preIds(inputs: Record<string, tf.TensorInfo>): unknown[] {
  return ["x", "wEnc", "bEnc", "bDec"].map((name) => inputs[name].dataId);
}

/** Whether AuxK has run: from then on, TopK steps keep the batch's encoder products for it. */
let auxkUsed = false;

/**
 * Whether the TopK step's workspace (the last one made) has a worker thread
 * running, for tests and diagnostics: the worker starts in the background
 * when the workspace is made, and the kernel does its work alone until then
 * (and while {@linkcode setTopkWorkerEnabled} has turned it off).
 */
export function topkWorkerReady(): boolean {
  for (const ws of workspaces.values()) if (ws.topk?.threaded) return true;
  return false;
}

// The switch of the TopK step's worker thread lives with the workspaces; tests reach it from here.
export { setTopkWorkerEnabled };

/** The fused SAE kernel's outputs as tensors, in the order {@linkcode SAE_RELU_KERNEL} documents. */
function saeKernelOutputs(
  backend: MathBackendCPU,
  { c, B, n, m, keep }: { c: number; B: number; n: number; m: number; keep: number },
  out: {
    f: Float32Array;
    xHat: Float32Array;
    l1: Float32Array;
    l2: Float32Array;
    total: Float32Array;
    loss: Float32Array;
    gwEnc: Float32Array;
    gbEnc: Float32Array;
    gwDec: Float32Array;
    gbDec: Float32Array;
    l0: Float32Array;
    fired: Int32Array;
    sst: Float32Array;
  },
): tf.TensorInfo[] {
  const { f, xHat, l1, l2, total, loss, gwEnc, gbEnc, gwDec, gbDec, l0, fired, sst } = out;
  return [
    backend.makeTensorInfo([c, keep, m], "float32", f),
    backend.makeTensorInfo([c, B, n], "float32", xHat),
    backend.makeTensorInfo([c, B], "float32", l1),
    backend.makeTensorInfo([c, B], "float32", l2),
    backend.makeTensorInfo([c, B], "float32", total),
    backend.makeTensorInfo([], "float32", loss),
    backend.makeTensorInfo([c, n, m], "float32", gwEnc),
    backend.makeTensorInfo([c, m], "float32", gbEnc),
    backend.makeTensorInfo([c, m, n], "float32", gwDec),
    backend.makeTensorInfo([c, n], "float32", gbDec),
    backend.makeTensorInfo([c, B], "float32", l0),
    backend.makeTensorInfo([c, m], "int32", fired),
    backend.makeTensorInfo([c], "float32", sst),
  ];
}

/**
 * The fused SAE step (see `SAE_RELU_KERNEL` in `lib/backends/kernel_names.ts` for the
 * contract and the maths). For each component and each block of rows: five
 * BLAS products and four SIMD passes, all on the block's workspace; the
 * weight gradients accumulate over blocks. TopK goes to `topkLossAndGrads`.
 */
function saeReluLossAndGrads(blas: Blas) {
  return (args: KernelArgs): tf.TensorInfo[] => {
    const backend = args.backend as MathBackendCPU;
    const { x, wEnc, bEnc, wDec, bDec } = args.inputs;
    const l1c = Number(args.attrs?.l1Coefficient ?? 0);
    const [c, B, n] = x.shape;
    const keep = Math.min(B, Number(args.attrs?.keepRows ?? B));
    const topK = Number(args.attrs?.k ?? 0);
    const m = bEnc.shape[1];
    const xv = valuesOf(backend, x), wEv = valuesOf(backend, wEnc), bEv = valuesOf(backend, bEnc);
    const wDv = valuesOf(backend, wDec), bDv = valuesOf(backend, bDec);
    const s = 1 / (c * B);
    const errScale = (2 * s) / n;
    const sl1 = s * l1c;
    const R = Math.min(topK > 0 ? TOPK_BLOCK_ROWS : SAE_BLOCK_ROWS, B);
    const ws = workspaceFor(R, n, m, topK > 0 ? { batch: B, k: topK, keepPre: auxkUsed } : undefined);
    if (topK > 0) {
      cachedPre = undefined;
      const out = topkLossAndGrads(blas, backend, args, ws);
      if (ws.topk?.preAll !== undefined && c > 0) {
        cachedPre = { ws, ids: preIds(args.inputs), component: c - 1 };
      }
      return out;
    }
    const f = output(backend, c * keep * m);
    const xHat = output(backend, c * B * n);
    const l1 = new Float32Array(c * B), l2 = new Float32Array(c * B), total = new Float32Array(c * B);
    const l0 = new Float32Array(c * B);
    const gwEnc = output(backend, c * n * m, B === 0), gbEnc = new Float32Array(c * m);
    const gwDec = output(backend, c * m * n, B === 0), gbDec = new Float32Array(c * n);
    const fired = new Int32Array(c * m);
    const sst = new Float32Array(c);
    const sumX = new Float64Array(n), sqX = new Float64Array(n), sumDX = new Float64Array(n);
    const sumDPre = new Float64Array(m);
    let lossSum = 0;
    for (let k = 0; k < c; k++) {
      const xk = xv.subarray(k * B * n, (k + 1) * B * n);
      const wEk = wEv.subarray(k * n * m, (k + 1) * n * m);
      const wDk = wDv.subarray(k * m * n, (k + 1) * m * n);
      const gwEk = gwEnc.subarray(k * n * m, (k + 1) * n * m);
      const gwDk = gwDec.subarray(k * m * n, (k + 1) * m * n);
      ws.bEnc.set(bEv.subarray(k * m, (k + 1) * m));
      ws.bDec.set(bDv.subarray(k * n, (k + 1) * n));
      ws.fired.fill(0);
      sumX.fill(0);
      sqX.fill(0);
      sumDX.fill(0);
      sumDPre.fill(0);
      for (let r0 = 0; r0 < B; r0 += R) {
        const rows = Math.min(R, B - r0);
        const first = r0 === 0 ? 0 : 1; // β of the accumulating products
        ws.x.set(xk.subarray(r0 * n, (r0 + rows) * n));
        ws.colSumX.fill(0);
        ws.colSqX.fill(0);
        ws.center(rows);
        // f = ReLU(x̄ · wEnc + bEnc)
        blas.sgemm(false, false, rows, m, n, 1, ws.xBar, n, wEk, m, 0, ws.f, m);
        ws.reluBias(rows);
        if (r0 < keep) f.set(ws.f.subarray(0, Math.min(rows, keep - r0) * m), (k * keep + r0) * m);
        // x̂ = f · wDec + bDec; ∂L/∂x̂ = (2s/n)(x̂ − x)
        blas.sgemm(false, false, rows, n, m, 1, ws.f, m, wDk, n, 0, ws.xHat, n);
        ws.colSumDX.fill(0);
        ws.reconstructionGrad(rows, errScale);
        xHat.set(ws.xHat.subarray(0, rows * n), (k * B + r0) * n);
        ws.colSumDPre.fill(0);
        // ∂L/∂pre = (∂L/∂x̂ · wDecᵀ + s·l1) ⊙ [f > 0]
        blas.sgemm(false, true, rows, m, n, 1, ws.dX, n, wDk, n, 0, ws.dPre, m);
        ws.reluGrad(rows, sl1);
        // ∂L/∂wDec += fᵀ · ∂L/∂x̂; ∂L/∂wEnc += x̄ᵀ · ∂L/∂pre
        blas.sgemm(true, false, m, n, rows, 1, ws.f, m, ws.dX, n, first, gwDk, n);
        blas.sgemm(true, false, n, m, rows, 1, ws.xBar, n, ws.dPre, m, first, gwEk, m);
        for (let i = 0; i < n; i++) {
          sumX[i] += ws.colSumX[i];
          sqX[i] += ws.colSqX[i];
          sumDX[i] += ws.colSumDX[i];
        }
        for (let j = 0; j < m; j++) sumDPre[j] += ws.colSumDPre[j];
        for (let r = 0; r < rows; r++) {
          const item = k * B + r0 + r;
          l1[item] = ws.l1[r];
          l0[item] = ws.l0[r];
          l2[item] = ws.l2[r];
          total[item] = l1c * ws.l1[r] + ws.l2[r];
          lossSum += total[item];
        }
      }
      fired.set(ws.fired, k * m);
      let sq = 0;
      for (let i = 0; i < n; i++) sq += sqX[i] - (sumX[i] * sumX[i]) / B;
      sst[k] = Math.max(sq, 0);
      const gbEk = gbEnc.subarray(k * m, (k + 1) * m);
      for (let j = 0; j < m; j++) gbEk[j] = sumDPre[j];
      // ∂L/∂bDec = Σ_b ∂L/∂x̂ − (∂L/∂bEnc) · wEncᵀ
      const gbDk = gbDec.subarray(k * n, (k + 1) * n);
      blas.sgemm(false, true, 1, n, m, -1, gbEk, m, wEk, m, 0, gbDk, n);
      for (let i = 0; i < n; i++) gbDk[i] += sumDX[i];
    }
    const loss = new Float32Array([lossSum / (c * B)]);
    return saeKernelOutputs(backend, { c, B, n, m, keep }, {
      f,
      xHat,
      l1,
      l2,
      total,
      loss,
      gwEnc,
      gbEnc,
      gwDec,
      gbDec,
      l0,
      fired,
      sst,
    });
  };
}

/**
 * The fused SAE step for TopK: the encoder product is dense (BLAS, by blocks of rows), everything after it
 * works on each row's list of active features in WebAssembly: selection, decoder, `∂L/∂pre`, and the
 * weight gradients gathered feature by feature over the whole batch, on two threads (see `TopkWorkspace`).
 */
function topkLossAndGrads(
  blas: Blas,
  backend: MathBackendCPU,
  args: KernelArgs,
  ws: SaeBlockWorkspace,
): tf.TensorInfo[] {
  const { x, wEnc, bEnc, wDec, bDec } = args.inputs;
  const tk = ws.topk!;
  const l1c = Number(args.attrs?.l1Coefficient ?? 0);
  const [c, B, n] = x.shape;
  const keep = Math.min(B, Number(args.attrs?.keepRows ?? B));
  const m = bEnc.shape[1];
  const xv = valuesOf(backend, x), wEv = valuesOf(backend, wEnc), bEv = valuesOf(backend, bEnc);
  const wDv = valuesOf(backend, wDec), bDv = valuesOf(backend, bDec);
  const s = 1 / (c * B);
  const errScale = (2 * s) / n;
  const sl1 = s * l1c;
  const R = ws.rows;
  const f = output(backend, c * keep * m, true);
  const xHat = output(backend, c * B * n);
  const l1 = new Float32Array(c * B), l2 = new Float32Array(c * B), total = new Float32Array(c * B);
  const l0 = new Float32Array(c * B);
  const gwEnc = output(backend, c * n * m), gbEnc = new Float32Array(c * m);
  const gwDec = output(backend, c * m * n), gbDec = new Float32Array(c * n);
  const fired = new Int32Array(c * m);
  const sst = new Float32Array(c);
  const sumDX = new Float64Array(n);
  const { rs, re, idx, val } = tk;
  let lossSum = 0;
  for (let k = 0; k < c; k++) {
    const xk = xv.subarray(k * B * n, (k + 1) * B * n);
    const wEk = wEv.subarray(k * n * m, (k + 1) * n * m);
    ws.bEnc.set(bEv.subarray(k * m, (k + 1) * m));
    ws.bDec.set(bDv.subarray(k * n, (k + 1) * n));
    tk.wDec.set(wDv.subarray(k * m * n, (k + 1) * m * n));
    for (const counts of tk.fired) counts.fill(0);
    tk.clear();
    for (const sums of [...tk.sumX, ...tk.sqX]) sums.fill(0);
    sumDX.fill(0);
    tk.x.set(xk);
    tk.center();
    // The entry lists are emptied into the weight gradients when full (rarely: many ties) and at the end.
    let flushed = false;
    const flush = () => {
      // features split where the entries seen so far are halved
      let total = 0;
      for (let j = 0; j < m; j++) total += tk.fired[0][j] + tk.fired[1][j];
      let split = 0;
      for (let sum = 0; split < m && 2 * sum < total; split++) sum += tk.fired[0][split] + tk.fired[1][split];
      tk.weightGrads(total === 0 ? m >> 1 : split, flushed);
      flushed = true;
      tk.clear();
    };
    for (let r0 = 0; r0 < B; r0 += R) {
      const rows = Math.min(R, B - r0);
      for (const sums of tk.colSumDX) sums.fill(0);
      // pre = x̄ · wEnc (the bias is added in the selection), kept for AuxK where the workspace has room
      const pre = tk.preAll === undefined ? ws.f : tk.preAll.subarray(r0 * m);
      blas.sgemm(false, false, rows, m, n, 1, tk.xBar.subarray(r0 * tk.ld), tk.ld, wEk, m, 0, pre, m);
      // the block's rows: [0, half) on lane 0, [half, rows) on lane 1
      const half = Math.ceil(rows / 2);
      let done0 = 0, done1 = 0;
      for (;;) {
        const from0 = done0, from1 = half + done1;
        const [got0, got1] = tk.rows(
          [{ from: from0, count: half - done0 }, { from: from1, count: rows - half - done1 }],
          r0,
          errScale,
          sl1,
        );
        for (const [from, got] of [[from0, got0], [from1, got1]]) {
          for (let r = r0 + from; r < Math.min(r0 + from + got, keep); r++) {
            const row = (k * keep + r) * m;
            for (let e = rs[r]; e < re[r]; e++) f[row + idx[e]] = val[e];
          }
        }
        done0 += got0;
        done1 += got1;
        if (done0 === half && done1 === rows - half) break;
        flush();
      }
      xHat.set(ws.xHat.subarray(0, rows * n), (k * B + r0) * n);
      for (let i = 0; i < n; i++) sumDX[i] += tk.colSumDX[0][i] + tk.colSumDX[1][i];
      for (let r = 0; r < rows; r++) {
        const item = k * B + r0 + r;
        l1[item] = ws.l1[r];
        l0[item] = ws.l0[r];
        l2[item] = ws.l2[r];
        total[item] = l1c * ws.l1[r] + ws.l2[r];
        lossSum += total[item];
      }
    }
    flush();
    const firedK = fired.subarray(k * m, (k + 1) * m);
    for (let j = 0; j < m; j++) firedK[j] = tk.fired[0][j] + tk.fired[1][j];
    gwDec.set(tk.gwDec, k * m * n);
    gwEnc.set(tk.gwEnc, k * n * m);
    const gbEk = gbEnc.subarray(k * m, (k + 1) * m);
    gbEk.set(tk.gbEnc);
    let sq = 0;
    for (let i = 0; i < n; i++) {
      const sum = tk.sumX[0][i] + tk.sumX[1][i];
      sq += tk.sqX[0][i] + tk.sqX[1][i] - (sum * sum) / B;
    }
    sst[k] = Math.max(sq, 0);
    // ∂L/∂bDec = Σ_b ∂L/∂x̂ − (∂L/∂bEnc) · wEncᵀ
    const gbDk = gbDec.subarray(k * n, (k + 1) * n);
    blas.sgemm(false, true, 1, n, m, -1, gbEk, m, wEk, m, 0, gbDk, n);
    for (let i = 0; i < n; i++) gbDk[i] += sumDX[i];
  }
  const loss = new Float32Array([lossSum / (c * B)]);
  return saeKernelOutputs(backend, { c, B, n, m, keep }, {
    f,
    xHat,
    l1,
    l2,
    total,
    loss,
    gwEnc,
    gbEnc,
    gwDec,
    gbDec,
    l0,
    fired,
    sst,
  });
}

/**
 * The fused BatchTopK and Matryoshka step (see `SAE_BATCHTOPK_KERNEL` in `lib/backends/kernel_names.ts`
 * for the contract, and `batchtopk_kernel.ts` for the maths).
 */
function saeBatchTopkLossAndGrads(blas: Blas) {
  return (args: KernelArgs): tf.TensorInfo[] => {
    const backend = args.backend as MathBackendCPU;
    const { x, bEnc } = args.inputs;
    const [, B, n] = x.shape;
    const m = bEnc.shape[1];
    const a = args.attrs ?? {};
    const attrs: BatchTopkAttrs = {
      l1Coefficient: Number(a.l1Coefficient ?? 0),
      keepRows: Number(a.keepRows ?? B),
      k: Number(a.k),
      prefixes: numberList(a.prefixes, "prefixes") ?? [m],
      prefixWeights: numberList(a.prefixWeights, "prefixWeights") ?? [1],
    };
    const { prefixes, prefixWeights } = attrs;
    const increasing = prefixes.every((p, i) =>
      Number.isInteger(p) && p >= 1 && (i === 0 || p > prefixes[i - 1])
    );
    if (!increasing || prefixes.at(-1) !== m || prefixWeights.length !== prefixes.length) {
      throw new RangeError(
        `${SAE_BATCHTOPK_KERNEL}: prefixes expected increasing integers ending at dSae (${m}) with one weight each, received ${
          JSON.stringify(prefixes)
        } and ${JSON.stringify(prefixWeights)}`,
      );
    }
    if (!Number.isInteger(attrs.k) || attrs.k < 1 || attrs.k > m) {
      throw new RangeError(
        `${SAE_BATCHTOPK_KERNEL}: k expected an integer in [1, ${m}] (dSae), received ${a.k}`,
      );
    }
    const ws = workspaceFor(Math.min(TOPK_BLOCK_ROWS, B), n, m, {
      batch: B,
      k: attrs.k,
      prefixes: attrs.prefixes.length,
      batchTopk: true,
    });
    cachedPre = undefined;
    const out = batchTopkLossAndGrads(
      { blas, backend, ws, alloc: (length, zero) => output(backend, length, zero) },
      args.inputs,
      attrs,
    );
    if (x.shape[0] > 0) cachedPre = { ws, ids: preIds(args.inputs), component: x.shape[0] - 1 };
    return out;
  };
}

/**
 * Entries per row that a JumpReLU workspace's lists are sized for (more are taken in several passes, the
 * lists emptied into the weight gradients between them).
 */
const JUMPRELU_LIST_K = 128;

/**
 * The fused JumpReLU step with the step penalty (see `SAE_JUMPRELU_KERNEL` in
 * `lib/backends/kernel_names.ts` for the contract, and `jumprelu_kernel.ts` for the maths).
 */
function saeJumpReluLossAndGrads(blas: Blas) {
  return (args: KernelArgs): tf.TensorInfo[] => {
    const backend = args.backend as MathBackendCPU;
    const { x, bEnc, threshold } = args.inputs;
    const [c, B, n] = x.shape;
    const m = bEnc.shape[1];
    const a = args.attrs ?? {};
    const bandwidth = Number(a.bandwidth);
    if (!(bandwidth > 0) || !Number.isFinite(bandwidth)) {
      throw new RangeError(
        `${SAE_JUMPRELU_KERNEL}: bandwidth expected a finite number > 0, received ${a.bandwidth}`,
      );
    }
    if (threshold === undefined || threshold.shape.join() !== [c, m].join()) {
      throw new RangeError(
        `${SAE_JUMPRELU_KERNEL}: threshold expected shape [${c}, ${m}], received ${
          threshold === undefined ? "nothing" : `[${threshold.shape.join(", ")}]`
        }`,
      );
    }
    const ws = workspaceFor(Math.min(TOPK_BLOCK_ROWS, B), n, m, {
      batch: B,
      k: Math.min(m, JUMPRELU_LIST_K),
    });
    cachedPre = undefined;
    return jumpReluLossAndGrads(
      { blas, backend, ws, alloc: (length, zero) => output(backend, length, zero) },
      args.inputs,
      { l1Coefficient: Number(a.l1Coefficient ?? 0), keepRows: Number(a.keepRows ?? B), bandwidth },
    );
  };
}

/**
 * The fused April-ReLU step (see `SAE_RELU_APRIL_KERNEL` in `lib/backends/kernel_names.ts`): JumpReLU's
 * sparse machinery at θ = 0 (`jumprelu_kernel.ts`).
 */
function saeReluAprilLossAndGrads(blas: Blas) {
  return (args: KernelArgs): tf.TensorInfo[] => {
    const backend = args.backend as MathBackendCPU;
    const { x, bEnc } = args.inputs;
    const [, B, n] = x.shape;
    const m = bEnc.shape[1];
    const a = args.attrs ?? {};
    const ws = workspaceFor(Math.min(TOPK_BLOCK_ROWS, B), n, m, {
      batch: B,
      k: Math.min(m, JUMPRELU_LIST_K),
    });
    cachedPre = undefined;
    return reluAprilLossAndGrads(
      { blas, backend, ws, alloc: (length, zero) => output(backend, length, zero) },
      args.inputs,
      { l1Coefficient: Number(a.l1Coefficient ?? 0), keepRows: Number(a.keepRows ?? B) },
    );
  };
}

/**
 * The fused gated step (see `SAE_GATED_KERNEL` in `lib/backends/kernel_names.ts`, and `gated_kernel.ts`).
 */
function saeGatedLossAndGrads(blas: Blas) {
  return (args: KernelArgs): tf.TensorInfo[] => {
    const backend = args.backend as MathBackendCPU;
    const { x, bEnc, rMag, bMag } = args.inputs;
    const [c, B, n] = x.shape;
    const m = bEnc.shape[1];
    for (const [name, t] of [["rMag", rMag], ["bMag", bMag]] as const) {
      if (t === undefined || t.shape.join() !== [c, m].join()) {
        throw new RangeError(
          `${SAE_GATED_KERNEL}: ${name} expected shape [${c}, ${m}], received ${
            t === undefined ? "nothing" : `[${t.shape.join(", ")}]`
          }`,
        );
      }
    }
    const a = args.attrs ?? {};
    const ws = workspaceFor(Math.min(TOPK_BLOCK_ROWS, B), n, m, {
      batch: B,
      k: Math.min(m, JUMPRELU_LIST_K),
    });
    cachedPre = undefined;
    return gatedLossAndGrads(
      { blas, backend, ws, alloc: (length, zero) => output(backend, length, zero) },
      args.inputs,
      { l1Coefficient: Number(a.l1Coefficient ?? 0), keepRows: Number(a.keepRows ?? B) },
    );
  };
}

/**
 * The fused AuxK (see `SAE_AUXK_KERNEL` in `lib/backends/kernel_names.ts`, and `auxk_kernel.ts`), on the
 * workspace of the TopK or BatchTopK step that ran before it (made again to keep the batch's encoder
 * products, once, where it did not), reading those products where they are still the inputs' own.
 */
function saeAuxkLossAndGrads(blas: Blas) {
  return (args: KernelArgs): tf.TensorInfo[] => {
    const backend = args.backend as MathBackendCPU;
    const { x, bEnc } = args.inputs;
    const [, B, n] = x.shape;
    const m = bEnc.shape[1];
    const kAux = Number(args.attrs?.kAux);
    const auxkCoefficient = Number(args.attrs?.auxkCoefficient);
    if (!Number.isInteger(kAux) || kAux < 1 || kAux > m || !(auxkCoefficient >= 0)) {
      throw new RangeError(
        `${SAE_AUXK_KERNEL}: expected kAux an integer in [1, ${m}] (dSae) and auxkCoefficient ≥ 0, received ${kAux} and ${auxkCoefficient}`,
      );
    }
    auxkUsed = true;
    const R = Math.min(TOPK_BLOCK_ROWS, B);
    let ws: SaeBlockWorkspace | undefined = workspaces.values().next().value;
    const tk = ws?.topk;
    if (
      ws === undefined || tk === undefined || ws.rows !== R || ws.dIn !== n || ws.dSae !== m || tk.batch !== B
    ) {
      ws = workspaceFor(R, n, m, { batch: B, k: kAux, keepPre: true });
    } else if (tk.preAll === undefined) {
      ws = workspaceFor(R, n, m, {
        batch: B,
        k: tk.k,
        prefixes: tk.prefixes,
        batchTopk: tk.batchTopk,
        keepPre: true,
      });
    }
    const ids = preIds(args.inputs);
    const cached =
      cachedPre !== undefined && cachedPre.ws === ws && cachedPre.ids.every((id, i) => id === ids[i])
        ? cachedPre.component
        : -1;
    // AuxK overwrites the products.
    cachedPre = undefined;
    return auxkLossAndGrads(
      { blas, backend, ws, alloc: (length, zero) => output(backend, length, zero), cached },
      args.inputs,
      { kAux, auxkCoefficient },
    );
  };
}

/** A list attribute: comma-separated numbers (kernel attributes are scalars), or a list; `undefined` if absent. */
function numberList(value: unknown, name: string): number[] | undefined {
  if (value === undefined) return undefined;
  const list = typeof value === "string"
    ? value.split(",").map(Number)
    : Array.isArray(value)
    ? value.map(Number)
    : [];
  if (list.length === 0 || list.some((v) => !Number.isFinite(v))) {
    throw new TypeError(`${name}: expected comma-separated numbers, received ${JSON.stringify(value)}`);
  }
  return list;
}

/** One fused Adam update of one tensor (see `ADAM_KERNEL` in `lib/optim/adam.ts`). */
function adamMoments(args: KernelArgs): tf.TensorInfo[] {
  const backend = args.backend as MathBackendCPU;
  const { g, mu, nu } = args.inputs;
  const { b1, b2, eps, c1, c2 } = args.attrs as Record<string, number>;
  const gv = valuesOf(backend, g), mv = valuesOf(backend, mu), vv = valuesOf(backend, nu);
  const len = gv.length;
  const m2 = output(backend, len), v2 = output(backend, len), u = output(backend, len);
  const a1 = 1 - b1, a2 = 1 - b2;
  for (let i = 0; i < len; i++) {
    const gi = gv[i];
    const mi = b1 * mv[i] + a1 * gi;
    const vi = b2 * vv[i] + a2 * gi * gi;
    m2[i] = mi;
    v2[i] = vi;
    u[i] = (c1 * mi) / (Math.sqrt(c2 * vi) + eps);
  }
  return [
    backend.makeTensorInfo(g.shape, "float32", m2),
    backend.makeTensorInfo(g.shape, "float32", v2),
    backend.makeTensorInfo(g.shape, "float32", u),
  ];
}

/** Rows of the last axis projected off their own direction (see `PROJECT_ROWS_KERNEL`). */
function projectRows(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as MathBackendCPU;
  const { w, g } = args.inputs;
  const wv = valuesOf(backend, w), gv = valuesOf(backend, g);
  const cols = w.shape[w.shape.length - 1];
  const out = output(backend, gv.length);
  for (let o = 0; o < wv.length; o += cols) {
    let sq = 0, dot = 0;
    for (let i = 0; i < cols; i++) {
      sq += wv[o + i] * wv[o + i];
      dot += gv[o + i] * wv[o + i];
    }
    // g − ŵ (g · ŵ) = g − w (g · w) / ‖w‖²
    const scale = dot / sq;
    for (let i = 0; i < cols; i++) out[o + i] = gv[o + i] - wv[o + i] * scale;
  }
  return backend.makeTensorInfo(g.shape, "float32", out);
}

/** Rows of the last axis scaled to unit norm (see `NORMALIZE_ROWS_KERNEL`). */
function normalizeRows(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as MathBackendCPU;
  const { w } = args.inputs;
  const wv = valuesOf(backend, w);
  const cols = w.shape[w.shape.length - 1];
  const out = output(backend, wv.length);
  for (let o = 0; o < wv.length; o += cols) {
    let sq = 0;
    for (let i = 0; i < cols; i++) sq += wv[o + i] * wv[o + i];
    const inv = 1 / Math.max(Math.sqrt(sq), 1e-12);
    for (let i = 0; i < cols; i++) out[o + i] = wv[o + i] * inv;
  }
  return backend.makeTensorInfo(w.shape, "float32", out);
}

type BinaryLoop = (a: Float32Array, b: Float32Array, out: Float32Array, aStep: number, bStep: number) => void;

/**
 * Float32 binary ops where the operands have the same size or one is a single
 * value (`sa`/`sb`: 1 when that operand has every element, 0 when it has one).
 */
const BINARY_LOOPS: Record<string, BinaryLoop> = {
  Add: (a, b, out, sa, sb) => {
    if (sa && sb) { for (let i = 0; i < out.length; i++) out[i] = a[i] + b[i]; }
    else if (sa) { for (let i = 0, v = b[0]; i < out.length; i++) out[i] = a[i] + v; }
    else for (let i = 0, v = a[0]; i < out.length; i++) out[i] = v + b[i];
  },
  Sub: (a, b, out, sa, sb) => {
    if (sa && sb) { for (let i = 0; i < out.length; i++) out[i] = a[i] - b[i]; }
    else if (sa) { for (let i = 0, v = b[0]; i < out.length; i++) out[i] = a[i] - v; }
    else for (let i = 0, v = a[0]; i < out.length; i++) out[i] = v - b[i];
  },
  Multiply: (a, b, out, sa, sb) => {
    if (sa && sb) { for (let i = 0; i < out.length; i++) out[i] = a[i] * b[i]; }
    else if (sa) { for (let i = 0, v = b[0]; i < out.length; i++) out[i] = a[i] * v; }
    else for (let i = 0, v = a[0]; i < out.length; i++) out[i] = v * b[i];
  },
  RealDiv: (a, b, out, sa, sb) => {
    if (sa && sb) { for (let i = 0; i < out.length; i++) out[i] = a[i] / b[i]; }
    else if (sa) { for (let i = 0, v = b[0]; i < out.length; i++) out[i] = a[i] / v; }
    else for (let i = 0, v = a[0]; i < out.length; i++) out[i] = v / b[i];
  },
};

/** Output shape of two broadcast shapes, or `undefined` when they do not broadcast. */
function broadcastShape(a: readonly number[], b: readonly number[]): number[] | undefined {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1, db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) return undefined;
    out.push(Math.max(da, db));
  }
  return out;
}

/** Element strides of `shape` aligned to `outShape`, 0 along broadcast axes. */
function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const rank = outShape.length;
  const strides = new Array(rank).fill(0);
  let stride = 1;
  for (let i = rank - 1; i >= 0; i--) {
    const d = shape[shape.length - rank + i] ?? 1;
    strides[i] = d === 1 ? 0 : stride;
    stride *= d;
  }
  return strides;
}

type RowOp = (
  a: Float32Array,
  b: Float32Array,
  out: Float32Array,
  pa: number,
  pb: number,
  o: number,
  n: number,
  ia: number,
  ib: number,
) => void;
/** One output row of a broadcast binary op (separate loops, so that each is compiled tight). */
const ROW_OPS: Record<string, RowOp> = {
  Add: (a, b, out, pa, pb, o, n, ia, ib) => {
    for (let j = 0; j < n; j++, pa += ia, pb += ib) out[o + j] = a[pa] + b[pb];
  },
  Sub: (a, b, out, pa, pb, o, n, ia, ib) => {
    for (let j = 0; j < n; j++, pa += ia, pb += ib) out[o + j] = a[pa] - b[pb];
  },
  Multiply: (a, b, out, pa, pb, o, n, ia, ib) => {
    for (let j = 0; j < n; j++, pa += ia, pb += ib) out[o + j] = a[pa] * b[pb];
  },
  RealDiv: (a, b, out, pa, pb, o, n, ia, ib) => {
    for (let j = 0; j < n; j++, pa += ia, pb += ib) out[o + j] = a[pa] / b[pb];
  },
};

/**
 * tfjs's CPU binary ops index every element through a general broadcasting
 * path that allocates per element; here same-shape and single-value cases
 * are plain loops, and other broadcasts walk the output with running
 * offsets, the last axis in an inner loop.
 */
function binaryOp(kernelName: string, fallback: tf.KernelFunc) {
  const loop = BINARY_LOOPS[kernelName];
  const rowOp = ROW_OPS[kernelName];
  return (args: KernelArgs): tf.TensorInfo => {
    const backend = args.backend as MathBackendCPU;
    const { a, b } = args.inputs;
    if (a.dtype !== "float32" || b.dtype !== "float32") {
      return fallback(args as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
    }
    const sizeA = size(a.shape), sizeB = size(b.shape);
    const sameShape = a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);
    const av = valuesOf(backend, a), bv = valuesOf(backend, b);
    if (sameShape || sizeA === 1 || sizeB === 1) {
      const shape = broadcastShape(a.shape, b.shape)!;
      const out = output(backend, Math.max(sizeA, sizeB));
      loop(av, bv, out, sizeA === 1 ? 0 : 1, sizeB === 1 ? 0 : 1);
      return backend.makeTensorInfo(shape, "float32", out);
    }
    const shape = broadcastShape(a.shape, b.shape);
    if (shape === undefined || shape.length === 0) {
      return fallback(args as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
    }
    const sa = broadcastStrides(a.shape, shape), sb = broadcastStrides(b.shape, shape);
    const rank = shape.length, inner = shape[rank - 1];
    const ia = sa[rank - 1], ib = sb[rank - 1];
    const out = output(backend, size(shape));
    const index = new Array(rank - 1).fill(0);
    let offA = 0, offB = 0;
    for (let o = 0; o < out.length; o += inner) {
      rowOp(av, bv, out, offA, offB, o, inner, ia, ib);
      // advance the outer index like an odometer
      for (let axis = rank - 2; axis >= 0; axis--) {
        index[axis]++;
        offA += sa[axis];
        offB += sb[axis];
        if (index[axis] < shape[axis]) break;
        offA -= sa[axis] * shape[axis];
        offB -= sb[axis] * shape[axis];
        index[axis] = 0;
      }
    }
    return backend.makeTensorInfo(shape, "float32", out);
  };
}

/** Splits along one axis by copying contiguous runs (tfjs's CPU split slices element by element). */
function splitV(fallback: tf.KernelFunc) {
  return (args: KernelArgs): tf.TensorInfo[] => {
    const backend = args.backend as MathBackendCPU;
    const { x } = args.inputs;
    if (x.dtype !== "float32") {
      return fallback(args as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo[];
    }
    const rank = x.shape.length;
    const axis = ((Number(args.attrs?.axis ?? 0) % rank) + rank) % rank;
    const spec = args.attrs?.numOrSizeSplits as number | number[];
    const dim = x.shape[axis];
    const sizes = typeof spec === "number" ? new Array(spec).fill(dim / spec) : [...spec].map(Number);
    const unknown = sizes.indexOf(-1);
    if (unknown !== -1) sizes[unknown] = dim - sizes.reduce((a, b) => (b === -1 ? a : a + b), 0);
    const outer = size(x.shape.slice(0, axis)), inner = size(x.shape.slice(axis + 1));
    const xv = valuesOf(backend, x);
    const outs: tf.TensorInfo[] = [];
    let start = 0;
    for (const piece of sizes) {
      const out = output(backend, outer * piece * inner);
      const run = piece * inner;
      for (let o = 0; o < outer; o++) {
        const from = (o * dim + start) * inner;
        out.set(xv.subarray(from, from + run), o * run);
      }
      const shape = [...x.shape];
      shape[axis] = piece;
      outs.push(backend.makeTensorInfo(shape, "float32", out));
      start += piece;
    }
    return outs;
  };
}

/** Softmax over the last axis (tfjs's CPU softmax composes several broadcasting ops). */
function softmax(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as MathBackendCPU;
  const { logits } = args.inputs;
  const dim = Number(args.attrs?.dim ?? -1);
  const cols = logits.shape[logits.shape.length - 1];
  if (logits.dtype !== "float32" || (dim !== -1 && dim !== logits.shape.length - 1)) {
    throw new RangeError(
      `softmax: expected float32 over the last axis, received ${logits.dtype} over axis ${dim}`,
    );
  }
  const x = valuesOf(backend, logits);
  const out = output(backend, x.length);
  softmaxRows(x, out, cols);
  return backend.makeTensorInfo(logits.shape, "float32", out);
}

/** Transpose by walking the output with strides into the input. */
function transpose(fallback: tf.KernelFunc) {
  return (args: KernelArgs): tf.TensorInfo => {
    const backend = args.backend as MathBackendCPU;
    const { x } = args.inputs;
    const perm = args.attrs?.perm as number[];
    if (x.dtype !== "float32" && x.dtype !== "int32") {
      return fallback(args as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
    }
    const rank = x.shape.length;
    const inStrides = new Array(rank);
    for (let i = rank - 1, s = 1; i >= 0; i--) {
      inStrides[i] = s;
      s *= x.shape[i];
    }
    const shape = perm.map((p) => x.shape[p]);
    const strides = perm.map((p) => inStrides[p]);
    const xv = backend.data.get(x.dataId).values as Float32Array | Int32Array;
    const out = x.dtype === "float32" ? output(backend, xv.length) : new Int32Array(xv.length);
    if (rank === 0 || out.length === 0) return backend.makeTensorInfo(shape, x.dtype, out);
    const inner = shape[rank - 1], step = strides[rank - 1];
    const index = new Array(rank - 1).fill(0);
    let off = 0;
    for (let o = 0; o < out.length; o += inner) {
      for (let j = 0, p = off; j < inner; j++, p += step) out[o + j] = xv[p];
      for (let axis = rank - 2; axis >= 0; axis--) {
        index[axis]++;
        off += strides[axis];
        if (index[axis] < shape[axis]) break;
        off -= strides[axis] * shape[axis];
        index[axis] = 0;
      }
    }
    return backend.makeTensorInfo(shape, x.dtype, out);
  };
}

let registered = false;

/**
 * Registers the `blas` backend (once): every kernel of tfjs's `cpu` backend,
 * with BatchMatMul on the BLAS, plus the fused SAE and Adam kernels.
 */
export function registerBlasBackend(blas: Blas): void {
  if (registered) return;
  registered = true;
  tf.registerBackend(BLAS_BACKEND, () => new PooledBackend(), 0);
  registerModelKernels(blas, BLAS_BACKEND);
  for (const config of tf.getKernelsForBackend("cpu")) {
    if (config.kernelName === "BatchMatMul") {
      tf.registerKernel({
        kernelName: "BatchMatMul",
        backendName: BLAS_BACKEND,
        kernelFunc: batchMatMul(blas, config.kernelFunc) as unknown as tf.KernelFunc,
      });
    } else if (config.kernelName in BINARY_LOOPS) {
      tf.registerKernel({
        kernelName: config.kernelName,
        backendName: BLAS_BACKEND,
        kernelFunc: binaryOp(config.kernelName, config.kernelFunc) as unknown as tf.KernelFunc,
      });
    } else if (config.kernelName === "SplitV") {
      tf.registerKernel({
        kernelName: "SplitV",
        backendName: BLAS_BACKEND,
        kernelFunc: splitV(config.kernelFunc) as unknown as tf.KernelFunc,
      });
    } else if (config.kernelName === "Softmax") {
      tf.registerKernel({
        kernelName: "Softmax",
        backendName: BLAS_BACKEND,
        kernelFunc: softmax as unknown as tf.KernelFunc,
      });
    } else if (config.kernelName === "Transpose") {
      tf.registerKernel({
        kernelName: "Transpose",
        backendName: BLAS_BACKEND,
        kernelFunc: transpose(config.kernelFunc) as unknown as tf.KernelFunc,
      });
    } else {
      tf.registerKernel({ ...config, backendName: BLAS_BACKEND });
    }
  }
  tf.registerKernel({
    kernelName: SAE_RELU_KERNEL,
    backendName: BLAS_BACKEND,
    kernelFunc: saeReluLossAndGrads(blas) as unknown as tf.KernelFunc,
  });
  tf.registerKernel({
    kernelName: SAE_BATCHTOPK_KERNEL,
    backendName: BLAS_BACKEND,
    kernelFunc: saeBatchTopkLossAndGrads(blas) as unknown as tf.KernelFunc,
  });
  tf.registerKernel({
    kernelName: SAE_JUMPRELU_KERNEL,
    backendName: BLAS_BACKEND,
    kernelFunc: saeJumpReluLossAndGrads(blas) as unknown as tf.KernelFunc,
  });
  tf.registerKernel({
    kernelName: SAE_RELU_APRIL_KERNEL,
    backendName: BLAS_BACKEND,
    kernelFunc: saeReluAprilLossAndGrads(blas) as unknown as tf.KernelFunc,
  });
  tf.registerKernel({
    kernelName: SAE_GATED_KERNEL,
    backendName: BLAS_BACKEND,
    kernelFunc: saeGatedLossAndGrads(blas) as unknown as tf.KernelFunc,
  });
  tf.registerKernel({
    kernelName: SAE_AUXK_KERNEL,
    backendName: BLAS_BACKEND,
    kernelFunc: saeAuxkLossAndGrads(blas) as unknown as tf.KernelFunc,
  });
  tf.registerKernel({
    kernelName: PROJECT_ROWS_KERNEL,
    backendName: BLAS_BACKEND,
    kernelFunc: projectRows as unknown as tf.KernelFunc,
  });
  tf.registerKernel({
    kernelName: NORMALIZE_ROWS_KERNEL,
    backendName: BLAS_BACKEND,
    kernelFunc: normalizeRows as unknown as tf.KernelFunc,
  });
  tf.registerKernel({
    kernelName: ADAM_KERNEL,
    backendName: BLAS_BACKEND,
    kernelFunc: adamMoments as unknown as tf.KernelFunc,
  });
}
