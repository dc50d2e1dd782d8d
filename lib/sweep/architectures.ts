/**
 * The architecture sweep behind `deno task sweep`: every architecture at three
 * sparsity levels, on the synthetic toy source and on stories260K, reported
 * as the frontier of sparsity (L0) against reconstruction.
 *
 * The grid ({@linkcode sweepGrid}), the rows ({@linkcode sweepRow}) and the
 * tables ({@linkcode formatSweepTable}, {@linkcode formatSweepSection}) are
 * pure; {@linkcode runSweep} trains the runs one after another, and
 * {@linkcode runSweepCommand} is the command line.
 *
 * Activation generation happens once per hook point: every language-model run
 * of a sweep that reads the same activations (model, hooks, dataset, windows,
 * and rows = steps · batchSize) gets the same `activationCache` folder, so the
 * first run writes the safetensors shards and every later one trains from
 * them without running the model (validation still runs the model on the
 * held-out windows).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { BACKEND_NAMES, type BackendName } from "../backends/names.ts";
import { selectBackend } from "../backends/select.ts";
import { type CommandHelp, type FlagTable, formatHelp } from "../cli/help.ts";
import { parseConfig, resolveSizes, type TrainConfig, type TrainConfigInput } from "../config.ts";
import { ARCH_NAMES, type ArchName, archOf } from "../sae/arch/registry.ts";
import { prepareSource } from "../data/prepare.ts";
import { type LogRecord, train } from "../run/runner.ts";
import { disposeAll } from "../run/dispose.ts";
import { describeMachine, gitRevision } from "../bench/benchmarks.ts";
import {
  type BenchmarkRun,
  type BenchmarkSection,
  formatBenchmarkSection,
  writeBenchmarkRun,
} from "../bench/file.ts";

/** The sources a sweep trains on. */
export const SWEEP_SOURCES = ["toy", "stories"] as const;

/** A sweep source: `toy` (synthetic, known ground truth) or `stories` (stories260K's residual stream). */
export type SweepSourceName = typeof SWEEP_SOURCES[number];

/**
 * The three sparsity settings of each architecture and source, from the
 * sparsest to the densest: `k` for the TopK family, `l1Coefficient` (the
 * coefficient of the tanh penalty for `jumprelu`) for the others. Measured so that the
 * three levels span a frontier (see BENCHMARKS.md).
 */
export const SWEEP_LEVELS: Readonly<Record<SweepSourceName, Readonly<Record<ArchName, readonly number[]>>>> =
  {
    toy: {
      relu: [0.05, 0.02, 0.01],
      "relu-april": [0.07, 0.04, 0.015],
      topk: [2, 3, 6],
      batchtopk: [2, 3, 6],
      jumprelu: [0.016, 0.004, 0.001],
      gated: [0.1, 0.05, 0.02],
      matryoshka: [2, 3, 6],
    },
    stories: {
      relu: [0.05, 0.02, 0.012],
      "relu-april": [0.07, 0.025, 0.015],
      topk: [8, 20, 60],
      batchtopk: [8, 20, 60],
      jumprelu: [0.02, 0.006, 0.0018],
      gated: [0.12, 0.06, 0.025],
      matryoshka: [8, 20, 60],
    },
  };

/** Training steps of each source in the full sweep and in `--quick`. */
export const SWEEP_STEPS: Readonly<
  Record<SweepSourceName, { readonly full: number; readonly quick: number }>
> = {
  toy: { full: 600, quick: 40 },
  stories: { full: 150, quick: 6 },
};

/**
 * The configuration every run of a source shares (the architecture, its
 * sparsity and the per-architecture settings come on top): the toy settings of
 * the end-to-end tests (two SAEs 16 → 64 on 24 ground-truth features, 3 active
 * on average), and one SAE 64 → 256 on stories260K's `blocks.2.hook_resid_post`
 * with activations scaled to `E‖x‖ = √dIn`, so that one set of coefficients
 * suits every hook point.
 */
