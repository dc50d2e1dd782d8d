import { assert } from "../_helpers.ts";
import { parseConfig, resolveSizes } from "../../lib/config.ts";
import { ARCH_NAMES } from "../../lib/sae/arch/registry.ts";
import { benchmarkSections } from "../../lib/bench/file.ts";
import {
  activationCacheName,
  formatSweepSection,
  formatSweepTable,
  runSweep,
  runSweepCommand,
  SWEEP_HEADING,
  SWEEP_SECTION,
  sweepBenchmarkRun,
  sweepGrid,
  type SweepRow,
  sweepRow,
} from "../../lib/sweep/architectures.ts";

Deno.test("sweepGrid() trains every architecture at three sparsity levels, sparsest first, on both sources", () => {
  const grid = sweepGrid();
  assert.equal(grid.length, 2 * ARCH_NAMES.length * 3);
  for (const source of ["toy", "stories"] as const) {
    for (const arch of ARCH_NAMES) {
      const runs = grid.filter((s) => s.source === source && s.arch === arch);
      assert.equal(runs.length, 3, `${source} ${arch}`);
      const values = runs.map((s) => s.value);
      assert.equal(new Set(values).size, 3);
      const topK = arch === "topk" || arch === "batchtopk" || arch === "matryoshka";
      assert.equal(runs[0].setting, topK ? "k" : "l1Coefficient");
      // sparsest first: k grows, λ shrinks
      const sorted = [...values].sort((a, b) => topK ? a - b : b - a);
      assert.deepEqual(values, sorted, `${source} ${arch}: ${values}`);
      for (const run of runs) {
        const config = parseConfig(run.input);
        assert.equal(config.arch, arch);
        assert.equal(topK ? config.k : config.l1Coefficient, run.value);
        assert.equal(config.maxResamples, arch === "relu" ? 1 : 0);
      }
    }
  }
});

Deno.test("sweepGrid(): every stories run reads the same activations (one cache), and --steps/--quick apply to all", () => {
  const stories = sweepGrid({ sources: ["stories"] }).map((s) => parseConfig(s.input));
  assert.equal(stories.length, 21);
  const names = new Set(stories.map(activationCacheName));
  assert.equal(names.size, 1, "one activation cache for the 21 runs");
  const rows = new Set(stories.map((c) => resolveSizes(c).steps * c.batchSize));
  assert.deepEqual([...rows], [150 * 1024]);
  assert.deepEqual(stories[0].hooks, ["blocks.2.hook_resid_post"]);
  assert.equal(stories[0].normalizeActivations, "expected-norm");

  const steps = sweepGrid({ sources: ["toy"], archs: ["gated"], steps: 50 }).map((s) => parseConfig(s.input));
  assert.deepEqual(steps.map((c) => c.steps), [50, 50, 50]);
  const quick = sweepGrid({ quick: true, archs: ["topk"] }).map((s) => parseConfig(s.input));
  assert.deepEqual(quick.map((c) => c.steps), [40, 40, 40, 6, 6, 6]);
  assert.throws(
    () => sweepGrid({ archs: ["relu", "sigmoid" as "relu"] }),
    /archs: expected .* received "sigmoid"/,
  );
  assert.throws(() => sweepGrid({ steps: 0 }), /steps: expected a positive integer, received 0/);
});

Deno.test("activationCacheName() is shared by runs that read the same activations and differs otherwise", () => {
  const base = {
    source: "model",
    hooks: ["blocks.2.hook_resid_post"],
    steps: 10,
    batchSize: 64,
    storeSize: 64,
  };
  const name = (extra: object) => activationCacheName(parseConfig({ ...base, ...extra }));
  assert.equal(name({ arch: "topk", k: 4 }), name({ arch: "gated", l1Coefficient: 0.1, lr: 0.01 }));
  assert.notEqual(name({}), name({ hooks: ["blocks.1.hook_resid_post"] }));
  assert.notEqual(name({}), name({ steps: 11 }));
  assert.notEqual(name({}), name({ contextSize: 64 }));
  assert.match(name({}), /^activations-[0-9a-f]{8}$/);
});

const toyRow: SweepRow = {
  source: "toy",
  arch: "relu",
  setting: "l1Coefficient",
  value: 0.02,
  steps: 800,
  batchSize: 256,
  l0: 3.9349,
  explainedVariance: 0.85749,
  deadFraction: 1 / 64,
  mmcs: 0.99251,
  seconds: 0.449,
};
const storiesRow: SweepRow = {
  source: "stories",
  arch: "batchtopk",
  setting: "k",
  value: 20,
  steps: 300,
  batchSize: 1024,
  l0: 20,
  explainedVariance: 0.9,
  deadFraction: 0,
  reconstructionScore: 0.96249,
  klDiv: 0.21945,
  seconds: 22.25,
  activations: "read",
};

