/**
 * The `train` command: flags and config files in, a finished run folder out.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { z } from "zod";
import type { BackendName } from "../backends/names.ts";
import { selectBackend } from "../backends/select.ts";
import { type CommandHelp, type FlagSpec, type FlagTable, formatHelp, wrapWords } from "./help.ts";
import {
  CONFIG_TOPICS,
  configFromFlags,
  fieldToFlag,
  parseConfig,
  resolveSizes,
  STORIES_PRESET,
  TOY_PRESET,
  type TrainConfig,
  type TrainConfigInput,
  TrainConfigSchema,
} from "../config.ts";
import { prepareSource } from "../data/prepare.ts";
import { latestCheckpointConfig, loadLatestCheckpoint } from "../io/checkpoint.ts";
import { stateShapes } from "../train/pipeline.ts";
import type { TrainState } from "../train/state.ts";
import { createProgress } from "../run/progress.ts";
import { finalIsCurrent, type LogRecord, train } from "../run/runner.ts";
import { lockRunFolder, type RunLock } from "../run/lock.ts";
import { exists } from "../io/files.ts";
import { disposeAll } from "../run/dispose.ts";
import { finishRunReport } from "../report/report.ts";
import { closeSinks, type LogSink } from "../run/sinks.ts";
import { tensorboardSink } from "../run/sinks/tensorboard.ts";
import { wandbSink } from "../run/sinks/wandb.ts";
import { initMpi, type Mpi } from "../run/distributed/mpi.ts";

/** Fields that may change when a run is resumed. */
const RESUMABLE_OVERRIDES = new Set(["steps", "backend", "logEvery", "checkpointEvery", "onNonfinite"]);

/** A property of the configuration's JSON Schema (`z.toJSONSchema`), as far as the help reads it. */
type SchemaProperty = {
  readonly type?: string;
  readonly enum?: readonly unknown[];
  readonly anyOf?: readonly SchemaProperty[];
  readonly items?: SchemaProperty;
  readonly default?: unknown;
  readonly description?: string;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly exclusiveMinimum?: number;
  readonly exclusiveMaximum?: number;
};

/** A configuration value as it is written after its flag: `null`, `a,b`, `0.001`. */
function flagValue(value: unknown): string {
  return Array.isArray(value) ? value.map(flagValue).join(",") : String(value);
}

/** The bounds of a number in words, `N ≥ 1` or `0 ≤ X < 1`; integer bounds are shown inclusive. */
function rangeText(p: SchemaProperty, name: string): string | undefined {
  const integer = p.type === "integer";
  const bound = (inclusive: number | undefined, exclusive: number | undefined, step: number) =>
    exclusive === undefined
      ? inclusive === undefined || Math.abs(inclusive) >= Number.MAX_SAFE_INTEGER
        ? undefined
        : { value: inclusive, strict: false }
      : integer
      ? { value: exclusive + step, strict: false }
      : { value: exclusive, strict: true };
  const low = bound(p.minimum, p.exclusiveMinimum, 1);
  const high = bound(p.maximum, p.exclusiveMaximum, -1);
  if (low !== undefined && high !== undefined) {
    return `${low.value} ${low.strict ? "<" : "≤"} ${name} ${high.strict ? "<" : "≤"} ${high.value}`;
  }
  if (low !== undefined) return `${name} ${low.strict ? ">" : "≥"} ${low.value}`;
  if (high !== undefined) return `${name} ${high.strict ? "<" : "≤"} ${high.value}`;
  return undefined;
}

/** The placeholder of a value: `N` (integer), `X` (number), `true|false`, `NAME` (one of a list), `TEXT`. */
function placeholder(p: SchemaProperty): string {
  if (p.enum !== undefined) return "NAME";
  if (p.type === "array") return `${placeholder(p.items ?? {})},…`;
  return p.type === "integer"
    ? "N"
    : p.type === "number"
    ? "X"
    : p.type === "boolean"
    ? "true|false"
    : "TEXT";
}

const CONFIG_PROPERTIES = (z.toJSONSchema(TrainConfigSchema, { io: "input" }) as {
  properties: Record<string, SchemaProperty>;
}).properties;

