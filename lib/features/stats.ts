/**
 * Feature statistics in one streaming pass with bounded memory: for every
 * feature of one SAE, how often it fires, its activation histogram, and its
 * `topK` highest activations with the tokens around each (a min-heap per
 * feature).
 *
 * Memory is `O(nFeatures · (topK · span + bins))` whatever the number of
 * tokens read: the histogram has a fixed number of bins whose width doubles
 * when a larger activation arrives (adjacent bins merge, so counts stay
 * exact), and a heap keeps only the `topK` largest activations seen.
 *
 * No I/O, no clocks, no tensors. The accumulators are typed arrays updated in
 * place ({@linkcode observeWindows}), which is what keeps the pass fast;
 * {@linkcode summarizeFeature} reads them out as plain data.
 *
 * @module
 */

/** Options of {@linkcode createFeatureStats}. */
export type FeatureStatsOptions = {
  /** Features of the SAE (`dSae`). */
  readonly nFeatures: number;
  /** Highest activations kept per feature (default 20). */
  readonly topK?: number;
  /** Histogram bins, an even number (default 32). */
  readonly bins?: number;
  /** Tokens of context kept before a top activation's position (default 16). */
  readonly before?: number;
  /** Tokens of context kept after it (default 8). */
  readonly after?: number;
};

/**
 * The accumulators of one SAE's features. Slot `s` of feature `j` is entry
 * `j · topK + s` of the per-entry arrays and `(j · topK + s) · span` of the
 * per-token ones.
 */
export type FeatureStats = {
  readonly nFeatures: number;
  readonly topK: number;
  readonly bins: number;
  readonly before: number;
  readonly after: number;
  /** `before + 1 + after`: tokens kept per top activation. */
  readonly span: number;
  /** Token positions observed so far (those of every window, less the skipped leading ones). */
  positions: number;
  /** Windows observed so far. */
  windows: number;
  /** Per feature: positions where it fired (activation > 0). */
  readonly count: Float64Array;
  /** Per feature: the sum of its activations. */
  readonly sum: Float64Array;
  /** Per feature: its largest activation (0 when it never fired). */
  readonly max: Float32Array;
  /** Per feature: the histogram's bin width (0 until it first fires); bin `i` is `[i·w, (i+1)·w)`. */
  readonly binWidth: Float64Array;
  /** `[nFeatures, bins]` counts. */
  readonly histogram: Float64Array;
  /** Per feature: entries in its heap. */
  readonly heapSize: Int32Array;
  /** `[nFeatures, topK]`: the heap, as slot numbers ordered by the slots' activations (smallest first). */
  readonly heap: Int32Array;
  /** `[nFeatures, topK]` by slot: the activation. */
  readonly value: Float32Array;
  /** `[nFeatures, topK]` by slot: the window it came from (an id the caller chose). */
  readonly window: Float64Array;
  /** `[nFeatures, topK]` by slot: its position in the window. */
  readonly position: Int32Array;
  /** `[nFeatures, topK]` by slot: the window position of the first context token kept. */
  readonly start: Int32Array;
  /** `[nFeatures, topK]` by slot: context tokens kept (up to `span`). */
  readonly length: Int32Array;
  /** `[nFeatures, topK, span]` by slot: the context's token ids. */
  readonly tokens: Int32Array;
  /** `[nFeatures, topK, span]` by slot: the feature's activation at each context token. */
  readonly activations: Float32Array;
};

function checkCount(field: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    throw new RangeError(`${field}: expected an integer ≥ ${min}, received ${value}`);
  }
}

/**
 * Empty statistics for `nFeatures` features.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createFeatureStats } from "./stats.ts";
 * const stats = createFeatureStats({ nFeatures: 4, topK: 3 });
 * assert.equal(stats.count.length, 4);
 * assert.equal(stats.span, 25);
 * ```
 */
export function createFeatureStats(options: FeatureStatsOptions): FeatureStats {
  const { nFeatures } = options;
  const topK = options.topK ?? 20, bins = options.bins ?? 32;
  const before = options.before ?? 16, after = options.after ?? 8;
  checkCount("nFeatures", nFeatures, 1);
  checkCount("topK", topK, 1);
  checkCount("before", before, 0);
  checkCount("after", after, 0);
  if (!Number.isInteger(bins) || bins < 2 || bins % 2 !== 0) {
    throw new RangeError(`bins: expected an even integer ≥ 2, received ${bins}`);
  }
  const span = before + 1 + after;
  const entries = nFeatures * topK;
  return {
    nFeatures,
    topK,
    bins,
    before,
    after,
    span,
    positions: 0,
    windows: 0,
    count: new Float64Array(nFeatures),
    sum: new Float64Array(nFeatures),
    max: new Float32Array(nFeatures),
    binWidth: new Float64Array(nFeatures),
    histogram: new Float64Array(nFeatures * bins),
    heapSize: new Int32Array(nFeatures),
    heap: new Int32Array(entries),
    value: new Float32Array(entries),
    window: new Float64Array(entries),
    position: new Int32Array(entries),
    start: new Int32Array(entries),
    length: new Int32Array(entries),
    tokens: new Int32Array(entries * span),
    activations: new Float32Array(entries * span),
  };
}

