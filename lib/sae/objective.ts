/**
 * The training objective of every architecture, with its gradients derived
 * by hand (no `tf.grad`), for every component at once.
 *
 * Notation per component: `x` the encoder input `[B, nIn]`, `y` the target
 * `[B, n]` (`y = x` for an SAE, another hook point for a transcoder),
 * `x̄ = x − bDec` (or `x` without a tied bias), `z = x̄ · wEnc`,
 * `pre = z + bEnc`, `f` the activations, `x̂ = f · wDec + bDec`,
 * `s = 1/(C·B)` (the loss is a mean over items and components) and
 * `mse(a, b) = (1/n) Σᵢ (aᵢ − bᵢ)²` per item. The loss of an item is
 *
 * ```
 * Σ_t w_t · mse(x̂_t, y)  +  λ · S(f)  [+ λ_P · P]  [+ mse(x̂_gate, y)]  [+ α · mse(ê, y − x̂)]
 * ```
 *
 * with one prefix `t` (`x̂_1 = x̂`) except for Matryoshka, the sparsity
 * penalty `S` of the architecture, JumpReLU's pre-activation loss `P`, the
 * gated SAE's auxiliary reconstruction and AuxK's reconstruction of the
 * residual by dead features. The gradients, with `R_t = w_t (2s/n)(x̂_t − y)`
 * and `Q_t = Σ_{u ≥ t} R_u` (the prefixes that contain segment `t`):
 *
 * ```
 * ∂L/∂f_seg(t)  = Q_t · wDec_seg(t)ᵀ + sλ ∂S/∂f
 * ∂L/∂wDec_seg(t) = f_seg(t)ᵀ · Q_t + sλ (∂S/∂‖wDec_j‖) wDec_j/‖wDec_j‖
 * ∂L/∂pre       = ∂L/∂f ⊙ mask                       (ReLU, TopK, BatchTopK, JumpReLU's ∂/∂pre)
 * ∂L/∂θ_j       = Σ_b ∂L/∂f_bj · (−θ_j/ε) K((pre_bj − θ_j)/ε)  + sλ ∂S/∂θ_j   (JumpReLU, K = [|u| < ½])
 * ∂L/∂wEnc      = x̄ᵀ · ∂L/∂z,   ∂L/∂bEnc = Σ_b ∂L/∂pre
 * ∂L/∂bDec      = Σ_b Q_1 − (Σ_b ∂L/∂z) · wEncᵀ       (the second term only with a tied bias)
 * ```
 *
 * ReLU and TopK SAEs with a tied bias use {@linkcode saeLossAndGrads}
 * (the backend's fused kernel when it has one); the same maths in ordinary
 * tfjs ops serves every other case.
 *
 * @module
 */
import { tf, tidy } from "../tf.ts";
import { requireParam, type SaeParams } from "./params.ts";
import { bmm } from "./linalg.ts";
import { activationMask } from "./forward.ts";
import { prefixesOf, type SaeSpec, trainingActivation } from "./architecture.ts";
import { type BatchStats, batchStats, type LossAndGrads, saeLossAndGrads } from "./grads.ts";
import { l2Reconstruction } from "./loss.ts";

/** What the objective needs beside the parameters and the batch. */
export type ObjectiveContext = {
  /** Multiplier of the sparsity coefficient, for a warm-up (1 by default). */
  readonly sparsityScale?: number;
  /** `[component, dSae]`, 1 for the features AuxK counts as dead; AuxK is off without it. */
  readonly dead?: tf.Tensor2D;
  /** Rows of `f` to return (all by default). */
  readonly keepActivations?: number;
};

/** What {@linkcode lossAndGradsFor} returns: {@linkcode LossAndGrads} and the smallest active value. */
export type ObjectiveResult = LossAndGrads & {
  /** BatchTopK and Matryoshka: the smallest positive activation of the batch, `[component]` (∞ if none). */
  readonly minActive?: tf.Tensor1D;
};

