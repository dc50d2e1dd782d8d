/**
 * `deno task make-corpus`: writes the embedded training text,
 * lib/models/stories260k/stories.jsonl, by sampling stories from stories260K
 * itself (there is no TinyStories text that the project can ship). Each
 * story starts at BOS and ends at the next BOS or EOS, or after `--max-tokens`.
 *
 *   deno task make-corpus [--stories 2000] [--batch 100] [--max-tokens 256] [--temperature 1] [--seed 260]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type BackendName, selectBackend } from "../lib/tf.ts";
import { sampleGenerate } from "../lib/models/generate.ts";
import { decodeTokens, loadStories260k } from "../lib/models/load/llama2c.ts";
import { deriveSeed } from "../lib/seed.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    stories: { type: "string", default: "2000" },
    batch: { type: "string", default: "100" },
    "max-tokens": { type: "string", default: "256" },
    temperature: { type: "string", default: "1" },
    seed: { type: "string", default: "260" },
    backend: { type: "string", default: "wasm" },
    out: {
      type: "string",
      default: new URL("../lib/models/stories260k/stories.jsonl", import.meta.url).pathname,
    },
  },
});
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
