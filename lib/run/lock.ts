/**
 * One writer per run folder: an exclusive lock on `DIR/.saekit-lock`, an
 * operating-system file lock (`flock` on Linux and macOS, `LockFileEx` on
 * Windows, through `Deno.FsFile.tryLock`) that the system releases when the
 * process ends, however it ends (`kill -9` included): a lock file left by a
 * dead process never blocks. The file itself stays; while the lock is held it
 * says which process holds it and since when, so that a second process can
 * say who has the folder.
 *
 * Locks are advisory: they keep out other saekit processes (`train`,
 * `--resume`, sweep workers), not other programs. Network file systems that
 * do not pass `flock` on (some NFS set-ups) lock only within one machine.
 *
 * @module
 */

/**
 * The lock file's name inside a run folder.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LOCK_FILE, lockRunFolder } from "./lock.ts";
 * const dir = await Deno.makeTempDir();
 * using lock = await lockRunFolder(dir);
 * assert.equal(lock.path, `${dir}/${LOCK_FILE}`);
 * assert.equal(JSON.parse(await Deno.readTextFile(lock.path)).pid, Deno.pid);
 * ```
 */
export const LOCK_FILE = ".saekit-lock";

/** What the lock file says while the lock is held. */
export type LockHolder = {
  readonly pid: number;
  /** When the lock was taken, ISO 8601 UTC to the second. */
  readonly started: string;
};

/** A held lock on a run folder; {@linkcode RunLock.release} (or `using`) gives it back. */
export type RunLock = {
  /** The run folder, as it was given. */
  readonly dir: string;
  /** The lock file. */
  readonly path: string;
  readonly holder: LockHolder;
  /** Gives the lock back (once; later calls do nothing). */
  release(): void;
  [Symbol.dispose](): void;
};

/**
 * Another process holds the run folder's lock.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RunFolderLockedError } from "./lock.ts";
 * const error = new RunFolderLockedError("runs/x", { pid: 4242, started: "2025-01-02T03:04:05Z" });
 * assert.equal(
 *   error.message,
 *   "runs/x is in use by process 4242 (started 2025-01-02T03:04:05Z): one process writes a run folder at a " +
 *     "time; wait for it to end or write to another folder",
 * );
 * assert.match(new RunFolderLockedError("runs/x", undefined).message, /^runs\/x is in use by another process:/);
 * ```
 */
export class RunFolderLockedError extends Error {
  /**
   * @param dir the run folder
   * @param holder what its lock file says, when it says anything yet
   */
  constructor(readonly dir: string, readonly holder: LockHolder | undefined) {
    super(
      `${dir} is in use by ${
        holder === undefined ? "another process" : `process ${holder.pid} (started ${holder.started})`
      }: one process writes a run folder at a time; wait for it to end or write to another folder`,
    );
    this.name = "RunFolderLockedError";
  }
}

/** Options of {@linkcode lockRunFolder}. */
export type LockRunFolderOptions = {
  /** Create the folder (and its parents) when it does not exist (default true). */
  readonly create?: boolean;
  /** The clock for `started` (tests). */
  readonly now?: () => Date;
};

function parseHolder(text: string): LockHolder | undefined {
  try {
    const value = JSON.parse(text);
    if (Number.isInteger(value?.pid) && typeof value?.started === "string") {
      return { pid: value.pid, started: value.started };
    }
  } catch { /* empty or half-written: the holder is between taking the lock and writing it */ }
  return undefined;
}

/** Reads who holds the lock; retried briefly, as the holder writes the file just after locking it. */
async function readHolder(path: string): Promise<LockHolder | undefined> {
  for (let attempt = 0; attempt < 10; attempt++) {
    try {
      const holder = parseHolder(await Deno.readTextFile(path));
      if (holder !== undefined) return holder;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return undefined;
}

async function writeWhole(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await file.write(bytes.subarray(written));
}

/**
 * Takes the exclusive lock of run folder `dir` before anything is written in
 * it, or throws {@linkcode RunFolderLockedError} ("runs/x is in use by process
 * N (started …)") without changing anything when another process (or another
 * lock in this one) holds it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lockRunFolder, RunFolderLockedError } from "./lock.ts";
 * const dir = await Deno.makeTempDir();
 * const lock = await lockRunFolder(dir, { now: () => new Date("2025-01-02T03:04:05.678Z") });
 * assert.equal(lock.holder.started, "2025-01-02T03:04:05Z");
 * await assert.rejects(() => lockRunFolder(dir), {
 *   name: "RunFolderLockedError",
 *   message: `${dir} is in use by process ${Deno.pid} (started 2025-01-02T03:04:05Z): one process writes ` +
 *     "a run folder at a time; wait for it to end or write to another folder",
 * });
 * lock.release();
 * (await lockRunFolder(dir)).release(); // free again
 * assert.ok(RunFolderLockedError.prototype instanceof Error);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function lockRunFolder(dir: string, options: LockRunFolderOptions = {}): Promise<RunLock> {
  if (options.create ?? true) await Deno.mkdir(dir, { recursive: true });
  const path = `${dir.replace(/\/+$/, "")}/${LOCK_FILE}`;
  // Opened without truncation: the holder's record stays readable to the process that is refused.
  const file = await Deno.open(path, { read: true, write: true, create: true });
  let locked = false;
  try {
    locked = await file.tryLock(true);
  } finally {
    if (!locked) file.close();
  }
  if (!locked) throw new RunFolderLockedError(dir, await readHolder(path));
  const holder: LockHolder = {
    pid: Deno.pid,
    started: (options.now ?? (() => new Date()))().toISOString().replace(/\.\d+Z$/, "Z"),
  };
  try {
    await file.truncate(0);
    await file.seek(0, Deno.SeekMode.Start);
    await writeWhole(file, new TextEncoder().encode(JSON.stringify(holder) + "\n"));
  } catch (error) {
    file.close();
    throw new Error(
      `${path}: cannot write the lock file (${error instanceof Error ? error.message : error})`,
      { cause: error },
    );
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    // Closing the file releases the lock; the file stays (removing it would let a process that
    // opened it just before lock a file no one else sees).
    file.close();
  };
  return { dir, path, holder, release, [Symbol.dispose]: release };
}
