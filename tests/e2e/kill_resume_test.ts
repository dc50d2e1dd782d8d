/**
 * Fault injection: `deno task train` killed with SIGKILL at seeded random
 * moments (anywhere, inside a checkpoint write, just after a metrics line,
 * after the last checkpoint), 20 times, each time resumed with `--resume`;
 * the run folder it ends with equals an uninterrupted run's: the same metrics
 * lines, the same bytes in every checkpoint and in final/.
 */
import { assert } from "../_helpers.ts";
import { runTrainCommand } from "../../lib/cli/train.ts";
import { latestCheckpoint } from "../../lib/io/checkpoint.ts";
import { exists } from "../../lib/io/files.ts";
import { mulberry32 } from "../../lib/seed.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const STEPS = 120;
const TRIALS = 20;

/** A small toy run: two SAEs 8 → 16, a checkpoint and a metrics line every 2 steps, resampling on. */
const RUN = [
  "--source",
  "toy",
  "--backend",
  "cpu",
  "--d-in",
  "8",
  "--expansion-factor",
  "2",
  "--n-components",
  "2",
  "--component-names",
  "a,b",
  "--toy-features",
  "12",
  "--toy-chunk-rows",
  "256",
  "--batch-size",
  "64",
  "--store-size",
  "256",
  "--steps",
  String(STEPS),
  "--log-every",
  "2",
  "--checkpoint-every",
  "2",
  "--resample-interval",
  "1280",
  "--resample-collate",
  "640",
  "--resample-dataset-size",
  "128",
  "--tensorboard",
  "false",
];

/** The deno binary to start (as tests/module_graph_test.ts finds it). */
async function denoBinary(): Promise<string> {
  const self = await Deno.permissions.query({ name: "run", command: Deno.execPath() });
  return self.state === "granted" ? Deno.execPath() : "deno";
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** SHA-256 of a file, in hex. */
async function digest(path: string): Promise<string> {
  const hash = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(hash), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Digests of the files of the checkpoints (`step-N` folders only) and of final/; `summary.json` (the last
 * metrics line) without its wall-clock time.
 */
async function results(out: string): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  const walk = async (dir: string, prefix: string) => {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isDirectory) await walk(`${dir}/${entry.name}`, `${prefix}${entry.name}/`);
      else if (entry.name === "summary.json") {
        const { time_s: _t, ...rest } = JSON.parse(await Deno.readTextFile(`${dir}/${entry.name}`));
        found.set(`${prefix}${entry.name}`, JSON.stringify(rest));
      } else found.set(`${prefix}${entry.name}`, await digest(`${dir}/${entry.name}`));
    }
  };
  for await (const entry of Deno.readDir(`${out}/checkpoints`)) {
    if (/^step-\d+$/.test(entry.name)) {
      await walk(`${out}/checkpoints/${entry.name}`, `checkpoints/${entry.name}/`);
    }
  }
  if (await exists(`${out}/final`)) await walk(`${out}/final`, "final/");
  return found;
}

/** The metrics lines without their wall-clock times. */
async function metricsWithoutTimes(out: string): Promise<Record<string, unknown>[]> {
  return (await Deno.readTextFile(`${out}/metrics.jsonl`)).trim().split("\n").map((line) => {
    const { time_s: _t, ...rest } = JSON.parse(line);
    return rest;
  });
}

/** Entries of `dir` whose name marks a half-written folder (`*.tmp-*`). */
async function temporaries(dir: string): Promise<string[]> {
  if (!(await exists(dir))) return [];
  return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).filter((n) => n.includes(".tmp-"));
}

Deno.test({
  name:
    `deno task train killed with SIGKILL ${TRIALS} times at random moments resumes bit-identical to an unbroken run`,
  async fn() {
    const reference = await Deno.makeTempDir();
    const out = await Deno.makeTempDir();
    try {
      let text = "";
      const io = {
        write: (t: string) => void (text += t),
        isTerminal: false,
        signal: new AbortController().signal,
      };
      assert.equal(await runTrainCommand([...RUN, "--out", reference], io), 0, text);
      const random = mulberry32(20250615);
      const kills: string[] = []; // how each trial ended
      for (let trial = 0; trial < TRIALS; trial++) {
        const fresh = (await latestCheckpoint(out)) === undefined;
        const child = new Deno.Command(await denoBinary(), {
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
            ...(fresh ? [...RUN, "--out", out] : ["--resume", out]),
          ],
          cwd: ROOT,
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        let said = "";
        const reading = (async () => {
          for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) said += chunk;
        })();
        const stdout = new Response(child.stdout).text();
        let ended = false;
        child.status.then(() => (ended = true));
        const mode = trial === TRIALS - 1
          ? "after the last checkpoint"
          : ["anywhere", "in a checkpoint write", "after a metrics line"][trial % 3];
        const wait = async (until: () => Promise<boolean>) => {
          const started = Date.now();
          while (!ended && !(await until())) {
            assert.ok(
              Date.now() - started < 60_000,
              `trial ${trial} (${mode}): waited 60 s; it said: ${said}`,
            );
            await sleep(1);
          }
        };
        try {
          // Training starts after this line (the source is ready, the checkpoint loaded).
          await wait(() => Promise.resolve(said.includes("saekit: training")));
          if (mode === "anywhere") {
            await sleep(Math.floor(random() * 600));
          } else if (mode === "in a checkpoint write") {
            const before = new Set(await temporaries(`${out}/checkpoints`));
            await wait(async () =>
              (await temporaries(`${out}/checkpoints`)).some((name) => !before.has(name))
            );
            await sleep(Math.floor(random() * 4));
          } else if (mode === "after a metrics line") {
            const size = async () =>
              (await Deno.stat(`${out}/metrics.jsonl`).catch(() => ({ size: 0 }))).size;
            const before = await size();
            await wait(async () => (await size()) > before);
            await sleep(Math.floor(random() * 4));
          } else {
            await wait(() => exists(`${out}/checkpoints/step-${String(STEPS).padStart(8, "0")}`));
          }
        } finally {
          if (!ended) child.kill("SIGKILL");
        }
        const status = await child.status;
        await reading;
        await stdout;
        if (status.signal === "SIGKILL") kills.push(mode);
        else assert.equal(status.code, 0, `trial ${trial}: ${said}`);
      }
      // The last resume runs to the end.
      text = "";
      const last = (await latestCheckpoint(out)) === undefined ? [...RUN, "--out", out] : ["--resume", out];
      assert.equal(await runTrainCommand(last, io), 0, text);

      assert.ok(
        kills.length >= TRIALS / 2,
        `expected most trials killed, ${kills.length}: ${kills.join(", ")}`,
      );
      assert.ok(
        kills.includes("in a checkpoint write"),
        `no kill inside a checkpoint write: ${kills.join(", ")}`,
      );
      assert.deepEqual(await metricsWithoutTimes(out), await metricsWithoutTimes(reference));
      const want = await results(reference);
      const got = await results(out);
      assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort());
      for (const [path, hash] of want) {
        assert.equal(got.get(path), hash, `${path} differs from the unbroken run's`);
      }
      assert.deepEqual(
        JSON.parse(await Deno.readTextFile(`${out}/final/summary.json`)).step,
        STEPS,
      );
      console.log(`kills: ${kills.length} of ${TRIALS} (${kills.join(", ")})`);
    } finally {
      await Deno.remove(reference, { recursive: true });
      await Deno.remove(out, { recursive: true });
    }
  },
});
