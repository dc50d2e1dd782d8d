/**
 * `deno task report DIR`: writes DIR/report.html for a run folder. See `--help`.
 *
 * @module
 */
import { main } from "../lib/report/report.ts";

if (import.meta.main) await main(Deno.args);
