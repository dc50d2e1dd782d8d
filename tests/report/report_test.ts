import { assert } from "../_helpers.ts";
import {
  componentNamesOf,
  densityBinLabels,
  escapeHtml,
  MEAN_COLOUR,
  parseMetricsJsonl,
  readRun,
  recordRunSegment,
  renderReport,
  REPORT_PALETTE,
  reportCharts,
  runReportCommand,
  segmentsFromMetrics,
  throughputOf,
  UPLOT_VERSION,
} from "../../lib/report/report.ts";
import type { LogRecord } from "../../lib/run/runner.ts";
import { runTrainCommand, withDefaultOut } from "../../lib/cli/train.ts";
import { browserTest, decodePng, type Image, inkFraction } from "../_browser.ts";

/** Two components "a" and "b", logged every 10 steps of 100 activations, 1 s per log. */
function logs(n: number, extra: (i: number) => LogRecord = () => ({})): LogRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    step: 10 * (i + 1),
    activations: 1000 * (i + 1),
    lr: 0.001,
    time_s: i + 1,
    "loss/total/a": 1 / (i + 1),
    "loss/total/b": 2 / (i + 1),
    "loss/total/mean": 1.5 / (i + 1),
    "train/l0_norm/a": 10 + i,
    "train/l0_norm/b": 20 + i,
    "train/l0_norm/mean": 15 + i,
    "train/feature_density_histogram/a": [i, 0, 0, 0, 0, 1, 2, 3],
    "train/feature_density_histogram/b": [0, 0, 0, 0, 0, 0, 4, 4],
    ...extra(i),
  }));
}

/** The JSON payload a report's page draws from. */
function payloadOf(html: string): ReturnType<typeof reportCharts> {
  const match = html.match(/<script type="application\/json" id="saekit-data">(.*?)<\/script>/s);
  assert.ok(match, "the report embeds its data in <script id=saekit-data>");
  return JSON.parse(match[1]);
}

Deno.test("parseMetricsJsonl() skips blank lines and names the line of bad JSON", () => {
  assert.deepEqual(parseMetricsJsonl('{"step":1}\n\n{"step":2}\n'), [{ step: 1 }, { step: 2 }]);
  assert.throws(
    () => parseMetricsJsonl('{"step":1}\n{"step":'),
    /metrics\.jsonl line 2: expected a JSON object/,
  );
  assert.throws(() => parseMetricsJsonl("[1]"), /line 1: expected a JSON object, received \[1\]/);
});

Deno.test("componentNamesOf() reads the loss/total keys, names with dots and slashes included", () => {
  assert.deepEqual(
    componentNamesOf([{ "loss/total/blocks.0.x": 1, "loss/total/a/b": 2, "loss/total/mean": 1.5, step: 1 }]),
    ["blocks.0.x", "a/b"],
  );
});

Deno.test("throughputOf() and segmentsFromMetrics() restart where time_s restarts (a resumed run)", () => {
  const records: LogRecord[] = [
    { step: 10, activations: 1000, time_s: 2 },
    { step: 20, activations: 2000, time_s: 3 },
    // resumed at step 20: time_s counts from the new process's start
    { step: 30, activations: 3000, time_s: 2 },
    { step: 40, activations: 4000, time_s: 2.5 },
  ];
  const { interval, average } = throughputOf(records);
  // 1000/2, 1000/1, then 1000/2 (a fresh process), 1000/0.5
  assert.deepEqual(interval, [500, 1000, 500, 2000]);
  // 1000/2, 2000/3, then (3000 − 2000)/2, (4000 − 2000)/2.5
  assert.deepEqual(average, [500, 2000 / 3, 500, 800]);
  const segments = segmentsFromMetrics(records);
  assert.deepEqual(segments.map((s) => [s.startStep, s.endStep, s.seconds]), [[0, 20, 3], [20, 40, 2.5]]);
  assert.equal(segments[1].stepsPerSecond, 8);
  assert.equal(segments[1].activationsPerSecond, 800);
});

