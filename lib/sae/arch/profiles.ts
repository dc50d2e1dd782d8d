/**
 * Each architecture without its tensor code: its name, one line of description, what sets its sparsity,
 * its encoder's initialisation, its spec from a configuration's fields, the checks of a configuration
 * and whether its dictionary rows are held at unit norm ({@linkcode ArchProfile}). The configuration
 * (`lib/config.ts`) reads these alone, so parsing a configuration loads no tensor library; each record
 * of this folder spreads its profile and adds the tensor parts.
 *
 * Adding an architecture: its profile here, its record file beside this one, one line in `registry.ts`.
 *
 * @module
 */
import { ARCH_NAMES, type ArchName } from "./names.ts";
import type { ArchProfile, ArchSettings, SaeSpec, SpecSizes } from "./record.ts";

/**
 * The spec of a configuration before any architecture's own fields: λ from `l1Coefficient`, one
 * dictionary, no AuxK.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseConfig } from "../../config.ts";
 * import { baseSpec } from "./profiles.ts";
 * const spec = baseSpec(parseConfig({ l1Coefficient: 0.01 }), { dSae: 8, tiedBias: true });
 * assert.equal(spec.sparsityCoefficient, 0.01);
 * assert.deepEqual(spec.prefixes, [8]);
 * ```
 */
export function baseSpec(settings: ArchSettings, sizes: SpecSizes): SaeSpec {
  return {
    arch: settings.arch,
    k: settings.k,
    sparsityCoefficient: settings.l1Coefficient,
    jumprelu: {
      penalty: settings.jumpreluPenalty,
      bandwidth: settings.jumpreluBandwidth,
      tanhScale: settings.jumpreluTanhScale,
      preActCoefficient: settings.preActCoefficient,
      initThreshold: settings.jumpreluInitThreshold,
    },
    prefixes: [sizes.dSae],
    prefixWeights: [1],
    auxK: 0,
    auxkCoefficient: 0,
    thresholdDecay: settings.thresholdDecay,
    tiedBias: sizes.tiedBias,
  };
}

/**
 * A decoder held at unit norm, whatever the spec.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { alwaysUnitNorm } from "./profiles.ts";
 * import { makeSpec } from "./registry.ts";
 * assert.ok(alwaysUnitNorm(makeSpec("gated")));
 * ```
 */
export const alwaysUnitNorm = (_spec: SaeSpec): boolean => true;

/**
 * The TopK family's spec: no penalty (`k` sets the sparsity), and AuxK with `auxK` dead features
 * (`dIn/2` by default, at most `dSae`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseConfig } from "../../config.ts";
 * import { topKFamilySpec } from "./profiles.ts";
 * const spec = topKFamilySpec(parseConfig({ arch: "topk", dIn: 16, k: 4 }), { dSae: 64, tiedBias: true });
 * assert.deepEqual([spec.sparsityCoefficient, spec.auxK], [0, 8]);
 * ```
 */
export function topKFamilySpec(settings: ArchSettings, sizes: SpecSizes): SaeSpec {
  return {
    ...baseSpec(settings, sizes),
    sparsityCoefficient: 0,
    auxK: Math.min(settings.auxK ?? Math.max(1, Math.floor(settings.dIn / 2)), sizes.dSae),
    auxkCoefficient: settings.auxkCoefficient,
  };
}

/**
 * The TopK family's configuration check: `k` at most `dSae`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseConfig } from "../../config.ts";
 * import { topKFamilyCheck } from "./profiles.ts";
 * assert.deepEqual(topKFamilyCheck(parseConfig({ k: 9 }), 8), ["k: expected at most dSae (8), received 9"]);
 * ```
 */
export function topKFamilyCheck(settings: ArchSettings, dSae: number): string[] {
  return settings.k > dSae ? [`k: expected at most dSae (${dSae}), received ${settings.k}`] : [];
}

/**
 * Matryoshka's default prefixes of a dictionary of `dSae`: dSae/16, /8, /4, /2 and dSae itself (repeats
 * dropped).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultPrefixes } from "./profiles.ts";
 * assert.deepEqual(defaultPrefixes(64), [4, 8, 16, 32, 64]);
 * ```
 */
