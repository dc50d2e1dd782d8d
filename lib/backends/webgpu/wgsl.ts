/**
 * saekit's WGSL compute kernels, as source text: the tiled matrix product
 * and the passes of the fused SAE step, Adam, the decoder's row projection and
 * normalisation, and a real integer-to-float conversion. Pure (strings in,
 * strings out); `device.ts` compiles and runs them.
 *
 * Every kernel reads one uniform block of 32-bit scalars at binding 0 (its
 * {@linkcode KernelSource.params}, packed by {@linkcode packParams}), then
 * its storage buffers in the order of {@linkcode KernelSource.buffers}.
 * Kernels over many elements or rows run on a two-dimensional grid of
 * workgroups (a dimension holds at most 65,535), and find their index from
 * `num_workgroups`.
 *
 * Reductions go through workgroup memory as trees, never atomics on floats,
 * so a kernel gives the same bits on every run.
 *
 * @module
 */

/** A uniform field: its name and 32-bit type. */
export type ParamField = readonly [name: string, type: "u32" | "f32"];

/** A storage buffer of a kernel: its name, whether the kernel writes it, and its element type. */
export type BufferBinding = readonly [name: string, access: "read" | "read_write", type: "f32" | "i32"];

/** A compiled-on-demand kernel: its WGSL, uniform fields and storage buffers, in binding order. */
export type KernelSource = {
  /** A name unique per variant (the pipeline cache key). */
  readonly key: string;
  readonly params: readonly ParamField[];
  readonly buffers: readonly BufferBinding[];
  /** The whole WGSL module. */
  readonly code: string;
};

/** Threads of the one-dimensional (element-wise) kernels and of a matrix-product workgroup. */
export const WORKGROUP = 256;
/**
 * Threads of the row kernels (one workgroup per row): enough to sweep a row of thousands of features,
 * few enough that short rows (`dIn` 16 to 64) do not leave most lanes idle.
 */
export const ROW_THREADS = 64;
/** Rows and columns of the output tile one matrix-product workgroup computes. */
export const MATMUL_TILE = 64;
/** Depth of the slice of the inner dimension staged in workgroup memory at a time. */
export const MATMUL_DEPTH = 16;

/**
 * The uniform values of a kernel, packed as its WGSL struct lays them out
 * (consecutive 32-bit scalars, the size rounded up to 16 bytes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { packParams } from "./wgsl.ts";
 * const bytes = packParams([["n", "u32"], ["scale", "f32"]], { n: 3, scale: 0.5 });
 * assert.equal(bytes.byteLength, 16);
 * assert.equal(new Uint32Array(bytes)[0], 3);
 * assert.equal(new Float32Array(bytes)[1], 0.5);
 * ```
 */
export function packParams(
  fields: readonly ParamField[],
  values: Readonly<Record<string, number>>,
): ArrayBuffer {
  const bytes = new ArrayBuffer(Math.max(16, Math.ceil((fields.length * 4) / 16) * 16));
  const u32 = new Uint32Array(bytes), f32 = new Float32Array(bytes);
  fields.forEach(([name, type], i) => {
    const value = values[name];
    if (typeof value !== "number") {
      throw new TypeError(`kernel parameter ${name}: expected a number, received ${JSON.stringify(value)}`);
    }
    if (type === "u32") {
      if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
        throw new RangeError(`kernel parameter ${name}: expected an integer in [0, 2^32), received ${value}`);
      }
      u32[i] = value;
    } else f32[i] = value;
  });
  return bytes;
}

function header(params: readonly ParamField[], buffers: readonly BufferBinding[]): string {
  const fields = params.map(([name, type]) => `  ${name}: ${type},`).join("\n");
  const bindings = buffers.map(([name, access, type], i) =>
    `@group(0) @binding(${i + 1}) var<storage, ${access}> ${name}: array<${type}>;`
  ).join("\n");
  return `struct Params {\n${fields}\n}\n@group(0) @binding(0) var<uniform> p: Params;\n${bindings}\n`;
}

function kernel(
  key: string,
  params: readonly ParamField[],
  buffers: readonly BufferBinding[],
  body: string,
): KernelSource {
  return { key, params, buffers, code: header(params, buffers) + body };
}

