/**
 * Configuration of a training run as zod schemas. Every configuration type in
 * saekit is inferred from these schemas; defaults are those of the original
 * `sparse_autoencoder` v1.10.0 sweep configuration where it had one.
 *
 * Pure: parsing and validation only, no file or flag reading.
 *
 * @module
 */
import { z } from "zod";
import { AUTO_ORDER, BACKEND_NAMES } from "./backends/names.ts";
import { ARCH_NAMES, type ArchName } from "./sae/arch/names.ts";
import { ARCH_PROFILES, profileOf } from "./sae/arch/profiles.ts";
import type { SaeSpec } from "./sae/arch/record.ts";

const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();

// Each field's meaning is its `.describe()` line: `deno task train --help` prints it with the field's
// flag, default and range, so the help is generated from this schema. The fields are grouped by topic;
// the groups, spread in order, make the schema, and `CONFIG_TOPICS` names them for the help.

const sourceFields = {
  source: z.enum(["toy", "model"]).default("toy").describe(
    "Where activations come from: toy is synthetic sparse data with known ground truth; model is a language " +
      "model's activations at hooks over the text of dataset",
  ),
  model: z.string().min(1).default("stories260k").describe(
    "Language model: stories260k (shipped), a llama2.c .bin checkpoint, a Hugging Face folder, or a Hub id " +
      "owner/name[@revision]",
  ),
  tokenizer: z.string().min(1).nullable().default(null).describe(
    "llama2.c tokenizer file of a .bin model; null: tok<N>.bin or tokenizer.bin beside the checkpoint",
  ),
  hooks: z.array(z.string().min(1)).min(1).nullable().default(null).describe(
    "TransformerLens hook points (e.g. blocks.2.hook_resid_post), one SAE each, all of one width; null: every " +
      "block's hook_resid_post",
  ),
  dataset: z.string().min(1).nullable().default(null).describe(
    "Text the model reads, streamed: .txt (one document per file), .jsonl or .parquet; null: the shipped " +
      "stories (lib/models/stories260k/stories.jsonl)",
  ),
  datasetField: z.string().min(1).default("text").describe(
    "The JSONL field or Parquet column that holds each document's text (or token ids)",
  ),
  datasetTokenized: z.boolean().default(false).describe(
    "The dataset holds token ids (a list per document) instead of text",
  ),
  contextSize: z.number().int().min(2).default(256).describe(
    "Tokens per context window (the original's default 256)",
  ),
  prependBos: z.boolean().default(true).describe(
    "Start every window with BOS, whose activations are not trained on (the original did not prepend)",
  ),
  documentEnd: z.enum(["drop", "pack"]).default("pack").describe(
    "pack joins documents with BOS and drops nothing; drop chunks each document alone and drops its remainder " +
      "(the original)",
  ),
  windowsPerBatch: positiveInt.default(16).describe(
    "Context windows per forward pass of the model (the original's source batch size)",
  ),
  activationCache: z.string().min(1).nullable().default(null).describe(
    "Folder to write the training activations to first, as safetensors shards (complete shards there are " +
      "reused), then train from; null: no cache",
  ),
  validateEvery: nonNegativeInt.default(0).describe(
    "Steps between validations with the SAEs spliced into the model (0: only at the end)",
  ),
  validationWindows: nonNegativeInt.default(16).describe(
    "Context windows held out for validation (the first of the dataset); 0 turns validation off",
  ),
};

const sizeFields = {
  dIn: positiveInt.default(64).describe(
    "Width of the activations (the original's n_input_features); a language model sets it from its hooks",
  ),
  dSae: positiveInt.nullable().default(null).describe(
    "Learned features per component (the dictionary size); null: expansionFactor · dIn",
  ),
  expansionFactor: z.number().positive().default(2).describe(
    "Learned features per activation dimension when dSae is null (the original's sweep default 2)",
  ),
  nComponents: positiveInt.default(1).describe(
    "SAEs trained side by side (components); a language model sets it to one per hook point",
  ),
  componentNames: z.array(z.string().min(1)).nullable().default(null).describe(
    "One distinct name per component, used in metric keys and folder names; null: the hook names (from->to " +
      "for transcoders), else component_0, component_1, …",
  ),
};

const toyFields = {
  toyFeatures: positiveInt.default(128).describe("Ground-truth feature directions per component"),
  toyMeanActive: z.number().positive().default(4).describe(
    "Expected number of active ground-truth features per activation vector",
  ),
  toyChunkRows: positiveInt.default(4096).describe("Rows generated per chunk, the unit of random access"),
};

