/**
 * The feature browser's data: the JSON documents the page reads, built from a
 * run's feature statistics, its SAEs, the model (for the tokens a feature
 * promotes through the unembedding, and for searching a text) and the
 * tokenizer (for how tokens read).
 *
 * | URL (relative to the page) | document |
 * | --- | --- |
 * | `api/summary.json` | {@linkcode BrowserSummary}: the run and every feature's density and largest activation |
 * | `api/feature/<component>/<id>.json` | {@linkcode FeatureDocument}: one feature, loaded when it is opened |
 * | `api/search?text=…` | {@linkcode SearchDocument}: the features that fire on a text (served only) |
 *
 * @module
 */
import { tf } from "../tf.ts";
import { encode } from "../sae/forward.ts";
import type { HookedModel } from "../models/hooked.ts";
import { stopLayerFor } from "../models/hooked.ts";
import type { TextTokenizer } from "../models/load/model.ts";
import { type RunSaes, tokenPieces } from "./collect.ts";
import { type FeatureStats, summarizeFeature } from "./stats.ts";

/** A token and the logit a feature's decoder direction gives it. */
export type TokenLogit = { readonly token: string; readonly id: number; readonly logit: number };

/** One component in {@linkcode BrowserSummary}. */
export type ComponentSummary = {
  readonly name: string;
  /** Its name in URLs. */
  readonly folder: string;
  readonly hook: string;
  readonly dSae: number;
  /** Per feature, the fraction of positions where it fired. */
  readonly density: readonly number[];
  /** Per feature, its largest activation. */
  readonly maxActivation: readonly number[];
  /** Whether features list the tokens they promote (the decoder writes to the residual stream). */
  readonly logits: boolean;
};

/** `api/summary.json`. */
export type BrowserSummary = {
  readonly format: "saekit-features/1";
  /** The run folder's name. */
  readonly run: string;
  readonly model: string;
  readonly arch: string;
  /** Token positions every feature was measured on. */
  readonly positions: number;
  readonly windows: number;
  /** Windows training never read (held out for validation, or after the training region). */
  readonly unseenWindows: number;
  readonly contextSize: number;
  /** Where the text came from, in words. */
  readonly text: string;
  /** Whether `api/search` answers (a served browser, not a static one). */
  readonly search: boolean;
  readonly components: readonly ComponentSummary[];
};

/** One top activation, as the page shows it. */
export type ContextDocument = {
  readonly activation: number;
  readonly window: number;
  readonly position: number;
  /** Index in `tokens` of the top activation. */
  readonly at: number;
  readonly tokens: readonly string[];
  readonly activations: readonly number[];
};

/** `api/feature/<component>/<id>.json`. */
export type FeatureDocument = {
  readonly component: string;
  readonly folder: string;
  readonly id: number;
  readonly count: number;
  readonly density: number;
  readonly meanActivation: number;
  readonly maxActivation: number;
  readonly histogram: { readonly binWidth: number; readonly counts: readonly number[] };
  readonly contexts: readonly ContextDocument[];
  /** Tokens whose logits the decoder direction raises most (absent when it does not write to the residual stream). */
  readonly promoted?: readonly TokenLogit[];
  readonly suppressed?: readonly TokenLogit[];
};

/** `api/search?text=…`. */
export type SearchDocument = {
  readonly tokens: readonly string[];
  /** Whether the text was cut to the run's context size. */
  readonly truncated: boolean;
  readonly components: readonly {
    readonly name: string;
    readonly folder: string;
    /** The features with the largest activation anywhere in the text, largest first. */
    readonly features: readonly {
      readonly id: number;
      readonly max: number;
      readonly activations: readonly number[];
    }[];
  }[];
};

