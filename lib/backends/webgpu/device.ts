/**
 * Runs saekit's WGSL kernels (`wgsl.ts`) on a `GPUDevice`, beside tfjs's
 * WebGPU backend and on its buffers: compiled pipelines are kept per device,
 * a call records its dispatches into one command encoder of its own and
 * submits it, after flushing whatever tfjs had recorded (so the queue's order
 * is the program's order), and the small uniform buffers are reused once
 * their submission is in the queue.
 *
 * Effectful (GPU).
 *
 * @module
 */
import type { tf } from "../../tf.ts";
import { grid, type KernelSource, packParams, WORKGROUP } from "./wgsl.ts";

/**
 * The parts of tfjs-backend-webgpu's `WebGPUBackend` (4.22) that saekit's
 * kernels use: its device, its map from data ids to GPU buffers (or to values
 * still on the CPU), and the calls that upload values, allocate, and flush
 * its own recorded commands.
 */
export type WebgpuBackendLike = {
  readonly device: GPUDevice;
  readonly tensorMap: {
    get(dataId: tf.DataId): {
      values?: tf.backend_util.BackendValues | null;
      resource?: unknown;
      dtype: tf.DataType;
      shape: number[];
    };
  };
  commandEncoder: GPUCommandEncoder | null;
  uploadToGPU(dataId: tf.DataId): void;
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: tf.backend_util.BackendValues): tf.TensorInfo;
  endComputePassEncoder(): void;
  submitQueue(): void;
};

/**
 * Whether `backend` looks like tfjs's WebGPU backend (has what {@linkcode WebgpuBackendLike} names).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isWebgpuBackend } from "./device.ts";
 * assert.equal(isWebgpuBackend({}), false);
 * assert.equal(isWebgpuBackend(null), false);
 * ```
 */
export function isWebgpuBackend(backend: unknown): backend is WebgpuBackendLike {
  const b = backend as Partial<Record<keyof WebgpuBackendLike, unknown>> | null;
  return typeof b === "object" && b !== null && typeof b.device === "object" &&
    typeof b.uploadToGPU === "function" && typeof b.submitQueue === "function" &&
    typeof b.endComputePassEncoder === "function" && typeof b.makeTensorInfo === "function";
}

/**
 * Submits the commands tfjs has recorded and not yet submitted.
 *
 * @example On tfjs's webgpu backend, where there is an adapter
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../../tf.ts";
 * import { registerWebgpuKernels } from "./register.ts";
 * import { allocate, bufferOf, flushBackend, isWebgpuBackend } from "./device.ts";
 * if (await navigator.gpu?.requestAdapter()) {
 *   await registerWebgpuKernels();
 *   await tf.setBackend("webgpu");
 *   const backend = tf.backend();
 *   assert.ok(isWebgpuBackend(backend));
 *   const x = tf.tensor1d([1, 2, 3]); // values still on the CPU
 *   const buffer = bufferOf(backend, x); // uploaded
 *   flushBackend(backend);
 *   assert.equal(buffer.size, 12);
 *   const { info } = allocate(backend, [2, 2], "int32");
 *   assert.deepEqual(info.shape, [2, 2]);
 *   (backend as unknown as tf.KernelBackend).disposeData(info.dataId);
 *   x.dispose();
 *   await tf.setBackend("cpu");
 * }
 * ```
 */
export function flushBackend(backend: WebgpuBackendLike): void {
  backend.endComputePassEncoder();
  if (backend.commandEncoder !== null) backend.submitQueue();
}

/**
 * The GPU buffer of a tensor, uploading its values first if they are still
 * on the CPU. Call {@linkcode flushBackend} after the last upload and before
 * recording work that reads the buffers.
 *
 * @example On tfjs's webgpu backend, where there is an adapter
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../../tf.ts";
 * import { registerWebgpuKernels } from "./register.ts";
 * import { allocate, bufferOf, flushBackend, isWebgpuBackend } from "./device.ts";
 * if (await navigator.gpu?.requestAdapter()) {
 *   await registerWebgpuKernels();
 *   await tf.setBackend("webgpu");
 *   const backend = tf.backend();
 *   assert.ok(isWebgpuBackend(backend));
 *   const x = tf.tensor1d([1, 2, 3]); // values still on the CPU
 *   const buffer = bufferOf(backend, x); // uploaded
 *   flushBackend(backend);
 *   assert.equal(buffer.size, 12);
 *   const { info } = allocate(backend, [2, 2], "int32");
 *   assert.deepEqual(info.shape, [2, 2]);
 *   (backend as unknown as tf.KernelBackend).disposeData(info.dataId);
 *   x.dispose();
 *   await tf.setBackend("cpu");
 * }
 * ```
 */
