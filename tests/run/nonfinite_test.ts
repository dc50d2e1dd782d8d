/**
 * Non-finite values: the probe of lib/train/finite.ts, and the runner's
 * checks at every log step, every checkpoint and the resumed state, the
 * first batch of activations, and `onNonfinite: "skip"`.
 */
import { assert, tf, values } from "../_helpers.ts";
import { parseConfig, type TrainConfig } from "../../lib/config.ts";
import { toySource } from "../../lib/data/toy.ts";
import type { ActivationSource } from "../../lib/data/source.ts";
import { checkpointName, loadCheckpoint, saveCheckpoint } from "../../lib/io/checkpoint.ts";
import { exists } from "../../lib/io/files.ts";
import { type LogRecord, MAX_SKIPPED_IN_A_ROW, train } from "../../lib/run/runner.ts";
import { disposeAll } from "../../lib/run/dispose.ts";
import { defaultPipeline } from "../../lib/train/pipeline.ts";
import type { Pipeline } from "../../lib/train/compose.ts";
import type { Batch, TrainState } from "../../lib/train/state.ts";
import {
  countNonFinite,
  finiteProbe,
  NonFiniteError,
  type ProbedTensor,
  probedTensors,
} from "../../lib/train/finite.ts";

// ---------------------------------------------------------------------------------------------------------
// The probe

Deno.test("finiteProbe() sums each component of each tensor, and is NaN or ±Inf exactly where a value is", () => {
  const w = tf.tensor3d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [2, 2, 3]); // [component, 2, 3]
  const v = tf.tensor1d([0.5, -2]); // one value a component
  const s = tf.tensor2d([[1, 2], [3, 4]]); // no component axis (perComponent false)
  const tensors: ProbedTensor[] = [
    { path: "params.w", tensor: w, perComponent: true },
    { path: "metrics.v", tensor: v, perComponent: true },
    { path: "opt.s", tensor: s, perComponent: false },
  ];
  // 1+…+6 = 21, 7+…+12 = 57; then 0.5, −2; then 1+2+3+4 = 10
  const sums0 = finiteProbe(tensors);
  assert.deepEqual(values(sums0), [21, 57, 0.5, -2, 10]);
  const bad = [
    {
      path: "params.w",
      tensor: tf.tensor3d([1, 2, 3, 4, 5, 6, 7, Infinity, 9, 10, 11, 12], [2, 2, 3]),
      perComponent: true,
    },
    { path: "metrics.v", tensor: tf.tensor1d([NaN, 1]), perComponent: true },
    { path: "opt.s", tensor: tf.tensor2d([[1, -Infinity], [Infinity, 4]]), perComponent: false },
  ];
  const before = tf.memory().numTensors;
  const probe = finiteProbe(bad);
  const sums = values(probe);
  assert.equal(sums[0], 21);
  assert.equal(sums[1], Infinity);
  assert.ok(Number.isNaN(sums[2]));
  assert.equal(sums[3], 1);
  assert.ok(Number.isNaN(sums[4]), `−Inf + Inf is NaN, received ${sums[4]}`);
  // The probe frees everything it made but its result.
  assert.equal(tf.memory().numTensors, before + 1);
  tf.dispose([w, v, s, sums0, probe, ...bad.map((b) => b.tensor)]);
});

Deno.test("finiteProbe() overflows on huge finite values, which countNonFinite() then clears", () => {
  const huge = tf.tensor2d([[3e38, 3e38]]); // finite float32, their sum is not
  const probe = finiteProbe([{ path: "params.w", tensor: huge, perComponent: true }]);
  assert.equal(values(probe)[0], Infinity);
  assert.equal(countNonFinite(huge.dataSync()).first, -1);
  tf.dispose([huge, probe]);
});

Deno.test("probedTensors() covers the activations, the loss, every parameter and every optimizer moment", () => {
  const config = parseConfig({ dIn: 4, nComponents: 2, batchSize: 8, storeSize: 8, steps: 1 });
  const state = defaultPipeline(config).init(config);
  const probed = probedTensors(state);
  const paths = probed.map((p) => p.path);
  assert.deepEqual(paths.slice(0, 2), ["metrics.sstSum", "metrics.lossSum"]);
  for (const key of Object.keys(state.params)) {
    assert.ok(paths.includes(`params.${key}`), `params.${key}`);
    assert.ok(paths.some((p) => p.startsWith("opt.") && p.endsWith(`.mu.${key}`)), `mu of ${key}`);
    assert.ok(paths.some((p) => p.startsWith("opt.") && p.endsWith(`.nu.${key}`)), `nu of ${key}`);
  }
  assert.ok(probed.every((p) => p.perComponent), "every tensor has the component axis");
  assert.ok(probed.every((p) => p.tensor.dtype === "float32"));
  disposeAll(state);
});

