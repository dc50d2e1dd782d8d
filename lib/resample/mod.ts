/**
 * Dead-feature detection and resampling: a weighted reservoir of candidate
 * inputs (probability ∝ loss²) and the new rows it gives dead features. Pure
 * and synchronous.
 *
 * @module
 */
export {
  collectForResample,
  initResampler,
  resampleDeadFeatures,
  resampleDue,
  type ResampleOptions,
  type ResampleResult,
  type ResamplerState,
} from "./resampler.ts";