export const SWEEP_BASE: Readonly<Record<SweepSourceName, TrainConfigInput>> = {
  toy: {
    source: "toy",
    dIn: 16,
    dSae: 64,
    nComponents: 2,
    toyFeatures: 24,
    toyMeanActive: 3,
    toyChunkRows: 4096,
    batchSize: 256,
    storeSize: 4096,
    lr: 3e-3,
    seed: 7,
    capacitySample: 0,
    checkpointEvery: 0,
  },
  stories: {
    source: "model",
    model: "stories260k",
    hooks: ["blocks.2.hook_resid_post"],
    dataset: null,
    contextSize: 128,
    prependBos: true,
    documentEnd: "pack",
    windowsPerBatch: 16,
    validationWindows: 16,
    validateEvery: 0,
    dSae: 256,
    batchSize: 1024,
    storeSize: 32_768,
    lr: 2e-3,
    lrSchedule: "warmup",
    normalizeActivations: "expected-norm",
    bDecInit: "geometric-median",
    seed: 49,
    capacitySample: 0,
    checkpointEvery: 0,
  },
};

/** One run of a sweep. */
export type SweepSpec = {
  readonly source: SweepSourceName;
  readonly arch: ArchName;
  /** The field that sets the sparsity: `k` (TopK family) or `l1Coefficient`. */
  readonly setting: "k" | "l1Coefficient";
  readonly value: number;
  /** The run's whole configuration, ready for `parseConfig`. */
  readonly input: TrainConfigInput;
};

/** Options of {@linkcode sweepGrid}. */
export type SweepGridOptions = {
  /** Sources, in this order (default both). */
  readonly sources?: readonly SweepSourceName[];
  /** Architectures, in this order (default every one, `ARCH_NAMES`). */
  readonly archs?: readonly ArchName[];
  /** Steps of every run, instead of the source's default. */
  readonly steps?: number;
  /** A tiny grid for tests: few steps, smaller stories batches, two validation windows. */
  readonly quick?: boolean;
  /** The tfjs backend named in each configuration. */
  readonly backend?: BackendName;
};

/** What a sweep sets beside the sparsity level, by architecture: the original's ReLU resamples, JumpReLU uses Anthropic's tanh penalty. */
const SWEEP_ARCH_SETTINGS: Partial<Record<ArchName, TrainConfigInput>> = {
  relu: { maxResamples: 1 },
  jumprelu: { jumpreluPenalty: "tanh" },
};

/**
 * The per-architecture settings of a run of `steps` steps: resampling for
 * `relu` only (its original recipe; the others have their own answer to dead
 * features), AuxK's dead horizon at a sixth of the run, the learning-rate
 * warm-up and decay (model source: the first 10% and the last 20%), the
 * sparsity warm-up over the first 10% for the penalised architectures,
 * JumpReLU's tanh penalty (with the step penalty and Adam, the thresholds move
 * by at most about `lr` a step, so in a short run L0 hardly follows λ:
 * on stories260K λ from 0.016 to 0.2 all gave L0 ≈ 31), and a
 * metrics line every tenth of the run (the table reads the last one, so its
 * L0, explained variance and dead fraction are those of the last tenth).
 */
function runSettings(
  source: SweepSourceName,
  arch: ArchName,
  steps: number,
  batch: number,
): TrainConfigInput {
  const tenth = Math.max(1, Math.ceil(steps / 10));
  const half = Math.max(1, Math.floor(steps / 2));
  return {
    steps,
    logEvery: tenth,
    maxResamples: 0,
    resampleInterval: batch * half,
    resampleCollate: batch * Math.max(1, Math.floor(half / 2)),
    resampleDatasetSize: batch * Math.max(1, Math.min(20, Math.floor(half / 2))),
    deadActivations: batch * Math.max(1, Math.floor(steps / 6)),
    sparsityWarmupSteps: archOf(arch).sparsity === "k" ? 0 : tenth,
    ...SWEEP_ARCH_SETTINGS[arch],
    ...(source === "stories"
      ? { lrWarmupSteps: Math.floor(steps / 10), lrDecaySteps: Math.floor(steps / 5) }
      : {}),
  };
}

/**
 * Every run of a sweep: each source, each architecture, its three sparsity
 * levels (sparsest first). Pure.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sweepGrid } from "./architectures.ts";
 * const grid = sweepGrid({ sources: ["toy"], archs: ["topk", "relu"] });
 * assert.equal(grid.length, 6);
 * assert.equal(grid[0].setting, "k");
 * assert.equal(grid[0].input.k, 2);
 * assert.equal(grid[3].setting, "l1Coefficient");
 * assert.equal(grid[3].input.l1Coefficient, 0.05);
 * ```
 */
