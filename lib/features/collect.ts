/**
 * Feature statistics of a finished run: its SAEs read from `final/`, the
 * text windows to read (held out from training where the dataset allows),
 * and one streaming pass of the model and the SAEs over them.
 *
 * Effectful: reads files and tensors back to the host.
 *
 * @module
 */
import { tf } from "../tf.ts";
import { isTranscoder, parseConfig, resolveSizes, type TrainConfig } from "../config.ts";
import { encode, type SaeActivation } from "../sae/forward.ts";
import type { SaeParams } from "../sae/params.ts";
import { componentFolder } from "../io/export.ts";
import { importSaelens } from "../io/saelens.ts";
import { exists, parseJsonFile } from "../io/files.ts";
import { latestCheckpoint } from "../io/checkpoint.ts";
import type { HookedModel } from "../models/hooked.ts";
import { stopLayerFor } from "../models/hooked.ts";
import type { TextTokenizer } from "../models/load/model.ts";
import { createFeatureStats, type FeatureStats, type FeatureStatsOptions, observeWindows } from "./stats.ts";

/** The trained SAEs of a run folder, stacked with a leading component axis. */
export type RunSaes = {
  /** The run's resolved configuration (`config.json`). */
  readonly config: TrainConfig;
  readonly componentNames: readonly string[];
  /** The folder of each component under `final/` (and in the browser's URLs). */
  readonly folders: readonly string[];
  /** The hook each component reads. */
  readonly inputHooks: readonly string[];
  /** The hook each component reconstructs (the input hook, except for transcoders). */
  readonly outputHooks: readonly string[];
  /** Exported weights (any activation scale already folded in), `wEnc [c, dIn, dSae]` etc. */
  readonly params: SaeParams;
  /** The activation the SAEs encode with at inference. */
  readonly activation: SaeActivation;
  /** Whether `bDec` is subtracted from the input (false for transcoders). */
  readonly tiedBias: boolean;
  readonly dSae: number;
};

/** A JSON file of a run folder: an `Error` saying `what` cannot be read, or `parseJsonFile`'s `TypeError` naming it. */
async function readRunJson(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new Error(`${what}: cannot read ${path} (${error instanceof Error ? error.message : error})`);
  }
  return parseJsonFile(text, path);
}

/**
 * Reads the SAEs a run exported to `DIR/final/<component>/` (SAELens layout,
 * read with `importSaelens`) with the run's `config.json`, in the run's
 * component order.
 *
 * @throws Error when the run is not a language-model run or has no `final/` folder
 * @throws TypeError or RangeError naming `DIR/config.json` when it is not JSON, or not a valid
 *   configuration (each field's message names the file)
 *
 * @example
 * ```ts ignore
 * const saes = await loadRunSaes("runs/a");
 * console.log(saes.componentNames, saes.params.wDec.shape);
 * ```
 */
export async function loadRunSaes(dir: string): Promise<RunSaes> {
  const configPath = `${dir}/config.json`;
  const config = parseConfig(await readRunJson(configPath, "run folder"), { file: configPath });
  if (config.source !== "model") {
    throw new TypeError(
      `${dir}/config.json: source expected "model" (features are read off a language model's text), received ${
        JSON.stringify(config.source)
      }`,
    );
  }
  const { componentNames, dSae } = resolveSizes(config);
  const dIn = config.dIn;
  const transcoder = isTranscoder(config);
  const inputHooks = transcoder ? config.transcoderFrom! : config.hooks;
  const outputHooks = transcoder ? config.transcoderTo! : config.hooks;
  if (inputHooks === null || outputHooks === null) {
    throw new TypeError(
      `${dir}/config.json: hooks expected the hook names the run trained on, received null`,
    );
  }
  const folders = componentNames.map(componentFolder);
  for (const folder of folders) {
    if (!(await exists(`${dir}/final/${folder}/sae_weights.safetensors`))) {
      throw new Error(
        `run folder ${dir}: expected the trained SAE at ${dir}/final/${folder}/ (has the run finished?), found none`,
      );
    }
  }
  const imported = await importSaelens(folders.map((folder) => `${dir}/final/${folder}`));
  const shape = imported.params.wEnc.shape;
  if (shape[1] !== dIn || shape[2] !== dSae) {
    tf.dispose(Object.values(imported.params));
    throw new RangeError(
      `${dir}/final: expected SAEs of ${dIn} → ${dSae} (config.json), received ${shape[1]} → ${shape[2]}`,
    );
  }
  return {
    config,
    componentNames,
    folders,
    inputHooks,
    outputHooks,
    params: imported.params,
    activation: imported.activation,
    tiedBias: imported.tiedBias,
    dSae,
  };
}

