/**
 * Backends: `selectBackend` activates a tfjs backend (tensorflow, webgpu, the
 * BLAS through FFI, wasm, cpu); the names of the backends, and of the fused
 * kernels a backend may register, with `hasKernel` and `runKernel`, by which
 * the pure code uses a fused kernel where the active backend has one.
 *
 * @module
 */
export { AUTO_ORDER, BACKEND_NAMES, type BackendName } from "./names.ts";
export {
  type BackendChoice,
  selectBackend,
  type SelectBackendOptions,
  type TensorflowOptions,
} from "./select.ts";
export { hasKernel, runKernel } from "../tf.ts";
export {
  ADAM_KERNEL,
  NORMALIZE_ROWS_KERNEL,
  PROJECT_ROWS_KERNEL,
  SAE_AUXK_KERNEL,
  SAE_BATCHTOPK_KERNEL,
  SAE_GATED_KERNEL,
  SAE_JUMPRELU_KERNEL,
  SAE_RELU_APRIL_KERNEL,
  SAE_RELU_KERNEL,
} from "./kernel_names.ts";
