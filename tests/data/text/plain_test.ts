import { assert } from "../../_helpers.ts";
import { plainTextSource } from "../../../lib/data/text/plain.ts";
import { documentFormat, openTextSource, openTokenSource } from "../../../lib/data/text/open.ts";
import type { DocumentSource } from "../../../lib/data/text/documents.ts";

async function docs<T>(source: DocumentSource<T>, start?: number): Promise<T[]> {
  const out: T[] = [];
  for await (const doc of source.documents(start)) out.push(doc);
  return out;
}

let dir = "";
async function file(name: string, content: string): Promise<string> {
  dir ||= await Deno.makeTempDir();
  const path = `${dir}/${name}`;
  await Deno.writeTextFile(path, content);
  return path;
}

Deno.test("plainTextSource() default: one trimmed document per file, files in order", async () => {
  const a = await file("a.txt", "\n  The first file.\nTwo lines.  \n");
  const b = await file("b.txt", "The second.");
  const empty = await file("empty.txt", "  \n");
  assert.deepEqual(await docs(plainTextSource([a, empty, b], { chunkSize: 3 })), [
    "The first file.\nTwo lines.",
    "The second.",
  ]);
  assert.deepEqual(await docs(plainTextSource([a, b], { trim: false })), [
    "\n  The first file.\nTwo lines.  \n",
    "The second.",
  ]);
});

Deno.test("plainTextSource() blank-line: paragraphs split on runs of blank or whitespace-only lines", async () => {
  const path = await file("p.txt", "\n\nOne a\r\nOne b\n\n \t\nTwo\n\n\n\nThree\n");
  for (const chunkSize of [1, 4, 1000]) {
    assert.deepEqual(await docs(plainTextSource(path, { split: "blank-line", chunkSize })), [
      "One a\nOne b",
      "Two",
      "Three",
    ]);
  }
});

Deno.test("plainTextSource() separator: cut at a literal string that straddles read chunks", async () => {
  // TinyStories' layout: stories separated by a line "<|endoftext|>".
  const path = await file(
    "s.txt",
    "Once.\n<|endoftext|>\nTwice.\n<|endoftext|>\n<|endoftext|>\nThrice.<|endoftext|>",
  );
  const separator = { separator: "<|endoftext|>" };
  for (const chunkSize of [1, 2, 5, 7, 13, 4096]) {
    assert.deepEqual(
      await docs(plainTextSource(path, { split: separator, chunkSize })),
      ["Once.", "Twice.", "Thrice."],
      `chunkSize ${chunkSize}`,
    );
  }
});

Deno.test("plainTextSource() separator: a partial separator at a chunk end that does not complete stays text", async () => {
  const path = await file("partial.txt", "a<|end|b<|endoftext|>c");
  assert.deepEqual(
    await docs(plainTextSource(path, { split: { separator: "<|endoftext|>" }, chunkSize: 3 })),
    ["a<|end|b", "c"],
  );
});

Deno.test("plainTextSource() documents(start) skips documents, across files", async () => {
  const a = await file("k1.txt", "A\n\nB");
  const b = await file("k2.txt", "C\n\nD");
  const source = plainTextSource([a, b], { split: "blank-line" });
  assert.deepEqual(await docs(source, 0), ["A", "B", "C", "D"]);
  assert.deepEqual(await docs(source, 3), ["D"]);
  assert.deepEqual(await docs(source, 9), []);
});

Deno.test("plainTextSource() errors: missing file, bad split, bad start", async () => {
  await assert.rejects(() => docs(plainTextSource(`${dir || "/tmp"}/missing.txt`)), {
    name: "NotFound",
    message: /missing\.txt: expected an existing file, received none/,
  });
  assert.throws(() => plainTextSource("x.txt", { split: { separator: "" } }), {
    name: "TypeError",
    message: 'split.separator: expected a non-empty string, received ""',
  });
  assert.throws(() => plainTextSource("x.txt", { split: "lines" as "file" }), {
    name: "TypeError",
    message: 'split: expected "file", "blank-line" or { separator }, received "lines"',
  });
  await assert.rejects(() => docs(plainTextSource("x.txt"), -1), {
    name: "RangeError",
    message: "start: expected a non-negative integer, received -1",
  });
});

Deno.test("documentFormat() and openTextSource() choose the reader by extension", async () => {
  assert.equal(documentFormat("a.JSONL"), "jsonl");
  assert.equal(documentFormat("a.ndjson.gz"), "jsonl");
  assert.equal(documentFormat(new URL("file:///d/train.parquet")), "parquet");
  assert.equal(documentFormat("a.txt.gz"), "text");
  const jsonl = await file("o.jsonl", '{"body": "from jsonl"}\n');
  const txt = await file("o.txt", "from text\n\nsecond");
  assert.deepEqual(await docs(openTextSource(jsonl, { field: "body" })), ["from jsonl"]);
  assert.deepEqual(await docs(openTextSource(txt, { split: "blank-line" })), ["from text", "second"]);
  assert.throws(() => openTextSource([jsonl, txt]), {
    name: "TypeError",
    message: `${txt}: expected a jsonl file like ${jsonl}, received a text file`,
  });
  assert.throws(() => openTokenSource(txt), {
    name: "TypeError",
    message: `${txt}: expected a .jsonl or .parquet file of token ids, received a plain-text file`,
  });
  assert.throws(() => openTextSource([]), { name: "RangeError" });
});

Deno.test("plain-text fixtures are removed", async () => {
  if (dir) await Deno.remove(dir, { recursive: true });
});
