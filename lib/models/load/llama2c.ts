/**
 * llama2.c's files: the "legacy" checkpoint (`run.c`'s format) and its
 * tokenizer (`tokenizer.bin`, e.g. `tok512.bin`), plus the embedded default
 * model, stories260K.
 *
 * Checkpoint: 7 little-endian int32 (`dim, hidden_dim, n_layers, n_heads,
 * n_kv_heads, vocab_size, seq_len`; a negative `vocab_size` means a separate
 * classifier follows), then float32 arrays in this order, each stacked over
 * layers where it has a layer axis and each matrix `[out, in]` row-major:
 * `token_embedding [vocab, dim]`, `rms_att [layer, dim]`, `wq`, `wk`, `wv`,
 * `wo`, `rms_ffn`, `w1`, `w2`, `w3`, `rms_final [dim]`, `freq_cis_real` and
 * `freq_cis_imag` (`[seq_len, head_size/2]`, unused: the rotation is
 * recomputed), then `wcls [vocab, dim]` when not shared.
 *
 * Tokenizer: int32 `max_token_length`, then per token a float32 score, an
 * int32 byte length and the UTF-8 bytes.
 *
 * @module
 */
import { tf, tidy } from "../../tf.ts";
import { assertFiniteValues } from "../../train/finite.ts";
import {
  checkLlamaWeights,
  type LlamaBlockWeights,
  type LlamaConfig,
  type LlamaModel,
} from "../transformer.ts";

const HEADER_FIELDS = [
  "dim",
  "hidden_dim",
  "n_layers",
  "n_heads",
  "n_kv_heads",
  "vocab_size",
  "seq_len",
] as const;
const HEADER_BYTES = HEADER_FIELDS.length * 4;
const VERSIONED_MAGIC = 0x616b3432; // "ak42", llama2.c's export format version ≥ 1

/** The header of a llama2.c legacy checkpoint, as stored. */
export type Llama2cHeader = {
  readonly dim: number;
  readonly hiddenDim: number;
  readonly nLayers: number;
  readonly nHeads: number;
  readonly nKvHeads: number;
  /** Absolute value of the stored `vocab_size`. */
  readonly vocabSize: number;
  readonly seqLen: number;
  /** Whether the classifier is the embedding (stored `vocab_size > 0`). */
  readonly sharedClassifier: boolean;
};

type Section = { readonly name: string; readonly shape: readonly number[] };

function sections(h: Llama2cHeader): Section[] {
  const headSize = h.dim / h.nHeads;
  const kvDim = h.nKvHeads * headSize;
  const list: Section[] = [
    { name: "token_embedding", shape: [h.vocabSize, h.dim] },
    { name: "rms_att", shape: [h.nLayers, h.dim] },
    { name: "wq", shape: [h.nLayers, h.dim, h.dim] },
    { name: "wk", shape: [h.nLayers, kvDim, h.dim] },
    { name: "wv", shape: [h.nLayers, kvDim, h.dim] },
    { name: "wo", shape: [h.nLayers, h.dim, h.dim] },
    { name: "rms_ffn", shape: [h.nLayers, h.dim] },
    { name: "w1", shape: [h.nLayers, h.hiddenDim, h.dim] },
    { name: "w2", shape: [h.nLayers, h.dim, h.hiddenDim] },
    { name: "w3", shape: [h.nLayers, h.hiddenDim, h.dim] },
    { name: "rms_final", shape: [h.dim] },
    { name: "freq_cis_real", shape: [h.seqLen, headSize / 2] },
    { name: "freq_cis_imag", shape: [h.seqLen, headSize / 2] },
  ];
  if (!h.sharedClassifier) list.push({ name: "wcls", shape: [h.vocabSize, h.dim] });
  return list;
}