/**
 * An upper bound on the windows a run's training read, counted from the first
 * window after the held-out ones: the rows of the newest checkpoint's data
 * position (or of every step, without one), rounded up to whole store fills,
 * in windows of `contextSize − 1` rows (`−1` for BOS), rounded up to whole
 * forward batches, plus one batch.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseConfig } from "../config.ts";
 * import { trainingWindows } from "./collect.ts";
 * const config = parseConfig({ source: "model", contextSize: 33, steps: 8, batchSize: 128, storeSize: 512, windowsPerBatch: 4 });
 * // 1024 rows = 2 store fills; 32 rows a window (BOS is not trained on) → 32 windows → 8 batches, + 1.
 * const dir = await Deno.makeTempDir(); // a run folder without checkpoints: every step counts
 * assert.equal(await trainingWindows(dir, config), 36);
 * await Deno.remove(dir);
 * ```
 */
export async function trainingWindows(dir: string, config: TrainConfig): Promise<number> {
  const checkpoint = await latestCheckpoint(dir);
  let rows = resolveSizes(config).steps * config.batchSize;
  if (checkpoint !== undefined && config.activationCache === null) {
    const sidecar = await readRunJson(`${checkpoint}/state.json`, "checkpoint") as
      | { position?: unknown }
      | null;
    if (typeof sidecar?.position === "number") rows = sidecar.position;
  }
  rows = Math.ceil(rows / config.storeSize) * config.storeSize;
  const perWindow = config.contextSize - (config.prependBos ? 1 : 0);
  const batches = Math.ceil(Math.ceil(rows / perWindow) / config.windowsPerBatch) + 1;
  return batches * config.windowsPerBatch;
}

/** A window with its index in the dataset's stream of windows. */
export type IndexedWindow = { readonly id: number; readonly tokens: Int32Array };

/** Where a run's validation and training windows lie, for {@linkcode heldOutFirst}. */
export type WindowPlan = {
  /** Windows `[0, heldOut)` are the validation windows, never trained on. */
  readonly heldOut: number;
  /** Windows `[heldOut, heldOut + trained)` may have been trained on. */
  readonly trained: number;
  /** How many windows to give. */
  readonly count: number;
};

/**
 * The windows of a dataset in the order the feature browser reads them: the
 * held-out validation windows first, then those after the training region,
 * and only when the dataset has no more, the windows training read. A window
 * is unseen by training exactly when its id is below `heldOut` or at least
 * `heldOut + trained`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { heldOutFirst } from "./collect.ts";
 * // Six windows; 0 is held out, 1..3 trained on: read 0, then 4, 5, then 1.
 * const all = { windows: async function* (start = 0) { for (let i = start; i < 6; i++) yield new Int32Array([i]); } };
 * const ids: number[] = [];
 * for await (const w of heldOutFirst(all, { heldOut: 1, trained: 3, count: 4 })) ids.push(w.id);
 * assert.deepEqual(ids, [0, 4, 5, 1]);
 * ```
 */
export async function* heldOutFirst(
  all: { windows(start?: number): AsyncIterable<Int32Array> },
  plan: WindowPlan,
): AsyncGenerator<IndexedWindow> {
  let given = 0;
  const end = plan.heldOut + plan.trained;
  const ranges: [number, number][] = [[0, plan.heldOut], [end, Infinity], [plan.heldOut, end]];
  for (const [from, to] of ranges) {
    if (from >= to) continue;
    let id = from;
    for await (const tokens of all.windows(from)) {
      if (given >= plan.count || id >= to) break;
      yield { id, tokens };
      id++;
      given++;
    }
    if (given >= plan.count) return;
  }
}

/** Options of {@linkcode collectFeatureStats}. */
export type CollectOptions = {
  readonly model: HookedModel;
  readonly saes: RunSaes;
  readonly windows: AsyncIterable<IndexedWindow>;
  readonly contextSize: number;
  /** Leading positions of each window that are not counted (1 after BOS). */
  readonly skip: number;
  /** Windows per forward pass. */
  readonly windowsPerBatch: number;
  /** Heap size, bins and context span of the statistics. */
  readonly stats?: Omit<FeatureStatsOptions, "nFeatures">;
  /** Called after each batch with the windows and positions read so far. */
  readonly onProgress?: (windows: number, positions: number) => void;
};

