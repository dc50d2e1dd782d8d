/**
 * Truncated, empty or misshapen JSON files of model folders, SAE folders and checkpoints: each error
 * names the file. Expected messages are written by hand; the JSON parser's own words (where the
 * message quotes them) come from `JSON.parse` on the same text.
 */
import { assert } from "../_helpers.ts";
import { loadModel } from "../../lib/models/load/model.ts";
import { loadHfGpt2 } from "../../lib/models/load/hf_gpt2.ts";
import { loadHfTokenizer } from "../../lib/models/load/hf_tokenizer.ts";
import { importSaelens } from "../../lib/io/saelens.ts";
import { importSparsify } from "../../lib/io/sparsify.ts";
import { CHECKPOINT_FORMAT, loadCheckpoint, readCheckpointConfig } from "../../lib/io/checkpoint.ts";

/** What `JSON.parse` says of `text`. */
function parserSays(text: string): string {
  try {
    JSON.parse(text);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(text)} not to parse`);
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const GPT2_CONFIG = JSON.stringify({ model_type: "gpt2", n_embd: 4, n_head: 2, n_layer: 1, vocab_size: 6 });
/** The config cut 30 characters in, as a full disk or an interrupted download leaves it. */
const CUT = GPT2_CONFIG.slice(0, 30);

Deno.test("a Hugging Face folder's truncated, empty or non-object config.json is named", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/config.json`, CUT);
    const cut =
      `${dir}/config.json: expected a Hugging Face config.json, received text that does not parse (${
        parserSays(CUT)
      })`;
    // through --model's loader (which reads model_type first) and the GPT-2 loader itself
    await assert.rejects(() => loadModel(dir), { name: "TypeError", message: cut });
    await assert.rejects(() => loadHfGpt2(dir), { name: "TypeError", message: cut });
    await Deno.writeTextFile(`${dir}/config.json`, "");
    await assert.rejects(() => loadModel(dir), {
      message: `${dir}/config.json: expected a Hugging Face config.json, received an empty file`,
    });
    await Deno.writeTextFile(`${dir}/config.json`, "null");
    await assert.rejects(() => loadModel(dir), {
      message: `${dir}/config.json: expected a JSON object, received null`,
    });
  });
});

