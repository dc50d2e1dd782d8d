/**
 * Activation sources: async iterables of row blocks, with random access by
 * row so that a resumed run reads exactly the data it would have read.
 *
 * @module
 */

/** A block of activation rows for every component, `[component, rows, dIn]` row-major. */
export type ActivationChunk = {
  readonly data: Float32Array;
  readonly rows: number;
};

/** Where activations come from. */
export type ActivationSource = {
  readonly nComponents: number;
  readonly dIn: number;
  /** Rows from row `start` (0-based) onward; ends when the source is exhausted. */
  chunks(start: number): AsyncIterable<ActivationChunk>;
};

/**
 * Copies `rows` rows starting at `from` of a `[component, total, dIn]` block
 * into `out` (`[component, outRows, dIn]`) starting at row `at`.
 */
export function copyRows(
  src: Float32Array,
  srcRows: number,
  from: number,
  out: Float32Array,
  outRows: number,
  at: number,
  rows: number,
  nComponents: number,
  dIn: number,
): void {
  for (let k = 0; k < nComponents; k++) {
    const s = (k * srcRows + from) * dIn;
    out.set(src.subarray(s, s + rows * dIn), (k * outRows + at) * dIn);
  }
}
