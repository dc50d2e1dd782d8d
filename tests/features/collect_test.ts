import { assert, assertClose, tf } from "../_helpers.ts";
import {
  collectFeatureStats,
  heldOutFirst,
  type IndexedWindow,
  loadRunSaes,
  tokenPieces,
  trainingWindows,
} from "../../lib/features/collect.ts";
import { summarizeFeature } from "../../lib/features/stats.ts";
import { parseConfig } from "../../lib/config.ts";
import { encode } from "../../lib/sae/forward.ts";
import { BUILTIN_CORPUS_URL, loadModel } from "../../lib/models/load/model.ts";
import { openTextSource } from "../../lib/data/text/open.ts";
import { textWindows } from "../../lib/data/text/windows.ts";
import { tinyRun } from "./_run.ts";

function numbered(n: number) {
  return {
    async *windows(start = 0) {
      for (let i = start; i < n; i++) yield new Int32Array([i]);
    },
  };
}

async function ids(source: AsyncIterable<IndexedWindow>): Promise<number[]> {
  const out: number[] = [];
  for await (const w of source) {
    assert.equal(w.tokens[0], w.id, "a window's id is its index in the stream");
    out.push(w.id);
  }
  return out;
}

Deno.test("heldOutFirst() reads the held-out windows, then those after training, then (only if needed) trained ones", async () => {
  // 10 windows: 0, 1 held out; 2..6 trained on; 7, 8, 9 never read by training.
  const plan = { heldOut: 2, trained: 5 };
  assert.deepEqual(await ids(heldOutFirst(numbered(10), { ...plan, count: 4 })), [0, 1, 7, 8]);
  assert.deepEqual(await ids(heldOutFirst(numbered(10), { ...plan, count: 7 })), [0, 1, 7, 8, 9, 2, 3]);
  assert.deepEqual(await ids(heldOutFirst(numbered(10), { ...plan, count: 99 })), [
    0,
    1,
    7,
    8,
    9,
    2,
    3,
    4,
    5,
    6,
  ]);
  // Training read past the end of the dataset: the held-out windows, then the trained ones.
  assert.deepEqual(await ids(heldOutFirst(numbered(4), { heldOut: 1, trained: 9, count: 3 })), [0, 1, 2]);
  assert.deepEqual(await ids(heldOutFirst(numbered(10), { heldOut: 0, trained: 0, count: 3 })), [0, 1, 2]);
});