/**
 * Loss and hand-derived gradients of `spec`'s architecture on a batch.
 *
 * @param x encoder input `[component, batch, nIn]`
 * @param y target `[component, batch, n]`; `x` itself for an SAE
 *
 * @example A BatchTopK step's gradient has the shapes of the parameters
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { makeSpec } from "./architecture.ts";
 * import { initParams } from "./params.ts";
 * import { lossAndGradsFor } from "./objective.ts";
 * const params = initParams({ nComponents: 1, dIn: 4, dSae: 8, seed: 0, threshold: 0 });
 * const x = tf.randomNormal([1, 16, 4], 0, 1, "float32", 1) as tf.Tensor3D;
 * const { grads, stats } = lossAndGradsFor(makeSpec("batchtopk", { k: 2 }), params, x, x);
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
  const lambda = spec.sparsityCoefficient * (context.sparsityScale ?? 1);
  const withAux = context.dead !== undefined && spec.auxK > 0 && spec.auxkCoefficient > 0;
  if ((spec.arch === "relu" || spec.arch === "topk") && spec.tiedBias && x === y) {
    const activation = trainingActivation(spec);
    if (!withAux) return saeLossAndGrads(params, x, lambda, context.keepActivations, activation);
    return tidy(() => {
      const main = saeLossAndGrads(params, x, lambda, context.keepActivations, activation);
      const pre = tf.add(
        bmm(tf.sub(x, tf.expandDims(params.bDec, 1)) as tf.Tensor3D, params.wEnc),
        tf.expandDims(params.bEnc, 1),
      ) as tf.Tensor3D;
      return addAuxK(spec, params, x, y, pre, main, context.dead!);
    });
  }
  return tidy(() => {
    const { pre, ...result } = composedObjective(spec, params, x, y, lambda, context.keepActivations);
    return withAux ? addAuxK(spec, params, x, y, pre, result, context.dead!) : result;
  });
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

/** Rectangle kernel `[|u| < ½]` at `u = (pre − θ)/ε`, `[component, batch, dSae]`. */
function rectangle(pre: tf.Tensor3D, threshold: tf.Tensor2D, bandwidth: number): tf.Tensor3D {
  const u = tf.div(tf.sub(pre, tf.expandDims(threshold, 1)), bandwidth);
  return tf.cast(tf.less(tf.abs(u), 0.5), "float32") as tf.Tensor3D;
}

