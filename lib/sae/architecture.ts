/**
 * The architectures saekit trains, as data: which activation encodes, which
 * penalty the loss adds, whether the decoder is held at unit norm, and the
 * extra parameters each needs. The maths lives in `forward.ts` (encoding)
 * and `objective.ts` (loss and hand-derived gradients).
 *
 * | name | encoder at training | at inference | sparsity | decoder rows |
 * | --- | --- | --- | --- | --- |
 * | `relu` | ReLU | ReLU | `λ Σ|f|` | unit norm |
 * | `relu-april` | ReLU | ReLU | `λ Σ f·‖wDec_j‖` | free |
 * | `topk` | TopK | TopK | (k) | unit norm |
 * | `batchtopk` | BatchTopK | JumpReLU at the learned threshold | (k) | unit norm |
 * | `matryoshka` | BatchTopK, nested prefixes | JumpReLU at the learned threshold | (k) | unit norm |
 * | `jumprelu` | JumpReLU | JumpReLU | `λ Σ [pre > θ]` (step) or `λ Σ tanh(c·f·‖wDec_j‖)` (tanh) | unit norm (step), free (tanh) |
 * | `gated` | gated | gated | `λ Σ ReLU(πgate)` + auxiliary reconstruction | unit norm |
 *
 * @module
 */
import type { SaeActivation } from "./forward.ts";

/** Every architecture name, as `--arch` takes it. */
export const ARCH_NAMES = [
  "relu",
  "relu-april",
  "topk",
  "batchtopk",
  "jumprelu",
  "gated",
  "matryoshka",
] as const;

/** An architecture's name. */
export type ArchName = typeof ARCH_NAMES[number];

/** The TopK family: a fixed budget of `k` active features per item (on average for the batch variants). */
export function isTopKFamily(arch: ArchName): boolean {
  return arch === "topk" || arch === "batchtopk" || arch === "matryoshka";
}

/** JumpReLU's sparsity penalty and its straight-through estimator. */
export type JumpReluOptions = {
  /**
   * `step`: the L0 norm `Σ_j [pre_j > θ_j]` (Rajamanoharan et al., 2024, Gemma Scope); `tanh`:
   * `Σ_j tanh(c · f_j · ‖wDec_j‖)` (Anthropic, January 2025).
   */
  readonly penalty: "step" | "tanh";
  /** Width ε of the rectangle kernel of the straight-through gradients to θ. */
  readonly bandwidth: number;
  /** `c` of the tanh penalty. */
  readonly tanhScale: number;
  /** Coefficient of the pre-activation loss `Σ_j ReLU(θ_j − pre_j)·‖wDec_j‖` (0: off). */
  readonly preActCoefficient: number;
};

/** Everything the loss and its gradients need to know about an architecture. */
export type SaeSpec = {
  readonly arch: ArchName;
  /** Active features per item, for the TopK family. */
  readonly k: number;
  /** Coefficient λ of the sparsity penalty (ReLU, April ReLU, JumpReLU, gated); 0 for the TopK family. */
  readonly sparsityCoefficient: number;
  readonly jumprelu: JumpReluOptions;
  /**
   * Matryoshka: widths of the nested dictionaries, increasing, the last equal to `dSae`; each prefix
   * `wDec[:m_t]` reconstructs on its own. `[dSae]` for every other architecture.
   */
  readonly prefixes: readonly number[];
  /** Matryoshka: weight of each prefix's reconstruction loss. `[1]` for every other architecture. */
  readonly prefixWeights: readonly number[];
  /** AuxK (TopK family): dead features that reconstruct the residual, `0` turns AuxK off. */
  readonly auxK: number;
  /** AuxK: coefficient of the auxiliary loss (OpenAI: 1/32). */
  readonly auxkCoefficient: number;
  /** Subtract `bDec` from the input before encoding (false for transcoders). */
  readonly tiedBias: boolean;
};

/**
 * A spec with the defaults of each field, for tests and notebooks.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { makeSpec } from "./architecture.ts";
 * const spec = makeSpec("topk", { k: 8 });
 * assert.equal(spec.k, 8);
 * assert.equal(spec.sparsityCoefficient, 0);
 * assert.ok(spec.tiedBias);
 * ```
 */
export function makeSpec(arch: ArchName, fields: Partial<Omit<SaeSpec, "arch">> = {}): SaeSpec {
  return {
    arch,
    k: 32,
    sparsityCoefficient: isTopKFamily(arch) ? 0 : 1e-3,
    jumprelu: { penalty: "step", bandwidth: 0.05, tanhScale: 4, preActCoefficient: 0 },
    prefixes: [],
    prefixWeights: [1],
    auxK: 0,
    auxkCoefficient: 0,
    tiedBias: true,
    ...fields,
  };
}

/** The prefixes of a spec for a dictionary of `dSae` features (`[dSae]` unless Matryoshka). */
export function prefixesOf(spec: SaeSpec, dSae: number): readonly number[] {
  if (spec.arch !== "matryoshka" || spec.prefixes.length === 0) return [dSae];
  const prefixes = spec.prefixes;
  prefixes.forEach((p, i) => {
    if (!Number.isInteger(p) || p < 1 || (i > 0 && p <= prefixes[i - 1])) {
      throw new RangeError(
        `matryoshkaPrefixes: expected increasing positive integers, received ${JSON.stringify(prefixes)}`,
      );
    }
  });
  if (prefixes.at(-1) !== dSae) {
    throw new RangeError(
      `matryoshkaPrefixes: expected the last prefix to be dSae (${dSae}), received ${
        JSON.stringify(prefixes)
      }`,
    );
  }
  return prefixes;
}

/**
 * Whether the architecture keeps its dictionary vectors at unit norm (gradient projection before the
 * update, renormalisation after). The April-2024 ReLU and the tanh JumpReLU put the decoder norms in
 * the penalty instead.
 */
export function hasUnitNormDecoder(spec: SaeSpec): boolean {
  if (spec.arch === "relu-april") return false;
  if (spec.arch === "jumprelu") return spec.jumprelu.penalty === "step";
  return true;
}

/** The activation used while training. */
export function trainingActivation(spec: SaeSpec): SaeActivation {
  switch (spec.arch) {
    case "relu":
    case "relu-april":
      return { kind: "relu" };
    case "topk":
      return { kind: "topk", k: spec.k };
    case "batchtopk":
    case "matryoshka":
      return { kind: "batchtopk", k: spec.k };
    case "jumprelu":
      return { kind: "jumprelu" };
    case "gated":
      return { kind: "gated" };
  }
}

/**
 * The activation used at inference (validation, export): as in training, except that BatchTopK and
 * Matryoshka SAEs encode each item on its own with their learned threshold (a JumpReLU).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { inferenceActivation, makeSpec } from "./architecture.ts";
 * assert.equal(inferenceActivation(makeSpec("batchtopk")).kind, "jumprelu");
 * ```
 */
export function inferenceActivation(spec: SaeSpec): SaeActivation {
  return spec.arch === "batchtopk" || spec.arch === "matryoshka"
    ? { kind: "jumprelu" }
    : trainingActivation(spec);
}

/** Which extra parameters an architecture has. */
export function extraParamsOf(arch: ArchName): { readonly threshold: boolean; readonly gated: boolean } {
  return {
    threshold: arch === "jumprelu" || arch === "batchtopk" || arch === "matryoshka",
    gated: arch === "gated",
  };
}

/** Whether the threshold parameter is trained by gradient (JumpReLU) rather than tracked (BatchTopK). */
export function trainsThreshold(arch: ArchName): boolean {
  return arch === "jumprelu";
}
