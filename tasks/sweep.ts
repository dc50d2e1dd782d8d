/**
 * `deno task sweep`: every architecture at three sparsity levels on the toy
 * source and on stories260K; the tables go into the "Architecture sweep"
 * section of BENCHMARKS.md. With `--sweep FILE`, the grid or random search of
 * a sweep file instead, trained by `--workers N` processes that share the
 * sweep folder. See `deno task sweep --help`.
 *
 *   deno task sweep                              # the full grid (several minutes on 2 cores)
 *   deno task sweep --source toy --archs relu,topk --json
 *   deno task sweep --quick --out none           # a tiny grid, writes no file
 *   deno task sweep --sweep examples/sweep_toy.json --workers 2
 *   deno task sweep --worker --dir runs/sweep-toy   # one more worker, from another terminal
 *
 * @module
 */
import { sweepMain } from "../lib/sweep/architectures.ts";
import { isSweepFileCommand, sweepFileMain } from "../lib/sweep/workers.ts";

if (import.meta.main) {
  if (isSweepFileCommand(Deno.args)) {
    // The workers run this file again with --worker.
    await sweepFileMain(Deno.args, { workerScript: import.meta.url });
  } else {
    await sweepMain(Deno.args);
    if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
      console.error("");
      await sweepFileMain(["--help"]);
    }
  }
}
