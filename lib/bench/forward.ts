/**
 * The forward benchmark: tokens per second and memory of activation
 * generation on real-size models, saekit against PyTorch, side by side.
 *
 * The models are random ones in the Hugging Face layouts of GPT-2 small,
 * Pythia-160M and a Llama of the same class (`./random_models.ts`), written
 * once from a seed. Each round runs, for every family, one fresh saekit
 * process ({@linkcode measureSaekitForward}, `--json`) and one PyTorch
 * process (`tasks/baselines/torch_forward.py`), one after the other, so that
 * the two meet the same load; {@linkcode formatForwardTable} makes the table.
 * Both read `WINDOWS × TOKENS` token ids from the same formula
 * ({@linkcode benchTokens}), run blocks `0..layer` and capture
 * `blocks.{layer}.hook_resid_post`.
 *
 * @module
 */
import { tf } from "../tf.ts";
import type { BackendName } from "../backends/names.ts";
import {
  RANDOM_MODEL_FAMILIES,
  RANDOM_MODEL_SHAPES,
  type RandomModelFamily,
  type RandomModelShape,
  writeRandomModel,
} from "./random_models.ts";

/**
 * The benchmark's token ids: `id(w, t) = ((w · tokens + t) · 2654435761 + seed · 97) mod vocab`, the same
 * formula as the PyTorch baseline's, so both run the same windows. Pure.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { benchTokens } from "./forward.ts";
 * // w 0, t 1: 2654435761 mod 1000 = 761; w 1, t 0 (index 2): 5308871522 mod 1000 = 522
 * assert.deepEqual(benchTokens(2, 2, 1000, 0), [[0, 761], [522, 283]]);
 * ```
 */
export function benchTokens(windows: number, tokens: number, vocab: number, seed: number): number[][] {
  for (const [name, value] of [["windows", windows], ["tokens", tokens], ["vocab", vocab]] as const) {
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(`${name}: expected a positive integer, received ${value}`);
    }
  }
  if (!Number.isInteger(seed) || seed < 0) {
    throw new RangeError(`seed: expected a non-negative integer, received ${seed}`);
  }
  // Exact in float64 while (w·tokens + t) · 2654435761 < 2^53, i.e. below 3.3 million tokens.
  if (windows * tokens >= 3_000_000) {
    throw new RangeError(`windows · tokens: expected fewer than 3,000,000, received ${windows * tokens}`);
  }
  return Array.from(
    { length: windows },
    (_, w) => Array.from({ length: tokens }, (_, t) => ((w * tokens + t) * 2654435761 + seed * 97) % vocab),
  );
}

/** Options of {@linkcode measureSaekitForward}. */
export type SaekitForwardOptions = {
  /** A Hugging Face folder of a GPT-2, GPT-NeoX or Llama model. */
  readonly model: string;
  readonly backend: BackendName;
  readonly windows: number;
  readonly tokens: number;
  /** The last block run; its `hook_resid_post` is captured. */
  readonly layer: number;
  /** Timed forward passes, after `warmup` untimed ones. */
  readonly repeats: number;
  readonly warmup: number;
  /** Seed of the token ids ({@linkcode benchTokens}). */
  readonly seed: number;
};

/** One process's measurement of the forward: what both implementations print as their JSON line. */
export type ForwardMeasurement = {
  readonly impl: string;
  readonly family: string;
  readonly windows: number;
  readonly tokens: number;
  readonly layer: number;
  readonly median_ms: number;
  readonly min_ms: number;
  readonly max_ms: number;
  /** Tokens per second of the median forward. */
  readonly tokens_per_s: number;
  readonly load_s: number;
  /** Bytes of the float32 weights, MiB. */
  readonly weights_mb: number;
  /** The process's peak RSS (loading or forwards), MiB. */
  readonly peak_rss_mb: number;
  /** Peak RSS while the forwards ran (the high-water mark reset after loading), MiB. */
  readonly forward_peak_rss_mb: number;
  /** That peak less the RSS after loading, MiB. */
  readonly forward_extra_mb: number;
  readonly backend?: string;
  readonly threads?: number;
};

/** `VmHWM` and `VmRSS` of this process in MiB, read with `cat` (Deno reads /proc only with --allow-all). */
async function memoryStatus(): Promise<{ hwm: number; rss: number } | undefined> {
  try {
    const { stdout } = await new Deno.Command("cat", { args: [`/proc/${Deno.pid}/status`], stderr: "null" })
      .output();
    const text = new TextDecoder().decode(stdout);
    const hwm = /VmHWM:\s+(\d+)\s+kB/.exec(text), rss = /VmRSS:\s+(\d+)\s+kB/.exec(text);
    return hwm && rss ? { hwm: Number(hwm[1]) / 1024, rss: Number(rss[1]) / 1024 } : undefined;
  } catch {
    return undefined;
  }
}

