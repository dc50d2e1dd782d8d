import { assert, assertClose, tf, values } from "../_helpers.ts";
import {
  gelu,
  type Gpt2Config,
  gpt2Forward,
  gpt2HookDim,
  gpt2HookNames,
  initGpt2Weights,
  layerNorm,
} from "../../lib/models/gpt2.ts";
import { hfGpt2Config, loadHfGpt2 } from "../../lib/models/load/hf_gpt2.ts";
import { encodeSafetensors, type SafetensorsEntry } from "../../lib/io/safetensors.ts";

// ---------------------------------------------------------------------------
// A scalar reference, written from the GPT-2 equations with plain loops in
// float64. It reads the Hugging Face tensors as they are stored (Conv1D
// weights [in, out], c_attn = [q | k | v] columns, head h owning columns
// h·dHead..) and shares no code with lib/models/gpt2.ts.
// ---------------------------------------------------------------------------

type Raw = Record<string, { shape: number[]; data: Float32Array }>;

/** A deterministic pseudo-random stream in (−1, 1) (an LCG), so weights are arbitrary but fixed. */
function stream(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  };
}

/** HF-named tensors of a tiny GPT-2 with non-trivial gains and biases. */
function rawGpt2(c: Gpt2Config, seed: number, prefix = ""): Raw {
  const next = stream(seed);
  const raw: Raw = {};
  const put = (name: string, shape: number[], scale: number, offset = 0) => {
    const n = shape.reduce((a, b) => a * b, 1);
    raw[prefix + name] = { shape, data: Float32Array.from({ length: n }, () => offset + scale * next()) };
  };
  const d = c.dModel;
  put("wte.weight", [c.vocabSize, d], 1);
  put("wpe.weight", [c.maxSeq, d], 0.5);
  for (let l = 0; l < c.nLayers; l++) {
    const at = `h.${l}.`;
    put(`${at}ln_1.weight`, [d], 0.3, 1);
    put(`${at}ln_1.bias`, [d], 0.2);
    put(`${at}attn.c_attn.weight`, [d, 3 * d], 0.8);
    put(`${at}attn.c_attn.bias`, [3 * d], 0.3);
    put(`${at}attn.c_proj.weight`, [d, d], 0.6);
    put(`${at}attn.c_proj.bias`, [d], 0.2);
    put(`${at}ln_2.weight`, [d], 0.3, 1);
    put(`${at}ln_2.bias`, [d], 0.2);
    put(`${at}mlp.c_fc.weight`, [d, c.dMlp], 0.8);
    put(`${at}mlp.c_fc.bias`, [c.dMlp], 0.3);
    put(`${at}mlp.c_proj.weight`, [c.dMlp, d], 0.5);
    put(`${at}mlp.c_proj.bias`, [d], 0.2);
  }
  put("ln_f.weight", [d], 0.3, 1);
  put("ln_f.bias", [d], 0.2);
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

/** y = x · W + b with W stored [in, out] row-major. */
function refConv1d(x: Rows, w: { shape: number[]; data: Float32Array }, b: Float32Array): Rows {
  const [nIn, nOut] = w.shape;
  return x.map((row) => {
    const out: number[] = [];
    for (let j = 0; j < nOut; j++) {
      let s = b[j];
      for (let i = 0; i < nIn; i++) s += row[i] * w.data[i * nOut + j];
      out.push(s);
    }
    return out;
  });
}

const add = (a: Rows, b: Rows): Rows => a.map((row, i) => row.map((v, j) => v + b[i][j]));

function refGeluNew(v: number): number {
  return 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
}

/** Every hook of one sequence, `[seq][width]`, and the logits. */
function refGpt2(raw: Raw, c: Gpt2Config, tokens: number[], prefix = ""): Record<string, Rows> {
  const t = (name: string) => raw[prefix + name];
  const d = c.dModel;
  const out: Record<string, Rows> = {};
  const wte = t("wte.weight").data;
  const wpe = t("wpe.weight").data;
  out["hook_embed"] = tokens.map((id) => Array.from(wte.subarray(id * d, (id + 1) * d)));
  out["hook_pos_embed"] = tokens.map((_, p) => Array.from(wpe.subarray(p * d, (p + 1) * d)));
  let x = add(out["hook_embed"], out["hook_pos_embed"]);
  const n = tokens.length;
  for (let l = 0; l < c.nLayers; l++) {
    const at = `h.${l}.`;
    const hook = `blocks.${l}.`;
    out[`${hook}hook_resid_pre`] = x;
    const h1 = refLayerNorm(x, t(`${at}ln_1.weight`).data, t(`${at}ln_1.bias`).data, c.normEps);
    out[`${hook}ln1.hook_normalized`] = h1;
    const qkv = refConv1d(h1, t(`${at}attn.c_attn.weight`), t(`${at}attn.c_attn.bias`).data);
    const z: Rows = Array.from({ length: n }, () => new Array(d).fill(0));
    for (let head = 0; head < c.nHeads; head++) {
      const col = (kind: number, i: number) => kind * d + head * c.dHead + i; // q 0, k 1, v 2
      for (let p = 0; p < n; p++) {
        const scores: number[] = [];
        for (let s = 0; s <= p; s++) {
          let dot = 0;
          for (let i = 0; i < c.dHead; i++) dot += qkv[p][col(0, i)] * qkv[s][col(1, i)];
          scores.push(dot / Math.sqrt(c.dHead));
        }
        const top = Math.max(...scores);
        const e = scores.map((v) => Math.exp(v - top));
        const total = e.reduce((a, b) => a + b, 0);
        for (let i = 0; i < c.dHead; i++) {
          let mixed = 0;
          for (let s = 0; s <= p; s++) mixed += (e[s] / total) * qkv[s][col(2, i)];
          z[p][head * c.dHead + i] = mixed;
        }
      }
    }
    const attnOut = refConv1d(z, t(`${at}attn.c_proj.weight`), t(`${at}attn.c_proj.bias`).data);
    out[`${hook}hook_attn_out`] = attnOut;
    const mid = add(x, attnOut);
    out[`${hook}hook_resid_mid`] = mid;
    const h2 = refLayerNorm(mid, t(`${at}ln_2.weight`).data, t(`${at}ln_2.bias`).data, c.normEps);
    out[`${hook}ln2.hook_normalized`] = h2;
    const post = refConv1d(h2, t(`${at}mlp.c_fc.weight`), t(`${at}mlp.c_fc.bias`).data).map((r) =>
      r.map(refGeluNew)
    );
    out[`${hook}mlp.hook_post`] = post;
    const mlpOut = refConv1d(post, t(`${at}mlp.c_proj.weight`), t(`${at}mlp.c_proj.bias`).data);
    out[`${hook}hook_mlp_out`] = mlpOut;
    x = add(mid, mlpOut);
    out[`${hook}hook_resid_post`] = x;
  }
  const final = refLayerNorm(x, t("ln_f.weight").data, t("ln_f.bias").data, c.normEps);
  out["ln_final.hook_normalized"] = final;
  // Tied: logits = ln_f(x) · wteᵀ
  out["logits"] = final.map((row) =>
    Array.from({ length: c.vocabSize }, (_, v) => row.reduce((s, xv, j) => s + xv * wte[v * d + j], 0))
  );
  return out;
}

// ---------------------------------------------------------------------------

const CONFIG: Gpt2Config = {
  dModel: 4,
  nLayers: 2,
  nHeads: 2,
  dHead: 2,
  dMlp: 8,
  vocabSize: 6,
  maxSeq: 5,
  normEps: 1e-5,
  activation: "gelu_new",
  tiedEmbeddings: true,
};

const TOKENS = [[0, 3, 5, 1, 3], [2, 2, 4, 0, 5]];

function hfConfigJson(c: Gpt2Config, extra: Record<string, unknown> = {}) {
  return {
    model_type: "gpt2",
    n_embd: c.dModel,
    n_layer: c.nLayers,
    n_head: c.nHeads,
    n_inner: c.dMlp,
    n_positions: c.maxSeq,
    vocab_size: c.vocabSize,
    layer_norm_epsilon: c.normEps,
    activation_function: "gelu_new",
    ...extra,
  };
}

function entries(raw: Raw): Record<string, SafetensorsEntry> {
  return Object.fromEntries(
    Object.entries(raw).map(([name, t]) => [name, { dtype: "F32" as const, shape: t.shape, data: t.data }]),
  );
}

async function withFolder(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "saekit_gpt2_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Writes the tiny model as a Hugging Face folder and loads it. */
async function loadTiny(raw: Raw, configJson = hfConfigJson(CONFIG)) {
  let model: Awaited<ReturnType<typeof loadHfGpt2>> | undefined;
  await withFolder(async (dir) => {
    await Deno.writeFile(`${dir}/model.safetensors`, encodeSafetensors(entries(raw)));
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(configJson));
    model = await loadHfGpt2(dir);
  });
  return model!;
}

const RAW = rawGpt2(CONFIG, 11);
const TINY = await loadTiny(RAW);

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

Deno.test("gelu() and layerNorm() match values worked out by hand", () => {
  // gelu_new(x) = ½x(1 + tanh(0.7978846(x + 0.044715x³))):
  //   x = 1:  tanh(0.7978846 · 1.044715) = tanh(0.8335623) = 0.6823839 → 0.8411920
  //   x = −2: tanh(0.7978846 · −2.35772) = tanh(−1.8811888) = −0.9545977 → −0.0454023
  assertClose(values(gelu(tf.tensor1d([1, -2, 0]), "gelu_new")), [0.841192, -0.0454023, 0], 1e-6);
  // gelu(x) = x·Φ(x): Φ(1) = 0.8413447, Φ(−2) = 0.0227501 → −0.0455003
  assertClose(values(gelu(tf.tensor1d([1, -2, 0]), "gelu")), [0.8413447, -0.0455003, 0], 1e-6);
  // (2, 4, 6, 8): mean 5, var (9+1+1+9)/4 = 5, x̂ = (−3, −1, 1, 3)/√(5+ε) = (−1.341640, −0.447213, 0.447213, 1.341640)
  const y = layerNorm(
    tf.tensor2d([[2, 4, 6, 8]]),
    tf.tensor1d([1, 2, 1, 1]),
    tf.tensor1d([0, 0, 1, -1]),
    1e-5,
  );
  assertClose(values(y), [-1.341639, -0.894426, 1.447213, 0.341639], 1e-5);
});

Deno.test("gpt2Forward() on a Hugging Face Conv1D folder matches the scalar reference at every hook", () => {
  const names = gpt2HookNames(CONFIG);
  assert.equal(names.length, 2 + 8 * 2 + 1);
  const { logits, activations } = gpt2Forward(TINY.weights, TINY.config, TOKENS, { capture: names });
  assert.deepEqual(logits!.shape, [2, 5, 6]);
  const refs = TOKENS.map((row) => refGpt2(RAW, CONFIG, row));
  for (const name of [...names, "logits"]) {
    const got = name === "logits" ? logits! : activations[name];
    const width = gpt2HookDim(CONFIG, name === "logits" ? "hook_embed" : name);
    assert.deepEqual(got.shape, [2, 5, name === "logits" ? 6 : width], name);
    assertClose(values(got), refs.flatMap((r) => r[name].flat()), 2e-5, name);
  }
  tf.dispose([logits!, ...Object.values(activations)]);
});

Deno.test("gpt2 hook points satisfy the residual identities", () => {
  const names = gpt2HookNames(CONFIG);
  const { activations: a } = gpt2Forward(TINY.weights, TINY.config, TOKENS, { capture: names });
  assertClose(
    maxAbsDiff(tf.add(a["hook_embed"], a["hook_pos_embed"]), a["blocks.0.hook_resid_pre"]),
    0,
    1e-6,
  );
  for (let l = 0; l < CONFIG.nLayers; l++) {
    const at = (p: string) => a[`blocks.${l}.${p}`];
    assertClose(maxAbsDiff(at("hook_resid_mid"), tf.add(at("hook_resid_pre"), at("hook_attn_out"))), 0, 1e-6);
    assertClose(maxAbsDiff(at("hook_resid_post"), tf.add(at("hook_resid_mid"), at("hook_mlp_out"))), 0, 1e-6);
    if (l + 1 < CONFIG.nLayers) {
      assert.equal(maxAbsDiff(at("hook_resid_post"), a[`blocks.${l + 1}.hook_resid_pre`]), 0);
    }
  }
  tf.dispose(Object.values(a));
});

Deno.test("gpt2Forward() with stopAtLayer returns the same residual stream and no logits", () => {
  const full = gpt2Forward(TINY.weights, TINY.config, TOKENS, { capture: ["blocks.1.hook_resid_pre"] });
  const live = tf.memory().numTensors;
  const stopped = gpt2Forward(TINY.weights, TINY.config, TOKENS, {
    capture: ["blocks.1.hook_resid_pre", "blocks.0.mlp.hook_post", "hook_pos_embed"],
    stopAtLayer: 1,
  });
  assert.equal(stopped.logits, undefined);
  assert.equal(tf.memory().numTensors, live + 3, "only the three captures stay alive");
  assert.equal(
    maxAbsDiff(full.activations["blocks.1.hook_resid_pre"], stopped.activations["blocks.1.hook_resid_pre"]),
    0,
  );
  assert.throws(
    () =>
      gpt2Forward(TINY.weights, TINY.config, TOKENS, { capture: ["blocks.1.hook_attn_out"], stopAtLayer: 1 }),
    /capture: hook blocks\.1\.hook_attn_out is not reached with stopAtLayer 1/,
  );
  assert.throws(
    () =>
      gpt2Forward(TINY.weights, TINY.config, TOKENS, {
        capture: ["ln_final.hook_normalized"],
        stopAtLayer: 2,
      }),
    /is not reached with stopAtLayer 2/,
  );
  // stopAtLayer 0 reaches only the embeddings and blocks.0.hook_resid_pre.
  const zero = gpt2Forward(TINY.weights, TINY.config, TOKENS, {
    capture: ["blocks.0.hook_resid_pre"],
    stopAtLayer: 0,
  });
  const sum = gpt2Forward(TINY.weights, TINY.config, TOKENS, {
    capture: ["hook_embed", "hook_pos_embed"],
    stopAtLayer: 0,
  });
  assertClose(
    maxAbsDiff(
      zero.activations["blocks.0.hook_resid_pre"],
      tf.add(sum.activations["hook_embed"], sum.activations["hook_pos_embed"]),
    ),
    0,
    1e-7,
  );
});

Deno.test("gpt2Forward() replace: zeros change the logits, identity does not, and replaced values flow on", () => {
  const base = gpt2Forward(TINY.weights, TINY.config, TOKENS).logits!;
  const same = gpt2Forward(TINY.weights, TINY.config, TOKENS, {
    replace: { "blocks.0.hook_attn_out": (x) => x },
  });
  assert.equal(maxAbsDiff(base, same.logits!), 0);
  const ablated = gpt2Forward(TINY.weights, TINY.config, TOKENS, {
    replace: { "blocks.0.hook_attn_out": (x) => tf.zerosLike(x) },
    capture: ["blocks.0.hook_attn_out", "blocks.0.hook_resid_pre", "blocks.0.hook_resid_mid"],
  });
  assert.ok(maxAbsDiff(base, ablated.logits!) > 1e-3, "zero-ablating attention changes the logits");
  const a = ablated.activations;
  assert.equal(
    values(a["blocks.0.hook_attn_out"]).every((v) => v === 0),
    true,
    "capture records the replacement",
  );
  assert.equal(maxAbsDiff(a["blocks.0.hook_resid_mid"], a["blocks.0.hook_resid_pre"]), 0);
  // Zero positional embeddings: position no longer matters, so a repeated token gives identical rows at positions 0 and 1
  // of block 0's attention input.
  const noPos = gpt2Forward(TINY.weights, TINY.config, [[2, 2]], {
    replace: { hook_pos_embed: (x) => tf.zerosLike(x) },
    capture: ["blocks.0.ln1.hook_normalized"],
  }).activations["blocks.0.ln1.hook_normalized"];
  const rows = values(noPos);
  assertClose(rows.slice(0, 4), rows.slice(4), 0);
  assert.throws(
    () =>
      gpt2Forward(TINY.weights, TINY.config, TOKENS, {
        replace: { "blocks.0.mlp.hook_post": (x) => tf.slice(x, [0, 0, 0], [2, 5, 4]) },
      }),
    /replace\["blocks\.0\.mlp\.hook_post"\]: expected a tensor of shape \[2, 5, 8\], received shape \[2, 5, 4\]/,
  );
});

Deno.test("gpt2Forward() rejects unknown hooks, listing the valid ones, and bad tokens", () => {
  for (
    const name of ["blocks.2.hook_resid_pre", "blocks.0.mlp.hook_pre", "blocks.00.hook_resid_pre", "embed"]
  ) {
    assert.throws(
      () => gpt2Forward(TINY.weights, TINY.config, TOKENS, { capture: [name] }),
      (e: unknown) =>
        e instanceof RangeError &&
        e.message.startsWith(
          `capture: unknown hook ${JSON.stringify(name)}; expected one of hook_embed, hook_pos_embed`,
        ),
    );
  }
  assert.throws(() => gpt2HookDim(CONFIG, "blocks.0.hook_resid_mid_"), RangeError);
  assert.throws(
    () => gpt2Forward(TINY.weights, TINY.config, [[0, 1, 2, 3, 4, 5]]),
    /tokens: expected 1 to 5 positions \(maxSeq\), received 6/,
  );
  assert.throws(
    () => gpt2Forward(TINY.weights, TINY.config, [[0, 6]]),
    /tokens\[0\]\[1\]: expected an integer in \[0, 5\], received 6/,
  );
});

Deno.test("gpt2Forward() leaves no tensors behind but what it returns", () => {
  const weights = initGpt2Weights(CONFIG, 2);
  const before = tf.memory().numTensors;
  const result = gpt2Forward(weights, CONFIG, TOKENS, { capture: ["blocks.1.mlp.hook_post"] });
  assert.equal(tf.memory().numTensors, before + 2);
  tf.dispose([result.logits!, result.activations["blocks.1.mlp.hook_post"]]);
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("loadHfGpt2() reads the transformer. prefix, sharded files, an untied lm_head and ignores U8 mask buffers", async () => {
  const config: Gpt2Config = { ...CONFIG, tiedEmbeddings: false };
  const raw = rawGpt2(config, 5, "transformer.");
  // lm_head is an nn.Linear: [vocab, dModel]. Make it differ from wte.
  const next = stream(99);
  const lmHead = Float32Array.from({ length: 6 * 4 }, () => next());
  raw["lm_head.weight"] = { shape: [6, 4], data: lmHead };
  await withFolder(async (dir) => {
    const names = Object.keys(raw);
    const weightMap: Record<string, string> = {};
    for (const [i, shard] of [names.slice(0, 10), names.slice(10)].entries()) {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      await Deno.writeFile(
        `${dir}/${file}`,
        encodeSafetensors(Object.fromEntries(shard.map((n) => [n, entries(raw)[n]]))),
      );
      for (const n of shard) weightMap[n] = file;
    }
    // An extra shard holding only an old-style causal-mask buffer in U8, which decodeSafetensors would reject.
    const header = JSON.stringify({
      "transformer.h.0.attn.bias": { dtype: "U8", shape: [1, 1, 5, 5], data_offsets: [0, 25] },
    });
    const padded = header + " ".repeat((8 - (header.length % 8)) % 8);
    const bytes = new Uint8Array(8 + padded.length + 25);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(padded.length), true);
    bytes.set(new TextEncoder().encode(padded), 8);
    await Deno.writeFile(`${dir}/mask.safetensors`, bytes);
    weightMap["transformer.h.0.attn.bias"] = "mask.safetensors";
    await Deno.writeTextFile(
      `${dir}/model.safetensors.index.json`,
      JSON.stringify({ weight_map: weightMap }),
    );
    await Deno.writeTextFile(
      `${dir}/config.json`,
      JSON.stringify(hfConfigJson(config, { tie_word_embeddings: false })),
    );
    const model = await loadHfGpt2(dir);
    assert.equal(model.config.tiedEmbeddings, false);
    const { logits, activations } = gpt2Forward(model.weights, model.config, TOKENS, {
      capture: ["ln_final.hook_normalized"],
    });
    // logits = ln_f(x) · lm_headᵀ, with ln_f(x) checked against the reference first.
    const refs = TOKENS.map((row) => refGpt2(raw, config, row, "transformer."));
    const finals = refs.map((r) => r["ln_final.hook_normalized"]);
    assertClose(values(activations["ln_final.hook_normalized"]), finals.flat(2), 2e-5);
    const expected = finals.flatMap((rows) =>
      rows.flatMap((row) =>
        Array.from({ length: 6 }, (_, v) => row.reduce((s, x, j) => s + x * lmHead[v * 4 + j], 0))
      )
    );
    assertClose(values(logits!), expected, 2e-5);
  });
});

Deno.test("loadHfGpt2() reads F16 weights", async () => {
  // Every weight a multiple of 1/8 in [−1, 1]: exact in F16. F16 of k/8: sign, exponent, mantissa by hand below.
  const toF16 = (v: number): number => {
    if (v === 0) return 0;
    const sign = v < 0 ? 0x8000 : 0;
    const a = Math.abs(v);
    const e = Math.floor(Math.log2(a));
    const mantissa = Math.round((a / 2 ** e - 1) * 1024);
    return sign | ((e + 15) << 10) | mantissa;
  };
  const raw = rawGpt2(CONFIG, 21);
  for (const t of Object.values(raw)) t.data = t.data.map((v) => Math.round(v * 8) / 8);
  await withFolder(async (dir) => {
    const header: Record<string, unknown> = {};
    const chunks: Uint8Array[] = [];
    let offset = 0;
    for (const [name, t] of Object.entries(raw)) {
      const halves = new Uint16Array(t.data.length);
      t.data.forEach((v, i) => (halves[i] = toF16(v)));
      header[name] = { dtype: "F16", shape: t.shape, data_offsets: [offset, offset + halves.byteLength] };
      chunks.push(new Uint8Array(halves.buffer));
      offset += halves.byteLength;
    }
    const json = JSON.stringify(header);
    const padded = json + " ".repeat((8 - (json.length % 8)) % 8);
    const bytes = new Uint8Array(8 + padded.length + offset);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(padded.length), true);
    bytes.set(new TextEncoder().encode(padded), 8);
    let at = 8 + padded.length;
    for (const chunk of chunks) {
      bytes.set(chunk, at);
      at += chunk.length;
    }
    await Deno.writeFile(`${dir}/model.safetensors`, bytes);
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(hfConfigJson(CONFIG)));
    const model = await loadHfGpt2(dir);
    const { logits } = gpt2Forward(model.weights, model.config, TOKENS);
    const refs = TOKENS.map((row) => refGpt2(raw, CONFIG, row));
    assertClose(values(logits!), refs.flatMap((r) => r["logits"].flat()), 2e-5);
  });
});

