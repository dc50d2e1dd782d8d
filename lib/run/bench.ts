/**
 * Benchmarks of the training step: the library's step measured in this
 * process, and the side-by-side comparison with a PyTorch baseline in
 * separate processes, interleaved round by round.
 *
 * @module
 */
import { type BackendName, selectBackend, tf, tidy } from "../tf.ts";
import { parseConfig } from "../config.ts";
import { defaultPipeline } from "../train/pipeline.ts";
import { disposeAll, disposeReplaced } from "./dispose.ts";

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

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Times the default pipeline's step (ReLU SAE, L1, Adam, decoder constraint,
 * metrics; no resampling, no capacity) on one random batch, `steps` times after
 * `warmup` untimed steps. Each step ends by reading the loss, as PyTorch's
 * `loss.item()` does.
 */
export async function measureStep(
  size: BenchSize & {
    readonly steps: number;
    readonly warmup: number;
    readonly backend: BackendName;
    readonly architecture?: "relu" | "topk";
    readonly k?: number;
  },
): Promise<BenchResult> {
  const choice = await selectBackend(size.backend);
  const config = parseConfig({
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
  const { init, step } = defaultPipeline(config);
  let state = init(config);
  const x = tf.randomNormal([1, size.batch, size.dIn], 0, 1, "float32", 0) as tf.Tensor3D;
  const times: number[] = [];
  let maxRss = Deno.memoryUsage().rss;
  for (let i = 0; i < size.warmup + size.steps; i++) {
    const start = performance.now();
    const prev = state;
    const next = tidy(() => step(prev, { x }));
    disposeReplaced(prev, next);
    state = next;
    state.outputs?.loss.dataSync();
    if (i >= size.warmup) times.push(performance.now() - start);
    maxRss = Math.max(maxRss, Deno.memoryUsage().rss);
  }
  disposeAll(state);
  x.dispose();
  const med = Number(median(times).toFixed(1));
  return {
    impl: "saekit",
    arch: size.architecture ?? "relu",
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
};

/** The median of the round medians, their spread, and the ratio to the baseline. */
export function formatBenchTable(rows: readonly BenchRow[], baseline?: string): string {
  const base = rows.find((r) => r.label === baseline);
  const baseMedian = base ? median(base.medians) : undefined;
  const lines = [
    "| implementation | median step (ms) | spread over rounds (ms) | activations/s | peak RSS (MB) | speed vs PyTorch |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const row of rows) {
    const med = median(row.medians);
    const ratio = baseMedian === undefined ? "n/a" : `${(baseMedian / med).toFixed(2)}×`;
    lines.push(
      `| ${row.label} | ${med.toFixed(0)} | ${Math.min(...row.medians).toFixed(0)}–${
        Math.max(...row.medians).toFixed(0)
      } | ${Math.round(row.batch / (med / 1000))} | ${row.peakRss} | ${ratio} |`,
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
