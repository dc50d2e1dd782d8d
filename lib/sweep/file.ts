/**
 * Sweep files: a grid or a random search over configuration fields, written
 * in the shape of the Weights & Biases sweep configurations that the original
 * `sparse_autoencoder` used (`parameters: { name: { values: [...] } }`), and
 * expanded here into a fixed list of runs, so that any number of worker
 * processes can share them (see `queue.ts`).
 *
 * ```json
 * {
 *   "name": "toy-l1",
 *   "method": "grid",
 *   "base": { "source": "toy", "dIn": 16, "steps": 300, "batchSize": 256, "storeSize": 4096 },
 *   "parameters": {
 *     "arch": { "values": ["relu", "gated"] },
 *     "l1Coefficient": { "values": [0.01, 0.03] },
 *     "lr": { "value": 0.003 }
 *   }
 * }
 * ```
 *
 * A parameter is any field of the training configuration (`TrainConfigSchema`),
 * given as `{ "value": v }` (a constant), `{ "values": [...] }` (optionally with
 * `"probabilities"` for random draws), or, with `"method": "random"`, a range
 * `{ "min": a, "max": b, "distribution": d }` where `d` is one of W&B's
 * `uniform`, `int_uniform`, `log_uniform_values` (log-uniform between the
 * values `a` and `b`) or `log_uniform` (`exp` of a uniform draw between the
 * exponents `a` and `b`, as in W&B). Without a distribution a range of two
 * integers is `int_uniform`, else `uniform` (W&B's rule).
 *
 * Pure: parsing, expansion, result rows and the summary table; no files.
 *
 * @module
 */
import { z } from "zod";
import { parseConfig, type TrainConfigInput, TrainConfigSchema } from "../config.ts";
import { deriveSeed, mulberry32 } from "../seed.ts";

/** The distributions of a range parameter (W&B's names). */
export const SWEEP_DISTRIBUTIONS = ["uniform", "int_uniform", "log_uniform_values", "log_uniform"] as const;

/** A distribution of a range parameter. */
export type SweepDistribution = typeof SWEEP_DISTRIBUTIONS[number];

/** The largest grid that {@linkcode planSweep} expands. */
export const MAX_SWEEP_RUNS = 100_000;

const ConstantParameterSchema = z.strictObject({
  /** The one value of the field in every run. */
  value: z.json(),
});

const ValuesParameterSchema = z.strictObject({
  /** The values: every one in a grid, one drawn per run in a random search. */
  values: z.array(z.json()).min(1),
  /** Random search: the probability of each value (summing to 1); equal when absent. */
  probabilities: z.array(z.number().nonnegative()).min(1).optional(),
});

const RangeParameterSchema = z.strictObject({
  min: z.number(),
  max: z.number(),
  /** When absent: `int_uniform` if `min` and `max` are integers, else `uniform`. */
  distribution: z.enum(SWEEP_DISTRIBUTIONS).optional(),
});

/** One swept field: a constant, a list of values, or (random search) a range. */
export const SweepParameterSchema = z.union([
  ConstantParameterSchema,
  ValuesParameterSchema,
  RangeParameterSchema,
]);

/** A swept field as written in a sweep file. */
export type SweepParameter = z.output<typeof SweepParameterSchema>;

/** What the summary table is sorted by: a key of the runs' last metrics line. */
export const SweepMetricSchema = z.strictObject({
  /** A metrics key, e.g. `train/explained_variance/mean` or `validate/reconstruction_score/mean`. */
  name: z.string().min(1),
  goal: z.enum(["minimize", "maximize"]).default("minimize"),
});

/** The sort key of a sweep's summary. */
export type SweepMetric = z.output<typeof SweepMetricSchema>;

