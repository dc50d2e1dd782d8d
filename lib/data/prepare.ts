/**
 * The activation source a configuration asks for, with what the runner needs
 * beside it: evaluation against the toy ground truth, or validation with the
 * SAEs spliced into the model.
 *
 * @module
 */
import { tf } from "../tf.ts";
import {
  checkMemory,
  isTranscoder,
  parseConfig,
  resolveSizes,
  specFor,
  type TrainConfig,
  type TrainConfigInput,
} from "../config.ts";
import { archOf } from "../sae/arch/registry.ts";
import { foldedParams } from "../train/pipeline.ts";
import { readActivationCache, writeActivationCache } from "./activation_cache.ts";
import type { ActivationSource } from "./source.ts";
import { toySource } from "./toy.ts";
import { modelActivationSource, type WindowStream } from "./model_source.ts";
import { openTextSource, openTokenSource } from "./text/open.ts";
import { type TokenWindows, tokenWindows } from "./text/windows.ts";
import { type DocumentSource, pathLabel } from "./text/documents.ts";
import { tokenizeDocuments } from "./text/tokenizer.ts";
import { mmcs } from "../metrics/mmcs.ts";
import { splicedLosses, validationRecord } from "../metrics/reconstruction.ts";
import { BUILTIN_CORPUS_URL, loadModel, type TextTokenizer } from "../models/load/model.ts";
import type { TrainState } from "../train/state.ts";
import type { Evaluate } from "../run/runner.ts";

/** A source ready to train on. */
export type PreparedSource = {
  /** The configuration, completed from the source (`dIn`, `nComponents`, `hooks` for a model). */
  readonly config: TrainConfig;
  readonly source: ActivationSource;
  readonly evaluate?: Evaluate;
  readonly validate?: (state: TrainState) => Promise<Record<string, number>>;
  /** One line on what is trained on. */
  readonly description: string;
  /** Frees what the source holds. */
  dispose(): void;
};

/** The fields of a configuration that say which windows it reads. */
type WindowConfig = Pick<
  TrainConfig,
  "dataset" | "datasetField" | "datasetTokenized" | "contextSize" | "prependBos" | "documentEnd"
>;

/** Options of {@linkcode configuredWindows} and {@linkcode checkDatasetSize}. */
export type DatasetOptions = {
  /** Called once per plain-text file that looks binary or mis-encoded (default: `console.warn`). */
  readonly onWarning?: (message: string) => void;
};

/** The tokenized documents of a configuration's dataset (else the shipped stories). */
function configuredDocuments(
  config: WindowConfig,
  tokenizer: TextTokenizer,
  options: DatasetOptions,
): DocumentSource<Int32Array> {
  const dataset = config.dataset ?? BUILTIN_CORPUS_URL;
  return config.datasetTokenized
    ? openTokenSource(dataset, { field: config.datasetField })
    : tokenizeDocuments(
      openTextSource(dataset, { field: config.datasetField, onWarning: options.onWarning }),
      tokenizer,
    );
}

function windowsOf(
  documents: DocumentSource<Int32Array>,
  config: WindowConfig,
  tokenizer: TextTokenizer,
): TokenWindows {
  return tokenWindows(documents, {
    contextSize: config.contextSize,
    prependBos: config.prependBos,
    documentEnd: config.documentEnd,
    bosId: tokenizer.bosId,
    eosId: tokenizer.eosId,
  });
}

/**
 * The context windows a configuration reads: its dataset (else the shipped stories), text or pre-tokenized,
 * cut as its `contextSize`, `prependBos` and `documentEnd` say. Training and the feature browser read the
 * same windows through this one function.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { configuredWindows } from "./prepare.ts";
 * import { parseConfig } from "../config.ts";
 * const path = await Deno.makeTempFile({ suffix: ".jsonl" });
 * await Deno.writeTextFile(path, '{"ids": [5, 6, 7, 8, 9]}\n');
 * const config = parseConfig({ dataset: path, datasetField: "ids", datasetTokenized: true, contextSize: 3 });
 * const tokenizer = { bosId: 1, eosId: 2, vocabSize: 10, encode: () => [], decode: () => "" };
 * const out: string[] = [];
 * for await (const w of configuredWindows(config, tokenizer).windows()) out.push(w.join(" "));
 * assert.deepEqual(out, ["1 5 6", "1 7 8"]); // BOS 1 starts each window; 9 is the dropped remainder
 * ```
 */
