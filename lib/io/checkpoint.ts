/**
 * Checkpoints: the whole training state in `state.safetensors` (every tensor,
 * by its path in the state) with a JSON sidecar `state.json` (the skeleton of
 * the state, step, data position and configuration), written into a
 * temporary directory and renamed into place (`writeDirAtomic()` in
 * `files.ts`): a checkpoint directory at its final name is always complete.
 *
 * After a crash, beside the checkpoints there may be `*.tmp-*` folders
 * (half-written, ignored by every reader here, removed by
 * {@linkcode removeCheckpointTemps} when a run starts) and, when the crash cut
 * short the replace of an existing checkpoint, its previous content whole at
 * `step-N.saekit-previous`, which {@linkcode latestCheckpoint} takes when
 * `step-N` itself is missing.
 *
 * Loading checks everything it reads: the sidecar's fields, the safetensors
 * file (`indexSafetensorsBytes()`), that the file holds exactly the tensors
 * the sidecar names, and, given the shapes of a fresh state of the run's
 * configuration, every tensor's shape ({@linkcode checkStateShapes}).
 * {@linkcode loadLatestCheckpoint} passes over a checkpoint that fails any of
 * these to the one before it, with a warning naming it.
 *
 * @module
 */
import { tf } from "../tf.ts";
import { decodeSafetensors, encodeSafetensors, type SafetensorsEntry } from "./safetensors.ts";
import { flattenTree, type TensorShapes, unflattenTree } from "./tree.ts";
import {
  denoFileOps,
  exists,
  previousPath,
  readJsonFile,
  tempTarget,
  type WriteAtomicOptions,
  writeDirAtomic,
} from "./files.ts";

/** The sidecar's format tag. */
export const CHECKPOINT_FORMAT = "saekit-checkpoint/1";

/** What is saved beside the state. */
export type CheckpointInfo = {
  /** Source rows consumed: where the data resumes. */
  readonly position: number;
  /** The resolved configuration of the run. */
  readonly config: unknown;
};

/** A loaded checkpoint. */
export type LoadedCheckpoint<S> = CheckpointInfo & {
  readonly state: S;
  readonly step: number;
};

async function tensorEntries(
  tensors: Readonly<Record<string, tf.Tensor>>,
): Promise<Record<string, SafetensorsEntry>> {
  const entries: Record<string, SafetensorsEntry> = {};
  for (const [name, tensor] of Object.entries(tensors)) {
    if (tensor.dtype === "float32") {
      entries[name] = { dtype: "F32", shape: tensor.shape, data: (await tensor.data()) as Float32Array };
    } else if (tensor.dtype === "int32") {
      entries[name] = { dtype: "I32", shape: tensor.shape, data: (await tensor.data()) as Int32Array };
    } else {
      throw new TypeError(
        `checkpoint: tensor ${name} expected dtype float32 or int32, received ${tensor.dtype}`,
      );
    }
  }
  return entries;
}

