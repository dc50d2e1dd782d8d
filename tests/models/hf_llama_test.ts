import { assert, assertClose, tf } from "../_helpers.ts";
import { hfLlamaConfig, loadHfLlama, widenHalf } from "../../lib/models/load/hf_llama.ts";
import { loadStories260k } from "../../lib/models/load/llama2c.ts";
import {
  initLlamaWeights,
  type LlamaConfig,
  llamaForward,
  type LlamaWeights,
} from "../../lib/models/transformer.ts";
import { encodeSafetensors, type SafetensorsEntry } from "../../lib/io/safetensors.ts";

const HF_DIR = new URL("../fixtures/stories260K/hf/", import.meta.url);

const { model } = await loadStories260k();
const SEQUENCES = [[1, 403, 407, 261, 378, 432, 383, 286], [1, 317, 394, 261, 370, 400, 428, 426], [
  1,
  7,
  99,
  510,
  2,
  300,
  44,
  1,
]];

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

Deno.test({
  name: "loadHfLlama() on stories260K's hf/ folder gives llama2.c's logits to 1e-4",
  fn: async () => {
    const hf = await loadHfLlama(HF_DIR.pathname);
    assert.equal(hf.config.rotary, "half");
    assert.equal(hf.config.tiedEmbeddings, true);
    assert.equal(hf.config.nKvHeads, 4);
    const a = llamaForward(model.weights, model.config, SEQUENCES).logits!;
    const b = llamaForward(hf.weights, hf.config, SEQUENCES).logits!;
    assertClose(maxAbsDiff(a, b), 0, 1e-4);
  },
});

/** `[in, out]` → Hugging Face's `[out, in]`, with q/k columns moved from interleaved to rotate-half pairs. */
function toHf(w: tf.Tensor2D, heads?: number, dHead = 8): SafetensorsEntry {
  let m: tf.Tensor2D = w;
  if (heads !== undefined) {
    // column (h, 2i + j) → (h, j·dHead/2 + i)
    const d = w.shape[0];
    m = tf.reshape(tf.transpose(tf.reshape(w, [d, heads, dHead / 2, 2]), [0, 1, 3, 2]), [d, heads * dHead]);
  }
  const t = tf.transpose(m);
  return { dtype: "F32", shape: t.shape, data: t.dataSync() as Float32Array };
}

function vector(t: tf.Tensor1D): SafetensorsEntry {
  return { dtype: "F32", shape: t.shape, data: t.dataSync() as Float32Array };
}

/** The tensors of a Hugging Face Llama checkpoint holding `weights` (llama2.c layout). */
function hfTensors(
  weights: LlamaWeights,
  config: LlamaConfig,
  tied: boolean,
): Record<string, SafetensorsEntry> {
  const out: Record<string, SafetensorsEntry> = {
    "model.embed_tokens.weight": {
      dtype: "F32",
      shape: weights.embed.shape,
      data: weights.embed.dataSync() as Float32Array,
    },
    "model.norm.weight": vector(weights.lnFinal),
  };
  if (!tied) out["lm_head.weight"] = toHf(weights.unembed);
  weights.blocks.forEach((b, l) => {
    const at = `model.layers.${l}.`;
    out[`${at}input_layernorm.weight`] = vector(b.ln1);
    out[`${at}post_attention_layernorm.weight`] = vector(b.ln2);
    out[`${at}self_attn.q_proj.weight`] = toHf(b.wQ, config.nHeads, config.dHead);
    out[`${at}self_attn.k_proj.weight`] = toHf(b.wK, config.nKvHeads, config.dHead);
    out[`${at}self_attn.v_proj.weight`] = toHf(b.wV);
    out[`${at}self_attn.o_proj.weight`] = toHf(b.wO);
    out[`${at}mlp.gate_proj.weight`] = toHf(b.wGate);
    out[`${at}mlp.up_proj.weight`] = toHf(b.wUp);
    out[`${at}mlp.down_proj.weight`] = toHf(b.wDown);
  });
  return out;
}

function hfConfigJson(config: LlamaConfig, tied: boolean) {
  return {
    model_type: "llama",
    hidden_size: config.dModel,
    intermediate_size: config.dMlp,
    num_hidden_layers: config.nLayers,
    num_attention_heads: config.nHeads,
    num_key_value_heads: config.nKvHeads,
    vocab_size: config.vocabSize,
    max_position_embeddings: config.maxSeq,
    rms_norm_eps: config.normEps,
    rope_theta: config.ropeTheta,
    rope_scaling: null,
    hidden_act: "silu",
    tie_word_embeddings: tied,
  };
}

