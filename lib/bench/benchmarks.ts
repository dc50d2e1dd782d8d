/**
 * `deno task bench`: benchmarks whose runs go into BENCHMARKS.md.
 *
 * - the training step of an architecture (`--arch`), or of every one
 *   (`--all-archs`), saekit against the project's PyTorch baseline of the same
 *   architecture, each round in fresh processes, interleaved
 *   ({@linkcode measureStep} in each saekit process); `--l0 N` starts the
 *   architectures with a sparsity coefficient at an average L0 of about N
 *   (`./l0.ts`);
 * - `--activations`: activation generation on stories260K
 *   ({@linkcode measureActivationGeneration});
 * - `--features RUN_DIR`: the statistics pass of `deno task features RUN_DIR
 *   --static DIR` ({@linkcode measureFeatureStatistics}).
 *
 * {@linkcode runBenchCommand} is the command line; the processes it starts
 * come from the task (`tasks/bench.ts`), which spawns itself with `--json`
 * and the PyTorch script. The tables are pure ({@linkcode formatBenchTable},
 * {@linkcode formatArchTable}, {@linkcode formatActivationTable},
 * {@linkcode formatFeaturesTable}), and
 * every run is added to its section with `writeBenchmarkRun`
 * (./file.ts), which keeps the section's earlier runs.
 *
 * @module
 */
import { tf, tidy } from "../tf.ts";
import { BACKEND_NAMES, type BackendName } from "../backends/names.ts";
import { selectBackend } from "../backends/select.ts";
import { parseConfig, type TrainConfig } from "../config.ts";
import { firingItems, l0StartBias } from "./l0.ts";
import { ARCH_NAMES, ARCH_RECORDS, type ArchName, archOf, findArch } from "../sae/arch/registry.ts";
import { defaultPipeline } from "../train/pipeline.ts";
import { disposeAll, disposeReplaced } from "../run/dispose.ts";
import { parseArgs } from "node:util";
import { type CommandHelp, type FlagTable, formatHelp } from "../cli/help.ts";
import {
  type BenchmarkRun,
  type BenchmarkSection,
  formatBenchmarkSection,
  writeBenchmarkRun,
} from "./file.ts";

/** The size of a benchmarked step. */
export type BenchSize = {
  readonly batch: number;
  readonly dIn: number;
  readonly dSae: number;
};

/** One measurement. */
export type BenchResult = BenchSize & {
  readonly impl: string;
  readonly arch: string;
  readonly backend: string;
  readonly median_ms: number;
  readonly min_ms: number;
  readonly max_ms: number;
  readonly activations_per_s: number;
  readonly peak_rss_mb: number;
  readonly steps: number;
  /** Average L0 of the first step's forward pass (the starting state's, on the bench's batch). */
  readonly start_l0: number;
};

/**
 * Reads a file under /proc: Deno asks for --allow-all to read /proc directly,
 * so this falls back to `cat` (with --allow-run).
 */
export async function readProc(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    try {
      const { code, stdout } = await new Deno.Command("cat", {
        args: [path],
        stdout: "piped",
        stderr: "null",
      })
        .output();
      return code === 0 ? new TextDecoder().decode(stdout) : undefined;
    } catch {
      return undefined;
    }
  }
}

/**
 * Peak resident memory of this process in MB (Linux's VmHWM), or `fallback`
 * (e.g. the largest RSS sampled) where /proc cannot be read.
 */
export async function peakRssMb(fallback = Deno.memoryUsage().rss): Promise<number> {
  const status = await readProc(`/proc/${Deno.pid}/status`);
  const match = status === undefined ? null : /VmHWM:\s+(\d+)\s+kB/.exec(status);
  return match ? Math.round(Number(match[1]) / 1024) : Math.round(fallback / 2 ** 20);
}

/** The CPU's model name, from /proc/cpuinfo. */
export async function cpuModel(): Promise<string> {
  const info = await readProc("/proc/cpuinfo");
  return (info && /model name\s*:\s*(.*)/.exec(info)?.[1]) ?? "unknown CPU";
}

/**
 * This machine as BENCHMARKS.md names it: `<CPU>, <cores> cores, <memory> GiB`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeMachine } from "./benchmarks.ts";
 * assert.match(await describeMachine(), /, \d+ cores, \d+ GiB$/);
 * ```
 */
export async function describeMachine(): Promise<string> {
  return `${await cpuModel()}, ${navigator.hardwareConcurrency} cores, ${
    Math.round(Deno.systemMemoryInfo().total / 2 ** 30)
  } GiB`;
}

/**
 * The code being measured, from git: ``commit `abc1234` `` (with ", with
 * uncommitted changes" when tracked files differ from it), or `undefined`
 * where git cannot run (no repository, no `--allow-run`).
 *
 * @example
 * ```ts ignore
 * const code = await gitRevision(); // "commit `d83dd3c`, with uncommitted changes"
 * ```
 */
