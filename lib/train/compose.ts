/**
 * Steps and their composition. A step is a pure, synchronous function from a
 * state and a batch to the next state; a pipeline is an `init` and a `step`.
 *
 * @module
 */

/** A pure training step. */
export type Step<S, B> = (state: S, batch: B) => S;

/**
 * A step that also returns what it computed for the steps after it (as a Flax train step returns
 * `(state, metrics)`): the outputs are handed on, never stored in the state, so never checkpointed.
 */
export type ProducingStep<S, B, O> = (state: S, batch: B) => readonly [S, O];

/** A batch together with the outputs a {@linkcode ProducingStep} computed from it. */
export type WithOutputs<B, O> = B & { readonly outputs: O };

/**
 * A training pipeline: how to build the first state (from the configuration and, for initialisations
 * that look at data, a sample batch of the run's first activations), and one step.
 */
export type Pipeline<S, B, C> = {
  readonly init: (config: C, sample?: B) => S;
  readonly step: Step<S, B>;
};

/**
 * Runs steps left to right, each on the state the previous one returned.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pipeSteps } from "./compose.ts";
 * const step = pipeSteps<number, number>((s, b) => s + b, (s) => s * 2);
 * assert.equal(step(1, 2), 6);
 * ```
 */
export function pipeSteps<S, B>(...steps: readonly Step<S, B>[]): Step<S, B> {
  return (state, batch) => steps.reduce((s, step) => step(s, batch), state);
}

/**
 * Runs `first`, then `steps` left to right, each given the batch together with `first`'s outputs; returns
 * the last state (the outputs go no further).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { handOn } from "./compose.ts";
 * // The first step returns its new state and the square of the batch's x; the next one reads both.
 * const step = handOn<number, { x: number }, number>(
 *   (s, { x }) => [s + x, x * x],
 *   (s, { x, outputs }) => s + outputs - x,
 * );
 * assert.equal(step(1, { x: 3 }), 10); // (1 + 3) + 3² − 3
 * ```
 */
export function handOn<S, B, O>(
  first: ProducingStep<S, B, O>,
  ...steps: readonly Step<S, WithOutputs<B, O>>[]
): Step<S, B> {
  return (state, batch) => {
    const [next, outputs] = first(state, batch);
    const withOutputs = { ...batch, outputs };
    return steps.reduce((s, step) => step(s, withOutputs), next);
  };
}

/**
 * Runs `step` only when `when(state)` holds, otherwise passes the state on.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { when } from "./compose.ts";
 * const step = when<number, number>((s) => s > 0, (s) => s - 1);
 * assert.equal(step(0, 0), 0);
 * assert.equal(step(3, 0), 2);
 * ```
 */
export function when<S, B>(predicate: (state: S) => boolean, step: Step<S, B>): Step<S, B> {
  return (state, batch) => (predicate(state) ? step(state, batch) : state);
}

/**
 * Runs `step` on every `n`-th step of training, read from `state.step` (the
 * number of steps completed, counted after the gradient step).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { every } from "./compose.ts";
 * const step = every<{ step: number; hits: number }, null>(2, (s) => ({ ...s, hits: s.hits + 1 }));
 * assert.equal(step({ step: 4, hits: 0 }, null).hits, 1);
 * assert.equal(step({ step: 3, hits: 0 }, null).hits, 0);
 * ```
 */
export function every<S extends { readonly step: number }, B>(n: number, step: Step<S, B>): Step<S, B> {
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(`every: expected a positive integer interval, received ${n}`);
  }
  return when((state) => state.step > 0 && state.step % n === 0, step);
}
