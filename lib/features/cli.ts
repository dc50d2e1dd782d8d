/**
 * The `features` command: feature statistics of a finished run over text it
 * did not train on, served as a local web page or written as static files.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { tf } from "../tf.ts";
import { BACKEND_NAMES, type BackendName } from "../backends/names.ts";
import { selectBackend } from "../backends/select.ts";
import { type CommandHelp, type FlagTable, formatHelp } from "../cli/help.ts";
import { loadModel } from "../models/load/model.ts";
import { configuredWindows } from "../data/prepare.ts";
import { collectFeatureStats, heldOutFirst, loadRunSaes, trainingWindows } from "./collect.ts";
import { createFeatureBrowser, type FeatureBrowser } from "./browser.ts";
import { serveFeatureBrowser, writeStaticFeatures } from "./server.ts";

/** Every flag `deno task features` parses: the `options` of `parseArgs` and the lines of `--help`. */
const FEATURES_FLAGS = {
  tokens: {
    type: "string",
    value: "N",
    defaultText: "131072",
    description: "Token positions to measure features on",
  },
  static: {
    type: "string",
    value: "OUT",
    description: "Write the page and its data to the folder OUT instead of serving",
  },
  port: {
    type: "string",
    value: "P",
    defaultText: "8700, or any free port if taken",
    description: "Port of the local server",
  },
  host: {
    type: "string",
    default: "127.0.0.1",
    value: "H",
    description: "Address to listen on; 127.0.0.1 is this machine only",
  },
  "top-k": { type: "string", value: "K", defaultText: "20", description: "Top activations kept per feature" },
  backend: {
    type: "string",
    default: "auto",
    value: "NAME",
    choices: BACKEND_NAMES,
    description: "tfjs backend",
  },
  help: { type: "boolean", short: "h", description: "Print this help and exit" },
} as const satisfies FlagTable;

/**
 * The help of `deno task features`, with the flags it parses.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatHelp } from "../cli/help.ts";
 * import { FEATURES_HELP } from "./cli.ts";
 * assert.match(formatHelp(FEATURES_HELP), /--top-k K +Top activations kept per feature \(default 20\)\n/);
 * ```
 */
export const FEATURES_HELP: CommandHelp = {
  usage: [
    "deno task features DIR [--tokens N] [--static OUT] [--port P] [--host H] [--top-k K] [--backend NAME]",
  ],
  about: [
    "Runs the trained SAEs of the run folder DIR (its final/ folder) over text of the run's dataset that " +
    "training did not read, and serves a page to browse the features: sorted by density, with each " +
    "feature's top activations in context, activation histogram, the tokens it promotes and suppresses " +
    "through the model's unembedding, and a search for the features that fire on a text.",
  ],
  groups: [{ title: "Options", flags: FEATURES_FLAGS }],
};

/** Options of {@linkcode prepareFeatureBrowser}. */
export type PrepareFeaturesOptions = {
  /** Token positions to read (default 131,072). */
  readonly tokens?: number;
  /** Top activations kept per feature (default 20). */
  readonly topK?: number;
  /** Called with a line of progress. */
  readonly log?: (line: string) => void;
};

/** A browser ready to serve, with what it took to build. */
export type PreparedFeatures = {
  readonly browser: FeatureBrowser;
  /** Seconds the statistics pass took (model, SAEs and statistics; loading excluded). */
  readonly seconds: number;
  readonly positions: number;
  readonly windows: number;
  /** Windows read that training did not read. */
  readonly unseenWindows: number;
  /** Where the model came from (`stories260K (llama2.c, shipped with saekit)`). */
  readonly model: string;
  /** Frees the SAEs' tensors. */
  dispose(): void;
};

/**
 * Loads a run's SAEs and model, reads its held-out text and collects the
 * statistics of every feature of every component. The backend must be chosen
 * first.
 *
 * Windows are read in this order: the run's `validationWindows` held-out
 * windows, then the windows after those training may have read (see
 * `trainingWindows`), and only when the dataset ends before `tokens`
 * positions, windows training read (the summary says how many were unseen).
 *
 * @example
 * ```ts ignore
 * const { browser, seconds } = await prepareFeatureBrowser("runs/a", { tokens: 102_400 });
 * ```
 */