/**
 * Options of {@linkcode saveCheckpoint}: the file-system operations to write
 * through (Deno's by default; tests pass failing ones), and whether to flush
 * to disk (by default, yes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { loadCheckpoint, saveCheckpoint, type SaveCheckpointOptions } from "./checkpoint.ts";
 * import { denoFileOps } from "./files.ts";
 * const written: string[] = [];
 * const options: SaveCheckpointOptions = {
 *   fs: {
 *     ...denoFileOps,
 *     writeFile: (path, data, flush) => {
 *       written.push(path.slice(path.lastIndexOf("/") + 1));
 *       return denoFileOps.writeFile(path, data, flush);
 *     },
 *   },
 * };
 * const dir = await Deno.makeTempDir();
 * const state = { step: 1, w: tf.tensor([1, 2]) };
 * await saveCheckpoint(`${dir}/c`, state, { position: 0, config: {} }, options);
 * assert.deepEqual(written, ["state.safetensors", "state.json"]); // the sidecar last
 * assert.equal((await loadCheckpoint(`${dir}/c`)).step, 1);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export type SaveCheckpointOptions = WriteAtomicOptions;

/**
 * Writes a checkpoint directory at `dir` (replacing one there only once the
 * new one is complete). The tensors are written first and the sidecar last, each flushed
 * to disk, into a temporary directory renamed to `dir` (see the module notes
 * for what a crash leaves).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { loadCheckpoint, saveCheckpoint } from "./checkpoint.ts";
 * const dir = await Deno.makeTempDir();
 * const state = { step: 3, w: tf.tensor([1, 2]) };
 * await saveCheckpoint(`${dir}/c`, state, { position: 24, config: { a: 1 } });
 * const loaded = await loadCheckpoint<{ w: tf.Tensor }>(`${dir}/c`);
 * assert.deepEqual([loaded.step, loaded.position, loaded.config], [3, 24, { a: 1 }]);
 * assert.deepEqual([...loaded.state.w.dataSync()], [1, 2]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function saveCheckpoint(
  dir: string,
  state: { readonly step: number },
  info: CheckpointInfo,
  options: SaveCheckpointOptions = {},
): Promise<void> {
  const fs = options.fs ?? denoFileOps;
  const flush = options.flush ?? true;
  const { skeleton, tensors } = flattenTree(state);
  const bytes = encodeSafetensors(await tensorEntries(tensors), { format: CHECKPOINT_FORMAT });
  const sidecar = {
    format: CHECKPOINT_FORMAT,
    step: state.step,
    position: info.position,
    config: info.config,
    state: skeleton,
  };
  // The temporary directory is invisible to readers: its files need no rename of their own.
  await writeDirAtomic(dir, async (tmp) => {
    await fs.writeFile(`${tmp}/state.safetensors`, bytes, flush);
    await fs.writeFile(
      `${tmp}/state.json`,
      new TextEncoder().encode(JSON.stringify(sidecar, null, 1) + "\n"),
      flush,
    );
  }, { fs, flush });
}

type Sidecar = { step: number; position: number; config: unknown; state: unknown };

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

async function readSidecar(dir: string): Promise<Sidecar> {
  const sidecarPath = `${dir}/state.json`;
  if (!(await exists(sidecarPath))) {
    const previous = previousPath(dir);
    const hint = await exists(`${previous}/state.json`)
      ? `; an interrupted replace left the previous checkpoint whole at ${previous}`
      : "";
    throw new Error(`checkpoint ${dir}: expected ${sidecarPath}, which is missing${hint}`);
  }
  const sidecar = await readJsonFile(sidecarPath);
  if (sidecar === null || typeof sidecar !== "object" || Array.isArray(sidecar)) {
    throw new TypeError(`${sidecarPath}: expected a JSON object, received ${JSON.stringify(sidecar)}`);
  }
  const { format, step, position, state } = sidecar as Record<string, unknown>;
  if (format !== CHECKPOINT_FORMAT) {
    throw new TypeError(
      `${sidecarPath}: format: expected ${JSON.stringify(CHECKPOINT_FORMAT)}, received ${
        JSON.stringify(format)
      }`,
    );
  }
  for (const [field, value] of [["step", step], ["position", position]] as const) {
    if (!isNonNegativeInteger(value)) {
      throw new TypeError(
        `${sidecarPath}: ${field}: expected a non-negative integer, received ${JSON.stringify(value)}`,
      );
    }
  }
  if (state === null || typeof state !== "object" || Array.isArray(state)) {
    throw new TypeError(
      `${sidecarPath}: state: expected an object (the state's skeleton), received ${
        JSON.stringify(state)?.slice(0, 80)
      }`,
    );
  }
  return sidecar as Sidecar;
}

/**
 * The configuration a checkpoint was written with, read from its sidecar alone (no tensors).
 *
 * @throws Error naming `state.json` when it is missing, not JSON, or not a checkpoint's
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readCheckpointConfig, saveCheckpoint } from "./checkpoint.ts";
 * const dir = await Deno.makeTempDir();
 * await saveCheckpoint(`${dir}/c`, { step: 2 }, { position: 0, config: { dIn: 4 } });
 * assert.deepEqual(await readCheckpointConfig(`${dir}/c`), { dIn: 4 });
 * await Deno.writeTextFile(`${dir}/c/state.json`, '{"format": "saekit-checkpoint/1", "st');
 * await assert.rejects(() => readCheckpointConfig(`${dir}/c`), {
 *   message: new RegExp(`^${dir}/c/state\\.json: expected JSON, received text that does not parse`),
 * });
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readCheckpointConfig(dir: string): Promise<unknown> {
  return (await readSidecar(dir)).config;
}

/** Every `{ $tensor: name }` of a skeleton, in order. */
function tensorRefs(skeleton: unknown, into: string[] = []): string[] {
  if (Array.isArray(skeleton)) {
    for (const child of skeleton) tensorRefs(child, into);
  } else if (skeleton !== null && typeof skeleton === "object") {
    const ref = (skeleton as { $tensor?: unknown }).$tensor;
    if (typeof ref === "string") into.push(ref);
    else for (const child of Object.values(skeleton)) tensorRefs(child, into);
  }
  return into;
}

