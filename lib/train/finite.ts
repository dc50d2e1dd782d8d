/**
 * Finiteness of a training run's numbers. A probe of a state costs one
 * product with a vector of ones per tensor (a sum per component, which is NaN
 * or ±Inf when any value it adds is) and is read back in one transfer; the
 * host-side scans then say exactly what is not finite (how many NaN, how many
 * ±Inf, where), and the error names the step, the tensor and the component.
 *
 * Pure: the probe only allocates, and the scans read arrays the caller
 * already holds; the runner (`lib/run/runner.ts`) reads the probe back and
 * decides whether to stop or to skip the batch.
 *
 * @module
 */
import { tf, tidy } from "../tf.ts";
import type { TrainState } from "./state.ts";

/** A tensor of a state that the probe covers. */
export type ProbedTensor = {
  /** Its path in the state, as checkpoints name it: `params.wEnc`, `opt.2.nu.wDec`, `metrics.lossSum`. */
  readonly path: string;
  readonly tensor: tf.Tensor;
  /** Whether its leading axis is the component axis (a sum per component) or not (one sum). */
  readonly perComponent: boolean;
};

function floatTensorsUnder(node: unknown, path: string, into: { path: string; tensor: tf.Tensor }[]): void {
  if (node instanceof tf.Tensor) {
    if (node.dtype === "float32") into.push({ path, tensor: node });
  } else if (Array.isArray(node)) {
    node.forEach((child, i) => floatTensorsUnder(child, `${path}.${i}`, into));
  } else if (node !== null && typeof node === "object") {
    for (const [key, child] of Object.entries(node)) floatTensorsUnder(child, `${path}.${key}`, into);
  }
}

/**
 * The tensors of a state whose finiteness a run checks, most telling first:
 * the activations (through `metrics.sstSum`, `Σ‖x − mean(x)‖²` of the window),
 * the loss (`metrics.lossSum`), then every float tensor of the parameters and
 * of the optimizer state (Adam's moments).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseConfig } from "../config.ts";
 * import { initTrainState } from "./pipeline.ts";
 * import { disposeAll } from "../run/dispose.ts";
 * import { probedTensors } from "./finite.ts";
 * const state = initTrainState(parseConfig({ dIn: 4, batchSize: 8, storeSize: 8, steps: 1 }));
 * const paths = probedTensors(state).map((p) => p.path);
 * assert.deepEqual(paths.slice(0, 4), ["metrics.sstSum", "metrics.lossSum", "params.wEnc", "params.bEnc"]);
 * assert.ok(paths.includes("opt.2.nu.wDec"));
 * disposeAll(state);
 * ```
 */
export function probedTensors(state: TrainState): ProbedTensor[] {
  const c = state.metrics.lossSum.shape[0];
  const found: { path: string; tensor: tf.Tensor }[] = [
    { path: "metrics.sstSum", tensor: state.metrics.sstSum },
    { path: "metrics.lossSum", tensor: state.metrics.lossSum },
  ];
  floatTensorsUnder(state.params, "params", found);
  floatTensorsUnder(state.opt, "opt", found);
  return found.map(({ path, tensor }) => ({
    path,
    tensor,
    perComponent: tensor.rank >= 1 && tensor.shape[0] === c,
  }));
}

/** Row sums of a matrix `[rows, cols]` as a product with ones (one fast kernel on every backend). */
function rowSums(t: tf.Tensor2D): tf.Tensor1D {
  return tf.reshape(tf.matMul(t, tf.ones([t.shape[1], 1])), [t.shape[0]]) as tf.Tensor1D;
}

