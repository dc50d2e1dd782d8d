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

/** Writes bytes to a fixture file. */
async function bytesFile(name: string, bytes: Uint8Array): Promise<string> {
  dir ||= await Deno.makeTempDir();
  const path = `${dir}/${name}`;
  await Deno.writeFile(path, bytes);
  return path;
}

/** A plain-text source over `paths` whose warnings are collected. */
function warned(paths: string | string[], options: Parameters<typeof plainTextSource>[1] = {}) {
  const warnings: string[] = [];
  return { source: plainTextSource(paths, { ...options, onWarning: (m) => warnings.push(m) }), warnings };
}

const junkMessage = (path: string, percent: string, chars: number, first = false) =>
  `${path}: ${percent}% of its ${first ? "first " : ""}${chars} characters are U+FFFD (bytes that are not ` +
  "UTF-8) or control characters (more than 10%): is it a binary file, or text in another encoding? It is read " +
  "as it is";

Deno.test("plainTextSource() warns once, naming the file, when more than 10% of it is junk", async () => {
  // 0xFF is never UTF-8: each decodes to one U+FFFD. 101 of them and 899 "x": 1000 characters, 10.1% junk.
  const junk = (n: number, total: number) =>
    Uint8Array.from({ length: total }, (_, i) => (i < n ? 0xff : 0x78));
  const over = await bytesFile("over.txt", junk(101, 1000));
  const at = await bytesFile("at.txt", junk(100, 1000)); // exactly 10%: not more than 10%
  const { source, warnings } = warned([over, at]);
  assert.equal((await docs(source)).length, 2, "the files are still read");
  await docs(source); // read again: no second warning
  assert.deepEqual(warnings, [junkMessage(over, "10.1", 1000)]);

  // C0 controls count, tab, line feed and carriage return do not: 200 NULs, BELs and ESCs in 1000 characters.
  const controls = await file(
    "controls.txt",
    "\u0000\u0007\u001b".repeat(66) + "\u0001\u0002" + "a\tb\r\n".repeat(160),
  );
  const clean = await file("clean.txt", "tab\tand\r\nnew lines\n".repeat(100));
  const second = warned([controls, clean]);
  await docs(second.source);
  assert.deepEqual(second.warnings, [junkMessage(controls, "20.0", 1000)]);
});

Deno.test("plainTextSource() names a UTF-16 file and judges only the first 65,536 characters", async () => {
  // "Hello world" in UTF-16LE with its byte-order mark: FF FE, then each letter and a NUL. As UTF-8:
  // 2 U+FFFD, 11 letters and 11 NULs = 24 characters, 13 of them junk (54.2%).
  const utf16 = await bytesFile(
    "utf16.txt",
    Uint8Array.from([0xff, 0xfe, ...[..."Hello world"].flatMap((c) => [c.charCodeAt(0), 0])]),
  );
  const a = warned(utf16);
  await docs(a.source);
  assert.deepEqual(a.warnings, [junkMessage(utf16, "54.2", 24)]);

  // Junk only after the first 65,536 characters is not judged; junk before it is, as "first 65536".
  const late = await file("late.txt", "a".repeat(65_536) + "\u0000".repeat(20_000));
  const early = await file("early.txt", "\u0000".repeat(7_000) + "a".repeat(80_000));
  const b = warned([late, early], { chunkSize: 4096 });
  await docs(b.source);
  // 7000 of the first 65536 characters: 10.68...%
  assert.deepEqual(b.warnings, [junkMessage(early, "10.7", 65_536, true)]);
});

Deno.test("plainTextSource() judges every split mode, and a read stopped early on what it read", async () => {
  // 6 + 2 + 5 + 2 + 15 = 30 characters, 3 of them NULs: 10.0% is not more than 10%.
  const path = await file("split.txt", "\u0000\u0000 one\n\n\u0000 two\n\ntwo and a half!");
  const quiet = warned(path, { split: "blank-line" });
  assert.deepEqual(await docs(quiet.source), ["\u0000\u0000 one", "\u0000 two", "two and a half!"]);
  assert.deepEqual(quiet.warnings, []);
  // 8 + 7 + 5 + 7 + 14 = 41 characters, 5 of them NULs: 12.2%.
  const loud = await file("split2.txt", "\u0000\u0000\u0000\u0000 one<|sep|>\u0000 two<|sep|>two and a half");
  for (const split of ["file", "blank-line", { separator: "<|sep|>" }] as const) {
    const { source, warnings } = warned(loud, { split });
    await docs(source);
    assert.deepEqual(warnings, [junkMessage(loud, "12.2", 41)], JSON.stringify(split));
  }
  // Stopped after the first document, which ends in the second read of 8 bytes: judged on those 16
  // characters, 5 of them NULs (31.25%).
  const { source, warnings } = warned(loud, { split: { separator: "<|sep|>" }, chunkSize: 8 });
  for await (const _ of source.documents()) break;
  assert.deepEqual(warnings, [junkMessage(loud, "31.3", 16, true)]);
});

Deno.test("plainTextSource() warns through console.warn once per file and process by default", async () => {
  const path = await bytesFile("default.txt", Uint8Array.from({ length: 10 }, () => 0xff));
  const original = console.warn;
  const seen: unknown[][] = [];
  console.warn = (...args: unknown[]) => void seen.push(args);
  try {
    await docs(plainTextSource(path));
    await docs(plainTextSource(path, { split: "blank-line" }));
  } finally {
    console.warn = original;
  }
  assert.deepEqual(seen, [[junkMessage(path, "100.0", 10)]]);
});

Deno.test("plain-text fixtures are removed", async () => {
  if (dir) await Deno.remove(dir, { recursive: true });
});
