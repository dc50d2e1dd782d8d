/**
 * Corrupt safetensors files, generated here byte by byte (not with saekit's encoder), through the one
 * validating reader and through each of its callers: checkpoint loading, SAELens and sparsify imports,
 * and Hugging Face model folders (one file or shards). Every expected message is written out by hand;
 * where it quotes the JSON parser, the parser's words come from `JSON.parse` itself on the same text.
 */
import { assert } from "../_helpers.ts";
import {
  decodeSafetensors,
  indexSafetensorsBytes,
  parseSafetensorsHeader,
} from "../../lib/io/safetensors.ts";
import { CHECKPOINT_FORMAT, loadCheckpoint } from "../../lib/io/checkpoint.ts";
import { importSaelens } from "../../lib/io/saelens.ts";
import { importSparsify } from "../../lib/io/sparsify.ts";
import { loadModel } from "../../lib/models/load/model.ts";
import { loadHfGpt2 } from "../../lib/models/load/hf_gpt2.ts";

/** An 8-byte little-endian length (of `declared` bytes, the true length by default), the header, the data. */
function fileOf(header: string | Uint8Array, data: number, declared?: bigint): Uint8Array {
  const json = typeof header === "string" ? new TextEncoder().encode(header) : header;
  const out = new Uint8Array(8 + json.length + data);
  let length = declared ?? BigInt(json.length);
  for (let i = 0; i < 8; i++, length >>= 8n) out[i] = Number(length & 255n);
  out.set(json, 8);
  for (let i = 0; i < data; i++) out[8 + json.length + i] = i % 251;
  return out;
}

