/**
 * The WebAssembly (SIMD) kernels of the fused SAE step, and a workspace in
 * their memory for one block of rows. The BLAS reads and writes the same
 * workspace through FFI, so a block goes from product to kernel to product
 * without leaving the cache. For TopK the workspace also holds the whole
 * batch's lists of active features, and a worker thread
 * (`node:worker_threads`, on the same shared memory) runs half of the
 * kernels' work.
 *
 * @module
 */
import { Worker } from "node:worker_threads";
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
  topk_rows(
    lane: number,
    p: number,
    x: number,
    xhat: number,
    l1: number,
    l0: number,
    l2: number,
    row0: number,
    rows: number,
    scale: number,
    add: number,
  ): number;
  topk_weight_grads(lane: number, j0: number, j1: number, accumulate: number): void;
  topk_center(lane: number, row0: number, rows: number): void;
  auxk_gather(p: number, rows: number, m: number, dlist: number, nd: number): void;
  auxk_rows(
    lane: number,
    p: number,
    nd: number,
    dlist: number,
    e: number,
    ehat: number,
    aux: number,
    row0: number,
    rows: number,
    scale: number,
    kaux: number,
  ): number;
  jumprelu_rows(
    lane: number,
    p: number,
    x: number,
    xhat: number,
    l1: number,
    l0: number,
    l2: number,
    row0: number,
    rows: number,
    scale: number,
  ): number;
  gated_rows(
    lane: number,
    p: number,
    x: number,
    xhat: number,
    l1: number,
    l0: number,
    l2: number,
    aux: number,
    row0: number,
    rows: number,
    scale: number,
    add: number,
  ): number;
  batchtopk_hist(lane: number, p: number, rows: number): void;
  batchtopk_hist2(lane: number, p: number, rows: number, bin: number): void;
  batchtopk_rows(
    lane: number,
    p: number,
    x: number,
    xhat: number,
    l1: number,
    l0: number,
    l2: number,
    rec: number,
    row0: number,
    rows: number,
    scale: number,
    add: number,
  ): number;
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
  /** The weighted sum of the prefixes' reconstruction losses per row (BatchTopK and Matryoshka). */
  readonly rec: Float32Array;
  readonly fired: Int32Array;
  readonly colSumX: Float32Array;
  readonly colSqX: Float32Array;
  readonly colSumDX: Float32Array;
  readonly colSumDPre: Float32Array;
  /** `x ← x − bDec` for the block; column sums and squares of `x`. */
  center(rows: number): void;
  /** `f ← max(f + bEnc, 0)`; L1, L0 per row; firing counts added to `fired`. */
  reluBias(rows: number): void;
  /** TopK buffers and kernels, when the workspace was made for TopK. */
  readonly topk?: TopkWorkspace;
  /** `x̂ ← x̂ + bDec`; `dX ← scale·(x̂ − x)`; L2 per row; column sums of `dX`. */
  reconstructionGrad(rows: number, scale: number): void;
  /** `dPre ← (dPre + add)·[f > 0]`; column sums of `dPre`. */
  reluGrad(rows: number, add: number): void;
};

/**
 * The TopK step's buffers for a whole batch of one component: the active features of each row as lists of
 * entries (feature, f value, ∂L/∂pre), `x̄` and `∂L/∂x̂` of every row, and the weight gradients. The rows of a
 * block are split between two lanes, and the features of the weight gradients too; a worker thread runs
 * lane 1 while the calling thread runs lane 0, or the calling thread runs both (until the worker has
 * started, or where none can). The split depends only on the data, so the results do not depend on which
 * thread ran a lane.
 */
