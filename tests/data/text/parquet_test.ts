import { assert } from "../../_helpers.ts";
import { openParquetFile, parquetTextSource, parquetTokenSource } from "../../../lib/data/text/parquet.ts";
import type { DocumentSource } from "../../../lib/data/text/documents.ts";
import { ByteWriter, parquetWrite } from "hyparquet-writer";
import { parquetMetadata } from "hyparquet";

async function docs<T>(source: DocumentSource<T>, start?: number): Promise<T[]> {
  const out: T[] = [];
  for await (const doc of source.documents(start)) out.push(doc);
  return out;
}

let dir = "";
async function file(name: string, bytes: Uint8Array): Promise<string> {
  dir ||= await Deno.makeTempDir();
  const path = `${dir}/${name}`;
  await Deno.writeFile(path, bytes);
  return path;
}

type Column = { name: string; data: unknown[]; type?: string; nullable?: boolean };

/** A Parquet file with `rowGroupSize` rows per row group. */
function parquetBytes(columnData: Column[], rowGroupSize: number, schema?: unknown[]): Uint8Array {
  const writer = new ByteWriter();
  // deno-lint-ignore no-explicit-any
  parquetWrite({ writer, columnData: columnData as any, rowGroupSize, schema: schema as any });
  return new Uint8Array(writer.getBuffer());
}

/** The schema of one list-of-integers column. */
const listSchema = (name: string, type: "INT32" | "INT64") => [
  { name: "root", num_children: 1 },
  { name, repetition_type: "OPTIONAL", converted_type: "LIST", num_children: 1 },
  { name: "list", repetition_type: "REPEATED", num_children: 1 },
  { name: "element", type, repetition_type: "REQUIRED" },
];

const stories = ["Once upon a time.", "A cat sat.", "Then it rained.", "The end.", "Épilogue ☃"];

Deno.test("parquetTextSource() reads the text column of a file with several row groups, in row order", async () => {
  const bytes = parquetBytes([
    { name: "id", data: [0, 1, 2, 3, 4], type: "INT32" },
    { name: "text", data: stories, type: "STRING" },
  ], 2);
  assert.equal(
    parquetMetadata(bytes.buffer as ArrayBuffer).row_groups.length,
    3,
    "row groups of 2, 2 and 1 rows",
  );
  const path = await file("stories.parquet", bytes);
  assert.deepEqual(await docs(parquetTextSource(path)), stories);
});

Deno.test("parquetTextSource() documents(start) starts inside a row group and skips whole ones", async () => {
  const path = await file("skip.parquet", parquetBytes([{ name: "text", data: stories, type: "STRING" }], 2));
  for (let start = 0; start <= 6; start++) {
    assert.deepEqual(await docs(parquetTextSource(path), start), stories.slice(start), `start ${start}`);
  }
});

Deno.test("parquetTextSource() reads one row group at a time: a damaged later group fails only when reached, and is skipped unread", async () => {
  const bytes = parquetBytes([{ name: "text", data: stories, type: "STRING" }], 2);
  const meta = parquetMetadata(bytes.buffer as ArrayBuffer).row_groups[1].columns[0].meta_data!;
  // Overwrite the second row group's column chunk (rows 2 and 3) with 0xff bytes.
  const from = Number(meta.dictionary_page_offset ?? meta.data_page_offset);
  bytes.fill(0xff, from, from + Number(meta.total_compressed_size));
  const path = await file("damaged.parquet", bytes);
  const seen: string[] = [];
  await assert.rejects(async () => {
    for await (const doc of parquetTextSource(path).documents()) seen.push(doc);
  }, {
    name: "TypeError",
    message: new RegExp(
      `^${path}: row group of rows 2–3 expected decodable column "text", received data that fails`,
    ),
  });
  assert.deepEqual(seen, stories.slice(0, 2), "the first row group was served before the second was read");
  assert.deepEqual(
    await docs(parquetTextSource(path), 4),
    stories.slice(4),
    "the damaged group is skipped unread",
  );
});

Deno.test("parquetTextSource() reads several files as one source, skipping across them", async () => {
  const a = await file(
    "part-0.parquet",
    parquetBytes([{ name: "text", data: stories.slice(0, 3), type: "STRING" }], 2),
  );
  const b = await file(
    "part-1.parquet",
    parquetBytes([{ name: "text", data: stories.slice(3), type: "STRING" }], 1),
  );
  assert.deepEqual(await docs(parquetTextSource([a, b])), stories);
  assert.deepEqual(await docs(parquetTextSource([a, b]), 3), stories.slice(3));
});

