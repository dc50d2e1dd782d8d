/**
 * The training report: one self-contained HTML file per run folder
 * (`report.html`) with the loss terms, L0, explained variance, dead fraction
 * and reconstruction score over training per component, the feature-density
 * histogram at the end, the resolved configuration, and the backend and speed.
 *
 * Charts are drawn by uPlot (MIT, https://github.com/leeoniya/uPlot), whose
 * minified build is read from its npm package and written into the file, so
 * the report opens from `file://` with no network.
 *
 * `renderReport` is pure (run data in, HTML out); `readRun`, `writeReport`,
 * `recordRunSegment` and the `deno task report` command read and write files.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type CommandHelp, type FlagTable, formatHelp } from "../cli/help.ts";
import UPLOT_JS from "uplot/dist/uPlot.iife.min.js" with { type: "text" };
import UPLOT_CSS from "uplot/dist/uPlot.min.css" with { type: "text" };
import CLIENT_JS from "./client.js" with { type: "text" };
import { DENSITY_BIN_EDGES } from "../metrics/summary.ts";
import { writeTextAtomic } from "../io/files.ts";
import { dropTornLastLine, type LogRecord, tornLineWarning } from "../run/sinks.ts";

/** The uPlot version embedded in reports (the one `deno.json` imports). */
export const UPLOT_VERSION: string = UPLOT_JS.match(/uPlot \(v([\d.]+)\)/)?.[1] ?? "unknown";

/** Line colours, one per component in order (Tableau 10); the mean over components is drawn dashed in `MEAN_COLOUR`. */
export const REPORT_PALETTE: readonly string[] = [
  "#4e79a7",
  "#f28e2b",
  "#e15759",
  "#76b7b2",
  "#59a14f",
  "#edc948",
  "#b07aa1",
  "#ff9da7",
  "#9c755f",
  "#bab0ac",
];

/** Colour of the mean-over-components line. */
export const MEAN_COLOUR = "#222222";

/** The machine a run segment ran on. */
export type MachineInfo = {
  readonly os: string;
  readonly arch: string;
  readonly cpus: number;
  readonly cpuModel?: string;
  readonly memoryGiB?: number;
  readonly deno: string;
};

/** One process's part of a run (a run resumed twice has three), as `run.json` records it. */
export type RunSegment = {
  readonly backend: string;
  /** Backends `auto` passed over, and why. */
  readonly skipped?: readonly string[];
  readonly machine?: MachineInfo;
  readonly startStep: number;
  readonly endStep: number;
  readonly seconds: number;
  readonly stepsPerSecond: number;
  readonly activationsPerSecond: number;
  readonly stopped?: string;
  /** ISO time at which the segment ended. */
  readonly finishedAt?: string;
};

/** Contents of `run.json`. */
export type RunInfo = { readonly segments: readonly RunSegment[] };

/** What a report is made from: a run folder's files, parsed. */
export type RunData = {
  /** Shown as the title; the run folder's name. */
  readonly name: string;
  /** `config.json`: the resolved configuration. */
  readonly config: Record<string, unknown>;
  /** `metrics.jsonl`, one record per log. */
  readonly metrics: readonly LogRecord[];
  /** `run.json`, when the CLI wrote one. */
  readonly run?: RunInfo;
};

/** Options of {@linkcode renderReport}. */
export type ReportOptions = {
  /** Shown in the footer (pass a fixed value for reproducible output); omitted by default. */
  readonly generatedAt?: string;
  /** Logs kept per chart; longer runs keep every n-th log (and every validation). 2000 by default. */
  readonly maxPoints?: number;
};

/** A line chart in the report's JSON payload. */
export type ChartSpec = {
  readonly id: string;
  /** `main` for the charts every run has, `more` for the other per-component metrics. */
  readonly group: "main" | "more";
  readonly title: string;
  readonly xLabel: string;
  readonly log: boolean;
  readonly x: readonly number[];
  readonly series: readonly {
    readonly label: string;
    readonly colour: string;
    readonly mean: boolean;
    readonly values: readonly (number | null)[];
  }[];
};

/** A density histogram in the report's JSON payload. */
export type HistogramSpec = {
  readonly id: string;
  readonly title: string;
  readonly colour: string;
  readonly step: number;
  readonly labels: readonly string[];
  readonly counts: readonly number[];
};

/**
 * Parses `metrics.jsonl`: one JSON object per non-blank line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseMetricsJsonl } from "./report.ts";
 * const logs = parseMetricsJsonl('{"step":1,"loss/total/a":2}\n\n{"step":2,"loss/total/a":1}\n');
 * assert.equal(logs.length, 2);
 * assert.equal(logs[1]["loss/total/a"], 1);
 * ```
 */
