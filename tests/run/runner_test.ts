import { assert, tf, values } from "../_helpers.ts";
import { parseConfig } from "../../lib/config.ts";
import { toySource } from "../../lib/data/toy.ts";
import { latestCheckpoint, loadCheckpoint } from "../../lib/io/checkpoint.ts";
import { train } from "../../lib/run/runner.ts";
import { disposeAll } from "../../lib/run/dispose.ts";
import type { TrainState } from "../../lib/train/state.ts";

const config = parseConfig({
  dIn: 8,
  nComponents: 2,
  componentNames: ["a", "b"],
  expansionFactor: 2,
  batchSize: 32,
  storeSize: 128,
  steps: 12,
  logEvery: 4,
  l1Coefficient: 0.01,
  lr: 3e-3,
  lrSchedule: "cosine",
  lrWarmupSteps: 2,
  resampleInterval: 32 * 8,
  resampleCollate: 32 * 4,
  resampleDatasetSize: 32 * 4,
  maxResamples: 2,
  capacitySample: 16,
});
const source = () =>
  toySource({ nComponents: 2, dIn: 8, nFeatures: 12, meanActive: 2, chunkRows: 40, seed: 1 });

async function readLines(path: string): Promise<Record<string, number>[]> {
  return (await Deno.readTextFile(path)).trim().split("\n").map((line) => JSON.parse(line));
}

Deno.test("train() keeps the live tensor count flat across steps and frees everything it made", async () => {
  const before = tf.memory().numTensors;
  const counts: number[] = [];
  const result = await train({
    config: { ...config, steps: 30 },
    source: source(),
    onStep: () => counts.push(tf.memory().numTensors),
  });
  assert.equal(result.stopped, "completed");
  // After the first resample at step 8 the state's shape is fixed: the count must not move.
  const steady = counts.slice(9);
  assert.ok(steady.every((c) => c === steady[0]), `tensor counts moved: ${counts.join(",")}`);
  disposeAll(result.state);
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("train() writes config.json, a metrics line per interval with the last at the last step, and final/", async () => {
  const out = await Deno.makeTempDir();
  const result = await train({ config: { ...config, steps: 10 }, source: source(), out });
  const lines = await readLines(`${out}/metrics.jsonl`);
  assert.deepEqual(lines.map((l) => l.step), [4, 8, 10]);
  assert.deepEqual(lines.map((l) => l.activations), [128, 256, 320]);
  for (
    const key of [
      "loss/total/a",
      "loss/total/mean",
      "loss/l1_learned_activations/b",
      "loss/l2_reconstruction/mean",
      "train/l0_norm/a",
      "train/neuron_activity/mean",
      "train/explained_variance/b",
      "train/dead_fraction/mean",
    ]
  ) {
    assert.equal(typeof lines[2][key], "number", `missing ${key}`);
  }
  assert.equal(typeof lines[1]["resample/dead_neurons/a"], "number", "resample logged at step 8");
  assert.equal(typeof lines[1]["train/capacity/a"], "number", "capacity measured at log steps");
  assert.deepEqual(JSON.parse(await Deno.readTextFile(`${out}/config.json`)), { ...config, steps: 10 });
  assert.ok(await latestCheckpoint(out));
  const summary = JSON.parse(await Deno.readTextFile(`${out}/final/summary.json`));
  assert.equal(summary.step, 10);
  await Deno.stat(`${out}/final/a/sae_weights.safetensors`);
  disposeAll(result.state);
  await Deno.remove(out, { recursive: true });
});

Deno.test("a run stopped halfway and resumed ends bit-identical to an uninterrupted run", async () => {
  const whole = await Deno.makeTempDir();
  const split = await Deno.makeTempDir();
  const a = await train({ config, source: source(), out: whole });
  // Stop after step 6: mid store fill (store 128 = 4 batches), mid log window, inside the resampler's window.
  const controller = new AbortController();
  const first = await train({
    config,
    source: source(),
    out: split,
    signal: controller.signal,
    onStep: (s) => s.step === 6 && controller.abort(),
  });
  assert.equal(first.stopped, "aborted");
  assert.equal(first.state.step, 6);
  disposeAll(first.state);
  const checkpoint = await latestCheckpoint(split);
  assert.equal(checkpoint, `${split}/checkpoints/step-00000006`);
  const resumed = await loadCheckpoint<TrainState>(checkpoint!);
  const b = await train({ config, source: source(), out: split, resume: resumed });
  assert.equal(b.state.step, 12);
  assert.ok(a.state.resampler.resamples >= 1, "the run crossed a resample");
  for (const key of ["wEnc", "bEnc", "wDec", "bDec"] as const) {
    assert.deepEqual(values(b.state.params[key]), values(a.state.params[key]), `${key} differs`);
  }
  const strip = (lines: Record<string, number>[]) => lines.map(({ time_s: _t, ...rest }) => rest);
  assert.deepEqual(
    strip(await readLines(`${split}/metrics.jsonl`)),
    strip(await readLines(`${whole}/metrics.jsonl`)),
  );
  disposeAll(a.state);
  disposeAll(b.state);
  await Deno.remove(whole, { recursive: true });
  await Deno.remove(split, { recursive: true });
});

Deno.test("train() rejects a source of the wrong shape", async () => {
  const wrong = toySource({ nComponents: 1, dIn: 8, nFeatures: 4, meanActive: 1, chunkRows: 8, seed: 0 });
  await assert.rejects(
    () => train({ config, source: wrong }),
    /source: expected 2 components of width 8 \(nComponents, dIn\), received 1 of width 8/,
  );
});
