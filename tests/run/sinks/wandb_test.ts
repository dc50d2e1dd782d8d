import process from "node:process";
import { assert } from "../../_helpers.ts";
import { wandbData, type WandbSdk, wandbSink } from "../../../lib/run/sinks/wandb.ts";
import { fakeWandbServer, historyLines } from "./_fake_wandb.ts";

const netAllowed = (await Deno.permissions.query({ name: "net", host: "127.0.0.1" })).state === "granted";
const KEY = "0123456789abcdef0123456789abcdef01234567"; // 40 characters, as W&B keys are

Deno.test("wandbData() keeps every key but step and turns density histograms into W&B histograms", () => {
  const data = wandbData({
    step: 300,
    activations: 1200,
    "loss/total/a": 0.25,
    "train/feature_density_histogram/a": [3, 0, 0, 0, 1, 0, 0, 4],
  });
  assert.deepEqual(data, {
    activations: 1200,
    "loss/total/a": 0.25,
    "train/feature_density_histogram/a": {
      _type: "histogram",
      values: [3, 0, 0, 0, 1, 0, 0, 4],
      bins: [-8, -7, -6, -5, -4, -3, -2, -1, 0],
    },
  });
  assert.throws(
    () => wandbData({ step: 1, "train/feature_density_histogram/a": [1, 2] }),
    /train\/feature_density_histogram\/a: expected 8 bin counts, received 2/,
  );
});

function fakeSdk() {
  const calls: {
    init?: Parameters<WandbSdk["init"]>[0];
    logs: [Record<string, unknown>, number?][];
    finished: number;
  } = { logs: [], finished: 0 };
  const sdk: WandbSdk = {
    init(options) {
      calls.init = options;
      return Promise.resolve({
        id: "abc",
        log: (data, step) => void calls.logs.push([data, step]),
        finish: () => Promise.resolve(void calls.finished++),
        url: () => "http://wandb.test/me/p/runs/abc",
      });
    },
  };
  return { sdk, calls };
}

Deno.test("wandbSink() passes project, entity, name, config and server to init and logs at each line's step", async () => {
  const { sdk, calls } = fakeSdk();
  const sink = await wandbSink({
    sdk,
    project: "p",
    entity: "team",
    name: "run-a",
    config: { l1Coefficient: 0.001 },
    baseUrl: "http://127.0.0.1:1/",
    apiKey: KEY,
  });
  assert.deepEqual(calls.init, {
    project: "p",
    entity: "team",
    name: "run-a",
    config: { l1Coefficient: 0.001 },
    settings: { silent: true, baseUrl: "http://127.0.0.1:1", apiKey: KEY },
  });
  assert.equal(sink.id, "abc");
  assert.equal(sink.url, "http://wandb.test/me/p/runs/abc");
  await sink.log({ step: 10, "loss/total/mean": 1 });
  await sink.log({ step: 20, "loss/total/mean": 0.5 });
  assert.deepEqual(calls.logs, [[{ "loss/total/mean": 1 }, 10], [{ "loss/total/mean": 0.5 }, 20]]);
  await sink.close();
  await sink.close();
  assert.equal(calls.finished, 1, "close() finishes the run once");
  assert.throws(() => sink.log({ step: 30 }), /expected log\(\) before close\(\)/);
});

Deno.test("wandbSink() defaults to the original's project and sends nothing it was not given", async () => {
  const { sdk, calls } = fakeSdk();
  const sink = await wandbSink({ sdk });
  assert.deepEqual(calls.init, { project: "sparse-autoencoder", settings: { silent: true } });
  assert.throws(
    () => sink.log({ "loss/total/mean": 1 }),
    /step: expected a non-negative integer, received undefined/,
  );
  await sink.close();
});

Deno.test("wandbSink() reports a run that does not start in time, naming the server", async () => {
  const sdk: WandbSdk = { init: () => new Promise(() => {}) };
  await assert.rejects(
    wandbSink({ sdk, baseUrl: "http://127.0.0.1:1", initTimeoutMs: 50 }),
    /W&B: could not start a run at http:\/\/127\.0\.0\.1:1 \(W&B run at http:\/\/127\.0\.0\.1:1: no answer within 0\.05 s\)/,
  );
});