/** The schema of a sweep file (see the module documentation for an example). */
export const SweepFileSchema = z.strictObject({
  /** The sweep's name (letters, digits, `.`, `_`, `-`): the default folder is `runs/sweep-<name>`. */
  name: z.string().regex(/^[A-Za-z0-9._-]+$/, "expected letters, digits, '.', '_' or '-'").optional(),
  description: z.string().optional(),
  /** `grid`: every combination of the values (the original's default); `random`: `count` draws. */
  method: z.enum(["grid", "random"]).default("grid"),
  /** Random search: the number of runs. */
  count: z.number().int().positive().optional(),
  /** Random search: the seed of the draws (run `i` draws from `deriveSeed(seed, i)`). */
  seed: z.number().int().nonnegative().default(0),
  /** Sorts the summary table (best first). */
  metric: SweepMetricSchema.optional(),
  /** The configuration every run starts from (fields of `TrainConfigSchema`). */
  base: z.record(z.string(), z.unknown()).default({}),
  /** The swept fields, in the order of the file: a grid varies the last one fastest. */
  parameters: z.record(z.string(), SweepParameterSchema),
});

/** A sweep file as written (defaults optional). */
export type SweepFileInput = z.input<typeof SweepFileSchema>;
/** A parsed sweep file. */
export type SweepFile = z.output<typeof SweepFileSchema>;

/** One run of a sweep. */
export type SweepRun = {
  /** Position in the sweep, from 0. */
  readonly index: number;
  /** `run-000`, `run-001`, …: the run's folder under `DIR/runs/`. */
  readonly id: string;
  /** The swept fields' values of this run, in the file's order. */
  readonly params: Readonly<Record<string, unknown>>;
  /** The run's whole configuration (`base` with `params` on top), valid for `parseConfig`. */
  readonly input: TrainConfigInput;
};

/** A sweep expanded into its runs. */
export type SweepPlan = {
  readonly name: string;
  readonly method: "grid" | "random";
  /** The swept fields, in the file's order. */
  readonly parameters: readonly string[];
  readonly metric?: SweepMetric;
  readonly runs: readonly SweepRun[];
};

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const key of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** The branch of the parameter union that an object means, by its keys. */
function parameterBranch(value: unknown): z.ZodType | undefined {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return undefined;
  if ("values" in value) return ValuesParameterSchema;
  if ("value" in value) return ConstantParameterSchema;
  if ("min" in value || "max" in value || "distribution" in value) return RangeParameterSchema;
  return undefined;
}

function issueLines(issues: readonly z.core.$ZodIssue[], input: unknown, prefix: readonly PropertyKey[]): {
  lines: string[];
  typeLike: boolean;
} {
  const lines: string[] = [];
  let typeLike = false;
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    const field = path.join(".") || "(sweep file)";
    const value = valueAt(input, path);
    if (issue.code === "unrecognized_keys") {
      typeLike = true;
      lines.push(
        `${issue.keys.map((key) => [...path, key].join(".")).join(", ")}: unknown field (expected one of ${
          path.length === 0
            ? Object.keys(SweepFileSchema.shape).join(", ")
            : path.length === 2 && path[0] === "parameters"
            ? '"value", "values" and "probabilities", or "min", "max" and "distribution"'
            : Object.keys(SweepMetricSchema.shape).join(", ")
        }), received ${issue.keys.map((key) => describe(valueAt(value, [key]))).join(", ")}`,
      );
    } else if (issue.code === "invalid_union" && path.length === 2 && path[0] === "parameters") {
      const branch = parameterBranch(value);
      if (branch === undefined) {
        typeLike = true;
        lines.push(
          `${field}: expected {"value": v}, {"values": [...]} or {"min": a, "max": b, "distribution": d}, received ${
            describe(value)
          }`,
        );
      } else {
        const inner = branch.safeParse(value);
        if (!inner.success) {
          const nested = issueLines(inner.error.issues, input, path);
          lines.push(...nested.lines);
          typeLike ||= nested.typeLike;
        }
      }
    } else if (issue.code === "invalid_type") {
      typeLike = true;
      const kind = value === null ? "null" : Array.isArray(value) ? "array" : typeof value;
      lines.push(`${field}: expected ${issue.expected}, received ${describe(value)} (${kind})`);
    } else {
      const message = issue.message.replace(/^(Invalid input|Invalid option|Too big|Too small): /, "");
      lines.push(`${field}: ${message}; received ${describe(value)}`);
    }
  }
  return { lines, typeLike };
}

