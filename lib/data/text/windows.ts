/**
 * Context windows: token documents cut into `Int32Array`s of exactly
 * `contextSize` tokens, the rows that a language model reads to make
 * activations, and batches of them.
 *
 * ## Options
 *
 * - `contextSize` (≥ 2): tokens per window.
 * - `prependBos` (default **true**, SAELens's default): every window starts
 *   with BOS, so no window starts mid-document without one (the original
 *   library put none: its defect B5; pass `false` to reproduce it). When the
 *   next token to be placed first in a window is already BOS (a document that
 *   starts with one, or a `"bos"` separator), it is used as the window's BOS
 *   rather than doubled.
 * - `documentEnd`, what happens where a document ends:
 *   - `"pack"` (default, SAELens's way): documents are joined into one token
 *     stream with a `separator` and windows are cut from the stream, so nothing
 *     is lost but the final partial window of the whole source.
 *   - `"drop"` (the original's way): each document is cut separately into
 *     non-overlapping windows and its short remainder is dropped; a document
 *     shorter than a window gives none.
 *   - `"pad"`: like `"drop"`, but the remainder is kept in a last window filled
 *     up with `padId`; {@linkcode TokenWindow}'s `length` and
 *     {@linkcode WindowBatch}'s `lengths` say how many tokens are real.
 * - `separator` (`"pack"` only; default `"bos"`): `"bos"` puts BOS before every
 *   document (as llama2.c's pretokenizer does; skipped for a document that
 *   already starts with BOS); `"eos"` puts EOS after every document (skipped
 *   when it already ends with EOS); `"none"` joins them directly.
 * - `maxDocumentTokens` (default: no limit): keep only the first that many
 *   tokens of each document. The original truncated every document to the
 *   tokenizer's maximum length (1024 for GPT-2: its defect B4, not reproduced
 *   by default; `maxDocumentTokens: 1024` reproduces it).
 * - `bosId`, `eosId`: override the tokenizer's (and give them for
 *   pre-tokenized sources, which have no tokenizer).
 *
 * The original library is `{ documentEnd: "drop", prependBos: false }`, plus
 * `maxDocumentTokens: 1024` for its text datasets (it also raised an error when
 * the first pre-tokenized document was shorter than a window; here such a
 * document simply gives no window). Empty documents (no tokens) are skipped in
 * every mode.
 *
 * ## Positions and resuming
 *
 * A window's position is the number of windows before it. `windows(start)`
 * gives the windows from position `start` on, exactly those that an
 * uninterrupted read would give there: it reads the documents again from the
 * first and skips (tokenizing them, but not allocating the skipped windows).
 *
 * @module
 */
import { checkInteger, checkStart, type DocumentSource, toTokenIds } from "./documents.ts";
import { tokenizeDocuments, type Tokenizer } from "./tokenizer.ts";

/** What happens where a document ends; see the module documentation. */
export type DocumentEnd = "drop" | "pack" | "pad";

/** What goes between documents in `"pack"` mode; see the module documentation. */
export type PackSeparator = "bos" | "eos" | "none";

/** Options of {@linkcode tokenWindows} and {@linkcode textWindows}; see the module documentation. */
export type WindowOptions = {
  /** Tokens per window, ≥ 2. */
  readonly contextSize: number;
  /** Start every window with BOS (default true). */
  readonly prependBos?: boolean;
  /** Default `"pack"`. */
  readonly documentEnd?: DocumentEnd;
  /** Between documents in `"pack"` mode (default `"bos"`). */
  readonly separator?: PackSeparator;
  /** Filler of a document's last window in `"pad"` mode (required there). */
  readonly padId?: number;
  /** Keep only the first that many tokens of each document (default: all). */
  readonly maxDocumentTokens?: number;
  /** BOS id (default: the tokenizer's). */
  readonly bosId?: number;
  /** EOS id (default: the tokenizer's). */
  readonly eosId?: number;
};

