/**
 * Adam as a gradient transformation, with moments that can be reset for
 * chosen features of chosen components ("moments reset, step count kept",
 * as the original's `AdamWithReset.reset_neurons_state`).
 *
 * @module
 */
import { hasKernel, runKernel, tf } from "../tf.ts";
import { type GradientTransformation, mapRecord, type TensorRecord } from "./transform.ts";

import { ADAM_KERNEL } from "../backends/kernel_names.ts";
export { ADAM_KERNEL };

/** Options of {@linkcode scaleByAdam}. */
export type ScaleByAdamOptions = {
  readonly b1?: number;
  readonly b2?: number;
  readonly eps?: number;
};

/** Adam's state: the update count and the two moments of every parameter. */
export type AdamState = {
  readonly kind: "adam";
  readonly count: number;
  /** First moments, keyed like the parameters. */
  readonly mu: TensorRecord;
  /** Second moments, keyed like the parameters. */
  readonly nu: TensorRecord;
};

/**
 * Scales gradients by Adam's bias-corrected moments,
 * `m̂ / (√v̂ + ε)`, with `m̂ = m / (1 − β1ᵗ)` and `v̂ = v / (1 − β2ᵗ)`; this is
 * `torch.optim.Adam`'s update once multiplied by the learning rate.
 *
 * @example The first update is the sign of the gradient
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { scaleByAdam } from "./adam.ts";
 * const tx = scaleByAdam();
 * const p = { w: tf.tensor1d([0, 0]) };
 * const [u] = tx.update({ w: tf.tensor1d([3, -0.5]) }, tx.init(p), p);
 * const [a, b] = u.w.dataSync();
 * assert.ok(Math.abs(a - 1) < 1e-6);
 * assert.ok(Math.abs(b + 1) < 1e-6);
 * ```
 */
export function scaleByAdam(options: ScaleByAdamOptions = {}): GradientTransformation<AdamState> {
  const b1 = options.b1 ?? 0.9;
  const b2 = options.b2 ?? 0.999;
  const eps = options.eps ?? 1e-8;
  return {
    init: (params) => ({
      kind: "adam",
      count: 0,
      mu: mapRecord(params, (p) => tf.zerosLike(p)),
      nu: mapRecord(params, (p) => tf.zerosLike(p)),
    }),
    update: (grads, state) => {
      const count = state.count + 1;
      const c1 = 1 / (1 - b1 ** count);
      const c2 = 1 / (1 - b2 ** count);
      const fused = hasKernel(ADAM_KERNEL);
      const mu: Record<string, tf.Tensor> = {};
      const nu: Record<string, tf.Tensor> = {};
      const updates: Record<string, tf.Tensor> = {};
      for (const [key, g] of Object.entries(grads)) {
        if (fused) {
          [mu[key], nu[key], updates[key]] = runKernel(
            ADAM_KERNEL,
            { g, mu: state.mu[key], nu: state.nu[key] },
            { b1, b2, eps, c1, c2 },
          );
        } else {
          mu[key] = tf.add(tf.mul(state.mu[key], b1), tf.mul(g, 1 - b1));
          nu[key] = tf.add(tf.mul(state.nu[key], b2), tf.mul(tf.square(g), 1 - b2));
          updates[key] = tf.div(tf.mul(mu[key], c1), tf.add(tf.sqrt(tf.mul(nu[key], c2)), eps));
        }
      }
      return [updates, { kind: "adam", count, mu, nu }];
    },
  };
}

/**
 * For each parameter that has a feature axis, which axis it is. The leading
 * axis is always the component axis.
 */
export type FeatureAxes = Readonly<Record<string, number>>;

/**
 * The feature axes of {@linkcode SaeParams}: `wEnc [c, n, m]`, `bEnc [c, m]`, `wDec [c, m, n]`, and the
 * per-feature `threshold`, `rMag`, `bMag [c, m]` of the architectures that have them.
 */
export const SAE_FEATURE_AXES: FeatureAxes = { wEnc: 2, bEnc: 1, wDec: 1, threshold: 1, rMag: 1, bMag: 1 };

function isAdamState(value: unknown): value is AdamState {
  return typeof value === "object" && value !== null && (value as { kind?: unknown }).kind === "adam";
}

/**
 * Zeroes both Adam moments of the features where `reset` is 1, for every
 * parameter named in `axes`; the update count is kept. Works on an
 * {@linkcode AdamState} or on any state that contains one (a chain's).
 *
 * @param reset `[component, dSae]`, 1 where the moments are zeroed, 0 elsewhere
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { resetFeatureMoments, type AdamState } from "./adam.ts";
 * const state: AdamState = { kind: "adam", count: 3, mu: { bEnc: tf.ones([1, 3]) }, nu: { bEnc: tf.ones([1, 3]) } };
 * const next = resetFeatureMoments(state, tf.tensor2d([[0, 1, 0]]), { bEnc: 1 }) as AdamState;
 * assert.equal(next.mu.bEnc.dataSync().join(), "1,0,1");
 * assert.equal(next.count, 3);
 * ```
 */
export function resetFeatureMoments<S>(
  state: S,
  reset: tf.Tensor2D,
  axes: FeatureAxes = SAE_FEATURE_AXES,
): S {
  if (isAdamState(state)) {
    const keep = tf.sub(1, reset);
    const mask = (p: tf.Tensor, key: string): tf.Tensor => {
      const axis = axes[key];
      if (axis === undefined) return p;
      const shape = p.shape.map((_, i) => (i === 0 ? p.shape[0] : i === axis ? p.shape[axis] : 1));
      return tf.mul(p, tf.reshape(keep, shape));
    };
    return { ...state, mu: mapRecord(state.mu, mask), nu: mapRecord(state.nu, mask) } as S;
  }
  if (Array.isArray(state)) return state.map((s) => resetFeatureMoments(s, reset, axes)) as S;
  return state;
}
