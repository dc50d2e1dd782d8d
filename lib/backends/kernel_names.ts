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
 * The fused SAE step of BatchTopK and Matryoshka: the `k · batch` largest
 * positive pre-activations of the whole batch are kept per component (every
 * value tied with the smallest kept one too; all positive values when there
 * are fewer), with TopK's gradient `∂L/∂pre = ∂L/∂f ⊙ mask`; the loss
 * `Σ_t w_t · mse(x̂_t, x) + λ·Σ|f|` with `x̂_t` the reconstruction by the
 * features `[0, prefixes[t])`. Inputs `x, wEnc, bEnc, wDec, bDec`; attributes
 * `l1Coefficient`, `keepRows`, `k`, `prefixes` (increasing, the last `dSae`;
 * `dSae` alone for BatchTopK) and `prefixWeights` (`1`), both lists as
 * comma-separated numbers (attributes are scalars); outputs those of
 * {@linkcode SAE_RELU_KERNEL} (`l2` is the last prefix's, `total` has the
 * weighted sum) then `minActive [c]`, the smallest kept activation (∞ where
 * none).
 */
export const SAE_BATCHTOPK_KERNEL = "SaekitBatchTopkSaeLossAndGrads";

/**
 * AuxK of the TopK family, after a fused step on the same inputs: of the
 * features marked dead, the `kAux` largest positive pre-activations of each
 * item (ties kept) reconstruct the residual `x − x̂` of the main step,
 * `ê = f_aux · wDec`. Inputs `x, wEnc, bEnc, wDec, bDec` (an SAE with a tied
 * bias, on its own input), `xHat` (the main step's reconstruction) and `dead`
 * (`[c, dSae]`, > 0 for a dead feature); attributes `kAux` and
 * `auxkCoefficient` α; outputs `aux [c, B]` (`mse(ê, x − x̂)` per item) and
 * AuxK's shares of the gradients, `gwEnc, gbEnc, gwDec, gbDec` (with
 * `R = α(2s/n)(ê − e)`: `∂/∂wDec = f_auxᵀ R`, `∂/∂pre = (R wDecᵀ) ⊙ mask_aux`
 * sent to `wEnc`, `bEnc` and through the tied bias to `bDec`).
 */
export const SAE_AUXK_KERNEL = "SaekitAuxkLossAndGrads";

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

/**
 * The fused SAE step of JumpReLU with the step (L0) penalty: `f = pre · [pre > θ]`
 * with a threshold θ per feature, the loss `mse(x̂, x) + λ·Σ_j [pre_j > θ_j]`, and
 * θ's straight-through gradient through the rectangle kernel
 * `K = [|(pre − θ)/ε| < ½]`: `∂L/∂θ = −(sλ/ε) Σ_b K − (θ/ε) Σ_b K · ∂L/∂f`.
 * Inputs `x, wEnc, bEnc, wDec, bDec, threshold` (`[c, dSae]`); attributes
 * `l1Coefficient` (λ), `keepRows` and `bandwidth` (ε); outputs those of
 * {@linkcode SAE_RELU_KERNEL} (`l1` is the step penalty, the count of active
 * features; `l0` and `fired` count `f > 0`) then `gThreshold [c, dSae]`.
 */
export const SAE_JUMPRELU_KERNEL = "SaekitJumpReluSaeLossAndGrads";

/**
 * The fused SAE step of April ReLU (Anthropic, April 2024): `f = ReLU(pre)`, the
 * loss `mse(x̂, x) + λ·Σ_j f_j ‖wDec_j‖` with a free decoder. Inputs `x, wEnc,
 * bEnc, wDec, bDec`; attributes `l1Coefficient` (λ) and `keepRows`; outputs
 * those of {@linkcode SAE_RELU_KERNEL} (`l1` is the weighted penalty).
 */
export const SAE_RELU_APRIL_KERNEL = "SaekitReluAprilSaeLossAndGrads";

/**
 * The fused SAE step of gated SAEs: the gate `πgate = x̄·wEnc + bEnc`, the
 * magnitude `πmag = (x̄·wEnc)·exp(rMag) + bMag`, `f = [πgate > 0]·ReLU(πmag)`,
 * the loss `mse(x̂, x) + λ·Σ_j ReLU(πgate_j) + mse(ReLU(πgate)·wDec + bDec, x)`
 * (the last through a frozen decoder). Inputs `x, wEnc, bEnc, wDec, bDec,
 * rMag, bMag`; attributes `l1Coefficient` (λ) and `keepRows`; outputs those of
 * {@linkcode SAE_RELU_KERNEL} (`l1` is the gate's penalty, `total` has the
 * auxiliary reconstruction) then `gRMag [c, dSae]` and `gBMag [c, dSae]`.
 */
export const SAE_GATED_KERNEL = "SaekitGatedSaeLossAndGrads";
