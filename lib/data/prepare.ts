/**
 * The activation source a configuration asks for, with what the runner needs
 * beside it: evaluation against the toy ground truth, or validation with the
 * SAEs spliced into the model.
 *
 * @module
 */
import { tf } from "../tf.ts";
import {
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
import { textWindows, type TokenWindows, tokenWindows } from "./text/windows.ts";
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

/**
 * Builds the source of a configuration. For a model source it loads the model,
 * fills in `hooks` (every block's `hook_resid_post` by default), `dIn` and
 * `nComponents` from the model, and holds out the first `validationWindows`
 * windows of the dataset for validation.
 *
 * @param input the configuration as given (to tell an explicit `dIn` from the default)
 */
/**
 * The context windows a configuration reads: its dataset (else the shipped stories), text or pre-tokenized,
 * cut as its `contextSize`, `prependBos` and `documentEnd` say. Training and the feature browser read the
 * same windows through this one function.
 */
export function configuredWindows(
  config: Pick<
    TrainConfig,
    "dataset" | "datasetField" | "datasetTokenized" | "contextSize" | "prependBos" | "documentEnd"
  >,
  tokenizer: TextTokenizer,
): TokenWindows {
  const dataset = config.dataset ?? BUILTIN_CORPUS_URL;
  const windowOptions = {
    contextSize: config.contextSize,
    prependBos: config.prependBos,
    documentEnd: config.documentEnd,
  };
  return config.datasetTokenized
    ? tokenWindows(openTokenSource(dataset, { field: config.datasetField }), {
      ...windowOptions,
      bosId: tokenizer.bosId,
      eosId: tokenizer.eosId,
    })
    : textWindows(openTextSource(dataset, { field: config.datasetField }), tokenizer, windowOptions);
}

export async function prepareSource(config: TrainConfig, input: TrainConfigInput): Promise<PreparedSource> {
  if (config.source === "toy") {
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
  const all = configuredWindows(completed, tokenizer);
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
