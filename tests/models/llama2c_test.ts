import { assert, type tf } from "../_helpers.ts";
import {
  decodeLlama2c,
  decodeLlama2cHeader,
  decodeLlama2cTokenizer,
  decodeTokens,
  encodeText,
  type Llama2cTokenizer,
  readLlama2c,
  readLlama2cTokenizer,
  STORIES260K_TOKENIZER_URL,
  STORIES260K_URL,
} from "../../lib/models/load/llama2c.ts";
import { mulberry32 } from "../../lib/seed.ts";

const FILE = await Deno.readFile(STORIES260K_URL);
const TOKENIZER = await readLlama2cTokenizer(STORIES260K_TOKENIZER_URL, 512);

/** The float32 at index `i` of the weights (after the 28-byte header), read straight from the file. */
function fileFloat(i: number): number {
  return new DataView(FILE.buffer, FILE.byteOffset).getFloat32(28 + 4 * i, true);
}

function withHeader(bytes: Uint8Array, field: number, value: number): Uint8Array {
  const copy = bytes.slice();
  new DataView(copy.buffer).setInt32(4 * field, value, true);
  return copy;
}

Deno.test("decodeLlama2cHeader() reads stories260K's header as its README documents it", () => {
  const h = decodeLlama2cHeader(FILE);
  assert.deepEqual(h, {
    dim: 64,
    hiddenDim: 172,
    nLayers: 5,
    nHeads: 8,
    nKvHeads: 4,
    vocabSize: 512,
    seqLen: 512,
    sharedClassifier: true,
  });
});

Deno.test("readLlama2c() transposes llama2.c's [out, in] matrices to [in, out]", async () => {
  const { config, weights } = await readLlama2c(STORIES260K_URL);
  assert.equal(config.rotary, "interleaved");
  assert.equal(config.dHead, 8);
  assert.equal(config.normEps, 1e-5);
  // Float offsets: token_embedding 512·64 = 32768, rms_att 5·64 = 320, wq 5·64·64 = 20480,
  // wk 5·32·64 = 10240, wv 10240, wo 20480, rms_ffn 320, w1 5·172·64 = 55040, w2 55040, w3 55040.
  const RMS_ATT = 32768;
  const WQ = RMS_ATT + 320;
  const WK = WQ + 20480;
  const WO = WK + 2 * 10240;
  const W1 = WO + 20480 + 320;
  const W2 = W1 + 55040;
  const RMS_FINAL = W2 + 2 * 55040;
  const at = (t: tf.Tensor, i: number, j: number) => t.dataSync()[i * t.shape[1]! + j];
  // wq of layer 1, row (output) 5, column (input) 9 → our wQ[9][5]
  assert.equal(at(weights.blocks[1].wQ, 9, 5), fileFloat(WQ + 4096 + 5 * 64 + 9));
  // wk of layer 4 is [32, 64]: row 31, column 63 → wK[63][31]
  assert.equal(at(weights.blocks[4].wK, 63, 31), fileFloat(WK + 4 * 2048 + 31 * 64 + 63));
  // wo of layer 0: row 2, column 60 → wO[60][2]
  assert.equal(at(weights.blocks[0].wO, 60, 2), fileFloat(WO + 2 * 64 + 60));
  // w1 (gate) of layer 2 is [172, 64]: row 171, column 1 → wGate[1][171]
  assert.equal(at(weights.blocks[2].wGate, 1, 171), fileFloat(W1 + 2 * 11008 + 171 * 64 + 1));
  // w2 (down) of layer 3 is [64, 172]: row 7, column 100 → wDown[100][7]
  assert.equal(at(weights.blocks[3].wDown, 100, 7), fileFloat(W2 + 3 * 11008 + 7 * 172 + 100));
  assert.equal(weights.blocks[2].ln1.dataSync()[3], fileFloat(RMS_ATT + 2 * 64 + 3));
  assert.equal(weights.lnFinal.dataSync()[63], fileFloat(RMS_FINAL + 63));
  // shared classifier: unembed = embedᵀ; embedding row 300, column 2 is float 300·64 + 2
  assert.equal(at(weights.embed, 300, 2), fileFloat(300 * 64 + 2));
  assert.equal(at(weights.unembed, 2, 300), fileFloat(300 * 64 + 2));
  // The file's last float is freq_cis_imag[511][3] = sin(511 · 10000^(−6/8)) (float32, so to ~1e-4).
  assert.ok(Math.abs(fileFloat((FILE.length - 28) / 4 - 1) - Math.sin(511 * 10000 ** -0.75)) < 1e-4);
});

