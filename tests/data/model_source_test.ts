/**
 * modelActivationSource() refuses non-finite activations, naming the hook, window, position and dimension.
 */
import { assert, tf } from "../_helpers.ts";
import { modelActivationSource } from "../../lib/data/model_source.ts";
import { hookedLlama } from "../../lib/models/hooked.ts";
import { initLlamaWeights } from "../../lib/models/transformer.ts";

const config = {
  dModel: 8,
  nLayers: 2,
  nHeads: 2,
  nKvHeads: 1,
  dHead: 4,
  dMlp: 16,
  vocabSize: 10,
  maxSeq: 16,
  normEps: 1e-5,
  ropeTheta: 10000,
  rotary: "half",
  tiedEmbeddings: false,
} as const;

/** Windows of 4 tokens; only window 1 holds token 7, at position 2. */
const WINDOWS = [[1, 2, 3, 4], [1, 5, 7, 6], [1, 8, 9, 2]];
const windows = {
  contextSize: 4,
  async *windows(start: number) {
    for (const w of WINDOWS.slice(start)) yield Int32Array.from(w);
  },
};

async function rows(source: ReturnType<typeof modelActivationSource>, start: number): Promise<number> {
  let n = 0;
  for await (const chunk of source.chunks(start)) n += chunk.rows;
  return n;
}

Deno.test("modelActivationSource() refuses a NaN activation, naming the hook, window, position and dimension", async () => {
  const weights = initLlamaWeights(config, 3);
  const clean = hookedLlama({ config, weights });
  // hook_embed: the token embeddings, where each position holds its own token's row.
  const options = { hooks: ["hook_embed"], windows, windowsPerBatch: 2, skipPositions: 1 };
  // 3 windows × 3 positions after BOS.
  assert.equal(await rows(modelActivationSource({ ...options, model: clean }), 0), 9);

  // Token 7's embedding is NaN: in window 1, position 2, every dimension.
  const embed = tf.tidy(() => {
    const nanRow = tf.oneHot(tf.tensor1d([7], "int32"), config.vocabSize).reshape([config.vocabSize, 1]);
    return tf.where(
      tf.cast(nanRow, "bool").tile([1, config.dModel]),
      tf.fill(weights.embed.shape, NaN),
      weights.embed,
    );
  }) as tf.Tensor2D;
  const poisoned = modelActivationSource({
    ...options,
    model: hookedLlama({ config, weights: { ...weights, embed } }),
  });
  const message = "hook hook_embed: expected finite activations, received NaN at window 1, " +
    "position 2, dimension 0 (a non-finite weight of the model, or an overflow in its forward pass)";
  await assert.rejects(() => rows(poisoned, 0), { name: "RangeError", message });
  // Resumed at row 3 (window 1) the same place is named; from window 2 on, nothing is wrong.
  await assert.rejects(() => rows(poisoned, 3), { message });
  assert.equal(await rows(poisoned, 6), 3);
  tf.dispose([embed, weights.embed, weights.unembed, weights.lnFinal]);
  for (const block of weights.blocks) tf.dispose(Object.values(block));
});
