import { assert } from "../../_helpers.ts";
import { arrayDocuments, type DocumentSource } from "../../../lib/data/text/documents.ts";
import { jsonlTextSource } from "../../../lib/data/text/jsonl.ts";
import { tokenizeDocuments, type Tokenizer, tokenizerFromEncoder } from "../../../lib/data/text/tokenizer.ts";
import {
  textWindows,
  type TokenWindow,
  type TokenWindows,
  tokenWindows,
  windowBatches,
  type WindowOptions,
} from "../../../lib/data/text/windows.ts";

// The toy tokenizer: one token per character, its char code ("a" = 97); BOS = 1, EOS = 2, PAD = 0.
// `show` writes a window back as text with BOS "^", EOS "$" and PAD "_", so that expected windows
// read as strings worked out by hand.
const BOS = 1, EOS = 2, PAD = 0;
const toy: Tokenizer = tokenizerFromEncoder((text) => [...text].map((c) => c.charCodeAt(0)), {
  bosId: BOS,
  eosId: EOS,
});
const show = (w: ArrayLike<number>) =>
  Array.from(w, (t) => t === BOS ? "^" : t === EOS ? "$" : t === PAD ? "_" : String.fromCharCode(t)).join("");
const ids = (s: string) => [...s].map((c) => c === "^" ? BOS : c === "$" ? EOS : c.charCodeAt(0));

const texts = ["abcdefg", "hi", "jklmn"];
const corpus = arrayDocuments(texts);

async function collect(windows: TokenWindows, start?: number): Promise<TokenWindow[]> {
  const out: TokenWindow[] = [];
  for await (const w of windows.windowsWithLength(start)) out.push(w);
  return out;
}

async function shown(
  source: DocumentSource<string>,
  options: WindowOptions,
  start?: number,
): Promise<string[]> {
  const out: string[] = [];
  for await (const w of textWindows(source, toy, options).windows(start)) {
    assert.ok(w instanceof Int32Array);
    assert.equal(w.length, options.contextSize);
    out.push(show(w));
  }
  return out;
}

Deno.test("documentEnd drop without BOS (the original): each document chunked alone, remainders dropped", async () => {
  // abc|def|(g) ; (hi) ; jkl|(mn)
  assert.deepEqual(await shown(corpus, { contextSize: 3, documentEnd: "drop", prependBos: false }), [
    "abc",
    "def",
    "jkl",
  ]);
});

Deno.test("documentEnd drop with BOS: every window is BOS + contextSize − 1 tokens of one document", async () => {
  // ^ab|^cd|^ef|(g) ; ^hi ; ^jk|^lm|(n)
  assert.deepEqual(await shown(corpus, { contextSize: 3, documentEnd: "drop" }), [
    "^ab",
    "^cd",
    "^ef",
    "^hi",
    "^jk",
    "^lm",
  ]);
});

Deno.test("documentEnd pack (the default) with the BOS separator and BOS windows", async () => {
  // Stream: ^abcdefg^hi^jklmn. Window 1 uses the stream's first BOS; each later window gets its own
  // BOS unless the stream's next token is one. ^abc|^def|^g^h|^i^j|^klm|(^n) dropped at the end.
  assert.deepEqual(await shown(corpus, { contextSize: 4 }), ["^abc", "^def", "^g^h", "^i^j", "^klm"]);
  // With contextSize 5 nothing is left over: ^abcd|^efg^|^hi^j|^klmn
  assert.deepEqual(await shown(corpus, { contextSize: 5 }), ["^abcd", "^efg^", "^hi^j", "^klmn"]);
});

Deno.test("documentEnd pack with the EOS separator and no BOS: windows cut from the joined stream", async () => {
  // Stream: abcdefg$hi$jklmn$ (17 tokens): abcd|efg$|hi$j|klmn|($)
  assert.deepEqual(await shown(corpus, { contextSize: 4, prependBos: false, separator: "eos" }), [
    "abcd",
    "efg$",
    "hi$j",
    "klmn",
  ]);
});

Deno.test("documentEnd pack with no separator, BOS windows", async () => {
  // Stream: abcdefghijklmn: ^ab|^cd|^ef|^gh|^ij|^kl|^mn
  assert.deepEqual(await shown(corpus, { contextSize: 3, separator: "none" }), [
    "^ab",
    "^cd",
    "^ef",
    "^gh",
    "^ij",
    "^kl",
    "^mn",
  ]);
  // Without BOS either: abcde|fghij|(klmn)
  assert.deepEqual(await shown(corpus, { contextSize: 5, separator: "none", prependBos: false }), [
    "abcde",
    "fghij",
  ]);
});

