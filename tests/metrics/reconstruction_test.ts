import { assert, assertClose, tf, values } from "../_helpers.ts";
import { splicedLosses, validationRecord } from "../../lib/metrics/reconstruction.ts";
import { hookedLlama } from "../../lib/models/hooked.ts";
import { initLlamaWeights, type LlamaConfig } from "../../lib/models/transformer.ts";
import type { SaeParams } from "../../lib/sae/params.ts";

const config: LlamaConfig = {
  dModel: 4,
  nLayers: 2,
  nHeads: 2,
  nKvHeads: 2,
  dHead: 2,
  dMlp: 8,
  vocabSize: 7,
  maxSeq: 8,
  normEps: 1e-5,
  ropeTheta: 10000,
  rotary: "half",
  tiedEmbeddings: false,
};
const model = hookedLlama({ config, weights: initLlamaWeights(config, 3) });
const tokens = tf.tensor2d([[1, 4, 2, 6, 3], [1, 5, 5, 0, 2]], undefined, "int32");

/** An SAE that reconstructs exactly: f = (relu(x), relu(−x)), x̂ = f₊ − f₋ = x. */
function identitySae(c: number, d: number): SaeParams {
  const eye = tf.eye(d);
  const enc = tf.concat([eye, tf.neg(eye)], 1); // [d, 2d]
  const dec = tf.concat([eye, tf.neg(eye)], 0); // [2d, d]
  return {
    wEnc: tf.tile(tf.expandDims(enc, 0), [c, 1, 1]) as tf.Tensor3D,
    bEnc: tf.zeros([c, 2 * d]) as tf.Tensor2D,
    wDec: tf.tile(tf.expandDims(dec, 0), [c, 1, 1]) as tf.Tensor3D,
    bDec: tf.zeros([c, d]) as tf.Tensor2D,
  };
}

Deno.test("splicedLosses() with an exact SAE gives the clean loss and zero KL", () => {
  const hooks = ["blocks.0.hook_resid_post", "blocks.1.hook_mlp_out"];
  const r = splicedLosses(model, identitySae(2, 4), hooks, tokens);
  assert.equal(r.positions, 8);
  assertClose(values(r.recon), [values(r.clean)[0], values(r.clean)[0]], 1e-4);
  assertClose(values(r.kl), [0, 0], 1e-5);
  // ablating a hook changes the loss
  assert.ok(Math.abs(values(r.zero)[0] - values(r.clean)[0]) > 1e-3);
});

Deno.test("splicedLosses() with an SAE that outputs zeros equals zero ablation", () => {
  const zeroSae: SaeParams = { ...identitySae(1, 4), wDec: tf.zeros([1, 8, 4]) as tf.Tensor3D };
  const r = splicedLosses(model, zeroSae, ["blocks.1.hook_resid_pre"], tokens);
  assertClose(values(r.recon), values(r.zero), 1e-4);
});

Deno.test("splicedLosses() sums the clean next-token cross-entropy over predicted positions", () => {
  // Independent reference: −Σ log softmax(logits[b, t])[tokens[b, t+1]] from the plain forward pass.
  const logits = model.forward(tokens).logits!.arraySync() as number[][][];
  const ids = tokens.arraySync() as number[][];
  let expected = 0;
  for (let b = 0; b < 2; b++) {
    for (let t = 0; t < 4; t++) {
      const row = logits[b][t];
      const max = Math.max(...row);
      const logZ = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
      expected += logZ - row[ids[b][t + 1]];
    }
  }
  const r = splicedLosses(model, identitySae(1, 4), ["blocks.0.hook_resid_pre"], tokens);
  assertClose(values(r.clean), [expected], 1e-4);
});

Deno.test("splicedLosses() rejects a hook list that does not match the components", () => {
  assert.throws(
    () => splicedLosses(model, identitySae(2, 4), ["blocks.0.hook_resid_pre"], tokens),
    /hooks: expected one per component \(2\), received 1/,
  );
});

Deno.test("validationRecord() gives the original's reconstruction scores (ratio of sums)", () => {
  // v1.10.0 vectors: clean [0.5, 1.5, 2.5], recon [1.5, 2.5, 3.5], zero [8, 7, 4] -> (19 − 7.5)/(19 − 4.5) = 0.7931
  const log = validationRecord({ clean: 4.5, recon: [7.5, 3], zero: [19, 3], kl: [0.3, 0], positions: 3 }, [
    "a",
    "b",
  ]);
  assertClose(log["validate/reconstruction_score/a"], 11.5 / 14.5, 1e-12);
  assertClose(log["validate/loss_recon/a"], 2.5, 1e-12);
  assertClose(log["validate/kl_div/a"], 0.1, 1e-12);
  // (3 − 3)/(3 − 1.5) = 0 for b: recon as bad as zero ablation
  assertClose(log["validate/reconstruction_score/b"], 0, 1e-12);
  assertClose(log["validate/reconstruction_score/mean"], 11.5 / 29, 1e-12);
});