// ---------------------------------------------------------------------------------------------------------
// The runner

const base = parseConfig({
  dIn: 8,
  nComponents: 2,
  componentNames: ["a", "b"],
  expansionFactor: 2, // dSae 16: wEnc is [2, 8, 16], 128 values a component
  batchSize: 32,
  storeSize: 128,
  steps: 12,
  logEvery: 4,
  checkpointEvery: 2,
  l1Coefficient: 0.01,
  lr: 3e-3,
  maxResamples: 0,
  capacitySample: 16,
});
const toy = () => toySource({ nComponents: 2, dIn: 8, nFeatures: 12, meanActive: 2, chunkRows: 32, seed: 1 });

/** The default pipeline, with NaN written into component b's encoder after step `at`. */
function poisonedAfter(config: TrainConfig, at: number): Pipeline<TrainState, Batch, TrainConfig> {
  const pipeline = defaultPipeline(config);
  return {
    init: pipeline.init,
    step: (state, batch) => {
      const next = pipeline.step(state, batch);
      if (next.step !== at) return next;
      // NaN at (b, 0, 0), (b, 2, 5) and (b, 7, 15) of wEnc [2, 8, 16]: 3 of component b's 128 values.
      const mask = tf.buffer([2, 8, 16], "bool");
      mask.set(true, 1, 0, 0);
      mask.set(true, 1, 2, 5);
      mask.set(true, 1, 7, 15);
      const wEnc = tf.where(mask.toTensor(), tf.fill([2, 8, 16], NaN), next.params.wEnc) as tf.Tensor3D;
      return { ...next, params: { ...next.params, wEnc } };
    },
  };
}

/** Names, sizes and bytes of every file under `dir` (but the lock file). */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const walk = async (path: string, prefix: string) => {
    for await (const entry of Deno.readDir(path)) {
      if (entry.name === ".saekit-lock") continue;
      if (entry.isDirectory) await walk(`${path}/${entry.name}`, `${prefix}${entry.name}/`);
      else {files.set(
          `${prefix}${entry.name}`,
          Array.from(await Deno.readFile(`${path}/${entry.name}`)).join(),
        );}
    }
  };
  await walk(dir, "");
  return files;
}

/** The error `fn` rejects with, checked to be a {@linkcode NonFiniteError}. */
async function nonFiniteRejection(fn: () => Promise<unknown>): Promise<NonFiniteError> {
  try {
    await fn();
  } catch (error) {
    assert.ok(error instanceof NonFiniteError, `expected a NonFiniteError, received ${error}`);
    return error;
  }
  assert.fail("expected a NonFiniteError, received none");
}

async function checkpointsIn(out: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(`${out}/checkpoints`))).map((e) => e.name).sort();
}

async function assertFiniteCheckpoint(path: string): Promise<number> {
  const loaded = await loadCheckpoint<TrainState>(path);
  for (const [key, tensor] of Object.entries(loaded.state.params)) {
    assert.equal(countNonFinite(await tensor.data()).first, -1, `${path}: params.${key}`);
  }
  disposeAll(loaded.state);
  return loaded.step;
}

