import { assert, tf } from "../_helpers.ts";
import { parseConfig } from "../../lib/config.ts";
import { toySource } from "../../lib/data/toy.ts";
import { train } from "../../lib/run/runner.ts";
import { disposeAll } from "../../lib/run/dispose.ts";
import {
  type AppendFile,
  closeSinks,
  dropTornLastLine,
  type LogSink,
  memorySink,
  openMetricsFile,
} from "../../lib/run/sinks.ts";

const config = parseConfig({
  dIn: 8,
  nComponents: 2,
  componentNames: ["a", "b"],
  batchSize: 16,
  storeSize: 64,
  steps: 6,
  logEvery: 2,
});
const source = () =>
  toySource({ nComponents: 2, dIn: 8, nFeatures: 12, meanActive: 2, chunkRows: 40, seed: 3 });

Deno.test("train() sends every metrics line to each sink, as metrics.jsonl has it, and closes them at the end", async () => {
  const out = await Deno.makeTempDir();
  const sinks = [memorySink(), memorySink()];
  const result = await train({ config, source: source(), out, sinks });
  const lines = (await Deno.readTextFile(`${out}/metrics.jsonl`)).trim().split("\n").map((l) =>
    JSON.parse(l)
  );
  assert.deepEqual(lines.map((l) => l.step), [2, 4, 6]);
  for (const sink of sinks) {
    assert.deepEqual(sink.records, lines);
    assert.ok(sink.closed);
  }
  assert.ok(Array.isArray(sinks[0].records[0]["train/feature_density_histogram/a"]));
  disposeAll(result.state);
  await Deno.remove(out, { recursive: true });
});

Deno.test("train() awaits each sink before going on", async () => {
  const order: string[] = [];
  const slow: LogSink = {
    async log(record) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      order.push(`logged ${record.step}`);
    },
    close: () => void order.push("closed"),
  };
  const result = await train({
    config,
    source: source(),
    sinks: [slow],
    onStep: (s) => order.push(`step ${s.step}`),
  });
  assert.deepEqual(order.slice(0, 5), ["step 1", "step 2", "logged 2", "step 3", "step 4"]);
  assert.equal(order[order.length - 1], "closed");
  disposeAll(result.state);
});

