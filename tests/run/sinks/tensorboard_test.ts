import protobuf from "protobufjs";
import { crc32c as awsCrc32c } from "@aws-crypto/crc32c";
import { assert } from "../../_helpers.ts";
import {
  crc32c,
  densityHistogram,
  encodeEvent,
  tensorboardSink,
  tfRecord,
} from "../../../lib/run/sinks/tensorboard.ts";

// An independent reader: the messages of TensorBoard's event.proto and summary.proto that the sink writes,
// decoded with protobufjs, and the TFRecord checksums recomputed with AWS's CRC-32C.
const PROTO = `
syntax = "proto3";
message Event {
  double wall_time = 1;
  int64 step = 2;
  oneof what {
    string file_version = 3;
    bytes graph_def = 4;
    Summary summary = 5;
    SessionLog session_log = 7;
  }
}
message SessionLog {
  enum SessionStatus { STATUS_UNSPECIFIED = 0; START = 1; STOP = 2; CHECKPOINT = 3; }
  SessionStatus status = 1;
  string checkpoint_path = 2;
  string msg = 3;
}
message Summary {
  message Value {
    string node_name = 7;
    string tag = 1;
    oneof value {
      float simple_value = 2;
      bytes obsolete_old_style_histogram = 3;
      HistogramProto histo = 5;
    }
  }
  repeated Value value = 1;
}
message HistogramProto {
  double min = 1;
  double max = 2;
  double num = 3;
  double sum = 4;
  double sum_squares = 5;
  repeated double bucket_limit = 6 [packed = true];
  repeated double bucket = 7 [packed = true];
}`;
const EventType = protobuf.parse(PROTO).root.lookupType("Event");

type Histo = {
  min: number;
  max: number;
  num: number;
  sum: number;
  sumSquares: number;
  bucketLimit: number[];
  bucket: number[];
};
type Event = {
  wallTime: number;
  step: number;
  fileVersion?: string;
  sessionLog?: { status: string };
  summary?: { value: { tag: string; simpleValue?: number; histo?: Histo }[] };
};

function masked(bytes: Uint8Array): number {
  const c = awsCrc32c(bytes);
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** Splits a TFRecord file, checking both checksums of every record, and decodes each as an Event. */
function readEvents(bytes: Uint8Array): Event[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const events: Event[] = [];
  let at = 0;
  while (at < bytes.length) {
    assert.ok(at + 12 <= bytes.length, `record header at byte ${at} is cut short`);
    const length = Number(view.getBigUint64(at, true));
    assert.equal(
      view.getUint32(at + 8, true),
      masked(bytes.subarray(at, at + 8)),
      `length checksum at ${at}`,
    );
    const data = bytes.subarray(at + 12, at + 12 + length);
    assert.equal(view.getUint32(at + 12 + length, true), masked(data), `data checksum at ${at}`);
    events.push(
      EventType.toObject(EventType.decode(data), { longs: Number, enums: String, defaults: true }) as Event,
    );
    at += 16 + length;
  }
  return events;
}

Deno.test("crc32c() gives the standard check value and the iSCSI test vectors, and agrees with AWS's", () => {
  assert.equal(crc32c(new TextEncoder().encode("123456789")), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
  const bytes = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7919 + 13) % 256);
  for (const n of [0, 1, 3, 4, 17, 1000]) {
    assert.equal(crc32c(bytes.subarray(0, n)), awsCrc32c(bytes.subarray(0, n)));
  }
});

Deno.test("tfRecord() and encodeEvent() frame an event that the independent reader decodes", () => {
  const file = tfRecord(encodeEvent(1700000000.5, 2 ** 40, {
    scalars: { "loss/total/a": 0.1 },
    histograms: { h: densityHistogram([0, 0, 1, 0, 0, 0, 0, 3]) },
  }));
  const [event] = readEvents(file);
  assert.equal(event.wallTime, 1700000000.5);
  assert.equal(event.step, 2 ** 40, "a step beyond 32 bits survives the varint");
  assert.equal(event.summary!.value[0].tag, "loss/total/a");
  assert.equal(event.summary!.value[0].simpleValue, Math.fround(0.1), "simple_value is a float32");
  // Bins 2 = (−6, −5] and 7 = (−1, 0]: min −6, max 0; midpoints −5.5 and −0.5: sum −5.5 − 1.5 = −7.
  assert.deepEqual(event.summary!.value[1].histo, {
    min: -6,
    max: 0,
    num: 4,
    sum: -7,
    sumSquares: 30.25 + 0.75,
    bucketLimit: [-7, -6, -5, -4, -3, -2, -1, 0],
    bucket: [0, 0, 1, 0, 0, 0, 0, 3],
  });
});

Deno.test("densityHistogram() rejects counts of the wrong length", () => {
  assert.throws(
    () => densityHistogram([1, 2, 3]),
    /feature density histogram: expected 8 bin counts, received 3/,
  );
});

const lines = [
  {
    step: 4,
    activations: 128,
    lr: 0.001,
    "loss/total/a": 0.5,
    "train/feature_density_histogram/a": [2, 0, 0, 0, 0, 0, 1, 1],
  },
  {
    step: 8,
    activations: 256,
    lr: 0.002,
    "loss/total/a": 0.25,
    "train/feature_density_histogram/a": [1, 0, 0, 0, 0, 0, 2, 1],
  },
];

