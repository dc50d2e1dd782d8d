import { assert, assertClose, tf, values } from "../_helpers.ts";
import {
  type GptNeoxConfig,
  gptNeoxForward,
  gptNeoxHookDim,
  gptNeoxHookNames,
  initGptNeoxWeights,
  splitNeoxQkv,
} from "../../lib/models/gpt_neox.ts";
import { hfGptNeoxConfig, loadHfGptNeox } from "../../lib/models/load/hf_gpt_neox.ts";
import { encodeSafetensors, type SafetensorsEntry } from "../../lib/io/safetensors.ts";

// ---------------------------------------------------------------------------
// A scalar reference, written from the GPT-NeoX equations with plain loops in
// float64. It reads the Hugging Face tensors as stored: nn.Linear weights
// [out, in]; query_key_value rows grouped per head as [head, (q, k, v), dHead];
// rotary on the first rotaryDims of each head, pairing i with i + rotaryDims/2.
// It shares no code with lib/models/gpt_neox.ts.
// ---------------------------------------------------------------------------

type Raw = Record<string, { shape: number[]; data: Float32Array }>;

function stream(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  };
}

function rawNeox(c: GptNeoxConfig, seed: number, bias = true): Raw {
  const next = stream(seed);
  const raw: Raw = {};
  const put = (name: string, shape: number[], scale: number, offset = 0) => {
    const n = shape.reduce((a, b) => a * b, 1);
    raw[name] = { shape, data: Float32Array.from({ length: n }, () => offset + scale * next()) };
  };
  const d = c.dModel;
  put("gpt_neox.embed_in.weight", [c.vocabSize, d], 1);
  for (let l = 0; l < c.nLayers; l++) {
    const at = `gpt_neox.layers.${l}.`;
    put(`${at}input_layernorm.weight`, [d], 0.3, 1);
    put(`${at}input_layernorm.bias`, [d], 0.2);
    put(`${at}post_attention_layernorm.weight`, [d], 0.3, 1);
    put(`${at}post_attention_layernorm.bias`, [d], 0.2);
    put(`${at}attention.query_key_value.weight`, [3 * d, d], 0.7);
    if (bias) put(`${at}attention.query_key_value.bias`, [3 * d], 0.3);
    put(`${at}attention.dense.weight`, [d, d], 0.5);
    if (bias) put(`${at}attention.dense.bias`, [d], 0.2);
    put(`${at}mlp.dense_h_to_4h.weight`, [c.dMlp, d], 0.6);
    put(`${at}mlp.dense_h_to_4h.bias`, [c.dMlp], 0.3);
    put(`${at}mlp.dense_4h_to_h.weight`, [d, c.dMlp], 0.4);
    put(`${at}mlp.dense_4h_to_h.bias`, [d], 0.2);
  }
  put("gpt_neox.final_layer_norm.weight", [d], 0.3, 1);
  put("gpt_neox.final_layer_norm.bias", [d], 0.2);
  put("embed_out.weight", [c.vocabSize, d], 1);
  return raw;
}

type Rows = number[][];

function refLayerNorm(x: Rows, g: Float32Array, b: Float32Array, eps: number): Rows {
  return x.map((row) => {
    const mean = row.reduce((s, v) => s + v, 0) / row.length;
    const variance = row.reduce((s, v) => s + (v - mean) ** 2, 0) / row.length;
    return row.map((v, j) => ((v - mean) / Math.sqrt(variance + eps)) * g[j] + b[j]);
  });
}

/** y = W · x + b with W stored [out, in] row-major; a missing bias is zero. */
function refLinear(x: Rows, w: { shape: number[]; data: Float32Array }, b?: Float32Array): Rows {
  const [nOut, nIn] = w.shape;
  return x.map((row) => {
    const out: number[] = [];
    for (let o = 0; o < nOut; o++) {
      let s = b === undefined ? 0 : b[o];
      for (let i = 0; i < nIn; i++) s += w.data[o * nIn + i] * row[i];
      out.push(s);
    }
    return out;
  });
}

const add = (a: Rows, b: Rows): Rows => a.map((row, i) => row.map((v, j) => v + b[i][j]));

