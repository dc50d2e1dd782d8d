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
