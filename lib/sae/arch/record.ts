/**
 * What an architecture is: one record of functions and data ({@linkcode ArchRecord}), filled in by one
 * file of `lib/sae/arch/` each and listed in `registry.ts`. Nothing outside `lib/sae/arch/` compares
 * architecture names: code asks the record.
 *
 * A record holds its extra parameters and their initialisation, its activation at training and at
 * inference, its terms of the loss (the penalty with its hand-derived gradient, and any way back
 * through its activation other than the mask), its decoder constraint, its sparsity knob, the metrics
 * it adds to the log, its SAELens mapping (export and import) and its fused kernel where a backend has
 * one. The shared reconstruction and its gradient are `lib/sae/objective.ts`'s; the parts several
 * records share are `shared.ts`'s.
 *
 * This module holds types only.
 *
 * @module
 */
import type { tf } from "../../tf.ts";
import type { SaeParams } from "../params.ts";
import type { LossTerms } from "../loss.ts";
import type { ArchName } from "./names.ts";

/** The parameters an architecture may add to `wEnc`, `bEnc`, `wDec` and `bDec`, each `[component, dSae]`. */
export type ExtraParamName = "threshold" | "rMag" | "bMag";

/**
 * The activation function of the encoder, with `pre = x̄ · wEnc + bEnc`, as data (a kernel attribute, a
 * field of imported SAEs); each kind is defined by the record of the same name:
 *
 * - `relu`: the original's `ReLU(pre)`;
 * - `topk` (Gao et al., 2024): of the positive pre-activations, only the `k` largest of each item are
 *   kept;
 * - `batchtopk` (Bussmann et al., 2024): the `k · batch` largest positive pre-activations of the whole
 *   batch (per component) are kept, so items share a budget of `k` on average;
 * - `jumprelu` (Rajamanoharan et al., 2024): `pre · [pre > θ]` with the parameter `threshold` θ (also how
 *   a BatchTopK SAE encodes at inference, with its learned threshold);
 * - `gated` (Rajamanoharan et al., 2024): `[x̄·wEnc + bEnc > 0] · ReLU((x̄·wEnc) ⊙ exp(rMag) + bMag)`.
 *
 * For TopK and BatchTopK, ties at the k-th value keep every tied feature.
 */
export type SaeActivation =
  | { readonly kind: "relu" }
  | { readonly kind: "topk"; readonly k: number }
  | { readonly kind: "batchtopk"; readonly k: number }
  | { readonly kind: "jumprelu" }
  | { readonly kind: "gated" };

/** JumpReLU's sparsity penalty, its straight-through estimator and its initial threshold. */
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
  /** Initial threshold θ of every feature. */
  readonly initThreshold: number;
};

/** Everything an architecture's record needs to know about a run: its name and every knob. */
export type SaeSpec = {
  readonly arch: ArchName;
  /** Active features per item, for the TopK family. */
  readonly k: number;
  /** Coefficient λ of the sparsity penalty (ReLU, April ReLU, JumpReLU, gated); 0 for the TopK family. */
  readonly sparsityCoefficient: number;
  readonly jumprelu: JumpReluOptions;
  /**
   * Matryoshka: widths of the nested dictionaries, increasing, the last equal to `dSae`; each prefix
   * `wDec[:m_t]` reconstructs on its own. `[dSae]` (or `[]`) for every other architecture.
   */
  readonly prefixes: readonly number[];
  /** Matryoshka: weight of each prefix's reconstruction loss. `[1]` for every other architecture. */
  readonly prefixWeights: readonly number[];
  /** AuxK (TopK family): dead features that reconstruct the residual, `0` turns AuxK off. */
  readonly auxK: number;
  /** AuxK: coefficient of the auxiliary loss (OpenAI: 1/32). */
  readonly auxkCoefficient: number;
  /** BatchTopK, Matryoshka: decay of the running average that tracks the inference threshold. */
  readonly thresholdDecay: number;
  /** Subtract `bDec` from the input before encoding (false for transcoders). */
  readonly tiedBias: boolean;
};

/**
 * The fields of a training configuration that records read to make their {@linkcode SaeSpec} (a
 * `TrainConfig` is one).
 */
export type ArchSettings = {
  readonly arch: ArchName;
  readonly dIn: number;
  readonly k: number;
  readonly l1Coefficient: number;
  readonly jumpreluPenalty: "step" | "tanh";
  readonly jumpreluBandwidth: number;
  readonly jumpreluTanhScale: number;
  readonly jumpreluInitThreshold: number;
  readonly preActCoefficient: number;
  readonly thresholdDecay: number;
  readonly matryoshkaPrefixes: readonly number[] | null;
  readonly matryoshkaWeights: readonly number[] | null;
  readonly auxK: number | null;
  readonly auxkCoefficient: number;
};