Deno.test("formatSweepTable() rounds L0 to 2 decimals, fractions to 3, KL to 4, seconds to 1", () => {
  const toy = formatSweepTable([toyRow, {
    ...toyRow,
    arch: "topk",
    setting: "k",
    value: 3,
    mmcs: undefined,
  }]);
  assert.deepEqual(toy.split("\n"), [
    "| arch | sparsity | L0 | explained variance | dead fraction | MMCS | seconds |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    // 3.9349 → 3.93; 0.85749 → 0.857; 1/64 = 0.015625 → 0.016; 0.99251 → 0.993; 0.449 → 0.4
    "| relu | λ = 0.02 | 3.93 | 0.857 | 0.016 | 0.993 | 0.4 |",
    "| topk | k = 3 | 3.93 | 0.857 | 0.016 | n/a | 0.4 |",
  ]);
  const stories = formatSweepTable([storiesRow]);
  assert.deepEqual(stories.split("\n"), [
    "| arch | sparsity | L0 | explained variance | dead fraction | reconstruction score | KL | seconds |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    // 0.96249 → 0.962; 0.21945 → 0.2195 (its double is 0.21945000000000000617…, just above the half); 22.25 → 22.3 (a tie: toFixed takes the larger)
    "| batchtopk | k = 20 | 20.00 | 0.900 | 0.000 | 0.962 | 0.2195 | 22.3 |",
  ]);
});