export function parseMetricsJsonl(text: string, source = "metrics.jsonl"): LogRecord[] {
  const records: LogRecord[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new SyntaxError(
        `${source} line ${i + 1}: expected a JSON object, received ${JSON.stringify(line.slice(0, 60))} (${
          error instanceof Error ? error.message : error
        })`,
      );
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      throw new TypeError(`${source} line ${i + 1}: expected a JSON object, received ${line.slice(0, 60)}`);
    }
    records.push(value as LogRecord);
  });
  return records;
}

/**
 * Component names of a run, in log order: the suffixes of the `loss/total/…`
 * keys other than `mean`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { componentNamesOf } from "./report.ts";
 * const names = componentNamesOf([{ step: 1, "loss/total/a.b": 1, "loss/total/c": 2, "loss/total/mean": 1.5 }]);
 * assert.equal(names.join(), "a.b,c");
 * ```
 */
export function componentNamesOf(records: readonly LogRecord[]): string[] {
  const names = new Set<string>();
  for (const record of records) {
    for (const key of Object.keys(record)) {
      if (key.startsWith("loss/total/") && key !== "loss/total/mean") {
        names.add(key.slice("loss/total/".length));
      }
    }
  }
  return [...names];
}

/** Splits `prefix/<component or mean>` into its prefix and suffix; `undefined` for other keys. */
function splitKey(key: string, suffixes: readonly string[]): [string, string] | undefined {
  for (const suffix of suffixes) {
    if (key.length > suffix.length + 1 && key.endsWith(`/${suffix}`)) {
      return [key.slice(0, key.length - suffix.length - 1), suffix];
    }
  }
  return undefined;
}

/**
 * Throughput at each log in activations per second, from `activations` and
 * `time_s`: `interval` since the previous log, `average` since the process
 * started (a resumed process's `time_s` starts again from zero, at about the
 * previous log's activations). `null` where time did not advance.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { throughputOf } from "./report.ts";
 * const { interval, average } = throughputOf([
 *   { step: 10, activations: 1000, time_s: 1 },
 *   { step: 20, activations: 2000, time_s: 1.5 },
 *   { step: 30, activations: 3000, time_s: 0.4 }, // resumed: a new process
 * ]);
 * assert.equal(interval.join(), "1000,2000,2500"); // 1000/1, 1000/0.5, 1000/0.4
 * assert.equal(average.join(), "1000,1333.3333333333333,2500"); // 2000/1.5
 * ```
 */
export function throughputOf(
  records: readonly LogRecord[],
): { interval: (number | null)[]; average: (number | null)[] } {
  const interval: (number | null)[] = [], average: (number | null)[] = [];
  let base = 0;
  records.forEach((record, i) => {
    const t = record.time_s, a = record.activations;
    const prev = records[i - 1];
    if (typeof t !== "number" || typeof a !== "number") {
      interval.push(null);
      average.push(null);
      return;
    }
    const resumed = prev === undefined || typeof prev.time_s !== "number" || prev.time_s > t;
    const before = typeof prev?.activations === "number" ? prev.activations : 0;
    if (resumed) base = before;
    const dt = resumed ? t : t - (prev.time_s as number);
    interval.push(dt > 0 && a > before ? (a - before) / dt : null);
    average.push(t > 0 && a > base ? (a - base) / t : null);
  });
  return { interval, average };
}

/**
 * Speed per process from `metrics.jsonl` alone, for runs without `run.json`:
 * a segment ends where `time_s` starts again.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { segmentsFromMetrics } from "./report.ts";
 * const [s] = segmentsFromMetrics([{ step: 50, activations: 5000, time_s: 2 }, { step: 100, activations: 10000, time_s: 4 }]);
 * assert.equal(s.stepsPerSecond, 25);
 * assert.equal(s.activationsPerSecond, 2500);
 * assert.equal(s.backend, "not recorded");
 * ```
 */
export function segmentsFromMetrics(records: readonly LogRecord[]): RunSegment[] {
  const segments: RunSegment[] = [];
  let start: LogRecord | undefined, last: LogRecord | undefined;
  const close = () => {
    if (last === undefined) return;
    const seconds = last.time_s as number;
    const startStep = (start?.step as number | undefined) ?? 0;
    const startActs = (start?.activations as number | undefined) ?? 0;
    segments.push({
      backend: "not recorded",
      startStep,
      endStep: last.step as number,
      seconds,
      stepsPerSecond: seconds > 0 ? ((last.step as number) - startStep) / seconds : 0,
      activationsPerSecond: seconds > 0 ? ((last.activations as number) - startActs) / seconds : 0,
    });
  };
  for (const record of records) {
    if (typeof record.time_s !== "number" || typeof record.step !== "number") continue;
    if (last !== undefined && (record.time_s as number) < (last.time_s as number)) {
      close();
      start = last;
    }
    last = record;
  }
  close();
  return segments;
}