/** A window and the number of its tokens that are real (`contextSize`, except a padded window's). */
export type TokenWindow = {
  /** `[contextSize]` token ids. */
  readonly tokens: Int32Array;
  /** Real tokens at the front of `tokens`; the rest are `padId`. */
  readonly length: number;
};

/** A stream of context windows with positions. */
export type TokenWindows = {
  readonly contextSize: number;
  /** Windows from position `start` (default 0) on, each `[contextSize]`. */
  windows(start?: number): AsyncIterable<Int32Array>;
  /** The same windows with their real lengths. */
  windowsWithLength(start?: number): AsyncIterable<TokenWindow>;
};

const DOCUMENT_ENDS: readonly DocumentEnd[] = ["drop", "pack", "pad"];
const SEPARATORS: readonly PackSeparator[] = ["bos", "eos", "none"];

type Resolved = {
  readonly contextSize: number;
  readonly prependBos: boolean;
  readonly documentEnd: DocumentEnd;
  readonly separator: PackSeparator;
  readonly padId: number;
  readonly maxDocumentTokens: number;
  readonly bosId: number;
  readonly eosId: number;
};

function resolveOptions(options: WindowOptions): Resolved {
  const { contextSize } = options;
  checkInteger("contextSize", contextSize, 2);
  const prependBos = options.prependBos ?? true;
  const documentEnd = options.documentEnd ?? "pack";
  if (!DOCUMENT_ENDS.includes(documentEnd)) {
    throw new RangeError(
      `documentEnd: expected "drop", "pack" or "pad", received ${JSON.stringify(documentEnd)}`,
    );
  }
  const separator = options.separator ?? "bos";
  if (!SEPARATORS.includes(separator)) {
    throw new RangeError(`separator: expected "bos", "eos" or "none", received ${JSON.stringify(separator)}`);
  }
  const needId = (field: "bosId" | "eosId" | "padId", why: string): number => {
    const value = options[field];
    if (value === undefined) {
      throw new RangeError(`${field}: expected a token id for ${why}, received undefined`);
    }
    checkInteger(field, value, 0);
    return value;
  };
  const packs = documentEnd === "pack";
  const bosId = prependBos
    ? needId("bosId", "prependBos (pass bosId or a tokenizer with one, or prependBos: false)")
    : packs && separator === "bos"
    ? needId("bosId", `separator "bos" (pass bosId, or another separator)`)
    : -1;
  const eosId = packs && separator === "eos" ? needId("eosId", `separator "eos"`) : -1;
  const padId = documentEnd === "pad" ? needId("padId", `documentEnd "pad"`) : -1;
  const maxDocumentTokens = options.maxDocumentTokens ?? Infinity;
  if (maxDocumentTokens !== Infinity) checkInteger("maxDocumentTokens", maxDocumentTokens, 1);
  return { contextSize, prependBos, documentEnd, separator, padId, maxDocumentTokens, bosId, eosId };
}

/** Packed windows: documents joined with separators, cut every `contextSize` tokens. */
async function* packWindows(
  documents: AsyncIterable<Int32Array>,
  o: Resolved,
  start: number,
): AsyncGenerator<TokenWindow> {
  const c = o.contextSize;
  const bos = Int32Array.of(o.bosId);
  const eos = Int32Array.of(o.eosId);
  let window = new Int32Array(c);
  let fill = 0;
  let index = 0;
  for await (const doc of documents) {
    const pieces: Int32Array[] = [];
    if (o.separator === "bos" && doc[0] !== o.bosId) pieces.push(bos);
    pieces.push(doc);
    if (o.separator === "eos" && doc[doc.length - 1] !== o.eosId) pieces.push(eos);
    for (const piece of pieces) {
      let i = 0;
      while (i < piece.length) {
        if (fill === 0 && o.prependBos) {
          window[0] = o.bosId;
          fill = 1;
          if (piece[i] === o.bosId) {
            i++; // this BOS is the window's BOS
            continue;
          }
        }
        const n = Math.min(c - fill, piece.length - i);
        window.set(piece.subarray(i, i + n), fill);
        fill += n;
        i += n;
        if (fill === c) {
          if (index >= start) {
            yield { tokens: window, length: c };
            window = new Int32Array(c);
          }
          index++;
          fill = 0;
        }
      }
    }
  }
}