const count = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * Reads and checks the header of a llama2.c legacy checkpoint.
 *
 * @param source names the file in messages
 * @throws RangeError naming the field, with expected and received values
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeLlama2cHeader } from "./llama2c.ts";
 * const bytes = new Uint8Array(new Int32Array([64, 172, 5, 8, 4, 512, 512]).buffer);
 * const h = decodeLlama2cHeader(bytes);
 * assert.equal(h.dim, 64);
 * assert.equal(h.nKvHeads, 4);
 * assert.ok(h.sharedClassifier);
 * ```
 */
export function decodeLlama2cHeader(bytes: Uint8Array, source = "llama2.c checkpoint"): Llama2cHeader {
  if (bytes.length < HEADER_BYTES) {
    throw new RangeError(
      `${source}: expected a header of ${HEADER_BYTES} bytes (7 int32: ${
        HEADER_FIELDS.join(", ")
      }), received a file of ${bytes.length} bytes`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) === VERSIONED_MAGIC) {
    throw new RangeError(
      `${source}: expected a legacy (version 0) llama2.c checkpoint, received the versioned export format (magic "ak42"); export with --version 0`,
    );
  }
  const raw = HEADER_FIELDS.map((_, i) => view.getInt32(4 * i, true));
  HEADER_FIELDS.forEach((field, i) => {
    const value = field === "vocab_size" ? Math.abs(raw[i]) : raw[i];
    if (value < 1) {
      throw new RangeError(
        `${source}: header field ${field} expected a positive integer, received ${raw[i]}`,
      );
    }
  });
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, vocab, seqLen] = raw;
  if (dim % nHeads !== 0) {
    throw new RangeError(
      `${source}: header field n_heads expected a divisor of dim (${dim}), received ${nHeads}`,
    );
  }
  if (nKvHeads > nHeads || nHeads % nKvHeads !== 0) {
    throw new RangeError(
      `${source}: header field n_kv_heads expected a divisor of n_heads (${nHeads}), received ${nKvHeads}`,
    );
  }
  if ((dim / nHeads) % 2 !== 0) {
    throw new RangeError(
      `${source}: header fields dim / n_heads expected an even head size, received ${dim} / ${nHeads}`,
    );
  }
  return {
    dim,
    hiddenDim,
    nLayers,
    nHeads,
    nKvHeads,
    vocabSize: Math.abs(vocab),
    seqLen,
    sharedClassifier: vocab > 0,
  };
}

/**
 * The {@linkcode LlamaConfig} of a llama2.c checkpoint: RMSNorm ε 1e-5, RoPE
 * θ 10000, interleaved rotary pairs (all fixed in `run.c`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { llama2cConfig } from "./llama2c.ts";
 * const c = llama2cConfig({
 *   dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, vocabSize: 512, seqLen: 512,
 *   sharedClassifier: true,
 * });
 * assert.equal(c.dHead, 8);
 * assert.equal(c.rotary, "interleaved");
 * assert.ok(c.tiedEmbeddings);
 * ```
 */
export function llama2cConfig(h: Llama2cHeader): LlamaConfig {
  return {
    dModel: h.dim,
    nLayers: h.nLayers,
    nHeads: h.nHeads,
    nKvHeads: h.nKvHeads,
    dHead: h.dim / h.nHeads,
    dMlp: h.hiddenDim,
    vocabSize: h.vocabSize,
    maxSeq: h.seqLen,
    normEps: 1e-5,
    ropeTheta: 10000,
    rotary: "interleaved",
    tiedEmbeddings: h.sharedClassifier,
  };
}

/**
 * Decodes a llama2.c legacy checkpoint into a configuration and weights
 * (matrices transposed to `[in, out]`). The file's length must be exactly
 * what the header implies.
 *
 * @param source names the file in messages
 * @throws RangeError naming the header field, or the tensor that runs past
 *   the end of the file, with expected and received sizes
 *
 * @example A one-layer model built by hand
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeLlama2c } from "./llama2c.ts";
 * // dim 2, hidden 2, 1 layer, 1 head, 1 kv head, vocab 3 (shared), seq 2
 * const header = [2, 2, 1, 1, 1, 3, 2];
 * const floats = 3 * 2 + 2 + 4 * 4 + 2 + 3 * 4 + 2 + 2 * 2 * 1; // ... + rms_final + freq tables
 * const bytes = new Uint8Array(28 + 4 * floats);
 * bytes.set(new Uint8Array(new Int32Array(header).buffer));
 * const { config, weights } = decodeLlama2c(bytes);
 * assert.equal(config.dModel, 2);
 * assert.equal(weights.blocks.length, 1);
 * assert.equal(weights.unembed.shape.join(), "2,3");
 * ```
 */
