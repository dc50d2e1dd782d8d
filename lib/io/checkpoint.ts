/**
 * Checkpoints: the whole training state in `state.safetensors` (every tensor,
 * by its path in the state) with a JSON sidecar `state.json` (the skeleton of
 * the state, step, data position and configuration), written into a
 * temporary directory and renamed into place.
 *
 * @module
 */
import { tf } from "../tf.ts";
import { decodeSafetensors, encodeSafetensors, type SafetensorsEntry } from "./safetensors.ts";
import { flattenTree, unflattenTree } from "./tree.ts";
import { exists, writeDirAtomic, writeFileAtomic, writeTextAtomic } from "./files.ts";

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
 * Writes a checkpoint directory at `dir` (replacing one there only once the
 * new one is complete). The state's `outputs` (borrowed per-step tensors) are
 * not saved.
 */
export async function saveCheckpoint(
  dir: string,
  state: { readonly step: number; readonly outputs?: unknown },
  info: CheckpointInfo,
): Promise<void> {
  const { skeleton, tensors } = flattenTree({ ...state, outputs: null });
  const bytes = encodeSafetensors(await tensorEntries(tensors), { format: CHECKPOINT_FORMAT });
  const sidecar = {
    format: CHECKPOINT_FORMAT,
    step: state.step,
    position: info.position,
    config: info.config,
    state: skeleton,
  };
  await writeDirAtomic(dir, async (tmp) => {
    await writeFileAtomic(`${tmp}/state.safetensors`, bytes);
    await writeTextAtomic(`${tmp}/state.json`, JSON.stringify(sidecar, null, 1) + "\n");
  });
}

type Sidecar = { step: number; position: number; config: unknown; state: unknown };

async function readSidecar(dir: string): Promise<Sidecar> {
  const sidecarPath = `${dir}/state.json`;
  if (!(await exists(sidecarPath))) {
    throw new Error(`checkpoint ${dir}: expected ${sidecarPath}, which is missing`);
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

/** The checkpoint with the highest step under `runDir/checkpoints`, if any. */
export async function latestCheckpoint(runDir: string): Promise<string | undefined> {
  const base = `${runDir}/checkpoints`;
  if (!(await exists(base))) return undefined;
  let best: { step: number; path: string } | undefined;
  for await (const entry of Deno.readDir(base)) {
    const match = /^step-(\d+)$/.exec(entry.name);
    if (!entry.isDirectory || match === null) continue;
    const step = Number(match[1]);
    if (!(await exists(`${base}/${entry.name}/state.json`))) continue;
    if (best === undefined || step > best.step) best = { step, path: `${base}/${entry.name}` };
  }
  return best?.path;
}