/** The index of a thread of a one-dimensional kernel on a 2-D grid of 256-thread workgroups. */
const ELEMENT_MAIN = `@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_id) lid: vec3u) {
  let i = (wid.y * nwg.x + wid.x) * ${WORKGROUP}u + lid.x;
  if (i >= p.total) { return; }`;

/** The row of a row kernel (one workgroup per row, on a 2-D grid), and the tree sum of `red`. */
const ROW_MAIN = `@compute @workgroup_size(${ROW_THREADS})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_id) lid: vec3u) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= p.rows) { return; }`;

/** Tree sum of `red[0..256)` into `red[0]` (every thread calls it; ends with a barrier). */
const TREE_SUM = `
fn treeSum(t: u32) {
  workgroupBarrier();
  for (var w = ${ROW_THREADS / 2}u; w > 0u; w = w >> 1u) {
    if (t < w) { red[t] = red[t] + red[t + w]; }
    workgroupBarrier();
  }
}`;

/**
 * The batched matrix product `C[z] = op(A[z])·op(B[z])` (`op` transposes
 * when asked), plus a bias over columns when asked: one
 * workgroup of 16×16 threads per 64×64 tile of `C`, each thread 4×4 values
 * (rows `ty + 16i`, columns `tx + 16j`, so that neighbouring threads write
 * neighbouring addresses), the inner dimension staged 16 at a time in
 * workgroup memory. `A` is `[M, K]` (`[K, M]` when transposed), `B` is
 * `[K, N]` (`[N, K]`), `C` is `[M, N]`; batch `z` starts at `z·aStride`,
 * `z·bStride`, `z·cStride` (a stride of 0 repeats one matrix).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { matmulSource } from "./wgsl.ts";
 * const k = matmulSource({ transposeA: false, transposeB: true, bias: true });
 * assert.equal(k.buffers.length, 4);
 * assert.match(k.code, /var<storage, read> bias/);
 * ```
 */
export function matmulSource(
  o: { transposeA: boolean; transposeB: boolean; bias: boolean },
): KernelSource {
  const T = MATMUL_TILE, D = MATMUL_DEPTH;
  const loadsPerThread = (T * D) / WORKGROUP;
  const aIndex = o.transposeA ? "gk * p.m + gr" : "gr * p.k + gk";
  const bIndex = o.transposeB ? "gc * p.k + gk" : "gk * p.n + gc";
  // Which element of the tile thread t loads: consecutive threads read consecutive addresses.
  const aPos = o.transposeA
    ? `let kk = e / ${T}u; let r = e % ${T}u;`
    : `let r = e / ${D}u; let kk = e % ${D}u;`;
  const bPos = o.transposeB
    ? `let cc = e / ${D}u; let kk = e % ${D}u;`
    : `let kk = e / ${T}u; let cc = e % ${T}u;`;
  const idx = [0, 1, 2, 3];
  const accDecl = idx.flatMap((i) => idx.map((j) => `var acc${i}${j} = 0.0;`)).join(" ");
  const inner = [
    ...idx.map((i) => `let a${i} = tileA[kk * ${T}u + lid.y + ${16 * i}u];`),
    ...idx.map((j) => `let b${j} = tileB[kk * ${T}u + lid.x + ${16 * j}u];`),
    ...idx.flatMap((i) => idx.map((j) => `acc${i}${j} = fma(a${i}, b${j}, acc${i}${j});`)),
  ].join("\n      ");
  const writes = idx.flatMap((i) =>
    idx.map((j) => `put(row0 + lid.y + ${16 * i}u, col0 + lid.x + ${16 * j}u, acc${i}${j}, wid.z);`)
  ).join("\n  ");
  const buffers: BufferBinding[] = [["a", "read", "f32"], ["b", "read", "f32"], ["c", "read_write", "f32"]];
  if (o.bias) buffers.push(["bias", "read", "f32"]);
  const key = `matmul:${+o.transposeA}${+o.transposeB}${+o.bias}`;
  return kernel(
    key,
    [
      ["m", "u32"],
      ["n", "u32"],
      ["k", "u32"],
      ["aStride", "u32"],
      ["bStride", "u32"],
      ["cStride", "u32"],
      ["biasStride", "u32"],
    ],
    buffers,
    `
var<workgroup> tileA: array<f32, ${T * D}>;
var<workgroup> tileB: array<f32, ${T * D}>;

fn put(row: u32, col: u32, value: f32, z: u32) {
  if (row < p.m && col < p.n) {
    let at = z * p.cStride + row * p.n + col;
    var v = value;
    ${o.bias ? "v = v + bias[z * p.biasStride + col];" : ""}
    c[at] = v;
  }
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let row0 = wid.y * ${T}u;
  let col0 = wid.x * ${T}u;
  let t = lid.y * 16u + lid.x;
  let aOff = wid.z * p.aStride;
  let bOff = wid.z * p.bStride;
  ${accDecl}
  for (var k0 = 0u; k0 < p.k; k0 = k0 + ${D}u) {
    for (var s = 0u; s < ${loadsPerThread}u; s = s + 1u) {
      let e = t + s * ${WORKGROUP}u;
      {
        ${aPos}
        let gr = row0 + r;
        let gk = k0 + kk;
        var v = 0.0;
        if (gr < p.m && gk < p.k) { v = a[aOff + ${aIndex}]; }
        tileA[kk * ${T}u + r] = v;
      }
      {
        ${bPos}
        let gc = col0 + cc;
        let gk = k0 + kk;
        var v = 0.0;
        if (gc < p.n && gk < p.k) { v = b[bOff + ${bIndex}]; }
        tileB[kk * ${T}u + cc] = v;
      }
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${D}u; kk = kk + 1u) {
      ${inner}
    }
    workgroupBarrier();
  }
  ${writes}
}
`,
  );
}

