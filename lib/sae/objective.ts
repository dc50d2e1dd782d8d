/**
 * The training objective of every architecture, with its gradients derived
 * by hand (no `tf.grad`), for every component at once: the shared
 * reconstruction forward and backward once, plus the terms of the
 * architecture's record (`lib/sae/arch/`). One step reads top to bottom in
 * `composedObjective` below.
 *
 * Notation per component: `x` the encoder input `[B, nIn]`, `y` the target
 * `[B, n]` (`y = x` for an SAE, another hook point for a transcoder),
 * `x̄ = x − bDec` (or `x` without a tied bias), `z = x̄ · wEnc`,
 * `pre = z + bEnc`, `f` the activations, `x̂ = f · wDec + bDec`,
 * `s = 1/(C·B)` (the loss is a mean over items and components) and
 * `mse(a, b) = (1/n) Σᵢ (aᵢ − bᵢ)²` per item. The loss of an item is
 *
 * ```
 * Σ_t w_t · mse(x̂_t, y)  +  λ · S(f)  [+ the record's other terms]  [+ α · mse(ê, y − x̂)]
 * ```
 *
 * with one prefix `t` (`x̂_1 = x̂`) except for Matryoshka, the record's
 * sparsity penalty `S` (and JumpReLU's pre-activation loss, the gated SAE's
 * auxiliary reconstruction), and AuxK's reconstruction of the residual by
 * dead features. The gradients, with `R_t = w_t (2s/n)(x̂_t − y)` and
 * `Q_t = Σ_{u ≥ t} R_u` (the prefixes that contain segment `t`):
 *
 * ```
 * ∂L/∂f_seg(t)    = Q_t · wDec_seg(t)ᵀ + (the record's penalty)
 * ∂L/∂wDec_seg(t) = f_seg(t)ᵀ · Q_t + (∂L/∂‖wDec_j‖) wDec_j/‖wDec_j‖
 * ∂L/∂z           = ∂L/∂f ⊙ mask   (or the record's way back, e.g. gated)
 * ∂L/∂wEnc        = x̄ᵀ · ∂L/∂z,   ∂L/∂bEnc = Σ_b ∂L/∂pre
 * ∂L/∂bDec        = Σ_b Q_1 − (Σ_b ∂L/∂z) · wEncᵀ       (the second term only with a tied bias)
 * ```
 *
 * The last line uses `Σ_b (∂L/∂z_b · wEncᵀ) = (Σ_b ∂L/∂z_b) · wEncᵀ`, a
 * vector-matrix product instead of a sixth matrix product: five batched
 * matrix products per step for the original SAE (two forward, three
 * backward). A record's fused kernel (ReLU's and TopK's `SAE_RELU_KERNEL`,
 * BatchTopK's and Matryoshka's `SAE_BATCHTOPK_KERNEL`, JumpReLU's (step
 * penalty) `SAE_JUMPRELU_KERNEL`, April ReLU's `SAE_RELU_APRIL_KERNEL`,
 * gated's `SAE_GATED_KERNEL`, AuxK's `SAE_AUXK_KERNEL`) replaces the composed maths when the backend registers
 * it; the composed maths is its reference and fallback.
 *
 * @module
 */
import { tf, tidy } from "../tf.ts";
import type { SaeParams } from "./params.ts";
import { bmm } from "./linalg.ts";
import { l2Reconstruction } from "./loss.ts";
import type {
  ArchRecord,
  BatchStats,
  EncoderGrads,
  LossAndGrads,
  ObjectiveResult,
  SaeActivation,
  SaeSpec,
  StepTensors,
} from "./arch/record.ts";
import { activate, ARCH_RECORDS, archOf, makeSpec } from "./arch/registry.ts";

export type { BatchStats, LossAndGrads, ObjectiveResult };

/** What the objective needs beside the parameters and the batch. */
export type ObjectiveContext = {
  /** Multiplier of the sparsity coefficient, for a warm-up (1 by default). */
  readonly sparsityScale?: number;
  /** `[component, dSae]`, 1 for the features AuxK counts as dead; AuxK is off without it. */
  readonly dead?: tf.Tensor2D;
  /** Rows of `f` to return (all by default). */
  readonly keepActivations?: number;
  /** Run the composed maths even where the backend has the record's fused kernel (a reference). */
  readonly composed?: boolean;
};

/**
 * Per-batch statistics of learned activations and inputs.
 *
 * @param x `[component, batch, dIn]`
 * @param f `[component, batch, dSae]`
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { batchStats } from "./objective.ts";
 * const s = batchStats(tf.tensor3d([[[0], [2]]]), tf.tensor3d([[[1, 0], [3, 0]]]));
 * assert.equal(s.fired.dataSync().join(), "2,0");
 * assert.equal(s.sst.dataSync()[0], 2);
 * ```
 */
