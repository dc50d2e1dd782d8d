/**
 * `mpirun -np 2 deno task train … --distributed mpi`: process 0 alone writes the run folder (one set of
 * TensorBoard events, one report) and prints; the run resumes on one (in this process) process with `--resume`. Needs MPICH
 * (`apt-get install mpich`) and `--allow-run=mpirun`.
 */
import assert from "node:assert/strict";
import { runTrainCommand } from "../../lib/cli/train.ts";

const task = new URL("../../tasks/train.ts", import.meta.url).pathname;
const permissions = [
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-ffi",
  "--allow-sys",
  "--allow-net",
];
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

Deno.test("mpirun -np 2 deno task train --distributed mpi: process 0 writes, and the run resumes on one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "saekit_mpi_cli_" });
  const flags = ["--source", "toy", "--backend", "cpu", "--batch-size", "64", "--store-size", "512"];
  try {
    let run: Deno.CommandOutput;
    try {
      run = await new Deno.Command("mpirun", {
        args: [
          "-np",
          "2",
          Deno.execPath(),
          "run",
          ...permissions,
          task,
          ...flags,
          "--steps",
          "6",
          "--log-every",
          "3",
          "--distributed",
          "mpi",
          "--out",
          `${dir}/run`,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
    } catch (error) {
      assert.fail(
        `mpirun: expected MPICH's mpirun (apt-get install mpich) and --allow-run=mpirun, received ${error}`,
      );
    }
    const text = decode(run.stdout) + decode(run.stderr);
    assert.equal(run.code, 0, `expected exit 0, received ${run.code}:\n${text}`);
    // One process printed: the line that starts the training appears once.
    assert.equal(text.match(/saekit: training /g)?.length, 1, text);
    const events = [...Deno.readDirSync(`${dir}/run/tensorboard`)].map((e) => e.name);
    assert.equal(events.length, 1, `tensorboard/: expected one event file (process 0's), received ${events}`);
    const lines = Deno.readTextFileSync(`${dir}/run/metrics.jsonl`).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    assert.deepEqual(lines.map((l) => l.step), [3, 6]);
    assert.equal(lines[1].activations, 6 * 64); // the global batch's rows
    assert.ok((await Deno.stat(`${dir}/run/final`)).isDirectory);
    assert.ok((await Deno.stat(`${dir}/run/report.html`)).isFile);

    let resumedText = "";
    const code = await runTrainCommand(["--resume", `${dir}/run`, "--steps", "9"], {
      write: (t) => void (resumedText += t),
    });
    assert.equal(code, 0, resumedText);
    assert.match(resumedText, /resuming .*step-00000006 at step 6/);
    const after = Deno.readTextFileSync(`${dir}/run/metrics.jsonl`).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    assert.deepEqual(after.map((l) => l.step), [3, 6, 9]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
