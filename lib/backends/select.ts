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
  /** The device it runs on, where that says something: for `webgpu`, the adapter and whether it is hardware. */
  readonly device?: string;
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

type GpuAdapterInfo = {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
};
type GpuAdapter = { readonly isFallbackAdapter?: boolean; readonly info?: GpuAdapterInfo };

/** Software renderers that expose a WebGPU adapter: Mesa's llvmpipe/lavapipe, SwiftShader, Windows' WARP. */
const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|swiftshader|software|microsoft basic render|\bwarp\b/i;

/** The adapter `selectBackend` last found for `webgpu`, in words (set by {@linkcode tryWebgpu}). */
let webgpuAdapter: string | undefined;

/**
 * The `webgpu` backend: tfjs-backend-webgpu with saekit's WGSL kernels on
 * its training path (`./webgpu/`), checked on this adapter before use.
 * `auto` takes it only on a hardware adapter; asked for by name it also runs
 * on a software one (slowly).
 */
async function tryWebgpu(named: boolean): Promise<string | undefined> {
  webgpuAdapter = undefined;
  const gpu = (globalThis.navigator as {
    gpu?: { requestAdapter(options?: { powerPreference?: string }): Promise<GpuAdapter | null> };
  })?.gpu;
  if (!gpu) return "no navigator.gpu (this Deno has no WebGPU; try --unstable-webgpu)";
  let adapter: GpuAdapter | null;
  try {
    // The adapter tfjs-backend-webgpu will ask for.
    adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  } catch (error) {
    return `requesting a WebGPU adapter failed (${firstLine(error)})`;
  }
  if (!adapter) {
    return Deno.build.os === "linux"
      ? "no WebGPU adapter (install Vulkan drivers, e.g. mesa-vulkan-drivers, and try DENO_WEBGPU_BACKEND=vulkan)"
      : "no WebGPU adapter";
  }
  const info = adapter.info ?? {};
  const name =
    (info.description || [info.vendor, info.architecture, info.device].filter(Boolean).join(" ")).trim() ||
    "unnamed adapter";
  const software = adapter.isFallbackAdapter === true || info.isFallbackAdapter === true ||
    SOFTWARE_ADAPTER.test(name);
  webgpuAdapter = `${name}, ${software ? "a software adapter" : "a hardware adapter"}`;
  if (!named && software) return `the only WebGPU adapter is a software renderer (${name})`;
  try {
    const { registerWebgpuKernels } = await import("./webgpu/register.ts");
    await registerWebgpuKernels();
    if (!(await tf.setBackend("webgpu"))) return "webgpu backend did not initialise";
    await tf.ready();
    const { watchDeviceErrors } = await import("./webgpu/device.ts");
    watchDeviceErrors((tf.backend() as unknown as { device: GPUDevice }).device);
  } catch (error) {
    return `webgpu backend could not be loaded (${firstLine(error)})`;
  }
  let problem: string | undefined;
  try {
    const { webgpuSelfCheck } = await import("./webgpu/self_check.ts");
    problem = await webgpuSelfCheck();
  } catch (error) {
    problem = `its self-check failed (${firstLine(error)})`;
  }
  if (problem === undefined) return undefined;
  await tf.setBackend("cpu");
  return `saekit's WebGPU kernels are wrong on ${name}: ${problem}`;
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
 * (only with a hardware adapter, and only when saekit's WGSL kernels pass
 * their check there; the adapter is in the choice's `device`), `blas` (tfjs's CPU backend with matrix
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
        return withDevice({ name: tf.getBackend(), skipped });
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
  return withDevice({ name: tf.getBackend(), skipped });
}

function withDevice(choice: BackendChoice): BackendChoice {
  return choice.name === "webgpu" && webgpuAdapter !== undefined
    ? { ...choice, device: webgpuAdapter }
    : choice;
}