/**
 * The flag of a configuration field, read from the schema: its description,
 * default, values (an enum) and range. Flags carry no `parseArgs` default:
 * only the flags given override the config file or the built-in run.
 */
function configFlag(field: string): FlagSpec {
  const property = CONFIG_PROPERTIES[field];
  const value = property.anyOf?.find((p) => p.type !== "null") ?? property;
  const name = placeholder(value);
  return {
    type: "string",
    value: name,
    description: property.description ?? "",
    choices: value.enum?.map(String),
    range: value.type === "array" ? rangeText(value.items ?? {}, "each") : rangeText(value, name),
    defaultText: flagValue(property.default),
  };
}

/**
 * A built-in run as a block of flags, those that differ from the schema's
 * defaults, wrapped at `columns` without parting a flag from its value.
 */
function presetBlock(title: string, preset: TrainConfigInput, columns = 110): string {
  const pairs = Object.entries(preset)
    .filter(([field, value]) => flagValue(value) !== flagValue(CONFIG_PROPERTIES[field].default))
    .map(([field, value]) => `--${fieldToFlag(field)}\0${flagValue(value)}`);
  const lines = wrapWords(pairs.join(" "), columns - 4).map((line) => line.replaceAll("\0", " "));
  return [`  ${title}:`, ...lines.map((line) => `    ${line}`)].join("\n");
}

const COMMAND_FLAGS = {
  config: {
    type: "string",
    value: "FILE.json",
    description: "Configuration fields as a JSON object; the flags below override them",
    defaultText: "a built-in run, see the end",
  },
  out: {
    type: "string",
    value: "DIR",
    description:
      "Run folder: config.json, metrics.jsonl, checkpoints/, final/ (the SAEs), run.json, report.html",
    defaultText: "runs/<UTC date>T<time>, or the --resume folder",
  },
  resume: {
    type: "string",
    value: "DIR",
    description: `Continue the run in DIR from its newest checkpoint; only ${
      [...RESUMABLE_OVERRIDES].map((f) => `--${fieldToFlag(f)}`).join(", ")
    } may change`,
  },
  help: { type: "boolean", short: "h", description: "Print this help and exit" },
} as const satisfies FlagTable;

const LOGGING_FLAGS = {
  tensorboard: {
    type: "string",
    value: "true|false|DIR",
    description: "Write TensorBoard event files of the metrics",
    defaultText: "DIR/tensorboard with --out",
  },
  wandb: {
    type: "string",
    value: "true|false",
    description: "Log the metrics to Weights & Biases",
    defaultText: "true when WANDB_API_KEY is set and WANDB_MODE is not disabled or offline",
  },
  "wandb-project": {
    type: "string",
    value: "NAME",
    description: "W&B project",
    defaultText: "sparse-autoencoder",
  },
  "wandb-entity": {
    type: "string",
    value: "NAME",
    description: "W&B entity (user or team)",
    defaultText: "the API key's default entity",
  },
  "wandb-name": {
    type: "string",
    value: "NAME",
    description: "W&B run name",
    defaultText: "the --out folder's name",
  },
} as const satisfies FlagTable;

/**
 * The help of `deno task train`: the command's flags, then one group per
 * topic of the configuration, every field's line generated from
 * {@linkcode TrainConfigSchema} (description, default, values, range), and
 * the built-in runs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TRAIN_HELP } from "./train.ts";
 * const titles = TRAIN_HELP.groups.map((g) => g.title);
 * assert.equal(titles[0], "Command");
 * assert.equal(TRAIN_HELP.groups.at(-1)?.flags.backend.choices?.includes("blas"), true);
 * ```
 */
