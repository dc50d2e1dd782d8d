/**
 * The PyTorch baseline of `deno task bench` (tasks/baselines/torch_sae_step.py): it runs for every
 * architecture and prints its JSON line, and its step is saekit's step of the same architecture (same
 * loss, gradients, Adam, decoder constraint and threshold tracking), so that the bench compares like with
 * like. Needs a Python with torch (Debian's python3-torch): without one these tests fail, naming it.
 */
import { assert, tf } from "../_helpers.ts";
import { tidy } from "../../lib/tf.ts";
import { findTorchPython, L0_ARCHS, runJson, stepConfig } from "../../lib/bench/benchmarks.ts";
import { ARCH_NAMES, type ArchName } from "../../lib/sae/arch/registry.ts";
import { specFor } from "../../lib/config.ts";
import { defaultPipeline } from "../../lib/train/pipeline.ts";
import { lossAndGradsFor } from "../../lib/sae/objective.ts";
import { disposeAll, disposeReplaced } from "../../lib/run/dispose.ts";
import type { SaeParams } from "../../lib/sae/params.ts";

const SCRIPT = new URL("../../tasks/baselines/torch_sae_step.py", import.meta.url).pathname;

async function torchPython(): Promise<string> {
  const python = await findTorchPython();
  if (python !== undefined) return python;
  const debian = await Deno.permissions.query({ name: "run", command: "/usr/bin/python3" });
  assert.fail(
    "no Python that imports torch (tried /usr/bin/python3, python3, python): install Debian's python3-torch " +
      "(and libopenblas0-pthread) to run the PyTorch baseline" +
      (debian.state === "granted" ? "" : "; and allow Debian's Python: --allow-run=/usr/bin/python3"),
  );
}

Deno.test("the PyTorch baseline runs every architecture at a tiny size and prints its JSON line", async () => {
  const python = await torchPython();
  for (const arch of ARCH_NAMES) {
    const l0 = L0_ARCHS.includes(arch) ? ["--l0", "4"] : [];
    const out = await runJson(python, [
      ...[SCRIPT, "--arch", arch, "--batch", "64", "--d-in", "8", "--d-sae", "32", "--k", "4"],
      ...["--steps", "2", "--warmup", "1", "--threads", "1", ...l0],
    ]);
    assert.equal(out.impl, "pytorch");
    assert.equal(out.arch, arch);
    assert.deepEqual([out.batch, out.d_in, out.d_sae, out.threads], [64, 8, 32, 1]);
    assert.match(String(out.torch), /^\d+\.\d+/);
    const [min, med, max] = [out.min_ms, out.median_ms, out.max_ms].map(Number);
    assert.ok(min > 0 && min <= med && med <= max, `${arch}: ${min} ≤ ${med} ≤ ${max}`);
    // activations/s from the unrounded median: within the rounding of median_ms to 0.1 ms.
    const rate = Number(out.activations_per_s);
    assert.ok(
      rate >= 64 / ((med + 0.05) / 1000) - 1 && rate <= 64 / ((med - 0.05) / 1000) + 1,
      `${arch}: ${rate}/s`,
    );
    assert.ok(Number(out.peak_rss_mb) > 10);
    assert.ok(["openblas", "mkl", "reference", "unknown"].includes(String(out.blas)));
    // --l0 4: round(64 · 4 / 32) = 8 items per feature, 32 · 8 / 64 = 4; the TopK family keeps k = 4 per item
    // (BatchTopK: 4 · 64 of the batch's ~1000 positive pre-activations).
    assert.equal(out.start_l0, 4, `${arch}: starting L0`);
  }
  // Without --l0, a coefficient architecture starts with about half of its 32 features active.
  const free = await runJson(python, [
    SCRIPT,
    "--batch",
    "64",
    "--d-in",
    "8",
    "--d-sae",
    "32",
    "--steps",
    "1",
  ]);
  assert.ok(Number(free.start_l0) > 8 && Number(free.start_l0) < 24, `relu: starting L0 ${free.start_l0}`);
});

