/**
 * The `blas` backend's fused step of gated SAEs (the kernel named `SAE_GATED_KERNEL`; record
 * `lib/sae/arch/gated.ts`). Only the encoder product is dense (BLAS, by blocks of rows). Both paths live
 * on the open gates: `f` is 0 wherever `πgate ≤ 0`, and the auxiliary reconstruction's `ReLU(πgate)` is
 * nonzero exactly where the gate is open, so each row's list of open gates carries the gate's penalty,
 * the auxiliary reconstruction (through the frozen decoder), the magnitude path's reconstruction and every
 * gradient, in WebAssembly with TopK's machinery (`sae_wasm.ts`), half the rows and features on a worker
 * thread. The auxiliary reconstruction is as dense as the gate: at the start of training, with half the
 * gates open, the lists hold half the batch's pre-activations and the step is no sparser than ReLU's.
 *
 * Effectful (it runs on the backend's memory); loaded by `blas_backend.ts`.
 *
 * @module
 */
import type { tf } from "../tf.ts";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import type { Blas } from "./blas_ffi.ts";
import type { SaeBlockWorkspace } from "./sae_wasm.ts";

/** What the kernel needs from the backend beside its inputs. */
export type GatedContext = {
  readonly blas: Blas;
  readonly backend: MathBackendCPU;
  /** The workspace for blocks of rows, made with TopK's buffers. */
  readonly ws: SaeBlockWorkspace;
  /** A float32 output array (zeroed when `zero`), from the backend's pool where it has one. */
  readonly alloc: (length: number, zero?: boolean) => Float32Array;
};

function valuesOf(backend: MathBackendCPU, t: tf.TensorInfo): Float32Array {
  return backend.data.get(t.dataId).values as Float32Array;
}

/**
 * The fused gated step. For each component, by blocks of rows: `z = x̄ · wEnc` (BLAS), then per row the
 * open gates, both decodes and `∂L/∂z = ∂L/∂πmag ⊙ exp(rMag) + ∂L/∂πgate` at each; the weight gradients
 * gathered by feature when the entry lists are full and at the end; `∂L/∂bEnc = Σ_b ∂L/∂πgate`,
 * `∂L/∂rMag = Σ_b ∂L/∂πmag ⊙ z ⊙ exp(rMag)`, `∂L/∂bMag = Σ_b ∂L/∂πmag`,
 * `∂L/∂bDec = Σ_b ∂L/∂x̂ − (Σ_b ∂L/∂z) · wEncᵀ`. Outputs as `SAE_RELU_KERNEL`'s, then `gRMag`, `gBMag`.
 *
 * @example Through the objective on the `blas` backend, which registers this kernel
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { selectBackend } from "./select.ts";
 * import { initArchParams, makeSpec } from "../sae/arch/registry.ts";
 * import { lossAndGradsFor } from "../sae/objective.ts";
 * await selectBackend("blas");
 * const spec = makeSpec("gated", { sparsityCoefficient: 0.1 });
 * const params = initArchParams(spec, { nComponents: 1, dIn: 4, dSae: 8, seed: 0 });
 * const x = tf.randomNormal([1, 16, 4], 0, 1, "float32", 1) as tf.Tensor3D;
 * const fused = lossAndGradsFor(spec, params, x);
 * const composed = lossAndGradsFor(spec, params, x, x, { composed: true });
 * assert.ok(Math.abs(fused.loss.dataSync()[0] - composed.loss.dataSync()[0]) < 1e-5);
 * ```
 */