const architectureFields = {
  arch: z.enum(ARCH_NAMES).default("relu").describe(
    "SAE architecture: relu is the original's (L1, unit-norm decoder), relu-april Anthropic's April-2024 " +
      "update, matryoshka BatchTopK with nested dictionaries",
  ),
  k: positiveInt.default(32).describe(
    `TopK family (${
      Object.values(ARCH_PROFILES).filter((p) => p.sparsity === "k").map((p) => p.name).join(", ")
    }): active features per vector, on average over the batch for the batch variants; at most dSae`,
  ),
  l1Coefficient: z.number().nonnegative().default(1e-3).describe(
    "Sparsity coefficient λ: of the L1 penalty (relu, gated), the decoder-norm-weighted L1 (relu-april), the " +
      "L0 or tanh penalty (jumprelu); unused by the TopK family",
  ),
  sparsityWarmupSteps: nonNegativeInt.default(0).describe(
    "Steps over which the sparsity coefficient rises linearly from 0 (0: none)",
  ),
  encoderInit: z.enum(["fan-in", "original", "transpose"]).nullable().default(null).describe(
    "Encoder initialisation: fan-in per component, original (the original's multi-component scale, its " +
      "defect B2), transpose of the decoder with bEnc 0; null: fan-in for relu and transcoders, else transpose",
  ),
  decoderInitNorm: z.number().positive().nullable().default(null).describe(
    "Norm of each dictionary vector at initialisation; null: 0.1 where the decoder is free (relu-april, " +
      "jumprelu with tanh), else 1",
  ),
  bDecInit: z.enum(["zeros", "mean", "geometric-median"]).default("zeros").describe(
    "Initial decoder bias: zeros (the original), or the mean or geometric median of the first initSample " +
      "activations",
  ),
  normalizeActivations: z.enum(["none", "expected-norm"]).default("none").describe(
    "expected-norm scales each component's activations by one constant so that E‖x‖ = √dIn (folded back " +
      "into the exported weights); none trains on them as they are",
  ),
  initSample: positiveInt.default(4096).describe(
    "Activation vectors (the first batches, then trained on) that estimate the scale and the initial bDec",
  ),
};

const jumpreluFields = {
  jumpreluPenalty: z.enum(["step", "tanh"]).default("step").describe(
    "JumpReLU sparsity penalty: step is L0 through straight-through gradients (GDM); tanh is Anthropic's " +
      "(January 2025)",
  ),
  jumpreluBandwidth: z.number().positive().default(0.05).describe(
    "JumpReLU: width ε of the rectangle kernel of the straight-through gradients",
  ),
  jumpreluInitThreshold: z.number().nonnegative().default(0.05).describe(
    "JumpReLU: initial threshold θ of every feature",
  ),
  jumpreluTanhScale: z.number().positive().default(4).describe(
    "JumpReLU tanh penalty: the scale c in tanh(c · f · ‖wDec‖)",
  ),
  preActCoefficient: z.number().nonnegative().default(0).describe(
    "JumpReLU: coefficient of the pre-activation loss Σ ReLU(θ − pre) · ‖wDec‖ (Anthropic: 3e-6; 0: off)",
  ),
};

const batchTopKFields = {
  thresholdDecay: z.number().min(0).lt(1).default(0.99).describe(
    "BatchTopK, Matryoshka: decay of the running average of the smallest kept activation, the threshold " +
      "used at inference",
  ),
  matryoshkaPrefixes: z.array(positiveInt).min(1).nullable().default(null).describe(
    "Matryoshka: increasing widths of the nested dictionaries, the last equal to dSae; null: dSae/16, /8, " +
      "/4, /2, dSae",
  ),
  matryoshkaWeights: z.array(z.number().nonnegative()).min(1).nullable().default(null).describe(
    "Matryoshka: weight of each prefix's reconstruction loss, one per prefix; null: equal weights summing to 1",
  ),
};

const auxkFields = {
  auxK: positiveInt.nullable().default(null).describe(
    "AuxK: dead features whose largest pre-activations reconstruct the residual (at most dSae); null: dIn/2",
  ),
  auxkCoefficient: z.number().nonnegative().default(1 / 32).describe(
    "AuxK: coefficient of the auxiliary loss, on the scale of the main MSE (OpenAI: 1/32); 0 turns AuxK off",
  ),
  deadActivations: positiveInt.default(10_000_000).describe(
    "AuxK: activation vectors without firing after which a feature counts as dead (OpenAI: 10M tokens)",
  ),
};

