/**
 * Synthetic activations with known ground truth: each vector is a sparse
 * non-negative combination of `nFeatures` random unit directions in `dIn`
 * dimensions (the "toy model of superposition" data of Sharkey, Braun and
 * Millidge, 2022). Each feature is active independently with probability
 * `meanActive / nFeatures`, with a coefficient drawn from U(0, 1).
 *
 * Each component has its own directions. Chunk `i` of component `k` is drawn
 * from a generator seeded by `(seed, k, i)`, so any row can be regenerated.
 *
 * @module
 */
import { deriveSeed, gaussian, mulberry32 } from "../seed.ts";
import type { ActivationChunk, ActivationSource } from "./source.ts";

/** Options of {@linkcode toySource}. */
export type ToySourceOptions = {
  readonly nComponents: number;
  readonly dIn: number;
  /** Ground-truth directions per component. */
  readonly nFeatures: number;
  /** Expected number of active features per vector. */
  readonly meanActive: number;
  /** Rows per generated chunk. */
  readonly chunkRows: number;
  readonly seed: number;
};

/** A toy source and its ground truth. */
export type ToySource = ActivationSource & {
  /** Ground-truth unit directions, `[component, nFeatures, dIn]` row-major. */
  readonly groundTruth: Float32Array;
  readonly nFeatures: number;
};

/**
 * The ground-truth directions of a toy source.
 *
 * @returns `[component, nFeatures, dIn]` unit rows, row-major
 */
export function toyGroundTruth(options: ToySourceOptions): Float32Array {
  const { nComponents, dIn, nFeatures, seed } = options;
  const out = new Float32Array(nComponents * nFeatures * dIn);
  for (let k = 0; k < nComponents; k++) {
    const normal = gaussian(mulberry32(deriveSeed(seed, 0x70e, k)));
    for (let j = 0; j < nFeatures; j++) {
      const row = out.subarray((k * nFeatures + j) * dIn, (k * nFeatures + j + 1) * dIn);
      let norm = 0;
      for (let i = 0; i < dIn; i++) {
        row[i] = normal();
        norm += row[i] * row[i];
      }
      norm = Math.sqrt(norm);
      for (let i = 0; i < dIn; i++) row[i] /= norm;
    }
  }
  return out;
}

function generateChunk(options: ToySourceOptions, truth: Float32Array, index: number): Float32Array {
  const { nComponents, dIn, nFeatures, meanActive, chunkRows, seed } = options;
  const p = Math.min(1, meanActive / nFeatures);
  const out = new Float32Array(nComponents * chunkRows * dIn);
  for (let k = 0; k < nComponents; k++) {
    const uniform = mulberry32(deriveSeed(seed, 0xda7a, k, index));
    for (let r = 0; r < chunkRows; r++) {
      const row = out.subarray((k * chunkRows + r) * dIn, (k * chunkRows + r + 1) * dIn);
      for (let j = 0; j < nFeatures; j++) {
        if (uniform() >= p) continue;
        const a = uniform();
        const d = (k * nFeatures + j) * dIn;
        for (let i = 0; i < dIn; i++) row[i] += a * truth[d + i];
      }
    }
  }
  return out;
}

/**
 * An endless synthetic source.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toySource } from "./toy.ts";
 * const source = toySource({ nComponents: 2, dIn: 8, nFeatures: 16, meanActive: 3, chunkRows: 32, seed: 0 });
 * for await (const chunk of source.chunks(0)) {
 *   assert.equal(chunk.data.length, 2 * chunk.rows * 8);
 *   break;
 * }
 * ```
 */
export function toySource(options: ToySourceOptions): ToySource {
  for (const field of ["nComponents", "dIn", "nFeatures", "chunkRows"] as const) {
    const value = options[field];
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(`${field}: expected a positive integer, received ${value}`);
    }
  }
  if (!(options.meanActive > 0)) {
    throw new RangeError(`meanActive: expected a positive number, received ${options.meanActive}`);
  }
  const truth = toyGroundTruth(options);
  const { nComponents, dIn, chunkRows } = options;
  return {
    nComponents,
    dIn,
    nFeatures: options.nFeatures,
    groundTruth: truth,
    async *chunks(start: number): AsyncIterable<ActivationChunk> {
      let index = Math.floor(start / chunkRows);
      let skip = start - index * chunkRows;
      while (true) {
        const data = generateChunk(options, truth, index);
        if (skip === 0) {
          yield { data, rows: chunkRows };
        } else {
          const rows = chunkRows - skip;
          const part = new Float32Array(nComponents * rows * dIn);
          for (let k = 0; k < nComponents; k++) {
            const s = (k * chunkRows + skip) * dIn;
            part.set(data.subarray(s, s + rows * dIn), k * rows * dIn);
          }
          yield { data: part, rows };
          skip = 0;
        }
        index++;
      }
    },
  };
}
