/**
 * Fused kernels of the transformer forward pass on the `blas` backend (see
 * `model_kernel_names.ts` for each contract): every matrix product goes to
 * the BLAS (`cblas_sgemm` through FFI, transposes as flags, heads read in
 * place with a row stride), and the element-wise work around the products
 * (normalisations, GELU, SiLU, SwiGLU, the causal softmax) runs in SIMD
 * WebAssembly (`wasm/model_kernels.c`) on buffers in the module's memory,
 * which the BLAS reads and writes directly. Biases and residual streams are
 * folded into the products (the output is filled with them, then the product
 * is added with `β = 1`), rotary embeddings are applied while each head's
 * queries and keys are gathered, and attention computes only the keys a
 * block of queries can see.
 *
 * Effectful (FFI, WebAssembly); {@linkcode registerModelKernels} is called by
 * `registerBlasBackend`.
 *
 * @module
 */
import { tf } from "../tf.ts";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import type { Blas } from "./blas_ffi.ts";
import { MODEL_KERNELS_WASM_BASE64 } from "./wasm/model_kernels_wasm.ts";
import {
  CAUSAL_ATTENTION_KERNEL,
  EMBED_KERNEL,
  LINEAR_KERNEL,
  NORM_KERNEL,
  SWIGLU_KERNEL,
} from "./model_kernel_names.ts";

type KernelArgs = {
  inputs: Record<string, tf.TensorInfo | undefined>;
  backend: unknown;
  attrs?: Record<string, unknown>;
};

type Exports = {
  bias_activate(x: number, bias: number, rows: number, cols: number, ld: number, kind: number): void;
  silu_mul(gate: number, up: number, n: number): void;
  norm_rows(
    x: number,
    gain: number,
    bias: number,
    out: number,
    rows: number,
    cols: number,
    eps: number,
    rms: number,
  ): void;
  causal_softmax(s: number, rows: number, ld: number, first: number): void;
  __heap_base: WebAssembly.Global;
};

/** Activation codes of `bias_activate` in model_kernels.c. */
const ACTIVATIONS: Readonly<Record<string, number>> = { none: 0, gelu: 1, gelu_new: 2, silu: 3 };

/** Floats per block of rows that go through WebAssembly at once (24 MiB). */
const BLOCK_FLOATS = 6 << 20;

/** Query rows of attention scored at once. */
const QUERY_BLOCK = 64;

/**
 * The WebAssembly module and its memory, used as a bump arena: each kernel
 * call lays out the buffers it needs from the start of the free memory
 * (after the module's stack and data), growing the memory when it must.
 */
class Arena {
  readonly memory: WebAssembly.Memory;
  readonly k: Exports;
  private readonly base: number;

  constructor() {
    const binary = atob(MODEL_KERNELS_WASM_BASE64);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    const module = new WebAssembly.Module(bytes);
    this.memory = new WebAssembly.Memory({ initial: 32, maximum: 65536 });
    this.k = new WebAssembly.Instance(module, { env: { memory: this.memory } }).exports as unknown as Exports;
    this.base = (Number(this.k.__heap_base.value) + 63) & ~63;
  }

  /**
   * Addresses of buffers of the given float counts (64-byte aligned), the memory grown to hold them;
   * views are made after this call (growing detaches earlier ones).
   */
  layout(lengths: readonly number[]): number[] {
    const addresses: number[] = [];
    let at = this.base;
    for (const length of lengths) {
      addresses.push(at);
      at += Math.ceil((length * 4) / 64) * 64;
    }
    const have = this.memory.buffer.byteLength;
    if (at > have) this.memory.grow(Math.ceil((at - have) / 65536));
    return addresses;
  }

  f32(address: number, length: number): Float32Array {
    return new Float32Array(this.memory.buffer, address, length);
  }
}

/** OpenBLAS's thread count, where the library lets it be set (`openblas_set_num_threads`). */
type ThreadControl = { get(): number; set(n: number): void };

const threadControls = new Map<string, ThreadControl | null>();