/** Every architecture in ordinary tfjs ops; also returns `pre` for AuxK. */
function composedObjective(
  spec: SaeSpec,
  params: SaeParams,
  x: tf.Tensor3D,
  y: tf.Tensor3D,
  lambda: number,
  keepActivations = Infinity,
): ObjectiveResult & { pre: tf.Tensor3D } {
  const [c, b] = x.shape;
  const m = params.wEnc.shape[2];
  const n = y.shape[2];
  const s = 1 / (c * b);
  const xBar = spec.tiedBias ? tf.sub(x, tf.expandDims(params.bDec, 1)) as tf.Tensor3D : x;
  const z = bmm(xBar, params.wEnc);
  const pre = tf.add(z, tf.expandDims(params.bEnc, 1)) as tf.Tensor3D;

  // Activation, and where ∂f/∂(pre or the magnitude path) is 1.
  let f: tf.Tensor3D, mask: tf.Tensor3D;
  let gate: { open: tf.Tensor3D; mag: tf.Tensor3D; scale: tf.Tensor3D } | undefined;
  if (spec.arch === "gated") {
    const scale = tf.expandDims(tf.exp(requireParam(params, "rMag", "gated")), 1) as tf.Tensor3D;
    const mag = tf.add(
      tf.mul(z, scale),
      tf.expandDims(requireParam(params, "bMag", "gated"), 1),
    ) as tf.Tensor3D;
    const open = tf.step(pre, 0) as tf.Tensor3D;
    mask = tf.mul(open, tf.step(mag, 0)) as tf.Tensor3D;
    f = tf.mul(tf.relu(mag), open) as tf.Tensor3D;
    gate = { open, mag, scale };
  } else {
    const activation = trainingActivation(spec);
    mask = activationMask(
      pre,
      activation,
      spec.arch === "jumprelu" ? requireParam(params, "threshold", "jumprelu") : undefined,
    );
    f = activation.kind === "relu" ? tf.relu(pre) : tf.mul(pre, mask) as tf.Tensor3D;
  }

  // Decoder, prefix by prefix: x̂_t = bDec + Σ_{segments ≤ t} f_seg · wDec_seg.
  const prefixes = prefixesOf(spec, m);
  const weights = spec.arch === "matryoshka" ? spec.prefixWeights : [1];
  if (weights.length !== prefixes.length) {
    throw new RangeError(
      `matryoshkaWeights: expected ${prefixes.length} weights (one per prefix), received ${weights.length}`,
    );
  }
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

  // Reconstruction terms and Q_t = Σ_{u ≥ t} R_u.
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
  let dF =
    (prefixes.length === 1
      ? bmm(q[0], params.wDec, false, true)
      : tf.concat(q.map((qt, t) => bmm(qt, segW[t], false, true)), 2)) as tf.Tensor3D;
  let gwDec =
    (prefixes.length === 1
      ? bmm(f, q[0], true, false)
      : tf.concat(q.map((qt, t) => bmm(segF[t], qt, true, false)), 1)) as tf.Tensor3D;

  // Sparsity penalty S per item, its gradients to f, to the decoder norms and to θ.
  const norms = tf.norm(params.wDec, 2, -1) as tf.Tensor2D; // [c, m]
  const normsB = tf.expandDims(norms, 1) as tf.Tensor3D;
  let sparsity: tf.Tensor2D;
  let gNorm: tf.Tensor2D | undefined; // ∂L/∂‖wDec_j‖
  let gThreshold: tf.Tensor2D | undefined;
  let dPreExtra: tf.Tensor3D | undefined;
  let extraLoss: tf.Tensor2D | undefined;
  switch (spec.arch) {
    case "relu-april":
      sparsity = tf.sum(tf.mul(f, normsB), -1);
      dF = tf.add(dF, tf.mul(normsB, s * lambda)) as tf.Tensor3D;
      gNorm = tf.mul(tf.sum(f, 1), s * lambda) as tf.Tensor2D;
      break;
    case "jumprelu": {
      const threshold = requireParam(params, "threshold", "jumprelu");
      const { penalty, bandwidth, tanhScale, preActCoefficient } = spec.jumprelu;
      const kernel = rectangle(pre, threshold, bandwidth);
      if (penalty === "step") {
        sparsity = tf.sum(mask, -1);
        // ∂[pre > θ]/∂θ := −(1/ε) K((pre − θ)/ε)
        gThreshold = tf.mul(tf.sum(kernel, 1), (-s * lambda) / bandwidth) as tf.Tensor2D;
      } else {
        const th = tf.tanh(tf.mul(tf.mul(f, normsB), tanhScale));
        const slope = tf.sub(1, tf.square(th));
        sparsity = tf.sum(th, -1);
        dF = tf.add(dF, tf.mul(tf.mul(slope, normsB), s * lambda * tanhScale)) as tf.Tensor3D;
        gNorm = tf.mul(tf.sum(tf.mul(slope, f), 1), s * lambda * tanhScale) as tf.Tensor2D;
      }
      // Through f = pre·[pre > θ]: ∂f/∂θ := −(θ/ε) K((pre − θ)/ε).
      const throughF = tf.mul(
        tf.sum(tf.mul(dF, kernel), 1),
        tf.mul(threshold, -1 / bandwidth),
      ) as tf.Tensor2D;
      gThreshold = gThreshold === undefined ? throughF : tf.add(gThreshold, throughF) as tf.Tensor2D;
      if (preActCoefficient > 0) {
        // P = Σ_j ReLU(θ_j − pre_j)·‖wDec_j‖
        const gap = tf.sub(tf.expandDims(threshold, 1), pre);
        const below = tf.step(gap, 0);
        extraLoss = tf.mul(tf.sum(tf.mul(tf.relu(gap), normsB), -1), preActCoefficient) as tf.Tensor2D;
        const sp = s * preActCoefficient;
        dPreExtra = tf.mul(tf.mul(below, normsB), -sp) as tf.Tensor3D;
        gThreshold = tf.add(gThreshold, tf.mul(tf.sum(tf.mul(below, normsB), 1), sp)) as tf.Tensor2D;
        const gP = tf.mul(tf.sum(tf.relu(gap), 1), sp) as tf.Tensor2D;
        gNorm = gNorm === undefined ? gP : tf.add(gNorm, gP) as tf.Tensor2D;
      }
      break;
    }
    case "gated":
      sparsity = tf.sum(tf.relu(pre), -1);
      break;
    default:
      sparsity = tf.sum(tf.abs(f), -1);
      if (lambda !== 0) dF = tf.add(dF, tf.mul(tf.sign(f), s * lambda)) as tf.Tensor3D;
  }

  // Back through the activation to z.
  let dZ: tf.Tensor3D, gbEnc: tf.Tensor2D;
  const extraGrads: Record<string, tf.Tensor> = {};
  if (gate !== undefined) {
    const dMag = tf.mul(dF, mask) as tf.Tensor3D;
    // Gate path: the auxiliary reconstruction through a frozen decoder, and the L1 of the gate.
    const g = tf.relu(pre) as tf.Tensor3D;
    const xGate = tf.add(bmm(g, params.wDec), tf.expandDims(params.bDec, 1)) as tf.Tensor3D;
    extraLoss = l2Reconstruction(y, xGate);
    const rGate = tf.mul(tf.sub(xGate, y), (2 * s) / n) as tf.Tensor3D;
    const dGate = tf.mul(tf.add(bmm(rGate, params.wDec, false, true), s * lambda), gate.open) as tf.Tensor3D;
    dZ = tf.add(tf.mul(dMag, gate.scale), dGate) as tf.Tensor3D;
    gbEnc = tf.sum(dGate, 1) as tf.Tensor2D;
    extraGrads.rMag = tf.sum(tf.mul(tf.mul(dMag, z), gate.scale), 1);
    extraGrads.bMag = tf.sum(dMag, 1);
  } else {
    dZ = tf.mul(dF, mask) as tf.Tensor3D;
    if (dPreExtra !== undefined) dZ = tf.add(dZ, dPreExtra) as tf.Tensor3D;
    gbEnc = tf.sum(dZ, 1) as tf.Tensor2D;
  }
  if (gThreshold !== undefined) extraGrads.threshold = gThreshold;
  if (gNorm !== undefined) {
    const unit = tf.div(params.wDec, tf.maximum(tf.expandDims(norms, -1), 1e-12));
    gwDec = tf.add(gwDec, tf.mul(unit, tf.expandDims(gNorm, -1))) as tf.Tensor3D;
  }
  const gwEnc = bmm(xBar, dZ, true, false);
  let gbDec = tf.sum(q[0], 1) as tf.Tensor2D;
  if (spec.tiedBias) {
    const throughEncoder = tf.squeeze(
      bmm(tf.expandDims(tf.sum(dZ, 1), 1) as tf.Tensor3D, params.wEnc, false, true),
      [1],
    );
    gbDec = tf.sub(gbDec, throughEncoder) as tf.Tensor2D;
  }

  let total = tf.add(reconstruction, tf.mul(sparsity, lambda)) as tf.Tensor2D;
  if (extraLoss !== undefined) total = tf.add(total, extraLoss) as tf.Tensor2D;
  const keepRows = Math.max(0, Math.min(keepActivations, b));
  const result: ObjectiveResult & { pre: tf.Tensor3D } = {
    forward: { f: keepRows === b ? f : tf.slice(f, [0, 0, 0], [-1, keepRows, -1]), xHat },
    terms: { l1: sparsity, l2, total },
    loss: tf.mean(tf.mean(total, 1)) as tf.Scalar,
    grads: { wEnc: gwEnc, bEnc: gbEnc, wDec: gwDec, bDec: gbDec, ...extraGrads } as SaeParams,
    stats: batchStats(y, f),
    pre,
  };
  if (spec.arch === "batchtopk" || spec.arch === "matryoshka") {
    return {
      ...result,
      minActive: tf.min(tf.where(tf.greater(f, 0), f, tf.fill(f.shape, Infinity)), [1, 2]) as tf.Tensor1D,
    };
  }
  return result;
}

