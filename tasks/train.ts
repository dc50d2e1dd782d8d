/**
 * `deno task train`: trains SAEs. See `deno task train --help`.
 *
 * @module
 */
import { main } from "../lib/cli/train.ts";

if (import.meta.main) await main(Deno.args);
