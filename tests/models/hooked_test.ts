import { stopLayerFor } from "../../lib/models/hooked.ts";

Deno.test("stopLayerFor() stops after the last block a hook needs (the original's stop_layer_from_cache_names)", () => {
  // original doctests: blocks.{0,1,2}.hook_mlp_out -> layer 2 (+1 to stop after it)
  assert.equal(
    stopLayerFor(["blocks.0.hook_mlp_out", "blocks.1.hook_mlp_out", "blocks.2.hook_mlp_out"], 12),
    3,
  );
  assert.equal(stopLayerFor(["blocks.0.hook_x.0.y", "blocks.0.hook_x.1.y"], 12), 1);
  assert.equal(stopLayerFor(["hook_embed"], 12), 0);
  // the last block, or a hook after all blocks, needs the whole model
  assert.equal(stopLayerFor(["blocks.11.hook_resid_post"], 12), undefined);
  assert.equal(stopLayerFor(["ln_final.hook_normalized"], 12), undefined);
});

import { assert, assertClose, tf, values } from "../_helpers.ts";
import { hookedLlama, toRotateHalf } from "../../lib/models/hooked.ts";
import { llamaForward } from "../../lib/models/transformer.ts";
import { loadStories260k } from "../../lib/models/load/llama2c.ts";

Deno.test("hookedLlama() runs llama2.c's interleaved rotary as rotate-half with the same results", async () => {
  const { model } = await loadStories260k();
  const tokens = [[1, 403, 407, 261, 378, 30], [1, 20, 300, 11, 2, 9]];
  const capture = ["blocks.2.hook_attn_out", "blocks.4.hook_resid_post"];
  const direct = llamaForward(model.weights, model.config, tokens, { capture });
  const hooked = hookedLlama(model).forward(tokens, { capture });
  assertClose(values(hooked.logits!), values(direct.logits!), 2e-4, "logits");
  for (const h of capture) assertClose(values(hooked.activations[h]), values(direct.activations[h]), 1e-4, h);
  assert.equal(toRotateHalf(model).config.rotary, "half");
  tf.dispose([direct.logits!, hooked.logits!]);
});
