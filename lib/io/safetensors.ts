/**
 * The safetensors format: an 8-byte little-endian header length, a JSON
 * header `{name: {dtype, shape, data_offsets}, __metadata__?}`, then the raw
 * little-endian tensor bytes. Encoding and decoding are pure; reading and
 * writing files are the effectful helpers at the end.
 *
 * Every reader of the format in saekit (checkpoints, SAELens and sparsify
 * imports, Hugging Face model folders) goes through
 * {@linkcode parseSafetensorsHeader}, which checks the header against the
 * file's size before any tensor is touched and names the file, the tensor,
 * what was expected and what was received in every error.
 *
 * @module
 */

/** Data types saekit reads and writes. */
export type SafetensorsDtype = "F32" | "I32" | "F64" | "I64" | "F16" | "BF16";

/** One tensor: its data type, shape and values. */
export type SafetensorsEntry = {
  readonly dtype: "F32" | "I32";
  readonly shape: readonly number[];
  readonly data: Float32Array | Int32Array;
};

/** Decoded file: tensors by name and the string metadata. */
export type SafetensorsFile = {
  readonly tensors: Readonly<Record<string, SafetensorsEntry>>;
  readonly metadata: Readonly<Record<string, string>>;
};

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Encodes tensors into safetensors bytes. Tensor names are sorted, as the
 * reference implementation does; the header is padded to 8 bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeSafetensors, encodeSafetensors } from "./safetensors.ts";
 * const bytes = encodeSafetensors({ w: { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) } });
 * assert.equal(decodeSafetensors(bytes).tensors.w.data[1], 2);
 * ```
 */
export function encodeSafetensors(
  tensors: Readonly<Record<string, SafetensorsEntry>>,
  metadata: Readonly<Record<string, string>> = {},
): Uint8Array {
  if (!LITTLE_ENDIAN) throw new Error("safetensors: big-endian hosts are not supported");
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of names) {
    const { dtype, shape, data } = tensors[name];
    const count = shape.reduce((a, b) => a * b, 1);
    if (count !== data.length) {
      throw new RangeError(
        `safetensors: tensor ${name} expected ${count} values for shape [${
          shape.join(", ")
        }], received ${data.length}`,
      );
    }
    header[name] = { dtype, shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const spaced = new Uint8Array(padded).fill(0x20);
    spaced.set(json);
    json = spaced;
  }
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const name of names) {
    const { data } = tensors[name];
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
    at += data.byteLength;
  }
  return out;
}

/**
 * Every data type of the safetensors format, with its size in bytes. Files
 * may hold any of them; {@linkcode decodeSafetensors} decodes F32, I32, F64
 * and I64, and the Hugging Face loaders also widen F16 and BF16.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SAFETENSORS_DTYPE_BYTES } from "./safetensors.ts";
 * assert.equal(SAFETENSORS_DTYPE_BYTES.BF16, 2);
 * assert.equal(SAFETENSORS_DTYPE_BYTES.F33, undefined);
 * ```
 */
export const SAFETENSORS_DTYPE_BYTES: Readonly<Record<string, number>> = Object.freeze({
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
});

/** One tensor of a file, checked against the header's rules but not decoded. */
export type SafetensorsRawEntry = {
  /** As in the header: one of {@linkcode SAFETENSORS_DTYPE_BYTES}'s keys. */
  readonly dtype: string;
  readonly shape: readonly number[];
  /** The tensor's little-endian bytes: a view into the file's bytes (not aligned to the element size). */
  readonly bytes: Uint8Array;
};

/** A file's tensors by name, undecoded, and its string metadata. */
export type SafetensorsIndex = {
  readonly tensors: Readonly<Record<string, SafetensorsRawEntry>>;
  readonly metadata: Readonly<Record<string, string>>;
};

