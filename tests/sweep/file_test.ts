import { assert } from "../_helpers.ts";
import {
  expandSweep,
  formatSweepSummary,
  parseSweepFile,
  planSweep,
  sweepRunResult,
  type SweepRunStatus,
} from "../../lib/sweep/file.ts";

const BASE = { source: "toy", dIn: 8, dSae: 16, batchSize: 16, storeSize: 64, steps: 3 };

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected an error, received none");
}

Deno.test("planSweep() expands a grid as nested loops in the file's order, the last parameter fastest", () => {
  const plan = planSweep({
    name: "g",
    base: BASE,
    parameters: {
      arch: { values: ["relu", "topk"] },
      lr: { values: [0.001, 0.003, 0.01] },
      k: { value: 4 },
    },
  });
  // 2 archs × 3 learning rates × 1 k = 6 runs.
  assert.equal(plan.runs.length, 6);
  assert.equal(plan.name, "g");
  assert.equal(plan.method, "grid");
  assert.deepEqual(plan.parameters, ["arch", "lr", "k"]);
  assert.deepEqual(plan.runs.map((r) => r.id), [
    "run-000",
    "run-001",
    "run-002",
    "run-003",
    "run-004",
    "run-005",
  ]);
  assert.deepEqual(plan.runs.map((r) => [r.params.arch, r.params.lr, r.params.k]), [
    ["relu", 0.001, 4],
    ["relu", 0.003, 4],
    ["relu", 0.01, 4],
    ["topk", 0.001, 4],
    ["topk", 0.003, 4],
    ["topk", 0.01, 4],
  ]);
  // Each run is the base with its parameters on top.
  assert.deepEqual(plan.runs[4].input, { ...BASE, arch: "topk", lr: 0.003, k: 4 });
  assert.deepEqual(Object.keys(plan.runs[0].params), ["arch", "lr", "k"]);
});

Deno.test("planSweep() of a grid without parameters is the base alone; the name falls back", () => {
  const plan = planSweep({ base: BASE, parameters: {} }, "from-file");
  assert.equal(plan.runs.length, 1);
  assert.equal(plan.name, "from-file");
  assert.deepEqual(plan.runs[0].input, BASE);
});

Deno.test("planSweep() ids widen past 1000 runs", () => {
  const values = Array.from({ length: 1001 }, (_, i) => 1e-4 * (i + 1));
  const runs = expandSweep({ base: BASE, parameters: { lr: { values } } });
  assert.equal(runs[0].id, "run-0000");
  assert.equal(runs[1000].id, "run-1000");
});

const RANDOM = {
  method: "random",
  count: 40,
  seed: 5,
  base: BASE,
  parameters: {
    lr: { min: 1e-4, max: 1e-2, distribution: "log_uniform_values" },
    l1Coefficient: { min: 0.001, max: 0.1 },
    expansionFactor: { min: 1, max: 4 },
    adamBeta2: { min: Math.log(0.9), max: Math.log(0.999), distribution: "log_uniform" },
    arch: { values: ["relu", "gated", "topk"] },
    k: { values: [2, 4], probabilities: [0, 1] },
  },
};

Deno.test("planSweep() random search: the same seed gives the same runs, all within their ranges", () => {
  const base = { ...BASE, dSae: null };
  const file = { ...RANDOM, base };
  const a = expandSweep(file);
  const b = expandSweep(file);
  assert.equal(a.length, 40);
  assert.deepEqual(a, b);
  const other = expandSweep({ ...file, seed: 6 });
  assert.notDeepEqual(a.map((r) => r.params), other.map((r) => r.params));
  for (const run of a) {
    const p = run.params as Record<string, number | string>;
    assert.ok((p.lr as number) >= 1e-4 && (p.lr as number) <= 1e-2, `lr ${p.lr}`);
    assert.ok((p.l1Coefficient as number) >= 0.001 && (p.l1Coefficient as number) <= 0.1);
    // Two integers without a distribution: int_uniform, both ends included.
    assert.ok(Number.isInteger(p.expansionFactor) && [1, 2, 3, 4].includes(p.expansionFactor as number));
    // log_uniform draws exponents: exp(ln 0.9 .. ln 0.999).
    assert.ok((p.adamBeta2 as number) >= 0.9 - 1e-12 && (p.adamBeta2 as number) <= 0.999 + 1e-12);
    assert.ok(["relu", "gated", "topk"].includes(p.arch as string));
    // Probability 0 for 2: always 4.
    assert.equal(p.k, 4);
    assert.deepEqual(run.input, { ...base, ...run.params });
  }
  // Over 40 draws every integer 1..4 and every arch shows up (each is missed with probability < 1e-4).
  assert.deepEqual([...new Set(a.map((r) => r.params.expansionFactor))].sort(), [1, 2, 3, 4]);
  assert.equal(new Set(a.map((r) => r.params.arch)).size, 3);
});

