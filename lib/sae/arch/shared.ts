/**
 * The tensor parts several architecture records share, each written once (the tensor-free ones, such
 * as the spec every record starts from, are `profiles.ts`'s): the L1 penalty, the fused ReLU/TopK kernel, the TopK family's selections and AuxK, and the
 * tracked inference threshold of BatchTopK and Matryoshka with its log metrics.
 *
 * @module
 */
import { hasKernel, runKernel, tf, tidy } from "../../tf.ts";
import {
  SAE_AUXK_KERNEL,
  SAE_BATCHTOPK_KERNEL,
  SAE_GATED_KERNEL,
  SAE_JUMPRELU_KERNEL,
  SAE_RELU_APRIL_KERNEL,
  SAE_RELU_KERNEL,
} from "../../backends/kernel_names.ts";
import type { SaeParams } from "../params.ts";
import { bmm } from "../linalg.ts";
import { l2Reconstruction } from "../loss.ts";
import type {
  ActivationFunction,
  ArchMetrics,
  ArchTerms,
  AuxiliaryInput,
  FusedObjective,
  ObjectiveResult,
  SaeActivation,
  SaelensMapping,
  SaeSpec,
  StepTensors,
} from "./record.ts";

// ---------------------------------------------------------------------------------------------------------
// The L1 penalty (ReLU, and the TopK family, whose λ is 0 unless asked)
// ---------------------------------------------------------------------------------------------------------

/**
 * `S = Σ_j |f_j|`, with `∂L/∂f += sλ · sign(f)` (nothing added when λ is 0).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../../tf.ts";
 * import { l1Terms } from "./shared.ts";
 * import { makeSpec } from "./registry.ts";
 * const f = tf.tensor3d([[[2, 0, -1]]]);
 * const step = { lambda: 0.5, s: 1, activated: { f, mask: f }, spec: makeSpec("relu") };
 * const t = l1Terms(step as never, tf.zeros([1, 1, 3]));
 * assert.deepEqual(Array.from(t.sparsity.dataSync()), [3]);
 * assert.deepEqual(Array.from(t.dF.dataSync()), [0.5, 0, -0.5]);
 * ```
 */
export function l1Terms(step: StepTensors, dF: tf.Tensor3D): ArchTerms {
  const { f } = step.activated;
  const sparsity = tf.sum(tf.abs(f), -1) as tf.Tensor2D;
  if (step.lambda === 0) return { sparsity, dF };
  return { sparsity, dF: tf.add(dF, tf.mul(tf.sign(f), step.s * step.lambda)) as tf.Tensor3D };
}

// ---------------------------------------------------------------------------------------------------------
// The fused ReLU / TopK kernel
// ---------------------------------------------------------------------------------------------------------

/**
 * The fused step of the kernel named `SAE_RELU_KERNEL` (contract in `lib/backends/kernel_names.ts`):
 * forward, L1 loss, hand-derived gradients and batch statistics of a ReLU SAE, or of a TopK SAE when
 * `k(spec, dSae)` is positive. `undefined` when the backend registers no such kernel.
 *
 * @example The cpu backend has no fused kernel: the objective runs the composed maths
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../../tf.ts";
 * import { fusedReluKernel } from "./shared.ts";
 * import { initArchParams, makeSpec } from "./registry.ts";
 * await tf.setBackend("cpu");
 * const spec = makeSpec("relu");
 * const params = initArchParams(spec, { nComponents: 1, dIn: 2, dSae: 4, seed: 0 });
 * assert.equal(fusedReluKernel(() => 0)(spec, params, tf.ones([1, 3, 2]), 1e-3, 3), undefined);
 * ```
 */