/** Φ(x) by Simpson's rule on the normal density over [0, x] (4000 intervals; error far below 1e-10 here). */
function normalCdf(x: number): number {
  const n = 4000;
  const h = x / n;
  const pdf = (t: number) => Math.exp(-t * t / 2) / Math.sqrt(2 * Math.PI);
  let s = pdf(0) + pdf(x);
  for (let i = 1; i < n; i++) s += (i % 2 === 1 ? 4 : 2) * pdf(i * h);
  return 0.5 + (s * h) / 3;
}

/** Rotates the first `rot` entries of a head vector at position p, pairing i with i + rot/2. */
function refRotate(v: number[], p: number, rot: number, theta: number): number[] {
  const out = [...v];
  for (let i = 0; i < rot / 2; i++) {
    const angle = p * Math.pow(theta, (-2 * i) / rot);
    const [a, b] = [v[i], v[i + rot / 2]];
    out[i] = a * Math.cos(angle) - b * Math.sin(angle);
    out[i + rot / 2] = b * Math.cos(angle) + a * Math.sin(angle);
  }
  return out;
}

function refNeox(raw: Raw, c: GptNeoxConfig, tokens: number[]): Record<string, Rows> {
  const t = (name: string) => raw[name];
  const b = (name: string) => raw[name]?.data;
  const d = c.dModel;
  const dh = c.dHead;
  const out: Record<string, Rows> = {};
  const emb = t("gpt_neox.embed_in.weight").data;
  let x: Rows = tokens.map((id) => Array.from(emb.subarray(id * d, (id + 1) * d)));
  out["hook_embed"] = x;
  const n = tokens.length;
  for (let l = 0; l < c.nLayers; l++) {
    const at = `gpt_neox.layers.${l}.`;
    const hook = `blocks.${l}.`;
    out[`${hook}hook_resid_pre`] = x;
    const h1 = refLayerNorm(x, b(`${at}input_layernorm.weight`), b(`${at}input_layernorm.bias`), c.normEps);
    out[`${hook}ln1.hook_normalized`] = h1;
    const qkv = refLinear(
      h1,
      t(`${at}attention.query_key_value.weight`),
      b(`${at}attention.query_key_value.bias`),
    );
    const z: Rows = Array.from({ length: n }, () => new Array(c.nHeads * dh).fill(0));
    for (let head = 0; head < c.nHeads; head++) {
      const part = (p: number, kind: number) =>
        qkv[p].slice(head * 3 * dh + kind * dh, head * 3 * dh + (kind + 1) * dh);
      const q = tokens.map((_, p) => refRotate(part(p, 0), p, c.rotaryDims, c.ropeTheta));
      const k = tokens.map((_, p) => refRotate(part(p, 1), p, c.rotaryDims, c.ropeTheta));
      const v = tokens.map((_, p) => part(p, 2));
      for (let p = 0; p < n; p++) {
        const scores = k.slice(0, p + 1).map((kk) =>
          kk.reduce((s, kv, i) => s + kv * q[p][i], 0) / Math.sqrt(dh)
        );
        const top = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - top));
        const total = e.reduce((a, bb) => a + bb, 0);
        for (let i = 0; i < dh; i++) {
          z[p][head * dh + i] = e.reduce((s, w, j) => s + (w / total) * v[j][i], 0);
        }
      }
    }
    const attnOut = refLinear(z, t(`${at}attention.dense.weight`), b(`${at}attention.dense.bias`));
    out[`${hook}hook_attn_out`] = attnOut;
    let mlpIn = x;
    if (!c.parallelResidual) {
      mlpIn = add(x, attnOut);
      out[`${hook}hook_resid_mid`] = mlpIn;
    }
    const h2 = refLayerNorm(
      mlpIn,
      b(`${at}post_attention_layernorm.weight`),
      b(`${at}post_attention_layernorm.bias`),
      c.normEps,
    );
    out[`${hook}ln2.hook_normalized`] = h2;
    const post = refLinear(h2, t(`${at}mlp.dense_h_to_4h.weight`), b(`${at}mlp.dense_h_to_4h.bias`))
      .map((row) => row.map((v) => v * normalCdf(v)));
    out[`${hook}mlp.hook_post`] = post;
    const mlpOut = refLinear(post, t(`${at}mlp.dense_4h_to_h.weight`), b(`${at}mlp.dense_4h_to_h.bias`));
    out[`${hook}hook_mlp_out`] = mlpOut;
    x = c.parallelResidual ? add(add(x, attnOut), mlpOut) : add(mlpIn, mlpOut);
    out[`${hook}hook_resid_post`] = x;
  }
  const final = refLayerNorm(
    x,
    b("gpt_neox.final_layer_norm.weight"),
    b("gpt_neox.final_layer_norm.bias"),
    c.normEps,
  );
  out["ln_final.hook_normalized"] = final;
  out["logits"] = refLinear(final, t("embed_out.weight"));
  return out;
}