Deno.test("documentEnd pad: each document's last window filled with padId, real lengths reported", async () => {
  const windows = textWindows(corpus, toy, { contextSize: 4, documentEnd: "pad", padId: PAD });
  const out = await collect(windows);
  // ^abc|^def|^g__ ; ^hi_ ; ^jkl|^mn_
  assert.deepEqual(out.map((w) => show(w.tokens)), ["^abc", "^def", "^g__", "^hi_", "^jkl", "^mn_"]);
  assert.deepEqual(out.map((w) => w.length), [4, 4, 2, 3, 4, 3]);
  // Without BOS: abc|def|g__ ; hi_ ; jkl|mn_
  assert.deepEqual(
    await shown(corpus, { contextSize: 3, documentEnd: "pad", padId: PAD, prependBos: false }),
    ["abc", "def", "g__", "hi_", "jkl", "mn_"],
  );
});

Deno.test("maxDocumentTokens truncates each document before chunking (the original's B4, on request only)", async () => {
  // Documents cut to 4 tokens: abcd, hi, jklm. Drop without BOS: abc|(d) ; (hi) ; jkl|(m)
  assert.deepEqual(
    await shown(corpus, { contextSize: 3, documentEnd: "drop", prependBos: false, maxDocumentTokens: 4 }),
    ["abc", "jkl"],
  );
  // Cut to 2 tokens and packed with BOS separators: stream ^ab^hi^jk. Windows 2 and 3 start at a
  // separator, which is their BOS: ^ab|^hi|^jk
  assert.deepEqual(await shown(corpus, { contextSize: 3, maxDocumentTokens: 2 }), ["^ab", "^hi", "^jk"]);
});

Deno.test("a BOS already at a window's start is not doubled; separators already present are not repeated", async () => {
  // Pre-tokenized documents that carry their own BOS and EOS.
  const docs = arrayDocuments([ids("^abcde"), ids("^fg$")]);
  const drop = tokenWindows(docs, { contextSize: 3, documentEnd: "drop", bosId: BOS });
  // ^ab|^cd|(e) ; ^fg|($)
  assert.deepEqual((await collect(drop)).map((w) => show(w.tokens)), ["^ab", "^cd", "^fg"]);
  // Pack with the BOS separator: no second BOS before either document. Stream ^abcde^fg$
  const packBos = tokenWindows(docs, { contextSize: 4, bosId: BOS, eosId: EOS });
  assert.deepEqual((await collect(packBos)).map((w) => show(w.tokens)), ["^abc", "^de^", "^fg$"]);
  // Pack with the EOS separator: one EOS after the first document, none added after the second.
  // Stream ^abcde$^fg$ without window BOS: ^abc|de$^|fg$(.)
  const packEos = tokenWindows(docs, { contextSize: 4, separator: "eos", prependBos: false, eosId: EOS });
  assert.deepEqual((await collect(packEos)).map((w) => show(w.tokens)), ["^abc", "de$^"]);
  // Text documents whose separator lands at a window start: stream ^abc^def: ^abc|^def
  assert.deepEqual(await shown(arrayDocuments(["abc", "def"]), { contextSize: 4 }), ["^abc", "^def"]);
});

Deno.test("empty documents give no window and no separator", async () => {
  const docs = arrayDocuments(["", "ab", "", "cd"]);
  // Stream ^ab^cd: ^ab|^cd
  assert.deepEqual(await shown(docs, { contextSize: 3 }), ["^ab", "^cd"]);
});

Deno.test("windows(k) equals the tail from position k of a full read, in every mode", async () => {
  const many = arrayDocuments(
    Array.from({ length: 40 }, (_, i) => "xyzw".repeat(i % 7) + "abcdefghij".slice(0, i % 11)),
  );
  const configs: WindowOptions[] = [
    { contextSize: 5 },
    { contextSize: 4, separator: "eos", prependBos: false },
    { contextSize: 6, documentEnd: "drop" },
    { contextSize: 3, documentEnd: "drop", prependBos: false, maxDocumentTokens: 7 },
    { contextSize: 5, documentEnd: "pad", padId: PAD },
  ];
  for (const options of configs) {
    const windows = textWindows(many, toy, options);
    const full = await collect(windows);
    assert.ok(full.length > 20, `${JSON.stringify(options)} gives ${full.length} windows`);
    for (const k of [0, 1, 2, 7, full.length - 1, full.length, full.length + 3]) {
      const tail = await collect(windows, k);
      assert.deepEqual(
        tail.map((w) => [show(w.tokens), w.length]),
        full.slice(k).map((w) => [show(w.tokens), w.length]),
        `${JSON.stringify(options)} from ${k}`,
      );
    }
  }
});