export async function prepareFeatureBrowser(
  dir: string,
  options: PrepareFeaturesOptions = {},
): Promise<PreparedFeatures> {
  const log = options.log ?? (() => {});
  const tokens = options.tokens ?? 131_072;
  const saes = await loadRunSaes(dir);
  try {
    const { config } = saes;
    const { model, tokenizer, description } = await loadModel(config.model, config.tokenizer ?? undefined);
    const all = configuredWindows(config, tokenizer, {
      onWarning: (message) => log(`saekit features: warning: ${message}\n`),
    });
    const skip = config.prependBos ? 1 : 0;
    const heldOut = config.validationWindows;
    const trained = await trainingWindows(dir, config);
    const count = Math.ceil(tokens / (config.contextSize - skip));
    let unseen = 0;
    const windows = (async function* () {
      for await (const w of heldOutFirst(all, { heldOut, trained, count })) {
        if (w.id < heldOut || w.id >= heldOut + trained) unseen++;
        yield w;
      }
    })();
    log(
      `saekit features: ${description}; ${saes.componentNames.length} × ${saes.dSae} features; reading ${count} windows of ${config.contextSize} tokens (held out first)\n`,
    );
    const started = performance.now();
    let reported = 0;
    const stats = await collectFeatureStats({
      model,
      saes,
      windows,
      contextSize: config.contextSize,
      skip,
      windowsPerBatch: config.windowsPerBatch,
      stats: { topK: options.topK ?? 20 },
      onProgress: (done, positions) => {
        if (done >= reported + count / 10 || done === count) {
          reported = done;
          log(
            `  ${done}/${count} windows, ${positions} tokens, ${
              ((performance.now() - started) / 1000).toFixed(1)
            } s\n`,
          );
        }
      },
    });
    const seconds = (performance.now() - started) / 1000;
    const read = stats[0].windows;
    const text = `${
      config.dataset ?? "the shipped stories"
    }: ${read} windows of ${config.contextSize} tokens, ${unseen} of them not read in training`;
    log(
      `saekit features: statistics of ${stats.length * saes.dSae} features over ${
        stats[0].positions
      } tokens in ${seconds.toFixed(1)} s (${unseen} of ${read} windows unseen in training)\n`,
    );
    const browser = createFeatureBrowser({
      run: dir.replace(/\/+$/, "").split("/").pop() || dir,
      saes,
      model,
      tokenizer,
      stats,
      unseenWindows: unseen,
      text,
    });
    return {
      browser,
      seconds,
      positions: stats[0].positions,
      windows: read,
      unseenWindows: unseen,
      model: description,
      dispose: () => tf.dispose(Object.values(saes.params)),
    };
  } catch (error) {
    tf.dispose(Object.values(saes.params));
    throw error;
  }
}

/** Options of {@linkcode runFeaturesCommand}, for tests. */
export type FeaturesCommandIO = {
  readonly write?: (text: string) => void;
  /** Stops the server. */
  readonly signal?: AbortSignal;
  /** Called once the server listens. */
  readonly onListen?: (url: string) => void;
  /**
   * Called once the statistics pass is done, before serving or writing, with
   * its outcome and the backend's name (how `deno task bench --features`
   * measures the command).
   */
  readonly onPrepared?: (prepared: PreparedFeatures, backend: string) => void;
  /** Called with the number of files `--static` wrote. */
  readonly onStaticWritten?: (files: number) => void;
};

function positiveInteger(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(`--${flag}: expected a positive integer, received ${JSON.stringify(value)}`);
  }
  return n;
}

/** Runs `deno task features`; returns the exit code once the static files are written or the server stops. */
export async function runFeaturesCommand(
  args: readonly string[],
  io: FeaturesCommandIO = {},
): Promise<number> {
  const write = io.write ?? ((text: string) => Deno.stderr.writeSync(new TextEncoder().encode(text)));
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: true,
      options: FEATURES_FLAGS,
    });
  } catch (error) {
    throw new TypeError(`${error instanceof Error ? error.message : error} (see --help)`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    write(formatHelp(FEATURES_HELP));
    return 0;
  }
  if (positionals.length !== 1) {
    throw new TypeError(
      `DIR: expected one run folder (from deno task train --out DIR), received ${
        positionals.length === 0 ? "none" : positionals.join(" ")
      }`,
    );
  }
  const tokens = positiveInteger("tokens", values.tokens, 131_072);
  const topK = positiveInteger("top-k", values["top-k"], 20);
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port < 65536)) {
    throw new RangeError(
      `--port: expected an integer in [0, 65535], received ${JSON.stringify(values.port)}`,
    );
  }
  const backend = await selectBackend(values.backend as BackendName);
  write(`saekit features: backend ${backend.name}\n`);
  const prepared = await prepareFeatureBrowser(positionals[0], { tokens, topK, log: write });
  try {
    io.onPrepared?.(prepared, backend.name);
    if (values.static !== undefined) {
      const files = await writeStaticFeatures(prepared.browser, values.static);
      io.onStaticWritten?.(files);
      write(
        `saekit features: wrote ${files} files to ${values.static}; serve that folder with any static file server, e.g. python3 -m http.server -d ${values.static}\n`,
      );
      return 0;
    }
    const listen = (p: number) =>
      serveFeatureBrowser(prepared.browser, { hostname: values.host, port: p, signal: io.signal });
    let server;
    try {
      server = listen(port ?? 8700);
    } catch (error) {
      if (!(error instanceof Deno.errors.AddrInUse) || port !== undefined) throw error;
      server = listen(0);
    }
    write(`saekit features: open ${server.url} (Ctrl-C to stop)\n`);
    io.onListen?.(server.url);
    let onInterrupt: (() => void) | undefined;
    if (io.signal === undefined) {
      onInterrupt = () => void server.shutdown();
      Deno.addSignalListener("SIGINT", onInterrupt);
    }
    try {
      await server.finished;
    } finally {
      if (onInterrupt !== undefined) Deno.removeSignalListener("SIGINT", onInterrupt);
    }
    return 0;
  } finally {
    prepared.dispose();
  }
}

/** Entry point of `tasks/features.ts`: prints errors without a stack trace. */
export async function main(args: readonly string[]): Promise<void> {
  try {
    Deno.exitCode = await runFeaturesCommand(args);
  } catch (error) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    Deno.stderr.writeSync(new TextEncoder().encode(`saekit features: ${message}\n`));
    Deno.exitCode = 2;
  }
}
