/**
 * A check of every tfjs kernel a computation runs on the WebGPU backend:
 * each call's inputs and outputs are kept, and afterwards the `cpu`
 * backend's kernel of the same name runs on the same inputs and its outputs
 * are compared. This is how saekit knows which of tfjs's WebGPU kernels on
 * its training path can be trusted (see `castToFloat` for one that could
 * not), on whatever adapter it runs.
 *
 * Effectful (swaps kernels in tfjs's registry while it runs; reads GPU
 * buffers).
 *
 * @module
 */
import { tf } from "../../tf.ts";
import { WEBGPU_BACKEND } from "./register.ts";

/** What {@linkcode checkKernelsAgainstCpu} found for one kernel name. */
export type KernelCheck = {
  /** The tfjs kernel name, e.g. `"Sum"`. */
  readonly kernel: string;
  /** Calls traced. */
  readonly calls: number;
  /** Calls whose outputs differed from the cpu kernel's beyond the tolerance. */
  readonly failures: number;
  /** The largest difference seen, relative to `max(1, max |cpu output|)` (0 for exact integer outputs). */
  readonly worst: number;
  /** The first failure, in words (shapes, attributes, the first differing value). */
  readonly example?: string;
  /** Why the calls could not be checked (no cpu kernel of that name, or it threw). */
  readonly unchecked?: string;
};

/** Options of {@linkcode checkKernelsAgainstCpu}. */
export type CheckKernelsOptions = {
  /** Largest difference allowed, relative to `max(1, max |cpu output|)` (default 1e-4). */
  readonly tolerance?: number;
};

type Call = {
  readonly kernel: string;
  readonly inputs: readonly [string, tf.TensorInfo][];
  readonly attrs: Readonly<Record<string, unknown>>;
  readonly outputs: readonly tf.TensorInfo[];
};

type RefBackend = tf.KernelBackend & {
  incRef(dataId: tf.DataId): void;
  read(dataId: tf.DataId): Promise<tf.backend_util.BackendValues>;
};

function asArray(values: tf.backend_util.BackendValues, dtype: tf.DataType): Float32Array | Int32Array {
  if (dtype === "float32") return Float32Array.from(values as ArrayLike<number>);
  return Int32Array.from(values as ArrayLike<number>);
}

/**
 * TopK's indices as the check expects them: each received index where it is
 * distinct in its row and points at the value reported beside it, else -1.
 */
function topkIndicesAsChecked(
  x: ArrayLike<number>,
  values: ArrayLike<number>,
  indices: ArrayLike<number>,
  shape: readonly number[],
): Int32Array {
  const cols = shape[shape.length - 1];
  const k = indices.length / Math.max(1, x.length / cols);
  const out = new Int32Array(indices.length);
  for (let start = 0, row = 0; start < indices.length; start += k, row++) {
    const seen = new Set<number>();
    for (let j = start; j < start + k; j++) {
      const at = indices[j];
      const v = x[row * cols + at], want = values[j];
      const ok = !seen.has(at) && at >= 0 && at < cols &&
        (v === want || (Number.isNaN(v) && Number.isNaN(want)));
      seen.add(at);
      out[j] = ok ? at : -1;
    }
  }
  return out;
}

function describe(call: Call): string {
  const inputs = call.inputs.map(([name, t]) => `${name} ${t.dtype}[${t.shape}]`).join(", ");
  const attrs = Object.entries(call.attrs).filter(([, v]) => typeof v !== "object" || Array.isArray(v));
  return `${call.kernel}(${inputs}${
    attrs.length ? `; ${attrs.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(" ")}` : ""
  })`;
}

/**
 * Runs `run` with every tfjs kernel of the `webgpu` backend traced, then
 * replays each traced call on the `cpu` backend's kernel of the same name
 * and compares the outputs. The `webgpu` backend must be active while `run`
 * runs. Kernels without a cpu counterpart (saekit's fused ones, which have
 * their own parity tests) are reported as unchecked.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../../tf.ts";
 * import { selectBackend } from "../select.ts";
 * import { checkKernelsAgainstCpu } from "./trace.ts";
 * if (await navigator.gpu?.requestAdapter()) {
 *   await selectBackend("webgpu");
 *   const x = tf.tensor2d([[1, -2, 3], [4, 5, -6]]);
 *   const { result, report } = await checkKernelsAgainstCpu(() => tf.sum(tf.relu(x), 0).data());
 *   assert.deepEqual([...result], [5, 5, 3]);
 *   assert.deepEqual(report.map((r) => [r.kernel, r.failures]), [["Relu", 0], ["Sum", 0]]);
 *   await selectBackend("cpu");
 * }
 * ```
 */
