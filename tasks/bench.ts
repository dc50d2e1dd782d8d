/**
 * `deno task bench`: benchmarks whose runs go into BENCHMARKS.md, each under
 * its section, newest first, keeping the earlier runs. See `--help`.
 *
 *   deno task bench                        # the SAE step, saekit (blas) against PyTorch
 *   deno task bench --arch topk --rounds 5 # the TopK step (any architecture: relu, relu-april, topk, …)
 *   deno task bench --all-archs            # every architecture against its PyTorch baseline, one table
 *   deno task bench --arch relu --l0 32    # ReLU from encoder biases that give an average L0 of about 32
 *   deno task bench --activations --backends blas,wasm
 *   deno task bench --features runs/2026-11-27T07-42-52   # a finished run's feature statistics
 *   deno task bench --batch 4096 --d-in 512 --d-sae 4096 --steps 5 --json
 *                                          # one in-process measurement; last line is JSON
 *
 * Each round runs in fresh processes: this file again with `--json`, and the
 * PyTorch baseline `baselines/torch_sae_step.py`.
 *
 * @module
 */
import { benchMain, findTorchPython, type ProcessMeasurement, runJson } from "../lib/bench/benchmarks.ts";

const self = new URL(import.meta.url).pathname;
const torchScript = new URL("./baselines/torch_sae_step.py", import.meta.url).pathname;

async function timed(command: string, args: readonly string[]): Promise<ProcessMeasurement> {
  const start = performance.now();
  const output = await runJson(command, args);
  return { output, seconds: (performance.now() - start) / 1000 };
}

if (import.meta.main) {
  await benchMain(Deno.args, {
    bench: (args, permissions) => timed(Deno.execPath(), ["run", ...permissions, self, ...args]),
    torch: async () => {
      const python = await findTorchPython();
      return python === undefined ? undefined : (args) => timed(python, [torchScript, ...args]);
    },
  });
}