Deno.test("windows(k) resumes exactly on a JSONL file read in small chunks", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/corpus.jsonl`;
    const stories = Array.from({ length: 30 }, (_, i) => `story ${i}: ${"la ".repeat(i % 9)}end`);
    await Deno.writeTextFile(path, stories.map((text) => JSON.stringify({ text })).join("\n"));
    const windows = textWindows(jsonlTextSource(path, { chunkSize: 32 }), toy, { contextSize: 8 });
    const full = await collect(windows);
    const resumed = await collect(windows, 17);
    assert.deepEqual(resumed.map((w) => show(w.tokens)), full.slice(17).map((w) => show(w.tokens)));
    // Stream ^story 0: end^story 1: la end^…: ^story 0|^: end^s|^tory 1:|^ la end|…
    assert.deepEqual(full.slice(0, 4).map((w) => show(w.tokens)), [
      "^story 0",
      "^: end^s",
      "^tory 1:",
      "^ la end",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("skipping a few thousand windows on resume does not build them", async () => {
  // 4000 documents of 63 tokens, contextSize 32, drop: 2 windows per document (BOS + 31 tokens).
  const docs = arrayDocuments(
    Array.from({ length: 4000 }, (_, i) => Int32Array.from({ length: 63 }, (_, j) => 3 + i + j)),
  );
  const windows = tokenWindows(docs, { contextSize: 32, documentEnd: "drop", bosId: BOS });
  const tail = await collect(windows, 7998);
  assert.equal(tail.length, 2);
  // Window 7998 is document 3999's first: BOS, then 3 + 3999 + 0 … 30.
  assert.deepEqual(Array.from(tail[0].tokens.subarray(0, 3)), [BOS, 4002, 4003]);
  assert.equal(tail[1].tokens[31], 3 + 3999 + 61);
});

Deno.test("textWindows() takes BOS and EOS from the tokenizer unless the options give them", async () => {
  const noIds = tokenizerFromEncoder((t) => [...t].map((c) => c.charCodeAt(0)));
  assert.throws(() => textWindows(corpus, noIds, { contextSize: 3 }), {
    name: "RangeError",
    message:
      "bosId: expected a token id for prependBos (pass bosId or a tokenizer with one, or prependBos: false), " +
      "received undefined",
  });
  const out: string[] = [];
  for await (const w of textWindows(corpus, noIds, { contextSize: 3, bosId: 35 }).windows()) {
    out.push(String.fromCharCode(...w));
  }
  assert.deepEqual(out.slice(0, 2), ["#ab", "#cd"]); // 35 is "#"
});

Deno.test("window options are checked at once, naming the option", () => {
  const cases: [WindowOptions, string][] = [
    [{ contextSize: 1 }, "contextSize: expected an integer ≥ 2, received 1"],
    [{ contextSize: 2.5 }, "contextSize: expected an integer ≥ 2, received 2.5"],
    [
      { contextSize: 4, documentEnd: "wrap" as "pack" },
      'documentEnd: expected "drop", "pack" or "pad", received "wrap"',
    ],
    [
      { contextSize: 4, separator: "nl" as "bos" },
      'separator: expected "bos", "eos" or "none", received "nl"',
    ],
    [
      { contextSize: 4, documentEnd: "pad" },
      'padId: expected a token id for documentEnd "pad", received undefined',
    ],
    [
      { contextSize: 4, documentEnd: "pad", padId: -1 },
      "padId: expected a non-negative integer, received -1",
    ],
    [{ contextSize: 4, maxDocumentTokens: 0 }, "maxDocumentTokens: expected a positive integer, received 0"],
  ];
  for (const [options, message] of cases) {
    assert.throws(() => textWindows(corpus, toy, options), { name: "RangeError", message }, message);
  }
  const bare = arrayDocuments<number[]>([]);
  assert.throws(() => tokenWindows(bare, { contextSize: 4, prependBos: false }), {
    name: "RangeError",
    message:
      'bosId: expected a token id for separator "bos" (pass bosId, or another separator), received undefined',
  });
  assert.throws(() => tokenWindows(bare, { contextSize: 4, prependBos: false, separator: "eos" }), {
    name: "RangeError",
    message: 'eosId: expected a token id for separator "eos", received undefined',
  });
  // Ids the chosen mode does not use are not needed.
  tokenWindows(bare, { contextSize: 4, prependBos: false, separator: "none" });
  tokenWindows(bare, { contextSize: 4, prependBos: false, documentEnd: "drop" });
});

Deno.test("windows(start) rejects a negative or fractional start", async () => {
  const windows = textWindows(corpus, toy, { contextSize: 3 });
  for (const start of [-1, 1.5]) {
    await assert.rejects(() => collect(windows, start), {
      name: "RangeError",
      message: `start: expected a non-negative integer, received ${start}`,
    });
  }
});

Deno.test("token documents with bad ids are rejected naming the document", async () => {
  const windows = tokenWindows(arrayDocuments([[1, 2], [3, 4.5]]), { contextSize: 2, bosId: BOS });
  await assert.rejects(() => collect(windows), {
    name: "TypeError",
    message: "document 1: token 1 expected an integer id, received number 4.5",
  });
  const badTokenizer: Tokenizer = { encode: () => [-3], bosId: BOS };
  await assert.rejects(() => collect(textWindows(corpus, badTokenizer, { contextSize: 2 })), {
    name: "RangeError",
    message: "document 0 (tokenized): token 0 expected an id in [0, 2147483647], received -3",
  });
});

Deno.test("tokenizerFromEncoder() adds BOS only when asked, and needs a bosId to do so", () => {
  assert.deepEqual(Array.from(toy.encode("ab")), [97, 98]);
  assert.deepEqual(Array.from(toy.encode("ab", { bos: true })), [BOS, 97, 98]);
  const noBos = tokenizerFromEncoder((t) => [t.length]);
  assert.throws(() => noBos.encode("ab", { bos: true }), {
    name: "RangeError",
    message: "bosId: expected a token id for encode(…, { bos: true }), received undefined",
  });
});

Deno.test("tokenizeDocuments() encodes without BOS and skips documents without encoding them", async () => {
  let calls = 0;
  const counting: Tokenizer = {
    encode: (text, options) => {
      calls++;
      assert.equal(options?.bos, false);
      return [...text].map((c) => c.charCodeAt(0));
    },
  };
  const out: string[] = [];
  for await (const d of tokenizeDocuments(corpus, counting).documents(1)) out.push(show(d));
  assert.deepEqual(out, ["hi", "jklmn"]);
  assert.equal(calls, 2);
});

Deno.test("windowBatches() packs windows row-major with positions, real lengths and a short last batch", async () => {
  const windows = textWindows(corpus, toy, { contextSize: 4, documentEnd: "pad", padId: PAD });
  // Windows: ^abc ^def ^g__ ^hi_ ^jkl ^mn_
  const batches = [];
  for await (const b of windowBatches(windows, 4)) batches.push(b);
  assert.equal(batches.length, 2);
  assert.deepEqual(batches.map((b) => [b.rows, b.contextSize, b.position]), [[4, 4, 4], [2, 4, 6]]);
  assert.equal(show(batches[0].tokens), "^abc^def^g__^hi_");
  assert.equal(show(batches[1].tokens), "^jkl^mn_");
  assert.deepEqual(Array.from(batches[0].lengths), [4, 4, 2, 3]);
  assert.deepEqual(Array.from(batches[1].lengths), [4, 3]);
});

Deno.test("windowBatches() resumes from a position, drops a short last batch on request, takes plain iterables", async () => {
  const windows = textWindows(corpus, toy, { contextSize: 3, documentEnd: "drop" });
  // Windows: ^ab ^cd ^ef ^hi ^jk ^lm
  const from2 = [];
  for await (const b of windowBatches(windows, 2, { start: 2 })) from2.push([show(b.tokens), b.position]);
  assert.deepEqual(from2, [["^ef^hi", 4], ["^jk^lm", 6]]);
  const dropped = [];
  for await (const b of windowBatches(windows, 4, { dropLast: true })) dropped.push(b.position);
  assert.deepEqual(dropped, [4]);
  // A plain iterable of Int32Array, already started at window 3: positions count from there.
  const plain = [];
  for await (const b of windowBatches(windows.windows(3), 2, { start: 3 })) {
    plain.push([show(b.tokens), b.position, Array.from(b.lengths)]);
  }
  assert.deepEqual(plain, [["^hi^jk", 5, [3, 3]], ["^lm", 6, [3]]]);
});

Deno.test("windowBatches() rejects a batch size below 1 and windows of different lengths", async () => {
  const windows = textWindows(corpus, toy, { contextSize: 3 });
  await assert.rejects(() => windowBatches(windows, 0).next(), {
    name: "RangeError",
    message: "batchSize: expected a positive integer, received 0",
  });
  async function* uneven() {
    yield new Int32Array(3);
    yield new Int32Array(4);
  }
  await assert.rejects(() => windowBatches(uneven(), 2).next(), {
    name: "RangeError",
    message: "window 1: expected 3 tokens (the first window's), received 4",
  });
});
