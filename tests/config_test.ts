import { assert } from "./_helpers.ts";
import {
  configFromFlags,
  fieldToFlag,
  flagToField,
  parseConfig,
  resolveSizes,
  TOY_PRESET,
} from "../lib/config.ts";

Deno.test("parseConfig({}) gives the original's v1.10.0 defaults", () => {
  const c = parseConfig({});
  assert.equal(c.l1Coefficient, 1e-3);
  assert.equal(c.lr, 1e-3);
  assert.equal(c.adamBeta1, 0.9);
  assert.equal(c.adamBeta2, 0.99);
  assert.equal(c.adamEps, 1e-8);
  assert.equal(c.weightDecay, 0);
  assert.equal(c.expansionFactor, 2);
  assert.equal(c.batchSize, 8192);
  assert.equal(c.storeSize, 2_998_272); // round_to_multiple(3e6, 8192) = 366·8192
  assert.equal(c.maxActivations, 1_999_847_424);
  assert.equal(c.resampleInterval, 197_885_952);
  assert.equal(c.resampleCollate, 98_942_976);
  assert.equal(c.resampleDatasetSize, 819_200);
  assert.equal(c.maxResamples, 4);
  assert.equal(c.deadThreshold, 0);
  assert.equal(c.logEvery, 100);
  assert.equal(c.seed, 49);
  // steps = floor(1,999,847,424 / 8192) = 244,122
  assert.equal(resolveSizes(c).steps, 244_122);
  assert.equal(resolveSizes(c).dSae, 128);
});

Deno.test("parseConfig() names an unknown field and the value it received", () => {
  assert.throws(() => parseConfig({ l1Coeficient: 0.1 }), (error: Error) => {
    assert.ok(error instanceof TypeError);
    assert.match(error.message, /l1Coeficient: unknown field .* received 0.1/);
    return true;
  });
});

Deno.test("parseConfig() names a wrong type with the expected and received value", () => {
  assert.throws(
    () => parseConfig({ batchSize: "big" }),
    /batchSize: expected number, received "big" \(string\)/,
  );
  assert.throws(() => parseConfig({ lrSchedule: "linear" }), /lrSchedule: .*"constant".*received "linear"/);
});

Deno.test("parseConfig() rejects out-of-range values as RangeError", () => {
  assert.throws(() => parseConfig({ adamBeta2: 1 }), (error: Error) => {
    assert.ok(error instanceof RangeError);
    assert.match(error.message, /adamBeta2: .*received 1/);
    return true;
  });
  assert.throws(() => parseConfig({ dIn: 2.5 }), /dIn: expected int.*received 2.5/);
});

Deno.test("parseConfig() rejects impossible combinations, naming the field", () => {
  assert.throws(
    () => parseConfig({ batchSize: 100, storeSize: 250 }),
    /storeSize: expected a multiple of batchSize \(100\), received 250/,
  );
  assert.throws(
    () => parseConfig({ resampleInterval: 10, resampleCollate: 20, resampleDatasetSize: 5 }),
    /resampleCollate: expected at most resampleInterval \(10\), received 20/,
  );
  assert.throws(
    () => parseConfig({ nComponents: 2, componentNames: ["a"] }),
    /componentNames: expected 2 names \(one per component\), received 1/,
  );
  assert.throws(
    () => parseConfig({ nComponents: 2, componentNames: ["a", "a"] }),
    /componentNames: expected distinct names/,
  );
  assert.throws(
    () => parseConfig({ steps: 10, lrSchedule: "cosine", lrWarmupSteps: 20 }),
    /lrWarmupSteps: expected at most the number of steps \(10\), received 20/,
  );
  assert.throws(
    () => parseConfig({ arch: "topk", k: 300, dIn: 64, expansionFactor: 4 }),
    /k: expected at most dSae \(256\), received 300/,
  );
  assert.throws(
    () => parseConfig({ maxActivations: 10 }),
    /maxActivations: expected at least batchSize \(8192\) activations, received 10/,
  );
});

Deno.test("configFromFlags() reads flags by the schema's types", () => {
  const values = configFromFlags({
    "l1-coefficient": "0.01",
    "steps": "1_000",
    "component-names": "a, b",
    "d-sae": "null",
    "backend": "cpu",
  });
  assert.deepEqual(values, {
    l1Coefficient: 0.01,
    steps: 1000,
    componentNames: ["a", "b"],
    dSae: null,
    backend: "cpu",
  });
  assert.throws(() => configFromFlags({ "l1-coef": "1" }), /--l1-coef: unknown flag .* received "1"/);
  // a non-number stays a string so that the schema reports it
  assert.throws(
    () => parseConfig(configFromFlags({ steps: "ten" })),
    /steps: expected number, received "ten" \(string\)/,
  );
  assert.equal(fieldToFlag("lrWarmupSteps"), "lr-warmup-steps");
  assert.equal(flagToField("lr-warmup-steps"), "lrWarmupSteps");
});

Deno.test("TOY_PRESET is a valid configuration of three components", () => {
  const c = parseConfig(TOY_PRESET);
  assert.equal(c.nComponents, 3);
  assert.deepEqual(resolveSizes(c).componentNames, ["toy.0", "toy.1", "toy.2"]);
});
