import { assert, assertClose, tf, values } from "../_helpers.ts";
import {
  checkLlamaWeights,
  initLlamaWeights,
  LLAMA_BLOCK_HOOKS,
  type LlamaConfig,
  llamaForward,
  llamaForwardWithCache,
  llamaHookDim,
  llamaHookNames,
  type LlamaWeights,
} from "../../lib/models/transformer.ts";
import { loadStories260k } from "../../lib/models/load/llama2c.ts";

const { model } = await loadStories260k();
const { config, weights } = model;

// Two rows of real text ids and a row of arbitrary ids, 6 positions each.
const TOKENS = [[1, 403, 407, 261, 378, 432], [1, 317, 394, 261, 370, 400], [1, 5, 100, 511, 2, 300]];

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

// A one-layer model small enough to follow by hand: dModel 2, one head of width 2, dMlp 2.
const HAND: LlamaConfig = {
  dModel: 2,
  nLayers: 1,
  nHeads: 1,
  nKvHeads: 1,
  dHead: 2,
  dMlp: 2,
  vocabSize: 2,
  maxSeq: 4,
  normEps: 1e-5,
  ropeTheta: 10000,
  rotary: "interleaved",
  tiedEmbeddings: false,
};

function handWeights(): LlamaWeights {
  const eye = tf.tensor2d([[1, 0], [0, 1]]);
  const zero = tf.zeros([2, 2]) as tf.Tensor2D;
  return {
    embed: tf.tensor2d([[1, 0], [0, 2]]),
    // wQ = wK = 0: every score is 0, so each position averages the values of positions 0..i.
    blocks: [{
      ln1: tf.ones([2]),
      wQ: zero,
      wK: zero,
      wV: eye,
      wO: eye,
      ln2: tf.ones([2]),
      wGate: eye,
      wUp: eye,
      wDown: eye,
    }],
    lnFinal: tf.ones([2]),
    unembed: eye,
  };
}

Deno.test("llamaForward() follows RMSNorm, causal averaging attention and SwiGLU by hand", () => {
  const hooks = [
    "blocks.0.ln1.hook_normalized",
    "blocks.0.hook_attn_out",
    "blocks.0.hook_resid_mid",
    "blocks.0.ln2.hook_normalized",
    "blocks.0.mlp.hook_post",
    "blocks.0.hook_resid_post",
  ];
  const { logits, activations: a } = llamaForward(handWeights(), HAND, [[0, 1]], { capture: hooks });
  // x = embed[0, 1] = (1, 0), (0, 2). rms: x / √(mean(x²) + 1e-5):
  //   (1, 0) / √0.50001 = (1.414199, 0); (0, 2) / √2.00001 = (0, 1.414210)
  assertClose(values(a["blocks.0.ln1.hook_normalized"]), [1.414199, 0, 0, 1.414210], 1e-5);
  // scores all 0 → softmax uniform over the visible positions: pos 0 sees itself, pos 1 averages both.
  assertClose(values(a["blocks.0.hook_attn_out"]), [1.414199, 0, 0.707100, 0.707105], 1e-5);
  // resid_mid = x + attn_out
  assertClose(values(a["blocks.0.hook_resid_mid"]), [2.414199, 0, 0.707100, 2.707105], 1e-5);
  // (2.4142, 0): mean square 2.91421, rms → (1.414211, 0);
  // (0.7071, 2.7071): mean square 3.91421, rms → (0.357403, 1.368305)
  assertClose(values(a["blocks.0.ln2.hook_normalized"]), [1.414211, 0, 0.357403, 1.368305], 1e-5);
  // post = silu(n)·n with silu(z) = z / (1 + e^−z): silu(1.414211)·1.414211 = 1.608853,
  // silu(0.357403)·0.357403 = 0.075162, silu(1.368305)·1.368305 = 1.492388
  assertClose(values(a["blocks.0.mlp.hook_post"]), [1.608853, 0, 0.075162, 1.492388], 1e-5);
  // resid_post = resid_mid + post (wDown = I)
  assertClose(values(a["blocks.0.hook_resid_post"]), [4.023053, 0, 0.782262, 4.199493], 1e-5);
  // logits = rms(resid_post) · I: (4.023053, 0) → (1.414213, 0); (0.782262, 4.199493) → (0.258978, 1.390298)
  assertClose(values(logits!), [1.414213, 0, 0.258978, 1.390298], 1e-5);
});

