import { assert } from "../_helpers.ts";
import { fillPermutation, shuffledBatches } from "../../lib/data/store.ts";
import type { ActivationSource } from "../../lib/data/source.ts";

/** A source whose row r of component k is the vector (1000·k + r) (dIn 1), in chunks of 7 rows. */
function countingSource(total = Infinity): ActivationSource {
  return {
    nComponents: 2,
    dIn: 1,
    async *chunks(start: number) {
      for (let r = start; r < total; r += 7) {
        const rows = Math.min(7, total - r);
        const data = new Float32Array(2 * rows);
        for (let i = 0; i < rows; i++) {
          data[i] = r + i;
          data[rows + i] = 1000 + r + i;
        }
        yield { data, rows };
      }
    },
  };
}

async function take(source: ActivationSource, n: number, start = 0) {
  const out = [];
  for await (const b of shuffledBatches(source, { storeSize: 12, batchSize: 4, seed: 5, start })) {
    out.push(b);
    if (out.length === n) break;
  }
  return out;
}

Deno.test("fillPermutation() is a permutation, fixed by (seed, fill)", () => {
  const p = fillPermutation(100, 1, 0);
  assert.deepEqual([...p].sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i));
  assert.deepEqual(p, fillPermutation(100, 1, 0));
  assert.notDeepEqual(p, fillPermutation(100, 1, 1));
});

Deno.test("shuffledBatches() serves every row of each store fill exactly once, shuffled", async () => {
  const batches = await take(countingSource(), 6); // two fills of 12 rows
  const first = batches.slice(0, 3).flatMap((b) => Array.from(b.data.subarray(0, 4)));
  const second = batches.slice(3).flatMap((b) => Array.from(b.data.subarray(0, 4)));
  assert.deepEqual([...first].sort((a, b) => a - b), Array.from({ length: 12 }, (_, i) => i));
  assert.deepEqual([...second].sort((a, b) => a - b), Array.from({ length: 12 }, (_, i) => 12 + i));
  assert.notDeepEqual(first, Array.from({ length: 12 }, (_, i) => i), "rows are shuffled");
  assert.deepEqual(batches.map((b) => b.position), [4, 8, 12, 16, 20, 24]);
});

Deno.test("shuffledBatches() keeps components aligned: one permutation for all", async () => {
  for (const b of await take(countingSource(), 3)) {
    for (let r = 0; r < 4; r++) assert.equal(b.data[4 + r], 1000 + b.data[r]);
  }
});

Deno.test("shuffledBatches() resumed at a position serves the same batches as an uninterrupted read", async () => {
  const all = await take(countingSource(), 7);
  const resumed = await take(countingSource(), 3, 16);
  assert.deepEqual(resumed.map((b) => Array.from(b.data)), all.slice(4).map((b) => Array.from(b.data)));
});

Deno.test("shuffledBatches() ends with a shorter last fill cut to whole batches", async () => {
  const batches = await take(countingSource(18), 100);
  // 18 rows: one full fill of 12, then 6 rows -> one batch of 4 (2 rows dropped)
  assert.equal(batches.length, 4);
  assert.deepEqual([...batches[3].data.subarray(0, 4)].every((v) => v >= 12 && v < 18), true);
});

Deno.test("shuffledBatches() rejects a store size that is not a multiple of the batch", async () => {
  const it = shuffledBatches(countingSource(), { storeSize: 10, batchSize: 4, seed: 0 });
  await assert.rejects(() => it.next(), /storeSize: expected a multiple of batchSize \(4\), received 10/);
});