/** A value as it reads in a message: JSON, cut at 80 characters. */
function show(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/** One tensor of a header: its dtype, shape and byte range within the data section. */
export type SafetensorsHeaderEntry = {
  /** One of {@linkcode SAFETENSORS_DTYPE_BYTES}'s keys. */
  readonly dtype: string;
  readonly shape: readonly number[];
  /** `data_offsets`: relative to the start of the data section, `end − begin = prod(shape) × size`. */
  readonly begin: number;
  readonly end: number;
};

/** A checked header: where the data section starts in the file, the tensors and the metadata. */
export type SafetensorsHeader = {
  /** `8 + ` the header's length: the file offset of the data section. */
  readonly dataStart: number;
  readonly tensors: Readonly<Record<string, SafetensorsHeaderEntry>>;
  readonly metadata: Readonly<Record<string, string>>;
};

/**
 * The header length of a safetensors file from its first 8 bytes, checked to
 * lie within a file of `fileSize` bytes: how many bytes to read next (for a
 * reader that streams a large file rather than reading it whole).
 *
 * @throws RangeError naming `source` when the file is shorter than 8 bytes or the length runs past its end
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { safetensorsHeaderLength } from "./safetensors.ts";
 * assert.equal(safetensorsHeaderLength(new Uint8Array([16, 0, 0, 0, 0, 0, 0, 0]), 40, "s.safetensors"), 16);
 * assert.throws(() => safetensorsHeaderLength(new Uint8Array([64, 0, 0, 0, 0, 0, 0, 0]), 40, "s.safetensors"), {
 *   message: "s.safetensors: expected a header length within the file (at most 32 bytes after the 8-byte length), received 64",
 * });
 * ```
 */
export function safetensorsHeaderLength(first: Uint8Array, fileSize: number, source = "safetensors"): number {
  if (fileSize < 8 || first.length < 8) {
    throw new RangeError(`${source}: expected at least 8 bytes (the header length), received ${fileSize}`);
  }
  const declared = new DataView(first.buffer, first.byteOffset, 8).getBigUint64(0, true);
  if (declared > BigInt(fileSize - 8)) {
    throw new RangeError(
      `${source}: expected a header length within the file (at most ${
        fileSize - 8
      } bytes after the 8-byte length), received ${declared}`,
    );
  }
  return Number(declared);
}

/**
 * Parses and checks the header of a safetensors file of `fileSize` bytes from
 * its first bytes (`head`: at least the 8-byte length and the header; the
 * whole file will do). This is the one reader of the format behind
 * checkpoints, SAELens and sparsify imports and Hugging Face model folders.
 *
 * Checked, each error naming `source` (and the tensor) with what was expected
 * and what was received: the 8-byte header length lies within the file; the
 * header is UTF-8 JSON and an object; `__metadata__`, if present, is an object
 * of strings; every other entry has a dtype of the format, a shape of
 * non-negative integers, and `data_offsets` of two integers in order, inside
 * the data section, spanning exactly `prod(shape) × dtype size` bytes and
 * overlapping no other tensor's.
 *
 * @param source the file's path, named in every message
 * @throws TypeError for a header that is not JSON, not an object, or has fields of the wrong type
 * @throws RangeError for a length or offsets outside the file, a size that does not match the shape, or
 *   overlapping tensors
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeSafetensors, parseSafetensorsHeader } from "./safetensors.ts";
 * const bytes = encodeSafetensors({ w: { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) } });
 * const { dataStart, tensors } = parseSafetensorsHeader(bytes, bytes.length, "w.safetensors");
 * assert.deepEqual(tensors.w, { dtype: "F32", shape: [2], begin: 0, end: 8 });
 * assert.equal(dataStart, bytes.length - 8);
 * // the same header in a file 4 bytes shorter: the tensor runs past the end
 * assert.throws(() => parseSafetensorsHeader(bytes, bytes.length - 4, "w.safetensors"), {
 *   message: 'w.safetensors: tensor "w": expected data_offsets within the 4-byte data section, received [0, 8]',
 * });
 * ```
 */
export function parseSafetensorsHeader(
  head: Uint8Array,
  fileSize: number,
  source = "safetensors",
): SafetensorsHeader {
  const headerLength = safetensorsHeaderLength(head, fileSize, source);
  if (head.length < 8 + headerLength) {
    throw new RangeError(
      `${source}: parseSafetensorsHeader() expected the first ${
        8 + headerLength
      } bytes, received ${head.length}`,
    );
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(head.subarray(8, 8 + headerLength));
  } catch {
    throw new TypeError(`${source}: expected a UTF-8 JSON header, received bytes that are not UTF-8`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (error) {
    throw new TypeError(
      `${source}: expected a JSON header, received text that does not parse (${
        error instanceof Error ? error.message : error
      })`,
    );
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    throw new TypeError(`${source}: expected the header to be a JSON object, received ${show(header)}`);
  }
  const dataLength = fileSize - 8 - headerLength;
  const tensors: Record<string, SafetensorsHeaderEntry> = {};
  const spans: { name: string; begin: number; end: number }[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (
        info === null || typeof info !== "object" || Array.isArray(info) ||
        Object.values(info).some((v) => typeof v !== "string")
      ) {
        throw new TypeError(`${source}: __metadata__: expected an object of strings, received ${show(info)}`);
      }
      metadata = info as Record<string, string>;
      continue;
    }
    const at = `${source}: tensor ${JSON.stringify(name)}`;
    if (name === "__proto__") throw new TypeError(`${at}: expected a tensor name other than __proto__`);
    if (info === null || typeof info !== "object" || Array.isArray(info)) {
      throw new TypeError(
        `${at}: expected an object with dtype, shape and data_offsets, received ${show(info)}`,
      );
    }
    const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
    const size = typeof dtype === "string" && Object.hasOwn(SAFETENSORS_DTYPE_BYTES, dtype)
      ? SAFETENSORS_DTYPE_BYTES[dtype]
      : undefined;
    if (size === undefined) {
      throw new TypeError(
        `${at}: expected a dtype of the format (${
          Object.keys(SAFETENSORS_DTYPE_BYTES).join(", ")
        }), received ${show(dtype)}`,
      );
    }
    if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) {
      throw new TypeError(`${at}: expected a shape of non-negative integers, received ${show(shape)}`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInteger)) {
      throw new TypeError(
        `${at}: expected data_offsets of two non-negative integers [begin, end], received ${show(offsets)}`,
      );
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) {
      throw new RangeError(
        `${at}: expected data_offsets in order (begin ≤ end), received [${begin}, ${end}]`,
      );
    }
    if (end > dataLength) {
      throw new RangeError(
        `${at}: expected data_offsets within the ${dataLength}-byte data section, received [${begin}, ${end}]`,
      );
    }
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    if (end - begin !== count * size) {
      throw new RangeError(
        `${at}: expected ${count * size} bytes (shape [${
          shape.join(", ")
        }] of ${dtype}, ${size} bytes each), received data_offsets [${begin}, ${end}] (${end - begin} bytes)`,
      );
    }
    tensors[name] = { dtype: dtype as string, shape, begin, end };
    if (end > begin) spans.push({ name, begin, end });
  }
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let reach: { name: string; begin: number; end: number } | undefined;
  for (const span of spans) {
    if (reach !== undefined && span.begin < reach.end) {
      throw new RangeError(
        `${source}: tensor ${JSON.stringify(span.name)}: expected data_offsets not overlapping tensor ${
          JSON.stringify(reach.name)
        } [${reach.begin}, ${reach.end}], received [${span.begin}, ${span.end}]`,
      );
    }
    if (reach === undefined || span.end > reach.end) reach = span;
  }
  return { dataStart: 8 + headerLength, tensors, metadata };
}

/**
 * Checks safetensors bytes (every check of {@linkcode parseSafetensorsHeader})
 * and indexes their tensors without decoding them: each comes back as a view
 * of its bytes.
 *
 * @param source the file's path, named in every message
 * @throws TypeError or RangeError naming `source` and the tensor (see {@linkcode parseSafetensorsHeader})
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeSafetensors, indexSafetensorsBytes } from "./safetensors.ts";
 * const bytes = encodeSafetensors({ w: { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) } });
 * const { tensors } = indexSafetensorsBytes(bytes, "w.safetensors");
 * assert.deepEqual([tensors.w.dtype, tensors.w.shape, tensors.w.bytes.length], ["F32", [2], 8]);
 * // cut the last 4 bytes: the data section is 4 bytes, the tensor claims [0, 8]
 * assert.throws(() => indexSafetensorsBytes(bytes.subarray(0, bytes.length - 4), "w.safetensors"), {
 *   message: 'w.safetensors: tensor "w": expected data_offsets within the 4-byte data section, received [0, 8]',
 * });
 * ```
 */
export function indexSafetensorsBytes(bytes: Uint8Array, source = "safetensors"): SafetensorsIndex {
  const { dataStart, tensors, metadata } = parseSafetensorsHeader(bytes, bytes.length, source);
  const out: Record<string, SafetensorsRawEntry> = {};
  for (const [name, { dtype, shape, begin, end }] of Object.entries(tensors)) {
    out[name] = { dtype, shape, bytes: bytes.subarray(dataStart + begin, dataStart + end) };
  }
  return { tensors: out, metadata };
}

/**
 * Decodes safetensors bytes, after every check of
 * {@linkcode parseSafetensorsHeader}. F32 and I32 are returned as they are;
 * F64 is narrowed to F32 and I64 to I32 (an error if a value does not fit);
 * other dtypes are refused.
 *
 * @param source a name for error messages (a file path)
 * @throws TypeError or RangeError naming `source` and the tensor (see {@linkcode indexSafetensorsBytes})
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeSafetensors, encodeSafetensors } from "./safetensors.ts";
 * const bytes = encodeSafetensors({ n: { dtype: "I32", shape: [1, 2], data: new Int32Array([3, -4]) } });
 * assert.deepEqual([...decodeSafetensors(bytes).tensors.n.data], [3, -4]);
 * assert.throws(() => decodeSafetensors(new Uint8Array([255, 0, 0, 0, 0, 0, 0, 0]), "x.safetensors"), {
 *   message: "x.safetensors: expected a header length within the file (at most 0 bytes after the 8-byte length), received 255",
 * });
 * ```
 */
export function decodeSafetensors(bytes: Uint8Array, source = "safetensors"): SafetensorsFile {
  const index = indexSafetensorsBytes(bytes, source);
  const tensors: Record<string, SafetensorsEntry> = {};
  for (const [name, { dtype, shape, bytes: raw }] of Object.entries(index.tensors)) {
    // Copies: the view may sit at an offset that is not a multiple of the element size.
    const buffer = raw.slice().buffer;
    if (dtype === "F32") tensors[name] = { dtype, shape, data: new Float32Array(buffer) };
    else if (dtype === "I32") tensors[name] = { dtype, shape, data: new Int32Array(buffer) };
    else if (dtype === "F64") {
      tensors[name] = { dtype: "F32", shape, data: Float32Array.from(new Float64Array(buffer)) };
    } else if (dtype === "I64") {
      const wide = new BigInt64Array(buffer);
      const data = new Int32Array(wide.length);
      for (let i = 0; i < wide.length; i++) {
        if (wide[i] > 2147483647n || wide[i] < -2147483648n) {
          throw new RangeError(
            `${source}: tensor ${JSON.stringify(name)}: expected values that fit in int32, received ${
              wide[i]
            }`,
          );
        }
        data[i] = Number(wide[i]);
      }
      tensors[name] = { dtype: "I32", shape, data };
    } else {
      throw new TypeError(
        `${source}: tensor ${JSON.stringify(name)}: expected dtype F32, I32, F64 or I64, received ${dtype}`,
      );
    }
  }
  return { tensors, metadata: index.metadata };
}

/**
 * Reads and decodes a safetensors file (see {@linkcode decodeSafetensors});
 * every error names the file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeSafetensors, readSafetensors } from "./safetensors.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeFile(`${dir}/a.safetensors`, encodeSafetensors({ w: { dtype: "F32", shape: [1], data: new Float32Array([5]) } }));
 * assert.deepEqual([...(await readSafetensors(`${dir}/a.safetensors`)).tensors.w.data], [5]);
 * await Deno.writeTextFile(`${dir}/b.safetensors`, "\x02\0\0\0\0\0\0\0{x");
 * await assert.rejects(() => readSafetensors(`${dir}/b.safetensors`), {
 *   message: /b\.safetensors: expected a JSON header, received text that does not parse/,
 * });
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  // Deno's own errors (not found, no permission) name the path already.
  return decodeSafetensors(await Deno.readFile(path), path);
}
