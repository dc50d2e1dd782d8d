import { assert } from "./_helpers.ts";
import {
  checkMemory,
  configFromFlags,
  fieldToFlag,
  flagToField,
  formatBytes,
  memoryEstimate,
  parseConfig,
  resolveSizes,
  TOY_PRESET,
} from "../lib/config.ts";
import { runTrainCommand } from "../lib/cli/train.ts";

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

Deno.test("parseConfig() with an origin names the file of each field, or the flag that gave it", () => {
  const origin = { file: "runs/cfg.json", flags: ["batchSize"] };
  assert.throws(() => parseConfig({ l1Coef: 1, lr: "fast" }, origin), {
    name: "TypeError",
    // zod lists the fields' issues before the unknown keys.
    message: "invalid configuration:\n" +
      '  runs/cfg.json: lr: expected number, received "fast" (string)\n' +
      "  runs/cfg.json: l1Coef: unknown field (expected one of the fields of TrainConfigSchema), received 1",
  });
  // storeSize (from the file) is not a multiple of batchSize (from the flag): the line is the file's.
  assert.throws(() => parseConfig({ batchSize: 100, storeSize: 250, adamBeta2: 1 }, origin), {
    name: "RangeError",
    message: "invalid configuration:\n  runs/cfg.json: adamBeta2: expected number to be <1; received 1",
  });
  assert.throws(() => parseConfig({ batchSize: 100, storeSize: 250 }, origin), {
    message: "invalid configuration:\n  runs/cfg.json: storeSize: expected a multiple of batchSize (100), " +
      "received 250",
  });
  assert.throws(() => parseConfig({ batchSize: 0 }, origin), {
    message: "invalid configuration:\n  --batch-size: expected number to be >0; received 0",
  });
  // Without a file the lines are as before.
  assert.throws(() => parseConfig({ batchSize: 0 }, { flags: ["batchSize"] }), {
    message: "invalid configuration:\n  batchSize: expected number to be >0; received 0",
  });
});

Deno.test("memoryEstimate() counts the parameters with Adam's moments, the store and the toy ground truth", () => {
  // dIn 100, dSae 200, one component: 3 × (2 × 100 × 200 + 200 + 100) = 120,900 values = 483,600 bytes.
  const toy = parseConfig({ dIn: 100, dSae: 200, batchSize: 100, storeSize: 1000 });
  assert.deepEqual(memoryEstimate(toy), {
    params: 483_600,
    store: 1000 * 100 * 4, // 400,000
    toy: 128 * 100 * 4, // 51,200: 128 ground-truth features by default
  });
  // A transcoder's store holds its inputs and its targets: 2 × 1000 rows × 100 values × 4 bytes.
  const transcoder = parseConfig({
    source: "model",
    transcoderFrom: ["blocks.0.ln2.hook_normalized"],
    transcoderTo: ["blocks.0.hook_mlp_out"],
    dIn: 100,
    dSae: 200,
    batchSize: 100,
    storeSize: 1000,
  });
  assert.deepEqual(memoryEstimate(transcoder), { params: 483_600, store: 800_000, toy: 0 });
  assert.equal(formatBytes(999), "999 B");
  assert.equal(formatBytes(999_500), "1.00 MB");
  assert.equal(formatBytes(2.88e20), "288 EB");
});

