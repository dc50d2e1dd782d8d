import { assert } from "../../_helpers.ts";
import { jsonlTextSource, jsonlTokenSource } from "../../../lib/data/text/jsonl.ts";
import type { DocumentSource } from "../../../lib/data/text/documents.ts";

async function docs<T>(source: DocumentSource<T>, start?: number): Promise<T[]> {
  const out: T[] = [];
  for await (const doc of source.documents(start)) out.push(doc);
  return out;
}

let dir = "";
async function file(name: string, content: string | Uint8Array): Promise<string> {
  dir ||= await Deno.makeTempDir();
  const path = `${dir}/${name}`;
  if (typeof content === "string") await Deno.writeTextFile(path, content);
  else await Deno.writeFile(path, content);
  return path;
}

const lines = (...rows: unknown[]) =>
  rows.map((r) => typeof r === "string" ? r : JSON.stringify(r)).join("\n");

Deno.test("jsonlTextSource() reads the text field of each non-blank line", async () => {
  const path = await file("a.jsonl", lines({ text: "one", id: 1 }, "", "  ", { id: 2, text: "two" }) + "\n");
  assert.deepEqual(await docs(jsonlTextSource(path)), ["one", "two"]);
});

Deno.test("jsonlTextSource() assembles a line that straddles read-buffer boundaries", async () => {
  // A 300-character story read 16 bytes at a time: its line spans 20 reads, and
  // the multi-byte "é" and "☃" fall across some of those boundaries.
  const story = "Il était une fois ☃. ".repeat(15);
  const path = await file("long.jsonl", lines({ text: "short" }, { text: story }, { text: "after" }));
  assert.ok(new TextEncoder().encode(story).length > 16 * 19);
  for (const chunkSize of [16, 17, 64 * 1024]) {
    assert.deepEqual(await docs(jsonlTextSource(path, { chunkSize })), ["short", story, "after"]);
  }
});

Deno.test("jsonlTextSource() reads a custom field, several files in order, and a .jsonl.gz file", async () => {
  const a = await file("f1.jsonl", lines({ story: "a" }, { story: "b" }));
  const gz = new Uint8Array(
    await new Response(
      new Blob([lines({ story: "c" }, { story: "d" })]).stream().pipeThrough(new CompressionStream("gzip")),
    ).arrayBuffer(),
  );
  const b = await file("f2.jsonl.gz", gz);
  assert.deepEqual(await docs(jsonlTextSource([a, b], { field: "story" })), ["a", "b", "c", "d"]);
});

Deno.test("jsonlTextSource() documents(start) skips documents across files without parsing them", async () => {
  // The skipped line 2 is not JSON: skipping counts lines, it does not parse them.
  const a = await file("s1.jsonl", lines({ text: "0" }, "{not json", "", { text: "2" }));
  const b = await file("s2.jsonl", lines({ text: "3" }, { text: "4" }));
  const source = jsonlTextSource([a, b]);
  assert.deepEqual(await docs(source, 2), ["2", "3", "4"]);
  assert.deepEqual(await docs(source, 4), ["4"]);
  assert.deepEqual(await docs(source, 5), []);
});

Deno.test("jsonlTextSource() names the file and 1-based line (blank lines counted) of a line that is not JSON", async () => {
  const path = await file("bad.jsonl", lines({ text: "ok" }, "", '{"text": "unterminated'));
  await assert.rejects(() => docs(jsonlTextSource(path)), {
    name: "SyntaxError",
    message: new RegExp(`^${path} line 3: expected a JSON object, received invalid JSON \\(`),
  });
});

Deno.test("jsonlTextSource() names the line and the field when the field is missing", async () => {
  const path = await file("missing.jsonl", lines({ text: "ok" }, { body: "x", id: 7 }));
  await assert.rejects(() => docs(jsonlTextSource(path)), {
    name: "TypeError",
    message: `${path} line 2: expected a field "text", received an object with fields ["body", "id"]`,
  });
});

Deno.test("jsonlTextSource() rejects a line that is not an object, and a field that is not a string", async () => {
  const array = await file("array.jsonl", lines([1, 2]));
  await assert.rejects(() => docs(jsonlTextSource(array)), {
    name: "TypeError",
    message: `${array} line 1: expected a JSON object, received an array of length 2`,
  });
  const number = await file("number.jsonl", lines({ text: "ok" }, { text: 5 }));
  await assert.rejects(() => docs(jsonlTextSource(number)), {
    name: "TypeError",
    message: `${number} line 2 field "text": expected a string, received number 5`,
  });
  const nul = await file("null.jsonl", lines({ text: null }));
  await assert.rejects(() => docs(jsonlTextSource(nul)), {
    name: "TypeError",
    message: `${nul} line 1 field "text": expected a string, received null`,
  });
});

Deno.test("jsonlTextSource() names a missing file", async () => {
  await assert.rejects(() => docs(jsonlTextSource("/nonexistent/corpus.jsonl")), {
    name: "NotFound",
    message: "/nonexistent/corpus.jsonl: expected an existing file, received none",
  });
});

Deno.test("jsonlTokenSource() reads lists of token ids as Int32Array, from a custom field too", async () => {
  const path = await file("t.jsonl", lines({ input_ids: [1, 5, 9] }, { input_ids: [] }, { input_ids: [2] }));
  const out = await docs(jsonlTokenSource(path));
  assert.ok(out.every((d) => d instanceof Int32Array));
  assert.deepEqual(out.map((d) => Array.from(d)), [[1, 5, 9], [], [2]]);
  const other = await file("t2.jsonl", lines({ tokens: [4, 3] }));
  assert.deepEqual((await docs(jsonlTokenSource(other, { field: "tokens" }))).map((d) => Array.from(d)), [[
    4,
    3,
  ]]);
});

Deno.test("jsonlTokenSource() rejects ids that are not lists of non-negative integers, naming line, field and token", async () => {
  const text = await file("tt.jsonl", lines({ input_ids: "1 2 3" }));
  await assert.rejects(() => docs(jsonlTokenSource(text)), {
    name: "TypeError",
    message: `${text} line 1 field "input_ids": expected a list of token ids, received a string "1 2 3"`,
  });
  const float = await file("tf.jsonl", lines({ input_ids: [1, 2] }, { input_ids: [1, 2.5] }));
  await assert.rejects(() => docs(jsonlTokenSource(float)), {
    name: "TypeError",
    message: `${float} line 2 field "input_ids": token 1 expected an integer id, received number 2.5`,
  });
  const negative = await file("tn.jsonl", lines({ input_ids: [-1] }));
  await assert.rejects(() => docs(jsonlTokenSource(negative)), {
    name: "RangeError",
    message: `${negative} line 1 field "input_ids": token 0 expected an id in [0, 2147483647], received -1`,
  });
  const missing = await file("tm.jsonl", lines({ text: "no ids" }));
  await assert.rejects(() => docs(jsonlTokenSource(missing)), {
    name: "TypeError",
    message: `${missing} line 1: expected a field "input_ids", received an object with fields ["text"]`,
  });
});

Deno.test("jsonl fixtures are removed", async () => {
  if (dir) await Deno.remove(dir, { recursive: true });
});
