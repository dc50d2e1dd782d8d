/**
 * Tensor lifetime across steps: after a step returns a new state, the tensors
 * of the old state that the new one no longer references are freed.
 *
 * @module
 */
import { tf } from "../tf.ts";

/** Every tensor reachable from a value (records, arrays, tensors). */
export function collectTensors(value: unknown, into: Set<tf.Tensor> = new Set()): Set<tf.Tensor> {
  if (value instanceof tf.Tensor) {
    into.add(value);
  } else if (Array.isArray(value)) {
    for (const item of value) collectTensors(item, into);
  } else if (value !== null && typeof value === "object") {
    for (const item of Object.values(value)) collectTensors(item, into);
  }
  return into;
}

/**
 * Disposes the tensors of `prev` that `next` does not reference.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { disposeReplaced } from "./dispose.ts";
 * const kept = tf.scalar(1), old = tf.scalar(2);
 * disposeReplaced({ a: kept, b: old }, { a: kept, b: tf.scalar(3) });
 * assert.ok(old.isDisposed);
 * assert.ok(!kept.isDisposed);
 * ```
 */
export function disposeReplaced(prev: unknown, next: unknown): void {
  const keep = collectTensors(next);
  for (const tensor of collectTensors(prev)) {
    if (!keep.has(tensor)) tensor.dispose();
  }
}

/** Disposes every tensor reachable from a value. */
export function disposeAll(value: unknown): void {
  for (const tensor of collectTensors(value)) tensor.dispose();
}