Deno.test("llamaForward() on stories260K returns logits [batch, seq, vocab] and every hook's shape", () => {
  const names = llamaHookNames(config);
  // hook_embed, 8 per block for 5 blocks, ln_final
  assert.equal(names.length, 1 + 8 * 5 + 1);
  const { logits, activations } = llamaForward(weights, config, TOKENS, { capture: names });
  assert.deepEqual(logits!.shape, [3, 6, 512]);
  assert.deepEqual(Object.keys(activations).sort(), [...names].sort());
  for (const name of names) {
    const width = name.endsWith("mlp.hook_post") ? 172 : 64;
    assert.deepEqual(activations[name].shape, [3, 6, width], name);
    assert.equal(llamaHookDim(config, name), width);
  }
  tf.dispose([logits!, ...Object.values(activations)]);
});

Deno.test("hook points satisfy the residual identities of every block", () => {
  const names = llamaHookNames(config);
  const { activations: a } = llamaForward(weights, config, TOKENS, { capture: names });
  // Llama has no positional embedding: the stream entering block 0 is the embedding.
  assert.equal(maxAbsDiff(a["hook_embed"], a["blocks.0.hook_resid_pre"]), 0);
  for (let l = 0; l < config.nLayers; l++) {
    const at = (p: string) => a[`blocks.${l}.${p}`];
    assertClose(maxAbsDiff(at("hook_resid_mid"), tf.add(at("hook_resid_pre"), at("hook_attn_out"))), 0, 1e-6);
    assertClose(maxAbsDiff(at("hook_resid_post"), tf.add(at("hook_resid_mid"), at("hook_mlp_out"))), 0, 1e-6);
    // mlp_out = hook_post · wDown
    const down = tf.reshape(
      tf.matMul(tf.reshape(at("mlp.hook_post"), [18, 172]), weights.blocks[l].wDown),
      [3, 6, 64],
    );
    assertClose(maxAbsDiff(at("hook_mlp_out"), down), 0, 1e-5);
    // ln2.hook_normalized = resid_mid / √(mean(resid_mid²) + ε) ⊙ ln2
    const mid = at("hook_resid_mid");
    const normed = tf.mul(
      tf.div(mid, tf.sqrt(tf.add(tf.mean(tf.square(mid), -1, true), 1e-5))),
      weights.blocks[l].ln2,
    );
    assertClose(maxAbsDiff(at("ln2.hook_normalized"), normed), 0, 1e-5);
    if (l + 1 < config.nLayers) {
      assert.equal(maxAbsDiff(at("hook_resid_post"), a[`blocks.${l + 1}.hook_resid_pre`]), 0);
    }
  }
  // logits = ln_final.hook_normalized · unembed
  const { logits } = llamaForward(weights, config, TOKENS);
  const fromHook = tf.reshape(
    tf.matMul(tf.reshape(a["ln_final.hook_normalized"], [18, 64]), weights.unembed),
    [3, 6, 512],
  );
  assertClose(maxAbsDiff(logits!, fromHook), 0, 1e-5);
});

Deno.test("llamaForward() with stopAtLayer gives the same activations as a full run and no logits", () => {
  const capture = [
    "hook_embed",
    "blocks.1.hook_resid_post",
    "blocks.2.mlp.hook_post",
    "blocks.3.hook_resid_pre",
  ];
  const full = llamaForward(weights, config, TOKENS, { capture });
  const before = tf.memory().numTensors;
  const partial = llamaForward(weights, config, TOKENS, { capture, stopAtLayer: 3 });
  assert.equal(partial.logits, undefined);
  // only the four captures outlive the call
  assert.equal(tf.memory().numTensors, before + 4);
  for (const name of capture) {
    assert.equal(maxAbsDiff(full.activations[name], partial.activations[name]), 0, name);
  }
  const none = llamaForward(weights, config, TOKENS, { capture: ["hook_embed"], stopAtLayer: 0 });
  assert.equal(maxAbsDiff(none.activations["hook_embed"], full.activations["hook_embed"]), 0);
  assert.throws(
    () => llamaForward(weights, config, TOKENS, { capture: ["blocks.3.hook_attn_out"], stopAtLayer: 3 }),
    /capture: hook blocks\.3\.hook_attn_out is not reached with stopAtLayer 3/,
  );
  assert.throws(
    () => llamaForward(weights, config, TOKENS, { capture: ["ln_final.hook_normalized"], stopAtLayer: 5 }),
    RangeError,
  );
  assert.throws(
    () => llamaForward(weights, config, TOKENS, { stopAtLayer: 6 }),
    /stopAtLayer: expected an integer in \[0, 5\], received 6/,
  );
});