export async function gitRevision(cwd = "."): Promise<string | undefined> {
  const git = async (args: string[]) => {
    const { code, stdout } = await new Deno.Command("git", { args, cwd, stdout: "piped", stderr: "null" })
      .output();
    return code === 0 ? new TextDecoder().decode(stdout).trim() : undefined;
  };
  try {
    const commit = await git(["rev-parse", "--short", "HEAD"]);
    if (commit === undefined || commit === "") return undefined;
    const changes = await git(["status", "--porcelain", "--untracked-files=no"]);
    return `commit \`${commit}\`${changes ? ", with uncommitted changes" : ""}`;
  } catch {
    return undefined;
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * The training configuration of the benchmarked step: the default pipeline at this size and
 * architecture, one component, no resampling, no capacity, no AuxK (the PyTorch baseline has none),
 * and every other field at its default (Adam with lr 1e-3 and betas 0.9/0.99, λ 1e-3, the
 * architecture's initialisation).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stepConfig } from "./benchmarks.ts";
 * const config = stepConfig({ batch: 64, dIn: 8, dSae: 32, steps: 2, warmup: 1, architecture: "gated" });
 * assert.equal(config.arch, "gated");
 * assert.equal(config.steps, 3);
 * assert.equal(config.auxkCoefficient, 0);
 * ```
 */
export function stepConfig(
  size: BenchSize & {
    readonly steps: number;
    readonly warmup: number;
    readonly architecture?: ArchName;
    readonly k?: number;
  },
): TrainConfig {
  return parseConfig({
    dIn: size.dIn,
    dSae: size.dSae,
    batchSize: size.batch,
    storeSize: size.batch,
    steps: size.steps + size.warmup,
    maxResamples: 0,
    capacitySample: 0,
    resampleDatasetSize: Math.min(819_200, size.batch),
    arch: size.architecture ?? "relu",
    k: size.k ?? 32,
    // The reference step: PyTorch's baseline has no AuxK, and the library's dense-TopK equivalent is too.
    auxkCoefficient: 0,
  });
}

/**
 * The architectures `--l0` applies to: those whose sparsity a coefficient sets (the TopK family's L0
 * is its `k`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { L0_ARCHS } from "./benchmarks.ts";
 * assert.deepEqual(L0_ARCHS, ["relu", "relu-april", "jumprelu", "gated"]);
 * ```
 */
export const L0_ARCHS: readonly ArchName[] = ARCH_RECORDS.filter((r) => r.sparsity === "coefficient").map((
  r,
) => r.name);

function checkL0Arch(arch: ArchName): void {
  if (archOf(arch).sparsity !== "coefficient") {
    throw new RangeError(
      `--l0: expected an architecture whose sparsity a coefficient sets (${L0_ARCHS.join(", ")}), received ${
        JSON.stringify(arch)
      }, whose L0 is --k`,
    );
  }
}

/**
 * Times the default pipeline's step of an architecture (loss, hand-derived gradients, Adam, the
 * record's decoder constraint and update, metrics; no resampling, no capacity, no AuxK: see
 * {@linkcode stepConfig}) on one random batch, `steps` times after `warmup` untimed steps. Each step
 * ends by reading a parameter back, as PyTorch's `loss.item()` waits for its step.
 *
 * With `l0`, the encoder bias starts where the batch's average L0 is about `l0` (`l0StartBias` of
 * `./l0.ts`; firing point θ where the SAE has a threshold, else 0); only for the architectures of
 * {@linkcode L0_ARCHS}. `start_l0` is the average L0 of the first step's forward pass, measured, with or
 * without `l0`.
 */
export async function measureStep(
  size: BenchSize & {
    readonly steps: number;
    readonly warmup: number;
    readonly backend: BackendName;
    readonly architecture?: ArchName;
    readonly k?: number;
    readonly l0?: number;
  },
): Promise<BenchResult> {
  const arch = size.architecture ?? "relu";
  if (size.l0 !== undefined) checkL0Arch(arch);
  const choice = await selectBackend(size.backend);
  const config = stepConfig(size);
  const { init, step } = defaultPipeline(config);
  let state = init(config);
  const x = tf.randomNormal([1, size.batch, size.dIn], 0, 1, "float32", 0) as tf.Tensor3D;
  if (size.l0 !== undefined) {
    const firing = state.params.threshold === undefined ? "zero" : "threshold";
    const bEnc = l0StartBias(state.params, x, size.l0, firing);
    state.params.bEnc.dispose();
    state = { ...state, params: { ...state.params, bEnc } };
  }
  const times: number[] = [];
  let startL0 = NaN;
  let maxRss = Deno.memoryUsage().rss;
  for (let i = 0; i < size.warmup + size.steps; i++) {
    const start = performance.now();
    const prev = state;
    const next = tidy(() => step(prev, { x }));
    disposeReplaced(prev, next);
    state = next;
    state.params.bDec.dataSync(); // the step is done once its parameters can be read
    if (i >= size.warmup) times.push(performance.now() - start);
    if (i === 0) startL0 = state.metrics.l0Sum.dataSync()[0] / state.metrics.n;
    maxRss = Math.max(maxRss, Deno.memoryUsage().rss);
  }
  disposeAll(state);
  x.dispose();
  const med = Number(median(times).toFixed(1));
  return {
    impl: "saekit",
    arch,
    backend: choice.name,
    batch: size.batch,
    dIn: size.dIn,
    dSae: size.dSae,
    steps: size.steps,
    median_ms: med,
    min_ms: Number(Math.min(...times).toFixed(1)),
    max_ms: Number(Math.max(...times).toFixed(1)),
    activations_per_s: Math.round(size.batch / (med / 1000)),
    peak_rss_mb: await peakRssMb(maxRss),
    start_l0: Number(startL0.toFixed(2)),
  };
}

/** A Python that can import torch, or `undefined`. */
export async function findTorchPython(): Promise<string | undefined> {
  for (const python of ["/usr/bin/python3", "python3", "python"]) {
    try {
      const { code } = await new Deno.Command(python, {
        args: ["-c", "import torch"],
        stdout: "null",
        stderr: "null",
      }).output();
      if (code === 0) return python;
    } catch {
      // not installed
    }
  }
  return undefined;
}

/** Runs a command and parses the last line of its output as JSON. */
export async function runJson(command: string, args: readonly string[]): Promise<Record<string, unknown>> {
  const { code, stdout, stderr } = await new Deno.Command(command, {
    args: [...args],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const text = new TextDecoder().decode(stdout).trim();
  if (code !== 0) {
    throw new Error(
      `${command} ${args.join(" ")} exited with ${code}: ${new TextDecoder().decode(stderr).slice(-500)}`,
    );
  }
  const last = text.split("\n").pop() ?? "";
  try {
    return JSON.parse(last);
  } catch {
    throw new SyntaxError(
      `${command}: expected a JSON object on the last line, received ${JSON.stringify(last)}`,
    );
  }
}

/** A row of the comparison table: all rounds of one implementation and backend. */
export type BenchRow = {
  readonly label: string;
  readonly medians: readonly number[];
  readonly peakRss: number;
  readonly batch: number;
  /** Each round's average L0 of its first step (absent or empty: not reported). */
  readonly startL0s?: readonly number[];
};

/** The median of the values with one decimal, or `n/a` when there are none. */
function formatL0(values: readonly number[] | undefined): string {
  const known = (values ?? []).filter((v) => Number.isFinite(v));
  return known.length === 0 ? "n/a" : median(known).toFixed(1);
}

/**
 * The step table of one architecture: per implementation the median of the round medians, their
 * spread, activations per second, peak RSS, the speed ratio to the baseline (the baseline's median
 * over the row's) and the starting L0 (median over rounds, one decimal). Pure.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatBenchTable } from "./benchmarks.ts";
 * // saekit: median of 300, 100, 200 is 200 → 64 / 0.2 s = 320 activations/s; PyTorch 500: 500 / 200 = 2.50×
 * const table = formatBenchTable([
 *   { label: "saekit (blas)", medians: [300, 100, 200], peakRss: 90, batch: 64, startL0s: [4, 4, 4] },
 *   { label: "PyTorch", medians: [500], peakRss: 700, batch: 64 },
 * ], "PyTorch");
 * assert.equal(table.split("\n")[2], "| saekit (blas) | 200 | 100–300 | 320 | 90 | 2.50× | 4.0 |");
 * assert.equal(table.split("\n")[3], "| PyTorch | 500 | 500–500 | 128 | 700 | 1.00× | n/a |");
 * ```
 */
export function formatBenchTable(rows: readonly BenchRow[], baseline?: string): string {
  const base = rows.find((r) => r.label === baseline);
  const baseMedian = base ? median(base.medians) : undefined;
  const lines = [
    "| implementation | median step (ms) | spread over rounds (ms) | activations/s | peak RSS (MB) | speed vs PyTorch | starting L0 |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const row of rows) {
    const med = median(row.medians);
    const ratio = baseMedian === undefined ? "n/a" : `${(baseMedian / med).toFixed(2)}×`;
    lines.push(
      `| ${row.label} | ${med.toFixed(0)} | ${Math.min(...row.medians).toFixed(0)}–${
        Math.max(...row.medians).toFixed(0)
      } | ${Math.round(row.batch / (med / 1000))} | ${row.peakRss} | ${ratio} | ${formatL0(row.startL0s)} |`,
    );
  }
  return lines.join("\n");
}

/** Every round of one implementation in a step benchmark. */
export type Measured = {
  /** Each round's median step, ms. */
  readonly medians: number[];
  /** The largest peak RSS of the rounds, MB. */
  peakRss: number;
  /** Each round's average L0 of its first step. */
  readonly startL0s: number[];
  /** saekit's backend as the process reported it (absent for PyTorch). */
  readonly backend?: string;
};

/** A row of the every-architecture table: one architecture on one saekit backend, and PyTorch's. */
export type ArchRow = {
  readonly arch: string;
  readonly backend: string;
  readonly saekit: Pick<Measured, "medians" | "peakRss" | "startL0s">;
  /** PyTorch's rounds of the same architecture (absent: not run). */
  readonly pytorch?: Pick<Measured, "medians" | "peakRss" | "startL0s">;
};

function stepCell(medians: readonly number[]): string {
  const med = median(medians);
  return `${med.toFixed(0)} (${Math.min(...medians).toFixed(0)}–${Math.max(...medians).toFixed(0)})`;
}

/**
 * The every-architecture table of `deno task bench --all-archs`: per architecture and saekit backend,
 * saekit's and PyTorch's median step over the round medians (with their range), PyTorch's median over
 * saekit's (above 1: saekit is faster), both peak RSS and both starting L0. Pure.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatArchTable } from "./benchmarks.ts";
 * // saekit 150 (100–200) ms against PyTorch 600: 600 / 150 = 4.00×
 * const table = formatArchTable([{
 *   arch: "relu", backend: "blas",
 *   saekit: { medians: [200, 100], peakRss: 300, startL0s: [32, 32] },
 *   pytorch: { medians: [600], peakRss: 700, startL0s: [31.96] },
 * }]);
 * assert.equal(table.split("\n")[2], "| relu | blas | 150 (100–200) | 600 (600–600) | 4.00× | 300 | 700 | 32.0 | 32.0 |");
 * ```
 */
export function formatArchTable(rows: readonly ArchRow[]): string {
  const lines = [
    "| arch | saekit backend | saekit step (ms) | PyTorch step (ms) | PyTorch / saekit | saekit peak RSS (MB) | " +
    "PyTorch peak RSS (MB) | starting L0 saekit | starting L0 PyTorch |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const { arch, backend, saekit, pytorch } of rows) {
    const ratio = pytorch === undefined
      ? "n/a"
      : `${(median(pytorch.medians) / median(saekit.medians)).toFixed(2)}×`;
    lines.push(
      `| ${arch} | ${backend} | ${stepCell(saekit.medians)} | ${
        pytorch === undefined ? "n/a" : stepCell(pytorch.medians)
      } | ${ratio} | ${saekit.peakRss} | ${pytorch?.peakRss ?? "n/a"} | ${formatL0(saekit.startL0s)} | ${
        formatL0(pytorch?.startL0s)
      } |`,
    );
  }
  return lines.join("\n");
}

/** Options of {@linkcode measureActivationGeneration}. */
export type ActivationBenchOptions = {
  readonly backend: BackendName;
  readonly contextSize: number;
  readonly windowsPerBatch: number;
  /** Forward passes timed (after one untimed). */
  readonly batches: number;
};

/**
 * Tokens per second of activation generation on stories260K: the shipped
 * stories in windows through the model, activations read at all five
 * residual streams into host memory.
 */
export async function measureActivationGeneration(
  options: ActivationBenchOptions,
): Promise<Record<string, number | string>> {
  const choice = await selectBackend(options.backend);
  const { loadModel, BUILTIN_CORPUS_URL } = await import("../models/load/model.ts");
  const { openTextSource } = await import("../data/text/open.ts");
  const { textWindows } = await import("../data/text/windows.ts");
  const { modelActivationSource } = await import("../data/model_source.ts");
  const { model, tokenizer } = await loadModel("stories260k");
  const windows = textWindows(openTextSource(BUILTIN_CORPUS_URL), tokenizer, {
    contextSize: options.contextSize,
  });
  const hooks = Array.from({ length: model.nLayers }, (_, l) => `blocks.${l}.hook_resid_post`);
  const source = modelActivationSource({ model, hooks, windows, windowsPerBatch: options.windowsPerBatch });
  let rows = 0, batches = 0, start = 0;
  for await (const chunk of source.chunks(0)) {
    if (batches === 0) start = performance.now();
    else rows += chunk.rows;
    if (++batches > options.batches) break;
  }
  const seconds = (performance.now() - start) / 1000;
  return {
    backend: choice.name,
    context_size: options.contextSize,
    windows_per_batch: options.windowsPerBatch,
    hooks: hooks.length,
    tokens_per_s: Math.round(rows / seconds),
    peak_rss_mb: await peakRssMb(),
  };
}

/** A row of the activation-generation table: every round of one backend. */
export type ActivationRow = {
  readonly backend: string;
  /** Tokens per second of each round, in round order. */
  readonly rates: readonly number[];
  /** The largest peak RSS of the rounds, in MB. */
  readonly peakRss: number;
};

/**
 * The activation-generation table: per backend, the tokens per second of
 * each round in round order, their median (rounded) and the peak RSS. Pure.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatActivationTable } from "./benchmarks.ts";
 * // median of 7000, 6000, 6500 is 6500; of 100 and 201, (100 + 201) / 2 = 150.5 → 151
 * const table = formatActivationTable([
 *   { backend: "blas", rates: [7000, 6000, 6500], peakRss: 400 },
 *   { backend: "wasm", rates: [100, 201], peakRss: 300 },
 * ]);
 * assert.deepEqual(table.split("\n").slice(2), [
 *   "| blas | 7000, 6000, 6500 | 6500 | 400 |",
 *   "| wasm | 100, 201 | 151 | 300 |",
 * ]);
 * ```
 */
export function formatActivationTable(rows: readonly ActivationRow[]): string {
  const lines = [
    "| backend | tokens/s (per round) | median tokens/s | peak RSS (MB) |",
    "| --- | --- | ---: | ---: |",
  ];
  for (const row of rows) {
    lines.push(
      `| ${row.backend} | ${row.rates.join(", ")} | ${Math.round(median(row.rates))} | ${row.peakRss} |`,
    );
  }
  return lines.join("\n");
}

/** One round of the features benchmark. */
export type FeaturesRound = {
  /** Seconds of the statistics pass, as the command prints it (loading excluded). */
  readonly statisticsSeconds: number;
  /** Seconds of the round's whole process, from its start to its exit. */
  readonly wholeSeconds: number;
  /** Token positions the statistics read. */
  readonly positions: number;
  /** The process's peak RSS in MB. */
  readonly peakRss: number;
};

/**
 * The features table: one row per round with the statistics seconds, the
 * whole command's seconds (1 decimal each), tokens per second of the
 * statistics (`positions / statisticsSeconds`, rounded) and the peak RSS. Pure.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatFeaturesTable } from "./benchmarks.ts";
 * // 1000 tokens in 0.8 s: 1250 tokens/s; 2.04 s → 2.0
 * const table = formatFeaturesTable([{ statisticsSeconds: 0.8, wholeSeconds: 2.04, positions: 1000, peakRss: 321 }]);
 * assert.equal(table.split("\n")[2], "| 1 | 0.8 | 2.0 | 1250 | 321 |");
 * ```
 */
export function formatFeaturesTable(rounds: readonly FeaturesRound[]): string {
  const lines = [
    "| round | statistics (s) | whole command (s) | tokens/s (statistics) | peak RSS (MB) |",
    "| ---: | ---: | ---: | ---: | ---: |",
  ];
  rounds.forEach((r, i) => {
    lines.push(
      `| ${i + 1} | ${r.statisticsSeconds.toFixed(1)} | ${r.wholeSeconds.toFixed(1)} | ${
        Math.round(r.positions / r.statisticsSeconds)
      } | ${r.peakRss} |`,
    );
  });
  return lines.join("\n");
}

/** Options of {@linkcode measureFeatureStatistics}. */
export type FeatureBenchOptions = {
  /** The run folder, as `deno task features DIR` takes it. */
  readonly dir: string;
  readonly backend: BackendName;
  /** `--tokens` of the features command (default: the command's). */
  readonly tokens?: number;
  /** The command's progress lines (default: none). */
  readonly log?: (text: string) => void;
};

/**
 * Runs `deno task features DIR --static OUT` in this process (the same
 * command function, `runFeaturesCommand`, into a temporary OUT removed
 * afterwards) and returns what the features benchmark records: the backend,
 * the model, components × features, positions and windows read (and how many
 * of them training did not read), the files written, the statistics seconds,
 * tokens per second and the process's peak RSS (MB).
 *
 * @example
 * ```ts ignore
 * const r = await measureFeatureStatistics({ dir: "runs/2026-11-27T07-42-52", backend: "blas" });
 * console.log(r.statistics_s, r.tokens_per_s, r.peak_rss_mb);
 * ```
 */
export async function measureFeatureStatistics(
  options: FeatureBenchOptions,
): Promise<Record<string, number | string>> {
  const { runFeaturesCommand } = await import("../features/cli.ts");
  const out = await Deno.makeTempDir({ prefix: "saekit-bench-features-" });
  let measured: Record<string, number | string> | undefined;
  let files = 0;
  try {
    const args = [options.dir, "--static", out, "--backend", options.backend];
    if (options.tokens !== undefined) args.push("--tokens", `${options.tokens}`);
    const code = await runFeaturesCommand(args, {
      write: options.log ?? (() => {}),
      onPrepared: (prepared, backend) => {
        const seconds = Number(prepared.seconds.toFixed(3));
        measured = {
          backend,
          model: prepared.model,
          components: prepared.browser.componentFolders.length,
          d_sae: prepared.browser.dSae,
          positions: prepared.positions,
          windows: prepared.windows,
          unseen_windows: prepared.unseenWindows,
          statistics_s: seconds,
          tokens_per_s: Math.round(prepared.positions / seconds),
        };
      },
      onStaticWritten: (n) => void (files = n),
    });
    if (code !== 0 || measured === undefined) {
      throw new Error(`deno task features ${args.join(" ")}: exited with ${code} before its statistics`);
    }
  } finally {
    await Deno.remove(out, { recursive: true }).catch(() => {});
  }
  return { ...measured, files, peak_rss_mb: await peakRssMb() };
}

/** A measurement run in a fresh process: its JSON line, and the seconds from its start to its exit. */
export type ProcessMeasurement = {
  readonly output: Record<string, unknown>;
  readonly seconds: number;
};

/** The processes `deno task bench` starts; `tasks/bench.ts` provides them. */
export type BenchProcesses = {
  /**
   * Runs `deno task bench ARGS` (ARGS end in `--json`: one measurement in
   * that process) with these Deno permission flags.
   */
  readonly bench: (args: readonly string[], permissions: readonly string[]) => Promise<ProcessMeasurement>;
  /**
   * Looks for the PyTorch baseline of the step: a function that runs it with
   * the step's flags, or `undefined` where no Python can import torch.
   */
  readonly torch: () => Promise<((args: readonly string[]) => Promise<ProcessMeasurement>) | undefined>;
};

/** Channels and facts of {@linkcode runBenchCommand}; tests set them. */
export type BenchCommandIO = {
  readonly processes: BenchProcesses;
  /** Progress and messages (default: stderr). */
  readonly write?: (text: string) => void;
  /** The JSON line of `--json`, the section of the run (default: stdout). */
  readonly print?: (text: string) => void;
  /** The run's date (default: today, UTC). */
  readonly date?: string;
  /** The machine (default: {@linkcode describeMachine}). */
  readonly machine?: string;
  /** The code measured (default: {@linkcode gitRevision}; null: none). */
  readonly revision?: string | null;
};

/** Every flag `deno task bench` parses: the `options` of `parseArgs` and the lines of `--help`. */
const BENCH_FLAGS = {
  rounds: { type: "string", default: "3", value: "R", description: "Rounds, each in fresh processes" },
  backends: {
    type: "string",
    default: "blas",
    value: "A,B",
    description:
      "saekit backends measured by the step and --activations benchmarks, one process each per round",
  },
  arch: {
    type: "string",
    default: "relu",
    value: "NAME",
    choices: ARCH_NAMES,
    description: "Step benchmark: the architecture, saekit's step against the PyTorch baseline's",
  },
  "all-archs": {
    type: "boolean",
    default: false,
    description: "Step benchmark of every architecture, interleaved round by round, in one table",
  },
  k: {
    type: "string",
    default: "32",
    value: "K",
    description: `Step benchmark, TopK family (${
      ARCH_RECORDS.filter((r) => r.sparsity === "k").map((r) => r.name).join(", ")
    }): active features per item (on average over the batch for the batch variants)`,
  },
  l0: {
    type: "string",
    value: "N",
    description:
      `Step benchmark (${
        ARCH_RECORDS.filter((r) => r.sparsity === "coefficient").map((r) => r.name).join(", ")
      }): start from encoder biases that make the batch's average L0 about N (each feature fires on ` +
      "round(batch · N / dSae) items); default: the initialisation's",
  },
  "no-torch": { type: "boolean", default: false, description: "Step benchmark: skip the PyTorch baseline" },
  batch: {
    type: "string",
    default: "4096",
    value: "B",
    description: "Step benchmark: activation vectors per step",
  },
  "d-in": { type: "string", default: "512", value: "D", description: "Step benchmark: activation width" },
  "d-sae": { type: "string", default: "4096", value: "N", description: "Step benchmark: features" },
  steps: {
    type: "string",
    value: "S",
    defaultText: "5",
    description: "Timed steps (with --activations: timed forward passes) per round",
  },
  warmup: {
    type: "string",
    default: "1",
    value: "W",
    description: "Step benchmark: untimed steps before the timed ones",
  },
  activations: {
    type: "boolean",
    default: false,
    description:
      "Benchmark activation generation on stories260K at every residual stream instead: each round " +
      "times --steps forward passes after one untimed",
  },
  "context-size": {
    type: "string",
    default: "128",
    value: "C",
    description: "--activations: tokens per window",
  },
  "windows-per-batch": {
    type: "string",
    default: "16",
    value: "W",
    description: "--activations: windows per forward pass",
  },
  features: {
    type: "string",
    value: "RUN_DIR",
    description:
      "Benchmark the statistics pass of `deno task features RUN_DIR --static DIR` (DIR temporary) on " +
      "the folder of a finished run instead: train it first, e.g. `deno task train` (stories260K's default " +
      "run, written to runs/<date>T<time>)",
  },
  tokens: {
    type: "string",
    value: "N",
    defaultText: "131072",
    description: "--features: token positions read, as the features command's --tokens",
  },
  backend: {
    type: "string",
    default: "auto",
    value: "NAME",
    choices: BACKEND_NAMES,
    description: "Backend of --features (as the features command's --backend) and of a --json measurement",
  },
  "benchmarks-file": {
    type: "string",
    default: "BENCHMARKS.md",
    value: "FILE",
    description: "File to add the run to, under its section; none: only print the section",
  },
  json: {
    type: "boolean",
    default: false,
    description:
      "One measurement in this process, printed as a JSON line (what each round's process runs); " +
      "writes nothing",
  },
  help: { type: "boolean", short: "h", default: false, description: "Print this help and exit" },
} as const satisfies FlagTable;

/**
 * The help of `deno task bench`, with the flags it parses.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatHelp } from "../cli/help.ts";
 * import { BENCH_HELP } from "./benchmarks.ts";
 * assert.match(formatHelp(BENCH_HELP), /--no-torch +Step benchmark: skip the PyTorch baseline\n/);
 * ```
 */
export const BENCH_HELP: CommandHelp = {
  usage: [
    "deno task bench [--arch NAME | --all-archs] [--k K] [--l0 N] [--rounds R] [--backends blas,wasm]",
    "                [--no-torch] [--batch B] [--d-in D] [--d-sae N] [--steps S] [--warmup W]",
    "deno task bench --activations [--rounds R] [--backends blas,wasm] [--steps S]",
    "                [--context-size C] [--windows-per-batch W]",
    "deno task bench --features RUN_DIR [--rounds R] [--tokens N] [--backend B]",
    "each also takes [--benchmarks-file FILE], or --json for one measurement in this process",
  ],
  about: [
    "Every benchmark runs R rounds, each in fresh processes, and adds the run (date, machine, command, its " +
    "table) under its section of the benchmarks file, newest first, keeping the section's earlier runs and " +
    "every other section. The default is the SAE training step (batch 4096, dIn 512, dSae 4096, ReLU, L1, " +
    "Adam), saekit on each of --backends against the PyTorch baseline (tasks/baselines/torch_sae_step.py, " +
    "where a Python with torch is found), interleaved round by round; --arch picks another architecture, " +
    "--all-archs measures every one in each round and writes one table.",
  ],
  groups: [{ title: "Options", flags: BENCH_FLAGS }],
};

/**
 * The text of `deno task bench --help`: {@linkcode BENCH_HELP} formatted,
 * without its final newline.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BENCH_USAGE } from "./benchmarks.ts";
 * assert.match(BENCH_USAGE, /--features RUN_DIR/);
 * ```
 */
export const BENCH_USAGE: string = formatHelp(BENCH_HELP).trimEnd();

const STEP_ABOUT =
  `Written by \`deno task bench --arch A\` (any architecture; \`--k K\` for the TopK family; \`--l0 N\` to start
the others at an average L0 of about N; \`--batch\`, \`--d-in\`, \`--d-sae\` for other sizes; \`--backends blas,wasm\`
for more saekit backends; \`--rounds\`, \`--steps\`, \`--warmup\`). Each round runs every implementation once,
each in a fresh process; the PyTorch baseline (\`tasks/baselines/torch_sae_step.py\`, the same architecture in
dense PyTorch with autograd) runs where a Python with torch is found. "speed vs PyTorch" is PyTorch's median
step time over saekit's (above 1: saekit is faster). The spread is the range of the per-round medians. Peak RSS
is the whole process's (VmHWM). Starting L0: the average number of active features per item in the first
step's forward pass, measured by each implementation on its own batch.`;

const ALL_ARCHS_ABOUT =
  `Written by \`deno task bench --all-archs\` (\`--k K\` for the TopK family, \`--l0 N\` to start the other
architectures at an average L0 of about N; sizes, \`--backends\`, \`--rounds\`, \`--steps\`, \`--warmup\` as for one
architecture). Each round measures every architecture in turn, saekit on each backend and then the PyTorch
baseline (\`tasks/baselines/torch_sae_step.py\`: the same step in dense PyTorch with autograd, as SAELens and
dictionary_learning write it), each in a fresh process. Step times are the median of the per-round medians, with
their range; "PyTorch / saekit" is PyTorch's median over saekit's (above 1: saekit is faster). Peak RSS is each
process's (VmHWM), the largest over the rounds. Starting L0: the average number of active features per item in
the first step's forward pass, measured by each implementation on its own batch (\`--l0\`: each feature's
encoder bias puts its firing point between the r-th and (r+1)-th largest of its pre-activations over the
batch, r = round(batch · N / dSae), in both).`;

/**
 * How a step section names an architecture's step: the label of the sections written before every
 * architecture was benchmarked (`ReLU, L1, Adam`, `TopK k=32, MSE, Adam`), so that reruns join them.
 * A label for every architecture (the type asks for each).
 */
const STEP_LABELS: Readonly<Record<ArchName, (k: number) => string>> = {
  relu: () => "ReLU, L1, Adam",
  "relu-april": () => "April ReLU, L1 weighted by decoder norms, free decoder, Adam",
  topk: (k) => `TopK k=${k}, MSE, Adam`,
  batchtopk: (k) => `BatchTopK k=${k}, MSE, Adam`,
  matryoshka: (k) => `Matryoshka BatchTopK k=${k}, prefixes dSae/16 to dSae, Adam`,
  jumprelu: () => "JumpReLU, L0 penalty, Adam",
  gated: () => "gated, L1 of the gate and its reconstruction, Adam",
};

/**
 * The label of an architecture's step in its section's heading.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stepLabel } from "./benchmarks.ts";
 * assert.equal(stepLabel("relu", 32), "ReLU, L1, Adam");
 * assert.equal(stepLabel("topk", 16), "TopK k=16, MSE, Adam");
 * ```
 */
export function stepLabel(arch: ArchName, k: number): string {
  return STEP_LABELS[arch](k);
}

/**
 * The BENCHMARKS.md section of `deno task bench --all-archs` at this size, `k` and starting L0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { allArchsSection } from "./benchmarks.ts";
 * assert.equal(
 *   allArchsSection({ batch: 4096, dIn: 512, dSae: 4096 }, 32, 32).heading,
 *   "SAE training step of every architecture: batch 4096, dIn 512, dSae 4096 (TopK family k=32, others from L0 32)",
 * );
 * ```
 */
export function allArchsSection(size: BenchSize, k: number, l0?: number): BenchmarkSection {
  const others = l0 === undefined ? "others at initialisation" : `others from L0 ${l0}`;
  return {
    heading:
      `SAE training step of every architecture: batch ${size.batch}, dIn ${size.dIn}, dSae ${size.dSae} ` +
      `(TopK family k=${k}, ${others})`,
    about: ALL_ARCHS_ABOUT,
  };
}

const ACTIVATIONS_ABOUT =
  `Written by \`deno task bench --activations\` (\`--backends\`, \`--rounds\`, \`--steps\`, \`--context-size\`,
\`--windows-per-batch\`). Each round runs each backend in a fresh process. Tokens per second counts every position
whose activations reach host memory (every hooked residual stream per token).`;

const FEATURES_ABOUT =
  `Written by \`deno task bench --features RUN_DIR\` (\`--rounds\`, \`--tokens\`, \`--backend\`) on the
folder of a finished run; \`deno task train\` with no flags trains stories260K's default run into
\`runs/<date>T<time>\`. Each round is a fresh process that does what \`deno task features RUN_DIR --static DIR\`
does, into a temporary DIR. Statistics: the pass the command prints (the model's forward pass to the hooked
blocks, the SAEs, and every feature's count, histogram and top contexts; loading excluded). Whole command: the
round's process from its start to its exit (loading the model and the SAEs, and writing the static files,
included). Tokens/s: the token positions read over the statistics seconds. Peak RSS: the process's (VmHWM).`;

/**
 * The BENCHMARKS.md section of the training step at this size and architecture.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stepSection } from "./benchmarks.ts";
 * assert.equal(
 *   stepSection({ batch: 4096, dIn: 512, dSae: 4096 }, "ReLU, L1, Adam").heading,
 *   "SAE training step: batch 4096, dIn 512, dSae 4096 (ReLU, L1, Adam)",
 * );
 * ```
 */
export function stepSection(size: BenchSize, archLabel: string): BenchmarkSection {
  return {
    heading: `SAE training step: batch ${size.batch}, dIn ${size.dIn}, dSae ${size.dSae} (${archLabel})`,
    about: STEP_ABOUT,
  };
}

/**
 * The BENCHMARKS.md section of activation generation.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { activationSection } from "./benchmarks.ts";
 * assert.equal(
 *   activationSection(5, 128).heading,
 *   "Activation generation: stories260K, 5 residual streams, windows of 128",
 * );
 * ```
 */
export function activationSection(hooks: number, contextSize: number): BenchmarkSection {
  return {
    heading: `Activation generation: stories260K, ${hooks} residual streams, windows of ${contextSize}`,
    about: ACTIVATIONS_ABOUT,
  };
}

/**
 * The BENCHMARKS.md section of the features benchmark: runs with the same
 * model, components × features and positions read are comparable. `model` is
 * the loader's description; its name is the part before ` (`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { featuresSection } from "./benchmarks.ts";
 * assert.equal(
 *   featuresSection({ model: "stories260K (llama2.c, shipped with saekit)", components: 5, dSae: 256, positions: 131191 })
 *     .heading,
 *   "Feature statistics: stories260K, 5 components × 256 features, 131,191 tokens",
 * );
 * ```
 */
export function featuresSection(
  what: {
    readonly model: string;
    readonly components: number;
    readonly dSae: number;
    readonly positions: number;
  },
): BenchmarkSection {
  const name = what.model.split(" (")[0];
  const positions = String(what.positions).replace(/\B(?=(\d{3})+$)/g, ",");
  return {
    heading:
      `Feature statistics: ${name}, ${what.components} components × ${what.dSae} features, ${positions} tokens`,
    about: FEATURES_ABOUT,
  };
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

function listFlag(value: string): string[] {
  return value.split(",").map((b) => b.trim()).filter(Boolean);
}

const STEP_PERMISSIONS = ["--allow-read", "--allow-write", "--allow-env", "--allow-ffi", "--allow-sys"];
const ACTIVATION_PERMISSIONS = [...STEP_PERMISSIONS, "--allow-run"];
/** Those of `deno task features` (a run's dataset may be remote), and `cat` for /proc. */
const FEATURES_PERMISSIONS = [...STEP_PERMISSIONS, "--allow-net", "--allow-run"];

/**
 * Runs `deno task bench` with the given arguments (see
 * {@linkcode BENCH_HELP}); returns the exit code. The rounds run in the
 * processes `io.processes` starts; the run is printed and added to its
 * section of `--benchmarks-file`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runBenchCommand } from "./benchmarks.ts";
 * let help = "";
 * const processes = { bench: () => Promise.reject(new Error("none")), torch: () => Promise.resolve(undefined) };
 * assert.equal(await runBenchCommand(["--help"], { processes, write: (t) => void (help += t) }), 0);
 * assert.ok(help.includes("--features RUN_DIR") && help.includes("--benchmarks-file FILE"));
 * ```
 */
export async function runBenchCommand(args: readonly string[], io: BenchCommandIO): Promise<number> {
  const write = io.write ?? ((text: string) => Deno.stderr.writeSync(new TextEncoder().encode(text)));
  const print = io.print ?? ((text: string) => console.log(text));
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: false,
      options: BENCH_FLAGS,
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (/'--features/.test(message)) {
      throw new TypeError(
        "--features RUN_DIR: expected the folder of a finished run (train one first, e.g. `deno task train`, " +
          "which writes stories260K's default run to runs/<date>T<time>), received none",
      );
    }
    throw new TypeError(`${message} (see --help)`);
  }
  const { values } = parsed;
  if (values.help) {
    write(formatHelp(BENCH_HELP));
    return 0;
  }
  const positive = (flag: keyof typeof values, fallback?: number): number => {
    const raw = values[flag];
    if (raw === undefined && fallback !== undefined) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(`--${flag}: expected a positive integer, received ${JSON.stringify(raw)}`);
    }
    return value;
  };
  if (values.activations && values.features !== undefined) {
    throw new TypeError("--activations and --features: expected one benchmark, received both");
  }
  const warmup = Number(values.warmup);
  if (!Number.isInteger(warmup) || warmup < 0) {
    throw new RangeError(`--warmup: expected an integer ≥ 0, received ${JSON.stringify(values.warmup)}`);
  }
  const archRecord = findArch(values.arch);
  if (archRecord === undefined) {
    throw new RangeError(
      `--arch: expected one of ${ARCH_NAMES.join(", ")}, received ${JSON.stringify(values.arch)}`,
    );
  }
  const arch = archRecord.name;
  if (values["all-archs"]) {
    const other = values.activations
      ? "--activations"
      : values.features !== undefined
      ? "--features"
      : undefined;
    if (other !== undefined) {
      throw new TypeError(`--all-archs and ${other}: expected one benchmark, received both`);
    }
    if (args.some((a) => a === "--arch" || a.startsWith("--arch="))) {
      throw new TypeError("--all-archs and --arch: expected one of them, received both");
    }
    if (values.json) {
      throw new TypeError(
        "--all-archs and --json: expected one architecture for a --json measurement, received all",
      );
    }
  }
  const rounds = positive("rounds");
  const backend = values.backend as BackendName;
  const file = values["benchmarks-file"];
  const command = `deno task bench ${args.join(" ")}`.trim();

  /** The run's common facts, then its section printed and added to the file. */
  const finish = async (section: BenchmarkSection, details: readonly string[], table: string) => {
    const revision = io.revision === undefined ? await gitRevision() : io.revision ?? undefined;
    const run: BenchmarkRun = {
      date: io.date ?? new Date().toISOString().slice(0, 10),
      machine: io.machine ?? await describeMachine(),
      command,
      body: [
        ...(revision === undefined ? [] : [`- code: ${revision}`]),
        ...details.map((line) => `- ${line}`),
        "",
        table,
      ].join("\n"),
    };
    print(formatBenchmarkSection(section, run));
    if (file !== "none") {
      await writeBenchmarkRun(file, section, run);
      write(`added the run to "## ${section.heading}" in ${file}\n`);
    }
    return 0;
  };

  if (values.features !== undefined) {
    const dir = values.features;
    const tokens = values.tokens === undefined ? undefined : positive("tokens");
    if (values.json) {
      print(JSON.stringify(await measureFeatureStatistics({ dir, backend, tokens, log: write })));
      return 0;
    }
    try {
      await Deno.stat(`${dir}/config.json`);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      throw new RangeError(
        `--features: expected the folder of a finished run (with config.json and final/; train one first, ` +
          `e.g. \`deno task train\`), received ${JSON.stringify(dir)}, which has no config.json`,
      );
    }
    const childArgs = ["--features", dir, "--json", "--backend", backend];
    if (tokens !== undefined) childArgs.push("--tokens", `${tokens}`);
    const measured: { output: Record<string, unknown>; round: FeaturesRound }[] = [];
    for (let round = 1; round <= rounds; round++) {
      const { output, seconds } = await io.processes.bench(childArgs, FEATURES_PERMISSIONS);
      const r: FeaturesRound = {
        statisticsSeconds: Number(output.statistics_s),
        wholeSeconds: seconds,
        positions: Number(output.positions),
        peakRss: Number(output.peak_rss_mb),
      };
      measured.push({ output, round: r });
      write(
        `round ${round}: statistics ${r.statisticsSeconds.toFixed(1)} s, whole ${seconds.toFixed(1)} s\n`,
      );
    }
    const first = measured[0].output;
    const section = featuresSection({
      model: String(first.model),
      components: Number(first.components),
      dSae: Number(first.d_sae),
      positions: Number(first.positions),
    });
    return await finish(section, [
      `run folder \`${dir}\`: ${first.model}; ${first.windows} windows read, ${first.unseen_windows} of them ` +
      `not read in training; ${first.files} static files written`,
      `${plural(rounds, "round")}, each a fresh process; backend ${first.backend}`,
    ], formatFeaturesTable(measured.map((m) => m.round)));
  }

  if (values.activations) {
    const steps = positive("steps", 5);
    const contextSize = positive("context-size"), windowsPerBatch = positive("windows-per-batch");
    if (values.json) {
      print(JSON.stringify(
        await measureActivationGeneration({ backend, contextSize, windowsPerBatch, batches: steps }),
      ));
      return 0;
    }
    const rows = new Map<string, { rates: number[]; peakRss: number }>();
    let hooks = 0;
    for (let round = 1; round <= rounds; round++) {
      for (const b of listFlag(values.backends)) {
        const { output } = await io.processes.bench([
          ...["--activations", "--json", "--backend", b, "--steps", `${steps}`],
          ...["--context-size", `${contextSize}`, "--windows-per-batch", `${windowsPerBatch}`],
        ], ACTIVATION_PERMISSIONS);
        const label = String(output.backend);
        const row = rows.get(label) ?? { rates: [], peakRss: 0 };
        row.rates.push(Number(output.tokens_per_s));
        row.peakRss = Math.max(row.peakRss, Number(output.peak_rss_mb));
        rows.set(label, row);
        hooks = Number(output.hooks);
        write(`round ${round}: ${label} ${output.tokens_per_s} tokens/s\n`);
      }
    }
    return await finish(
      activationSection(hooks, contextSize),
      [
        `${
          plural(rounds, "round")
        }, interleaved; each times ${steps} forward passes of ${windowsPerBatch} windows after one untimed`,
      ],
      formatActivationTable([...rows].map(([b, r]) => ({ backend: b, rates: r.rates, peakRss: r.peakRss }))),
    );
  }

  const size = { batch: positive("batch"), dIn: positive("d-in"), dSae: positive("d-sae") };
  const steps = positive("steps", 5), k = positive("k");
  let l0: number | undefined;
  if (values.l0 !== undefined) {
    l0 = Number(values.l0);
    if (!(l0 > 0) || !Number.isFinite(l0)) {
      throw new RangeError(`--l0: expected a positive number, received ${JSON.stringify(values.l0)}`);
    }
    if (!values["all-archs"]) checkL0Arch(arch);
    firingItems(size.batch, size.dSae, l0);
  }
  if (values.json) {
    print(JSON.stringify(await measureStep({ ...size, steps, warmup, backend, architecture: arch, k, l0 })));
    return 0;
  }
  const archs: readonly ArchName[] = values["all-archs"] ? ARCH_NAMES : [arch];
  const argsOf = (a: ArchName) => [
    ...["--batch", `${size.batch}`, "--d-in", `${size.dIn}`, "--d-sae", `${size.dSae}`],
    ...["--arch", a, "--k", `${k}`, "--steps", `${steps}`, "--warmup", `${warmup}`],
    ...(l0 !== undefined && L0_ARCHS.includes(a) ? ["--l0", `${l0}`] : []),
  ];
  const torch = values["no-torch"] ? undefined : await io.processes.torch();
  /** Every round's measurement, by architecture, then by implementation's label. */
  const measured = new Map<ArchName, Map<string, Measured>>();
  const record = (a: ArchName, label: string, r: Record<string, unknown>) => {
    const rows = measured.get(a) ?? new Map<string, Measured>();
    const row = rows.get(label) ?? { medians: [], peakRss: 0, startL0s: [], backend: r.backend as string };
    row.medians.push(Number(r.median_ms));
    row.peakRss = Math.max(row.peakRss, Number(r.peak_rss_mb));
    if (r.start_l0 !== undefined) row.startL0s.push(Number(r.start_l0));
    rows.set(label, row);
    measured.set(a, rows);
  };
  let torchInfo = values["no-torch"] ? "PyTorch not run (--no-torch)" : "no PyTorch found";
  for (let round = 1; round <= rounds; round++) {
    for (const a of archs) {
      const name = archs.length > 1 ? ` ${a}` : "";
      for (const b of listFlag(values.backends)) {
        const { output } = await io.processes.bench(
          [...argsOf(a), "--json", "--backend", b],
          STEP_PERMISSIONS,
        );
        record(a, `saekit (${output.backend})`, output);
        write(`round ${round}:${name} saekit ${output.backend} ${output.median_ms} ms\n`);
      }
      if (torch !== undefined) {
        const { output } = await torch(argsOf(a));
        record(a, "PyTorch", output);
        torchInfo = `PyTorch ${output.torch} with ${output.blas} BLAS on ${output.threads} threads`;
        write(`round ${round}:${name} PyTorch ${output.median_ms} ms\n`);
      }
    }
  }
  const details = [
    `${plural(rounds, "round")}, interleaved${
      archs.length > 1 ? " (each round: every architecture in turn, saekit then PyTorch)" : ""
    }; each round times ${steps} steps after ${warmup} warm-up`,
    `Deno ${Deno.version.deno}; ${torchInfo}`,
  ];
  if (archs.length === 1) {
    const table = formatBenchTable(
      [...measured.get(arch)!].map(([label, r]) => ({
        label,
        medians: r.medians,
        peakRss: r.peakRss,
        startL0s: r.startL0s,
        batch: size.batch,
      })),
      torch === undefined ? undefined : "PyTorch",
    );
    const label = stepLabel(arch, k) + (l0 !== undefined ? `, starting L0 ${l0}` : "");
    return await finish(stepSection(size, label), details, table);
  }
  const rows: ArchRow[] = [];
  for (const [a, byLabel] of measured) {
    const pytorch = byLabel.get("PyTorch");
    for (const [label, saekit] of byLabel) {
      if (label !== "PyTorch") rows.push({ arch: a, backend: String(saekit.backend), saekit, pytorch });
    }
  }
  return await finish(allArchsSection(size, k, l0), details, formatArchTable(rows));
}

/**
 * Entry point of `tasks/bench.ts`: prints errors without a stack trace.
 *
 * @example
 * ```ts ignore
 * await benchMain(Deno.args, processes); // processes: see tasks/bench.ts
 * ```
 */
export async function benchMain(args: readonly string[], processes: BenchProcesses): Promise<void> {
  try {
    Deno.exitCode = await runBenchCommand(args, { processes });
  } catch (error) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    Deno.stderr.writeSync(new TextEncoder().encode(`saekit bench: ${message}\n`));
    Deno.exitCode = 2;
  }
}