/** Sizes a spec depends on: the dictionary's width, and whether the bias is tied (not for transcoders). */
export type SpecSizes = { readonly dSae: number; readonly tiedBias: boolean };

/** Per-batch statistics that the metrics and the resampler need, computed with the loss. */
export type BatchStats = {
  /** Non-zero features per item, `[component, batch]`. */
  readonly l0: tf.Tensor2D;
  /** Items each feature fired on (`f > 0`), `[component, dSae]`, int32. */
  readonly fired: tf.Tensor2D;
  /** `Σ_b ‖x_b − mean_b(x)‖²` per component, `[component]`. */
  readonly sst: tf.Tensor1D;
};

/** Loss, gradients and what the later steps read, for every component at once. */
export type LossAndGrads = {
  /**
   * Learned activations `[component, rows, dSae]` of the first `keepActivations` rows of the batch, and
   * reconstructions `[component, batch, dIn]`.
   */
  readonly forward: { readonly f: tf.Tensor3D; readonly xHat: tf.Tensor3D };
  /** Per-item loss terms `[component, batch]`. */
  readonly terms: LossTerms;
  /** The training scalar (mean over batch and components). */
  readonly loss: tf.Scalar;
  /** `∂loss/∂params`, with the shapes of the parameters. */
  readonly grads: SaeParams;
  readonly stats: BatchStats;
};

/** What the objective returns: {@linkcode LossAndGrads} and what a record's later update reads. */
export type ObjectiveResult = LossAndGrads & {
  /** BatchTopK and Matryoshka: the smallest positive activation of the batch, `[component]` (∞ if none). */
  readonly minActive?: tf.Tensor1D;
};

/** What an activation computes from the encoder product. */
export type Activated = {
  /** Feature activations `f`, `[component, batch, dSae]`. */
  readonly f: tf.Tensor3D;
  /**
   * Where `∂f/∂pre` is 1, `[component, batch, dSae]` (the straight-through part for JumpReLU; for gated
   * SAEs, where both the gate and the magnitude path are open).
   */
  readonly mask: tf.Tensor3D;
  /** Tensors the record's way back reuses (gated: the gate `open` and the magnitude scale `scale`). */
  readonly saved?: Readonly<Record<string, tf.Tensor3D>>;
};

/** An activation function: `f` with its mask, and the mask alone where the pre-activations suffice. */
export type ActivationFunction = {
  /**
   * @param z the encoder product `x̄ · wEnc`, `[component, batch, dSae]`
   * @param pre `z + bEnc`
   */
  readonly apply: (
    params: SaeParams,
    z: tf.Tensor3D,
    pre: tf.Tensor3D,
    activation: SaeActivation,
  ) => Activated;
  /** The mask of `pre` (absent where it needs more, as the gated activation's). */
  readonly mask?: (pre: tf.Tensor3D, activation: SaeActivation, threshold?: tf.Tensor2D) => tf.Tensor3D;
};

/** The tensors of one composed step that a record's terms and way back read. */
export type StepTensors = {
  readonly spec: SaeSpec;
  readonly params: SaeParams;
  /** Encoder product `x̄ · wEnc`, `[component, batch, dSae]`. */
  readonly z: tf.Tensor3D;
  /** Pre-activations `z + bEnc`. */
  readonly pre: tf.Tensor3D;
  /** The reconstruction target `[component, batch, n]`. */
  readonly y: tf.Tensor3D;
  readonly activated: Activated;
  /** λ, with any warm-up applied. */
  readonly lambda: number;
  /** `1/(C·B)`: the loss is a mean over items and components. */
  readonly s: number;
  /** Decoder row norms `‖wDec_j‖`, `[component, dSae]` (computed once, on first use). */
  readonly decoderNorms: () => tf.Tensor2D;
};

/** A record's terms of the loss and their gradients. */
export type ArchTerms = {
  /** The sparsity penalty `S` per item before λ, `[component, batch]` (the result's `terms.l1`). */
  readonly sparsity: tf.Tensor2D;
  /** `∂L/∂f` with the penalty's gradient added (the reconstruction's `∂L/∂f` when it adds none). */
  readonly dF: tf.Tensor3D;
  /** `∂L/∂‖wDec_j‖`, `[component, dSae]`, when the loss depends on the decoder norms. */
  readonly dNorm?: tf.Tensor2D;
  /** `∂L/∂pre` beyond the path through `f` (JumpReLU's pre-activation loss). */
  readonly dPre?: tf.Tensor3D;
  /** Gradients of the record's own parameters (JumpReLU's θ). */
  readonly grads?: Partial<SaeParams>;
  /** Per-item loss beyond the reconstruction and `λ·S`, coefficient included, `[component, batch]`. */
  readonly extraLoss?: tf.Tensor2D;
};