Deno.test("a Hugging Face folder's truncated or misshapen model.safetensors.index.json is named", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/config.json`, GPT2_CONFIG);
    const index = '{"weight_map": {"wte.weight": "model-00001-of-00002.safe';
    await Deno.writeTextFile(`${dir}/model.safetensors.index.json`, index);
    await assert.rejects(() => loadModel(dir), {
      message: `${dir}/model.safetensors.index.json: expected JSON, received text that does not parse (${
        parserSays(index)
      })`,
    });
    await Deno.writeTextFile(`${dir}/model.safetensors.index.json`, '{"weight_map": {"wte.weight": 3}}');
    await assert.rejects(() => loadHfGpt2(dir), {
      message: `${dir}/model.safetensors.index.json: weight_map expected file names, received 3`,
    });
    await Deno.writeTextFile(`${dir}/model.safetensors.index.json`, "[]");
    await assert.rejects(() => loadHfGpt2(dir), {
      message: `${dir}/model.safetensors.index.json: expected a JSON object, received []`,
    });
  });
});

Deno.test("a truncated tokenizer.json or tokenizer_config.json is named", async () => {
  await withDir(async (dir) => {
    const full = await Deno.readTextFile(
      new URL("../fixtures/tokenizers/gpt2/tokenizer.json", import.meta.url),
    );
    const cut = full.slice(0, 1000);
    await Deno.writeTextFile(`${dir}/tokenizer.json`, cut);
    await assert.rejects(() => loadHfTokenizer(dir), {
      message: `${dir}/tokenizer.json: expected JSON, received text that does not parse (${parserSays(cut)})`,
    });
    await Deno.writeTextFile(`${dir}/tokenizer.json`, full);
    await Deno.writeTextFile(`${dir}/tokenizer_config.json`, '{"bos_token": "<|endoftext|>",');
    await assert.rejects(() => loadHfTokenizer(dir), {
      message: `${dir}/tokenizer_config.json: expected JSON, received text that does not parse (${
        parserSays('{"bos_token": "<|endoftext|>",')
      })`,
    });
  });
});

Deno.test("a SAELens or sparsify folder's truncated cfg.json is named", async () => {
  await withDir(async (dir) => {
    const cfg = '{"d_in": 2, "d_sae": ';
    for (
      const [folder, weights, read] of [
        ["saelens", "sae_weights.safetensors", importSaelens],
        ["sparsify", "sae.safetensors", importSparsify],
      ] as const
    ) {
      await Deno.mkdir(`${dir}/${folder}`);
      await Deno.writeTextFile(`${dir}/${folder}/cfg.json`, cfg);
      await Deno.writeFile(
        `${dir}/${folder}/${weights}`,
        new Uint8Array([2, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d]),
      );
      await assert.rejects(() => read(`${dir}/${folder}`), {
        message: `${dir}/${folder}/cfg.json: expected JSON, received text that does not parse (${
          parserSays(cfg)
        })`,
      });
    }
  });
});

Deno.test("a checkpoint's truncated or misshapen state.json is named, with the field", async () => {
  await withDir(async (dir) => {
    // a whole checkpoint of one tensor: "w" F32 [1] (4 bytes); its header is 56 bytes long
    const header = '{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}  ';
    assert.equal(header.length, 56);
    const bytes = new Uint8Array(8 + 56 + 4);
    bytes[0] = 56;
    bytes.set(new TextEncoder().encode(header), 8);
    await Deno.writeFile(`${dir}/state.safetensors`, bytes);
    const sidecar = {
      format: CHECKPOINT_FORMAT,
      step: 3,
      position: 24,
      config: { dIn: 1 },
      state: { w: { $tensor: "w" } },
    };
    const text = JSON.stringify(sidecar);
    await Deno.writeTextFile(`${dir}/state.json`, text);
    assert.equal((await loadCheckpoint(dir)).step, 3);

    const cut = text.slice(0, 40);
    await Deno.writeTextFile(`${dir}/state.json`, cut);
    const message = `${dir}/state.json: expected JSON, received text that does not parse (${
      parserSays(cut)
    })`;
    await assert.rejects(() => loadCheckpoint(dir), { message });
    await assert.rejects(() => readCheckpointConfig(dir), { message });

    const wrong: [Record<string, unknown>, string][] = [
      [{ format: "other/1" }, `format: expected "saekit-checkpoint/1", received "other/1"`],
      [{ step: -1 }, "step: expected a non-negative integer, received -1"],
      [{ position: 2.5 }, "position: expected a non-negative integer, received 2.5"],
      [{ state: null }, "state: expected an object (the state's skeleton), received null"],
    ];
    for (const [change, said] of wrong) {
      await Deno.writeTextFile(`${dir}/state.json`, JSON.stringify({ ...sidecar, ...change }));
      await assert.rejects(() => loadCheckpoint(dir), { message: `${dir}/state.json: ${said}` });
    }
    // the sidecar and the file disagree on the tensors
    await Deno.writeTextFile(
      `${dir}/state.json`,
      JSON.stringify({ ...sidecar, state: { w: { $tensor: "w" }, v: { $tensor: "v" } } }),
    );
    await assert.rejects(() => loadCheckpoint(dir), {
      message: `${dir}/state.safetensors: tensor "v": expected (${dir}/state.json names it), not found`,
    });
    await Deno.writeTextFile(`${dir}/state.json`, JSON.stringify({ ...sidecar, state: { step: 3 } }));
    await assert.rejects(() => loadCheckpoint(dir), {
      message:
        `${dir}/state.safetensors: expected only the tensors ${dir}/state.json names, received also "w"`,
    });
  });
});
