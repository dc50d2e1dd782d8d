import { assert } from "../_helpers.ts";
import { hfTokenizerFromJson, loadHfTokenizer } from "../../lib/models/load/hf_tokenizer.ts";
import { decodeTokens, encodeText, loadStories260k } from "../../lib/models/load/llama2c.ts";

const FIXTURES = new URL("../fixtures/", import.meta.url);
const GPT2 = new URL("tokenizers/gpt2/tokenizer.json", FIXTURES).pathname;
const NEOX = new URL("tokenizers/gpt_neox_20b/tokenizer.json", FIXTURES).pathname;
const STORIES = new URL("stories260K/hf/", FIXTURES).pathname;

/** The vocabulary of a tokenizer.json, read directly (not through the library), for expected ids. */
async function vocabOf(path: string): Promise<(piece: string) => number> {
  const json = JSON.parse(await Deno.readTextFile(path));
  const vocab = json.model.vocab as Record<string, number>;
  return (piece) => {
    const id = vocab[piece];
    if (id === undefined) throw new Error(`test setup: ${piece} not in ${path}`);
    return id;
  };
}

/** The id of the added token whose content is `content`, read directly from the file. */
async function addedId(path: string, content: string): Promise<number> {
  const json = JSON.parse(await Deno.readTextFile(path));
  const token = (json.added_tokens as { id: number; content: string }[]).find((t) => t.content === content);
  if (token === undefined) {
    throw new Error(`test setup: added token ${JSON.stringify(content)} not in ${path}`);
  }
  return token.id;
}

const ROUND_TRIP = [
  "hello world",
  "Hello, World! It's 2024 — 3.14159 ≈ π.",
  "  leading, trailing and   inner   spaces  ",
  "tabs\tand\nnewlines\n\n",
  "émigré café naïve 日本語 ☃ 🤗",
];

Deno.test({
  name: "loadHfTokenizer() on GPT-2 gives the published ids and round-trips text",
  fn: async () => {
    const tok = await loadHfTokenizer(GPT2);
    const id = await vocabOf(GPT2);
    // Published facts, listed in tests/fixtures/README.md.
    assert.deepEqual(tok.encode("hello world"), [31373, 995]);
    assert.deepEqual(tok.encode("Hello world"), [15496, 995]);
    assert.deepEqual(tok.encode("<|endoftext|>"), [50256]);
    assert.equal(tok.bosId, 50256);
    assert.equal(tok.eosId, 50256);
    assert.equal(tok.vocabSize, 50257);
    assert.deepEqual(tok.encode("Hello world", { bos: true }), [50256, 15496, 995]);
    assert.deepEqual(tok.encode(""), []);
    // A special token written in the text is matched as such; the text on either side is encoded alone.
    assert.deepEqual(tok.encode("Hello<|endoftext|>world"), [15496, 50256, id("world")]);
    // GPT-2's pre-tokenizer leaves the last space of a run to the next word: "a", "Ġ"+"Ġ" (no "ĠĠ" piece), "Ġb".
    assert.deepEqual(tok.encode("a   b"), [id("a"), id("Ġ"), id("Ġ"), id("Ġb")]);
    for (const text of ROUND_TRIP) assert.equal(tok.decode(tok.encode(text)), text, JSON.stringify(text));
    // Special tokens print nothing unless asked for.
    assert.equal(tok.decode([50256, 15496, 995, 50256]), "Hello world");
    assert.equal(tok.decode([50256, 15496, 995], { special: true }), "<|endoftext|>Hello world");
    assert.equal(tok.decode([]), "");
    assert.throws(
      () => tok.decode([15496, 50257]),
      /ids\[1\]: expected an integer in \[0, 50256\], received 50257/,
    );
  },
});

Deno.test({
  name: "loadHfTokenizer() on gpt-neox-20b splits added whitespace tokens longest first and applies NFC",
  fn: async () => {
    const tok = await loadHfTokenizer(NEOX);
    const id = await vocabOf(NEOX);
    const spaces = (n: number) => addedId(NEOX, " ".repeat(n));
    assert.deepEqual(tok.encode("hello world"), [id("hello"), id("Ġworld")]);
    // Four spaces are one added token, not "Ġ" pieces; nothing is left to prefix "b".
    assert.deepEqual(tok.encode("a    b"), [id("a"), await spaces(4), id("b")]);
    // 25 spaces: the longest added run (24) first, then " y" as ordinary text.
    assert.deepEqual(tok.encode(`x${" ".repeat(25)}y`), [id("x"), await spaces(24), id("Ġy")]);
    assert.deepEqual(tok.encode(`x${" ".repeat(50)}y`), [
      id("x"),
      await spaces(24),
      await spaces(24),
      await spaces(2),
      id("y"),
    ]);
    // NFC: a decomposed é (e + U+0301) encodes as the composed one.
    const composed = tok.encode("é café");
    assert.deepEqual(composed, [id("Ã©"), id("ĠcafÃ©")]);
    assert.deepEqual(tok.encode("e\u0301 cafe\u0301"), composed);
    assert.equal(tok.bosId, 0);
    assert.equal(tok.eosId, 0);
    assert.equal(tok.vocabSize, 50277);
    for (const text of ROUND_TRIP) assert.equal(tok.decode(tok.encode(text)), text, JSON.stringify(text));
  },
});

