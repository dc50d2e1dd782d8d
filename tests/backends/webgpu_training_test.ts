/**
 * Training on the `webgpu` backend (tfjs-backend-webgpu with saekit's WGSL
 * kernels) tracks the `blas` backend: 200 toy steps of ReLU and of TopK end
 * with weights within 1e-3 (relative) and the same MMCS within 0.01; every
 * tfjs kernel the training path still runs on the GPU gives the `cpu`
 * kernel's numbers; `deno task train --backend webgpu` writes checkpoints
 * and resumes exactly; `auto` passes over a software adapter and names it.
 *
 * These run on any WebGPU adapter, Mesa's llvmpipe included (CI installs
 * `mesa-vulkan-drivers`): without an adapter they are ignored, and CI fails
 * on ignored tests.
 */
import { assert, tf } from "../_helpers.ts";
import { selectBackend } from "../../lib/backends/select.ts";
import { loadBlas } from "../../lib/backends/blas_ffi.ts";
import { checkKernelsAgainstCpu } from "../../lib/backends/webgpu/trace.ts";
import { parseConfig, type TrainConfigInput } from "../../lib/config.ts";
import { toySource } from "../../lib/data/toy.ts";
import { mmcs } from "../../lib/metrics/mmcs.ts";
import { type LogRecord, train } from "../../lib/run/runner.ts";
import { disposeAll } from "../../lib/run/dispose.ts";
import { runTrainCommand } from "../../lib/cli/train.ts";
import { readSafetensors } from "../../lib/io/safetensors.ts";
import { deviceErrors } from "../../lib/backends/webgpu/device.ts";

/** The errors reported by the device of tfjs's webgpu backend (none before the backend started). */
function webgpuDeviceErrors(): readonly string[] {
  const backend = tf.engine().registry.webgpu as { device?: GPUDevice } | undefined;
  return backend?.device === undefined ? [] : deviceErrors(backend.device);
}

const gpu = (globalThis.navigator as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
const adapter = gpu ? await gpu.requestAdapter().catch(() => null) : null;
const noAdapter = adapter ? undefined : "no WebGPU adapter (on Linux: apt-get install mesa-vulkan-drivers)";
if (noAdapter) console.warn(`webgpu training tests ignored: ${noAdapter}`);
/** The reference backend: `blas` where OpenBLAS loads, else the pure-JS `cpu`. */
const reference = "reason" in loadBlas() ? "cpu" : "blas";

/** The toy problem of the parity tests: 2 SAEs 16 → 64 on 24 ground-truth features, batches of 256. */
const TOY = { nComponents: 2, dIn: 16, nFeatures: 24, meanActive: 3, chunkRows: 4096, seed: 7 };

type Trained = { params: Record<string, Float32Array>; mmcs: number[]; logs: LogRecord[] };

/** Trains the toy problem on `backend` and returns host copies of the final parameters and the MMCS. */
async function trainOn(backend: "webgpu" | "blas" | "cpu", extra: TrainConfigInput): Promise<Trained> {
  await selectBackend(backend);
  try {
    const config = parseConfig({
      dIn: TOY.dIn,
      expansionFactor: 4,
      nComponents: TOY.nComponents,
      batchSize: 256,
      storeSize: 4096,
      steps: 200,
      logEvery: 100,
      lr: 3e-3,
      toyFeatures: TOY.nFeatures,
      toyMeanActive: TOY.meanActive,
      // one resample at step 100 (of the features dead by then, if any)
      resampleInterval: 256 * 100,
      resampleCollate: 256 * 50,
      resampleDatasetSize: 256 * 10,
      maxResamples: 1,
      seed: TOY.seed,
      ...extra,
    });
    const source = toySource(TOY);
    const truth = tf.tensor3d(source.groundTruth, [TOY.nComponents, TOY.nFeatures, TOY.dIn]);
    const logs: LogRecord[] = [];
    const result = await train({ config, source, onLog: (r) => logs.push(r) });
    assert.equal(tf.getBackend(), backend);
    const params: Record<string, Float32Array> = {};
    for (const [key, t] of Object.entries(result.state.params)) params[key] = await t.data() as Float32Array;
    const score = mmcs(truth, result.state.params.wDec);
    const values = Array.from(await score.data());
    tf.dispose([truth, score]);
    disposeAll(result.state);
    return { params, mmcs: values, logs };
  } finally {
    await selectBackend("cpu");
  }
}

/** A test that needs a WebGPU adapter, and after which the device must have reported no error. */
function gpuTest(name: string, fn: () => Promise<void>): void {
  Deno.test({
    name,
    ignore: noAdapter !== undefined,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      await fn();
      assert.deepEqual(webgpuDeviceErrors(), [], "errors the WebGPU device reported");
    },
  });
}

