import { assert } from "../_helpers.ts";
import {
  BENCH_USAGE,
  type BenchProcesses,
  featuresSection,
  formatActivationTable,
  formatBenchTable,
  formatFeaturesTable,
  measureFeatureStatistics,
  measureStep,
  type ProcessMeasurement,
  runBenchCommand,
} from "../../lib/bench/benchmarks.ts";
import { benchmarkSections } from "../../lib/bench/file.ts";
import { tinyRun } from "../features/_run.ts";

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

Deno.test("formatActivationTable() lists each round's rate in round order with their median", () => {
  const table = formatActivationTable([
    // sorted 6000, 6100, 6300: median 6100
    { backend: "blas", rates: [6300, 6000, 6100], peakRss: 499 },
    // sorted 7700, 7760, 7800, 7900: median (7760 + 7800) / 2 = 7780
    { backend: "wasm", rates: [7900, 7760, 7800, 7700], peakRss: 385 },
  ]);
  assert.deepEqual(table.split("\n"), [
    "| backend | tokens/s (per round) | median tokens/s | peak RSS (MB) |",
    "| --- | --- | ---: | ---: |",
    "| blas | 6300, 6000, 6100 | 6100 | 499 |",
    "| wasm | 7900, 7760, 7800, 7700 | 7780 | 385 |",
  ]);
});

Deno.test("formatFeaturesTable() gives each round's statistics and whole seconds, tokens/s and peak RSS", () => {
  const table = formatFeaturesTable([
    // 131191 / 27.6 = 4753.3 → 4753; 30.46 → 30.5
    { statisticsSeconds: 27.6, wholeSeconds: 30.46, positions: 131_191, peakRss: 669 },
    // 115 / 0.25 = 460; 0.04 → 0.0, 1.96 → 2.0
    { statisticsSeconds: 0.04, wholeSeconds: 1.96, positions: 115, peakRss: 200 },
  ]);
  assert.deepEqual(table.split("\n"), [
    "| round | statistics (s) | whole command (s) | tokens/s (statistics) | peak RSS (MB) |",
    "| ---: | ---: | ---: | ---: | ---: |",
    "| 1 | 27.6 | 30.5 | 4753 | 669 |",
    "| 2 | 0.0 | 2.0 | 2875 | 200 |", // 115 / 0.04 = 2875
  ]);
});

Deno.test("featuresSection() names the model, the components × features and the tokens read", () => {
  const section = featuresSection({
    model: "gpt2 (Hugging Face gpt2)",
    components: 12,
    dSae: 24_576,
    positions: 1_048_576,
  });
  assert.equal(section.heading, "Feature statistics: gpt2, 12 components × 24576 features, 1,048,576 tokens");
  assert.match(section.about, /deno task bench --features RUN_DIR/);
  assert.match(section.about, /deno task features RUN_DIR --static DIR/);
});

/** Processes that answer with the given outputs in turn, recording what they were asked. */
function fakeProcesses(
  bench: ProcessMeasurement[],
  torch?: ProcessMeasurement[],
): BenchProcesses & { calls: { args: readonly string[]; permissions?: readonly string[] }[] } {
  const calls: { args: readonly string[]; permissions?: readonly string[] }[] = [];
  return {
    calls,
    bench: (args, permissions) => {
      calls.push({ args, permissions });
      const next = bench.shift();
      if (next === undefined) throw new Error(`unexpected process: ${args.join(" ")}`);
      return Promise.resolve(next);
    },
    torch: () =>
      Promise.resolve(
        torch === undefined ? undefined : (args: readonly string[]) => {
          calls.push({ args });
          return Promise.resolve(torch.shift()!);
        },
      ),
  };
}

const quiet = {
  write: () => {},
  print: () => {},
  date: "2026-12-02",
  machine: "a CPU, 2 cores, 8 GiB",
  revision: null,
};

