import { assert } from "../_helpers.ts";
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
