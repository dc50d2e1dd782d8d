/**
 * Resuming from damaged run folders: a checkpoint whose tensors do not have its configuration's shapes,
 * `--resume` passing over a corrupt newest checkpoint to the one before it (and losing nothing), and
 * the removal of the half-written folders a crash leaves in `checkpoints/`, and only those.
 */
import { assert, tf, values } from "../_helpers.ts";
import { parseConfig } from "../../lib/config.ts";
import { initTrainState } from "../../lib/train/pipeline.ts";
import { runTrainCommand } from "../../lib/cli/train.ts";
import {
  checkpointName,
  checkStateShapes,
  latestCheckpoint,
  listCheckpoints,
  loadCheckpoint,
  loadLatestCheckpoint,
  removeCheckpointTemps,
  saveCheckpoint,
} from "../../lib/io/checkpoint.ts";
import { denoFileOps, type FileOps, tempTarget } from "../../lib/io/files.ts";
import { decodeSafetensors, encodeSafetensors } from "../../lib/io/safetensors.ts";
import { tensorShapes } from "../../lib/io/tree.ts";
import { disposeAll } from "../../lib/run/dispose.ts";

/** The toy run of tests/cli/train_test.ts: 3 components, dIn 32, dSae 4 · 32 = 128. */
const small = [
  "--source",
  "toy",
  "--backend",
  "cpu",
  "--batch-size",
  "64",
  "--store-size",
  "256",
  "--log-every",
  "2",
  "--checkpoint-every",
  "2",
  "--resample-interval",
  "640",
  "--resample-collate",
  "320",
  "--resample-dataset-size",
  "128",
];

function capture() {
  let text = "";
  return {
    write: (t: string) => void (text += t),
    text: () => text,
    isTerminal: false,
    signal: new AbortController().signal,
  };
}

async function names(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
}

/** The steps of a run's metrics lines. */
async function loggedSteps(out: string): Promise<number[]> {
  const text = await Deno.readTextFile(`${out}/metrics.jsonl`);
  return text.trim().split("\n").map((line) => JSON.parse(line).step);
}

/** Rewrites a checkpoint's `params.wEnc` `[c, dIn, dSae]` as its transpose `[c, dSae, dIn]`. */
async function transposeWEnc(dir: string): Promise<void> {
  const path = `${dir}/state.safetensors`;
  const file = decodeSafetensors(await Deno.readFile(path), path);
  const { shape, data } = file.tensors["params.wEnc"];
  const [c, rows, cols] = shape;
  const flipped = new Float32Array(data.length);
  for (let k = 0; k < c; k++) {
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) {
        flipped[k * rows * cols + j * rows + i] = data[k * rows * cols + i * cols + j];
      }
    }
  }
  const tensors = {
    ...file.tensors,
    "params.wEnc": { dtype: "F32" as const, shape: [c, cols, rows], data: flipped },
  };
  await Deno.writeFile(path, encodeSafetensors(tensors, file.metadata));
}

Deno.test("checkStateShapes() names the tensor that is transposed, missing or extra", () => {
  const want = { "params.wEnc": [1, 512, 4096], n: [1] };
  const at = "runs/x/checkpoints/step-00000020";
  checkStateShapes(want, want, at);
  const cases: [Record<string, number[]>, string][] = [
    [
      { ...want, "params.wEnc": [1, 4096, 512] },
      "params.wEnc: expected shape [1, 512, 4096] (from the configuration), received [1, 4096, 512]",
    ],
    [
      { ...want, "params.wEnc": [512, 4096] },
      "params.wEnc: expected shape [1, 512, 4096] (from the configuration), received [512, 4096]",
    ],
    [
      { "params.wEnc": want["params.wEnc"] },
      "n: expected a tensor of shape [1] (from the configuration), received none",
    ],
    [
      { ...want, extra: [2, 2] },
      "extra: expected no such tensor (the configuration has none), received shape [2, 2]",
    ],
  ];
  for (const [received, message] of cases) {
    assert.throws(() => checkStateShapes(received, want, at), {
      name: "RangeError",
      message: `${at}: ${message}`,
    });
  }
});

Deno.test("a fresh state without a sample has the shapes of one initialised from a sample (what --resume checks against)", () => {
  // The CLI builds the expected shapes with normalizeActivations "none" and bDecInit "zeros": the other
  // initialisations must change values only.
  for (const transcoder of [false, true]) {
    const config = parseConfig({
      dIn: 4,
      nComponents: 2,
      batchSize: 8,
      storeSize: 16,
      resampleDatasetSize: 16,
      normalizeActivations: "expected-norm",
      bDecInit: "geometric-median",
      ...(transcoder
        ? { source: "model", transcoderFrom: ["a.0", "a.1"], transcoderTo: ["b.0", "b.1"] }
        : {}),
    });
    const sample = { x: tf.randomNormal([transcoder ? 4 : 2, 8, 4], 0, 1, "float32", 1) as tf.Tensor3D };
    const sampled = initTrainState(config, sample);
    const plain = initTrainState({ ...config, normalizeActivations: "none", bDecInit: "zeros" });
    checkStateShapes(tensorShapes(sampled), tensorShapes(plain), transcoder ? "transcoder" : "sae");
    assert.deepEqual(tensorShapes(sampled), tensorShapes(plain));
    disposeAll([sample, sampled, plain]);
  }
});