Deno.test("replacing a hook with zeros changes the logits; with the identity it does not", () => {
  const base = llamaForward(weights, config, TOKENS).logits!;
  for (const name of ["blocks.2.hook_resid_pre", "blocks.1.mlp.hook_post", "blocks.4.hook_attn_out"]) {
    const same = llamaForward(weights, config, TOKENS, { replace: { [name]: (x) => x } }).logits!;
    assert.equal(maxAbsDiff(base, same), 0, name);
    const ablated = llamaForward(weights, config, TOKENS, { replace: { [name]: (x) => tf.zerosLike(x) } });
    assert.ok(maxAbsDiff(base, ablated.logits!) > 0.1, `${name}: zero-ablation left the logits unchanged`);
  }
  // The replacement flows on and is what capture records at that point.
  const { activations } = llamaForward(weights, config, TOKENS, {
    replace: { "blocks.0.hook_mlp_out": (x) => tf.zerosLike(x) },
    capture: ["blocks.0.hook_mlp_out", "blocks.0.hook_resid_mid", "blocks.0.hook_resid_post"],
  });
  assert.equal(tf.max(tf.abs(activations["blocks.0.hook_mlp_out"])).dataSync()[0], 0);
  assert.equal(
    maxAbsDiff(activations["blocks.0.hook_resid_mid"], activations["blocks.0.hook_resid_post"]),
    0,
  );
});

Deno.test("a replacement of the wrong shape is a RangeError naming the hook", () => {
  assert.throws(
    () =>
      llamaForward(weights, config, [[1, 2]], {
        replace: { "blocks.0.hook_attn_out": () => tf.zeros([1, 2, 3]) },
      }),
    /replace\["blocks\.0\.hook_attn_out"\]: expected a tensor of shape \[1, 2, 64\], received shape \[1, 2, 3\]/,
  );
});

Deno.test("an unknown hook name is a RangeError listing the valid ones", () => {
  for (
    const name of [
      "blocks.5.hook_resid_pre",
      "blocks.0.hook_resid",
      "hook_pos_embed",
      "blocks.01.hook_attn_out",
    ]
  ) {
    assert.throws(
      () => llamaForward(weights, config, [[1]], { capture: [name] }),
      (e: unknown) =>
        e instanceof RangeError && e.message.includes(`unknown hook "${name}"`) &&
        e.message.includes("hook_embed") && LLAMA_BLOCK_HOOKS.every((p) => e.message.includes(p)) &&
        e.message.includes("L in 0..4") && e.message.includes("ln_final.hook_normalized"),
    );
  }
  assert.throws(
    () => llamaForward(weights, config, [[1]], { replace: { nope: (x) => x } }),
    /replace: unknown hook "nope"/,
  );
});

Deno.test("llamaForward() is causal: later tokens do not change earlier logits", () => {
  const a = llamaForward(weights, config, [[1, 403, 407, 261]]).logits!;
  const b = llamaForward(weights, config, [[1, 403, 99, 7]]).logits!;
  const first = (t: tf.Tensor3D) => tf.slice(t, [0, 0, 0], [1, 2, -1]);
  assertClose(maxAbsDiff(first(a), first(b)), 0, 1e-6);
  assert.ok(maxAbsDiff(tf.slice(a, [0, 2, 0], [1, 1, -1]), tf.slice(b, [0, 2, 0], [1, 1, -1])) > 0.1);
});

Deno.test("llamaForward() treats the rows of a batch independently", () => {
  const batched = llamaForward(weights, config, TOKENS).logits!;
  TOKENS.forEach((row, i) => {
    const alone = llamaForward(weights, config, [row]).logits!;
    assertClose(maxAbsDiff(alone, tf.slice(batched, [i, 0, 0], [1, -1, -1])), 0, 1e-5);
  });
});

