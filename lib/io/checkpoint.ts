/**
 * Checkpoints: the whole training state in `state.safetensors` (every tensor,
 * by its path in the state) with a JSON sidecar `state.json` (the skeleton of
 * the state, step, data position and configuration), written into a
 * temporary directory and renamed into place (`writeDirAtomic()` in
 * `files.ts`): a checkpoint directory at its final name is always complete.
 *
 * After a crash, beside the checkpoints there may be `*.tmp-*` folders
 * (half-written, ignored by every reader here, not removed automatically) and,
 * when the crash cut short the replace of an existing checkpoint, its previous
 * content whole at `step-N.saekit-previous`, which {@linkcode latestCheckpoint}
 * takes when `step-N` itself is missing.
 *
 * @module
 */
import { tf } from "../tf.ts";
import { decodeSafetensors, encodeSafetensors, type SafetensorsEntry } from "./safetensors.ts";
import { flattenTree, unflattenTree } from "./tree.ts";
import { denoFileOps, exists, previousPath, type WriteAtomicOptions, writeDirAtomic } from "./files.ts";

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

async function readSidecar(dir: string): Promise<Sidecar> {
  const sidecarPath = `${dir}/state.json`;
  if (!(await exists(sidecarPath))) {
    const previous = previousPath(dir);
    const hint = await exists(`${previous}/state.json`)
      ? `; an interrupted replace left the previous checkpoint whole at ${previous}`
      : "";
    throw new Error(`checkpoint ${dir}: expected ${sidecarPath}, which is missing${hint}`);
  }
  const sidecar = JSON.parse(await Deno.readTextFile(sidecarPath));
  if (sidecar.format !== CHECKPOINT_FORMAT) {
    throw new TypeError(
      `checkpoint ${sidecarPath}: expected format ${CHECKPOINT_FORMAT}, received ${
        JSON.stringify(sidecar.format)
      }`,
    );
  }
  return sidecar;
}

/** The configuration a checkpoint was written with, read from its sidecar alone (no tensors). */
export async function readCheckpointConfig(dir: string): Promise<unknown> {
  return (await readSidecar(dir)).config;
}

/** Reads a checkpoint directory written by {@linkcode saveCheckpoint}. */
export async function loadCheckpoint<S>(dir: string): Promise<LoadedCheckpoint<S>> {
  const sidecar = await readSidecar(dir);
  const file = decodeSafetensors(await Deno.readFile(`${dir}/state.safetensors`), `${dir}/state.safetensors`);
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
 * The checkpoint with the highest step under `runDir/checkpoints`, if any:
 * a `step-N` directory with its sidecar, or, where a crash cut short the
 * replace of `step-N` and left it missing, the previous content kept whole at
 * `step-N.saekit-previous`. Half-written `*.tmp-*` folders are never taken.
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
  const base = `${runDir}/checkpoints`;
  if (!(await exists(base))) return undefined;
  const suffix = previousPath("");
  // rank: the step, then the directory itself (1) before the previous content of it (0)
  let best: { step: number; rank: number; path: string } | undefined;
  for await (const entry of Deno.readDir(base)) {
    const name = entry.name.endsWith(suffix) ? entry.name.slice(0, -suffix.length) : entry.name;
    const match = /^step-(\d+)$/.exec(name);
    if (!entry.isDirectory || match === null) continue;
    const step = Number(match[1]);
    const rank = name === entry.name ? 1 : 0;
    if (!(await exists(`${base}/${entry.name}/state.json`))) continue;
    if (best === undefined || step > best.step || (step === best.step && rank > best.rank)) {
      best = { step, rank, path: `${base}/${entry.name}` };
    }
  }
  return best?.path;
}