export function sweepGrid(options: SweepGridOptions = {}): SweepSpec[] {
  const sources = options.sources ?? SWEEP_SOURCES;
  const archs = options.archs ?? ARCH_NAMES;
  for (const source of sources) {
    if (!(SWEEP_SOURCES as readonly string[]).includes(source)) {
      throw new RangeError(
        `sources: expected ${SWEEP_SOURCES.join(" or ")}, received ${JSON.stringify(source)}`,
      );
    }
  }
  for (const arch of archs) {
    if (!(ARCH_NAMES as readonly string[]).includes(arch)) {
      throw new RangeError(
        `archs: expected some of ${ARCH_NAMES.join(", ")}, received ${JSON.stringify(arch)}`,
      );
    }
  }
  if (options.steps !== undefined && !(Number.isInteger(options.steps) && options.steps > 0)) {
    throw new RangeError(`steps: expected a positive integer, received ${options.steps}`);
  }
  const specs: SweepSpec[] = [];
  for (const source of sources) {
    const quick = options.quick === true;
    const steps = options.steps ?? (quick ? SWEEP_STEPS[source].quick : SWEEP_STEPS[source].full);
    const base: TrainConfigInput = {
      ...SWEEP_BASE[source],
      ...(quick && source === "stories" ? { batchSize: 256, storeSize: 2048, validationWindows: 2 } : {}),
      ...(options.backend ? { backend: options.backend } : {}),
    };
    const batch = base.batchSize!;
    for (const arch of archs) {
      const setting = archOf(arch).sparsity === "k" ? "k" : "l1Coefficient";
      for (const value of SWEEP_LEVELS[source][arch]) {
        specs.push({
          source,
          arch,
          setting,
          value,
          input: { ...base, ...runSettings(source, arch, steps, batch), arch, [setting]: value },
        });
      }
    }
  }
  return specs;
}

/** The outcome of one run, as a table row. */
export type SweepRow = {
  readonly source: SweepSourceName;
  readonly arch: ArchName;
  readonly setting: "k" | "l1Coefficient";
  readonly value: number;
  readonly steps: number;
  /** Activation vectors per step. */
  readonly batchSize: number;
  /** Active features per item (mean over components) over the last log window. */
  readonly l0: number;
  readonly explainedVariance: number;
  /** Fraction of features that did not fire in the last log window. */
  readonly deadFraction: number;
  /** Toy source: mean max cosine similarity to the ground truth. */
  readonly mmcs?: number;
  /** Model source: `validate/reconstruction_score/mean`. */
  readonly reconstructionScore?: number;
  /** Model source: `validate/kl_div/mean`. */
  readonly klDiv?: number;
  /** Wall-clock seconds of training and the final validation (not of preparing the source). */
  readonly seconds: number;
  /** Model source with a cache: whether this run generated the activations or read them. */
  readonly activations?: "generated" | "read";
};

function metric(record: LogRecord | undefined, key: string): number | undefined {
  const value = record?.[key];
  return typeof value === "number" ? value : undefined;
}

/**
 * A run's row from its last log record. Throws a `RangeError` when the record
 * lacks the training metrics. Pure.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sweepGrid, sweepRow } from "./architectures.ts";
 * const [spec] = sweepGrid({ sources: ["toy"], archs: ["topk"] });
 * const row = sweepRow(spec, {
 *   step: 800,
 *   "train/l0_norm/mean": 2,
 *   "train/explained_variance/mean": 0.8,
 *   "train/dead_fraction/mean": 0.25,
 *   "eval/mmcs/mean": 0.9,
 * }, 12.5);
 * assert.equal(row.l0, 2);
 * assert.equal(row.mmcs, 0.9);
 * assert.equal(row.klDiv, undefined);
 * assert.equal(row.seconds, 12.5);
 * ```
 */