/**
 * The probe of some tensors: for each, one sum per component (or one sum when
 * it has no component axis), concatenated in order, `[Σ entries]`. An entry is
 * NaN or ±Inf when a value it adds is not finite; it can also overflow to ±Inf
 * when huge finite values add up, so a non-finite entry is confirmed on the
 * host ({@linkcode countNonFinite}) before anything is said. The sums are
 * products with a vector of ones, the cheapest reduction on the BLAS and wasm
 * backends (about 7 ms for the 12.6M values of an SAE 512 → 4096 with Adam on
 * `blas`, against 23 ms for `tf.sum`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { finiteProbe } from "./finite.ts";
 * const w = tf.tensor3d([1, 2, 3, 4, 5, NaN, 7, 8], [2, 2, 2]); // [component, 2, 2]
 * const probe = finiteProbe([{ path: "params.w", tensor: w, perComponent: true }]);
 * const sums = Array.from(probe.dataSync());
 * assert.equal(sums[0], 1 + 2 + 3 + 4); // component 0: finite
 * assert.ok(Number.isNaN(sums[1])); // component 1 holds the NaN
 * tf.dispose([w, probe]);
 * ```
 */
export function finiteProbe(tensors: readonly ProbedTensor[]): tf.Tensor1D {
  return tidy(() => {
    const parts = tensors.map(({ tensor, perComponent }) => {
      if (tensor.size === 0) return tf.zeros([perComponent ? tensor.shape[0] : 1]) as tf.Tensor1D;
      if (perComponent && tensor.rank === 1) return tf.clone(tensor) as tf.Tensor1D; // one value a component
      const last = tensor.rank === 0 ? 1 : tensor.shape[tensor.rank - 1];
      const sums = rowSums(tf.reshape(tensor, [tensor.size / last, last]) as tf.Tensor2D);
      if (!perComponent) return tf.reshape(tf.sum(sums), [1]) as tf.Tensor1D;
      return tf.sum(tf.reshape(sums, [tensor.shape[0], -1]), 1) as tf.Tensor1D;
    });
    return tf.concat(parts) as tf.Tensor1D;
  });
}

/** How many values of an array are not finite, and the first of them. */
export type NonFiniteCount = {
  readonly nan: number;
  readonly posInf: number;
  readonly negInf: number;
  /** Values scanned. */
  readonly size: number;
  /** Index (from the scan's start) of the first value that is not finite; -1 when all are finite. */
  readonly first: number;
};

/**
 * Counts the NaN, +Inf and −Inf among `values[start, end)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { countNonFinite } from "./finite.ts";
 * const count = countNonFinite([1, NaN, Infinity, 2, NaN, -Infinity]);
 * assert.deepEqual(count, { nan: 2, posInf: 1, negInf: 1, size: 6, first: 1 });
 * assert.equal(countNonFinite([0, 1, NaN], 0, 2).first, -1);
 * ```
 */
export function countNonFinite(values: ArrayLike<number>, start = 0, end = values.length): NonFiniteCount {
  let nan = 0, posInf = 0, negInf = 0, first = -1;
  for (let i = start; i < end; i++) {
    const v = values[i];
    if (v - v === 0) continue; // finite (NaN − NaN and Inf − Inf are NaN)
    if (first < 0) first = i - start;
    if (Number.isNaN(v)) nan++;
    else if (v > 0) posInf++;
    else negInf++;
  }
  return { nan, posInf, negInf, size: end - start, first };
}

/**
 * A count in words: `NaN`, `+Inf` for a single value; `NaN in 3 of 8192 values`,
 * `NaN in 1, +Inf in 2 of 8192 values` otherwise.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeNonFinite } from "./finite.ts";
 * assert.equal(describeNonFinite({ nan: 1, posInf: 0, negInf: 0, size: 1, first: 0 }), "NaN");
 * assert.equal(
 *   describeNonFinite({ nan: 1, posInf: 2, negInf: 0, size: 8192, first: 5 }),
 *   "NaN in 1, +Inf in 2 of 8192 values",
 * );
 * ```
 */
export function describeNonFinite(count: NonFiniteCount): string {
  const kinds = ([["NaN", count.nan], ["+Inf", count.posInf], ["-Inf", count.negInf]] as const)
    .filter(([, n]) => n > 0);
  if (count.size === 1) return kinds.map(([kind]) => kind).join("");
  return `${kinds.map(([kind, n]) => `${kind} in ${n}`).join(", ")} of ${count.size} values`;
}