export function fusedReluKernel(k: (spec: SaeSpec, dSae: number) => number): FusedObjective {
  return (spec, params, x, lambda, keepRows) => {
    if (!hasKernel(SAE_RELU_KERNEL)) return undefined;
    const [f, xHat, l1, l2, total, loss, wEnc, bEnc, wDec, bDec, l0, fired, sst] = runKernel(
      SAE_RELU_KERNEL,
      { x, ...params },
      { l1Coefficient: lambda, keepRows, k: k(spec, params.bEnc.shape[1]) },
    );
    return fusedResult({
      forward: { f: f as tf.Tensor3D, xHat: xHat as tf.Tensor3D },
      terms: { l1: l1 as tf.Tensor2D, l2: l2 as tf.Tensor2D, total: total as tf.Tensor2D },
      loss: loss as tf.Scalar,
      grads: {
        wEnc: wEnc as tf.Tensor3D,
        bEnc: bEnc as tf.Tensor2D,
        wDec: wDec as tf.Tensor3D,
        bDec: bDec as tf.Tensor2D,
      },
      stats: { l0: l0 as tf.Tensor2D, fired: fired as tf.Tensor2D, sst: sst as tf.Tensor1D },
    });
  };
}

/**
 * The fused step of the kernel named `SAE_BATCHTOPK_KERNEL` (contract in `lib/backends/kernel_names.ts`):
 * forward, loss, hand-derived gradients, batch statistics and the smallest kept activation of a BatchTopK
 * SAE whose nested dictionaries, when `prefixes` gives them (Matryoshka), each reconstruct on their own.
 * `undefined` when the backend registers no such kernel (or the batch is empty).
 *
 * @example The cpu backend has no fused kernel: the objective runs the composed maths
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../../tf.ts";
 * import { fusedBatchTopkKernel } from "./shared.ts";
 * import { initArchParams, makeSpec } from "./registry.ts";
 * await tf.setBackend("cpu");
 * const spec = makeSpec("batchtopk", { k: 2 });
 * const params = initArchParams(spec, { nComponents: 1, dIn: 2, dSae: 4, seed: 0 });
 * assert.equal(fusedBatchTopkKernel()(spec, params, tf.ones([1, 3, 2]), 0, 3), undefined);
 * ```
 */
export function fusedBatchTopkKernel(
  prefixes?: (
    spec: SaeSpec,
    dSae: number,
  ) => { readonly ends: readonly number[]; readonly weights: readonly number[] },
): FusedObjective {
  return (spec, params, x, lambda, keepRows) => {
    if (!hasKernel(SAE_BATCHTOPK_KERNEL) || x.shape[1] === 0) return undefined;
    const dSae = params.bEnc.shape[1];
    const { ends, weights } = prefixes?.(spec, dSae) ?? { ends: [dSae], weights: [1] };
    const [f, xHat, l1, l2, total, loss, wEnc, bEnc, wDec, bDec, l0, fired, sst, minActive] = runKernel(
      SAE_BATCHTOPK_KERNEL,
      { x, wEnc: params.wEnc, bEnc: params.bEnc, wDec: params.wDec, bDec: params.bDec },
      {
        l1Coefficient: lambda,
        keepRows,
        k: checkedK(spec.k, dSae),
        // (attributes are scalars: the lists as comma-separated numbers)
        prefixes: ends.join(","),
        prefixWeights: weights.join(","),
      },
    );
    const result: ObjectiveResult = {
      forward: { f: f as tf.Tensor3D, xHat: xHat as tf.Tensor3D },
      terms: { l1: l1 as tf.Tensor2D, l2: l2 as tf.Tensor2D, total: total as tf.Tensor2D },
      loss: loss as tf.Scalar,
      grads: {
        wEnc: wEnc as tf.Tensor3D,
        bEnc: bEnc as tf.Tensor2D,
        wDec: wDec as tf.Tensor3D,
        bDec: bDec as tf.Tensor2D,
      },
      stats: { l0: l0 as tf.Tensor2D, fired: fired as tf.Tensor2D, sst: sst as tf.Tensor1D },
      minActive: minActive as tf.Tensor1D,
    };
    return fusedResult(result);
  };
}

