/**
 * Loading a language model and its tokenizer by name or path, as the
 * `--model` flag takes them.
 *
 * @module
 */
import { hookedGpt2, hookedGptNeox, hookedLlama, type HookedModel } from "../hooked.ts";
import { loadHfGpt2 } from "./hf_gpt2.ts";
import { loadHfGptNeox } from "./hf_gpt_neox.ts";
import { loadHfTokenizer } from "./hf_tokenizer.ts";
import {
  decodeTokens,
  encodeText,
  type Llama2cTokenizer,
  loadStories260k,
  readLlama2c,
  readLlama2cTokenizer,
} from "./llama2c.ts";
import { loadHfLlama } from "./hf_llama.ts";
import { exists, readJsonFile } from "../../io/files.ts";
import { downloadHubModel, type DownloadHubModelOptions, isHubModelId } from "./hub.ts";

/** What the data pipeline needs of a tokenizer. */
export type TextTokenizer = {
  /** Token ids of a text; `bos` prepends the beginning-of-sequence id. */
  encode(text: string, options?: { readonly bos?: boolean }): number[];
  decode(ids: readonly number[]): string;
  readonly bosId: number | undefined;
  readonly eosId: number | undefined;
  readonly vocabSize: number;
};

/** A model, its tokenizer and a short description of where they came from. */
export type LoadedModel = {
  readonly model: HookedModel;
  readonly tokenizer: TextTokenizer;
  readonly description: string;
};

/**
 * The text shipped for the built-in model: 2000 stories sampled from
 * stories260K itself (`deno task make-corpus`), as JSONL with a `text` field.
 */
export const BUILTIN_CORPUS_URL: URL = new URL("../stories260k/stories.jsonl", import.meta.url);

/** The name of the model shipped with saekit. */
export const BUILTIN_MODEL = "stories260k";

/** A llama2.c tokenizer as a {@linkcode TextTokenizer}. */
export function llama2cTextTokenizer(tokenizer: Llama2cTokenizer): TextTokenizer {
  return {
    encode: (text, options = {}) => encodeText(tokenizer, text, { bos: options.bos ?? false }),
    decode: (ids) => decodeTokens(tokenizer, ids),
    bosId: tokenizer.bos,
    eosId: tokenizer.eos,
    vocabSize: tokenizer.pieces.length,
  };
}

/**
 * Loads a model and its tokenizer:
 * - `stories260k`: the model shipped with saekit (llama2.c's stories260K);
 * - a llama2.c checkpoint `*.bin`, with `tokenizer` or, beside it, `tok<N>.bin` or `tokenizer.bin`;
 * - a Hugging Face folder (`config.json`, safetensors weights, `tokenizer.json`);
 * - a Hugging Face model id `owner/name[@revision]`, downloaded into the cache
 *   (see `downloadHubModel`) when it is not a local path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadModel } from "./model.ts";
 * const { model, tokenizer } = await loadModel("stories260k");
 * assert.equal(model.hookDim("blocks.4.hook_resid_post"), 64);
 * assert.equal(tokenizer.bosId, 1);
 * ```
 */
export async function loadModel(
  spec: string,
  tokenizerPath?: string,
  options: DownloadHubModelOptions = {},
): Promise<LoadedModel> {
  if (spec === BUILTIN_MODEL) {
    const { model, tokenizer } = await loadStories260k();
    return {
      model: hookedLlama(model),
      tokenizer: llama2cTextTokenizer(tokenizer),
      description: "stories260K (llama2.c, shipped with saekit)",
    };
  }
  let hubId: string | undefined;
  if (isHubModelId(spec)) {
    hubId = spec;
    spec = await downloadHubModel(spec, options);
  }
  if (!(await exists(spec))) {
    throw new Error(
      `--model: expected "${BUILTIN_MODEL}", a llama2.c .bin file, a Hugging Face model folder or id, received ${
        JSON.stringify(spec)
      } (not found)`,
    );
  }
  const stat = await Deno.stat(spec);
  if (stat.isFile) {
    const model = await readLlama2c(spec);
    const dir = spec.replace(/[^/]*$/, "") || "./";
    const candidates = tokenizerPath !== undefined
      ? [tokenizerPath]
      : [`${dir}tok${model.config.vocabSize}.bin`, `${dir}tokenizer.bin`];
    for (const path of candidates) {
      if (await exists(path)) {
        const tokenizer = await readLlama2cTokenizer(path, model.config.vocabSize);
        return {
          model: hookedLlama(model),
          tokenizer: llama2cTextTokenizer(tokenizer),
          description: `${spec} (llama2.c) with ${path}`,
        };
      }
    }
    throw new Error(
      `--model ${spec}: expected a llama2.c tokenizer at ${candidates.join(" or ")}, found none`,
    );
  }
  const configPath = `${spec}/config.json`;
  if (!(await exists(configPath))) {
    throw new Error(`--model ${spec}: expected a Hugging Face folder with config.json, which is missing`);
  }
  const config = await readJsonFile(configPath, "a Hugging Face config.json");
  if (config === null || typeof config !== "object" || Array.isArray(config)) {
    throw new TypeError(`${configPath}: expected a JSON object, received ${JSON.stringify(config)}`);
  }
  const modelType = (config as { model_type?: unknown }).model_type;
  if (modelType === "llama") {
    const model = await loadHfLlama(spec);
    return {
      model: hookedLlama(model),
      tokenizer: await loadHfTokenizer(spec),
      description: `${hubId ?? spec} (Hugging Face llama)`,
    };
  }
  if (modelType === "gpt2") {
    return {
      model: hookedGpt2(await loadHfGpt2(spec)),
      tokenizer: await loadHfTokenizer(spec),
      description: `${hubId ?? spec} (Hugging Face gpt2)`,
    };
  }
  if (modelType === "gpt_neox") {
    return {
      model: hookedGptNeox(await loadHfGptNeox(spec)),
      tokenizer: await loadHfTokenizer(spec),
      description: `${hubId ?? spec} (Hugging Face gpt_neox)`,
    };
  }
  throw new TypeError(
    `--model ${spec}: model_type expected one of llama, gpt2, gpt_neox, received ${
      JSON.stringify(modelType)
    } in ${configPath}`,
  );
}