Deno.test("reportCharts() draws one line per component plus the mean, in the palette's colours", () => {
  const { charts, histograms } = reportCharts(logs(3));
  assert.deepEqual(charts.map((c) => c.id), [
    "chart-loss-total",
    "chart-train-l0-norm",
    "chart-lr",
    "chart-throughput",
  ]);
  const loss = charts[0];
  assert.deepEqual(loss.x, [10, 20, 30]);
  assert.deepEqual(loss.series.map((s) => [s.label, s.colour, s.mean]), [
    ["a", REPORT_PALETTE[0], false],
    ["b", REPORT_PALETTE[1], false],
    ["mean", MEAN_COLOUR, true],
  ]);
  assert.deepEqual(loss.series[1].values, [2, 1, 2 / 3]);
  assert.equal(loss.log, true);
  assert.equal(charts[1].log, false);
  // the density histogram comes from the last log
  assert.deepEqual(histograms.map((h) => [h.title, h.step, h.counts]), [
    ["a", 30, [2, 0, 0, 0, 0, 1, 2, 3]],
    ["b", 30, [0, 0, 0, 0, 0, 0, 4, 4]],
  ]);
  assert.deepEqual(histograms[0].labels, densityBinLabels());
  assert.deepEqual(densityBinLabels(), ["≤−7", "−6", "−5", "−4", "−3", "−2", "−1", "0"]);
});

Deno.test("reportCharts() puts unknown metrics under 'more', keeps sparse validation logs and thins long runs", () => {
  // 5000 logs, validated every 1000th: 2000 points at most, every 3rd log, the last and every validation kept.
  const records = logs(
    5000,
    (i): LogRecord =>
      i % 1000 === 999
        ? { "validate/reconstruction_score/a": 0.5, "validate/reconstruction_score/b": 0.7, "custom/x/a": 1 }
        : {},
  );
  const { charts } = reportCharts(records);
  const score = charts.find((c) => c.id === "chart-validate-reconstruction-score")!;
  assert.ok(score.x.length <= 2000 + 5, `expected about 2000 points, received ${score.x.length}`);
  assert.equal(score.x.at(-1), 50000);
  for (const step of [10000, 20000, 30000, 40000, 50000]) {
    assert.ok(score.x.includes(step), `step ${step} kept`);
  }
  assert.equal(score.series[0].values.filter((v) => v !== null).length, 5);
  assert.equal(score.group, "main");
  assert.equal(charts.find((c) => c.id === "chart-custom-x")?.group, "more");
  // NaN is logged as null by JSON.stringify and stays a gap
  assert.deepEqual(reportCharts([{ step: 1, "loss/total/a": NaN }]).charts[0].series[0].values, [null]);
});

Deno.test("renderReport() embeds the data, uPlot and the tables, and escapes what it shows", () => {
  const evil = `</script><img src=x onerror="alert(1)">`;
  const html = renderReport({
    name: "runs/<demo>",
    config: { arch: "relu", dIn: 4, dSae: 8, steps: 30, componentNames: [evil, "b"], note: evil },
    metrics: logs(3, () => ({ [`loss/total/${evil}`]: 1 })),
    run: {
      segments: [{
        backend: "blas",
        machine: { os: "linux", arch: "x86_64", cpus: 2, deno: "2.9.6" },
        startStep: 0,
        endStep: 30,
        seconds: 3,
        stepsPerSecond: 10,
        activationsPerSecond: 1000,
        stopped: "completed",
      }],
    },
  }, { generatedAt: "2025-01-01T00:00:00Z" });
  assert.ok(html.startsWith("<!doctype html>"));
  assert.ok(html.includes("<title>saekit report: runs/&lt;demo&gt;</title>"));
  // the evil string appears only escaped: in the config table and, with < as \u003c, in the JSON
  assert.equal(html.split(evil).length, 1, "unescaped text in the page");
  assert.ok(html.includes(escapeHtml(evil)));
  assert.equal(html.match(/<\/script>/g)?.length, 3, "one data and two code scripts, each closed once");
  assert.equal(html.match(/<script/g)?.length, 3);
  // the page's data round-trips
  const payload = payloadOf(html);
  assert.deepEqual(
    payload,
    JSON.parse(JSON.stringify(reportCharts(logs(3, () => ({ [`loss/total/${evil}`]: 1 }))))),
  );
  assert.deepEqual(payload.charts[0].series.map((s) => s.label), ["a", "b", evil, "mean"]);
  // offline: uPlot inline, nothing loaded from elsewhere
  assert.ok(html.includes(`https://github.com/leeoniya/uPlot (v${UPLOT_VERSION})`));
  assert.match(UPLOT_VERSION, /^\d+\.\d+\.\d+$/);
  assert.doesNotMatch(html, /<(script|link|img)[^>]+(src|href)=/);
  // tables: final values, speed with the backend, configuration
  assert.match(html, /<th scope="row">a<\/th><td>0\.3333<\/td><td>12<\/td>/);
  assert.match(
    html,
    /<td>blas<\/td><td>0 → 30<\/td><td>3\.0<\/td><td>10\.0<\/td><td>1,000<\/td><td>completed<\/td>/,
  );
  assert.ok(html.includes("linux/x86_64, 2 CPUs, Deno 2.9.6"));
  assert.ok(html.includes('<tr><th scope="row">dIn</th><td>4</td></tr>'));
  assert.ok(html.includes("architecture relu · 3 components · 4 → 8 features · step 30 of 30"));
  assert.ok(html.includes("generated 2025-01-01T00:00:00Z"));
});

