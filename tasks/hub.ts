/**
 * `deno task hub upload RUN_DIR owner/name` and `deno task hub download owner/name`: SAEs on the
 * Hugging Face Hub. See `--help`.
 *
 * @module
 */
import { main } from "../lib/cli/hub.ts";

if (import.meta.main) await main(Deno.args);