export function decodeLlama2c(bytes: Uint8Array, source = "llama2.c checkpoint"): LlamaModel {
  const header = decodeLlama2cHeader(bytes, source);
  const list = sections(header);
  let offset = HEADER_BYTES;
  const at: Record<string, number> = {};
  for (const { name, shape } of list) {
    const size = 4 * count(shape);
    if (offset + size > bytes.length) {
      const missing = offset + size - bytes.length;
      throw new RangeError(
        `${source}: tensor ${name} [${shape.join(", ")}] expected bytes ${offset}..${
          offset + size
        }, received a file of ${bytes.length} bytes (${missing} missing; expected ${
          HEADER_BYTES + 4 * list.reduce((a, s) => a + count(s.shape), 0)
        } bytes in all for this header)`,
      );
    }
    at[name] = offset;
    offset += size;
  }
  if (offset !== bytes.length) {
    throw new RangeError(
      `${source}: expected ${offset} bytes for this header (${
        header.sharedClassifier ? "shared" : "separate"
      } classifier), received ${bytes.length} (${
        bytes.length - offset
      } bytes after rms_final and the freq_cis tables)`,
    );
  }
  // One aligned copy of the float data (the header is 28 bytes, so views may be misaligned).
  const floats = new Float32Array(bytes.slice(HEADER_BYTES).buffer);
  const read = (name: string): Float32Array => {
    const shape = list.find((s) => s.name === name)!.shape;
    const start = (at[name] - HEADER_BYTES) / 4;
    const values = floats.subarray(start, start + count(shape));
    assertFiniteValues(values, `${source}: tensor "${name}"`);
    return values;
  };
  const config = llama2cConfig(header);
  const { dim: d, nLayers, hiddenDim, nKvHeads, nHeads } = header;
  const kvDim = (nKvHeads * d) / nHeads;
  const weights = tidy(() => {
    /** Stacked `[layer, out, in]` as stored → per layer `[in, out]`. */
    const perLayer = (name: string, out: number, inp: number) =>
      tf.unstack(tf.transpose(tf.tensor3d(read(name), [nLayers, out, inp]), [0, 2, 1])) as tf.Tensor2D[];
    const gains = (name: string) => tf.unstack(tf.tensor2d(read(name), [nLayers, d])) as tf.Tensor1D[];
    const ln1 = gains("rms_att");
    const ln2 = gains("rms_ffn");
    const wQ = perLayer("wq", d, d);
    const wK = perLayer("wk", kvDim, d);
    const wV = perLayer("wv", kvDim, d);
    const wO = perLayer("wo", d, d);
    const wGate = perLayer("w1", hiddenDim, d);
    const wDown = perLayer("w2", d, hiddenDim);
    const wUp = perLayer("w3", hiddenDim, d);
    const blocks: LlamaBlockWeights[] = [];
    for (let l = 0; l < nLayers; l++) {
      blocks.push({
        ln1: ln1[l],
        wQ: wQ[l],
        wK: wK[l],
        wV: wV[l],
        wO: wO[l],
        ln2: ln2[l],
        wGate: wGate[l],
        wUp: wUp[l],
        wDown: wDown[l],
      });
    }
    const embed = tf.tensor2d(read("token_embedding"), [header.vocabSize, d]);
    const classifier = header.sharedClassifier ? embed : tf.tensor2d(read("wcls"), [header.vocabSize, d]);
    return {
      embed,
      blocks,
      lnFinal: tf.tensor1d(read("rms_final")),
      unembed: tf.transpose(classifier) as tf.Tensor2D,
    };
  });
  checkLlamaWeights(weights, config, source);
  return { config, weights };
}