/**
 * Parses a sweep file's JSON value. Wrong keys or types throw a `TypeError`,
 * bad values a `RangeError`, each line naming the field (e.g.
 * `parameters.lr.distribution`), what was expected and what was received.
 * Beyond the schema: every `base` key and parameter name must be a field of
 * `TrainConfigSchema`; a grid takes only `value`/`values` parameters and no
 * `count`; a random search needs `count`; ranges need `min ≤ max` (integers
 * for `int_uniform`, `min > 0` for `log_uniform_values`); `probabilities` has
 * one entry per value and sums to 1; `expansionFactor` cannot be swept with a
 * fixed `dSae` (which would override it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSweepFile } from "./file.ts";
 * const file = parseSweepFile({ parameters: { lr: { values: [1e-3, 3e-3] } } });
 * assert.equal(file.method, "grid");
 * assert.equal(file.seed, 0);
 * assert.throws(
 *   () => parseSweepFile({ method: "random", count: 2, parameters: { lr: { min: 0.1, max: 0.01 } } }),
 *   { message: /parameters\.lr\.max: expected at least min \(0\.1\), received 0\.01/ },
 * );
 * ```
 */
export function parseSweepFile(input: unknown): SweepFile {
  const parsed = SweepFileSchema.safeParse(input);
  if (!parsed.success) {
    const { lines, typeLike } = issueLines(parsed.error.issues, input, []);
    const ErrorClass = typeLike ? TypeError : RangeError;
    throw new ErrorClass(`invalid sweep file:\n  ${lines.join("\n  ")}`);
  }
  const file = parsed.data;
  const fields = new Set(Object.keys(TrainConfigSchema.shape));
  const unknown = [
    ...Object.keys(file.base).filter((key) => !fields.has(key)).map((key) => `base.${key}`),
    ...Object.keys(file.parameters).filter((key) => !fields.has(key)).map((key) => `parameters.${key}`),
  ];
  if (unknown.length > 0) {
    throw new TypeError(
      `invalid sweep file:\n  ${
        unknown.map((path) =>
          `${path}: unknown configuration field (expected a field of TrainConfigSchema such as l1Coefficient, lr, expansionFactor, arch or k), received ${
            describe(valueAt(input, path.split(".")))
          }`
        ).join("\n  ")
      }`,
    );
  }
  const problems: string[] = [];
  if (file.method === "random" && file.count === undefined) {
    problems.push(`count: expected a positive integer with method "random", received nothing`);
  }
  if (file.method === "grid" && file.count !== undefined) {
    problems.push(
      `count: expected nothing with method "grid" (a grid runs every combination), received ${file.count}`,
    );
  }
  for (const [name, parameter] of Object.entries(file.parameters)) {
    const at = `parameters.${name}`;
    if ("min" in parameter) {
      if (file.method === "grid") {
        problems.push(
          `${at}: expected "value" or "values" with method "grid", received a range ${
            describe(parameter)
          } (use method "random", or list the values)`,
        );
      }
      const distribution = rangeDistribution(parameter);
      if (parameter.max < parameter.min) {
        problems.push(`${at}.max: expected at least min (${parameter.min}), received ${parameter.max}`);
      }
      if (
        distribution === "int_uniform" &&
        !(Number.isInteger(parameter.min) && Number.isInteger(parameter.max))
      ) {
        problems.push(
          `${at}: expected integer min and max for "int_uniform", received ${parameter.min} and ${parameter.max}`,
        );
      }
      if (distribution === "log_uniform_values" && !(parameter.min > 0)) {
        problems.push(
          `${at}.min: expected a positive value for "log_uniform_values", received ${parameter.min}`,
        );
      }
    } else if ("values" in parameter && parameter.probabilities !== undefined) {
      const { values, probabilities } = parameter;
      if (probabilities.length !== values.length) {
        problems.push(
          `${at}.probabilities: expected ${values.length} (one per value), received ${probabilities.length}`,
        );
      } else {
        const sum = probabilities.reduce((a, b) => a + b, 0);
        if (Math.abs(sum - 1) > 1e-6) {
          problems.push(`${at}.probabilities: expected a sum of 1, received ${sum}`);
        }
      }
    }
  }
  if (
    "expansionFactor" in file.parameters &&
    (("dSae" in file.parameters) || (file.base.dSae !== undefined && file.base.dSae !== null))
  ) {
    problems.push(
      `parameters.expansionFactor: expected dSae to be null (a set dSae overrides expansionFactor), received dSae ${
        describe(file.parameters.dSae ?? file.base.dSae)
      }`,
    );
  }
  if (problems.length > 0) throw new RangeError(`invalid sweep file:\n  ${problems.join("\n  ")}`);
  return file;
}