export function configuredWindows(
  config: WindowConfig,
  tokenizer: TextTokenizer,
  options: DatasetOptions = {},
): TokenWindows {
  return windowsOf(configuredDocuments(config, tokenizer, options), config, tokenizer);
}

/** What {@linkcode checkDatasetSize} counted of a dataset before it had enough (or ran out). */
export type DatasetCount = {
  readonly documents: number;
  readonly tokens: number;
  readonly windows: number;
  /** Windows training needs: those held out for validation, then one batch's. */
  readonly needed: number;
};

/**
 * Checks, before training starts, that a configuration's dataset gives what
 * training needs: its `validationWindows` held-out windows, then the
 * `ceil(batchSize / (contextSize − 1 if prependBos else contextSize))`
 * windows of one batch of `batchSize` activations (the BOS position gives no
 * activation). Reads the dataset only until it has seen that many windows.
 *
 * @throws RangeError naming the dataset's file, with the windows, documents and tokens it yields and the
 * windows one batch needs
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkDatasetSize } from "./prepare.ts";
 * import { parseConfig } from "../config.ts";
 * const path = await Deno.makeTempFile({ suffix: ".jsonl" });
 * await Deno.writeTextFile(path, '{"ids": [5, 6, 7, 8, 9]}\n');
 * const tokenizer = { bosId: 1, eosId: 2, vocabSize: 10, encode: () => [], decode: () => "" };
 * const fields = { dataset: path, datasetField: "ids", datasetTokenized: true, contextSize: 3 };
 * // Windows [1 5 6] [1 7 8] give 2 activations each after BOS: one batch of 4 needs both.
 * const ok = parseConfig({ ...fields, batchSize: 4, storeSize: 4, validationWindows: 0 });
 * assert.equal((await checkDatasetSize(ok, tokenizer)).needed, 2);
 * const big = parseConfig({ ...fields, batchSize: 5, storeSize: 5, validationWindows: 0 });
 * await assert.rejects(() => checkDatasetSize(big, tokenizer), {
 *   message: `dataset ${path}: yields 2 windows of 3 tokens (1 document, 5 tokens), but training needs 3 ` +
 *     "for one batch of 5 activations (2 per window after its BOS); use more text, or lower batchSize",
 * });
 * ```
 */
export async function checkDatasetSize(
  config: WindowConfig & Pick<TrainConfig, "batchSize" | "validationWindows">,
  tokenizer: TextTokenizer,
  options: DatasetOptions = {},
): Promise<DatasetCount> {
  const perWindow = config.contextSize - (config.prependBos ? 1 : 0);
  const batchWindows = Math.ceil(config.batchSize / perWindow);
  const held = config.validationWindows;
  const needed = held + batchWindows;
  let documents = 0;
  let tokens = 0;
  const source = configuredDocuments(config, tokenizer, options);
  const counted: DocumentSource<Int32Array> = {
    async *documents(start = 0) {
      for await (const doc of source.documents(start)) {
        documents++;
        tokens += doc.length;
        yield doc;
      }
    },
  };
  let windows = 0;
  for await (const _ of windowsOf(counted, config, tokenizer).windows(0)) {
    if (++windows === needed) return { documents, tokens, windows, needed };
  }
  const file = pathLabel(config.dataset ?? BUILTIN_CORPUS_URL);
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  const fix = documents === 0
    ? "it holds no documents: is the file empty, or only whitespace?"
    : `use more text, or lower batchSize${held > 0 ? " or validationWindows" : ""}${
      config.documentEnd === "drop"
        ? ', or set documentEnd "pack" (drop keeps no window from a document shorter than one)'
        : ""
    }`;
  throw new RangeError(
    `dataset ${file}: yields ${plural(windows, "window")} of ${config.contextSize} tokens (${
      plural(documents, "document")
    }, ${plural(tokens, "token")}), but training needs ${needed}${
      held > 0 ? `: ${held} held out for validation (validationWindows), then ${batchWindows}` : ""
    } for one batch of ${config.batchSize} activations (${perWindow} per window${
      config.prependBos ? " after its BOS" : ""
    }); ${fix}`,
  );
}

