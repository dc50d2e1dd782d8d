/**
 * `deno task activations`: a model's activations at named hook points for a
 * prompt, for inspection.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type BackendName, selectBackend, tf } from "../tf.ts";
import { BUILTIN_MODEL, loadModel } from "../models/load/model.ts";
import { stopLayerFor } from "../models/hooked.ts";

const USAGE = `deno task activations [--model stories260k|FILE.bin|HF_FOLDER] --hooks NAME[,NAME...]
                      --prompt TEXT [--no-bos] [--json] [--backend NAME]

Prints each hook point's activations, [tokens, d]. With --json the last line is
one JSON object mapping each hook name to its [tokens, d] array.`;

/** Runs the command; returns the exit code. */
export async function runActivationsCommand(
  args: readonly string[],
  write: (text: string) => void = (t) => Deno.stdout.writeSync(new TextEncoder().encode(t)),
): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      model: { type: "string", default: BUILTIN_MODEL },
      tokenizer: { type: "string" },
      hooks: { type: "string" },
      prompt: { type: "string" },
      "no-bos": { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      backend: { type: "string", default: "cpu" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    write(USAGE + "\n");
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