async function withFile(text: string, body: (path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/BENCHMARKS.md`;
  await Deno.writeTextFile(path, text);
  try {
    await body(path);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("deno task bench adds the step run, from the rounds' measurements, above the section's earlier runs", async () => {
  const earlier =
    "# Benchmarks\n\nhead\n\n## SAE training step: batch 64, dIn 8, dSae 16 (ReLU, L1, Adam)\n\nold about\n\n" +
    "### Run of 2026-11-27 — m — `deno task bench`\n\n| earlier |\n\n## Other\n\nkept\n";
  await withFile(earlier, async (path) => {
    const saekit = (ms: number, rss: number) => ({
      output: { backend: "blas", median_ms: ms, peak_rss_mb: rss },
      seconds: 1,
    });
    const torch = (ms: number) => ({
      output: { median_ms: ms, peak_rss_mb: 700, torch: "2.1", blas: "openblas", threads: 2 },
      seconds: 1,
    });
    const processes = fakeProcesses([saekit(40, 300), saekit(20, 320), saekit(30, 310)], [
      torch(60),
      torch(90),
      torch(75),
    ]);
    const args = ["--batch", "64", "--d-in", "8", "--d-sae", "16", "--steps", "2", "--benchmarks-file", path];
    assert.equal(await runBenchCommand(args, { ...quiet, processes }), 0);
    // Rounds interleave saekit and PyTorch, saekit in a fresh process with --json.
    assert.deepEqual(processes.calls.map((c) => c.permissions === undefined ? "torch" : c.args.at(-1)), [
      "blas",
      "torch",
      "blas",
      "torch",
      "blas",
      "torch",
    ]);
    assert.deepEqual(processes.calls[0].args, [
      ...["--batch", "64", "--d-in", "8", "--d-sae", "16", "--arch", "relu", "--k", "32", "--steps", "2"],
      ...["--warmup", "1", "--json", "--backend", "blas"],
    ]);
    const text = await Deno.readTextFile(path);
    // saekit: medians 40, 20, 30 → 30, range 20–40, 64 / 0.030 s = 2133 act/s, peak 320; PyTorch: 75, 60–90,
    // 64 / 0.075 = 853; 75 / 30 = 2.50×.
    const run = "### Run of 2026-12-02 — a CPU, 2 cores, 8 GiB — `deno task bench " + args.join(" ") +
      "`\n\n" +
      "- 3 rounds, interleaved; each round times 2 steps after 1 warm-up\n" +
      `- Deno ${Deno.version.deno}; PyTorch 2.1 with openblas BLAS on 2 threads\n\n` +
      "| implementation | median step (ms) | spread over rounds (ms) | activations/s | peak RSS (MB) | speed vs PyTorch |\n" +
      "| --- | ---: | ---: | ---: | ---: | ---: |\n" +
      "| saekit (blas) | 30 | 20–40 | 2133 | 320 | 2.50× |\n" +
      "| PyTorch | 75 | 60–90 | 853 | 700 | 1.00× |\n\n";
    assert.ok(
      text.includes(
        run + "### Run of 2026-11-27 — m — `deno task bench`\n\n| earlier |\n\n## Other\n\nkept\n",
      ),
    );
    assert.ok(
      text.startsWith(
        "# Benchmarks\n\nhead\n\n## SAE training step: batch 64, dIn 8, dSae 16 (ReLU, L1, Adam)\n\n",
      ),
    );
    assert.ok(!text.includes("old about"), "the about text is the writer's");
    assert.deepEqual(benchmarkSections(text).map((s) => s.runs), [2, 0]);
  });
});

Deno.test("deno task bench --activations adds a run with each round's rate per backend", async () => {
  await withFile("# Benchmarks\n", async (path) => {
    const round = (backend: string, rate: number, rss: number) => ({
      output: { backend, tokens_per_s: rate, peak_rss_mb: rss, hooks: 5 },
      seconds: 2,
    });
    const processes = fakeProcesses([
      round("blas", 6000, 500),
      round("wasm", 7700, 380),
      round("blas", 6400, 490),
      round("wasm", 7800, 385),
    ]);
    const args = ["--activations", "--backends", "blas,wasm", "--rounds", "2", "--steps", "3"];
    assert.equal(await runBenchCommand([...args, "--benchmarks-file", path], { ...quiet, processes }), 0);
    assert.deepEqual(processes.calls[0].args, [
      ...["--activations", "--json", "--backend", "blas", "--steps", "3"],
      ...["--context-size", "128", "--windows-per-batch", "16"],
    ]);
    const text = await Deno.readTextFile(path);
    // blas: 6000, 6400 → median 6200, peak 500; wasm: 7700, 7800 → 7750, peak 385
    assert.ok(text.includes(
      "## Activation generation: stories260K, 5 residual streams, windows of 128\n\n",
    ));
    assert.ok(text.endsWith(
      "- 2 rounds, interleaved; each times 3 forward passes of 16 windows after one untimed\n\n" +
        "| backend | tokens/s (per round) | median tokens/s | peak RSS (MB) |\n| --- | --- | ---: | ---: |\n" +
        "| blas | 6000, 6400 | 6200 | 500 |\n| wasm | 7700, 7800 | 7750 | 385 |\n",
    ));
  });
});