/** A block of windows and one SAE's activations on them, for {@linkcode observeWindows}. */
export type WindowBlock = {
  /** Feature activations `[windows, contextSize, nFeatures]`, row-major. */
  readonly f: Float32Array;
  /** Token ids `[windows, contextSize]`. */
  readonly tokens: Int32Array;
  /** An id per window (its index in the dataset), kept with each top activation. */
  readonly windowIds: ArrayLike<number>;
  readonly contextSize: number;
  /**
   * Leading positions of each window that are not observed (1 when windows start with BOS, which SAEs
   * are not trained on); their activations read as 0 in the kept contexts.
   */
  readonly skip?: number;
};

/**
 * Adds a value to a feature's histogram, doubling the bin width (and merging
 * bins pairwise) until the value fits. The first value sets the width to the
 * power of two that puts it in the upper half of the bins.
 */
function addToHistogram(stats: FeatureStats, j: number, v: number): void {
  const bins = stats.bins, base = j * bins, h = stats.histogram;
  let width = stats.binWidth[j];
  if (width === 0) {
    let e = Math.floor(Math.log2(v));
    if (2 ** e > v) e--;
    if (2 ** (e + 1) <= v) e++;
    width = 2 ** (e + 1) / bins;
  }
  while (v >= width * bins) {
    const half = bins / 2;
    for (let i = 0; i < half; i++) h[base + i] = h[base + 2 * i] + h[base + 2 * i + 1];
    for (let i = half; i < bins; i++) h[base + i] = 0;
    width *= 2;
  }
  stats.binWidth[j] = width;
  h[base + Math.min(bins - 1, Math.floor(v / width))]++;
}

/** Restores the heap order of feature `j` from index `i` down. */
function siftDown(stats: FeatureStats, j: number, i: number): void {
  const base = j * stats.topK, size = stats.heapSize[j], heap = stats.heap, value = stats.value;
  const slot = heap[base + i], v = value[base + slot];
  for (;;) {
    const left = 2 * i + 1;
    if (left >= size) break;
    const right = left + 1;
    const child = right < size && value[base + heap[base + right]] < value[base + heap[base + left]]
      ? right
      : left;
    if (value[base + heap[base + child]] >= v) break;
    heap[base + i] = heap[base + child];
    i = child;
  }
  heap[base + i] = slot;
}

/** Restores the heap order of feature `j` from index `i` up. */
function siftUp(stats: FeatureStats, j: number, i: number): void {
  const base = j * stats.topK, heap = stats.heap, value = stats.value;
  const slot = heap[base + i], v = value[base + slot];
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (value[base + heap[base + parent]] <= v) break;
    heap[base + i] = heap[base + parent];
    i = parent;
  }
  heap[base + i] = slot;
}

/** Keeps activation `v` of feature `j` at window `w`, position `p` of a block, if it is among the top k. */
function offer(stats: FeatureStats, j: number, v: number, block: WindowBlock, w: number, p: number): void {
  const k = stats.topK, base = j * k, size = stats.heapSize[j];
  let slot: number;
  if (size < k) slot = size;
  else if (v > stats.value[base + stats.heap[base]]) slot = stats.heap[base];
  else return;
  const e = base + slot;
  const ctx = block.contextSize, n = stats.nFeatures, skip = block.skip ?? 0;
  const from = Math.max(0, p - stats.before), to = Math.min(ctx, p + stats.after + 1);
  stats.value[e] = v;
  stats.window[e] = block.windowIds[w];
  stats.position[e] = p;
  stats.start[e] = from;
  stats.length[e] = to - from;
  const out = e * stats.span;
  stats.tokens.set(block.tokens.subarray(w * ctx + from, w * ctx + to), out);
  for (let q = from; q < to; q++) {
    stats.activations[out + q - from] = q < skip ? 0 : block.f[(w * ctx + q) * n + j];
  }
  if (size < k) {
    stats.heap[base + size] = slot;
    stats.heapSize[j] = size + 1;
    siftUp(stats, j, size);
  } else {
    siftDown(stats, j, 0);
  }
}

/**
 * Adds a block of windows to the statistics: for every observed position and
 * every feature with an activation above 0, counts it, adds it to the
 * histogram, and offers it to the feature's top-k heap. Ties with the
 * smallest kept activation keep the earlier one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createFeatureStats, observeWindows, summarizeFeature } from "./stats.ts";
 * const stats = createFeatureStats({ nFeatures: 2, topK: 1, before: 1, after: 0 });
 * // One window of 3 tokens; feature 0 fires 0.5 then 2, feature 1 never.
 * observeWindows(stats, {
 *   f: new Float32Array([0, 0, 0.5, 0, 2, 0]), tokens: new Int32Array([7, 8, 9]), windowIds: [4], contextSize: 3,
 * });
 * const top = summarizeFeature(stats, 0).contexts[0];
 * assert.equal(top.activation, 2);
 * assert.equal(top.window, 4);
 * assert.deepEqual([...top.tokens], [8, 9]);
 * ```
 */
