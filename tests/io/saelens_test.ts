/**
 * SAELens import and export. The fixtures are written here by hand from SAELens's documented layout
 * (`sae_lens/saes/*.py`: `cfg.json` from `SAEConfig.to_dict()`, `sae_weights.safetensors` from the
 * module's state dict), byte by byte, not with saekit's exporter or encoder; the export is then checked
 * against the same names and shapes.
 */
import { assert, assertClose, tf, values } from "../_helpers.ts";
import { importSaelens, saelensComponent } from "../../lib/io/saelens.ts";
import { exportSaes, hookLayer, saelensMetadataOf } from "../../lib/io/export.ts";
import { forward } from "../../lib/sae/forward.ts";
import { parseConfig } from "../../lib/config.ts";
import { toySource } from "../../lib/data/toy.ts";
import { train } from "../../lib/run/runner.ts";
import { disposeAll } from "../../lib/run/dispose.ts";
import { foldedParams } from "../../lib/train/pipeline.ts";
import type { SaeParams } from "../../lib/sae/params.ts";
import { indexSafetensors } from "../../lib/models/load/hf_checkpoint.ts";

type RawTensor = { dtype: "F32" | "BF16"; shape: number[]; values: number[] };

/**
 * safetensors bytes as the format's documentation describes them (u64 little-endian header length,
 * the JSON header with `data_offsets` relative to the data, the little-endian data), written here
 * independently of lib/io/safetensors.ts; tensors in the order given, as torch writes them unsorted.
 */
