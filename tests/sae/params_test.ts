import { assert, assertClose, tf, values } from "../_helpers.ts";
import { initParams, unitNormRows } from "../../lib/sae/params.ts";

Deno.test("initParams() gives the documented shapes", () => {
  const p = initParams({ nComponents: 3, dIn: 4, dSae: 6, seed: 1 });
  assert.deepEqual(p.wEnc.shape, [3, 4, 6]);
  assert.deepEqual(p.bEnc.shape, [3, 6]);
  assert.deepEqual(p.wDec.shape, [3, 6, 4]);
  assert.deepEqual(p.bDec.shape, [3, 4]);
});

Deno.test("initParams() is reproducible from the seed and differs between seeds", () => {
  const a = initParams({ nComponents: 1, dIn: 4, dSae: 6, seed: 7 });
  const b = initParams({ nComponents: 1, dIn: 4, dSae: 6, seed: 7 });
  const c = initParams({ nComponents: 1, dIn: 4, dSae: 6, seed: 8 });
  assert.deepEqual(values(a.wEnc), values(b.wEnc));
  assert.deepEqual(values(a.wDec), values(b.wDec));
  assert.notDeepEqual(values(a.wEnc), values(c.wEnc));
});

Deno.test("initParams() draws the encoder within the Kaiming bound of each component's fan-in", () => {
  // dIn 16: weight bound √(6/16) ≈ 0.612, bias bound 1/√16 = 0.25
  const p = initParams({ nComponents: 2, dIn: 16, dSae: 64, seed: 2 });
  const w = values(p.wEnc), b = values(p.bEnc);
  assert.ok(Math.max(...w.map(Math.abs)) <= Math.sqrt(6 / 16));
  assert.ok(Math.max(...w.map(Math.abs)) > 0.9 * Math.sqrt(6 / 16), "uses most of the range");
  assert.ok(Math.max(...b.map(Math.abs)) <= 0.25);
  assert.ok(Math.max(...b.map(Math.abs)) > 0.2);
});

Deno.test("initParams({ encoderInit: 'original' }) reproduces the original's component-axis scale (B2)", () => {
  // fan_in = dSae·dIn = 64·16 = 1024: bound √(6/1024) ≈ 0.0765; bias bound 1/√64 = 0.125
  const p = initParams({ nComponents: 1, dIn: 16, dSae: 64, seed: 2, encoderInit: "original" });
  assert.ok(Math.max(...values(p.wEnc).map(Math.abs)) <= Math.sqrt(6 / 1024));
  assert.ok(Math.max(...values(p.bEnc).map(Math.abs)) <= 0.125);
  assert.ok(Math.max(...values(p.bEnc).map(Math.abs)) > 0.1);
});

Deno.test("initParams() gives unit-norm dictionary rows and a zero tied bias by default", () => {
  const p = initParams({ nComponents: 2, dIn: 5, dSae: 7, seed: 3 });
  assertClose(values(tf.norm(p.wDec, 2, -1)), new Array(14).fill(1), 1e-5);
  assertClose(values(p.bDec), new Array(10).fill(0));
});

Deno.test("initParams() copies a given tied bias and rejects one of the wrong shape", () => {
  const bDec = tf.tensor2d([[1, 2]]);
  const p = initParams({ nComponents: 1, dIn: 2, dSae: 3, seed: 0, bDec });
  assertClose(values(p.bDec), [1, 2]);
  assert.notEqual(p.bDec, bDec);
  assert.throws(
    () => initParams({ nComponents: 2, dIn: 2, dSae: 3, seed: 0, bDec }),
    /bDec: expected shape \[2, 2\], received \[1, 2\]/,
  );
});

Deno.test("initParams() rejects sizes that are not positive integers", () => {
  assert.throws(
    () => initParams({ nComponents: 1, dIn: 0, dSae: 3, seed: 0 }),
    /dIn: expected a positive integer, received 0/,
  );
});

Deno.test("unitNormRows() divides by the norm and leaves zero rows at zero", () => {
  assertClose(values(unitNormRows(tf.tensor2d([[3, 4], [0, 0]]))), [0.6, 0.8, 0, 0]);
});