Deno.test("llamaForwardWithCache() position by position equals one full forward pass", () => {
  const full = llamaForward(weights, config, TOKENS).logits!;
  // First three positions at once, then one at a time.
  let step = llamaForwardWithCache(weights, config, TOKENS.map((r) => r.slice(0, 3)), undefined);
  const parts = [step.logits];
  for (let p = 3; p < 6; p++) {
    step = llamaForwardWithCache(weights, config, TOKENS.map((r) => [r[p]]), step.cache);
    parts.push(step.logits);
  }
  assert.equal(step.cache.length, 6);
  assert.deepEqual(step.cache.keys[0].shape, [3, 4, 6, 8]);
  assertClose(maxAbsDiff(tf.concat(parts, 1), full), 0, 1e-5);
  assert.throws(
    () => llamaForwardWithCache(weights, config, [[1]], step.cache),
    /cache\.keys\[0\]: expected shape \[1, 4, 6, 8\], received \[3, 4, 6, 8\]/,
  );
});

Deno.test("rotary 'half' with q/k columns permuted per head equals rotary 'interleaved'", () => {
  // Interleaved rotates the pairs (2i, 2i+1) of a head; half rotates (i, i + dHead/2).
  // Moving column (h, 2i+j) to (h, j·dHead/2 + i) turns one into the other.
  const permute = (w: tf.Tensor2D, heads: number) =>
    tf.reshape(tf.transpose(tf.reshape(w, [64, heads, 4, 2]), [0, 1, 3, 2]), [64, heads * 8]) as tf.Tensor2D;
  const half: LlamaWeights = {
    ...weights,
    blocks: weights.blocks.map((b) => ({ ...b, wQ: permute(b.wQ, 8), wK: permute(b.wK, 4) })),
  };
  const a = llamaForward(weights, config, TOKENS).logits!;
  const b = llamaForward(half, { ...config, rotary: "half" }, TOKENS).logits!;
  assertClose(maxAbsDiff(a, b), 0, 1e-4);
  // and the wrong pairing gives different logits
  const wrong = llamaForward(half, config, TOKENS).logits!;
  assert.ok(maxAbsDiff(a, wrong) > 0.1);
});

Deno.test("llamaForward() leaves only its results alive", () => {
  const before = tf.memory().numTensors;
  const { logits, activations } = llamaForward(weights, config, TOKENS, {
    capture: ["hook_embed", "blocks.0.hook_resid_pre"],
    replace: { "blocks.1.hook_resid_pre": (x) => tf.mul(x, 0.5) },
  });
  assert.equal(tf.memory().numTensors, before + 3);
  // hook_embed and blocks.0.hook_resid_pre hold the same values but are separate handles.
  activations["hook_embed"].dispose();
  assert.equal(activations["blocks.0.hook_resid_pre"].isDisposed, false);
  tf.dispose([logits!, activations["blocks.0.hook_resid_pre"]]);
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("llamaForward() rejects tokens of the wrong shape, type or range", () => {
  assert.throws(
    () => llamaForward(weights, config, [[1, 2], [3]]),
    /tokens\[1\]: expected 2 tokens \(as tokens\[0\]\), received 1/,
  );
  assert.throws(
    () => llamaForward(weights, config, [[1, 512]]),
    /tokens\[0\]\[1\]: expected an integer in \[0, 511\], received 512/,
  );
  assert.throws(
    () => llamaForward(weights, config, tf.tensor2d([[1, 2]])),
    /tokens: expected dtype int32, received float32/,
  );
  assert.throws(
    () => llamaForward(weights, config, tf.zeros([1, 513], "int32") as tf.Tensor2D),
    /tokens: expected 1 to 512 positions \(maxSeq 512, 0 cached\), received 513/,
  );
});

Deno.test("checkLlamaWeights() names the tensor whose shape is wrong", () => {
  const small = initLlamaWeights({ ...HAND, nLayers: 2, dModel: 4, dHead: 2, nHeads: 2 }, 3);
  const cfg = { ...HAND, nLayers: 2, dModel: 4, dHead: 2, nHeads: 2 };
  checkLlamaWeights(small, cfg);
  // wK is [dModel, nKvHeads·dHead] = [4, 2]
  const wrongK = {
    ...small,
    blocks: [small.blocks[0], { ...small.blocks[1], wK: tf.zeros([4, 4]) as tf.Tensor2D }],
  };
  assert.throws(
    () => checkLlamaWeights(wrongK, cfg),
    /weights\.blocks\[1\]\.wK: expected shape \[4, 2\], received \[4, 4\]/,
  );
  assert.throws(
    () => checkLlamaWeights(small, { ...cfg, nKvHeads: 3 }),
    /nKvHeads: expected a divisor of nHeads \(2\), received 3/,
  );
});
