/**
 * Every architecture saekit trains, one record each, and the lookups on them. Adding an architecture is
 * its name in `names.ts`, its profile in `profiles.ts` (what the configuration reads, without tensors),
 * its record in one file beside this one, and one line in {@linkcode ARCH_RECORDS}.
 *
 * | name | encoder at training | at inference | sparsity | decoder rows |
 * | --- | --- | --- | --- | --- |
 * | `relu` | ReLU | ReLU | `λ Σ|f|` | unit norm |
 * | `relu-april` | ReLU | ReLU | `λ Σ f·‖wDec_j‖` | free |
 * | `topk` | TopK | TopK | (k) | unit norm |
 * | `batchtopk` | BatchTopK | JumpReLU at the learned threshold | (k) | unit norm |
 * | `jumprelu` | JumpReLU | JumpReLU | `λ Σ [pre > θ]` (step) or `λ Σ tanh(c·f·‖wDec_j‖)` (tanh) | unit norm (step), free (tanh) |
 * | `gated` | gated | gated | `λ Σ ReLU(πgate)` + auxiliary reconstruction | unit norm |
 * | `matryoshka` | BatchTopK, nested prefixes | JumpReLU at the learned threshold | (k) | unit norm |
 *
 * @module
 */
import { tidy } from "../../tf.ts";
import type { tf } from "../../tf.ts";
import { initParams, type InitParamsOptions, type SaeParams } from "../params.ts";
import type {
  Activated,
  ActivationFunction,
  ArchRecord,
  JumpReluOptions,
  SaeActivation,
  SaeSpec,
} from "./record.ts";
import { RELU_ARCH } from "./relu.ts";
import { RELU_APRIL_ARCH } from "./relu_april.ts";
import { TOPK_ARCH } from "./topk.ts";
import { BATCHTOPK_ARCH } from "./batchtopk.ts";
import { JUMPRELU_ARCH } from "./jumprelu.ts";
import { GATED_ARCH } from "./gated.ts";
import { MATRYOSHKA_ARCH } from "./matryoshka.ts";
import { ARCH_NAMES, type ArchName } from "./names.ts";

/**
 * Every architecture's record, in the order `--help` lists them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ARCH_RECORDS } from "./registry.ts";
 * const topKFamily = ARCH_RECORDS.filter((r) => r.sparsity === "k").map((r) => r.name);
 * assert.deepEqual(topKFamily, ["topk", "batchtopk", "matryoshka"]);
 * ```
 */
export const ARCH_RECORDS = [
  RELU_ARCH,
  RELU_APRIL_ARCH,
  TOPK_ARCH,
  BATCHTOPK_ARCH,
  JUMPRELU_ARCH,
  GATED_ARCH,
  MATRYOSHKA_ARCH,
] as const;

/**
 * Every architecture name, as `--arch` takes it (the configuration's enum): `names.ts`'s, which the
 * records carry in this order (checked when this module loads).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ARCH_NAMES, ARCH_RECORDS } from "./registry.ts";
 * assert.deepEqual(ARCH_RECORDS.map((r) => r.name), [...ARCH_NAMES]);
 * ```
 */
export { ARCH_NAMES, type ArchName };

{
  const names = ARCH_RECORDS.map((record) => record.name);
  if (names.length !== ARCH_NAMES.length || names.some((name, i) => name !== ARCH_NAMES[i])) {
    throw new Error(
      `lib/sae/arch/registry.ts: expected the records' names to be ARCH_NAMES of names.ts in order, ${
        JSON.stringify(ARCH_NAMES)
      }, received ${JSON.stringify(names)}`,
    );
  }
}

const BY_NAME: ReadonlyMap<string, ArchRecord<ArchName>> = new Map(ARCH_RECORDS.map((r) => [r.name, r]));

/**
 * The record of an architecture, or `undefined` for a name saekit does not know (e.g. from a file).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findArch } from "./registry.ts";
 * assert.equal(findArch("batchtopk")?.sparsity, "k");
 * assert.equal(findArch("crosscoder"), undefined);
 * ```
 */
export function findArch(name: unknown): ArchRecord<ArchName> | undefined {
  return typeof name === "string" ? BY_NAME.get(name) : undefined;
}

/**
 * The record of an architecture; a `TypeError` naming the known ones for any other name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { archOf } from "./registry.ts";
 * assert.equal(archOf("gated").name, "gated");
 * assert.throws(() => archOf("dense"), /arch: expected one of "relu", .* received "dense"/);
 * ```
 */