for (
  const { at, when, kept } of [
    { at: 4, when: "at a log step", kept: ["step-00000002"] },
    // step 6 is no log step (logEvery 4) but a checkpoint step (checkpointEvery 2)
    { at: 6, when: "before a checkpoint", kept: ["step-00000002", "step-00000004"] },
  ]
) {
  Deno.test(`train() stops on a NaN parameter ${when}, naming the step, tensor and component, and keeps the last finite checkpoint`, async () => {
    const out = await Deno.makeTempDir();
    const lines: LogRecord[] = [];
    const error = await nonFiniteRejection(() =>
      train({
        config: base,
        source: toy(),
        out,
        pipeline: poisonedAfter(base, at),
        onLog: (r) => lines.push(r),
      })
    );
    const last = `${out}/checkpoints/${kept.at(-1)}`;
    assert.equal(
      error.message,
      `step ${at}: params.wEnc of b is not finite (NaN in 3 of 128 values); the last finite checkpoint is ${last}; ` +
        `lower --lr (now 0.003) or set --grad-clip-norm (now 0), or continue from it with --resume ${out} ` +
        "--on-nonfinite skip, which skips batches whose loss or gradients are not finite",
    );
    assert.deepEqual([error.step, error.tensor, error.component], [at, "params.wEnc", "b"]);
    // No checkpoint of the non-finite state, no final/, no metrics line of it.
    assert.deepEqual(await checkpointsIn(out), kept);
    assert.equal(await exists(`${out}/final`), false);
    assert.deepEqual(lines.map((l) => l.step), at === 4 ? [] : [4]);
    const written = (await Deno.readTextFile(`${out}/metrics.jsonl`)).trim();
    assert.deepEqual(
      written === "" ? [] : written.split("\n").map((l) => JSON.parse(l).step),
      at === 4 ? [] : [4],
    );
    // The last finite checkpoint loads, and is finite.
    assert.equal(await assertFiniteCheckpoint(last), at - 2);
    await Deno.remove(out, { recursive: true });
  });
}

Deno.test("train() with a learning rate of 1e30 stops non-zero with its last finite checkpoint intact, and writes no final/", async () => {
  const out = await Deno.makeTempDir();
  const config = { ...base, lr: 1e30, checkpointEvery: 1 };
  // Adam's first update is lr · sign(g): after step 1 the parameters are about ±1e30, still finite; at
  // step 2 the reconstruction error (≈ 1e30)² overflows float32 and the loss is no longer finite.
  const error = await nonFiniteRejection(() => train({ config, source: toy(), out }));
  assert.match(
    error.message,
    new RegExp(
      `^step 2: .+ is not finite \\((NaN|[+-]Inf)[^)]*\\); the last finite checkpoint is ${out}/checkpoints/step-00000001; lower --lr \\(now 1e\\+30\\)`,
    ),
  );
  assert.deepEqual(await checkpointsIn(out), ["step-00000001"]);
  assert.equal(await assertFiniteCheckpoint(`${out}/checkpoints/step-00000001`), 1);
  assert.equal(await exists(`${out}/final`), false);
  await Deno.remove(out, { recursive: true });
});

Deno.test("train() refuses to resume from a checkpoint that is not finite, and changes nothing", async () => {
  const out = await Deno.makeTempDir();
  const first = await train({ config: { ...base, steps: 4 }, source: toy(), out });
  disposeAll(first.state);
  // An older saekit wrote NaN into checkpoints: set Adam's ν of bDec [2, 8] to +Inf at (a, 3).
  const path = `${out}/checkpoints/${checkpointName(4)}`;
  const loaded = await loadCheckpoint<TrainState>(path);
  const opt = loaded.state.opt as unknown as Record<string, { nu: Record<string, tf.Tensor> }>;
  const nu = opt[2].nu;
  const bDec = nu.bDec.arraySync() as number[][];
  bDec[0][3] = Infinity;
  nu.bDec.dispose();
  nu.bDec = tf.tensor2d(bDec);
  await saveCheckpoint(path, loaded.state, { position: loaded.position, config: loaded.config });
  const before = await snapshot(out);
  const error = await nonFiniteRejection(() =>
    train({ config: { ...base, steps: 8 }, source: toy(), out, resume: loaded })
  );
  assert.equal(
    error.message,
    "step 4: the checkpoint resumed from holds opt.2.nu.bDec (Adam's second moment of bDec) of a, which is not " +
      "finite (+Inf in 1 of 8 values); resume from an earlier checkpoint (move this one out of checkpoints/) or " +
      "train again",
  );
  assert.deepEqual(await snapshot(out), before);
  disposeAll(loaded.state);
  await Deno.remove(out, { recursive: true });
});

/** A source whose rows pass through `poison(firstRow, data, rows)` (data `[component, rows, dIn]`). */
function poisoned(
  source: ActivationSource,
  poison: (first: number, data: Float32Array, rows: number) => void,
) {
  return {
    nComponents: source.nComponents,
    dIn: source.dIn,
    async *chunks(start: number) {
      let first = start;
      for await (const chunk of source.chunks(start)) {
        const data = chunk.data.slice();
        poison(first, data, chunk.rows);
        yield { data, rows: chunk.rows };
        first += chunk.rows;
      }
    },
  } satisfies ActivationSource;
}

