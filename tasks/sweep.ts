/**
 * `deno task sweep`: every architecture at three sparsity levels on the toy
 * source and on stories260K; the tables go into the "Architecture sweep"
 * section of BENCHMARKS.md. See `deno task sweep --help`.
 *
 *   deno task sweep                              # the full grid (several minutes on 2 cores)
 *   deno task sweep --source toy --archs relu,topk --json
 *   deno task sweep --quick --out none           # a tiny grid, writes no file
 *
 * @module
 */
import { sweepMain } from "../lib/run/sweep.ts";

if (import.meta.main) await sweepMain(Deno.args);