/**
 * `xBar = x − bDec` per component (`x [c, B, n]`, `bDec [c, n]`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { centerSource } from "./wgsl.ts";
 * assert.deepEqual(centerSource().buffers.map(([name]) => name), ["x", "bias", "out"]);
 * assert.match(centerSource().code, /out\[i\] = x\[i\] - bias\[component \* p\.n \+ i % p\.n\]/);
 * ```
 */
export function centerSource(): KernelSource {
  return kernel(
    "center",
    [["total", "u32"], ["n", "u32"], ["perComponent", "u32"]],
    [["x", "read", "f32"], ["bias", "read", "f32"], ["out", "read_write", "f32"]],
    `${ELEMENT_MAIN}
  let component = i / p.perComponent;
  out[i] = x[i] - bias[component * p.n + i % p.n];
}
`,
  );
}

/**
 * The activation of one row of pre-activations, in place: ReLU (`k = 0`) or
 * TopK, and the row's `l1 = Σ f` and `l0 = #{f > 0}`. TopK keeps the
 * positive values at least as large as the row's `k`-th largest value, ties
 * included, as `topkMask` does: the `k`-th largest is found exactly as
 * the `k`-th largest of the values' order-preserving integer keys, a byte at
 * a time (four counting passes over the row into a 256-bin histogram).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { activateSource } from "./wgsl.ts";
 * assert.deepEqual(activateSource().buffers.map(([name]) => name), ["f", "l1", "l0"]);
 * ```
 */