const transcoderFields = {
  transcoderFrom: z.array(z.string().min(1)).min(1).nullable().default(null).describe(
    "Hook point each transcoder reads (e.g. blocks.0.ln2.hook_normalized); needs source model, transcoderTo " +
      "and hooks null",
  ),
  transcoderTo: z.array(z.string().min(1)).min(1).nullable().default(null).describe(
    "Hook point each transcoder reconstructs, one per transcoderFrom (e.g. blocks.0.hook_mlp_out)",
  ),
};

const optimizerFields = {
  lr: z.number().positive().default(1e-3).describe("Peak learning rate of Adam (the schedule scales it)"),
  adamBeta1: z.number().min(0).lt(1).default(0.9).describe("Adam β1, decay of the gradient's moving average"),
  adamBeta2: z.number().min(0).lt(1).default(0.99).describe(
    "Adam β2, decay of the squared gradient's moving average (0.99: the original's v1.10.0 sweep default)",
  ),
  adamEps: z.number().positive().default(1e-8).describe("Adam ε, added to the bias-corrected √v"),
  weightDecay: z.number().nonnegative().default(0).describe(
    "L2-style weight decay: decay · params added to the gradient before Adam, not AdamW (the original's " +
      "default 0)",
  ),
  lrSchedule: z.enum(["constant", "warmup", "cosine"]).default("constant").describe(
    "Learning-rate schedule: constant; warmup (linear warm-up, constant, then linear decay over the last " +
      "lrDecaySteps); cosine (warm-up, then half a cosine over the rest of the run)",
  ),
  lrWarmupSteps: nonNegativeInt.default(0).describe(
    "Steps of linear warm-up from 0 to lr (warmup and cosine schedules)",
  ),
  lrDecaySteps: nonNegativeInt.default(0).describe(
    "warmup schedule: steps of linear decay at the end of the run (Anthropic's April-2024 recipe: the last 20%)",
  ),
  lrMinRatio: z.number().min(0).max(1).default(0).describe(
    "Final learning rate of the cosine schedule and of the linear decay, as a fraction of lr",
  ),
  gradClipNorm: z.number().nonnegative().default(0).describe(
    "Clip gradients to this global L2 norm; 0 turns clipping off (the original had none)",
  ),
};

const lengthFields = {
  batchSize: positiveInt.default(8192).describe(
    "Activation vectors per training batch (the original's default 8192)",
  ),
  storeSize: positiveInt.default(2_998_272).describe(
    "Rows of the shuffling activation store, filled and shuffled together; a multiple of batchSize",
  ),
  maxActivations: positiveInt.default(1_999_847_424).describe(
    "Activation vectors to train on, floor(maxActivations / batchSize) steps; ignored when steps is set",
  ),
  steps: positiveInt.nullable().default(null).describe(
    "Training steps; null: floor(maxActivations / batchSize)",
  ),
};

const resampleFields = {
  resampleInterval: positiveInt.default(197_885_952).describe(
    "Resample dead features every this many activation vectors",
  ),
  resampleCollate: positiveInt.default(98_942_976).describe(
    "Activation vectors before each resample over which firings are counted; at most resampleInterval",
  ),
  resampleDatasetSize: positiveInt.default(819_200).describe(
    "Activation vectors before each resample from which new inputs are drawn (weighted by squared loss); at " +
      "most resampleInterval",
  ),
  maxResamples: nonNegativeInt.default(4).describe("Most resamples in a run (0: never resample)"),
  deadThreshold: z.number().min(0).max(1).default(0).describe(
    "A feature is dead when it fired on at most this fraction of the collated activation vectors",
  ),
  resampleReservoir: positiveInt.nullable().default(null).describe(
    "Candidate inputs kept per component for resampling (a weighted reservoir); null: min(dSae, " +
      "resampleDatasetSize)",
  ),
};

const runFields = {
  capacitySample: nonNegativeInt.default(256).describe(
    "Rows of the batch whose capacity (Scherlis et al.) is computed at each log step (0: off)",
  ),
  logEvery: positiveInt.default(100).describe("Steps between metrics lines (the original's log_frequency)"),
  checkpointEvery: nonNegativeInt.default(0).describe(
    "Steps between checkpoints; 0 writes only the final one",
  ),
  distributed: z.enum(["none", "mpi"]).default("none").describe(
    "Data-parallel training. mpi: started as `mpirun -np N deno task train ...`, every process trains on its " +
      "share of each global batch of batchSize rows and MPI sums the gradients and metric sums (MPICH: " +
      "apt-get install mpich); process 0 alone writes the run folder. Not kept when resuming: give it again",
  ),
  onNonfinite: z.enum(["stop", "skip"]).default("stop").describe(
    "What a NaN or infinite loss, gradient, parameter or Adam moment does. stop: checked at every log " +
      "step, checkpoint and the end; the run stops with an error naming the step and the tensor, keeping " +
      "its last finite checkpoint. skip: every step is checked (one small read-back to the host per step): " +
      "a batch whose loss or gradients are not finite is skipped, the state kept as before it, and counted " +
      "in train/skipped_batches; 100 in a row stop the run",
  ),
  seed: nonNegativeInt.default(49).describe(
    "Seed from which every random draw of the run derives (the original's default 49)",
  ),
  backend: z.enum(BACKEND_NAMES).default("auto").describe(
    `tfjs backend; auto takes the first that starts of ${AUTO_ORDER.join(", ")} (webgpu only on a hardware ` +
      "adapter), then cpu",
  ),
};

