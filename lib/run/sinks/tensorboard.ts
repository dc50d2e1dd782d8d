/**
 * A TensorBoard sink: each metrics line becomes one `Event` in an event file that `tensorboard --logdir`
 * reads. The file is written here without TensorFlow: TFRecord framing (little-endian uint64 length, its
 * masked CRC32C, the bytes, their masked CRC32C) around `Event` protocol buffers encoded by hand from
 * TensorBoard's `event.proto` and `summary.proto`:
 *
 * - `Event { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5;
 *   SessionLog session_log = 7 }`, the first event of a file carrying `file_version: "brain.Event:2"`;
 * - `Summary { repeated Value value = 1 }`, `Value { string tag = 1; float simple_value = 2;
 *   HistogramProto histo = 5 }`;
 * - `HistogramProto { double min = 1; max = 2; num = 3; sum = 4; sum_squares = 5;
 *   repeated double bucket_limit = 6 [packed]; repeated double bucket = 7 [packed] }`;
 * - `SessionLog { SessionStatus status = 1 }` with `START = 1`.
 *
 * @module
 */
import type { LogRecord, LogSink } from "../sinks.ts";
import { DENSITY_BIN_EDGES } from "../../metrics/summary.ts";

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    // 0x82F63B78 is the Castagnoli polynomial 0x1EDC6F41 with its bits reversed.
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/**
 * CRC-32C (Castagnoli) of some bytes, as TFRecord files use it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { crc32c } from "./tensorboard.ts";
 * // The standard check value: CRC-32C of the ASCII digits 1 to 9.
 * assert.equal(crc32c(new TextEncoder().encode("123456789")), 0xe3069283);
 * ```
 */
export function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC32C_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** TFRecord's masking of a CRC: rotate right by 15 bits and add 0xa282ead8 (mod 2³²). */
function maskedCrc(bytes: Uint8Array): number {
  const c = crc32c(bytes);
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/**
 * One TFRecord: the length as a little-endian uint64, its masked CRC32C, the data, and the data's masked
 * CRC32C.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tfRecord } from "./tensorboard.ts";
 * const record = tfRecord(new Uint8Array([1, 2, 3]));
 * assert.equal(record.length, 8 + 4 + 3 + 4);
 * assert.equal(record[0], 3);
 * assert.equal(record[12], 1);
 * ```
 */
export function tfRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(16 + data.length);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(data.length), true);
  view.setUint32(8, maskedCrc(out.subarray(0, 8)), true);
  out.set(data, 12);
  view.setUint32(12 + data.length, maskedCrc(data), true);
  return out;
}

/** A minimal protocol-buffer writer: the wire types TensorBoard's events need. */
class ProtoWriter {
  private bytes: number[] = [];

