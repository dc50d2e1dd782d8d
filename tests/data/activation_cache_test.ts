import assert from "node:assert/strict";
import {
  ACTIVATION_CACHE_FORMAT,
  defaultShardRows,
  readActivationCache,
  shardFileName,
  writeActivationCache,
} from "../../lib/data/activation_cache.ts";
import type { ActivationSource } from "../../lib/data/source.ts";
import { copyRows } from "../../lib/data/source.ts";
import { shuffledBatches } from "../../lib/data/store.ts";
import { toySource } from "../../lib/data/toy.ts";
import { decodeSafetensors } from "../../lib/io/safetensors.ts";

/** The value of row `r`, component `k`, coordinate `d` of the counting source: 10000·k + 10·r + d. */
const value = (k: number, r: number, d: number) => 10000 * k + 10 * r + d;

/**
 * Two components of width 3 whose entries are {@linkcode value}, in chunks of 7 rows; `total` rows in all.
 * Records the start of every `chunks` call; `failAt` makes the chunk starting at or after it throw.
 */
function countingSource(total = Infinity, failAt = Infinity) {
  const starts: number[] = [];
  const source: ActivationSource = {
    nComponents: 2,
    dIn: 3,
    async *chunks(start: number) {
      starts.push(start);
      for (let r = start; r < total; r += 7) {
        if (r >= failAt) throw new Error(`simulated failure at row ${r}`);
        const rows = Math.min(7, total - r);
        const data = new Float32Array(2 * rows * 3);
        for (let k = 0; k < 2; k++) {
          for (let i = 0; i < rows; i++) {
            for (let d = 0; d < 3; d++) data[(k * rows + i) * 3 + d] = value(k, r + i, d);
          }
        }
        yield { data, rows };
      }
    },
  };
  return { source, starts };
}

/** Rows `[start, start + count)` of the counting source, `[2, count, 3]`. */
function expected(start: number, count: number): Float32Array {
  const out = new Float32Array(2 * count * 3);
  for (let k = 0; k < 2; k++) {
    for (let i = 0; i < count; i++) {
      for (let d = 0; d < 3; d++) out[(k * count + i) * 3 + d] = value(k, start + i, d);
    }
  }
  return out;
}

/** All rows of a source from `start` (at most `limit`), joined into one `[component, rows, dIn]` block. */
async function collect(source: ActivationSource, start = 0, limit = Infinity) {
  const chunks: { data: Float32Array; rows: number }[] = [];
  let rows = 0;
  for await (const chunk of source.chunks(start)) {
    chunks.push(chunk);
    rows += chunk.rows;
    if (rows >= limit) break;
  }
  rows = Math.min(rows, limit);
  const { nComponents: c, dIn: n } = source;
  const data = new Float32Array(c * rows * n);
  let at = 0;
  for (const chunk of chunks) {
    const take = Math.min(chunk.rows, rows - at);
    copyRows(chunk.data, chunk.rows, 0, data, rows, at, take, c, n);
    at += take;
  }
  return { data, rows, sizes: chunks.map((chunk) => chunk.rows) };
}

/** Every file of a directory by name, sorted. */
async function files(dir: string): Promise<Record<string, Uint8Array>> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  const out: Record<string, Uint8Array> = {};
  for (const name of names.sort()) out[name] = await Deno.readFile(`${dir}/${name}`);
  return out;
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "saekit-cache-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** 50 rows in shards of 16: 16 + 16 + 16 + 2. */
const OPTIONS = {
  rows: 50,
  shardRows: 16,
  componentNames: ["h0", "h1"],
  metadata: { model: "counting", n: 3 },
};

