/**
 * `deno task hub`: publish a run's SAEs on the Hugging Face Hub, or fetch
 * and load SAEs from it (see `lib/io/hub.ts`).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { tf } from "../tf.ts";
import { downloadSae, uploadRun } from "../io/hub.ts";
import { type CommandHelp, type FlagTable, formatHelp } from "./help.ts";

const UPLOAD_FLAGS = {
  private: { type: "boolean", default: false, description: "Create the repository as private" },
} as const satisfies FlagTable;

const DOWNLOAD_FLAGS = {
  out: {
    type: "string",
    value: "DIR",
    description: "Also copy the SAE folders into this folder (they are downloaded into the cache first)",
    defaultText: "none: read from the repository's snapshot in the cache",
  },
  folders: {
    type: "string",
    value: "A,B",
    description: "Only these SAE folders of the repository",
    defaultText: "every SAE folder",
  },
  "cache-dir": {
    type: "string",
    value: "DIR",
    description: "Hugging Face cache folder, shared with the models and with Python",
    defaultText: "$HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub",
  },
} as const satisfies FlagTable;

const COMMON_FLAGS = {
  "hub-url": {
    type: "string",
    value: "URL",
    description: "Address of the Hub",
    defaultText: "$HF_ENDPOINT, else https://huggingface.co",
  },
  help: { type: "boolean", short: "h", description: "Print this help and exit" },
} as const satisfies FlagTable;

/** Every flag `deno task hub` parses. */
const HUB_FLAGS = { ...UPLOAD_FLAGS, ...DOWNLOAD_FLAGS, ...COMMON_FLAGS } as const satisfies FlagTable;

/**
 * The help of `deno task hub`, with the flags it parses.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatHelp } from "./help.ts";
 * import { HUB_HELP } from "./hub.ts";
 * assert.match(formatHelp(HUB_HELP), /--private +Create the repository as private\n/);
 * ```
 */
export const HUB_HELP: CommandHelp = {
  usage: [
    "deno task hub upload RUN_DIR OWNER/NAME [--private] [--hub-url URL]",
    "deno task hub download OWNER/NAME[@REVISION] [--out DIR] [--folders A,B] [--cache-dir DIR] [--hub-url URL]",
  ],
  about: [
    "upload publishes RUN_DIR/final/ (one SAELens folder per SAE), the run's config.json as " +
    "training_config.json and a generated README.md model card as a model repository (created when " +
    "missing). It needs a token with write access in HF_TOKEN.",
    "download fetches the repository's SAE folders (SAELens's layout, or sparsify's) into the Hugging Face " +
    "cache (and copies them to --out) and loads them; it prints what it found. HF_TOKEN is sent when set; " +
    "with HF_HUB_OFFLINE=1 the cache is read without any request.",
  ],
  groups: [
    { title: "Options of upload", flags: UPLOAD_FLAGS },
    { title: "Options of download", flags: DOWNLOAD_FLAGS },
    { title: "Options of both", flags: COMMON_FLAGS },
  ],
};

/**
 * Runs the command; returns the exit code.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runHubCommand } from "./hub.ts";
 * let text = "";
 * assert.equal(await runHubCommand(["--help"], (t) => void (text += t)), 0);
 * assert.ok(text.startsWith("deno task hub upload"));
 * ```
 */
export async function runHubCommand(
  args: readonly string[],
  write: (text: string) => void = (t) => Deno.stdout.writeSync(new TextEncoder().encode(t)),
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: HUB_FLAGS,
  });
  if (values.help) {
    write(formatHelp(HUB_HELP));
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