export function archOf(name: string): ArchRecord<ArchName> {
  const record = BY_NAME.get(name);
  if (record === undefined) {
    throw new TypeError(
      `arch: expected one of ${ARCH_NAMES.map((n) => JSON.stringify(n)).join(", ")}, received ${
        JSON.stringify(name)
      }`,
    );
  }
  return record;
}

/** The fields of {@linkcode makeSpec}: any of a spec's, JumpReLU's options field by field. */
export type SpecFields = Partial<Omit<SaeSpec, "arch" | "jumprelu">> & {
  readonly jumprelu?: Partial<JumpReluOptions>;
};

/**
 * A spec with the defaults of each field, for tests and notebooks (a configuration's is `specFor`'s).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { makeSpec } from "./registry.ts";
 * const spec = makeSpec("topk", { k: 8 });
 * assert.equal(spec.k, 8);
 * assert.equal(spec.sparsityCoefficient, 0);
 * assert.ok(spec.tiedBias);
 * ```
 */
export function makeSpec(arch: ArchName, fields: SpecFields = {}): SaeSpec {
  const { jumprelu, ...rest } = fields;
  return {
    arch,
    k: 32,
    sparsityCoefficient: archOf(arch).sparsity === "k" ? 0 : 1e-3,
    jumprelu: {
      penalty: "step",
      bandwidth: 0.05,
      tanhScale: 4,
      preActCoefficient: 0,
      initThreshold: 0.05,
      ...jumprelu,
    },
    prefixes: [],
    prefixWeights: [1],
    auxK: 0,
    auxkCoefficient: 0,
    thresholdDecay: 0.99,
    tiedBias: true,
    ...rest,
  };
}

function activationOf(activation: SaeActivation): ActivationFunction {
  const fn = findArch(activation.kind)?.activation;
  if (fn === undefined) {
    const kinds = ARCH_RECORDS.filter((r) => r.activation !== undefined).map((r) => JSON.stringify(r.name));
    throw new TypeError(
      `activation: expected a kind of ${kinds.join(", ")}, received ${JSON.stringify(activation)}`,
    );
  }
  return fn;
}

/**
 * An activation applied to the encoder product, by the record of its kind.
 *
 * @param z `x̄ · wEnc`, `[component, batch, dSae]`
 * @param pre `z + bEnc`
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../../tf.ts";
 * import { activate } from "./registry.ts";
 * const pre = tf.tensor3d([[[2, -1]]]);
 * const { f } = activate({} as never, pre, pre, { kind: "relu" });
 * assert.equal(f.dataSync().join(), "2,0");
 * ```
 */
export function activate(
  params: SaeParams,
  z: tf.Tensor3D,
  pre: tf.Tensor3D,
  activation: SaeActivation,
): Activated {
  return activationOf(activation).apply(params, z, pre, activation);
}

/**
 * Where the encoder's output is non-zero: `[pre > 0]` for ReLU, and for TopK additionally `pre ≥` the
 * item's k-th largest pre-activation; `[pre > θ]` for JumpReLU (with `threshold`).
 *
 * @param pre `[component, batch, dSae]`
 * @returns `[component, batch, dSae]` of 0 and 1
 *
 * @example TopK with k = 2 keeps the two largest positive values
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../../tf.ts";
 * import { activationMask } from "./registry.ts";
 * const mask = activationMask(tf.tensor3d([[[3, -1, 2, 1]]]), { kind: "topk", k: 2 });
 * assert.equal(mask.dataSync().join(), "1,0,1,0");
 * ```
 */
export function activationMask(
  pre: tf.Tensor3D,
  activation: SaeActivation,
  threshold?: tf.Tensor2D,
): tf.Tensor3D {
  const { mask } = activationOf(activation);
  if (mask === undefined) {
    throw new TypeError(
      `activation: the ${activation.kind} activation has no single mask of pre; use forward()`,
    );
  }
  return tidy(() => mask(pre, activation, threshold));
}

/**
 * The parameters of `spec`'s architecture at initialisation: {@linkcode initParams}'s four, then the
 * record's own (JumpReLU's and BatchTopK's `threshold`, the gated SAE's `rMag` and `bMag`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { initArchParams, makeSpec } from "./registry.ts";
 * const p = initArchParams(makeSpec("gated"), { nComponents: 1, dIn: 2, dSae: 3, seed: 0 });
 * assert.deepEqual(Object.keys(p), ["wEnc", "bEnc", "wDec", "bDec", "rMag", "bMag"]);
 * ```
 */
export function initArchParams(spec: SaeSpec, options: InitParamsOptions): SaeParams {
  return tidy(() => ({
    ...initParams(options),
    ...archOf(spec.arch).initParams?.(options.nComponents, options.dSae, spec),
  }));
}
