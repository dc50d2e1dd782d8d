/**
 * Comparisons shared by the fused-kernel tests (`blas_*_test.ts`): a fused step's outputs, copied to the
 * host by name, against the composed reference's, and against another fused run.
 */
import assert from "node:assert/strict";

/** What an output comparison checks: which outputs, which of them exactly, and the relative tolerance. */
export type OutputChecks<N extends string> = {
  readonly outputs: readonly N[];
  /** Outputs compared exactly (counts). */
  readonly exact: ReadonlySet<N>;
  /** Of each output's largest finite magnitude in the reference. */
  readonly tolerance: number;
};

/** Asserts each output within the tolerance of the reference's (the exact ones exactly). */
export function assertOutputsMatch<N extends string>(
  actual: Readonly<Record<N, Float32Array>>,
  expected: Readonly<Record<N, Float32Array>>,
  what: string,
  checks: OutputChecks<N>,
): void {
  for (const name of checks.outputs) {
    const a = actual[name], e = expected[name];
    assert.equal(a.length, e.length, `${what}: ${name} has ${a.length} values, expected ${e.length}`);
    let scale = 0;
    for (const v of e) if (Number.isFinite(v)) scale = Math.max(scale, Math.abs(v));
    const tol = checks.exact.has(name) ? 0 : checks.tolerance * scale;
    for (let i = 0; i < e.length; i++) {
      const ok = Object.is(a[i], e[i]) || Math.abs(a[i] - e[i]) <= tol;
      assert.ok(
        ok,
        `${what}: ${name}[${i}] expected ${e[i]} ± ${tol} (${checks.tolerance} of ${scale}), received ${
          a[i]
        }`,
      );
    }
  }
}

/** Asserts two fused runs gave the same numbers bit for bit. */
export function assertOutputsIdentical<N extends string>(
  a: Readonly<Record<N, Float32Array>>,
  b: Readonly<Record<N, Float32Array>>,
  what: string,
  outputs: readonly N[],
): void {
  for (const name of outputs) {
    const x = new Uint32Array(a[name].buffer), y = new Uint32Array(b[name].buffer);
    const at = x.findIndex((v, j) => v !== y[j]);
    assert.ok(
      at === -1,
      `${what}: ${name}[${at}] ${b[name][at]} differs from the first run's ${a[name][at]}`,
    );
  }
}

/** Asserts a host array equals hand-worked values exactly. */
export function assertValues(actual: Float32Array, expected: readonly number[], what: string): void {
  assert.deepEqual(Array.from(actual), expected, what);
}