Deno.test("deno task bench --features RUN_DIR adds a run with statistics, whole-command seconds, tokens/s and RSS", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/config.json`, "{}");
  const round = (statistics: number, whole: number, rss: number) => ({
    output: {
      backend: "blas",
      model: "stories260K (llama2.c, shipped with saekit)",
      components: 5,
      d_sae: 256,
      positions: 131_191,
      windows: 1033,
      unseen_windows: 602,
      files: 1282,
      statistics_s: statistics,
      peak_rss_mb: rss,
    },
    seconds: whole,
  });
  const earlier =
    "# Benchmarks\n\n## Feature statistics: stories260K, 5 components × 256 features, 131,191 tokens\n\n" +
    "### Run of 2026-11-27 — m — `deno task features runs/a --static /tmp/site`\n\n- written by hand\n";
  await withFile(earlier, async (path) => {
    const processes = fakeProcesses([round(27.9, 30.8, 672), round(29.1, 34.1, 678)]);
    const args = ["--features", dir, "--rounds", "2", "--benchmarks-file", path];
    assert.equal(await runBenchCommand(args, { ...quiet, processes }), 0);
    assert.deepEqual(processes.calls[0].args, ["--features", dir, "--json", "--backend", "auto"]);
    assert.ok(processes.calls[0].permissions!.includes("--allow-net"));
    const text = await Deno.readTextFile(path);
    // 131191 / 27.9 = 4702.2 → 4702; 131191 / 29.1 = 4508.3 → 4508
    const run = "### Run of 2026-12-02 — a CPU, 2 cores, 8 GiB — `deno task bench " + args.join(" ") +
      "`\n\n" +
      `- run folder \`${dir}\`: stories260K (llama2.c, shipped with saekit); 1033 windows read, 602 of them not ` +
      "read in training; 1282 static files written\n" +
      "- 2 rounds, each a fresh process; backend blas\n\n" +
      "| round | statistics (s) | whole command (s) | tokens/s (statistics) | peak RSS (MB) |\n" +
      "| ---: | ---: | ---: | ---: | ---: |\n" +
      "| 1 | 27.9 | 30.8 | 4702 | 672 |\n" +
      "| 2 | 29.1 | 34.1 | 4508 | 678 |\n\n";
    assert.ok(text.includes(run + "### Run of 2026-11-27 — m — `deno task features runs/a"), text);
    assert.deepEqual(benchmarkSections(text), [
      { heading: "Feature statistics: stories260K, 5 components × 256 features, 131,191 tokens", runs: 2 },
    ]);
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("deno task bench --help lists the flags, and bad arguments say what to pass", async () => {
  let help = "";
  assert.equal(
    await runBenchCommand(["--help"], {
      ...quiet,
      write: (t) => void (help += t),
      processes: fakeProcesses([]),
    }),
    0,
  );
  for (
    const flag of [
      "--features RUN_DIR",
      "--benchmarks-file FILE",
      "--tokens N",
      "--activations",
      "--rounds R",
      "--json",
    ]
  ) {
    assert.ok(help.includes(flag), `--help: expected ${flag}`);
  }
  assert.equal(help, BENCH_USAGE + "\n");
  const io = { ...quiet, processes: fakeProcesses([]) };
  await assert.rejects(
    () => runBenchCommand(["--features"], io),
    /--features RUN_DIR: expected the folder of a finished run \(train one first, e\.g\. `deno task train`/,
  );
  await assert.rejects(
    () => runBenchCommand(["--features", "/nonexistent/run"], io),
    /--features: expected the folder of a finished run .*received "\/nonexistent\/run", which has no config\.json/,
  );
  await assert.rejects(
    () => runBenchCommand(["--arch", "gated"], io),
    /--arch: expected relu or topk, received "gated"/,
  );
  await assert.rejects(
    () => runBenchCommand(["--rounds", "0"], io),
    /--rounds: expected a positive integer, received "0"/,
  );
  await assert.rejects(
    () => runBenchCommand(["--colour", "red"], io),
    /Unknown option '--colour'.*\(see --help\)/,
  );
  await assert.rejects(
    () => runBenchCommand(["--activations", "--features", "x"], io),
    /--activations and --features: expected one benchmark, received both/,
  );
});

Deno.test("measureFeatureStatistics() runs deno task features --static into a temporary folder and reports it", async () => {
  const dir = await tinyRun();
  const before = new Set(
    [...Deno.readDirSync(await Deno.realPath(Deno.env.get("TMPDIR") ?? "/tmp"))].map((e) => e.name),
  );
  const r = await measureFeatureStatistics({ dir, backend: "cpu", tokens: 100 });
  // The tiny run: 2 components × 64 features, windows of 24 with BOS; 100 tokens → 5 windows of 23 = 115
  // positions, all held out (4) or after the training region; 2 × 64 feature files, the page and the summary.
  assert.equal(r.backend, "cpu");
  assert.equal(r.components, 2);
  assert.equal(r.d_sae, 64);
  assert.equal(r.positions, 115);
  assert.equal(r.windows, 5);
  assert.equal(r.unseen_windows, 5);
  assert.equal(r.files, 130);
  assert.match(String(r.model), /^stories260K/);
  assert.ok(Number(r.statistics_s) > 0);
  assert.equal(r.tokens_per_s, Math.round(115 / Number(r.statistics_s)));
  assert.ok(Number(r.peak_rss_mb) > 10);
  const after = [...Deno.readDirSync(await Deno.realPath(Deno.env.get("TMPDIR") ?? "/tmp"))]
    .filter((e) => e.name.startsWith("saekit-bench-features-") && !before.has(e.name));
  assert.deepEqual(after, [], "the static folder is removed");
});

Deno.test("tasks/bench.ts --features measures a run in fresh processes and adds it to --benchmarks-file", async () => {
  const dir = await tinyRun();
  const out = await Deno.makeTempDir();
  const path = `${out}/BENCHMARKS.md`;
  const task = new URL("../../tasks/bench.ts", import.meta.url).pathname;
  const { code, stderr } = await new Deno.Command("deno", {
    args: [
      ...["run", "--allow-read", "--allow-write", "--allow-env", "--allow-ffi", "--allow-sys", "--allow-run"],
      ...[task, "--features", dir, "--rounds", "1", "--tokens", "100", "--backend", "cpu"],
      ...["--benchmarks-file", path],
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  const messages = new TextDecoder().decode(stderr);
  assert.equal(code, 0, messages);
  const text = await Deno.readTextFile(path);
  assert.deepEqual(benchmarkSections(text), [
    { heading: "Feature statistics: stories260K, 2 components × 64 features, 115 tokens", runs: 1 },
  ]);
  const row = /\n\| 1 \| ([\d.]+) \| ([\d.]+) \| (\d+) \| (\d+) \|\n/.exec(text);
  assert.ok(row, text);
  // The whole process takes longer than its statistics pass.
  assert.ok(Number(row[2]) > Number(row[1]));
  assert.match(text, /- 1 round, each a fresh process; backend cpu\n/);
  await Deno.remove(out, { recursive: true });
});

Deno.test("tasks/bench.ts times the step in a fresh process and adds the run to --benchmarks-file", async () => {
  const out = await Deno.makeTempDir();
  const path = `${out}/BENCHMARKS.md`;
  const task = new URL("../../tasks/bench.ts", import.meta.url).pathname;
  const { code, stderr } = await new Deno.Command("deno", {
    args: [
      ...["run", "--allow-read", "--allow-write", "--allow-env", "--allow-ffi", "--allow-sys", "--allow-run"],
      ...[task, "--batch", "32", "--d-in", "8", "--d-sae", "16", "--steps", "2", "--rounds", "1"],
      ...["--backends", "cpu", "--no-torch", "--benchmarks-file", path],
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  const text = await Deno.readTextFile(path);
  assert.deepEqual(benchmarkSections(text), [
    { heading: "SAE training step: batch 32, dIn 8, dSae 16 (ReLU, L1, Adam)", runs: 1 },
  ]);
  assert.match(text, /- Deno [\d.]+; PyTorch not run \(--no-torch\)\n/);
  // One round: the spread is that round's median, and no baseline to compare with.
  const row = /\n\| saekit \(cpu\) \| (\d+) \| (\d+)–(\d+) \| (\d+) \| (\d+) \| n\/a \|\n/.exec(text);
  assert.ok(row, text);
  assert.equal(row[2], row[1]);
  assert.equal(row[3], row[1]);
  await Deno.remove(out, { recursive: true });
});