Deno.test("checkMemory() refuses sizes that cannot fit, with the estimate, and passes those that can", () => {
  const gb24 = 24e9;
  checkMemory(parseConfig({}), gb24);
  checkMemory(parseConfig(TOY_PRESET), gb24);
  // dIn 1e9 with expansionFactor 2: dSae 2e9; 3 × (2 × 1e9 × 2e9 + 2e9 + 1e9) × 4 bytes = 4.8000000036e19.
  assert.throws(() => checkMemory(parseConfig({ dIn: 1e9 }), gb24), {
    name: "RangeError",
    message:
      "dSae 2000000000 (with dIn 1000000000, nComponents 1): the parameters and Adam moments alone need " +
      "48.0 EB (3 × 1 × (2 × 1000000000 × 2000000000 + 2000000000 + 1000000000) float32 values), more than the " +
      "24.0 GB of memory of this machine; lower dSae (or expansionFactor), dIn or nComponents",
  });
  // The store of the defaults at dIn 1024 for 4 components: 2,998,272 × 4 × 1024 × 4 = 49,123,688,448 bytes.
  assert.throws(() => checkMemory(parseConfig({ dIn: 1024, nComponents: 4 }), gb24), {
    message:
      "storeSize 2998272 (with dIn 1024, 4 components read): the activation store alone needs 49.1 GB " +
      "(2998272 × 4 × 1024 float32 values), more than the 24.0 GB of memory of this machine; lower storeSize " +
      "(a multiple of batchSize 8192)",
  });
  // 1e9 toy features of 64 values: 256,000,000,000 bytes.
  assert.throws(() => checkMemory(parseConfig({ toyFeatures: 1e9 }), gb24), {
    message: "toyFeatures 1000000000 (with dIn 64, nComponents 1): the toy ground truth alone needs 256 GB " +
      "(1 × 1000000000 × 64 float32 values), more than the 24.0 GB of memory of this machine; lower " +
      "toyFeatures or dIn",
  });
  // Each part fits in 900 kB, all three do not: 483,600 + 400,000 + 51,200 = 934,800 bytes.
  const small = parseConfig({ dIn: 100, dSae: 200, batchSize: 100, storeSize: 1000 });
  checkMemory(small, 934_800);
  assert.throws(() => checkMemory(small, 900_000), {
    message:
      "dSae 200, storeSize 1000: the parameters and Adam moments (484 kB), the activation store (400 kB) " +
      "and the toy ground truth (51.2 kB) together need 935 kB, more than the 900 kB of memory of this machine; " +
      "lower dSae or storeSize",
  });
});

Deno.test("deno task train names the --config file in its errors and refuses sizes beyond memory before allocating", async () => {
  const dir = await Deno.makeTempDir({ prefix: "saekit-config-test-" });
  const io = () => ({ write: () => {}, isTerminal: false, signal: new AbortController().signal });
  try {
    const path = `${dir}/bad.json`;
    await Deno.writeTextFile(path, JSON.stringify({ source: "toy", dIn: 2.5 }));
    await assert.rejects(() => runTrainCommand(["--config", path, "--lr=-1", "--out", `${dir}/a`], io()), {
      name: "TypeError",
      message: `invalid configuration:\n  ${path}: dIn: expected int, received 2.5 (number)\n` +
        "  --lr: expected number to be >0; received -1",
    });
    await Deno.writeTextFile(`${dir}/list.json`, "[1, 2]");
    await assert.rejects(() => runTrainCommand(["--config", `${dir}/list.json`], io()), {
      name: "TypeError",
      message: `--config ${dir}/list.json: expected a JSON object of configuration fields, received [1,2]`,
    });

    // Sizes beyond any machine: refused with the estimate, not "Array buffer allocation failed".
    const out = `${dir}/run`;
    await Deno.mkdir(out);
    await Deno.writeTextFile(`${out}/notes.txt`, "kept");
    const huge = `${dir}/huge.json`;
    await Deno.writeTextFile(huge, JSON.stringify({ source: "toy", dSae: 1e10, steps: 1 }));
    await assert.rejects(() => runTrainCommand(["--config", huge, "--backend", "cpu", "--out", out], io()), {
      name: "RangeError",
      message: new RegExp(
        "^dSae 10000000000 \\(with dIn 64, nComponents 1\\): the parameters and Adam moments alone need 15\\.5 " +
          "TB \\(3 × 1 × \\(2 × 64 × 10000000000 \\+ 10000000000 \\+ 64\\) float32 values\\), more than the " +
          "[0-9.]+ [kMGT]?B of memory of this machine; lower dSae \\(or expansionFactor\\), dIn or nComponents$",
      ),
    });
    // The toy run with dIn 1e9: 3 components of 4e9 features: 36 × (8e18 + 5e9) bytes = 2.88e20.
    await assert.rejects(
      () =>
        runTrainCommand(["--source", "toy", "--d-in", "1000000000", "--backend", "cpu", "--out", out], io()),
      {
        name: "RangeError",
        message:
          /^dSae 4000000000 \(with dIn 1000000000, nComponents 3\): the parameters and Adam moments alone need 288 EB /,
      },
    );
    const left = [...Deno.readDirSync(out)].map((e) => e.name);
    assert.ok(
      !left.includes("checkpoints") && !left.includes("final") && !left.includes("config.json"),
      `${left}`,
    );
    assert.equal(await Deno.readTextFile(`${out}/notes.txt`), "kept");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
