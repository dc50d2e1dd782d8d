/**
 * Matryoshka SAEs (Bussmann et al., 2025): BatchTopK whose dictionary is nested, each
 * prefix `wDec[:m_t]` reconstructing on its own. The loss is `Σ_t w_t · mse(x̂_t, y)` with
 * `x̂_t = bDec + f[:m_t] · wDec[:m_t]`; the objective's shared reconstruction handles the prefixes this
 * record declares (its `∂L/∂f` of segment `t` gathers the residuals of every prefix that contains it).
 * Its default prefixes and their checks are its profile's (`profiles.ts`); everything else is BatchTopK's.
 *
 * @module
 */
import type { ArchRecord } from "./record.ts";
import { BATCHTOPK_ARCH } from "./batchtopk.ts";
import { ARCH_PROFILES, prefixProblems } from "./profiles.ts";
import { fusedBatchTopkKernel } from "./shared.ts";

/**
 * The `matryoshka` architecture.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MATRYOSHKA_ARCH } from "./matryoshka.ts";
 * import { makeSpec } from "./registry.ts";
 * const spec = makeSpec("matryoshka", { prefixes: [2, 8], prefixWeights: [0.5, 0.5] });
 * assert.deepEqual(MATRYOSHKA_ARCH.prefixes!(spec, 8).ends, [2, 8]);
 * assert.throws(() => MATRYOSHKA_ARCH.prefixes!(spec, 16), /ending at dSae \(16\)/);
 * ```
 */
export const MATRYOSHKA_ARCH: ArchRecord<"matryoshka"> = {
  ...BATCHTOPK_ARCH,
  ...ARCH_PROFILES.matryoshka,
  activation: undefined,
  prefixes: (spec, dSae) => {
    const ends = spec.prefixes.length === 0 ? [dSae] : spec.prefixes;
    const problems = prefixProblems(ends, spec.prefixWeights, dSae);
    if (problems.length > 0) throw new RangeError(problems.join("; "));
    return { ends, weights: spec.prefixWeights };
  },
  fused: fusedBatchTopkKernel((spec, dSae) => MATRYOSHKA_ARCH.prefixes!(spec, dSae)),
};