export function observeWindows(stats: FeatureStats, block: WindowBlock): void {
  const n = stats.nFeatures, ctx = block.contextSize, skip = block.skip ?? 0;
  const nWindows = block.windowIds.length;
  if (block.f.length !== nWindows * ctx * n) {
    throw new RangeError(
      `f: expected ${nWindows} × ${ctx} × ${n} = ${
        nWindows * ctx * n
      } values ([windows, contextSize, nFeatures]), received ${block.f.length}`,
    );
  }
  if (block.tokens.length !== nWindows * ctx) {
    throw new RangeError(
      `tokens: expected ${nWindows} × ${ctx} = ${
        nWindows * ctx
      } ids ([windows, contextSize]), received ${block.tokens.length}`,
    );
  }
  if (!Number.isInteger(skip) || skip < 0 || skip >= ctx) {
    throw new RangeError(`skip: expected an integer in [0, ${ctx}), received ${skip}`);
  }
  const f = block.f;
  const { count, sum, max, heapSize, heap, value } = stats;
  const k = stats.topK;
  for (let w = 0; w < nWindows; w++) {
    for (let p = skip; p < ctx; p++) {
      const row = (w * ctx + p) * n;
      for (let j = 0; j < n; j++) {
        const v = f[row + j];
        if (!(v > 0)) continue;
        count[j]++;
        sum[j] += v;
        if (v > max[j]) max[j] = v;
        addToHistogram(stats, j, v);
        if (heapSize[j] < k || v > value[j * k + heap[j * k]]) offer(stats, j, v, block, w, p);
      }
    }
  }
  stats.positions += nWindows * (ctx - skip);
  stats.windows += nWindows;
}

/** One of a feature's top activations, with its context. */
export type TopActivation = {
  readonly activation: number;
  /** The window's id (as given to {@linkcode observeWindows}). */
  readonly window: number;
  /** The position in the window. */
  readonly position: number;
  /** Window position of `tokens[0]`. */
  readonly start: number;
  /** Token ids of the context. */
  readonly tokens: readonly number[];
  /** The feature's activation at each context token. */
  readonly activations: readonly number[];
};

/** Everything known about one feature, as plain data. */
export type FeatureSummary = {
  /** Positions where the feature fired. */
  readonly count: number;
  /** `count / positions observed` (0 before any). */
  readonly density: number;
  /** Mean activation where it fired (0 when it never did). */
  readonly meanActivation: number;
  readonly maxActivation: number;
  /** Bin `i` counts activations in `[i·binWidth, (i+1)·binWidth)`; binWidth is 0 for a feature that never fired. */
  readonly histogram: { readonly binWidth: number; readonly counts: readonly number[] };
  /** Top activations, largest first (ties: the earlier window, then the earlier position, first). */
  readonly contexts: readonly TopActivation[];
};

/**
 * Reads out feature `j`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createFeatureStats, summarizeFeature } from "./stats.ts";
 * const s = summarizeFeature(createFeatureStats({ nFeatures: 1 }), 0);
 * assert.equal(s.count, 0);
 * assert.equal(s.density, 0);
 * assert.equal(s.contexts.length, 0);
 * ```
 */
export function summarizeFeature(stats: FeatureStats, j: number): FeatureSummary {
  if (!Number.isInteger(j) || j < 0 || j >= stats.nFeatures) {
    throw new RangeError(`feature: expected an integer in [0, ${stats.nFeatures}), received ${j}`);
  }
  const k = stats.topK, base = j * k;
  const contexts: TopActivation[] = [];
  for (let s = 0; s < stats.heapSize[j]; s++) {
    const e = base + s, from = e * stats.span, len = stats.length[e];
    contexts.push({
      activation: stats.value[e],
      window: stats.window[e],
      position: stats.position[e],
      start: stats.start[e],
      tokens: Array.from(stats.tokens.subarray(from, from + len)),
      activations: Array.from(stats.activations.subarray(from, from + len)),
    });
  }
  contexts.sort((a, b) => b.activation - a.activation || a.window - b.window || a.position - b.position);
  const count = stats.count[j];
  return {
    count,
    density: stats.positions === 0 ? 0 : count / stats.positions,
    meanActivation: count === 0 ? 0 : stats.sum[j] / count,
    maxActivation: stats.max[j],
    histogram: {
      binWidth: stats.binWidth[j],
      counts: Array.from(stats.histogram.subarray(j * stats.bins, (j + 1) * stats.bins)),
    },
    contexts,
  };
}

/**
 * Every feature's firing density, `count / positions`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createFeatureStats, featureDensities } from "./stats.ts";
 * assert.deepEqual([...featureDensities(createFeatureStats({ nFeatures: 3 }))], [0, 0, 0]);
 * ```
 */
export function featureDensities(stats: FeatureStats): Float64Array {
  const out = new Float64Array(stats.nFeatures);
  if (stats.positions > 0) { for (let j = 0; j < out.length; j++) out[j] = stats.count[j] / stats.positions; }
  return out;
}
