/**
 * The state of a training run: one immutable record, advanced by pure steps.
 *
 * @module
 */
import type { tf } from "../tf.ts";
import type { SaeParams } from "../sae/params.ts";
import type { LossTerms } from "../sae/loss.ts";
import type { BatchStats } from "../sae/objective.ts";
import type { MetricsState } from "../metrics/accumulators.ts";
import type { ResamplerState } from "../resample/resampler.ts";
import type { ChainState } from "../optim/transform.ts";
import type { InputScale } from "../sae/normalization.ts";
import type { WithOutputs } from "./compose.ts";

/**
 * What the gradient step computed besides the next state, handed to the steps after it in the same
 * transition (metrics, resampler, threshold tracking) and never stored in {@linkcode TrainState}.
 */
export type StepOutputs = {
  /** Learned activations `[component, rows, dSae]` of the first rows of the batch (see `gradientStep`). */
  readonly f: tf.Tensor3D;
  /** Per-item loss terms `[component, batch]`. */
  readonly terms: LossTerms;
  /** The training scalar of the step. */
  readonly loss: tf.Scalar;
  /** L0 per item, firing counts per feature and `Σ‖x − mean(x)‖²` of the batch. */
  readonly stats: BatchStats;
  /** BatchTopK, Matryoshka: the smallest positive activation of the batch, `[component]`. */
  readonly minActive?: tf.Tensor1D;
};

/**
 * Everything a run needs to continue: parameters, optimizer moments, metric
 * accumulators, resampler buffers, the step and the seed. Everything in it is
 * checkpointed; what one step hands the next is not in it ({@linkcode StepOutputs}).
 */
export type TrainState<O = ChainState> = {
  /** Gradient steps completed. */
  readonly step: number;
  /** The run's seed; every random draw derives from `(seed, step)`. */
  readonly seed: number;
  /** Activation vectors trained on. */
  readonly activations: number;
  readonly params: SaeParams;
  /** Optimizer state (by default a chain state containing an `AdamState`). */
  readonly opt: O;
  readonly metrics: MetricsState;
  readonly resampler: ResamplerState;
  /** Activations since each feature last fired, `[component, dSae]` int32 (AuxK's dead features). */
  readonly sinceFired: tf.Tensor2D;
  /** The constant scales of the input and target activations (ones without normalisation). */
  readonly scale: InputScale;
};

/**
 * A training batch: activations `[component, batch, dIn]`, and for transcoders the targets
 * `[component, batch, dOut]` read at another hook point (`x` itself when absent).
 */
export type Batch = {
  readonly x: tf.Tensor3D;
  readonly y?: tf.Tensor3D;
};

/** A batch with the outputs of the gradient step that trained on it: what the steps after it read. */
export type ObservedBatch = WithOutputs<Batch, StepOutputs>;