export type TopkWorkspace = {
  readonly batch: number;
  readonly k: number;
  /** The component's inputs `[batch, dIn]`, copied in by the caller. */
  readonly x: Float32Array;
  /** `x − bDec` of every row `[batch, dIn]`, rows `ld` apart (see `center`). */
  readonly xBar: Float32Array;
  /** The row stride of `xBar`. */
  readonly ld: number;
  /** Each lane's column sums of `x` and of `x²` `[dIn]` (the caller zeroes them). */
  readonly sumX: readonly [Float64Array, Float64Array];
  readonly sqX: readonly [Float64Array, Float64Array];
  /** Row r's entries are `[rs[r], re[r])` of `idx` and `val`. */
  readonly rs: Int32Array;
  readonly re: Int32Array;
  readonly idx: Int32Array;
  readonly val: Float32Array;
  /** The component's decoder `[dSae, dIn]`, copied in once per component. */
  readonly wDec: Float32Array;
  /** `∂L/∂wDec` `[dSae, dIn]`. */
  readonly gwDec: Float32Array;
  /** `∂L/∂wEnc` `[dIn, dSae]`. */
  readonly gwEnc: Float32Array;
  /** `∂L/∂bEnc` `[dSae]`. */
  readonly gbEnc: Float32Array;
  /** Each lane's firing counts `[dSae]` and column sums of `∂L/∂x̂` `[dIn]` (the caller zeroes them). */
  readonly fired: readonly [Int32Array, Int32Array];
  readonly colSumDX: readonly [Float32Array, Float32Array];
  /** `x̄ = x − bDec` for every row, with the column sums of `x` and `x²`, half the rows on each lane. */
  center(): void;
  /** Empties the entry lists: every row without entries, both lanes' shares free. */
  clear(): void;
  /**
   * Selection (`f = TopK(pre + bEnc)`), decoder, `∂L/∂x̂` and `∂L/∂pre` for block rows `[from, from + count)` of
   * each lane (global rows from `row0 + from`), lanes in parallel. Returns the rows each lane did: fewer when
   * its share of the entry lists is full (empty them into the gradients, `clear`, and go on).
   */
  rows(
    lanes: readonly [{ from: number; count: number }, { from: number; count: number }],
    row0: number,
    scale: number,
    add: number,
  ): [number, number];
  /**
   * Weight gradients from the entries of every row, features `[0, split)` on lane 0 and `[split, dSae)` on
   * lane 1, added to the gradients when `accumulate`.
   */
  weightGrads(split: number, accumulate: boolean): void;
  /**
   * The prefixes of nested dictionaries (Matryoshka): their ends (increasing, the last `dSae`) and weights, as
   * many as the workspace was made for (one, `[dSae]` with weight 1, unless set).
   */
  setPrefixes(ends: readonly number[], weights: readonly number[]): void;
  /**
   * The whole batch's encoder products `x̄ · wEnc` `[batch, dSae]` (without the bias), where the workspace
   * keeps them (BatchTopK always; TopK when made with `keepPre`): the step writes them here.
   */
  readonly preAll?: Float32Array;
  /** The number of prefixes it was made for. */
  readonly prefixes: number;
  /** Whether it was made for BatchTopK. */
  readonly batchTopk: boolean;
  /** AuxK: the dead features, increasing, in the first `nd` places. */
  readonly dlist: Int32Array;
  /** AuxK: compacts every row of `preAll` in place to the `nd` columns of `dlist` (rows `nd` apart). */
  auxCompact(nd: number): void;
  /**
   * AuxK for block rows `[from, from + count)` of each lane (global rows from `row0 + from`): the dead
   * features' pre-activations from the compacted `preAll` (plus the bias in `bEnc`, dead features' first),
   * the residual `x − x̂` of the main step in the block's `x`; `ê` to `xHat`, the losses to `l2`, the
   * residual's gradient to `∂L/∂x̂`'s first array and `∂L/∂pre` to the entries (after `auxMode`). Returns
   * the rows each lane did, as `rows`.
   */
  auxRows(
    lanes: readonly [{ from: number; count: number }, { from: number; count: number }],
    row0: number,
    nd: number,
    scale: number,
    kAux: number,
  ): [number, number];
  /**
   * AuxK: one prefix of weight 1 (every feature's weight gradient from `∂L/∂x̂`'s first array) and `bDec` 0,
   * after `center`; `setPrefixes` (the next BatchTopK step) and the next step's `bDec` restore them.
   */
  auxMode(): void;
  /**
   * BatchTopK: empties both lanes' histograms, sets the number of values to keep (`k · batch`), and forgets
   * the smallest kept value.
   */
  resetSelection(): void;
  /** BatchTopK's first pass over rows `[row0, row0 + rows)` of `preAll`, half of them on each lane. */
  histogram(row0: number, rows: number): void;
  /** BatchTopK's second pass over every row of `preAll`, counting the values of top bin `bin`. */
  histogram2(bin: number): void;
  /** Each lane's histograms by top bits (counted from its `lowestBin` up) and by low bits. */
  readonly hist: readonly [Int32Array, Int32Array];
  readonly hist2: readonly [Int32Array, Int32Array];
  /** Each lane's lowest top bin whose counts are complete. */
  lowestBin(lane: number): number;
  /** Sets both lanes' threshold: the positive values ≥ `theta` are kept (`0`: every positive value). */
  setThreshold(theta: number): void;
  /** The smallest value either lane has kept since `resetSelection` (`Infinity` when none). */
  smallestKept(): number;
  /**
   * BatchTopK's `rows` for the block at `row0` (its pre-activations read from `preAll`): selection at the
   * threshold, decoder and backward pass; the block's weighted reconstruction losses go to `rec`.
   */
  batchRows(
    lanes: readonly [{ from: number; count: number }, { from: number; count: number }],
    row0: number,
    scale: number,
    add: number,
  ): [number, number];
  /** JumpReLU: each lane's count of the values in the rectangle kernel's band, per feature `[dSae]`. */
  readonly bandCount: readonly [Float32Array, Float32Array];
  /** JumpReLU: each lane's sum of `∂L/∂f` over the values in the band, per feature `[dSae]`. */
  readonly bandSum: readonly [Float32Array, Float32Array];
  /**
   * JumpReLU: sets θ `[dSae]` and the bandwidth ε (0: no band), and zeroes both lanes' band sums.
   */
  setJumpThreshold(threshold: Float32Array, bandwidth: number): void;
  /**
   * The selection's penalty per feature (April ReLU): `add` `[dSae]` is added to `∂L/∂pre` at each entry
   * and the row's penalty is `Σ f_j · weights[j]`; without them (JumpReLU) nothing is added and the
   * penalty is the count of entries.
   */
  setJumpPenalty(penalty?: { readonly add: Float32Array; readonly weights: Float32Array }): void;
  /**
   * JumpReLU's selection (`pre > θ`), decoder and backward pass for rows of the block whose
   * pre-activations `x̄ · wEnc` are in the block buffer `f` (see `jumprelu_rows` in sae_kernels.c), one
   * range of rows on each lane; how many rows each lane did.
   */
  jumpRows(
    lanes: readonly [{ from: number; count: number }, { from: number; count: number }],
    row0: number,
    scale: number,
  ): [number, number];
  /**
   * Gated SAEs: sets the magnitude path's `exp(rMag)` and `bMag` `[dSae]`, and zeroes both lanes' sums
   * (`bandCount` then holds `Σ ∂L/∂πmag`, `bandSum` `Σ ∂L/∂πmag · z · exp(rMag)`, `gateSum` `Σ ∂L/∂πgate`).
   */
  setGated(magScale: Float32Array, magBias: Float32Array): void;
  readonly gateSum: readonly [Float32Array, Float32Array];
  /**
   * The gated SAE's rows (see `gated_rows` in sae_kernels.c), their `z = x̄ · wEnc` in the block buffer
   * `f`; the gate path's loss per row into the block's `rec`. How many rows each lane did.
   */
  gatedRows(
    lanes: readonly [{ from: number; count: number }, { from: number; count: number }],
    row0: number,
    scale: number,
    add: number,
  ): [number, number];
  /** Whether a worker thread runs lane 1 now (it has started, and `setTopkWorkerEnabled` has not turned it off). */
  readonly threaded: boolean;
  /** Stops the worker. */
  dispose(): void;
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
 * The module imports a shared memory (so that a worker thread can run kernels on the same buffers); it
 * never grows.
 */
function sharedMemory(bytes: number): WebAssembly.Memory {
  const pages = Math.ceil(bytes / 65536);
  if (pages > 65536) {
    throw new RangeError(
      `saekit's WebAssembly kernels: a workspace of ${
        (bytes / 2 ** 30).toFixed(1)
      } GiB does not fit in WebAssembly's 4 GiB (a smaller batch, or for BatchTopK batch × dSae below about 2^29)`,
    );
  }
  return new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
}

/** Fields of a lane, in the order of `lane_t` in sae_kernels.c, all 4 bytes. */
const LANE_FIELDS = [
  "m",
  "n",
  "k",
  "batch",
  "bias",
  "bdec",
  "wdec",
  "rs",
  "re",
  "idx",
  "val",
  "dval",
  "cursor",
  "end",
  "fired",
  "colsum",
  "candIdx",
  "candVal",
  "heap",
  "dx",
  "xbar",
  "start",
  "crow",
  "cval",
  "cd",
  "gwdec",
  "gwenc",
  "gbenc",
  "x",
  "sumx",
  "sqx",
  "tsum",
  "tsq",
  "ld",
  "nseg",
  "ends",
  "wts",
  "xs",
  "dxstride",
  "hist",
  "hist2",
  "lbin",
  "cntge",
  "target",
  "theta",
  "vmin",
  "thr",
  "eps",
  "bcnt",
  "bsum",
  "bidx",
  "fadd",
  "wl1",
  "mscale",
  "mbias",
  "gsum",
] as const;

/** Lane fields that hold a float32 (the others are int32 or addresses). */
const FLOAT_LANE_FIELDS: ReadonlySet<string> = new Set(["theta", "vmin", "eps"]);

/**
 * Bins of BatchTopK's first histogram: by the top 16 bits of a positive float's encoding (sign 0, exponent,
 * 7 bits of mantissa), which order positive floats as integers.
 *
 * @example 1.0 is 0x3f800000: bin 0x3f80
 * ```ts
 * import assert from "node:assert/strict";
 * import { HIST_BINS } from "./sae_wasm.ts";
 * const bits = new Uint32Array(new Float32Array([1]).buffer)[0];
 * assert.equal(bits >>> 16, 0x3f80);
 * assert.ok((bits >>> 16) < HIST_BINS);
 * ```
 */
export const HIST_BINS = 1 << 15;
/**
 * Bins of BatchTopK's second histogram: by the low 16 bits, within one bin of the first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HIST2_BINS } from "./sae_wasm.ts";
 * assert.equal(HIST2_BINS, 65536);
 * ```
 */
export const HIST2_BINS = 1 << 16;

/**
 * The row stride of the TopK step's `x̄` and `∂L/∂x̂` (see `ld` in sae_kernels.c): `dIn` and 16 more when
 * that is a multiple of 16 (64 bytes), so that rows do not start at the same offset within 1 KiB.
 */
export function topkRowStride(dIn: number): number {
  return dIn % 16 === 0 ? dIn + 16 : dIn;
}

/**
 * The sparse steps' sizes beyond a block's: see {@linkcode saeBlockWorkspace}.
 *
 * @example A BatchTopK workspace keeps the whole batch's encoder products
 * ```ts
 * import assert from "node:assert/strict";
 * import { saeBlockWorkspace } from "./sae_wasm.ts";
 * const ws = saeBlockWorkspace(4, 2, 8, { batch: 6, k: 2, batchTopk: true });
 * assert.equal(ws.topk!.preAll!.length, 6 * 8);
 * ws.topk!.dispose();
 * ```
 */
export type SparseStepSizes = {
  /** Rows of the batch. */
  readonly batch: number;
  /** TopK's k, or BatchTopK's average k. */
  readonly k: number;
  /** Nested dictionaries (Matryoshka): how many prefixes (1 by default). */
  readonly prefixes?: number;
  /** BatchTopK: the whole batch's pre-activations are kept, with the histograms of its selection. */
  readonly batchTopk?: boolean;
  /** TopK: the whole batch's pre-activations are kept (for AuxK after the step). */
  readonly keepPre?: boolean;
};

/**
 * A workspace for blocks of up to `rows` rows of an SAE with `dIn` inputs
 * and `dSae` features; with `topk`, also the TopK (or BatchTopK) step's
 * buffers for a batch of `topk.batch` rows.
 */
export function saeBlockWorkspace(
  rows: number,
  dIn: number,
  dSae: number,
  topk?: SparseStepSizes,
): SaeBlockWorkspace {
  // A lane's share of the entry lists: k entries for each of its rows (at most half of each block, rounded
  // up) and a quarter more (ties), and one whole row beyond that, so that an empty share always takes a row.
  const batch = topk?.batch ?? 0;
  const ld = topkRowStride(dIn);
  const laneRows = Math.ceil(batch / 2) + Math.ceil(batch / rows);
  const share = topk === undefined ? 0 : Math.ceil(1.25 * laneRows * topk.k) + dSae;
  const prefixes = topk?.prefixes ?? 1;
  const batchTopk = topk?.batchTopk === true;
  const keepPre = batchTopk || topk?.keepPre === true;
  const lane = (i: number): [string, number][] => [
    [`lane${i}`, LANE_FIELDS.length],
    [`fired${i}`, dSae],
    [`colsum${i}`, dIn],
    [`candIdx${i}`, dSae],
    [`candVal${i}`, dSae],
    [`heap${i}`, dSae],
    [`start${i}`, dSae + 1],
    [`crow${i}`, 2 * share],
    [`cval${i}`, 2 * share],
    [`cd${i}`, 2 * share],
    [`sumx${i}`, 2 * dIn],
    [`sqx${i}`, 2 * dIn],
    [`tsum${i}`, dIn],
    [`tsq${i}`, dIn],
    [`xs${i}`, prefixes * dIn],
    [`hist${i}`, batchTopk ? HIST_BINS : 0],
    [`hist2${i}`, batchTopk ? HIST2_BINS : 0],
    [`bcnt${i}`, dSae],
    [`bsum${i}`, dSae],
    [`bidx${i}`, dSae],
    [`gsum${i}`, dSae],
  ];
  const topkLayout: [string, number][] = topk === undefined ? [] : [
    ["control", CONTROL_INTS],
    ["xAll", batch * dIn],
    ["xBarAll", batch * ld],
    // ∂L/∂x̂ of every row, one array per prefix (Matryoshka: the suffix sums Q_t)
    ["dXAll", prefixes * batch * ld],
    ["preAll", keepPre ? batch * dSae : 0],
    // AuxK: the dead features
    ["dlist", dSae],
    // JumpReLU: θ; April ReLU: its penalty's weights
    ["thr", dSae],
    ["fadd", dSae],
    ["wl1", dSae],
    // gated: exp(rMag) and bMag
    ["mscale", dSae],
    ["mbias", dSae],
    ["ends", prefixes],
    ["wts", prefixes],
    ["rs", batch],
    ["re", batch],
    ["idx", 2 * share],
    ["val", 2 * share],
    ["dval", 2 * share],
    ["wDec", dSae * dIn],
    ["gwDec", dSae * dIn],
    ["gwEnc", dSae * dIn],
    ["gbEnc", dSae],
    ...lane(0),
    ...lane(1),
  ];
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
    ["rec", rows],
    ["fired", dSae],
    ["colSumX", dIn],
    ["colSqX", dIn],
    ["colSumDX", dIn],
    ["colSumDPre", dSae],
    ...topkLayout,
  ];
  const offsets: Record<string, number> = {};
  // The module's own stack and data sit in its first pages (2 when built): start well past them.
  let bytes = 1 << 20;
  for (const [name, length] of layout) {
    offsets[name] = bytes;
    bytes += Math.ceil((length * 4) / 64) * 64;
  }
  const memory = sharedMemory(bytes);
  const instance = new WebAssembly.Instance(compiled(), { env: { memory } });
  const k = instance.exports as unknown as Exports;
  const view = (name: string, length: number) => new Float32Array(memory.buffer, offsets[name], length);
  const ints = (name: string, length: number) => new Int32Array(memory.buffer, offsets[name], length);
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
    rec: view("rec", rows),
    fired: ints("fired", dSae),
    colSumX: view("colSumX", dIn),
    colSqX: view("colSqX", dIn),
    colSumDX: view("colSumDX", dIn),
    colSumDPre: view("colSumDPre", dSae),
    center: (r) => k.center_rows(o.x, o.bDec, o.xBar, r, dIn, o.colSumX, o.colSqX),
    reluBias: (r) => k.relu_bias(o.f, o.bEnc, r, dSae, o.l1, o.l0, o.fired),
    reconstructionGrad: (r, scale) =>
      k.reconstruction_grad(o.xHat, o.x, o.bDec, o.dX, r, dIn, scale, o.l2, o.colSumDX),
    reluGrad: (r, add) => k.relu_grad(o.dPre, o.f, r, dSae, add, o.colSumDPre),
    topk: topk === undefined ? undefined : topkWorkspace(
      ld,
      memory,
      k,
      offsets,
      dIn,
      dSae,
      topk.batch,
      topk.k,
      share,
      prefixes,
      batchTopk,
      keepPre,
    ),
  };
}

