import { assert } from "../_helpers.ts";
import { formatBenchTable, measureStep } from "../../lib/run/bench.ts";

Deno.test("measureStep() reports the median, spread, throughput, backend and peak memory of the step", async () => {
  const r = await measureStep({ batch: 32, dIn: 8, dSae: 16, steps: 3, warmup: 1, backend: "cpu" });
  assert.equal(r.backend, "cpu");
  assert.equal(r.steps, 3);
  assert.ok(r.min_ms <= r.median_ms && r.median_ms <= r.max_ms);
  assert.equal(r.activations_per_s, Math.round(32 / (r.median_ms / 1000)));
  assert.ok(r.peak_rss_mb > 10);
});

Deno.test("formatBenchTable() gives medians of round medians, their range and the speed ratio to the baseline", () => {
  const table = formatBenchTable([
    { label: "saekit (blas)", medians: [400, 500, 450], peakRss: 480, batch: 4096 },
    { label: "PyTorch", medians: [900, 600, 700], peakRss: 730, batch: 4096 },
  ], "PyTorch");
  // saekit: median 450, range 400–500, 4096/0.45 s = 9102 act/s, 700/450 = 1.56×
  assert.match(table, /\| saekit \(blas\) \| 450 \| 400–500 \| 9102 \| 480 \| 1\.56× \|/);
  assert.match(table, /\| PyTorch \| 700 \| 600–900 \| 5851 \| 730 \| 1\.00× \|/);
});