Deno.test("sweepBenchmarkRun() gives the backend, the generation time and one table per source, toy first", () => {
  const info = {
    date: "2026-01-02",
    machine: "a CPU, 2 cores",
    command: "deno task sweep",
    backend: "blas",
    generationSeconds: 12.34,
    revision: "commit `abc1234`",
  };
  const run = sweepBenchmarkRun([storiesRow, toyRow], info);
  assert.equal(run.date, "2026-01-02");
  assert.equal(run.machine, "a CPU, 2 cores");
  assert.equal(run.command, "deno task sweep");
  // 12.34 s → 12.3
  assert.ok(run.body.startsWith(
    "- backend: blas\n- code: commit `abc1234`\n- language-model activations generated once per hook point " +
      "(12.3 s, safetensors activation cache) and read by every run\n\n#### toy source: ",
  ));
  // toy first, then stories, whatever the order of the rows; sub-headings are level 4
  const toyAt = run.body.indexOf("#### toy source"), storiesAt = run.body.indexOf("#### stories260K");
  assert.ok(toyAt > 0 && storiesAt > toyAt);
  assert.match(run.body, /#### toy source: .*, 800 steps of 256\n\n\| arch \| sparsity \| L0 \|/);
  assert.match(run.body, /\| batchtopk \| k = 20 \| 20\.00 \|/);
  // The printed section: heading, the sweep's about text, this run alone.
  const section = formatSweepSection([storiesRow, toyRow], info);
  assert.ok(
    section.startsWith(
      `## ${SWEEP_HEADING}\n\n${SWEEP_SECTION.about}\n\n### Run of 2026-01-02 — a CPU, 2 cores — \`deno task sweep\`\n\n`,
    ),
  );
  assert.ok(section.endsWith(run.body + "\n"));
});

Deno.test("sweepRow() reads the last log record and names a missing metric", () => {
  const [spec] = sweepGrid({ sources: ["stories"], archs: ["jumprelu"] });
  const row = sweepRow(
    spec,
    {
      step: 300,
      "train/l0_norm/mean": 12.5,
      "train/explained_variance/mean": 0.8,
      "train/dead_fraction/mean": 0.125,
      "validate/reconstruction_score/mean": 0.9,
      "validate/kl_div/mean": 0.3,
    },
    7,
    "generated",
  );
  assert.deepEqual(row, {
    source: "stories",
    arch: "jumprelu",
    setting: "l1Coefficient",
    value: spec.value,
    steps: 300,
    batchSize: 1024,
    l0: 12.5,
    explainedVariance: 0.8,
    deadFraction: 0.125,
    reconstructionScore: 0.9,
    klDiv: 0.3,
    seconds: 7,
    activations: "generated",
  });
  assert.throws(() => sweepRow(spec, { step: 3 }, 1), /expected train\/l0_norm\/mean in the last log record/);
});

Deno.test("deno task sweep --quick trains a tiny toy grid, prints JSON rows and writes its section", async () => {
  const dir = await Deno.makeTempDir();
  const out = `${dir}/BENCHMARKS.md`;
  const earlier = "## Architecture sweep\n\nold about\n\n### Run of 2026-11-27 — m — `deno task sweep`\n\n" +
    "#### toy source\n\n| old table |\n\n";
  await Deno.writeTextFile(out, "# Benchmarks\n\nintro\n\n" + earlier + "## Other\n\nkept\n");
  const printed: string[] = [];
  let messages = "";
  const args = [
    "--quick",
    "--source",
    "toy",
    "--archs",
    "relu,topk",
    "--backend",
    "cpu",
    "--json",
    "--benchmarks-file",
    out,
  ];
  const code = await runSweepCommand(args, {
    print: (l) => printed.push(l),
    write: (t) => void (messages += t),
    date: "2026-12-02",
    machine: "a CPU",
    revision: null,
  });
  assert.equal(code, 0);
  const rows = printed.map((line) => JSON.parse(line) as SweepRow);
  assert.deepEqual(rows.map((r) => `${r.arch} ${r.value}`), [
    "relu 0.05",
    "relu 0.02",
    "relu 0.01",
    "topk 2",
    "topk 3",
    "topk 6",
  ]);
  for (const row of rows) {
    assert.equal(row.steps, 40);
    assert.ok(row.l0 > 0 && Number.isFinite(row.explainedVariance) && row.mmcs! > 0 && row.mmcs! <= 1);
    assert.equal(row.reconstructionScore, undefined);
  }
  // TopK keeps at most k per item
  assert.ok(rows[3].l0 <= 2 && rows[5].l0 <= 6);
  assert.match(messages, /6 runs on backend cpu/);
  const text = await Deno.readTextFile(out);
  // The run goes first in the section; the earlier run and the other section stay as they were.
  assert.ok(text.startsWith(
    `# Benchmarks\n\nintro\n\n## Architecture sweep\n\n${SWEEP_SECTION.about}\n\n` +
      `### Run of 2026-12-02 — a CPU — \`deno task sweep ${
        args.join(" ")
      }\`\n\n- backend: cpu\n\n#### toy source: `,
  ));
  assert.match(text, /\| topk \| k = 6 \| /);
  assert.ok(text.endsWith(earlier.slice(earlier.indexOf("### Run of")) + "## Other\n\nkept\n"));
  assert.deepEqual(benchmarkSections(text).map((s) => s.runs), [2, 0]);
  // Each table row holds the numbers of the JSON row of its run.
  for (const row of rows) {
    const line =
      `| ${row.arch} | ${row.setting === "k" ? "k" : "λ"} = ${row.value} | ${row.l0.toFixed(2)} | ` +
      `${row.explainedVariance.toFixed(3)} | ${row.deadFraction.toFixed(3)} | ${row.mmcs!.toFixed(3)} | ` +
      `${row.seconds.toFixed(1)} |`;
    assert.ok(text.includes(line), `expected ${line}`);
  }
  assert.match(messages, /added the run to "## Architecture sweep" in /);
  await assert.rejects(
    () => runSweepCommand(["--source", "both,toy"]),
    /--source: expected toy, stories or both/,
  );
  await assert.rejects(
    () => runSweepCommand(["--benchmarks-file", "a.md", "--out", "b.md"]),
    /--benchmarks-file and --out: expected one file, received "a.md" and "b.md"/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("two stories260K runs on the same hook point generate the activations once and read them after", async () => {
  const cache = await Deno.makeTempDir();
  const specs = sweepGrid({ quick: true, sources: ["stories"], archs: ["topk"] }).slice(0, 2);
  const stamp = () => {
    const folders = [...Deno.readDirSync(cache)].map((e) => e.name);
    assert.equal(folders.length, 1, `one cache folder, received ${folders}`);
    const dir = `${cache}/${folders[0]}`;
    const shards = [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".safetensors"));
    assert.ok(shards.length > 0);
    return shards.map((e) => {
      const info = Deno.statSync(`${dir}/${e.name}`);
      return `${e.name}:${info.ino}:${info.mtime?.getTime()}`;
    }).sort().join();
  };
  // The shards as the first run left them, then as they are after the second.
  const stamps: string[] = [];
  const { rows, generationSeconds } = await runSweep(specs, { cache, onRow: () => stamps.push(stamp()) });
  assert.deepEqual(rows.map((r) => r.activations), ["generated", "read"]);
  assert.ok(generationSeconds > 0);
  assert.equal(stamps.length, 2);
  assert.equal(stamps[1], stamps[0], "the second run rewrote no shard (same inode and mtime)");
  for (const row of rows) {
    assert.equal(row.steps, 6);
    assert.ok(row.l0 <= row.value);
    assert.ok(typeof row.reconstructionScore === "number" && typeof row.klDiv === "number" && row.klDiv >= 0);
  }
  await Deno.remove(cache, { recursive: true });
});