/**
 * The schema of a run's configuration: one flat object, so that every field
 * is also a command-line flag (`lrWarmupSteps` is `--lr-warmup-steps`). Each
 * field's `.describe()` text is its meaning (`TrainConfigSchema.shape.lr.description`).
 */
export const TrainConfigSchema = z.strictObject({
  ...sourceFields,
  ...sizeFields,
  ...toyFields,
  ...architectureFields,
  ...jumpreluFields,
  ...batchTopKFields,
  ...auxkFields,
  ...transcoderFields,
  ...optimizerFields,
  ...lengthFields,
  ...resampleFields,
  ...runFields,
});

/** A topic of the configuration: a title and its fields, in schema order. */
export type ConfigTopic = { readonly title: string; readonly fields: readonly (keyof TrainConfig)[] };

function topic(title: string, fields: Partial<Record<keyof TrainConfig, unknown>>): ConfigTopic {
  return { title, fields: Object.keys(fields) as (keyof TrainConfig)[] };
}

/**
 * Every field of {@linkcode TrainConfigSchema} once, by topic, in schema
 * order: the sections of `deno task train --help`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CONFIG_TOPICS, TrainConfigSchema } from "./config.ts";
 * const fields = CONFIG_TOPICS.flatMap((t) => t.fields);
 * assert.deepEqual(fields, Object.keys(TrainConfigSchema.shape));
 * assert.equal(CONFIG_TOPICS[0].fields[0], "source");
 * ```
 */
export const CONFIG_TOPICS: readonly ConfigTopic[] = [
  topic("Activation source", sourceFields),
  topic("Sizes and components", sizeFields),
  topic("Toy source", toyFields),
  topic("Architecture and initialisation", architectureFields),
  topic("JumpReLU", jumpreluFields),
  topic("BatchTopK and Matryoshka", batchTopKFields),
  topic("AuxK (TopK family)", auxkFields),
  topic("Transcoders", transcoderFields),
  topic("Optimizer and learning rate", optimizerFields),
  topic("Batches and run length", lengthFields),
  topic("Resampling of dead features", resampleFields),
  topic("Logging, checkpoints, seed and backend", runFields),
];

/** A configuration as written in a file or given as flags (every field optional). */
export type TrainConfigInput = z.input<typeof TrainConfigSchema>;
/** A resolved configuration: every field present, defaults filled in. */
export type TrainConfig = z.output<typeof TrainConfigSchema>;

/** Whether a configuration trains transcoders (input and target at different hook points). */
export function isTranscoder(config: TrainConfig): boolean {
  return config.transcoderFrom !== null;
}

/** The default Matryoshka prefixes of a dictionary of `dSae` (the Matryoshka profile's). */
export { defaultPrefixes } from "./sae/arch/profiles.ts";

/**
 * The architecture's spec for the loss and its gradients: its profile's, from the configuration.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseConfig, specFor } from "./config.ts";
 * const spec = specFor(parseConfig({ arch: "matryoshka", dIn: 8, dSae: 64, k: 4 }));
 * assert.equal(spec.prefixes.join(), "4,8,16,32,64");
 * assert.equal(spec.auxK, 4);
 * ```
 */
export function specFor(config: TrainConfig): SaeSpec {
  const { dSae } = resolveSizes(config);
  return profileOf(config.arch).spec(config, { dSae, tiedBias: !isTranscoder(config) });
}

/** The encoder initialisation a configuration asks for, with the architecture's default (fan-in for transcoders). */
export function encoderInitFor(config: TrainConfig): "fan-in" | "original" | "transpose" {
  return config.encoderInit ?? (isTranscoder(config) ? "fan-in" : profileOf(config.arch).encoderInit);
}