export async function checkKernelsAgainstCpu<T>(
  run: () => T | Promise<T>,
  options: CheckKernelsOptions = {},
): Promise<{ result: T; report: KernelCheck[] }> {
  const tolerance = options.tolerance ?? 1e-4;
  const backend = tf.backend() as RefBackend;
  if (tf.getBackend() !== WEBGPU_BACKEND) {
    throw new Error(
      `checkKernelsAgainstCpu: expected the ${WEBGPU_BACKEND} backend active, received ${tf.getBackend()}`,
    );
  }
  const originals = tf.getKernelsForBackend(WEBGPU_BACKEND);
  const calls: Call[] = [];
  for (const config of originals) {
    tf.unregisterKernel(config.kernelName, WEBGPU_BACKEND);
    tf.registerKernel({
      ...config,
      kernelFunc: (args) => {
        const out = config.kernelFunc(args);
        const outputs = (Array.isArray(out) ? out : [out]) as tf.TensorInfo[];
        const inputs = Object.entries(args.inputs).filter((e): e is [string, tf.TensorInfo] => e[1] != null);
        // Keep the data alive until it has been read back.
        for (const [, t] of inputs) backend.incRef(t.dataId);
        for (const t of outputs) backend.incRef(t.dataId);
        calls.push({ kernel: config.kernelName, inputs, attrs: { ...(args.attrs ?? {}) }, outputs });
        return out;
      },
    });
  }
  let result: T;
  // tfjs checks, in tests, that a composite op leaves no data behind: the kept references would fail it.
  const leakCheck = tf.env().getBool("IS_TEST");
  tf.env().set("IS_TEST", false);
  try {
    result = await run();
  } finally {
    tf.env().set("IS_TEST", leakCheck);
    for (const config of originals) {
      tf.unregisterKernel(config.kernelName, WEBGPU_BACKEND);
      tf.registerKernel(config);
    }
  }
  const cpu = tf.engine().findBackend("cpu") as tf.KernelBackend & {
    makeTensorInfo(
      shape: number[],
      dtype: tf.DataType,
      values?: tf.backend_util.BackendValues,
    ): tf.TensorInfo;
    readSync(dataId: tf.DataId): tf.backend_util.BackendValues;
  };
  const checks = new Map<
    string,
    { calls: number; failures: number; worst: number; example?: string; unchecked?: string }
  >();
  const read = async (t: tf.TensorInfo) => {
    const values = asArray(await backend.read(t.dataId), t.dtype);
    backend.disposeData(t.dataId);
    return values;
  };
  // Read back in parallel, 64 calls at a time: each read waits for the GPU once.
  const fetched: { inputs: (Float32Array | Int32Array)[]; outputs: (Float32Array | Int32Array)[] }[] = [];
  for (let i = 0; i < calls.length; i += 64) {
    fetched.push(
      ...await Promise.all(
        calls.slice(i, i + 64).map(async (call) => ({
          inputs: await Promise.all(call.inputs.map(([, t]) => read(t))),
          outputs: await Promise.all(call.outputs.map(read)),
        })),
      ),
    );
  }
  for (const [index, call] of calls.entries()) {
    const entry = checks.get(call.kernel) ?? { calls: 0, failures: 0, worst: 0 };
    checks.set(call.kernel, entry);
    entry.calls++;
    const { inputs: inputValues, outputs: outputValues } = fetched[index];
    const kernel = tf.getKernel(call.kernel, "cpu");
    if (kernel === undefined) {
      entry.unchecked = "no cpu kernel";
      continue;
    }
    const cpuInputs: Record<string, tf.TensorInfo> = {};
    call.inputs.forEach(([name, t], i) => {
      cpuInputs[name] = cpu.makeTensorInfo([...t.shape], t.dtype, inputValues[i]);
    });
    // Kernels of a list of tensors (Concat, AddN, Pack) take their inputs as an array.
    const numbered = call.inputs.length > 0 && call.inputs.every(([name], i) => name === String(i));
    let expected: tf.TensorInfo[];
    try {
      const inputs = (numbered ? Object.values(cpuInputs) : cpuInputs) as unknown as tf.NamedTensorInfoMap;
      const out = kernel.kernelFunc({ inputs, backend: cpu, attrs: call.attrs as tf.NamedAttrMap });
      expected = (Array.isArray(out) ? out : [out]) as tf.TensorInfo[];
    } catch (error) {
      entry.unchecked = `the cpu kernel threw on ${describe(call)}: ${
        error instanceof Error ? error.message : error
      }`;
      continue;
    }
    call.outputs.forEach((t, i) => {
      let want: ArrayLike<number> = asArray(cpu.readSync(expected[i].dataId), t.dtype);
      const got = outputValues[i];
      if (call.kernel === "TopK" && i === 1) {
        // Among tied values any order of indices is right: check that each index holds its value.
        want = topkIndicesAsChecked(inputValues[0], outputValues[0], got, call.inputs[0][1].shape);
      }
      let scale = 1;
      for (let j = 0; j < want.length; j++) {
        if (Number.isFinite(want[j])) scale = Math.max(scale, Math.abs(want[j]));
      }
      let worst = 0, first = -1;
      if (got.length !== want.length) first = 0;
      for (let j = 0; j < want.length && first < 0; j++) {
        const same = got[j] === want[j] || (Number.isNaN(got[j]) && Number.isNaN(want[j]));
        const d = same ? 0 : Math.abs(got[j] - want[j]) / scale;
        worst = Math.max(worst, Number.isNaN(d) ? Infinity : d);
        if (!(d <= (t.dtype === "float32" ? tolerance : 0))) first = j;
      }
      entry.worst = Math.max(entry.worst, worst);
      if (first >= 0) {
        entry.failures++;
        entry.example ??= `${describe(call)} output ${i} ${t.dtype}[${t.shape}]: at ${first} expected ${
          want[first]
        }, received ${got[first]} (${got.length} values, ${want.length} expected)`;
      }
    });
    for (const t of [...Object.values(cpuInputs), ...expected]) cpu.disposeData(t.dataId);
  }
  const report = [...checks].map(([kernel, e]) => ({ kernel, ...e }));
  return { result, report: report.sort((a, b) => a.kernel.localeCompare(b.kernel)) };
}
