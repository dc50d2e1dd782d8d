/**
 * `deno task make-corpus`: writes the embedded training text,
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
import { main } from "../lib/cli/make_corpus.ts";

if (import.meta.main) await main(Deno.args);
