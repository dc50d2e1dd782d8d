/**
 * The `blas` backend's fused AuxK (the kernel named `SAE_AUXK_KERNEL`; the TopK family's auxiliary loss,
 * `auxK` in `lib/sae/arch/shared.ts`), run right after the fused TopK or BatchTopK step on its workspace:
 * the dead features' pre-activations are read from the step's own encoder product where the workspace
 * still holds it (the step's last component), so AuxK adds no dense encoder product; for other
 * components, only the dead features' columns are multiplied. Selection, decoder and backward pass work
 * on each row's list of active dead features, with TopK's machinery (`sae_wasm.ts`), half the rows and
 * features on a worker thread.
 *
 * Effectful (it runs on the backend's memory); loaded by `blas_backend.ts`.
 *
 * @module
 */
import type { tf } from "../tf.ts";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import type { Blas } from "./blas_ffi.ts";
import type { SaeBlockWorkspace } from "./sae_wasm.ts";

/** The attributes of the kernel (see `SAE_AUXK_KERNEL` in `kernel_names.ts`). */
export type AuxkAttrs = {
  /** The number of dead features that reconstruct the residual, per item. */
  readonly kAux: number;
  /** α, the coefficient of the auxiliary loss. */
  readonly auxkCoefficient: number;
};

/** What the kernel needs from the backend beside its inputs. */
export type AuxkContext = {
  readonly blas: Blas;
  readonly backend: MathBackendCPU;
  /** A TopK-family workspace for the batch that keeps the whole batch's pre-activations (`preAll`). */
  readonly ws: SaeBlockWorkspace;
  /** A float32 output array (zeroed when `zero`), from the backend's pool where it has one. */
  readonly alloc: (length: number, zero?: boolean) => Float32Array;
  /**
   * The component whose encoder products `x̄ · wEnc` (without the bias) `ws`'s `preAll` holds for these very
   * inputs (the step just run), or −1.
   */
  readonly cached: number;
};

function valuesOf(backend: MathBackendCPU, t: tf.TensorInfo): Float32Array {
  return backend.data.get(t.dataId).values as Float32Array;
}

/**
 * The indices `j` with `dead[j] > 0`, increasing, into `out`; their count. Pure.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { deadList } from "./auxk_kernel.ts";
 * const out = new Int32Array(4);
 * assert.equal(deadList(new Float32Array([0, 1, 0, 1]), out), 2);
 * assert.deepEqual(Array.from(out.subarray(0, 2)), [1, 3]);
 * ```
 */
export function deadList(dead: Float32Array, out: Int32Array): number {
  let nd = 0;
  for (let j = 0; j < dead.length; j++) if (dead[j] > 0) out[nd++] = j;
  return nd;
}

/**
 * AuxK (Gao et al., 2024) for every component: of the dead features, the `kAux` largest positive
 * pre-activations of each item (ties kept) reconstruct the residual `e = x − x̂` of the main step,
 * `ê = f_aux · wDec`; with `R = α (2s/n)(ê − e)`:
 *
 * ```
 * aux = mse(ê, e) per item,  ∂/∂wDec_j = Σ_b f_aux,bj R_b,  ∂/∂pre = (R · wDecᵀ) ⊙ mask_aux
 *   → ∂/∂wEnc = x̄ᵀ · ∂/∂pre,  ∂/∂bEnc = Σ_b ∂/∂pre,  ∂/∂bDec = −(Σ_b ∂/∂pre) · wEncᵀ
 * ```
 *
 * Outputs `aux [c, B]`, then AuxK's shares of the gradients `wEnc, bEnc, wDec, bDec` (to add to the main
 * step's).
 *
 * @example Through the objective on the `blas` backend: BatchTopK with every feature dead
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { selectBackend } from "./select.ts";
 * import { initArchParams, makeSpec } from "../sae/arch/registry.ts";
 * import { lossAndGradsFor } from "../sae/objective.ts";
 * await selectBackend("blas");
 * const spec = makeSpec("batchtopk", { k: 2, auxK: 4, auxkCoefficient: 1 / 32 });
 * const params = initArchParams(spec, { nComponents: 1, dIn: 4, dSae: 8, seed: 0 });
 * const x = tf.randomNormal([1, 16, 4], 0, 1, "float32", 1) as tf.Tensor3D;
 * const r = lossAndGradsFor(spec, params, x, x, { dead: tf.ones([1, 8]) });
 * assert.equal(r.terms.aux!.shape.join(), "1,16");
 * assert.ok(r.terms.aux!.sum().dataSync()[0] > 0);
 * ```
 */