export function activateSource(): KernelSource {
  return kernel(
    "activate",
    [["rows", "u32"], ["m", "u32"], ["k", "u32"]],
    [["f", "read_write", "f32"], ["l1", "read_write", "f32"], ["l0", "read_write", "f32"]],
    `
var<workgroup> histogram: array<atomic<u32>, 256>;
var<workgroup> chosen: vec2u;
var<workgroup> red: array<f32, ${ROW_THREADS}>;
var<workgroup> redCount: array<u32, ${ROW_THREADS}>;

/** An integer key in the order of the floats (larger float, larger key). */
fn key(v: f32) -> u32 {
  let u = bitcast<u32>(v);
  return select(u | 0x80000000u, ~u, (u & 0x80000000u) != 0u);
}

${ROW_MAIN}
  let base = row * p.m;
  // TopK: the k-th largest key, found a byte at a time from the highest (radix select): each pass
  // counts, among the keys that share the bytes fixed so far, how many have each value of the next
  // byte, and fixes the byte where the count from the top reaches the number still needed.
  var threshold = 0u;
  if (p.k > 0u) {
    var need = p.k;
    for (var round = 0u; round < 4u; round = round + 1u) {
      let shift = 24u - 8u * round;
      let fixed = select(0u, 0xffffffffu << (shift + 8u), round > 0u);
      for (var b = lid.x; b < 256u; b = b + ${ROW_THREADS}u) { atomicStore(&histogram[b], 0u); }
      workgroupBarrier();
      for (var j = lid.x; j < p.m; j = j + ${ROW_THREADS}u) {
        let kj = key(f[base + j]);
        if ((kj & fixed) == (threshold & fixed)) { atomicAdd(&histogram[(kj >> shift) & 255u], 1u); }
      }
      workgroupBarrier();
      if (lid.x == 0u) {
        var above = 0u;
        var b = 255u;
        loop {
          let here = atomicLoad(&histogram[b]);
          if (above + here >= need || b == 0u) {
            chosen = vec2u(b, need - above);
            break;
          }
          above = above + here;
          b = b - 1u;
        }
      }
      workgroupBarrier();
      let pick = chosen;
      threshold = threshold | (pick.x << shift);
      need = pick.y;
      workgroupBarrier();
    }
  }
  var sum = 0.0;
  var kept = 0u;
  for (var j = lid.x; j < p.m; j = j + ${ROW_THREADS}u) {
    let v = f[base + j];
    let keep = v > 0.0 && key(v) >= threshold;
    let out = select(0.0, v, keep);
    f[base + j] = out;
    sum = sum + out;
    kept = kept + select(0u, 1u, keep);
  }
  red[lid.x] = sum;
  redCount[lid.x] = kept;
  workgroupBarrier();
  for (var w = ${ROW_THREADS / 2}u; w > 0u; w = w >> 1u) {
    if (lid.x < w) {
      red[lid.x] = red[lid.x] + red[lid.x + w];
      redCount[lid.x] = redCount[lid.x] + redCount[lid.x + w];
    }
    workgroupBarrier();
  }
  if (lid.x == 0u) {
    l1[row] = red[0];
    l0[row] = f32(redCount[0]);
  }
}
`,
  );
}

/**
 * One row of the reconstruction: `∂L/∂x̂ = errScale·(x̂ − x)`,
 * `l2 = mean (x̂ − x)²`, `total = l1Coefficient·l1 + l2`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { residualSource } from "./wgsl.ts";
 * assert.deepEqual(residualSource().params.map(([name]) => name), ["rows", "n", "errScale", "l1Coefficient"]);
 * ```
 */
export function residualSource(): KernelSource {
  return kernel(
    "residual",
    [["rows", "u32"], ["n", "u32"], ["errScale", "f32"], ["l1Coefficient", "f32"]],
    [
      ["xHat", "read", "f32"],
      ["x", "read", "f32"],
      ["dX", "read_write", "f32"],
      ["l1", "read", "f32"],
      ["l2", "read_write", "f32"],
      ["total", "read_write", "f32"],
    ],
    `
var<workgroup> red: array<f32, ${ROW_THREADS}>;
${TREE_SUM}

${ROW_MAIN}
  let base = row * p.n;
  var sq = 0.0;
  for (var j = lid.x; j < p.n; j = j + ${ROW_THREADS}u) {
    let d = xHat[base + j] - x[base + j];
    dX[base + j] = p.errScale * d;
    sq = sq + d * d;
  }
  red[lid.x] = sq;
  treeSum(lid.x);
  if (lid.x == 0u) {
    let l2v = red[0] / f32(p.n);
    l2[row] = l2v;
    total[row] = p.l1Coefficient * l1[row] + l2v;
  }
}
`,
  );
}

