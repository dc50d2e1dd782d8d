/**
 * One process of the data-parallel tests (`tests/e2e/mpi_training_test.ts`), started by `mpirun`:
 * trains the toy source with `distributed` set (resuming from the newest checkpoint of `<dir>/run` when
 * there is one), then writes this process's final parameters to
 * `<dir>/rank-<rank>.json` (the harness's own file, beside the run folder `<dir>/run`).
 *
 * Usage: `mpirun -np N deno run -A tests/run/mpi_worker.ts DIR CONFIG_JSON [OPTIONS_JSON]`, with options
 * `{ "dieAt": STEP }` (the last process kills itself with SIGKILL after that step, as a machine that fails
 * would) and `{ "cache": DIR }` (train from that activation cache instead of the toy source).
 */
import { tf } from "../../lib/tf.ts";
import { selectBackend } from "../../lib/backends/select.ts";
import { parseConfig } from "../../lib/config.ts";
import { toySource } from "../../lib/data/toy.ts";
import { readActivationCache } from "../../lib/data/activation_cache.ts";
import { train } from "../../lib/run/runner.ts";
import { disposeAll } from "../../lib/run/dispose.ts";
import { initMpi } from "../../lib/run/distributed/mpi.ts";
import { loadLatestCheckpoint } from "../../lib/io/checkpoint.ts";
import { stateShapes } from "../../lib/train/pipeline.ts";
import type { TrainState } from "../../lib/train/state.ts";

const [dir, configJson, optionsJson] = Deno.args;
const { dieAt, cache } = JSON.parse(optionsJson ?? "{}") as { dieAt?: number; cache?: string };
tf.env().set("IS_TEST", true);
await selectBackend("cpu");
const mpi = initMpi();
const config = parseConfig(JSON.parse(configJson));
const source = cache !== undefined ? await readActivationCache(cache) : toySource({
  nComponents: config.nComponents,
  dIn: config.dIn,
  nFeatures: 24,
  meanActive: 3,
  chunkRows: 256,
  seed: 5,
});
try {
  const onStep = dieAt === undefined ? undefined : (state: { step: number }) => {
    if (mpi.rank === mpi.size - 1 && state.step === dieAt) Deno.kill(Deno.pid, "SIGKILL");
  };
  const resume = await loadLatestCheckpoint<TrainState>(`${dir}/run`, { expected: stateShapes(config) })
    .catch(() => undefined); // no run folder yet: a fresh run
  const result = await train({
    config,
    ...(resume === undefined ? {} : { resume }),
    source,
    out: `${dir}/run`,
    distributed: mpi,
    warn: () => {},
    ...(onStep === undefined ? {} : { onStep }),
  });
  const params: Record<string, number[]> = {};
  for (const [key, value] of Object.entries(result.state.params)) {
    if (value !== undefined) params[key] = Array.from(await value.data());
  }
  await Deno.writeTextFile(
    `${dir}/rank-${mpi.rank}.json`,
    JSON.stringify({ step: result.state.step, resumedFrom: resume?.step, params, lastLog: result.lastLog }),
  );
  disposeAll(result.state);
  mpi.finalize();
} catch (error) {
  console.error(`rank ${mpi.rank}: ${error instanceof Error ? error.stack : error}`);
  mpi.abort(1);
}
