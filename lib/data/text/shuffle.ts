/**
 * A deterministic streaming shuffle: the buffer shuffle of Hugging Face's
 * `IterableDataset.shuffle(buffer_size)` (the original library's streaming
 * shuffle, buffer 1000), with a seed.
 *
 * The first `bufferSize` items fill a buffer. Then, for each further item, a
 * uniformly chosen buffer slot is emitted and the item takes its place. When
 * the input ends, the buffer is emitted in a random order (Fisher–Yates). An
 * item moves at most about `bufferSize` places earlier, and on average that
 * many later, so the order is only locally random: shuffle documents (or
 * windows) with a buffer much larger than the run of items that should mix.
 * The random draws come from `mulberry32(deriveSeed(seed, …))`, so the same
 * input and seed always give the same order, and a resumed run that replays
 * the input and skips `start` items sees exactly what it would have seen.
 *
 * @module
 */
import { deriveSeed, mulberry32 } from "../../seed.ts";
import { checkInteger, checkStart, type DocumentSource } from "./documents.ts";
import type { TokenWindow, TokenWindows } from "./windows.ts";

/** Options of the shuffles in this module. */
export type ShuffleOptions = {
  /** Items held at once, ≥ 1 (1 keeps the input order). */
  readonly bufferSize: number;
  readonly seed: number;
};

const SHUFFLE_STREAM = 0x5b0f;

function checkShuffle(options: ShuffleOptions): void {
  checkInteger("bufferSize", options.bufferSize, 1);
  if (!Number.isInteger(options.seed)) {
    throw new RangeError(`seed: expected an integer, received ${options.seed}`);
  }
}

/**
 * The items of `items` in a buffer-shuffled order (see the module
 * documentation).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { shuffleStream } from "./shuffle.ts";
 * async function* count(n: number) { for (let i = 0; i < n; i++) yield i; }
 * const out: number[] = [];
 * for await (const x of shuffleStream(count(10), { bufferSize: 4, seed: 1 })) out.push(x);
 * assert.equal([...out].sort((a, b) => a - b).join(), "0,1,2,3,4,5,6,7,8,9");
 * ```
 */
export async function* shuffleStream<T>(items: AsyncIterable<T>, options: ShuffleOptions): AsyncGenerator<T> {
  checkShuffle(options);
  const { bufferSize } = options;
  const uniform = mulberry32(deriveSeed(options.seed, SHUFFLE_STREAM));
  const buffer: T[] = [];
  for await (const item of items) {
    if (buffer.length < bufferSize) {
      buffer.push(item);
      continue;
    }
    const j = Math.floor(uniform() * bufferSize);
    const out = buffer[j];
    buffer[j] = item;
    yield out;
  }
  for (let i = buffer.length - 1; i > 0; i--) {
    const j = Math.floor(uniform() * (i + 1));
    [buffer[i], buffer[j]] = [buffer[j], buffer[i]];
  }
  yield* buffer;
}

async function* skip<T>(items: AsyncIterable<T>, n: number): AsyncGenerator<T> {
  let i = 0;
  for await (const item of items) {
    if (i++ >= n) yield item;
  }
}

/**
 * A source whose documents are those of `source`, buffer-shuffled.
 * `documents(start)` reads `source` from its first document and skips
 * `start` shuffled ones.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { arrayDocuments } from "./documents.ts";
 * import { shuffleDocuments } from "./shuffle.ts";
 * const source = shuffleDocuments(arrayDocuments(["a", "b", "c", "d", "e"]), { bufferSize: 3, seed: 7 });
 * const all: string[] = [];
 * for await (const doc of source.documents()) all.push(doc);
 * const tail: string[] = [];
 * for await (const doc of source.documents(2)) tail.push(doc);
 * assert.equal(tail.join(), all.slice(2).join());
 * ```
 */
export function shuffleDocuments<T>(source: DocumentSource<T>, options: ShuffleOptions): DocumentSource<T> {
  checkShuffle(options);
  return {
    async *documents(start = 0) {
      checkStart(start);
      yield* skip(shuffleStream(source.documents(0), options), start);
    },
  };
}

/**
 * Windows of `windows`, buffer-shuffled (so that consecutive windows come
 * from different places of the corpus). Position `k` is the `k`-th window of
 * the shuffled order; `windows(start)` replays and skips.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { arrayDocuments } from "./documents.ts";
 * import { shuffleWindows } from "./shuffle.ts";
 * import { tokenWindows } from "./windows.ts";
 * const plain = tokenWindows(arrayDocuments([[1, 2, 3, 4, 5, 6, 7, 8]]), { contextSize: 2, prependBos: false, separator: "none" });
 * const shuffled = shuffleWindows(plain, { bufferSize: 4, seed: 3 });
 * const firsts: number[] = [];
 * for await (const w of shuffled.windows()) firsts.push(w[0]);
 * assert.equal([...firsts].sort((a, b) => a - b).join(), "1,3,5,7");
 * ```
 */
export function shuffleWindows(windows: TokenWindows, options: ShuffleOptions): TokenWindows {
  checkShuffle(options);
  async function* windowsWithLength(start = 0): AsyncGenerator<TokenWindow> {
    checkStart(start);
    yield* skip(shuffleStream(windows.windowsWithLength(0), options), start);
  }
  return {
    contextSize: windows.contextSize,
    windowsWithLength,
    async *windows(start = 0) {
      for await (const w of windowsWithLength(start)) yield w.tokens;
    },
  };
}
