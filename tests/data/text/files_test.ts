import { assert } from "../../_helpers.ts";
import { openFile, readChunks, readLines, readTextChunks } from "../../../lib/data/text/files.ts";

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

async function withFile(name: string, content: string | Uint8Array, body: (path: string) => Promise<void>) {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/${name}`;
    if (typeof content === "string") await Deno.writeTextFile(path, content);
    else await Deno.writeFile(path, content);
    await body(path);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("readChunks() reads chunkSize bytes at a time, the last chunk shorter", async () => {
  await withFile("a.bin", new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]), async (path) => {
    const chunks = await collect(readChunks(path, { chunkSize: 4 }));
    assert.deepEqual(chunks.map((c) => Array.from(c)), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
  });
});

Deno.test("readChunks() of an empty file yields nothing", async () => {
  await withFile("empty.txt", "", async (path) => {
    assert.deepEqual(await collect(readChunks(path, { chunkSize: 4 })), []);
  });
});

Deno.test("readTextChunks() joins a UTF-8 character split across two reads", async () => {
  // "é" is 2 bytes and "☃" 3 bytes: with 2-byte reads both straddle a boundary.
  await withFile("u.txt", "aé☃b", async (path) => {
    const parts = await collect(readTextChunks(path, { chunkSize: 2 }));
    assert.equal(parts.join(""), "aé☃b");
    assert.ok(parts.length > 1, "read in several chunks");
  });
});

Deno.test("readLines() splits \\n and \\r\\n lines, across chunk boundaries, keeping a final unterminated line", async () => {
  const text = "one\r\ntwo\n\nthree is longer than a chunk\r\nfour";
  await withFile("l.txt", text, async (path) => {
    for (const chunkSize of [1, 2, 3, 5, 64]) {
      assert.deepEqual(
        await collect(readLines(path, { chunkSize })),
        ["one", "two", "", "three is longer than a chunk", "four"],
        `chunkSize ${chunkSize}`,
      );
    }
  });
});

Deno.test("readLines() gives no line for an empty file and one per terminated line", async () => {
  await withFile("e.txt", "", async (path) => assert.deepEqual(await collect(readLines(path)), []));
  await withFile("n.txt", "a\n", async (path) => assert.deepEqual(await collect(readLines(path)), ["a"]));
});

Deno.test("readLines() decompresses a .gz file as it reads", async () => {
  const gz = new Uint8Array(
    await new Response(
      new Blob(["line 1\nline 2\n"]).stream().pipeThrough(new CompressionStream("gzip")),
    ).arrayBuffer(),
  );
  await withFile("l.txt.gz", gz, async (path) => {
    assert.deepEqual(await collect(readLines(path)), ["line 1", "line 2"]);
  });
});

Deno.test("readChunks() of a .gz file that is not gzip names the file", async () => {
  await withFile("bad.txt.gz", "not gzip", async (path) => {
    await assert.rejects(() => collect(readChunks(path)), {
      name: "TypeError",
      message: /bad\.txt\.gz: expected gzip data/,
    });
  });
});

Deno.test("openFile() names a missing file and rejects a directory", async () => {
  await assert.rejects(() => openFile("/nonexistent/dir/x.jsonl"), {
    name: "NotFound",
    message: "/nonexistent/dir/x.jsonl: expected an existing file, received none",
  });
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(() => openFile(dir), {
      name: "TypeError",
      message: `${dir}: expected a regular file, received a directory or device`,
    });
  } finally {
    await Deno.remove(dir);
  }
});

Deno.test("readChunks() rejects a chunk size below 1", async () => {
  await assert.rejects(() => collect(readChunks("/unused", { chunkSize: 0 })), {
    name: "RangeError",
    message: "chunkSize: expected a positive integer, received 0",
  });
});

Deno.test({
  name: "readLines() closes the file when the reader stops early (plain and .gz)",
  sanitizeResources: true,
}, async () => {
  // The resource sanitizer (on for this test) fails it if a file stays open.
  const gz = new Uint8Array(
    await new Response(
      new Blob(["a\nb\nc\n".repeat(1000)]).stream().pipeThrough(new CompressionStream("gzip")),
    ).arrayBuffer(),
  );
  await withFile("early.txt.gz", gz, async (path) => {
    for await (const line of readLines(path)) {
      assert.equal(line, "a");
      break;
    }
  });
  await withFile("early.txt", "a\nb\nc\n", async (path) => {
    for await (const line of readLines(path, { chunkSize: 2 })) {
      assert.equal(line, "a");
      break;
    }
  });
});
