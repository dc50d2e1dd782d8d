/**
 * Puts saekit's WGSL kernels on tfjs's WebGPU backend (`"webgpu"`): the
 * fused SAE step of ReLU and TopK, Adam, the decoder's row projection and
 * normalisation under saekit's kernel names; saekit's own `BatchMatMul`,
 * integer-to-float `Cast` and `Transpose` in place of tfjs's (each falls
 * back to tfjs's kernel for what it does not handle); and tfjs's reductions,
 * arg-max/min and cumulative sums wrapped so that they never reach tfjs's
 * int32/bool transpose, whose shader Deno rejects (see `kernels.ts`).
 *
 * Effectful (imports and patches the tfjs backend).
 *
 * @module
 */
import { tf } from "../../tf.ts";
import { ADAM_KERNEL, NORMALIZE_ROWS_KERNEL, PROJECT_ROWS_KERNEL, SAE_RELU_KERNEL } from "../kernel_names.ts";
import {
  adamMoments,
  batchMatMul,
  castToFloat,
  type KernelArgs,
  normalizeRows,
  projectRows,
  saeStep,
  transpose,
  withIntAxesLast,
} from "./kernels.ts";

/** The tfjs backend name saekit's WebGPU kernels are registered under. */
export const WEBGPU_BACKEND = "webgpu";

/** The kernels of saekit's own that {@linkcode registerWebgpuKernels} adds (saekit's kernel names). */
export const WEBGPU_FUSED_KERNELS: readonly string[] = [
  SAE_RELU_KERNEL,
  ADAM_KERNEL,
  PROJECT_ROWS_KERNEL,
  NORMALIZE_ROWS_KERNEL,
];

/** The tfjs kernels that {@linkcode registerWebgpuKernels} replaces (falling back to tfjs's own). */
export const WEBGPU_REPLACED_KERNELS: readonly string[] = ["BatchMatMul", "Cast", "Transpose"];

/**
 * tfjs kernels that transpose their input internally with tfjs's own (int-broken) transpose: wrapped so
 * that int32 and bool inputs are transposed by saekit's first (`withIntAxesLast`).
 */
export const WEBGPU_WRAPPED_KERNELS: Readonly<Record<string, "reduce" | "arg" | "cumulative">> = {
  Sum: "reduce",
  Prod: "reduce",
  Max: "reduce",
  Min: "reduce",
  Mean: "reduce",
  Any: "reduce",
  All: "reduce",
  ArgMax: "arg",
  ArgMin: "arg",
  Cumsum: "cumulative",
  Cumprod: "cumulative",
};

const REPLACEMENTS: Readonly<Record<string, (args: KernelArgs) => unknown>> = {
  BatchMatMul: batchMatMul,
  Cast: castToFloat,
  Transpose: transpose,
};

let registered = false;

function register(kernelName: string, kernelFunc: (args: KernelArgs) => unknown): void {
  tf.registerKernel({
    kernelName,
    backendName: WEBGPU_BACKEND,
    kernelFunc: kernelFunc as unknown as tf.KernelFunc,
  });
}

/**
 * Registers saekit's kernels on the `webgpu` backend (once). Imports
 * `@tensorflow/tfjs-backend-webgpu`, which registers the backend itself.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../../tf.ts";
 * import { SAE_RELU_KERNEL } from "../kernel_names.ts";
 * import { registerWebgpuKernels, WEBGPU_FUSED_KERNELS, WEBGPU_REPLACED_KERNELS } from "./register.ts";
 * await registerWebgpuKernels();
 * for (const name of [...WEBGPU_FUSED_KERNELS, ...WEBGPU_REPLACED_KERNELS]) {
 *   assert.ok(tf.getKernel(name, "webgpu"), name);
 * }
 * assert.equal(tf.getKernel(SAE_RELU_KERNEL, "cpu"), undefined); // only the webgpu backend gains them
 * ```
 */
export async function registerWebgpuKernels(): Promise<void> {
  if (registered) return;
  await import("@tensorflow/tfjs-backend-webgpu");
  registered = true;
  for (const kernelName of WEBGPU_REPLACED_KERNELS) {
    const original = tf.getKernel(kernelName, WEBGPU_BACKEND);
    if (original === undefined) {
      throw new Error(`tfjs-backend-webgpu: expected a ${kernelName} kernel to replace, found none`);
    }
    const ours = REPLACEMENTS[kernelName];
    tf.unregisterKernel(kernelName, WEBGPU_BACKEND);
    register(kernelName, (args) => ours(args) ?? original.kernelFunc(args as Parameters<tf.KernelFunc>[0]));
  }
  for (const [kernelName, kind] of Object.entries(WEBGPU_WRAPPED_KERNELS)) {
    const original = tf.getKernel(kernelName, WEBGPU_BACKEND);
    if (original === undefined) continue;
    tf.unregisterKernel(kernelName, WEBGPU_BACKEND);
    register(
      kernelName,
      withIntAxesLast(kind, (args) => original.kernelFunc(args as Parameters<tf.KernelFunc>[0])),
    );
  }
  register(SAE_RELU_KERNEL, saeStep);
  register(ADAM_KERNEL, adamMoments);
  register(PROJECT_ROWS_KERNEL, projectRows);
  register(NORMALIZE_ROWS_KERNEL, normalizeRows);
}