export function sweepRow(
  spec: SweepSpec,
  last: LogRecord | undefined,
  seconds: number,
  activations?: "generated" | "read",
): SweepRow {
  const need = (key: string): number => {
    const value = metric(last, key);
    if (value === undefined) {
      throw new RangeError(
        `${spec.source} ${spec.arch} ${spec.setting}=${spec.value}: expected ${key} in the last log record, received ${
          last === undefined ? "no record" : "a record without it"
        }`,
      );
    }
    return value;
  };
  const optional = (key: string) => metric(last, key);
  const row: SweepRow = {
    source: spec.source,
    arch: spec.arch,
    setting: spec.setting,
    value: spec.value,
    steps: typeof last?.step === "number" ? last.step : 0,
    batchSize: parseConfig(spec.input).batchSize,
    l0: need("train/l0_norm/mean"),
    explainedVariance: need("train/explained_variance/mean"),
    deadFraction: need("train/dead_fraction/mean"),
    seconds,
  };
  const extra: Record<string, number | string> = {};
  const mmcs = optional("eval/mmcs/mean");
  const score = optional("validate/reconstruction_score/mean");
  const kl = optional("validate/kl_div/mean");
  if (mmcs !== undefined) extra.mmcs = mmcs;
  if (score !== undefined) extra.reconstructionScore = score;
  if (kl !== undefined) extra.klDiv = kl;
  if (activations !== undefined) extra.activations = activations;
  return { ...row, ...extra };
}

/** `k = 3`, `λ = 0.02`. */
function settingText(row: SweepRow): string {
  return row.setting === "k" ? `k = ${row.value}` : `λ = ${row.value}`;
}

/**
 * A markdown table of sweep rows, in their order: arch, sparsity setting, L0,
 * explained variance, dead fraction, then MMCS where a row has it (toy),
 * reconstruction score and KL where a row has them (model), and seconds.
 * L0 has 2 decimals, the fractions and scores 3, KL 4, seconds 1; a value a
 * row lacks is `n/a`. Pure.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatSweepTable } from "./architectures.ts";
 * const table = formatSweepTable([{
 *   source: "toy", arch: "topk", setting: "k", value: 3, steps: 800, batchSize: 256,
 *   l0: 3, explainedVariance: 0.91234, deadFraction: 0.0625, mmcs: 0.987, seconds: 4.26,
 * }]);
 * assert.equal(table.split("\n")[2], "| topk | k = 3 | 3.00 | 0.912 | 0.063 | 0.987 | 4.3 |");
 * ```
 */
