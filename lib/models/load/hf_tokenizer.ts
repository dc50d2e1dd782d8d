/**
 * Hugging Face tokenizers (`tokenizer.json`) through Hugging Face's own
 * JavaScript port, `@huggingface/tokenizers` (no dependencies, no network:
 * the file is read here and handed over as an object). Byte-level BPE
 * (GPT-2, GPT-NeoX/Pythia), SentencePiece-style BPE with byte fallback
 * (Llama), WordPiece and Unigram tokenizers all load.
 *
 * @module
 */
import { Tokenizer } from "@huggingface/tokenizers";
import { parseJsonFile, readJsonFile } from "../../io/files.ts";

/** Options of {@linkcode HfTokenizer.encode}. */
export type HfEncodeOptions = {
  /** Prepend the beginning-of-sequence id (default false); an error when the tokenizer has none. */
  readonly bos?: boolean;
};

/** Options of {@linkcode HfTokenizer.decode}. */
export type HfDecodeOptions = {
  /** Print special tokens (`<|endoftext|>`, `<s>`, ...) as text (default false: they print nothing). */
  readonly special?: boolean;
};

/** A loaded tokenizer, in the shape the data pipeline uses. */
export type HfTokenizer = {
  /**
   * Token ids of a text, as `transformers`' `tokenizer.encode(text,
   * add_special_tokens=False)` gives them (special tokens written in the text
   * are matched as such), with the BOS id first when `bos` is set.
   */
  encode(text: string, options?: HfEncodeOptions): number[];
  /** The text of token ids, without tokenization-space clean-up, so that `decode(encode(s)) === s` for most `s`. */
  decode(ids: readonly number[], options?: HfDecodeOptions): string;
  /** Beginning-of-sequence id, when the tokenizer has one. */
  readonly bosId: number | undefined;
  /** End-of-sequence id, when the tokenizer has one. */
  readonly eosId: number | undefined;
  /** One more than the largest id (added tokens included): 50257 for GPT-2. */
  readonly vocabSize: number;
};

type Json = Record<string, unknown>;

const BOS_NAMES = ["<s>", "<|begin_of_text|>", "<bos>", "<|startoftext|>", "<|endoftext|>"];
const EOS_NAMES = ["</s>", "<|end_of_text|>", "<eos>", "<|endoftext|>"];

/** The content of a `tokenizer_config.json` token entry (a string or `{content}`). */
function tokenContent(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (value !== null && typeof value === "object" && typeof (value as Json).content === "string") {
    return (value as Json).content as string;
  }
  return undefined;
}

/**
 * Builds a tokenizer from the parsed contents of a `tokenizer.json` and,
 * optionally, its `tokenizer_config.json` (which names the BOS and EOS
 * tokens). Without a config, BOS is the first special token of the
 * post-processor's template (Llama's `<s>`) or else the first added token
 * named `<s>`, `<|begin_of_text|>`, `<bos>`, `<|startoftext|>` or
 * `<|endoftext|>`; EOS likewise from `</s>`, `<|end_of_text|>`, `<eos>`,
 * `<|endoftext|>`. GPT-2 and GPT-NeoX thus get `<|endoftext|>` for both.
 *
 * @param source names the file in messages
 * @throws TypeError naming the file when the JSON is not a tokenizer the library can build
 *
 * @example A BPE vocabulary of four pieces and one merge
 * ```ts
 * import assert from "node:assert/strict";
 * import { hfTokenizerFromJson } from "./hf_tokenizer.ts";
 * const tok = hfTokenizerFromJson({
 *   added_tokens: [{ id: 3, content: "<s>", special: true }],
 *   normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null,
 *   model: { type: "BPE", vocab: { h: 0, i: 1, hi: 2, "<s>": 3 }, merges: ["h i"] },
 * });
 * assert.equal(tok.bosId, 3);
 * assert.equal(tok.vocabSize, 4);
 * assert.equal(tok.encode("hih", { bos: true }).join(), "3,2,0");
 * ```
 */