Deno.test("loadHfGpt2() names the file and tensor that is missing or misshapen, and the unsupported field", async () => {
  await withFolder(async (dir) => {
    const file = `${dir}/model.safetensors`;
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(hfConfigJson(CONFIG)));
    const { ["h.1.mlp.c_fc.bias"]: _, ...missing } = entries(RAW);
    await Deno.writeFile(file, encodeSafetensors(missing));
    await assert.rejects(
      () => loadHfGpt2(dir),
      (e: unknown) =>
        e instanceof RangeError &&
        e.message === `${file}: tensor h.1.mlp.c_fc.bias expected with shape [8], not found`,
    );
    const wrong = {
      ...entries(RAW),
      "h.0.attn.c_attn.weight": { dtype: "F32" as const, shape: [12, 4], data: new Float32Array(48) },
    };
    await Deno.writeFile(file, encodeSafetensors(wrong));
    await assert.rejects(
      () => loadHfGpt2(dir),
      (e: unknown) =>
        e instanceof RangeError &&
        e.message === `${file}: tensor h.0.attn.c_attn.weight expected shape [4, 12], received [12, 4]`,
    );
    await Deno.writeTextFile(
      `${dir}/config.json`,
      JSON.stringify({ ...hfConfigJson(CONFIG), model_type: "gpt_neox" }),
    );
    await assert.rejects(
      () => loadHfGpt2(dir),
      (e: unknown) =>
        e instanceof RangeError &&
        e.message === `${dir}/config.json: model_type expected "gpt2", received "gpt_neox"`,
    );
    await Deno.remove(file);
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(hfConfigJson(CONFIG)));
    await assert.rejects(
      () => loadHfGpt2(dir),
      /expected model\.safetensors or model\.safetensors\.index\.json, found neither/,
    );
  });
  assert.throws(
    () => hfGpt2Config({ ...hfConfigJson(CONFIG), activation_function: "relu" }, "c.json"),
    /c\.json: activation_function expected "gelu", "gelu_new", "gelu_fast" or "gelu_pytorch_tanh", received "relu"/,
  );
  assert.throws(
    () => hfGpt2Config({ ...hfConfigJson(CONFIG), scale_attn_by_inverse_layer_idx: true }, "c.json"),
    /c\.json: scale_attn_by_inverse_layer_idx expected false/,
  );
  assert.throws(
    () => hfGpt2Config({ ...hfConfigJson(CONFIG), n_head: 3 }, "c.json"),
    /n_head expected a divisor of n_embd \(4\)/,
  );
  // GPT-2 small's configuration: n_inner null means 4·n_embd.
  const small = hfGpt2Config({
    model_type: "gpt2",
    n_embd: 768,
    n_layer: 12,
    n_head: 12,
    n_inner: null,
    vocab_size: 50257,
  });
  assert.deepEqual(
    [small.dHead, small.dMlp, small.maxSeq, small.normEps, small.activation, small.tiedEmbeddings],
    [64, 3072, 1024, 1e-5, "gelu_new", true],
  );
});
