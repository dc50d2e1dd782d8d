/**
 * File writing that never leaves a half-written file behind: everything is
 * written to a temporary name beside the target, flushed to disk (unless
 * `flush: false`), and renamed over it.
 *
 * What a crash (power loss, `SIGKILL`) can leave beside a target `path`:
 *
 * - `path.tmp-<pid>-<id>`: a file or directory that was being written, or an
 *   old directory that was being deleted. Never complete by contract, never
 *   read by this library; {@linkcode tempTarget} recognises the name (a run
 *   removes those left in its `checkpoints/` when it starts).
 * - `path.saekit-previous` ({@linkcode previousPath}): the complete directory
 *   that {@linkcode writeDirAtomic} was replacing. A directory cannot be
 *   renamed over a non-empty one, so a replace moves the old one aside first;
 *   a crash before the new one is renamed in leaves `path` missing and the
 *   old one here, whole. Readers may fall back to it (`latestCheckpoint()`
 *   does); the next replace of `path` discards it.
 *
 * Every operation goes through a {@linkcode FileOps} record, Deno's by
 * default, so that tests can make any step fail.
 *
 * @module
 */
import { dirname } from "node:path";

/**
 * The file-system operations the atomic writers use. Pass another record in
 * {@linkcode WriteAtomicOptions} to observe or fail them (in tests);
 * {@linkcode denoFileOps} is the default.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { denoFileOps, type FileOps, writeFileAtomic } from "./files.ts";
 * const renames: string[] = [];
 * const fs: FileOps = {
 *   ...denoFileOps,
 *   rename: (from, to) => {
 *     renames.push(to);
 *     return denoFileOps.rename(from, to);
 *   },
 * };
 * const dir = await Deno.makeTempDir();
 * await writeFileAtomic(`${dir}/a.bin`, new Uint8Array([1, 2]), { fs });
 * assert.deepEqual(renames, [`${dir}/a.bin`]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export type FileOps = {
  /** Creates a directory and any missing parents. */
  readonly mkdir: (path: string) => Promise<void>;
  /** Writes a whole file (replacing one there); with `flush`, flushes it to disk before resolving. */
  readonly writeFile: (path: string, data: Uint8Array, flush: boolean) => Promise<void>;
  /** Renames a file or directory; replaces a file (or an empty directory) at `to`. */
  readonly rename: (from: string, to: string) => Promise<void>;
  /** Removes a file, or a directory and everything in it. */
  readonly remove: (path: string) => Promise<void>;
  /** Whether something exists at `path`. */
  readonly exists: (path: string) => Promise<boolean>;
  /** Flushes a directory's entries (files created or renamed in it) to disk. */
  readonly syncDir: (path: string) => Promise<void>;
};

/** Errors of a directory flush that mean "not supported here", not "failed". */
const UNSUPPORTED_SYNC = new Set(["EINVAL", "ENOTSUP", "EOPNOTSUPP", "EBADF"]);

/**
 * Deno's file system, flushing with `fsync`. A directory flush is skipped on
 * Windows (directories cannot be opened there) and where the file system or
 * the permissions refuse it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { denoFileOps } from "./files.ts";
 * const dir = await Deno.makeTempDir();
 * await denoFileOps.writeFile(`${dir}/a.txt`, new TextEncoder().encode("hi"), true);
 * await denoFileOps.syncDir(dir);
 * assert.equal(await Deno.readTextFile(`${dir}/a.txt`), "hi");
 * assert.equal(await denoFileOps.exists(`${dir}/b.txt`), false);
 * await denoFileOps.remove(dir);
 * assert.equal(await denoFileOps.exists(dir), false);
 * ```
 */
export const denoFileOps: FileOps = {
  mkdir: (path) => Deno.mkdir(path, { recursive: true }),
  writeFile: async (path, data, flush) => {
    if (!flush) return await Deno.writeFile(path, data);
    const file = await Deno.open(path, { write: true, create: true, truncate: true });
    try {
      for (let at = 0; at < data.length;) at += await file.write(data.subarray(at));
      await file.sync();
    } finally {
      file.close();
    }
  },
  rename: (from, to) => Deno.rename(from, to),
  remove: (path) => Deno.remove(path, { recursive: true }),
  exists,
  syncDir: async (path) => {
    if (Deno.build.os === "windows") return;
    let dir: Deno.FsFile;
    try {
      dir = await Deno.open(path, { read: true });
    } catch (error) {
      if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) return;
      throw error;
    }
    try {
      await dir.sync();
    } catch (error) {
      if (!UNSUPPORTED_SYNC.has((error as { code?: string }).code ?? "")) throw error;
    } finally {
      dir.close();
    }
  },
};

