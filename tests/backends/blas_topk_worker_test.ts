/**
 * The TopK step's worker thread runs the kernels that the process itself
 * loaded, even when the files of lib/backends change on disk while it runs.
 *
 * The worker starts when a TopK workspace is made, which can be long after
 * the process started (each run of a sweep makes its own). It used to load
 * its code (sae_worker.ts, sae_wasm.ts and the compiled kernels) from disk at
 * that moment, so a process that outlived an edit of those files (a kernel
 * rebuilt, a `git pull`) ran half of every TopK step with the new kernels
 * and half with the old ones, on the same memory, and trained badly without
 * any error. This is the likely origin of BENCHMARKS.md's stories260K TopK
 * rows (explained variance 0.029, 0.005, −0.226): a sweep started on the
 * kernels of commit f266e3e whose workers loaded those of 193113c (another
 * row stride) reproduces their pattern.
 *
 * The test copies lib/ to a temporary folder and starts a process on the
 * copy; once that process has loaded its modules, the copy's kernel dispatch
 * is edited (two arguments of `topk_rows` swapped, as a changed kernel would
 * read them). The process then makes its first TopK step: with the worker
 * and without it, the results must be the same, bit for bit.
 */
import { assert } from "../_helpers.ts";
import { loadBlas } from "../../lib/backends/blas_ffi.ts";

const root = new URL("../../", import.meta.url);

const DRIVER = `
import { tf } from "./lib/tf.ts";
import { selectBackend } from "./lib/backends/select.ts";
import { saeLossAndGrads } from "./lib/sae/objective.ts";
import { initParams } from "./lib/sae/params.ts";
import { setTopkWorkerEnabled, topkWorkerReady } from "./lib/backends/blas_backend.ts";

await selectBackend("blas");
console.log("loaded");
// Wait until the parent has edited the files on disk (it then writes the file "go").
const go = new URL("./go", import.meta.url);
for (let i = 0; i < 1200; i++) {
  try {
    await Deno.stat(go);
    break;
  } catch {
    await new Promise((r) => setTimeout(r, 50));
  }
}

const params = initParams({ nComponents: 1, dIn: 64, dSae: 256, seed: 1 });
const x = tf.randomNormal([1, 600, 64], 0, 1, "float32", 2);
const run = () =>
  tf.tidy(() => {
    const r = saeLossAndGrads(params, x, 0, Infinity, { kind: "topk", k: 8 });
    return [r.loss, r.forward.xHat, r.terms.l2, r.grads.wEnc, r.grads.bEnc, r.grads.wDec, r.grads.bDec];
  }).map((t) => Array.from(t.dataSync()));
run(); // makes the workspace: its worker thread starts now
for (let i = 0; i < 1200 && !topkWorkerReady(); i++) await new Promise((r) => setTimeout(r, 50));
const ready = topkWorkerReady();
const threaded = run();
setTopkWorkerEnabled(false);
const alone = run();
const differing = threaded.map((t, i) => t.filter((v, j) => !Object.is(v, alone[i][j])).length);
console.log(JSON.stringify({ ready, differing }));
`;

Deno.test({
  name: "the TopK worker runs this process's kernels even after the files changed on disk",
  ignore: navigator.hardwareConcurrency < 2,
  async fn() {
    const load = loadBlas();
    if ("reason" in load) {
      throw new Error(
        `${load.reason}. This test runs the blas backend: install OpenBLAS ` +
          "(Debian/Ubuntu: apt-get install libopenblas0-pthread; CI installs it) and run with --allow-ffi.",
      );
    }
    load.blas.close();
    const dir = await Deno.makeTempDir({ prefix: "saekit-worker-skew-" });
    try {
      await Deno.mkdir(`${dir}/lib`);
      await copyTree(new URL("lib/", root).pathname, `${dir}/lib`);
      await Deno.writeTextFile(`${dir}/driver.ts`, DRIVER);
      const child = new Deno.Command(await denoBinary(), {
        args: [
          "run",
          "--no-check",
          "--no-lock",
          `--config=${new URL("deno.json", root).pathname}`,
          "--allow-read",
          "--allow-env",
          "--allow-ffi",
          "--allow-sys",
          `${dir}/driver.ts`,
        ],
        stdin: "null",
        stdout: "piped",
        // (inherited: the driver's errors show in the test's output; a piped stderr stalled the driver under
        // `deno test` here)
        stderr: "inherit",
      }).spawn();
      const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let out = "";
      const next = async (): Promise<string> => {
        while (!out.includes("\n")) {
          const { value, done } = await lines.read();
          if (done) return out;
          out += value;
        }
        const at = out.indexOf("\n");
        const line = out.slice(0, at);
        out = out.slice(at + 1);
        return line;
      };
      assert.equal(await next(), "loaded", "the driver did not start (its errors are above)");
      // A changed kernel: the copy's dispatch of topk_rows now passes scale and add the other way round.
      const file = `${dir}/lib/backends/sae_wasm.ts`;
      const source = await Deno.readTextFile(file);
      const call = "a[8], a[9], a[10])";
      assert.ok(source.includes(call), `${file}: expected the dispatch of topk_rows ending in ${call}`);
      await Deno.writeTextFile(file, source.replace(call, "a[8], a[10], a[9])"));
      await Deno.writeTextFile(`${dir}/go`, "");
      const result = await next();
      const status = await child.status;
      assert.ok(status.success, `the driver failed with exit code ${status.code} (its errors are above)`);
      const { ready, differing } = JSON.parse(result) as { ready: boolean; differing: number[] };
      assert.ok(ready, "the TopK worker thread did not start within 60 s");
      assert.deepEqual(
        differing,
        [0, 0, 0, 0, 0, 0, 0],
        "values of loss, xHat, l2, ∂wEnc, ∂bEnc, ∂wDec, ∂bDec that differ between the step with the worker and without it",
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/**
 * The deno binary to start: the running one where the permissions grant it, else `deno` on PATH (the task's
 * `--allow-run=deno` grants that one, which can be a symlink that the permission does not see through).
 */
async function denoBinary(): Promise<string> {
  const self = await Deno.permissions.query({ name: "run", command: Deno.execPath() });
  return self.state === "granted" ? Deno.execPath() : "deno";
}

async function copyTree(from: string, to: string): Promise<void> {
  for await (const entry of Deno.readDir(from)) {
    if (entry.isDirectory) {
      await Deno.mkdir(`${to}/${entry.name}`);
      await copyTree(`${from}/${entry.name}`, `${to}/${entry.name}`);
    } else if (entry.isFile) await Deno.copyFile(`${from}/${entry.name}`, `${to}/${entry.name}`);
  }
}