function threadControl(blas: Blas): ThreadControl | undefined {
  let control = threadControls.get(blas.library);
  if (control === undefined) {
    try {
      const lib = Deno.dlopen(blas.library, {
        openblas_get_num_threads: { parameters: [], result: "i32" },
        openblas_set_num_threads: { parameters: ["i32"], result: "void" },
      });
      control = {
        get: () => lib.symbols.openblas_get_num_threads(),
        set: (n) => lib.symbols.openblas_set_num_threads(n),
      };
    } catch {
      control = null; // not OpenBLAS: its own threading stays
    }
    threadControls.set(blas.library, control);
  }
  return control ?? undefined;
}

/** Makes the BLAS single-threaded until `restore()` (a no-op where the thread count cannot be set). */
function singleThreaded(blas: Blas): { restore(): void } {
  const control = threadControl(blas);
  const threads = control?.get() ?? 1;
  if (control === undefined || threads <= 1) return { restore() {} };
  control.set(1);
  return { restore: () => control.set(threads) };
}

let arenaInstance: Arena | undefined;
function arena(): Arena {
  arenaInstance ??= new Arena();
  return arenaInstance;
}

/** An output array: from the backend's pool when it has one (the `blas` backend's), else new. */
function alloc(backend: MathBackendCPU, length: number): Float32Array {
  const pooled = backend as unknown as { alloc?: (length: number, zero?: boolean) => Float32Array };
  return typeof pooled.alloc === "function" ? pooled.alloc(length) : new Float32Array(length);
}