/**
 * The control block that the calling thread and the worker share: ints [command, ready, done, result,
 * error], then the arguments as float64 from byte 64.
 */
const CONTROL_INTS = 64;
const COMMAND = 0, READY = 1, DONE = 2, RESULT = 3, ERROR = 4, ARGS_BYTE = 64;
const WORKER_TOPK_ROWS = 1, WORKER_TOPK_WEIGHT_GRADS = 2, WORKER_TOPK_CENTER = 3, WORKER_EXIT = -1;
const WORKER_BATCHTOPK_HIST = 4, WORKER_BATCHTOPK_HIST2 = 5, WORKER_BATCHTOPK_ROWS = 6, WORKER_AUXK_ROWS = 7;
const WORKER_JUMPRELU_ROWS = 8, WORKER_GATED_ROWS = 9;

let workerEnabled = true;

/**
 * Lets TopK workspaces run lane 1 on their worker thread (the default, where there are two cores) or
 * not: with `false` the calling thread runs both lanes, as it does until a worker has started. The lanes
 * split the work by data, so the results are the same either way, bit for bit; the switch is for tests
 * that check exactly that, and for measuring the worker's gain. Takes effect from the next kernel call;
 * returns the previous setting.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { setTopkWorkerEnabled } from "./sae_wasm.ts";
 * const before = setTopkWorkerEnabled(false); // one thread from now on
 * assert.equal(before, true);
 * assert.equal(setTopkWorkerEnabled(before), false);
 * ```
 */