Deno.test("train() closes its sinks when aborted and when it fails, and the run's own error wins", async () => {
  const controller = new AbortController();
  const aborted = memorySink();
  const a = await train({
    config,
    source: source(),
    sinks: [aborted],
    signal: controller.signal,
    onStep: (s) => s.step === 3 && controller.abort(),
  });
  assert.equal(a.stopped, "aborted");
  assert.deepEqual(aborted.records.map((r) => r.step), [2]);
  assert.ok(aborted.closed);
  disposeAll(a.state);

  // A failing sink stops the run; the others are still closed, and a close failure does not hide the cause.
  const other = memorySink();
  const failing: LogSink = {
    log: (record) => {
      if (record.step === 4) throw new Error("disk full");
    },
    close: () => {
      throw new Error("close failed too");
    },
  };
  await assert.rejects(train({ config, source: source(), sinks: [failing, other] }), /disk full/);
  assert.ok(other.closed);
  assert.deepEqual(other.records.map((r) => r.step), [2]);

  // A run that cannot start closes them too.
  const early = memorySink();
  await assert.rejects(
    train({ config: { ...config, dIn: 4 }, source: source(), sinks: [early] }),
    /source: expected 2 components of width 4/,
  );
  assert.ok(early.closed);

  // A sink that fails only to close fails a completed run, and the state it cannot return is freed.
  const before = tf.memory().numTensors;
  await assert.rejects(
    train({ config, source: source(), sinks: [{ log() {}, close: failing.close }] }),
    /close failed too/,
  );
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("closeSinks() closes every sink even when some fail, then reports the failures", async () => {
  const closed: number[] = [];
  const sink = (i: number, fail = false): LogSink => ({
    log() {},
    close() {
      closed.push(i);
      if (fail) throw new Error(`sink ${i} failed`);
    },
  });
  await assert.rejects(closeSinks([sink(0), sink(1, true), sink(2)]), /sink 1 failed/);
  assert.deepEqual(closed, [0, 1, 2]);
  closed.length = 0;
  await assert.rejects(closeSinks([sink(0, true), sink(1, true)]), (error: unknown) => {
    assert.ok(error instanceof AggregateError);
    assert.equal(error.errors.length, 2);
    assert.match(error.message, /2 log sinks failed to close/);
    return true;
  });
  assert.deepEqual(closed, [0, 1]);
  await closeSinks([]);
});

// ---------------------------------------------------------------------------------------------------------
// metrics.jsonl: whole lines or nothing

/** A file of `size` bytes whose writes go through `write` (bytes → how many it wrote, or a throw). */
function fakeFile(size: number, write: (bytes: Uint8Array) => number) {
  const calls: string[] = [];
  let length = size;
  const file: AppendFile = {
    write(bytes) {
      const n = write(bytes);
      calls.push(`write ${bytes.length} -> ${n}`);
      length += n;
      return Promise.resolve(n);
    },
    truncate(to) {
      calls.push(`truncate ${to}`);
      length = to;
      return Promise.resolve();
    },
    close() {
      calls.push("close");
    },
  };
  return { file, calls, length: () => length };
}

const ENOSPC = "No space left on device (os error 28)";

Deno.test("openMetricsFile() finishes a line cut short by the system, in more writes", async () => {
  const fake = fakeFile(100, (bytes) => Math.min(bytes.length, 5));
  const file = await openMetricsFile("runs/x/metrics.jsonl", {
    open: () => Promise.resolve({ file: fake.file, size: 100 }),
  });
  await file.append({ step: 2 }); // '{"step":2}\n' is 11 bytes: 5 + 5 + 1
  assert.deepEqual(fake.calls, ["write 11 -> 5", "write 6 -> 5", "write 1 -> 1"]);
  assert.equal(fake.length(), 111);
});

Deno.test("openMetricsFile() cuts a half-written line back off and names the file when the disk is full", async () => {
  let calls = 0;
  const fake = fakeFile(100, (_bytes) => {
    if (++calls === 1) return 4; // 4 bytes of the line, then the disk is full
    throw new Error(ENOSPC);
  });
  const file = await openMetricsFile("runs/x/metrics.jsonl", {
    open: () => Promise.resolve({ file: fake.file, size: 100 }),
  });
  await assert.rejects(() => file.append({ step: 20, "loss/total/mean": 0.5 }), {
    message:
      `runs/x/metrics.jsonl: cannot write the metrics line of step 20 (${ENOSPC}); the file ends with ` +
      "the line before it",
  });
  assert.deepEqual(fake.calls, ["write 34 -> 4", "truncate 100"]);
  assert.equal(fake.length(), 100);
  // A line that could not be cut back off: the error says that the last line is torn.
  const stuck = fakeFile(100, () => {
    throw new Error(ENOSPC);
  });
  stuck.file.truncate = () => Promise.reject(new Error("Input/output error (os error 5)"));
  let first = true;
  const original = stuck.file.write;
  stuck.file.write = (bytes) => {
    if (first) {
      first = false;
      return Promise.resolve(3);
    }
    return original(bytes);
  };
  const torn = await openMetricsFile("runs/y/metrics.jsonl", {
    open: () => Promise.resolve({ file: stuck.file, size: 100 }),
  });
  await assert.rejects(() => torn.append({ step: 4 }), {
    message:
      `runs/y/metrics.jsonl: cannot write the metrics line of step 4 (${ENOSPC}); the file could not be cut ` +
      "back to 100 bytes (Input/output error (os error 5)), so its last line is torn (--resume and deno task " +
      "report skip it with a warning)",
  });
  // Nothing written at all: nothing to cut back.
  const empty = fakeFile(100, () => {
    throw new Error(ENOSPC);
  });
  const none = await openMetricsFile("runs/z/metrics.jsonl", {
    open: () => Promise.resolve({ file: empty.file, size: 100 }),
  });
  await assert.rejects(() => none.append({ step: 6 }), /the file ends with the line before it$/);
  assert.deepEqual(empty.calls, []);
});

Deno.test("openMetricsFile() names the file it cannot open", async () => {
  const dir = await Deno.makeTempDir();
  await assert.rejects(() => openMetricsFile(`${dir}/missing/metrics.jsonl`), {
    message: new RegExp(`^${dir}/missing/metrics\\.jsonl: cannot open the metrics file for appending \\(`),
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("dropTornLastLine() keeps whole lines, a last line without its newline, and blank tails", () => {
  assert.deepEqual(dropTornLastLine(""), { text: "" });
  assert.deepEqual(dropTornLastLine('{"step":1}'), { text: '{"step":1}' });
  assert.deepEqual(dropTornLastLine('{"step":1}\n\n  \n'), { text: '{"step":1}\n\n  \n' });
  assert.deepEqual(dropTornLastLine('{"st'), { text: "", torn: { line: 1, text: '{"st' } });
  // Only the last line is judged: a bad line before it is the reader's to report.
  assert.deepEqual(dropTornLastLine('{"a\n{"step":2}\n'), { text: '{"a\n{"step":2}\n' });
  assert.deepEqual(dropTornLastLine('{"step":1}\n\n{"step":2,"x":[1,2'), {
    text: '{"step":1}\n\n',
    torn: { line: 3, text: '{"step":2,"x":[1,2' },
  });
});