async function readBytes(path: string | URL): Promise<Uint8Array> {
  if (path instanceof URL && path.protocol !== "file:") {
    const response = await fetch(path);
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status} ${response.statusText}`);
    return new Uint8Array(await response.arrayBuffer());
  }
  return await Deno.readFile(path);
}

/**
 * Reads a llama2.c legacy checkpoint (a path, a `file:` URL or an `https:` URL).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readLlama2c, STORIES260K_URL } from "./llama2c.ts";
 * const { config } = await readLlama2c(STORIES260K_URL);
 * assert.equal(config.nLayers, 5);
 * assert.equal(config.vocabSize, 512);
 * ```
 */
export async function readLlama2c(path: string | URL): Promise<LlamaModel> {
  return decodeLlama2c(await readBytes(path), String(path));
}

/** A llama2.c tokenizer: SentencePiece-style BPE by piece scores, with byte fallback. */
export type Llama2cTokenizer = {
  /** Longest piece in bytes, as stored. */
  readonly maxTokenLength: number;
  /** The bytes of each piece, by id. */
  readonly pieces: readonly Uint8Array[];
  /** Merge priority of each piece (higher merges first), by id. */
  readonly scores: Float32Array;
  /** Id of each piece, keyed by its bytes as a binary string (one char per byte). */
  readonly ids: ReadonlyMap<string, number>;
  /** Beginning of sequence, 1. */
  readonly bos: number;
  /** End of sequence, 2. */
  readonly eos: number;
};

const binary = (bytes: Uint8Array): string => String.fromCharCode(...bytes);

/**
 * Decodes a llama2.c tokenizer file.
 *
 * @param vocabSize when given, the number of pieces the file must hold
 * @param source names the file in messages
 * @throws RangeError naming the token whose record runs past the end
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeLlama2cTokenizer } from "./llama2c.ts";
 * // max_token_length 2; pieces "a" (score 0) and "ab" (score -1)
 * const f32 = (x: number) => new Uint8Array(new Float32Array([x]).buffer);
 * const i32 = (x: number) => new Uint8Array(new Int32Array([x]).buffer);
 * const bytes = new Uint8Array([...i32(2), ...f32(0), ...i32(1), 97, ...f32(-1), ...i32(2), 97, 98]);
 * const tok = decodeLlama2cTokenizer(bytes);
 * assert.equal(tok.pieces.length, 2);
 * assert.equal(tok.ids.get("ab"), 1);
 * ```
 */
export function decodeLlama2cTokenizer(
  bytes: Uint8Array,
  vocabSize?: number,
  source = "llama2.c tokenizer",
): Llama2cTokenizer {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 4) {
    throw new RangeError(`${source}: expected at least 4 bytes (max_token_length), received ${bytes.length}`);
  }
  const maxTokenLength = view.getInt32(0, true);
  if (maxTokenLength < 1) {
    throw new RangeError(
      `${source}: max_token_length expected a positive integer, received ${maxTokenLength}`,
    );
  }
  const pieces: Uint8Array[] = [];
  const scores: number[] = [];
  let offset = 4;
  while (offset < bytes.length && (vocabSize === undefined || pieces.length < vocabSize)) {
    const id = pieces.length;
    if (offset + 8 > bytes.length) {
      throw new RangeError(
        `${source}: token ${id} expected 8 bytes of score and length at byte ${offset}, received ${
          bytes.length - offset
        }`,
      );
    }
    const score = view.getFloat32(offset, true);
    const length = view.getInt32(offset + 4, true);
    offset += 8;
    if (length < 0 || length > maxTokenLength || offset + length > bytes.length) {
      throw new RangeError(
        `${source}: token ${id} expected a length in [0, ${
          Math.min(maxTokenLength, bytes.length - offset)
        }] (max_token_length, bytes left), received ${length}`,
      );
    }
    pieces.push(bytes.slice(offset, offset + length));
    scores.push(score);
    offset += length;
  }
  if (vocabSize !== undefined && pieces.length !== vocabSize) {
    throw new RangeError(`${source}: expected ${vocabSize} tokens (vocabSize), received ${pieces.length}`);
  }
  if (offset !== bytes.length) {
    throw new RangeError(
      `${source}: expected ${offset} bytes for ${pieces.length} tokens, received ${bytes.length}`,
    );
  }
  const ids = new Map<string, number>();
  pieces.forEach((piece, id) => {
    const key = binary(piece);
    if (!ids.has(key)) ids.set(key, id);
  });
  return { maxTokenLength, pieces, scores: Float32Array.from(scores), ids, bos: 1, eos: 2 };
}

/**
 * Reads a llama2.c tokenizer file (a path, a `file:` URL or an `https:` URL).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readLlama2cTokenizer, STORIES260K_TOKENIZER_URL } from "./llama2c.ts";
 * const tok = await readLlama2cTokenizer(STORIES260K_TOKENIZER_URL, 512);
 * assert.equal(tok.pieces.length, 512);
 * ```
 */
export async function readLlama2cTokenizer(
  path: string | URL,
  vocabSize?: number,
): Promise<Llama2cTokenizer> {
  return decodeLlama2cTokenizer(await readBytes(path), vocabSize, String(path));
}