/** The way back through an activation to the encoder product, when it is not `∂L/∂pre = ∂L/∂f ⊙ mask`. */
export type ArchBackward = {
  /** `∂L/∂z`, `[component, batch, dSae]` (sent on to `wEnc` and, with a tied bias, `bDec`). */
  readonly dZ: tf.Tensor3D;
  /** `∂L/∂bEnc`, `[component, dSae]`. */
  readonly dbEnc: tf.Tensor2D;
  /** Gradients of the record's own parameters (gated: `rMag`, `bMag`). */
  readonly grads?: Partial<SaeParams>;
  /** Per-item loss of the way back (gated: the gate's reconstruction), `[component, batch]`. */
  readonly extraLoss?: tf.Tensor2D;
};

/** What a ∂L/∂pre sends to the encoder: `wEnc`, `bEnc`, and through a tied bias `bDec` (`undefined` if untied). */
export type EncoderGrads = {
  readonly wEnc: tf.Tensor3D;
  readonly bEnc: tf.Tensor2D;
  /** The term subtracted from `∂L/∂bDec`: `(Σ_b ∂L/∂pre) · wEncᵀ`. */
  readonly throughTiedBias?: tf.Tensor2D;
};

/** What an auxiliary loss (AuxK) reads: the main result and the encoder's tensors. */
export type AuxiliaryInput = {
  readonly spec: SaeSpec;
  readonly params: SaeParams;
  readonly y: tf.Tensor3D;
  /** The main objective's result, which the auxiliary loss adds to. */
  readonly main: ObjectiveResult;
  /** `[component, dSae]`, 1 for the features counted as dead. */
  readonly dead: tf.Tensor2D;
  /** Pre-activations `[component, batch, dSae]` (computed once, on first use). */
  readonly pre: () => tf.Tensor3D;
  /** The objective's own map from a `∂L/∂pre` to the encoder's gradients. */
  readonly throughEncoder: (dPre: tf.Tensor3D) => EncoderGrads;
};

/** A backend's fused kernel for a record: the whole step, or `undefined` when the backend has none. */
export type FusedObjective = (
  spec: SaeSpec,
  params: SaeParams,
  x: tf.Tensor3D,
  lambda: number,
  keepRows: number,
) => ObjectiveResult | undefined;

/** Host copies of parameters, for a record's log metrics. */
export type HostParams = Readonly<Partial<Record<ExtraParamName, Float32Array>>>;

/** What an architecture adds to each log line, computed on the host from its parameters. */
export type ArchMetrics = {
  /** The parameters read (copied to the host by the runner). */
  readonly params: readonly ExtraParamName[];
  /** Log fields, e.g. `threshold/mean/<component>`. */
  readonly compute: (
    params: HostParams,
    componentNames: readonly string[],
    dSae: number,
  ) => Record<string, number>;
};

/** What an import hook reads: one SAELens folder's configuration and tensors. */
export type SaelensImportInput = {
  readonly cfg: Readonly<Record<string, unknown>>;
  /** `<folder>/cfg.json`, named in errors. */
  readonly source: string;
  readonly dSae: number;
  readonly dOut: number;
  /** A tensor of the file with its expected shape (a `RangeError` naming it when absent or misshapen). */
  readonly take: (name: string, shape: readonly number[]) => Float32Array;
  /** Whether the file holds a tensor. */
  readonly has: (name: string) => boolean;
};

/** The standard tensors of an imported SAE, in saekit's layout. */
export type SaelensStandard = {
  readonly wEnc: Float32Array;
  readonly bEnc: Float32Array;
  readonly wDec: Float32Array;
};

/** How SAELens folders of an architecture are read. */
export type SaelensImport = {
  /** The fields this architecture needs, checked before any tensor is read (TopK: `k`). */
  readonly fields?: (input: SaelensImportInput) => { readonly k?: number };
  /**
   * The tensors beyond the standard four, and any conversion of those to saekit's conventions (TopK's
   * `rescale_acts_by_decoder_norm`).
   */
  readonly tensors?: (
    input: SaelensImportInput,
    standard: SaelensStandard,
  ) => Partial<SaelensStandard> & HostParams;
};