Deno.test("trainingWindows() bounds the windows training read: whole store fills, whole batches, one batch more", async () => {
  const dir = await Deno.makeTempDir();
  const config = parseConfig({
    source: "model",
    contextSize: 33,
    prependBos: true,
    steps: 8,
    batchSize: 128,
    storeSize: 512,
    windowsPerBatch: 4,
  });
  // No checkpoint: 8 · 128 = 1024 rows = 2 fills → 1024 / 32 = 32 windows → 8 batches, + 1 → 36.
  assert.equal(await trainingWindows(dir, config), 36);
  // A checkpoint at data position 300: 1 fill = 512 rows → 16 windows → 4 batches, + 1 → 20.
  await Deno.mkdir(`${dir}/checkpoints/step-00000003`, { recursive: true });
  await Deno.writeTextFile(`${dir}/checkpoints/step-00000003/state.json`, JSON.stringify({ position: 300 }));
  assert.equal(await trainingWindows(dir, config), 20);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("tokenPieces() shows each token as the text it adds, with its leading space, and BOS/EOS marked", async () => {
  const { tokenizer } = await loadModel("stories260k");
  const text = "Lily saw a cat. ☃\nThe end";
  const ids = tokenizer.encode(text, { bos: true });
  const pieces = tokenPieces(tokenizer, ids);
  assert.equal(pieces.length, ids.length);
  assert.equal(pieces[0], "⟨BOS⟩");
  // llama2.c's tokenizer puts a space before the text; every other piece concatenates back to the text.
  assert.equal(pieces.slice(1).join(""), " " + text);
  assert.deepEqual(pieces.slice(1, 4), [" Lily", " saw", " a"]);
  // ☃ is three byte tokens: the first two read as empty and the last as the whole character.
  const snowman = pieces.indexOf("☃");
  assert.deepEqual(pieces.slice(snowman - 2, snowman + 1), ["", "", "☃"]);
  assert.deepEqual(tokenPieces(tokenizer, [ids[3]]), [" a"]);
  assert.deepEqual(tokenPieces(tokenizer, [1, 2]), ["⟨BOS⟩", "⟨EOS⟩"]);
});

Deno.test("collectFeatureStats() agrees with encoding the same windows directly", async () => {
  const dir = await tinyRun();
  const saes = await loadRunSaes(dir);
  assert.deepEqual(saes.componentNames, ["blocks.0.hook_resid_post", "blocks.2.hook_resid_post"]);
  assert.equal(saes.dSae, 64);
  assert.equal(saes.activation.kind, "relu");
  const { model, tokenizer } = await loadModel("stories260k");
  const all = textWindows(openTextSource(BUILTIN_CORPUS_URL), tokenizer, { contextSize: 24 });
  const windows: IndexedWindow[] = [];
  for await (const w of heldOutFirst(all, { heldOut: 4, trained: 24, count: 6 })) windows.push(w);
  assert.deepEqual(windows.map((w) => w.id), [0, 1, 2, 3, 28, 29]);
  const stats = await collectFeatureStats({
    model,
    saes,
    windows: (async function* () {
      yield* windows;
    })(),
    contextSize: 24,
    skip: 1,
    windowsPerBatch: 4,
    stats: { topK: 3, before: 2, after: 1 },
  });
  // Direct: every window through the model, each component's SAE on its hook, BOS positions left out.
  const tokens = tf.tensor2d(windows.flatMap((w) => Array.from(w.tokens)), [6, 24], "int32");
  const { activations } = model.forward(tokens, { capture: saes.inputHooks, stopAtLayer: 3 });
  const x = tf.stack(saes.inputHooks.map((h) => tf.reshape(activations[h], [6 * 24, 64]))) as tf.Tensor3D;
  const f = encode(saes.params, x, saes.activation).arraySync() as number[][][];
  for (const k of [0, 1]) {
    assert.equal(stats[k].positions, 6 * 23);
    for (const j of [0, 5, 63]) {
      const column = f[k].map((row) => row[j]).filter((_, r) => r % 24 !== 0);
      const s = summarizeFeature(stats[k], j);
      assert.equal(s.count, column.filter((v) => v > 0).length, `component ${k} feature ${j}: count`);
      assertClose(s.maxActivation, Math.max(0, ...column), 1e-5, `component ${k} feature ${j}: max`);
      const top = [...column].sort((a, b) => b - a).filter((v) => v > 0).slice(0, 3);
      assertClose(s.contexts.map((c) => c.activation), top, 1e-5, `component ${k} feature ${j}: top 3`);
      for (const c of s.contexts) {
        const w = windows.findIndex((win) => win.id === c.window);
        assert.deepEqual(c.tokens, Array.from(windows[w].tokens.slice(c.start, c.start + c.tokens.length)));
        assertClose(c.activations[c.position - c.start], c.activation, 0);
      }
    }
  }
  tf.dispose([tokens, x, ...Object.values(activations), ...Object.values(saes.params)]);
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

Deno.test("loadRunSaes() names the run's config.json when it is truncated or has a bad field", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/config.json`;
    const cut = '{"source": "model", "hoo';
    await Deno.writeTextFile(path, cut);
    await assert.rejects(() => loadRunSaes(dir), {
      name: "TypeError",
      message: `${path}: expected JSON, received text that does not parse (${parserSays(cut)})`,
    });
    await Deno.writeTextFile(path, "");
    await assert.rejects(() => loadRunSaes(dir), {
      name: "TypeError",
      message: `${path}: expected JSON, received an empty file`,
    });
    // the field's message names the file, as --config FILE's do
    await Deno.writeTextFile(path, JSON.stringify({ source: "model", dIn: 2.5 }));
    await assert.rejects(() => loadRunSaes(dir), {
      message: `invalid configuration:\n  ${path}: dIn: expected int, received 2.5 (number)`,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("trainingWindows() names a checkpoint's truncated state.json", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const config = parseConfig({
      source: "model",
      contextSize: 33,
      steps: 8,
      batchSize: 128,
      storeSize: 512,
      windowsPerBatch: 4,
    });
    const sidecar = `${dir}/checkpoints/step-00000004/state.json`;
    await Deno.mkdir(`${dir}/checkpoints/step-00000004`, { recursive: true });
    await Deno.writeTextFile(sidecar, '{"position": 25');
    await assert.rejects(() => trainingWindows(dir, config), {
      name: "TypeError",
      message: `${sidecar}: expected JSON, received text that does not parse (${
        parserSays('{"position": 25')
      })`,
    });
    // JSON without a position: every step counts, as without a checkpoint. 8 × 128 = 1024 rows = 2 fills;
    // 32 rows a window (BOS is not trained on) → 32 windows → 8 batches of 4, + 1 → 36 windows.
    await Deno.writeTextFile(sidecar, "null");
    assert.equal(await trainingWindows(dir, config), 36);
    // a position of 100 rows → 1 fill of 512 → 16 windows → 4 batches, + 1 → 20 windows
    await Deno.writeTextFile(sidecar, '{"position": 100}');
    assert.equal(await trainingWindows(dir, config), 20);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadRunSaes() says what is wrong with a folder that is not a finished language-model run", async () => {
  const dir = await Deno.makeTempDir();
  await assert.rejects(() => loadRunSaes(dir), /run folder: cannot read .*config\.json/);
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify({ source: "toy" }));
  await assert.rejects(() => loadRunSaes(dir), /source expected "model" .*received "toy"/);
  await Deno.writeTextFile(
    `${dir}/config.json`,
    JSON.stringify({ source: "model", hooks: ["blocks.0.hook_resid_post"], dIn: 64, nComponents: 1 }),
  );
  await assert.rejects(
    () => loadRunSaes(dir),
    /expected the trained SAE at .*final\/blocks\.0\.hook_resid_post\/ \(has the run finished\?\)/,
  );
  await Deno.remove(dir, { recursive: true });
});