export function formatSweepTable(rows: readonly SweepRow[]): string {
  const withMmcs = rows.some((r) => r.mmcs !== undefined);
  const withValidation = rows.some((r) => r.reconstructionScore !== undefined || r.klDiv !== undefined);
  const fixed = (value: number | undefined, digits: number) =>
    value === undefined ? "n/a" : value.toFixed(digits);
  const header = ["arch", "sparsity", "L0", "explained variance", "dead fraction"];
  const align = ["---", "---", "---:", "---:", "---:"];
  if (withMmcs) header.push("MMCS"), align.push("---:");
  if (withValidation) header.push("reconstruction score", "KL"), align.push("---:", "---:");
  header.push("seconds"), align.push("---:");
  const lines = [`| ${header.join(" | ")} |`, `| ${align.join(" | ")} |`];
  for (const row of rows) {
    const cells = [
      row.arch,
      settingText(row),
      fixed(row.l0, 2),
      fixed(row.explainedVariance, 3),
      fixed(row.deadFraction, 3),
    ];
    if (withMmcs) cells.push(fixed(row.mmcs, 3));
    if (withValidation) cells.push(fixed(row.reconstructionScore, 3), fixed(row.klDiv, 4));
    cells.push(fixed(row.seconds, 1));
    lines.push(`| ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}

/**
 * The section of BENCHMARKS.md that `deno task sweep` adds its runs to.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SWEEP_SECTION } from "./architectures.ts";
 * assert.equal(SWEEP_SECTION.heading, "Architecture sweep");
 * assert.match(SWEEP_SECTION.about, /^Written by `deno task sweep`/);
 * ```
 */
export const SWEEP_SECTION: BenchmarkSection = {
  heading: "Architecture sweep",
  about: "Written by `deno task sweep` (`--source`, `--archs`, `--steps` for part of the grid). Every\n" +
    "architecture at three sparsity levels, on the toy source and on stories260K.\n\n" +
    // One line in the file, as the section has always had it.
    "Sparsity: `k` for the TopK family (`topk`, `batchtopk`, `matryoshka`), else the coefficient λ of the " +
    "penalty (L1 for `relu` and `gated`, decoder-norm-weighted L1 for `relu-april`, the tanh penalty " +
    "`Σ tanh(4·f·‖wDec‖)` for `jumprelu`: with the L0 step penalty its thresholds barely followed λ in " +
    "runs this short). " +
    "L0, explained variance and dead fraction (features that did not fire) are the training metrics of " +
    "the last tenth of the run, means over components; BatchTopK and Matryoshka keep exactly k per item " +
    "on average while training. MMCS: mean max cosine similarity of the ground-truth features to the " +
    "learned decoder. Reconstruction score and KL: the SAE spliced into the model on held-out windows " +
    "(1 = clean loss, 0 = the hook zeroed). Seconds: training and validation of the run (2 shared cores, " +
    "noisy).",
};

/** The heading of the section that `deno task sweep` writes into BENCHMARKS.md (without `## `). */
export const SWEEP_HEADING: string = SWEEP_SECTION.heading;

/** What {@linkcode formatSweepSection} needs beside the rows. */
export type SweepSectionInfo = {
  readonly date: string;
  readonly machine: string;
  readonly command: string;
  readonly backend: string;
  /** Seconds spent generating language-model activations (once per hook point), if any. */
  readonly generationSeconds?: number;
  /** The code measured (a git commit), if known. */
  readonly revision?: string;
};

const SOURCE_TITLES: Record<SweepSourceName, string> = {
  toy: "toy source: 2 SAEs 16 → 64 on 24 ground-truth features (3 active on average)",
  stories: "stories260K: one SAE 64 → 256 on `blocks.2.hook_resid_post`, shipped stories in windows of 128",
};

/**
 * A sweep as one run of the {@linkcode SWEEP_SECTION}: the backend, the code,
 * the activation generation, and one table per source present in the rows
 * (toy first), under `####` headings that give the steps and batch size. Pure.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sweepBenchmarkRun } from "./architectures.ts";
 * const run = sweepBenchmarkRun([{
 *   source: "toy", arch: "relu", setting: "l1Coefficient", value: 0.02, steps: 600, batchSize: 256,
 *   l0: 4.5, explainedVariance: 0.8, deadFraction: 0, mmcs: 0.95, seconds: 0.5,
 * }], { date: "2026-12-02", machine: "a CPU", command: "deno task sweep --source toy", backend: "blas" });
 * assert.equal(run.command, "deno task sweep --source toy");
 * assert.match(run.body, /^- backend: blas\n\n#### toy source: .*, 600 steps of 256\n/);
 * assert.match(run.body, /\| relu \| λ = 0\.02 \| 4\.50 \| 0\.800 \| 0\.000 \| 0\.950 \| 0\.5 \|/);
 * ```
 */
export function sweepBenchmarkRun(rows: readonly SweepRow[], info: SweepSectionInfo): BenchmarkRun {
  const parts = [`- backend: ${info.backend}`];
  if (info.revision !== undefined) parts.push(`- code: ${info.revision}`);
  if (info.generationSeconds !== undefined) {
    parts.push(
      `- language-model activations generated once per hook point (${
        info.generationSeconds.toFixed(1)
      } s, safetensors activation cache) and read by every run`,
    );
  }
  for (const source of SWEEP_SOURCES) {
    const own = rows.filter((r) => r.source === source);
    if (own.length === 0) continue;
    const steps = [...new Set(own.map((r) => r.steps))].join(", ");
    const batches = [...new Set(own.map((r) => r.batchSize))].join(", ");
    parts.push("", `#### ${SOURCE_TITLES[source]}, ${steps} steps of ${batches}`, "", formatSweepTable(own));
  }
  return { date: info.date, machine: info.machine, command: info.command, body: parts.join("\n") };
}

/**
 * The BENCHMARKS.md section of a sweep with this run alone (what the command
 * prints): heading, about text, the run. The file gets the run through
 * `writeBenchmarkRun`, which keeps the section's earlier runs. Pure.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatSweepSection } from "./architectures.ts";
 * const section = formatSweepSection([], { date: "2026-12-02", machine: "a CPU", command: "deno task sweep", backend: "cpu" });
 * assert.ok(section.startsWith("## Architecture sweep\n\nWritten by `deno task sweep`"));
 * assert.ok(section.endsWith("### Run of 2026-12-02 — a CPU — `deno task sweep`\n\n- backend: cpu\n"));
 * ```
 */
export function formatSweepSection(rows: readonly SweepRow[], info: SweepSectionInfo): string {
  return formatBenchmarkSection(SWEEP_SECTION, sweepBenchmarkRun(rows, info));
}

/** A 32-bit FNV-1a hash of a string, as 8 hex digits. */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, "0");
}

/**
 * The name of the activation-cache folder of a model-source configuration:
 * equal for two configurations exactly when they read the same training
 * activations (model, tokenizer, hooks, dataset and its reading, windows,
 * held-out windows, and rows = steps · batchSize), so that runs which could
 * share a cache do, and others never overwrite each other's. Pure.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseConfig } from "../config.ts";
 * import { activationCacheName } from "./architectures.ts";
 * const a = parseConfig({ source: "model", arch: "topk", steps: 10, batchSize: 64, storeSize: 64 });
 * const b = parseConfig({ source: "model", arch: "relu", steps: 10, batchSize: 64, storeSize: 64 });
 * const c = parseConfig({ source: "model", arch: "relu", steps: 20, batchSize: 64, storeSize: 64 });
 * assert.equal(activationCacheName(a), activationCacheName(b));
 * assert.notEqual(activationCacheName(a), activationCacheName(c));
 * ```
 */
export function activationCacheName(config: TrainConfig): string {
  const key = JSON.stringify([
    config.model,
    config.tokenizer,
    config.hooks,
    config.transcoderFrom,
    config.transcoderTo,
    config.dataset,
    config.datasetField,
    config.datasetTokenized,
    config.contextSize,
    config.prependBos,
    config.documentEnd,
    config.validationWindows,
    resolveSizes(config).steps * config.batchSize,
  ]);
  return `activations-${fnv1a(key)}`;
}

/** Options of {@linkcode runSweep}. */
export type RunSweepOptions = {
  /**
   * Folder for the activation caches of model runs (one sub-folder per set of
   * activations, see {@linkcode activationCacheName}); kept afterwards, and
   * reused by a later sweep. By default a temporary folder, removed at the end.
   */
  readonly cache?: string;
  /** Called with each row as its run ends. */
  readonly onRow?: (row: SweepRow) => void;
  /** Lines of progress (which run starts, what the source is). */
  readonly log?: (line: string) => void;
};

/** What {@linkcode runSweep} returns. */
export type SweepResult = {
  readonly rows: SweepRow[];
  /** Seconds spent preparing model sources that generated their activations. */
  readonly generationSeconds: number;
};

/** Shard files of a cache folder with their inode and modification time, to tell a write from a read. */
async function shardStamps(dir: string): Promise<string> {
  const stamps: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.isFile || !entry.name.endsWith(".safetensors")) continue;
      const info = await Deno.stat(`${dir}/${entry.name}`);
      stamps.push(`${entry.name}:${info.ino ?? ""}:${info.mtime?.getTime() ?? ""}:${info.size}`);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return stamps.sort().join("\n");
}