Deno.test("the PyTorch baseline refuses --l0 for the TopK family and an L0 the batch cannot give", async () => {
  const python = await torchPython();
  for (
    const [args, message] of [
      [
        ["--arch", "batchtopk", "--l0", "4"],
        /--l0: expected an architecture with a coefficient, received batchtopk/,
      ],
      [["--l0", "1"], /--l0: expected batch \* N \/ d_sae to round to an integer in \[1, 63\].*\(r = 0\)/],
    ] as const
  ) {
    const { code, stderr } = await new Deno.Command(python, {
      args: [SCRIPT, "--batch", "64", "--d-in", "8", "--d-sae", "512", "--steps", "1", ...args],
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.notEqual(code, 0);
    assert.match(new TextDecoder().decode(stderr), message);
  }
});

/** saekit's parameter names and the baseline's. */
const NAMES: Readonly<Record<string, string>> = {
  wEnc: "w_enc",
  bEnc: "b_enc",
  wDec: "w_dec",
  bDec: "b_dec",
  threshold: "threshold",
  rMag: "r_mag",
  bMag: "b_mag",
};

/** A tensor with a leading component axis of 1, as nested arrays without it. */
function host(t: tf.Tensor): unknown {
  return (t.arraySync() as unknown[])[0];
}

function flat(value: unknown): number[] {
  return (Array.isArray(value) ? value.flat(Infinity) : [value]) as number[];
}

/** Asserts |a − b| ≤ tol · max|b| elementwise, naming the architecture and the tensor. */
function assertNear(actual: number[], expected: number[], tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  const scale = Math.max(...expected.map(Math.abs));
  assert.ok(scale > 0, `${what}: expected a tensor with a non-zero value`);
  const worst = Math.max(...actual.map((a, i) => Math.abs(a - expected[i])));
  assert.ok(worst <= tol * scale, `${what}: largest difference ${worst}, expected at most ${tol} · ${scale}`);
}

/**
 * One architecture: the bench's configuration at batch 32, dIn 8, dSae 32, k 4; its initial parameters and a
 * batch go to the baseline (--init), which takes two steps; saekit takes the same two steps with the
 * default pipeline (the composed maths on the cpu backend). The first step's gradients and loss, and the
 * parameters after both steps, must agree.
 */
async function compareSteps(python: string, arch: ArchName): Promise<void> {
  const config = stepConfig({ batch: 32, dIn: 8, dSae: 32, steps: 2, warmup: 0, architecture: arch, k: 4 });
  const { init, step } = defaultPipeline(config);
  let state = init(config);
  const x = tf.randomNormal([1, 32, 8], 0, 1, "float32", 7) as tf.Tensor3D;
  const initial: Record<string, unknown> = { x: host(x) };
  for (const [name, value] of Object.entries(state.params as SaeParams)) {
    if (value !== undefined) initial[NAMES[name]] = host(value);
  }
  const first = tidy(() => lossAndGradsFor(specFor(config), state.params, x));
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/init.json`, JSON.stringify(initial));
    await runJson(python, [
      ...[SCRIPT, "--arch", arch, "--k", "4", "--steps", "2", "--warmup", "0", "--threads", "1"],
      ...["--init", `${dir}/init.json`, "--dump", `${dir}/out.json`],
    ]);
    const torch = JSON.parse(await Deno.readTextFile(`${dir}/out.json`));
    const grads = first.grads as Record<string, tf.Tensor | undefined>;
    for (const [name, value] of Object.entries(grads)) {
      if (value === undefined) continue;
      assertNear(
        flat(host(value)),
        flat(torch.grads[NAMES[name]]),
        1e-4,
        `${arch}: first step's ∂L/∂${name}`,
      );
    }
    assert.deepEqual(
      Object.keys(torch.grads).sort(),
      Object.entries(grads).filter(([, v]) => v !== undefined).map(([n]) => NAMES[n]).sort(),
      `${arch}: the same trained parameters`,
    );
    const loss = first.loss.dataSync()[0];
    assert.ok(
      Math.abs(loss - torch.losses[0]) <= 1e-5 * loss,
      `${arch}: loss ${loss} and ${torch.losses[0]}`,
    );
    for (let i = 0; i < 2; i++) {
      const prev = state;
      const next = tidy(() => step(prev, { x }));
      disposeReplaced(prev, next);
      state = next;
    }
    for (const [name, value] of Object.entries(state.params as SaeParams)) {
      if (value === undefined) continue;
      const after = flat(host(value));
      assertNear(after, flat(torch[NAMES[name]]), 1e-5, `${arch}: ${name} after two steps`);
      // The steps moved the parameter (else the comparison would prove nothing); BatchTopK's tracked
      // threshold moves from 0 to the smallest kept activation.
      const before = flat(initial[NAMES[name]]);
      assert.ok(after.some((v, i) => Math.abs(v - before[i]) > 1e-4), `${arch}: ${name} unchanged`);
    }
  } finally {
    tf.dispose([first as never, x]);
    disposeAll(state);
    await Deno.remove(dir, { recursive: true });
  }
}

for (const arch of ARCH_NAMES) {
  Deno.test(`the PyTorch baseline's ${arch} step is saekit's: gradients, loss and two Adam steps agree`, async () => {
    await compareSteps(await torchPython(), arch);
  });
}
