/**
 * Gradient transformations in the style of optax: a pair of pure functions,
 * `init(params) → state` and `update(grads, state, params) → [updates, state]`,
 * composed with {@linkcode chain} and applied with {@linkcode applyUpdates}.
 *
 * @module
 */
import { tf } from "../tf.ts";

/** A flat record of named tensors: parameters, gradients or updates. */
export type TensorRecord = Readonly<Record<string, tf.Tensor>>;

/** A pure gradient transformation with state `S`. */
export type GradientTransformation<S> = {
  /** The initial state for these parameters. */
  init(params: TensorRecord): S;
  /** Transforms gradients into updates; never mutates its arguments. */
  update(grads: TensorRecord, state: S, params: TensorRecord): readonly [TensorRecord, S];
};

/** The state of a {@linkcode chain}: one state per transformation, in order. */
export type ChainState = readonly unknown[];

/**
 * Applies transformations one after another: the updates of each are the
 * gradients of the next.
 *
 * @example SGD with learning rate 0.1
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { applyUpdates, chain } from "./transform.ts";
 * import { scaleByLearningRate } from "./schedules.ts";
 * const tx = chain(scaleByLearningRate(() => 0.1));
 * const params = { w: tf.scalar(1) };
 * const [updates] = tx.update({ w: tf.scalar(2) }, tx.init(params), params);
 * assert.ok(Math.abs(applyUpdates(params, updates).w.dataSync()[0] - 0.8) < 1e-6);
 * ```
 */
export function chain(
  ...transforms: readonly GradientTransformation<unknown>[]
): GradientTransformation<ChainState> {
  return {
    init: (params) => transforms.map((t) => t.init(params)),
    update: (grads, state, params) => {
      let updates = grads;
      const states: unknown[] = [];
      transforms.forEach((t, i) => {
        const [next, s] = t.update(updates, state[i], params);
        updates = next;
        states.push(s);
      });
      return [updates, states];
    },
  };
}

/**
 * `params + updates`, key by key. Keys absent from `updates` are kept as they are.
 */
export function applyUpdates<P extends TensorRecord>(params: P, updates: TensorRecord): P {
  const out: Record<string, tf.Tensor> = {};
  for (const [key, value] of Object.entries(params)) {
    const update = updates[key];
    out[key] = update === undefined ? value : tf.add(value, update);
  }
  return out as unknown as P;
}

/** Maps a function over every tensor of a record. */
export function mapRecord(
  record: TensorRecord,
  fn: (value: tf.Tensor, key: string) => tf.Tensor,
): TensorRecord {
  const out: Record<string, tf.Tensor> = {};
  for (const [key, value] of Object.entries(record)) out[key] = fn(value, key);
  return out;
}

/**
 * Adds `decay · params` to the gradients (L2-style weight decay, as
 * `torch.optim.Adam(weight_decay)` and the original did; not AdamW).
 */
export function addWeightDecay(decay: number): GradientTransformation<null> {
  return {
    init: () => null,
    update: (grads, state, params) => [
      decay === 0 ? grads : mapRecord(grads, (g, key) => tf.add(g, tf.mul(params[key], decay))),
      state,
    ],
  };
}
