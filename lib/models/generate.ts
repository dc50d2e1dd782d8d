/**
 * Decoding, greedy or sampled: append the next token one step at a time,
 * with a key/value cache so that each step runs only the new position.
 *
 * Pure: the generated ids stay in a tensor; read them with `await t.array()`
 * (or `dataSync`) in effectful code.
 *
 * @module
 */
import { tf, tidy } from "../tf.ts";
import { deriveSeed } from "../seed.ts";
import {
  type LlamaConfig,
  llamaForwardWithCache,
  type LlamaKvCache,
  type LlamaWeights,
  type TokenInput,
} from "./transformer.ts";

type DecodeState = {
  readonly tokens: tf.Tensor2D;
  readonly logits?: tf.Tensor3D;
  readonly cache?: LlamaKvCache;
};

function disposeState(state: DecodeState): void {
  tf.dispose([state.tokens, ...(state.logits ? [state.logits] : [])]);
  if (state.cache !== undefined) tf.dispose([...state.cache.keys, ...state.cache.values]);
}

/**
 * Greedy decoding: `steps` times, the argmax of the last position's logits
 * (the lowest id on a tie, as llama2.c's `argmax`) is appended. Nothing stops
 * early; cut the result at an end token on the host.
 *
 * @param prompt `[batch, promptLength]` int32 ids, `promptLength ≥ 1`
 * @param steps new tokens per row; `promptLength + steps − 1 ≤ maxSeq`
 * @returns `[batch, promptLength + steps]` int32: the prompt, then the new ids
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { greedyGenerate } from "./generate.ts";
 * import { initLlamaWeights } from "./transformer.ts";
 * const config = {
 *   dModel: 8, nLayers: 1, nHeads: 2, nKvHeads: 1, dHead: 4, dMlp: 16, vocabSize: 10,
 *   maxSeq: 16, normEps: 1e-5, ropeTheta: 10000, rotary: "half", tiedEmbeddings: false,
 * } as const;
 * const ids = greedyGenerate(initLlamaWeights(config, 0), config, [[1], [2]], 4);
 * assert.equal(ids.shape.join(), "2,5");
 * assert.equal(ids.dtype, "int32");
 * ```
 */
export function greedyGenerate(
  weights: LlamaWeights,
  config: LlamaConfig,
  prompt: TokenInput,
  steps: number,
): tf.Tensor2D {
  return sampleGenerate(weights, config, prompt, steps, { temperature: 0 });
}

/**
 * One draw per row from `softmax(logits)` by the Gumbel-max trick:
 * `argmax(logits − log(−log u))` with `u ~ U(0, 1)`, every row with its own noise.
 *
 * @returns `[batch, 1]` int32
 */
function gumbelMax(logits: tf.Tensor2D, seed: number): tf.Tensor2D {
  const u = tf.randomUniform(logits.shape, 1e-12, 1, "float32", seed);
  const noisy = tf.sub(logits, tf.log(tf.neg(tf.log(u))));
  return tf.reshape(tf.argMax(noisy, 1), [logits.shape[0], 1]) as tf.Tensor2D;
}

/** Options of {@linkcode sampleGenerate}. */
export type SampleOptions = {
  /** Softmax temperature; 0 is greedy decoding. */
  readonly temperature: number;
  /** Seed of the draws: step `i` uses `deriveSeed(seed, i)`. */
  readonly seed?: number;
};

/**
 * Sampling: `steps` times, a token drawn from `softmax(logits / temperature)`
 * of the last position is appended (the argmax when the temperature is 0).
 * Reproducible from the seed.
 *
 * @param prompt `[batch, promptLength]` int32 ids, `promptLength ≥ 1`
 * @returns `[batch, promptLength + steps]` int32
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sampleGenerate } from "./generate.ts";
 * import { initLlamaWeights } from "./transformer.ts";
 * const config = {
 *   dModel: 8, nLayers: 1, nHeads: 2, nKvHeads: 1, dHead: 4, dMlp: 16, vocabSize: 10,
 *   maxSeq: 16, normEps: 1e-5, ropeTheta: 10000, rotary: "half", tiedEmbeddings: false,
 * } as const;
 * const a = sampleGenerate(initLlamaWeights(config, 0), config, [[1]], 5, { temperature: 1, seed: 3 });
 * const b = sampleGenerate(initLlamaWeights(config, 0), config, [[1]], 5, { temperature: 1, seed: 3 });
 * assert.equal(a.dataSync().join(), b.dataSync().join());
 * ```
 */
export function sampleGenerate(
  weights: LlamaWeights,
  config: LlamaConfig,
  prompt: TokenInput,
  steps: number,
  options: SampleOptions,
): tf.Tensor2D {
  const { temperature, seed = 0 } = options;
  if (!(temperature >= 0)) {
    throw new RangeError(`temperature: expected a number ≥ 0, received ${temperature}`);
  }
  const promptLength = prompt instanceof tf.Tensor ? prompt.shape[1] : prompt[0]?.length;
  if (!Number.isInteger(steps) || steps < 0 || promptLength + steps - 1 > config.maxSeq) {
    throw new RangeError(
      `steps: expected an integer in [0, ${
        config.maxSeq + 1 - promptLength
      }] (maxSeq ${config.maxSeq}, prompt of ${promptLength}), received ${steps}`,
    );
  }
  let state: DecodeState = tidy(() => {
    const first = llamaForwardWithCache(weights, config, prompt, undefined);
    const tokens = prompt instanceof tf.Tensor
      ? prompt.clone()
      : tf.tensor2d(prompt as number[][], undefined, "int32");
    return { tokens, logits: first.logits, cache: first.cache };
  });
  for (let i = 0; i < steps; i++) {
    const previous = state;
    state = tidy(() => {
      const [batch, length, vocab] = previous.logits!.shape;
      const last = tf.reshape(tf.slice(previous.logits!, [0, length - 1, 0], [batch, 1, vocab]), [
        batch,
        vocab,
      ]);
      const next = temperature === 0
        ? tf.reshape(tf.argMax(last, 1), [batch, 1]) as tf.Tensor2D
        : gumbelMax(tf.div(last, temperature) as tf.Tensor2D, deriveSeed(seed, i));
      const tokens = tf.concat([previous.tokens, next], 1);
      if (i === steps - 1) {
        return { tokens };
      }
      const step = llamaForwardWithCache(weights, config, next, previous.cache);
      return { tokens, logits: step.logits, cache: step.cache };
    });
    disposeState(previous);
  }
  if (state.logits !== undefined) tf.dispose(state.logits);
  if (state.cache !== undefined) tf.dispose([...state.cache.keys, ...state.cache.values]);
  return state.tokens;
}