export function batchStats(x: tf.Tensor3D, f: tf.Tensor3D): BatchStats {
  return tidy(() => {
    const active = tf.cast(tf.greater(f, 0), "int32");
    const centred = tf.sub(x, tf.mean(x, 1, true));
    return {
      l0: tf.cast(tf.sum(active, -1), "float32") as tf.Tensor2D,
      fired: tf.sum(active, 1) as tf.Tensor2D,
      sst: tf.sum(tf.sum(tf.square(centred), -1), 1) as tf.Tensor1D,
    };
  });
}

/**
 * Loss and hand-derived gradients of `spec`'s architecture on a batch: the record's fused kernel when
 * the backend has it (an SAE with a tied bias), else the composed maths below; then the record's
 * auxiliary loss (AuxK) when features are dead.
 *
 * @param x encoder input `[component, batch, nIn]`
 * @param y target `[component, batch, n]`; `x` itself for an SAE
 *
 * @example A BatchTopK step's gradient has the shapes of the parameters
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { initArchParams, makeSpec } from "./arch/registry.ts";
 * import { lossAndGradsFor } from "./objective.ts";
 * const spec = makeSpec("batchtopk", { k: 2 });
 * const params = initArchParams(spec, { nComponents: 1, dIn: 4, dSae: 8, seed: 0 });
 * const x = tf.randomNormal([1, 16, 4], 0, 1, "float32", 1) as tf.Tensor3D;
 * const { grads, stats } = lossAndGradsFor(spec, params, x, x);
 * assert.equal(grads.wDec.shape.join(), "1,8,4");
 * assert.ok(stats.l0.sum().dataSync()[0] <= 32);
 * ```
 */
export function lossAndGradsFor(
  spec: SaeSpec,
  params: SaeParams,
  x: tf.Tensor3D,
  y: tf.Tensor3D = x,
  context: ObjectiveContext = {},
): ObjectiveResult {
  checkShapes(params, x, y);
  const arch = archOf(spec.arch);
  const lambda = spec.sparsityCoefficient * (context.sparsityScale ?? 1);
  const keepRows = Math.max(0, Math.min(context.keepActivations ?? Infinity, x.shape[1]));
  return tidy(() => {
    // The encoder's tensors, each computed once, on first use (the fused kernel computes its own).
    const xBar = once(() => (spec.tiedBias ? tf.sub(x, tf.expandDims(params.bDec, 1)) as tf.Tensor3D : x));
    const z = once(() => bmm(xBar(), params.wEnc));
    const pre = once(() => tf.add(z(), tf.expandDims(params.bEnc, 1)) as tf.Tensor3D);
    const fused = context.composed !== true && spec.tiedBias && x === y
      ? arch.fused?.(spec, params, x, lambda, keepRows)
      : undefined;
    const main = fused ?? composedObjective(arch, spec, params, { xBar: xBar(), z: z(), pre: pre() }, y, {
      lambda,
      keepRows,
    });
    if (context.dead === undefined || arch.auxiliary === undefined) return main;
    return arch.auxiliary({
      spec,
      params,
      y,
      main,
      dead: context.dead,
      pre,
      throughEncoder: (dPre) => throughEncoder(spec, params, xBar(), dPre),
    });
  });
}

/**
 * One step of an architecture in ordinary tfjs ops: the shared reconstruction and its gradient, with
 * the record's activation, terms and way back in their places. Called inside a `tidy`.
 *
 * @param encoder `x̄`, `z = x̄·wEnc` and `pre = z + bEnc`
 */