export function defaultPrefixes(dSae: number): number[] {
  const prefixes = [16, 8, 4, 2, 1].map((d) => Math.max(1, Math.floor(dSae / d)));
  return prefixes.filter((p, i) => i === 0 || p > prefixes[i - 1]);
}

/**
 * What is wrong with Matryoshka's nested widths and their weights for a dictionary of `dSae` (nothing: `[]`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { prefixProblems } from "./profiles.ts";
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
 * Every architecture's profile, by name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ARCH_PROFILES } from "./profiles.ts";
 * assert.equal(ARCH_PROFILES.batchtopk.sparsity, "k");
 * assert.equal(ARCH_PROFILES["relu-april"].encoderInit, "transpose");
 * ```
 */
export const ARCH_PROFILES: { readonly [N in ArchName]: ArchProfile<N> } = {
  relu: {
    name: "relu",
    description: "the original's: ReLU, L1 penalty, unit-norm decoder",
    sparsity: "coefficient",
    encoderInit: "fan-in",
    spec: baseSpec,
    unitNormDecoder: alwaysUnitNorm,
  },
  "relu-april": {
    name: "relu-april",
    description: "Anthropic's April-2024 update: L1 weighted by decoder norms, free decoder",
    sparsity: "coefficient",
    encoderInit: "transpose",
    spec: baseSpec,
    unitNormDecoder: () => false,
  },
  topk: {
    name: "topk",
    description: "TopK (OpenAI): the k largest activations of each item, AuxK",
    sparsity: "k",
    encoderInit: "transpose",
    spec: topKFamilySpec,
    check: topKFamilyCheck,
    unitNormDecoder: alwaysUnitNorm,
  },
  batchtopk: {
    name: "batchtopk",
    description: "BatchTopK: k activations per item on average over the batch; JumpReLU at inference",
    sparsity: "k",
    encoderInit: "transpose",
    spec: topKFamilySpec,
    check: topKFamilyCheck,
    unitNormDecoder: alwaysUnitNorm,
  },
  jumprelu: {
    name: "jumprelu",
    description: "JumpReLU: a trained threshold per feature, L0 (step) or tanh penalty",
    sparsity: "coefficient",
    encoderInit: "transpose",
    spec: baseSpec,
    unitNormDecoder: (spec) => spec.jumprelu.penalty === "step",
  },
  gated: {
    name: "gated",
    description: "gated: a gate and a magnitude path sharing the encoder, L1 of the gate",
    sparsity: "coefficient",
    encoderInit: "transpose",
    spec: baseSpec,
    unitNormDecoder: alwaysUnitNorm,
  },
  matryoshka: {
    name: "matryoshka",
    description: "Matryoshka: BatchTopK with nested dictionaries, each prefix reconstructing on its own",
    sparsity: "k",
    encoderInit: "transpose",
    spec: matryoshkaSpec,
    check: (settings, dSae) => [
      ...topKFamilyCheck(settings, dSae),
      ...prefixProblems(
        settings.matryoshkaPrefixes ?? defaultPrefixes(dSae),
        settings.matryoshkaWeights,
        dSae,
      ),
    ],
    unitNormDecoder: alwaysUnitNorm,
  },
};

/**
 * The profile of an architecture, or a `TypeError` naming the known ones.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { profileOf } from "./profiles.ts";
 * assert.equal(profileOf("gated").sparsity, "coefficient");
 * assert.throws(() => profileOf("nope"), /arch: expected one of "relu", "relu-april", .*received "nope"/);
 * ```
 */
export function profileOf(name: string): ArchProfile<ArchName> {
  if (!Object.hasOwn(ARCH_PROFILES, name)) {
    throw new TypeError(
      `arch: expected one of ${ARCH_NAMES.map((n) => JSON.stringify(n)).join(", ")}, received ${
        JSON.stringify(name)
      }`,
    );
  }
  return ARCH_PROFILES[name as ArchName];
}