/**
 * `∂L/∂pre = (∂L/∂f + add) ⊙ [f > 0]`, in place on `d`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { maskGradSource } from "./wgsl.ts";
 * assert.match(maskGradSource().code, /select\(0\.0, d\[i\] \+ p\.add, f\[i\] > 0\.0\)/);
 * ```
 */
export function maskGradSource(): KernelSource {
  return kernel(
    "maskGrad",
    [["total", "u32"], ["add", "f32"]],
    [["f", "read", "f32"], ["d", "read_write", "f32"]],
    `${ELEMENT_MAIN}
  d[i] = select(0.0, d[i] + p.add, f[i] > 0.0);
}
`,
  );
}

/** What {@linkcode columnSource} computes per column of each component's `[rows, cols]` slab. */
export type ColumnMode = "sum" | "countPositive" | "centeredSquares";

/**
 * A reduction down the columns of `[component, rows, cols]`: the sum, the
 * number of positive values (as int32), or `Σ (v − mean)²` (two passes).
 * Workgroups of 16 columns × 16 row lanes; the lanes meet in a tree.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { columnSource } from "./wgsl.ts";
 * assert.equal(columnSource("countPositive").buffers[1][2], "i32");
 * ```
 */
export function columnSource(mode: ColumnMode): KernelSource {
  const outType = mode === "countPositive" ? "i32" : "f32";
  const value = mode === "countPositive" ? "select(0.0, 1.0, v > 0.0)" : "v";
  const lanePass = (expr: string) => `
  var s = 0.0;
  if (inRange) {
    for (var r = lid.y; r < p.rows; r = r + 16u) {
      let v = src[base + r * p.cols + col];
      s = s + ${expr};
    }
  }
  red[lid.y * 16u + lid.x] = s;
  workgroupBarrier();
  for (var w = 8u; w > 0u; w = w >> 1u) {
    if (lid.y < w) { red[lid.y * 16u + lid.x] = red[lid.y * 16u + lid.x] + red[(lid.y + w) * 16u + lid.x]; }
    workgroupBarrier();
  }`;
  const body = mode === "centeredSquares"
    ? `${lanePass("v")}
  let mean = red[lid.x] / f32(p.rows);
  workgroupBarrier();
  {${lanePass("(v - mean) * (v - mean)")}
  }`
    : lanePass(value);
  const store = mode === "countPositive" ? "i32(red[lid.x])" : "red[lid.x]";
  return kernel(
    `column:${mode}`,
    [["rows", "u32"], ["cols", "u32"]],
    [["src", "read", "f32"], ["out", "read_write", outType]],
    `
var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let component = wid.y;
  let col = wid.x * 16u + lid.x;
  let inRange = col < p.cols;
  let base = component * p.rows * p.cols;
  ${body}
  if (lid.y == 0u && inRange) { out[component * p.cols + col] = ${store}; }
}
`,
  );
}

/**
 * The tied bias's gradient: `∂L/∂bDec[i] = Σ_b ∂L/∂x̂[b, i] − Σ_j ∂L/∂bEnc[j]·wEnc[i, j]`, one workgroup
 * per `(i, component)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { biasGradSource } from "./wgsl.ts";
 * assert.deepEqual(biasGradSource().buffers.map(([name, access]) => `${name}:${access}`), [
 *   "sumDX:read",
 *   "gbEnc:read",
 *   "wEnc:read",
 *   "gbDec:read_write",
 * ]);
 * ```
 */
export function biasGradSource(): KernelSource {
  return kernel(
    "biasGrad",
    [["n", "u32"], ["m", "u32"]],
    [
      ["sumDX", "read", "f32"],
      ["gbEnc", "read", "f32"],
      ["wEnc", "read", "f32"],
      ["gbDec", "read_write", "f32"],
    ],
    `
var<workgroup> red: array<f32, ${ROW_THREADS}>;
${TREE_SUM}

@compute @workgroup_size(${ROW_THREADS})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = wid.x;
  let component = wid.y;
  let row = (component * p.n + i) * p.m;
  var s = 0.0;
  for (var j = lid.x; j < p.m; j = j + ${ROW_THREADS}u) {
    s = s + gbEnc[component * p.m + j] * wEnc[row + j];
  }
  red[lid.x] = s;
  treeSum(lid.x);
  if (lid.x == 0u) { gbDec[component * p.n + i] = sumDX[component * p.n + i] - red[0]; }
}
`,
  );
}

