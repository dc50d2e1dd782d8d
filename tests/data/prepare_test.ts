/**
 * The checks prepareSource() makes before training: a dataset too small for one batch (empty, whitespace
 * only, or short), binary junk in a plain-text dataset, and sizes that cannot fit in memory.
 */
import { assert } from "../_helpers.ts";
import { ByteWriter, parquetWrite } from "hyparquet-writer";
import { parseConfig, type TrainConfigInput } from "../../lib/config.ts";
import { checkDatasetSize, prepareSource } from "../../lib/data/prepare.ts";
import { runTrainCommand } from "../../lib/cli/train.ts";

const dir = await Deno.makeTempDir({ prefix: "saekit-prepare-test-" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

async function file(name: string, content: string | Uint8Array): Promise<string> {
  const path = `${dir}/${name}`;
  if (typeof content === "string") await Deno.writeTextFile(path, content);
  else await Deno.writeFile(path, content);
  return path;
}

/** A JSONL file of pre-tokenized documents, one `{"ids": [...]}` per line. */
function idsFile(name: string, documents: number[][]): Promise<string> {
  return file(name, documents.map((ids) => JSON.stringify({ ids })).join("\n") + "\n");
}

/** `n` token ids 2, 3, … (in the vocabulary of stories260K, 512 tokens). */
const ids = (n: number, from = 2) => Array.from({ length: n }, (_, i) => from + i);

/** A small stories260K run over `dataset`: windows of 16 tokens, batches of 64, 4 windows held out. */
function storiesInput(dataset: string, more: TrainConfigInput = {}): TrainConfigInput {
  return {
    source: "model",
    dataset,
    contextSize: 16,
    windowsPerBatch: 4,
    validationWindows: 4,
    batchSize: 64,
    storeSize: 64,
    steps: 1,
    ...more,
  };
}

const tokenizer = { bosId: 1, eosId: 2, vocabSize: 512, encode: () => [], decode: () => "" };

Deno.test("prepareSource() refuses an empty or whitespace-only dataset before training, naming the file", async () => {
  const writer = new ByteWriter();
  parquetWrite({ writer, columnData: [{ name: "text", data: [], type: "STRING" }] });
  const files = [
    await file("empty.txt", ""),
    await file("blank.txt", "  \n\t\n"),
    await file("blank.jsonl", "\n\n  \n"),
    await file("empty.parquet", new Uint8Array(writer.getBuffer())),
  ];
  for (const path of files) {
    const before = await Deno.readFile(path);
    const input = storiesInput(path);
    // One batch of 64 activations at 15 per window (16 tokens, the first BOS) needs ceil(64 / 15) = 5
    // windows, after the 4 held out: 9.
    await assert.rejects(() => prepareSource(parseConfig(input), input), {
      name: "RangeError",
      message:
        `dataset ${path}: yields 0 windows of 16 tokens (0 documents, 0 tokens), but training needs 9: ` +
        "4 held out for validation (validationWindows), then 5 for one batch of 64 activations (15 per window " +
        "after its BOS); it holds no documents: is the file empty, or only whitespace?",
    });
    assert.deepEqual(await Deno.readFile(path), before, `${path} is left as it was`);
  }
});

Deno.test("prepareSource() refuses a dataset that yields fewer windows than the held-out ones and one batch", async () => {
  // Two documents of 20 ids, packed: [BOS 15 ids] [BOS 5 ids, BOS, 9 ids], and 11 ids left over: 2 windows.
  const path = await idsFile("two.jsonl", [ids(20), ids(20, 100)]);
  const input = storiesInput(path, { datasetTokenized: true, datasetField: "ids", validationWindows: 1 });
  await assert.rejects(() => prepareSource(parseConfig(input), input), {
    name: "RangeError",
    message:
      `dataset ${path}: yields 2 windows of 16 tokens (2 documents, 40 tokens), but training needs 6: ` +
      "1 held out for validation (validationWindows), then 5 for one batch of 64 activations (15 per window " +
      "after its BOS); use more text, or lower batchSize or validationWindows",
  });
});

Deno.test("checkDatasetSize() counts windows until it has enough, at the edge of one batch", async () => {
  const path = await idsFile("edge.jsonl", [ids(20), ids(20, 100)]);
  const fields = { dataset: path, datasetField: "ids", datasetTokenized: true, contextSize: 16 };
  // 1 held out, then one batch of 15 = one window of 15 activations: 2 windows, which the file has.
  const fits = parseConfig({ ...fields, validationWindows: 1, batchSize: 15, storeSize: 15 });
  assert.deepEqual(await checkDatasetSize(fits, tokenizer), {
    documents: 2,
    tokens: 40,
    windows: 2,
    needed: 2,
  });
  // A batch of 16 needs a second window: 3 in all.
  const short = parseConfig({ ...fields, validationWindows: 1, batchSize: 16, storeSize: 16 });
  await assert.rejects(() => checkDatasetSize(short, tokenizer), {
    message:
      `dataset ${path}: yields 2 windows of 16 tokens (2 documents, 40 tokens), but training needs 3: ` +
      "1 held out for validation (validationWindows), then 2 for one batch of 16 activations (15 per window " +
      "after its BOS); use more text, or lower batchSize or validationWindows",
  });
  // Without BOS a window gives 16 activations: a batch of 16 is one window again.
  const noBos = parseConfig({
    ...fields,
    prependBos: false,
    validationWindows: 1,
    batchSize: 16,
    storeSize: 16,
  });
  assert.equal((await checkDatasetSize(noBos, tokenizer)).needed, 2);
  // documentEnd "drop" keeps no window from a document shorter than a window: three of 10 ids give none.
  const shortDocs = await idsFile("short.jsonl", [ids(10), ids(10), ids(10)]);
  const drop = parseConfig({
    ...fields,
    dataset: shortDocs,
    documentEnd: "drop",
    validationWindows: 0,
    batchSize: 64,
    storeSize: 64,
  });
  await assert.rejects(() => checkDatasetSize(drop, tokenizer), {
    message:
      `dataset ${shortDocs}: yields 0 windows of 16 tokens (3 documents, 30 tokens), but training needs ` +
      "5 for one batch of 64 activations (15 per window after its BOS); use more text, or lower batchSize, or " +
      'set documentEnd "pack" (drop keeps no window from a document shorter than one)',
  });
});

Deno.test("prepareSource() warns once, naming the file, about a plain-text dataset that is mostly junk", async () => {
  // 200 bytes 0xFF (each one U+FFFD) and 800 characters of text: 20.0% of 1000 characters.
  const text = "Once upon a time, there was a little cat. ".repeat(19) + "ab";
  const bytes = new Uint8Array([...new Uint8Array(200).fill(0xff), ...new TextEncoder().encode(text)]);
  const path = await file("junk.txt", bytes);
  const input = storiesInput(path, { validationWindows: 0, batchSize: 8, storeSize: 8 });
  const warnings: string[] = [];
  const prepared = await prepareSource(parseConfig(input), input, { onWarning: (m) => warnings.push(m) });
  prepared.dispose();
  assert.deepEqual(warnings, [
    `${path}: 20.0% of its 1000 characters are U+FFFD (bytes that are not UTF-8) or control characters (more ` +
    "than 10%): is it a binary file, or text in another encoding? It is read as it is",
  ]);
});

Deno.test("prepareSource() refuses sizes that cannot fit in memory before it allocates them", async () => {
  const toy = { source: "toy", dSae: 1e10 } as const;
  // 3 × 1 × (2 × 64 × 1e10 + 1e10 + 64) values × 4 bytes = 1.548e13 bytes.
  await assert.rejects(() => prepareSource(parseConfig(toy), toy, { memoryBytes: 24e9 }), {
    name: "RangeError",
    message:
      "dSae 10000000000 (with dIn 64, nComponents 1): the parameters and Adam moments alone need 15.5 TB " +
      "(3 × 1 × (2 × 64 × 10000000000 + 10000000000 + 64) float32 values), more than the 24.0 GB of memory " +
      "of this machine; lower dSae (or expansionFactor), dIn or nComponents",
  });
  // A model source is checked once the model has set nComponents: 5 hooks of stories260K, dIn 64.
  // 3 × 5 × (2 × 64 × 1e6 + 1e6 + 64) × 4 = 7,740,003,840 bytes.
  const model = { source: "model", dSae: 1_000_000, batchSize: 64, storeSize: 64, steps: 1 } as const;
  await assert.rejects(() => prepareSource(parseConfig(model), model, { memoryBytes: 1e9 }), {
    message:
      "dSae 1000000 (with dIn 64, nComponents 5): the parameters and Adam moments alone need 7.74 GB " +
      "(3 × 5 × (2 × 64 × 1000000 + 1000000 + 64) float32 values), more than the 1.00 GB of memory of this " +
      "machine; lower dSae (or expansionFactor), dIn or nComponents",
  });
});

Deno.test("deno task train stops before training on an empty dataset, and the run folder keeps what it had", async () => {
  const empty = await file("train-empty.txt", "\n");
  const out = await Deno.makeTempDir({ prefix: "saekit-prepare-out-" });
  try {
    await Deno.writeTextFile(`${out}/notes.txt`, "an earlier note");
    const written: string[] = [];
    const io = {
      write: (t: string) => void written.push(t),
      isTerminal: false,
      signal: new AbortController().signal,
    };
    // The built-in stories260K run: windows of 128 tokens, 16 held out, batches of 1024 = ceil(1024 / 127) = 9.
    await assert.rejects(() => runTrainCommand(["--backend", "cpu", "--dataset", empty, "--out", out], io), {
      name: "RangeError",
      message:
        `dataset ${empty}: yields 0 windows of 128 tokens (0 documents, 0 tokens), but training needs ` +
        "25: 16 held out for validation (validationWindows), then 9 for one batch of 1024 activations (127 per " +
        "window after its BOS); it holds no documents: is the file empty, or only whitespace?",
    });
    assert.equal(await Deno.readTextFile(`${out}/notes.txt`), "an earlier note");
    for (const name of ["config.json", "metrics.jsonl", "checkpoints", "final"]) {
      await assert.rejects(() => Deno.stat(`${out}/${name}`), Deno.errors.NotFound, `${name} was written`);
    }
    assert.ok(!written.join("").includes("training"), "no training started");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
