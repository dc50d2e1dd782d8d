/**
 * The names of the tfjs backends that `selectBackend` (./select.ts) accepts,
 * and the order `"auto"` tries them in, in one leaf module (it imports
 * nothing), so that the configuration can validate a backend name without
 * loading a tensor library.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AUTO_ORDER, BACKEND_NAMES } from "./names.ts";
 * assert.ok(AUTO_ORDER.every((name) => BACKEND_NAMES.includes(name)));
 * ```
 *
 * @module
 */

/** Names accepted by `selectBackend`. */
export const BACKEND_NAMES = [
  "auto",
  "cpu",
  "blas",
  "wasm",
  "webgpu",
  "tensorflow",
] as const;

/** A backend name accepted by `selectBackend`. */
export type BackendName = typeof BACKEND_NAMES[number];

/** The order in which `"auto"` tries backends (the pure-JS `cpu` backend comes last, always). */
export const AUTO_ORDER: readonly Exclude<BackendName, "auto" | "cpu">[] = [
  "tensorflow",
  "webgpu",
  "blas",
  "wasm",
];
