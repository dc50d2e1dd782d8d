/**
 * Backend selection: activates a tfjs backend (`tensorflow`, `webgpu`, `blas`,
 * `wasm` or `cpu`) on the one tfjs of `../tf.ts`, loading the optional ones
 * only when they are asked for or tried by `"auto"`.
 *
 * Effectful: imports backends, probes the disk for tfjs-node, loads the BLAS
 * through FFI.
 *
 * @module
 */
import { tf } from "../tf.ts";
import { AUTO_ORDER, BACKEND_NAMES, type BackendName } from "./names.ts";
import {
  probeTensorflow,
  TENSORFLOW_README_SECTION,
  type TensorflowProbe,
  type TensorflowProbeOptions,
  TFJS_NODE_PACKAGES,
  TFJS_NODE_VERSION,
} from "./tensorflow_probe.ts";

/** What {@linkcode selectBackend} chose and why. */
export type BackendChoice = {
  /** The tfjs backend now active, e.g. `"wasm"`. */
  readonly name: string;
  /** Backends that were tried before it and why they were passed over. */
  readonly skipped: readonly string[];
};

/** Where {@linkcode selectBackend} looks for tfjs-node(-gpu), and how it loads a package it found. */
export type TensorflowOptions = TensorflowProbeOptions & {
  /**
   * Imports a package found complete (default: a dynamic `import()` of
   * `npm:<name>@4.22.0`). Tests pass a stand-in to see what would be imported.
   */
  readonly importModule?: (specifier: string) => Promise<unknown>;
};

// A computed specifier, so that neither `deno check` nor `deno publish` pulls
// the optional packages into the lockfile or the package.
const importOptional = (specifier: string): Promise<unknown> => import(specifier);

function firstLine(error: unknown): string {
  const line = (error instanceof Error ? error.message : String(error)).split("\n")[0];
  return line.length > 160 ? `${line.slice(0, 157)}...` : line;
}

async function tryTensorflow(options: TensorflowOptions): Promise<string | undefined> {
  let probe: TensorflowProbe;
  try {
    // Looks on disk first: importing a package that is not there would make Deno download it.
    probe = probeTensorflow(options);
  } catch (error) {
    return `could not look for ${TFJS_NODE_PACKAGES.join(" or ")} (${firstLine(error)})`;
  }
  const failures: string[] = [];
  for (const pkg of probe.ready) {
    const name = `${pkg}@${TFJS_NODE_VERSION}`;
    try {
      await (options.importModule ?? importOptional)(["npm", name].join(":"));
    } catch (error) {
      failures.push(`${name} could not be loaded (${firstLine(error)})`);
      continue;
    }
    try {
      if (await tf.setBackend("tensorflow")) return undefined;
      failures.push(`${name} loaded but its tensorflow backend did not initialise`);
    } catch (error) {
      failures.push(`${name} loaded but its tensorflow backend did not start (${firstLine(error)})`);
    }
  }
  const why = [...failures, ...probe.problems].join("; ") || "tensorflow backend did not initialise";
  return `${why}; see the README section "${TENSORFLOW_README_SECTION}"`;
}

async function tryWasm(): Promise<string | undefined> {
  try {
    await import("@tensorflow/tfjs-backend-wasm");
    if (await tf.setBackend("wasm")) return undefined;
    return "wasm backend did not initialise";
  } catch (error) {
    return `wasm backend could not be loaded (${error instanceof Error ? error.message : error})`;
  }
}

type GpuAdapterInfo = { vendor?: string; architecture?: string; device?: string; description?: string };
type GpuAdapter = { readonly isFallbackAdapter?: boolean; readonly info?: GpuAdapterInfo };

/**
 * A small computation whose result is known exactly, run on the active
 * backend: a backend that gets it wrong is not used by `auto`. (Under Deno,
 * tfjs's webgpu backend on a software Vulkan driver returns zeros at times.)
 */
async function selfCheck(): Promise<string | undefined> {
  // x[i, j, k] = ((i·7 + j·3 + k) mod 5) − 2, shape [2, 3, 4]
  const values = Array.from({ length: 24 }, (_, t) => {
    const i = Math.floor(t / 12), j = Math.floor((t % 12) / 4), k = t % 4;
    return ((i * 7 + j * 3 + k) % 5) - 2;
  });
  const expected = [0, 1].map((i) =>
    [0, 1, 2, 3].map((k) => [0, 1, 2].reduce((sum, j) => sum + Math.max(values[i * 12 + j * 4 + k], 0), 0))
  ).flat();
  const result = tf.tidy(() => {
    const x = tf.tensor3d(values, [2, 3, 4]);
    const relu = tf.relu(tf.matMul(x, tf.eye(4).expandDims(0).tile([2, 1, 1]) as tf.Tensor3D));
    return tf.sum(relu, 1);
  });
  const got = Array.from(await result.data());
  result.dispose();
  return got.every((v, i) => Math.abs(v - expected[i]) < 1e-5)
    ? undefined
    : `failed a self-check (expected ${expected.join(",")}, computed ${got.join(",")})`;
}