function values(backend: MathBackendCPU, t: tf.TensorInfo): Float32Array {
  return backend.data.get(t.dataId).values as Float32Array;
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function expectFloat(kernel: string, name: string, t: tf.TensorInfo | undefined): tf.TensorInfo {
  if (t === undefined) throw new TypeError(`${kernel}: input ${name} expected a tensor, received none`);
  if (t.dtype !== "float32") {
    throw new TypeError(`${kernel}: input ${name} expected dtype float32, received ${t.dtype}`);
  }
  return t;
}

function expectShape(kernel: string, name: string, t: tf.TensorInfo, shape: readonly number[]): void {
  if (t.shape.length !== shape.length || t.shape.some((n, i) => n !== shape[i])) {
    throw new RangeError(
      `${kernel}: input ${name} expected shape [${shape.join(", ")}], received [${t.shape.join(", ")}]`,
    );
  }
}

/** Rows per block so that `floatsPerRow` floats a row fit in {@linkcode BLOCK_FLOATS}, balanced over the rows. */
function blockRows(rows: number, floatsPerRow: number): number {
  const blocks = Math.max(1, Math.ceil((rows * floatsPerRow) / BLOCK_FLOATS));
  return Math.max(1, Math.ceil(rows / blocks));
}

/** {@linkcode LINEAR_KERNEL} */
function linear(blas: Blas) {
  return (args: KernelArgs): tf.TensorInfo => {
    const backend = args.backend as MathBackendCPU;
    const x = expectFloat(LINEAR_KERNEL, "x", args.inputs.x);
    const w = expectFloat(LINEAR_KERNEL, "w", args.inputs.w);
    const activation = String(args.attrs?.activation ?? "none");
    const kind = ACTIVATIONS[activation];
    if (kind === undefined) {
      throw new RangeError(
        `${LINEAR_KERNEL}: activation expected one of ${Object.keys(ACTIVATIONS).join(", ")}, received ${
          JSON.stringify(activation)
        }`,
      );
    }
    if (w.shape.length !== 2 || x.shape.at(-1) !== w.shape[0]) {
      throw new RangeError(
        `${LINEAR_KERNEL}: w expected shape [${x.shape.at(-1)}, out] (x is [${
          x.shape.join(", ")
        }]), received [${w.shape.join(", ")}]`,
      );
    }
    const [k, n] = w.shape;
    const outShape = [...x.shape.slice(0, -1), n];
    const rows = size(x.shape.slice(0, -1));
    const bias = args.inputs.bias === undefined
      ? undefined
      : expectFloat(LINEAR_KERNEL, "bias", args.inputs.bias);
    if (bias !== undefined) expectShape(LINEAR_KERNEL, "bias", bias, [n]);
    const residual = args.inputs.residual === undefined
      ? undefined
      : expectFloat(LINEAR_KERNEL, "residual", args.inputs.residual);
    if (residual !== undefined) {
      expectShape(LINEAR_KERNEL, "residual", residual, outShape);
      if (kind !== 0) {
        throw new RangeError(
          `${LINEAR_KERNEL}: a residual expected activation "none", received ${activation}`,
        );
      }
    }
    const out = alloc(backend, rows * n);
    const xv = values(backend, x), wv = values(backend, w);
    const bv = bias === undefined ? undefined : values(backend, bias);
    if (rows === 0 || n === 0) return backend.makeTensorInfo(outShape, "float32", out);
    if (kind === 0) {
      // out = residual + bias (or either, or 0), then out += x · w.
      if (residual !== undefined) {
        const rv = values(backend, residual);
        if (bv === undefined) out.set(rv);
        else {
          for (let r = 0, o = 0; r < rows; r++, o += n) {
            for (let j = 0; j < n; j++) out[o + j] = rv[o + j] + bv[j];
          }
        }
      } else if (bv !== undefined) {
        for (let r = 0; r < rows; r++) out.set(bv, r * n);
      }
      const beta = residual !== undefined || bv !== undefined ? 1 : 0;
      if (k === 0) {
        if (beta === 0) out.fill(0);
      } else blas.sgemm(false, false, rows, n, k, 1, xv, k, wv, n, beta, out, n);
      return backend.makeTensorInfo(outShape, "float32", out);
    }
    // With an activation: each block of rows is multiplied into the module's memory, activated there with
    // its bias, and copied out.
    const a = arena();
    const block = blockRows(rows, n);
    const [biasAt, bufAt] = a.layout([n, block * n]);
    if (bv !== undefined) a.f32(biasAt, n).set(bv);
    const buf = a.f32(bufAt, block * n);
    for (let r0 = 0; r0 < rows; r0 += block) {
      const m = Math.min(block, rows - r0);
      if (k === 0) buf.fill(0, 0, m * n);
      else blas.sgemm(false, false, m, n, k, 1, xv.subarray(r0 * k), k, wv, n, 0, buf, n);
      a.k.bias_activate(bufAt, bv === undefined ? 0 : biasAt, m, n, n, kind);
      out.set(buf.subarray(0, m * n), r0 * n);
    }
    return backend.makeTensorInfo(outShape, "float32", out);
  };
}

/** {@linkcode SWIGLU_KERNEL} */
function swiglu(blas: Blas) {
  return (args: KernelArgs): tf.TensorInfo => {
    const backend = args.backend as MathBackendCPU;
    const x = expectFloat(SWIGLU_KERNEL, "x", args.inputs.x);
    const wGate = expectFloat(SWIGLU_KERNEL, "wGate", args.inputs.wGate);
    const wUp = expectFloat(SWIGLU_KERNEL, "wUp", args.inputs.wUp);
    const k = x.shape.at(-1) ?? 0;
    if (wGate.shape.length !== 2 || wGate.shape[0] !== k) {
      throw new RangeError(
        `${SWIGLU_KERNEL}: wGate expected shape [${k}, out] (x is [${x.shape.join(", ")}]), received [${
          wGate.shape.join(", ")
        }]`,
      );
    }
    const n = wGate.shape[1];
    expectShape(SWIGLU_KERNEL, "wUp", wUp, [k, n]);
    const rows = size(x.shape.slice(0, -1));
    const outShape = [...x.shape.slice(0, -1), n];
    const out = alloc(backend, rows * n);
    const xv = values(backend, x), gv = values(backend, wGate), uv = values(backend, wUp);
    if (rows === 0 || n === 0) return backend.makeTensorInfo(outShape, "float32", out);
    const a = arena();
    const block = blockRows(rows, 2 * n);
    const [gateAt, upAt] = a.layout([block * n, block * n]);
    const gate = a.f32(gateAt, block * n), up = a.f32(upAt, block * n);
    for (let r0 = 0; r0 < rows; r0 += block) {
      const m = Math.min(block, rows - r0);
      if (k === 0) {
        gate.fill(0, 0, m * n);
        up.fill(0, 0, m * n);
      } else {
        blas.sgemm(false, false, m, n, k, 1, xv.subarray(r0 * k), k, gv, n, 0, gate, n);
        blas.sgemm(false, false, m, n, k, 1, xv.subarray(r0 * k), k, uv, n, 0, up, n);
      }
      a.k.silu_mul(gateAt, upAt, m * n);
      out.set(gate.subarray(0, m * n), r0 * n);
    }
    return backend.makeTensorInfo(outShape, "float32", out);
  };
}

/** {@linkcode NORM_KERNEL} */
function norm(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as MathBackendCPU;
  const x = expectFloat(NORM_KERNEL, "x", args.inputs.x);
  const gain = expectFloat(NORM_KERNEL, "gain", args.inputs.gain);
  const n = x.shape.at(-1) ?? 0;
  expectShape(NORM_KERNEL, "gain", gain, [n]);
  const bias = args.inputs.bias === undefined
    ? undefined
    : expectFloat(NORM_KERNEL, "bias", args.inputs.bias);
  if (bias !== undefined) expectShape(NORM_KERNEL, "bias", bias, [n]);
  const eps = Number(args.attrs?.eps);
  if (!(eps >= 0)) {
    throw new RangeError(`${NORM_KERNEL}: eps expected a number ≥ 0, received ${args.attrs?.eps}`);
  }
  const rms = args.attrs?.rms === true;
  const rows = size(x.shape.slice(0, -1));
  const out = alloc(backend, rows * n);
  if (rows === 0 || n === 0) return backend.makeTensorInfo(x.shape, "float32", out);
  const xv = values(backend, x);
  const a = arena();
  const block = blockRows(rows, 2 * n);
  const [gainAt, biasAt, inAt, outAt] = a.layout([n, n, block * n, block * n]);
  a.f32(gainAt, n).set(values(backend, gain));
  if (bias !== undefined) a.f32(biasAt, n).set(values(backend, bias));
  const input = a.f32(inAt, block * n), output = a.f32(outAt, block * n);
  for (let r0 = 0; r0 < rows; r0 += block) {
    const m = Math.min(block, rows - r0);
    input.set(xv.subarray(r0 * n, (r0 + m) * n));
    a.k.norm_rows(inAt, gainAt, bias === undefined ? 0 : biasAt, outAt, m, n, Math.fround(eps), rms ? 1 : 0);
    out.set(output.subarray(0, m * n), r0 * n);
  }
  return backend.makeTensorInfo(x.shape, "float32", out);
}

/**
 * Gathers one head's rows `[seq, dHead]` (rows `ld` apart from `offset`) into `dst`, rotating the first
 * `rot` dimensions by the angles of their positions and scaling by `scale`.
 */
function gatherHead(
  src: Float32Array,
  offset: number,
  ld: number,
  seq: number,
  dHead: number,
  dst: Float32Array,
  rot: number,
  interleaved: boolean,
  cos: Float32Array | undefined,
  sin: Float32Array | undefined,
  scale: number,
): void {
  const half = rot >> 1;
  for (let t = 0; t < seq; t++) {
    const s = offset + t * ld, d = t * dHead, a = t * half;
    if (rot > 0 && cos !== undefined && sin !== undefined) {
      if (interleaved) {
        for (let i = 0; i < half; i++) {
          const x1 = src[s + 2 * i], x2 = src[s + 2 * i + 1], c = cos[a + i], sn = sin[a + i];
          dst[d + 2 * i] = (x1 * c - x2 * sn) * scale;
          dst[d + 2 * i + 1] = (x2 * c + x1 * sn) * scale;
        }
      } else {
        for (let i = 0; i < half; i++) {
          const x1 = src[s + i], x2 = src[s + i + half], c = cos[a + i], sn = sin[a + i];
          dst[d + i] = (x1 * c - x2 * sn) * scale;
          dst[d + i + half] = (x2 * c + x1 * sn) * scale;
        }
      }
    }
    for (let i = rot; i < dHead; i++) dst[d + i] = src[s + i] * scale;
  }
}

/** {@linkcode CAUSAL_ATTENTION_KERNEL} */
function causalAttention(blas: Blas) {
  return (args: KernelArgs): tf.TensorInfo => {
    const K = CAUSAL_ATTENTION_KERNEL;
    const backend = args.backend as MathBackendCPU;
    const q = expectFloat(K, "q", args.inputs.q);
    const k = expectFloat(K, "k", args.inputs.k);
    const v = expectFloat(K, "v", args.inputs.v);
    const attr = (name: string) => Number(args.attrs?.[name]);
    const nHeads = attr("nHeads"), nKv = attr("nKvHeads"), dHead = attr("dHead");
    const rot = Number(args.attrs?.rotaryDims ?? 0);
    const style = String(args.attrs?.rotaryStyle ?? "half");
    if (![nHeads, nKv, dHead].every((n) => Number.isInteger(n) && n > 0) || nHeads % nKv !== 0) {
      throw new RangeError(
        `${K}: nHeads, nKvHeads, dHead expected positive integers with nKvHeads dividing nHeads, received ${nHeads}, ${nKv}, ${dHead}`,
      );
    }
    if (!Number.isInteger(rot) || rot < 0 || rot > dHead || rot % 2 !== 0) {
      throw new RangeError(`${K}: rotaryDims expected an even integer in [0, ${dHead}], received ${rot}`);
    }
    if (style !== "half" && style !== "interleaved") {
      throw new RangeError(
        `${K}: rotaryStyle expected "half" or "interleaved", received ${JSON.stringify(style)}`,
      );
    }
    if (q.shape.length !== 3) {
      throw new RangeError(`${K}: q expected rank 3, received [${q.shape.join(", ")}]`);
    }
    const [batch, seq] = q.shape;
    const qDim = nHeads * dHead, kvDim = nKv * dHead;
    expectShape(K, "q", q, [batch, seq, qDim]);
    expectShape(K, "k", k, [batch, seq, kvDim]);
    expectShape(K, "v", v, [batch, seq, kvDim]);
    let cos: Float32Array | undefined, sin: Float32Array | undefined;
    if (rot > 0) {
      const c = expectFloat(K, "cos", args.inputs.cos), s = expectFloat(K, "sin", args.inputs.sin);
      expectShape(K, "cos", c, [seq, rot / 2]);
      expectShape(K, "sin", s, [seq, rot / 2]);
      cos = values(backend, c);
      sin = values(backend, s);
    }
    const out = alloc(backend, batch * seq * qDim);
    if (out.length === 0) return backend.makeTensorInfo([batch, seq, qDim], "float32", out);
    const qv = values(backend, q), kv = values(backend, k), vv = values(backend, v);
    const group = nHeads / nKv;
    const qb = Math.min(QUERY_BLOCK, seq);
    const a = arena();
    const [kAt, qAt, sAt] = a.layout(rot > 0 ? [seq * dHead, seq * dHead, qb * seq] : [0, 0, qb * seq]);
    const scores = a.f32(sAt, qb * seq);
    const kBuf = rot > 0 ? a.f32(kAt, seq * dHead) : undefined,
      qBuf = rot > 0 ? a.f32(qAt, seq * dHead) : undefined;
    const scale = 1 / Math.sqrt(dHead);
    const interleaved = style === "interleaved";
    // The products are small (a head's [seq, dHead] against [dHead, seq]): one BLAS thread does them faster
    // than two that must be woken for each.
    const threads = singleThreaded(blas);
    try {
      for (let b = 0; b < batch; b++) {
        for (let kh = 0; kh < nKv; kh++) {
          const kOff = b * seq * kvDim + kh * dHead;
          // Keys: rotated into the buffer, or read in place (rows kvDim apart).
          let keys = kv.subarray(kOff), ldk = kvDim;
          if (kBuf !== undefined) {
            gatherHead(kv, kOff, kvDim, seq, dHead, kBuf, rot, interleaved, cos, sin, 1);
            keys = kBuf;
            ldk = dHead;
          }
          for (let g = 0; g < group; g++) {
            const h = kh * group + g;
            const qOff = b * seq * qDim + h * dHead;
            // Queries: rotated and scaled into the buffer, or read in place and scaled by the product's α.
            let queries = qv.subarray(qOff), ldq = qDim, alpha = scale;
            if (qBuf !== undefined) {
              gatherHead(qv, qOff, qDim, seq, dHead, qBuf, rot, interleaved, cos, sin, scale);
              queries = qBuf;
              ldq = dHead;
              alpha = 1;
            }
            for (let r0 = 0; r0 < seq; r0 += qb) {
              const m = Math.min(qb, seq - r0), n = r0 + m; // queries r0..r0+m−1 see keys 0..r0+m−1
              blas.sgemm(
                false,
                true,
                m,
                n,
                dHead,
                alpha,
                queries.subarray(r0 * ldq),
                ldq,
                keys,
                ldk,
                0,
                scores,
                n,
              );
              a.k.causal_softmax(sAt, m, n, r0);
              blas.sgemm(
                false,
                false,
                m,
                dHead,
                n,
                1,
                scores,
                n,
                vv.subarray(kOff),
                kvDim,
                0,
                out.subarray((b * seq + r0) * qDim + h * dHead),
                qDim,
              );
            }
          }
        }
      }
    } finally {
      threads.restore();
    }
    return backend.makeTensorInfo([batch, seq, qDim], "float32", out);
  };
}

/** {@linkcode EMBED_KERNEL} */
function embed(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as MathBackendCPU;
  const table = expectFloat(EMBED_KERNEL, "table", args.inputs.table);
  const ids = args.inputs.ids;
  if (ids === undefined || ids.dtype !== "int32" || ids.shape.length !== 2) {
    throw new TypeError(
      `${EMBED_KERNEL}: ids expected an int32 tensor [batch, seq], received ${
        ids === undefined ? "none" : `${ids.dtype} [${ids.shape.join(", ")}]`
      }`,
    );
  }
  if (table.shape.length !== 2) {
    throw new RangeError(
      `${EMBED_KERNEL}: table expected rank 2 [vocab, d], received [${table.shape.join(", ")}]`,
    );
  }
  const [vocab, d] = table.shape;
  const [batch, seq] = ids.shape;
  const positions = args.inputs.positions === undefined
    ? undefined
    : expectFloat(EMBED_KERNEL, "positions", args.inputs.positions);
  if (
    positions !== undefined &&
    (positions.shape.length !== 2 || positions.shape[1] !== d || positions.shape[0] < seq)
  ) {
    throw new RangeError(
      `${EMBED_KERNEL}: positions expected shape [≥ ${seq}, ${d}], received [${positions.shape.join(", ")}]`,
    );
  }
  const tv = values(backend, table);
  const iv = backend.data.get(ids.dataId).values as Int32Array;
  const pv = positions === undefined ? undefined : values(backend, positions);
  const out = alloc(backend, batch * seq * d);
  for (let r = 0; r < batch * seq; r++) {
    const id = iv[r];
    if (!(id >= 0 && id < vocab)) {
      throw new RangeError(
        `${EMBED_KERNEL}: ids[${Math.floor(r / seq)}][${r % seq}] expected an integer in [0, ${
          vocab - 1
        }], received ${id}`,
      );
    }
    const o = r * d;
    if (pv === undefined) out.set(tv.subarray(id * d, (id + 1) * d), o);
    else {
      const e = id * d, p = (r % seq) * d;
      for (let j = 0; j < d; j++) out[o + j] = tv[e + j] + pv[p + j];
    }
  }
  return backend.makeTensorInfo([batch, seq, d], "float32", out);
}

let registered = false;

/**
 * Registers the forward pass's fused kernels for the `blas` backend (once):
 * {@linkcode LINEAR_KERNEL}, {@linkcode SWIGLU_KERNEL}, {@linkcode NORM_KERNEL},
 * {@linkcode CAUSAL_ATTENTION_KERNEL} and {@linkcode EMBED_KERNEL}.
 *
 * @param backendName the backend they are registered for (`"blas"`)
 *
 * @example
 * ```ts ignore
 * import { loadBlas } from "./blas_ffi.ts";
 * import { registerModelKernels } from "./blas_model_kernels.ts";
 * const load = loadBlas();
 * if ("blas" in load) registerModelKernels(load.blas);
 * ```
 */
export function registerModelKernels(blas: Blas, backendName = "blas"): void {
  if (registered) return;
  registered = true;
  const kernels: [string, (args: KernelArgs) => tf.TensorInfo][] = [
    [LINEAR_KERNEL, linear(blas)],
    [SWIGLU_KERNEL, swiglu(blas)],
    [NORM_KERNEL, norm],
    [CAUSAL_ATTENTION_KERNEL, causalAttention(blas)],
    [EMBED_KERNEL, embed],
  ];
  for (const [kernelName, kernelFunc] of kernels) {
    tf.registerKernel({ kernelName, backendName, kernelFunc: kernelFunc as unknown as tf.KernelFunc });
  }
}
