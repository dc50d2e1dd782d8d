/**
 * Deprecated: the architectures are records in `lib/sae/arch/` (`registry.ts` lists them and looks them
 * up; ask `archOf(name)`). This module keeps, for the package's `./sae` export only (`lib/sae/mod.ts`),
 * the functions the package exported before the records, each a one-line question to the record; no
 * module of saekit imports it. Delete it, and its names from `lib/sae/mod.ts` and
 * `tests/exports_test.ts`, when the package drops them.
 *
 * @module
 */
import { type ArchName, archOf } from "./arch/registry.ts";
import type { SaeActivation, SaeSpec } from "./arch/record.ts";

/**
 * Deprecated: `archOf(arch).sparsity === "k"`.
 *
 * @deprecated Ask the record (`archOf`, `lib/sae/arch/registry.ts`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isTopKFamily } from "./architecture.ts";
 * assert.ok(isTopKFamily("matryoshka"));
 * ```
 */
export function isTopKFamily(arch: ArchName): boolean {
  return archOf(arch).sparsity === "k";
}

/**
 * Deprecated: the record's `prefixes`.
 *
 * @deprecated Ask the record (`archOf`, `lib/sae/arch/registry.ts`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { prefixesOf } from "./architecture.ts";
 * import { makeSpec } from "./arch/registry.ts";
 * assert.deepEqual(prefixesOf(makeSpec("relu"), 8), [8]);
 * ```
 */
export function prefixesOf(spec: SaeSpec, dSae: number): readonly number[] {
  return archOf(spec.arch).prefixes?.(spec, dSae).ends ?? [dSae];
}

/**
 * Deprecated: `archOf(spec.arch).unitNormDecoder(spec)`.
 *
 * @deprecated Ask the record (`archOf`, `lib/sae/arch/registry.ts`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hasUnitNormDecoder } from "./architecture.ts";
 * import { makeSpec } from "./arch/registry.ts";
 * assert.equal(hasUnitNormDecoder(makeSpec("relu-april")), false);
 * ```
 */
export function hasUnitNormDecoder(spec: SaeSpec): boolean {
  return archOf(spec.arch).unitNormDecoder(spec);
}

/**
 * Deprecated: `archOf(spec.arch).training(spec)`.
 *
 * @deprecated Ask the record (`archOf`, `lib/sae/arch/registry.ts`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { trainingActivation } from "./architecture.ts";
 * import { makeSpec } from "./arch/registry.ts";
 * assert.equal(trainingActivation(makeSpec("matryoshka")).kind, "batchtopk");
 * ```
 */
export function trainingActivation(spec: SaeSpec): SaeActivation {
  return archOf(spec.arch).training(spec);
}

/**
 * Deprecated: `archOf(spec.arch).inference(spec)`.
 *
 * @deprecated Ask the record (`archOf`, `lib/sae/arch/registry.ts`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { inferenceActivation } from "./architecture.ts";
 * import { makeSpec } from "./arch/registry.ts";
 * assert.equal(inferenceActivation(makeSpec("batchtopk")).kind, "jumprelu");
 * ```
 */
export function inferenceActivation(spec: SaeSpec): SaeActivation {
  return archOf(spec.arch).inference(spec);
}

/**
 * Deprecated: the record's `extraParams`.
 *
 * @deprecated Ask the record (`archOf`, `lib/sae/arch/registry.ts`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { extraParamsOf } from "./architecture.ts";
 * assert.deepEqual(extraParamsOf("gated"), { threshold: false, gated: true });
 * ```
 */
export function extraParamsOf(arch: ArchName): { readonly threshold: boolean; readonly gated: boolean } {
  const extra = archOf(arch).extraParams;
  return { threshold: extra.includes("threshold"), gated: extra.includes("rMag") };
}

/**
 * Deprecated: whether the record's terms return a gradient of `threshold`.
 *
 * @deprecated Ask the record (`archOf`, `lib/sae/arch/registry.ts`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { trainsThreshold } from "./architecture.ts";
 * assert.ok(trainsThreshold("jumprelu"));
 * assert.ok(!trainsThreshold("batchtopk"));
 * ```
 */
export function trainsThreshold(arch: ArchName): boolean {
  const record = archOf(arch);
  return record.extraParams.includes("threshold") && record.afterUpdate === undefined;
}