/** What {@linkcode createFeatureBrowser} needs. */
export type FeatureBrowserOptions = {
  /** The run folder's name, for the page title. */
  readonly run: string;
  readonly saes: RunSaes;
  readonly model: HookedModel;
  readonly tokenizer: TextTokenizer;
  /** Per component, from `collectFeatureStats`. */
  readonly stats: readonly FeatureStats[];
  readonly unseenWindows: number;
  readonly text: string;
  /** Tokens listed as promoted and as suppressed (default 10). */
  readonly topTokens?: number;
  /** Features listed per component by a search (default 20). */
  readonly searchFeatures?: number;
};

/** The browser's documents; {@linkcode FeatureBrowser.dispose} frees nothing the caller owns. */
export type FeatureBrowser = {
  readonly componentFolders: readonly string[];
  /** Features per component. */
  readonly dSae: number;
  summary(options: { readonly search: boolean }): BrowserSummary;
  /** Features `ids` of component `k` (the unembedding products are computed together). */
  features(k: number, ids: readonly number[]): FeatureDocument[];
  search(text: string): SearchDocument;
};

/** Rounds to 6 significant digits, so that JSON stays short. */
function short(x: number): number {
  return x === 0 ? 0 : Number(x.toPrecision(6));
}

/** Width of the residual stream (the width `directionLogits` takes). */
function residualWidth(model: HookedModel): number {
  return model.hookDim(`blocks.${model.nLayers - 1}.hook_resid_post`);
}

/**
 * The browser's documents for a run whose statistics are collected.
 *
 * @example
 * ```ts ignore
 * const browser = createFeatureBrowser({ run: "a", saes, model, tokenizer, stats, unseenWindows: 800, text: "…" });
 * const [doc] = browser.features(0, [17]);
 * ```
 */
