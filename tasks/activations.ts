/**
 * `deno task activations`: activations at named hooks for a prompt. See `--help`.
 *
 * @module
 */
import { main } from "../lib/cli/activations.ts";

if (import.meta.main) await main(Deno.args);