export function setTopkWorkerEnabled(enabled: boolean): boolean {
  const before = workerEnabled;
  workerEnabled = enabled;
  return before;
}

/** A worker thread that runs kernels on a workspace's memory. */
type KernelWorker = {
  /** Whether it has started (until then, and if it failed, the calling thread does its work). */
  ready(): boolean;
  /** Starts `command` with `args`; `wait` for it before the next. */
  post(command: number, args: readonly number[]): void;
  /** Blocks until the command is done; its result. */
  wait(): number;
  stop(): void;
};

/** The control block's layout and the commands, handed to the worker with its first message. */
const PROTOCOL = {
  ints: CONTROL_INTS,
  command: COMMAND,
  ready: READY,
  done: DONE,
  result: RESULT,
  error: ERROR,
  argsByte: ARGS_BYTE,
  rows: WORKER_TOPK_ROWS,
  weightGrads: WORKER_TOPK_WEIGHT_GRADS,
  center: WORKER_TOPK_CENTER,
  hist: WORKER_BATCHTOPK_HIST,
  hist2: WORKER_BATCHTOPK_HIST2,
  batchRows: WORKER_BATCHTOPK_ROWS,
  auxRows: WORKER_AUXK_ROWS,
  jumpRows: WORKER_JUMPRELU_ROWS,
  gatedRows: WORKER_GATED_ROWS,
  exit: WORKER_EXIT,
} as const;