function composedObjective(
  arch: ArchRecord,
  spec: SaeSpec,
  params: SaeParams,
  encoder: { readonly xBar: tf.Tensor3D; readonly z: tf.Tensor3D; readonly pre: tf.Tensor3D },
  y: tf.Tensor3D,
  options: { readonly lambda: number; readonly keepRows: number },
): ObjectiveResult {
  const { xBar, z, pre } = encoder;
  const { lambda, keepRows } = options;
  const [c, b] = pre.shape;
  const m = params.wEnc.shape[2];
  const n = y.shape[2];
  const s = 1 / (c * b);

  // 1. The record's activation: f, and where ∂f/∂pre (or the magnitude path's) is 1.
  const activated = activate(params, z, pre, arch.training(spec));
  const { f, mask } = activated;

  // 2. Decoder, prefix by prefix: x̂_t = bDec + Σ_{segments ≤ t} f_seg · wDec_seg.
  const { ends: prefixes, weights } = arch.prefixes?.(spec, m) ?? { ends: [m], weights: [1] };
  const segF: tf.Tensor3D[] = [], segW: tf.Tensor3D[] = [], xHats: tf.Tensor3D[] = [];
  let partial = tf.expandDims(params.bDec, 1) as tf.Tensor3D;
  prefixes.forEach((end, t) => {
    const start = t === 0 ? 0 : prefixes[t - 1];
    const fSeg = prefixes.length === 1 ? f : tf.slice(f, [0, 0, start], [-1, -1, end - start]);
    const wSeg = prefixes.length === 1
      ? params.wDec
      : tf.slice(params.wDec, [0, start, 0], [-1, end - start, -1]);
    partial = tf.add(partial, bmm(fSeg, wSeg)) as tf.Tensor3D;
    segF.push(fSeg);
    segW.push(wSeg);
    xHats.push(partial);
  });
  const xHat = xHats[xHats.length - 1];

  // 3. Reconstruction terms, and back to f and wDec: Q_t = Σ_{u ≥ t} R_u.
  const l2 = l2Reconstruction(y, xHat);
  let reconstruction: tf.Tensor2D = l2;
  if (prefixes.length > 1) {
    reconstruction = tf.addN(xHats.map((h, t) => tf.mul(l2Reconstruction(y, h), weights[t]))) as tf.Tensor2D;
  }
  const residuals = xHats.map((h, t) => tf.mul(tf.sub(h, y), (weights[t] * 2 * s) / n) as tf.Tensor3D);
  const q: tf.Tensor3D[] = new Array(prefixes.length);
  for (let t = prefixes.length - 1; t >= 0; t--) {
    q[t] = t === prefixes.length - 1 ? residuals[t] : tf.add(q[t + 1], residuals[t]) as tf.Tensor3D;
  }
  const dF =
    (prefixes.length === 1
      ? bmm(q[0], params.wDec, false, true)
      : tf.concat(q.map((qt, t) => bmm(qt, segW[t], false, true)), 2)) as tf.Tensor3D;
  let dWDec =
    (prefixes.length === 1
      ? bmm(f, q[0], true, false)
      : tf.concat(q.map((qt, t) => bmm(segF[t], qt, true, false)), 1)) as tf.Tensor3D;

  // 4. The record's terms: its penalty S and their gradients to f, the decoder norms, pre and its own
  //    parameters.
  const decoderNorms = once(() => tf.norm(params.wDec, 2, -1) as tf.Tensor2D); // [c, m]
  const step: StepTensors = { spec, params, z, pre, y, activated, lambda, s, decoderNorms };
  const terms = arch.terms(step, dF);

  // 5. Back through the activation to z: the record's way, or ∂L/∂z = ∂L/∂f ⊙ mask (+ its ∂L/∂pre).
  let back = arch.backward?.(step, terms);
  if (back === undefined) {
    let dZ = tf.mul(terms.dF, mask) as tf.Tensor3D;
    if (terms.dPre !== undefined) dZ = tf.add(dZ, terms.dPre) as tf.Tensor3D;
    back = { dZ, dbEnc: tf.sum(dZ, 1) as tf.Tensor2D };
  }

  // 6. The decoder norms' gradient along each dictionary vector, then the encoder and the tied bias.
  if (terms.dNorm !== undefined) {
    const unit = tf.div(params.wDec, tf.maximum(tf.expandDims(decoderNorms(), -1), 1e-12));
    dWDec = tf.add(dWDec, tf.mul(unit, tf.expandDims(terms.dNorm, -1))) as tf.Tensor3D;
  }
  const encoderGrads = throughEncoder(spec, params, xBar, back.dZ);
  let dBDec = tf.sum(q[0], 1) as tf.Tensor2D;
  if (encoderGrads.throughTiedBias !== undefined) {
    dBDec = tf.sub(dBDec, encoderGrads.throughTiedBias) as tf.Tensor2D;
  }

  // 7. The loss per item and its mean.
  let total = tf.add(reconstruction, tf.mul(terms.sparsity, lambda)) as tf.Tensor2D;
  if (terms.extraLoss !== undefined) total = tf.add(total, terms.extraLoss) as tf.Tensor2D;
  if (back.extraLoss !== undefined) total = tf.add(total, back.extraLoss) as tf.Tensor2D;
  return {
    forward: { f: keepRows === b ? f : tf.slice(f, [0, 0, 0], [-1, keepRows, -1]), xHat },
    terms: { l1: terms.sparsity, l2, total },
    loss: tf.mean(tf.mean(total, 1)) as tf.Scalar,
    grads: {
      wEnc: encoderGrads.wEnc,
      bEnc: back.dbEnc,
      wDec: dWDec,
      bDec: dBDec,
      ...back.grads,
      ...terms.grads,
    } as SaeParams,
    stats: batchStats(y, f),
    ...arch.outputs?.(f),
  };
}

