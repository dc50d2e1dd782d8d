/**
 * `deno task train` when things go wrong: two processes on one run folder, a
 * killed holder, resuming a finished run (or one whose final/ a crash cut
 * short), a torn last metrics line, and a run that diverges.
 */
import { assert } from "../_helpers.ts";
import { runTrainCommand } from "../../lib/cli/train.ts";
import { latestCheckpoint, loadCheckpoint } from "../../lib/io/checkpoint.ts";
import { exists } from "../../lib/io/files.ts";
import { LOCK_FILE } from "../../lib/run/lock.ts";
import { disposeAll } from "../../lib/run/dispose.ts";
import type { TrainState } from "../../lib/train/state.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const HINT = "one process writes a run folder at a time; wait for it to end or write to another folder";

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
  "--tensorboard",
  "false",
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

/** The deno binary to start (as tests/module_graph_test.ts finds it). */
async function denoBinary(): Promise<string> {
  const self = await Deno.permissions.query({ name: "run", command: Deno.execPath() });
  return self.state === "granted" ? Deno.execPath() : "deno";
}

/** `deno task train ARGS` as a child process (the task's permissions). */
async function trainProcess(args: readonly string[]): Promise<Deno.ChildProcess> {
  return new Deno.Command(await denoBinary(), {
    args: [
      "run",
      "--quiet",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-ffi",
      "--allow-sys",
      "--allow-net",
      `${ROOT}tasks/train.ts`,
      ...args,
    ],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Every file under `dir` but the lock file: path → SHA-256 of its bytes. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const walk = async (path: string, prefix: string) => {
    for await (const entry of Deno.readDir(path)) {
      const name = `${prefix}${entry.name}`;
      if (entry.name === LOCK_FILE) continue;
      if (entry.isDirectory) await walk(`${path}/${entry.name}`, `${name}/`);
      else {
        const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(`${path}/${entry.name}`));
        files.set(name, Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join(""));
      }
    }
  };
  await walk(dir, "");
  return files;
}

/** Modification times of every file under `dir` but the lock file. */
async function mtimes(dir: string): Promise<Map<string, number>> {
  const times = new Map<string, number>();
  const walk = async (path: string, prefix: string) => {
    for await (const entry of Deno.readDir(path)) {
      if (entry.name === LOCK_FILE) continue;
      const name = `${prefix}${entry.name}`;
      if (entry.isDirectory) await walk(`${path}/${entry.name}`, `${name}/`);
      else times.set(name, (await Deno.stat(`${path}/${entry.name}`)).mtime!.getTime());
    }
  };
  await walk(dir, "");
  return times;
}

async function metricsLines(out: string): Promise<Record<string, unknown>[]> {
  return (await Deno.readTextFile(`${out}/metrics.jsonl`)).trim().split("\n").map((line) => JSON.parse(line));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("deno task train refuses a run folder another process trains, and resumes it once that one is killed", async () => {
  const out = await Deno.makeTempDir();
  const child = await trainProcess([...small, "--steps", "1000000", "--out", out]);
  const errors = new Response(child.stderr).text();
  try {
    // Wait until it trains: a checkpoint is written.
    const started = Date.now();
    while ((await latestCheckpoint(out)) === undefined) {
      assert.ok(Date.now() - started < 120_000, "the first process wrote no checkpoint in 120 s");
      await sleep(50);
    }
    const holder = JSON.parse(await Deno.readTextFile(`${out}/${LOCK_FILE}`));
    assert.equal(holder.pid, child.pid);
    const refused = `${out} is in use by process ${child.pid} (started ${holder.started}): ${HINT}`;
    for (
      const args of [[...small, "--steps", "4", "--out", out], ["--resume", out], [
        "--resume",
        out,
        "--steps",
        "9",
      ]]
    ) {
      const io = capture();
      await assert.rejects(() => runTrainCommand(args, io), {
        name: "RunFolderLockedError",
        message: refused,
      });
      assert.equal(io.text(), "", `${args.join(" ")}: nothing printed before the refusal`);
    }
  } finally {
    child.kill("SIGKILL");
  }
  const status = await child.status;
  assert.equal(status.signal, "SIGKILL", await errors);
  await child.stdout.cancel();
  // The killed process's lock does not block: --resume trains two more steps from its newest checkpoint.
  const newest = await latestCheckpoint(out);
  const step = Number(/step-(\d+)/.exec(newest!)![1]);
  const io = capture();
  assert.equal(await runTrainCommand(["--resume", out, "--steps", String(step + 2)], io), 0, io.text());
  assert.match(io.text(), new RegExp(`resuming .*step-0*${step} at step ${step}\\n`));
  assert.equal((await metricsLines(out)).at(-1)!.step, step + 2);
  await Deno.remove(out, { recursive: true });
});

Deno.test("deno task train --resume of a finished run says so and changes nothing; a missing final/ is written again", async () => {
  const out = await Deno.makeTempDir();
  assert.equal(await runTrainCommand([...small, "--steps", "6", "--out", out], capture()), 0);
  const finished = await snapshot(out);
  const times = await mtimes(out);
  const io = capture();
  assert.equal(await runTrainCommand(["--resume", out], io), 0);
  assert.match(
    io.text(),
    new RegExp(
      `saekit: ${out} already finished at step 6 \\(--steps 6\\); nothing to do, nothing changed \\(a larger ` +
        "--steps trains further\\)\\n$",
    ),
  );
  assert.doesNotMatch(io.text(), /completed at step|activations\/s/);
  assert.deepEqual(await snapshot(out), finished);
  assert.deepEqual(await mtimes(out), times);

  // A crash after the last checkpoint, before final/ (or an older saekit that deleted its summary): the
  // resume writes final/ again from the checkpoint, the same bytes as the run wrote.
  for (const lose of ["final", "final/summary.json"]) {
    await Deno.remove(`${out}/${lose}`, { recursive: true });
    const again = capture();
    assert.equal(await runTrainCommand(["--resume", out], again), 0);
    assert.match(
      again.text(),
      new RegExp(
        `saekit: ${out} had already finished at step 6; its final/ was missing or did not hold the last metrics ` +
          "line, and is written again\\n",
      ),
      lose,
    );
    assert.deepEqual(await snapshot(out), finished, lose);
  }
  const summary = JSON.parse(await Deno.readTextFile(`${out}/final/summary.json`));
  assert.deepEqual(summary, (await metricsLines(out)).at(-1));

  // A larger --steps trains further; final/summary.json is then the new last line.
  assert.equal(await runTrainCommand(["--resume", out, "--steps", "8"], capture()), 0);
  const lines = await metricsLines(out);
  assert.deepEqual(lines.map((l) => l.step), [2, 4, 6, 8]);
  assert.deepEqual(JSON.parse(await Deno.readTextFile(`${out}/final/summary.json`)), lines.at(-1));
  await Deno.remove(out, { recursive: true });
});

Deno.test("deno task train --resume ignores a torn last metrics line with a warning and goes on as an unbroken run", async () => {
  const whole = await Deno.makeTempDir();
  const split = await Deno.makeTempDir();
  assert.equal(await runTrainCommand([...small, "--steps", "8", "--out", whole], capture()), 0);
  assert.equal(await runTrainCommand([...small, "--steps", "4", "--out", split], capture()), 0);
  // As a crash (or a full disk) in the middle of the line of step 6 would leave it:
  const line6 = JSON.stringify((await metricsLines(whole))[2]);
  const torn = line6.slice(0, 40);
  await Deno.writeTextFile(`${split}/metrics.jsonl`, torn, { append: true });
  const io = capture();
  assert.equal(await runTrainCommand(["--resume", split, "--steps", "8"], io), 0);
  assert.ok(
    io.text().includes(
      `saekit: warning: ${split}/metrics.jsonl line 3: ignored a torn last line (a run stopped while writing ` +
        `it): ${torn}\n`,
    ),
    io.text(),
  );
  const strip = (lines: Record<string, unknown>[]) => lines.map(({ time_s: _t, ...rest }) => rest);
  assert.deepEqual(strip(await metricsLines(split)), strip(await metricsLines(whole)));
  await Deno.remove(whole, { recursive: true });
  await Deno.remove(split, { recursive: true });
});

Deno.test("deno task train --lr 1e30 stops with exit code 2 and one line naming the step, keeping its last finite checkpoint", async () => {
  const out = await Deno.makeTempDir();
  const child = await trainProcess([
    ...small,
    "--steps",
    "20",
    "--lr",
    "1e30",
    "--checkpoint-every",
    "1",
    "--out",
    out,
  ]);
  const [status, stdout, stderr] = await Promise.all([
    child.status,
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  assert.equal(status.code, 2, stderr);
  assert.equal(stdout, "");
  const last = stderr.trimEnd().split("\n").at(-1)!;
  // After step 1 the parameters are about ±1e30 (Adam's first step is lr · sign(g)); step 2 overflows.
  assert.match(
    last,
    new RegExp(
      `^saekit train: NonFiniteError: step 2: .+ is not finite \\([^)]+\\); the last finite checkpoint is ` +
        `${out}/checkpoints/step-00000001; lower --lr \\(now 1e\\+30\\) or set --grad-clip-norm \\(now 0\\), or ` +
        `continue from it with --resume ${out} --on-nonfinite skip, which skips batches whose loss or gradients ` +
        "are not finite$",
    ),
  );
  assert.equal(await exists(`${out}/final`), false);
  assert.equal(await latestCheckpoint(out), `${out}/checkpoints/step-00000001`);
  const loaded = await loadCheckpoint<TrainState>(`${out}/checkpoints/step-00000001`);
  for (const [key, tensor] of Object.entries(loaded.state.params)) {
    assert.ok((await tensor.data()).every(Number.isFinite), `params.${key}`);
  }
  disposeAll(loaded.state);
  // --on-nonfinite may change on --resume (it changes no maths of a finite step).
  await assert.rejects(() => runTrainCommand(["--resume", out, "--l1-coefficient", "1"], capture()), {
    name: "RangeError",
    message: "--l1-coefficient: cannot be changed when resuming (expected only --steps, --backend, " +
      '--log-every, --checkpoint-every, --on-nonfinite), received "1"',
  });
  await Deno.remove(out, { recursive: true });
});
