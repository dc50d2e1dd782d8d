/**
 * The forward benchmark (lib/bench/forward.ts): its token ids, its table (worked out by hand), the order in
 * which it runs the two implementations, and saekit's in-process measurement at a small size.
 */
import { assert } from "../_helpers.ts";
import {
  benchTokens,
  formatForwardTable,
  type ForwardMeasurement,
  forwardModelDir,
  type ForwardRunArgs,
  measureSaekitForward,
  runForwardBenchmark,
  torchForwardArgs,
} from "../../lib/bench/forward.ts";
import type { RandomModelShape } from "../../lib/bench/random_models.ts";

Deno.test("benchTokens() follows ((w·tokens + t)·2654435761 + 97·seed) mod vocab, and checks its sizes", () => {
  // seed 1, vocab 50257, 1 window of 3: t = 0 → 97; t = 1 → (2654435761 + 97) mod 50257 = 2654435858 mod 50257;
  // 50257 · 52817 = 2654423969, 2654435858 − 2654423969 = 11889;
  // t = 2 → (5308871522 + 97) mod 50257 = 5308871619 − 50257 · 105634 (= 5308847938) = 23681
  assert.deepEqual(benchTokens(1, 3, 50257, 1), [[97, 11889, 23681]]);
  // every id in range, and the windows differ
  const ids = benchTokens(8, 128, 50304, 0);
  assert.ok(ids.flat().every((id) => Number.isInteger(id) && id >= 0 && id < 50304));
  assert.notDeepEqual(ids[0], ids[1]);
  assert.throws(() => benchTokens(0, 4, 10, 0), {
    message: "windows: expected a positive integer, received 0",
  });
  assert.throws(() => benchTokens(1, 4, 10, -1), {
    message: "seed: expected a non-negative integer, received -1",
  });
  assert.throws(() => benchTokens(3000, 1000, 10, 0), {
    message: /expected fewer than 3,000,000, received 3000000/,
  });
});

const m = (impl: string, tokens_per_s: number, peak: number, extra: number): ForwardMeasurement =>
  ({ impl, tokens_per_s, peak_rss_mb: peak, forward_extra_mb: extra }) as ForwardMeasurement;

Deno.test("formatForwardTable() gives medians over rounds, the median of each round's ratio, and memory", () => {
  const table = formatForwardTable([
    {
      // two rounds: ratios 900/600 = 1.5 and 1100/500 = 2.2 → median (1.5 + 2.2)/2 = 1.85;
      // saekit median (900 + 1100)/2 = 1000, PyTorch (600 + 500)/2 = 550;
      // 162,322,944 parameters = 162.3M, · 4 bytes / 2^20 = 619.2 → 619 MiB
      family: "gpt_neox",
      parameters: 162_322_944,
      saekit: [m("saekit", 900, 1300, 90), m("saekit", 1100, 1250, 95)],
      pytorch: [m("pytorch", 600, 990, 130), m("pytorch", 500, 985, 128)],
    },
    {
      // no PyTorch: n/a; one round of 700; 134,105,856 · 4 / 2^20 = 511.6 → 512 MiB
      family: "llama",
      parameters: 134_105_856,
      saekit: [m("saekit", 700, 1100, 80)],
      pytorch: [],
    },
  ]);
  const lines = table.split("\n");
  assert.equal(lines.length, 4);
  assert.match(
    lines[0],
    /^\| model \| parameters \| float32 weights \(MiB\) \| saekit tokens\/s \| PyTorch tokens\/s \|/,
  );
  assert.equal(
    lines[2],
    "| Pythia-160M | 162.3M | 619 | 1000 (900–1100) | 550 (500–600) | 1.85× | 1300 | 990 | 95 | 130 |",
  );
  assert.equal(
    lines[3],
    "| Llama 160M-class | 134.1M | 512 | 700 (700–700) | n/a | n/a | 1100 | n/a | 80 | n/a |",
  );
});