export function gatedLossAndGrads(
  context: GatedContext,
  inputs: Record<string, tf.TensorInfo>,
  attrs: { readonly l1Coefficient: number; readonly keepRows: number },
): tf.TensorInfo[] {
  const { blas, backend, ws, alloc } = context;
  const { x, wEnc, bEnc, wDec, bDec, rMag, bMag } = inputs;
  const tk = ws.topk;
  if (tk === undefined) {
    throw new TypeError("gated kernel: expected a workspace made with TopK's buffers, received one without");
  }
  const lambda = attrs.l1Coefficient;
  const [c, B, n] = x.shape;
  const keep = Math.min(B, attrs.keepRows);
  const m = bEnc.shape[1];
  const xv = valuesOf(backend, x), wEv = valuesOf(backend, wEnc), bEv = valuesOf(backend, bEnc);
  const wDv = valuesOf(backend, wDec), bDv = valuesOf(backend, bDec);
  const rMv = valuesOf(backend, rMag), bMv = valuesOf(backend, bMag);
  const s = 1 / (c * B);
  const errScale = (2 * s) / n;
  const R = ws.rows;
  const f = alloc(c * keep * m, true);
  const xHat = alloc(c * B * n);
  const l1 = new Float32Array(c * B), l2 = new Float32Array(c * B), total = new Float32Array(c * B);
  const l0 = new Float32Array(c * B);
  const gwEnc = alloc(c * n * m), gbEnc = new Float32Array(c * m);
  const gwDec = alloc(c * m * n), gbDec = new Float32Array(c * n);
  const gRMag = new Float32Array(c * m), gBMag = new Float32Array(c * m);
  const fired = new Int32Array(c * m);
  const sst = new Float32Array(c);
  const sumDX = new Float64Array(n);
  const magScale = new Float32Array(m);
  const { rs, re, idx, val } = tk;
  let lossSum = 0;
  for (let k = 0; k < c; k++) {
    const xk = xv.subarray(k * B * n, (k + 1) * B * n);
    const wEk = wEv.subarray(k * n * m, (k + 1) * n * m);
    ws.bEnc.set(bEv.subarray(k * m, (k + 1) * m));
    ws.bDec.set(bDv.subarray(k * n, (k + 1) * n));
    tk.wDec.set(wDv.subarray(k * m * n, (k + 1) * m * n));
    tk.setPrefixes([m], [1]);
    tk.setJumpPenalty();
    for (let j = 0; j < m; j++) magScale[j] = Math.exp(rMv[k * m + j]);
    tk.setGated(magScale, bMv.subarray(k * m, (k + 1) * m));
    for (const counts of tk.fired) counts.fill(0);
    tk.clear();
    for (const sums of [...tk.sumX, ...tk.sqX]) sums.fill(0);
    sumDX.fill(0);
    tk.x.set(xk);
    tk.center();
    let flushed = false;
    const flush = () => {
      let count = 0;
      for (let j = 0; j < m; j++) count += tk.fired[0][j] + tk.fired[1][j];
      let split = 0;
      for (let sum = 0; split < m && 2 * sum < count; split++) sum += tk.fired[0][split] + tk.fired[1][split];
      tk.weightGrads(count === 0 ? m >> 1 : split, flushed);
      flushed = true;
      tk.clear();
    };
    for (let r0 = 0; r0 < B; r0 += R) {
      const rows = Math.min(R, B - r0);
      for (const sums of tk.colSumDX) sums.fill(0);
      blas.sgemm(false, false, rows, m, n, 1, tk.xBar.subarray(r0 * tk.ld), tk.ld, wEk, m, 0, ws.f, m);
      const half = Math.ceil(rows / 2);
      let done0 = 0, done1 = 0, justFlushed = false;
      for (;;) {
        const from0 = done0, from1 = half + done1;
        const [got0, got1] = tk.gatedRows(
          [{ from: from0, count: half - done0 }, { from: from1, count: rows - half - done1 }],
          r0,
          errScale,
          s * lambda,
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
        if (got0 > 0 || got1 > 0) justFlushed = false;
        else if (justFlushed) {
          // (cannot happen: a lane's share of the lists holds at least dSae entries)
          throw new RangeError(`gated kernel: a row of ${m} features did not fit in empty entry lists`);
        }
        flush();
        justFlushed = true;
      }
      xHat.set(ws.xHat.subarray(0, rows * n), (k * B + r0) * n);
      for (let i = 0; i < n; i++) sumDX[i] += tk.colSumDX[0][i] + tk.colSumDX[1][i];
      for (let r = 0; r < rows; r++) {
        const item = k * B + r0 + r;
        l1[item] = ws.l1[r];
        l0[item] = ws.l0[r];
        l2[item] = ws.l2[r];
        total[item] = ws.l2[r] + lambda * ws.l1[r] + ws.rec[r];
        lossSum += total[item];
      }
    }
    flush();
    const firedK = fired.subarray(k * m, (k + 1) * m);
    for (let j = 0; j < m; j++) firedK[j] = tk.fired[0][j] + tk.fired[1][j];
    gwDec.set(tk.gwDec, k * m * n);
    gwEnc.set(tk.gwEnc, k * n * m);
    for (let j = 0; j < m; j++) {
      gbEnc[k * m + j] = tk.gateSum[0][j] + tk.gateSum[1][j];
      gBMag[k * m + j] = tk.bandCount[0][j] + tk.bandCount[1][j];
      gRMag[k * m + j] = tk.bandSum[0][j] + tk.bandSum[1][j];
    }
    let sq = 0;
    for (let i = 0; i < n; i++) {
      const sum = tk.sumX[0][i] + tk.sumX[1][i];
      sq += tk.sqX[0][i] + tk.sqX[1][i] - (sum * sum) / B;
    }
    sst[k] = Math.max(sq, 0);
    // ∂L/∂bDec = Σ_b ∂L/∂x̂ − (Σ_b ∂L/∂z) · wEncᵀ (the gather's bias gradient is Σ_b ∂L/∂z)
    const gbDk = gbDec.subarray(k * n, (k + 1) * n);
    blas.sgemm(false, true, 1, n, m, -1, tk.gbEnc, m, wEk, m, 0, gbDk, n);
    for (let i = 0; i < n; i++) gbDk[i] += sumDX[i];
  }
  const loss = new Float32Array([lossSum / (c * B)]);
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
    backend.makeTensorInfo([c, m], "float32", gRMag),
    backend.makeTensorInfo([c, m], "float32", gBMag),
  ];
}