/** Each document cut separately; the remainder dropped or padded. */
async function* documentWindows(
  documents: AsyncIterable<Int32Array>,
  o: Resolved,
  start: number,
): AsyncGenerator<TokenWindow> {
  const c = o.contextSize;
  let index = 0;
  for await (const doc of documents) {
    let i = 0;
    while (i < doc.length) {
      const addBos = o.prependBos && doc[i] !== o.bosId ? 1 : 0;
      const take = Math.min(c - addBos, doc.length - i);
      const length = addBos + take;
      if (length < c && o.documentEnd === "drop") break;
      if (index >= start) {
        const tokens = new Int32Array(c);
        if (addBos) tokens[0] = o.bosId;
        tokens.set(doc.subarray(i, i + take), addBos);
        if (length < c) tokens.fill(o.padId, length);
        yield { tokens, length };
      }
      index++;
      i += take;
    }
  }
}

/** The documents of a source as checked, truncated, non-empty token arrays. */
async function* preparedDocuments(
  source: DocumentSource<ArrayLike<number>>,
  maxTokens: number,
): AsyncGenerator<Int32Array> {
  let index = 0;
  for await (const raw of source.documents(0)) {
    const ids = toTokenIds(raw, `document ${index}`);
    index++;
    const doc = ids.length > maxTokens ? ids.subarray(0, maxTokens) : ids;
    if (doc.length > 0) yield doc;
  }
}

/**
 * Context windows from a source of token documents (pre-tokenized data, or
 * {@linkcode tokenizeDocuments}'s output). Options are checked at once.
 *
 * @throws RangeError naming the option: contextSize < 2, an unknown mode, an id that the options need but lack
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { arrayDocuments } from "./documents.ts";
 * import { tokenWindows } from "./windows.ts";
 * // BOS = 1; documents [5 6 7] and [8 9]; "pack" with the "bos" separator: 1 5 6 7 1 8 9
 * const source = arrayDocuments([[5, 6, 7], [8, 9]]);
 * const windows = tokenWindows(source, { contextSize: 3, bosId: 1 });
 * const out: string[] = [];
 * for await (const w of windows.windows()) out.push(w.join(" "));
 * // The stream's first BOS is window 1's; window 2 gets a BOS of its own and ends with the separator.
 * assert.equal(out.join(" | "), "1 5 6 | 1 7 1 | 1 8 9");
 * ```
 */
export function tokenWindows(
  source: DocumentSource<ArrayLike<number>>,
  options: WindowOptions,
): TokenWindows {
  const o = resolveOptions(options);
  async function* windowsWithLength(start = 0): AsyncGenerator<TokenWindow> {
    checkStart(start);
    const docs = preparedDocuments(source, o.maxDocumentTokens);
    yield* o.documentEnd === "pack" ? packWindows(docs, o, start) : documentWindows(docs, o, start);
  }
  return {
    contextSize: o.contextSize,
    windowsWithLength,
    async *windows(start = 0) {
      for await (const w of windowsWithLength(start)) yield w.tokens;
    },
  };
}

/**
 * Context windows from a source of text documents, tokenized with
 * `tokenizer` (its `bosId` and `eosId` unless the options give them).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { arrayDocuments } from "./documents.ts";
 * import { textWindows } from "./windows.ts";
 * const tok = { encode: (t: string) => [...t].map((c) => c.charCodeAt(0)), bosId: 1 };
 * const windows = textWindows(arrayDocuments(["abcde", "f"]), tok, { contextSize: 3, documentEnd: "drop" });
 * const out: string[] = [];
 * for await (const w of windows.windows()) out.push(w.join(" "));
 * assert.equal(out.join(" | "), "1 97 98 | 1 99 100"); // "e", and all of "f", are dropped
 * ```
 */
