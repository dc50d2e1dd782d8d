/**
 * The `blas` backend's fused step of BatchTopK and Matryoshka SAEs (the kernel named
 * `SAE_BATCHTOPK_KERNEL`; records `lib/sae/arch/batchtopk.ts` and `matryoshka.ts`). Only the encoder
 * product is dense (BLAS); the selection of the `k · batch` largest positive pre-activations of the whole
 * batch is a radix select over their float bits, and everything after it works on each row's list of
 * active features in WebAssembly, with TopK's machinery (`sae_wasm.ts`): decoder, every prefix's
 * reconstruction, `∂L/∂pre`, and the weight gradients gathered feature by feature, half the rows and
 * features on a worker thread.
 *
 * Effectful (it runs on the backend's memory); loaded by `blas_backend.ts`.
 *
 * @module
 */
import type { tf } from "../tf.ts";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import type { Blas } from "./blas_ffi.ts";
import { HIST2_BINS, type SaeBlockWorkspace } from "./sae_wasm.ts";

/** The attributes of the kernel (see `SAE_BATCHTOPK_KERNEL` in `kernel_names.ts`). */
export type BatchTopkAttrs = {
  /** λ of the L1 penalty (0 for the usual BatchTopK loss). */
  readonly l1Coefficient: number;
  /** Rows of `f` to return. */
  readonly keepRows: number;
  /** Active features per item on average: `k · batch` are kept per component. */
  readonly k: number;
  /** The prefixes' ends (Matryoshka), increasing, the last `dSae`; `[dSae]` for BatchTopK. */
  readonly prefixes: readonly number[];
  /** Their loss weights; `[1]` for BatchTopK. */
  readonly prefixWeights: readonly number[];
};

/**
 * Where the `target`-th largest of the counted values lies, from two lanes' histograms by the top 16 bits
 * of the values' float encoding (complete from bin `lowest` up): its bin and its rank among the values of
 * that bin (1 for the bin's largest); `undefined` when fewer than `target` values were counted (then every
 * positive value is kept). Pure.
 *
 * @example Bins 5 and 3 hold 2 and 4 values: the 3rd largest is the largest of bin 3
 * ```ts
 * import assert from "node:assert/strict";
 * import { thresholdBin } from "./batchtopk_kernel.ts";
 * const a = new Int32Array(8), b = new Int32Array(8);
 * a[5] = 1, b[5] = 1, a[3] = 4;
 * assert.deepEqual(thresholdBin([a, b], 0, 3), { bin: 3, rank: 1 });
 * assert.deepEqual(thresholdBin([a, b], 0, 6), { bin: 3, rank: 4 });
 * assert.equal(thresholdBin([a, b], 0, 7), undefined);
 * ```
 */
export function thresholdBin(
  hist: readonly [Int32Array, Int32Array],
  lowest: number,
  target: number,
): { bin: number; rank: number } | undefined {
  let above = 0;
  for (let bin = hist[0].length - 1; bin >= lowest; bin--) {
    const count = hist[0][bin] + hist[1][bin];
    if (above + count >= target) return { bin, rank: target - above };
    above += count;
  }
  return undefined;
}

/**
 * The float whose top 16 bits are `bin` and whose low 16 bits are those of the `rank`-th largest value
 * counted in `hist2` (two lanes' counts by the low 16 bits, within that bin). Pure.
 *
 * @example The 2nd largest of values whose low bits are 7, 7 and 2 has low bits 7
 * ```ts
 * import assert from "node:assert/strict";
 * import { thresholdValue } from "./batchtopk_kernel.ts";
 * const a = new Int32Array(1 << 16), b = new Int32Array(1 << 16);
 * a[7] = 1, b[7] = 1, a[2] = 1;
 * // 1.0 is 0x3f800000: top bits 0x3f80
 * assert.equal(thresholdValue([a, b], 0x3f80, 2), new Float32Array(new Uint32Array([0x3f800007]).buffer)[0]);
 * assert.equal(thresholdValue([a, b], 0x3f80, 3), new Float32Array(new Uint32Array([0x3f800002]).buffer)[0]);
 * ```
 */