Deno.test("renderReport() without run.json takes the speed from metrics.jsonl and says so", () => {
  const html = renderReport({ name: "r", config: {}, metrics: logs(2) });
  assert.match(html, /<td>not recorded<\/td><td>0 → 20<\/td><td>2\.0<\/td><td>10\.0<\/td><td>1,000<\/td>/);
  assert.match(html, /No run\.json in this folder/);
  const empty = renderReport({ name: "r", config: {}, metrics: [] });
  assert.match(empty, /No logs yet/);
  assert.deepEqual(payloadOf(empty), { charts: [], histograms: [] });
});

Deno.test("recordRunSegment() starts run.json anew, and a resumed run appends to the segments before it", async () => {
  const dir = await Deno.makeTempDir();
  const facts = {
    backend: "cpu",
    startStep: 0,
    endStep: 10,
    seconds: 2,
    batchSize: 64,
    stopped: "completed",
  };
  const first = await recordRunSegment(dir, facts);
  assert.equal(first.stepsPerSecond, 5);
  assert.equal(first.activationsPerSecond, 320); // 10 steps × 64 / 2 s
  assert.equal(first.machine?.deno, Deno.version.deno);
  await recordRunSegment(dir, { ...facts, backend: "wasm", startStep: 10, endStep: 30, seconds: 4 });
  let saved = JSON.parse(await Deno.readTextFile(`${dir}/run.json`));
  assert.deepEqual(saved.segments.map((s: { backend: string }) => s.backend), ["cpu", "wasm"]);
  // resuming from step 10 again drops the segment that went past it
  await recordRunSegment(dir, { ...facts, backend: "blas", startStep: 10, endStep: 20, seconds: 1 });
  saved = JSON.parse(await Deno.readTextFile(`${dir}/run.json`));
  assert.deepEqual(saved.segments.map((s: { backend: string }) => s.backend), ["cpu", "blas"]);
  await recordRunSegment(dir, facts);
  saved = JSON.parse(await Deno.readTextFile(`${dir}/run.json`));
  assert.equal(saved.segments.length, 1);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("deno task report DIR writes DIR/report.html; a folder that is not a run is named in the error", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify({ arch: "topk" }));
  await Deno.writeTextFile(`${dir}/metrics.jsonl`, logs(2).map((r) => JSON.stringify(r)).join("\n") + "\n");
  let text = "";
  assert.equal(await runReportCommand([dir], (t) => void (text += t)), 0);
  assert.match(text, new RegExp(`report: ${dir}/report\\.html \\(open file://`));
  const run = await readRun(dir);
  assert.equal(run.metrics.length, 2);
  assert.equal(run.run, undefined);
  assert.ok((await Deno.readTextFile(`${dir}/report.html`)).includes("architecture topk"));
  await assert.rejects(() => runReportCommand([]), /DIR: expected a run folder/);
  await Deno.remove(`${dir}/metrics.jsonl`);
  await assert.rejects(
    () => runReportCommand([dir], () => {}),
    /expected a run folder with config\.json and metrics\.jsonl .* metrics\.jsonl not found/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("withDefaultOut(): deno task train without --out or --resume writes runs/<date-time>", () => {
  const now = new Date("2025-03-04T05:06:07.890Z");
  assert.deepEqual(withDefaultOut([], now), ["--out", "runs/2025-03-04T05-06-07"]);
  for (const args of [["--out", "x"], ["--out=x"], ["--resume", "r"], ["--help"], ["-h"]]) {
    assert.deepEqual(withDefaultOut(args, now), args);
  }
});

/** A finished toy run with its report, trained by the CLI. */
async function toyRun(): Promise<{ dir: string; text: string }> {
  const dir = await Deno.makeTempDir({ prefix: "saekit-report-" });
  let text = "";
  const code = await runTrainCommand([
    ...["--source", "toy", "--backend", "cpu", "--batch-size", "64", "--store-size", "256"],
    ...["--log-every", "3", "--steps", "30", "--out", dir],
  ], { write: (t) => void (text += t), isTerminal: false, signal: new AbortController().signal });
  assert.equal(code, 0);
  return { dir, text };
}

Deno.test("deno task train writes run.json and report.html at the end and prints the report's path", async () => {
  const { dir, text } = await toyRun();
  assert.match(text, new RegExp(`report: ${dir}/report\\.html`));
  const run = JSON.parse(await Deno.readTextFile(`${dir}/run.json`));
  assert.equal(run.segments.length, 1);
  assert.equal(run.segments[0].backend, "cpu");
  assert.deepEqual([run.segments[0].startStep, run.segments[0].endStep], [0, 30]);
  assert.ok(run.segments[0].activationsPerSecond > 0);
  const html = await Deno.readTextFile(`${dir}/report.html`);
  const ids = payloadOf(html).charts.map((c) => c.id);
  for (
    const id of [
      "chart-loss-total",
      "chart-train-l0-norm",
      "chart-train-explained-variance",
      "chart-eval-mmcs",
    ]
  ) {
    assert.ok(ids.includes(id), `${id} in ${ids}`);
  }
  await Deno.remove(dir, { recursive: true });
});

/** Pixels within `tolerance` (per channel) of a `#rrggbb` colour. */
function pixelsNear(image: Image, hex: string, tolerance = 16): number {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  let count = 0;
  for (let p = 0; p < image.width * image.height; p++) {
    const [pr, pg, pb] = image.rgba.subarray(p * 4, p * 4 + 3);
    if (Math.abs(pr - r) <= tolerance && Math.abs(pg - g) <= tolerance && Math.abs(pb - b) <= tolerance) {
      count++;
    }
  }
  return count;
}

browserTest(
  "the report opens offline in chromium, draws every chart and shows values on hover",
  async ({ open, errors }) => {
    const { dir } = await toyRun();
    try {
      const page = await open(new URL(`file://${dir}/report.html`));
      await page.waitFor("globalThis.saekitReport?.ready");
      const payload = payloadOf(await Deno.readTextFile(`${dir}/report.html`));
      const drawn = await page.evaluate<number>("globalThis.saekitReport.charts");
      assert.equal(drawn, payload.charts.length + payload.histograms.length);
      assert.equal(await page.evaluate("document.querySelectorAll('.uplot canvas').length"), drawn);
      for (const chart of payload.charts) {
        const image = await decodePng(await page.screenshot({ selector: `#${chart.id} canvas` }));
        assert.ok(
          inkFraction(image) > 0.01,
          `${chart.id}: blank (${inkFraction(image)} of its pixels drawn)`,
        );
        // a series' colour is on the canvas: lines were drawn, not only the axes (lines that coincide,
        // such as dead fractions all at 0, show only the one drawn last)
        const inColour = chart.series.map((s) => pixelsNear(image, s.colour));
        assert.ok(
          Math.max(...inColour) >= 20,
          `${chart.id}: expected lines in its colours, found ${inColour} pixels`,
        );
      }
      for (const histogram of payload.histograms) {
        const image = await decodePng(await page.screenshot({ selector: `#${histogram.id} canvas` }));
        // bars are filled at 60 % opacity over white
        const fill = "#" +
          [1, 3, 5].map((i) =>
            Math.round(0.6 * parseInt(histogram.colour.slice(i, i + 2), 16) + 0.4 * 255).toString(16)
              .padStart(
                2,
                "0",
              )
          ).join("");
        assert.ok(pixelsNear(image, fill, 10) >= 50, `${histogram.id}: expected bars in ${fill}`);
      }
      // hovering the loss chart fills its legend with values
      const legend =
        "document.querySelector('#chart-loss-total .u-legend .u-series:nth-child(2) .u-value').textContent";
      assert.equal(await page.evaluate(legend), "–");
      await page.hover("#chart-loss-total .u-over");
      await page.waitFor(`${legend} !== "–"`);
      assert.match(await page.evaluate<string>(legend), /^[\d.e+-]+$/);
      assert.deepEqual(errors, []);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