function rangeDistribution(parameter: { min: number; max: number; distribution?: SweepDistribution }) {
  return parameter.distribution ??
    (Number.isInteger(parameter.min) && Number.isInteger(parameter.max) ? "int_uniform" : "uniform");
}

/** One draw of a parameter from a uniform generator. */
function draw(parameter: SweepParameter, uniform: () => number): unknown {
  if ("values" in parameter) {
    const u = uniform();
    const { values, probabilities } = parameter;
    if (probabilities === undefined) {
      return values[Math.min(values.length - 1, Math.floor(u * values.length))];
    }
    let cumulative = 0;
    for (let i = 0; i < values.length; i++) {
      cumulative += probabilities[i];
      if (u < cumulative) return values[i];
    }
    return values[values.length - 1];
  }
  if ("min" in parameter) {
    const { min, max } = parameter;
    const u = uniform();
    switch (rangeDistribution(parameter)) {
      case "uniform":
        return min + u * (max - min);
      case "int_uniform":
        return min + Math.min(max - min, Math.floor(u * (max - min + 1)));
      case "log_uniform_values":
        return Math.exp(Math.log(min) + u * (Math.log(max) - Math.log(min)));
      case "log_uniform":
        return Math.exp(min + u * (max - min));
    }
  }
  return parameter.value;
}

/**
 * A run's parameters in one line, for logs and error messages.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeParams } from "./file.ts";
 * assert.equal(describeParams({ lr: 0.0031234, arch: "topk" }), "lr=0.003123, arch=topk");
 * ```
 */
export function describeParams(params: Readonly<Record<string, unknown>>): string {
  return Object.entries(params).map(([name, value]) => `${name}=${formatParamValue(value)}`).join(", ");
}

/**
 * A parameter value for tables and logs: numbers to 4 significant digits,
 * strings as they are, anything else as JSON.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatParamValue } from "./file.ts";
 * assert.equal(formatParamValue(1 / 3), "0.3333");
 * assert.equal(formatParamValue(32), "32");
 * assert.equal(formatParamValue(["a", "b"]), '["a","b"]');
 * ```
 */
export function formatParamValue(value: unknown): string {
  if (typeof value === "number") {
    return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(4)));
  }
  if (typeof value === "string") return value;
  return describe(value);
}

/**
 * Expands a sweep file into its runs and checks each run's configuration with
 * `parseConfig`. A grid runs every combination of the values, the first
 * parameter varying slowest and the last fastest (nested loops in the file's
 * order); a random search makes `count` runs, run `i` drawing every parameter
 * in the file's order from `mulberry32(deriveSeed(seed, i))`, so that the same
 * file always gives the same runs and a larger `count` keeps the earlier ones.
 * An invalid run throws the error of `parseConfig` (a `TypeError` or
 * `RangeError`) prefixed with the run's id and parameters. Pure.
 *
 * @param fallbackName the sweep's name when the file has none (e.g. the file's name)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { planSweep } from "./file.ts";
 * const plan = planSweep({
 *   base: { source: "toy", steps: 10 },
 *   parameters: { arch: { values: ["relu", "topk"] }, l1Coefficient: { values: [0.01, 0.1] } },
 * });
 * assert.equal(plan.runs.length, 4);
 * assert.equal(plan.runs[3].id, "run-003");
 * assert.equal(plan.runs[1].input.arch, "relu");
 * assert.equal(plan.runs[1].input.l1Coefficient, 0.1);
 * ```
 */
