import { assert } from "../../_helpers.ts";
import { arrayDocuments, type DocumentSource } from "../../../lib/data/text/documents.ts";
import { shuffleDocuments, shuffleStream, shuffleWindows } from "../../../lib/data/text/shuffle.ts";
import { type TokenWindows, tokenWindows } from "../../../lib/data/text/windows.ts";

async function* count(n: number) {
  for (let i = 0; i < n; i++) yield i;
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

const docs = <T>(source: DocumentSource<T>, start?: number) => collect(source.documents(start));
const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

Deno.test("shuffleStream() emits every item once, in an order fixed by the seed", async () => {
  const a = await collect(shuffleStream(count(100), { bufferSize: 10, seed: 4 }));
  assert.deepEqual(sorted(a), range(100));
  assert.notDeepEqual(a, range(100));
  assert.deepEqual(await collect(shuffleStream(count(100), { bufferSize: 10, seed: 4 })), a);
  assert.notDeepEqual(await collect(shuffleStream(count(100), { bufferSize: 10, seed: 5 })), a);
});

Deno.test("shuffleStream() moves an item at most bufferSize − 1 places earlier; buffer 1 keeps the order", async () => {
  const out = await collect(shuffleStream(count(500), { bufferSize: 8, seed: 1 }));
  out.forEach((item, position) => assert.ok(item - position <= 7, `item ${item} emitted at ${position}`));
  assert.deepEqual(await collect(shuffleStream(count(20), { bufferSize: 1, seed: 1 })), range(20));
});

Deno.test("shuffleStream() with a buffer larger than the input is a full shuffle of it", async () => {
  const out = await collect(shuffleStream(count(30), { bufferSize: 1000, seed: 2 }));
  assert.deepEqual(sorted(out), range(30));
  assert.notDeepEqual(out, range(30));
  assert.deepEqual(await collect(shuffleStream(count(0), { bufferSize: 4, seed: 2 })), []);
});

Deno.test("shuffleDocuments() resumed at k gives the tail from k of the same shuffled order", async () => {
  const source = shuffleDocuments(arrayDocuments(range(50).map((i) => `doc ${i}`)), {
    bufferSize: 7,
    seed: 9,
  });
  const all = await docs(source);
  assert.equal(new Set(all).size, 50);
  for (const k of [0, 1, 13, 49, 50, 60]) assert.deepEqual(await docs(source, k), all.slice(k), `from ${k}`);
});

Deno.test("shuffleWindows() shuffles whole windows, keeps their lengths, and resumes exactly", async () => {
  const windows: TokenWindows = tokenWindows(
    arrayDocuments(range(30).map((i) => range(1 + (i % 9)).map((j) => 10 + 10 * i + j))),
    { contextSize: 4, documentEnd: "pad", padId: 0, bosId: 1 },
  );
  const plain = await collect(windows.windowsWithLength());
  const shuffled = shuffleWindows(windows, { bufferSize: 16, seed: 3 });
  assert.equal(shuffled.contextSize, 4);
  const all = await collect(shuffled.windowsWithLength());
  const key = (w: { tokens: Int32Array; length: number }) => `${w.tokens.join(",")}/${w.length}`;
  assert.deepEqual(all.map(key).sort(), plain.map(key).sort());
  assert.notDeepEqual(all.map(key), plain.map(key));
  const tail = await collect(shuffled.windows(11));
  assert.deepEqual(tail.map((w) => w.join(",")), all.slice(11).map((w) => w.tokens.join(",")));
});

Deno.test("shuffled packed windows are distinct arrays, not one buffer reused", async () => {
  const windows = tokenWindows(arrayDocuments([range(40).map((i) => i + 5)]), {
    contextSize: 4,
    prependBos: false,
    separator: "none",
  });
  const all = await collect(shuffleWindows(windows, { bufferSize: 5, seed: 0 }).windows());
  // Windows 5 6 7 8 | 9 10 11 12 | …: each first token is 5 + 4k, each exactly once.
  assert.deepEqual(sorted(all.map((w) => w[0])), range(10).map((k) => 5 + 4 * k));
});

Deno.test("shuffle options are checked", () => {
  const source = arrayDocuments(["a"]);
  assert.throws(() => shuffleDocuments(source, { bufferSize: 0, seed: 1 }), {
    name: "RangeError",
    message: "bufferSize: expected a positive integer, received 0",
  });
  assert.throws(() => shuffleDocuments(source, { bufferSize: 4, seed: 1.5 }), {
    name: "RangeError",
    message: "seed: expected an integer, received 1.5",
  });
});