async function withFolder(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "saekit_hf_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("loadHfLlama() reads sharded safetensors with an index and matches the llama2.c forward pass", async () => {
  await withFolder(async (dir) => {
    const tensors = hfTensors(model.weights, model.config, true);
    const names = Object.keys(tensors);
    const shards = [names.slice(0, 20), names.slice(20)];
    const weightMap: Record<string, string> = {};
    for (const [i, shard] of shards.entries()) {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      await Deno.writeFile(
        `${dir}/${file}`,
        encodeSafetensors(Object.fromEntries(shard.map((n) => [n, tensors[n]]))),
      );
      for (const n of shard) weightMap[n] = file;
    }
    await Deno.writeTextFile(
      `${dir}/model.safetensors.index.json`,
      JSON.stringify({ metadata: {}, weight_map: weightMap }),
    );
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(hfConfigJson(model.config, true)));
    const hf = await loadHfLlama(`${dir}/`);
    const a = llamaForward(model.weights, model.config, SEQUENCES).logits!;
    const b = llamaForward(hf.weights, hf.config, SEQUENCES).logits!;
    assertClose(maxAbsDiff(a, b), 0, 1e-4);
  });
});

Deno.test("loadHfLlama() uses lm_head.weight when embeddings are not tied", async () => {
  const config: LlamaConfig = { ...model.config, nLayers: 1, tiedEmbeddings: false, rotary: "interleaved" };
  const weights = initLlamaWeights(config, 3);
  await withFolder(async (dir) => {
    await Deno.writeFile(`${dir}/model.safetensors`, encodeSafetensors(hfTensors(weights, config, false)));
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(hfConfigJson(config, false)));
    const hf = await loadHfLlama(dir);
    assert.equal(hf.config.tiedEmbeddings, false);
    assert.equal(maxAbsDiff(hf.weights.unembed, weights.unembed), 0);
    const a = llamaForward(weights, config, SEQUENCES).logits!;
    const b = llamaForward(hf.weights, hf.config, SEQUENCES).logits!;
    assertClose(maxAbsDiff(a, b), 0, 1e-5);
  });
});

Deno.test("loadHfLlama() names the file and tensor that is missing or misshapen", async () => {
  const config: LlamaConfig = { ...model.config, nLayers: 2 };
  const weights = initLlamaWeights(config, 4);
  await withFolder(async (dir) => {
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(hfConfigJson(config, true)));
    const file = `${dir}/model.safetensors`;
    const tensors = hfTensors(weights, config, true);
    const { ["model.layers.1.mlp.up_proj.weight"]: _, ...missing } = tensors;
    await Deno.writeFile(file, encodeSafetensors(missing));
    await assert.rejects(
      () => loadHfLlama(dir),
      (e: unknown) =>
        e instanceof RangeError &&
        e.message ===
          `${file}: tensor model.layers.1.mlp.up_proj.weight expected with shape [172, 64], not found`,
    );
    const wrong = {
      ...tensors,
      "model.norm.weight": { dtype: "F32" as const, shape: [63], data: new Float32Array(63) },
    };
    await Deno.writeFile(file, encodeSafetensors(wrong));
    await assert.rejects(
      () => loadHfLlama(dir),
      (e: unknown) =>
        e instanceof RangeError &&
        e.message === `${file}: tensor model.norm.weight expected shape [64], received [63]`,
    );
    // tied: false needs lm_head.weight
    await Deno.writeFile(file, encodeSafetensors(tensors));
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(hfConfigJson(config, false)));
    await assert.rejects(
      () => loadHfLlama(dir),
      /tensor lm_head\.weight expected with shape \[512, 64\], not found/,
    );
    await Deno.remove(file);
    await assert.rejects(
      () => loadHfLlama(dir),
      /expected model\.safetensors or model\.safetensors\.index\.json, found neither/,
    );
  });
  await assert.rejects(
    () => loadHfLlama("/nonexistent/folder"),
    /\/nonexistent\/folder\/config\.json: expected a Hugging Face config\.json/,
  );
});

