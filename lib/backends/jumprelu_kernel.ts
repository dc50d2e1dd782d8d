/**
 * The `blas` backend's fused step of JumpReLU SAEs with the step (L0) penalty (the kernel named
 * `SAE_JUMPRELU_KERNEL`; record `lib/sae/arch/jumprelu.ts`). Only the encoder product is dense (BLAS, by
 * blocks of rows); each row's active features (`pre > θ_j`) become a list of entries, and the decoder, the
 * backward pass and the weight gradients work on those lists in WebAssembly with TopK's machinery
 * (`sae_wasm.ts`), half the rows and features on a worker thread. θ's straight-through gradient needs
 * `∂L/∂f` at the values in the rectangle kernel's band `|pre − θ| < ε/2`: at the active ones it is the
 * entry's, at the others one dot product `Q · wDec_j` each (a handful per row at a trained SAE's ε).
 *
 * Effectful (it runs on the backend's memory); loaded by `blas_backend.ts`.
 *
 * @module
 */
import type { tf } from "../tf.ts";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import type { Blas } from "./blas_ffi.ts";
import type { SaeBlockWorkspace } from "./sae_wasm.ts";

/** The attributes of the kernel (see `SAE_JUMPRELU_KERNEL` in `kernel_names.ts`). */
export type JumpReluAttrs = {
  /** λ of the step penalty `Σ_j [pre_j > θ_j]`. */
  readonly l1Coefficient: number;
  /** Rows of `f` to return. */
  readonly keepRows: number;
  /** ε, the width of the rectangle kernel. */
  readonly bandwidth: number;
};