function safetensorsBytes(tensors: Record<string, RawTensor>): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, { dtype, shape, values }] of Object.entries(tensors)) {
    let bytes: Uint8Array;
    if (dtype === "F32") {
      bytes = new Uint8Array(Float32Array.from(values).buffer);
    } else {
      // bfloat16: the top 16 bits of the float32 (the values used here are exact in bfloat16).
      const wide = new Uint32Array(Float32Array.from(values).buffer);
      bytes = new Uint8Array(2 * wide.length);
      wide.forEach((w, i) => {
        bytes[2 * i] = (w >>> 16) & 0xff;
        bytes[2 * i + 1] = w >>> 24;
      });
    }
    header[name] = { dtype, shape, data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/** A tensor's names, dtypes and shapes from a safetensors header, read here by hand. */
function headerOf(bytes: Uint8Array): Record<string, { dtype: string; shape: number[] }> {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
  delete header.__metadata__;
  return Object.fromEntries(
    Object.entries(header as Record<string, { dtype: string; shape: number[] }>).map((
      [name, { dtype, shape }],
    ) => [name, { dtype, shape }]),
  );
}

async function writeSae(dir: string, cfg: unknown, tensors: Record<string, RawTensor>): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/cfg.json`, JSON.stringify(cfg));
  await Deno.writeFile(`${dir}/sae_weights.safetensors`, safetensorsBytes(tensors));
}

const f32 = (shape: number[], values: number[]): RawTensor => ({ dtype: "F32", shape, values });

// d_in = 2, d_sae = 3. With x = [1.5, 0.5]: x − b_dec = [1, 1]; pre = [1, 1, 0] + b_enc = [1, 1, −0.5];
// ReLU → f = [1, 1, 0]; x̂ = f·W_dec + b_dec = [1, 0] + [0, 1] + [0.5, −0.5] = [1.5, 0.5].
const W_ENC = [1, 0, -1, 0, 1, 1]; // [[1, 0, −1], [0, 1, 1]]
const B_ENC = [0, 0, -0.5];
const W_DEC = [1, 0, 0, 1, 1, 1]; // rows [1, 0], [0, 1], [1, 1]
const B_DEC = [0.5, -0.5];

/** A SAELens 6 `cfg.json`, fields as `SAEConfig.to_dict()` writes them. */
function v6Cfg(architecture: string, hookName: string, extra: Record<string, unknown> = {}) {
  return {
    d_in: 2,
    d_sae: 3,
    dtype: "float32",
    device: "cpu",
    apply_b_dec_to_input: true,
    normalize_activations: "none",
    reshape_activations: "none",
    metadata: {
      sae_lens_version: "6.5.1",
      sae_lens_training_version: "6.5.1",
      model_name: "gpt2",
      hook_name: hookName,
      hook_head_index: null,
      prepend_bos: true,
      context_size: 128,
      dataset_path: "monology/pile-uncopyrighted",
    },
    architecture,
    ...extra,
  };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "saekit_saelens_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function dispose(value: unknown): void {
  tf.dispose(value as tf.TensorContainer);
}

Deno.test("importSaelens() reads a hand-written SAELens 6 standard SAE and forward() reconstructs as SAELens would", async () => {
  await withDir(async (dir) => {
    await writeSae(dir, v6Cfg("standard", "blocks.8.hook_resid_pre"), {
      W_enc: f32([2, 3], W_ENC),
      b_enc: f32([3], B_ENC),
      W_dec: f32([3, 2], W_DEC),
      b_dec: f32([2], B_DEC),
    });
    const saes = await importSaelens(dir);
    assert.equal(saes.arch, "relu");
    assert.equal(saes.tiedBias, true);
    assert.deepEqual(saes.hookNames, ["blocks.8.hook_resid_pre"]);
    assert.deepEqual(saes.componentNames, ["blocks.8.hook_resid_pre"]);
    assert.deepEqual(saes.params.wEnc.shape, [1, 2, 3]);
    assert.deepEqual(values(saes.params.wEnc), W_ENC);
    assert.deepEqual(values(saes.params.wDec), W_DEC);
    const x = tf.tensor3d([[[1.5, 0.5]]]);
    const out = forward(saes.params, x, saes.activation, { tiedBias: saes.tiedBias });
    assertClose(values(out.f), [1, 1, 0]);
    assertClose(values(out.xHat), [1.5, 0.5]);
    dispose([x, out, saes.params]);
  });
});

Deno.test("importSaelens() reads topk, jumprelu (BF16), gated and transcoder SAEs in SAELens's layout", async () => {
  await withDir(async (dir) => {
    const base = {
      W_enc: f32([2, 3], W_ENC),
      b_enc: f32([3], B_ENC),
      W_dec: f32([3, 2], W_DEC),
      b_dec: f32([2], B_DEC),
    };
    await writeSae(`${dir}/topk`, v6Cfg("topk", "blocks.0.hook_resid_post", { k: 1 }), base);
    await writeSae(`${dir}/jumprelu`, v6Cfg("jumprelu", "blocks.1.hook_resid_post"), {
      W_enc: { dtype: "BF16", shape: [2, 3], values: W_ENC },
      b_enc: { dtype: "BF16", shape: [3], values: B_ENC },
      W_dec: { dtype: "BF16", shape: [3, 2], values: W_DEC },
      b_dec: { dtype: "BF16", shape: [2], values: B_DEC },
      threshold: { dtype: "BF16", shape: [3], values: [0.5, 1.5, -0.25] },
    });
    await writeSae(`${dir}/gated`, v6Cfg("gated", "blocks.2.hook_resid_post"), {
      W_enc: f32([2, 3], W_ENC),
      b_gate: f32([3], B_ENC),
      r_mag: f32([3], [0, Math.log(2), 0]),
      b_mag: f32([3], [0, 0, 0]),
      W_dec: f32([3, 2], W_DEC),
      b_dec: f32([2], B_DEC),
    });
    // A SAELens transcoder: d_out = 1, the input not centred by b_dec.
    await writeSae(`${dir}/transcoder`, {
      ...v6Cfg("transcoder", "blocks.0.ln2.hook_normalized"),
      apply_b_dec_to_input: false,
      d_out: 1,
      hook_name_out: "blocks.0.hook_mlp_out",
      hook_layer_out: 0,
      hook_head_index_out: null,
    }, {
      W_enc: f32([2, 3], W_ENC),
      b_enc: f32([3], B_ENC),
      W_dec: f32([3, 1], [1, 2, 3]),
      b_dec: f32([1], [0]),
    });

    const x = tf.tensor3d([[[1.5, 0.5]]]); // x − b_dec = [1, 1]; pre = [1, 1, −0.5]
    const topk = await importSaelens(`${dir}/topk`);
    assert.deepEqual(topk.activation, { kind: "topk", k: 1 });
    // ties at the k-th value keep every tied feature: both 1s
    const t = forward(topk.params, x, topk.activation);
    assertClose(values(t.f), [1, 1, 0]);

    const jump = await importSaelens(`${dir}/jumprelu`);
    assert.equal(jump.arch, "jumprelu");
    // θ = [0.5, 1.5, −0.25 → 0]: pre 1 > 0.5 kept, 1 ≤ 1.5 dropped, −0.5 ≤ 0 dropped (SAELens: ReLU · [pre > θ])
    assertClose(values(jump.params.threshold!), [0.5, 1.5, 0]);
    const j = forward(jump.params, x, jump.activation);
    assertClose(values(j.f), [1, 0, 0]);

    const gated = await importSaelens(`${dir}/gated`);
    assert.equal(gated.arch, "gated");
    // gate: pre [1, 1, −0.5] > 0 → [1, 1, 0]; magnitude: (x̄·W_enc)·exp(r_mag) + b_mag = [1, 2, 0]
    const g = forward(gated.params, x, gated.activation);
    assertClose(values(g.f), [1, 2, 0]);

    const tc = await importSaelens(`${dir}/transcoder`);
    assert.equal(tc.tiedBias, false);
    assert.deepEqual(tc.params.wDec.shape, [1, 3, 1]);
    // untied: pre = x·W_enc + b_enc = [1.5, 0.5, −1.5] → f = [1.5, 0.5, 0]; ŷ = 1.5 + 1 = 2.5
    const tx = forward(tc.params, x, tc.activation, { tiedBias: tc.tiedBias });
    assertClose(values(tx.xHat), [2.5]);
    dispose([x, t, j, g, tx, topk.params, jump.params, gated.params, tc.params]);
  });
});

Deno.test("importSaelens() reads SAELens 5 (pre-6.0) configurations: top-level hook fields, topk as an activation function", async () => {
  await withDir(async (dir) => {
    const v5 = {
      architecture: "standard",
      d_in: 2,
      d_sae: 3,
      activation_fn_str: "topk",
      activation_fn_kwargs: { k: 2 },
      apply_b_dec_to_input: true,
      finetuning_scaling_factor: false,
      context_size: 128,
      model_name: "gpt2-small",
      hook_point: "blocks.8.hook_resid_pre",
      hook_point_layer: 8,
      hook_point_head_index: null,
      prepend_bos: true,
      dataset_path: "Skylion007/openwebtext",
      normalize_activations: false,
      dtype: "float32",
      device: "cpu",
      sae_lens_training_version: "3.5.0",
    };
    await writeSae(dir, v5, {
      W_enc: f32([2, 3], W_ENC),
      b_enc: f32([3], B_ENC),
      W_dec: f32([3, 2], W_DEC),
      b_dec: f32([2], B_DEC),
      scaling_factor: f32([3], [1, 1, 1]),
    });
    const saes = await importSaelens(dir);
    assert.deepEqual(saes.activation, { kind: "topk", k: 2 });
    assert.deepEqual(saes.hookNames, ["blocks.8.hook_resid_pre"]);
    dispose(saes.params);
  });
});

Deno.test("importSaelens() folds rescale_acts_by_decoder_norm of a TopK SAE into the weights", async () => {
  await withDir(async (dir) => {
    // Decoder rows of norm 2, 1, 4: SAELens encodes TopK(pre·n) and decodes (f/n)·W_dec.
    await writeSae(dir, v6Cfg("topk", "h", { k: 1, rescale_acts_by_decoder_norm: true }), {
      W_enc: f32([2, 3], W_ENC),
      b_enc: f32([3], B_ENC),
      W_dec: f32([3, 2], [2, 0, 0, 1, 0, 4]),
      b_dec: f32([2], B_DEC),
    });
    const saes = await importSaelens(dir);
    // pre = [1, 1, −0.5] · n = [2, 1, −2]: TopK keeps feature 0 (2); x̂ = (2/2)·[2, 0] + b_dec = [2.5, −0.5]
    const x = tf.tensor3d([[[1.5, 0.5]]]);
    const out = forward(saes.params, x, saes.activation);
    assertClose(values(out.f), [2, 0, 0]);
    assertClose(values(out.xHat), [2.5, -0.5]);
    assertClose(values(saes.params.wDec), [1, 0, 0, 1, 0, 1]);
    dispose([x, out, saes.params]);
  });
});

Deno.test("importSaelens() names the file, field, expected and received value when something does not fit", async () => {
  await withDir(async (dir) => {
    const tensors = {
      W_enc: f32([2, 3], W_ENC),
      b_enc: f32([3], B_ENC),
      W_dec: f32([3, 2], W_DEC),
      b_dec: f32([2], B_DEC),
    };
    await assert.rejects(
      () => importSaelens(`${dir}/none`),
      (e: unknown) => e instanceof Error && e.message === `${dir}/none: expected a folder of SAEs, not found`,
    );
    await Deno.mkdir(`${dir}/empty`);
    await assert.rejects(
      () => importSaelens(`${dir}/empty`),
      (e: unknown) =>
        e instanceof Error &&
        e.message ===
          `${dir}/empty: expected cfg.json and sae_weights.safetensors, in the folder or in its subfolders (one SAE each), found none`,
    );
    await Deno.mkdir(`${dir}/noweights`);
    await Deno.writeTextFile(`${dir}/noweights/cfg.json`, "{}");
    await assert.rejects(
      () => importSaelens(`${dir}/noweights`),
      (e: unknown) =>
        e instanceof Error &&
        e.message === `${dir}/noweights: expected sae_weights.safetensors beside cfg.json, not found`,
    );
    await writeSae(`${dir}/crosscoder`, v6Cfg("crosscoder", "h"), tensors);
    await assert.rejects(
      () => importSaelens(`${dir}/crosscoder`),
      (e: unknown) =>
        e instanceof TypeError &&
        e.message ===
          `${dir}/crosscoder/cfg.json: architecture expected one of "standard", "topk", "jumprelu", "gated", "transcoder", "jumprelu_transcoder", received "crosscoder"`,
    );
    await writeSae(`${dir}/shape`, v6Cfg("standard", "h"), { ...tensors, W_dec: f32([2, 3], W_DEC) });
    await assert.rejects(
      () => importSaelens(`${dir}/shape`),
      (e: unknown) =>
        e instanceof RangeError &&
        e.message ===
          `${dir}/shape/sae_weights.safetensors: tensor W_dec expected shape [3, 2], received [2, 3]`,
    );
    await writeSae(`${dir}/nothreshold`, v6Cfg("jumprelu", "h"), tensors);
    await assert.rejects(
      () => importSaelens(`${dir}/nothreshold`),
      /nothreshold\/sae_weights\.safetensors: tensor threshold expected with shape \[3\], not found/,
    );
    await writeSae(
      `${dir}/norm`,
      { ...v6Cfg("standard", "h"), normalize_activations: "layer_norm" },
      tensors,
    );
    await assert.rejects(
      () => importSaelens(`${dir}/norm`),
      /norm\/cfg\.json: normalize_activations expected "none" \(any scale folded into the weights\), received "layer_norm"/,
    );
    await writeSae(`${dir}/nok`, v6Cfg("topk", "h"), tensors);
    await assert.rejects(
      () => importSaelens(`${dir}/nok`),
      /nok\/cfg\.json: k expected an integer in \[1, 3\] \(d_sae\), received undefined/,
    );
    await writeSae(`${dir}/mixed/a`, v6Cfg("standard", "a"), tensors);
    await writeSae(`${dir}/mixed/b`, v6Cfg("topk", "b", { k: 1 }), tensors);
    await assert.rejects(
      () => importSaelens(`${dir}/mixed`),
      (e: unknown) =>
        e instanceof RangeError &&
        e.message ===
          `${dir}/mixed/b: arch expected "relu" (as in ${dir}/mixed/a, read as components of one set), received "topk"`,
    );
  });
  assert.throws(
    () => saelensComponent({ d_in: 0, d_sae: 3 }, {}, "x"),
    (e: unknown) =>
      e instanceof TypeError && e.message === "x/cfg.json: d_in expected a positive integer, received 0",
  );
});

// What SAELens's loaders read from cfg.json: SAELens 6 `SAEConfig` fields (plus `k` for TopK and the
// `_out` fields for transcoders) and its `metadata`; SAELens 5's required `SAEConfig` fields, which
// SAELens 6 still reads when `metadata.sae_lens_version` is absent.
const V6_FIELDS = [
  "architecture",
  "d_in",
  "d_sae",
  "dtype",
  "device",
  "apply_b_dec_to_input",
  "normalize_activations",
  "reshape_activations",
  "metadata",
];
const V6_METADATA = [
  "model_name",
  "hook_name",
  "hook_head_index",
  "prepend_bos",
  "context_size",
  "dataset_path",
];
const V5_FIELDS = [
  "architecture",
  "d_in",
  "d_sae",
  "activation_fn_str",
  "apply_b_dec_to_input",
  "finetuning_scaling_factor",
  "context_size",
  "model_name",
  "hook_name",
  "hook_layer",
  "hook_head_index",
  "prepend_bos",
  "dataset_path",
  "dataset_trust_remote_code",
  "normalize_activations",
  "dtype",
  "device",
  "sae_lens_training_version",
];

/** SAELens's tensor names and shapes per architecture, for d_in = 8 and d_sae = 16. */
const EXPECTED_TENSORS: Record<string, Record<string, number[]>> = {
  standard: { W_enc: [8, 16], b_enc: [16], W_dec: [16, 8], b_dec: [8] },
  topk: { W_enc: [8, 16], b_enc: [16], W_dec: [16, 8], b_dec: [8] },
  jumprelu: { W_enc: [8, 16], b_enc: [16], W_dec: [16, 8], b_dec: [8], threshold: [16] },
  gated: { W_enc: [8, 16], b_gate: [16], r_mag: [16], b_mag: [16], W_dec: [16, 8], b_dec: [8] },
};

async function trainToy(arch: string, out: string) {
  const config = parseConfig({
    dIn: 8,
    expansionFactor: 2,
    nComponents: 2,
    componentNames: ["toy.b", "toy.a"],
    arch,
    k: 3,
    batchSize: 32,
    storeSize: 64,
    steps: 3,
    logEvery: 3,
    maxResamples: 0,
    normalizeActivations: "expected-norm",
    initSample: 64,
    backend: "cpu",
  });
  const source = toySource({ nComponents: 2, dIn: 8, nFeatures: 12, meanActive: 2, chunkRows: 64, seed: 3 });
  return await train({ config, source, out });
}

Deno.test("train → final/ → importSaelens() gives the run's folded weights exactly, in SAELens's names, shapes and fields", async () => {
  for (
    const [arch, architecture] of [["relu", "standard"], ["topk", "topk"], ["batchtopk", "jumprelu"], [
      "gated",
      "gated",
    ]]
  ) {
    await withDir(async (out) => {
      const { state } = await trainToy(arch, out);
      const folded = foldedParams(state);
      const expected = EXPECTED_TENSORS[architecture];
      for (const [k, name] of ["toy.b", "toy.a"].entries()) {
        const bytes = await Deno.readFile(`${out}/final/${name}/sae_weights.safetensors`);
        const header = headerOf(bytes);
        assert.deepEqual(
          Object.keys(header).sort(),
          Object.keys(expected).sort(),
          `${arch}: tensor names`,
        );
        for (const [tensor, shape] of Object.entries(expected)) {
          assert.deepEqual(header[tensor], { dtype: "F32", shape }, `${arch}: ${tensor}`);
        }
        const cfg = JSON.parse(await Deno.readTextFile(`${out}/final/${name}/cfg.json`));
        for (const field of [...V6_FIELDS, ...V5_FIELDS]) {
          assert.ok(field in cfg, `${arch}: cfg.json lacks ${field}`);
        }
        for (const field of V6_METADATA) assert.ok(field in cfg.metadata, `${arch}: metadata lacks ${field}`);
        assert.equal(cfg.architecture, architecture);
        assert.equal(cfg.d_in, 8);
        assert.equal(cfg.d_sae, 16);
        assert.equal(cfg.dtype, "float32");
        assert.equal(cfg.apply_b_dec_to_input, true);
        assert.equal(cfg.normalize_activations, "none"); // the expected-norm scale is folded in
        assert.equal(cfg.metadata.hook_name, name);
        assert.equal(cfg.hook_name, name);
        assert.equal(cfg.metadata.sae_lens_version, undefined);
        assert.equal(cfg.saekit_component_index, k);
        if (architecture === "topk") {
          assert.equal(cfg.k, 3);
          assert.deepEqual(cfg.activation_fn_kwargs, { k: 3 });
          assert.equal(cfg.rescale_acts_by_decoder_norm, false);
        }
      }
      // Read back in the run's component order (not the folders' alphabetical one), bit for bit.
      const saes = await importSaelens(`${out}/final`);
      assert.deepEqual(saes.componentNames, ["toy.b", "toy.a"]);
      for (const key of Object.keys(folded) as (keyof SaeParams)[]) {
        if (key === "threshold" && architecture !== "jumprelu") continue;
        assert.deepEqual(saes.params[key]!.shape, folded[key]!.shape, `${arch}: ${key} shape`);
        assert.deepEqual(saes.params[key]!.dataSync(), folded[key]!.dataSync(), `${arch}: ${key}`);
      }
      dispose([saes.params, folded]);
      disposeAll(state);
    });
  }
});

Deno.test("exportSaes() takes SAELens metadata from the run's config.json, or from the option", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(
      `${dir}/config.json`,
      JSON.stringify({
        source: "model",
        model: "EleutherAI/pythia-70m",
        hooks: ["blocks.3.hook_resid_post"],
        contextSize: 64,
        prependBos: false,
        dataset: "data/train.parquet",
      }),
    );
    const params: SaeParams = {
      wEnc: tf.zeros([1, 2, 3]) as tf.Tensor3D,
      bEnc: tf.zeros([1, 3]) as tf.Tensor2D,
      wDec: tf.zeros([1, 3, 2]) as tf.Tensor3D,
      bDec: tf.zeros([1, 2]) as tf.Tensor2D,
    };
    await exportSaes(`${dir}/final`, params, { componentNames: ["resid3"] });
    const cfg = JSON.parse(await Deno.readTextFile(`${dir}/final/resid3/cfg.json`));
    assert.deepEqual(cfg.metadata, {
      model_name: "EleutherAI/pythia-70m",
      hook_name: "blocks.3.hook_resid_post",
      hook_layer: 3,
      hook_head_index: null,
      prepend_bos: false,
      context_size: 64,
      dataset_path: "data/train.parquet",
    });
    assert.equal(cfg.model_name, "EleutherAI/pythia-70m");
    assert.equal(cfg.saekit_component, "resid3");
    await exportSaes(`${dir}/other`, params, { componentNames: ["x"], metadata: { modelName: "gpt2" } });
    const other = JSON.parse(await Deno.readTextFile(`${dir}/other/x/cfg.json`));
    assert.equal(other.metadata.model_name, "gpt2");
    assert.equal(other.metadata.hook_name, "x");
    await assert.rejects(
      () => exportSaes(`${dir}/bad`, params, { componentNames: ["a", "b"] }),
      (e: unknown) =>
        e instanceof RangeError &&
        e.message === "componentNames: expected 1 names (one per component), received 2",
    );
    dispose(params);
  });
  assert.equal(hookLayer("hook_embed"), 0);
  assert.equal(hookLayer("ln_final.hook_normalized"), null);
  assert.deepEqual(saelensMetadataOf({ source: "toy" }), { modelName: null, datasetPath: null });
});

Deno.test("saelensComponent() reads log_threshold (SAELens's JumpReLU training checkpoints) as exp(log θ)", () => {
  const bytes = safetensorsBytes({
    W_enc: f32([2, 3], W_ENC),
    b_enc: f32([3], B_ENC),
    W_dec: f32([3, 2], W_DEC),
    b_dec: f32([2], B_DEC),
    log_threshold: f32([3], [0, Math.log(2), -1]),
  });
  const sae = saelensComponent(
    { architecture: "jumprelu", d_in: 2, d_sae: 3 },
    indexSafetensors(bytes, "w.safetensors"),
    "d",
  );
  assertClose(sae.threshold!, [1, 2, Math.exp(-1)], 1e-6);
});

Deno.test("exportSaes() writes transcoders as SAELens transcoders, and importSaelens() reads them back untied", async () => {
  await withDir(async (dir) => {
    // c = 1, dIn = 2, dSae = 3, dOut = 1
    const params: SaeParams = {
      wEnc: tf.tensor3d([[[1, 0, -1], [0, 1, 1]]]),
      bEnc: tf.tensor2d([[0, 0, -0.5]]),
      wDec: tf.tensor3d([[[1], [2], [3]]]),
      bDec: tf.tensor2d([[0.25]]),
    };
    await exportSaes(`${dir}/final`, params, {
      componentNames: ["blocks.0.ln2.hook_normalized->blocks.0.hook_mlp_out"],
      transcoder: { from: ["blocks.0.ln2.hook_normalized"], to: ["blocks.0.hook_mlp_out"] },
    });
    const folder = `${dir}/final/blocks.0.ln2.hook_normalized-_blocks.0.hook_mlp_out`;
    const cfg = JSON.parse(await Deno.readTextFile(`${folder}/cfg.json`));
    assert.equal(cfg.architecture, "transcoder");
    assert.equal(cfg.d_out, 1);
    assert.equal(cfg.hook_name_out, "blocks.0.hook_mlp_out");
    assert.equal(cfg.hook_layer_out, 0);
    assert.equal(cfg.apply_b_dec_to_input, false);
    assert.deepEqual(headerOf(await Deno.readFile(`${folder}/sae_weights.safetensors`)), {
      W_enc: { dtype: "F32", shape: [2, 3] },
      b_enc: { dtype: "F32", shape: [3] },
      W_dec: { dtype: "F32", shape: [3, 1] },
      b_dec: { dtype: "F32", shape: [1] },
    });
    const saes = await importSaelens(`${dir}/final`);
    assert.equal(saes.tiedBias, false);
    assert.deepEqual(saes.hookNames, ["blocks.0.ln2.hook_normalized"]);
    assert.deepEqual(saes.componentNames, ["blocks.0.ln2.hook_normalized->blocks.0.hook_mlp_out"]);
    for (const key of ["wEnc", "bEnc", "wDec", "bDec"] as const) {
      assert.deepEqual(saes.params[key].dataSync(), params[key].dataSync(), key);
    }
    dispose([params, saes.params]);
  });
});