/** Keeps at most about `max` records: every n-th, the last, and every record with validation or evaluation keys. */
function thin(records: readonly LogRecord[], max: number): LogRecord[] {
  if (records.length <= max) return [...records];
  const stride = Math.ceil(records.length / max);
  return records.filter((record, i) =>
    i % stride === 0 || i === records.length - 1 ||
    Object.keys(record).some((k) => k.startsWith("validate/") || k.startsWith("eval/"))
  );
}

/** Charts in the order shown, with their titles; other per-component metrics follow under "More metrics". */
const CHARTS: readonly { prefix: string; title: string; log?: boolean }[] = [
  { prefix: "loss/total", title: "Loss (total)", log: true },
  { prefix: "loss/l2_reconstruction", title: "Reconstruction loss (L2)", log: true },
  {
    prefix: "loss/l1_learned_activations",
    title: "Sparsity term (L1 of f, before the coefficient)",
    log: true,
  },
  { prefix: "loss/aux", title: "AuxK loss", log: true },
  { prefix: "train/l0_norm", title: "L0 (active features per item)" },
  { prefix: "train/explained_variance", title: "Explained variance" },
  { prefix: "train/dead_fraction", title: "Dead fraction" },
  { prefix: "validate/reconstruction_score", title: "Reconstruction score (validation, SAE spliced in)" },
  { prefix: "validate/kl_div", title: "KL divergence (validation, SAE spliced in)" },
  { prefix: "eval/mmcs", title: "MMCS to the ground-truth features" },
  { prefix: "train/dense_fraction", title: "Dense fraction" },
];

const HIDDEN_PREFIXES = new Set(["train/feature_density_histogram"]);

/** Columns of the final-values table: [label, prefix]. */
const FINAL_COLUMNS: readonly [string, string][] = [
  ["loss", "loss/total"],
  ["L2", "loss/l2_reconstruction"],
  ["L0", "train/l0_norm"],
  ["dead", "train/dead_fraction"],
  ["expl. var.", "train/explained_variance"],
  ["recon. score", "validate/reconstruction_score"],
  ["KL", "validate/kl_div"],
  ["MMCS", "eval/mmcs"],
];

/** `chart-loss-total` from `loss/total`. */
function chartId(prefix: string): string {
  return "chart-" + prefix.replace(/[^A-Za-z0-9]+/g, "-").replace(/^-|-$/g, "");
}

/**
 * Labels of the density histogram's bins, by their upper edge: `≤−7`, `−6`, …, `0`
 * (bin `−6` holds the features whose log10 firing frequency is in (−7, −6]).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { densityBinLabels } from "./report.ts";
 * assert.equal(densityBinLabels([-2, -1, 0]).join(" "), "≤−2 −1 0");
 * ```
 */
export function densityBinLabels(edges: readonly number[] = DENSITY_BIN_EDGES): string[] {
  return edges.map((edge, i) => `${i === 0 ? "≤" : ""}${String(edge).replace("-", "−")}`);
}

/**
 * The charts and histograms of a report, as the JSON its page draws from.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { reportCharts } from "./report.ts";
 * const { charts, histograms } = reportCharts([
 *   { step: 1, "loss/total/a": 2, "loss/total/b": 4, "loss/total/mean": 3, time_s: 1, activations: 8 },
 *   { step: 2, "loss/total/a": 1, "loss/total/b": 3, "loss/total/mean": 2, time_s: 2, activations: 16,
 *     "train/feature_density_histogram/a": [1, 0, 0, 0, 0, 0, 2, 1] },
 * ]);
 * assert.equal(charts[0].id, "chart-loss-total");
 * assert.equal(charts[0].series.length, 3);
 * assert.equal(charts[0].series[1].values.join(), "4,3");
 * assert.equal(histograms[0].counts[6], 2);
 * ```
 */