/** ‖a − b‖ / ‖b‖. */
function relativeDistance(a: Float32Array, b: Float32Array): number {
  let d = 0, n = 0;
  for (let i = 0; i < b.length; i++) {
    d += (a[i] - b[i]) ** 2;
    n += b[i] ** 2;
  }
  return Math.sqrt(d / Math.max(n, 1e-30));
}

function assertTracks(gpuRun: Trained, ref: Trained, what: string): void {
  assert.deepEqual(Object.keys(gpuRun.params).sort(), Object.keys(ref.params).sort());
  for (const [key, values] of Object.entries(ref.params)) {
    const d = relativeDistance(gpuRun.params[key], values);
    assert.ok(
      d <= 1e-3,
      `${what}: ${key} after 200 steps: ‖webgpu − ${reference}‖/‖${reference}‖ = ${d}, expected ≤ 1e-3`,
    );
    assert.ok(gpuRun.params[key].every(Number.isFinite), `${what}: ${key} has a value that is not finite`);
  }
  gpuRun.mmcs.forEach((score, i) =>
    assert.ok(
      Math.abs(score - ref.mmcs[i]) <= 0.01,
      `${what}: MMCS of component ${i}: webgpu ${score}, ${reference} ${ref.mmcs[i]}, expected within 0.01`,
    )
  );
  const last = gpuRun.logs.at(-1)!, refLast = ref.logs.at(-1)!;
  assert.equal(last.step, 200);
  for (
    const key of [
      "loss/total/mean",
      "train/l0_norm/mean",
      "train/dead_fraction/mean",
      "train/explained_variance/mean",
    ]
  ) {
    assert.ok(
      Math.abs((last[key] as number) - (refLast[key] as number)) <=
        1e-3 * Math.max(1, Math.abs(refLast[key] as number)),
      `${what}: ${key}: webgpu ${last[key]}, ${reference} ${refLast[key]}`,
    );
  }
}

gpuTest(
  `ReLU: 200 toy steps on webgpu end within 1e-3 of ${reference} (weights) and 0.01 (MMCS)`,
  async () => {
    const extra = { l1Coefficient: 0.02 };
    const gpuRun = await trainOn("webgpu", extra);
    const ref = await trainOn(reference, extra);
    assertTracks(gpuRun, ref, "ReLU");
    // It learned: the loss fell by more than half.
    const first = gpuRun.logs[0]["loss/total/mean"] as number,
      last = gpuRun.logs.at(-1)!["loss/total/mean"] as number;
    assert.ok(last < 0.5 * first, `loss ${first} -> ${last}`);
  },
);

gpuTest(
  `TopK (k = 4): 200 toy steps on webgpu end within 1e-3 of ${reference} (weights) and 0.01 (MMCS)`,
  async () => {
    const extra = { arch: "topk", k: 4 } as const;
    const gpuRun = await trainOn("webgpu", extra);
    const ref = await trainOn(reference, extra);
    assertTracks(gpuRun, ref, "TopK");
    assert.ok(gpuRun.logs.at(-1)!["train/l0_norm/mean"] as number <= 4);
  },
);