/**
 * Trains the runs of a sweep one after another on the backend already
 * selected, and returns a row per run. Model runs without an
 * `activationCache` share one per set of activations (under
 * `options.cache`, or a temporary folder), so the model generates each hook
 * point's training activations once.
 */
export async function runSweep(
  specs: readonly SweepSpec[],
  options: RunSweepOptions = {},
): Promise<SweepResult> {
  const log = options.log ?? (() => {});
  const needsCache = specs.some((spec) => spec.input.source === "model" && !spec.input.activationCache);
  const temporary = options.cache === undefined && needsCache;
  const cacheRoot = options.cache ?? (needsCache ? await Deno.makeTempDir({ prefix: "saekit-sweep-" }) : "");
  const rows: SweepRow[] = [];
  let generationSeconds = 0;
  try {
    for (const [i, spec] of specs.entries()) {
      let config = parseConfig(spec.input);
      let input = spec.input;
      if (config.source === "model" && config.activationCache === null) {
        input = { ...input, activationCache: `${cacheRoot}/${activationCacheName(config)}` };
        config = parseConfig(input);
      }
      log(`sweep ${i + 1}/${specs.length}: ${spec.source} ${spec.arch} ${spec.setting} = ${spec.value}`);
      const cacheDir = config.activationCache;
      const before = cacheDir === null ? "" : await shardStamps(cacheDir);
      const preparing = performance.now();
      const prepared = await prepareSource(config, input);
      let activations: "generated" | "read" | undefined;
      if (cacheDir !== null) {
        activations = (await shardStamps(cacheDir)) === before ? "read" : "generated";
        if (activations === "generated") generationSeconds += (performance.now() - preparing) / 1000;
        log(`  ${activations} activations in ${cacheDir}`);
      }
      try {
        const result = await train({
          config: prepared.config,
          source: prepared.source,
          evaluate: prepared.evaluate,
          validate: prepared.validate,
        });
        disposeAll(result.state);
        const row = sweepRow(spec, result.lastLog, result.seconds, activations);
        rows.push(row);
        options.onRow?.(row);
      } finally {
        prepared.dispose();
      }
    }
  } finally {
    if (temporary) await Deno.remove(cacheRoot, { recursive: true }).catch(() => {});
  }
  return { rows, generationSeconds };
}