Deno.test("planSweep() random search: a larger count keeps the earlier runs", () => {
  const file = { ...RANDOM, base: { ...BASE, dSae: null } };
  const short = expandSweep({ ...file, count: 5 });
  const long = expandSweep({ ...file, count: 12 });
  assert.deepEqual(long.slice(0, 5), short);
});

Deno.test("planSweep() random search: log_uniform_values is uniform in the logarithm", () => {
  const runs = expandSweep({
    method: "random",
    count: 400,
    base: BASE,
    parameters: { lr: { min: 1e-4, max: 1e-2, distribution: "log_uniform_values" } },
  });
  // Half of the draws should fall below the geometric mean 1e-3 (a plain uniform draw would put 9% there).
  const below = runs.filter((r) => (r.params.lr as number) < 1e-3).length / runs.length;
  assert.ok(below > 0.4 && below < 0.6, `fraction below 1e-3: ${below}`);
});

Deno.test("parseSweepFile() fills the defaults of the original: grid, seed 0, empty base", () => {
  const file = parseSweepFile({ parameters: { lr: { values: [0.001] } } });
  assert.equal(file.method, "grid");
  assert.equal(file.seed, 0);
  assert.deepEqual(file.base, {});
  assert.equal(file.metric, undefined);
  const withMetric = parseSweepFile({ parameters: {}, metric: { name: "loss/total/mean" } });
  assert.deepEqual(withMetric.metric, { name: "loss/total/mean", goal: "minimize" });
});

Deno.test("parseSweepFile() names the field, the expected and the received value of each problem", () => {
  const cases: [unknown, ErrorConstructor, string][] = [
    [{ parameters: {}, program: "train.py" }, TypeError, "program: unknown field (expected one of name,"],
    [{ parameters: {}, method: "bayes" }, RangeError, "method: "],
    [{ parameters: { lr: [0.1] } }, TypeError, 'parameters.lr: expected {"value": v}, {"values": [...]}'],
    [{ parameters: { lr: {} } }, TypeError, "parameters.lr: expected"],
    [{ parameters: { lr: { values: [] } } }, RangeError, "parameters.lr.values: "],
    [{ parameters: { lr: { values: [1], value: 2 } } }, TypeError, "parameters.lr.value: unknown field"],
    [
      { method: "random", count: 1, parameters: { lr: { min: 0.1 } } },
      TypeError,
      "parameters.lr.max: expected number, received nothing",
    ],
    [
      { method: "random", count: 1, parameters: { lr: { min: 0.1, max: 1, distribution: "normal" } } },
      RangeError,
      "parameters.lr.distribution: ",
    ],
    [
      { parameters: { learningRate: { values: [1] } } },
      TypeError,
      "parameters.learningRate: unknown configuration",
    ],
    [{ base: { l1: 1 }, parameters: {} }, TypeError, "base.l1: unknown configuration field"],
    [
      { parameters: { lr: { min: 0.1, max: 1 } } },
      RangeError,
      'parameters.lr: expected "value" or "values" with',
    ],
    [{ count: 3, parameters: {} }, RangeError, 'count: expected nothing with method "grid"'],
    [
      { method: "random", parameters: {} },
      RangeError,
      'count: expected a positive integer with method "random"',
    ],
    [
      { method: "random", count: 1, parameters: { lr: { min: 0.1, max: 0.01 } } },
      RangeError,
      "parameters.lr.max: expected at least min (0.1), received 0.01",
    ],
    [
      { method: "random", count: 1, parameters: { k: { min: 1, max: 4.5, distribution: "int_uniform" } } },
      RangeError,
      'parameters.k: expected integer min and max for "int_uniform", received 1 and 4.5',
    ],
    [
      {
        method: "random",
        count: 1,
        parameters: { lr: { min: 0, max: 1, distribution: "log_uniform_values" } },
      },
      RangeError,
      'parameters.lr.min: expected a positive value for "log_uniform_values", received 0',
    ],
    [
      { method: "random", count: 1, parameters: { k: { values: [1, 2], probabilities: [1] } } },
      RangeError,
      "parameters.k.probabilities: expected 2 (one per value), received 1",
    ],
    [
      { method: "random", count: 1, parameters: { k: { values: [1, 2], probabilities: [0.5, 0.6] } } },
      RangeError,
      "parameters.k.probabilities: expected a sum of 1, received 1.1",
    ],
    [
      { base: { dSae: 64 }, parameters: { expansionFactor: { values: [2, 4] } } },
      RangeError,
      "parameters.expansionFactor: expected dSae to be null (a set dSae overrides expansionFactor), received dSae 64",
    ],
    [{ name: "a b", parameters: {} }, RangeError, "name: expected letters, digits"],
    [{ metric: { name: "x", goal: "max" }, parameters: {} }, RangeError, "metric.goal: "],
  ];
  for (const [input, kind, text] of cases) {
    const error = errorOf(() => parseSweepFile(input));
    assert.ok(
      error instanceof kind,
      `${JSON.stringify(input)}: expected ${kind.name}, received ${error.name}`,
    );
    assert.ok(error.message.includes(text), `${JSON.stringify(input)}: "${text}" not in:\n${error.message}`);
  }
});

