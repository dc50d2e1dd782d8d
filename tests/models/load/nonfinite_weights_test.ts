/**
 * A model whose weights are not finite is refused at load, naming the file and the tensor (one NaN weight
 * would make every activation after it NaN).
 */
import assert from "node:assert/strict";
import { selectBackend } from "../../../lib/backends/select.ts";
import { decodeLlama2c, STORIES260K_URL } from "../../../lib/models/load/llama2c.ts";
import { loadHfLlama } from "../../../lib/models/load/hf_llama.ts";

await selectBackend("cpu");

Deno.test("a llama2.c checkpoint with a NaN weight is refused, naming the tensor", async () => {
  const bytes = await Deno.readFile(STORIES260K_URL);
  // stories260K: a 28-byte header (7 int32), then token_embedding [512, 64] as float32; value 5 becomes NaN.
  new DataView(bytes.buffer).setFloat32(28 + 5 * 4, NaN, true);
  assert.throws(() => decodeLlama2c(bytes, "stories.bin"), {
    message:
      'stories.bin: tensor "token_embedding": expected finite values, received NaN in 1 of 32768 values ' +
      "(the first at index 5)",
  });
});

Deno.test("a Hugging Face folder with an infinite weight is refused, naming the file and the tensor", async () => {
  const dir = await Deno.makeTempDir({ prefix: "saekit_nonfinite_" });
  const source = new URL("../../fixtures/stories260K/hf/", import.meta.url);
  for (const name of ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]) {
    await Deno.copyFile(new URL(name, source), `${dir}/${name}`);
  }
  const path = `${dir}/model.safetensors`;
  const bytes = await Deno.readFile(path);
  const view = new DataView(bytes.buffer);
  const headerLength = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  const entry = header["model.norm.weight"]; // [64] float32: its value 3 becomes +Inf
  assert.equal(entry.dtype, "F32");
  view.setFloat32(8 + headerLength + entry.data_offsets[0] + 3 * 4, Infinity, true);
  await Deno.writeFile(path, bytes);
  await assert.rejects(() => loadHfLlama(dir), {
    message: `${path}: tensor "model.norm.weight": expected finite values, received +Inf in 1 of 64 values ` +
      "(the first at index 3)",
  });
  await Deno.remove(dir, { recursive: true });
});