export function reportCharts(
  records: readonly LogRecord[],
  options: Pick<ReportOptions, "maxPoints"> = {},
): { charts: ChartSpec[]; histograms: HistogramSpec[] } {
  const names = componentNamesOf(records);
  const suffixes = [...names, "mean"].sort((a, b) => b.length - a.length);
  const throughput = throughputOf(records);
  const speedAt = new Map(records.map((r, i) => [r, [throughput.interval[i], throughput.average[i]]]));
  const kept = thin(records, options.maxPoints ?? 2000);
  const x = kept.map((r) => r.step as number);
  const prefixes: string[] = [];
  for (const record of kept) {
    for (const [key, value] of Object.entries(record)) {
      const split = splitKey(key, suffixes);
      if (
        split && typeof value === "number" && !prefixes.includes(split[0]) && !HIDDEN_PREFIXES.has(split[0])
      ) {
        prefixes.push(split[0]);
      }
    }
  }
  const column = (key: string) =>
    kept.map((r) => (typeof r[key] === "number" && Number.isFinite(r[key]) ? r[key] as number : null));
  const chartFor = (prefix: string, title: string, log: boolean, group: ChartSpec["group"]): ChartSpec => {
    const series = names.map((name, i) => ({
      label: name,
      colour: REPORT_PALETTE[i % REPORT_PALETTE.length],
      mean: false,
      values: column(`${prefix}/${name}`),
    }));
    if (names.length > 1 && kept.some((r) => typeof r[`${prefix}/mean`] === "number")) {
      series.push({ label: "mean", colour: MEAN_COLOUR, mean: true, values: column(`${prefix}/mean`) });
    }
    const positive = series.every((s) => s.values.every((v) => v === null || v > 0));
    return { id: chartId(prefix), group, title, xLabel: "step", log: log && positive, x, series };
  };
  const charts: ChartSpec[] = [];
  for (const { prefix, title, log } of CHARTS) {
    if (prefixes.includes(prefix)) charts.push(chartFor(prefix, title, log ?? false, "main"));
  }
  const lr = column("lr");
  if (lr.some((v) => v !== null)) {
    charts.push({
      id: "chart-lr",
      group: "main",
      title: "Learning rate",
      xLabel: "step",
      log: false,
      x,
      series: [{ label: "lr", colour: REPORT_PALETTE[0], mean: false, values: lr }],
    });
  }
  const speed = kept.map((r) => speedAt.get(r)!);
  if (speed.some(([a, b]) => a !== null || b !== null)) {
    charts.push({
      id: "chart-throughput",
      group: "main",
      title: "Speed (activations per second)",
      xLabel: "step",
      log: speed.every(([a, b]) => (a === null || a > 0) && (b === null || b > 0)),
      x,
      series: [
        {
          label: "average since start",
          colour: REPORT_PALETTE[0],
          mean: false,
          values: speed.map(([, b]) => b),
        },
        { label: "between logs", colour: REPORT_PALETTE[9], mean: false, values: speed.map(([a]) => a) },
      ],
    });
  }

  for (const prefix of prefixes) {
    if (!CHARTS.some((c) => c.prefix === prefix)) charts.push(chartFor(prefix, prefix, false, "more"));
  }

  const labels = densityBinLabels();
  const histograms: HistogramSpec[] = [];
  names.forEach((name, i) => {
    for (let r = records.length - 1; r >= 0; r--) {
      const counts = records[r][`train/feature_density_histogram/${name}`];
      if (Array.isArray(counts)) {
        histograms.push({
          id: `histogram-${i}`,
          title: name,
          colour: REPORT_PALETTE[i % REPORT_PALETTE.length],
          step: records[r].step as number,
          labels: labels.slice(0, counts.length),
          counts,
        });
        return;
      }
    }
  });
  return { charts, histograms };
}

/**
 * Escapes text for HTML element content and attribute values.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { escapeHtml } from "./report.ts";
 * assert.equal(escapeHtml(`<a href="x">&'`), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
 * ```
 */
export function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );
}

/** JSON that is safe inside a `<script>` element: no `<` can close it. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(
    /\u2029/g,
    "\\u2029",
  );
}

/** Refuses embedded code that would close its own element early. */
function inlineSafe(code: string, tag: "script" | "style", what: string): string {
  if (new RegExp(`</${tag}`, "i").test(code)) {
    throw new Error(`${what}: expected code without "</${tag}", which would end the inline <${tag}> early`);
  }
  return code;
}

function formatValue(value: unknown): string {
  if (typeof value !== "number") return "–";
  if (!Number.isFinite(value)) return String(value);
  const a = Math.abs(value);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return value.toExponential(3);
  return a >= 100 ? value.toFixed(1) : Number(value.toPrecision(4)).toString();
}

function formatRate(value: number): string {
  return value >= 100 ? Math.round(value).toLocaleString("en-US") : value.toPrecision(3);
}

