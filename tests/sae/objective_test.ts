import { assert, assertClose, tf, values } from "../_helpers.ts";
import { lossAndGradsFor } from "../../lib/sae/objective.ts";
import {
  activationMask,
  type ArchName,
  initArchParams,
  makeSpec,
  type SpecFields,
} from "../../lib/sae/arch/registry.ts";
import type { SaeSpec } from "../../lib/sae/arch/record.ts";
import type { SaeParams } from "../../lib/sae/params.ts";

// ---------------------------------------------------------------------------------------------------------
// An independent reference: the loss of each architecture written directly as a function of the parameters,
// differentiated by tfjs's autodiff. Straight-through estimators are tf.customGrad functions; masks that the
// maths treats as constants (TopK selections, the gate) are computed outside the differentiated function.
// ---------------------------------------------------------------------------------------------------------

const mse = (a: tf.Tensor, b: tf.Tensor) => tf.mean(tf.square(tf.sub(a, b)), -1);

/** f = pre·[pre > θ] with ∂f/∂pre = [pre > θ] and ∂f/∂θ = −(θ/ε)·K((pre − θ)/ε). */
function jumpReluSte(eps: number) {
  return tf.customGrad(
    ((pre: tf.Tensor, theta: tf.Tensor, save: tf.GradSaveFunc) => {
      save([pre, theta]);
      const open = tf.cast(tf.greater(pre, theta), "float32");
      return {
        value: tf.mul(pre, open),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [p, t] = saved;
          const k = tf.cast(tf.less(tf.abs(tf.div(tf.sub(p, t), eps)), 0.5), "float32");
          const dTheta = tf.sum(tf.mul(dy, tf.mul(k, tf.div(tf.neg(t), eps))), 1, true);
          return [tf.mul(dy, tf.cast(tf.greater(p, t), "float32")), dTheta];
        },
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0],
  ) as (pre: tf.Tensor, theta: tf.Tensor) => tf.Tensor;
}

/** H(pre − θ) with ∂/∂pre = 0 and ∂/∂θ = −(1/ε)·K((pre − θ)/ε). */
function stepSte(eps: number) {
  return tf.customGrad(
    ((pre: tf.Tensor, theta: tf.Tensor, save: tf.GradSaveFunc) => {
      save([pre, theta]);
      return {
        value: tf.cast(tf.greater(pre, theta), "float32"),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [p, t] = saved;
          const k = tf.cast(tf.less(tf.abs(tf.div(tf.sub(p, t), eps)), 0.5), "float32");
          return [tf.zerosLike(p), tf.sum(tf.mul(dy, tf.mul(k, -1 / eps)), 1, true)];
        },
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0],
  ) as (pre: tf.Tensor, theta: tf.Tensor) => tf.Tensor;
}

type P = Record<string, tf.Tensor>;

function referenceLoss(spec: SaeSpec, fixed: SaeParams, x: tf.Tensor3D, dead?: tf.Tensor2D) {
  const lambda = spec.sparsityCoefficient;
  // Constants of the differentiated function, computed outside it (tfjs has no gradient for TopK).
  const fixedPre = tf.add(
    tf.matMul(spec.tiedBias ? tf.sub(x, tf.expandDims(fixed.bDec, 1)) : x, fixed.wEnc),
    tf.expandDims(fixed.bEnc, 1),
  ) as tf.Tensor3D;
  const kind = spec.arch === "topk"
    ? { kind: "topk" as const, k: spec.k }
    : spec.arch === "batchtopk" || spec.arch === "matryoshka"
    ? { kind: "batchtopk" as const, k: spec.k }
    : { kind: "relu" as const };
  const mask = activationMask(fixedPre, kind);
  const frozenWDec = fixed.wDec.clone(), frozenBDec = fixed.bDec.clone();
  let maskAux: tf.Tensor | undefined, residual: tf.Tensor | undefined;
  if (dead !== undefined) {
    const xHatFixed = tf.add(tf.matMul(tf.mul(fixedPre, mask), fixed.wDec), tf.expandDims(fixed.bDec, 1));
    residual = tf.sub(x, xHatFixed);
    const deadPre = tf.where(
      tf.broadcastTo(tf.greater(tf.expandDims(dead, 1), 0), fixedPre.shape),
      fixedPre,
      tf.fill(fixedPre.shape, -Infinity),
    ) as tf.Tensor3D;
    maskAux = tf.mul(activationMask(deadPre, { kind: "topk", k: spec.auxK }), tf.expandDims(dead, 1));
  }
  return (p: P): tf.Scalar => {
    const bDecB = tf.expandDims(p.bDec, 1);
    const xBar = spec.tiedBias ? tf.sub(x, bDecB) : x;
    const z = tf.matMul(xBar, p.wEnc);
    const pre = tf.add(z, tf.expandDims(p.bEnc, 1));
    const norms = tf.norm(p.wDec, 2, -1);
    let f: tf.Tensor, total: tf.Tensor;
    if (spec.arch === "gated") {
      const open = tf.step(fixedPre, 0);
      f = tf.mul(
        tf.relu(tf.add(tf.mul(z, tf.expandDims(tf.exp(p.rMag), 1)), tf.expandDims(p.bMag, 1))),
        open,
      );
      const xHat = tf.add(tf.matMul(f, p.wDec), bDecB);
      // Frozen decoder: copies, so that autodiff does not see the variables themselves.
      const gateRecon = tf.add(tf.matMul(tf.relu(pre), frozenWDec), tf.expandDims(frozenBDec, 1));
      total = tf.addN([mse(xHat, x), tf.mul(tf.sum(tf.relu(pre), -1), lambda), mse(gateRecon, x)]);
    } else if (spec.arch === "jumprelu") {
      const theta = tf.expandDims(p.threshold, 1);
      const { bandwidth: eps, penalty, tanhScale, preActCoefficient } = spec.jumprelu;
      f = jumpReluSte(eps)(pre, theta);
      const xHat = tf.add(tf.matMul(f, p.wDec), bDecB);
      const sparsity = penalty === "step"
        ? tf.sum(stepSte(eps)(pre, theta), -1)
        : tf.sum(tf.tanh(tf.mul(tf.mul(f, tf.expandDims(norms, 1)), tanhScale)), -1);
      total = tf.add(mse(xHat, x), tf.mul(sparsity, lambda));
      if (preActCoefficient > 0) {
        const p2 = tf.sum(tf.mul(tf.relu(tf.sub(theta, pre)), tf.expandDims(norms, 1)), -1);
        total = tf.add(total, tf.mul(p2, preActCoefficient));
      }
    } else {
      f = tf.mul(pre, mask);
      const prefixes = spec.arch === "matryoshka" ? spec.prefixes : [f.shape[2]!];
      const weights = spec.arch === "matryoshka" ? spec.prefixWeights : [1];
      const recon = prefixes.map((end, t) => {
        const xHat = tf.add(
          tf.matMul(tf.slice(f, [0, 0, 0], [-1, -1, end]), tf.slice(p.wDec, [0, 0, 0], [-1, end, -1])),
          bDecB,
        );
        return tf.mul(mse(xHat, x), weights[t]);
      });
      const sparsity = spec.arch === "relu-april"
        ? tf.sum(tf.mul(f, tf.expandDims(norms, 1)), -1)
        : tf.sum(tf.abs(f), -1);
      total = tf.add(tf.addN(recon), tf.mul(sparsity, lambda));
      if (maskAux !== undefined && residual !== undefined) {
        const eHat = tf.matMul(tf.mul(pre, maskAux), p.wDec);
        total = tf.add(total, tf.mul(mse(eHat, residual), spec.auxkCoefficient));
      }
    }
    return tf.mean(total);
  };
}

function compareWithAutodiff(arch: ArchName, fields: SpecFields, options: { dead?: number[] } = {}) {
  const c = 2, b = 9, n = 5, m = 12;
  const spec = makeSpec(arch, { ...fields, jumprelu: { ...fields.jumprelu, initThreshold: 0.3 } });
  const params = initArchParams(spec, { nComponents: c, dIn: n, dSae: m, seed: 5 });
  // Move the gated magnitude path away from the gate, so both paths matter.
  const p: SaeParams = arch === "gated"
    ? {
      ...params,
      rMag: tf.randomUniform([c, m], -0.5, 0.5, "float32", 6),
      bMag: tf.randomUniform([c, m], -0.3, 0.3, "float32", 7),
    }
    : params;
  const x = tf.randomNormal([c, b, n], 0, 1, "float32", 8) as tf.Tensor3D;
  const dead = options.dead === undefined ? undefined : tf.tensor2d(options.dead, [c, m]);
  const mine = lossAndGradsFor(spec, p, x, x, { dead });
  const keys = Object.keys(mine.grads).sort();
  const expectedKeys = Object.keys(p).filter((k) => !(arch !== "jumprelu" && k === "threshold")).sort();
  assert.deepEqual(keys, expectedKeys, `${arch}: gradient keys`);
  const reference = referenceLoss(spec, p, x, dead);
  const { value, grads } = tf.valueAndGrads((...ts: tf.Tensor[]) =>
    reference(Object.fromEntries(keys.map((k, i) => [k, ts[i]])))
  )(
    keys.map((k) => (p as unknown as P)[k]),
  );
  assertClose(values(mine.loss), values(value), 1e-5, `${arch}: loss`);
  keys.forEach((key, i) =>
    assertClose(values((mine.grads as unknown as P)[key]), values(grads[i]), 2e-5, `${arch}: ∂/∂${key}`)
  );
}

Deno.test("relu-april: gradient of L1 weighted by decoder norms agrees with autodiff", () => {
  compareWithAutodiff("relu-april", { sparsityCoefficient: 0.05 });
});

Deno.test("relu through the composed path with an untied bias (transcoder) agrees with autodiff", () => {
  compareWithAutodiff("relu", { sparsityCoefficient: 0.05, tiedBias: false });
});

Deno.test("batchtopk: gradient through the batch-wide mask agrees with autodiff", () => {
  compareWithAutodiff("batchtopk", { k: 3 });
});

Deno.test("matryoshka: nested prefix losses agree with autodiff", () => {
  compareWithAutodiff("matryoshka", { k: 3, prefixes: [2, 5, 12], prefixWeights: [0.5, 0.3, 0.2] });
});

Deno.test("jumprelu (step penalty): straight-through gradients agree with autodiff", () => {
  compareWithAutodiff("jumprelu", {
    sparsityCoefficient: 0.1,
    jumprelu: { penalty: "step", bandwidth: 0.5, tanhScale: 4, preActCoefficient: 0 },
  });
});

Deno.test("jumprelu (tanh penalty + pre-activation loss): gradients agree with autodiff", () => {
  compareWithAutodiff("jumprelu", {
    sparsityCoefficient: 0.1,
    jumprelu: { penalty: "tanh", bandwidth: 0.5, tanhScale: 4, preActCoefficient: 0.02 },
  });
});

Deno.test("gated: magnitude path, gate L1 and frozen-decoder auxiliary loss agree with autodiff", () => {
  compareWithAutodiff("gated", { sparsityCoefficient: 0.05 });
});

Deno.test("AuxK on topk and batchtopk: dead features reconstructing the residual agree with autodiff", () => {
  const dead = Array.from({ length: 24 }, (_, i) => (i % 3 === 0 ? 1 : 0));
  compareWithAutodiff("topk", { k: 3, auxK: 2, auxkCoefficient: 0.5 }, { dead });
  compareWithAutodiff("batchtopk", { k: 3, auxK: 2, auxkCoefficient: 0.5 }, { dead });
});

// ---------------------------------------------------------------------------------------------------------
// Values worked out by hand.
// ---------------------------------------------------------------------------------------------------------

const scalarParams = (extra: Partial<SaeParams> = {}): SaeParams => ({
  wEnc: tf.tensor3d([[[1, 1]]]),
  bEnc: tf.tensor2d([[0, -1]]),
  wDec: tf.tensor3d([[[2], [1]]]),
  bDec: tf.tensor2d([[0]]),
  ...extra,
});

Deno.test("jumprelu (step): L0 penalty and threshold gradient worked out by hand", () => {
  // One item x = 1, dIn = 1, two features: pre = [1, 0], θ = [0.9, 0.2], ε = 0.4, λ = 0.5.
  // f = [1·[1 > 0.9], 0·[0 > 0.2]] = [1, 0]; x̂ = 1·2 = 2; mse = 1; L0 = 1; loss = 1 + 0.5·1 = 1.5.
  // ∂L/∂x̂ = 2(2 − 1) = 2; ∂L/∂f = 2·wDec = [4, 2].
  // K((pre − θ)/ε): (1 − 0.9)/0.4 = 0.25 → 1; (0 − 0.2)/0.4 = −0.5 → 0 (|u| < ½ is strict).
  // ∂L/∂θ₀ = ∂L/∂f₀·(−θ₀/ε)·1 + λ·(−1/ε)·1 = 4·(−2.25) − 1.25 = −10.25; ∂L/∂θ₁ = 0.
  // ∂L/∂pre = ∂L/∂f ⊙ [pre > θ] = [4, 0]: ∂bEnc = [4, 0], ∂wEnc = x̄·[4, 0] = [4, 0].
  // ∂wDec = fᵀ·2 = [[2], [0]]; ∂bDec = 2 − (4·1 + 0·1) = −2.
  const spec = makeSpec("jumprelu", {
    sparsityCoefficient: 0.5,
    jumprelu: { penalty: "step", bandwidth: 0.4, tanhScale: 4, preActCoefficient: 0 },
  });
  const params = scalarParams({ threshold: tf.tensor2d([[0.9, 0.2]]) });
  const r = lossAndGradsFor(spec, params, tf.tensor3d([[[1]]]));
  assertClose(values(r.loss), [1.5], 1e-6);
  assertClose(values(r.terms.l1), [1], 1e-6);
  assertClose(values(r.grads.threshold!), [-10.25, 0], 1e-5);
  assertClose(values(r.grads.bEnc), [4, 0], 1e-6);
  assertClose(values(r.grads.wEnc), [4, 0], 1e-6);
  assertClose(values(r.grads.wDec), [2, 0], 1e-6);
  assertClose(values(r.grads.bDec), [-2], 1e-6);
});

Deno.test("relu-april: penalty and decoder-norm gradient worked out by hand", () => {
  // x = 1, pre = [1, 0]: f = [1, 0]; wDec rows [2] and [1] (norms 2 and 1); x̂ = 2; mse = 1.
  // S = Σ f·‖wDec‖ = 2; λ = 0.5: loss = 1 + 1 = 2.
  // ∂L/∂f = 2·wDec + λ·‖wDec‖ = [4 + 1, 2 + 0.5] = [5, 2.5]; ∂L/∂pre = [5, 0] (pre₁ = 0 is not > 0).
  // ∂wDec₀ = f₀·2 + λ·f₀·wDec₀/‖wDec₀‖ = 2 + 0.5 = 2.5; ∂wDec₁ = 0 + λ·0 = 0.
  // ∂bDec = 2 − ∂pre·wEncᵀ = 2 − 5 = −3.
  const r = lossAndGradsFor(
    makeSpec("relu-april", { sparsityCoefficient: 0.5 }),
    scalarParams(),
    tf.tensor3d([[[1]]]),
  );
  assertClose(values(r.loss), [2], 1e-6);
  assertClose(values(r.grads.bEnc), [5, 0], 1e-6);
  assertClose(values(r.grads.wDec), [2.5, 0], 1e-6);
  assertClose(values(r.grads.bDec), [-3], 1e-6);
});

Deno.test("batchtopk keeps the k·batch largest activations of the whole batch", () => {
  // Two items, k = 1: the budget is 2 activations for the batch. pre = [[5, 4], [1, 0.5]]: the two largest
  // are both in the first item, so the second item has no active feature (TopK would keep 1 each).
  const mask = activationMask(tf.tensor3d([[[5, 4], [1, 0.5]]]), { kind: "batchtopk", k: 1 });
  assert.deepEqual(values(mask), [1, 1, 0, 0]);
});

Deno.test("batchtopk reports the smallest kept activation for its threshold", () => {
  // x = [1] and [3] (dIn = 1), wEnc = [1, 1], bEnc = [0, −1]: pre = [[1, 0], [3, 2]]; k = 1, batch 2:
  // kept 3 and 2, the smallest is 2.
  const r = lossAndGradsFor(
    makeSpec("batchtopk", { k: 1 }),
    scalarParams({ threshold: tf.tensor2d([[0, 0]]) }),
    tf.tensor3d([[[1], [3]]]),
  );
  assertClose(values(r.minActive!), [2], 1e-6);
  assert.deepEqual(values(r.stats.l0), [0, 2]);
});

Deno.test("matryoshka: each prefix reconstructs on its own, worked out by hand", () => {
  // x = 1, pre = [1, 0] with bEnc [0, −1] … use bEnc = [0, 0]: pre = [1, 1]; k = 1 with batch 1 keeps one
  // feature; ties keep both (1 ≥ 1). f = [1, 1]. Prefixes [1, 2], weights [0.5, 0.5]:
  // x̂₁ = 1·2 = 2 (mse 1), x̂₂ = 2 + 1 = 3 (mse 4): loss = 0.5·1 + 0.5·4 = 2.5; l2 (whole dictionary) = 4.
  const r = lossAndGradsFor(
    makeSpec("matryoshka", { k: 1, prefixes: [1, 2], prefixWeights: [0.5, 0.5] }),
    scalarParams({ bEnc: tf.tensor2d([[0, 0]]), threshold: tf.tensor2d([[0, 0]]) }),
    tf.tensor3d([[[1]]]),
  );
  assertClose(values(r.loss), [2.5], 1e-6);
  assertClose(values(r.terms.l2), [4], 1e-6);
  // R₁ = 0.5·2·(2 − 1) = 1, R₂ = 0.5·2·(3 − 1) = 2; Q₁ = 3, Q₂ = 2.
  // ∂wDec₀ = f₀·Q₁ = 3 (feature 0 is in both prefixes); ∂wDec₁ = f₁·Q₂ = 2.
  assertClose(values(r.grads.wDec), [3, 2], 1e-6);
});

Deno.test("lossAndGradsFor() frees every intermediate tensor", () => {
  const archs: ArchName[] = ["relu-april", "batchtopk", "matryoshka", "jumprelu", "gated", "topk"];
  for (const arch of archs) {
    const spec = makeSpec(arch, {
      k: 2,
      prefixes: [4, 8],
      prefixWeights: [0.5, 0.5],
      auxK: 2,
      auxkCoefficient: 0.1,
      jumprelu: { initThreshold: 0.1 },
    });
    const params = initArchParams(spec, { nComponents: 1, dIn: 4, dSae: 8, seed: 1 });
    const x = tf.randomNormal([1, 6, 4], 0, 1, "float32", 2) as tf.Tensor3D;
    const dead = tf.tensor2d([[1, 0, 1, 0, 1, 0, 1, 0]]);
    const before = tf.memory().numTensors;
    const r = lossAndGradsFor(spec, params, x, x, { dead });
    const returned = new Set<number>();
    const collect = (v: unknown): void => {
      if (v instanceof tf.Tensor) returned.add(v.id);
      else if (v !== null && typeof v === "object") Object.values(v).forEach(collect);
    };
    collect(r);
    assert.equal(tf.memory().numTensors - before, returned.size, `${arch}: tensors beyond those returned`);
    tf.dispose(r as unknown as tf.TensorContainer);
  }
});
