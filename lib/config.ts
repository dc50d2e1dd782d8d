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
import { BACKEND_NAMES } from "./tf.ts";
import { ARCH_NAMES, type ArchName, isTopKFamily, type SaeSpec } from "./sae/architecture.ts";

const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();

/**
 * The schema of a run's configuration: one flat object, so that every field
 * is also a command-line flag (`lrWarmupSteps` is `--lr-warmup-steps`).
 */
export const TrainConfigSchema = z.strictObject({
  /**
   * Where activations come from. `toy`: synthetic sparse data with known ground truth; `model`: a
   * language model's activations at `hooks` over the text of `dataset`.
   */
  source: z.enum(["toy", "model"]).default("toy"),
  /** Model source: `stories260k` (shipped), a llama2.c `.bin` file, or a Hugging Face folder. */
  model: z.string().min(1).default("stories260k"),
  /** Model source: a llama2.c tokenizer file, when not beside the `.bin` checkpoint. */
  tokenizer: z.string().min(1).nullable().default(null),
  /** Model source: hook points, one component each; `null` means every block's `hook_resid_post`. */
  hooks: z.array(z.string().min(1)).min(1).nullable().default(null),
  /** Model source: text (`.txt`), JSONL (`.jsonl`) or Parquet (`.parquet`); `null`: the shipped stories. */
  dataset: z.string().min(1).nullable().default(null),
  /** Model source: the JSONL field or Parquet column with the text (or token ids). */
  datasetField: z.string().min(1).default("text"),
  /** Model source: the dataset holds token ids (a list per document) instead of text. */
  datasetTokenized: z.boolean().default(false),
  /** Model source: tokens per context window (the original's default 256). */
  contextSize: z.number().int().min(2).default(256),
  /** Model source: start every window with BOS (the original did not; its activations are then skipped). */
  prependBos: z.boolean().default(true),
  /** Model source: `drop` chunks each document and drops its remainder (the original); `pack` concatenates documents. */
  documentEnd: z.enum(["drop", "pack"]).default("pack"),
  /** Model source: windows per forward pass of the model (the original's source batch size). */
  windowsPerBatch: positiveInt.default(16),
  /**
   * Model source: write the training activations to this folder as safetensors shards first (reusing
   * complete shards already there), then train from it.
   */
  activationCache: z.string().min(1).nullable().default(null),
  /** Model source: validate with the SAEs spliced in every this many steps (0: only at the end). */
  validateEvery: nonNegativeInt.default(0),
  /** Model source: held-out windows (the first of the dataset) for validation; 0 turns validation off. */
  validationWindows: nonNegativeInt.default(16),
  /** Width of the activations (the original's `n_input_features`). */
  dIn: positiveInt.default(64),
  /** Number of learned features per component; `null` means `expansionFactor · dIn`. */
  dSae: positiveInt.nullable().default(null),
  /** Learned features per input feature (the original's sweep default: 2). */
  expansionFactor: z.number().positive().default(2),
  /** Number of SAEs trained side by side, one per hook point. */
  nComponents: positiveInt.default(1),
  /** One name per component, used in metric keys; `null` gives `component_0`, …. */
  componentNames: z.array(z.string().min(1)).nullable().default(null),

  /** Toy source: number of ground-truth feature directions per component. */
  toyFeatures: positiveInt.default(128),
  /** Toy source: expected number of active ground-truth features per vector. */
  toyMeanActive: z.number().positive().default(4),
  /** Toy source: rows generated per chunk (the unit of random access). */
  toyChunkRows: positiveInt.default(4096),

  /**
   * Architecture: `relu` (the original: L1, unit-norm decoder), `relu-april` (Anthropic's April-2024
   * update: L1 weighted by decoder norms, free decoder, encoder initialised as the decoder's transpose),
   * `topk`, `batchtopk`, `matryoshka` (BatchTopK with nested dictionaries), `jumprelu`, `gated`.
   */
  arch: z.enum(ARCH_NAMES).default("relu"),
  /** TopK family (`topk`, `batchtopk`, `matryoshka`): active features per item (on average for the batch variants). */
  k: positiveInt.default(32),
  /**
   * Sparsity coefficient λ: of the L1 penalty (`relu`, `gated`; the original's default 1e-3), of the
   * decoder-norm-weighted L1 (`relu-april`), of the L0 or tanh penalty (`jumprelu`). Not used by the TopK
   * family. The reconstruction term is a mean over the `dIn` dimensions, as in the original.
   */
  l1Coefficient: z.number().nonnegative().default(1e-3),
  /** Linear warm-up of the sparsity coefficient from 0 over this many steps (0: none). */
  sparsityWarmupSteps: nonNegativeInt.default(0),
  /**
   * Encoder initialisation: `fan-in` uses each component's own fan-in; `original` reproduces the
   * original's multi-component scale (defect B2); `transpose` starts the encoder as the decoder's
   * transpose with `bEnc = 0`. `null`: `fan-in` for `relu`, `transpose` for every other architecture.
   */
  encoderInit: z.enum(["fan-in", "original", "transpose"]).nullable().default(null),
  /** Norm of each dictionary vector at initialisation; `null`: 0.1 where the decoder is free, else 1. */
  decoderInitNorm: z.number().positive().nullable().default(null),
  /**
   * Initial decoder bias: `zeros` (the original), the `mean` or the `geometric-median` of the first
   * `initSample` activations (OpenAI's TopK and Anthropic's 2023 recipe use the geometric median).
   */
  bDecInit: z.enum(["zeros", "mean", "geometric-median"]).default("zeros"),
  /**
   * Scale each component's activations by one constant so that `E‖x‖ = √dIn` (estimated on the first
   * `initSample` activations); the scale is folded back into the exported weights, so the saved SAEs
   * read raw activations. `none` trains on the activations as they are.
   */
  normalizeActivations: z.enum(["none", "expected-norm"]).default("none"),
  /** Activations (from the first batches, which are then trained on) that estimate the scale and `bDec`. */
  initSample: positiveInt.default(4096),
  /** JumpReLU: `step` (L0 through straight-through gradients, GDM) or `tanh` (Anthropic, January 2025). */
  jumpreluPenalty: z.enum(["step", "tanh"]).default("step"),
  /** JumpReLU: width ε of the rectangle kernel of the straight-through gradients. */
  jumpreluBandwidth: z.number().positive().default(0.05),
  /** JumpReLU: initial threshold θ of every feature. */
  jumpreluInitThreshold: z.number().nonnegative().default(0.05),
  /** JumpReLU `tanh`: the scale `c` in `tanh(c · f · ‖wDec‖)`. */
  jumpreluTanhScale: z.number().positive().default(4),
  /** JumpReLU: coefficient of the pre-activation loss `Σ ReLU(θ − pre)·‖wDec‖` (Anthropic: 3e-6; 0: off). */
  preActCoefficient: z.number().nonnegative().default(0),
  /** BatchTopK, Matryoshka: decay of the running average of the smallest kept activation (the inference threshold). */
  thresholdDecay: z.number().min(0).lt(1).default(0.99),
  /** Matryoshka: widths of the nested dictionaries, the last equal to dSae; `null`: dSae/16, /8, /4, /2, 1. */
  matryoshkaPrefixes: z.array(positiveInt).min(1).nullable().default(null),
  /** Matryoshka: weight of each prefix's reconstruction loss; `null`: equal weights summing to 1. */
  matryoshkaWeights: z.array(z.number().nonnegative()).min(1).nullable().default(null),
  /** AuxK (TopK family): dead features that reconstruct the residual; `null`: dIn / 2. */
  auxK: positiveInt.nullable().default(null),
  /** AuxK: coefficient of the auxiliary loss (OpenAI: 1/32); 0 turns AuxK off. */
  auxkCoefficient: z.number().nonnegative().default(1 / 32),
  /** AuxK: a feature is dead after this many activations without firing (OpenAI: 10M tokens). */
  deadActivations: positiveInt.default(10_000_000),
  /** Transcoder: the hook point each transcoder reads (e.g. `blocks.0.ln2.hook_normalized`). */
  transcoderFrom: z.array(z.string().min(1)).min(1).nullable().default(null),
  /** Transcoder: the hook point each transcoder reconstructs (e.g. `blocks.0.hook_mlp_out`). */
  transcoderTo: z.array(z.string().min(1)).min(1).nullable().default(null),

  /** Peak learning rate. */
  lr: z.number().positive().default(1e-3),
  /** Adam β1. */
  adamBeta1: z.number().min(0).lt(1).default(0.9),
  /** Adam β2 (0.99 is the original's v1.10.0 sweep default). */
  adamBeta2: z.number().min(0).lt(1).default(0.99),
  /** Adam ε, added to the bias-corrected √v. */
  adamEps: z.number().positive().default(1e-8),
  /** L2-style weight decay added to the gradient before Adam (the original's default 0). */
  weightDecay: z.number().nonnegative().default(0),
  /**
   * Learning-rate schedule over the run: `constant`; `warmup` (linear warm-up over `lrWarmupSteps`, then
   * constant, then linear decay to `lr · lrMinRatio` over the last `lrDecaySteps`); `cosine`.
   */
  lrSchedule: z.enum(["constant", "warmup", "cosine"]).default("constant"),
  /** Steps of linear warm-up from 0 (for `warmup` and `cosine`). */
  lrWarmupSteps: nonNegativeInt.default(0),
  /** `warmup` schedule: steps of linear decay at the end of the run (Anthropic's April-2024 recipe: the last 20%). */
  lrDecaySteps: nonNegativeInt.default(0),
  /** Final learning rate of the cosine schedule and of the linear decay, as a fraction of `lr`. */
  lrMinRatio: z.number().min(0).max(1).default(0),
  /** Clip gradients to this global L2 norm; 0 turns clipping off (the original had none). */
  gradClipNorm: z.number().nonnegative().default(0),

  /** Activation vectors per training batch (the original's default 8192). */
  batchSize: positiveInt.default(8192),
  /** Rows in the shuffling activation store; a multiple of `batchSize`. */
  storeSize: positiveInt.default(2_998_272),
  /** Activation vectors to train on; ignored when `steps` is set. */
  maxActivations: positiveInt.default(1_999_847_424),
  /** Training steps; `null` means `floor(maxActivations / batchSize)`. */
  steps: positiveInt.nullable().default(null),

  /** Resample dead features every this many activations. */
  resampleInterval: positiveInt.default(197_885_952),
  /** Activations before each resample over which firing is counted. */
  resampleCollate: positiveInt.default(98_942_976),
  /** Activations before each resample from which inputs are sampled (by squared loss). */
  resampleDatasetSize: positiveInt.default(819_200),
  /** Most resamples in a run. */
  maxResamples: nonNegativeInt.default(4),
  /** A feature is dead when it fired at most this fraction of the collated activations. */
  deadThreshold: z.number().min(0).max(1).default(0),
  /** Candidate inputs kept for resampling; `null` means `min(dSae, resampleDatasetSize)`. */
  resampleReservoir: positiveInt.nullable().default(null),

  /** Rows of a batch over which capacity is computed at each log (0: off). */
  capacitySample: nonNegativeInt.default(256),
  /** Write a metrics line every this many steps (the original's log_frequency). */
  logEvery: positiveInt.default(100),
  /** Write a checkpoint every this many steps; 0 writes only the final one. */
  checkpointEvery: nonNegativeInt.default(0),
  /** Seed of every random draw in the run (the original's default 49). */
  seed: nonNegativeInt.default(49),
  /** tfjs backend. */
  backend: z.enum(BACKEND_NAMES).default("auto"),
});

