/**
 * sparsify import. The fixtures follow sparsify's `SparseCoder.save_to_disk`: `cfg.json` holds the
 * `SparseCoderConfig` fields and `d_in`; `sae.safetensors` holds the module's state dict
 * (`encoder.weight [num_latents, d_in]`, `encoder.bias`, `W_dec [num_latents, d_in]`, `b_dec`). The
 * bytes are written here by hand.
 */
import { assert, assertClose, tf, values } from "../_helpers.ts";
import { importSparsify } from "../../lib/io/sparsify.ts";
import { forward } from "../../lib/sae/forward.ts";

function safetensorsBytes(tensors: Record<string, { shape: number[]; values: number[] }>): Uint8Array {
  const header: Record<string, unknown> = {};
  const data: number[] = [];
  for (const [name, { shape, values }] of Object.entries(tensors)) {
    header[name] = {
      dtype: "F32",
      shape,
      data_offsets: [4 * data.length, 4 * (data.length + values.length)],
    };
    data.push(...values);
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + 4 * data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(new Uint8Array(Float32Array.from(data).buffer), 8 + json.length);
  return out;
}

/** `SparseCoderConfig.to_dict()` with `d_in`, as sparsify writes it. */
function sparsifyCfg(extra: Record<string, unknown> = {}) {
  return {
    activation: "topk",
    expansion_factor: 32,
    normalize_decoder: true,
    num_latents: 3,
    k: 1,
    multi_topk: false,
    skip_connection: false,
    transcode: false,
    d_in: 2,
    ...extra,
  };
}

// encoder rows [1, 0], [0, 1], [−1, 1]; bias [0, 0.5, 0]; decoder rows [1, 0], [0, 1], [1, 1].
// x = [2.5, 0.5]: x − b_dec = [2, 1]; pre = ReLU([2, 1.5, −1]) = [2, 1.5, 0]; top-1 keeps feature 0;
// x̂ = 2·[1, 0] + b_dec = [2.5, −0.5].
type Raw = Record<string, { shape: number[]; values: number[] }>;
function tensors(extra: Raw = {}): Raw {
  return {
    "encoder.weight": { shape: [3, 2], values: [1, 0, 0, 1, -1, 1] },
    "encoder.bias": { shape: [3], values: [0, 0.5, 0] },
    W_dec: { shape: [3, 2], values: [1, 0, 0, 1, 1, 1] },
    b_dec: { shape: [2], values: [0.5, -0.5] },
    ...extra,
  };
}

async function writeCoder(dir: string, cfg: unknown, t: Raw = tensors()): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/cfg.json`, JSON.stringify(cfg));
  await Deno.writeFile(`${dir}/sae.safetensors`, safetensorsBytes(t));
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "saekit_sparsify_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("importSparsify() reads one sparsify SAE: the encoder transposed, TopK with its k, the tied bias", async () => {
  await withDir(async (dir) => {
    await writeCoder(dir, sparsifyCfg());
    const saes = await importSparsify(dir);
    assert.equal(saes.format, "sparsify");
    assert.deepEqual(saes.activation, { kind: "topk", k: 1 });
    assert.equal(saes.tiedBias, true);
    assert.deepEqual(saes.params.wEnc.shape, [1, 2, 3]);
    assert.deepEqual(values(saes.params.wEnc), [1, 0, -1, 0, 1, 1]);
    const x = tf.tensor3d([[[2.5, 0.5]]]);
    const out = forward(saes.params, x, saes.activation, { tiedBias: saes.tiedBias });
    assertClose(values(out.f), [2, 0, 0]);
    assertClose(values(out.xHat), [2.5, -0.5]);
    tf.dispose([x, out as unknown as tf.TensorContainer, saes.params as unknown as tf.TensorContainer]);
  });
});

Deno.test("importSparsify() reads a run folder of layers.N/ in natural order, and transcoders untied", async () => {
  await withDir(async (dir) => {
    for (const layer of [10, 2, 0]) {
      const t = tensors();
      t.b_dec = { shape: [2], values: [layer, 0] };
      await writeCoder(`${dir}/layers.${layer}`, sparsifyCfg(), t);
    }
    const saes = await importSparsify(dir);
    assert.deepEqual(saes.componentNames, ["layers.0", "layers.2", "layers.10"]);
    assert.deepEqual(values(saes.params.bDec), [0, 0, 2, 0, 10, 0]);
    tf.dispose(saes.params as unknown as tf.TensorContainer);

    // num_latents 0: expansion_factor · d_in latents.
    await writeCoder(
      `${dir}/transcoder`,
      sparsifyCfg({ transcode: true, num_latents: 0, expansion_factor: 2, k: 2 }),
      {
        "encoder.weight": { shape: [4, 2], values: [1, 0, 0, 1, 1, 1, -1, -1] },
        "encoder.bias": { shape: [4], values: [0, 0, 0, 0] },
        W_dec: { shape: [4, 2], values: [1, 0, 0, 1, 0, 0, 0, 0] },
        b_dec: { shape: [2], values: [0, 0] },
      },
    );
    const tc = await importSparsify(`${dir}/transcoder`);
    assert.equal(tc.tiedBias, false);
    assert.deepEqual(tc.params.wEnc.shape, [1, 2, 4]);
    tf.dispose(tc.params as unknown as tf.TensorContainer);
  });
});

Deno.test("importSparsify() refuses groupmax, skip connections, mismatched layers and wrong shapes, saying which", async () => {
  await withDir(async (dir) => {
    await writeCoder(`${dir}/groupmax`, sparsifyCfg({ activation: "groupmax" }));
    await assert.rejects(
      () => importSparsify(`${dir}/groupmax`),
      (e: unknown) =>
        e instanceof TypeError &&
        e.message === `${dir}/groupmax/cfg.json: activation expected "topk", received "groupmax"`,
    );
    await writeCoder(`${dir}/skip`, sparsifyCfg({ skip_connection: true }), {
      ...tensors(),
      W_skip: { shape: [2, 2], values: [0, 0, 0, 0] },
    });
    await assert.rejects(
      () => importSparsify(`${dir}/skip`),
      /skip\/cfg\.json: skip_connection expected false \(saekit has no skip connection\), received true/,
    );
    await writeCoder(`${dir}/shape`, sparsifyCfg(), {
      ...tensors(),
      "encoder.weight": { shape: [2, 3], values: [1, 0, 0, 1, -1, 1] },
    });
    await assert.rejects(
      () => importSparsify(`${dir}/shape`),
      (e: unknown) =>
        e instanceof RangeError &&
        e.message ===
          `${dir}/shape/sae.safetensors: tensor encoder.weight expected shape [3, 2], received [2, 3]`,
    );
    await writeCoder(`${dir}/mixed/layers.0`, sparsifyCfg());
    await writeCoder(`${dir}/mixed/layers.1`, sparsifyCfg({ k: 2 }));
    await assert.rejects(
      () => importSparsify(`${dir}/mixed`),
      (e: unknown) =>
        e instanceof RangeError &&
        e.message ===
          `${dir}/mixed/layers.1: k expected 1 (as in ${dir}/mixed/layers.0, read as components of one set), received 2`,
    );
    await writeCoder(`${dir}/nok`, sparsifyCfg({ k: 5 }));
    await assert.rejects(
      () => importSparsify(`${dir}/nok`),
      /nok\/cfg\.json: k expected an integer in \[1, 3\] \(the latents\), received 5/,
    );
  });
});