/** The initial norm of the dictionary vectors, with the architecture's default (0.1 for a free decoder). */
export function decoderInitNormFor(config: TrainConfig): number {
  return config.decoderInitNorm ?? (profileOf(config.arch).unitNormDecoder(specFor(config)) ? 1 : 0.1);
}

/** Re-exported for configuration code: the architecture names. */
export type { ArchName };

/** Sizes derived from a {@linkcode TrainConfig}. */
export type ResolvedSizes = {
  readonly dSae: number;
  readonly steps: number;
  readonly componentNames: readonly string[];
  readonly reservoir: number;
};

/**
 * The sizes that follow from a configuration: `dSae`, the number of steps,
 * the component names and the resampler's reservoir.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseConfig, resolveSizes } from "./config.ts";
 * const sizes = resolveSizes(parseConfig({ dIn: 8, expansionFactor: 4, steps: 10 }));
 * assert.equal(sizes.dSae, 32);
 * assert.equal(sizes.steps, 10);
 * ```
 */
export function resolveSizes(config: TrainConfig): ResolvedSizes {
  const dSae = config.dSae ?? Math.round(config.expansionFactor * config.dIn);
  const steps = config.steps ?? Math.floor(config.maxActivations / config.batchSize);
  const componentNames = config.componentNames ??
    (config.transcoderFrom !== null && config.transcoderTo !== null
      ? config.transcoderFrom.map((from, i) => `${from}->${config.transcoderTo![i]}`)
      : config.source === "model" && config.hooks !== null
      ? config.hooks
      : Array.from({ length: config.nComponents }, (_, i) => `component_${i}`));
  const reservoir = config.resampleReservoir ?? Math.min(dSae, config.resampleDatasetSize);
  return { dSae, steps, componentNames, reservoir };
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const key of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** Where a configuration's fields came from, for {@linkcode parseConfig}'s messages. */
export type ConfigOrigin = {
  /** The file the configuration was read from (`--config FILE`); each message names it. */
  readonly file?: string;
  /** Fields given as flags over the file (`lr` for `--lr`); their messages name the flag instead. */
  readonly flags?: readonly string[];
};

/** A message line of {@linkcode parseConfig} with its origin: `FILE: field: …`, or `--flag: …` for a flag. */
function placed(line: string, origin: ConfigOrigin): string {
  if (origin.file === undefined) return line;
  const field = /^[A-Za-z0-9_]+/.exec(line)?.[0] ?? "";
  if (field !== "" && origin.flags?.includes(field)) {
    return `--${fieldToFlag(field)}${line.slice(field.length)}`;
  }
  return `${origin.file}: ${line}`;
}

/**
 * Parses and validates a configuration. Unknown keys, wrong types, values out
 * of range and impossible combinations throw a `TypeError` (wrong key or type)
 * or `RangeError` (bad value) naming each field with the expected and the
 * received value; with `origin.file`, each line also names the file, or the
 * flag for a field in `origin.flags`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseConfig } from "./config.ts";
 * const config = parseConfig({ l1Coefficient: 0.01 });
 * assert.equal(config.lr, 1e-3);
 * assert.equal(config.l1Coefficient, 0.01);
 * assert.throws(() => parseConfig({ dIn: 2.5, lr: -1 }, { file: "a.json", flags: ["lr"] }), {
 *   message: "invalid configuration:\n  a.json: dIn: expected int, received 2.5 (number)\n" +
 *     "  --lr: expected number to be >0; received -1",
 * });
 * ```
 */
export function parseConfig(input: unknown, origin: ConfigOrigin = {}): TrainConfig {
  const parsed = TrainConfigSchema.safeParse(input);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const field = issue.path.join(".") || "(config)";
      if (issue.code === "unrecognized_keys") {
        return `${issue.keys.map((key) => [...issue.path, key].join(".")).join(", ")}: ` +
          `unknown field (expected one of the fields of TrainConfigSchema), received ${
            issue.keys.map((key) => describe(valueAt(input, [...issue.path, key]))).join(", ")
          }`;
      }
      const value = valueAt(input, issue.path);
      if (issue.code === "invalid_type") {
        const kind = value === null ? "null" : Array.isArray(value) ? "array" : typeof value;
        return `${field}: expected ${issue.expected}, received ${describe(value)} (${kind})`;
      }
      const message = issue.message.replace(/^(Invalid input|Invalid option|Too big|Too small): /, "");
      return `${field}: ${message}; received ${describe(value)}`;
    });
    const typeLike = parsed.error.issues.some((issue) =>
      issue.code === "invalid_type" || issue.code === "unrecognized_keys"
    );
    const ErrorClass = typeLike ? TypeError : RangeError;
    throw new ErrorClass(`invalid configuration:\n  ${lines.map((l) => placed(l, origin)).join("\n  ")}`);
  }
  const config = parsed.data;
  const problems: string[] = [];
  if (config.storeSize % config.batchSize !== 0) {
    problems.push(
      `storeSize: expected a multiple of batchSize (${config.batchSize}), received ${config.storeSize}`,
    );
  }
  const { dSae } = resolveSizes(config);
  problems.push(...profileOf(config.arch).check?.(config, dSae) ?? []);
  if ((config.transcoderFrom === null) !== (config.transcoderTo === null)) {
    problems.push(
      `transcoderTo: expected both transcoderFrom and transcoderTo (or neither), received ${
        describe(config.transcoderTo)
      } with transcoderFrom ${describe(config.transcoderFrom)}`,
    );
  } else if (config.transcoderFrom !== null && config.transcoderTo !== null) {
    if (config.transcoderFrom.length !== config.transcoderTo.length) {
      problems.push(
        `transcoderTo: expected ${config.transcoderFrom.length} hooks (one per transcoderFrom), received ${config.transcoderTo.length}`,
      );
    }
    if (config.source !== "model") {
      problems.push(`source: expected "model" for transcoders, received ${describe(config.source)}`);
    }
    if (config.hooks !== null) {
      problems.push(
        `hooks: expected null with transcoderFrom/transcoderTo, received ${describe(config.hooks)}`,
      );
    }
    if (config.encoderInit === "transpose") {
      problems.push(`encoderInit: expected "fan-in" or "original" for transcoders, received "transpose"`);
    }
  }
  if (config.lrDecaySteps > 0 && config.lrSchedule !== "warmup") {
    problems.push(
      `lrDecaySteps: expected 0 unless lrSchedule is "warmup", received ${config.lrDecaySteps} with ${
        describe(config.lrSchedule)
      }`,
    );
  }
  if (config.resampleCollate > config.resampleInterval) {
    problems.push(
      `resampleCollate: expected at most resampleInterval (${config.resampleInterval}), received ${config.resampleCollate}`,
    );
  }
  if (config.resampleDatasetSize > config.resampleInterval) {
    problems.push(
      `resampleDatasetSize: expected at most resampleInterval (${config.resampleInterval}), received ${config.resampleDatasetSize}`,
    );
  }
  const components = config.transcoderFrom !== null
    ? config.transcoderFrom.length
    : config.source === "model" && config.hooks !== null
    ? config.hooks.length
    : config.nComponents;
  if (config.componentNames !== null && config.componentNames.length !== components) {
    problems.push(
      `componentNames: expected ${components} names (one per component), received ${config.componentNames.length}`,
    );
  }
  if (
    config.componentNames !== null && new Set(config.componentNames).size !== config.componentNames.length
  ) {
    problems.push(`componentNames: expected distinct names, received ${describe(config.componentNames)}`);
  }
  const { steps } = resolveSizes(config);
  if (steps < 1) {
    problems.push(
      `maxActivations: expected at least batchSize (${config.batchSize}) activations, received ${config.maxActivations}`,
    );
  }
  if (config.lrSchedule !== "constant" && config.lrWarmupSteps > steps) {
    problems.push(
      `lrWarmupSteps: expected at most the number of steps (${steps}), received ${config.lrWarmupSteps}`,
    );
  }
  if (config.lrWarmupSteps + config.lrDecaySteps > steps) {
    problems.push(
      `lrDecaySteps: expected at most the steps after the warm-up (${
        Math.max(0, steps - config.lrWarmupSteps)
      }), received ${config.lrDecaySteps}`,
    );
  }
  if (problems.length > 0) {
    throw new RangeError(`invalid configuration:\n  ${problems.map((l) => placed(l, origin)).join("\n  ")}`);
  }
  return config;
}