/** A configuration as written in a file or given as flags (every field optional). */
export type TrainConfigInput = z.input<typeof TrainConfigSchema>;
/** A resolved configuration: every field present, defaults filled in. */
export type TrainConfig = z.output<typeof TrainConfigSchema>;

/** Whether a configuration trains transcoders (input and target at different hook points). */
export function isTranscoder(config: TrainConfig): boolean {
  return config.transcoderFrom !== null;
}

/** The default Matryoshka prefixes of a dictionary of `dSae`: dSae/16, /8, /4, /2 and dSae itself. */
export function defaultPrefixes(dSae: number): number[] {
  const prefixes = [16, 8, 4, 2, 1].map((d) => Math.max(1, Math.floor(dSae / d)));
  return prefixes.filter((p, i) => i === 0 || p > prefixes[i - 1]);
}

/**
 * The architecture's spec for the loss and its gradients.
 *
 * @example
 * ```ts
 * import { parseConfig, specFor } from "./config.ts";
 * const spec = specFor(parseConfig({ arch: "matryoshka", dIn: 8, dSae: 64, k: 4 }));
 * console.assert(spec.prefixes.join() === "4,8,16,32,64" && spec.auxK === 4);
 * ```
 */
export function specFor(config: TrainConfig): SaeSpec {
  const { dSae } = resolveSizes(config);
  const prefixes = config.arch === "matryoshka" ? config.matryoshkaPrefixes ?? defaultPrefixes(dSae) : [dSae];
  const weights = config.arch === "matryoshka"
    ? config.matryoshkaWeights ?? prefixes.map(() => 1 / prefixes.length)
    : [1];
  const topK = isTopKFamily(config.arch);
  return {
    arch: config.arch,
    k: config.k,
    sparsityCoefficient: topK ? 0 : config.l1Coefficient,
    jumprelu: {
      penalty: config.jumpreluPenalty,
      bandwidth: config.jumpreluBandwidth,
      tanhScale: config.jumpreluTanhScale,
      preActCoefficient: config.preActCoefficient,
    },
    prefixes,
    prefixWeights: weights,
    auxK: topK ? Math.min(config.auxK ?? Math.max(1, Math.floor(config.dIn / 2)), dSae) : 0,
    auxkCoefficient: topK ? config.auxkCoefficient : 0,
    tiedBias: !isTranscoder(config),
  };
}