export function planSweep(input: unknown, fallbackName = "sweep"): SweepPlan {
  const file = parseSweepFile(input);
  const names = Object.keys(file.parameters);
  const combos: Record<string, unknown>[] = [];
  if (file.method === "grid") {
    const lists = names.map((name) => {
      const parameter = file.parameters[name];
      return "values" in parameter ? parameter.values : [(parameter as { value: unknown }).value];
    });
    const total = lists.reduce((n, list) => n * list.length, 1);
    if (total > MAX_SWEEP_RUNS) {
      throw new RangeError(
        `parameters: expected a grid of at most ${MAX_SWEEP_RUNS} runs, received ${total}`,
      );
    }
    for (let i = 0; i < total; i++) {
      const params: Record<string, unknown> = {};
      let rest = i;
      for (let p = names.length - 1; p >= 0; p--) {
        const list = lists[p];
        params[names[p]] = list[rest % list.length];
        rest = Math.floor(rest / list.length);
      }
      combos.push(Object.fromEntries(names.map((name) => [name, params[name]])));
    }
  } else {
    const count = file.count!;
    if (count > MAX_SWEEP_RUNS) {
      throw new RangeError(`count: expected at most ${MAX_SWEEP_RUNS} runs, received ${count}`);
    }
    for (let i = 0; i < count; i++) {
      const uniform = mulberry32(deriveSeed(file.seed, i));
      combos.push(Object.fromEntries(names.map((name) => [name, draw(file.parameters[name], uniform)])));
    }
  }
  const width = Math.max(3, String(combos.length - 1).length);
  const runs = combos.map((params, index): SweepRun => {
    const id = `run-${String(index).padStart(width, "0")}`;
    const runInput = { ...file.base, ...params } as TrainConfigInput;
    try {
      parseConfig(runInput);
    } catch (error) {
      const message = `${id} (${describeParams(params)}): ${error instanceof Error ? error.message : error}`;
      if (error instanceof TypeError) throw new TypeError(message);
      if (error instanceof RangeError) throw new RangeError(message);
      throw new Error(message);
    }
    return { index, id, params, input: runInput };
  });
  return {
    name: file.name ?? fallbackName,
    method: file.method,
    parameters: names,
    ...(file.metric !== undefined ? { metric: file.metric } : {}),
    runs,
  };
}

/**
 * The runs of a sweep file: `planSweep(input).runs`. Pure.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { expandSweep } from "./file.ts";
 * const runs = expandSweep({
 *   method: "random",
 *   count: 3,
 *   seed: 1,
 *   parameters: { lr: { min: 1e-4, max: 1e-2, distribution: "log_uniform_values" } },
 * });
 * assert.equal(runs.length, 3);
 * assert.ok(runs.every((r) => (r.input.lr as number) >= 1e-4));
 * ```
 */
export function expandSweep(input: unknown): SweepRun[] {
  return [...planSweep(input).runs];
}

/** Where a run stands in the queue. */
export type SweepRunState = "pending" | "running" | "done" | "failed";

/** The final metrics of a finished run, from its last metrics line. */
export type SweepRunResult = {
  readonly steps: number;
  /** `loss/total/mean`. */
  readonly loss: number;
  /** `train/l0_norm/mean`: active features per item over the last log window. */
  readonly l0: number;
  /** `train/explained_variance/mean`. */
  readonly explainedVariance: number;
  /** `train/dead_fraction/mean`: features that did not fire in the last log window. */
  readonly deadFraction: number;
  /** Toy source: `eval/mmcs/mean`. */
  readonly mmcs?: number;
  /** Model source: `validate/reconstruction_score/mean`. */
  readonly reconstructionScore?: number;
  /** Model source: `validate/kl_div/mean`. */
  readonly klDiv?: number;
  /** Wall-clock seconds of training (not of preparing the source). */
  readonly seconds: number;
};

