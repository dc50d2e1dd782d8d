/**
 * `deno task activations`: a model's activations at named hook points for a
 * prompt, for inspection.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { tf } from "../tf.ts";
import { BACKEND_NAMES, type BackendName } from "../backends/names.ts";
import { selectBackend } from "../backends/select.ts";
import { type CommandHelp, type FlagTable, formatHelp } from "./help.ts";
import { BUILTIN_MODEL, loadModel } from "../models/load/model.ts";
import { stopLayerFor } from "../models/hooked.ts";

const ACTIVATIONS_FLAGS = {
  model: {
    type: "string",
    default: BUILTIN_MODEL,
    value: "MODEL",
    description:
      "stories260k (shipped), a llama2.c .bin checkpoint, a Hugging Face folder, or a Hub id owner/name[@revision]",
  },
  tokenizer: {
    type: "string",
    value: "FILE",
    description: "llama2.c tokenizer file of a .bin model",
    defaultText: "tok<N>.bin or tokenizer.bin beside the checkpoint",
  },
  hooks: {
    type: "string",
    value: "NAME,…",
    description: "TransformerLens hook points to print, e.g. blocks.2.hook_resid_post",
    required: true,
  },
  prompt: { type: "string", value: "TEXT", description: "Text to run the model on", required: true },
  "no-bos": { type: "boolean", default: false, description: "Do not start the tokens with BOS" },
  json: {
    type: "boolean",
    default: false,
    description: "Print, as the last line, one JSON object mapping each hook name to its [tokens, d] array",
  },
  backend: {
    type: "string",
    default: "cpu",
    value: "NAME",
    choices: BACKEND_NAMES,
    description: "tfjs backend",
  },
  help: { type: "boolean", short: "h", description: "Print this help and exit" },
} as const satisfies FlagTable;

/**
 * The help of `deno task activations`, with the flags it parses.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatHelp } from "./help.ts";
 * import { ACTIVATIONS_HELP } from "./activations.ts";
 * assert.match(formatHelp(ACTIVATIONS_HELP), /--prompt TEXT +Text to run the model on \(required\)/);
 * ```
 */
export const ACTIVATIONS_HELP: CommandHelp = {
  usage: [
    "deno task activations --hooks NAME[,NAME...] --prompt TEXT [--model MODEL] [--no-bos] [--json]",
    "                      [--backend NAME]",
  ],
  about: [
    "Prints a language model's activations at each hook point for a prompt, [tokens, d]: per token its " +
    "norm and first values.",
  ],
  groups: [{ title: "Options", flags: ACTIVATIONS_FLAGS }],
};

/** Runs the command; returns the exit code. */
export async function runActivationsCommand(
  args: readonly string[],
  write: (text: string) => void = (t) => Deno.stdout.writeSync(new TextEncoder().encode(t)),
): Promise<number> {
  const { values } = parseArgs({ args: [...args], options: ACTIVATIONS_FLAGS });
  if (values.help) {
    write(formatHelp(ACTIVATIONS_HELP));
    return 0;
  }
  if (values.hooks === undefined || values.prompt === undefined) {
    throw new TypeError(
      `--hooks and --prompt: expected both, received ${
        values.hooks === undefined ? "no --hooks" : "no --prompt"
      }`,
    );
  }
  await selectBackend(values.backend as BackendName);
  const { model, tokenizer } = await loadModel(values.model, values.tokenizer);
  const hooks = values.hooks.split(",").map((h) => h.trim()).filter(Boolean);
  const ids = tokenizer.encode(values.prompt, { bos: !values["no-bos"] });
  if (ids.length === 0) {
    throw new RangeError(`--prompt: expected text that gives at least one token, received ""`);
  }
  const { activations } = model.forward([ids], {
    capture: hooks,
    stopAtLayer: stopLayerFor(hooks, model.nLayers),
  });
  const out: Record<string, number[][]> = {};
  for (const hook of hooks) {
    out[hook] = ((await activations[hook].array()) as number[][][])[0];
  }
  tf.dispose(Object.values(activations));
  const pieces = ids.map((id) => JSON.stringify(tokenizer.decode([id])));
  if (values.json) {
    Deno.stderr.writeSync(new TextEncoder().encode(`tokens: ${pieces.join(" ")}\n`));
    write(JSON.stringify(out) + "\n");
  } else {
    write(`tokens (${ids.length}): ${pieces.join(" ")}\n`);
    for (const hook of hooks) {
      const rows = out[hook];
      write(`${hook}: [${rows.length}, ${rows[0].length}]\n`);
      rows.forEach((row, t) => {
        const norm = Math.hypot(...row);
        write(
          `  ${String(t).padStart(3)} ${pieces[t].padEnd(12)} ‖x‖ ${norm.toFixed(3)}  ${
            row.slice(0, 6).map((v) => v.toFixed(3)).join(" ")
          } …\n`,
        );
      });
    }
  }
  return 0;
}

/** Entry point of `tasks/activations.ts`. */
export async function main(args: readonly string[]): Promise<void> {
  try {
    Deno.exitCode = await runActivationsCommand(args);
  } catch (error) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    Deno.stderr.writeSync(new TextEncoder().encode(`saekit activations: ${message}\n`));
    Deno.exitCode = 2;
  }
}
