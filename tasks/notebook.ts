/**
 * `deno task notebook [FILE.ipynb] [--out DIR]`: runs a notebook's code cells
 * in order as one script, without Jupyter (by default the example notebook).
 * With `--out`, its charts are written there as files. See `--help`.
 *
 * @module
 */
import { main } from "../lib/cli/notebook.ts";

if (import.meta.main) await main(Deno.args);