/**
 * A run's result row from its last metrics line (numbers only; lists such as
 * densities are left out by the caller or ignored here). Throws a
 * `RangeError` naming the missing key. Pure.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sweepRunResult } from "./file.ts";
 * const result = sweepRunResult({
 *   step: 3, "loss/total/mean": 0.5, "train/l0_norm/mean": 4,
 *   "train/explained_variance/mean": 0.7, "train/dead_fraction/mean": 0.1, "eval/mmcs/mean": 0.6,
 * }, 1.25);
 * assert.equal(result.l0, 4);
 * assert.equal(result.mmcs, 0.6);
 * assert.equal(result.klDiv, undefined);
 * ```
 */
export function sweepRunResult(
  last: Readonly<Record<string, unknown>> | undefined,
  seconds: number,
): SweepRunResult {
  const get = (key: string) => {
    const value = last?.[key];
    return typeof value === "number" ? value : undefined;
  };
  const need = (key: string) => {
    const value = get(key);
    if (value === undefined) {
      throw new RangeError(
        `${key}: expected a number in the last metrics line, received ${
          last === undefined ? "no metrics line" : describe(last[key])
        }`,
      );
    }
    return value;
  };
  const result: Record<string, number> = {
    steps: get("step") ?? 0,
    loss: need("loss/total/mean"),
    l0: need("train/l0_norm/mean"),
    explainedVariance: need("train/explained_variance/mean"),
    deadFraction: need("train/dead_fraction/mean"),
  };
  const optional: [string, string][] = [
    ["mmcs", "eval/mmcs/mean"],
    ["reconstructionScore", "validate/reconstruction_score/mean"],
    ["klDiv", "validate/kl_div/mean"],
  ];
  for (const [field, key] of optional) {
    const value = get(key);
    if (value !== undefined) result[field] = value;
  }
  result.seconds = seconds;
  return result as SweepRunResult;
}

/** What `DIR/runs/<id>/status.json` holds; a run without one is pending. */
export type SweepRunStatus = {
  readonly id: string;
  readonly index: number;
  readonly state: SweepRunState;
  /** 1 for the first claim, counting up with each retry. */
  readonly attempt: number;
  /** The worker that claimed the run (its name, process id and machine). */
  readonly worker: string;
  readonly pid: number;
  readonly hostname: string;
  readonly startedAt: string;
  readonly finishedAt?: string;
  /** A failed run: what went wrong. */
  readonly error?: string;
  /** A done run: its result row. */
  readonly result?: SweepRunResult;
  /** A done run: the numbers of its last metrics line (for `metric`). */
  readonly last?: Readonly<Record<string, number>>;
};

function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

/**
 * The markdown summary of a sweep: a table with a row per run (its id, its
 * parameters, its state, and for done runs L0, explained variance, dead
 * fraction, loss, MMCS or reconstruction score and KL where some run has them,
 * the sweep's metric when it is another key, and seconds), then a count of
 * runs per state and the error of each failed run. Rows are in run order, or
 * best first by the sweep's `metric` (runs without it last). Pure.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatSweepSummary, planSweep } from "./file.ts";
 * const plan = planSweep({ base: { steps: 3 }, parameters: { lr: { values: [0.001, 0.01] } } });
 * const text = formatSweepSummary(plan, [{
 *   id: "run-001", index: 1, state: "done", attempt: 1, worker: "1", pid: 1, hostname: "h",
 *   startedAt: "", result: { steps: 3, loss: 0.5, l0: 4, explainedVariance: 0.75, deadFraction: 0, seconds: 2 },
 * }]);
 * const lines = text.split("\n");
 * assert.equal(lines[2], "| run-000 | 0.001 | pending | | | | | |");
 * assert.equal(lines[3], "| run-001 | 0.01 | done | 4.00 | 0.750 | 0.000 | 0.5000 | 2.0 |");
 * ```
 */