function configValue(value: unknown): string {
  if (value === null || value === undefined) return "null";
  return typeof value === "string" ? value : JSON.stringify(value);
}

function finalTable(last: LogRecord | undefined, names: readonly string[]): string {
  if (last === undefined) return "<p>No logs yet.</p>";
  const columns = FINAL_COLUMNS.filter(([, prefix]) =>
    typeof last[`${prefix}/mean`] === "number" ||
    names.some((n) => typeof last[`${prefix}/${n}`] === "number")
  );
  // Validation runs less often than logging: take its last value from wherever it was logged.
  const rows = [...names, ...(names.length > 1 ? ["mean"] : [])].map((name) =>
    `<tr><th scope="row">${escapeHtml(name)}</th>${
      columns.map(([, prefix]) => `<td>${escapeHtml(formatValue(last[`${prefix}/${name}`]))}</td>`).join("")
    }</tr>`
  );
  return `<table class="values"><thead><tr><th>component</th>${
    columns.map(([label]) => `<th>${escapeHtml(label)}</th>`).join("")
  }</tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

/** The last value of every key over all records, so that sparse keys (validation) show their latest value. */
function latestValues(records: readonly LogRecord[]): LogRecord | undefined {
  if (records.length === 0) return undefined;
  return Object.assign({}, ...records) as LogRecord;
}

function speedTable(segments: readonly RunSegment[], fromMetrics: boolean): string {
  if (segments.length === 0) return "<p>No timing recorded.</p>";
  const machine = (m: MachineInfo | undefined) =>
    m === undefined ? "–" : [
      `${m.os}/${m.arch}`,
      `${m.cpus} CPU${m.cpus === 1 ? "" : "s"}${m.cpuModel ? ` (${m.cpuModel})` : ""}`,
      m.memoryGiB !== undefined ? `${m.memoryGiB.toFixed(0)} GiB` : "",
      `Deno ${m.deno}`,
    ].filter(Boolean).join(", ");
  const rows = segments.map((s) =>
    `<tr><td>${escapeHtml(s.backend)}${
      s.skipped?.length ? `<div class="note">skipped: ${escapeHtml(s.skipped.join("; "))}</div>` : ""
    }</td><td>${s.startStep} → ${s.endStep}</td><td>${s.seconds.toFixed(1)}</td><td>${
      formatRate(s.stepsPerSecond)
    }</td><td>${formatRate(s.activationsPerSecond)}</td><td>${escapeHtml(s.stopped ?? "–")}</td><td>${
      escapeHtml(machine(s.machine))
    }</td></tr>`
  );
  return `<table class="values" id="speed"><thead><tr><th>backend</th><th>steps</th><th>seconds</th>` +
    `<th>steps/s</th><th>activations/s</th><th>ended</th><th>machine</th></tr></thead><tbody>${
      rows.join("")
    }</tbody></table>` +
    (fromMetrics
      ? `<p class="note">No run.json in this folder: speed from metrics.jsonl's <code>time_s</code>; the backend was not recorded.</p>`
      : "");
}

function configTable(config: Record<string, unknown>): string {
  const rows = Object.entries(config).map(([key, value]) =>
    `<tr><th scope="row">${escapeHtml(key)}</th><td>${escapeHtml(configValue(value))}</td></tr>`
  );
  return `<table class="config" id="config"><tbody>${rows.join("")}</tbody></table>`;
}

const STYLE = `
:root { color-scheme: light; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; }
body { margin: 0 auto; padding: 16px 24px 48px; max-width: 1400px; background: #fff; }
h1 { font-size: 1.5rem; margin: 0.4rem 0; }
h2 { font-size: 1.15rem; margin: 1.8rem 0 0.6rem; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 0.95rem; margin: 0 0 4px; font-weight: 600; }
.sub, .note { color: #666; font-size: 0.85rem; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 18px 24px; }
.grid.small { grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); }
.panel { min-width: 0; }
.chart { width: 100%; }
table.values, table.config { border-collapse: collapse; font-size: 0.85rem; font-variant-numeric: tabular-nums; }
table.values th, table.values td, table.config th, table.config td { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: right; }
table.values th:first-child, table.values td:first-child, table.config th, table.config td { text-align: left; }
table.config td { font-family: ui-monospace, monospace; word-break: break-all; }
.config-wrap { columns: 2 520px; }
.u-legend { font-size: 0.72rem; line-height: 1.25; }
.u-legend .u-series { padding: 0 4px; }
.u-legend .u-series th { font-weight: 500; }
footer { margin-top: 2rem; color: #888; font-size: 0.78rem; }
`;