Deno.test("planSweep() names the run, its parameters and the configuration field of an invalid run", () => {
  const error = errorOf(() =>
    planSweep({ base: { ...BASE, arch: "topk" }, parameters: { k: { values: [4, 100] } } })
  );
  // dSae is 16, so k = 100 is impossible.
  assert.ok(error instanceof RangeError);
  assert.match(
    error.message,
    /^run-001 \(k=100\): invalid configuration:\n {2}k: expected at most dSae \(16\), received 100/,
  );
  const typeError = errorOf(() => planSweep({ base: BASE, parameters: { lr: { values: [0.001, "fast"] } } }));
  assert.ok(typeError instanceof TypeError);
  assert.match(typeError.message, /^run-001 \(lr=fast\): invalid configuration:\n {2}lr: expected number/);
});

Deno.test("sweepRunResult() reads the means of the last metrics line and names a missing key", () => {
  const last = {
    step: 30,
    "loss/total/mean": 0.25,
    "train/l0_norm/mean": 3.5,
    "train/explained_variance/mean": 0.9,
    "train/dead_fraction/mean": 0.125,
    "validate/reconstruction_score/mean": 0.8,
    "validate/kl_div/mean": 0.01,
  };
  assert.deepEqual(sweepRunResult(last, 2.5), {
    steps: 30,
    loss: 0.25,
    l0: 3.5,
    explainedVariance: 0.9,
    deadFraction: 0.125,
    reconstructionScore: 0.8,
    klDiv: 0.01,
    seconds: 2.5,
  });
  const { ["train/l0_norm/mean"]: _l0, ...without } = last;
  const error = errorOf(() => sweepRunResult(without, 1));
  assert.ok(error instanceof RangeError);
  assert.equal(
    error.message,
    "train/l0_norm/mean: expected a number in the last metrics line, received nothing",
  );
  assert.throws(() => sweepRunResult(undefined, 1), /received no metrics line/);
});