/** What `JSON.parse` says of `text` (the reference for the parser's part of a message). */
function parserSays(text: string): string {
  try {
    JSON.parse(text);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(text)} not to parse`);
}

// The well-formed header the cases vary: "a" F32 [2, 2] = 16 bytes at [0, 16], "b" I32 [2] = 8 bytes at
// [16, 24]; a data section of 24 bytes.
const A = '"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}';
const B = '"b":{"dtype":"I32","shape":[2],"data_offsets":[16,24]}';
const DTYPES = "F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL, F8_E4M3, F8_E5M2";

/** One corrupt file: its bytes and the message after `<file>: `. */
type Case = { readonly name: string; readonly bytes: Uint8Array; readonly message: string };

const truncatedHeader = '{"a":{"dtype":"F32","shape":[2,2],"data_off';
// The truncated checkpoint: "params.wEnc" F32 [3, 32, 128] = 3·32·128·4 = 49152 bytes at
// [0, 49152], the file cut 20000 bytes into its data.
const wEnc = '{"params.wEnc":{"dtype":"F32","shape":[3,32,128],"data_offsets":[0,49152]}}';

const CASES: readonly Case[] = [
  {
    name: "shorter than the length field",
    bytes: new Uint8Array([1, 0, 0]),
    message: "expected at least 8 bytes (the header length), received 3",
  },
  {
    // 8 + 10 bytes, the length field says 1000
    name: "header length beyond the file",
    bytes: fileOf("{}        ", 0, 1000n),
    message:
      "expected a header length within the file (at most 10 bytes after the 8-byte length), received 1000",
  },
  {
    name: "header length of 2^64 - 1",
    bytes: fileOf("{}", 0, 2n ** 64n - 1n),
    message:
      "expected a header length within the file (at most 2 bytes after the 8-byte length), received 18446744073709551615",
  },
  {
    name: "header not JSON (cut short)",
    bytes: fileOf(truncatedHeader, 0),
    message: `expected a JSON header, received text that does not parse (${parserSays(truncatedHeader)})`,
  },
  {
    name: "header of length 0",
    bytes: fileOf("", 24),
    message: `expected a JSON header, received text that does not parse (${parserSays("")})`,
  },
  {
    name: "header not UTF-8",
    bytes: fileOf(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), 0),
    message: "expected a UTF-8 JSON header, received bytes that are not UTF-8",
  },
  {
    name: "JSON null",
    bytes: fileOf("null", 0),
    message: "expected the header to be a JSON object, received null",
  },
  {
    name: "JSON array",
    bytes: fileOf("[1, 2]", 0),
    message: "expected the header to be a JSON object, received [1,2]",
  },
  {
    name: "entry not an object",
    bytes: fileOf(`{${A},"b":5}`, 24),
    message: 'tensor "b": expected an object with dtype, shape and data_offsets, received 5',
  },
  {
    name: "unknown dtype",
    bytes: fileOf(`{"a":{"dtype":"F33","shape":[2,2],"data_offsets":[0,16]},${B}}`, 24),
    message: `tensor "a": expected a dtype of the format (${DTYPES}), received "F33"`,
  },
  {
    name: "no shape",
    bytes: fileOf(`{"a":{"dtype":"F32","data_offsets":[0,16]},${B}}`, 24),
    message: 'tensor "a": expected a shape of non-negative integers, received nothing',
  },
  {
    name: "shape not integers",
    bytes: fileOf(`{"a":{"dtype":"F32","shape":[2,1.5],"data_offsets":[0,16]},${B}}`, 24),
    message: 'tensor "a": expected a shape of non-negative integers, received [2,1.5]',
  },
  {
    name: "negative shape",
    bytes: fileOf(`{"a":{"dtype":"F32","shape":[-2,-2],"data_offsets":[0,16]},${B}}`, 24),
    message: 'tensor "a": expected a shape of non-negative integers, received [-2,-2]',
  },
  {
    name: "negative offsets",
    bytes: fileOf(`{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[-16,0]},${B}}`, 24),
    message: 'tensor "a": expected data_offsets of two non-negative integers [begin, end], received [-16,0]',
  },
  {
    name: "three offsets",
    bytes: fileOf(`{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,8,16]},${B}}`, 24),
    message: 'tensor "a": expected data_offsets of two non-negative integers [begin, end], received [0,8,16]',
  },
  {
    name: "offsets out of order",
    bytes: fileOf(`{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[16,0]},${B}}`, 24),
    message: 'tensor "a": expected data_offsets in order (begin ≤ end), received [16, 0]',
  },
  {
    // "b" (8 bytes) at [8, 16] lies inside "a" at [0, 16]
    name: "overlapping",
    bytes: fileOf(`{${A},"b":{"dtype":"I32","shape":[2],"data_offsets":[8,16]}}`, 24),
    message: 'tensor "b": expected data_offsets not overlapping tensor "a" [0, 16], received [8, 16]',
  },
  {
    // the same bytes, the entries in the other order: the one that starts later is named
    name: "overlapping, listed first",
    bytes: fileOf(`{"b":{"dtype":"I32","shape":[2],"data_offsets":[8,16]},${A}}`, 24),
    message: 'tensor "b": expected data_offsets not overlapping tensor "a" [0, 16], received [8, 16]',
  },
  {
    name: "beyond the data",
    bytes: fileOf(`{${A},"b":{"dtype":"I32","shape":[2],"data_offsets":[24,32]}}`, 24),
    message: 'tensor "b": expected data_offsets within the 24-byte data section, received [24, 32]',
  },
  {
    // [2, 3] of F32 is 6 · 4 = 24 bytes; the offsets span 16
    name: "size ≠ shape × dtype",
    bytes: fileOf(`{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]},${B}}`, 24),
    message:
      'tensor "a": expected 24 bytes (shape [2, 3] of F32, 4 bytes each), received data_offsets [0, 16] (16 bytes)',
  },
  {
    name: "truncated file",
    bytes: fileOf(wEnc, 20000),
    message:
      'tensor "params.wEnc": expected data_offsets within the 20000-byte data section, received [0, 49152]',
  },
  {
    name: "__metadata__ with a number",
    bytes: fileOf(`{"__metadata__":{"format":1},${A},${B}}`, 24),
    message: '__metadata__: expected an object of strings, received {"format":1}',
  },
  {
    name: "__metadata__ a string",
    bytes: fileOf(`{"__metadata__":"pt",${A},${B}}`, 24),
    message: '__metadata__: expected an object of strings, received "pt"',
  },
];

Deno.test("indexSafetensorsBytes() names the file, the tensor and what was expected, for each corrupt file", () => {
  for (const { name, bytes, message } of CASES) {
    assert.throws(() => indexSafetensorsBytes(bytes, "c/x.safetensors"), {
      message: `c/x.safetensors: ${message}`,
    }, name);
    assert.throws(() => decodeSafetensors(bytes, "c/x.safetensors"), {
      message: `c/x.safetensors: ${message}`,
    }, name);
    // as a reader that streams the file sees it: the length field and the header only, and the file's size
    const declared = [...bytes.subarray(0, 8)].reduce((sum, byte, i) => sum + byte * 256 ** i, 0);
    const head = bytes.subarray(0, Math.min(bytes.length, 8 + declared));
    assert.throws(() => parseSafetensorsHeader(head, bytes.length, "c/x.safetensors"), {
      message: `c/x.safetensors: ${message}`,
    }, name);
  }
});

Deno.test("indexSafetensorsBytes() accepts what the format allows: empty tensors, padding, any dtype, metadata", () => {
  // "e" F32 [0] at [16, 16] touches "a" and "b" without overlapping; "m" U8 [3] at [24, 27]; header padded.
  const header =
    `{"__metadata__":{"format":"pt"},${A},${B},"e":{"dtype":"F32","shape":[0],"data_offsets":[16,16]},` +
    '"m":{"dtype":"U8","shape":[3],"data_offsets":[24,27]}}   ';
  const { tensors, metadata } = indexSafetensorsBytes(fileOf(header, 27), "ok.safetensors");
  assert.deepEqual(metadata, { format: "pt" });
  assert.deepEqual(Object.keys(tensors).sort(), ["a", "b", "e", "m"]);
  // the data bytes are i % 251: "b" holds 16..23, "m" 24..26
  assert.deepEqual([...tensors.b.bytes], [16, 17, 18, 19, 20, 21, 22, 23]);
  assert.deepEqual([...tensors.m.bytes], [24, 25, 26]);
  assert.equal(tensors.e.bytes.length, 0);
});

/** A temporary folder, removed after `fn`. */
async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("loadCheckpoint() gives each corrupt state.safetensors's message with the file's path", async () => {
  await withDir(async (dir) => {
    const sidecar = {
      format: CHECKPOINT_FORMAT,
      step: 20,
      position: 160,
      config: {},
      state: { step: 20, a: { $tensor: "a" }, b: { $tensor: "b" } },
    };
    for (const { name, bytes, message } of CASES) {
      const at = `${dir}/checkpoints/step-00000020`;
      await Deno.mkdir(at, { recursive: true });
      await Deno.writeTextFile(`${at}/state.json`, JSON.stringify(sidecar));
      await Deno.writeFile(`${at}/state.safetensors`, bytes);
      await assert.rejects(
        () => loadCheckpoint(at),
        { message: `${at}/state.safetensors: ${message}` },
        name,
      );
    }
  });
});

Deno.test("importSaelens() and importSparsify() give each corrupt weights file's message with its path", async () => {
  await withDir(async (dir) => {
    for (const { name, bytes, message } of CASES) {
      await Deno.mkdir(`${dir}/saelens`, { recursive: true });
      await Deno.writeTextFile(`${dir}/saelens/cfg.json`, JSON.stringify({ d_in: 2, d_sae: 2 }));
      await Deno.writeFile(`${dir}/saelens/sae_weights.safetensors`, bytes);
      await assert.rejects(
        () => importSaelens(`${dir}/saelens`),
        { message: `${dir}/saelens/sae_weights.safetensors: ${message}` },
        name,
      );
      // sparsify's layout: a folder per hook point
      await Deno.mkdir(`${dir}/sparsify/layers.0`, { recursive: true });
      await Deno.writeTextFile(
        `${dir}/sparsify/layers.0/cfg.json`,
        JSON.stringify({ d_in: 2, num_latents: 2, k: 1 }),
      );
      await Deno.writeFile(`${dir}/sparsify/layers.0/sae.safetensors`, bytes);
      await assert.rejects(
        () => importSparsify(`${dir}/sparsify`),
        { message: `${dir}/sparsify/layers.0/sae.safetensors: ${message}` },
        name,
      );
    }
  });
});

Deno.test("a Hugging Face folder gives each corrupt weights file's message with its path, single or sharded", async () => {
  await withDir(async (dir) => {
    const config = { model_type: "gpt2", n_embd: 4, n_head: 2, n_layer: 1, vocab_size: 6, n_positions: 8 };
    for (const { name, bytes, message } of CASES) {
      await Deno.mkdir(`${dir}/one`, { recursive: true });
      await Deno.writeTextFile(`${dir}/one/config.json`, JSON.stringify(config));
      await Deno.writeFile(`${dir}/one/model.safetensors`, bytes);
      // loadModel() as --model takes a folder: it reads config.json, then the GPT-2 loader the weights
      await assert.rejects(() => loadModel(`${dir}/one`), {
        message: `${dir}/one/model.safetensors: ${message}`,
      }, name);
      await Deno.mkdir(`${dir}/sharded`, { recursive: true });
      await Deno.writeTextFile(`${dir}/sharded/config.json`, JSON.stringify(config));
      await Deno.writeTextFile(
        `${dir}/sharded/model.safetensors.index.json`,
        JSON.stringify({ weight_map: { a: "model-00001-of-00001.safetensors" } }),
      );
      await Deno.writeFile(`${dir}/sharded/model-00001-of-00001.safetensors`, bytes);
      await assert.rejects(
        () => loadHfGpt2(`${dir}/sharded`),
        { message: `${dir}/sharded/model-00001-of-00001.safetensors: ${message}` },
        name,
      );
    }
  });
});