/** What the kernel needs from the backend beside its inputs. */
export type JumpReluContext = {
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
 * θ's gradient of one feature from its band sums: `−(sλ/ε)·count − (θ/ε)·sum`, with `count` the values in
 * the band and `sum` their `∂L/∂f` (the two terms of `lib/sae/arch/jumprelu.ts`, step penalty). Pure.
 *
 * @example Two values in the band with ∂L/∂f summing to 0.5, θ = 0.2, ε = 0.1, sλ = 0.01
 * ```ts
 * import assert from "node:assert/strict";
 * import { thresholdGrad } from "./jumprelu_kernel.ts";
 * // −(0.01/0.1)·2 − (0.2/0.1)·0.5 = −0.2 − 1 = −1.2
 * assert.ok(Math.abs(thresholdGrad(2, 0.5, 0.2, 0.1, 0.01) - -1.2) < 1e-12);
 * ```
 */
export function thresholdGrad(
  count: number,
  sum: number,
  theta: number,
  bandwidth: number,
  sLambda: number,
): number {
  // (no value in the band: no gradient, +0)
  return count === 0 ? 0 : (-sLambda / bandwidth) * count + theta * (-1 / bandwidth) * sum;
}

/**
 * The fused JumpReLU step (step penalty). For each component:
 *
 * 1. `x̄ = x − bDec` for the whole batch (column sums for the statistics).
 * 2. By blocks of rows: `x̄ · wEnc` (BLAS) into the block buffer; per row the entries `pre > θ_j`, the
 *    decoder `x̂ = Σ f_j wDec_j + bDec`, `Q = (2s/n)(x̂ − x)`, `∂L/∂pre = Q · wDec_j` at each entry, and the
 *    band sums of θ's gradient; the weight gradients gathered by feature when the entry lists are full and
 *    at the end.
 * 3. `∂L/∂θ_j = −(sλ/ε)·count_j − (θ_j/ε)·sum_j`; `∂L/∂bDec = Σ_b Q − (∂L/∂bEnc)·wEncᵀ`.
 *
 * Outputs as `SAE_RELU_KERNEL`'s, then `gThreshold [c, dSae]`.
 *
 * @example Through the objective on the `blas` backend, which registers this kernel
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { selectBackend } from "./select.ts";
 * import { initArchParams, makeSpec } from "../sae/arch/registry.ts";
 * import { lossAndGradsFor } from "../sae/objective.ts";
 * await selectBackend("blas");
 * const spec = makeSpec("jumprelu");
 * const params = initArchParams(spec, { nComponents: 1, dIn: 4, dSae: 8, seed: 0 });
 * const x = tf.randomNormal([1, 16, 4], 0, 1, "float32", 1) as tf.Tensor3D;
 * const fused = lossAndGradsFor(spec, params, x);
 * const composed = lossAndGradsFor(spec, params, x, x, { composed: true });
 * assert.ok(Math.abs(fused.loss.dataSync()[0] - composed.loss.dataSync()[0]) < 1e-5);
 * assert.equal(fused.grads.threshold!.shape.join(), "1,8");
 * ```
 */
export function jumpReluLossAndGrads(
  context: JumpReluContext,
  inputs: Record<string, tf.TensorInfo>,
  attrs: JumpReluAttrs,
): tf.TensorInfo[] {
  return sparseStep(context, inputs, { ...attrs, april: false });
}

/**
 * The fused April-ReLU step (the kernel named `SAE_RELU_APRIL_KERNEL`; record
 * `lib/sae/arch/relu_april.ts`): the JumpReLU step's machinery at θ = 0 with no band, so `f = ReLU(pre)`
 * and only the active features are decoded and sent back; the penalty `S = Σ_j f_j ‖wDec_j‖` adds
 * `sλ‖wDec_j‖` to `∂L/∂pre` at each entry, and `∂L/∂‖wDec_j‖ = sλ Σ_b f_bj` along `wDec_j/‖wDec_j‖` to
 * `∂L/∂wDec_j`. Outputs as `SAE_RELU_KERNEL`'s.
 *
 * @example Through the objective on the `blas` backend, which registers this kernel
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { selectBackend } from "./select.ts";
 * import { initArchParams, makeSpec } from "../sae/arch/registry.ts";
 * import { lossAndGradsFor } from "../sae/objective.ts";
 * await selectBackend("blas");
 * const spec = makeSpec("relu-april", { sparsityCoefficient: 0.1 });
 * const params = initArchParams(spec, { nComponents: 1, dIn: 4, dSae: 8, seed: 0 });
 * const x = tf.randomNormal([1, 16, 4], 0, 1, "float32", 1) as tf.Tensor3D;
 * const fused = lossAndGradsFor(spec, params, x);
 * const composed = lossAndGradsFor(spec, params, x, x, { composed: true });
 * assert.ok(Math.abs(fused.loss.dataSync()[0] - composed.loss.dataSync()[0]) < 1e-5);
 * ```
 */
export function reluAprilLossAndGrads(
  context: JumpReluContext,
  inputs: Record<string, tf.TensorInfo>,
  attrs: { readonly l1Coefficient: number; readonly keepRows: number },
): tf.TensorInfo[] {
  return sparseStep(context, inputs, { ...attrs, bandwidth: 0, april: true });
}

/** JumpReLU's step, or April ReLU's (θ = 0, no band, the penalty weighted by the decoder norms). */
function sparseStep(
  context: JumpReluContext,
  inputs: Record<string, tf.TensorInfo>,
  attrs: JumpReluAttrs & { readonly april: boolean },
): tf.TensorInfo[] {
  const { blas, backend, ws, alloc } = context;
  const { x, wEnc, bEnc, wDec, bDec } = inputs;
  const april = attrs.april;
  const tk = ws.topk;
  if (tk === undefined) {
    throw new TypeError(
      "JumpReLU kernel: expected a workspace made with TopK's buffers, received one without",
    );
  }
  const lambda = attrs.l1Coefficient;
  const eps = attrs.bandwidth;
  const [c, B, n] = x.shape;
  const keep = Math.min(B, attrs.keepRows);
  const m = bEnc.shape[1];
  const xv = valuesOf(backend, x), wEv = valuesOf(backend, wEnc), bEv = valuesOf(backend, bEnc);
  const wDv = valuesOf(backend, wDec), bDv = valuesOf(backend, bDec);
  const thv = april ? new Float32Array(c * m) : valuesOf(backend, inputs.threshold);
  const s = 1 / (c * B);
  const errScale = (2 * s) / n;
  const R = ws.rows;
  const f = alloc(c * keep * m, true);
  const xHat = alloc(c * B * n);
  const l1 = new Float32Array(c * B), l2 = new Float32Array(c * B), total = new Float32Array(c * B);
  const l0 = new Float32Array(c * B);
  const gwEnc = alloc(c * n * m), gbEnc = new Float32Array(c * m);
  const gwDec = alloc(c * m * n), gbDec = new Float32Array(c * n);
  const gThreshold = new Float32Array(april ? 0 : c * m);
  // April ReLU: the decoder norms, the penalty's ∂L/∂f and each feature's Σ_b f
  const norms = new Float64Array(april ? m : 0), add = new Float32Array(april ? m : 0);
  const weights = new Float32Array(april ? m : 0), sumF = new Float64Array(april ? m : 0);
  const fired = new Int32Array(c * m);
  const sst = new Float32Array(c);
  const sumDX = new Float64Array(n);
  const { rs, re, idx, val } = tk;
  let lossSum = 0;
  for (let k = 0; k < c; k++) {
    const xk = xv.subarray(k * B * n, (k + 1) * B * n);
    const wEk = wEv.subarray(k * n * m, (k + 1) * n * m);
    const thk = thv.subarray(k * m, (k + 1) * m);
    ws.bEnc.set(bEv.subarray(k * m, (k + 1) * m));
    ws.bDec.set(bDv.subarray(k * n, (k + 1) * n));
    tk.wDec.set(wDv.subarray(k * m * n, (k + 1) * m * n));
    tk.setPrefixes([m], [1]);
    tk.setJumpThreshold(thk, eps);
    if (april) {
      for (let j = 0; j < m; j++) {
        let sq = 0;
        for (let i = 0; i < n; i++) sq += wDv[(k * m + j) * n + i] ** 2;
        norms[j] = Math.sqrt(sq);
        weights[j] = norms[j];
        add[j] = s * lambda * weights[j];
      }
      sumF.fill(0);
      tk.setJumpPenalty({ add, weights });
    } else tk.setJumpPenalty();
    for (const counts of tk.fired) counts.fill(0);
    tk.clear();
    for (const sums of [...tk.sumX, ...tk.sqX]) sums.fill(0);
    sumDX.fill(0);
    tk.x.set(xk);
    tk.center();
    // The entry lists are emptied into the weight gradients when full and at the end.
    let flushed = false;
    const flush = () => {
      // features split where the (positive) entries seen so far are halved
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
      // the block's rows: [0, half) on lane 0, [half, rows) on lane 1
      const half = Math.ceil(rows / 2);
      let done0 = 0, done1 = 0, justFlushed = false;
      for (;;) {
        const from0 = done0, from1 = half + done1;
        const [got0, got1] = tk.jumpRows(
          [{ from: from0, count: half - done0 }, { from: from1, count: rows - half - done1 }],
          r0,
          errScale,
        );
        for (const [from, got] of [[from0, got0], [from1, got1]]) {
          for (let r = r0 + from; r < Math.min(r0 + from + got, keep); r++) {
            const row = (k * keep + r) * m;
            for (let e = rs[r]; e < re[r]; e++) f[row + idx[e]] = val[e];
          }
          if (april) {
            for (let r = r0 + from; r < r0 + from + got; r++) {
              for (let e = rs[r]; e < re[r]; e++) sumF[idx[e]] += val[e];
            }
          }
        }
        done0 += got0;
        done1 += got1;
        if (done0 === half && done1 === rows - half) break;
        if (got0 > 0 || got1 > 0) justFlushed = false;
        else if (justFlushed) {
          // (cannot happen: a lane's share of the lists holds at least dSae entries)
          throw new RangeError(`JumpReLU kernel: a row of ${m} features did not fit in empty entry lists`);
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
        total[item] = ws.l2[r] + lambda * ws.l1[r];
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
    if (april) {
      // ∂L/∂wDec_j += sλ (Σ_b f_bj) · wDec_j / max(‖wDec_j‖, 1e-12)
      for (let j = 0; j < m; j++) {
        if (sumF[j] === 0) continue;
        const g = (s * lambda * sumF[j]) / Math.max(norms[j], 1e-12);
        const row = (k * m + j) * n;
        for (let i = 0; i < n; i++) gwDec[row + i] += g * wDv[row + i];
      }
    } else {
      const [c0, c1] = tk.bandCount, [s0, s1] = tk.bandSum;
      for (let j = 0; j < m; j++) {
        gThreshold[k * m + j] = thresholdGrad(c0[j] + c1[j], s0[j] + s1[j], thk[j], eps, s * lambda);
      }
    }
    let sq = 0;
    for (let i = 0; i < n; i++) {
      const sum = tk.sumX[0][i] + tk.sumX[1][i];
      sq += tk.sqX[0][i] + tk.sqX[1][i] - (sum * sum) / B;
    }
    sst[k] = Math.max(sq, 0);
    // ∂L/∂bDec = Σ_b Q − (∂L/∂bEnc) · wEncᵀ
    const gbDk = gbDec.subarray(k * n, (k + 1) * n);
    blas.sgemm(false, true, 1, n, m, -1, gbEk, m, wEk, m, 0, gbDk, n);
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
    ...(april ? [] : [backend.makeTensorInfo([c, m], "float32", gThreshold)]),
  ];
}