/** The encoder initialisation a configuration asks for, with the architecture's default. */
export function encoderInitFor(config: TrainConfig): "fan-in" | "original" | "transpose" {
  return config.encoderInit ?? (config.arch === "relu" || isTranscoder(config) ? "fan-in" : "transpose");
}

/** The initial norm of the dictionary vectors, with the architecture's default. */
export function decoderInitNormFor(config: TrainConfig): number {
  const free = config.arch === "relu-april" ||
    (config.arch === "jumprelu" && config.jumpreluPenalty === "tanh");
  return config.decoderInitNorm ?? (free ? 0.1 : 1);
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
 * import { parseConfig, resolveSizes } from "./config.ts";
 * const sizes = resolveSizes(parseConfig({ dIn: 8, expansionFactor: 4, steps: 10 }));
 * console.assert(sizes.dSae === 32 && sizes.steps === 10);
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

/**
 * Parses and validates a configuration. Unknown keys, wrong types, values out
 * of range and impossible combinations throw a `TypeError` (wrong key or type)
 * or `RangeError` (bad value) naming each field with the expected and the
 * received value.
 *
 * @example
 * ```ts
 * import { parseConfig } from "./config.ts";
 * const config = parseConfig({ l1Coefficient: 0.01 });
 * console.assert(config.lr === 1e-3 && config.l1Coefficient === 0.01);
 * ```
 */
export function parseConfig(input: unknown): TrainConfig {
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
    throw new ErrorClass(`invalid configuration:\n  ${lines.join("\n  ")}`);
  }
  const config = parsed.data;
  const problems: string[] = [];
  if (config.storeSize % config.batchSize !== 0) {
    problems.push(
      `storeSize: expected a multiple of batchSize (${config.batchSize}), received ${config.storeSize}`,
    );
  }
  const { dSae } = resolveSizes(config);
  if (isTopKFamily(config.arch) && config.k > dSae) {
    problems.push(`k: expected at most dSae (${dSae}), received ${config.k}`);
  }
  if (config.arch === "matryoshka") {
    const prefixes = config.matryoshkaPrefixes ?? defaultPrefixes(dSae);
    if (prefixes.some((p, i) => i > 0 && p <= prefixes[i - 1]) || prefixes.at(-1) !== dSae) {
      problems.push(
        `matryoshkaPrefixes: expected increasing widths ending at dSae (${dSae}), received ${
          describe(prefixes)
        }`,
      );
    }
    if (config.matryoshkaWeights !== null && config.matryoshkaWeights.length !== prefixes.length) {
      problems.push(
        `matryoshkaWeights: expected ${prefixes.length} weights (one per prefix), received ${config.matryoshkaWeights.length}`,
      );
    }
  }
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
    throw new RangeError(`invalid configuration:\n  ${problems.join("\n  ")}`);
  }
  return config;
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
 * import { configFromFlags } from "./config.ts";
 * const values = configFromFlags({ "l1-coefficient": "0.01", "component-names": "a,b" });
 * console.assert(values.l1Coefficient === 0.01);
 * console.assert(JSON.stringify(values.componentNames) === '["a","b"]');
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
