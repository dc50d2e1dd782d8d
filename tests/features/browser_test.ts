import { assert, assertClose, tf } from "../_helpers.ts";
import { prepareFeatureBrowser } from "../../lib/features/cli.ts";
import { createFeatureBrowser } from "../../lib/features/browser.ts";
import { loadRunSaes } from "../../lib/features/collect.ts";
import { createFeatureStats } from "../../lib/features/stats.ts";
import { loadModel } from "../../lib/models/load/model.ts";
import { tinyRun } from "./_run.ts";

const dir = await tinyRun();
// 12 windows of 24 tokens, 23 observed each (BOS is not).
const prepared = await prepareFeatureBrowser(dir, { tokens: 12 * 23 });
const { browser } = prepared;
globalThis.addEventListener("unload", () => prepared.dispose());

Deno.test("the summary lists every feature's density and largest activation, and where the text came from", () => {
  const summary = browser.summary({ search: true });
  assert.equal(summary.format, "saekit-features/1");
  assert.equal(summary.positions, 12 * 23);
  assert.equal(summary.windows, 12);
  // The default dataset is long: all 12 windows are the 4 held-out ones and windows after training.
  assert.equal(summary.unseenWindows, 12);
  assert.match(summary.text, /12 windows of 24 tokens, 12 of them not read in training/);
  assert.deepEqual(summary.components.map((c) => c.name), [
    "blocks.0.hook_resid_post",
    "blocks.2.hook_resid_post",
  ]);
  for (const c of summary.components) {
    assert.equal(c.density.length, 64);
    assert.equal(c.maxActivation.length, 64);
    assert.ok(c.logits);
    assert.ok(c.density.every((d) => d >= 0 && d <= 1));
    assert.ok(c.density.some((d) => d > 0), "some feature fires");
  }
  assert.equal(browser.summary({ search: false }).search, false);
});

Deno.test("a feature's document: contexts largest first, its histogram, and the tokens its decoder row promotes", async () => {
  const summary = browser.summary({ search: true });
  const density = summary.components[1].density;
  const id = density.indexOf(Math.max(...density));
  const [doc] = browser.features(1, [id]);
  assert.equal(doc.id, id);
  assert.equal(doc.component, "blocks.2.hook_resid_post");
  assert.equal(doc.density, density[id]);
  assert.equal(doc.histogram.counts.reduce((a, b) => a + b, 0), doc.count);
  assert.equal(doc.contexts.length, 20);
  assert.equal(doc.contexts[0].activation, doc.maxActivation);
  for (let i = 1; i < doc.contexts.length; i++) {
    assert.ok(doc.contexts[i].activation <= doc.contexts[i - 1].activation);
  }
  for (const c of doc.contexts) {
    assert.equal(c.tokens.length, c.activations.length);
    assert.equal(c.activations[c.at], c.activation);
    assert.ok(c.tokens.every((t) => typeof t === "string"));
  }
  // Promoted: the 10 largest entries of (wDec row ⊙ g) · W_U, recomputed here.
  const saes = await loadRunSaes(dir);
  const { model } = await loadModel("stories260k");
  const logits = tf.tidy(() => {
    const row = tf.slice(saes.params.wDec, [1, id, 0], [1, 1, 64]).reshape([1, 64]) as tf.Tensor2D;
    return model.directionLogits(row);
  });
  const values = Array.from(logits.dataSync());
  const ranked = values.map((v, i) => ({ v, i })).sort((a, b) => b.v - a.v);
  assert.deepEqual(doc.promoted!.map((t) => t.id), ranked.slice(0, 10).map((e) => e.i));
  assert.deepEqual(doc.suppressed!.map((t) => t.id), ranked.slice(-10).reverse().map((e) => e.i));
  assertClose(doc.promoted!.map((t) => t.logit), ranked.slice(0, 10).map((e) => e.v), 1e-4);
  assert.ok(doc.promoted!.every((t) => typeof t.token === "string" && t.token.length > 0));
  tf.dispose([logits, ...Object.values(saes.params)]);
});

Deno.test("features() computes many documents at once, the same as one by one", () => {
  const many = browser.features(0, [3, 4, 5]);
  assert.deepEqual(many.map((d) => d.id), [3, 4, 5]);
  assert.deepEqual(many[1], browser.features(0, [4])[0]);
  assert.throws(() => browser.features(2, [0]), /component: expected an integer in \[0, 2\), received 2/);
  assert.throws(() => browser.features(0, [64]), /feature: expected an integer in \[0, 64\), received 64/);
});

Deno.test("search() lists the features that fire on a text, with their activation at every token", () => {
  const text =
    "Once upon a time, there was a little girl named Lily. She liked to play with her big red ball.";
  const result = browser.search(text);
  assert.equal(result.tokens[0], "⟨BOS⟩");
  assert.ok(text.startsWith(result.tokens.slice(1).join("").slice(1)), "the first 23 tokens of the text");
  assert.equal(result.truncated, true, "the text is longer than the run's 24-token windows");
  assert.equal(result.tokens.length, 24);
  assert.equal(result.components.length, 2);
  for (const c of result.components) {
    assert.ok(c.features.length > 0 && c.features.length <= 20);
    for (let i = 0; i < c.features.length; i++) {
      const f = c.features[i];
      assert.equal(f.activations.length, 24);
      assert.equal(f.activations[0], 0, "BOS is left out");
      assert.equal(Math.max(...f.activations), f.max);
      if (i > 0) assert.ok(f.max <= c.features[i - 1].max);
    }
  }
  assert.equal(browser.search("Lily").truncated, false);
  assert.throws(() => browser.search("  "), /text: expected some text to search with, received " {2}"/);
});

Deno.test("a component that does not write to the residual stream has no logit effects", async () => {
  const saes = await loadRunSaes(dir);
  const { model, tokenizer } = await loadModel("stories260k");
  const mlp = createFeatureBrowser({
    run: "x",
    saes: { ...saes, outputHooks: ["blocks.0.mlp.hook_post", "blocks.2.hook_resid_post"] },
    model,
    tokenizer,
    stats: [createFeatureStats({ nFeatures: 64 }), createFeatureStats({ nFeatures: 64 })],
    unseenWindows: 0,
    text: "",
  });
  assert.deepEqual(mlp.summary({ search: false }).components.map((c) => c.logits), [false, true]);
  assert.equal(mlp.features(0, [0])[0].promoted, undefined);
  assert.equal(mlp.features(1, [0])[0].promoted?.length, 10);
  assert.deepEqual(mlp.features(0, [0])[0].contexts, []);
  tf.dispose(Object.values(saes.params));
});