async function tryWebgpu(allowSoftware: boolean): Promise<string | undefined> {
  const gpu = (globalThis.navigator as { gpu?: { requestAdapter(): Promise<GpuAdapter | null> } })?.gpu;
  if (!gpu) return "no navigator.gpu (run Deno with --unstable-webgpu)";
  const adapter = await gpu.requestAdapter();
  if (!adapter) return "no WebGPU adapter (on Linux try DENO_WEBGPU_BACKEND=vulkan)";
  const info = adapter.info ?? {};
  const description = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(
    " ",
  );
  if (
    !allowSoftware &&
    (adapter.isFallbackAdapter || /llvmpipe|swiftshader|lavapipe|software/i.test(description))
  ) {
    return `the only WebGPU adapter is a software renderer (${description.trim() || "fallback adapter"})`;
  }
  try {
    await import("@tensorflow/tfjs-backend-webgpu");
    if (!(await tf.setBackend("webgpu"))) return "webgpu backend did not initialise";
    await tf.ready();
    if (allowSoftware) return undefined;
    const failed = await selfCheck();
    if (failed !== undefined) await tf.setBackend("cpu");
    return failed;
  } catch (error) {
    return `webgpu backend could not be loaded (${error instanceof Error ? error.message : error})`;
  }
}

async function tryBlas(): Promise<string | undefined> {
  const { loadBlas } = await import("./blas_ffi.ts");
  const load = loadBlas();
  if ("reason" in load) return load.reason;
  const { registerBlasBackend } = await import("./blas_backend.ts");
  registerBlasBackend(load.blas);
  if (await tf.setBackend("blas")) return undefined;
  return "blas backend did not initialise";
}

/** Options of {@linkcode selectBackend}. */
export type SelectBackendOptions = {
  /** The order `"auto"` tries backends in, for workloads where another order is faster. */
  readonly autoOrder?: readonly Exclude<BackendName, "auto" | "cpu">[];
  /** Where to look for `@tensorflow/tfjs-node-gpu` / `-node` (default: `node_modules` here and above, and Deno's npm cache). */
  readonly tensorflow?: TensorflowOptions;
};

/**
 * Activates a tfjs backend and waits until it is ready.
 *
 * `"auto"` tries, in order: `tensorflow` (only when `@tensorflow/tfjs-node-gpu`
 * or `@tensorflow/tfjs-node` 4.22.0 is on disk with its native binding: it is
 * looked for first and imported only then, so nothing is ever downloaded; see
 * the README section "The tensorflow backend (and tfjs-node-gpu)"), `webgpu`
 * (only with a hardware adapter), `blas` (tfjs's CPU backend with matrix
 * products on the system's OpenBLAS or Accelerate through FFI, and fused SAE
 * kernels), `wasm`, and the pure-JS `cpu` backend. A named backend that cannot start is an error that
 * says why.
 *
 * @example Use the deterministic pure-JS backend
 * ```ts
 * import assert from "node:assert/strict";
 * import { selectBackend } from "./select.ts";
 * const choice = await selectBackend("cpu");
 * assert.equal(choice.name, "cpu");
 * ```
 */
export async function selectBackend(
  name: BackendName,
  options: SelectBackendOptions = {},
): Promise<BackendChoice> {
  if (!(BACKEND_NAMES as readonly string[]).includes(name)) {
    throw new RangeError(
      `backend: expected one of ${BACKEND_NAMES.join(", ")}, received ${JSON.stringify(name)}`,
    );
  }
  const tries: Record<Exclude<BackendName, "auto" | "cpu">, () => Promise<string | undefined>> = {
    tensorflow: () => tryTensorflow(options.tensorflow ?? {}),
    webgpu: () => tryWebgpu(name === "webgpu"),
    blas: tryBlas,
    wasm: tryWasm,
  };
  const skipped: string[] = [];
  if (name === "auto") {
    for (const candidate of options.autoOrder ?? AUTO_ORDER) {
      const why = await tries[candidate]();
      if (why === undefined) {
        await tf.ready();
        return { name: tf.getBackend(), skipped };
      }
      skipped.push(`${candidate}: ${why}`);
    }
    name = "cpu";
  }
  if (name === "cpu") {
    await tf.setBackend("cpu");
    await tf.ready();
    return { name: "cpu", skipped };
  }
  const why = await tries[name]();
  if (why !== undefined) throw new Error(`backend ${name}: ${why}`);
  await tf.ready();
  return { name: tf.getBackend(), skipped };
}