/** The least memory a configuration's training holds at once, in bytes, by part (float32 values, 4 bytes each). */
export type MemoryEstimate = {
  /** The parameters and Adam's two moments: `3 × nComponents × (2·dIn·dSae + dSae + dIn) × 4`. */
  readonly params: number;
  /** The shuffling activation store: `storeSize × components read × dIn × 4` (inputs and targets for transcoders). */
  readonly store: number;
  /** The toy source's ground-truth directions, `nComponents × toyFeatures × dIn × 4` (0 for a model source). */
  readonly toy: number;
};

/**
 * What a configuration needs in memory at least: its parameters with Adam's
 * two moments, its activation store and (toy source) the ground truth, each a
 * float32 array of 4 bytes per value. A lower bound: batches, gradients and
 * the model come on top, and architectures with extra `[component, dSae]`
 * parameters hold slightly more.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { memoryEstimate, parseConfig } from "./config.ts";
 * const m = memoryEstimate(parseConfig({ dIn: 4, dSae: 8, batchSize: 2, storeSize: 10 }));
 * assert.equal(m.params, 3 * (2 * 4 * 8 + 8 + 4) * 4); // 3 × 76 values × 4 bytes = 912
 * assert.equal(m.store, 10 * 4 * 4); // 10 rows × 4 values × 4 bytes
 * assert.equal(m.toy, 128 * 4 * 4); // 128 toy features × 4 values × 4 bytes
 * ```
 */