export function bufferOf(backend: WebgpuBackendLike, t: tf.TensorInfo): GPUBuffer {
  backend.uploadToGPU(t.dataId);
  const resource = backend.tensorMap.get(t.dataId).resource;
  if (!(resource instanceof GPUBuffer)) {
    throw new TypeError(
      `tensor [${t.shape}] (${t.dtype}): expected its values in a GPU buffer, received ${resource}`,
    );
  }
  return resource;
}

/**
 * A new tfjs tensor of the backend, with its GPU buffer (contents undefined until a kernel writes them).
 *
 * @example On tfjs's webgpu backend, where there is an adapter
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../../tf.ts";
 * import { registerWebgpuKernels } from "./register.ts";
 * import { allocate, bufferOf, flushBackend, isWebgpuBackend } from "./device.ts";
 * if (await navigator.gpu?.requestAdapter()) {
 *   await registerWebgpuKernels();
 *   await tf.setBackend("webgpu");
 *   const backend = tf.backend();
 *   assert.ok(isWebgpuBackend(backend));
 *   const x = tf.tensor1d([1, 2, 3]); // values still on the CPU
 *   const buffer = bufferOf(backend, x); // uploaded
 *   flushBackend(backend);
 *   assert.equal(buffer.size, 12);
 *   const { info } = allocate(backend, [2, 2], "int32");
 *   assert.deepEqual(info.shape, [2, 2]);
 *   (backend as unknown as tf.KernelBackend).disposeData(info.dataId);
 *   x.dispose();
 *   await tf.setBackend("cpu");
 * }
 * ```
 */
export function allocate(
  backend: WebgpuBackendLike,
  shape: number[],
  dtype: "float32" | "int32" = "float32",
): { info: tf.TensorInfo; buffer: GPUBuffer } {
  const info = backend.makeTensorInfo(shape, dtype);
  return { info, buffer: bufferOf(backend, info) };
}

type Pending = { readonly size: number; readonly buffer: GPUBuffer };

/**
 * Compiled pipelines, reusable uniform buffers and workspaces of one device.
 *
 * @example Converts three int32 values on the GPU, where there is an adapter
 * ```ts
 * import assert from "node:assert/strict";
 * import { intToFloatSource } from "./wgsl.ts";
 * import { runnerFor } from "./device.ts";
 * const adapter = await navigator.gpu?.requestAdapter();
 * if (adapter) {
 *   const device = await adapter.requestDevice();
 *   const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
 *   const x = device.createBuffer({ size: 12, usage }), out = device.createBuffer({ size: 12, usage });
 *   const read = device.createBuffer({ size: 12, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
 *   device.queue.writeBuffer(x, 0, new Int32Array([-2, 0, 7]));
 *   const rec = runnerFor(device).record();
 *   rec.elements(intToFloatSource(), { total: 3 }, [x, out]);
 *   rec.copy(out, 0, read, 0, 3);
 *   rec.submit();
 *   await read.mapAsync(GPUMapMode.READ);
 *   assert.deepEqual([...new Float32Array(read.getMappedRange())], [-2, 0, 7]);
 *   device.destroy();
 * }
 * ```
 */
export class KernelRunner {
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly freeUniforms = new Map<number, GPUBuffer[]>();
  private readonly workspaces = new Map<string, GPUBuffer>();
  private workspaceKey = "";

  constructor(readonly device: GPUDevice) {}

  /** The pipeline of a kernel source, compiled on first use. */
  pipeline(source: KernelSource): GPUComputePipeline {
    let pipeline = this.pipelines.get(source.key);
    if (pipeline === undefined) {
      const module = this.device.createShaderModule({ label: `saekit ${source.key}`, code: source.code });
      pipeline = this.device.createComputePipeline({
        label: `saekit ${source.key}`,
        layout: "auto",
        compute: { module, entryPoint: "main" },
      });
      this.pipelines.set(source.key, pipeline);
    }
    return pipeline;
  }

