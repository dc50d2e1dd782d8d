/**
 * The safetensors format: an 8-byte little-endian header length, a JSON
 * header `{name: {dtype, shape, data_offsets}, __metadata__?}`, then the raw
 * little-endian tensor bytes. Encoding and decoding are pure; reading and
 * writing files are the effectful helpers at the end.
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

const BYTES: Record<string, number> = { F32: 4, I32: 4, F64: 8, I64: 8, F16: 2, BF16: 2 };

/**
 * Decodes safetensors bytes. F32 and I32 are returned as they are; F64 is
 * narrowed to F32 and I64 to I32 (an error if a value does not fit).
 *
 * @param source a name for error messages (a file path)
 */
export function decodeSafetensors(bytes: Uint8Array, source = "safetensors"): SafetensorsFile {
  if (bytes.length < 8) {
    throw new RangeError(`${source}: expected at least 8 bytes, received ${bytes.length}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (8 + headerLength > bytes.length) {
    throw new RangeError(
      `${source}: header length ${headerLength} runs past the end of the file (${bytes.length} bytes)`,
    );
  }
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>
  >;
  const base = 8 + headerLength;
  const tensors: Record<string, SafetensorsEntry> = {};
  let metadata: Record<string, string> = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = info as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets: [begin, end] } = info as {
      dtype: string;
      shape: number[];
      data_offsets: [number, number];
    };
    const size = BYTES[dtype];
    if (size === undefined || dtype === "F16" || dtype === "BF16") {
      throw new TypeError(`${source}: tensor ${name} expected dtype F32, I32, F64 or I64, received ${dtype}`);
    }
    const count = shape.reduce((a, b) => a * b, 1);
    if (end - begin !== count * size || base + end > bytes.length) {
      throw new RangeError(
        `${source}: tensor ${name} expected ${count * size} bytes for shape [${shape.join(", ")}], received ${
          end - begin
        } (offsets ${begin}..${end})`,
      );
    }
    const raw = bytes.slice(base + begin, base + end);
    if (dtype === "F32") tensors[name] = { dtype, shape, data: new Float32Array(raw.buffer) };
    else if (dtype === "I32") tensors[name] = { dtype, shape, data: new Int32Array(raw.buffer) };
    else if (dtype === "F64") {
      tensors[name] = { dtype: "F32", shape, data: Float32Array.from(new Float64Array(raw.buffer)) };
    } else {
      const wide = new BigInt64Array(raw.buffer);
      const data = new Int32Array(wide.length);
      for (let i = 0; i < wide.length; i++) {
        if (wide[i] > 2147483647n || wide[i] < -2147483648n) {
          throw new RangeError(`${source}: tensor ${name} value ${wide[i]} does not fit in int32`);
        }
        data[i] = Number(wide[i]);
      }
      tensors[name] = { dtype: "I32", shape, data };
    }
  }
  return { tensors, metadata };
}

/** Reads and decodes a safetensors file. */
export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  return decodeSafetensors(await Deno.readFile(path), path);
}
