/**
 * `deno task features DIR`: browse the features of a trained run. See `--help`.
 *
 * @module
 */
import { main } from "../lib/features/cli.ts";

if (import.meta.main) await main(Deno.args);