/**
 * The report of a run as one self-contained HTML document: charts drawn by the
 * embedded uPlot from the embedded JSON, tables rendered here. Pure.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderReport } from "./report.ts";
 * const html = renderReport({
 *   name: "runs/<b>demo</b>",
 *   config: { arch: "relu", dIn: 4, dSae: 8 },
 *   metrics: [{ step: 1, activations: 8, time_s: 0.5, "loss/total/a": 0.5, "train/l0_norm/a": 3 }],
 * });
 * assert.ok(html.startsWith("<!doctype html>"));
 * assert.ok(html.includes("runs/&lt;b&gt;demo&lt;/b&gt;"));
 * assert.ok(html.includes('id="chart-loss-total"'));
 * assert.ok(!html.includes("<b>demo"));
 * ```
 */
export function renderReport(run: RunData, options: ReportOptions = {}): string {
  const { metrics, config } = run;
  const names = componentNamesOf(metrics);
  const { charts, histograms } = reportCharts(metrics, options);
  const last = metrics.at(-1);
  const fromMetrics = run.run === undefined || run.run.segments.length === 0;
  const segments = fromMetrics ? segmentsFromMetrics(metrics) : run.run!.segments;
  const dIn = typeof config.dIn === "number" ? config.dIn : undefined;
  const dSae = typeof config.dSae === "number"
    ? config.dSae
    : dIn !== undefined && typeof config.expansionFactor === "number"
    ? Math.round(dIn * config.expansionFactor)
    : undefined;
  const planned = typeof config.steps === "number"
    ? config.steps
    : typeof config.maxActivations === "number" && typeof config.batchSize === "number"
    ? Math.floor(config.maxActivations / config.batchSize)
    : undefined;
  const backends = [...new Set(segments.map((s) => s.backend))].join(", ");
  const totalSeconds = segments.reduce((sum, s) => sum + s.seconds, 0);
  const facts = [
    typeof config.arch === "string" ? `architecture ${config.arch}` : "",
    names.length ? `${names.length} component${names.length === 1 ? "" : "s"}` : "",
    dIn !== undefined && dSae !== undefined ? `${dIn} → ${dSae} features` : "",
    last !== undefined ? `step ${last.step}${planned !== undefined ? ` of ${planned}` : ""}` : "no logs yet",
    typeof last?.activations === "number"
      ? `${(last.activations as number).toLocaleString("en-US")} activations`
      : "",
    segments.length ? `backend ${backends}` : "",
    totalSeconds > 0 ? `${totalSeconds.toFixed(1)} s` : "",
  ].filter(Boolean);
  const panel = (spec: { id: string; title: string }, cls = "chart") =>
    `<div class="panel"><h3>${escapeHtml(spec.title)}</h3><div class="${cls}" id="${
      escapeHtml(spec.id)
    }"></div></div>`;
  const histogramStep = histograms[0]?.step;
  const payload = { charts, histograms };
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="saekit">
<title>${escapeHtml(`saekit report: ${run.name}`)}</title>
<style>${inlineSafe(UPLOT_CSS, "style", "uPlot's CSS")}</style>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>Training report: ${escapeHtml(run.name)}</h1>
<div class="sub" id="facts">${facts.map(escapeHtml).join(" · ")}</div>
</header>
<h2>Final values</h2>
<div id="final">${finalTable(latestValues(metrics), names)}</div>
<p class="note">The last logged value of each metric; validation metrics from the last validation.</p>
<h2>Over training</h2>
<p class="note">One line per component${
    names.length > 1 ? ", the mean over components dashed" : ""
  }. Drag to zoom, double-click to reset; hover for values. Loss charts use a log scale.</p>
<div class="grid" id="charts">${
    charts.filter((c) => c.group === "main").map((c) => panel(c)).join("\n")
  }</div>
<h2>Feature density${histogramStep !== undefined ? ` at step ${histogramStep}` : ""}</h2>
<p class="note">Features per bin of log10 firing frequency over the last log window: the bin labelled −3 holds the features that fired on more than 10⁻⁴ and at most 10⁻³ of the inputs; features that never fired are in the first bin.</p>
<div class="grid small" id="histograms">${
    histograms.length ? histograms.map((h) => panel(h)).join("\n") : "<p>No density histogram logged.</p>"
  }</div>
${
    charts.some((c) => c.group === "more")
      ? `<h2>More metrics</h2>\n<div class="grid" id="more-charts">${
        charts.filter((c) => c.group === "more").map((c) => panel(c)).join("\n")
      }</div>`
      : ""
  }
<h2>Backend and speed</h2>
${speedTable(segments, fromMetrics)}
<h2>Configuration</h2>
<div class="config-wrap">${configTable(config)}</div>
<footer>saekit${
    options.generatedAt ? ` · generated ${escapeHtml(options.generatedAt)}` : ""
  } · charts by uPlot ${escapeHtml(UPLOT_VERSION)} (MIT licence, © Leon Sorokin), embedded</footer>
<script type="application/json" id="saekit-data">${scriptJson(payload)}</script>
<script>${inlineSafe(UPLOT_JS, "script", "uPlot")}</script>
<script>${inlineSafe(CLIENT_JS, "script", "client.js")}</script>
</body>
</html>
`;
}

async function readJsonFile(path: string): Promise<unknown> {
  const text = await Deno.readTextFile(path);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new SyntaxError(`${path}: expected JSON (${error instanceof Error ? error.message : error})`);
  }
}

/** Options of {@linkcode readRun} and {@linkcode writeReport}. */
export type ReadRunOptions = {
  /** Warnings (a torn last line of `metrics.jsonl` ignored); `console.warn` by default. */
  readonly warn?: (message: string) => void;
};

/**
 * Reads a run folder's `config.json`, `metrics.jsonl` and, when present,
 * `run.json`. A torn last line of `metrics.jsonl` (a run stopped while writing
 * it) is left out with a warning; any other line that is not a JSON object is
 * an error naming the file and the line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readRun } from "./report.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/config.json`, "{}");
 * await Deno.writeTextFile(`${dir}/metrics.jsonl`, '{"step":1}\n{"step":2,"loss/to');
 * const warnings: string[] = [];
 * const run = await readRun(dir, { warn: (w) => warnings.push(w) });
 * assert.deepEqual(run.metrics, [{ step: 1 }]);
 * assert.equal(
 *   warnings.join(),
 *   `${dir}/metrics.jsonl line 2: ignored a torn last line (a run stopped while writing it): {"step":2,"loss/to`,
 * );
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readRun(dir: string, options: ReadRunOptions = {}): Promise<RunData> {
  const path = (name: string) => `${dir.replace(/\/+$/, "")}/${name}`;
  let config: unknown, metricsText: string;
  try {
    config = await readJsonFile(path("config.json"));
    metricsText = await Deno.readTextFile(path("metrics.jsonl"));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(
        `${dir}: expected a run folder with config.json and metrics.jsonl (from deno task train --out DIR), ${
          error.message.includes("metrics") ? "metrics.jsonl" : "config.json"
        } not found`,
      );
    }
    throw error;
  }
  if (config === null || typeof config !== "object" || Array.isArray(config)) {
    throw new TypeError(`${path("config.json")}: expected a JSON object, received ${JSON.stringify(config)}`);
  }
  let run: RunInfo | undefined;
  try {
    run = await readJsonFile(path("run.json")) as RunInfo;
    if (!Array.isArray(run?.segments)) {
      throw new TypeError(
        `${path("run.json")}: segments: expected an array, received ${JSON.stringify(run)}`,
      );
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const name = dir.replace(/\/+$/, "").split("/").slice(-2).join("/") || dir;
  const { text, torn } = dropTornLastLine(metricsText);
  if (torn !== undefined) {
    (options.warn ?? ((message: string) => console.warn(`saekit: warning: ${message}`)))(
      tornLineWarning(path("metrics.jsonl"), torn),
    );
  }
  return {
    name,
    config: config as Record<string, unknown>,
    metrics: parseMetricsJsonl(text, path("metrics.jsonl")),
    run,
  };
}

/** Renders `DIR/report.html` from the run folder's files (atomically); returns its path. */
export async function writeReport(
  dir: string,
  options: ReportOptions & ReadRunOptions = {},
): Promise<string> {
  const run = await readRun(dir, options);
  const html = renderReport(run, {
    generatedAt: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    ...options,
  });
  const path = `${dir.replace(/\/+$/, "")}/report.html`;
  await writeTextAtomic(path, html);
  return path;
}

/** What this process runs on; fields it may not read are left out. */
export async function machineInfo(): Promise<MachineInfo> {
  let cpuModel: string | undefined, memoryGiB: number | undefined;
  try {
    const cpuinfo = await Deno.readTextFile("/proc/cpuinfo");
    cpuModel = cpuinfo.match(/^model name\s*:\s*(.+)$/m)?.[1]?.trim();
  } catch { /* not Linux, or not allowed: Deno grants /proc/cpuinfo only with --allow-all */ }
  try {
    memoryGiB = Deno.systemMemoryInfo().total / 2 ** 30;
  } catch { /* no --allow-sys */ }
  return {
    os: Deno.build.os,
    arch: Deno.build.arch,
    cpus: navigator.hardwareConcurrency,
    ...(cpuModel ? { cpuModel } : {}),
    ...(memoryGiB !== undefined ? { memoryGiB: Number(memoryGiB.toFixed(1)) } : {}),
    deno: Deno.version.deno,
  };
}

/** What the train command knows at the end of a process's part of a run. */
export type SegmentFacts = {
  readonly backend: string;
  readonly skipped?: readonly string[];
  readonly startStep: number;
  readonly endStep: number;
  readonly seconds: number;
  readonly batchSize: number;
  readonly stopped?: string;
};

/**
 * Appends this process's segment (backend, machine, speed) to `DIR/run.json`.
 * A fresh run (`startStep` 0) starts the file anew; a resumed one keeps the
 * segments that ended at or before its start.
 */
export async function recordRunSegment(dir: string, facts: SegmentFacts): Promise<RunSegment> {
  const path = `${dir.replace(/\/+$/, "")}/run.json`;
  let earlier: RunSegment[] = [];
  if (facts.startStep > 0) {
    try {
      const saved = await readJsonFile(path) as RunInfo;
      if (Array.isArray(saved?.segments)) {
        earlier = saved.segments.filter((s) => s.endStep <= facts.startStep);
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  const steps = facts.endStep - facts.startStep;
  const segment: RunSegment = {
    backend: facts.backend,
    ...(facts.skipped?.length ? { skipped: facts.skipped } : {}),
    machine: await machineInfo(),
    startStep: facts.startStep,
    endStep: facts.endStep,
    seconds: Number(facts.seconds.toFixed(3)),
    stepsPerSecond: facts.seconds > 0 ? steps / facts.seconds : 0,
    activationsPerSecond: facts.seconds > 0 ? (steps * facts.batchSize) / facts.seconds : 0,
    ...(facts.stopped ? { stopped: facts.stopped } : {}),
    finishedAt: new Date().toISOString(),
  };
  await writeTextAtomic(path, JSON.stringify({ segments: [...earlier, segment] }, null, 2) + "\n");
  return segment;
}

/**
 * The end of `deno task train`: records the segment in `run.json` and writes
 * `report.html`; returns the report's path.
 */
export async function finishRunReport(dir: string, facts: SegmentFacts): Promise<string> {
  await recordRunSegment(dir, facts);
  return await writeReport(dir);
}

const REPORT_FLAGS = {
  help: { type: "boolean", short: "h", description: "Print this help and exit" },
} as const satisfies FlagTable;

/**
 * The help of `deno task report`, with the flags it parses.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatHelp } from "../cli/help.ts";
 * import { REPORT_HELP } from "./report.ts";
 * assert.match(formatHelp(REPORT_HELP), /^deno task report DIR \[DIR \.\.\.\]\n/);
 * ```
 */
export const REPORT_HELP: CommandHelp = {
  usage: ["deno task report DIR [DIR ...]"],
  about: [
    "Writes DIR/report.html for each run folder (from deno task train --out DIR): the loss terms, L0, " +
    "explained variance, dead fraction and reconstruction score over training per component, the " +
    "feature-density histogram, the configuration, and the backend and speed. One self-contained file: open " +
    "it in any browser, offline.",
  ],
  groups: [{ title: "Options", flags: REPORT_FLAGS }],
};

/** Runs `deno task report`; returns the exit code. */
export async function runReportCommand(
  args: readonly string[],
  write: (text: string) => void = (t) => Deno.stdout.writeSync(new TextEncoder().encode(t)),
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: REPORT_FLAGS,
  });
  if (values.help) {
    write(formatHelp(REPORT_HELP));
    return 0;
  }
  if (positionals.length === 0) {
    throw new TypeError(`DIR: expected a run folder (deno task report runs/NAME), received none`);
  }
  for (const dir of positionals) {
    const path = await writeReport(dir, { warn: (message) => write(`warning: ${message}\n`) });
    const absolute = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
    write(`report: ${path} (open file://${encodeURI(absolute)})\n`);
  }
  return 0;
}

/** Entry point of `tasks/report.ts`: prints errors without a stack trace. */
export async function main(args: readonly string[]): Promise<void> {
  try {
    Deno.exitCode = await runReportCommand(args);
  } catch (error) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    Deno.stderr.writeSync(new TextEncoder().encode(`saekit report: ${message}\n`));
    Deno.exitCode = 2;
  }
}
