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
    await assert.rejects(
      () => readActivationCache(dir),
      /cache\.json: expected JSON, received text that does not parse/,
    );
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
    await Deno.writeFile(path, bytes.subarray(0, size - 10));
    await assert.rejects(
      () => readActivationCache(dir),
      new RegExp(
        `shard-00003\\.safetensors: expected ${size} bytes \\(${
          size - 48
        } of header, 48 of activations\\), ` +
          `received ${size - 10}: the shard is truncated`,
      ),
    );
    await Deno.writeFile(path, bytes.subarray(0, 20));
    await assert.rejects(
      () => readActivationCache(dir),
      new RegExp(
        `shard-00003\\.safetensors: expected at least ${
          8 + headerLength
        } bytes \\(8 \\+ a ${headerLength}-byte header\\), ` +
          `received 20: the shard is truncated`,
      ),
    );
    await Deno.writeFile(path, bytes);

    // cache.json says shard 3 has 3 rows (and the cache 51): the file has 2.
    const index = JSON.parse(indexText);
    index.shards[3].rows = 3;
    index.rows = 51;
    await Deno.writeTextFile(`${dir}/cache.json`, JSON.stringify(index));
    await assert.rejects(
      () => readActivationCache(dir),
      /shard-00003\.safetensors: tensor activations expected shape \[2, 3, 3\] \(from cache\.json\), received \[2, 2, 3\]/,
    );
  });
});
