import { assert, assertClose } from "../_helpers.ts";
import { toyGroundTruth, toySource } from "../../lib/data/toy.ts";

const options = { nComponents: 2, dIn: 6, nFeatures: 10, meanActive: 3, chunkRows: 50, seed: 11 };

async function rows(start: number, count: number, opts = options): Promise<Float32Array[]> {
  // Returns, per component, `count` rows from `start` as one array.
  const out = Array.from({ length: opts.nComponents }, () => new Float32Array(count * opts.dIn));
  let got = 0;
  for await (const chunk of toySource(opts).chunks(start)) {
    const take = Math.min(chunk.rows, count - got);
    for (let k = 0; k < opts.nComponents; k++) {
      out[k].set(
        chunk.data.subarray(k * chunk.rows * opts.dIn, (k * chunk.rows + take) * opts.dIn),
        got * opts.dIn,
      );
    }
    got += take;
    if (got === count) break;
  }
  return out;
}

Deno.test("toyGroundTruth() gives unit directions that differ between components", () => {
  const truth = toyGroundTruth(options);
  assert.equal(truth.length, 2 * 10 * 6);
  for (let j = 0; j < 20; j++) {
    const row = truth.subarray(j * 6, (j + 1) * 6);
    assertClose(Math.hypot(...row), 1, 1e-6);
  }
  assert.notDeepEqual(Array.from(truth.subarray(0, 6)), Array.from(truth.subarray(60, 66)));
});

Deno.test("toySource() is reproducible and any row can be read from any start", async () => {
  const [a] = await rows(0, 120);
  const [b] = await rows(0, 120);
  assert.deepEqual(a, b);
  const [mid] = await rows(73, 20); // starts inside the second chunk
  assert.deepEqual(Array.from(mid), Array.from(a.subarray(73 * 6, 93 * 6)));
});

Deno.test("toySource() rows are non-negative combinations of about meanActive ground-truth directions", async () => {
  const truth = toyGroundTruth(options);
  const [x] = await rows(0, 2000);
  // Every row lies in the cone of the 10 directions: least-squares on the Gram system is overkill here, so
  // check the mean squared norm instead: E‖x‖² = Σ_j p·E[a²] + Σ_{i≠j} p²·E[a]²·(d_i·d_j),
  // and with p = 0.3, E[a²] = 1/3 the diagonal part is 10·0.3/3 = 1.
  let sq = 0;
  for (let i = 0; i < x.length; i++) sq += x[i] * x[i];
  let cross = 0;
  for (let i = 0; i < 10; i++) {
    for (let j = 0; j < 10; j++) {
      if (i === j) continue;
      let dot = 0;
      for (let d = 0; d < 6; d++) dot += truth[i * 6 + d] * truth[j * 6 + d];
      cross += 0.09 * 0.25 * dot;
    }
  }
  assertClose(sq / 2000, 1 + cross, 0.08);
});

Deno.test("toySource() rejects bad sizes, naming the field", () => {
  assert.throws(
    () => toySource({ ...options, nFeatures: 0 }),
    /nFeatures: expected a positive integer, received 0/,
  );
  assert.throws(
    () => toySource({ ...options, meanActive: -1 }),
    /meanActive: expected a positive number, received -1/,
  );
});