/**
 * The fused step of the kernel named `SAE_JUMPRELU_KERNEL` (contract in `lib/backends/kernel_names.ts`):
 * forward, loss, hand-derived gradients (θ's through the rectangle kernel) and batch statistics of a
 * JumpReLU SAE with the step (L0) penalty. `undefined` — the composed maths runs — when the backend
 * registers no such kernel, the batch is empty, or the spec asks for what the kernel does not do: the tanh
 * penalty or the pre-activation loss.
 *
 * @example The cpu backend has no fused kernel: the objective runs the composed maths
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../../tf.ts";
 * import { fusedJumpReluKernel } from "./shared.ts";
 * import { initArchParams, makeSpec } from "./registry.ts";
 * await tf.setBackend("cpu");
 * const spec = makeSpec("jumprelu");
 * const params = initArchParams(spec, { nComponents: 1, dIn: 2, dSae: 4, seed: 0 });
 * assert.equal(fusedJumpReluKernel(spec, params, tf.ones([1, 3, 2]), 1e-3, 3), undefined);
 * ```
 */
export const fusedJumpReluKernel: FusedObjective = (spec, params, x, lambda, keepRows) => {
  const { penalty, bandwidth, preActCoefficient } = spec.jumprelu;
  if (!hasKernel(SAE_JUMPRELU_KERNEL) || x.shape[1] === 0) return undefined;
  if (penalty !== "step" || preActCoefficient > 0 || params.threshold === undefined) return undefined;
  const [f, xHat, l1, l2, total, loss, wEnc, bEnc, wDec, bDec, l0, fired, sst, threshold] = runKernel(
    SAE_JUMPRELU_KERNEL,
    {
      x,
      wEnc: params.wEnc,
      bEnc: params.bEnc,
      wDec: params.wDec,
      bDec: params.bDec,
      threshold: params.threshold,
    },
    { l1Coefficient: lambda, keepRows, bandwidth },
  );
  return fusedResult({
    forward: { f: f as tf.Tensor3D, xHat: xHat as tf.Tensor3D },
    terms: { l1: l1 as tf.Tensor2D, l2: l2 as tf.Tensor2D, total: total as tf.Tensor2D },
    loss: loss as tf.Scalar,
    grads: {
      wEnc: wEnc as tf.Tensor3D,
      bEnc: bEnc as tf.Tensor2D,
      wDec: wDec as tf.Tensor3D,
      bDec: bDec as tf.Tensor2D,
      threshold: threshold as tf.Tensor2D,
    },
    stats: { l0: l0 as tf.Tensor2D, fired: fired as tf.Tensor2D, sst: sst as tf.Tensor1D },
  });
};

/**
 * The fused step of the kernel named `SAE_RELU_APRIL_KERNEL` (contract in `lib/backends/kernel_names.ts`):
 * forward, loss (L1 weighted by the decoder norms), hand-derived gradients and batch statistics of an
 * April-ReLU SAE. `undefined` — the composed maths runs — when the backend registers no such kernel or
 * the batch is empty.
 *
 * @example The cpu backend has no fused kernel: the objective runs the composed maths
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../../tf.ts";
 * import { fusedReluAprilKernel } from "./shared.ts";
 * import { initArchParams, makeSpec } from "./registry.ts";
 * await tf.setBackend("cpu");
 * const spec = makeSpec("relu-april");
 * const params = initArchParams(spec, { nComponents: 1, dIn: 2, dSae: 4, seed: 0 });
 * assert.equal(fusedReluAprilKernel(spec, params, tf.ones([1, 3, 2]), 1e-3, 3), undefined);
 * ```
 */
export const fusedReluAprilKernel: FusedObjective = (_spec, params, x, lambda, keepRows) => {
  if (!hasKernel(SAE_RELU_APRIL_KERNEL) || x.shape[1] === 0) return undefined;
  const [f, xHat, l1, l2, total, loss, wEnc, bEnc, wDec, bDec, l0, fired, sst] = runKernel(
    SAE_RELU_APRIL_KERNEL,
    { x, wEnc: params.wEnc, bEnc: params.bEnc, wDec: params.wDec, bDec: params.bDec },
    { l1Coefficient: lambda, keepRows },
  );
  return fusedResult({
    forward: { f: f as tf.Tensor3D, xHat: xHat as tf.Tensor3D },
    terms: { l1: l1 as tf.Tensor2D, l2: l2 as tf.Tensor2D, total: total as tf.Tensor2D },
    loss: loss as tf.Scalar,
    grads: {
      wEnc: wEnc as tf.Tensor3D,
      bEnc: bEnc as tf.Tensor2D,
      wDec: wDec as tf.Tensor3D,
      bDec: bDec as tf.Tensor2D,
    },
    stats: { l0: l0 as tf.Tensor2D, fired: fired as tf.Tensor2D, sst: sst as tf.Tensor1D },
  });
};