/**
 * AuxK (Gao et al., 2024): the `auxK` largest positive pre-activations among dead features reconstruct
 * the residual `e = y − x̂` (held fixed), `ê = f_aux · wDec` (no bias); the loss gains
 * `α · mse(ê, e)` on the scale of the main reconstruction term, with the gradients
 *
 * ```
 * R = α (2s/n)(ê − e),  ∂/∂wDec += f_auxᵀ · R,  ∂/∂pre = (R · wDecᵀ) ⊙ mask_aux → wEnc, bEnc, bDec
 * ```
 */
function addAuxK(
  spec: SaeSpec,
  params: SaeParams,
  x: tf.Tensor3D,
  y: tf.Tensor3D,
  pre: tf.Tensor3D,
  main: ObjectiveResult,
  dead: tf.Tensor2D,
): ObjectiveResult {
  const [c, b, m] = pre.shape;
  const n = y.shape[2];
  const s = 1 / (c * b);
  const alpha = spec.auxkCoefficient;
  const kAux = Math.min(spec.auxK, m);
  const isDead = tf.broadcastTo(tf.greater(tf.expandDims(dead, 1), 0), pre.shape);
  const deadPre = tf.where(isDead, pre, tf.fill(pre.shape, -Infinity)) as tf.Tensor3D;
  const maskAux = tf.mul(activationMask(deadPre, { kind: "topk", k: kAux }), tf.cast(isDead, "float32"));
  const fAux = tf.mul(tf.relu(pre), maskAux) as tf.Tensor3D;
  const residual = tf.sub(y, main.forward.xHat) as tf.Tensor3D;
  const eHat = bmm(fAux, params.wDec);
  const aux = l2Reconstruction(residual, eHat);
  const r = tf.mul(tf.sub(eHat, residual), (alpha * 2 * s) / n) as tf.Tensor3D;
  const dPre = tf.mul(bmm(r, params.wDec, false, true), maskAux) as tf.Tensor3D;
  const xBar = spec.tiedBias ? tf.sub(x, tf.expandDims(params.bDec, 1)) as tf.Tensor3D : x;
  const sumPre = tf.sum(dPre, 1) as tf.Tensor2D;
  let gbDec = main.grads.bDec;
  if (spec.tiedBias) {
    gbDec = tf.sub(
      gbDec,
      tf.squeeze(bmm(tf.expandDims(sumPre, 1) as tf.Tensor3D, params.wEnc, false, true), [1]),
    );
  }
  const total = tf.add(main.terms.total, tf.mul(aux, alpha)) as tf.Tensor2D;
  return {
    ...main,
    terms: { ...main.terms, total, aux },
    loss: tf.mean(tf.mean(total, 1)) as tf.Scalar,
    grads: {
      ...main.grads,
      wEnc: tf.add(main.grads.wEnc, bmm(xBar, dPre, true, false)) as tf.Tensor3D,
      bEnc: tf.add(main.grads.bEnc, sumPre) as tf.Tensor2D,
      wDec: tf.add(main.grads.wDec, bmm(fAux, r, true, false)) as tf.Tensor3D,
      bDec: gbDec as tf.Tensor2D,
    },
  };
}

/** Re-exported for the steps: the per-batch statistics type. */
export type { BatchStats };