Deno.test("--resume refuses a checkpoint with a transposed wEnc by its shapes, or passes over it to an earlier one", async () => {
  const out = await Deno.makeTempDir();
  try {
    assert.equal(await runTrainCommand([...small, "--steps", "4", "--out", out], capture()), 0);
    const step2 = `${out}/checkpoints/step-00000002`, step4 = `${out}/checkpoints/step-00000004`;
    const good4 = await Deno.readFile(`${step4}/state.safetensors`);
    await transposeWEnc(step4);

    // step 4 is passed over, with its reason; the run resumes at 2 and writes step 4 again, as it was
    const io = capture();
    assert.equal(await runTrainCommand(["--resume", out], io), 0);
    assert.ok(
      io.text().includes(
        `saekit: warning: checkpoint ${step4} cannot be loaded, trying the one before it: ` +
          `${step4}: params.wEnc: expected shape [3, 32, 128] (from the configuration), received [3, 128, 32]\n`,
      ),
      io.text(),
    );
    assert.match(io.text(), new RegExp(`resuming ${step2} at step 2\\n`));
    assert.deepEqual(await Deno.readFile(`${step4}/state.safetensors`), good4);

    // with no earlier checkpoint, the shape error itself (not a batch-shape error later), and nothing removed
    await Deno.remove(step2, { recursive: true });
    await transposeWEnc(step4);
    const bad4 = await Deno.readFile(`${step4}/state.safetensors`);
    await assert.rejects(() => runTrainCommand(["--resume", out, "--steps", "6"], capture()), {
      message:
        `${step4}: params.wEnc: expected shape [3, 32, 128] (from the configuration), received [3, 128, 32]`,
    });
    assert.deepEqual(await names(`${out}/checkpoints`), ["step-00000004"]);
    assert.deepEqual(await Deno.readFile(`${step4}/state.safetensors`), bad4);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("--resume passes over a truncated newest checkpoint to the one before it and loses nothing earlier", async () => {
  const out = await Deno.makeTempDir();
  try {
    assert.equal(await runTrainCommand([...small, "--steps", "6", "--out", out], capture()), 0);
    const at = (step: number) => `${out}/checkpoints/${checkpointName(step)}`;
    assert.deepEqual(await names(`${out}/checkpoints`), [2, 4, 6].map(checkpointName));
    const before = new Map<string, Uint8Array>();
    for (const step of [2, 4, 6]) {
      for (const file of ["state.safetensors", "state.json"]) {
        before.set(`${step}/${file}`, await Deno.readFile(`${at(step)}/${file}`));
      }
    }
    // Cut step 6's file right after its header, as a disk that lied about a flush would leave it. Which
    // tensor is named: the first in the header (read here by hand) whose bytes were cut.
    const bytes = before.get("6/state.safetensors")!;
    const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
    const [name, first] = Object.entries(header as Record<string, { data_offsets: number[] }>).find((
      [key, entry],
    ) => key !== "__metadata__" && entry.data_offsets[1] > 0)!;
    await Deno.writeFile(`${at(6)}/state.safetensors`, bytes.subarray(0, 8 + headerLength));

    const io = capture();
    assert.equal(await runTrainCommand(["--resume", out, "--steps", "8"], io), 0);
    const warnings = io.text().split("\n").filter((line) => line.includes("warning: checkpoint"));
    assert.deepEqual(warnings, [
      `saekit: warning: checkpoint ${at(6)} cannot be loaded, trying the one before it: ` +
      `${at(6)}/state.safetensors: tensor ${JSON.stringify(name)}: expected data_offsets within the 0-byte ` +
      `data section, received [${first.data_offsets.join(", ")}]`,
    ]);
    assert.match(io.text(), new RegExp(`resuming ${at(4)} at step 4\\n`));
    // checkpoints 2 and 4 as they were; 6 written again by the resumed run, bit for bit what the
    // uninterrupted run wrote; 8 new
    assert.deepEqual(await names(`${out}/checkpoints`), [2, 4, 6, 8].map(checkpointName));
    for (const step of [2, 4]) {
      for (const file of ["state.safetensors", "state.json"]) {
        assert.deepEqual(
          await Deno.readFile(`${at(step)}/${file}`),
          before.get(`${step}/${file}`),
          `${step}/${file}`,
        );
      }
    }
    assert.deepEqual(await Deno.readFile(`${at(6)}/state.safetensors`), before.get("6/state.safetensors"));
    assert.deepEqual(await loggedSteps(out), [2, 4, 6, 8]);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("loadLatestCheckpoint() warns once per checkpoint passed over and, when none loads, says how many", async () => {
  const run = await Deno.makeTempDir();
  try {
    for (const step of [2, 4, 6]) {
      const state = { step, w: tf.tensor1d([step, -step]) };
      await saveCheckpoint(`${run}/checkpoints/${checkpointName(step)}`, state, {
        position: 8 * step,
        config: {},
      });
      state.w.dispose();
    }
    const at = (step: number) => `${run}/checkpoints/${checkpointName(step)}`;
    // 6: state.json cut short; 4: a header length beyond its file (100 bytes after the length field)
    await Deno.writeTextFile(`${at(6)}/state.json`, '{"format": "saekit-checkpoint/1", "st');
    const four = await Deno.readFile(`${at(4)}/state.safetensors`);
    const garbage = new Uint8Array(108);
    garbage[0] = 0xe8; // 1000 = 0x3e8, little-endian
    garbage[1] = 0x03;
    await Deno.writeFile(`${at(4)}/state.safetensors`, garbage);
    const lines: string[] = [];
    const warn = (line: string) => void lines.push(line);
    const loaded = await loadLatestCheckpoint<{ w: tf.Tensor }>(run, { warn });
    assert.equal(loaded?.dir, at(2));
    assert.deepEqual([loaded!.step, loaded!.position, ...values(loaded!.state.w)], [2, 16, 2, -2]);
    loaded!.state.w.dispose();
    assert.equal(lines.length, 2);
    assert.match(
      lines[0],
      new RegExp(
        `^warning: checkpoint ${at(6)} cannot be loaded, trying the one before it: ${
          at(6)
        }/state\\.json: expected JSON`,
      ),
    );
    assert.equal(
      lines[1],
      `warning: checkpoint ${at(4)} cannot be loaded, trying the one before it: ${
        at(4)
      }/state.safetensors: ` +
        "expected a header length within the file (at most 100 bytes after the 8-byte length), received 1000",
    );
    // with an expected shape that none has: all three fail; the error names how many and the oldest's reason
    lines.length = 0;
    await Deno.writeFile(`${at(4)}/state.safetensors`, four);
    await assert.rejects(
      () => loadLatestCheckpoint(run, { warn, expected: { w: [3] } }),
      {
        message:
          `${run}/checkpoints: expected a checkpoint that loads, none of the 3 does (the newer ones are named ` +
          `above); the oldest, ${at(2)}: ${
            at(2)
          }: w: expected shape [3] (from the configuration), received [2]`,
      },
    );
    assert.equal(lines.length, 2);
    assert.equal(await loadLatestCheckpoint(`${run}/nothing`), undefined);
    assert.deepEqual(await names(`${run}/checkpoints`), [2, 4, 6].map(checkpointName));
  } finally {
    await Deno.remove(run, { recursive: true });
  }
});

Deno.test("listCheckpoints() and latestCheckpoint() order steps, a folder before its .saekit-previous", async () => {
  const run = await Deno.makeTempDir();
  try {
    for (
      const name of [
        "step-00000010",
        "step-00000010.saekit-previous",
        "step-00000009",
        "step-00000100.tmp-1-0f3a9c2e",
      ]
    ) {
      await Deno.mkdir(`${run}/checkpoints/${name}`, { recursive: true });
    }
    assert.deepEqual(await listCheckpoints(run), [
      `${run}/checkpoints/step-00000010`,
      `${run}/checkpoints/step-00000010.saekit-previous`,
      `${run}/checkpoints/step-00000009`,
    ]);
    // latestCheckpoint() takes the first with a sidecar
    await Deno.writeTextFile(`${run}/checkpoints/step-00000009/state.json`, "{}");
    assert.equal(await latestCheckpoint(run), `${run}/checkpoints/step-00000009`);
  } finally {
    await Deno.remove(run, { recursive: true });
  }
});

/** Deno's file operations, which stop for good ("the process is killed") at call number `at`. */
function crashingOps(at: number): { fs: FileOps; made: string[] } {
  let calls = 0;
  const made: string[] = [];
  const enter = () => {
    if (calls++ >= at) throw new Error("killed");
  };
  const fs: FileOps = {
    mkdir: async (path) => {
      enter();
      made.push(path);
      await denoFileOps.mkdir(path);
    },
    writeFile: async (path, data, flush) => (enter(), await denoFileOps.writeFile(path, data, flush)),
    rename: async (from, to) => (enter(), await denoFileOps.rename(from, to)),
    remove: async (path) => (enter(), await denoFileOps.remove(path)),
    exists: async (path) => (enter(), await denoFileOps.exists(path)),
    syncDir: async (path) => (enter(), await denoFileOps.syncDir(path)),
  };
  return { fs, made };
}

Deno.test("removeCheckpointTemps() removes what a crash at any point of a checkpoint write leaves, and nothing else", async () => {
  const state = (step: number, v: number) => ({ step, w: tf.tensor1d([v]) });
  // The writer's own temporary name is recognised as one for the checkpoint's folder.
  {
    const run = await Deno.makeTempDir();
    const { fs, made } = crashingOps(1_000);
    const s = state(5, 1);
    await saveCheckpoint(`${run}/checkpoints/${checkpointName(5)}`, s, { position: 0, config: {} }, { fs });
    s.w.dispose();
    assert.equal(made.length, 1);
    assert.equal(tempTarget(made[0].slice(made[0].lastIndexOf("/") + 1)), "step-00000005");
    await Deno.remove(run, { recursive: true });
  }
  // A replace of step 5 killed at each of its calls; beside it, names that only look alike.
  const lookalikes = [
    "step-00000005.tmp-notes",
    "notes.tmp-1-0f3a9c2e",
    "step-00000005.tmp-1-0F3A9C2E",
    "keep.txt",
  ];
  // The replace's calls: 0 mkdir(tmp), 1-2 writeFile, 3 syncDir(tmp), 4-5 exists, 6 rename(path → previous),
  // 7 rename(tmp → path), 8 syncDir(parent), 9 rename(previous → trash), 10 remove(trash). Killed at 1 to 7
  // the new folder is left; at 10 the trash (the old folder under a temporary name).
  const leftTemps: number[] = [];
  for (let at = 0; at < 12; at++) {
    const run = await Deno.makeTempDir();
    const path = `${run}/checkpoints/${checkpointName(5)}`;
    const old = state(5, 1);
    await saveCheckpoint(path, old, { position: 0, config: {} });
    for (const name of lookalikes) {
      if (name.endsWith(".txt")) await Deno.writeTextFile(`${run}/checkpoints/${name}`, "mine");
      else await Deno.mkdir(`${run}/checkpoints/${name}`);
    }
    const next = state(5, 2);
    await saveCheckpoint(path, next, { position: 0, config: {} }, crashingOps(at)).catch(() => {});
    tf.dispose([old.w, next.w]);
    const left = await names(`${run}/checkpoints`);
    const temps = left.filter((n) => /^step-00000005\.tmp-\d+-[0-9a-f]{8}$/.test(n)); // worked out by hand
    const removed = await removeCheckpointTemps(run);
    if (removed.length > 0) leftTemps.push(at);
    assert.deepEqual(removed, temps.map((n) => `${run}/checkpoints/${n}`), `killed at call ${at}`);
    assert.deepEqual(
      await names(`${run}/checkpoints`),
      left.filter((n) => !temps.includes(n)),
      `killed at call ${at}`,
    );
    for (const name of lookalikes) assert.ok(left.includes(name), `${name} kept (killed at call ${at})`);
    // what is left still loads
    const loaded = await loadCheckpoint<{ w: tf.Tensor }>((await latestCheckpoint(run))!);
    assert.ok([1, 2].includes(values(loaded.state.w)[0]), `killed at call ${at}`);
    loaded.state.w.dispose();
    await Deno.remove(run, { recursive: true });
  }
  assert.deepEqual(leftTemps, [1, 2, 3, 4, 5, 6, 7, 10]);
});

Deno.test("a run removes the stale *.tmp-* folders of checkpoints/ when it starts, and nothing else", async () => {
  const out = await Deno.makeTempDir();
  try {
    assert.equal(await runTrainCommand([...small, "--steps", "2", "--out", out], capture()), 0);
    const stale = ["step-00000004.tmp-4121-0f3a9c2e", "step-00000002.tmp-77-00000000"];
    const kept = ["step-00000004.tmp-notes", "notes.tmp-1-0f3a9c2e", "keep.txt"];
    for (const name of stale) {
      await Deno.mkdir(`${out}/checkpoints/${name}`);
      await Deno.writeTextFile(`${out}/checkpoints/${name}/state.json`, '{"half": ');
    }
    for (const name of kept) {
      if (name.endsWith(".txt")) await Deno.writeTextFile(`${out}/checkpoints/${name}`, "mine");
      else await Deno.mkdir(`${out}/checkpoints/${name}`);
    }
    assert.equal(await runTrainCommand(["--resume", out, "--steps", "4"], capture()), 0);
    assert.deepEqual(await names(`${out}/checkpoints`), [...kept, "step-00000002", "step-00000004"].sort());
    assert.equal(await Deno.readTextFile(`${out}/checkpoints/keep.txt`), "mine");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
