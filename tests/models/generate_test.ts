import { assert, tf } from "../_helpers.ts";
import { greedyGenerate } from "../../lib/models/generate.ts";
import { initLlamaWeights, type LlamaConfig, llamaForward } from "../../lib/models/transformer.ts";
import { decodeTokens, loadStories260k } from "../../lib/models/load/llama2c.ts";

const EXPECTED = new URL("../fixtures/stories260K/greedy_200_expected.txt", import.meta.url);

Deno.test({
  name: "greedyGenerate() on stories260K reproduces llama2.c's run.c output byte for byte",
  fn: async () => {
    const { model, tokenizer } = await loadStories260k();
    // `run -t 0.0 -n 200`: from BOS, 200 forward passes (positions 0..199), each printing its argmax.
    const ids = greedyGenerate(model.weights, model.config, [[1]], 200);
    assert.deepEqual(ids.shape, [1, 201]);
    const row = (await ids.array())[0];
    // run.c stops at a generated BOS; none occurs in this text, but cut there as it would.
    const end = row.indexOf(1, 1);
    const text = decodeTokens(tokenizer, end < 0 ? row : row.slice(0, end));
    const expected = new TextDecoder().decode(await Deno.readFile(EXPECTED));
    assert.equal(expected.length, 464);
    assert.equal(text, expected);
  },
});

const TINY: LlamaConfig = {
  dModel: 16,
  nLayers: 2,
  nHeads: 4,
  nKvHeads: 2,
  dHead: 4,
  dMlp: 24,
  vocabSize: 11,
  maxSeq: 12,
  normEps: 1e-5,
  ropeTheta: 10000,
  rotary: "half",
  tiedEmbeddings: false,
};

Deno.test("greedyGenerate() equals re-running the full forward pass and taking the last argmax", async () => {
  // Larger weights than the default init, so that the argmax varies from step to step.
  const base = initLlamaWeights(TINY, 5);
  const weights = {
    ...base,
    unembed: tf.mul(base.unembed, 300) as tf.Tensor2D,
    embed: tf.mul(base.embed, 50) as tf.Tensor2D,
  };
  const prompt = [[3, 4, 5], [7, 1, 0]];
  const ids = (await greedyGenerate(weights, TINY, prompt, 6).array()) as number[][];
  const naive = prompt.map((r) => [...r]);
  for (let step = 0; step < 6; step++) {
    const logits = llamaForward(weights, TINY, naive).logits!;
    const next = await tf.argMax(tf.slice(logits, [0, naive[0].length - 1, 0], [-1, 1, -1]), 2)
      .array() as number[][];
    naive.forEach((row, i) => row.push(next[i][0]));
  }
  assert.deepEqual(ids, naive);
  assert.ok(new Set(ids[0].slice(3)).size > 1, "the test model should not repeat one token");
});

Deno.test("greedyGenerate() leaves only the generated ids alive and checks the length", () => {
  const weights = initLlamaWeights(TINY, 1);
  const before = tf.memory().numTensors;
  const ids = greedyGenerate(weights, TINY, tf.tensor2d([[1, 2]], undefined, "int32"), 5);
  assert.equal(tf.memory().numTensors, before + 2); // the prompt tensor and the ids
  assert.deepEqual(ids.shape, [1, 7]);
  assert.deepEqual(greedyGenerate(weights, TINY, [[1, 2]], 0).shape, [1, 2]);
  // maxSeq 12: a prompt of 2 may grow by 11 (the last token needs no forward pass)
  assert.deepEqual(greedyGenerate(weights, TINY, [[1, 2]], 11).shape, [1, 13]);
  assert.throws(() => greedyGenerate(weights, TINY, [[1, 2]], 12), /steps: expected an integer in \[0, 11\]/);
});
