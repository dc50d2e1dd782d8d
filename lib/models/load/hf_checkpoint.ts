/**
 * Reading Hugging Face safetensors checkpoints: a folder's `config.json` and
 * its weights (one file, or shards listed in `model.safetensors.index.json`),
 * indexed from the headers and decoded tensor by tensor (F32, F16, BF16, F64),
 * so that buffers of other types in the files (causal masks in U8 or BOOL) do
 * no harm. Shared by the Llama, GPT-2 and GPT-NeoX loaders.
 *
 * @module
 */
import { indexSafetensorsBytes } from "../../io/safetensors.ts";
import { parseJsonFile, readJsonFile } from "../../io/files.ts";
import { assertFiniteValues } from "../../train/finite.ts";

/**
 * Widens IEEE half-precision (F16) or bfloat16 (BF16) little-endian values to
 * float32; both are exact in float32.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { widenHalf } from "./hf_llama.ts";
 * // F16 0x3c00 = 1, 0xc000 = −2; BF16 0x3f80 = 1, 0x4049 ≈ 3.140625
 * const f16 = widenHalf(new Uint8Array([0x00, 0x3c, 0x00, 0xc0]), "F16");
 * const bf16 = widenHalf(new Uint8Array([0x80, 0x3f, 0x49, 0x40]), "BF16");
 * assert.equal(f16.join(), "1,-2");
 * assert.equal(bf16.join(), "1,3.140625");
 * ```
 */
export function widenHalf(bytes: Uint8Array, dtype: "F16" | "BF16"): Float32Array {
  const n = bytes.length >> 1;
  const out = new Float32Array(n);
  if (dtype === "BF16") {
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) bits[i] = (bytes[2 * i] | (bytes[2 * i + 1] << 8)) << 16;
    return out;
  }
  for (let i = 0; i < n; i++) {
    const h = bytes[2 * i] | (bytes[2 * i + 1] << 8);
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    if (exponent === 0) out[i] = sign * mantissa * 2 ** -24;
    else if (exponent === 31) out[i] = mantissa === 0 ? sign * Infinity : NaN;
    else out[i] = sign * 2 ** (exponent - 15) * (1 + mantissa / 1024);
  }
  return out;
}

/** One tensor of a safetensors checkpoint, indexed but not yet decoded. */
export type HfTensorEntry = {
  /** As in the header: `"F32"`, `"F16"`, `"BF16"`, `"F64"`, `"U8"`, `"BOOL"`, ... */
  readonly dtype: string;
  readonly shape: readonly number[];
  /** The raw little-endian bytes of the tensor. */
  readonly bytes: Uint8Array;
  /** The file it came from, named in messages. */
  readonly file: string;
};

/** Tensors by name, across the files of a checkpoint. */
export type HfTensors = Readonly<Record<string, HfTensorEntry>>;

/**
 * Indexes the tensors of safetensors bytes from the header without decoding
 * them: {@linkcode indexSafetensorsBytes} (every check of the header and of
 * each tensor's byte range) with the file named in each entry.
 *
 * @param file names the file in messages and in each entry
 * @throws TypeError or RangeError naming the file (and tensor) when the header or a byte range is wrong
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeSafetensors } from "../../io/safetensors.ts";
 * import { indexSafetensors } from "./hf_gpt2.ts";
 * const bytes = encodeSafetensors({ w: { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) } });
 * const entry = indexSafetensors(bytes, "model.safetensors").w;
 * assert.equal(entry.dtype, "F32");
 * assert.equal(entry.bytes.length, 8);
 * assert.equal(entry.file, "model.safetensors");
 * ```
 */
export function indexSafetensors(bytes: Uint8Array, file: string): Record<string, HfTensorEntry> {
  const out: Record<string, HfTensorEntry> = {};
  for (const [name, entry] of Object.entries(indexSafetensorsBytes(bytes, file).tensors)) {
    out[name] = { ...entry, file };
  }
  return out;
}

/**
 * Decodes the tensor `name` as float32 after checking its shape: F32 as it
 * is, F16 and BF16 widened, F64 narrowed.
 *
 * @throws RangeError naming the file(s) and the tensor: missing, a shape
 *   mismatch, or a dtype that is not floating point
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeSafetensors } from "../../io/safetensors.ts";
 * import { indexSafetensors, takeHfTensor } from "./hf_gpt2.ts";
 * const bytes = encodeSafetensors({ w: { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) } });
 * const tensors = indexSafetensors(bytes, "model.safetensors");
 * assert.equal(takeHfTensor(tensors, "w", [2]).join(), "1,2");
 * assert.throws(() => takeHfTensor(tensors, "w", [3]), {
 *   message: "model.safetensors: tensor w expected shape [3], received [2]",
 * });
 * ```
 */