export const TRAIN_HELP: CommandHelp = {
  usage: [
    "deno task train [--config FILE.json] [--out DIR | --resume DIR] [--<field> VALUE ...]",
  ],
  about: [
    "Trains SAEs and writes a run folder. Without --config it trains the built-in stories260K run: one SAE " +
    "per residual stream of stories260K (shipped) on stories sampled from it; --source toy trains the " +
    "built-in toy run instead, three SAEs on synthetic data with known ground truth. Both are listed at the " +
    "end.",
    "Every configuration field is a flag in kebab-case (lrWarmupSteps is --lr-warmup-steps) that overrides " +
    "the config file or the built-in run. The defaults shown are the schema's: they fill in the fields that " +
    "the config file or the built-in run leaves out. Lists are comma-separated (--hooks a,b), numbers may " +
    "be written 1_000_000, and a field whose default is null also takes null.",
  ],
  groups: [
    { title: "Command", flags: COMMAND_FLAGS },
    { title: "Experiment logging, besides DIR/metrics.jsonl", flags: LOGGING_FLAGS },
    ...CONFIG_TOPICS.map((topic) => ({
      title: `Configuration: ${topic.title}`,
      flags: Object.fromEntries(topic.fields.map((field) => [fieldToFlag(field), configFlag(field)])),
    })),
  ],
  after: [
    "The built-in runs, used without --config, set these fields (the others keep the defaults above):",
    presetBlock("stories260K (the default)", STORIES_PRESET),
    presetBlock("toy (with --source toy)", TOY_PRESET),
  ],
};

/**
 * Every flag `deno task train` parses: the `parseArgs` options, from the
 * groups of {@linkcode TRAIN_HELP}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TRAIN_FLAGS } from "./train.ts";
 * assert.equal(TRAIN_FLAGS["lr-warmup-steps"].type, "string");
 * assert.equal(TRAIN_FLAGS.help.short, "h");
 * ```
 */
export const TRAIN_FLAGS: FlagTable = Object.assign({}, ...TRAIN_HELP.groups.map((group) => group.flags));

/** Options of {@linkcode runTrainCommand}, for tests. */
export type CommandIO = {
  readonly write?: (text: string) => void;
  readonly isTerminal?: boolean;
  readonly signal?: AbortSignal;
};

async function readJson(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new Error(`${what}: cannot read ${path} (${error instanceof Error ? error.message : error})`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new SyntaxError(
      `${what}: ${path} is not valid JSON (${error instanceof Error ? error.message : error})`,
    );
  }
}

function formatSummary(record: LogRecord | undefined, names: readonly string[]): string {
  if (record === undefined) return "no steps were run\n";
  const columns = [
    ["loss", "loss/total"],
    ["L0", "train/l0_norm"],
    ["dead", "train/dead_fraction"],
    ["expl. var.", "train/explained_variance"],
    ["MMCS", "eval/mmcs"],
    ["recon. score", "validate/reconstruction_score"],
    ["KL", "validate/kl_div"],
  ].filter(([, key]) => typeof record[`${key}/mean`] === "number");
  const rows = [...names, "mean"].map((name) => [
    name,
    ...columns.map(([, key]) => {
      const value = record[`${key}/${name}`] as number;
      return Math.abs(value) >= 100 ? value.toFixed(1) : value.toPrecision(4);
    }),
  ]);
  const header = ["component", ...columns.map(([label]) => label)];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i])).join("  ");
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n") + "\n";
}

/**
 * Runs `deno task train` with the given arguments. Returns the exit code. The
 * run folder is locked (`lib/run/lock.ts`) from before anything is read for the
 * run or written in it until the command returns: a second process on the same
 * folder is refused with "DIR is in use by process N".
 */
export async function runTrainCommand(args: readonly string[], io: CommandIO = {}): Promise<number> {
  const locks: RunLock[] = [];
  try {
    return await trainCommand(args, io, locks);
  } finally {
    for (const lock of locks) lock.release();
  }
}

async function trainCommand(args: readonly string[], io: CommandIO, locks: RunLock[]): Promise<number> {
  let mpi: Mpi | undefined;
  try {
    const code = await trainProcess(args, io, locks, (m) => (mpi = m));
    mpi?.finalize();
    return code;
  } catch (error) {
    // One process failing alone would leave the others waiting in a collective: end the whole job.
    if (mpi !== undefined && mpi.size > 1) {
      Deno.stderr.writeSync(
        new TextEncoder().encode(
          `saekit: error: process ${mpi.rank} of ${mpi.size}: ${
            error instanceof Error ? error.message : error
          }; ending every process (MPI_Abort)\n`,
        ),
      );
      for (const lock of locks) lock.release();
      mpi.abort(1);
    }
    throw error;
  }
}