Deno.test({
  name: "loadHfTokenizer() on stories260K's tokenizer.json agrees with the llama2.c tokenizer",
  fn: async () => {
    // A folder: tokenizer.json with tokenizer_config.json beside it.
    const tok = await loadHfTokenizer(STORIES);
    const { tokenizer: ref } = await loadStories260k();
    assert.equal(tok.bosId, 1);
    assert.equal(tok.eosId, 2);
    assert.equal(tok.vocabSize, 512);
    const texts = [
      "Once upon a time",
      "Lily saw a cat. ☃",
      "  two  spaces and a tab\there",
      'Tom said, "I want 123 apples!"\nThe end.',
      "Émile's naïve café — 日本",
      "x",
    ];
    for (const text of texts) {
      const expected = encodeText(ref, text, { bos: false });
      assert.deepEqual(tok.encode(text), expected, JSON.stringify(text));
      assert.deepEqual(tok.encode(text, { bos: true }), encodeText(ref, text), JSON.stringify(text));
      assert.equal(tok.decode(expected), decodeTokens(ref, expected), JSON.stringify(text));
      assert.equal(tok.decode(encodeText(ref, text)), text, JSON.stringify(text));
    }
    assert.deepEqual(tok.encode(""), []);
    // Unlike llama2.c's tokenizer, a special token written in the text is matched, as transformers does.
    assert.deepEqual(tok.encode("Hi</s>"), [...encodeText(ref, "Hi", { bos: false }), 2]);
  },
});

const TINY_BPE = {
  normalizer: null,
  pre_tokenizer: null,
  post_processor: null,
  // Without a decoder, Hugging Face joins tokens with spaces; Fuse joins them as they are.
  decoder: { type: "Fuse" },
  model: { type: "BPE", vocab: { a: 0, b: 1, ab: 2, "<eos>": 3 }, merges: ["a b"] },
  added_tokens: [{ id: 3, content: "<eos>", special: true }],
};

Deno.test("hfTokenizerFromJson() merges by the BPE rules and reports a missing BOS", () => {
  const tok = hfTokenizerFromJson(TINY_BPE);
  // "abba": a·b merge → ab, then b, a stay (no "ba" merge): [ab, b, a]
  assert.deepEqual(tok.encode("abba"), [2, 1, 0]);
  assert.equal(tok.decode([2, 1, 0]), "abba");
  assert.equal(tok.bosId, undefined);
  assert.equal(tok.eosId, 3);
  assert.equal(tok.vocabSize, 4);
  assert.throws(
    () => tok.encode("ab", { bos: true }),
    (e: unknown) =>
      e instanceof RangeError &&
      e.message === "tokenizer.json: bos expected a beginning-of-sequence token, the tokenizer has none",
  );
  // tokenizer_config.json names the BOS.
  assert.equal(hfTokenizerFromJson(TINY_BPE, { bos_token: { content: "<eos>" } }).bosId, 3);
  assert.throws(
    () => hfTokenizerFromJson({ vocab: {} }, {}, "x/tokenizer.json"),
    /x\/tokenizer\.json: expected a tokenizer\.json object with a "model" entry/,
  );
  assert.throws(
    () => hfTokenizerFromJson({ ...TINY_BPE, model: { type: "Nonsense" } }, {}, "x/tokenizer.json"),
    /x\/tokenizer\.json: expected a tokenizer @huggingface\/tokenizers can build/,
  );
});

Deno.test("loadHfTokenizer() names the file it could not read or parse", async () => {
  await assert.rejects(
    () => loadHfTokenizer("no/such/tokenizer.json"),
    /^RangeError: no\/such\/tokenizer\.json: expected a Hugging Face tokenizer\.json, could not read it/,
  );
  const dir = await Deno.makeTempDir({ prefix: "saekit_tok_" });
  try {
    await Deno.writeTextFile(`${dir}/tokenizer.json`, "{ not json");
    await assert.rejects(
      () => loadHfTokenizer(dir),
      (e: unknown) => e instanceof TypeError && e.message.startsWith(`${dir}/tokenizer.json: expected JSON`),
    );
    await Deno.writeTextFile(`${dir}/tokenizer.json`, JSON.stringify(TINY_BPE));
    await Deno.writeTextFile(
      `${dir}/tokenizer_config.json`,
      JSON.stringify({ bos_token: "<eos>", eos_token: "<eos>" }),
    );
    const tok = await loadHfTokenizer(`${dir}/`);
    assert.deepEqual(tok.encode("ab", { bos: true }), [3, 2]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