/** Every flag of the built-in sweep: the `options` of `parseArgs` and the lines of `--help`. */
const SWEEP_FLAGS = {
  source: {
    type: "string",
    default: "both",
    value: "NAME",
    choices: ["toy", "stories", "both"],
    description: "Sources to sweep: the toy source, stories260K, or both",
  },
  archs: {
    type: "string",
    value: "A,B",
    defaultText: "every architecture",
    description: `Architectures to sweep, of ${ARCH_NAMES.join(", ")}`,
  },
  steps: {
    type: "string",
    value: "N",
    defaultText: `${SWEEP_STEPS.toy.full} on toy, ${SWEEP_STEPS.stories.full} on stories; ` +
      `${SWEEP_STEPS.toy.quick} and ${SWEEP_STEPS.stories.quick} with --quick`,
    description: "Training steps of every run",
  },
  "benchmarks-file": {
    type: "string",
    value: "FILE",
    defaultText: "BENCHMARKS.md",
    description: "File to add the run to; none: write no file",
  },
  out: { type: "string", value: "FILE", description: "The same as --benchmarks-file" },
  cache: {
    type: "string",
    value: "DIR",
    defaultText: "a temporary folder",
    description: "Folder of the language-model activations, generated once and read by every run",
  },
  json: { type: "boolean", default: false, description: "Print each run's row as a JSON line on stdout" },
  quick: { type: "boolean", default: false, description: "A tiny grid with few steps, for tests" },
  backend: {
    type: "string",
    default: "auto",
    value: "NAME",
    choices: BACKEND_NAMES,
    description: "tfjs backend",
  },
  help: { type: "boolean", short: "h", default: false, description: "Print this help and exit" },
} as const satisfies FlagTable;

/**
 * The help of the built-in architecture sweep (`deno task sweep` without
 * `--sweep`), with the flags it parses.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatHelp } from "../cli/help.ts";
 * import { SWEEP_HELP } from "./architectures.ts";
 * assert.match(formatHelp(SWEEP_HELP), /--out FILE +The same as --benchmarks-file\n/);
 * ```
 */
export const SWEEP_HELP: CommandHelp = {
  usage: [
    "deno task sweep [--source toy|stories|both] [--archs relu,topk,...] [--steps N]",
    "                [--benchmarks-file BENCHMARKS.md] [--cache DIR] [--json] [--quick] [--backend NAME]",
  ],
  about: [
    "Trains every architecture at three sparsity levels on the toy source and on stories260K, and adds the " +
    `run (date, machine, command, one table per source) to the "## ${SWEEP_HEADING}" section of the ` +
    "benchmarks file, newest first, keeping the section's earlier runs and the rest of the file.",
  ],
  groups: [{ title: "Options", flags: SWEEP_FLAGS }],
};