Deno.test("writeActivationCache() writes shards of shardRows contiguous rows, a partial last shard and cache.json", async () => {
  await withDir(async (dir) => {
    const written: [number, number][] = [];
    const index = await writeActivationCache(dir, countingSource().source, {
      ...OPTIONS,
      onShard: (i, rows) => written.push([i, rows]),
    });
    assert.deepEqual(written, [[0, 16], [1, 16], [2, 16], [3, 2]]);
    const shards = [
      { file: "shard-00000.safetensors", rows: 16, firstRow: 0 },
      { file: "shard-00001.safetensors", rows: 16, firstRow: 16 },
      { file: "shard-00002.safetensors", rows: 16, firstRow: 32 },
      { file: "shard-00003.safetensors", rows: 2, firstRow: 48 },
    ];
    const want = {
      format: "saekit.activation-cache/1",
      dtype: "F32",
      nComponents: 2,
      dIn: 3,
      componentNames: ["h0", "h1"],
      rows: 50,
      shardRows: 16,
      shards,
      metadata: { model: "counting", n: 3 },
    };
    assert.deepEqual(index, want);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/cache.json`)), want);
    assert.deepEqual(Object.keys(await files(dir)), ["cache.json", ...shards.map((s) => s.file)]);

    // Shard 1 read with the generic decoder: rows 16..31 of both components.
    const shard = decodeSafetensors(await Deno.readFile(`${dir}/shard-00001.safetensors`));
    const t = shard.tensors.activations;
    assert.equal(t.dtype, "F32");
    assert.deepEqual(t.shape, [2, 16, 3]);
    assert.equal(t.data[0], 160); // component 0, row 16, d 0
    assert.equal(t.data[16 * 3], 10160); // component 1, row 16, d 0
    assert.equal(t.data[2 * 16 * 3 - 1], 10312); // component 1, row 31, d 2
    assert.deepEqual(t.data, expected(16, 16));
    assert.equal(shard.metadata.format, ACTIVATION_CACHE_FORMAT);
    assert.equal(shard.metadata.shard, "1");
    assert.equal(shard.metadata.firstRow, "16");
    assert.equal(shard.metadata.rows, "16");
    const last = decodeSafetensors(await Deno.readFile(`${dir}/shard-00003.safetensors`)).tensors.activations;
    assert.deepEqual(last.shape, [2, 2, 3]);
    assert.deepEqual(last.data, expected(48, 2));
  });
});

Deno.test("readActivationCache() gives back every row, one chunk per shard, with names and metadata", async () => {
  await withDir(async (dir) => {
    await writeActivationCache(dir, countingSource().source, OPTIONS);
    const cache = await readActivationCache(dir);
    assert.equal(cache.nComponents, 2);
    assert.equal(cache.dIn, 3);
    assert.equal(cache.rows, 50);
    assert.deepEqual(cache.componentNames, ["h0", "h1"]);
    assert.deepEqual(cache.metadata, { model: "counting", n: 3 });
    const all = await collect(cache);
    assert.deepEqual(all.sizes, [16, 16, 16, 2]);
    assert.equal(all.rows, 50);
    assert.deepEqual(all.data, expected(0, 50));
  });
});

Deno.test("readActivationCache() chunks(start) from inside a shard equal the tail of a full read", async () => {
  await withDir(async (dir) => {
    await writeActivationCache(dir, countingSource().source, OPTIONS);
    const cache = await readActivationCache(dir);
    const full = await collect(cache);
    for (const start of [0, 5, 15, 16, 21, 47, 48, 49]) {
      const tail = await collect(cache, start);
      const count = 50 - start;
      // The tail of the full read, cut per component.
      const cut = new Float32Array(2 * count * 3);
      copyRows(full.data, 50, start, cut, count, 0, count, 2, 3);
      assert.deepEqual(tail.data, cut, `start ${start}`);
      assert.deepEqual(tail.data, expected(start, count), `start ${start}`);
    }
    // Row 21 is row 5 of shard 1: 16 − 5 = 11 rows there, then 16 and 2.
    assert.deepEqual((await collect(cache, 21)).sizes, [11, 16, 2]);
    assert.deepEqual((await collect(cache, 50)).sizes, []);
    assert.deepEqual((await collect(cache, 70)).sizes, []);
    await assert.rejects(() => collect(cache, -1), /start: expected a non-negative integer row, received -1/);
    await assert.rejects(
      () => collect(cache, 2.5),
      /start: expected a non-negative integer row, received 2\.5/,
    );
  });
});

Deno.test("readActivationCache() reads one shard at a time, only when its rows are wanted", async () => {
  await withDir(async (dir) => {
    await writeActivationCache(dir, countingSource().source, OPTIONS);
    const cache = await readActivationCache(dir);
    const it = cache.chunks(0)[Symbol.asyncIterator]();
    assert.equal((await it.next()).value?.rows, 16);
    await Deno.remove(`${dir}/shard-00002.safetensors`);
    assert.deepEqual((await it.next()).value?.data, expected(16, 16)); // shard 1 is still there
    await assert.rejects(() => it.next(), /shard-00002\.safetensors: expected a shard listed in cache\.json/);
  });
});

Deno.test("shuffledBatches() over the cache serves the same batches as over the source", async () => {
  await withDir(async (dir) => {
    // Counting source of 50 rows, store 12, batch 4: fills of 12, 12, 12, 12 rows, then 2 rows (no batch).
    const options = { storeSize: 12, batchSize: 4, seed: 5 };
    await writeActivationCache(dir, countingSource(50).source, OPTIONS);
    const cache = await readActivationCache(dir);
    for (const start of [0, 16]) {
      const fromSource = [];
      for await (const b of shuffledBatches(countingSource(50).source, { ...options, start })) {
        fromSource.push(b);
      }
      const fromCache = [];
      for await (const b of shuffledBatches(cache, { ...options, start })) fromCache.push(b);
      assert.equal(fromCache.length, start === 0 ? 12 : 8);
      assert.deepEqual(fromCache, fromSource, `start ${start}`);
    }
  });
  await withDir(async (dir) => {
    // The endless toy source, cached for 200 rows in shards of 30 (30·6 + 20): 200 / 8 = 25 batches.
    const toy = () =>
      toySource({ nComponents: 2, dIn: 5, nFeatures: 12, meanActive: 3, chunkRows: 17, seed: 3 });
    await writeActivationCache(dir, toy(), { rows: 200, shardRows: 30 });
    const options = { storeSize: 40, batchSize: 8, seed: 9 };
    const fromCache = [];
    for await (const b of shuffledBatches(await readActivationCache(dir), options)) fromCache.push(b);
    assert.equal(fromCache.length, 25);
    const fromSource = [];
    for await (const b of shuffledBatches(toy(), options)) {
      fromSource.push(b);
      if (fromSource.length === 25) break;
    }
    assert.deepEqual(fromCache, fromSource);
  });
});

Deno.test("writeActivationCache() resumed after losing cache.json and the last shard continues and equals a fresh write", async () => {
  await withDir(async (dir) => {
    await writeActivationCache(`${dir}/fresh`, countingSource().source, OPTIONS);
    await writeActivationCache(`${dir}/resumed`, countingSource().source, OPTIONS);
    await Deno.remove(`${dir}/resumed/cache.json`);
    await Deno.remove(`${dir}/resumed/shard-00003.safetensors`);
    const { source, starts } = countingSource();
    const written: [number, number][] = [];
    await writeActivationCache(`${dir}/resumed`, source, {
      ...OPTIONS,
      onShard: (i, r) => written.push([i, r]),
    });
    assert.deepEqual(starts, [48], "the source is read from shard 3's first row, 3 · 16");
    assert.deepEqual(written, [[3, 2]]);
    assert.deepEqual(await files(`${dir}/resumed`), await files(`${dir}/fresh`));
  });
});

Deno.test("writeActivationCache() interrupted by its source leaves no cache.json, and a rerun resumes", async () => {
  await withDir(async (dir) => {
    await writeActivationCache(`${dir}/fresh`, countingSource().source, OPTIONS);
    // Chunks start at rows 0, 7, …, 35, 42: the one at 42 fails, after shards 0 and 1 (rows 0..31) were written.
    await assert.rejects(
      () => writeActivationCache(`${dir}/cut`, countingSource(Infinity, 40).source, OPTIONS),
      /simulated failure at row 42/,
    );
    assert.deepEqual(Object.keys(await files(`${dir}/cut`)), [
      "shard-00000.safetensors",
      "shard-00001.safetensors",
    ]);
    await assert.rejects(() => readActivationCache(`${dir}/cut`), Deno.errors.NotFound);
    const { source, starts } = countingSource();
    const written: number[] = [];
    await writeActivationCache(`${dir}/cut`, source, { ...OPTIONS, onShard: (i) => written.push(i) });
    assert.deepEqual(starts, [32]);
    assert.deepEqual(written, [2, 3]);
    assert.deepEqual(await files(`${dir}/cut`), await files(`${dir}/fresh`));
  });
});

Deno.test("writeActivationCache() rewrites from the first incomplete shard and keeps no stale files", async () => {
  await withDir(async (dir) => {
    await writeActivationCache(`${dir}/fresh`, countingSource().source, OPTIONS);
    const cache = `${dir}/cache`;
    await writeActivationCache(cache, countingSource().source, OPTIONS);
    // A truncated shard 1 and a leftover temporary file, as a crash could leave.
    const path = `${cache}/shard-00001.safetensors`;
    const bytes = await Deno.readFile(path);
    await Deno.writeFile(path, bytes.subarray(0, bytes.length - 4));
    await Deno.writeFile(`${cache}/shard-00002.safetensors.tmp-1-abcd1234`, new Uint8Array(3));
    let run = countingSource();
    const written: number[] = [];
    await writeActivationCache(cache, run.source, { ...OPTIONS, onShard: (i) => written.push(i) });
    assert.deepEqual(run.starts, [16]);
    assert.deepEqual(written, [1, 2, 3]);
    assert.deepEqual(await files(cache), await files(`${dir}/fresh`));

    // Other metadata: no shard of the earlier run is kept.
    written.length = 0;
    run = countingSource();
    await writeActivationCache(cache, run.source, {
      ...OPTIONS,
      metadata: { model: "other" },
      onShard: (i) => written.push(i),
    });
    assert.deepEqual(run.starts, [0]);
    assert.deepEqual(written, [0, 1, 2, 3]);

    // Other shard size: 20 + 20 + 10, and the old shard-00003 is removed.
    await writeActivationCache(cache, countingSource().source, { ...OPTIONS, shardRows: 20 });
    assert.deepEqual(Object.keys(await files(cache)), [
      "cache.json",
      "shard-00000.safetensors",
      "shard-00001.safetensors",
      "shard-00002.safetensors",
    ]);
    assert.deepEqual((await collect(await readActivationCache(cache))).data, expected(0, 50));
  });
});

Deno.test("writeActivationCache() with more rows extends a finished cache", async () => {
  await withDir(async (dir) => {
    await writeActivationCache(`${dir}/fresh`, countingSource().source, OPTIONS);
    await writeActivationCache(`${dir}/grown`, countingSource().source, { ...OPTIONS, rows: 40 }); // 16 + 16 + 8
    const { source, starts } = countingSource();
    const written: [number, number][] = [];
    await writeActivationCache(`${dir}/grown`, source, {
      ...OPTIONS,
      onShard: (i, r) => written.push([i, r]),
    });
    assert.deepEqual(starts, [32]); // shard 2 had 8 rows, not 16: it is rewritten
    assert.deepEqual(written, [[2, 16], [3, 2]]);
    assert.deepEqual(await files(`${dir}/grown`), await files(`${dir}/fresh`));
  });
});

Deno.test("writeActivationCache() keeps what a shorter source has, and rejects an empty one", async () => {
  await withDir(async (dir) => {
    const index = await writeActivationCache(dir, countingSource(45).source, OPTIONS);
    assert.equal(index.rows, 45);
    assert.deepEqual(index.shards.map((s) => s.rows), [16, 16, 13]);
    assert.deepEqual((await collect(await readActivationCache(dir))).data, expected(0, 45));
    await assert.rejects(
      () => writeActivationCache(`${dir}/empty`, countingSource(0).source, OPTIONS),
      /source: expected at least one row to cache in .*empty, received none/,
    );
  });
});

Deno.test("defaultShardRows() fills about 256 MiB with whole rows", async () => {
  // 4 components × 1024 floats × 4 bytes = 16 KiB a row: 256 MiB / 16 KiB = 16384 rows.
  assert.equal(defaultShardRows(4, 1024), 16384);
  // 2 × 3 × 4 = 24 bytes a row: 268435456 / 24 = 11184810.67, rounded down.
  assert.equal(defaultShardRows(2, 3), 11184810);
  // A row larger than 256 MiB still makes shards of one row.
  assert.equal(defaultShardRows(1, 2 ** 27), 1);
  assert.equal(shardFileName(7), "shard-00007.safetensors");
  await withDir(async (dir) => {
    const index = await writeActivationCache(dir, countingSource().source, { rows: 50 });
    assert.equal(index.shardRows, 11184810);
    assert.deepEqual(index.shards, [{ file: "shard-00000.safetensors", rows: 50, firstRow: 0 }]);
    assert.deepEqual(index.componentNames, ["component-0", "component-1"]);
    assert.deepEqual(index.metadata, {});
  });
});

Deno.test("writeActivationCache() names components after the source's hooks when it has them", async () => {
  await withDir(async (dir) => {
    const source = {
      ...countingSource().source,
      hooks: ["blocks.0.hook_resid_post", "blocks.1.hook_resid_post"],
    };
    const index = await writeActivationCache(dir, source, { rows: 10 });
    assert.deepEqual(index.componentNames, source.hooks);
    assert.deepEqual((await readActivationCache(dir)).componentNames, source.hooks);
  });
});

Deno.test("writeActivationCache() rejects bad options and malformed source chunks", async () => {
  await withDir(async (dir) => {
    const { source } = countingSource();
    await assert.rejects(
      () => writeActivationCache(dir, source, { rows: 0 }),
      /rows: expected a positive integer, received 0/,
    );
    await assert.rejects(
      () => writeActivationCache(dir, source, { rows: 10, shardRows: 2.5 }),
      /shardRows: expected a positive integer, received 2\.5/,
    );
    await assert.rejects(
      () => writeActivationCache(dir, source, { rows: 10, componentNames: ["only one"] }),
      /componentNames: expected 2 strings \(one per component\), received \["only one"\]/,
    );
    const bad: ActivationSource = {
      nComponents: 2,
      dIn: 3,
      async *chunks() {
        yield { data: new Float32Array(10), rows: 2 };
      },
    };
    await assert.rejects(
      () => writeActivationCache(dir, bad, { rows: 10 }),
      /source chunk data: expected 12 values \(\[2, 2, 3\]\), received 10/,
    );
  });
});

Deno.test("readActivationCache() names a missing or foreign cache.json", async () => {
  await withDir(async (dir) => {
    await assert.rejects(
      () => readActivationCache(dir),
      (error: Error) =>
        error instanceof Deno.errors.NotFound &&
        /cache\.json: expected the index of an activation cache, which is missing/.test(error.message),
    );
    await Deno.writeTextFile(`${dir}/cache.json`, "{not json");
    await assert.rejects(() => readActivationCache(dir), {
      name: "TypeError",
      message: `${dir}/cache.json: expected JSON, received text that does not parse (${
        parserSays("{not json")
      })`,
    });
    await Deno.writeTextFile(`${dir}/cache.json`, "\n");
    await assert.rejects(() => readActivationCache(dir), {
      name: "TypeError",
      message: `${dir}/cache.json: expected JSON, received an empty file`,
    });
    await Deno.writeTextFile(`${dir}/cache.json`, JSON.stringify({ format: "other" }));
    await assert.rejects(
      () => readActivationCache(dir),
      /cache\.json format: expected "saekit\.activation-cache\/1", received "other"/,
    );
  });
});

Deno.test("readActivationCache() names a malformed field of cache.json", async () => {
  await withDir(async (dir) => {
    await writeActivationCache(dir, countingSource().source, OPTIONS);
    const good = JSON.parse(await Deno.readTextFile(`${dir}/cache.json`));
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ dIn: 0 }, /cache\.json dIn: expected a positive integer, received 0/],
      [{ rows: 51 }, /cache\.json rows: expected 50 \(the sum of the shards' rows\), received 51/],
      [{ componentNames: ["h0"] }, /cache\.json componentNames: expected 2 strings, received \["h0"\]/],
      [
        { shards: [{ file: "../elsewhere.safetensors", rows: 50 }] },
        /cache\.json shards\[0\]\.file: expected a file name in the cache directory, received "\.\.\/elsewhere\.safetensors"/,
      ],
    ];
    for (const [change, message] of cases) {
      await Deno.writeTextFile(`${dir}/cache.json`, JSON.stringify({ ...good, ...change }));
      await assert.rejects(() => readActivationCache(dir), message);
    }
  });
});

Deno.test("readActivationCache() names a missing, truncated or misshapen shard", async () => {
  await withDir(async (dir) => {
    await writeActivationCache(dir, countingSource().source, OPTIONS);
    const indexText = await Deno.readTextFile(`${dir}/cache.json`);

    const missing = `${dir}/shard-00002.safetensors`;
    const kept = await Deno.readFile(missing);
    await Deno.remove(missing);
    await assert.rejects(
      () => readActivationCache(dir),
      (error: Error) =>
        error instanceof Deno.errors.NotFound &&
        /shard-00002\.safetensors: expected a shard listed in cache\.json, which is missing/.test(
          error.message,
        ),
    );
    await Deno.writeFile(missing, kept);

    // Shard 3 holds 2 × 2 × 3 float32 = 48 bytes of data after 8 + its header's length.
    const path = `${dir}/shard-00003.safetensors`;
    const bytes = await Deno.readFile(path);
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const size = 8 + headerLength + 48;
    assert.equal(bytes.length, size);
    // 10 bytes cut: 38 of the 48 bytes of data are left
    await Deno.writeFile(path, bytes.subarray(0, size - 10));
    await assert.rejects(() => readActivationCache(dir), {
      name: "RangeError",
      message:
        `${path}: tensor "activations": expected data_offsets within the 38-byte data section, received [0, 48]`,
    });
    // cut inside the header: 12 bytes after the 8-byte length
    assert.ok(headerLength > 12);
    await Deno.writeFile(path, bytes.subarray(0, 20));
    await assert.rejects(() => readActivationCache(dir), {
      name: "RangeError",
      message:
        `${path}: expected a header length within the file (at most 12 bytes after the 8-byte length), received ${headerLength}`,
    });
    await Deno.writeFile(path, bytes);

    // cache.json says shard 3 has 3 rows (and the cache 51): the file has 2.
    const index = JSON.parse(indexText);
    index.shards[3].rows = 3;
    index.rows = 51;
    await Deno.writeTextFile(`${dir}/cache.json`, JSON.stringify(index));
    await assert.rejects(() => readActivationCache(dir), {
      name: "RangeError",
      message:
        `${path}: tensor "activations": expected shape [2, 3, 3] (from cache.json), received [2, 2, 3]`,
    });
  });
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

/** A safetensors file by hand: the 8-byte little-endian length of `header`, its bytes, then `data`. */
function shardBytes(header: string | Uint8Array, data: Uint8Array, declared?: number): Uint8Array {
  const head = typeof header === "string" ? new TextEncoder().encode(header) : header;
  const out = new Uint8Array(8 + head.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(declared ?? head.length), true);
  out.set(head, 8);
  out.set(data, 8 + head.length);
  return out;
}

Deno.test("readActivationCache() names the fault of a damaged shard header, as every safetensors reader does, and a rerun rewrites from that shard", async () => {
  await withDir(async (dir) => {
    await writeActivationCache(dir, countingSource().source, OPTIONS);
    const before = await files(dir);
    // Shard 3: source rows 48 and 49, [2, 2, 3] float32 = 48 bytes of data.
    const path = `${dir}/shard-00003.safetensors`;
    const whole = before["shard-00003.safetensors"];
    const data = whole.subarray(whole.length - 48);
    const rows48 = expected(48, 2);
    assert.deepEqual(new Float32Array(data.slice().buffer), rows48, "the last 48 bytes are rows 48, 49");
    const entry = (fields: string) => `{"activations":{${fields}}}`;
    const good = entry('"dtype":"F32","shape":[2,2,3],"data_offsets":[0,48]');
    // A shard written by hand with the good header reads as the original.
    await Deno.writeFile(path, shardBytes(good, data));
    assert.deepEqual((await collect(await readActivationCache(dir), 48)).data, rows48);

    const at = `${path}: tensor "activations"`;
    const cases: [string, Uint8Array, "TypeError" | "RangeError", string][] = [
      [
        "5 bytes",
        new Uint8Array(5),
        "RangeError",
        `${path}: expected at least 8 bytes (the header length), received 5`,
      ],
      [
        "a header length past the end",
        shardBytes(good, data, 1000),
        "RangeError",
        `${path}: expected a header length within the file (at most ${
          good.length + 48
        } bytes after the 8-byte length), received 1000`,
      ],
      [
        "a header that is not UTF-8",
        shardBytes(new Uint8Array([0x7b, 0xff, 0x7d]), data),
        "TypeError",
        `${path}: expected a UTF-8 JSON header, received bytes that are not UTF-8`,
      ],
      [
        "a header cut short",
        shardBytes('{"activations":{"dty', data),
        "TypeError",
        `${path}: expected a JSON header, received text that does not parse (${
          parserSays('{"activations":{"dty')
        })`,
      ],
      [
        "a null header",
        shardBytes("null", data),
        "TypeError",
        `${path}: expected the header to be a JSON object, received null`,
      ],
      [
        "metadata that is not strings",
        shardBytes(`{"__metadata__":{"rows":2},${good.slice(1)}`, data),
        "TypeError",
        `${path}: __metadata__: expected an object of strings, received {"rows":2}`,
      ],
      [
        "an entry without a shape",
        shardBytes(entry('"dtype":"F32","data_offsets":[0,48]'), data),
        "TypeError",
        `${at}: expected a shape of non-negative integers, received nothing`,
      ],
      [
        "an unknown dtype",
        shardBytes(entry('"dtype":"F33","shape":[2,2,3],"data_offsets":[0,48]'), data),
        "TypeError",
        `${at}: expected a dtype of the format (F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL, F8_E4M3, F8_E5M2), received "F33"`,
      ],
      [
        "negative offsets",
        shardBytes(entry('"dtype":"F32","shape":[2,2,3],"data_offsets":[-8,40]'), data),
        "TypeError",
        `${at}: expected data_offsets of two non-negative integers [begin, end], received [-8,40]`,
      ],
      [
        "offsets in the wrong order",
        shardBytes(entry('"dtype":"F32","shape":[2,2,3],"data_offsets":[48,0]'), data),
        "RangeError",
        `${at}: expected data_offsets in order (begin ≤ end), received [48, 0]`,
      ],
      [
        "offsets past the data",
        shardBytes(entry('"dtype":"F32","shape":[2,2,3],"data_offsets":[0,56]'), data),
        "RangeError",
        `${at}: expected data_offsets within the 48-byte data section, received [0, 56]`,
      ],
      [
        "a size that is not the shape's",
        shardBytes(entry('"dtype":"F32","shape":[2,2,3],"data_offsets":[0,44]'), data),
        "RangeError",
        `${at}: expected 48 bytes (shape [2, 2, 3] of F32, 4 bytes each), received data_offsets [0, 44] (44 bytes)`,
      ],
      [
        "overlapping tensors",
        shardBytes(`{"extra":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},${good.slice(1)}`, data),
        "RangeError",
        `${at}: expected data_offsets not overlapping tensor "extra" [0, 4], received [0, 48]`,
      ],
      [
        "another tensor's name",
        shardBytes('{"acts":{"dtype":"F32","shape":[2,2,3],"data_offsets":[0,48]}}', data),
        "TypeError",
        `${path}: expected a tensor "activations", received tensors [acts]`,
      ],
      [
        "int32 in place of float32",
        shardBytes(entry('"dtype":"I32","shape":[2,2,3],"data_offsets":[0,48]'), data),
        "TypeError",
        `${at}: expected dtype F32, received I32`,
      ],
      [
        "the rows and columns swapped",
        shardBytes(entry('"dtype":"F32","shape":[2,3,2],"data_offsets":[0,48]'), data),
        "RangeError",
        `${at}: expected shape [2, 2, 3] (from cache.json), received [2, 3, 2]`,
      ],
      [
        "4 bytes after the tensor",
        shardBytes(good, new Uint8Array([...data, 1, 2, 3, 4])),
        "RangeError",
        `${path}: expected ${8 + good.length + 48} bytes (${
          8 + good.length
        } of header, 48 of activations), received ${8 + good.length + 52}: trailing bytes after the tensor`,
      ],
    ];
    for (const [what, bytes, name, message] of cases) {
      await Deno.writeFile(path, bytes);
      const damaged = await files(dir);
      await assert.rejects(() => readActivationCache(dir), { name, message }, what);
      assert.deepEqual(await files(dir), damaged, `${what}: reading changes nothing on disk`);
      // Writing the cache again keeps shards 0 to 2 and rewrites shard 3 from source row 48.
      const run = countingSource();
      const written: number[] = [];
      await writeActivationCache(dir, run.source, { ...OPTIONS, onShard: (i) => written.push(i) });
      assert.deepEqual([run.starts, written], [[48], [3]], what);
      assert.deepEqual(await files(dir), before, `${what}: the rewritten cache equals the first`);
    }
  });
});

/** Overwrites value `[k, r, d]` of a shard of `rows` rows (width 3) with `value`, in place on disk. */
async function poke(path: string, rows: number, k: number, r: number, d: number, value: number) {
  const bytes = await Deno.readFile(path);
  const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  new DataView(bytes.buffer).setFloat32(8 + headerLength + ((k * rows + r) * 3 + d) * 4, value, true);
  await Deno.writeFile(path, bytes);
}

Deno.test("readActivationCache() names the shard, row, component and column of a NaN or infinite activation", async () => {
  await withDir(async (dir) => {
    await writeActivationCache(dir, countingSource().source, OPTIONS);
    // Shard 1 holds source rows 16..31: its row 5 is source row 21.
    await poke(`${dir}/shard-00001.safetensors`, 16, 1, 5, 2, NaN);
    const before = await files(dir);
    const cache = await readActivationCache(dir); // opening reads headers only
    const message =
      `${dir}/shard-00001.safetensors: expected finite activations, received NaN at row 5 of the ` +
      "shard (source row 21), component 1 (h1), column 2; write the cache again from finite activations";
    const rows: number[] = [];
    await assert.rejects(async () => {
      for await (const chunk of cache.chunks(0)) rows.push(chunk.rows);
    }, { name: "RangeError", message });
    assert.deepEqual(rows, [16], "shard 0 was read before the error, and nothing after it");
    // From row 20 (inside shard 1), the same row is named by its place in the shard.
    await assert.rejects(() => collect(cache, 20), { message });
    assert.deepEqual(await files(dir), before, "reading changes nothing on disk");

    await poke(`${dir}/shard-00001.safetensors`, 16, 1, 5, 2, 0);
    // Shard 3 holds the last 2 rows, 48 and 49.
    await poke(`${dir}/shard-00003.safetensors`, 2, 0, 1, 0, -Infinity);
    await assert.rejects(() => collect(cache), {
      message:
        `${dir}/shard-00003.safetensors: expected finite activations, received -Infinity at row 1 of the ` +
        "shard (source row 49), component 0 (h0), column 0; write the cache again from finite activations",
    });
  });
});

Deno.test("readActivationCache() names an empty cache, an empty shard and a shard of no rows", async () => {
  await withDir(async (dir) => {
    await writeActivationCache(dir, countingSource().source, OPTIONS);
    const good = JSON.parse(await Deno.readTextFile(`${dir}/cache.json`));
    await Deno.writeTextFile(`${dir}/cache.json`, JSON.stringify({ ...good, rows: 0, shards: [] }));
    await assert.rejects(() => readActivationCache(dir), {
      name: "TypeError",
      message: `${dir}/cache.json shards: expected at least one shard, received none: the cache is empty; ` +
        "write it again",
    });
    const shards = good.shards.map((s: { rows: number }, i: number) => (i === 1 ? { ...s, rows: 0 } : s));
    await Deno.writeTextFile(`${dir}/cache.json`, JSON.stringify({ ...good, shards }));
    await assert.rejects(() => readActivationCache(dir), {
      name: "RangeError",
      message:
        `${dir}/cache.json shards[1].rows (shard-00001.safetensors): expected a positive integer, received 0`,
    });
    await Deno.writeTextFile(`${dir}/cache.json`, JSON.stringify(good));
    await Deno.writeFile(`${dir}/shard-00002.safetensors`, new Uint8Array(0));
    await assert.rejects(() => readActivationCache(dir), {
      name: "RangeError",
      message:
        `${dir}/shard-00002.safetensors: expected at least 8 bytes (the header length), received 0: the ` +
        "shard is empty",
    });
  });
});

Deno.test("writeActivationCache() refuses a NaN from its source, naming the row, and keeps the shards before it", async () => {
  await withDir(async (dir) => {
    const { source: counting } = countingSource();
    // The counting source with row 37, component 0, column 1 made NaN (in shard 2: rows 32..47).
    const source: ActivationSource = {
      ...counting,
      async *chunks(start: number) {
        let row = start;
        for await (const chunk of counting.chunks(start)) {
          if (row <= 37 && 37 < row + chunk.rows) {
            const data = chunk.data.slice();
            data[(0 * chunk.rows + (37 - row)) * 3 + 1] = NaN;
            yield { data, rows: chunk.rows };
          } else {
            yield chunk;
          }
          row += chunk.rows;
        }
      },
    };
    await assert.rejects(() => writeActivationCache(dir, source, OPTIONS), {
      name: "RangeError",
      message:
        "source: expected finite activations, received NaN at row 37, component 0 (h0), column 1; not " +
        `written to ${dir}/shard-00002.safetensors`,
    });
    const written = Object.keys(await files(dir));
    assert.deepEqual(written, [shardFileName(0), shardFileName(1)], "no cache.json, no shard 2");
    // The two shards are those of the clean source: a rerun over it keeps them and writes the rest.
    const { source: clean, starts } = countingSource();
    await writeActivationCache(dir, clean, OPTIONS);
    assert.deepEqual(starts, [32]);
    assert.deepEqual((await collect(await readActivationCache(dir))).data, expected(0, 50));
  });
});
