/**
 * saekit's forward passes against the PyTorch baseline of the forward benchmark
 * (tasks/baselines/torch_forward.py, written from each family's equations with plain torch ops): on the
 * same random Hugging Face folder (lib/bench/random_models.ts) and the same token ids, the activations at
 * every hook point of the blocks run agree, on the composed tfjs path (`cpu`) and on the fused kernels
 * (`blas`). Needs a Python with torch (Debian's python3-torch): without one these tests fail, naming it.
 */
import { assert, tf } from "../_helpers.ts";
import { findTorchPython, runJson } from "../../lib/bench/benchmarks.ts";
import { benchTokens, torchForwardArgs } from "../../lib/bench/forward.ts";
import { type RandomModelShape, writeRandomModel } from "../../lib/bench/random_models.ts";
import { decodeSafetensors } from "../../lib/io/safetensors.ts";
import { selectBackend } from "../../lib/backends/select.ts";
import { loadHfGpt2 } from "../../lib/models/load/hf_gpt2.ts";
import { loadHfGptNeox } from "../../lib/models/load/hf_gpt_neox.ts";
import { loadHfLlama } from "../../lib/models/load/hf_llama.ts";
import { hookedGpt2, hookedGptNeox, hookedLlama, type HookedModel } from "../../lib/models/hooked.ts";

const SCRIPT = new URL("../../tasks/baselines/torch_forward.py", import.meta.url).pathname;

async function torchPython(): Promise<string> {
  const python = await findTorchPython();
  if (python !== undefined) return python;
  assert.fail(
    "no Python that imports torch (tried /usr/bin/python3, python3, python): install Debian's python3-torch " +
      "to run the PyTorch baseline of the forward benchmark",
  );
}

// Small models with weights large enough (std 0.3) that attention is far from uniform, so that a wrong mask,
// rotation or head layout changes the activations; head width 16, a rotated quarter for NeoX (4 dimensions).
const SMALL = { nLayers: 2, dModel: 64, nHeads: 4, dMlp: 96, vocabSize: 97, maxSeq: 40 } as const;
const SHAPES: Readonly<Record<string, RandomModelShape>> = {
  "GPT-2": { family: "gpt2", ...SMALL },
  "GPT-NeoX (parallel residual)": { family: "gpt_neox", ...SMALL, rotaryPct: 0.25 },
  "GPT-NeoX (sequential, half the head rotated)": {
    family: "gpt_neox",
    ...SMALL,
    rotaryPct: 0.5,
    parallelResidual: false,
  },
  "Llama (grouped-query, 2 key/value heads)": { family: "llama", ...SMALL, nKvHeads: 2 },
};

async function load(dir: string, shape: RandomModelShape): Promise<HookedModel> {
  if (shape.family === "gpt2") return hookedGpt2(await loadHfGpt2(dir));
  if (shape.family === "gpt_neox") return hookedGptNeox(await loadHfGptNeox(dir));
  return hookedLlama(await loadHfLlama(dir));
}

/** Largest |a − b| over the largest |b|: differences relative to the activation's scale. */
function relativeError(actual: Float32Array, expected: Float32Array): number {
  let scale = 0, worst = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  return worst / scale;
}

const TOLERANCE = 1e-5;

for (const [name, shape] of Object.entries(SHAPES)) {
  Deno.test(`${name}: saekit's activations at every hook point equal the PyTorch baseline's (cpu and blas)`, async () => {
    const python = await torchPython();
    const dir = await Deno.makeTempDir();
    try {
      await writeRandomModel(dir, shape, 5, { std: 0.3 });
      const layer = 1, windows = 3, tokens = 37, seed = 2;
      await runJson(python, [
        SCRIPT,
        ...torchForwardArgs({ model: dir, windows, tokens, layer, repeats: 1, warmup: 0, seed }),
        ...["--threads", "1", "--dump", `${dir}/torch.safetensors`],
      ]);
      const torch = decodeSafetensors(await Deno.readFile(`${dir}/torch.safetensors`)).tensors;
      const model = await load(dir, shape);
      const hooks = model.hookNames.filter((h) => h === "hook_embed" || /^blocks\.[01]\./.test(h));
      // The baseline dumped every hook of blocks 0..1 that saekit has (and the values are not all alike).
      assert.deepEqual(hooks.filter((h) => torch[h] === undefined), [], "hooks missing from the dump");
      const ids = benchTokens(windows, tokens, shape.vocabSize, seed);
      for (const backend of ["cpu", "blas"] as const) {
        await selectBackend(backend);
        try {
          const { activations } = model.forward(ids, { capture: hooks, stopAtLayer: layer + 1 });
          for (const hook of hooks) {
            const ours = activations[hook].dataSync() as Float32Array;
            const theirs = torch[hook].data as Float32Array;
            assert.deepEqual(torch[hook].shape, activations[hook].shape, `${backend} ${hook}: shape`);
            const error = relativeError(ours, theirs);
            assert.ok(error <= TOLERANCE, `${backend} ${hook}: largest difference ${error} of the scale`);
          }
          tf.dispose(Object.values(activations));
        } finally {
          await selectBackend("cpu");
        }
      }
      // The comparison can tell models apart: block 1's output differs from block 0's by far more.
      const post0 = torch["blocks.0.hook_resid_post"].data as Float32Array;
      const post1 = torch["blocks.1.hook_resid_post"].data as Float32Array;
      assert.ok(relativeError(post1, post0) > 100 * TOLERANCE);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("the PyTorch forward baseline prints its JSON line: sizes, timings, tokens/s and memory", async () => {
  const python = await torchPython();
  const dir = await Deno.makeTempDir();
  try {
    await writeRandomModel(dir, SHAPES["GPT-2"], 1);
    const out = await runJson(python, [
      SCRIPT,
      ...torchForwardArgs({ model: dir, windows: 2, tokens: 16, layer: 0, repeats: 3, warmup: 1, seed: 0 }),
      ...["--threads", "1"],
    ]);
    assert.equal(out.impl, "pytorch");
    assert.equal(out.family, "gpt2");
    assert.deepEqual([out.windows, out.tokens, out.layer, out.threads], [2, 16, 0, 1]);
    const [min, med, max] = [out.min_ms, out.median_ms, out.max_ms].map(Number);
    assert.ok(min > 0 && min <= med && med <= max, `${min} ≤ ${med} ≤ ${max}`);
    // 32 tokens per forward: tokens/s from the median, within the rounding of median_ms to 0.1 ms
    const rate = Number(out.tokens_per_s);
    assert.ok(rate >= 32 / ((med + 0.05) / 1000) - 1 && rate <= 32 / ((med - 0.05) / 1000) + 1, `${rate}/s`);
    // 97·64 + 40·64 + 2·(4·64 + 64·192 + 192 + 64·64 + 64 + 64·96 + 96 + 96·64 + 64) + 2·64 values:
    // 8,768 + 2·(256 + 12,480 + 4,160 + 6,240 + 6,208) + 128 = 67,584 floats, 0.26 MiB, rounded to 0
    assert.equal(out.weights_mb, 0);
    assert.ok(
      Number(out.peak_rss_mb) >= Number(out.forward_peak_rss_mb) && Number(out.forward_peak_rss_mb) > 10,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