const SHAPE = (shape: readonly number[]) => `[${shape.join(", ")}]`;

/**
 * Checks that a checkpoint holds the tensors a fresh state of its
 * configuration has, with the same shapes (pure). `expected` is
 * `tensorShapes()` (tree.ts) of such a state (e.g. `initTrainState(config)`);
 * `received` is what the checkpoint holds, by the same dotted paths. Dtypes
 * are not compared: a state's counters may change dtype as it trains.
 *
 * @param source the checkpoint, named first in the message
 * @throws RangeError `${source}: ${path}: expected shape [...] (from the configuration), received [...]`,
 *   or naming a tensor that is missing or extra
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkStateShapes } from "./checkpoint.ts";
 * const expected = { "params.wEnc": [1, 512, 4096] };
 * checkStateShapes(expected, expected, "run/checkpoints/step-00000020");
 * assert.throws(() => checkStateShapes({ "params.wEnc": [1, 4096, 512] }, expected, "run/checkpoints/step-00000020"), {
 *   message: "run/checkpoints/step-00000020: params.wEnc: expected shape [1, 512, 4096] (from the configuration), received [1, 4096, 512]",
 * });
 * ```
 */
export function checkStateShapes(received: TensorShapes, expected: TensorShapes, source: string): void {
  for (const [name, want] of Object.entries(expected)) {
    const got = received[name];
    if (got === undefined) {
      throw new RangeError(
        `${source}: ${name}: expected a tensor of shape ${
          SHAPE(want)
        } (from the configuration), received none`,
      );
    }
    if (got.length !== want.length || got.some((n, i) => n !== want[i])) {
      throw new RangeError(
        `${source}: ${name}: expected shape ${SHAPE(want)} (from the configuration), received ${SHAPE(got)}`,
      );
    }
  }
  for (const [name, got] of Object.entries(received)) {
    if (expected[name] === undefined) {
      throw new RangeError(
        `${source}: ${name}: expected no such tensor (the configuration has none), received shape ${
          SHAPE(got)
        }`,
      );
    }
  }
}

/** Options of {@linkcode loadCheckpoint}. */
export type LoadCheckpointOptions = {
  /**
   * The tensors a fresh state of the run's configuration has (`tensorShapes()` (tree.ts) of
   * `initTrainState(config)`): the checkpoint must hold exactly these, with these shapes
   * ({@linkcode checkStateShapes}). Unchecked when absent.
   */
  readonly expected?: TensorShapes;
};