Deno.test("formatSweepSummary() sorts by the metric, best first, and lists failures", () => {
  const plan = planSweep({
    base: BASE,
    parameters: { lr: { values: [0.001, 0.003, 0.01, 0.03] } },
    metric: { name: "train/explained_variance/mean", goal: "maximize" },
  });
  const done = (id: string, index: number, ev: number): SweepRunStatus => ({
    id,
    index,
    state: "done",
    attempt: 1,
    worker: "1",
    pid: 10,
    hostname: "h",
    startedAt: "t",
    result: { steps: 3, loss: 0.1, l0: 2, explainedVariance: ev, deadFraction: 0.5, seconds: 1.25 },
    last: { "train/explained_variance/mean": ev },
  });
  const text = formatSweepSummary(plan, [
    done("run-000", 0, 0.5),
    {
      ...done("run-001", 1, 0),
      state: "failed",
      attempt: 2,
      error: "RangeError: boom\nstack",
      result: undefined,
    },
    done("run-002", 2, 0.75),
    { ...done("run-003", 3, 0), state: "running", result: undefined, last: undefined },
  ]);
  const lines = text.split("\n");
  assert.equal(lines[0], "| run | lr | state | L0 | explained variance | dead fraction | loss | seconds |");
  assert.equal(lines[1], "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |");
  // 0.75 before 0.5; the failed one keeps its last value (0) and comes next; runs without it last.
  assert.equal(lines[2], "| run-002 | 0.01 | done | 2.00 | 0.750 | 0.500 | 0.1000 | 1.3 |");
  assert.equal(lines[3], "| run-000 | 0.001 | done | 2.00 | 0.500 | 0.500 | 0.1000 | 1.3 |");
  assert.equal(lines[4], "| run-001 | 0.003 | failed | | | | | |");
  assert.equal(lines[5], "| run-003 | 0.03 | running | | | | | |");
  assert.equal(
    lines[7],
    "4 runs: 2 done, 1 failed, 1 running; sorted by train/explained_variance/mean (maximize).",
  );
  assert.equal(lines[9], "- run-001 failed (attempt 2): RangeError: boom");
});

Deno.test("formatSweepSummary() adds MMCS, validation and another metric as columns when present", () => {
  const plan = planSweep({
    base: BASE,
    parameters: { arch: { values: ["relu"] } },
    metric: { name: "train/capacity/mean" },
  });
  const text = formatSweepSummary(plan, [{
    id: "run-000",
    index: 0,
    state: "done",
    attempt: 1,
    worker: "w",
    pid: 1,
    hostname: "h",
    startedAt: "t",
    result: {
      steps: 3,
      loss: 0.5,
      l0: 1,
      explainedVariance: 0.5,
      deadFraction: 0,
      mmcs: 0.875,
      reconstructionScore: 0.9,
      klDiv: 0.02,
      seconds: 3,
    },
    last: { "train/capacity/mean": 0.123456 },
  }]);
  const [header, , row] = text.split("\n");
  assert.equal(
    header,
    "| run | arch | state | L0 | explained variance | dead fraction | loss | MMCS | reconstruction score | KL | train/capacity/mean | seconds |",
  );
  assert.equal(
    row,
    "| run-000 | relu | done | 1.00 | 0.500 | 0.000 | 0.5000 | 0.875 | 0.900 | 0.0200 | 0.1235 | 3.0 |",
  );
});

Deno.test("formatSweepSummary() says when no run logged the metric (the original's defect H12)", () => {
  const plan = planSweep({ base: BASE, parameters: {}, metric: { name: "train/loss/total_loss" } });
  const text = formatSweepSummary(plan, [{
    id: "run-000",
    index: 0,
    state: "done",
    attempt: 1,
    worker: "w",
    pid: 1,
    hostname: "h",
    startedAt: "t",
    result: { steps: 3, loss: 0.5, l0: 1, explainedVariance: 0.5, deadFraction: 0, seconds: 3 },
    last: { "loss/total/mean": 0.5 },
  }]);
  assert.match(text, /\nNo run logged train\/loss\/total_loss: expected a key of the runs' metrics\.jsonl/);
});

Deno.test("examples/sweep_toy.json plans 12 valid runs", async () => {
  const file = JSON.parse(await Deno.readTextFile(new URL("../../examples/sweep_toy.json", import.meta.url)));
  const plan = planSweep(file);
  // 2 architectures × 3 coefficients × 2 learning rates.
  assert.equal(plan.runs.length, 12);
  assert.equal(plan.name, "toy");
  assert.deepEqual(plan.runs[11].params, { arch: "gated", l1Coefficient: 0.05, lr: 0.003 });
});