/** Options of {@linkcode encodeText}. */
export type EncodeTextOptions = {
  /** Prepend the BOS id (default true, as `run.c` does for a prompt). */
  readonly bos?: boolean;
  /** Append the EOS id (default false). */
  readonly eos?: boolean;
};

/** A candidate merge of the adjacent symbols at `left` and `right`. */
type Candidate = {
  readonly score: number;
  readonly left: number;
  readonly right: number;
  /** Id of the merged piece. */
  readonly id: number;
  /** Versions of the two symbols when queued; a merge bumps a symbol's version. */
  readonly leftVersion: number;
  readonly rightVersion: number;
};

/** A binary heap of candidate merges, best (highest score, then leftmost) first. */
class MergeQueue {
  #items: Candidate[] = [];
  get size(): number {
    return this.#items.length;
  }
  #before(a: number, b: number): boolean {
    const x = this.#items[a];
    const y = this.#items[b];
    return x.score > y.score || (x.score === y.score && x.left < y.left);
  }
  #swap(a: number, b: number): void {
    [this.#items[a], this.#items[b]] = [this.#items[b], this.#items[a]];
  }
  push(item: Candidate): void {
    this.#items.push(item);
    let i = this.#items.length - 1;
    while (i > 0 && this.#before(i, (i - 1) >> 1)) {
      this.#swap(i, (i - 1) >> 1);
      i = (i - 1) >> 1;
    }
  }
  pop(): Candidate {
    const items = this.#items;
    const top = items[0];
    const last = items.pop()!;
    if (items.length > 0) {
      items[0] = last;
      for (let i = 0;;) {
        let best = i;
        for (const child of [2 * i + 1, 2 * i + 2]) {
          if (child < items.length && this.#before(child, best)) best = child;
        }
        if (best === i) break;
        this.#swap(i, best);
        i = best;
      }
    }
    return top;
  }
}

/**
 * Encodes text as `run.c` does: a dummy space is prepended (to non-empty
 * text), each UTF-8 character becomes its piece or, when the vocabulary
 * lacks it, one byte token per byte (`<0xNN>` = id `NN + 3`); then adjacent
 * pieces are merged, always the pair whose merged piece has the highest score
 * (the leftmost such pair on a tie), until no pair merges. O(n log n).
 *
 * @returns token ids, with BOS first unless `bos: false`
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeText, readLlama2cTokenizer, STORIES260K_TOKENIZER_URL } from "./llama2c.ts";
 * const tok = await readLlama2cTokenizer(STORIES260K_TOKENIZER_URL);
 * const ids = encodeText(tok, "Once upon a time");
 * assert.equal(ids[0], 1);
 * assert.equal(tok.pieces[ids[1]][0], 32); // BOS, then " Once..."
 * ```
 */
export function encodeText(
  tokenizer: Llama2cTokenizer,
  text: string,
  options: EncodeTextOptions = {},
): number[] {
  const { ids: lookup, scores, pieces } = tokenizer;
  const utf8 = new TextEncoder().encode(text);
  // Symbols as a doubly linked list over their positions; ids[i] < 0 marks a merged-away symbol.
  const ids: number[] = [];
  if (utf8.length > 0) {
    const space = lookup.get(" ");
    if (space === undefined) {
      throw new RangeError(`tokenizer: expected a piece " " for the dummy prefix, found none`);
    }
    ids.push(space);
  }
  for (let i = 0; i < utf8.length;) {
    let end = i + 1;
    while (end < utf8.length && end - i < 4 && (utf8[end] & 0xc0) === 0x80) end++;
    const id = lookup.get(binary(utf8.subarray(i, end)));
    if (id !== undefined) ids.push(id);
    else for (let j = i; j < end; j++) ids.push(utf8[j] + 3);
    i = end;
  }
  const n = ids.length;
  const next = Array.from({ length: n }, (_, i) => i + 1);
  const prev = Array.from({ length: n }, (_, i) => i - 1);
  const version = new Array<number>(n).fill(0);
  const queue = new MergeQueue();
  const consider = (left: number) => {
    const right = next[left];
    if (left < 0 || right >= n) return;
    const id = lookup.get(binary(pieces[ids[left]]) + binary(pieces[ids[right]]));
    if (id === undefined) return;
    queue.push({
      score: scores[id],
      left,
      right,
      id,
      leftVersion: version[left],
      rightVersion: version[right],
    });
  };
  for (let i = 0; i + 1 < n; i++) consider(i);
  while (queue.size > 0) {
    const { left, right, id, leftVersion, rightVersion } = queue.pop();
    // Stale when either symbol was merged away or has changed since the pair was queued.
    if (
      ids[left] < 0 || ids[right] < 0 || next[left] !== right || version[left] !== leftVersion ||
      version[right] !== rightVersion
    ) continue;
    ids[left] = id;
    ids[right] = -1;
    version[left]++;
    next[left] = next[right];
    if (next[right] < n) prev[next[right]] = left;
    if (prev[left] >= 0) consider(prev[left]);
    consider(left);
  }
  const out: number[] = [];
  if (options.bos ?? true) out.push(tokenizer.bos);
  for (let i = 0; i < n; i = next[i]) out.push(ids[i]);
  if (options.eos ?? false) out.push(tokenizer.eos);
  return out;
}

