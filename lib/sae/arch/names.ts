/**
 * The names of the architectures saekit trains, as `--arch` takes them: a leaf module (no imports), so
 * that the configuration and the records' types can name architectures without loading the records or
 * a tensor library. `registry.ts` checks when it loads that its records carry these names, in this
 * order.
 *
 * @module
 */

/**
 * Every architecture name, in the order `--help` lists them (the configuration's enum).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ARCH_NAMES } from "./names.ts";
 * assert.equal(ARCH_NAMES.length, 7);
 * assert.equal(ARCH_NAMES[0], "relu");
 * assert.equal(ARCH_NAMES.at(-1), "matryoshka");
 * ```
 */
export const ARCH_NAMES = [
  "relu",
  "relu-april",
  "topk",
  "batchtopk",
  "jumprelu",
  "gated",
  "matryoshka",
] as const;

/** An architecture's name. */
export type ArchName = typeof ARCH_NAMES[number];