async function trainProcess(
  args: readonly string[],
  io: CommandIO,
  locks: RunLock[],
  started: (mpi: Mpi) => void,
): Promise<number> {
  let quiet = false; // processes other than 0 of an MPI job print nothing but errors
  const print = io.write ?? ((text: string) => Deno.stderr.writeSync(new TextEncoder().encode(text)));
  const write = (text: string) => {
    if (!quiet) print(text);
  };
  let mpi: Mpi | undefined;
  const startMpi = () => {
    if (mpi === undefined) {
      mpi = initMpi();
      started(mpi);
      quiet = mpi.rank !== 0;
    }
    return mpi;
  };
  const warn = (message: string) => write(`saekit: warning: ${message}\n`);
  const fieldFlags = Object.keys(TrainConfigSchema.shape).map(fieldToFlag);
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: false,
      options: TRAIN_FLAGS,
    }));
  } catch (error) {
    throw new TypeError(
      `${
        error instanceof Error ? error.message : error
      } (expected --config, --out, --resume or a configuration field such as --l1-coefficient; see --help)`,
    );
  }
  if (values.help) {
    write(formatHelp(TRAIN_HELP));
    return 0;
  }
  const flags: Record<string, string> = {};
  for (const flag of fieldFlags) {
    const value = values[flag];
    if (typeof value === "string") flags[flag] = value;
  }
  const overrides = configFromFlags(flags);

  let config: TrainConfig;
  let input: TrainConfigInput;
  let resumeFrom: string | undefined;
  let out = values.out as string | undefined;
  if (typeof values.resume === "string") {
    const dir = values.resume;
    // Locked before its newest checkpoint is chosen (a folder that does not exist fails just below).
    const lead = overrides.distributed !== "mpi" || startMpi().rank === 0;
    if (lead && await exists(dir)) locks.push(await lockRunFolder(out ?? dir));
    // The newest checkpoint whose state.json reads; loadLatestCheckpoint() below names any passed over.
    const found = await latestCheckpointConfig(dir);
    if (found === undefined) {
      throw new Error(
        `--resume ${dir}: expected a run folder with checkpoints/step-*/state.json, found none`,
      );
    }
    const sidecar = `${found.dir}/state.json`;
    const saved = parseConfig(found.config, { file: sidecar });
    for (const field of Object.keys(overrides)) {
      // --distributed is how this start runs, not what the run is: it is never kept (see below).
      if (!RESUMABLE_OVERRIDES.has(field) && field !== "distributed") {
        throw new RangeError(
          `--${fieldToFlag(field)}: cannot be changed when resuming (expected only ${
            [...RESUMABLE_OVERRIDES].map((f) => `--${fieldToFlag(f)}`).join(", ")
          }), received ${JSON.stringify(flags[fieldToFlag(field)])}`,
        );
      }
    }
    // How many processes train is chosen anew at each start: a checkpoint of N processes resumes with any M.
    input = { ...saved, distributed: "none", ...overrides };
    config = parseConfig(input, { file: sidecar, flags: Object.keys(overrides) });
    resumeFrom = dir;
    out ??= dir;
  } else {
    const base: TrainConfigInput = typeof values.config === "string"
      ? (await readJson(values.config, "--config")) as TrainConfigInput
      : overrides.source === "toy"
      ? TOY_PRESET
      : STORIES_PRESET;
    if (base === null || typeof base !== "object" || Array.isArray(base)) {
      throw new TypeError(
        `--config ${values.config}: expected a JSON object of configuration fields, received ${
          JSON.stringify(base)
        }`,
      );
    }
    input = { ...base, ...overrides };
    config = parseConfig(
      input,
      typeof values.config === "string" ? { file: values.config, flags: Object.keys(overrides) } : {},
    );
  }

  if (config.distributed === "mpi") startMpi();
  const lead = mpi === undefined || mpi.rank === 0;
  if (lead && out !== undefined && locks.length === 0) locks.push(await lockRunFolder(out));
  const backend = await selectBackend(config.backend as BackendName);
  write(
    `saekit: backend ${backend.name}${backend.device ? ` on ${backend.device}` : ""}${
      backend.skipped.length ? ` (skipped: ${backend.skipped.join("; ")})` : ""
    }\n`,
  );
  let resume;
  if (resumeFrom !== undefined) {
    // Loaded once the backend is chosen, so that every tensor lives there.
    // The newest checkpoint that loads with the shapes of this configuration.
    const loaded = await loadLatestCheckpoint<TrainState>(resumeFrom, {
      expected: stateShapes(config),
      warn: (line) => write(`saekit: ${line}\n`),
    });
    resume = { ...loaded!, config };
    write(`saekit: resuming ${resume.dir} at step ${resume.step}\n`);
    const steps = resolveSizes(config).steps;
    if (out !== undefined && resume.step >= steps && await finalIsCurrent(out, warn)) {
      write(
        `saekit: ${out} already finished at step ${resume.step} (--steps ${steps}); nothing to do, nothing ` +
          `changed (a larger --steps trains further)\n`,
      );
      disposeAll(resume.state);
      return 0;
    }
  }

  const logging = loggingChoice(values, out);
  const prepared = await prepareSource(config, input, {
    onWarning: (message) => write(`saekit: warning: ${message}\n`),
  });
  config = prepared.config;
  const { steps, componentNames } = resolveSizes(config);
  write(`saekit: source ${prepared.description}\n`);
  const controller = new AbortController();
  io.signal?.addEventListener("abort", () => controller.abort());
  let interrupts = 0;
  const onInterrupt = () => {
    interrupts++;
    if (interrupts > 1) Deno.exit(130);
    write("\nsaekit: interrupted; writing a checkpoint (Ctrl-C again to quit at once)\n");
    controller.abort();
  };
  const listen = io.signal === undefined;
  if (listen) Deno.addSignalListener("SIGINT", onInterrupt);
  write(
    `saekit: training ${config.nComponents} × SAE ${config.dIn} → ${
      resolveSizes(config).dSae
    } for ${steps} steps of ${config.batchSize}` +
      (out ? `, writing ${out}` : "") + "\n",
  );
  try {
    // A resumed run already at its last step logs nothing, and processes other than 0 write nothing: no sink.
    const sinks = (resume !== undefined && resume.step >= steps) || !lead
      ? []
      : await openSinks(logging, config, resume?.step, write);
    const result = await train({
      config,
      source: prepared.source,
      out,
      sinks,
      resume,
      signal: controller.signal,
      evaluate: prepared.evaluate,
      validate: prepared.validate,
      progress: createProgress(write, io.isTerminal ?? Deno.stderr.isTerminal()),
      lock: locks[0],
      warn,
      ...(mpi === undefined ? {} : { distributed: mpi }),
    });
    if (result.alreadyFinished) {
      write(
        `\nsaekit: ${out ?? "the run"} had already finished at step ${result.state.step}; ${
          result.wroteFinal
            ? "its final/ was missing or did not hold the last metrics line, and is written again"
            : "nothing changed"
        }\n`,
      );
      write(formatSummary(result.lastLog, componentNames));
      disposeAll(result.state);
      return 0;
    }
    if (result.skipped > 0) {
      write(`saekit: skipped ${result.skipped} batches whose loss or gradients were not finite\n`);
    }
    write(
      `\nsaekit: ${result.stopped} at step ${result.state.step} in ${result.seconds.toFixed(1)} s` +
        ` (${
          (((result.state.step - (resume?.step ?? 0)) * config.batchSize) / result.seconds).toFixed(0)
        } activations/s)\n`,
    );
    write(formatSummary(result.lastLog, componentNames));
    if (out !== undefined && lead) {
      // run.json (backend, machine, speed) and report.html; a failure here does not fail the run.
      const report = await finishRunReport(out, {
        backend: backend.name,
        skipped: backend.skipped,
        startStep: resume?.step ?? 0,
        endStep: result.state.step,
        seconds: result.seconds,
        batchSize: config.batchSize,
        stopped: result.stopped,
      }).catch((error) => `not written (${error instanceof Error ? error.message : error})`);
      write(
        result.stopped === "aborted"
          ? `checkpoint written; continue with: deno task train --resume ${out}\n`
          : `run folder: ${out} (metrics.jsonl, checkpoints/, final/, run.json)\n`,
      );
      write(`report: ${report} (open it in a browser; deno task report ${out} rewrites it)\n`);
      if (config.source === "model" && result.stopped !== "aborted") {
        write(`features: deno task features ${out} (browse the trained features in a local web page)\n`);
      }
    }
    disposeAll(result.state);
    return result.stopped === "aborted" ? 130 : 0;
  } finally {
    prepared.dispose();
    if (listen) Deno.removeSignalListener("SIGINT", onInterrupt);
  }
}