export function thresholdValue(hist2: readonly [Int32Array, Int32Array], bin: number, rank: number): number {
  let above = 0;
  for (let low = hist2[0].length - 1; low >= 0; low--) {
    above += hist2[0][low] + hist2[1][low];
    if (above >= rank) {
      const bits = new Uint32Array([(bin << 16) | low]);
      return new Float32Array(bits.buffer)[0];
    }
  }
  throw new RangeError(
    `BatchTopK threshold: expected at least ${rank} values in top bin ${bin}, the second pass counted ${above}`,
  );
}

/** What the kernel needs from the backend beside its inputs. */
export type BatchTopkContext = {
  readonly blas: Blas;
  readonly backend: MathBackendCPU;
  /** The workspace for blocks of rows, made with the BatchTopK buffers and the number of prefixes. */
  readonly ws: SaeBlockWorkspace;
  /** A float32 output array (zeroed when `zero`), from the backend's pool where it has one. */
  readonly alloc: (length: number, zero?: boolean) => Float32Array;
};

function valuesOf(backend: MathBackendCPU, t: tf.TensorInfo): Float32Array {
  return backend.data.get(t.dataId).values as Float32Array;
}

/**
 * The fused BatchTopK (and Matryoshka) step. For each component:
 *
 * 1. `x̄ = x − bDec`; by blocks of rows, `pre = x̄ · wEnc` (BLAS) into the whole batch's buffer, and the
 *    first histogram pass over the block (`pre + bEnc`, half the rows on each lane).
 * 2. The threshold θ: the `k · batch`-th largest positive pre-activation (bin, then low bits by a second
 *    pass); 0 when there are fewer positive values (all are kept).
 * 3. By blocks: each row's entries `pre ≥ θ, pre > 0` (all ties kept), then the decoder and the backward
 *    pass on them (every prefix's `x̂_t`, `Q_t = Σ_{u ≥ t} w_u (2s/n)(x̂_u − x)`, `∂L/∂pre = Q_{t(j)} · wDec_j
 *    + sλ`); the weight gradients are gathered by feature when the entry lists are full and at the end.
 *
 * Outputs as `SAE_RELU_KERNEL`'s, then `minActive [c]` (the smallest kept activation, ∞ when none).
 *
 * @example Through the objective on the `blas` backend, which registers this kernel
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { selectBackend } from "./select.ts";
 * import { initArchParams, makeSpec } from "../sae/arch/registry.ts";
 * import { lossAndGradsFor } from "../sae/objective.ts";
 * await selectBackend("blas");
 * const spec = makeSpec("batchtopk", { k: 2 });
 * const params = initArchParams(spec, { nComponents: 1, dIn: 4, dSae: 8, seed: 0 });
 * const x = tf.randomNormal([1, 16, 4], 0, 1, "float32", 1) as tf.Tensor3D;
 * const r = lossAndGradsFor(spec, params, x);
 * assert.equal(r.stats.l0.sum().dataSync()[0], 2 * 16); // k · batch of the 128 values (no ties)
 * assert.ok(r.minActive!.dataSync()[0] > 0);
 * ```
 */