export function auxkLossAndGrads(
  context: AuxkContext,
  inputs: Record<string, tf.TensorInfo>,
  attrs: AuxkAttrs,
): tf.TensorInfo[] {
  const { blas, backend, ws, alloc, cached } = context;
  const { x, wEnc, bEnc, wDec, bDec, xHat, dead } = inputs;
  const tk = ws.topk;
  if (tk === undefined || tk.preAll === undefined) {
    throw new TypeError("AuxK kernel: expected a workspace that keeps the batch's pre-activations");
  }
  const preAll = tk.preAll;
  const [c, B, n] = x.shape;
  const m = bEnc.shape[1];
  const kAux = attrs.kAux;
  const xv = valuesOf(backend, x), wEv = valuesOf(backend, wEnc), bEv = valuesOf(backend, bEnc);
  const wDv = valuesOf(backend, wDec), bDv = valuesOf(backend, bDec);
  const hv = valuesOf(backend, xHat), dv = valuesOf(backend, dead);
  const s = 1 / (c * B);
  const scale = (attrs.auxkCoefficient * 2 * s) / n;
  const R = ws.rows;
  const aux = new Float32Array(c * B);
  const gwEnc = alloc(c * n * m, true), gbEnc = new Float32Array(c * m);
  const gwDec = alloc(c * m * n, true), gbDec = new Float32Array(c * n);
  const { dlist } = tk;
  // The cached component first: the other components' products overwrite the buffer.
  const order = [...Array(c).keys()].sort((a, b) => (b === cached ? 1 : 0) - (a === cached ? 1 : 0));
  for (const k of order) {
    // (With no dead feature, ê = 0: the loss is still mse(0, e), as the composed maths has it.)
    const nd = deadList(dv.subarray(k * m, (k + 1) * m), dlist);
    const wEk = wEv.subarray(k * n * m, (k + 1) * n * m);
    const bEk = bEv.subarray(k * m, (k + 1) * m);
    ws.bDec.set(bDv.subarray(k * n, (k + 1) * n));
    tk.wDec.set(wDv.subarray(k * m * n, (k + 1) * m * n));
    const xk = xv.subarray(k * B * n, (k + 1) * B * n);
    tk.x.set(xk);
    tk.center();
    if (nd === 0) {
      // nothing to select from
    } else if (k === cached) tk.auxCompact(nd);
    else {
      // pre of the dead features = x̄ · wEnc[:, dead], rows nd apart
      const wDead = new Float32Array(n * nd);
      for (let i = 0; i < n; i++) for (let d = 0; d < nd; d++) wDead[i * nd + d] = wEk[i * m + dlist[d]];
      for (let r0 = 0; r0 < B; r0 += R) {
        const rows = Math.min(R, B - r0);
        blas.sgemm(
          false,
          false,
          rows,
          nd,
          n,
          1,
          tk.xBar.subarray(r0 * tk.ld),
          tk.ld,
          wDead,
          nd,
          0,
          preAll.subarray(r0 * nd),
          nd,
        );
      }
    }
    // The lanes' bias: the dead features' (the main step sets it again).
    for (let d = 0; d < nd; d++) ws.bEnc[d] = bEk[dlist[d]];
    for (const counts of tk.fired) counts.fill(0);
    tk.clear();
    tk.auxMode();
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
      // the residual e = x − x̂ of the main step
      const xb = xk.subarray(r0 * n, (r0 + rows) * n),
        hb = hv.subarray((k * B + r0) * n, (k * B + r0 + rows) * n);
      for (let i = 0; i < rows * n; i++) ws.x[i] = xb[i] - hb[i];
      const half = Math.ceil(rows / 2);
      let done0 = 0, done1 = 0, justFlushed = false;
      for (;;) {
        const [got0, got1] = tk.auxRows(
          [{ from: done0, count: half - done0 }, { from: half + done1, count: rows - half - done1 }],
          r0,
          nd,
          scale,
          kAux,
        );
        done0 += got0;
        done1 += got1;
        if (done0 === half && done1 === rows - half) break;
        if (got0 > 0 || got1 > 0) justFlushed = false;
        else if (justFlushed) {
          // (cannot happen: a lane's share of the lists holds at least dSae entries)
          throw new RangeError(`AuxK kernel: a row of ${nd} dead features did not fit in empty entry lists`);
        }
        flush();
        justFlushed = true;
      }
      aux.set(ws.l2.subarray(0, rows), k * B + r0);
    }
    flush();
    gwDec.set(tk.gwDec, k * m * n);
    gwEnc.set(tk.gwEnc, k * n * m);
    const gbEk = gbEnc.subarray(k * m, (k + 1) * m);
    gbEk.set(tk.gbEnc);
    // ∂/∂bDec = −(∂/∂bEnc) · wEncᵀ
    blas.sgemm(false, true, 1, n, m, -1, gbEk, m, wEk, m, 0, gbDec.subarray(k * n, (k + 1) * n), n);
  }
  return [
    backend.makeTensorInfo([c, B], "float32", aux),
    backend.makeTensorInfo([c, n, m], "float32", gwEnc),
    backend.makeTensorInfo([c, m], "float32", gbEnc),
    backend.makeTensorInfo([c, m, n], "float32", gwDec),
    backend.makeTensorInfo([c, n], "float32", gbDec),
  ];
}