/**
 * What a gradient `dZ = ∂L/∂z` (`[component, batch, dSae]`) sends to the encoder: `x̄ᵀ · dZ` to `wEnc`,
 * `Σ_b dZ` to `bEnc`, and with a tied bias `(Σ_b dZ) · wEncᵀ` to subtract from `∂L/∂bDec` (`x̄ = x − bDec`).
 * The one place of the tied bias's gradient, for the main loss and AuxK alike.
 */
function throughEncoder(spec: SaeSpec, params: SaeParams, xBar: tf.Tensor3D, dZ: tf.Tensor3D): EncoderGrads {
  const sum = tf.sum(dZ, 1) as tf.Tensor2D;
  return {
    wEnc: bmm(xBar, dZ, true, false),
    bEnc: sum,
    throughTiedBias: spec.tiedBias
      ? tf.squeeze(bmm(tf.expandDims(sum, 1) as tf.Tensor3D, params.wEnc, false, true), [1]) as tf.Tensor2D
      : undefined,
  };
}

/** A value computed on first use, then kept. */
function once<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= make());
}

function checkShapes(params: SaeParams, x: tf.Tensor3D, y: tf.Tensor3D): void {
  const [c, nIn] = params.wEnc.shape;
  const n = params.wDec.shape[2];
  if (x.rank !== 3 || x.shape[0] !== c || x.shape[2] !== nIn) {
    throw new RangeError(
      `x: expected shape [${c}, batch, ${nIn}] ([component, batch, dIn]), received [${x.shape.join(", ")}]`,
    );
  }
  if (y.rank !== 3 || y.shape[0] !== c || y.shape[1] !== x.shape[1] || y.shape[2] !== n) {
    throw new RangeError(
      `y: expected shape [${c}, ${x.shape[1]}, ${n}] ([component, batch, dOut]), received [${
        y.shape.join(", ")
      }]`,
    );
  }
}

/** The spec of the SAE of a fused kernel (ReLU, TopK) with an L1 coefficient. */
function kernelSpec(activation: SaeActivation, l1Coefficient: number): SaeSpec {
  const arch = archOf(activation.kind);
  if (arch.fused === undefined) {
    const kinds = ARCH_RECORDS.filter((r) => r.fused !== undefined).map((r) => JSON.stringify(r.name));
    throw new TypeError(
      `activation: expected the kind of an SAE with a fused kernel (${kinds.join(" or ")}), received ${
        JSON.stringify(activation)
      }`,
    );
  }
  return makeSpec(arch.name, {
    sparsityCoefficient: l1Coefficient,
    ...("k" in activation ? { k: activation.k } : {}),
  });
}

/**
 * The original's SAE loss (L1 and MSE) of a ReLU SAE, or a TopK one, with its hand-derived gradients and
 * the batch statistics: {@linkcode lossAndGradsFor} of that architecture, run by the backend's fused
 * kernel when it has one.
 *
 * @param x `[component, batch, dIn]`
 * @param activation ReLU (default) or TopK (the gradient is the ReLU one with TopK's mask; use
 *   `l1Coefficient` 0 for the usual TopK loss)
 * @param keepActivations rows of `f` to return (all by default; steps that only need a sample, such as
 *   capacity, ask for fewer and save a `[component, batch, dSae]` tensor)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { initParams } from "./params.ts";
 * import { saeLossAndGrads } from "./objective.ts";
 * const params = initParams({ nComponents: 1, dIn: 4, dSae: 8, seed: 0 });
 * const { grads } = saeLossAndGrads(params, tf.randomNormal([1, 16, 4], 0, 1, "float32", 1), 1e-3);
 * assert.equal(grads.wEnc.shape.join(), "1,4,8");
 * ```
 */
export function saeLossAndGrads(
  params: SaeParams,
  x: tf.Tensor3D,
  l1Coefficient: number,
  keepActivations = Infinity,
  activation: SaeActivation = { kind: "relu" },
): LossAndGrads {
  return lossAndGradsFor(kernelSpec(activation, l1Coefficient), params, x, x, { keepActivations });
}

/**
 * {@linkcode saeLossAndGrads} in ordinary tfjs ops on every backend: the reference of the fused kernel.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { initParams } from "./params.ts";
 * import { composedLossAndGrads } from "./objective.ts";
 * const params = initParams({ nComponents: 1, dIn: 4, dSae: 8, seed: 0 });
 * const r = composedLossAndGrads(params, tf.randomNormal([1, 16, 4], 0, 1, "float32", 1), 0, { kind: "topk", k: 2 });
 * assert.ok(r.stats.l0.max().dataSync()[0] <= 2);
 * ```
 */
export function composedLossAndGrads(
  params: SaeParams,
  x: tf.Tensor3D,
  l1Coefficient: number,
  activation: SaeActivation = { kind: "relu" },
): LossAndGrads {
  return lossAndGradsFor(kernelSpec(activation, l1Coefficient), params, x, x, { composed: true });
}