export function formatSweepSummary(plan: SweepPlan, statuses: Iterable<SweepRunStatus>): string {
  const byId = new Map<string, SweepRunStatus>();
  for (const status of statuses) byId.set(status.id, status);
  const results = plan.runs.map((run) => byId.get(run.id)?.result).filter((r) => r !== undefined);
  const withMmcs = results.some((r) => r.mmcs !== undefined);
  const withValidation = results.some((r) => r.reconstructionScore !== undefined || r.klDiv !== undefined);
  const metric = plan.metric;
  const metricKeys = new Set([
    "loss/total/mean",
    "train/l0_norm/mean",
    "train/explained_variance/mean",
    "train/dead_fraction/mean",
    ...(withMmcs ? ["eval/mmcs/mean"] : []),
    ...(withValidation ? ["validate/reconstruction_score/mean", "validate/kl_div/mean"] : []),
  ]);
  const metricColumn = metric !== undefined && !metricKeys.has(metric.name);
  const metricOf = (id: string) => byId.get(id)?.last?.[metric?.name ?? ""];
  const order = [...plan.runs];
  if (metric !== undefined) {
    const sign = metric.goal === "minimize" ? 1 : -1;
    order.sort((a, b) => {
      const x = metricOf(a.id), y = metricOf(b.id);
      if (x === undefined || y === undefined) return (x === undefined ? 1 : 0) - (y === undefined ? 1 : 0);
      return sign * (x - y) || a.index - b.index;
    });
  }
  const fixed = (value: number | undefined, digits: number) =>
    value === undefined ? "" : value.toFixed(digits);
  const header = ["run", ...plan.parameters, "state", "L0", "explained variance", "dead fraction", "loss"];
  const align = ["---", ...plan.parameters.map(() => "---"), "---", "---:", "---:", "---:", "---:"];
  if (withMmcs) header.push("MMCS"), align.push("---:");
  if (withValidation) header.push("reconstruction score", "KL"), align.push("---:", "---:");
  if (metricColumn) header.push(metric!.name), align.push("---:");
  header.push("seconds"), align.push("---:");
  const lines = [`| ${header.map(cell).join(" | ")} |`, `| ${align.join(" | ")} |`];
  for (const run of order) {
    const status = byId.get(run.id);
    const r = status?.result;
    const cells = [
      run.id,
      ...plan.parameters.map((name) => formatParamValue(run.params[name])),
      status?.state ?? "pending",
      fixed(r?.l0, 2),
      fixed(r?.explainedVariance, 3),
      fixed(r?.deadFraction, 3),
      fixed(r?.loss, 4),
    ];
    if (withMmcs) cells.push(fixed(r?.mmcs, 3));
    if (withValidation) cells.push(fixed(r?.reconstructionScore, 3), fixed(r?.klDiv, 4));
    if (metricColumn) {
      const value = metricOf(run.id);
      cells.push(value === undefined ? "" : String(Number(value.toPrecision(4))));
    }
    cells.push(fixed(r?.seconds, 1));
    lines.push(`|${cells.map((text) => text === "" ? " " : ` ${cell(text)} `).join("|")}|`);
  }
  const counts = new Map<SweepRunState, number>();
  for (const run of plan.runs) {
    const state = byId.get(run.id)?.state ?? "pending";
    counts.set(state, (counts.get(state) ?? 0) + 1);
  }
  const states: SweepRunState[] = ["done", "failed", "running", "pending"];
  lines.push(
    "",
    `${plan.runs.length} runs: ${
      states.filter((s) => counts.has(s)).map((s) => `${counts.get(s)} ${s}`).join(", ")
    }${metric !== undefined ? `; sorted by ${metric.name} (${metric.goal})` : ""}.`,
  );
  if (
    metric !== undefined && results.length > 0 && plan.runs.every((run) => metricOf(run.id) === undefined)
  ) {
    // The original's default sweep metric named a key that was never logged (its defect H12): say so.
    lines.push(
      "",
      `No run logged ${metric.name}: expected a key of the runs' metrics.jsonl, such as train/explained_variance/mean.`,
    );
  }
  const failed = plan.runs.filter((run) => byId.get(run.id)?.state === "failed");
  if (failed.length > 0) {
    lines.push("");
    for (const run of failed) {
      const status = byId.get(run.id)!;
      lines.push(`- ${run.id} failed (attempt ${status.attempt}): ${(status.error ?? "").split("\n")[0]}`);
    }
  }
  return lines.join("\n") + "\n";
}