/** An architecture's place in SAELens's layout. */
export type SaelensMapping = {
  /** SAELens's `architecture` for an SAE and for a transcoder of this architecture. */
  readonly architecture: { readonly sae: string; readonly transcoder: string };
  /** SAELens's name of `bEnc` (`b_gate` for gated SAEs). */
  readonly encoderBias: string;
  /** The extra parameters written, saekit's name → SAELens's, each `[d_sae]`. */
  readonly tensors: Readonly<Partial<Record<ExtraParamName, string>>>;
  /** SAELens's `activation_fn_str` (before SAELens 6, the activation named TopK SAEs). */
  readonly activationFn: string;
  /** `cfg.json` fields of the activation: SAELens 6's (beside the sizes) and its `activation_fn_kwargs`. */
  readonly cfg?: (k: number | undefined) => {
    readonly fields: Readonly<Record<string, unknown>>;
    readonly kwargs: Readonly<Record<string, unknown>>;
  };
  /** Present on the architectures that SAELens folders are read as. */
  readonly import?: SaelensImport;
};

/**
 * An architecture without its tensor code (`profiles.ts` holds one per architecture): what the
 * configuration reads.
 */
export type ArchProfile<Name extends string = string> = {
  readonly name: Name;
  /** One line: what it is and where it comes from. */
  readonly description: string;
  /** What sets its sparsity: `k` active features per item, or the coefficient λ of a penalty. */
  readonly sparsity: "k" | "coefficient";
  /** The encoder's initialisation by default for an SAE (transcoders always use `fan-in`). */
  readonly encoderInit: "fan-in" | "transpose";
  /** Its spec from a configuration's fields. */
  readonly spec: (settings: ArchSettings, sizes: SpecSizes) => SaeSpec;
  /** Problems of a configuration for this architecture (each `field: expected …, received …`). */
  readonly check?: (settings: ArchSettings, dSae: number) => readonly string[];
  /** Whether its dictionary vectors are held at unit norm (gradient projection, renormalisation). */
  readonly unitNormDecoder: (spec: SaeSpec) => boolean;
};

/**
 * One architecture, whole: its profile and its tensor code. `Name` is its `--arch`. Optional hooks fall
 * back to the original SAE's behaviour: no extra parameters, a single dictionary,
 * `∂L/∂pre = ∂L/∂f ⊙ mask`, no auxiliary loss, no update after the optimizer's, no metrics, no kernel.
 */
export type ArchRecord<Name extends string = string> = ArchProfile<Name> & {
  /** Its parameters beyond `wEnc`, `bEnc`, `wDec`, `bDec`, in the order they are stored. */
  readonly extraParams: readonly ExtraParamName[];
  /** Those parameters at initialisation, `[component, dSae]` each. */
  readonly initParams?: (nComponents: number, dSae: number, spec: SaeSpec) => Partial<SaeParams>;

  /** The activation of its name, where it defines one (looked up by {@linkcode SaeActivation}'s kind). */
  readonly activation?: ActivationFunction;
  /** The activation while training. */
  readonly training: (spec: SaeSpec) => SaeActivation;
  /** The activation at inference (validation, export, feature statistics). */
  readonly inference: (spec: SaeSpec) => SaeActivation;

  /** Nested dictionaries (Matryoshka): each prefix's width and loss weight; `[dSae]`, `[1]` without. */
  readonly prefixes?: (
    spec: SaeSpec,
    dSae: number,
  ) => { readonly ends: readonly number[]; readonly weights: readonly number[] };
  /** Its penalty and terms of the loss, given the reconstruction's `∂L/∂f`. */
  readonly terms: (step: StepTensors, dF: tf.Tensor3D) => ArchTerms;
  /** The way back through its activation, when not `∂L/∂pre = ∂L/∂f ⊙ mask`. */
  readonly backward?: (step: StepTensors, terms: ArchTerms) => ArchBackward;
  /** Outputs beside the loss that a later update reads (BatchTopK's smallest kept activation). */
  readonly outputs?: (f: tf.Tensor3D) => { readonly minActive?: tf.Tensor1D };
  /** A loss added after the main one, fused or composed (AuxK of the TopK family). */
  readonly auxiliary?: (input: AuxiliaryInput) => ObjectiveResult;
  /** Its fused kernel, run when the backend registers it (with a tied bias, on an SAE's own input). */
  readonly fused?: FusedObjective;

  /** An update of its parameters after the optimizer's (BatchTopK's tracked threshold). */
  readonly afterUpdate?: (
    params: SaeParams,
    outputs: { readonly minActive?: tf.Tensor1D },
    step: number,
    spec: SaeSpec,
  ) => SaeParams;
  /** What it adds to each log line. */
  readonly metrics?: ArchMetrics;

  /** Its SAELens mapping, both ways. */
  readonly saelens: SaelensMapping;
  /** sparsify's `activation` that is read as this architecture. */
  readonly sparsify?: { readonly activation: string };
};
