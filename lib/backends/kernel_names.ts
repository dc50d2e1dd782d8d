/**
 * The names of the fused kernels a backend may register, in one leaf module
 * (it imports nothing): the pure code asks `hasKernel(name)` and runs the
 * kernel when the active backend has one, else the same maths as ordinary
 * tfjs ops; a backend (`blas_backend.ts`) registers its kernels under these
 * names. Each kernel's contract (inputs, attributes, outputs) is documented
 * here, beside its name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ADAM_KERNEL, SAE_RELU_KERNEL } from "./kernel_names.ts";
 * assert.notEqual(ADAM_KERNEL, SAE_RELU_KERNEL);
 * ```
 *
 * @module
 */

/**
 * The fused SAE step (forward, loss, hand-derived gradients, batch statistics)
 * for ReLU and TopK. Inputs `x, wEnc, bEnc, wDec, bDec`; attributes
 * `l1Coefficient`, `keepRows` (rows of `f` to return per component) and `k` (0
 * for ReLU, else TopK's k); outputs, in order: `f [c, keepRows, dSae], xHat,
 * l1, l2, total, loss, gwEnc, gbEnc, gwDec, gbDec, l0, fired, sst`.
 */
export const SAE_RELU_KERNEL = "SaekitReluSaeLossAndGrads";

/**
 * One Adam update of one tensor. Inputs `g, mu, nu`; attributes `b1, b2, eps,
 * c1 = 1/(1−β1ᵗ), c2 = 1/(1−β2ᵗ)`; outputs `mu', nu', update = c1·mu' /
 * (√(c2·nu') + eps)`.
 */
export const ADAM_KERNEL = "SaekitAdamMoments";

/** Removes from each decoder-row gradient its component along the row: inputs `w, g`; output the projected `g`. */
export const PROJECT_ROWS_KERNEL = "SaekitProjectRows";

/** Scales each decoder row to unit norm: input `w`; output the unit-norm rows. */
export const NORMALIZE_ROWS_KERNEL = "SaekitNormalizeRows";
