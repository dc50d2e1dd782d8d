import { assert } from "../_helpers.ts";
import {
  allArchsSection,
  BENCH_USAGE,
  type BenchProcesses,
  featuresSection,
  formatActivationTable,
  formatArchTable,
  formatBenchTable,
  formatFeaturesTable,
  measureFeatureStatistics,
  measureStep,
  type ProcessMeasurement,
  runBenchCommand,
  stepLabel,
} from "../../lib/bench/benchmarks.ts";
import { ARCH_NAMES } from "../../lib/sae/arch/registry.ts";
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
    { label: "saekit (blas)", medians: [400, 500, 450], peakRss: 480, batch: 4096, startL0s: [32, 32, 32] },
    { label: "PyTorch", medians: [900, 600, 700], peakRss: 730, batch: 4096, startL0s: [31.96, 32.04] },
  ], "PyTorch");
  // saekit: median 450, range 400–500, 4096/0.45 s = 9102 act/s, 700/450 = 1.56×, L0 32 → 32.0
  assert.match(table, /\| saekit \(blas\) \| 450 \| 400–500 \| 9102 \| 480 \| 1\.56× \| 32\.0 \|/);
  // PyTorch: L0 median of 31.96 and 32.04 is 32.00 → 32.0
  assert.match(table, /\| PyTorch \| 700 \| 600–900 \| 5851 \| 730 \| 1\.00× \| 32\.0 \|/);
  // No L0 reported (a PyTorch script without start_l0): n/a.
  assert.match(
    formatBenchTable([{ label: "PyTorch", medians: [10], peakRss: 1, batch: 10, startL0s: [] }]),
    /\| PyTorch \| 10 \| 10–10 \| 1000 \| 1 \| n\/a \| n\/a \|$/,
  );
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
      output: { backend: "blas", median_ms: ms, peak_rss_mb: rss, start_l0: 7.94 },
      seconds: 1,
    });
    const torch = (ms: number) => ({
      output: { median_ms: ms, peak_rss_mb: 700, torch: "2.1", blas: "openblas", threads: 2, start_l0: 8.06 },
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
    // 64 / 0.075 = 853; 75 / 30 = 2.50×. Starting L0 7.94 → 7.9 and 8.06 → 8.1.
    const run = "### Run of 2026-12-02 — a CPU, 2 cores, 8 GiB — `deno task bench " + args.join(" ") +
      "`\n\n" +
      "- 3 rounds, interleaved; each round times 2 steps after 1 warm-up\n" +
      `- Deno ${Deno.version.deno}; PyTorch 2.1 with openblas BLAS on 2 threads\n\n` +
      "| implementation | median step (ms) | spread over rounds (ms) | activations/s | peak RSS (MB) | speed vs PyTorch | starting L0 |\n" +
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n" +
      "| saekit (blas) | 30 | 20–40 | 2133 | 320 | 2.50× | 7.9 |\n" +
      "| PyTorch | 75 | 60–90 | 853 | 700 | 1.00× | 8.1 |\n\n";
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
      "--all-archs",
      "--l0 N",
      "--arch NAME",
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
    () => runBenchCommand(["--arch", "relu2"], io),
    /--arch: expected one of relu, relu-april, topk, batchtopk, jumprelu, gated, matryoshka, received "relu2"/,
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
  const row = /\n\| saekit \(cpu\) \| (\d+) \| (\d+)–(\d+) \| (\d+) \| (\d+) \| n\/a \| ([\d.]+) \|\n/.exec(
    text,
  );
  assert.ok(row, text);
  assert.equal(row[2], row[1]);
  assert.equal(row[3], row[1]);
  // The starting L0 of a fresh ReLU SAE: some of its 16 features, measured in the first step.
  assert.ok(Number(row[6]) > 0 && Number(row[6]) < 16, `starting L0 ${row[6]}`);
  await Deno.remove(out, { recursive: true });
});

Deno.test("formatArchTable() gives each architecture's medians and ranges, the ratio, both RSS and both L0", () => {
  const table = formatArchTable([
    // saekit 150, 100, 200 → 150 (100–200); PyTorch 450 and 350 → 400 (350–450); 400 / 150 = 2.67×
    {
      arch: "gated",
      backend: "blas",
      saekit: { medians: [150, 100, 200], peakRss: 900, startL0s: [31.96, 31.96, 31.96] },
      pytorch: { medians: [450, 350], peakRss: 1100, startL0s: [32.02, 32.02] },
    },
    // no PyTorch: n/a in its cells; 12.25 ms → 12
    { arch: "topk", backend: "wasm", saekit: { medians: [12.25], peakRss: 300, startL0s: [16] } },
  ]);
  assert.deepEqual(table.split("\n"), [
    "| arch | saekit backend | saekit step (ms) | PyTorch step (ms) | PyTorch / saekit | saekit peak RSS (MB) | " +
    "PyTorch peak RSS (MB) | starting L0 saekit | starting L0 PyTorch |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    "| gated | blas | 150 (100–200) | 400 (350–450) | 2.67× | 900 | 1100 | 32.0 | 32.0 |",
    "| topk | wasm | 12 (12–12) | n/a | n/a | 300 | n/a | 16.0 | n/a |",
  ]);
});

