/**
 * The tokenizer that text windows need, as a small structural type, so that
 * any tokenizer (llama2.c's, a Hugging Face one, a toy) plugs in through an
 * adapter without this module knowing its internals.
 *
 * @module
 */
import { checkStart, type DocumentSource, toTokenIds } from "./documents.ts";

/** Options of {@linkcode Tokenizer.encode}. */
export type EncodeOptions = {
  /** Put the BOS id first (default false). */
  readonly bos?: boolean;
};

/**
 * Text to token ids. Windows call `encode(text, { bos: false })` and place
 * BOS and EOS themselves from `bosId` and `eosId`.
 */
export type Tokenizer = {
  encode(text: string, options?: EncodeOptions): ArrayLike<number>;
  /** Beginning-of-sequence id; needed for `prependBos` and the `"bos"` separator. */
  readonly bosId?: number;
  /** End-of-sequence id; needed for the `"eos"` separator. */
  readonly eosId?: number;
};

/**
 * A {@linkcode Tokenizer} from a function that encodes text without special
 * tokens. With llama2.c's tokenizer (`lib/models/load/llama2c.ts`):
 * `tokenizerFromEncoder((text) => encodeText(tok, text, { bos: false }), { bosId: tok.bos, eosId: tok.eos })`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tokenizerFromEncoder } from "./tokenizer.ts";
 * // One token per character: its code point.
 * const tok = tokenizerFromEncoder((text) => [...text].map((c) => c.codePointAt(0)!), { bosId: 1, eosId: 2 });
 * assert.equal(Array.from(tok.encode("ab", { bos: true })).join(), "1,97,98");
 * ```
 */
export function tokenizerFromEncoder(
  encode: (text: string) => ArrayLike<number>,
  ids: { readonly bosId?: number; readonly eosId?: number } = {},
): Tokenizer {
  const { bosId, eosId } = ids;
  return {
    bosId,
    eosId,
    encode(text: string, options: EncodeOptions = {}): ArrayLike<number> {
      const tokens = encode(text);
      if (!(options.bos ?? false)) return tokens;
      if (bosId === undefined) {
        throw new RangeError(`bosId: expected a token id for encode(…, { bos: true }), received undefined`);
      }
      return [bosId, ...Array.from(tokens)];
    },
  };
}

/**
 * Tokenizes each document of a text source (without BOS or EOS: windows add
 * those). `documents(start)` skips `start` documents without tokenizing them.
 *
 * @throws TypeError or RangeError naming the document when the tokenizer returns something other than ids ≥ 0
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { arrayDocuments } from "./documents.ts";
 * import { tokenizeDocuments } from "./tokenizer.ts";
 * const tok = { encode: (text: string) => [...text].map((c) => c.charCodeAt(0)) };
 * for await (const ids of tokenizeDocuments(arrayDocuments(["hi"]), tok).documents()) {
 *   assert.equal(ids.join(), "104,105");
 * }
 * ```
 */
export function tokenizeDocuments(
  source: DocumentSource<string>,
  tokenizer: Tokenizer,
): DocumentSource<Int32Array> {
  return {
    async *documents(start = 0) {
      checkStart(start);
      let index = start;
      for await (const text of source.documents(start)) {
        yield toTokenIds(tokenizer.encode(text, { bos: false }), `document ${index} (tokenized)`);
        index++;
      }
    },
  };
}