gpuTest(
  "every tfjs kernel that ReLU and TopK training (AuxK, resampling, capacity) runs on webgpu matches the cpu kernel",
  async () => {
    await selectBackend("webgpu");
    try {
      for (
        const extra of [{ l1Coefficient: 0.02 }, { arch: "topk", k: 4, auxK: 8, deadActivations: 256 * 2 }]
      ) {
        const config = parseConfig({
          dIn: TOY.dIn,
          expansionFactor: 4,
          nComponents: TOY.nComponents,
          batchSize: 256,
          storeSize: 2048,
          steps: 12,
          logEvery: 4,
          lr: 3e-3,
          toyFeatures: TOY.nFeatures,
          toyMeanActive: TOY.meanActive,
          resampleInterval: 256 * 8,
          resampleCollate: 256 * 4,
          resampleDatasetSize: 256 * 2,
          maxResamples: 1,
          seed: TOY.seed,
          ...extra,
        } as TrainConfigInput);
        const source = toySource({ ...TOY, chunkRows: 2048 });
        const { report } = await checkKernelsAgainstCpu(async () => {
          const result = await train({ config, source });
          disposeAll(result.state);
        });
        const names = report.map((r) => r.kernel);
        // The training path: saekit's kernels for the step, Adam and the decoder; tfjs's for the rest.
        for (
          const name of ["SaekitReluSaeLossAndGrads", "SaekitAdamMoments", "Sum", "Cast", "Select", "TopK"]
        ) {
          if (name === "TopK" && !("arch" in extra)) continue;
          assert.ok(names.includes(name), `${name} was not traced (traced: ${names.join(", ")})`);
        }
        for (const r of report) {
          if (r.kernel.startsWith("Saekit")) continue; // no cpu kernel: checked in webgpu_kernels_test.ts
          assert.equal(r.unchecked, undefined, `${r.kernel}: ${r.unchecked}`);
          assert.equal(r.failures, 0, `${r.kernel}: ${r.failures} of ${r.calls} calls differ: ${r.example}`);
        }
      }
    } finally {
      await selectBackend("cpu");
    }
  },
);

gpuTest(
  "deno task train --backend webgpu: checkpoints, and a run resumed at step 10 ends as the unbroken run",
  async () => {
    const args = [
      "--source",
      "toy",
      "--backend",
      "webgpu",
      "--batch-size",
      "128",
      "--store-size",
      "1024",
      "--log-every",
      "5",
      "--checkpoint-every",
      "10",
      "--tensorboard",
      "false",
    ];
    let text = "";
    const io = () => ({
      write: (t: string) => void (text += t),
      isTerminal: false,
      signal: new AbortController().signal,
    });
    const whole = await Deno.makeTempDir(), broken = await Deno.makeTempDir();
    try {
      assert.equal(await runTrainCommand([...args, "--steps", "20", "--out", whole], io()), 0, text);
      assert.match(text, /backend webgpu/);
      assert.equal(await runTrainCommand([...args, "--steps", "10", "--out", broken], io()), 0, text);
      assert.ok((await Deno.stat(`${broken}/checkpoints/step-00000010/state.safetensors`)).isFile);
      assert.equal(await runTrainCommand(["--resume", broken, "--steps", "20"], io()), 0, text);
      for (const component of ["toy.0", "toy.1", "toy.2"]) {
        const a = await readSafetensors(`${whole}/final/${component}/sae_weights.safetensors`);
        const b = await readSafetensors(`${broken}/final/${component}/sae_weights.safetensors`);
        assert.deepEqual(Object.keys(b.tensors).sort(), Object.keys(a.tensors).sort());
        for (const [name, t] of Object.entries(a.tensors)) {
          assert.deepEqual(
            b.tensors[name].data,
            t.data,
            `${component} ${name}: resumed differs from unbroken`,
          );
          assert.ok((t.data as Float32Array).every(Number.isFinite), `${component} ${name}: not finite`);
        }
      }
      const lines = (await Deno.readTextFile(`${broken}/metrics.jsonl`)).trim().split("\n").map((l) =>
        JSON.parse(l)
      );
      assert.deepEqual(lines.map((l) => l.step), [5, 10, 15, 20]);
      assert.ok(lines.every((l) => Number.isFinite(l["loss/total/mean"])), "a loss that is not finite");
    } finally {
      await Deno.remove(whole, { recursive: true });
      await Deno.remove(broken, { recursive: true });
      await selectBackend("cpu");
    }
  },
);

gpuTest(
  "selectBackend: webgpu names its adapter; auto passes over a software adapter and says which",
  async () => {
    try {
      const choice = await selectBackend("webgpu");
      assert.equal(choice.name, "webgpu");
      assert.match(choice.device ?? "", /, a (software|hardware) adapter$/);
      const auto = await selectBackend("auto");
      if (/software/.test(choice.device!)) {
        assert.notEqual(auto.name, "webgpu");
        assert.ok(
          auto.skipped.some((s) => /^webgpu: the only WebGPU adapter is a software renderer \(.+\)$/.test(s)),
          `skipped: ${auto.skipped.join("; ")}`,
        );
      } else {
        assert.equal(auto.name, "webgpu", `skipped: ${auto.skipped.join("; ")}`);
      }
    } finally {
      await selectBackend("cpu");
    }
  },
);
