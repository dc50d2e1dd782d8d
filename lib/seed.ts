/**
 * Deterministic seeds derived from a run's seed. Pure: the same inputs always
 * give the same seed, so a step's randomness depends only on `(seed, step)`.
 *
 * @module
 */

/**
 * Mixes a run seed and any number of integers (a step, a stream id) into one
 * 32-bit seed with the SplitMix32 finaliser.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { deriveSeed } from "./seed.ts";
 * assert.equal(deriveSeed(49, 3), deriveSeed(49, 3));
 * assert.notEqual(deriveSeed(49, 3), deriveSeed(49, 4));
 * ```
 */
export function deriveSeed(seed: number, ...parts: readonly number[]): number {
  let h = mix32((seed >>> 0) ^ 0x9e3779b9);
  for (const part of parts) {
    // Split a possibly larger-than-32-bit integer into two 32-bit words.
    const low = part >>> 0;
    const high = Math.floor(part / 0x1_0000_0000) >>> 0;
    h = mix32(h ^ low);
    h = mix32((h + 0x9e3779b9) ^ high);
  }
  return h;
}

function mix32(x: number): number {
  let z = (x + 0x9e3779b9) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * A small seeded generator of uniform numbers in [0, 1) (Mulberry32), for
 * data sources that must be reproducible from a seed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mulberry32 } from "./seed.ts";
 * const a = mulberry32(7), b = mulberry32(7);
 * assert.equal(a(), b());
 * ```
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Standard normal draws from a uniform generator (Box–Muller).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gaussian, mulberry32 } from "./seed.ts";
 * const next = gaussian(mulberry32(1));
 * assert.ok(Number.isFinite(next()));
 * ```
 */
export function gaussian(uniform: () => number): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const value = spare;
      spare = undefined;
      return value;
    }
    let u = 0;
    while (u === 0) u = uniform();
    const v = uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}