export function hfTokenizerFromJson(
  json: unknown,
  config: unknown = {},
  source = "tokenizer.json",
): HfTokenizer {
  if (json === null || typeof json !== "object" || Array.isArray(json) || !("model" in json)) {
    throw new TypeError(`${source}: expected a tokenizer.json object with a "model" entry`);
  }
  const spec = json as Json;
  const settings = config !== null && typeof config === "object" ? config as Json : {};
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer({ added_tokens: [], ...spec }, settings);
  } catch (error) {
    throw new TypeError(
      `${source}: expected a tokenizer @huggingface/tokenizers can build, ${
        error instanceof Error ? error.message : error
      }`,
    );
  }
  const vocab = tokenizer.get_vocab(true);
  let vocabSize = 0;
  for (const id of vocab.values()) vocabSize = Math.max(vocabSize, id + 1);
  const added = (spec.added_tokens ?? []) as { id: number; content: string; special?: boolean }[];
  const idOf = (content: string | undefined) =>
    content === undefined ? undefined : tokenizer.token_to_id(content);
  const named = (names: readonly string[]) => {
    for (const name of names) {
      const token = added.find((t) => t.content === name);
      if (token !== undefined) return token.id;
    }
    return undefined;
  };
  const template = (spec.post_processor as Json | null)?.single as Json[] | undefined;
  const templateBos = Array.isArray(template) && template.length > 0 && template[0].SpecialToken !== undefined
    ? ((template[0].SpecialToken as Json).id as string)
    : undefined;
  const bosId = idOf(tokenContent(settings.bos_token)) ?? idOf(templateBos) ?? named(BOS_NAMES);
  const eosId = idOf(tokenContent(settings.eos_token)) ?? named(EOS_NAMES);
  return {
    encode(text: string, options: HfEncodeOptions = {}): number[] {
      if (typeof text !== "string") throw new TypeError(`text: expected a string, received ${typeof text}`);
      const ids = text.length === 0 ? [] : tokenizer.encode(text, { add_special_tokens: false }).ids;
      const bad = ids.findIndex((id) => !Number.isInteger(id));
      if (bad >= 0) {
        throw new RangeError(
          `${source}: could not encode piece ${bad} of ${JSON.stringify(text)} (no unknown token)`,
        );
      }
      if (!(options.bos ?? false)) return ids;
      if (bosId === undefined) {
        throw new RangeError(`${source}: bos expected a beginning-of-sequence token, the tokenizer has none`);
      }
      return [bosId, ...ids];
    },
    decode(ids: readonly number[], options: HfDecodeOptions = {}): string {
      ids.forEach((id, i) => {
        if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
          throw new RangeError(`ids[${i}]: expected an integer in [0, ${vocabSize - 1}], received ${id}`);
        }
      });
      if (ids.length === 0) return "";
      return tokenizer.decode([...ids], {
        skip_special_tokens: !(options.special ?? false),
        clean_up_tokenization_spaces: false,
      });
    },
    bosId,
    eosId,
    vocabSize,
  };
}

/**
 * Loads a Hugging Face tokenizer: `path` is a `tokenizer.json` file or a
 * folder holding one; a `tokenizer_config.json` beside it, when present,
 * names the BOS and EOS tokens (see {@linkcode hfTokenizerFromJson}).
 *
 * @throws RangeError naming the file when it cannot be read; TypeError when
 *   it is not a tokenizer
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadHfTokenizer } from "./hf_tokenizer.ts";
 * await assert.rejects(() => loadHfTokenizer("no/such/tokenizer.json"), {
 *   message: /^no\/such\/tokenizer\.json: expected a Hugging Face tokenizer\.json/,
 * });
 * ```
 *
 * @example GPT-2 (a folder saved by `transformers`)
 * ```ts ignore
 * import { loadHfTokenizer } from "./hf_tokenizer.ts";
 * const tok = await loadHfTokenizer("models/gpt2");
 * tok.encode("Hello world", { bos: true }); // [50256, 15496, 995]
 * ```
 */
export async function loadHfTokenizer(path: string | URL): Promise<HfTokenizer> {
  let file = path instanceof URL ? decodeURIComponent(path.pathname) : path;
  try {
    if ((await Deno.stat(file)).isDirectory) file = `${file.replace(/\/+$/, "")}/tokenizer.json`;
  } catch {
    // Not found: reported below with the file's name.
  }
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    throw new RangeError(`${file}: expected a Hugging Face tokenizer.json, could not read it (${error})`);
  }
  const json = parseJsonFile(text, file);
  const configPath = file.replace(/[^/]*$/, "") + "tokenizer_config.json";
  let config: unknown = {};
  try {
    config = await readJsonFile(configPath);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return hfTokenizerFromJson(json, config, file);
}
