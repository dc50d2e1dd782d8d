/**
 * Matryoshka SAEs (Bussmann et al., 2025): BatchTopK whose dictionary is nested, each
 * prefix `wDec[:m_t]` reconstructing on its own. The loss is `Σ_t w_t · mse(x̂_t, y)` with
 * `x̂_t = bDec + f[:m_t] · wDec[:m_t]`; the objective's shared reconstruction handles the prefixes this
 * record declares (its `∂L/∂f` of segment `t` gathers the residuals of every prefix that contains it).
 * Everything else is BatchTopK's.
 *
 * @module
 */
import type { ArchRecord, ArchSettings, SaeSpec, SpecSizes } from "./record.ts";
import { BATCHTOPK_ARCH } from "./batchtopk.ts";
import { topKFamilyCheck, topKFamilySpec } from "./shared.ts";

/**
 * The default prefixes of a dictionary of `dSae`: dSae/16, /8, /4, /2 and dSae itself (repeats dropped).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultPrefixes } from "./matryoshka.ts";
 * assert.deepEqual(defaultPrefixes(64), [4, 8, 16, 32, 64]);
 * ```
 */
export function defaultPrefixes(dSae: number): number[] {
  const prefixes = [16, 8, 4, 2, 1].map((d) => Math.max(1, Math.floor(dSae / d)));
  return prefixes.filter((p, i) => i === 0 || p > prefixes[i - 1]);
}

/**
 * What is wrong with nested widths and their weights for a dictionary of `dSae` (nothing: `[]`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { prefixProblems } from "./matryoshka.ts";
 * assert.deepEqual(prefixProblems([2, 4], [0.5, 0.5], 4), []);
 * assert.match(prefixProblems([4, 2], null, 4)[0], /^matryoshkaPrefixes: expected increasing/);
 * ```
 */
export function prefixProblems(
  prefixes: readonly number[],
  weights: readonly number[] | null,
  dSae: number,
): string[] {
  const problems: string[] = [];
  const increasing = prefixes.every((p, i) =>
    Number.isInteger(p) && p >= 1 && (i === 0 || p > prefixes[i - 1])
  );
  if (!increasing || prefixes.at(-1) !== dSae) {
    problems.push(
      `matryoshkaPrefixes: expected increasing positive integers ending at dSae (${dSae}), received ${
        JSON.stringify(prefixes)
      }`,
    );
  }
  if (weights !== null && weights.length !== prefixes.length) {
    problems.push(
      `matryoshkaWeights: expected ${prefixes.length} weights (one per prefix), received ${weights.length}`,
    );
  }
  return problems;
}

function matryoshkaSpec(settings: ArchSettings, sizes: SpecSizes): SaeSpec {
  const prefixes = settings.matryoshkaPrefixes ?? defaultPrefixes(sizes.dSae);
  return {
    ...topKFamilySpec(settings, sizes),
    prefixes,
    prefixWeights: settings.matryoshkaWeights ?? prefixes.map(() => 1 / prefixes.length),
  };
}

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
  name: "matryoshka",
  description: "Matryoshka: BatchTopK with nested dictionaries, each prefix reconstructing on its own",
  spec: matryoshkaSpec,
  check: (settings, dSae) => [
    ...topKFamilyCheck(settings, dSae),
    ...prefixProblems(settings.matryoshkaPrefixes ?? defaultPrefixes(dSae), settings.matryoshkaWeights, dSae),
  ],
  activation: undefined,
  prefixes: (spec, dSae) => {
    const ends = spec.prefixes.length === 0 ? [dSae] : spec.prefixes;
    const problems = prefixProblems(ends, spec.prefixWeights, dSae);
    if (problems.length > 0) throw new RangeError(problems.join("; "));
    return { ends, weights: spec.prefixWeights };
  },
};
