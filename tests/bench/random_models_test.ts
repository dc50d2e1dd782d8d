/**
 * Random Hugging Face folders (lib/bench/random_models.ts): the loaders read each family's folder into the
 * model its config describes, the values follow the seed, and a folder is reused only when complete.
 */
import { assert } from "../_helpers.ts";
import {
  GPT2_SMALL_SHAPE,
  LLAMA_160M_SHAPE,
  PYTHIA_160M_SHAPE,
  randomModelConfig,
  randomModelParameters,
  type RandomModelShape,
  randomModelTensors,
  writeRandomModel,
} from "../../lib/bench/random_models.ts";
import { loadHfGpt2 } from "../../lib/models/load/hf_gpt2.ts";
import { loadHfGptNeox } from "../../lib/models/load/hf_gpt_neox.ts";
import { loadHfLlama } from "../../lib/models/load/hf_llama.ts";
import { hfGpt2Config } from "../../lib/models/load/hf_gpt2.ts";
import { hfGptNeoxConfig } from "../../lib/models/load/hf_gpt_neox.ts";
import { hfLlamaConfig } from "../../lib/models/load/hf_llama.ts";

Deno.test("the real-size shapes' configs read as GPT-2 small, Pythia-160M and a Llama of the same class", () => {
  const gpt2 = hfGpt2Config(randomModelConfig(GPT2_SMALL_SHAPE, 0));
  assert.deepEqual(
    [
      gpt2.nLayers,
      gpt2.dModel,
      gpt2.nHeads,
      gpt2.dHead,
      gpt2.dMlp,
      gpt2.vocabSize,
      gpt2.maxSeq,
      gpt2.activation,
    ],
    [12, 768, 12, 64, 3072, 50257, 1024, "gelu_new"],
  );
  assert.equal(gpt2.tiedEmbeddings, true);
  const neox = hfGptNeoxConfig(randomModelConfig(PYTHIA_160M_SHAPE, 0));
  // rotary_pct 0.25 of 64-wide heads: 16 rotated dimensions
  assert.deepEqual(
    [
      neox.nLayers,
      neox.dModel,
      neox.dMlp,
      neox.vocabSize,
      neox.rotaryDims,
      neox.parallelResidual,
      neox.activation,
    ],
    [12, 768, 3072, 50304, 16, true, "gelu"],
  );
  const llama = hfLlamaConfig(randomModelConfig(LLAMA_160M_SHAPE, 0));
  assert.deepEqual(
    [llama.nLayers, llama.dModel, llama.nHeads, llama.nKvHeads, llama.dMlp, llama.vocabSize, llama.rotary],
    [12, 768, 12, 12, 2048, 32000, "half"],
  );
  // Parameters: Pythia-160M is 162,322,944 with its untied unembedding: 2·50304·768 = 77,266,944 embeddings,
  // 12·(4·768 + 2304·768 + 2304 + 768·768 + 768 + 3072·768 + 3072 + 768·3072 + 768) = 12·7,087,872, + 1,536.
  assert.equal(randomModelParameters(PYTHIA_160M_SHAPE), 77_266_944 + 12 * 7_087_872 + 1_536);
  // Llama: 2·32000·768 + 12·(2·768 + 4·768·768 + 3·768·2048) + 768 = 49,152,000 + 12·7,079,424 + 768
  assert.equal(randomModelParameters(LLAMA_160M_SHAPE), 49_152_000 + 12 * 7_079_424 + 768);
});

const SMALL: readonly RandomModelShape[] = [
  { family: "gpt2", nLayers: 2, dModel: 8, nHeads: 2, dMlp: 12, vocabSize: 10, maxSeq: 6 },
  {
    family: "gpt_neox",
    nLayers: 2,
    dModel: 8,
    nHeads: 2,
    dMlp: 12,
    vocabSize: 10,
    maxSeq: 6,
    rotaryPct: 0.5,
  },
  { family: "llama", nLayers: 2, dModel: 8, nHeads: 2, nKvHeads: 1, dMlp: 12, vocabSize: 10, maxSeq: 6 },
];

