import { assert, tf } from "../_helpers.ts";
import { parseConfig } from "../../lib/config.ts";
import { toySource } from "../../lib/data/toy.ts";
import { train } from "../../lib/run/runner.ts";
import { disposeAll } from "../../lib/run/dispose.ts";
import { closeSinks, type LogSink, memorySink } from "../../lib/run/sinks.ts";

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