export function createFeatureBrowser(options: FeatureBrowserOptions): FeatureBrowser {
  const { saes, model, tokenizer, stats } = options;
  const topTokens = options.topTokens ?? 10;
  const c = saes.componentNames.length;
  if (stats.length !== c) {
    throw new RangeError(`stats: expected one per component (${c}), received ${stats.length}`);
  }
  const dOut = saes.params.wDec.shape[2];
  const writesResidual = saes.outputHooks.map((hook) =>
    !/mlp\.hook_post$/.test(hook) && dOut === residualWidth(model) &&
    !/hook_(pos_)?embed$/.test(hook)
  );
  const pieceCache = new Map<number, string>();
  const piece = (id: number) => {
    let text = pieceCache.get(id);
    if (text === undefined) pieceCache.set(id, text = tokenPieces(tokenizer, [id])[0]);
    return text;
  };
  const skip = saes.config.prependBos ? 1 : 0;

  function logitsOf(
    k: number,
    ids: readonly number[],
  ): { promoted: TokenLogit[]; suppressed: TokenLogit[] }[] {
    const top = Math.min(topTokens, model.vocabSize);
    const out: { promoted: TokenLogit[]; suppressed: TokenLogit[] }[] = [];
    for (let from = 0; from < ids.length; from += 256) {
      const chunk = ids.slice(from, from + 256);
      const [upV, upI, downV, downI] = tf.tidy(() => {
        const rows = tf.gather(tf.squeeze(tf.slice(saes.params.wDec, [k, 0, 0], [1, -1, -1]), [0]), chunk);
        const logits = model.directionLogits(rows as tf.Tensor2D);
        const up = tf.topk(logits, top), down = tf.topk(tf.neg(logits), top);
        return [up.values, up.indices, down.values, down.indices];
      }).map((t) => {
        const a = t.arraySync() as number[][];
        t.dispose();
        return a;
      });
      chunk.forEach((_, i) => {
        out.push({
          promoted: upI[i].map((id, r) => ({ token: piece(id), id, logit: short(upV[i][r]) })),
          suppressed: downI[i].map((id, r) => ({ token: piece(id), id, logit: short(-downV[i][r]) })),
        });
      });
    }
    return out;
  }

  return {
    componentFolders: saes.folders,
    dSae: saes.dSae,
    summary: ({ search }) => ({
      format: "saekit-features/1",
      run: options.run,
      model: saes.config.model,
      arch: saes.config.arch,
      positions: stats[0].positions,
      windows: stats[0].windows,
      unseenWindows: options.unseenWindows,
      contextSize: saes.config.contextSize,
      text: options.text,
      search,
      components: saes.componentNames.map((name, k) => ({
        name,
        folder: saes.folders[k],
        hook: saes.inputHooks[k],
        dSae: saes.dSae,
        density: Array.from(
          stats[k].count,
          (n) => short(stats[k].positions === 0 ? 0 : n / stats[k].positions),
        ),
        maxActivation: Array.from(stats[k].max, short),
        logits: writesResidual[k],
      })),
    }),
    features(k, ids) {
      if (!Number.isInteger(k) || k < 0 || k >= c) {
        throw new RangeError(`component: expected an integer in [0, ${c}), received ${k}`);
      }
      for (const id of ids) {
        if (!Number.isInteger(id) || id < 0 || id >= saes.dSae) {
          throw new RangeError(`feature: expected an integer in [0, ${saes.dSae}), received ${id}`);
        }
      }
      const logits = writesResidual[k] ? logitsOf(k, ids) : undefined;
      return ids.map((id, i) => {
        const s = summarizeFeature(stats[k], id);
        return {
          component: saes.componentNames[k],
          folder: saes.folders[k],
          id,
          count: s.count,
          density: short(s.density),
          meanActivation: short(s.meanActivation),
          maxActivation: short(s.maxActivation),
          histogram: { binWidth: s.histogram.binWidth, counts: s.histogram.counts },
          contexts: s.contexts.map((ctx) => ({
            activation: short(ctx.activation),
            window: ctx.window,
            position: ctx.position,
            at: ctx.position - ctx.start,
            tokens: tokenPieces(tokenizer, ctx.tokens),
            activations: ctx.activations.map(short),
          })),
          ...(logits !== undefined ? { promoted: logits[i].promoted, suppressed: logits[i].suppressed } : {}),
        };
      });
    },
    search(text) {
      if (typeof text !== "string" || text.trim() === "") {
        throw new TypeError(`text: expected some text to search with, received ${JSON.stringify(text)}`);
      }
      const all = tokenizer.encode(text, { bos: saes.config.prependBos });
      const limit = Math.min(saes.config.contextSize, model.maxSeq);
      const ids = all.slice(0, limit);
      const n = ids.length;
      const f = tf.tidy(() => {
        const { activations } = model.forward(tf.tensor2d(ids, [1, n], "int32"), {
          capture: saes.inputHooks,
          stopAtLayer: stopLayerFor(saes.inputHooks, model.nLayers),
        });
        const x = tf.stack(saes.inputHooks.map((h) => tf.reshape(activations[h], [n, -1])));
        return encode(saes.params, x as tf.Tensor3D, saes.activation, { tiedBias: saes.tiedBias });
      });
      const data = f.dataSync() as Float32Array;
      f.dispose();
      const m = saes.dSae, keep = options.searchFeatures ?? 20;
      return {
        tokens: tokenPieces(tokenizer, ids),
        truncated: all.length > n,
        components: saes.componentNames.map((name, k) => {
          const max = new Float32Array(m);
          for (let p = Math.min(skip, n - 1); p < n; p++) {
            for (let j = 0; j < m; j++) max[j] = Math.max(max[j], data[(k * n + p) * m + j]);
          }
          const order = Array.from(max.keys()).filter((j) => max[j] > 0).sort((a, b) =>
            max[b] - max[a] || a - b
          );
          return {
            name,
            folder: saes.folders[k],
            features: order.slice(0, keep).map((j) => ({
              id: j,
              max: short(max[j]),
              activations: Array.from(
                { length: n },
                (_, p) => p < skip && n > 1 ? 0 : short(data[(k * n + p) * m + j]),
              ),
            })),
          };
        }),
      };
    },
  };
}