Deno.test("parquetTextSource() and parquetTokenSource() read a named column", async () => {
  const path = await file(
    "named.parquet",
    parquetBytes([{ name: "story", data: ["x", "y"], type: "STRING" }], 10),
  );
  assert.deepEqual(await docs(parquetTextSource(path, { column: "story" })), ["x", "y"]);
});

Deno.test("parquetTokenSource() reads INT32 and INT64 list columns as Int32Array", async () => {
  const rows = [[1, 5, 9, 2], [1, 7], [], [1, 3, 3]];
  const int32 = await file(
    "ids32.parquet",
    parquetBytes([{ name: "input_ids", data: rows }], 2, listSchema("input_ids", "INT32")),
  );
  const int64 = await file(
    "ids64.parquet",
    parquetBytes(
      [{ name: "tokens", data: rows.map((r) => r.map(BigInt)) }],
      3,
      listSchema("tokens", "INT64"),
    ),
  );
  const a = await docs(parquetTokenSource(int32));
  const b = await docs(parquetTokenSource(int64, { column: "tokens" }), 1);
  assert.ok(a.every((d) => d instanceof Int32Array));
  assert.deepEqual(a.map((d) => Array.from(d)), rows);
  assert.deepEqual(b.map((d) => Array.from(d)), rows.slice(1));
});

Deno.test("parquet sources name the file and its columns when the column is missing", async () => {
  const path = await file(
    "cols.parquet",
    parquetBytes([
      { name: "id", data: [1], type: "INT32" },
      { name: "content", data: ["x"], type: "STRING" },
    ], 10),
  );
  await assert.rejects(() => docs(parquetTextSource(path)), {
    name: "RangeError",
    message: `${path}: column expected one of ["id", "content"], received "text"`,
  });
  await assert.rejects(() => docs(parquetTokenSource(path)), {
    name: "RangeError",
    message: `${path}: column expected one of ["id", "content"], received "input_ids"`,
  });
});

Deno.test("parquet sources name the row and column of a value of the wrong type", async () => {
  const path = await file(
    "types.parquet",
    parquetBytes([
      { name: "text", data: ["fine", null], type: "STRING", nullable: true },
      { name: "n", data: [1, 2], type: "INT32" },
    ], 10),
  );
  await assert.rejects(() => docs(parquetTextSource(path)), {
    name: "TypeError",
    message: `${path} row 1 column "text": expected a string, received null`,
  });
  await assert.rejects(() => docs(parquetTextSource(path, { column: "n" })), {
    name: "TypeError",
    message: `${path} row 0 column "n": expected a string, received number 1`,
  });
  await assert.rejects(() => docs(parquetTokenSource(path, { column: "text" })), {
    name: "TypeError",
    message: `${path} row 0 column "text": expected a list of token ids, received a string "fine"`,
  });
});

Deno.test("parquet sources reject a missing file and a file that is not Parquet", async () => {
  await assert.rejects(() => docs(parquetTextSource("/nonexistent/train.parquet")), {
    name: "NotFound",
    message: "/nonexistent/train.parquet: expected an existing file, received none",
  });
  const path = await file("fake.parquet", new TextEncoder().encode('{"text": "I am JSON"}\n'));
  await assert.rejects(() => docs(parquetTextSource(path)), {
    name: "TypeError",
    message: new RegExp(`^${path}: expected a Parquet file, received one whose footer does not parse`),
  });
});

Deno.test("openParquetFile() serves concurrent slices without mixing their reads", async () => {
  const bytes = new Uint8Array(1000).map((_, i) => i % 251);
  const path = await file("slices.bin", bytes);
  const f = await openParquetFile(path);
  try {
    const ranges = [[0, 10], [500, 990], [3, 4], [990, 1000], [100, 100]];
    const got = await Promise.all(ranges.map(([s, e]) => f.slice(s, e)));
    got.forEach((buf, i) => assert.deepEqual(new Uint8Array(buf), bytes.slice(ranges[i][0], ranges[i][1])));
    assert.deepEqual(new Uint8Array(await f.slice(995)), bytes.slice(995));
    await assert.rejects(() => f.slice(990, 1010), {
      name: "RangeError",
      message: `${path}: expected 20 bytes at byte 990, received 10`,
    });
  } finally {
    f.close();
  }
});

Deno.test({
  name: "parquetTextSource() closes the file when the reader stops early",
  sanitizeResources: true,
}, async () => {
  // The resource sanitizer (on for this test) fails it if a file stays open.
  const path = await file(
    "early.parquet",
    parquetBytes([{ name: "text", data: stories, type: "STRING" }], 2),
  );
  for await (const doc of parquetTextSource(path).documents()) {
    assert.equal(doc, stories[0]);
    break;
  }
});

Deno.test("parquet fixtures are removed", async () => {
  if (dir) await Deno.remove(dir, { recursive: true });
});
