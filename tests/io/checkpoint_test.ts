import { assert, tf, values } from "../_helpers.ts";
import { parseConfig } from "../../lib/config.ts";
import { initTrainState } from "../../lib/train/pipeline.ts";
import { checkpointName, latestCheckpoint, loadCheckpoint, saveCheckpoint } from "../../lib/io/checkpoint.ts";
import { denoFileOps, exists, type FileOps } from "../../lib/io/files.ts";
import type { TrainState } from "../../lib/train/state.ts";
import { checkpointPosition, checkpointTensors } from "./_checkpoint_writer.ts";

const config = parseConfig({
  dIn: 4,
  nComponents: 2,
  batchSize: 8,
  storeSize: 16,
  steps: 5,
  resampleDatasetSize: 16,
});

Deno.test("saveCheckpoint() then loadCheckpoint() restores every tensor and number of the state", async () => {
  const dir = await Deno.makeTempDir();
  const state = { ...initTrainState(config), step: 7, activations: 56 };
  await saveCheckpoint(`${dir}/checkpoints/${checkpointName(7)}`, state, { position: 56, config });
  const loaded = await loadCheckpoint<TrainState>(`${dir}/checkpoints/step-00000007`);
  assert.equal(loaded.step, 7);
  assert.equal(loaded.position, 56);
  assert.deepEqual(loaded.config, config);
  assert.equal(loaded.state.activations, 56);
  assert.deepEqual(values(loaded.state.params.wEnc), values(state.params.wEnc));
  assert.deepEqual(values(loaded.state.resampler.reservoirKey), values(state.resampler.reservoirKey));
  assert.equal(loaded.state.resampler.fired.dtype, "int32");
  const adam = (s: TrainState) => (s.opt as unknown[])[2] as { count: number; mu: { wDec: tf.Tensor } };
  assert.equal(adam(loaded.state).count, adam(state).count);
  assert.deepEqual(values(adam(loaded.state).mu.wDec), values(adam(state).mu.wDec));
  assert.deepEqual(Object.keys(loaded.state).sort(), Object.keys(state).sort());
  // nothing temporary is left beside it
  const names = [];
  for await (const e of Deno.readDir(`${dir}/checkpoints`)) names.push(e.name);
  assert.deepEqual(names, ["step-00000007"]);
  assert.equal(await latestCheckpoint(dir), `${dir}/checkpoints/step-00000007`);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("saveCheckpoint() rejects a state it cannot save and leaves the checkpoint there as it was", async () => {
  const dir = await Deno.makeTempDir();
  const state = initTrainState(config);
  await saveCheckpoint(`${dir}/c`, state, { position: 0, config });
  const broken = { ...state, bad: () => 0 } as unknown as TrainState;
  await assert.rejects(
    () => saveCheckpoint(`${dir}/c`, broken, { position: 0, config }),
    /expected JSON-able data/,
  );
  const kept = await loadCheckpoint<TrainState>(`${dir}/c`);
  assert.equal(kept.step, 0);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("latestCheckpoint() finds the highest step and loadCheckpoint() names a missing sidecar", async () => {
  const dir = await Deno.makeTempDir();
  assert.equal(await latestCheckpoint(dir), undefined);
  const state = initTrainState(config);
  for (const step of [2, 10, 4]) {
    await saveCheckpoint(`${dir}/checkpoints/${checkpointName(step)}`, { ...state, step }, {
      position: 0,
      config,
    });
  }
  assert.equal(await latestCheckpoint(dir), `${dir}/checkpoints/step-00000010`);
  await assert.rejects(() => loadCheckpoint(`${dir}/nowhere`), /nowhere\/state.json, which is missing/);
  await Deno.remove(dir, { recursive: true });
});

// ---------------------------------------------------------------------------------------------
// Atomicity: faults injected through the file-system operations, and a process killed mid-write.

type OpCall = { readonly op: keyof FileOps; readonly args: readonly string[] };
/**
 * What to do to one call: `fail` throws instead of doing it (the process goes on, and so does
 * the writer's error handling); `half` (writeFile) writes the first half of the bytes, then
 * throws; `crash` stops the process there: the call does nothing (a writeFile leaves half its
 * bytes) and every later call throws without touching the disk, clean-up included.
 */
type Fault = "fail" | "half" | "crash";

/** Deno's file operations, logging every call that ran and applying `fault` to the one it names. */
function faultyOps(fault: (call: OpCall, index: number) => Fault | undefined = () => undefined) {
  const calls: OpCall[] = [];
  const halfWritten: { path: string; size: number; of: number }[] = [];
  let crashed = false;
  const enter = (op: keyof FileOps, ...args: string[]): Fault | undefined => {
    if (crashed) throw new Error(`${op} ${args.join(" → ")}: the process has crashed`);
    const call = { op, args };
    const chosen = fault(call, calls.length);
    calls.push(call);
    if (chosen === "crash") crashed = true;
    if (chosen === "fail" || (chosen === "crash" && op !== "writeFile")) {
      throw new Error(`injected ${chosen} at ${op} ${args.join(" → ")}`);
    }
    return chosen;
  };
  const fs: FileOps = {
    mkdir: async (path) => {
      enter("mkdir", path);
      await denoFileOps.mkdir(path);
    },
    writeFile: async (path, data, flush) => {
      const chosen = enter("writeFile", path, flush ? "flushed" : "unflushed");
      if (chosen === undefined) return await denoFileOps.writeFile(path, data, flush);
      await denoFileOps.writeFile(path, data.subarray(0, data.length >> 1), flush);
      halfWritten.push({ path, size: (await Deno.stat(path)).size, of: data.length });
      throw new Error(`injected ${chosen} in writeFile ${path}`);
    },
    rename: async (from, to) => {
      enter("rename", from, to);
      await denoFileOps.rename(from, to);
    },
    remove: async (path) => {
      enter("remove", path);
      await denoFileOps.remove(path);
    },
    exists: async (path) => {
      enter("exists", path);
      return await denoFileOps.exists(path);
    },
    syncDir: async (path) => {
      enter("syncDir", path);
      await denoFileOps.syncDir(path);
    },
  };
  return { fs, calls, halfWritten };
}

/** Names in a folder, sorted, with each `.tmp-<pid>-<id>` suffix written `.tmp`. */
async function listing(dir: string): Promise<string[]> {
  const names = [];
  for await (const entry of Deno.readDir(dir)) {
    names.push(entry.name.replace(/\.tmp-\d+-[0-9a-f]{8}$/, ".tmp"));
  }
  return names.sort();
}

// Two contents for the same step 5 of one path, told apart by w and position.
const OLD = { w: [1, 2, 3, 4], position: 40 };
const NEW = { w: [5, 6, 7, 8], position: 99 };
const NEWER = { w: [9, 10, 11, 12], position: 120 };
async function save(path: string, content: typeof OLD, options: { fs?: FileOps } = {}): Promise<void> {
  const state = { step: 5, w: tf.tensor1d(content.w) };
  try {
    await saveCheckpoint(path, state, { position: content.position, config }, options);
  } finally {
    state.w.dispose();
  }
}

/** Asserts that the checkpoint at `path` loads and holds `content` (at step 5). */
async function assertHolds(path: string | undefined, content: typeof OLD): Promise<void> {
  assert.ok(path !== undefined, "expected a checkpoint, found none");
  const loaded = await loadCheckpoint<{ w: tf.Tensor }>(path);
  assert.equal(loaded.step, 5, `${path}: step`);
  assert.equal(loaded.position, content.position, `${path}: position`);
  assert.deepEqual(values(loaded.state.w), content.w, `${path}: w`);
  loaded.state.w.dispose();
}

/** A run folder with the checkpoint `step-00000005` holding OLD. */
async function runWithOld(): Promise<{ run: string; path: string }> {
  const run = await Deno.makeTempDir();
  const path = `${run}/checkpoints/${checkpointName(5)}`;
  await save(path, OLD);
  return { run, path };
}

// The calls of saveCheckpoint() replacing an existing checkpoint, in order (worked out from
// writeDirAtomic's steps): fill the temporary folder, move the old one aside, rename the new one
// in, flush the parent, discard the old one.
const REPLACE_OPS = [
  "mkdir", // 0 tmp
  "writeFile", // 1 tmp/state.safetensors
  "writeFile", // 2 tmp/state.json
  "syncDir", // 3 tmp
  "exists", // 4 path: yes
  "exists", // 5 previous (left by a crash): no
  "rename", // 6 path → previous
  "rename", // 7 tmp → path: the commit
  "syncDir", // 8 parent
  "rename", // 9 previous → a temporary name
  "remove", // 10 that name
];

Deno.test("saveCheckpoint() replacing a checkpoint makes the calls worked out, sidecar last, one commit rename", async () => {
  const { run, path } = await runWithOld();
  const { fs, calls } = faultyOps();
  await save(path, NEW, { fs });
  assert.deepEqual(calls.map((c) => c.op), REPLACE_OPS);
  const tmp = calls[0].args[0];
  assert.match(tmp, /\/checkpoints\/step-00000005\.tmp-\d+-[0-9a-f]{8}$/);
  assert.deepEqual(calls[1].args, [`${tmp}/state.safetensors`, "flushed"]);
  assert.deepEqual(calls[2].args, [`${tmp}/state.json`, "flushed"]);
  assert.deepEqual(calls[6].args, [path, `${path}.saekit-previous`]);
  assert.deepEqual(calls[7].args, [tmp, path]);
  assert.deepEqual(calls[8].args, [`${run}/checkpoints`]);
  assert.equal(calls[9].args[0], `${path}.saekit-previous`);
  assert.deepEqual(calls[10].args, [calls[9].args[1]]);
  await assertHolds(path, NEW);
  assert.deepEqual(await listing(`${run}/checkpoints`), ["step-00000005"]);
  await Deno.remove(run, { recursive: true });
});

Deno.test("saveCheckpoint() failing after its temporary folder exists keeps the previous checkpoint", async () => {
  const cases: { what: string; fault: (call: OpCall) => Fault | undefined; half: boolean }[] = [
    {
      what: "half of state.safetensors written",
      fault: (c) => c.op === "writeFile" && c.args[0].endsWith("/state.safetensors") ? "half" : undefined,
      half: true,
    },
    {
      what: "state.safetensors written, state.json fails",
      fault: (c) => c.op === "writeFile" && c.args[0].endsWith("/state.json") ? "fail" : undefined,
      half: false,
    },
    {
      what: "both files written, flushing the folder fails",
      fault: (c) => c.op === "syncDir" && /\.tmp-/.test(c.args[0]) ? "fail" : undefined,
      half: false,
    },
  ];
  for (const { what, fault, half } of cases) {
    const { run, path } = await runWithOld();
    const { fs, calls, halfWritten } = faultyOps(fault);
    await assert.rejects(() => save(path, NEW, { fs }), /injected/, what);
    // the temporary folder had been made (and, for the first case, held half a file)
    assert.equal(calls[0].op, "mkdir", what);
    assert.match(calls[0].args[0], /step-00000005\.tmp-/, what);
    if (half) {
      assert.equal(halfWritten.length, 1, what);
      assert.ok(halfWritten[0].size > 0, what);
      assert.equal(halfWritten[0].size, Math.floor(halfWritten[0].of / 2), what);
    }
    assert.ok(!calls.some((c) => c.op === "rename"), `${what}: nothing renamed`);
    await assertHolds(path, OLD);
    assert.equal(await latestCheckpoint(run), path, what);
    assert.deepEqual(
      await listing(`${run}/checkpoints`),
      ["step-00000005"],
      `${what}: temporary folder removed`,
    );
    await Deno.remove(run, { recursive: true });
  }
  // A new step that fails half-written leaves no folder at its name: the latest stays the old step.
  const { run, path } = await runWithOld();
  const { fs } = faultyOps((c) => c.op === "writeFile" ? "half" : undefined);
  await assert.rejects(
    () =>
      saveCheckpoint(`${run}/checkpoints/${checkpointName(6)}`, { step: 6 }, { position: 0, config }, { fs }),
    /injected half/,
  );
  assert.equal(await latestCheckpoint(run), path);
  assert.deepEqual(await listing(`${run}/checkpoints`), ["step-00000005"]);
  await Deno.remove(run, { recursive: true });
});

Deno.test("saveCheckpoint() failing at each rename of a replace leaves a whole checkpoint at the path", async () => {
  const renames = REPLACE_OPS.flatMap((op, i) => op === "rename" ? [i] : []);
  assert.deepEqual(renames, [6, 7, 9]);
  for (const at of renames) {
    const { run, path } = await runWithOld();
    const { fs, calls } = faultyOps((_, i) => i === at ? "fail" : undefined);
    if (at < 9) {
      // before the commit: the error comes back and the old checkpoint is at the path again
      await assert.rejects(() => save(path, NEW, { fs }), /injected fail at rename/);
      await assertHolds(path, OLD);
      assert.equal(await latestCheckpoint(run), path);
      assert.deepEqual(await listing(`${run}/checkpoints`), ["step-00000005"], `rename ${at}`);
      // failing at the commit, the old one was moved aside, then moved back
      if (at === 7) assert.deepEqual(calls.at(-2)?.args, [`${path}.saekit-previous`, path]);
    } else {
      // after the commit the write has succeeded; the old one stays whole beside it
      await save(path, NEW, { fs });
      await assertHolds(path, NEW);
      assert.equal(await latestCheckpoint(run), path);
      assert.deepEqual(await listing(`${run}/checkpoints`), [
        "step-00000005",
        "step-00000005.saekit-previous",
      ]);
      await assertHolds(`${path}.saekit-previous`, OLD);
      // the next replace discards it
      await save(path, NEWER);
      await assertHolds(path, NEWER);
      assert.deepEqual(await listing(`${run}/checkpoints`), ["step-00000005"]);
    }
    await Deno.remove(run, { recursive: true });
  }
  // The one rename of a new folder failing: nothing at its name, the previous step is the latest.
  const { run, path } = await runWithOld();
  const { fs } = faultyOps((c) => c.op === "rename" ? "fail" : undefined);
  await assert.rejects(
    () =>
      saveCheckpoint(`${run}/checkpoints/${checkpointName(6)}`, { step: 6 }, { position: 0, config }, { fs }),
    /injected fail at rename/,
  );
  assert.equal(await latestCheckpoint(run), path);
  assert.deepEqual(await listing(`${run}/checkpoints`), ["step-00000005"]);
  await Deno.remove(run, { recursive: true });
});

Deno.test("saveCheckpoint() cut short by a crash at any call of a replace leaves a loadable checkpoint", async () => {
  // What each crash point leaves, worked out from REPLACE_OPS (the call at the crash point does
  // not happen; a crashed writeFile leaves half its bytes): which content latestCheckpoint()
  // finds and where, and the folder's names.
  const expected: { holds: typeof OLD; at: "path" | "previous"; names: string[] }[] = [
    { holds: OLD, at: "path", names: ["step-00000005"] }, // 0 before mkdir
    ...[1, 2, 3, 4, 5, 6].map(() => ({
      holds: OLD,
      at: "path" as const,
      names: ["step-00000005", "step-00000005.tmp"], // the new folder, whole or not, is left
    })),
    { holds: OLD, at: "previous", names: ["step-00000005.saekit-previous", "step-00000005.tmp"] }, // 7
    { holds: NEW, at: "path", names: ["step-00000005", "step-00000005.saekit-previous"] }, // 8 flush
    { holds: NEW, at: "path", names: ["step-00000005", "step-00000005.saekit-previous"] }, // 9
    { holds: NEW, at: "path", names: ["step-00000005", "step-00000005.tmp"] }, // 10 the old one, renamed
  ];
  assert.equal(expected.length, REPLACE_OPS.length);
  for (const [at, want] of expected.entries()) {
    const { run, path } = await runWithOld();
    const { fs, calls } = faultyOps((_, i) => i === at ? "crash" : undefined);
    if (at <= 8) await assert.rejects(() => save(path, NEW, { fs }), /injected crash|has crashed/);
    else await save(path, NEW, { fs }); // after the commit and its flush, a failed clean-up is not an error
    assert.equal(calls.length, at + 1, `crash at call ${at}`);
    assert.deepEqual(await listing(`${run}/checkpoints`), want.names, `crash at call ${at}`);
    const latest = await latestCheckpoint(run);
    assert.equal(latest, want.at === "path" ? path : `${path}.saekit-previous`, `crash at call ${at}`);
    await assertHolds(latest, want.holds);
    if (want.at === "previous") {
      await assert.rejects(
        () => loadCheckpoint(path),
        /interrupted replace left the previous checkpoint whole/,
      );
    }
    // the writer of the next run goes on over whatever the crash left
    await save(path, NEWER);
    await assertHolds(await latestCheckpoint(run), NEWER);
    assert.equal(await latestCheckpoint(run), path);
    await Deno.remove(run, { recursive: true });
  }
});

/** A small seeded generator (mulberry32) for the kill delays. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FLOATS = 1 << 20; // 4 MiB of float32 a checkpoint

/** Asserts that the checkpoint at `path` loads and holds what the writer derives from its step; returns the step. */
async function assertWritten(path: string): Promise<number> {
  const loaded = await loadCheckpoint<{ w: tf.Tensor; count: tf.Tensor }>(path);
  try {
    const step = loaded.step;
    const want = checkpointTensors(step, FLOATS);
    assert.equal(loaded.position, checkpointPosition(step), `${path}: position`);
    assert.deepEqual(Array.from(await loaded.state.count.data()), [step, -step], `${path}: count`);
    const w = await loaded.state.w.data();
    assert.equal(w.length, FLOATS, `${path}: w length`);
    const bad = w.findIndex((v, i) => v !== want.w[i]);
    assert.equal(bad, -1, `${path}: w[${bad}] expected ${want.w[bad]}, received ${w[bad]}`);
    return step;
  } finally {
    tf.dispose([loaded.state.w, loaded.state.count]);
  }
}

/** The half-written folders (`*.tmp-*`) in a run folder and its checkpoints, by path. */
async function temporaries(run: string): Promise<Set<string>> {
  const found = new Set<string>();
  for (const dir of [run, `${run}/checkpoints`]) {
    if (!(await exists(dir))) continue;
    for await (const entry of Deno.readDir(dir)) {
      if (/\.tmp-\d+-[0-9a-f]{8}$/.test(entry.name)) found.add(`${dir}/${entry.name}`);
    }
  }
  return found;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test({
  name: "saveCheckpoint() in a process killed with SIGKILL mid-write leaves every checkpoint whole",
  async fn() {
    const run = await Deno.makeTempDir();
    try {
      const random = mulberry32(20240611);
      const trials = 8;
      let first = 1; // the writer's first step in a trial
      const left = new Set<string>(); // half-written folders left by the kills so far
      let killedInWrite = 0; // trials whose kill left a new half-written folder
      for (let trial = 0; trial < trials; trial++) {
        const child = new Deno.Command("deno", {
          args: [
            "run",
            "--quiet",
            "--allow-read",
            "--allow-write",
            "--allow-env",
            new URL("./_checkpoint_writer.ts", import.meta.url).pathname,
            run,
            String(first),
            String(FLOATS),
            "200", // at most: it stops by itself should the kill below not come
          ],
          cwd: new URL("../..", import.meta.url).pathname,
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        let out = "";
        const reading = (async () => {
          for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) out += text;
        })();
        const errors = new Response(child.stderr).text();
        let ended = false;
        child.status.then(() => ended = true);
        let status: Deno.CommandStatus;
        try {
          // Wait for one whole cycle of this process (both folders written once) ...
          const started = Date.now();
          while (!out.includes(`saved same ${first}\n`)) {
            if (ended) assert.fail(`writer exited before its first write: ${out} ${await errors}`);
            assert.ok(Date.now() - started < 60_000, `writer wrote nothing in 60 s: ${out}`);
            await sleep(10);
          }
          if (trial % 2 === 0) {
            // ... then kill it anywhere in the next ~3 cycles (seeded delay), ...
            await sleep(Math.floor(random() * 200));
          } else {
            // ... or aim inside a write: once the 1st, 2nd or 3rd new temporary folder shows
            // (the next step's, the rewritten folder's, the step after), after 0 to 7 ms.
            const nth = 1 + Math.floor(random() * 3);
            const delay = Math.floor(random() * 8);
            const seen = new Set<string>();
            const aim = Date.now();
            while (seen.size < nth && !ended && Date.now() - aim < 30_000) {
              for (const path of await temporaries(run)) if (!left.has(path)) seen.add(path);
              if (seen.size < nth) await sleep(1);
            }
            await sleep(delay);
          }
        } finally {
          if (!ended) child.kill("SIGKILL");
          status = await child.status;
          await reading;
        }
        if (status.signal !== "SIGKILL") {
          assert.fail(
            `trial ${trial}: expected the writer killed, it exited ${status.code}: ${out} ${await errors}`,
          );
        }
        await errors;

        const said = (what: string) =>
          Math.max(...[...out.matchAll(new RegExp(`^saved ${what} (\\d+)$`, "gm"))].map((m) => Number(m[1])));
        const lastStep = said("step"); // written and returned: must be found whole
        const lastSame = said("same");
        // The newest checkpoint is the last one reported, or the one after it if the kill came
        // between its rename and the report; never a half-written folder.
        const latest = await latestCheckpoint(run);
        assert.ok(latest !== undefined, `trial ${trial}: a checkpoint`);
        assert.match(latest, /\/checkpoints\/step-\d{8}(\.saekit-previous)?$/);
        const latestStep = await assertWritten(latest);
        assert.ok(
          latestStep === lastStep || latestStep === lastStep + 1,
          `trial ${trial}: latest step expected ${lastStep} or ${lastStep + 1}, received ${latestStep}`,
        );
        // Every checkpoint folder this trial wrote is whole (earlier trials' were checked then).
        for (const name of await listing(`${run}/checkpoints`)) {
          const match = /^step-(\d{8})(\.saekit-previous)?$/.exec(name);
          if (match === null || Number(match[1]) < first) continue;
          assert.equal(await assertWritten(`${run}/checkpoints/${name}`), Number(match[1]), name);
        }
        // The folder rewritten at every step holds the last reported step or the next one; if the
        // kill came between moving it aside and renaming the new one in, it is whole beside it.
        const same = `${run}/same`;
        const sameStep = await assertWritten(await exists(same) ? same : `${same}.saekit-previous`);
        assert.ok(
          sameStep === lastSame || sameStep === lastSame + 1,
          `trial ${trial}: ${same} expected step ${lastSame} or ${lastSame + 1}, received ${sameStep}`,
        );
        const temporary = await temporaries(run);
        if ([...temporary].some((path) => !left.has(path))) killedInWrite++;
        for (const path of temporary) left.add(path);
        first = lastStep + 1; // may rewrite a step whose report the kill cut off
      }
      // Half-written `*.tmp-*` folders stay where a kill left them (nothing removes them); they
      // were never taken above. A test that never killed inside a write would prove nothing.
      assert.ok(
        killedInWrite > 0,
        `expected a kill inside a write in ${trials} trials, found ${killedInWrite}`,
      );
      // At the end, every checkpoint of every trial is whole.
      for (const name of await listing(`${run}/checkpoints`)) {
        const match = /^step-(\d{8})(\.saekit-previous)?$/.exec(name);
        if (match !== null) {
          assert.equal(await assertWritten(`${run}/checkpoints/${name}`), Number(match[1]), name);
        }
      }
    } finally {
      await Deno.remove(run, { recursive: true }); // tens of MB of checkpoints, checks passed or not
    }
  },
});