Deno.test("each family's folder loads with its loader, every tensor where the loader looks for it", async () => {
  for (const shape of SMALL) {
    const dir = await Deno.makeTempDir();
    try {
      await writeRandomModel(dir, shape, 9);
      const raw = randomModelTensors(shape, 9);
      if (shape.family === "gpt2") {
        const { config, weights } = await loadHfGpt2(dir);
        assert.equal(config.dMlp, 12);
        // c_attn [in, out] = [q | k | v]: wK is its columns 8..15
        const cAttn = raw["h.1.attn.c_attn.weight"].data;
        const wK = weights.blocks[1].wK.arraySync();
        assert.equal(wK[3][5], cAttn[3 * 24 + 8 + 5]);
        assert.equal(weights.blocks[0].ln2Bias.dataSync()[7], raw["h.0.ln_2.bias"].data[7]);
      } else if (shape.family === "gpt_neox") {
        const { config, weights } = await loadHfGptNeox(dir);
        assert.equal(config.rotaryDims, 2);
        // query_key_value rows [head, (q, k, v), dHead]: head 1's value row 2 is row 1·12 + 2·4 + 2 = 22
        const qkv = raw["gpt_neox.layers.0.attention.query_key_value.weight"].data;
        const wV = weights.blocks[0].wV.arraySync(); // [in, out]: column 1·4 + 2 = 6
        assert.equal(wV[5][6], qkv[22 * 8 + 5]);
        assert.equal(weights.unembed.arraySync()[3][7], raw["embed_out.weight"].data[7 * 8 + 3]);
      } else {
        const { config, weights } = await loadHfLlama(dir);
        assert.equal(config.nKvHeads, 1);
        // down_proj [out, in] = [8, 12] → wDown [in, out]: wDown[11][2] = down_proj[2][11]
        assert.equal(
          weights.blocks[1].wDown.arraySync()[11][2],
          raw["model.layers.1.mlp.down_proj.weight"].data[2 * 12 + 11],
        );
        assert.equal(weights.blocks[0].wK.shape.join(), "8,4");
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});

Deno.test("randomModelTensors(): the seed fixes the values, matrices have the std asked, gains sit around 1", () => {
  const shape = SMALL[0];
  const a = randomModelTensors(shape, 1), b = randomModelTensors(shape, 1), c = randomModelTensors(shape, 2);
  assert.deepEqual(a["h.0.mlp.c_fc.weight"].data, b["h.0.mlp.c_fc.weight"].data);
  assert.notDeepEqual(a["h.0.mlp.c_fc.weight"].data, c["h.0.mlp.c_fc.weight"].data);
  // Different tensors have different streams.
  assert.notDeepEqual(a["h.0.ln_1.bias"].data, a["h.0.ln_2.bias"].data);
  // 50257·16 ≈ 804k values of N(0, 0.5²): the sample std is 0.5 within 1%, the mean 0 within 0.005.
  const big = randomModelTensors({ ...shape, vocabSize: 50257, dModel: 16, nHeads: 2, nLayers: 1 }, 3, {
    std: 0.5,
  });
  const w = big["wte.weight"].data;
  let sum = 0, sq = 0;
  for (const v of w) [sum, sq] = [sum + v, sq + v * v];
  const mean = sum / w.length, std = Math.sqrt(sq / w.length - mean * mean);
  assert.ok(Math.abs(mean) < 0.005 && Math.abs(std - 0.5) < 0.005, `mean ${mean}, std ${std}`);
  const gains = big["ln_f.weight"].data;
  assert.ok(gains.every((g) => g > 0.5 && g < 1.5) && gains.some((g) => g !== 1));
  assert.throws(() => randomModelTensors(shape, 1, { std: 0 }), {
    message: "std: expected a positive number, received 0",
  });
});

Deno.test("random model shapes are checked, naming the field", () => {
  const base = SMALL[2];
  assert.throws(() => randomModelConfig({ ...base, nKvHeads: 3 } as RandomModelShape, 0), {
    message: "nKvHeads: expected a divisor of nHeads (2), received 3",
  });
  assert.throws(() => randomModelConfig({ ...base, nHeads: 3 }, 0), {
    message: "nHeads: expected a divisor of dModel (8), received 3",
  });
  assert.throws(() => randomModelConfig({ ...SMALL[1], rotaryPct: 0.25 }, 0), {
    message: "rotaryPct: expected a fraction in [0, 1] giving an even rotary width of 4, received 0.25",
  });
  assert.throws(() => randomModelConfig({ ...base, family: "bert" } as unknown as RandomModelShape, 0), {
    message: 'family: expected one of gpt2, gpt_neox, llama, received "bert"',
  });
});

Deno.test("writeRandomModel() reuses a complete folder of the same shape and seed, and rewrites a cut one", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const shape = SMALL[1];
    const first = await writeRandomModel(dir, shape, 2);
    assert.equal(first.reused, false);
    // 8 bytes of length, the header, then 4 bytes per parameter
    const bytes = await Deno.readFile(`${dir}/model.safetensors`);
    const header = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.equal(first.bytes, 8 + header + 4 * randomModelParameters(shape));
    assert.equal((await writeRandomModel(dir, shape, 2)).reused, true);
    await Deno.writeFile(`${dir}/model.safetensors`, bytes.subarray(0, bytes.length - 4));
    const again = await writeRandomModel(dir, shape, 2);
    assert.equal(again.reused, false);
    assert.deepEqual(await Deno.readFile(`${dir}/model.safetensors`), bytes);
    // another std is another model
    assert.equal((await writeRandomModel(dir, shape, 2, { std: 0.1 })).reused, false);
    const config = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
    assert.equal(config.saekit_random_std, 0.1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