Deno.test({
  name: "wandbSink() with @wandb/sdk delivers every metrics key at its step to a local W&B server",
  ignore: !netAllowed,
  fn: async () => {
    const fake = fakeWandbServer();
    const sigintBefore = process.listeners("SIGINT").length;
    try {
      const sink = await wandbSink({
        baseUrl: fake.url,
        apiKey: KEY,
        project: "saekit-test",
        name: "toy",
        config: { l1Coefficient: 0.001, componentNames: ["a"] },
      });
      assert.equal(process.listeners("SIGINT").length, sigintBefore, "the SDK's Ctrl-C handler is removed");
      assert.match(sink.url, new RegExp(`^${fake.url}/tester/saekit-test/runs/${sink.id}$`));
      await sink.log({
        step: 100,
        activations: 400,
        "loss/total/a": 0.5,
        "train/feature_density_histogram/a": [1, 0, 0, 0, 0, 0, 2, 0],
      });
      await sink.log({ step: 200, activations: 800, "loss/total/a": 0.25 });
      await sink.close();

      assert.deepEqual(fake.graphql.map((g) => g.operation), ["Viewer", "UpsertBucket"]);
      const expectedAuth = `Basic ${btoa(`api:${KEY}`)}`;
      assert.ok(fake.graphql.every((g) => g.auth === expectedAuth), "every call carries the API key");
      const upsert = fake.graphql[1].variables;
      assert.equal(upsert.project, "saekit-test");
      assert.equal(upsert.entity, "tester");
      assert.equal(upsert.displayName, "toy");
      assert.equal(upsert.name, sink.id);
      assert.deepEqual(JSON.parse(upsert.config as string), { l1Coefficient: 0.001, componentNames: ["a"] });

      for (const s of fake.streams) assert.equal(s.path, `/files/tester/saekit-test/${sink.id}/file_stream`);
      const history = historyLines(fake.streams);
      assert.equal(history.length, 2);
      assert.equal(history[0]._step, 100);
      assert.equal(history[0].activations, 400);
      assert.equal(history[0]["loss/total/a"], 0.5);
      assert.deepEqual(history[0]["train/feature_density_histogram/a"], {
        _type: "histogram",
        values: [1, 0, 0, 0, 0, 0, 2, 0],
        bins: [-8, -7, -6, -5, -4, -3, -2, -1, 0],
      });
      assert.equal(history[1]._step, 200);
      assert.equal(history[1]["loss/total/a"], 0.25);
      assert.deepEqual(fake.streams[fake.streams.length - 1].body, { complete: true, exitcode: 0 });
    } finally {
      await fake.server.shutdown();
    }
  },
});

Deno.test({
  name: "wandbSink() with @wandb/sdk rejects, instead of crashing, when the server refuses the run",
  ignore: !netAllowed,
  // After this failure the SDK leaves its message port open and a poll timer running: its leak, not ours.
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const fake = fakeWandbServer({ refuseRun: true });
    try {
      await assert.rejects(
        wandbSink({ baseUrl: fake.url, apiKey: KEY, initTimeoutMs: 10_000 }),
        new RegExp(
          `W&B: could not start a run at ${fake.url} \\(Failed to upsert run; the SDK said: Fatal HTTP error \\(403\\)`,
        ),
      );
    } finally {
      await fake.server.shutdown();
    }
  },
});

Deno.test({
  name: "wandbSink() with @wandb/sdk rejects when nothing answers at the server address",
  ignore: !netAllowed,
  fn: async () => {
    const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const url = `http://127.0.0.1:${(closed.addr as Deno.NetAddr).port}`;
    closed.close();
    await assert.rejects(
      wandbSink({ baseUrl: url, apiKey: KEY }),
      new RegExp(
        `W&B: could not start a run at ${url} \\(Unable to determine default entity; the SDK said: .*ECONNREFUSED`,
      ),
    );
  },
});