/**
 * Reads a checkpoint directory written by {@linkcode saveCheckpoint}, after
 * checking the sidecar, the safetensors file, that the file holds exactly the
 * tensors the sidecar names, and (with `expected`) their shapes. Nothing is
 * allocated on the tensor backend before every check has passed.
 *
 * @throws Error, TypeError or RangeError naming the file, and the tensor or field, that is wrong
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { loadCheckpoint, saveCheckpoint } from "./checkpoint.ts";
 * const dir = await Deno.makeTempDir();
 * const state = { step: 4, w: tf.tensor([1, 2]) };
 * await saveCheckpoint(`${dir}/c`, state, { position: 8, config: {} });
 * const loaded = await loadCheckpoint<{ w: tf.Tensor }>(`${dir}/c`, { expected: { w: [2] } });
 * assert.deepEqual([loaded.step, ...loaded.state.w.dataSync()], [4, 1, 2]);
 * await assert.rejects(() => loadCheckpoint(`${dir}/c`, { expected: { w: [3] } }), {
 *   message: `${dir}/c: w: expected shape [3] (from the configuration), received [2]`,
 * });
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function loadCheckpoint<S>(
  dir: string,
  options: LoadCheckpointOptions = {},
): Promise<LoadedCheckpoint<S>> {
  const sidecar = await readSidecar(dir);
  const path = `${dir}/state.safetensors`;
  const file = decodeSafetensors(await Deno.readFile(path), path);
  const named = new Set(tensorRefs(sidecar.state));
  for (const name of named) {
    if (file.tensors[name] === undefined) {
      throw new RangeError(
        `${path}: tensor ${JSON.stringify(name)}: expected (${dir}/state.json names it), not found`,
      );
    }
  }
  for (const name of Object.keys(file.tensors)) {
    if (!named.has(name)) {
      throw new RangeError(
        `${path}: expected only the tensors ${dir}/state.json names, received also ${JSON.stringify(name)}`,
      );
    }
  }
  if (options.expected !== undefined) {
    const received: Record<string, readonly number[]> = {};
    for (const [name, entry] of Object.entries(file.tensors)) received[name] = entry.shape;
    checkStateShapes(received, options.expected, dir);
  }
  const tensors: Record<string, tf.Tensor> = {};
  for (const [name, entry] of Object.entries(file.tensors)) {
    tensors[name] = tf.tensor(entry.data, [...entry.shape], entry.dtype === "F32" ? "float32" : "int32");
  }
  const state = unflattenTree(sidecar.state, tensors) as S;
  return { state, step: sidecar.step, position: sidecar.position, config: sidecar.config };
}

/** Directory name of the checkpoint at `step`: `step-00000200`. */
export function checkpointName(step: number): string {
  return `step-${String(step).padStart(8, "0")}`;
}

/**
 * Every checkpoint folder under `runDir/checkpoints`, newest first: `step-N`
 * folders by step, each followed by `step-N.saekit-previous` (the complete
 * previous content of `step-N` that a crash mid-replace left) where there is
 * one. Folders are listed whether or not they are complete; half-written
 * `*.tmp-*` folders never are.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { listCheckpoints } from "./checkpoint.ts";
 * const run = await Deno.makeTempDir();
 * assert.deepEqual(await listCheckpoints(run), []);
 * for (const name of ["step-00000020", "step-00000100", "step-00000100.saekit-previous", "step-00000120.tmp-7-0f3a9c2e", "notes"]) {
 *   await Deno.mkdir(`${run}/checkpoints/${name}`, { recursive: true });
 * }
 * assert.deepEqual((await listCheckpoints(run)).map((p) => p.slice(run.length)), [
 *   "/checkpoints/step-00000100", "/checkpoints/step-00000100.saekit-previous", "/checkpoints/step-00000020",
 * ]);
 * await Deno.remove(run, { recursive: true });
 * ```
 */
export async function listCheckpoints(runDir: string): Promise<string[]> {
  const base = `${runDir}/checkpoints`;
  if (!(await exists(base))) return [];
  const suffix = previousPath("");
  // rank: the directory itself (1) before the previous content of it (0)
  const found: { step: number; rank: number; path: string }[] = [];
  for await (const entry of Deno.readDir(base)) {
    const name = entry.name.endsWith(suffix) ? entry.name.slice(0, -suffix.length) : entry.name;
    const match = /^step-(\d+)$/.exec(name);
    if (!entry.isDirectory || match === null) continue;
    found.push({ step: Number(match[1]), rank: name === entry.name ? 1 : 0, path: `${base}/${entry.name}` });
  }
  found.sort((a, b) => b.step - a.step || b.rank - a.rank);
  return found.map((f) => f.path);
}