export function takeHfTensor(tensors: HfTensors, name: string, shape: readonly number[]): Float32Array {
  const found = tensors[name];
  if (found === undefined) {
    const files = [...new Set(Object.values(tensors).map((t) => t.file))].join(", ") || "no files";
    throw new RangeError(`${files}: tensor ${name} expected with shape [${shape.join(", ")}], not found`);
  }
  const { dtype, bytes, file } = found;
  if (found.shape.length !== shape.length || found.shape.some((n, i) => n !== shape[i])) {
    throw new RangeError(
      `${file}: tensor ${name} expected shape [${shape.join(", ")}], received [${found.shape.join(", ")}]`,
    );
  }
  // Copies: the entry's bytes may sit at an offset that is not a multiple of the element size.
  let values: Float32Array;
  if (dtype === "F32") values = new Float32Array(bytes.slice().buffer);
  else if (dtype === "F16" || dtype === "BF16") values = widenHalf(bytes, dtype);
  else if (dtype === "F64") values = Float32Array.from(new Float64Array(bytes.slice().buffer));
  else throw new TypeError(`${file}: tensor ${name} expected dtype F32, F16, BF16 or F64, received ${dtype}`);
  // A weight that is not finite poisons every activation after it: refused here, with its name.
  assertFiniteValues(values, `${file}: tensor "${name}"`);
  return values;
}

/** A Hugging Face folder's parsed `config.json` and indexed tensors. */
export type HfCheckpoint = {
  /** The folder, without a trailing slash. */
  readonly dir: string;
  /** Path of `config.json`, named in messages. */
  readonly configPath: string;
  readonly config: unknown;
  readonly tensors: HfTensors;
};

/**
 * Reads a Hugging Face folder: `config.json` (parsed), then
 * `model.safetensors` or, when it is absent, the shards named by
 * `model.safetensors.index.json`, indexed with {@linkcode indexSafetensors}.
 *
 * @throws RangeError naming the file that is missing or malformed
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readHfCheckpoint } from "./hf_gpt2.ts";
 * await assert.rejects(() => readHfCheckpoint("no/such/folder"), {
 *   message: /^no\/such\/folder\/config\.json: expected a Hugging Face config\.json/,
 * });
 * ```
 */
export async function readHfCheckpoint(folder: string): Promise<HfCheckpoint> {
  const dir = folder.replace(/\/+$/, "");
  const configPath = `${dir}/config.json`;
  let configText: string;
  try {
    configText = await Deno.readTextFile(configPath);
  } catch (error) {
    throw new RangeError(`${configPath}: expected a Hugging Face config.json, could not read it (${error})`);
  }
  const config = parseJsonFile(configText, configPath, "a Hugging Face config.json");
  const single = `${dir}/model.safetensors`;
  const indexPath = `${dir}/model.safetensors.index.json`;
  let files: string[];
  if (await isFile(single)) {
    files = [single];
  } else if (await isFile(indexPath)) {
    const index = await readJsonFile(indexPath);
    if (index === null || typeof index !== "object" || Array.isArray(index)) {
      throw new TypeError(`${indexPath}: expected a JSON object, received ${JSON.stringify(index)}`);
    }
    const map = (index as { weight_map?: unknown }).weight_map;
    if (map === null || typeof map !== "object" || Array.isArray(map)) {
      throw new RangeError(`${indexPath}: expected a weight_map object, received ${JSON.stringify(map)}`);
    }
    const shards = [...new Set(Object.values(map))];
    const odd = shards.find((f) => typeof f !== "string" || f === "");
    if (odd !== undefined) {
      throw new TypeError(`${indexPath}: weight_map expected file names, received ${JSON.stringify(odd)}`);
    }
    files = (shards as string[]).map((f) => `${dir}/${f}`);
  } else {
    throw new RangeError(
      `${dir}: expected model.safetensors or model.safetensors.index.json, found neither (only safetensors weights are read)`,
    );
  }
  const tensors: Record<string, HfTensorEntry> = {};
  for (const file of files) {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(file);
    } catch (error) {
      throw new RangeError(`${file}: expected a safetensors file, could not read it (${error})`);
    }
    Object.assign(tensors, indexSafetensors(bytes, file));
  }
  return { dir, configPath, config, tensors };
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