/**
 * Runs the model and the SAEs over the windows in batches and returns each
 * component's {@linkcode FeatureStats}. Only the statistics persist between
 * batches, so memory does not grow with the number of windows.
 *
 * @example
 * ```ts ignore
 * const stats = await collectFeatureStats({ model, saes, windows, contextSize: 128, skip: 1, windowsPerBatch: 16 });
 * console.log(featureDensities(stats[0]));
 * ```
 */
export async function collectFeatureStats(options: CollectOptions): Promise<FeatureStats[]> {
  const { model, saes, contextSize, skip, windowsPerBatch } = options;
  const c = saes.componentNames.length, dSae = saes.dSae;
  const stats = saes.componentNames.map(() => createFeatureStats({ ...options.stats, nFeatures: dSae }));
  const stopAtLayer = stopLayerFor(saes.inputHooks, model.nLayers);
  let batch: IndexedWindow[] = [];
  let windows = 0;
  const run = async () => {
    const b = batch.length;
    const tokens = new Int32Array(b * contextSize);
    batch.forEach((w, i) => tokens.set(w.tokens, i * contextSize));
    const f = tf.tidy(() => {
      const { activations } = model.forward(tf.tensor2d(tokens, [b, contextSize], "int32"), {
        capture: saes.inputHooks,
        stopAtLayer,
      });
      const x = tf.stack(saes.inputHooks.map((h) => tf.reshape(activations[h], [b * contextSize, -1])));
      return encode(saes.params, x as tf.Tensor3D, saes.activation, { tiedBias: saes.tiedBias });
    });
    const data = (await f.data()) as Float32Array;
    f.dispose();
    const size = b * contextSize * dSae;
    const windowIds = batch.map((w) => w.id);
    for (let k = 0; k < c; k++) {
      observeWindows(stats[k], {
        f: data.subarray(k * size, (k + 1) * size),
        tokens,
        windowIds,
        contextSize,
        skip,
      });
    }
    windows += b;
    batch = [];
    options.onProgress?.(windows, stats[0].positions);
  };
  for await (const window of options.windows) {
    if (window.tokens.length !== contextSize) {
      throw new RangeError(
        `windows: expected ${contextSize} tokens per window, received ${window.tokens.length} (window ${window.id})`,
      );
    }
    batch.push(window);
    if (batch.length === windowsPerBatch) await run();
  }
  if (batch.length > 0) await run();
  return stats;
}

/**
 * How each token of a sequence reads, for display: the text each token adds
 * to the decoded text of the tokens before it (so a token's leading space is
 * kept), with BOS and EOS shown as `⟨BOS⟩` and `⟨EOS⟩`. The first token is
 * decoded after a reference token (`a`), so that its leading space is kept too.
 * A character split over several byte tokens is shown on the last of them (the
 * others read as empty).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tokenPieces } from "./collect.ts";
 * const tok = {
 *   encode: (t: string) => [...t].map((ch) => ch.charCodeAt(0)),
 *   decode: (ids: readonly number[]) => ids.map((i) => i === 1 ? "" : String.fromCharCode(i)).join(""),
 *   bosId: 1, eosId: undefined, vocabSize: 128,
 * };
 * assert.deepEqual(tokenPieces(tok, [1, 104, 32, 105]), ["⟨BOS⟩", "h", " ", "i"]);
 * ```
 */
export function tokenPieces(tokenizer: TextTokenizer, ids: readonly number[]): string[] {
  const ref = tokenizer.encode("a");
  const prefix = ref.length === 1 ? [ref[0]] : [];
  const out: string[] = [];
  let context = [...prefix];
  let before = tokenizer.decode(context);
  for (const [i, id] of ids.entries()) {
    if (id === tokenizer.bosId || id === tokenizer.eosId) {
      out.push(id === tokenizer.bosId ? "⟨BOS⟩" : "⟨EOS⟩");
      context = [...prefix];
      before = tokenizer.decode(context);
      continue;
    }
    context.push(id);
    const text = tokenizer.decode(context);
    if (text.endsWith("\uFFFD") && i < ids.length - 1) {
      // Part of a character split over byte tokens: the token that completes it shows it.
      out.push("");
      continue;
    }
    out.push(text.startsWith(before) ? text.slice(before.length) : tokenizer.decode([id]));
    before = text;
  }
  return out;
}