/**
 * The fused step of the kernel named `SAE_GATED_KERNEL` (contract in `lib/backends/kernel_names.ts`):
 * forward, loss (with the gate's penalty and the auxiliary reconstruction), hand-derived gradients and
 * batch statistics of a gated SAE. `undefined` — the composed maths runs — when the backend registers no
 * such kernel or the batch is empty.
 *
 * @example The cpu backend has no fused kernel: the objective runs the composed maths
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../../tf.ts";
 * import { fusedGatedKernel } from "./shared.ts";
 * import { initArchParams, makeSpec } from "./registry.ts";
 * await tf.setBackend("cpu");
 * const spec = makeSpec("gated");
 * const params = initArchParams(spec, { nComponents: 1, dIn: 2, dSae: 4, seed: 0 });
 * assert.equal(fusedGatedKernel(spec, params, tf.ones([1, 3, 2]), 1e-3, 3), undefined);
 * ```
 */
export const fusedGatedKernel: FusedObjective = (_spec, params, x, lambda, keepRows) => {
  if (!hasKernel(SAE_GATED_KERNEL) || x.shape[1] === 0) return undefined;
  if (params.rMag === undefined || params.bMag === undefined) return undefined;
  const [f, xHat, l1, l2, total, loss, wEnc, bEnc, wDec, bDec, l0, fired, sst, rMag, bMag] = runKernel(
    SAE_GATED_KERNEL,
    {
      x,
      wEnc: params.wEnc,
      bEnc: params.bEnc,
      wDec: params.wDec,
      bDec: params.bDec,
      rMag: params.rMag,
      bMag: params.bMag,
    },
    { l1Coefficient: lambda, keepRows },
  );
  return fusedResult({
    forward: { f: f as tf.Tensor3D, xHat: xHat as tf.Tensor3D },
    terms: { l1: l1 as tf.Tensor2D, l2: l2 as tf.Tensor2D, total: total as tf.Tensor2D },
    loss: loss as tf.Scalar,
    grads: {
      wEnc: wEnc as tf.Tensor3D,
      bEnc: bEnc as tf.Tensor2D,
      wDec: wDec as tf.Tensor3D,
      bDec: bDec as tf.Tensor2D,
      rMag: rMag as tf.Tensor2D,
      bMag: bMag as tf.Tensor2D,
    },
    stats: { l0: l0 as tf.Tensor2D, fired: fired as tf.Tensor2D, sst: sst as tf.Tensor1D },
  });
};

/** The results of fused steps (an SAE with a tied bias on its own input), which AuxK may follow fused. */
const FUSED_RESULTS = new WeakSet<ObjectiveResult>();

function fusedResult<R extends ObjectiveResult>(result: R): R {
  FUSED_RESULTS.add(result);
  return result;
}

/**
 * AuxK (see {@linkcode auxK}) by the kernel named `SAE_AUXK_KERNEL` (contract in
 * `lib/backends/kernel_names.ts`), after a fused main step: the kernel reads the dead features'
 * pre-activations from that step's encoder product instead of recomputing it. `undefined` when the
 * backend registers no such kernel, AuxK is off, or the main result did not come from a fused kernel.
 *
 * @example The cpu backend has no fused kernel: AuxK runs composed
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../../tf.ts";
 * import { fusedAuxK } from "./shared.ts";
 * import { initArchParams, makeSpec } from "./registry.ts";
 * import { lossAndGradsFor } from "../objective.ts";
 * await tf.setBackend("cpu");
 * const spec = makeSpec("batchtopk", { k: 1, auxK: 2, auxkCoefficient: 0.5 });
 * const params = initArchParams(spec, { nComponents: 1, dIn: 3, dSae: 4, seed: 0 });
 * const x = tf.randomNormal([1, 5, 3], 0, 1, "float32", 1) as tf.Tensor3D;
 * const main = lossAndGradsFor(spec, params, x);
 * const input = { spec, params, y: x, main, dead: tf.ones([1, 4]) } as never;
 * assert.equal(fusedAuxK(input), undefined);
 * ```
 */