Deno.test("hfLlamaConfig() applies transformers' defaults and names unsupported fields", () => {
  const minimal = {
    model_type: "llama",
    hidden_size: 32,
    intermediate_size: 40,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    vocab_size: 9,
  };
  assert.deepEqual(hfLlamaConfig(minimal), {
    dModel: 32,
    nLayers: 2,
    nHeads: 4,
    nKvHeads: 4,
    dHead: 8,
    dMlp: 40,
    vocabSize: 9,
    maxSeq: 2048,
    normEps: 1e-6,
    ropeTheta: 10000,
    rotary: "half",
    tiedEmbeddings: false,
  });
  assert.throws(
    () => hfLlamaConfig({ ...minimal, model_type: "gpt2" }, "m/config.json"),
    /m\/config\.json: model_type expected "llama", received "gpt2"/,
  );
  assert.throws(
    () => hfLlamaConfig({ ...minimal, hidden_act: "gelu" }),
    /hidden_act expected "silu", received "gelu"/,
  );
  assert.throws(
    () => hfLlamaConfig({ ...minimal, rope_scaling: { type: "linear", factor: 2 } }),
    /rope_scaling expected null/,
  );
  assert.throws(() => hfLlamaConfig({ ...minimal, attention_bias: true }), /attention_bias expected false/);
  const { hidden_size: _, ...noWidth } = minimal;
  assert.throws(
    () => hfLlamaConfig(noWidth, "c.json"),
    /c\.json: hidden_size expected a positive number, received undefined/,
  );
  assert.throws(() => hfLlamaConfig([1]), TypeError);
});

Deno.test("widenHalf() decodes F16 and BF16 bit patterns", () => {
  const le = (...words: number[]) => new Uint8Array(words.flatMap((w) => [w & 0xff, w >> 8]));
  // F16: 0x3c00 = 1; 0xc000 = −2; 0x7bff = (2 − 2⁻¹⁰)·2¹⁵ = 65504; 0x0001 = 2⁻²⁴ (subnormal);
  // 0x3555 = 2⁻² · (1 + 341/1024) = 0.333251953125; 0xfc00 = −∞
  assert.deepEqual(Array.from(widenHalf(le(0x3c00, 0xc000, 0x7bff, 0x0001, 0x3555, 0xfc00), "F16")), [
    1,
    -2,
    65504,
    2 ** -24,
    0.333251953125,
    -Infinity,
  ]);
  assert.ok(Number.isNaN(widenHalf(le(0x7e00), "F16")[0]));
  // BF16 is the top half of float32: 0x3f80 = 1; 0xc0a0 = −5; 0x4049 → 0x40490000 = 3.140625
  assert.deepEqual(Array.from(widenHalf(le(0x3f80, 0xc0a0, 0x4049), "BF16")), [1, -5, 3.140625]);
});

/** A safetensors file of BF16 tensors, written by hand from the format's specification. */
function bf16File(tensors: Record<string, { shape: number[]; data: Float32Array }>): Uint8Array {
  const header: Record<string, unknown> = {};
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, { shape, data }] of Object.entries(tensors)) {
    const words = new Uint32Array(data.buffer.slice(0));
    const bytes = new Uint8Array(2 * data.length);
    words.forEach((w, i) => {
      bytes[2 * i] = (w >>> 16) & 0xff;
      bytes[2 * i + 1] = w >>> 24;
    });
    header[name] = { dtype: "BF16", shape, data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

Deno.test("loadHfLlama() reads BF16 weights as the float32 values they hold", async () => {
  const config: LlamaConfig = {
    ...model.config,
    nLayers: 1,
    dModel: 16,
    nHeads: 2,
    nKvHeads: 1,
    dMlp: 24,
    vocabSize: 20,
  };
  const f32 = hfTensors(initLlamaWeights(config, 9), config, true);
  // Keep only the top 16 bits of every float, so that the values are exact in BF16.
  const rounded = Object.fromEntries(
    Object.entries(f32).map(([n, e]) => {
      const data = Float32Array.from(e.data);
      const bits = new Uint32Array(data.buffer);
      bits.forEach((b, i) => (bits[i] = b & 0xffff0000));
      return [n, { dtype: "F32" as const, shape: [...e.shape], data }];
    }),
  );
  await withFolder(async (dir) => {
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(hfConfigJson(config, true)));
    await Deno.writeFile(`${dir}/model.safetensors`, encodeSafetensors(rounded));
    const reference = await loadHfLlama(dir);
    await Deno.writeFile(`${dir}/model.safetensors`, bf16File(rounded));
    const half = await loadHfLlama(dir);
    assert.equal(maxAbsDiff(reference.weights.blocks[0].wQ, half.weights.blocks[0].wQ), 0);
    assert.equal(maxAbsDiff(reference.weights.embed, half.weights.embed), 0);
    const a = llamaForward(reference.weights, reference.config, [[1, 2, 3]]).logits!;
    const b = llamaForward(half.weights, half.config, [[1, 2, 3]]).logits!;
    assert.equal(maxAbsDiff(a, b), 0);
  });
});