/** What a worker is handed when it starts: the kernels this process compiled, the memory, the protocol. */
type WorkerStart = {
  readonly module: WebAssembly.Module;
  readonly memory: WebAssembly.Memory;
  readonly control: number;
  readonly protocol: typeof PROTOCOL;
};

/**
 * The worker thread's side: instantiates the kernels on the workspace's shared memory, says it is ready,
 * then runs each command it is given until told to exit.
 *
 * The worker runs this function's own source text (see {@linkcode workerSource}), on the compiled module
 * that the calling thread sends it, so the two threads always run the same code. (A worker that loaded its
 * code from disk when it started, as it once did, ran another version of the kernels on the same memory
 * when the files had changed since the process started: half of every TopK step was then wrong.) So it may
 * use nothing but its argument and the language's globals.
 */
function serveKernels(start: WorkerStart): void {
  const { module, memory, control, protocol: p } = start;
  const k = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as Exports;
  const ctl = new Int32Array(memory.buffer, control, p.ints);
  const a = new Float64Array(memory.buffer, control + p.argsByte, (p.ints * 4 - p.argsByte) / 8);
  Atomics.store(ctl, p.ready, 1);
  for (;;) {
    Atomics.wait(ctl, p.command, 0);
    const command = Atomics.load(ctl, p.command);
    if (command === 0) continue;
    if (command === p.exit) return;
    try {
      if (command === p.rows) {
        ctl[p.result] = k.topk_rows(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10]);
      } else if (command === p.weightGrads) k.topk_weight_grads(a[0], a[1], a[2], a[3]);
      else if (command === p.center) k.topk_center(a[0], a[1], a[2]);
      else if (command === p.hist) k.batchtopk_hist(a[0], a[1], a[2]);
      else if (command === p.hist2) k.batchtopk_hist2(a[0], a[1], a[2], a[3]);
      else if (command === p.batchRows) {
        ctl[p.result] = k.batchtopk_rows(
          a[0],
          a[1],
          a[2],
          a[3],
          a[4],
          a[5],
          a[6],
          a[7],
          a[8],
          a[9],
          a[10],
          a[11],
        );
      } else if (command === p.gatedRows) {
        ctl[p.result] = k.gated_rows(
          a[0],
          a[1],
          a[2],
          a[3],
          a[4],
          a[5],
          a[6],
          a[7],
          a[8],
          a[9],
          a[10],
          a[11],
        );
      } else if (command === p.jumpRows) {
        ctl[p.result] = k.jumprelu_rows(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9]);
      } else if (command === p.auxRows) {
        ctl[p.result] = k.auxk_rows(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10]);
      } else throw new Error(`unknown command ${command}`);
      ctl[p.error] = 0;
    } catch {
      ctl[p.error] = 1;
    }
    Atomics.store(ctl, p.command, 0);
    Atomics.store(ctl, p.done, 1);
    Atomics.notify(ctl, p.done);
  }
}

/**
 * The worker's program: {@linkcode serveKernels} as this process has it, called with the worker's first
 * message. Nothing is read from disk when a worker starts (nor type-checked, under `deno test`).
 */
function workerSource(): string {
  return `import("node:worker_threads").then(({ parentPort }) => parentPort.once("message", ${serveKernels}));`;
}

/**
 * Starts a worker thread for a workspace (`node:worker_threads`, unref'd so that it never keeps the process
 * alive), or `undefined` where there is one core or no worker can start. It starts in the background: the
 * kernels do not wait for it.
 */
