/**
 * `deno task activations`: activations at named hooks for a prompt. See `--help`.
 *
 * @module
 */
import { main } from "../lib/run/activations_cli.ts";

if (import.meta.main) await main(Deno.args);