  /**
   * Scratch buffers of a kernel, kept while `key` (the shapes) stays the
   * same: `sizes` in float32 values, one buffer each. A new key frees the
   * previous set (the device keeps them until their submitted work is done).
   */
  workspace(key: string, sizes: readonly number[]): GPUBuffer[] {
    if (key !== this.workspaceKey) {
      for (const buffer of this.workspaces.values()) buffer.destroy();
      this.workspaces.clear();
      this.workspaceKey = key;
    }
    return sizes.map((size, i) => {
      let buffer = this.workspaces.get(`${i}`);
      if (buffer === undefined) {
        buffer = this.device.createBuffer({
          label: `saekit workspace ${key} #${i}`,
          size: Math.max(4, size * 4),
          usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
        });
        this.workspaces.set(`${i}`, buffer);
      }
      return buffer;
    });
  }

  /** Starts recording one submission. */
  record(): Recording {
    return new Recording(this);
  }

  /** A uniform buffer of `size` bytes holding `bytes`: reused when one is free, else new. */
  uniform(bytes: ArrayBuffer): Pending {
    const size = bytes.byteLength;
    const buffer = this.freeUniforms.get(size)?.pop() ??
      this.device.createBuffer({ size, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    // Queue order: this write lands before the submission that reads it, after any earlier one that used it.
    this.device.queue.writeBuffer(buffer, 0, bytes);
    return { size, buffer };
  }

  /** Uniform buffers whose submission has been queued, free for the next writes. */
  release(uniforms: readonly Pending[]): void {
    for (const { size, buffer } of uniforms) {
      const list = this.freeUniforms.get(size) ?? [];
      list.push(buffer);
      this.freeUniforms.set(size, list);
    }
  }
}

/**
 * One submission being recorded: dispatches in one compute pass, and copies between them.
 *
 * @example Converts three int32 values on the GPU, where there is an adapter
 * ```ts
 * import assert from "node:assert/strict";
 * import { intToFloatSource } from "./wgsl.ts";
 * import { runnerFor } from "./device.ts";
 * const adapter = await navigator.gpu?.requestAdapter();
 * if (adapter) {
 *   const device = await adapter.requestDevice();
 *   const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
 *   const x = device.createBuffer({ size: 12, usage }), out = device.createBuffer({ size: 12, usage });
 *   const read = device.createBuffer({ size: 12, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
 *   device.queue.writeBuffer(x, 0, new Int32Array([-2, 0, 7]));
 *   const rec = runnerFor(device).record();
 *   rec.elements(intToFloatSource(), { total: 3 }, [x, out]);
 *   rec.copy(out, 0, read, 0, 3);
 *   rec.submit();
 *   await read.mapAsync(GPUMapMode.READ);
 *   assert.deepEqual([...new Float32Array(read.getMappedRange())], [-2, 0, 7]);
 *   device.destroy();
 * }
 * ```
 */
export class Recording {
  private readonly encoder: GPUCommandEncoder;
  private pass: GPUComputePassEncoder | null = null;
  private readonly uniforms: Pending[] = [];

  constructor(private readonly runner: KernelRunner) {
    this.encoder = runner.device.createCommandEncoder({ label: "saekit" });
  }

  /**
   * Records one dispatch of `source` with its uniform values and its storage
   * buffers (in the order of `source.buffers`) over `workgroups` workgroups.
   */
  dispatch(
    source: KernelSource,
    params: Readonly<Record<string, number>>,
    buffers: readonly GPUBuffer[],
    workgroups: readonly [number, number, number],
  ): void {
    if (buffers.length !== source.buffers.length) {
      throw new RangeError(
        `kernel ${source.key}: expected ${source.buffers.length} buffers (${
          source.buffers.map(([n]) => n).join(", ")
        }), received ${buffers.length}`,
      );
    }
    if (workgroups.some((w) => w < 1 || w > 65_535 || !Number.isInteger(w))) {
      throw new RangeError(
        `kernel ${source.key}: workgroups expected integers in [1, 65535], received ${workgroups}`,
      );
    }
    const pipeline = this.runner.pipeline(source);
    const uniform = this.runner.uniform(packParams(source.params, params));
    this.uniforms.push(uniform);
    const bindGroup = this.runner.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: uniform.buffer } },
        ...buffers.map((buffer, i) => ({ binding: i + 1, resource: { buffer } })),
      ],
    });
    this.pass ??= this.encoder.beginComputePass();
    this.pass.setPipeline(pipeline);
    this.pass.setBindGroup(0, bindGroup);
    this.pass.dispatchWorkgroups(workgroups[0], workgroups[1], workgroups[2]);
  }

  /** A dispatch of a one-dimensional kernel over `total` elements. */
  elements(
    source: KernelSource,
    params: Readonly<Record<string, number>>,
    buffers: readonly GPUBuffer[],
  ): void {
    this.dispatch(source, params, buffers, grid(Math.ceil(params.total / WORKGROUP)));
  }

  /** A dispatch of a row kernel (one workgroup per row) over `params.rows` rows. */
  rows(source: KernelSource, params: Readonly<Record<string, number>>, buffers: readonly GPUBuffer[]): void {
    this.dispatch(source, params, buffers, grid(params.rows));
  }

  /** Copies `floats` 32-bit values between buffers (offsets in values). */
  copy(from: GPUBuffer, fromOffset: number, to: GPUBuffer, toOffset: number, floats: number): void {
    this.pass?.end();
    this.pass = null;
    this.encoder.copyBufferToBuffer(from, fromOffset * 4, to, toOffset * 4, floats * 4);
  }

  /** Submits what was recorded. */
  submit(): void {
    this.pass?.end();
    this.pass = null;
    this.runner.device.queue.submit([this.encoder.finish()]);
    this.runner.release(this.uniforms);
  }
}