/** Options of the atomic writers. */
export type WriteAtomicOptions = {
  /** The file-system operations to use; {@linkcode denoFileOps} by default. */
  readonly fs?: FileOps;
  /**
   * Flush files and folders to disk (`fsync`) before and after the rename,
   * so that the result survives a power loss or an OS crash, not only a
   * killed process; true by default. Each flush costs about a millisecond or
   * more: pass false for many small files inside a {@linkcode writeDirAtomic}
   * folder, which is renamed into place as a whole.
   */
  readonly flush?: boolean;
};

/** The temporary name beside `path`; {@linkcode tempTarget} recognises exactly these. */
function tempName(path: string): string {
  return `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
}

/** `.tmp-<pid>-<8 lowercase hex digits>` at the end of a name, as {@linkcode tempName} writes it. */
const TEMP_SUFFIX = /\.tmp-\d+-[0-9a-f]{8}$/;

/**
 * The name that a temporary file or folder of the atomic writers was written
 * for (`step-00000200` for `step-00000200.tmp-4121-0f3a9c2e`), or undefined
 * when `name` is not one of their temporary names. A crash leaves such names
 * behind; nothing else is ever named so.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tempTarget } from "./files.ts";
 * assert.equal(tempTarget("step-00000200.tmp-4121-0f3a9c2e"), "step-00000200");
 * assert.equal(tempTarget("step-00000200.tmp-notes"), undefined);
 * assert.equal(tempTarget("step-00000200"), undefined);
 * ```
 */
export function tempTarget(name: string): string | undefined {
  const match = TEMP_SUFFIX.exec(name);
  return match === null || match.index === 0 ? undefined : name.slice(0, match.index);
}

/**
 * Where {@linkcode writeDirAtomic} keeps the directory it replaces at `path`
 * while the new one is renamed in. Found there (complete) only after a crash
 * or a failed clean-up; when `path` itself is missing, it is the latest
 * complete content of `path`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { previousPath } from "./files.ts";
 * assert.equal(previousPath("runs/a/checkpoints/step-00000200"), "runs/a/checkpoints/step-00000200.saekit-previous");
 * ```
 */
export function previousPath(path: string): string {
  return `${path}.saekit-previous`;
}

/**
 * Writes bytes to `path` through a temporary file, flushed to disk, and one
 * rename (which replaces a file at `path` atomically); then flushes the
 * folder so the rename itself survives a power loss.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeFileAtomic } from "./files.ts";
 * const dir = await Deno.makeTempDir();
 * await writeFileAtomic(`${dir}/a.bin`, new Uint8Array([1, 2, 3]));
 * await writeFileAtomic(`${dir}/a.bin`, new Uint8Array([4]));
 * assert.deepEqual([...await Deno.readFile(`${dir}/a.bin`)], [4]);
 * assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["a.bin"]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array,
  options: WriteAtomicOptions = {},
): Promise<void> {
  const fs = options.fs ?? denoFileOps;
  const flush = options.flush ?? true;
  const tmp = tempName(path);
  try {
    await fs.writeFile(tmp, data, flush);
    await fs.rename(tmp, path);
  } catch (error) {
    await fs.remove(tmp).catch(() => {});
    throw error;
  }
  if (flush) await fs.syncDir(dirname(path));
}

/**
 * Writes text to `path` as {@linkcode writeFileAtomic} does.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeTextAtomic } from "./files.ts";
 * const dir = await Deno.makeTempDir();
 * await writeTextAtomic(`${dir}/a.txt`, "héllo");
 * assert.equal(await Deno.readTextFile(`${dir}/a.txt`), "héllo");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeTextAtomic(
  path: string,
  text: string,
  options: WriteAtomicOptions = {},
): Promise<void> {
  await writeFileAtomic(path, new TextEncoder().encode(text), options);
}

/** Renames a directory to a temporary name (so no reader takes it), then deletes it. */
async function discard(fs: FileOps, dir: string, beside: string): Promise<void> {
  const trash = tempName(beside);
  await fs.rename(dir, trash);
  await fs.remove(trash);
}

/**
 * Fills a new directory and puts it at `path` with a rename; an existing
 * directory at `path` is replaced only after the new one is complete.
 *
 * `fill` receives the temporary directory. For the result to survive a
 * power loss (not only a killed process) it must leave its files flushed, as
 * {@linkcode writeFileAtomic} does by default; the directory's own entries
 * are flushed here (unless `flush` is false). Steps, each of which may fail
 * or be cut short by a crash:
 *
 * 1. create `path.tmp-*` and fill it, flush it;
 * 2. if `path` exists: discard a stale {@linkcode previousPath} left by an
 *    earlier crash, and rename `path` to {@linkcode previousPath};
 * 3. rename the new directory to `path` (the commit), flush the parent;
 * 4. discard the previous directory.
 *
 * An error before the commit removes the new directory, puts the previous
 * one back at `path`, and is thrown: `path` holds what it held. A crash
 * between 2 and 3 leaves `path` missing and its previous content, complete,
 * at {@linkcode previousPath}. After the commit the write has succeeded: a
 * failure to discard the previous directory leaves it at
 * {@linkcode previousPath} and is not thrown (the next replace discards it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeDirAtomic, writeTextAtomic } from "./files.ts";
 * const dir = await Deno.makeTempDir();
 * await writeDirAtomic(`${dir}/site`, (tmp) => writeTextAtomic(`${tmp}/v.txt`, "1"));
 * await assert.rejects(() =>
 *   writeDirAtomic(`${dir}/site`, async (tmp) => {
 *     await writeTextAtomic(`${tmp}/v.txt`, "2");
 *     throw new Error("disk full");
 *   }), /disk full/);
 * assert.equal(await Deno.readTextFile(`${dir}/site/v.txt`), "1");
 * await writeDirAtomic(`${dir}/site`, (tmp) => writeTextAtomic(`${tmp}/v.txt`, "3"));
 * assert.equal(await Deno.readTextFile(`${dir}/site/v.txt`), "3");
 * assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["site"]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeDirAtomic(
  path: string,
  fill: (dir: string) => Promise<void>,
  options: WriteAtomicOptions = {},
): Promise<void> {
  const fs = options.fs ?? denoFileOps;
  const flush = options.flush ?? true;
  const tmp = tempName(path);
  const previous = previousPath(path);
  let movedAside = false;
  await fs.mkdir(tmp);
  try {
    await fill(tmp);
    if (flush) await fs.syncDir(tmp);
    if (await fs.exists(path)) {
      // `path` is newer than a `previous` left by a crash, which is therefore garbage; a
      // directory cannot be renamed over a non-empty one.
      if (await fs.exists(previous)) await discard(fs, previous, path);
      await fs.rename(path, previous);
      movedAside = true;
    }
    await fs.rename(tmp, path);
  } catch (error) {
    if (movedAside) await fs.rename(previous, path).catch(() => {});
    await fs.remove(tmp).catch(() => {});
    throw error;
  }
  if (flush) await fs.syncDir(dirname(path));
  if (movedAside) await discard(fs, previous, path).catch(() => {});
}

/**
 * Whether a path exists.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { exists } from "./files.ts";
 * const dir = await Deno.makeTempDir();
 * assert.equal(await exists(dir), true);
 * assert.equal(await exists(`${dir}/none`), false);
 * await Deno.remove(dir);
 * ```
 */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/**
 * Parses JSON text read from `path`, naming the file when it does not parse
 * (a truncated or hand-edited file), with the parser's own account of where.
 *
 * @param what what the file should hold, as the message says it: "JSON" by default
 * @throws TypeError `${path}: expected ${what}, received text that does not parse (…)`, or `…, received
 *   an empty file`
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseJsonFile } from "./files.ts";
 * assert.deepEqual(parseJsonFile('{"a": 1}', "m/config.json"), { a: 1 });
 * assert.throws(() => parseJsonFile("", "m/config.json"), {
 *   message: "m/config.json: expected JSON, received an empty file",
 * });
 * assert.throws(() => parseJsonFile('{"a": ', "m/config.json", "a Hugging Face config.json"), {
 *   message: /^m\/config\.json: expected a Hugging Face config\.json, received text that does not parse \(/,
 * });
 * ```
 */
export function parseJsonFile(text: string, path: string, what = "JSON"): unknown {
  if (text.trim() === "") throw new TypeError(`${path}: expected ${what}, received an empty file`);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new TypeError(
      `${path}: expected ${what}, received text that does not parse (${
        error instanceof Error ? error.message : error
      })`,
    );
  }
}

/**
 * Reads and parses a JSON file (see {@linkcode parseJsonFile}). A file that
 * cannot be read throws Deno's own error (`Deno.errors.NotFound`, …), whose
 * message names the path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readJsonFile } from "./files.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/config.json`, '{"model_type": "gpt2"');
 * await assert.rejects(() => readJsonFile(`${dir}/config.json`), {
 *   message: new RegExp(`^${dir}/config\\.json: expected JSON, received text that does not parse`),
 * });
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readJsonFile(path: string, what = "JSON"): Promise<unknown> {
  return parseJsonFile(await Deno.readTextFile(path), path, what);
}
