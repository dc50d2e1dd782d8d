/**
 * The WebAssembly (SIMD) element-wise kernels of the fused SAE step, and a
 * workspace in their memory for one block of rows. The BLAS reads and writes
 * the same workspace through FFI, so a block goes from product to kernel to
 * product without leaving the cache.
 *
 * @module
 */
import { SAE_KERNELS_WASM_BASE64 } from "./wasm/sae_kernels_wasm.ts";

type Exports = {
  center_rows(
    x: number,
    bias: number,
    xbar: number,
    rows: number,
    cols: number,
    sum: number,
    sq: number,
  ): void;
  relu_bias(p: number, bias: number, rows: number, cols: number, l1: number, l0: number, fired: number): void;
  topk_bias(
    p: number,
    bias: number,
    rows: number,
    cols: number,
    k: number,
    l1: number,
    l0: number,
    fired: number,
    scratch: number,
  ): void;
  reconstruction_grad(
    xhat: number,
    x: number,
    bias: number,
    dx: number,
    rows: number,
    cols: number,
    scale: number,
    l2: number,
    colsum: number,
  ): void;
  relu_grad(dpre: number, f: number, rows: number, cols: number, add: number, colsum: number): void;
  softmax_rows(x: number, out: number, rows: number, cols: number): void;
  sparse_decode(f: number, wdec: number, xhat: number, rows: number, m: number, n: number): void;
  sparse_backward(
    f: number,
    dx: number,
    xbar: number,
    wdec: number,
    gwdec: number,
    gwencT: number,
    rows: number,
    m: number,
    n: number,
    add: number,
    colsum: number,
  ): void;
};

/** Buffers of one block of `rows` rows, as views on the module's memory. */
export type SaeBlockWorkspace = {
  readonly rows: number;
  readonly dIn: number;
  readonly dSae: number;
  /** Inputs of the block `[rows, dIn]`. */
  readonly x: Float32Array;
  /** `x − bDec` `[rows, dIn]`. */
  readonly xBar: Float32Array;
  /** Pre-activations, then `f` in place, `[rows, dSae]`. */
  readonly f: Float32Array;
  /** Reconstruction `[rows, dIn]`. */
  readonly xHat: Float32Array;
  /** `∂L/∂x̂` `[rows, dIn]`. */
  readonly dX: Float32Array;
  /** `∂L/∂f`, then `∂L/∂pre` in place, `[rows, dSae]`. */
  readonly dPre: Float32Array;
  readonly bEnc: Float32Array;
  readonly bDec: Float32Array;
  readonly l1: Float32Array;
  readonly l0: Float32Array;
  readonly l2: Float32Array;
  readonly fired: Int32Array;
  readonly colSumX: Float32Array;
  readonly colSqX: Float32Array;
  readonly colSumDX: Float32Array;
  readonly colSumDPre: Float32Array;
  /** `x ← x − bDec` for the block; column sums and squares of `x`. */
  center(rows: number): void;
  /** `f ← max(f + bEnc, 0)`; L1, L0 per row; firing counts added to `fired`. */
  reluBias(rows: number): void;
  /** As `reluBias`, keeping only the `k` largest values of each row (ties at the k-th kept). */
  topkBias(rows: number, k: number): void;
  /** TopK: the component's decoder `[dSae, dIn]`, copied in once per component. */
  readonly wDec: Float32Array;
  /** TopK: `∂L/∂wDec` `[dSae, dIn]`, accumulated over blocks. */
  readonly gwDec: Float32Array;
  /** TopK: `(∂L/∂wEnc)ᵀ` `[dSae, dIn]`, accumulated over blocks. */
  readonly gwEncT: Float32Array;
  /** TopK: `x̂ ← Σ_j f_j wDec_j` over the non-zero features (no bias). */
  sparseDecode(rows: number): void;
  /** TopK: the backward pass at the non-zero features (gradients accumulate; column sums of ∂L/∂pre). */
  sparseBackward(rows: number, add: number): void;
  /** `x̂ ← x̂ + bDec`; `dX ← scale·(x̂ − x)`; L2 per row; column sums of `dX`. */
  reconstructionGrad(rows: number, scale: number): void;
  /** `dPre ← (dPre + add)·[f > 0]`; column sums of `dPre`. */
  reluGrad(rows: number, add: number): void;
};

let module: WebAssembly.Module | undefined;

function compiled(): WebAssembly.Module {
  if (module === undefined) {
    const binary = atob(SAE_KERNELS_WASM_BASE64);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    module = new WebAssembly.Module(bytes);
  }
  return module;
}

/**
 * A workspace for blocks of up to `rows` rows of an SAE with `dIn` inputs
 * and `dSae` features.
 */