/**
 * Decodes ids to text as `run.c` prints them: BOS and EOS print nothing, a
 * `<0xNN>` piece is the byte `NN`, and the leading space of the first piece
 * (of the sequence, or after a BOS) is dropped, so that
 * `decodeTokens(t, encodeText(t, s)) === s`. The bytes are read as UTF-8.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeTokens, encodeText, readLlama2cTokenizer, STORIES260K_TOKENIZER_URL } from "./llama2c.ts";
 * const tok = await readLlama2cTokenizer(STORIES260K_TOKENIZER_URL);
 * assert.equal(decodeTokens(tok, encodeText(tok, "Lily saw a cat. ☃")), "Lily saw a cat. ☃");
 * ```
 */
export function decodeTokens(tokenizer: Llama2cTokenizer, ids: readonly number[]): string {
  const out: number[] = [];
  let atStart = true;
  ids.forEach((id, i) => {
    if (!Number.isInteger(id) || id < 0 || id >= tokenizer.pieces.length) {
      throw new RangeError(
        `ids[${i}]: expected an integer in [0, ${tokenizer.pieces.length - 1}], received ${id}`,
      );
    }
    if (id === tokenizer.bos || id === tokenizer.eos) {
      atStart = id === tokenizer.bos;
      return;
    }
    let piece = tokenizer.pieces[id];
    if (atStart && piece[0] === 0x20) piece = piece.subarray(1);
    atStart = false;
    const byte = /^<0x([0-9A-Fa-f]{2})>$/.exec(binary(piece));
    if (byte !== null) out.push(parseInt(byte[1], 16));
    else for (const b of piece) out.push(b);
  });
  return new TextDecoder().decode(new Uint8Array(out));
}

/**
 * The embedded default model, llama2.c's stories260K (MIT), as a URL next to this module.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { STORIES260K_URL } from "./llama2c.ts";
 * assert.ok(STORIES260K_URL.pathname.endsWith("models/stories260k/stories260K.bin"));
 * ```
 */
export const STORIES260K_URL: URL = new URL("../stories260k/stories260K.bin", import.meta.url);

/**
 * The tokenizer of the embedded default model (512 pieces).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { STORIES260K_TOKENIZER_URL } from "./llama2c.ts";
 * assert.ok(STORIES260K_TOKENIZER_URL.pathname.endsWith("models/stories260k/tok512.bin"));
 * ```
 */
export const STORIES260K_TOKENIZER_URL: URL = new URL("../stories260k/tok512.bin", import.meta.url);

/**
 * Loads the embedded default model and its tokenizer (no download when the
 * package is local).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeTokens, loadStories260k } from "./llama2c.ts";
 * const { model, tokenizer } = await loadStories260k();
 * assert.equal(model.config.dModel, 64);
 * assert.equal(decodeTokens(tokenizer, [1, 403]), "Once");
 * ```
 */
export async function loadStories260k(): Promise<{ model: LlamaModel; tokenizer: Llama2cTokenizer }> {
  const model = await readLlama2c(STORIES260K_URL);
  const tokenizer = await readLlama2cTokenizer(STORIES260K_TOKENIZER_URL, model.config.vocabSize);
  return { model, tokenizer };
}