// ---------------------------------------------------------------------------

/** Pythia-like: parallel residual, part of each head rotated (half here; a quarter in Pythia). */
const PARALLEL: GptNeoxConfig = {
  dModel: 16,
  nLayers: 2,
  nHeads: 2,
  dHead: 8,
  dMlp: 32,
  vocabSize: 6,
  maxSeq: 6,
  normEps: 1e-5,
  rotaryDims: 4,
  ropeTheta: 100,
  parallelResidual: true,
  activation: "gelu",
  tiedEmbeddings: false,
};

/** Sequential blocks, whole heads rotated. */
const SEQUENTIAL: GptNeoxConfig = { ...PARALLEL, rotaryDims: 8, ropeTheta: 10000, parallelResidual: false };

const TOKENS = [[0, 3, 5, 1, 3, 2], [2, 2, 4, 0, 5, 5]];

function hfConfigJson(c: GptNeoxConfig, extra: Record<string, unknown> = {}) {
  return {
    model_type: "gpt_neox",
    hidden_size: c.dModel,
    num_hidden_layers: c.nLayers,
    num_attention_heads: c.nHeads,
    intermediate_size: c.dMlp,
    vocab_size: c.vocabSize,
    max_position_embeddings: c.maxSeq,
    layer_norm_eps: c.normEps,
    rotary_pct: c.rotaryDims / c.dHead,
    rotary_emb_base: c.ropeTheta,
    use_parallel_residual: c.parallelResidual,
    hidden_act: "gelu",
    tie_word_embeddings: false,
    ...extra,
  };
}

function entries(raw: Raw): Record<string, SafetensorsEntry> {
  return Object.fromEntries(
    Object.entries(raw).map(([name, t]) => [name, { dtype: "F32" as const, shape: t.shape, data: t.data }]),
  );
}

async function withFolder<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "saekit_neox_" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Writes a Hugging Face folder (sharded in two when `shards`) and loads it. */
function loadTiny(raw: Raw, configJson: Record<string, unknown>, shards = false) {
  return withFolder(async (dir) => {
    if (shards) {
      const names = Object.keys(raw);
      const weightMap: Record<string, string> = {};
      for (const [i, part] of [names.slice(0, 9), names.slice(9)].entries()) {
        const file = `model-0000${i + 1}-of-00002.safetensors`;
        await Deno.writeFile(
          `${dir}/${file}`,
          encodeSafetensors(entries(Object.fromEntries(part.map((n) => [n, raw[n]])))),
        );
        for (const n of part) weightMap[n] = file;
      }
      await Deno.writeTextFile(
        `${dir}/model.safetensors.index.json`,
        JSON.stringify({ weight_map: weightMap }),
      );
    } else {
      await Deno.writeFile(`${dir}/model.safetensors`, encodeSafetensors(entries(raw)));
    }
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(configJson));
    return await loadHfGptNeox(dir);
  });
}

const RAW_PARALLEL = rawNeox(PARALLEL, 7);
const RAW_SEQUENTIAL = rawNeox(SEQUENTIAL, 8);
const PAR = await loadTiny(RAW_PARALLEL, hfConfigJson(PARALLEL));
const SEQ = await loadTiny(RAW_SEQUENTIAL, hfConfigJson(SEQUENTIAL), true);

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

