/**
 * End to end on the documented flags: a Hugging Face model folder, chosen hook
 * points and a Parquet dataset. Uses the Hugging Face conversion of
 * stories260K kept in tests/fixtures/stories260K/hf.
 */
import { assert } from "../_helpers.ts";
import { ByteWriter, parquetWrite } from "hyparquet-writer";
import { runTrainCommand } from "../../lib/cli/train.ts";

const hf = new URL("../fixtures/stories260K/hf", import.meta.url).pathname;

Deno.test({
  name: "deno task train --model HF_FOLDER --hooks A,B --dataset FILE.parquet trains and validates",
  async fn() {
    const dir = await Deno.makeTempDir();
    const lines =
      (await Deno.readTextFile(new URL("../../lib/models/stories260k/stories.jsonl", import.meta.url)))
        .trim().split("\n").slice(0, 60).map((l) => JSON.parse(l).text as string);
    const writer = new ByteWriter();
    parquetWrite({ writer, columnData: [{ name: "text", data: lines, type: "STRING" }], rowGroupSize: 20 });
    await Deno.writeFile(`${dir}/train.parquet`, new Uint8Array(writer.getBuffer()));
    let text = "";
    const code = await runTrainCommand([
      "--backend",
      "cpu",
      "--model",
      hf,
      "--hooks",
      "blocks.3.hook_resid_pre,blocks.3.hook_mlp_out",
      "--dataset",
      `${dir}/train.parquet`,
      "--context-size",
      "16",
      "--windows-per-batch",
      "8",
      "--validation-windows",
      "4",
      "--batch-size",
      "64",
      "--store-size",
      "128",
      "--steps",
      "3",
      "--log-every",
      "3",
      "--max-resamples",
      "0",
      "--out",
      `${dir}/run`,
    ], { write: (t) => void (text += t), isTerminal: false, signal: new AbortController().signal });
    assert.equal(code, 0);
    assert.match(text, /Hugging Face llama/);
    const last = JSON.parse((await Deno.readTextFile(`${dir}/run/metrics.jsonl`)).trim().split("\n").pop()!);
    assert.equal(last.step, 3);
    assert.ok(Number.isFinite(last["validate/reconstruction_score/blocks.3.hook_mlp_out"]));
    await Deno.stat(`${dir}/run/final/blocks.3.hook_resid_pre/sae_weights.safetensors`);
    await Deno.remove(dir, { recursive: true });
  },
});
