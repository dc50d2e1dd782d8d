/**
 * Test helpers: backend set-up, tolerances, and the tensor-leak check.
 */
import assert from "node:assert/strict";
import { tf } from "../lib/tf.ts";
import { selectBackend } from "../lib/backends/select.ts";

/** Every test module runs on the deterministic pure-JS backend. */
await selectBackend("cpu");

export { assert, tf };

/** Asserts |actual − expected| ≤ tol element-wise. */
export function assertClose(
  actual: ArrayLike<number> | number,
  expected: ArrayLike<number> | number,
  tol = 1e-6,
  what = "value",
): void {
  const a = typeof actual === "number" ? [actual] : Array.from(actual);
  const e = typeof expected === "number" ? [expected] : Array.from(expected);
  assert.equal(a.length, e.length, `${what}: expected ${e.length} values, received ${a.length}`);
  a.forEach((v, i) => {
    assert.ok(
      Math.abs(v - e[i]) <= tol || (v === e[i]),
      `${what}[${i}]: expected ${e[i]} ± ${tol}, received ${v}`,
    );
  });
}

/** Values of a tensor as a plain array. */
export function values(t: tf.Tensor): number[] {
  return Array.from(t.dataSync());
}

/**
 * Runs `iterate` `n` times on a state, freeing what each call replaced as the
 * runner does, and asserts that the live tensor count does not grow.
 */
export function assertNoLeak<S>(initial: S, iterate: (s: S, i: number) => S, n = 20): S {
  const collect = (value: unknown, into = new Set<tf.Tensor>()): Set<tf.Tensor> => {
    if (value instanceof tf.Tensor) into.add(value);
    else if (Array.isArray(value)) value.forEach((v) => collect(v, into));
    else if (value !== null && typeof value === "object") {
      Object.values(value).forEach((v) => collect(v, into));
    }
    return into;
  };
  let state = initial;
  const counts: number[] = [];
  for (let i = 0; i < n; i++) {
    const next = tf.tidy(() => iterate(state, i) as unknown as tf.TensorContainer) as unknown as S;
    const keep = collect(next);
    for (const t of collect(state)) if (!keep.has(t)) t.dispose();
    state = next;
    counts.push(tf.memory().numTensors);
  }
  assert.equal(
    counts[counts.length - 1],
    counts[2],
    `live tensors grew from ${counts[2]} to ${counts[counts.length - 1]} over ${n} calls: ${
      counts.join(",")
    }`,
  );
  return state;
}