/** Options of {@linkcode prepareSource}. */
export type PrepareSourceOptions = DatasetOptions & {
  /**
   * The memory that the sizes are checked against before anything is allocated (`checkMemory` of
   * `../config.ts`); default: the machine's (`Deno.systemMemoryInfo().total`, skipped without
   * `--allow-sys`).
   */
  readonly memoryBytes?: number;
};

function systemMemory(): number | undefined {
  try {
    return Deno.systemMemoryInfo().total;
  } catch {
    return undefined; // without --allow-sys the check is skipped
  }
}

/**
 * Builds the source of a configuration. For a model source it loads the model,
 * fills in `hooks` (every block's `hook_resid_post` by default), `dIn` and
 * `nComponents` from the model, and holds out the first `validationWindows`
 * windows of the dataset for validation.
 *
 * Before anything is allocated, it refuses sizes that cannot fit in memory
 * (`checkMemory`), and a dataset too small for one batch after the held-out
 * windows ({@linkcode checkDatasetSize}).
 *
 * @param input the configuration as given (to tell an explicit `dIn` from the default)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { prepareSource } from "./prepare.ts";
 * import { parseConfig } from "../config.ts";
 * const config = parseConfig({ dSae: 1e10 });
 * await assert.rejects(() => prepareSource(config, { dSae: 1e10 }, { memoryBytes: 24e9 }), {
 *   message: /^dSae 10000000000 \(with dIn 64, nComponents 1\): the parameters and Adam moments alone need 15\.5 TB/,
 * });
 * ```
 */