Deno.test("decodeLlama2c() names the tensor a truncated file cuts off", () => {
  assert.throws(
    () => decodeLlama2c(FILE.subarray(0, FILE.length - 4), "stories260K.bin"),
    /stories260K\.bin: tensor freq_cis_imag \[512, 4\] expected bytes 1048348\.\.1056540, received a file of 1056536 bytes \(4 missing; expected 1056540 bytes/,
  );
  assert.throws(
    () => decodeLlama2c(FILE.subarray(0, 1000), "cut.bin"),
    /cut\.bin: tensor token_embedding \[512, 64\] expected bytes 28\.\.131100, received a file of 1000 bytes/,
  );
  assert.throws(
    () => decodeLlama2c(FILE.subarray(0, 20), "tiny.bin"),
    /tiny\.bin: expected a header of 28 bytes \(7 int32: dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len\), received a file of 20 bytes/,
  );
});

Deno.test("decodeLlama2c() rejects extra bytes and a header that does not match the file", () => {
  const longer = new Uint8Array(FILE.length + 8);
  longer.set(FILE);
  assert.throws(
    () => decodeLlama2c(longer, "x.bin"),
    /x\.bin: expected 1056540 bytes for this header \(shared classifier\), received 1056548/,
  );
  // A negative vocab_size promises a separate classifier wcls [512, 64] after the freq tables.
  assert.throws(
    () => decodeLlama2c(withHeader(FILE, 5, -512), "x.bin"),
    /x\.bin: tensor wcls \[512, 64\] expected bytes 1056540\.\.1187612, received a file of 1056540 bytes/,
  );
  // A different hidden_dim changes the sizes of w1, w2 and w3.
  assert.throws(
    () => decodeLlama2c(withHeader(FILE, 1, 256), "x.bin"),
    /x\.bin: tensor (w\d|rms_final|freq_cis_\w+) /,
  );
});

Deno.test("decodeLlama2cHeader() names the header field that is wrong", () => {
  assert.throws(
    () => decodeLlama2cHeader(withHeader(FILE, 3, 7), "m.bin"),
    /m\.bin: header field n_heads expected a divisor of dim \(64\), received 7/,
  );
  assert.throws(
    () => decodeLlama2cHeader(withHeader(FILE, 4, 3), "m.bin"),
    /m\.bin: header field n_kv_heads expected a divisor of n_heads \(8\), received 3/,
  );
  assert.throws(
    () => decodeLlama2cHeader(withHeader(FILE, 0, 0), "m.bin"),
    /m\.bin: header field dim expected a positive integer, received 0/,
  );
  assert.throws(
    () => decodeLlama2cHeader(withHeader(FILE, 6, -1), "m.bin"),
    /header field seq_len expected a positive integer, received -1/,
  );
  // dim 64 with 16 heads → head size 4 is fine; with 32 heads → 2; 64 heads → 1 is odd
  assert.throws(
    () => decodeLlama2cHeader(withHeader(withHeader(FILE, 3, 64), 4, 64)),
    /expected an even head size, received 64 \/ 64/,
  );
  // The versioned export starts with the magic "ak42" (0x616b3432).
  assert.throws(
    () => decodeLlama2cHeader(withHeader(FILE, 0, 0x616b3432), "v1.bin"),
    /v1\.bin: expected a legacy \(version 0\) llama2\.c checkpoint/,
  );
});

Deno.test("the llama2.c tokenizer has 512 pieces, BOS 1, EOS 2 and byte tokens from id 3", () => {
  assert.equal(TOKENIZER.pieces.length, 512);
  assert.equal(TOKENIZER.maxTokenLength, 7);
  const text = (id: number) => new TextDecoder().decode(TOKENIZER.pieces[id]);
  assert.equal(text(1), "\n<s>\n");
  assert.equal(text(2), "\n</s>\n");
  assert.equal(text(3), "<0x00>");
  assert.equal(text(258), "<0xFF>");
  assert.equal(TOKENIZER.bos, 1);
  assert.equal(TOKENIZER.eos, 2);
});

Deno.test("encodeText() gives the encodings Hugging Face's BPE merges give", () => {
  // Expected ids: hf/tokenizer.json's merges applied (lowest rank first) to "▁" + text with spaces as "▁",
  // characters missing from the vocabulary as <0xNN> bytes; worked out with a separate script.
  const cases: [string, number[]][] = [
    ["a", [261]], // " a"
    ["the", [265]], // " the"
    ["Once upon a time", [403, 407, 261, 378]],
    ["Lily saw a big dog.", [317, 394, 261, 370, 400, 428, 426]],
    ["Hello, world!", [346, 306, 414, 432, 263, 304, 341, 443]],
    // 😀 = F0 9F 98 80 is not a piece: dummy " " (410), then byte tokens 0xF0+3, 0x9F+3, 0x98+3, 0x80+3
    ["😀", [410, 243, 162, 155, 131]],
    ["naïve café", [297, 412, 198, 178, 360, 280, 412, 431, 485]],
    [" two  spaces", [410, 259, 424, 414, 410, 262, 427, 412, 331, 419]],
    ["x\ny", [410, 444, 13, 422]], // "\n" = byte 0x0A → id 13
  ];
  for (const [text, ids] of cases) {
    assert.deepEqual(encodeText(TOKENIZER, text, { bos: false }), ids, JSON.stringify(text));
    assert.deepEqual(encodeText(TOKENIZER, text), [1, ...ids], JSON.stringify(text));
  }
  assert.deepEqual(encodeText(TOKENIZER, ""), [1]); // no dummy space for empty text
  assert.deepEqual(encodeText(TOKENIZER, "", { bos: false, eos: true }), [2]);
  assert.deepEqual(encodeText(TOKENIZER, "a", { eos: true }), [1, 261, 2]);
});

/** run.c's encoder as written there: quadratic, merging the best-scoring (then leftmost) pair each round. */
function referenceEncode(tok: Llama2cTokenizer, text: string): number[] {
  const key = (b: Uint8Array) => Array.from(b, (x) => String.fromCharCode(x)).join("");
  const bytes = new TextEncoder().encode(text);
  const ids = bytes.length > 0 ? [tok.ids.get(" ")!] : [];
  for (let i = 0; i < bytes.length;) {
    let end = i + 1;
    while (end < bytes.length && (bytes[end] & 0xc0) === 0x80) end++;
    const id = tok.ids.get(key(bytes.subarray(i, end)));
    if (id !== undefined) ids.push(id);
    else for (let j = i; j < end; j++) ids.push(bytes[j] + 3);
    i = end;
  }
  for (;;) {
    let best = -Infinity;
    let at = -1;
    let merged = -1;
    for (let i = 0; i + 1 < ids.length; i++) {
      const id = tok.ids.get(key(tok.pieces[ids[i]]) + key(tok.pieces[ids[i + 1]]));
      if (id !== undefined && tok.scores[id] > best) [best, at, merged] = [tok.scores[id], i, id];
    }
    if (at < 0) return ids;
    ids.splice(at, 2, merged);
  }
}

Deno.test("encodeText() merges exactly as run.c's quadratic loop on random text", () => {
  const alphabet = [..."abcdeghilmnorstuwy  .,!?'\"\nTLSOé😀☃"];
  const random = mulberry32(17);
  for (let n = 0; n < 200; n++) {
    const length = Math.floor(random() * 60);
    const text = Array.from({ length }, () => alphabet[Math.floor(random() * alphabet.length)]).join("");
    assert.deepEqual(
      encodeText(TOKENIZER, text, { bos: false }),
      referenceEncode(TOKENIZER, text),
      JSON.stringify(text),
    );
  }
});

Deno.test("decodeTokens() inverts encodeText() and prints byte tokens as bytes", () => {
  for (
    const text of [
      "Once upon a time",
      " leading space",
      "two\nlines\n",
      "naïve café ☃ 😀",
      "  ",
      "<0x41>",
      "",
    ]
  ) {
    assert.equal(decodeTokens(TOKENIZER, encodeText(TOKENIZER, text)), text);
    assert.equal(decodeTokens(TOKENIZER, encodeText(TOKENIZER, text, { bos: false, eos: true })), text);
  }
  // After BOS the leading space of " Once" (403) is dropped, as run.c does; later ones stay.
  assert.equal(decodeTokens(TOKENIZER, [1, 403, 403]), "Once Once");
  // <0x41> (id 0x41 + 3 = 68) is the byte "A"; C3 A9 (ids 198, 172) is "é"
  assert.equal(decodeTokens(TOKENIZER, [1, 68, 198, 172]), "Aé");
  assert.throws(
    () => decodeTokens(TOKENIZER, [1, 512]),
    /ids\[1\]: expected an integer in \[0, 511\], received 512/,
  );
});

Deno.test("decodeLlama2cTokenizer() names the token a truncated file cuts off", async () => {
  const bytes = await Deno.readFile(STORIES260K_TOKENIZER_URL);
  assert.throws(
    () => decodeLlama2cTokenizer(bytes.subarray(0, 10), undefined, "t.bin"),
    /t\.bin: token 0 expected 8 bytes of score and length at byte 4, received 6/,
  );
  // The last token, 511, is "\u200a" (3 bytes) after its 8-byte score and length.
  assert.throws(
    () => decodeLlama2cTokenizer(bytes.subarray(0, bytes.length - 1), undefined, "t.bin"),
    /t\.bin: token 511 expected a length in \[0, 2\] \(max_token_length, bytes left\), received 3/,
  );
  assert.throws(
    () => decodeLlama2cTokenizer(bytes, 1000, "t.bin"),
    /t\.bin: expected 1000 tokens \(vocabSize\), received 512/,
  );
  assert.throws(
    () => decodeLlama2cTokenizer(bytes, 500, "t.bin"),
    /t\.bin: expected \d+ bytes for 500 tokens, received 6227/,
  );
});