Deno.test("splitNeoxQkv() reads rows grouped per head as [head, (q, k, v), dHead]", () => {
  // 2 heads of width 2, dModel 1. Row r of the fused [out = 12, in = 1] weight holds the value r:
  // head 0: q rows 0,1  k rows 2,3  v rows 4,5;  head 1: q rows 6,7  k rows 8,9  v rows 10,11.
  const weight = tf.tensor2d(Array.from({ length: 12 }, (_, r) => [r]));
  const bias = tf.tensor1d(Array.from({ length: 12 }, (_, r) => 100 + r));
  const { wQ, wK, wV, bQ, bK, bV } = splitNeoxQkv(weight, bias, 2, 2);
  assert.deepEqual(wQ.shape, [1, 4]);
  assert.deepEqual(values(wQ), [0, 1, 6, 7]);
  assert.deepEqual(values(wK), [2, 3, 8, 9]);
  assert.deepEqual(values(wV), [4, 5, 10, 11]);
  assert.deepEqual(values(bQ), [100, 101, 106, 107]);
  assert.deepEqual(values(bK), [102, 103, 108, 109]);
  assert.deepEqual(values(bV), [104, 105, 110, 111]);
  // [out, in] → [in, out]: with dModel 2, column j of wQ is row j of the query block.
  const w2 = tf.tensor2d(Array.from({ length: 6 }, (_, r) => [r, 10 * r]));
  const q = splitNeoxQkv(w2, tf.zeros([6]), 1, 2).wQ;
  assert.deepEqual(values(q), [0, 1, 0, 10]);
  assert.throws(() => splitNeoxQkv(w2, tf.zeros([6]), 2, 2), /query_key_value: expected 12 rows/);
});

for (
  const [label, c, raw, model] of [
    ["parallel residual, partial rotary", PARALLEL, RAW_PARALLEL, PAR],
    ["sequential blocks, full rotary, sharded", SEQUENTIAL, RAW_SEQUENTIAL, SEQ],
  ] as const
) {
  Deno.test(`gptNeoxForward() (${label}) matches the scalar reference at every hook`, () => {
    const names = gptNeoxHookNames(c);
    assert.equal(names.length, 1 + (c.parallelResidual ? 7 : 8) * 2 + 1);
    const { logits, activations } = gptNeoxForward(model.weights, model.config, TOKENS, { capture: names });
    const refs = TOKENS.map((row) => refNeox(raw, c, row));
    for (const name of [...names, "logits"]) {
      const got = name === "logits" ? logits! : activations[name];
      const width = name === "logits" ? 6 : gptNeoxHookDim(c, name);
      assert.deepEqual(got.shape, [2, 6, width], name);
      assertClose(values(got), refs.flatMap((r) => r[name].flat()), 2e-5, name);
    }
    tf.dispose([logits!, ...Object.values(activations)]);
  });

  Deno.test(`gptNeoxForward() (${label}) hook points satisfy the residual identities`, () => {
    const { activations: a } = gptNeoxForward(model.weights, model.config, TOKENS, {
      capture: gptNeoxHookNames(c),
    });
    assert.equal(maxAbsDiff(a["hook_embed"], a["blocks.0.hook_resid_pre"]), 0);
    for (let l = 0; l < c.nLayers; l++) {
      const at = (p: string) => a[`blocks.${l}.${p}`];
      if (c.parallelResidual) {
        const sum = tf.addN([at("hook_resid_pre"), at("hook_attn_out"), at("hook_mlp_out")]);
        assertClose(maxAbsDiff(at("hook_resid_post"), sum), 0, 1e-6);
      } else {
        assertClose(
          maxAbsDiff(at("hook_resid_mid"), tf.add(at("hook_resid_pre"), at("hook_attn_out"))),
          0,
          1e-6,
        );
        assertClose(
          maxAbsDiff(at("hook_resid_post"), tf.add(at("hook_resid_mid"), at("hook_mlp_out"))),
          0,
          1e-6,
        );
      }
      if (l + 1 < c.nLayers) {
        assert.equal(maxAbsDiff(at("hook_resid_post"), a[`blocks.${l + 1}.hook_resid_pre`]), 0);
      }
    }
    tf.dispose(Object.values(a));
  });
}