export function fusedAuxK(input: AuxiliaryInput): ObjectiveResult | undefined {
  const { spec, params, y, main, dead } = input;
  if (!auxkActive(spec) || !hasKernel(SAE_AUXK_KERNEL) || !FUSED_RESULTS.has(main)) return undefined;
  const alpha = spec.auxkCoefficient;
  const [aux, wEnc, bEnc, wDec, bDec] = runKernel(
    SAE_AUXK_KERNEL,
    // (a fused main step ran on an SAE's own input: y is x)
    {
      x: y,
      wEnc: params.wEnc,
      bEnc: params.bEnc,
      wDec: params.wDec,
      bDec: params.bDec,
      xHat: main.forward.xHat,
      dead,
    },
    { kAux: Math.min(spec.auxK, params.bEnc.shape[1]), auxkCoefficient: alpha },
  );
  const total = tf.add(main.terms.total, tf.mul(aux, alpha)) as tf.Tensor2D;
  return {
    ...main,
    terms: { ...main.terms, total, aux: aux as tf.Tensor2D },
    loss: tf.mean(tf.mean(total, 1)) as tf.Scalar,
    grads: {
      ...main.grads,
      wEnc: tf.add(main.grads.wEnc, wEnc) as tf.Tensor3D,
      bEnc: tf.add(main.grads.bEnc, bEnc) as tf.Tensor2D,
      wDec: tf.add(main.grads.wDec, wDec) as tf.Tensor3D,
      bDec: tf.add(main.grads.bDec, bDec) as tf.Tensor2D,
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// The TopK family: selections, specs, AuxK
// ---------------------------------------------------------------------------------------------------------

/**
 * `k` when it is a valid TopK budget for `dSae` features, else a `RangeError` naming it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkedK } from "./shared.ts";
 * assert.equal(checkedK(3, 8), 3);
 * assert.throws(() => checkedK(9, 8), /k: expected an integer in \[1, 8\] \(dSae\), received 9/);
 * ```
 */
export function checkedK(k: number, dSae: number): number {
  if (!Number.isInteger(k) || k < 1 || k > dSae) {
    throw new RangeError(`k: expected an integer in [1, ${dSae}] (dSae), received ${k}`);
  }
  return k;
}

/**
 * The `k` of a TopK or BatchTopK activation, else a `TypeError`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { kOf } from "./shared.ts";
 * assert.equal(kOf({ kind: "batchtopk", k: 4 }), 4);
 * assert.throws(() => kOf({ kind: "relu" }), TypeError);
 * ```
 */
export function kOf(activation: SaeActivation): number {
  if (!("k" in activation)) {
    throw new TypeError(
      `activation: expected a k for ${activation.kind}, received ${JSON.stringify(activation)}`,
    );
  }
  return activation.k;
}

/**
 * TopK's selection: the positive pre-activations at least as large as the item's `k`-th largest.
 *
 * @param pre `[component, batch, dSae]`
 * @returns `[component, batch, dSae]` of 0 and 1
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../../tf.ts";
 * import { topkMask } from "./shared.ts";
 * assert.equal(topkMask(tf.tensor3d([[[3, -1, 2, 1]]]), 2).dataSync().join(), "1,0,1,0");
 * ```
 */
export function topkMask(pre: tf.Tensor3D, k: number): tf.Tensor3D {
  return tidy(() => {
    const positive = tf.step(pre, 0) as tf.Tensor3D;
    checkedK(k, pre.shape[2]);
    const kth = tf.min(tf.topk(pre, k).values, -1, true);
    return tf.mul(positive, tf.cast(tf.greaterEqual(pre, kth), "float32")) as tf.Tensor3D;
  });
}

/**
 * BatchTopK's selection: the positive pre-activations among the `k · batch` largest of the whole batch
 * (per component).
 *
 * @param pre `[component, batch, dSae]`
 *
 * @example Two items, k = 1: both kept values are in the first item
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../../tf.ts";
 * import { batchTopkMask } from "./shared.ts";
 * assert.equal(batchTopkMask(tf.tensor3d([[[5, 4], [1, 0.5]]]), 1).dataSync().join(), "1,1,0,0");
 * ```
 */
export function batchTopkMask(pre: tf.Tensor3D, k: number): tf.Tensor3D {
  return tidy(() => {
    const positive = tf.step(pre, 0) as tf.Tensor3D;
    const [c, b, m] = pre.shape;
    checkedK(k, m);
    const flat = tf.reshape(pre, [c, b * m]);
    const kth = tf.min(tf.topk(flat, k * b).values, -1, true);
    const kept = tf.reshape(tf.greaterEqual(flat, kth), [c, b, m]);
    return tf.mul(positive, tf.cast(kept, "float32")) as tf.Tensor3D;
  });
}

/**
 * An activation `f = pre ⊙ mask` from a mask of the pre-activations (and, where the mask needs it, the
 * threshold parameter).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../../tf.ts";
 * import { maskedActivation, topkMask } from "./shared.ts";
 * const top1 = maskedActivation((pre) => topkMask(pre, 1));
 * const pre = tf.tensor3d([[[1, 3, 2]]]);
 * assert.equal(top1.apply({} as never, pre, pre, { kind: "topk", k: 1 }).f.dataSync().join(), "0,3,0");
 * ```
 */
export function maskedActivation(
  mask: (pre: tf.Tensor3D, activation: SaeActivation, threshold?: tf.Tensor2D) => tf.Tensor3D,
  threshold?: (params: SaeParams) => tf.Tensor2D,
): ActivationFunction {
  return {
    mask,
    apply: (params, _z, pre, activation) => {
      const m = mask(pre, activation, threshold?.(params));
      return { f: tf.mul(pre, m) as tf.Tensor3D, mask: m };
    },
  };
}

/**
 * Whether a spec turns AuxK on (a number of dead features and a coefficient, both positive).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { auxkActive } from "./shared.ts";
 * import { makeSpec } from "./registry.ts";
 * assert.ok(auxkActive(makeSpec("topk", { auxK: 4, auxkCoefficient: 1 / 32 })));
 * assert.ok(!auxkActive(makeSpec("topk")));
 * ```
 */
export function auxkActive(spec: SaeSpec): boolean {
  return spec.auxK > 0 && spec.auxkCoefficient > 0;
}

/**
 * AuxK (Gao et al., 2024): the `auxK` largest positive pre-activations among dead features reconstruct
 * the residual `e = y − x̂` (held fixed), `ê = f_aux · wDec` (no bias); the loss gains
 * `α · mse(ê, e)` on the scale of the main reconstruction term, with the gradients
 *
 * ```
 * R = α (2s/n)(ê − e),  ∂/∂wDec += f_auxᵀ · R,  ∂/∂pre = (R · wDecᵀ) ⊙ mask_aux → wEnc, bEnc, bDec
 * ```
 *
 * (the last through the objective's own map to the encoder). The main result as it is when the spec
 * turns AuxK off.
 *
 * @example Through the objective: AuxK adds its term to the loss when features are dead
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../../tf.ts";
 * import { initArchParams, makeSpec } from "./registry.ts";
 * import { lossAndGradsFor } from "../objective.ts";
 * const spec = makeSpec("topk", { k: 1, auxK: 2, auxkCoefficient: 0.5 });
 * const params = initArchParams(spec, { nComponents: 1, dIn: 3, dSae: 4, seed: 0 });
 * const x = tf.randomNormal([1, 5, 3], 0, 1, "float32", 1) as tf.Tensor3D;
 * const r = lossAndGradsFor(spec, params, x, x, { dead: tf.ones([1, 4]) });
 * assert.ok(r.terms.aux !== undefined);
 * assert.equal(lossAndGradsFor(spec, params, x).terms.aux, undefined);
 * ```
 */
export function auxK(input: AuxiliaryInput): ObjectiveResult {
  const { spec, params, y, main, dead } = input;
  if (!auxkActive(spec)) return main;
  // After a fused step, where the backend has the fused AuxK (the composed maths below is its reference).
  const fused = fusedAuxK(input);
  if (fused !== undefined) return fused;
  const pre = input.pre();
  const [c, b, m] = pre.shape;
  const n = y.shape[2];
  const s = 1 / (c * b);
  const alpha = spec.auxkCoefficient;
  const kAux = Math.min(spec.auxK, m);
  const isDead = tf.broadcastTo(tf.greater(tf.expandDims(dead, 1), 0), pre.shape);
  const deadPre = tf.where(isDead, pre, tf.fill(pre.shape, -Infinity)) as tf.Tensor3D;
  const maskAux = tf.mul(topkMask(deadPre, kAux), tf.cast(isDead, "float32"));
  const fAux = tf.mul(tf.relu(pre), maskAux) as tf.Tensor3D;
  const residual = tf.sub(y, main.forward.xHat) as tf.Tensor3D;
  const eHat = bmm(fAux, params.wDec);
  const aux = l2Reconstruction(residual, eHat);
  const r = tf.mul(tf.sub(eHat, residual), (alpha * 2 * s) / n) as tf.Tensor3D;
  const dPre = tf.mul(bmm(r, params.wDec, false, true), maskAux) as tf.Tensor3D;
  const encoder = input.throughEncoder(dPre);
  const bDec = encoder.throughTiedBias === undefined
    ? main.grads.bDec
    : tf.sub(main.grads.bDec, encoder.throughTiedBias) as tf.Tensor2D;
  const total = tf.add(main.terms.total, tf.mul(aux, alpha)) as tf.Tensor2D;
  return {
    ...main,
    terms: { ...main.terms, total, aux },
    loss: tf.mean(tf.mean(total, 1)) as tf.Scalar,
    grads: {
      ...main.grads,
      wEnc: tf.add(main.grads.wEnc, encoder.wEnc) as tf.Tensor3D,
      bEnc: tf.add(main.grads.bEnc, encoder.bEnc) as tf.Tensor2D,
      wDec: tf.add(main.grads.wDec, bmm(fAux, r, true, false)) as tf.Tensor3D,
      bDec,
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// The tracked inference threshold (BatchTopK, Matryoshka)
// ---------------------------------------------------------------------------------------------------------

/**
 * The smallest positive activation of the batch per component, `[component]` (∞ where none).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../../tf.ts";
 * import { minActive } from "./shared.ts";
 * assert.equal(minActive(tf.tensor3d([[[0, 3], [2, 0]]])).minActive!.dataSync()[0], 2);
 * ```
 */
export function minActive(f: tf.Tensor3D): { readonly minActive?: tf.Tensor1D } {
  return {
    minActive: tf.min(tf.where(tf.greater(f, 0), f, tf.fill(f.shape, Infinity)), [1, 2]) as tf.Tensor1D,
  };
}

/**
 * BatchTopK's inference threshold: after the first step the smallest kept activation of the batch, then
 * a running average `θ ← decay·θ + (1 − decay)·min f` (per component; a batch without any active feature
 * leaves θ as it is).
 *
 * @param threshold `[component, dSae]`
 * @param seenMin the batch's smallest kept activation, `[component]`
 * @param step the step just taken (1 for the first)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../../tf.ts";
 * import { trackedThreshold } from "./shared.ts";
 * const next = trackedThreshold(tf.tensor2d([[2, 2]]), tf.tensor1d([3]), 5, 0.9);
 * assert.ok(Math.abs(next.dataSync()[0] - 2.1) < 1e-6);
 * ```
 */
export function trackedThreshold(
  threshold: tf.Tensor2D,
  seenMin: tf.Tensor1D,
  step: number,
  decay: number,
): tf.Tensor2D {
  return tidy(() => {
    const seen = tf.expandDims(seenMin, 1);
    const averaged = step <= 1 ? tf.broadcastTo(seen, threshold.shape) : tf.add(
      tf.mul(threshold, decay),
      tf.mul(seen, 1 - decay),
    );
    return tf.where(
      tf.isFinite(tf.broadcastTo(seen, threshold.shape)),
      averaged,
      threshold,
    ) as tf.Tensor2D;
  });
}

/**
 * The record's update after the optimizer's: the threshold tracks the smallest kept activation (see
 * {@linkcode trackedThreshold}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../../tf.ts";
 * import { trackThresholdUpdate } from "./shared.ts";
 * import { makeSpec } from "./registry.ts";
 * const params = { threshold: tf.tensor2d([[0, 0]]) } as never;
 * const next = trackThresholdUpdate(params, { minActive: tf.tensor1d([2]) }, 1, makeSpec("batchtopk"));
 * assert.equal(next.threshold!.dataSync().join(), "2,2");
 * ```
 */
export function trackThresholdUpdate(
  params: SaeParams,
  outputs: { readonly minActive?: tf.Tensor1D },
  step: number,
  spec: SaeSpec,
): SaeParams {
  const { minActive } = outputs;
  const threshold = params.threshold;
  if (minActive === undefined || threshold === undefined) {
    throw new TypeError(
      "trackThreshold: expected params.threshold and the BatchTopK outputs' minActive, received neither",
    );
  }
  return { ...params, threshold: trackedThreshold(threshold, minActive, step, spec.thresholdDecay) };
}

/**
 * A `threshold` parameter `[component, dSae]` filled with one value.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { thresholdParam } from "./shared.ts";
 * assert.equal(thresholdParam(2, 3, 0.5).threshold!.shape.join(), "2,3");
 * ```
 */
export function thresholdParam(nComponents: number, dSae: number, value: number): Partial<SaeParams> {
  return { threshold: tf.fill([nComponents, dSae], value) as tf.Tensor2D };
}

/**
 * `threshold/mean`, `threshold/min` and `threshold/max` of each component.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { THRESHOLD_METRICS } from "./shared.ts";
 * const r = THRESHOLD_METRICS.compute({ threshold: new Float32Array([1, 3, 0, 2]) }, ["a", "b"], 2);
 * assert.equal(r["threshold/mean/a"], 2);
 * assert.equal(r["threshold/max/b"], 2);
 * ```
 */
export const THRESHOLD_METRICS: ArchMetrics = {
  params: ["threshold"],
  compute: (params, componentNames, dSae) => {
    const record: Record<string, number> = {};
    const values = params.threshold;
    if (values === undefined) return record;
    componentNames.forEach((name, k) => {
      const own = values.subarray(k * dSae, (k + 1) * dSae);
      let lo = Infinity, hi = -Infinity, sum = 0;
      for (const v of own) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
        sum += v;
      }
      record[`threshold/mean/${name}`] = sum / dSae;
      record[`threshold/min/${name}`] = lo;
      record[`threshold/max/${name}`] = hi;
    });
    return record;
  },
};

// ---------------------------------------------------------------------------------------------------------
// SAELens mappings shared by several records
// ---------------------------------------------------------------------------------------------------------

/**
 * SAELens's `standard` SAE (and `transcoder`): the four tensors, a ReLU.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { STANDARD_SAELENS } from "./shared.ts";
 * assert.equal(STANDARD_SAELENS.architecture.transcoder, "transcoder");
 * ```
 */
export const STANDARD_SAELENS: SaelensMapping = {
  architecture: { sae: "standard", transcoder: "transcoder" },
  encoderBias: "b_enc",
  tensors: {},
  activationFn: "relu",
};

/**
 * SAELens's `jumprelu` SAE (and `jumprelu_transcoder`): the four tensors and `threshold`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JUMPRELU_SAELENS } from "./shared.ts";
 * assert.equal(JUMPRELU_SAELENS.tensors.threshold, "threshold");
 * ```
 */
export const JUMPRELU_SAELENS: SaelensMapping = {
  architecture: { sae: "jumprelu", transcoder: "jumprelu_transcoder" },
  encoderBias: "b_enc",
  tensors: { threshold: "threshold" },
  activationFn: "relu",
};
