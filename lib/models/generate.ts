/**
 * Greedy decoding: append the most likely next token, one step at a time,
 * with a key/value cache so that each step runs only the new position.
 *
 * Pure: the generated ids stay in a tensor; read them with `await t.array()`
 * (or `dataSync`) in effectful code.
 *
 * @module
 */
import { tf, tidy } from "../tf.ts";
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
 * import { greedyGenerate } from "./generate.ts";
 * import { initLlamaWeights } from "./transformer.ts";
 * const config = {
 *   dModel: 8, nLayers: 1, nHeads: 2, nKvHeads: 1, dHead: 4, dMlp: 16, vocabSize: 10,
 *   maxSeq: 16, normEps: 1e-5, ropeTheta: 10000, rotary: "half", tiedEmbeddings: false,
 * } as const;
 * const ids = greedyGenerate(initLlamaWeights(config, 0), config, [[1], [2]], 4);
 * console.assert(ids.shape.join() === "2,5" && ids.dtype === "int32");
 * ```
 */
export function greedyGenerate(
  weights: LlamaWeights,
  config: LlamaConfig,
  prompt: TokenInput,
  steps: number,
): tf.Tensor2D {
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
      const next = tf.reshape(tf.argMax(last, 1), [batch, 1]) as tf.Tensor2D;
      const tokens = tf.concat([previous.tokens, next], 1);
      if (i === steps - 1) return { tokens };
      const step = llamaForwardWithCache(weights, config, next, previous.cache);
      return { tokens, logits: step.logits, cache: step.cache };
    });
    disposeState(previous);
  }
  if (state.logits !== undefined) tf.dispose(state.logits);
  if (state.cache !== undefined) tf.dispose([...state.cache.keys, ...state.cache.values]);
  return state.tokens;
}
