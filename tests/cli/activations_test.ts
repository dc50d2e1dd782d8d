import { assert, assertClose } from "../_helpers.ts";
import { runActivationsCommand } from "../../lib/cli/activations.ts";
import { encodeText, loadStories260k } from "../../lib/models/load/llama2c.ts";
import { llamaForward } from "../../lib/models/transformer.ts";

Deno.test("deno task activations --json prints each hook's [tokens, d] activations as the last line", async () => {
  let out = "";
  const code = await runActivationsCommand(
    ["--hooks", "blocks.0.hook_resid_post,blocks.2.hook_mlp_out", "--prompt", "Once upon a time", "--json"],
    (t) => void (out += t),
  );
  assert.equal(code, 0);
  const parsed = JSON.parse(out.trim().split("\n").pop()!) as Record<string, number[][]>;
  assert.deepEqual(Object.keys(parsed), ["blocks.0.hook_resid_post", "blocks.2.hook_mlp_out"]);
  // Reference: the model's forward pass on the same ids (BOS, then the prompt).
  const { model, tokenizer } = await loadStories260k();
  const ids = encodeText(tokenizer, "Once upon a time", { bos: true });
  const ref = llamaForward(model.weights, model.config, [ids], { capture: ["blocks.2.hook_mlp_out"] });
  const expected = (ref.activations["blocks.2.hook_mlp_out"].arraySync() as number[][][])[0];
  assert.equal(parsed["blocks.2.hook_mlp_out"].length, ids.length);
  assert.equal(parsed["blocks.0.hook_resid_post"][0].length, 64);
  assertClose(parsed["blocks.2.hook_mlp_out"].flat(), expected.flat(), 1e-4);
  await assert.rejects(
    () => runActivationsCommand(["--prompt", "hi"], () => {}),
    /--hooks and --prompt: expected both/,
  );
});