/**
 * The checkpoint with the highest step under `runDir/checkpoints`, if any:
 * a `step-N` directory with its sidecar, or, where a crash cut short the
 * replace of `step-N` and left it missing, the previous content kept whole at
 * `step-N.saekit-previous`. Half-written `*.tmp-*` folders are never taken.
 * Nothing is read but whether the sidecar exists: {@linkcode loadLatestCheckpoint}
 * also passes over a checkpoint that does not load.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkpointName, latestCheckpoint, saveCheckpoint } from "./checkpoint.ts";
 * const run = await Deno.makeTempDir();
 * assert.equal(await latestCheckpoint(run), undefined);
 * for (const step of [20, 100, 60]) {
 *   await saveCheckpoint(`${run}/checkpoints/${checkpointName(step)}`, { step }, { position: 0, config: {} });
 * }
 * // a folder a crash left half-written is never taken, even with its sidecar written
 * const tmp = `${run}/checkpoints/step-00000200.tmp-1-abcd1234`;
 * await Deno.mkdir(tmp);
 * await Deno.copyFile(`${run}/checkpoints/step-00000100/state.json`, `${tmp}/state.json`);
 * assert.equal(await latestCheckpoint(run), `${run}/checkpoints/step-00000100`);
 * await Deno.remove(run, { recursive: true });
 * ```
 */
export async function latestCheckpoint(runDir: string): Promise<string | undefined> {
  for (const path of await listCheckpoints(runDir)) {
    if (await exists(`${path}/state.json`)) return path;
  }
  return undefined;
}

/**
 * The first of `paths` for which `read` succeeds, with what it returned; each failure before it goes to
 * `warn`. When every one fails, the error of the only one, or one naming how many failed and the last
 * error.
 */
async function firstThatReads<T>(
  runDir: string,
  paths: readonly string[],
  read: (path: string) => Promise<T>,
  warn: (line: string) => void,
): Promise<{ dir: string; value: T } | undefined> {
  for (const [i, dir] of paths.entries()) {
    try {
      return { dir, value: await read(dir) };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (i < paths.length - 1) {
        warn(`warning: checkpoint ${dir} cannot be loaded, trying the one before it: ${message}`);
      } else if (paths.length === 1) {
        throw error;
      } else {
        throw new Error(
          `${runDir}/checkpoints: expected a checkpoint that loads, none of the ${paths.length} does (the newer ones are named above); the oldest, ${dir}: ${message}`,
          { cause: error },
        );
      }
    }
  }
  return undefined;
}

/**
 * The configuration of the newest checkpoint of a run whose sidecar reads, and that checkpoint; those
 * before it whose sidecar does not read are passed over without a word ({@linkcode loadLatestCheckpoint}
 * names them when it loads the state). Undefined when the run has no checkpoint.
 *
 * @throws Error naming the sidecar when no checkpoint's reads
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkpointName, latestCheckpointConfig, saveCheckpoint } from "./checkpoint.ts";
 * const run = await Deno.makeTempDir();
 * for (const step of [2, 4]) {
 *   await saveCheckpoint(`${run}/checkpoints/${checkpointName(step)}`, { step }, { position: 0, config: { steps: step } });
 * }
 * await Deno.writeTextFile(`${run}/checkpoints/step-00000004/state.json`, "{");
 * assert.deepEqual(await latestCheckpointConfig(run), { dir: `${run}/checkpoints/step-00000002`, config: { steps: 2 } });
 * await Deno.remove(run, { recursive: true });
 * ```
 */
export async function latestCheckpointConfig(
  runDir: string,
): Promise<{ readonly dir: string; readonly config: unknown } | undefined> {
  const found = await firstThatReads(runDir, await listCheckpoints(runDir), readCheckpointConfig, () => {});
  return found === undefined ? undefined : { dir: found.dir, config: found.value };
}

/** Options of {@linkcode loadLatestCheckpoint}. */
export type LoadLatestCheckpointOptions = LoadCheckpointOptions & {
  /** Receives one line for each checkpoint passed over, naming it and why; none by default. */
  readonly warn?: (line: string) => void;
};