export async function prepareSource(
  config: TrainConfig,
  input: TrainConfigInput,
  options: PrepareSourceOptions = {},
): Promise<PreparedSource> {
  const memory = options.memoryBytes ?? systemMemory();
  if (config.source === "toy") {
    if (memory !== undefined) checkMemory(config, memory);
    const source = toySource({
      nComponents: config.nComponents,
      dIn: config.dIn,
      nFeatures: config.toyFeatures,
      meanActive: config.toyMeanActive,
      chunkRows: config.toyChunkRows,
      seed: config.seed,
    });
    const truth = tf.tensor3d(source.groundTruth, [config.nComponents, config.toyFeatures, config.dIn]);
    return {
      config,
      source,
      evaluate: (state) => ({ "eval/mmcs": mmcs(truth, state.params.wDec) }),
      description: `toy data: ${config.toyFeatures} ground-truth features in ${config.dIn} dimensions`,
      dispose: () => truth.dispose(),
    };
  }
  const { model, tokenizer, description } = await loadModel(config.model, config.tokenizer ?? undefined);
  const transcoder = isTranscoder(config);
  // Transcoders read their inputs and targets as components of one source: inputs first, then targets.
  const hooks = transcoder
    ? [...config.transcoderFrom!, ...config.transcoderTo!]
    : config.hooks ?? Array.from({ length: model.nLayers }, (_, l) => `blocks.${l}.hook_resid_post`);
  const dIn = model.hookDim(hooks[0]);
  if (input.dIn !== undefined && input.dIn !== dIn) {
    throw new RangeError(
      `dIn: expected the width of ${hooks[0]} in ${config.model} (${dIn}), received ${input.dIn}`,
    );
  }
  for (const hook of hooks) {
    if (model.hookDim(hook) !== dIn) {
      throw new RangeError(
        `${
          transcoder ? "transcoderFrom/transcoderTo" : "hooks"
        }: expected hook points of one width (${dIn}, the width of ${hooks[0]}), received ${hook} of width ${
          model.hookDim(hook)
        }`,
      );
    }
  }
  const nComponents = transcoder ? config.transcoderFrom!.length : hooks.length;
  if (input.nComponents !== undefined && input.nComponents !== nComponents) {
    throw new RangeError(
      `nComponents: expected ${nComponents} (one per ${
        transcoder ? "transcoder" : "hook point"
      }), received ${input.nComponents}`,
    );
  }
  const completed = parseConfig({ ...config, dIn, nComponents, hooks: transcoder ? null : hooks });
  if (memory !== undefined) checkMemory(completed, memory);
  await checkDatasetSize(completed, tokenizer, options);
  const all = configuredWindows(completed, tokenizer, options);
  const held = completed.validationWindows;
  const training: WindowStream = {
    contextSize: all.contextSize,
    windows: (start = 0) => all.windows(start + held),
  };
  const source = modelActivationSource({
    model,
    hooks,
    windows: training,
    windowsPerBatch: completed.windowsPerBatch,
    skipPositions: completed.prependBos ? 1 : 0,
  });
  let trainingSource: ActivationSource = source;
  let cacheNote = "";
  if (completed.activationCache !== null) {
    const rows = resolveSizes(completed).steps * completed.batchSize;
    const metadata = {
      model: completed.model,
      hooks,
      dataset: completed.dataset ?? "builtin",
      datasetField: completed.datasetField,
      datasetTokenized: completed.datasetTokenized,
      contextSize: completed.contextSize,
      prependBos: completed.prependBos,
      documentEnd: completed.documentEnd,
      validationWindows: held,
    };
    const index = await writeActivationCache(completed.activationCache, source, { rows, metadata });
    trainingSource = await readActivationCache(completed.activationCache);
    cacheNote =
      `, activations cached in ${completed.activationCache} (${index.rows} rows, ${index.shards.length} shards)`;
  }
  const names = resolveSizes(completed).componentNames;
  const targets = transcoder ? completed.transcoderTo! : hooks;
  const inputHooks = transcoder ? completed.transcoderFrom! : undefined;
  const activation = archOf(completed.arch).inference(specFor(completed));
  const validate = held === 0 ? undefined : async (state: TrainState) => {
    const totals = {
      clean: 0,
      recon: targets.map(() => 0),
      zero: targets.map(() => 0),
      kl: targets.map(() => 0),
      positions: 0,
    };
    const params = foldedParams(state);
    let batch: Int32Array[] = [];
    const run = async () => {
      const tokens = new Int32Array(batch.length * completed.contextSize);
      batch.forEach((w, i) => tokens.set(w, i * completed.contextSize));
      const r = tf.tidy(() =>
        splicedLosses(
          model,
          params,
          targets,
          tf.tensor2d(tokens, [batch.length, completed.contextSize], "int32"),
          { activation, inputHooks },
        ) as unknown as tf.TensorContainer
      ) as unknown as ReturnType<typeof splicedLosses>;
      const [clean, recon, zero, kl] = await Promise.all(
        [r.clean, r.recon, r.zero, r.kl].map((t) => t.data()),
      );
      totals.clean += clean[0];
      targets.forEach((_, k) => {
        totals.recon[k] += recon[k];
        totals.zero[k] += zero[k];
        totals.kl[k] += kl[k];
      });
      totals.positions += r.positions;
      tf.dispose([r.clean, r.recon, r.zero, r.kl]);
      batch = [];
    };
    try {
      let seen = 0;
      for await (const window of all.windows(0)) {
        batch.push(window);
        if (batch.length === completed.windowsPerBatch) await run();
        if (++seen === held) break;
      }
      if (batch.length > 0) await run();
    } finally {
      tf.dispose(params as unknown as tf.TensorContainer);
    }
    return validationRecord(totals, names);
  };
  return {
    config: completed,
    source: trainingSource,
    validate,
    description: `${description}, ${
      transcoder ? `transcoders ${names.join(", ")}` : `hooks ${hooks.join(", ")}`
    }, text ${
      completed.dataset ?? "shipped stories sampled from stories260K"
    } in windows of ${completed.contextSize}${cacheNote}`,
    dispose: () => {},
  };
}