Deno.test("gptNeoxForward() has no hook_resid_mid with parallel residual, and says why", () => {
  assert.equal(gptNeoxHookNames(PARALLEL).some((n) => n.endsWith("hook_resid_mid")), false);
  assert.throws(
    () => gptNeoxForward(PAR.weights, PAR.config, TOKENS, { capture: ["blocks.0.hook_resid_mid"] }),
    (e: unknown) =>
      e instanceof RangeError &&
      e.message.startsWith(
        'capture: unknown hook "blocks.0.hook_resid_mid" (parallel residual blocks have no stream between attention and MLP); expected one of hook_embed, blocks.{L}.{hook_resid_pre, ln1.hook_normalized, hook_attn_out, ln2.hook_normalized,',
      ),
  );
  assert.throws(
    () => gptNeoxForward(PAR.weights, PAR.config, TOKENS, { replace: { hook_pos_embed: (x) => x } }),
    /replace: unknown hook "hook_pos_embed"/,
  );
  assert.equal(gptNeoxHookDim(SEQUENTIAL, "blocks.1.hook_resid_mid"), 16);
});

Deno.test("gptNeoxForward() with stopAtLayer returns the same residual stream and no logits", () => {
  for (const model of [PAR, SEQ]) {
    const full = gptNeoxForward(model.weights, model.config, TOKENS, {
      capture: ["blocks.1.hook_resid_pre"],
    });
    const stopped = gptNeoxForward(model.weights, model.config, TOKENS, {
      capture: ["blocks.1.hook_resid_pre", "blocks.0.hook_mlp_out"],
      stopAtLayer: 1,
    });
    assert.equal(stopped.logits, undefined);
    assert.equal(
      maxAbsDiff(full.activations["blocks.1.hook_resid_pre"], stopped.activations["blocks.1.hook_resid_pre"]),
      0,
    );
    assert.throws(
      () =>
        gptNeoxForward(model.weights, model.config, TOKENS, {
          capture: ["blocks.1.mlp.hook_post"],
          stopAtLayer: 1,
        }),
      /capture: hook blocks\.1\.mlp\.hook_post is not reached with stopAtLayer 1/,
    );
  }
});

Deno.test("gptNeoxForward() replace: zeros change the logits; in a parallel block ln2 feeds only the MLP", () => {
  const hooks = ["blocks.0.hook_attn_out", "blocks.0.hook_mlp_out"];
  const base = gptNeoxForward(PAR.weights, PAR.config, TOKENS, { capture: hooks });
  const ablated = gptNeoxForward(PAR.weights, PAR.config, TOKENS, {
    replace: { "blocks.0.ln2.hook_normalized": (x) => tf.zerosLike(x) },
    capture: hooks,
  });
  assert.ok(maxAbsDiff(base.logits!, ablated.logits!) > 1e-3, "zeroing the MLP input changes the logits");
  // Attention reads ln1 only: unchanged.
  assert.equal(maxAbsDiff(base.activations[hooks[0]], ablated.activations[hooks[0]]), 0);
  // The MLP of a zero input is gelu(bIn)·Wout + bOut, the same at every position.
  const mlp = values(ablated.activations[hooks[1]]);
  for (let p = 1; p < 12; p++) assertClose(mlp.slice(16 * p, 16 * p + 16), mlp.slice(0, 16), 1e-6);
  const resid = gptNeoxForward(SEQ.weights, SEQ.config, TOKENS, {
    replace: { "blocks.1.hook_resid_mid": (x) => tf.zerosLike(x) },
  });
  assert.ok(maxAbsDiff(resid.logits!, gptNeoxForward(SEQ.weights, SEQ.config, TOKENS).logits!) > 1e-3);
});

