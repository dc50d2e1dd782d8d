/**
 * A check, run when the `webgpu` backend is chosen, that saekit's WGSL
 * kernels compile and compute the right numbers on this adapter: a small
 * ReLU and TopK step, Adam and the decoder constraint on the GPU, compared
 * with the composed maths on the `cpu` backend, and no validation error from
 * the device. About a second on a software adapter (mostly compiling).
 *
 * Effectful (switches the active backend to `cpu` and back).
 *
 * @module
 */
import { tf } from "../../tf.ts";
import { ADAM_KERNEL, NORMALIZE_ROWS_KERNEL, PROJECT_ROWS_KERNEL } from "../kernel_names.ts";
import { composedLossAndGrads, saeLossAndGrads } from "../../sae/objective.ts";
import type { SaeActivation } from "../../sae/arch/record.ts";
import { WEBGPU_BACKEND } from "./register.ts";

type GpuErrorScopes = {
  pushErrorScope(filter: "validation" | "internal" | "out-of-memory"): void;
  popErrorScope(): Promise<{ message: string } | null>;
};

/** Values with a fixed pattern in [−1, 1] (no randomness, so that every run checks the same numbers). */
function pattern(length: number, seed: number): Float32Array {
  return Float32Array.from({ length }, (_, i) => Math.sin(1.7 * i + seed) * Math.cos(0.31 * i * seed + 1));
}

/** The outputs to compare, in order, computed on the active backend. */
async function outputs(kind: "fused" | "composed"): Promise<Float32Array[]> {
  const [c, b, n, m] = [2, 70, 5, 40];
  const values: Float32Array[] = [];
  for (const activation of [{ kind: "relu" }, { kind: "topk", k: 3 }] as SaeActivation[]) {
    const params = {
      wEnc: tf.tensor3d(pattern(c * n * m, 1), [c, n, m]),
      bEnc: tf.tensor2d(pattern(c * m, 2).map((v) => v * 0.1), [c, m]),
      wDec: tf.tensor3d(pattern(c * m * n, 3), [c, m, n]),
      bDec: tf.tensor2d(pattern(c * n, 4), [c, n]),
    };
    const x = tf.tensor3d(pattern(c * b * n, 5), [c, b, n]);
    const r = kind === "fused"
      ? saeLossAndGrads(params, x, 0.05, Infinity, activation)
      : composedLossAndGrads(params, x, 0.05, activation);
    const out = [
      r.forward.f,
      r.forward.xHat,
      r.terms.total,
      r.loss,
      r.grads.wEnc,
      r.grads.bEnc,
      r.grads.wDec,
      r.grads.bDec,
      r.stats.l0,
      tf.cast(r.stats.fired, "float32"),
      r.stats.sst,
    ];
    for (const t of out) values.push(await t.data() as Float32Array);
    tf.dispose([...Object.values(params), x, ...out, ...Object.values(r.grads)]);
  }
  return values;
}

