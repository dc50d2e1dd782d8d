import { assert, tf } from "../_helpers.ts";
import { componentFolder, exportSaes } from "../../lib/io/export.ts";
import { readSafetensors } from "../../lib/io/safetensors.ts";
import type { SaeParams } from "../../lib/sae/params.ts";

Deno.test("exportSaes() writes one SAELens-layout folder per component", async () => {
  const dir = await Deno.makeTempDir();
  // c = 2, dIn = 2, dSae = 3; values tag (component, position)
  const params: SaeParams = {
    wEnc: tf.tensor3d([[[1, 2, 3], [4, 5, 6]], [[7, 8, 9], [10, 11, 12]]]),
    bEnc: tf.tensor2d([[1, 2, 3], [4, 5, 6]]),
    wDec: tf.tensor3d([[[1, 0], [0, 1], [1, 1]], [[2, 0], [0, 2], [2, 2]]]),
    bDec: tf.tensor2d([[0.5, 0.5], [1.5, 1.5]]),
  };
  await exportSaes(`${dir}/final`, params, { componentNames: ["blocks.0.hook_resid_pre", "b/1"] });
  assert.equal(componentFolder("b/1"), "b_1");
  const file = await readSafetensors(`${dir}/final/b_1/sae_weights.safetensors`);
  assert.deepEqual(file.tensors.W_enc.shape, [2, 3]);
  assert.deepEqual(Array.from(file.tensors.W_enc.data), [7, 8, 9, 10, 11, 12]);
  assert.deepEqual(file.tensors.W_dec.shape, [3, 2]);
  assert.deepEqual(Array.from(file.tensors.b_dec.data), [1.5, 1.5]);
  const cfg = JSON.parse(await Deno.readTextFile(`${dir}/final/blocks.0.hook_resid_pre/cfg.json`));
  assert.equal(cfg.d_in, 2);
  assert.equal(cfg.d_sae, 3);
  assert.equal(cfg.hook_name, "blocks.0.hook_resid_pre");
  await Deno.remove(dir, { recursive: true });
});

/** What `JSON.parse` says of `text` (the messages quote the parser's own words). */
function parserSays(text: string): string {
  try {
    JSON.parse(text);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(text)} not to parse`);
}

Deno.test("exportSaes() reads the run's config.json beside final/, and names it when it does not parse, leaving final/ as it was", async () => {
  const dir = await Deno.makeTempDir();
  const oneSae = (scale: number): SaeParams => ({
    wEnc: tf.fill([1, 2, 3], scale) as tf.Tensor3D,
    bEnc: tf.zeros([1, 3]) as tf.Tensor2D,
    wDec: tf.zeros([1, 3, 2]) as tf.Tensor3D,
    bDec: tf.zeros([1, 2]) as tf.Tensor2D,
  });
  const hook = "blocks.0.hook_resid_post";
  const cfgPath = `${dir}/final/${hook}/cfg.json`;
  const weights = `${dir}/final/${hook}/sae_weights.safetensors`;
  try {
    const config = JSON.stringify({ source: "model", model: "gpt2", hooks: [hook], contextSize: 16 });
    await Deno.writeTextFile(`${dir}/config.json`, config);
    const first = oneSae(1);
    await exportSaes(`${dir}/final`, first, { componentNames: [hook] });
    tf.dispose(Object.values(first));
    const cfgText = await Deno.readTextFile(cfgPath);
    const cfg = JSON.parse(cfgText);
    assert.equal(cfg.metadata.model_name, "gpt2");
    assert.equal(cfg.metadata.context_size, 16);
    const before = await Deno.readFile(weights);

    const second = oneSae(2);
    const cut = config.slice(0, 20); // '{"source":"model","m'
    await Deno.writeTextFile(`${dir}/config.json`, cut);
    await assert.rejects(() => exportSaes(`${dir}/final`, second, { componentNames: [hook] }), {
      name: "TypeError",
      message:
        `${dir}/config.json: expected a run's configuration (for SAELens's metadata), received text that does not parse (${
          parserSays(cut)
        })`,
    });
    await Deno.writeTextFile(`${dir}/config.json`, "");
    await assert.rejects(() => exportSaes(`${dir}/final`, second, { componentNames: [hook] }), {
      name: "TypeError",
      message:
        `${dir}/config.json: expected a run's configuration (for SAELens's metadata), received an empty file`,
    });
    // the SAE written before is untouched, and nothing was left beside it
    assert.deepEqual(await Deno.readFile(weights), before);
    assert.equal(await Deno.readTextFile(cfgPath), cfgText);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["config.json", "final"]);

    // JSON that is not an object is not a run's configuration: no metadata, as without a file
    await Deno.writeTextFile(`${dir}/config.json`, "[1, 2]");
    await exportSaes(`${dir}/final`, second, { componentNames: [hook] });
    assert.equal(JSON.parse(await Deno.readTextFile(cfgPath)).metadata.model_name, null);
    // metadata given: the file is not read
    await Deno.writeTextFile(`${dir}/config.json`, cut);
    await exportSaes(`${dir}/final`, second, {
      componentNames: [hook],
      metadata: { modelName: "m", datasetPath: null },
    });
    assert.equal(JSON.parse(await Deno.readTextFile(cfgPath)).metadata.model_name, "m");
    tf.dispose(Object.values(second));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