/**
 * Throws a `RangeError` naming `what` when `values` holds NaN or ±Inf: the check
 * for weights read from a file (a model's or a dictionary's), so that a broken
 * file is refused at load with the tensor's name instead of training on NaN.
 *
 * @param what the tensor, with its file: `models/x/model.safetensors: tensor "wte.weight"`
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { assertFiniteValues } from "./finite.ts";
 * assertFiniteValues(new Float32Array([1, 2]), 'm.safetensors: tensor "w"');
 * assert.throws(
 *   () => assertFiniteValues(new Float32Array([1, NaN, 3]), 'm.safetensors: tensor "w"'),
 *   {
 *     name: "RangeError",
 *     message: 'm.safetensors: tensor "w": expected finite values, received NaN in 1 of 3 values ' +
 *       "(the first at index 1)",
 *   },
 * );
 * ```
 */
export function assertFiniteValues(values: ArrayLike<number>, what: string): void {
  const count = countNonFinite(values);
  if (count.first < 0) return;
  throw new RangeError(
    `${what}: expected finite values, received ${
      describeNonFinite(count)
    } (the first at index ${count.first})`,
  );
}

/** Where in a batch `[component, rows, dIn]` the first value that is not finite lies. */
export type NonFiniteEntry = {
  readonly component: number;
  readonly row: number;
  readonly column: number;
  readonly value: number;
};

/**
 * The first value of a batch `[components, rows, dIn]` (row-major) that is not
 * finite, or `undefined` when every value is finite.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { firstNonFinite } from "./finite.ts";
 * const data = new Float32Array(2 * 3 * 4); // 2 components, 3 rows, dIn 4
 * assert.equal(firstNonFinite(data, 2, 3, 4), undefined);
 * data[1 * 12 + 2 * 4 + 1] = Infinity; // component 1, row 2, column 1
 * assert.deepEqual(firstNonFinite(data, 2, 3, 4), { component: 1, row: 2, column: 1, value: Infinity });
 * ```
 */
export function firstNonFinite(
  data: ArrayLike<number>,
  components: number,
  rows: number,
  dIn: number,
): NonFiniteEntry | undefined {
  const first = countNonFinite(data, 0, components * rows * dIn).first;
  if (first < 0) return undefined;
  const component = Math.floor(first / (rows * dIn));
  const within = first - component * rows * dIn;
  return { component, row: Math.floor(within / dIn), column: within % dIn, value: data[first] };
}

/**
 * A tensor's path in words for messages: Adam's moments are named as such.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeTensorPath } from "./finite.ts";
 * assert.equal(describeTensorPath("opt.2.nu.wEnc"), "opt.2.nu.wEnc (Adam's second moment of wEnc)");
 * assert.equal(describeTensorPath("metrics.lossSum"), "the loss");
 * assert.equal(describeTensorPath("params.bDec"), "params.bDec");
 * ```
 */
export function describeTensorPath(path: string): string {
  if (path === "metrics.lossSum") return "the loss";
  if (path === "metrics.sstSum") return "the activations";
  const moment = /\.(mu|nu)\.([^.]+)$/.exec(path);
  if (moment !== null) {
    return `${path} (Adam's ${moment[1] === "mu" ? "first" : "second"} moment of ${moment[2]})`;
  }
  return path;
}

/**
 * A run stopped because a number went NaN or ±Inf: the message names the
 * step, the tensor and the component, and what to do.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NonFiniteError } from "./finite.ts";
 * const error = new NonFiniteError("step 3: the loss of a is not finite (NaN)", 3, "metrics.lossSum", "a");
 * assert.ok(error instanceof RangeError);
 * assert.equal(error.name, "NonFiniteError");
 * assert.equal(error.tensor, "metrics.lossSum");
 * ```
 */
export class NonFiniteError extends RangeError {
  /**
   * @param step the step at which it was found
   * @param tensor the tensor's path in the state (`params.wEnc`, `metrics.lossSum`, `activations` for a batch)
   * @param component the component's name, when the tensor has a component axis
   */
  constructor(
    message: string,
    readonly step: number,
    readonly tensor: string,
    readonly component: string | undefined,
  ) {
    super(message);
    this.name = "NonFiniteError";
  }
}
