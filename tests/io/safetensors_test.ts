import { assert } from "../_helpers.ts";
import { decodeSafetensors, encodeSafetensors } from "../../lib/io/safetensors.ts";

/** Builds a safetensors file by hand from the format's specification. */
function handFile(header: string, data: number[]): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + data.length);
  out[0] = json.length; // little-endian u64, small header
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

Deno.test("encodeSafetensors() writes the format byte for byte", () => {
  const bytes = encodeSafetensors({ a: { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) } });
  // 54 bytes of JSON, padded with two spaces to 56 (a multiple of 8)
  const header = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}  ';
  assert.equal(header.length, 56);
  // 1.0f = 00 00 80 3f, 2.0f = 00 00 00 40 (little-endian IEEE 754)
  assert.deepEqual(Array.from(bytes), Array.from(handFile(header, [0, 0, 0x80, 0x3f, 0, 0, 0, 0x40])));
});

Deno.test("encodeSafetensors() pads the header with spaces to 8 bytes and sorts names", () => {
  const bytes = encodeSafetensors({
    z: { dtype: "I32", shape: [1], data: new Int32Array([-1]) },
    b: { dtype: "F32", shape: [1, 1], data: new Float32Array([0.5]) },
  }, { format: "pt" });
  const length = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(length % 8, 0);
  const header = new TextDecoder().decode(bytes.subarray(8, 8 + length));
  assert.match(header, /^\{"__metadata__":\{"format":"pt"\},"b":.*"z":.*\} *$/);
  assert.deepEqual(Array.from(bytes.subarray(8 + length)), [0, 0, 0, 0x3f, 0xff, 0xff, 0xff, 0xff]);
});

Deno.test("decodeSafetensors() reads a hand-made file, F64 and I64 narrowed", () => {
  const header =
    '{"x":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"n":{"dtype":"I64","shape":[1],"data_offsets":[8,16]}}';
  // 1.5 as f64 = 00 00 00 00 00 00 f8 3f; 7 as i64
  const file = decodeSafetensors(handFile(header, [0, 0, 0, 0, 0, 0, 0xf8, 0x3f, 7, 0, 0, 0, 0, 0, 0, 0]));
  assert.deepEqual(Array.from(file.tensors.x.data), [1.5]);
  assert.equal(file.tensors.x.dtype, "F32");
  assert.deepEqual(Array.from(file.tensors.n.data), [7]);
});

Deno.test("decodeSafetensors() round-trips what encodeSafetensors() writes", () => {
  const tensors = {
    w: { dtype: "F32" as const, shape: [2, 3], data: new Float32Array([1, -2, 3, 4.5, -Infinity, 6]) },
    c: { dtype: "I32" as const, shape: [0], data: new Int32Array([]) },
  };
  const file = decodeSafetensors(encodeSafetensors(tensors, { a: "b" }));
  assert.deepEqual(file.metadata, { a: "b" });
  assert.deepEqual(Array.from(file.tensors.w.data), [1, -2, 3, 4.5, -Infinity, 6]);
  assert.deepEqual(file.tensors.w.shape, [2, 3]);
  assert.equal(file.tensors.c.data.length, 0);
});

Deno.test("decodeSafetensors() names the file and tensor on bad input", () => {
  assert.throws(() => decodeSafetensors(new Uint8Array(3), "x.safetensors"), {
    message: "x.safetensors: expected at least 8 bytes (the header length), received 3",
  });
  // [3] of F32 is 3 × 4 = 12 bytes; the offsets span 8
  const bad = handFile('{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', [0, 0, 0, 0, 0, 0, 0, 0]);
  assert.throws(() => decodeSafetensors(bad, "m.safetensors"), {
    message:
      'm.safetensors: tensor "w": expected 12 bytes (shape [3] of F32, 4 bytes each), received data_offsets [0, 8] (8 bytes)',
  });
  const f16 = handFile('{"h":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}', [0, 0]);
  assert.throws(() => decodeSafetensors(f16, "h.safetensors"), {
    message: 'h.safetensors: tensor "h": expected dtype F32, I32, F64 or I64, received F16',
  });
  // I64 2^31 = 00 00 00 80 00 00 00 00 does not fit in int32
  const wide = handFile('{"n":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}', [
    0,
    0,
    0,
    0x80,
    0,
    0,
    0,
    0,
  ]);
  assert.throws(() => decodeSafetensors(wide, "n.safetensors"), {
    message: 'n.safetensors: tensor "n": expected values that fit in int32, received 2147483648',
  });
  assert.throws(
    () => encodeSafetensors({ w: { dtype: "F32", shape: [3], data: new Float32Array(2) } }),
    /tensor w expected 3 values for shape \[3\], received 2/,
  );
});
