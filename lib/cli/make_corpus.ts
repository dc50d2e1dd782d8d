/**
 * The command line of `deno task make-corpus`: writes the embedded training text,
 * lib/models/stories260k/stories.jsonl, by sampling stories from stories260K
 * itself (there is no TinyStories text that the project can ship). Each
 * story starts at BOS and ends at the next BOS or EOS, or after `--max-tokens`.
 *
 *   deno task make-corpus [--stories 2000] [--batch 100] [--max-tokens 256] [--temperature 1] [--seed 260]
 *
 * See `deno task make-corpus --help`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { BACKEND_NAMES, type BackendName } from "../backends/names.ts";
import { selectBackend } from "../backends/select.ts";
import { type CommandHelp, type FlagTable, formatHelp } from "./help.ts";
import { sampleGenerate } from "../models/generate.ts";
import { decodeTokens, loadStories260k } from "../models/load/llama2c.ts";
import { deriveSeed } from "../seed.ts";

const MAKE_CORPUS_FLAGS = {
  stories: { type: "string", default: "2000", value: "N", description: "Stories to sample" },
  batch: {
    type: "string",
    default: "100",
    value: "N",
    description: "Stories sampled together per forward pass",
  },
  "max-tokens": {
    type: "string",
    default: "256",
    value: "N",
    description: "Most tokens per story, when no BOS or EOS ends it sooner",
  },
  temperature: { type: "string", default: "1", value: "T", description: "Sampling temperature" },
  seed: {
    type: "string",
    default: "260",
    value: "S",
    description: "Seed of the sampling (each batch derives its own from it)",
  },
  backend: {
    type: "string",
    default: "wasm",
    value: "NAME",
    choices: BACKEND_NAMES,
    description: "tfjs backend",
  },
  out: {
    type: "string",
    default: new URL("../models/stories260k/stories.jsonl", import.meta.url).pathname,
    value: "FILE",
    description: 'JSONL file to write, one {"text": …} object per story',
    defaultText: "lib/models/stories260k/stories.jsonl",
  },
  help: { type: "boolean", short: "h", description: "Print this help and exit" },
} as const satisfies FlagTable;

/**
 * The help of `deno task make-corpus`, with the flags it parses.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatHelp } from "./help.ts";
 * import { MAKE_CORPUS_HELP } from "./make_corpus.ts";
 * assert.match(formatHelp(MAKE_CORPUS_HELP), /--max-tokens N +Most tokens per story/);
 * ```
 */
export const MAKE_CORPUS_HELP: CommandHelp = {
  usage: [
    "deno task make-corpus [--stories N] [--batch N] [--max-tokens N] [--temperature T] [--seed S]",
    "                      [--backend NAME] [--out FILE]",
  ],
  about: [
    "Writes the embedded training text by sampling stories from stories260K itself (there is no TinyStories " +
    "text that the project can ship). Each story starts at BOS and ends at the next BOS or EOS, or after " +
    "--max-tokens.",
  ],
  groups: [{ title: "Options", flags: MAKE_CORPUS_FLAGS }],
};

/** Entry point of `tasks/make_corpus.ts`: samples the stories and writes them. */
export async function main(args: readonly string[]): Promise<void> {
  const { values } = parseArgs({ args: [...args], options: MAKE_CORPUS_FLAGS });
  if (values.help) {
    console.log(formatHelp(MAKE_CORPUS_HELP).trimEnd());
    return;
  }
  const stories = Number(values.stories),
    batch = Number(values.batch),
    maxTokens = Number(values["max-tokens"]);
  const temperature = Number(values.temperature), seed = Number(values.seed);
  const backend = await selectBackend(values.backend as BackendName);
  const { model, tokenizer } = await loadStories260k();
  const lines: string[] = [];
  let tokensWritten = 0;
  const started = performance.now();
  for (let b = 0; lines.length < stories; b++) {
    const rows = Math.min(batch, stories - lines.length);
    const prompt = Array.from({ length: rows }, () => [1]);
    const ids = sampleGenerate(model.weights, model.config, prompt, maxTokens, {
      temperature,
      seed: deriveSeed(seed, b),
    });
    const all = (await ids.array()) as number[][];
    ids.dispose();
    for (const row of all) {
      const body = row.slice(1);
      const end = body.findIndex((t) => t === 1 || t === 2);
      const story = end === -1 ? body : body.slice(0, end);
      tokensWritten += story.length;
      lines.push(JSON.stringify({ text: decodeTokens(tokenizer, [1, ...story]).trim() }));
    }
    console.error(
      `${lines.length}/${stories} stories, ${tokensWritten} tokens, ${
        ((performance.now() - started) / 1000).toFixed(0)
      } s`,
    );
  }
  await Deno.writeTextFile(values.out, lines.join("\n") + "\n");
  console.error(
    `make-corpus: wrote ${values.out}: ${lines.length} stories, ${tokensWritten} tokens (backend ${backend.name}, temperature ${temperature}, seed ${seed})`,
  );
}