/** A checkpoint loaded by {@linkcode loadLatestCheckpoint}, with the folder it came from. */
export type ResumedCheckpoint<S> = LoadedCheckpoint<S> & { readonly dir: string };

/**
 * Loads the newest checkpoint of a run that loads ({@linkcode loadCheckpoint},
 * with its checks): a checkpoint that fails is passed over, with one line to
 * `warn` naming it and why, for the one before it, in the order of
 * {@linkcode listCheckpoints}. Nothing on disk is changed. Undefined when the
 * run has no checkpoint.
 *
 * @throws the error of the only checkpoint, or one naming how many there are and the oldest's error,
 *   when none loads
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { checkpointName, loadLatestCheckpoint, saveCheckpoint } from "./checkpoint.ts";
 * const run = await Deno.makeTempDir();
 * for (const step of [2, 4]) {
 *   const state = { step, w: tf.tensor([step]) };
 *   await saveCheckpoint(`${run}/checkpoints/${checkpointName(step)}`, state, { position: step, config: {} });
 * }
 * // the newest is cut short (a disk that lied, a copy that stopped): its tensors run past its end
 * const newest = `${run}/checkpoints/step-00000004/state.safetensors`;
 * const bytes = await Deno.readFile(newest);
 * await Deno.writeFile(newest, bytes.subarray(0, bytes.length - 2));
 * const lines: string[] = [];
 * const loaded = await loadLatestCheckpoint<{ w: tf.Tensor }>(run, { warn: (line) => lines.push(line) });
 * assert.equal(loaded?.dir, `${run}/checkpoints/step-00000002`);
 * assert.deepEqual([...loaded!.state.w.dataSync()], [2]);
 * assert.equal(lines.length, 1);
 * assert.ok(lines[0].startsWith(`warning: checkpoint ${run}/checkpoints/step-00000004 cannot be loaded`));
 * await Deno.remove(run, { recursive: true });
 * ```
 */
export async function loadLatestCheckpoint<S>(
  runDir: string,
  options: LoadLatestCheckpointOptions = {},
): Promise<ResumedCheckpoint<S> | undefined> {
  const found = await firstThatReads(
    runDir,
    await listCheckpoints(runDir),
    (dir) => loadCheckpoint<S>(dir, options),
    options.warn ?? (() => {}),
  );
  return found === undefined ? undefined : { ...found.value, dir: found.dir };
}

/**
 * Removes the temporary folders that a crash left in `runDir/checkpoints`:
 * exactly those named as the atomic writer names them for a checkpoint
 * (`step-N.tmp-<pid>-<id>`, see `tempTarget()`), never anything else. Call it
 * only while no other process writes into the run (under the run's lock):
 * another writer's folder in progress has the same form. Returns the paths
 * removed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { removeCheckpointTemps } from "./checkpoint.ts";
 * const run = await Deno.makeTempDir();
 * const names = ["step-00000020", "step-00000040.tmp-4121-0f3a9c2e", "step-00000040.tmp-mine", "notes.tmp-1-0f3a9c2e"];
 * for (const name of names) await Deno.mkdir(`${run}/checkpoints/${name}`, { recursive: true });
 * assert.deepEqual(await removeCheckpointTemps(run), [`${run}/checkpoints/step-00000040.tmp-4121-0f3a9c2e`]);
 * const left = [...Deno.readDirSync(`${run}/checkpoints`)].map((e) => e.name).sort();
 * assert.deepEqual(left, ["notes.tmp-1-0f3a9c2e", "step-00000020", "step-00000040.tmp-mine"]);
 * await Deno.remove(run, { recursive: true });
 * ```
 */
export async function removeCheckpointTemps(runDir: string): Promise<string[]> {
  const base = `${runDir}/checkpoints`;
  if (!(await exists(base))) return [];
  const stale: string[] = [];
  for await (const entry of Deno.readDir(base)) {
    const target = tempTarget(entry.name);
    if (target !== undefined && /^step-\d+$/.test(target)) stale.push(`${base}/${entry.name}`);
  }
  stale.sort();
  for (const path of stale) await Deno.remove(path, { recursive: true });
  return stale;
}