  private varint(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`protobuf varint: expected a non-negative safe integer, received ${value}`);
    }
    let v = value;
    while (v >= 0x80) {
      this.bytes.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.bytes.push(v);
  }

  private key(field: number, wireType: number): void {
    this.varint(field * 8 + wireType);
  }

  private raw(data: Uint8Array): void {
    for (const b of data) this.bytes.push(b);
  }

  uint(field: number, value: number): this {
    this.key(field, 0);
    this.varint(value);
    return this;
  }

  double(field: number, value: number): this {
    this.key(field, 1);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, value, true);
    this.raw(b);
    return this;
  }

  float(field: number, value: number): this {
    this.key(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.raw(b);
    return this;
  }

  bytesField(field: number, data: Uint8Array): this {
    this.key(field, 2);
    this.varint(data.length);
    this.raw(data);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytesField(field, new TextEncoder().encode(value));
  }

  packedDoubles(field: number, values: readonly number[]): this {
    const b = new Uint8Array(8 * values.length);
    const view = new DataView(b.buffer);
    values.forEach((v, i) => view.setFloat64(8 * i, v, true));
    return this.bytesField(field, b);
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

/** A TensorBoard histogram: `counts[i]` values in `(limits[i-1], limits[i]]`, the first bucket from `min`. */
export type TensorBoardHistogram = {
  readonly min: number;
  readonly max: number;
  readonly limits: readonly number[];
  readonly counts: readonly number[];
  readonly sum: number;
  readonly sumSquares: number;
};

function encodeHistogram(h: TensorBoardHistogram): Uint8Array {
  const num = h.counts.reduce((a, b) => a + b, 0);
  return new ProtoWriter()
    .double(1, h.min)
    .double(2, h.max)
    .double(3, num)
    .double(4, h.sum)
    .double(5, h.sumSquares)
    .packedDoubles(6, h.limits)
    .packedDoubles(7, h.counts)
    .finish();
}

/**
 * The feature-density histogram of a metrics line (counts of features per log10 firing-density bin
 * `(-∞, −7], (−7, −6], …, (−1, 0]`) as a TensorBoard histogram. The first bin, which holds the features that
 * never fired, is drawn from −8; sum and sum of squares take each feature at its bin's midpoint.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { densityHistogram } from "./tensorboard.ts";
 * const h = densityHistogram([2, 0, 0, 0, 0, 1, 0, 0]); // two never fired, one fired at density (1e-3, 1e-2]
 * assert.equal(h.min, -8);
 * assert.equal(h.max, -2);
 * assert.equal(h.limits[5], -2);
 * assert.equal(h.sum, 2 * -7.5 + -2.5); // bin midpoints
 * ```
 */
export function densityHistogram(counts: readonly number[]): TensorBoardHistogram {
  if (counts.length !== DENSITY_BIN_EDGES.length) {
    throw new RangeError(
      `feature density histogram: expected ${DENSITY_BIN_EDGES.length} bin counts, received ${counts.length}`,
    );
  }
  const lower = (i: number) => (i === 0 ? DENSITY_BIN_EDGES[0] - 1 : DENSITY_BIN_EDGES[i - 1]);
  const used = counts.map((c, i) => (c > 0 ? i : -1)).filter((i) => i >= 0);
  let sum = 0, sumSquares = 0;
  counts.forEach((c, i) => {
    const mid = (lower(i) + DENSITY_BIN_EDGES[i]) / 2;
    sum += c * mid;
    sumSquares += c * mid * mid;
  });
  return {
    min: used.length ? lower(used[0]) : lower(0),
    max: used.length ? DENSITY_BIN_EDGES[used[used.length - 1]] : DENSITY_BIN_EDGES[0],
    limits: DENSITY_BIN_EDGES,
    counts,
    sum,
    sumSquares,
  };
}

/** The content of one event: exactly one of a file version, a summary, or a session start. */
export type EventContent =
  | { readonly fileVersion: string }
  | {
    readonly scalars?: Readonly<Record<string, number>>;
    readonly histograms?: Readonly<Record<string, TensorBoardHistogram>>;
  }
  | { readonly sessionStart: true };

/**
 * One `Event` protocol buffer (not yet framed as a TFRecord).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeEvent } from "./tensorboard.ts";
 * const bytes = encodeEvent(0, 0, { fileVersion: "brain.Event:2" });
 * // wall_time (key 0x09, 8 bytes), step (key 0x10, varint 0), file_version (key 0x1a, length 13, text)
 * assert.equal(bytes[0], 0x09);
 * assert.equal(bytes[9], 0x10);
 * assert.equal(bytes[11], 0x1a);
 * assert.equal(bytes[12], 13);
 * ```
 */
export function encodeEvent(wallTime: number, step: number, content: EventContent): Uint8Array {
  const event = new ProtoWriter().double(1, wallTime).uint(2, step);
  if ("fileVersion" in content) return event.string(3, content.fileVersion).finish();
  if ("sessionStart" in content) return event.bytesField(7, new ProtoWriter().uint(1, 1).finish()).finish();
  const summary = new ProtoWriter();
  for (const [tag, value] of Object.entries(content.scalars ?? {})) {
    summary.bytesField(1, new ProtoWriter().string(1, tag).float(2, value).finish());
  }
  for (const [tag, histogram] of Object.entries(content.histograms ?? {})) {
    summary.bytesField(
      1,
      new ProtoWriter().string(1, tag).bytesField(5, encodeHistogram(histogram)).finish(),
    );
  }
  return event.bytesField(5, summary.finish()).finish();
}

/** Options of {@linkcode tensorboardSink}. */
export type TensorBoardSinkOptions = {
  /** Folder of the event file (created if missing), e.g. `<out>/tensorboard`; `tensorboard --logdir` it. */
  readonly dir: string;
  /**
   * When continuing a run at this step: a session-start event at `resumeStep + 1` makes TensorBoard drop
   * what earlier files logged after the checkpoint, as `metrics.jsonl` is truncated.
   */
  readonly resumeStep?: number;
  /** Seconds since the epoch, for `wall_time` and the file name (default: the clock). */
  readonly now?: () => number;
  /** Host name in the file name (default: `Deno.hostname()`, or `localhost` without `--allow-sys`). */
  readonly hostname?: string;
};

/** A TensorBoard sink and the path of its event file. */
export type TensorBoardSink = LogSink & { readonly path: string };

function defaultHostname(): string {
  try {
    return Deno.hostname().replace(/[^A-Za-z0-9._-]/g, "_") || "localhost";
  } catch {
    return "localhost";
  }
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await file.write(bytes.subarray(written));
}

/**
 * Opens a new event file `events.out.tfevents.<seconds>.<hostname>` (with `.1`, `.2`, … appended if the name
 * is taken) in `dir` and returns a sink that writes each metrics line as one event at its `step`: every
 * number as a scalar under its metrics key (`loss/total/<component>`, `train/l0_norm/mean`, `lr`, …), and
 * each `train/feature_density_histogram/<component>` as a histogram. Other arrays are skipped. Events are
 * written as they come, so a running TensorBoard shows a run as it trains.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tensorboardSink } from "./tensorboard.ts";
 * const dir = await Deno.makeTempDir();
 * const sink = await tensorboardSink({ dir, hostname: "example" });
 * await sink.log({ step: 10, "loss/total/mean": 0.25, "train/feature_density_histogram/a": [1, 0, 0, 0, 0, 2, 0, 0] });
 * await sink.close();
 * assert.ok(sink.path.includes("/events.out.tfevents."));
 * assert.ok((await Deno.stat(sink.path)).size > 0);
 * ```
 */
export async function tensorboardSink(options: TensorBoardSinkOptions): Promise<TensorBoardSink> {
  const now = options.now ?? (() => Date.now() / 1000);
  const resumeStep = options.resumeStep;
  if (resumeStep !== undefined && !(Number.isSafeInteger(resumeStep) && resumeStep >= 0)) {
    throw new RangeError(`resumeStep: expected a non-negative integer, received ${resumeStep}`);
  }
  await Deno.mkdir(options.dir, { recursive: true });
  const base = `${options.dir}/events.out.tfevents.${Math.floor(now())}.${
    options.hostname ?? defaultHostname()
  }`;
  let file: Deno.FsFile | undefined;
  let path = base;
  for (let n = 0; file === undefined; n++) {
    path = n === 0 ? base : `${base}.${n}`;
    try {
      file = await Deno.open(path, { write: true, createNew: true });
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists) || n >= 1000) throw error;
    }
  }
  const handle = file;
  let closed = false;
  const first = [tfRecord(encodeEvent(now(), 0, { fileVersion: "brain.Event:2" }))];
  if (resumeStep !== undefined) {
    first.push(tfRecord(encodeEvent(now(), resumeStep + 1, { sessionStart: true })));
  }
  for (const bytes of first) await writeAll(handle, bytes);
  return {
    path,
    async log(record: LogRecord) {
      if (closed) {
        throw new Error(`tensorboard sink ${path}: expected log() before close(), received a log after it`);
      }
      const step = record.step;
      if (typeof step !== "number" || !Number.isSafeInteger(step) || step < 0) {
        throw new TypeError(
          `log record step: expected a non-negative integer, received ${JSON.stringify(step)}`,
        );
      }
      const scalars: Record<string, number> = {};
      const histograms: Record<string, TensorBoardHistogram> = {};
      for (const [key, value] of Object.entries(record)) {
        if (key === "step") continue;
        if (typeof value === "number") scalars[key] = value;
        else if (key.startsWith("train/feature_density_histogram/")) {
          histograms[key] = densityHistogram(value);
        }
      }
      await writeAll(handle, tfRecord(encodeEvent(now(), step, { scalars, histograms })));
    },
    close() {
      if (closed) return;
      closed = true;
      handle.close();
    },
  };
}
