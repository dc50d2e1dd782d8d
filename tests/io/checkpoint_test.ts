import { assert, type tf, values } from "../_helpers.ts";
import { parseConfig } from "../../lib/config.ts";
import { initTrainState } from "../../lib/train/pipeline.ts";
import { checkpointName, latestCheckpoint, loadCheckpoint, saveCheckpoint } from "../../lib/io/checkpoint.ts";
import type { TrainState } from "../../lib/train/state.ts";

const config = parseConfig({
  dIn: 4,
  nComponents: 2,
  batchSize: 8,
  storeSize: 16,
  steps: 5,
  resampleDatasetSize: 16,
});

Deno.test("saveCheckpoint() then loadCheckpoint() restores every tensor and number of the state", async () => {
  const dir = await Deno.makeTempDir();
  const state = { ...initTrainState(config), step: 7, activations: 56 };
  await saveCheckpoint(`${dir}/checkpoints/${checkpointName(7)}`, state, { position: 56, config });
  const loaded = await loadCheckpoint<TrainState>(`${dir}/checkpoints/step-00000007`);
  assert.equal(loaded.step, 7);
  assert.equal(loaded.position, 56);
  assert.deepEqual(loaded.config, config);
  assert.equal(loaded.state.activations, 56);
  assert.deepEqual(values(loaded.state.params.wEnc), values(state.params.wEnc));
  assert.deepEqual(values(loaded.state.resampler.reservoirKey), values(state.resampler.reservoirKey));
  assert.equal(loaded.state.resampler.fired.dtype, "int32");
  const adam = (s: TrainState) => (s.opt as unknown[])[2] as { count: number; mu: { wDec: tf.Tensor } };
  assert.equal(adam(loaded.state).count, adam(state).count);
  assert.deepEqual(values(adam(loaded.state).mu.wDec), values(adam(state).mu.wDec));
  assert.equal(loaded.state.outputs, null);
  // nothing temporary is left beside it
  const names = [];
  for await (const e of Deno.readDir(`${dir}/checkpoints`)) names.push(e.name);
  assert.deepEqual(names, ["step-00000007"]);
  assert.equal(await latestCheckpoint(dir), `${dir}/checkpoints/step-00000007`);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("saveCheckpoint() replaces an existing checkpoint only once the new one is complete", async () => {
  const dir = await Deno.makeTempDir();
  const state = initTrainState(config);
  await saveCheckpoint(`${dir}/c`, state, { position: 0, config });
  const broken = { ...state, bad: () => 0 } as unknown as TrainState;
  await assert.rejects(
    () => saveCheckpoint(`${dir}/c`, broken, { position: 0, config }),
    /expected JSON-able data/,
  );
  const kept = await loadCheckpoint<TrainState>(`${dir}/c`);
  assert.equal(kept.step, 0);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("latestCheckpoint() finds the highest step and loadCheckpoint() names a missing sidecar", async () => {
  const dir = await Deno.makeTempDir();
  assert.equal(await latestCheckpoint(dir), undefined);
  const state = initTrainState(config);
  for (const step of [2, 10, 4]) {
    await saveCheckpoint(`${dir}/checkpoints/${checkpointName(step)}`, { ...state, step }, {
      position: 0,
      config,
    });
  }
  assert.equal(await latestCheckpoint(dir), `${dir}/checkpoints/step-00000010`);
  await assert.rejects(() => loadCheckpoint(`${dir}/nowhere`), /nowhere\/state.json, which is missing/);
  await Deno.remove(dir, { recursive: true });
});