export function textWindows(
  source: DocumentSource<string>,
  tokenizer: Tokenizer,
  options: WindowOptions,
): TokenWindows {
  return tokenWindows(tokenizeDocuments(source, tokenizer), {
    ...options,
    bosId: options.bosId ?? tokenizer.bosId,
    eosId: options.eosId ?? tokenizer.eosId,
  });
}

/** A batch of windows. */
export type WindowBatch = {
  /** `[rows, contextSize]` token ids, row-major. */
  readonly tokens: Int32Array;
  /** Windows in this batch: `batchSize`, except possibly the last batch. */
  readonly rows: number;
  readonly contextSize: number;
  /** `[rows]` real tokens of each window (`contextSize` unless padded). */
  readonly lengths: Int32Array;
  /** Windows consumed once this batch is used: where a resumed run starts. */
  readonly position: number;
};

/** Options of {@linkcode windowBatches}. */
export type WindowBatchesOptions = {
  /** The position of the first window (default 0); with a `TokenWindows`, where to start reading. */
  readonly start?: number;
  /** Drop a last batch of fewer than `batchSize` windows (default false: yield it with fewer rows). */
  readonly dropLast?: boolean;
};

/**
 * Windows grouped into batches of `batchSize`, each with the position after
 * it. Given a {@linkcode TokenWindows}, reads it from `options.start`; given
 * an iterable, takes `options.start` as the position of its first window.
 *
 * @throws RangeError for a batch size below 1, or windows of different lengths
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { arrayDocuments } from "./documents.ts";
 * import { tokenWindows, windowBatches } from "./windows.ts";
 * const windows = tokenWindows(arrayDocuments([[1, 2, 3, 4, 5, 6, 7, 8]]), { contextSize: 2, prependBos: false, separator: "none" });
 * const positions: number[] = [];
 * for await (const batch of windowBatches(windows, 3, { start: 1 })) positions.push(batch.position);
 * // Windows [1 2] [3 4] [5 6] [7 8]; from position 1, one batch of three, after which the position is 4.
 * assert.equal(positions.join(), "4");
 * ```
 */
export async function* windowBatches(
  windows: TokenWindows | AsyncIterable<Int32Array | TokenWindow>,
  batchSize: number,
  options: WindowBatchesOptions = {},
): AsyncGenerator<WindowBatch> {
  checkInteger("batchSize", batchSize, 1);
  const start = options.start ?? 0;
  checkStart(start);
  const items: AsyncIterable<Int32Array | TokenWindow> = "windowsWithLength" in windows
    ? windows.windowsWithLength(start)
    : windows;
  let contextSize = -1;
  let tokens = new Int32Array(0);
  let lengths = new Int32Array(batchSize);
  let rows = 0;
  let position = start;
  for await (const item of items) {
    const w = item instanceof Int32Array ? item : item.tokens;
    const length = item instanceof Int32Array ? w.length : item.length;
    if (contextSize === -1) {
      contextSize = w.length;
      tokens = new Int32Array(batchSize * contextSize);
    } else if (w.length !== contextSize) {
      throw new RangeError(
        `window ${position}: expected ${contextSize} tokens (the first window's), received ${w.length}`,
      );
    }
    tokens.set(w, rows * contextSize);
    lengths[rows] = length;
    rows++;
    position++;
    if (rows === batchSize) {
      yield { tokens, rows, contextSize, lengths, position };
      tokens = new Int32Array(batchSize * contextSize);
      lengths = new Int32Array(batchSize);
      rows = 0;
    }
  }
  if (rows > 0 && !(options.dropLast ?? false)) {
    yield {
      tokens: tokens.slice(0, rows * contextSize),
      rows,
      contextSize,
      lengths: lengths.slice(0, rows),
      position,
    };
  }
}