const watched = new WeakMap<GPUDevice, string[]>();

/**
 * Keeps the errors the device reports outside any error scope (an invalid
 * shader, a dispatch that could not run: the work of that submission is
 * lost), and prints the first of them: results after such an error cannot be
 * trusted. {@linkcode deviceErrors} lists them.
 *
 * @example An invalid shader is reported once, where there is an adapter
 * ```ts
 * import assert from "node:assert/strict";
 * import { deviceErrors, watchDeviceErrors } from "./device.ts";
 * const adapter = await navigator.gpu?.requestAdapter();
 * if (adapter) {
 *   const device = await adapter.requestDevice();
 *   const seen: string[] = [];
 *   watchDeviceErrors(device, (message) => seen.push(message));
 *   assert.deepEqual(deviceErrors(device), []);
 *   device.createShaderModule({ code: "this is not WGSL" });
 *   await new Promise((resolve) => setTimeout(resolve, 200));
 *   assert.equal(seen.length, 1);
 *   assert.equal(deviceErrors(device).length, 1);
 *   device.destroy();
 * }
 * ```
 */
export function watchDeviceErrors(
  device: GPUDevice,
  report: (message: string) => void = console.error,
): void {
  if (watched.has(device)) return;
  const errors: string[] = [];
  watched.set(device, errors);
  device.addEventListener("uncapturederror", (event) => {
    const message = (event as GPUUncapturedErrorEvent).error?.message ?? String(event);
    if (errors.length === 0) {
      report(`saekit: the WebGPU device reported an error; results from now on may be wrong: ${message}`);
    }
    if (errors.length < 100) errors.push(message);
  });
}

/**
 * The errors a device watched by {@linkcode watchDeviceErrors} has reported, oldest first (at most 100;
 * none for a device not watched).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { deviceErrors } from "./device.ts";
 * assert.deepEqual(deviceErrors({} as GPUDevice), []);
 * ```
 */
export function deviceErrors(device: GPUDevice): readonly string[] {
  return watched.get(device) ?? [];
}

const runners = new WeakMap<GPUDevice, KernelRunner>();

/**
 * The kernel runner of a device (one per device).
 *
 * @example Converts three int32 values on the GPU, where there is an adapter
 * ```ts
 * import assert from "node:assert/strict";
 * import { intToFloatSource } from "./wgsl.ts";
 * import { runnerFor } from "./device.ts";
 * const adapter = await navigator.gpu?.requestAdapter();
 * if (adapter) {
 *   const device = await adapter.requestDevice();
 *   const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
 *   const x = device.createBuffer({ size: 12, usage }), out = device.createBuffer({ size: 12, usage });
 *   const read = device.createBuffer({ size: 12, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
 *   device.queue.writeBuffer(x, 0, new Int32Array([-2, 0, 7]));
 *   const rec = runnerFor(device).record();
 *   rec.elements(intToFloatSource(), { total: 3 }, [x, out]);
 *   rec.copy(out, 0, read, 0, 3);
 *   rec.submit();
 *   await read.mapAsync(GPUMapMode.READ);
 *   assert.deepEqual([...new Float32Array(read.getMappedRange())], [-2, 0, 7]);
 *   device.destroy();
 * }
 * ```
 */
export function runnerFor(device: GPUDevice): KernelRunner {
  let runner = runners.get(device);
  if (runner === undefined) {
    runner = new KernelRunner(device);
    runners.set(device, runner);
  }
  return runner;
}
