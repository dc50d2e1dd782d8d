/**
 * `deno task sweep --sweep FILE --run-index I` (one task of a job array) and `--summary` (issue 16).
 * (It belongs with tests/sweep/; it is here because this change could add files to tests/run/ only.)
 */
import assert from "node:assert/strict";
import { runSweepFileCommand } from "../../lib/sweep/workers.ts";
import { readStatuses } from "../../lib/sweep/queue.ts";

Deno.test("sweep --run-index trains that run alone, again is a no-op, and --summary gathers without training", async () => {
  const dir = await Deno.makeTempDir({ prefix: "saekit_sweep_index_" });
  try {
    const file = `${dir}/s.json`;
    await Deno.writeTextFile(
      file,
      JSON.stringify({
        base: {
          source: "toy",
          backend: "cpu",
          dIn: 8,
          dSae: 16,
          batchSize: 16,
          storeSize: 64,
          steps: 2,
          logEvery: 2,
        },
        parameters: { lr: { values: [0.001, 0.003, 0.01] } },
      }),
    );
    const out = `${dir}/sweep`;
    let text = "";
    const io = { write: (t: string) => void (text += t), print: (t: string) => void (text += t) };
    assert.equal(await runSweepFileCommand(["--sweep", file, "--dir", out, "--run-index", "2"], io), 0, text);
    const statuses = await readStatuses(out);
    assert.deepEqual(statuses.map((s) => [s.index, s.state, s.worker]), [[2, "done", "index-2"]]);
    assert.ok((await Deno.stat(`${out}/runs/${statuses[0].id}/final`)).isDirectory);
    text = "";
    assert.equal(await runSweepFileCommand(["--sweep", file, "--dir", out, "--run-index", "2"], io), 0);
    assert.match(text, /run 2 of .* is already done; nothing to train/);
    text = "";
    assert.equal(await runSweepFileCommand(["--sweep", file, "--dir", out, "--summary"], io), 0);
    assert.match(text, /3 runs: 1 done/);
    assert.equal((await readStatuses(out)).length, 1, "--summary trained a run");
    assert.match(await Deno.readTextFile(`${out}/summary.md`), /3 runs: 1 done/);
    await assert.rejects(
      () => runSweepFileCommand(["--sweep", file, "--dir", out, "--run-index", "3"], io),
      /--run-index: expected 0…2 \(the sweep's 3 runs\), received 3/,
    );
    await assert.rejects(
      () => runSweepFileCommand(["--sweep", file, "--dir", out, "--run-index", "two"], io),
      /--run-index: expected an integer, received "two"/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