Deno.test("stepLabel() keeps the headings of the sections written before, and names every architecture", () => {
  assert.equal(stepLabel("relu", 32), "ReLU, L1, Adam");
  assert.equal(stepLabel("topk", 32), "TopK k=32, MSE, Adam");
  const labels = ARCH_NAMES.map((a) => stepLabel(a, 8));
  assert.equal(new Set(labels).size, ARCH_NAMES.length, `expected one label each, received ${labels}`);
  assert.ok(stepLabel("batchtopk", 8).includes("k=8") && stepLabel("matryoshka", 8).includes("k=8"));
});

Deno.test("deno task bench --all-archs interleaves every architecture with its PyTorch step and writes one table", async () => {
  // Round medians per architecture (ARCH_NAMES order: relu, relu-april, topk, batchtopk, jumprelu, gated,
  // matryoshka), saekit then PyTorch.
  const saekitMs = [[100, 200, 50, 60, 300, 400, 80], [120, 220, 70, 40, 500, 300, 100]];
  const torchMs = [[300, 420, 150, 500, 200, 700, 90], [360, 420, 150, 400, 200, 700, 90]];
  const coefficient = new Set(["relu", "relu-april", "jumprelu", "gated"]);
  const saekitRuns: ProcessMeasurement[] = [], torchRuns: ProcessMeasurement[] = [];
  for (const round of [0, 1]) {
    ARCH_NAMES.forEach((arch, i) => {
      const l0 = coefficient.has(arch) ? 32 : 16;
      saekitRuns.push({
        output: {
          backend: "blas",
          median_ms: saekitMs[round][i],
          peak_rss_mb: 300 + 20 * round,
          start_l0: l0,
        },
        seconds: 1,
      });
      torchRuns.push({
        output: {
          median_ms: torchMs[round][i],
          peak_rss_mb: 710 - 10 * round,
          start_l0: coefficient.has(arch) ? 31.94 : 16,
          torch: "1.13",
          blas: "openblas",
          threads: 2,
        },
        seconds: 1,
      });
    });
  }
  await withFile("# Benchmarks\n", async (path) => {
    const processes = fakeProcesses(saekitRuns, torchRuns);
    const args = ["--all-archs", "--k", "16", "--l0", "32", "--rounds", "2", "--steps", "3"];
    assert.equal(await runBenchCommand([...args, "--benchmarks-file", path], { ...quiet, processes }), 0);
    // Round by round, every architecture in turn: saekit, then PyTorch with the same flags.
    const order = processes.calls.map((c) =>
      `${c.permissions === undefined ? "torch" : "saekit"} ${c.args[7]}`
    );
    const expected = ARCH_NAMES.flatMap((a) => [`saekit ${a}`, `torch ${a}`]);
    assert.deepEqual(order, [...expected, ...expected]);
    const size = ["--batch", "4096", "--d-in", "512", "--d-sae", "4096"];
    assert.deepEqual(processes.calls[0].args, [
      ...[...size, "--arch", "relu", "--k", "16", "--steps", "3", "--warmup", "1", "--l0", "32"],
      ...["--json", "--backend", "blas"],
    ]);
    // --l0 goes to the coefficient architectures only, in both implementations.
    assert.deepEqual(processes.calls[5].args, [
      ...size,
      "--arch",
      "topk",
      "--k",
      "16",
      "--steps",
      "3",
      "--warmup",
      "1",
    ]);
    for (const call of processes.calls) {
      assert.equal(call.args.includes("--l0"), coefficient.has(call.args[7]), call.args.join(" "));
    }
    const text = await Deno.readTextFile(path);
    const heading = allArchsSection({ batch: 4096, dIn: 512, dSae: 4096 }, 16, 32).heading;
    assert.equal(
      heading,
      "SAE training step of every architecture: batch 4096, dIn 512, dSae 4096 (TopK family k=16, others from L0 32)",
    );
    assert.deepEqual(benchmarkSections(text), [{ heading, runs: 1 }]);
    assert.ok(text.includes(
      "- 2 rounds, interleaved (each round: every architecture in turn, saekit then PyTorch); each round times 3 " +
        `steps after 1 warm-up\n- Deno ${Deno.version.deno}; PyTorch 1.13 with openblas BLAS on 2 threads\n`,
    ));
    // Two rounds: each median is the mean of the two round medians. relu 110 against 330 = 3.00×; relu-april
    // 210 / 420 = 2.00×; topk 60 / 150 = 2.50×; batchtopk 50 / 450 = 9.00×; jumprelu 400 / 200 = 0.50×; gated
    // 350 / 700 = 2.00×; matryoshka 90 / 90 = 1.00×. RSS: saekit 300, 320 → 320; PyTorch 710, 700 → 710.
    // L0: 31.94 → 31.9.
    assert.ok(
      text.endsWith([
        "| relu | blas | 110 (100–120) | 330 (300–360) | 3.00× | 320 | 710 | 32.0 | 31.9 |",
        "| relu-april | blas | 210 (200–220) | 420 (420–420) | 2.00× | 320 | 710 | 32.0 | 31.9 |",
        "| topk | blas | 60 (50–70) | 150 (150–150) | 2.50× | 320 | 710 | 16.0 | 16.0 |",
        "| batchtopk | blas | 50 (40–60) | 450 (400–500) | 9.00× | 320 | 710 | 16.0 | 16.0 |",
        "| jumprelu | blas | 400 (300–500) | 200 (200–200) | 0.50× | 320 | 710 | 32.0 | 31.9 |",
        "| gated | blas | 350 (300–400) | 700 (700–700) | 2.00× | 320 | 710 | 32.0 | 31.9 |",
        "| matryoshka | blas | 90 (80–100) | 90 (90–90) | 1.00× | 320 | 710 | 16.0 | 16.0 |",
        "",
      ].join("\n")),
      text,
    );
  });
});

