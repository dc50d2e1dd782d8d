/**
 * `deno task hub`: publish a run's SAEs on the Hugging Face Hub, or fetch
 * and load SAEs from it (see `lib/io/hub.ts`).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { tf } from "../tf.ts";
import { downloadSae, uploadRun } from "../io/hub.ts";

const USAGE = `deno task hub upload RUN_DIR OWNER/NAME [--private] [--hub-url URL]
deno task hub download OWNER/NAME[@REVISION] [--out DIR] [--folders A,B] [--cache-dir DIR] [--hub-url URL]

upload    publishes RUN_DIR/final/ (one SAELens folder per SAE), the run's config.json as
          training_config.json and a generated README.md model card as a model repository
          (created when missing). Needs a token with write access in HF_TOKEN.
download  fetches the repository's SAE folders (SAELens's layout, or sparsify's) into the cache
          (or --out) and loads them; prints what it found.

The Hub is HF_ENDPOINT (default https://huggingface.co) unless --hub-url says otherwise;
HF_TOKEN is sent when set.`;

/**
 * Runs the command; returns the exit code.
 *
 * @example
 * ```ts
 * import { runHubCommand } from "./hub_cli.ts";
 * let text = "";
 * console.assert(await runHubCommand(["--help"], (t) => void (text += t)) === 0);
 * console.assert(text.startsWith("deno task hub upload"));
 * ```
 */
export async function runHubCommand(
  args: readonly string[],
  write: (text: string) => void = (t) => Deno.stdout.writeSync(new TextEncoder().encode(t)),
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: {
      out: { type: "string" },
      folders: { type: "string" },
      "cache-dir": { type: "string" },
      "hub-url": { type: "string" },
      private: { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    write(USAGE + "\n");
    return 0;
  }
  const [command, ...rest] = positionals;
  const hubUrl = values["hub-url"];
  if (command === "upload") {
    if (rest.length !== 2) {
      throw new TypeError(`upload: expected RUN_DIR and OWNER/NAME, received ${JSON.stringify(rest)}`);
    }
    const [runDir, repo] = rest;
    const result = await uploadRun(runDir, repo, { hubUrl, private: values.private });
    write(
      `${
        result.created ? "created" : "updated"
      } ${result.url}: ${result.files.length} files in commit ${result.commit}\n`,
    );
    for (const file of result.files) write(`  ${file}\n`);
    return 0;
  }
  if (command === "download") {
    if (rest.length !== 1) {
      throw new TypeError(`download: expected OWNER/NAME[@REVISION], received ${JSON.stringify(rest)}`);
    }
    const saes = await downloadSae(rest[0], {
      hubUrl,
      out: values.out,
      cacheDir: values["cache-dir"],
      folders: values.folders?.split(",").map((f) => f.trim()).filter(Boolean),
    });
    const [c, dIn, dSae] = saes.params.wEnc.shape;
    const k = saes.k !== undefined ? `, k ${saes.k}` : "";
    write(
      `${saes.repo}@${saes.revision}: ${c} ${saes.format} SAE${
        c === 1 ? "" : "s"
      } (${saes.arch}${k}, d_in ${dIn}, d_sae ${dSae}${
        saes.tiedBias ? "" : ", untied bias"
      }) in ${saes.dir}\n`,
    );
    saes.folders.forEach((folder, i) => {
      const hook = saes.hookNames[i];
      write(
        `  ${folder === "" ? "." : folder}${hook !== null && hook !== folder ? `  (hook ${hook})` : ""}\n`,
      );
    });
    tf.dispose(saes.params as unknown as tf.TensorContainer);
    return 0;
  }
  throw new TypeError(`command: expected "upload" or "download", received ${JSON.stringify(command ?? "")}`);
}

/** Entry point of `tasks/hub.ts`: runs the command, prints an error and sets the exit code on failure. */
export async function main(args: readonly string[]): Promise<void> {
  try {
    Deno.exitCode = await runHubCommand(args);
  } catch (error) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    Deno.stderr.writeSync(new TextEncoder().encode(`saekit hub: ${message}\n`));
    Deno.exitCode = 2;
  }
}