function startWorker(memory: WebAssembly.Memory, control: number): KernelWorker | undefined {
  if ((navigator.hardwareConcurrency ?? 1) < 2) return undefined;
  const ctl = new Int32Array(memory.buffer, control, CONTROL_INTS);
  const args = new Float64Array(memory.buffer, control + ARGS_BYTE, (CONTROL_INTS * 4 - ARGS_BYTE) / 8);
  let failed = false;
  let worker: Worker;
  try {
    worker = new Worker(workerSource(), { eval: true });
    worker.unref();
    worker.on("error", () => (failed = true));
    const start: WorkerStart = { module: compiled(), memory, control, protocol: PROTOCOL };
    worker.postMessage(start);
  } catch {
    return undefined;
  }
  return {
    ready: () => !failed && Atomics.load(ctl, READY) === 1,
    post(command, values) {
      args.set(values);
      Atomics.store(ctl, DONE, 0);
      Atomics.store(ctl, COMMAND, command);
      Atomics.notify(ctl, COMMAND);
    },
    wait() {
      while (Atomics.load(ctl, DONE) === 0) {
        try {
          Atomics.wait(ctl, DONE, 0);
        } catch {
          // a thread that may not block (none in Deno today): spin
        }
      }
      if (ctl[ERROR] !== 0) {
        failed = true;
        throw new Error("saekit: a TopK kernel failed on the worker thread");
      }
      return ctl[RESULT];
    },
    stop() {
      failed = true;
      Atomics.store(ctl, COMMAND, WORKER_EXIT);
      Atomics.notify(ctl, COMMAND);
      worker.terminate();
    },
  };
}

