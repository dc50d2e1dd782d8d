// The training report's own script, run in the browser after uPlot: draws the
// charts described by the JSON in the page's "saekit-data" script element. lib/report/report.ts
// embeds this file as text; it is never imported as a module.
(() => {
  const data = JSON.parse(document.getElementById("saekit-data").textContent);
  const drawn = [];

  const formatNumber = (v) => {
    if (v === null || v === undefined || !Number.isFinite(v)) return "–";
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e9 || a < 1e-3)) return v.toExponential(2);
    return a >= 100 ? Math.round(v).toLocaleString("en-US") : Number(v.toPrecision(4)).toString();
  };

  const widthOf = (el) => Math.max(280, Math.floor(el.getBoundingClientRect().width));

  // uPlot widens a flat series to 0…100; keep it close to its value instead.
  const linearRange = (_, lo, hi) => {
    if (lo === null || hi === null) return [0, 1];
    if (hi - lo < 1e-12) {
      const pad = Math.abs(lo) * 0.1 || 0.01;
      return [lo >= 0 && lo - pad < 0 ? 0 : lo - pad, hi + pad];
    }
    return uPlot.rangeNum(lo, hi, 0.1, true);
  };

  for (const spec of data.charts) {
    const el = document.getElementById(spec.id);
    if (!el) continue;
    const few = spec.series.every((s) => s.values.filter((v) => v !== null).length < 40);
    const opts = {
      width: widthOf(el),
      height: 240,
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
      scales: { x: { time: false }, y: spec.log ? { distr: 3 } : { range: linearRange } },
      axes: [
        { label: spec.xLabel, values: (_, ticks) => ticks.map(formatNumber) },
        { values: (_, ticks) => ticks.map(formatNumber), size: 72 },
      ],
      series: [
        { label: spec.xLabel, value: (_, v) => formatNumber(v) },
        ...spec.series.map((s) => ({
          label: s.label,
          stroke: s.colour,
          width: s.mean ? 2 : 1.5,
          dash: s.mean ? [6, 4] : undefined,
          spanGaps: true,
          points: { show: few, size: 5 },
          value: (_, v) => formatNumber(v),
        })),
      ],
    };
    drawn.push({ el, plot: new uPlot(opts, [spec.x, ...spec.series.map((s) => s.values)], el) });
  }

  for (const spec of data.histograms) {
    const el = document.getElementById(spec.id);
    if (!el) continue;
    const opts = {
      width: widthOf(el),
      height: 200,
      legend: { show: false },
      cursor: { show: false },
      scales: {
        x: { time: false, range: [-0.5, spec.labels.length - 0.5] },
        y: { range: (_, _lo, hi) => [0, hi * 1.1 || 1] },
      },
      axes: [
        {
          label: "log10 firing frequency (bin upper edge)",
          splits: () => spec.labels.map((_, i) => i),
          values: (_, ticks) => ticks.map((t) => spec.labels[t] ?? ""),
        },
        { label: "features", size: 50 },
      ],
      series: [
        {},
        {
          label: spec.title,
          stroke: spec.colour,
          fill: spec.colour + "99",
          paths: uPlot.paths.bars({ size: [0.8, Infinity] }),
          points: { show: false },
        },
      ],
    };
    const x = spec.labels.map((_, i) => i);
    drawn.push({ el, plot: new uPlot(opts, [x, spec.counts], el) });
  }

  let pending = 0;
  addEventListener("resize", () => {
    cancelAnimationFrame(pending);
    pending = requestAnimationFrame(() => {
      for (const { el, plot } of drawn) plot.setSize({ width: widthOf(el), height: plot.height });
    });
  });
  globalThis.saekitReport = { ready: true, charts: drawn.length };
})();