Deno.test("train() refuses a first batch of activations that is not finite, naming the component and where", async () => {
  // Column 3 of every row of component b is NaN: in any order of the rows, the first value that is not
  // finite is at row 0, column 3 of b (component a comes first and is finite).
  const source = poisoned(toy(), (_first, data, rows) => {
    for (let r = 0; r < rows; r++) data[(rows + r) * 8 + 3] = NaN;
  });
  const out = await Deno.makeTempDir();
  await assert.rejects(() => train({ config: base, source, out }), {
    name: "NonFiniteError",
    message:
      "the first batch of activations of b is not finite (NaN at row 0, column 3); check the model and " +
      "its weights, or the activation cache",
  });
  assert.equal(await exists(`${out}/final`), false);
  assert.deepEqual(await checkpointsIn(out).catch(() => []), []);
  // The same with a data-dependent initialisation, which reads the first batches before any step.
  await assert.rejects(() => train({ config: { ...base, bDecInit: "mean" }, source, out }), {
    name: "NonFiniteError",
    message: /^the first batch of activations of b is not finite \(NaN at row 0, column 3\)/,
  });
  await Deno.remove(out, { recursive: true });
});

Deno.test("train() with onNonfinite skip skips a NaN batch: the state stays as before it, and the batch is counted", async () => {
  // One batch a fill (storeSize = batchSize = 32), so source rows [160, 192) are exactly batch 5 (from 0).
  const config = { ...base, storeSize: 32, steps: 12, checkpointEvery: 0 };
  const skipping = poisoned(toy(), (first, data, rows) => {
    for (let r = 0; r < rows; r++) if (first + r >= 160 && first + r < 192) data[r * 8] = NaN; // component a
  });
  const skipLines: LogRecord[] = [];
  const a = await train({
    config: { ...config, onNonfinite: "skip" },
    source: skipping,
    onLog: (r) => skipLines.push(r),
  });
  // The reference: the clean source, and a pipeline that leaves the state as it is on batch 5.
  const inner = defaultPipeline(config);
  let calls = 0;
  const refLines: LogRecord[] = [];
  const b = await train({
    config,
    source: toy(),
    pipeline: {
      init: inner.init,
      step: (state, batch) => (calls++ === 5 ? state : inner.step(state, batch)),
    },
    onLog: (r) => refLines.push(r),
  });
  assert.equal(a.skipped, 1);
  assert.equal(a.state.step, 12);
  assert.equal(a.position, 13 * 32, "the skipped batch's rows count as consumed");
  for (const key of Object.keys(a.state.params) as (keyof TrainState["params"])[]) {
    assert.deepEqual(values(a.state.params[key]!), values(b.state.params[key]!), `params.${key}`);
  }
  // Batch 5 would have been step 6, inside the window logged at step 8.
  assert.deepEqual(skipLines.map((l) => [l.step, l["train/skipped_batches"]]), [[4, 0], [8, 1], [12, 0]]);
  const strip = (lines: LogRecord[]) =>
    lines.map(({ time_s: _t, "train/skipped_batches": _s, ...rest }) => rest);
  assert.deepEqual(strip(skipLines), strip(refLines));
  disposeAll(a.state);
  disposeAll(b.state);
});

Deno.test(`train() with onNonfinite skip stops after ${MAX_SKIPPED_IN_A_ROW} skipped batches in a row`, async () => {
  const out = await Deno.makeTempDir();
  const config = { ...base, lr: 1e30, steps: 400, checkpointEvery: 1, onNonfinite: "skip" as const };
  const error = await nonFiniteRejection(() => train({ config, source: toy(), out }));
  // Step 1 is finite (parameters about ±1e30); every later batch overflows, and the state stays at step 1.
  assert.match(
    error.message,
    new RegExp(
      `^step 1: 100 batches in a row were skipped \\(--on-nonfinite skip\\), so training does not recover: in the ` +
        `last, .+ is not finite \\([^)]+\\); the last finite checkpoint is ${out}/checkpoints/step-00000001; ` +
        "lower --lr \\(now 1e\\+30\\) or set --grad-clip-norm \\(now 0\\)$",
    ),
  );
  assert.deepEqual(await checkpointsIn(out), ["step-00000001"]);
  assert.equal(await exists(`${out}/final`), false);
  await Deno.remove(out, { recursive: true });
});
