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
import { hookedGpt2, hookedLlama, toRotateHalf } from "../../lib/models/hooked.ts";
import { initGpt2Weights } from "../../lib/models/gpt2.ts";
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

Deno.test("directionLogits() of the normalised final residual stream gives the model's logits (RMSNorm and LayerNorm)", async () => {
  const { model } = await loadStories260k();
  const llama = hookedLlama(model);
  const tokens = [[1, 403, 407, 261, 378, 30]];
  const hook = "blocks.4.hook_resid_post";
  const run = llama.forward(tokens, { capture: [hook] });
  // RMSNorm: logits = (x / rms(x) ⊙ g) · W_U, so directionLogits(x / rms(x)) must equal them.
  const [direct, logits] = tf.tidy(() => {
    const x = tf.reshape(run.activations[hook], [6, 64]);
    const rms = tf.sqrt(tf.add(tf.mean(tf.square(x), 1, true), model.config.normEps));
    return [llama.directionLogits(tf.div(x, rms) as tf.Tensor2D), tf.reshape(run.logits!, [6, -1])];
  });
  assertClose(values(direct), values(logits), 2e-4, "llama logits");
  // LayerNorm (GPT-2, zero final bias): logits = ((x − mean) / std ⊙ g) · W_U = directionLogits(x / std).
  const config = {
    dModel: 8,
    nLayers: 1,
    nHeads: 2,
    dHead: 4,
    dMlp: 16,
    vocabSize: 11,
    maxSeq: 8,
    normEps: 1e-5,
    tiedEmbeddings: true,
    activation: "gelu_new",
  } as const;
  const gpt2 = hookedGpt2({ config, weights: initGpt2Weights(config, 3) });
  const out = gpt2.forward([[1, 2, 3]], { capture: ["blocks.0.hook_resid_post"] });
  const [g, gLogits] = tf.tidy(() => {
    const x = tf.reshape(out.activations["blocks.0.hook_resid_post"], [3, 8]);
    const { variance } = tf.moments(x, 1, true);
    const std = tf.sqrt(tf.add(variance, config.normEps));
    return [gpt2.directionLogits(tf.div(x, std) as tf.Tensor2D), tf.reshape(out.logits!, [3, -1])];
  });
  assertClose(values(g), values(gLogits), 1e-4, "gpt2 logits");
  tf.dispose([direct, logits, run.logits!, ...Object.values(run.activations), g, gLogits, out.logits!]);
});