export function saeBlockWorkspace(rows: number, dIn: number, dSae: number): SaeBlockWorkspace {
  const layout: [string, number][] = [
    ["x", rows * dIn],
    ["xBar", rows * dIn],
    ["f", rows * dSae],
    ["xHat", rows * dIn],
    ["dX", rows * dIn],
    ["dPre", rows * dSae],
    ["bEnc", dSae],
    ["bDec", dIn],
    ["l1", rows],
    ["l0", rows],
    ["l2", rows],
    ["fired", dSae],
    ["colSumX", dIn],
    ["colSqX", dIn],
    ["colSumDX", dIn],
    ["colSumDPre", dSae],
    ["scratch", dSae],
    ["wDec", dSae * dIn],
    ["gwDec", dSae * dIn],
    ["gwEncT", dSae * dIn],
  ];
  const offsets: Record<string, number> = {};
  // The module's own stack and data sit in its first pages (2 when built): start well past them.
  let bytes = 1 << 20;
  for (const [name, length] of layout) {
    offsets[name] = bytes;
    bytes += Math.ceil((length * 4) / 16) * 16;
  }
  const memory = new WebAssembly.Memory({ initial: Math.ceil(bytes / 65536) });
  const instance = new WebAssembly.Instance(compiled(), { env: { memory } });
  const k = instance.exports as unknown as Exports;
  const view = (name: string, length: number) => new Float32Array(memory.buffer, offsets[name], length);
  const o = offsets;
  return {
    rows,
    dIn,
    dSae,
    x: view("x", rows * dIn),
    xBar: view("xBar", rows * dIn),
    f: view("f", rows * dSae),
    xHat: view("xHat", rows * dIn),
    dX: view("dX", rows * dIn),
    dPre: view("dPre", rows * dSae),
    bEnc: view("bEnc", dSae),
    bDec: view("bDec", dIn),
    l1: view("l1", rows),
    l0: view("l0", rows),
    l2: view("l2", rows),
    fired: new Int32Array(memory.buffer, offsets.fired, dSae),
    colSumX: view("colSumX", dIn),
    colSqX: view("colSqX", dIn),
    colSumDX: view("colSumDX", dIn),
    colSumDPre: view("colSumDPre", dSae),
    center: (r) => k.center_rows(o.x, o.bDec, o.xBar, r, dIn, o.colSumX, o.colSqX),
    reluBias: (r) => k.relu_bias(o.f, o.bEnc, r, dSae, o.l1, o.l0, o.fired),
    topkBias: (r, topK) => k.topk_bias(o.f, o.bEnc, r, dSae, topK, o.l1, o.l0, o.fired, o.scratch),
    wDec: view("wDec", dSae * dIn),
    gwDec: view("gwDec", dSae * dIn),
    gwEncT: view("gwEncT", dSae * dIn),
    sparseDecode: (r) => k.sparse_decode(o.f, o.wDec, o.xHat, r, dSae, dIn),
    sparseBackward: (r, add) =>
      k.sparse_backward(o.f, o.dX, o.xBar, o.wDec, o.gwDec, o.gwEncT, r, dSae, dIn, add, o.colSumDPre),
    reconstructionGrad: (r, scale) =>
      k.reconstruction_grad(o.xHat, o.x, o.bDec, o.dX, r, dIn, scale, o.l2, o.colSumDX),
    reluGrad: (r, add) => k.relu_grad(o.dPre, o.f, r, dSae, add, o.colSumDPre),
  };
}

const SOFTMAX_BUFFER_FLOATS = 1 << 20;
let softmaxKernel: { run: (x: Float32Array, out: Float32Array, cols: number) => void } | undefined;

/**
 * Softmax of each row of `x` (`cols` values a row) into `out`, in SIMD
 * WebAssembly (exp to about 2e-7 relative; −∞ gives about 1e-38·max, not 0).
 */
export function softmaxRows(x: Float32Array, out: Float32Array, cols: number): void {
  if (softmaxKernel === undefined) {
    const base = 1 << 20;
    const memory = new WebAssembly.Memory({ initial: Math.ceil((base + 8 * SOFTMAX_BUFFER_FLOATS) / 65536) });
    const k = new WebAssembly.Instance(compiled(), { env: { memory } }).exports as unknown as Exports;
    const input = new Float32Array(memory.buffer, base, SOFTMAX_BUFFER_FLOATS);
    const output = new Float32Array(memory.buffer, base + 4 * SOFTMAX_BUFFER_FLOATS, SOFTMAX_BUFFER_FLOATS);
    softmaxKernel = {
      run: (x, out, cols) => {
        if (cols > SOFTMAX_BUFFER_FLOATS) {
          throw new RangeError(`softmax: rows of at most ${SOFTMAX_BUFFER_FLOATS} values, received ${cols}`);
        }
        const rowsPerChunk = Math.floor(SOFTMAX_BUFFER_FLOATS / cols);
        for (let start = 0; start < x.length; start += rowsPerChunk * cols) {
          const length = Math.min(rowsPerChunk * cols, x.length - start);
          input.set(x.subarray(start, start + length));
          k.softmax_rows(base, base + 4 * SOFTMAX_BUFFER_FLOATS, length / cols, cols);
          out.set(output.subarray(0, length), start);
        }
      },
    };
  }
  softmaxKernel.run(x, out, cols);
}