Deno.test("runForwardBenchmark() writes each model once and alternates which implementation goes first", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const shapes: Record<string, RandomModelShape> = {
      gpt2: { family: "gpt2", nLayers: 1, dModel: 8, nHeads: 2, dMlp: 16, vocabSize: 11, maxSeq: 8 },
      llama: { family: "llama", nLayers: 1, dModel: 8, nHeads: 2, dMlp: 16, vocabSize: 11, maxSeq: 8 },
    };
    const calls: string[] = [];
    const fake = (impl: string) => (args: ForwardRunArgs) => {
      calls.push(`${impl} ${args.model.split("/").pop()}`);
      return Promise.resolve(m(impl, impl === "saekit" ? 200 : 100, 10, 1));
    };
    const options = {
      modelsDir: dir,
      seed: 4,
      families: ["gpt2", "llama"] as const,
      windows: 2,
      tokens: 4,
      layer: 0,
      repeats: 1,
      warmup: 0,
      rounds: 2,
      shapes,
    };
    const lines: string[] = [];
    const rows = await runForwardBenchmark(
      options,
      { saekit: fake("saekit"), torch: fake("pytorch") },
      (l) => lines.push(l),
    );
    assert.deepEqual(calls, [
      "saekit gpt2-4",
      "pytorch gpt2-4",
      "saekit llama-4",
      "pytorch llama-4",
      "pytorch gpt2-4",
      "saekit gpt2-4",
      "pytorch llama-4",
      "saekit llama-4",
    ]);
    assert.deepEqual(rows.map((r) => [r.family, r.saekit.length, r.pytorch.length]), [["gpt2", 2, 2], [
      "llama",
      2,
      2,
    ]]);
    assert.match(lines[0], /^wrote .*gpt2-4/);
    assert.ok((await Deno.stat(`${forwardModelDir(dir, "llama", 4)}/model.safetensors`)).size > 0);
    // A second run reuses the folders, and without PyTorch runs saekit only.
    lines.length = 0;
    calls.length = 0;
    await runForwardBenchmark({ ...options, rounds: 1 }, { saekit: fake("saekit") }, (l) => lines.push(l));
    assert.match(lines[0], /^reusing /);
    assert.deepEqual(calls, ["saekit gpt2-4", "saekit llama-4"]);
    await assert.rejects(
      () => runForwardBenchmark({ ...options, shapes: { gpt2: shapes.llama } }, { saekit: fake("saekit") }),
      { message: "shapes.gpt2: expected a gpt2 shape, received family llama" },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("torchForwardArgs() passes every setting to the baseline", () => {
  const args = torchForwardArgs({
    model: "/m",
    windows: 8,
    tokens: 128,
    layer: 5,
    repeats: 5,
    warmup: 1,
    seed: 3,
  });
  assert.deepEqual(args, [
    ...["--model", "/m", "--windows", "8", "--tokens", "128", "--layer", "5"],
    ...["--repeats", "5", "--warmup", "1", "--seed", "3"],
  ]);
});

Deno.test("measureSaekitForward() times a small model's forward in this process", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { writeRandomModel } = await import("../../lib/bench/random_models.ts");
    await writeRandomModel(dir, {
      family: "gpt_neox",
      nLayers: 2,
      dModel: 16,
      nHeads: 2,
      dMlp: 32,
      vocabSize: 30,
      maxSeq: 16,
    }, 0);
    const out = await measureSaekitForward({
      model: dir,
      backend: "cpu",
      windows: 2,
      tokens: 8,
      layer: 1,
      repeats: 3,
      warmup: 1,
      seed: 0,
    });
    assert.equal(out.impl, "saekit");
    assert.equal(out.family, "gpt_neox");
    assert.equal(out.backend, "cpu");
    assert.ok(out.min_ms > 0 && out.min_ms <= out.median_ms && out.median_ms <= out.max_ms);
    // 16 tokens per forward, from the unrounded median: within the rounding of median_ms to 0.1 ms
    assert.ok(out.tokens_per_s >= 16 / ((out.median_ms + 0.05) / 1000) - 1);
    assert.ok(out.tokens_per_s <= 16 / ((out.median_ms - 0.05) / 1000) + 1);
    await assert.rejects(
      () =>
        measureSaekitForward({
          model: dir,
          backend: "cpu",
          windows: 1,
          tokens: 2,
          layer: 2,
          repeats: 1,
          warmup: 0,
          seed: 0,
        }),
      { message: "layer: expected an integer in [0, 1], received 2" },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