export function memoryEstimate(config: TrainConfig): MemoryEstimate {
  const { dIn, nComponents: n } = config;
  const { dSae } = resolveSizes(config);
  const read = isTranscoder(config) ? 2 * n : n;
  return {
    params: 3 * n * (2 * dIn * dSae + dSae + dIn) * 4,
    store: config.storeSize * read * dIn * 4,
    toy: config.source === "toy" ? n * config.toyFeatures * dIn * 4 : 0,
  };
}

/**
 * A number of bytes in decimal units, three significant digits: `15.4 TB`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatBytes } from "./config.ts";
 * assert.equal(formatBytes(15_360_000_000_256), "15.4 TB");
 * assert.equal(formatBytes(512), "512 B");
 * ```
 */
export function formatBytes(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
  let value = bytes;
  let unit = 0;
  while (value >= 999.5 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toPrecision(3)} ${units[unit]}`;
}

/**
 * Refuses, before anything is allocated, a configuration whose parameters
 * and Adam moments, activation store or toy ground truth (see
 * {@linkcode memoryEstimate}) alone, or together, need more than
 * `memoryBytes` (the machine's memory: the runner passes
 * `Deno.systemMemoryInfo().total`). Pure: the memory is an argument.
 *
 * @throws RangeError naming the fields, the estimate with its formula and the memory
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkMemory, parseConfig } from "./config.ts";
 * const config = parseConfig({ dSae: 1e10 });
 * checkMemory(parseConfig({}), 24e9);
 * // 3 × 1 × (2 × 64 × 1e10 + 1e10 + 64) values × 4 bytes = 1.548e13 bytes
 * assert.throws(() => checkMemory(config, 24e9), {
 *   message: "dSae 10000000000 (with dIn 64, nComponents 1): the parameters and Adam moments alone need " +
 *     "15.5 TB (3 × 1 × (2 × 64 × 10000000000 + 10000000000 + 64) float32 values), more than the 24.0 GB " +
 *     "of memory of this machine; lower dSae (or expansionFactor), dIn or nComponents",
 * });
 * ```
 */
export function checkMemory(config: TrainConfig, memoryBytes: number): void {
  const { dIn, nComponents: n } = config;
  const { dSae } = resolveSizes(config);
  const need = memoryEstimate(config);
  const memory = `more than the ${formatBytes(memoryBytes)} of memory of this machine`;
  const read = isTranscoder(config) ? 2 * n : n;
  if (need.params > memoryBytes) {
    throw new RangeError(
      `dSae ${dSae} (with dIn ${dIn}, nComponents ${n}): the parameters and Adam moments alone need ${
        formatBytes(need.params)
      } (3 × ${n} × (2 × ${dIn} × ${dSae} + ${dSae} + ${dIn}) float32 values), ${memory}; lower dSae ` +
        `(or expansionFactor), dIn or nComponents`,
    );
  }
  if (need.store > memoryBytes) {
    throw new RangeError(
      `storeSize ${config.storeSize} (with dIn ${dIn}, ${read} components read): the activation store alone ` +
        `needs ${
          formatBytes(need.store)
        } (${config.storeSize} × ${read} × ${dIn} float32 values), ${memory}; ` +
        `lower storeSize (a multiple of batchSize ${config.batchSize})`,
    );
  }
  if (need.toy > memoryBytes) {
    throw new RangeError(
      `toyFeatures ${config.toyFeatures} (with dIn ${dIn}, nComponents ${n}): the toy ground truth alone ` +
        `needs ${formatBytes(need.toy)} (${n} × ${config.toyFeatures} × ${dIn} float32 values), ${memory}; ` +
        `lower toyFeatures or dIn`,
    );
  }
  const total = need.params + need.store + need.toy;
  if (total > memoryBytes) {
    throw new RangeError(
      `dSae ${dSae}, storeSize ${config.storeSize}: the parameters and Adam moments (${
        formatBytes(need.params)
      }), the activation store (${formatBytes(need.store)})${
        need.toy > 0 ? ` and the toy ground truth (${formatBytes(need.toy)})` : ""
      } together need ${formatBytes(total)}, ${memory}; lower dSae or storeSize`,
    );
  }
}

/** Converts a camelCase field name to its kebab-case flag, `dIn` → `d-in`. */
export function fieldToFlag(field: string): string {
  return field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** Converts a kebab-case flag to its camelCase field name, `d-in` → `dIn`. */
export function flagToField(flag: string): string {
  return flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/**
 * Turns flag strings into typed configuration values, using the schema to
 * decide how each is read: numbers, booleans, comma lists, `null`.
 * Unknown flags throw a `TypeError` naming the flag.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { configFromFlags } from "./config.ts";
 * const values = configFromFlags({ "l1-coefficient": "0.01", "component-names": "a,b" });
 * assert.equal(values.l1Coefficient, 0.01);
 * assert.equal(JSON.stringify(values.componentNames), '["a","b"]');
 * ```
 */
export function configFromFlags(flags: Readonly<Record<string, string>>): TrainConfigInput {
  const shape = TrainConfigSchema.shape as Record<string, z.ZodType>;
  const out: Record<string, unknown> = {};
  for (const [flag, text] of Object.entries(flags)) {
    const field = flagToField(flag);
    const schema = shape[field];
    if (schema === undefined) {
      throw new TypeError(
        `--${flag}: unknown flag (expected a field of the configuration such as --l1-coefficient), received ${
          JSON.stringify(text)
        }`,
      );
    }
    out[field] = readFlagValue(schema, text);
  }
  return out as TrainConfigInput;
}

function innerType(schema: z.ZodType): z.ZodType {
  let current = schema as z.ZodType & { unwrap?: () => z.ZodType; def: { innerType?: z.ZodType } };
  while (current.def.innerType !== undefined) {
    current = current.def.innerType as typeof current;
  }
  return current;
}

function readFlagValue(schema: z.ZodType, text: string): unknown {
  if (text === "null") return null;
  const inner = innerType(schema);
  if (inner instanceof z.ZodNumber) {
    const value = Number(text.replaceAll("_", ""));
    return text.trim() === "" || Number.isNaN(value) ? text : value;
  }
  if (inner instanceof z.ZodArray) {
    const parts = text.split(",").map((part) => part.trim());
    if (!(innerType(inner.element as z.ZodType) instanceof z.ZodNumber)) return parts;
    return parts.map((part) => (part === "" || Number.isNaN(Number(part)) ? part : Number(part)));
  }
  if (inner instanceof z.ZodBoolean) return text === "true" ? true : text === "false" ? false : text;
  return text;
}

/**
 * The run of `deno task train --source toy`: three toy components, sized to
 * finish in seconds with OpenBLAS and in about a minute with the wasm backend.
 */
export const TOY_PRESET: TrainConfigInput = {
  source: "toy",
  nComponents: 3,
  componentNames: ["toy.0", "toy.1", "toy.2"],
  dIn: 32,
  expansionFactor: 4,
  toyFeatures: 64,
  toyMeanActive: 3,
  toyChunkRows: 4096,
  l1Coefficient: 0.015,
  lr: 2e-3,
  batchSize: 1024,
  storeSize: 16_384,
  steps: 1_200,
  resampleInterval: 1024 * 400,
  resampleCollate: 1024 * 200,
  resampleDatasetSize: 1024 * 20,
  maxResamples: 2,
  logEvery: 50,
  checkpointEvery: 400,
};

/**
 * The embedded default run of `deno task train`: one SAE per residual stream
 * (`blocks.{0..4}.hook_resid_post`) of stories260K, the model shipped with
 * saekit, on the shipped stories, validated with the SAEs spliced in.
 */
export const STORIES_PRESET: TrainConfigInput = {
  source: "model",
  model: "stories260k",
  hooks: null,
  dataset: null,
  contextSize: 128,
  prependBos: true,
  documentEnd: "pack",
  windowsPerBatch: 16,
  expansionFactor: 4,
  l1Coefficient: 3e-3,
  lr: 1e-3,
  batchSize: 1024,
  storeSize: 32_768,
  steps: 400,
  resampleInterval: 1024 * 200,
  resampleCollate: 1024 * 100,
  resampleDatasetSize: 1024 * 20,
  maxResamples: 1,
  logEvery: 25,
  validateEvery: 200,
  validationWindows: 16,
  checkpointEvery: 200,
};