Deno.test("tensorboardSink() writes the file version, then one event per metrics line with scalars and histograms", async () => {
  const dir = await Deno.makeTempDir();
  let clock = 1700000000;
  const sink = await tensorboardSink({ dir: `${dir}/tb`, hostname: "host", now: () => clock++ });
  assert.equal(sink.path, `${dir}/tb/events.out.tfevents.1700000000.host`);
  for (const line of lines) await sink.log(line);
  await sink.close();
  await sink.close();
  await assert.rejects(async () => await sink.log(lines[0]), /expected log\(\) before close\(\)/);
  const events = readEvents(await Deno.readFile(sink.path));
  assert.equal(events.length, 3);
  assert.deepEqual(events[0], { wallTime: 1700000001, step: 0, fileVersion: "brain.Event:2" });
  events.slice(1).forEach((event, i) => {
    assert.equal(event.step, lines[i].step);
    const values = Object.fromEntries(event.summary!.value.map((v) => [v.tag, v.simpleValue ?? v.histo]));
    assert.deepEqual(Object.keys(values), [
      "activations",
      "lr",
      "loss/total/a",
      "train/feature_density_histogram/a",
    ]);
    assert.equal(values["activations"], lines[i].activations);
    assert.equal(values["lr"], Math.fround(lines[i].lr));
    assert.equal(values["loss/total/a"], lines[i]["loss/total/a"]);
    assert.deepEqual(
      (values["train/feature_density_histogram/a"] as Histo).bucket,
      lines[i]["train/feature_density_histogram/a"],
    );
  });
});

Deno.test("tensorboardSink() takes a fresh name when the file exists and marks a resumed run's restart", async () => {
  const dir = await Deno.makeTempDir();
  const first = await tensorboardSink({ dir, hostname: "h", now: () => 5 });
  await first.close();
  const second = await tensorboardSink({ dir, hostname: "h", now: () => 5, resumeStep: 4 });
  await second.log(lines[1]);
  await second.close();
  assert.equal(second.path, `${dir}/events.out.tfevents.5.h.1`);
  const events = readEvents(await Deno.readFile(second.path));
  assert.deepEqual(events.map((e) => [e.step, e.fileVersion ?? e.sessionLog?.status ?? "summary"]), [
    [0, "brain.Event:2"],
    [5, "START"],
    [8, "summary"],
  ]);
  await assert.rejects(
    tensorboardSink({ dir, resumeStep: -1 }),
    /resumeStep: expected a non-negative integer, received -1/,
  );
});

// TensorBoard's own loader, when a Python with the `tensorboard` package is on PATH (`.ci/run` installs one).
async function tensorboardPython(): Promise<string | undefined> {
  if ((await Deno.permissions.query({ name: "run", command: "python3" })).state !== "granted") {
    return "needs --allow-run=python3";
  }
  try {
    const probe = await new Deno.Command("python3", {
      args: ["-c", "import tensorboard"],
      stdout: "null",
      stderr: "null",
    })
      .output();
    return probe.success ? undefined : "python3 has no tensorboard package (pip install tensorboard)";
  } catch {
    return "no python3 on PATH";
  }
}
const noTensorBoard = await tensorboardPython();
if (noTensorBoard !== undefined) {
  console.warn(`tensorboard_test: skipping TensorBoard's own loader: ${noTensorBoard}`);
}

const LOADER = `
import json, sys
from tensorboard.backend.event_processing import event_accumulator as ea
acc = ea.EventAccumulator(sys.argv[1], size_guidance={ea.SCALARS: 0, ea.HISTOGRAMS: 0})
acc.Reload()
out = {"scalars": {}, "histograms": {}}
for tag in acc.Tags()["scalars"]:
    out["scalars"][tag] = [[e.step, e.value] for e in acc.Scalars(tag)]
for tag in acc.Tags()["histograms"]:
    out["histograms"][tag] = [[e.step, list(e.histogram_value.bucket_limit), list(e.histogram_value.bucket),
                               e.histogram_value.min, e.histogram_value.max] for e in acc.Histograms(tag)]
print(json.dumps(out))
`;

Deno.test({
  name: "TensorBoard's own loader reads the run, and drops what a resumed run rewrote",
  ignore: noTensorBoard !== undefined,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const first = await tensorboardSink({ dir, hostname: "h", now: () => 10 });
    for (const line of lines) await first.log(line);
    await first.close();
    // Resumed from the checkpoint at step 4: step 8 is trained and logged again, with other values.
    const resumed = await tensorboardSink({ dir, hostname: "h", now: () => 20, resumeStep: 4 });
    await resumed.log({ ...lines[1], "loss/total/a": 0.125 });
    await resumed.close();
    const result = await new Deno.Command("python3", {
      args: ["-c", LOADER, dir],
      stderr: "piped",
      stdout: "piped",
    })
      .output();
    const stderr = new TextDecoder().decode(result.stderr);
    assert.ok(result.success, `the loader failed: ${stderr}`);
    const read = JSON.parse(new TextDecoder().decode(result.stdout));
    assert.deepEqual(read.scalars["loss/total/a"], [[4, 0.5], [8, 0.125]]);
    assert.deepEqual(read.scalars["activations"], [[4, 128], [8, 256]]);
    assert.deepEqual(read.scalars["lr"], [[4, Math.fround(0.001)], [8, Math.fround(0.002)]]);
    assert.deepEqual(read.histograms["train/feature_density_histogram/a"], [
      [4, [-7, -6, -5, -4, -3, -2, -1, 0], [2, 0, 0, 0, 0, 0, 1, 1], -8, 0],
      [8, [-7, -6, -5, -4, -3, -2, -1, 0], [1, 0, 0, 0, 0, 0, 2, 1], -8, 0],
    ]);
  },
});