type LoggingChoice = {
  readonly tensorboardDir?: string;
  readonly wandb?: { readonly project?: string; readonly entity?: string; readonly name?: string };
};

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // without --allow-env the variable counts as unset
  }
}

/** Which sinks the flags ask for; checked before any work starts. */
function loggingChoice(
  values: Record<string, string | boolean | undefined>,
  out: string | undefined,
): LoggingChoice {
  const tb = values.tensorboard as string | undefined;
  let tensorboardDir: string | undefined;
  if (tb === undefined || tb === "true") {
    if (out !== undefined) tensorboardDir = `${out}/tensorboard`;
    else if (tb === "true") {
      throw new RangeError(
        `--tensorboard: expected a folder, or --out to write DIR/tensorboard, received "true"`,
      );
    }
  } else if (tb !== "false") {
    if (tb === "") throw new RangeError(`--tensorboard: expected true, false or a folder, received ""`);
    tensorboardDir = tb;
  }
  const flag = values.wandb as string | undefined;
  if (flag !== undefined && flag !== "true" && flag !== "false") {
    throw new TypeError(`--wandb: expected true or false, received ${JSON.stringify(flag)}`);
  }
  const mode = env("WANDB_MODE");
  const wanted = flag === undefined
    ? (env("WANDB_API_KEY") ?? "") !== "" && mode !== "disabled" && mode !== "offline"
    : flag === "true";
  const name = (values["wandb-name"] as string | undefined) ??
    out?.replace(/[\\/]+$/, "").split(/[\\/]/).pop();
  return {
    tensorboardDir,
    wandb: wanted
      ? {
        project: values["wandb-project"] as string | undefined,
        entity: values["wandb-entity"] as string | undefined,
        name: name === "" ? undefined : name,
      }
      : undefined,
  };
}