/** Starts this process's RSS high-water mark anew (`/proc/PID/clear_refs`); false where that is not allowed. */
async function resetPeakRss(): Promise<boolean> {
  try {
    const { code } = await new Deno.Command("sh", {
      args: ["-c", `echo 5 > /proc/${Deno.pid}/clear_refs`],
      stderr: "null",
    }).output();
    return code === 0;
  } catch {
    return false;
  }
}

/**
 * Loads a Hugging Face folder as a hooked model (GPT-2, GPT-NeoX or Llama,
 * by `model_type`), without a tokenizer.
 */
async function loadHooked(dir: string) {
  const config = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
  const { hookedGpt2, hookedGptNeox, hookedLlama } = await import("../models/hooked.ts");
  if (config.model_type === "gpt2") {
    const { loadHfGpt2 } = await import("../models/load/hf_gpt2.ts");
    return { family: "gpt2", model: hookedGpt2(await loadHfGpt2(dir)), dModel: config.n_embd as number };
  }
  if (config.model_type === "gpt_neox") {
    const { loadHfGptNeox } = await import("../models/load/hf_gpt_neox.ts");
    return { family: "gpt_neox", model: hookedGptNeox(await loadHfGptNeox(dir)), dModel: config.hidden_size };
  }
  if (config.model_type === "llama") {
    const { loadHfLlama } = await import("../models/load/hf_llama.ts");
    return { family: "llama", model: hookedLlama(await loadHfLlama(dir)), dModel: config.hidden_size };
  }
  throw new RangeError(
    `${dir}/config.json: model_type expected gpt2, gpt_neox or llama, received ${
      JSON.stringify(config.model_type)
    }`,
  );
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * saekit's forward in this process: loads the folder, then runs `warmup +
 * repeats` forward passes of `windows × tokens` tokens through blocks
 * `0..layer` (`stopAtLayer: layer + 1`), each read back to host memory, and
 * times the last `repeats`. Memory: the process's peak RSS, and the peak
 * while the forwards ran (the high-water mark is reset after loading, with
 * `sh` and `/proc/PID/clear_refs`; needs --allow-run).
 */
export async function measureSaekitForward(options: SaekitForwardOptions): Promise<ForwardMeasurement> {
  const { selectBackend } = await import("../backends/select.ts");
  const choice = await selectBackend(options.backend);
  const start = performance.now();
  const { family, model } = await loadHooked(options.model);
  const loadS = (performance.now() - start) / 1000;
  const weightsBytes = tf.memory().numBytes;
  const hook = `blocks.${options.layer}.hook_resid_post`;
  if (!Number.isInteger(options.layer) || options.layer < 0 || options.layer >= model.nLayers) {
    throw new RangeError(
      `layer: expected an integer in [0, ${model.nLayers - 1}], received ${options.layer}`,
    );
  }
  const ids = tf.tensor2d(
    benchTokens(options.windows, options.tokens, model.vocabSize, options.seed),
    [options.windows, options.tokens],
    "int32",
  );
  // What loading left behind (the file's bytes) is garbage now: collect it where the process allows
  // (--v8-flags=--expose-gc), so that the forward's peak is not the loader's.
  (globalThis as { gc?: () => void }).gc?.();
  const loaded = await memoryStatus();
  const reset = await resetPeakRss();
  const times: number[] = [];
  for (let i = 0; i < options.warmup + options.repeats; i++) {
    const t0 = performance.now();
    const { activations } = model.forward(ids, { capture: [hook], stopAtLayer: options.layer + 1 });
    activations[hook].dataSync();
    const elapsed = performance.now() - t0;
    tf.dispose(Object.values(activations));
    if (i >= options.warmup) times.push(elapsed);
  }
  ids.dispose();
  const after = await memoryStatus();
  const med = median(times);
  const tokens = options.windows * options.tokens;
  const forwardPeak = reset && after !== undefined ? after.hwm : NaN;
  return {
    impl: "saekit",
    family,
    backend: choice.name,
    windows: options.windows,
    tokens: options.tokens,
    layer: options.layer,
    median_ms: Number(med.toFixed(1)),
    min_ms: Number(Math.min(...times).toFixed(1)),
    max_ms: Number(Math.max(...times).toFixed(1)),
    tokens_per_s: Math.round(tokens / (med / 1000)),
    load_s: Number(loadS.toFixed(2)),
    weights_mb: Math.round(weightsBytes / 2 ** 20),
    peak_rss_mb: Math.round(Math.max(loaded?.hwm ?? NaN, after?.hwm ?? NaN)),
    forward_peak_rss_mb: Math.round(forwardPeak),
    forward_extra_mb: Math.round(forwardPeak - (loaded?.rss ?? NaN)),
  };
}

/** Options of {@linkcode runForwardBenchmark}. */
export type ForwardBenchOptions = {
  /** Where the random models are written (one folder per family and seed), and reused. */
  readonly modelsDir: string;
  /** Seed of the models' weights and of the token ids. */
  readonly seed: number;
  readonly families: readonly RandomModelFamily[];
  readonly windows: number;
  readonly tokens: number;
  readonly layer: number;
  /** Timed forwards per process, after `warmup` untimed ones. */
  readonly repeats: number;
  readonly warmup: number;
  /** Rounds; each runs every family once in saekit and once in PyTorch. */
  readonly rounds: number;
  /** Shapes other than the real-size ones ({@linkcode RANDOM_MODEL_SHAPES}), e.g. small ones in tests. */
  readonly shapes?: Partial<Readonly<Record<RandomModelFamily, RandomModelShape>>>;
};

/** How the benchmark runs one measurement in a fresh process (`tasks/bench.ts` provides these). */
export type ForwardProcesses = {
  /** saekit's forward: a process that runs {@linkcode measureSaekitForward} and prints its JSON line. */
  readonly saekit: (args: ForwardRunArgs) => Promise<ForwardMeasurement>;
  /** The PyTorch baseline (`tasks/baselines/torch_forward.py`), or undefined where no Python has torch. */
  readonly torch?: (args: ForwardRunArgs) => Promise<ForwardMeasurement>;
};

/** One measurement's settings, as both processes take them. */
export type ForwardRunArgs = {
  readonly model: string;
  readonly windows: number;
  readonly tokens: number;
  readonly layer: number;
  readonly repeats: number;
  readonly warmup: number;
  readonly seed: number;
};

/**
 * The command-line flags of the PyTorch baseline for one measurement.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { torchForwardArgs } from "./forward.ts";
 * const args = { model: "m", windows: 8, tokens: 128, layer: 5, repeats: 5, warmup: 1, seed: 0 };
 * assert.deepEqual(torchForwardArgs(args).slice(0, 4), ["--model", "m", "--windows", "8"]);
 * ```
 */
export function torchForwardArgs(args: ForwardRunArgs): string[] {
  return [
    ...["--model", args.model, "--windows", `${args.windows}`, "--tokens", `${args.tokens}`],
    ...["--layer", `${args.layer}`, "--repeats", `${args.repeats}`, "--warmup", `${args.warmup}`],
    ...["--seed", `${args.seed}`],
  ];
}

/** Every round of one family: saekit's and PyTorch's measurements, round by round. */
export type ForwardRow = {
  readonly family: RandomModelFamily;
  readonly parameters: number;
  readonly saekit: readonly ForwardMeasurement[];
  /** PyTorch's, in the same rounds (empty: not run). */
  readonly pytorch: readonly ForwardMeasurement[];
};

/** The folder of a family's random model. */
export function forwardModelDir(modelsDir: string, family: RandomModelFamily, seed: number): string {
  return `${modelsDir.replace(/\/+$/, "")}/${family}-${seed}`;
}

/**
 * Runs the forward benchmark: writes (or reuses) each family's random model,
 * then, round after round, each family's saekit process and PyTorch process
 * one after the other (PyTorch first in even rounds), so that both meet the
 * same load; {@linkcode formatForwardTable} makes the table of the rows.
 *
 * @param write progress lines
 */
export async function runForwardBenchmark(
  options: ForwardBenchOptions,
  processes: ForwardProcesses,
  write: (line: string) => void = () => {},
): Promise<ForwardRow[]> {
  const rows: {
    family: RandomModelFamily;
    parameters: number;
    saekit: ForwardMeasurement[];
    pytorch: ForwardMeasurement[];
  }[] = [];
  for (const family of options.families) {
    const dir = forwardModelDir(options.modelsDir, family, options.seed);
    const shape = options.shapes?.[family] ?? RANDOM_MODEL_SHAPES[family];
    if (shape.family !== family) {
      throw new RangeError(`shapes.${family}: expected a ${family} shape, received family ${shape.family}`);
    }
    const written = await writeRandomModel(dir, shape, options.seed);
    write(`${written.reused ? "reusing" : "wrote"} ${dir} (${(written.bytes / 2 ** 20).toFixed(0)} MiB)`);
    rows.push({ family, parameters: written.parameters, saekit: [], pytorch: [] });
  }
  for (let round = 1; round <= options.rounds; round++) {
    for (const row of rows) {
      const args: ForwardRunArgs = {
        model: forwardModelDir(options.modelsDir, row.family, options.seed),
        windows: options.windows,
        tokens: options.tokens,
        layer: options.layer,
        repeats: options.repeats,
        warmup: options.warmup,
        seed: options.seed,
      };
      const order = round % 2 === 0 ? ["pytorch", "saekit"] as const : ["saekit", "pytorch"] as const;
      for (const impl of order) {
        const run = impl === "saekit" ? processes.saekit : processes.torch;
        if (run === undefined) continue;
        const measured = await run(args);
        row[impl].push(measured);
        write(`round ${round}: ${row.family} ${impl} ${measured.tokens_per_s} tokens/s`);
      }
    }
  }
  return rows;
}

/** Display names of the families' shapes. */
const SHAPE_NAMES: Readonly<Record<RandomModelFamily, string>> = {
  gpt2: "GPT-2 small",
  gpt_neox: "Pythia-160M",
  llama: "Llama 160M-class",
};

function spread(values: readonly number[]): string {
  return `${Math.round(median(values))} (${Math.round(Math.min(...values))}–${
    Math.round(Math.max(...values))
  })`;
}

/**
 * The forward table: per family, saekit's and PyTorch's tokens per second
 * (median over rounds, with the range), their ratio (the median over rounds of
 * each round's saekit ÷ PyTorch, which were measured one after the other),
 * the float32 weights, each implementation's peak RSS and the RSS its
 * forwards added to what loading left (largest over rounds, MiB). Pure.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type ForwardMeasurement, formatForwardTable } from "./forward.ts";
 * const m = (impl: string, tokens_per_s: number, peak: number, extra: number) =>
 *   ({ impl, tokens_per_s, peak_rss_mb: peak, forward_extra_mb: extra }) as ForwardMeasurement;
 * // rounds: 1500/1000 = 1.5, 1200/1000 = 1.2, 1800/900 = 2.0 → median ratio 1.50×;
 * // saekit median 1500 (1200–1800), PyTorch median 1000 (900–1000); 124,439,808 · 4 bytes = 475 MiB
 * const table = formatForwardTable([{
 *   family: "gpt2", parameters: 124_439_808,
 *   saekit: [m("saekit", 1500, 900, 60), m("saekit", 1200, 910, 70), m("saekit", 1800, 905, 50)],
 *   pytorch: [m("pytorch", 1000, 800, 100), m("pytorch", 1000, 820, 110), m("pytorch", 900, 810, 105)],
 * }]);
 * assert.equal(
 *   table.split("\n")[2],
 *   "| GPT-2 small | 124.4M | 475 | 1500 (1200–1800) | 1000 (900–1000) | 1.50× | 910 | 820 | 70 | 110 |",
 * );
 * ```
 */
export function formatForwardTable(rows: readonly ForwardRow[]): string {
  const lines = [
    "| model | parameters | float32 weights (MiB) | saekit tokens/s | PyTorch tokens/s | saekit ÷ PyTorch | " +
    "saekit peak RSS (MiB) | PyTorch peak RSS (MiB) | saekit forward's own RSS (MiB) | PyTorch forward's own RSS (MiB) |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  const max = (ms: readonly ForwardMeasurement[], f: (m: ForwardMeasurement) => number) =>
    ms.length === 0 ? "n/a" : `${Math.round(Math.max(...ms.map(f)))}`;
  for (const row of rows) {
    const rates = (ms: readonly ForwardMeasurement[]) => ms.map((m) => m.tokens_per_s);
    const paired = row.saekit.slice(0, row.pytorch.length).map((m, i) =>
      m.tokens_per_s / row.pytorch[i].tokens_per_s
    );
    lines.push(
      `| ${SHAPE_NAMES[row.family]} | ${(row.parameters / 1e6).toFixed(1)}M | ${
        Math.round((row.parameters * 4) / 2 ** 20)
      } | ${row.saekit.length === 0 ? "n/a" : spread(rates(row.saekit))} | ${
        row.pytorch.length === 0 ? "n/a" : spread(rates(row.pytorch))
      } | ${paired.length === 0 ? "n/a" : `${median(paired).toFixed(2)}×`} | ${
        max(row.saekit, (m) => m.peak_rss_mb)
      } | ${max(row.pytorch, (m) => m.peak_rss_mb)} | ${max(row.saekit, (m) => m.forward_extra_mb)} | ${
        max(row.pytorch, (m) => m.forward_extra_mb)
      } |`,
    );
  }
  return lines.join("\n");
}

export {
  RANDOM_MODEL_FAMILIES,
  RANDOM_MODEL_SHAPES,
  type RandomModelFamily,
  type RandomModelShape,
  writeRandomModel,
};