Deno.test("deno task bench --arch A --l0 N names the starting L0 in the section, and bad --l0 or --all-archs say why", async () => {
  await withFile("", async (path) => {
    const processes = fakeProcesses(
      [{ output: { backend: "blas", median_ms: 10, peak_rss_mb: 100, start_l0: 4 }, seconds: 1 }],
    );
    const args = ["--arch", "jumprelu", "--l0", "4", "--batch", "64", "--d-in", "8", "--d-sae", "32"];
    assert.equal(
      await runBenchCommand([...args, "--rounds", "1", "--no-torch", "--benchmarks-file", path], {
        ...quiet,
        processes,
      }),
      0,
    );
    assert.deepEqual(processes.calls[0].args.slice(6, 10), ["--arch", "jumprelu", "--k", "32"]);
    assert.deepEqual(processes.calls[0].args.slice(-5), ["--l0", "4", "--json", "--backend", "blas"]);
    assert.deepEqual(benchmarkSections(await Deno.readTextFile(path)).map((s) => s.heading), [
      "SAE training step: batch 64, dIn 8, dSae 32 (JumpReLU, L0 penalty, Adam, starting L0 4)",
    ]);
  });
  const io = { ...quiet, processes: fakeProcesses([]) };
  const cases: [string[], RegExp][] = [
    [
      ["--arch", "batchtopk", "--l0", "32"],
      /--l0: expected an architecture whose sparsity a coefficient sets \(relu, relu-april, jumprelu, gated\), received "batchtopk", whose L0 is --k/,
    ],
    [["--l0", "0"], /--l0: expected a positive number, received "0"/],
    [["--l0", "many"], /--l0: expected a positive number, received "many"/],
    // 64 · 1 / 4096 rounds to 0 items per feature.
    [
      ["--batch", "64", "--l0", "1"],
      /--l0: expected a number N > 0 with batch · N \/ dSae rounding to .*\(r = 0\)/,
    ],
    [["--all-archs", "--arch", "gated"], /--all-archs and --arch: expected one of them, received both/],
    [["--all-archs", "--arch=gated"], /--all-archs and --arch: expected one of them, received both/],
    [["--all-archs", "--json"], /--all-archs and --json: expected one architecture for a --json measurement/],
    [
      ["--all-archs", "--activations"],
      /--all-archs and --activations: expected one benchmark, received both/,
    ],
  ];
  for (const [args, message] of cases) {
    await assert.rejects(() => runBenchCommand(args, io), message, args.join(" "));
  }
  assert.deepEqual(io.processes.calls, [], "no process starts before the arguments are checked");
});