/** Output channels of {@linkcode runSweepCommand}, for tests. */
export type SweepCommandIO = {
  /** Progress and messages (default: stderr). */
  readonly write?: (text: string) => void;
  /** Rows as JSON lines and the section (default: stdout). */
  readonly print?: (line: string) => void;
  /** The run's date (default: today, UTC). */
  readonly date?: string;
  /** The machine (default: this one's CPU, cores and memory). */
  readonly machine?: string;
  /** The code measured (default: git's HEAD where git runs; null: none). */
  readonly revision?: string | null;
};

/** Runs `deno task sweep` with the given arguments; returns the exit code. */
export async function runSweepCommand(args: readonly string[], io: SweepCommandIO = {}): Promise<number> {
  const write = io.write ?? ((text: string) => Deno.stderr.writeSync(new TextEncoder().encode(text)));
  const print = io.print ?? ((line: string) => console.log(line));
  const { values } = parseArgs({
    args: [...args],
    strict: true,
    allowPositionals: false,
    options: SWEEP_FLAGS,
  });
  if (values.help) {
    write(formatHelp(SWEEP_HELP));
    return 0;
  }
  if (
    values["benchmarks-file"] !== undefined && values.out !== undefined &&
    values["benchmarks-file"] !== values.out
  ) {
    throw new TypeError(
      `--benchmarks-file and --out: expected one file, received ${
        JSON.stringify(values["benchmarks-file"])
      } ` +
        `and ${JSON.stringify(values.out)}`,
    );
  }
  const file = values["benchmarks-file"] ?? values.out ?? "BENCHMARKS.md";
  if (!["toy", "stories", "both"].includes(values.source)) {
    throw new RangeError(
      `--source: expected toy, stories or both, received ${JSON.stringify(values.source)}`,
    );
  }
  const sources: SweepSourceName[] = values.source === "both"
    ? [...SWEEP_SOURCES]
    : [values.source as SweepSourceName];
  const archs = values.archs?.split(",").map((a) => a.trim()).filter(Boolean) as ArchName[] | undefined;
  let steps: number | undefined;
  if (values.steps !== undefined) {
    steps = Number(values.steps);
    if (!Number.isInteger(steps) || steps < 1) {
      throw new RangeError(`--steps: expected a positive integer, received ${JSON.stringify(values.steps)}`);
    }
  }
  const specs = sweepGrid({ sources, archs, steps, quick: values.quick });
  const backend = await selectBackend(values.backend as BackendName);
  write(`saekit sweep: ${specs.length} runs on backend ${backend.name}\n`);
  const { rows, generationSeconds } = await runSweep(specs, {
    cache: values.cache,
    log: (line) => write(line + "\n"),
    onRow: (row) => {
      if (values.json) print(JSON.stringify(row));
      write(
        `  L0 ${row.l0.toFixed(2)} · explained variance ${row.explainedVariance.toFixed(3)} · ${
          row.seconds.toFixed(1)
        } s\n`,
      );
    },
  });
  const revision = io.revision === undefined ? await gitRevision() : io.revision ?? undefined;
  const run = sweepBenchmarkRun(rows, {
    date: io.date ?? new Date().toISOString().slice(0, 10),
    machine: io.machine ?? await describeMachine(),
    command: `deno task sweep ${args.join(" ")}`.trim(),
    backend: backend.name,
    generationSeconds: rows.some((r) => r.activations !== undefined) ? generationSeconds : undefined,
    revision,
  });
  if (!values.json) print(formatBenchmarkSection(SWEEP_SECTION, run));
  if (file !== "none") {
    await writeBenchmarkRun(file, SWEEP_SECTION, run);
    write(`added the run to "## ${SWEEP_HEADING}" in ${file}\n`);
  }
  return 0;
}

/** Entry point of `tasks/sweep.ts`: prints errors without a stack trace. */
export async function sweepMain(args: readonly string[]): Promise<void> {
  try {
    Deno.exitCode = await runSweepCommand(args);
  } catch (error) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    Deno.stderr.writeSync(new TextEncoder().encode(`saekit sweep: ${message}\n`));
    Deno.exitCode = 2;
  }
}