/** Adam, the row projection and normalisation on the GPU against the same formulas in JS. */
async function smallKernels(): Promise<string | undefined> {
  const g = pattern(300, 6), mu = pattern(300, 7).map((v) => v * 0.1), nu = pattern(300, 8).map((v) => v * v);
  const [b1, b2, eps, c1, c2] = [0.9, 0.999, 1e-8, 1 / (1 - 0.9 ** 3), 1 / (1 - 0.999 ** 3)];
  const tensors = [tf.tensor2d(g, [3, 100]), tf.tensor2d(mu, [3, 100]), tf.tensor2d(nu, [3, 100])];
  const engine = tf.engine();
  const adam = engine.runKernel(ADAM_KERNEL, { g: tensors[0], mu: tensors[1], nu: tensors[2] }, {
    b1,
    b2,
    eps,
    c1,
    c2,
  }) as tf.Tensor[];
  const project = engine.runKernel(PROJECT_ROWS_KERNEL, { w: tensors[1], g: tensors[0] }) as tf.Tensor;
  const normalize = engine.runKernel(NORMALIZE_ROWS_KERNEL, { w: tensors[0] }) as tf.Tensor;
  const update = await adam[2].data();
  const projected = await project.data(), normalized = await normalize.data();
  tf.dispose([...tensors, ...adam, project, normalize]);
  for (let i = 0; i < 300; i++) {
    const m = b1 * mu[i] + (1 - b1) * g[i], v = b2 * nu[i] + (1 - b2) * g[i] * g[i];
    const want = (c1 * m) / (Math.sqrt(c2 * v) + eps);
    if (!(Math.abs(update[i] - want) <= 1e-4 * Math.max(1, Math.abs(want)))) {
      return `${ADAM_KERNEL}: update[${i}] expected ${want}, computed ${update[i]}`;
    }
  }
  for (let r = 0; r < 3; r++) {
    let sq = 0, dot = 0, gg = 0;
    for (let j = 0; j < 100; j++) {
      sq += mu[r * 100 + j] ** 2;
      dot += g[r * 100 + j] * mu[r * 100 + j];
      gg += g[r * 100 + j] ** 2;
    }
    for (let j = 0; j < 100; j++) {
      const i = r * 100 + j;
      const p = g[i] - (mu[i] * dot) / sq, u = g[i] / Math.sqrt(gg);
      if (!(Math.abs(projected[i] - p) <= 1e-4 * Math.max(1, Math.abs(p)))) {
        return `${PROJECT_ROWS_KERNEL}: [${i}] expected ${p}, computed ${projected[i]}`;
      }
      if (!(Math.abs(normalized[i] - u) <= 1e-5)) {
        return `${NORMALIZE_ROWS_KERNEL}: [${i}] expected ${u}, computed ${normalized[i]}`;
      }
    }
  }
  return undefined;
}

/**
 * Runs the check with the `webgpu` backend active (and leaves it active):
 * `undefined` when every kernel agrees, else what went wrong.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { selectBackend } from "../select.ts";
 * import { webgpuSelfCheck } from "./self_check.ts";
 * if (await navigator.gpu?.requestAdapter()) {
 *   await selectBackend("webgpu"); // runs the check too, and fails if it finds a problem
 *   assert.equal(await webgpuSelfCheck(), undefined);
 *   await selectBackend("cpu");
 * }
 * ```
 */
export async function webgpuSelfCheck(): Promise<string | undefined> {
  if (tf.getBackend() !== WEBGPU_BACKEND) {
    return `expected the ${WEBGPU_BACKEND} backend active, received ${tf.getBackend()}`;
  }
  const device = (tf.backend() as unknown as { device: GpuErrorScopes }).device;
  const scopes = ["validation", "internal", "out-of-memory"] as const;
  for (const scope of scopes) device.pushErrorScope(scope);
  let gpu: Float32Array[] = [];
  let small: string | undefined;
  let failure: unknown;
  try {
    gpu = await outputs("fused");
    small = await smallKernels();
  } catch (error) {
    failure = error;
  }
  const errors = [];
  for (let i = 0; i < scopes.length; i++) errors.push(await device.popErrorScope());
  const error = errors.find((e) => e !== null);
  if (error) return `the device reported an error: ${error.message.split("\n").slice(0, 6).join(" ").trim()}`;
  if (failure !== undefined) throw failure;
  if (small !== undefined) return small;
  await tf.setBackend("cpu");
  let cpu: Float32Array[];
  try {
    cpu = await outputs("composed");
  } finally {
    await tf.setBackend(WEBGPU_BACKEND);
  }
  const names = ["f", "xHat", "total", "loss", "wEnc", "bEnc", "wDec", "bDec", "l0", "fired", "sst"];
  for (let i = 0; i < cpu.length; i++) {
    const want = cpu[i], got = gpu[i];
    const scale = want.reduce((a, v) => Math.max(a, Math.abs(v)), 1);
    for (let j = 0; j < want.length; j++) {
      if (!(Math.abs(got[j] - want[j]) <= 1e-4 * scale)) {
        const what = `${i < names.length ? "ReLU" : "TopK"} step's ${names[i % names.length]}`;
        return `the ${what}[${j}]: expected ${want[j]} (cpu), computed ${got[j]}`;
      }
    }
  }
  return undefined;
}