/** Opens the chosen sinks (closing those already open if one fails); the runner closes them at the end. */
async function openSinks(
  choice: LoggingChoice,
  config: TrainConfig,
  resumeStep: number | undefined,
  write: (text: string) => void,
): Promise<LogSink[]> {
  const sinks: LogSink[] = [];
  try {
    if (choice.tensorboardDir !== undefined) {
      const sink = await tensorboardSink({ dir: choice.tensorboardDir, resumeStep });
      sinks.push(sink);
      write(`saekit: TensorBoard events in ${sink.path} (tensorboard --logdir ${choice.tensorboardDir})\n`);
    }
    if (choice.wandb !== undefined) {
      const sink = await wandbSink({ ...choice.wandb, config: { ...config } });
      sinks.push(sink);
      write(`saekit: W&B run ${sink.url}\n`);
    }
    return sinks;
  } catch (error) {
    await closeSinks(sinks).catch(() => {});
    throw error;
  }
}

/**
 * The arguments of `deno task train` with `--out runs/<date>T<time>` added when
 * neither `--out` nor `--resume` (nor `--help`) is given, so that every run
 * from the command line leaves a run folder with its report.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { withDefaultOut } from "./train.ts";
 * const args = withDefaultOut(["--steps", "5"], new Date("2025-01-02T03:04:05Z"));
 * assert.equal(args.join(" "), "--steps 5 --out runs/2025-01-02T03-04-05");
 * assert.equal(withDefaultOut(["--out=x"]).length, 1);
 * ```
 */
export function withDefaultOut(args: readonly string[], now: Date = new Date()): string[] {
  if (args.some((a) => /^--(out|resume|help)(=|$)/.test(a) || a === "-h")) return [...args];
  return [...args, "--out", `runs/${now.toISOString().slice(0, 19).replace(/:/g, "-")}`];
}

/** Entry point of `tasks/train.ts`: prints errors without a stack trace. */
export async function main(args: readonly string[]): Promise<void> {
  try {
    Deno.exitCode = await runTrainCommand(withDefaultOut(args));
  } catch (error) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    Deno.stderr.writeSync(new TextEncoder().encode(`saekit train: ${message}\n`));
    Deno.exitCode = 2;
  }
}