function topkWorkspace(
  ld: number,
  memory: WebAssembly.Memory,
  k: Exports,
  o: Record<string, number>,
  dIn: number,
  dSae: number,
  batch: number,
  topK: number,
  share: number,
  prefixes: number,
  batchTopk: boolean,
  keepPre: boolean,
): TopkWorkspace {
  const view = (name: string, length: number) => new Float32Array(memory.buffer, o[name], length);
  const ints = (name: string, length: number) => new Int32Array(memory.buffer, o[name], length);
  const lanes = [0, 1].map((i) => {
    const fields: Record<(typeof LANE_FIELDS)[number], number> = {
      m: dSae,
      n: dIn,
      k: topK,
      batch,
      bias: o.bEnc,
      bdec: o.bDec,
      wdec: o.wDec,
      rs: o.rs,
      re: o.re,
      idx: o.idx,
      val: o.val,
      dval: o.dval,
      cursor: i * share,
      end: (i + 1) * share,
      fired: o[`fired${i}`],
      colsum: o[`colsum${i}`],
      candIdx: o[`candIdx${i}`],
      candVal: o[`candVal${i}`],
      heap: o[`heap${i}`],
      dx: o.dXAll,
      xbar: o.xBarAll,
      start: o[`start${i}`],
      crow: o[`crow${i}`],
      cval: o[`cval${i}`],
      cd: o[`cd${i}`],
      gwdec: o.gwDec,
      gwenc: o.gwEnc,
      gbenc: o.gbEnc,
      x: o.xAll,
      sumx: o[`sumx${i}`],
      sqx: o[`sqx${i}`],
      tsum: o[`tsum${i}`],
      tsq: o[`tsq${i}`],
      ld,
      nseg: prefixes,
      ends: o.ends,
      wts: o.wts,
      xs: o[`xs${i}`],
      dxstride: batch * ld,
      hist: o[`hist${i}`],
      hist2: o[`hist2${i}`],
      lbin: 0,
      cntge: 0,
      target: topK * batch,
      theta: 0,
      vmin: Infinity,
      thr: o.thr,
      eps: 1,
      bcnt: o[`bcnt${i}`],
      bsum: o[`bsum${i}`],
      bidx: o[`bidx${i}`],
      fadd: 0,
      wl1: 0,
      mscale: o.mscale,
      mbias: o.mbias,
      gsum: o[`gsum${i}`],
    };
    const struct = ints(`lane${i}`, LANE_FIELDS.length);
    const floats = new Float32Array(memory.buffer, o[`lane${i}`], LANE_FIELDS.length);
    LANE_FIELDS.forEach((name, f) => {
      if (FLOAT_LANE_FIELDS.has(name)) floats[f] = fields[name];
      else struct[f] = fields[name];
    });
    return { struct, floats, address: o[`lane${i}`], cursorField: LANE_FIELDS.indexOf("cursor") };
  });
  const field = (name: (typeof LANE_FIELDS)[number]) => LANE_FIELDS.indexOf(name);
  const endsView = ints("ends", prefixes), weightsView = view("wts", prefixes), bDecView = view("bDec", dIn);
  endsView[prefixes - 1] = dSae;
  weightsView[prefixes - 1] = 1;
  const worker = startWorker(memory, o.control);
  /** The worker, when it is enabled and has started. */
  const helper = (): KernelWorker | undefined => (workerEnabled && worker?.ready() ? worker : undefined);
  const rowsArgs = (lane: number, from: number, count: number, row0: number, scale: number, add: number) =>
    [
      lanes[lane].address,
      // the block's pre-activations: in the whole batch's buffer where the workspace keeps one
      keepPre ? o.preAll + 4 * (row0 + from) * dSae : o.f + 4 * from * dSae,
      o.xAll + 4 * (row0 + from) * dIn,
      o.xHat + 4 * from * dIn,
      o.l1 + 4 * from,
      o.l0 + 4 * from,
      o.l2 + 4 * from,
      row0 + from,
      count,
      scale,
      add,
    ] as const;
  const rsView = ints("rs", batch), reView = ints("re", batch);
  const batchRowsArgs = (
    lane: number,
    from: number,
    count: number,
    row0: number,
    scale: number,
    add: number,
  ) =>
    [
      lanes[lane].address,
      o.preAll + 4 * (row0 + from) * dSae,
      o.xAll + 4 * (row0 + from) * dIn,
      o.xHat + 4 * from * dIn,
      o.l1 + 4 * from,
      o.l0 + 4 * from,
      o.l2 + 4 * from,
      o.rec + 4 * from,
      row0 + from,
      count,
      scale,
      add,
    ] as const;
  const hists = [0, 1].map((i) => ints(`hist${i}`, batchTopk ? HIST_BINS : 0));
  const hists2 = [0, 1].map((i) => ints(`hist2${i}`, batchTopk ? HIST2_BINS : 0));
  const needBatchTopk = () => {
    if (!batchTopk) {
      throw new TypeError("TopK workspace: expected one made for BatchTopK, received one for TopK");
    }
  };
  return {
    batch,
    k: topK,
    xBar: view("xBarAll", batch * ld),
    ld,
    rs: rsView,
    re: reView,
    idx: ints("idx", 2 * share),
    val: view("val", 2 * share),
    wDec: view("wDec", dSae * dIn),
    gwDec: view("gwDec", dSae * dIn),
    gwEnc: view("gwEnc", dSae * dIn),
    gbEnc: view("gbEnc", dSae),
    fired: [ints("fired0", dSae), ints("fired1", dSae)],
    colSumDX: [view("colsum0", dIn), view("colsum1", dIn)],
    x: view("xAll", batch * dIn),
    sumX: [new Float64Array(memory.buffer, o.sumx0, dIn), new Float64Array(memory.buffer, o.sumx1, dIn)],
    sqX: [new Float64Array(memory.buffer, o.sqx0, dIn), new Float64Array(memory.buffer, o.sqx1, dIn)],
    center() {
      const half = Math.ceil(batch / 2);
      const w = helper();
      if (w !== undefined && batch > half) {
        w.post(WORKER_TOPK_CENTER, [lanes[1].address, half, batch - half]);
        k.topk_center(lanes[0].address, 0, half);
        w.wait();
      } else {
        k.topk_center(lanes[0].address, 0, half);
        k.topk_center(lanes[1].address, half, batch - half);
      }
    },
    clear() {
      rsView.fill(0);
      reView.fill(0);
      for (const [i, lane] of lanes.entries()) lane.struct[lane.cursorField] = i * share;
    },
    rows([a, b], row0, scale, add) {
      const args0 = rowsArgs(0, a.from, a.count, row0, scale, add);
      const args1 = rowsArgs(1, b.from, b.count, row0, scale, add);
      const w = helper();
      if (w !== undefined && b.count > 0) {
        w.post(WORKER_TOPK_ROWS, args1);
        const done0 = k.topk_rows(...args0);
        return [done0, w.wait()];
      }
      return [k.topk_rows(...args0), k.topk_rows(...args1)];
    },
    weightGrads(split, accumulate) {
      const acc = accumulate ? 1 : 0;
      const w = helper();
      if (w !== undefined && split < dSae) {
        w.post(WORKER_TOPK_WEIGHT_GRADS, [lanes[1].address, split, dSae, acc]);
        k.topk_weight_grads(lanes[0].address, 0, split, acc);
        w.wait();
      } else {
        k.topk_weight_grads(lanes[0].address, 0, split, acc);
        k.topk_weight_grads(lanes[1].address, split, dSae, acc);
      }
    },
    setPrefixes(ends, weights) {
      if (ends.length !== prefixes || weights.length !== prefixes || ends[prefixes - 1] !== dSae) {
        throw new RangeError(
          `prefixes: expected ${prefixes} ends (the last ${dSae}) and as many weights, received ${
            JSON.stringify(ends)
          } and ${JSON.stringify(weights)}`,
        );
      }
      endsView.set(ends);
      weightsView.set(weights);
      for (const lane of lanes) lane.struct[field("nseg")] = prefixes;
    },
    preAll: keepPre ? view("preAll", batch * dSae) : undefined,
    prefixes,
    batchTopk,
    dlist: ints("dlist", dSae),
    auxCompact(nd) {
      k.auxk_gather(o.preAll, batch, dSae, o.dlist, nd);
    },
    auxRows([a, b], row0, nd, scale, kAux) {
      const args = (lane: number, from: number, count: number) =>
        [
          lanes[lane].address,
          o.preAll + 4 * (row0 + from) * nd,
          nd,
          o.dlist,
          o.x + 4 * from * dIn,
          o.xHat + 4 * from * dIn,
          o.l2 + 4 * from,
          row0 + from,
          count,
          scale,
          kAux,
        ] as const;
      const args0 = args(0, a.from, a.count), args1 = args(1, b.from, b.count);
      const w = helper();
      if (w !== undefined && b.count > 0) {
        w.post(WORKER_AUXK_ROWS, args1);
        const done0 = k.auxk_rows(...args0);
        return [done0, w.wait()];
      }
      return [k.auxk_rows(...args0), k.auxk_rows(...args1)];
    },
    auxMode() {
      endsView.fill(dSae);
      weightsView[0] = 1;
      for (const lane of lanes) lane.struct[field("nseg")] = 1;
      bDecView.fill(0);
    },
    hist: [hists[0], hists[1]],
    hist2: [hists2[0], hists2[1]],
    resetSelection() {
      needBatchTopk();
      for (const h of [...hists, ...hists2]) h.fill(0);
      for (const lane of lanes) {
        lane.struct[field("lbin")] = 0;
        lane.struct[field("cntge")] = 0;
        lane.struct[field("target")] = topK * batch;
        lane.floats[field("vmin")] = Infinity;
      }
    },
    histogram(row0, rows) {
      needBatchTopk();
      const half = Math.ceil(rows / 2);
      const at = (row: number) => o.preAll + 4 * row * dSae;
      const w = helper();
      if (w !== undefined && rows > half) {
        w.post(WORKER_BATCHTOPK_HIST, [lanes[1].address, at(row0 + half), rows - half]);
        k.batchtopk_hist(lanes[0].address, at(row0), half);
        w.wait();
      } else {
        k.batchtopk_hist(lanes[0].address, at(row0), half);
        k.batchtopk_hist(lanes[1].address, at(row0 + half), rows - half);
      }
    },
    histogram2(bin) {
      needBatchTopk();
      const half = Math.ceil(batch / 2);
      const at = (row: number) => o.preAll + 4 * row * dSae;
      const w = helper();
      if (w !== undefined && batch > half) {
        w.post(WORKER_BATCHTOPK_HIST2, [lanes[1].address, at(half), batch - half, bin]);
        k.batchtopk_hist2(lanes[0].address, at(0), half, bin);
        w.wait();
      } else {
        k.batchtopk_hist2(lanes[0].address, at(0), half, bin);
        k.batchtopk_hist2(lanes[1].address, at(half), batch - half, bin);
      }
    },
    lowestBin: (lane) => lanes[lane].struct[field("lbin")],
    setThreshold(theta) {
      for (const lane of lanes) lane.floats[field("theta")] = theta;
    },
    smallestKept: () => Math.min(lanes[0].floats[field("vmin")], lanes[1].floats[field("vmin")]),
    batchRows([a, b], row0, scale, add) {
      needBatchTopk();
      const args0 = batchRowsArgs(0, a.from, a.count, row0, scale, add);
      const args1 = batchRowsArgs(1, b.from, b.count, row0, scale, add);
      const w = helper();
      if (w !== undefined && b.count > 0) {
        w.post(WORKER_BATCHTOPK_ROWS, args1);
        const done0 = k.batchtopk_rows(...args0);
        return [done0, w.wait()];
      }
      return [k.batchtopk_rows(...args0), k.batchtopk_rows(...args1)];
    },
    bandCount: [view("bcnt0", dSae), view("bcnt1", dSae)],
    bandSum: [view("bsum0", dSae), view("bsum1", dSae)],
    setJumpThreshold(threshold, bandwidth) {
      if (threshold.length !== dSae || !(bandwidth >= 0)) {
        throw new RangeError(
          `JumpReLU threshold: expected ${dSae} values and a bandwidth ≥ 0, received ${threshold.length} and ${bandwidth}`,
        );
      }
      view("thr", dSae).set(threshold);
      for (const [i, lane] of lanes.entries()) {
        lane.floats[field("eps")] = bandwidth;
        view(`bcnt${i}`, dSae).fill(0);
        view(`bsum${i}`, dSae).fill(0);
      }
    },
    setJumpPenalty(penalty) {
      if (penalty !== undefined && (penalty.add.length !== dSae || penalty.weights.length !== dSae)) {
        throw new RangeError(
          `sparse penalty: expected ${dSae} values each, received ${penalty.add.length} and ${penalty.weights.length}`,
        );
      }
      if (penalty !== undefined) {
        view("fadd", dSae).set(penalty.add);
        view("wl1", dSae).set(penalty.weights);
      }
      for (const lane of lanes) {
        lane.struct[field("fadd")] = penalty === undefined ? 0 : o.fadd;
        lane.struct[field("wl1")] = penalty === undefined ? 0 : o.wl1;
      }
    },
    gateSum: [view("gsum0", dSae), view("gsum1", dSae)],
    setGated(magScale, magBias) {
      if (magScale.length !== dSae || magBias.length !== dSae) {
        throw new RangeError(
          `gated: expected exp(rMag) and bMag of ${dSae} values each, received ${magScale.length} and ${magBias.length}`,
        );
      }
      view("mscale", dSae).set(magScale);
      view("mbias", dSae).set(magBias);
      for (let i = 0; i < 2; i++) {
        for (const name of ["bcnt", "bsum", "gsum"]) view(`${name}${i}`, dSae).fill(0);
      }
    },
    gatedRows([a, b], row0, scale, add) {
      const args = (lane: number, from: number, count: number) =>
        [
          lanes[lane].address,
          o.f + 4 * from * dSae,
          o.xAll + 4 * (row0 + from) * dIn,
          o.xHat + 4 * from * dIn,
          o.l1 + 4 * from,
          o.l0 + 4 * from,
          o.l2 + 4 * from,
          o.rec + 4 * from,
          row0 + from,
          count,
          scale,
          add,
        ] as const;
      const args0 = args(0, a.from, a.count), args1 = args(1, b.from, b.count);
      const w = helper();
      if (w !== undefined && b.count > 0) {
        w.post(WORKER_GATED_ROWS, args1);
        const done0 = k.gated_rows(...args0);
        return [done0, w.wait()];
      }
      return [k.gated_rows(...args0), k.gated_rows(...args1)];
    },
    jumpRows([a, b], row0, scale) {
      const args = (lane: number, from: number, count: number) =>
        [
          lanes[lane].address,
          o.f + 4 * from * dSae,
          o.xAll + 4 * (row0 + from) * dIn,
          o.xHat + 4 * from * dIn,
          o.l1 + 4 * from,
          o.l0 + 4 * from,
          o.l2 + 4 * from,
          row0 + from,
          count,
          scale,
        ] as const;
      const args0 = args(0, a.from, a.count), args1 = args(1, b.from, b.count);
      const w = helper();
      if (w !== undefined && b.count > 0) {
        w.post(WORKER_JUMPRELU_ROWS, args1);
        const done0 = k.jumprelu_rows(...args0);
        return [done0, w.wait()];
      }
      return [k.jumprelu_rows(...args0), k.jumprelu_rows(...args1)];
    },
    get threaded() {
      return helper() !== undefined;
    },
    dispose: () => worker?.stop(),
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
    const memory = sharedMemory(base + 8 * SOFTMAX_BUFFER_FLOATS);
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
