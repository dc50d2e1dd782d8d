/**
 * `deno task train`: trains SAEs. See `deno task train --help`.
 *
 * @module
 */
import { main } from "../lib/run/cli.ts";

if (import.meta.main) await main(Deno.args);