/**
 * `out[o] = scale · Σ_{t < len} src[o·len + t]`, one workgroup per output.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { segmentSumSource } from "./wgsl.ts";
 * assert.deepEqual(segmentSumSource().params.map(([name]) => name), ["rows", "len", "scale"]);
 * ```
 */
export function segmentSumSource(): KernelSource {
  return kernel(
    "segmentSum",
    [["rows", "u32"], ["len", "u32"], ["scale", "f32"]],
    [["src", "read", "f32"], ["out", "read_write", "f32"]],
    `
var<workgroup> red: array<f32, ${ROW_THREADS}>;
${TREE_SUM}

${ROW_MAIN}
  var s = 0.0;
  for (var t = lid.x; t < p.len; t = t + ${ROW_THREADS}u) { s = s + src[row * p.len + t]; }
  red[lid.x] = s;
  treeSum(lid.x);
  if (lid.x == 0u) { out[row] = p.scale * red[0]; }
}
`,
  );
}

/**
 * Adam's moments and update of one tensor (the contract of `ADAM_KERNEL`):
 * `μ' = β1·μ + (1−β1)·g`, `ν' = β2·ν + (1−β2)·g²`, `u = c1·μ' / (√(c2·ν') + ε)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { adamSource } from "./wgsl.ts";
 * assert.equal(adamSource().buffers.length, 6); // g, mu, nu in; mu', nu', update out
 * ```
 */
export function adamSource(): KernelSource {
  return kernel(
    "adam",
    [["total", "u32"], ["b1", "f32"], ["a1", "f32"], ["b2", "f32"], ["a2", "f32"], ["eps", "f32"], [
      "c1",
      "f32",
    ], ["c2", "f32"]],
    [
      ["g", "read", "f32"],
      ["mu", "read", "f32"],
      ["nu", "read", "f32"],
      ["muOut", "read_write", "f32"],
      ["nuOut", "read_write", "f32"],
      ["update", "read_write", "f32"],
    ],
    `${ELEMENT_MAIN}
  let gi = g[i];
  let m = p.b1 * mu[i] + p.a1 * gi;
  let v = p.b2 * nu[i] + p.a2 * gi * gi;
  muOut[i] = m;
  nuOut[i] = v;
  update[i] = (p.c1 * m) / (sqrt(p.c2 * v) + p.eps);
}
`,
  );
}

/**
 * Each row of `g` loses its component along the same row of `w`: `g − w (g·w)/‖w‖²` (`PROJECT_ROWS_KERNEL`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { projectRowsSource } from "./wgsl.ts";
 * assert.match(projectRowsSource().code, /out\[base \+ j\] = g\[base \+ j\] - w\[base \+ j\] \* scale/);
 * ```
 */
export function projectRowsSource(): KernelSource {
  return kernel(
    "projectRows",
    [["rows", "u32"], ["cols", "u32"]],
    [["w", "read", "f32"], ["g", "read", "f32"], ["out", "read_write", "f32"]],
    `
var<workgroup> red: array<f32, ${ROW_THREADS}>;
var<workgroup> red2: array<f32, ${ROW_THREADS}>;

${ROW_MAIN}
  let base = row * p.cols;
  var sq = 0.0;
  var dot = 0.0;
  for (var j = lid.x; j < p.cols; j = j + ${ROW_THREADS}u) {
    let wv = w[base + j];
    sq = sq + wv * wv;
    dot = dot + g[base + j] * wv;
  }
  red[lid.x] = sq;
  red2[lid.x] = dot;
  workgroupBarrier();
  for (var s = ${ROW_THREADS / 2}u; s > 0u; s = s >> 1u) {
    if (lid.x < s) {
      red[lid.x] = red[lid.x] + red[lid.x + s];
      red2[lid.x] = red2[lid.x] + red2[lid.x + s];
    }
    workgroupBarrier();
  }
  let scale = red2[0] / red[0];
  for (var j = lid.x; j < p.cols; j = j + ${ROW_THREADS}u) {
    out[base + j] = g[base + j] - w[base + j] * scale;
  }
}
`,
  );
}