Deno.test("gptNeoxForward() leaves no tensors behind but what it returns", () => {
  const weights = initGptNeoxWeights(PARALLEL, 1);
  const before = tf.memory().numTensors;
  const result = gptNeoxForward(weights, PARALLEL, TOKENS, { capture: ["blocks.1.ln2.hook_normalized"] });
  assert.equal(tf.memory().numTensors, before + 2);
  tf.dispose([result.logits!, ...Object.values(result.activations)]);
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("loadHfGptNeox() loads checkpoints without attention biases as zero biases", async () => {
  const raw = rawNeox(PARALLEL, 9, false);
  const model = await loadTiny(raw, hfConfigJson(PARALLEL, { attention_bias: false }));
  assert.deepEqual(values(model.weights.blocks[1].bQ), new Array(16).fill(0));
  const { logits } = gptNeoxForward(model.weights, model.config, TOKENS);
  const refs = TOKENS.map((row) => refNeox(raw, PARALLEL, row));
  assertClose(values(logits!), refs.flatMap((r) => r["logits"].flat()), 2e-5);
});

Deno.test("loadHfGptNeox() names the file and tensor that is missing or misshapen, and the unsupported field", async () => {
  await withFolder(async (dir) => {
    const file = `${dir}/model.safetensors`;
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(hfConfigJson(PARALLEL)));
    const { ["gpt_neox.layers.1.attention.query_key_value.weight"]: _, ...missing } = entries(RAW_PARALLEL);
    await Deno.writeFile(file, encodeSafetensors(missing));
    await assert.rejects(
      () => loadHfGptNeox(dir),
      (e: unknown) =>
        e instanceof RangeError &&
        e.message ===
          `${file}: tensor gpt_neox.layers.1.attention.query_key_value.weight expected with shape [48, 16], not found`,
    );
    // embed_out stored [in, out] by mistake
    const wrong = {
      ...entries(RAW_PARALLEL),
      "embed_out.weight": { dtype: "F32" as const, shape: [16, 6], data: new Float32Array(96) },
    };
    await Deno.writeFile(file, encodeSafetensors(wrong));
    await assert.rejects(
      () => loadHfGptNeox(dir),
      (e: unknown) =>
        e instanceof RangeError &&
        e.message === `${file}: tensor embed_out.weight expected shape [6, 16], received [16, 6]`,
    );
    await Deno.writeTextFile(
      `${dir}/config.json`,
      JSON.stringify({ ...hfConfigJson(PARALLEL), model_type: "gpt2" }),
    );
    await assert.rejects(
      () => loadHfGptNeox(dir),
      (e: unknown) =>
        e instanceof RangeError &&
        e.message === `${dir}/config.json: model_type expected "gpt_neox", received "gpt2"`,
    );
  });
  // ⌊8 · 0.125⌋ = 1 rotary dimension cannot be paired.
  assert.throws(
    () => hfGptNeoxConfig(hfConfigJson(PARALLEL, { rotary_pct: 0.125 }), "c.json"),
    /c\.json: rotary_pct expected an even rotary width ⌊8·0\.125⌋, received 1/,
  );
  assert.throws(
    () => hfGptNeoxConfig(hfConfigJson(PARALLEL, { rope_scaling: { type: "linear", factor: 2 } }), "c.json"),
    /c\.json: rope_scaling expected null/,
  );
  assert.throws(
    () => hfGptNeoxConfig(hfConfigJson(PARALLEL, { hidden_act: "relu" }), "c.json"),
    /c\.json: hidden_act expected "gelu", "gelu_new", "gelu_fast" or "gelu_pytorch_tanh", received "relu"/,
  );
  // Pythia-70m's configuration, and the newer spellings of the rotary fields.
  const pythia = hfGptNeoxConfig({
    model_type: "gpt_neox",
    hidden_size: 512,
    num_hidden_layers: 6,
    num_attention_heads: 8,
    intermediate_size: 2048,
    vocab_size: 50304,
    max_position_embeddings: 2048,
    rotary_pct: 0.25,
    rotary_emb_base: 10000,
    use_parallel_residual: true,
    hidden_act: "gelu",
    layer_norm_eps: 1e-5,
    tie_word_embeddings: false,
  });
  assert.deepEqual(
    [pythia.dHead, pythia.rotaryDims, pythia.ropeTheta, pythia.parallelResidual, pythia.activation],
    [64, 16, 10000, true, "gelu"],
  );
  const newer = hfGptNeoxConfig({
    ...hfConfigJson(PARALLEL),
    rotary_pct: undefined,
    rotary_emb_base: undefined,
    rope_parameters: { rope_type: "default", rope_theta: 500, partial_rotary_factor: 1 },
  });
  assert.deepEqual([newer.rotaryDims, newer.ropeTheta], [8, 500]);
});