export function batchTopkLossAndGrads(
  context: BatchTopkContext,
  inputs: Record<string, tf.TensorInfo>,
  attrs: BatchTopkAttrs,
): tf.TensorInfo[] {
  const { blas, backend, ws, alloc } = context;
  const { x, wEnc, bEnc, wDec, bDec } = inputs;
  const tk = ws.topk;
  if (tk === undefined || tk.preAll === undefined) {
    throw new TypeError("BatchTopK kernel: expected a workspace made for BatchTopK, received one without");
  }
  const preAll = tk.preAll;
  const l1c = attrs.l1Coefficient;
  const [c, B, n] = x.shape;
  const keep = Math.min(B, attrs.keepRows);
  const m = bEnc.shape[1];
  const target = attrs.k * B;
  const xv = valuesOf(backend, x), wEv = valuesOf(backend, wEnc), bEv = valuesOf(backend, bEnc);
  const wDv = valuesOf(backend, wDec), bDv = valuesOf(backend, bDec);
  const s = 1 / (c * B);
  const errScale = (2 * s) / n;
  const sl1 = s * l1c;
  const R = ws.rows;
  const f = alloc(c * keep * m, true);
  const xHat = alloc(c * B * n);
  const l1 = new Float32Array(c * B), l2 = new Float32Array(c * B), total = new Float32Array(c * B);
  const l0 = new Float32Array(c * B);
  const gwEnc = alloc(c * n * m), gbEnc = new Float32Array(c * m);
  const gwDec = alloc(c * m * n), gbDec = new Float32Array(c * n);
  const fired = new Int32Array(c * m);
  const sst = new Float32Array(c);
  const minActive = new Float32Array(c);
  const sumDX = new Float64Array(n);
  const { rs, re, idx, val } = tk;
  tk.setPrefixes(attrs.prefixes, attrs.prefixWeights);
  let lossSum = 0;
  for (let k = 0; k < c; k++) {
    const xk = xv.subarray(k * B * n, (k + 1) * B * n);
    const wEk = wEv.subarray(k * n * m, (k + 1) * n * m);
    ws.bEnc.set(bEv.subarray(k * m, (k + 1) * m));
    ws.bDec.set(bDv.subarray(k * n, (k + 1) * n));
    tk.wDec.set(wDv.subarray(k * m * n, (k + 1) * m * n));
    for (const counts of tk.fired) counts.fill(0);
    tk.clear();
    tk.resetSelection();
    for (const sums of [...tk.sumX, ...tk.sqX]) sums.fill(0);
    sumDX.fill(0);
    tk.x.set(xk);
    tk.center();

    // 1. The encoder product of the whole batch, and the first histogram pass.
    for (let r0 = 0; r0 < B; r0 += R) {
      const rows = Math.min(R, B - r0);
      blas.sgemm(
        false,
        false,
        rows,
        m,
        n,
        1,
        tk.xBar.subarray(r0 * tk.ld),
        tk.ld,
        wEk,
        m,
        0,
        preAll.subarray(r0 * m),
        m,
      );
      tk.histogram(r0, rows);
    }

    // 2. The threshold.
    const lowest = Math.max(tk.lowestBin(0), tk.lowestBin(1));
    const where = thresholdBin(tk.hist, lowest, target);
    let theta = 0;
    if (where !== undefined) {
      tk.histogram2(where.bin);
      // Both passes counted every value of the threshold's bin.
      let counted = 0;
      for (let low = 0; low < HIST2_BINS; low++) counted += tk.hist2[0][low] + tk.hist2[1][low];
      const inBin = tk.hist[0][where.bin] + tk.hist[1][where.bin];
      if (counted !== inBin) {
        throw new RangeError(
          `BatchTopK threshold: expected ${inBin} values in top bin ${where.bin} (first pass), the second pass counted ${counted}`,
        );
      }
      theta = thresholdValue(tk.hist2, where.bin, where.rank);
    }
    tk.setThreshold(theta);

    // 3. Selection, decoder and backward pass by blocks; the weight gradients when the lists are full.
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
      // the block's rows: [0, half) on lane 0, [half, rows) on lane 1
      const half = Math.ceil(rows / 2);
      let done0 = 0, done1 = 0, justFlushed = false;
      for (;;) {
        const from0 = done0, from1 = half + done1;
        const [got0, got1] = tk.batchRows(
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
        if (got0 > 0 || got1 > 0) justFlushed = false;
        else if (justFlushed) {
          // (cannot happen: a lane's share of the lists holds at least dSae entries)
          throw new RangeError(`BatchTopK kernel: a row of ${m} features did not fit in empty entry lists`);
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
        total[item] = l1c * ws.l1[r] + ws.rec[r];
        lossSum += total[item];
      }
    }
    flush();
    minActive[k] = tk.smallestKept();
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
    // ∂L/∂bDec = Σ_b Q_0 − (∂L/∂bEnc) · wEncᵀ
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
    backend.makeTensorInfo([c], "float32", minActive),
  ];
}