/**
 * Each row scaled to unit norm, `w / max(‖w‖, 1e-12)` (`NORMALIZE_ROWS_KERNEL`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { normalizeRowsSource } from "./wgsl.ts";
 * assert.match(normalizeRowsSource().code, /max\(sqrt\(red\[0\]\), 1e-12\)/);
 * ```
 */
export function normalizeRowsSource(): KernelSource {
  return kernel(
    "normalizeRows",
    [["rows", "u32"], ["cols", "u32"]],
    [["w", "read", "f32"], ["out", "read_write", "f32"]],
    `
var<workgroup> red: array<f32, ${ROW_THREADS}>;
${TREE_SUM}

${ROW_MAIN}
  let base = row * p.cols;
  var sq = 0.0;
  for (var j = lid.x; j < p.cols; j = j + ${ROW_THREADS}u) {
    let wv = w[base + j];
    sq = sq + wv * wv;
  }
  red[lid.x] = sq;
  treeSum(lid.x);
  let inv = 1.0 / max(sqrt(red[0]), 1e-12);
  for (var j = lid.x; j < p.cols; j = j + ${ROW_THREADS}u) {
    out[base + j] = w[base + j] * inv;
  }
}
`,
  );
}

/**
 * `out = f32(x)` for int32 or bool values (stored as 32-bit integers on the GPU).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { intToFloatSource } from "./wgsl.ts";
 * assert.deepEqual(intToFloatSource().buffers, [["x", "read", "i32"], ["out", "read_write", "f32"]]);
 * ```
 */
export function intToFloatSource(): KernelSource {
  return kernel(
    "intToFloat",
    [["total", "u32"]],
    [["x", "read", "i32"], ["out", "read_write", "f32"]],
    `${ELEMENT_MAIN}
  out[i] = f32(x[i]);
}
`,
  );
}

/** The most axes {@linkcode transposeSource} handles. */
export const TRANSPOSE_MAX_RANK = 6;

/**
 * A transpose of any 32-bit values (float32, int32, bool as stored on the
 * GPU), copied as bits: output element `i`, at coordinates `(o0, …, o5)` in
 * the output shape `d0 … d5`, reads the input at `Σ oₐ·sₐ`, with `sₐ` the
 * input's stride of the axis that output axis `a` comes from. Shapes of
 * fewer axes are padded in front with size-1 axes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TRANSPOSE_MAX_RANK, transposeSource } from "./wgsl.ts";
 * assert.equal(transposeSource().params.length, 1 + 2 * TRANSPOSE_MAX_RANK); // total, d0..d5, s0..s5
 * ```
 */
export function transposeSource(): KernelSource {
  const axes = Array.from({ length: TRANSPOSE_MAX_RANK }, (_, a) => a);
  const walk = axes.slice().reverse().map((a) =>
    `  at = at + (rest % p.d${a}) * p.s${a};
  rest = rest / p.d${a};`
  )
    .join("\n");
  return kernel(
    "transpose",
    [
      ["total", "u32"],
      ...axes.map((a) => [`d${a}`, "u32"] as const),
      ...axes.map((a) => [`s${a}`, "u32"] as const),
    ],
    [["x", "read", "i32"], ["out", "read_write", "i32"]],
    `${ELEMENT_MAIN}
  var rest = i;
  var at = 0u;
${walk}
  out[i] = x[at];
}
`,
  );
}

/**
 * The grid of workgroups for `count` workgroups in one dimension: at most
 * 65,535 along x, the rest along y (the kernels skip the excess).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { grid } from "./wgsl.ts";
 * assert.deepEqual(grid(10), [10, 1, 1]);
 * assert.deepEqual(grid(70_000), [35_000, 2, 1]);
 * ```
 */
export function grid(count: number): [number, number, number] {
  const limit = 65_535;
  if (count <= limit) return [Math.max(count, 1), 1, 1];
  const y = Math.ceil(count / limit);
  return [Math.ceil(count / y), y, 1];
}
