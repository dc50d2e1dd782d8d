import { assert } from "../_helpers.ts";
import {
  denoFileOps,
  type FileOps,
  previousPath,
  writeDirAtomic,
  writeFileAtomic,
  writeTextAtomic,
} from "../../lib/io/files.ts";

/** Deno's operations, logging `op args…` for each call; `failOn` names calls that throw instead. */
function loggedOps(failOn: (line: string) => boolean = () => false) {
  const log: string[] = [];
  const wrap =
    <A extends string[], R>(op: string, run: (...args: A) => Promise<R>, shown: (...args: A) => string[]) =>
    (...args: A): Promise<R> => {
      const line = [op, ...shown(...args)].join(" ");
      log.push(line);
      if (failOn(line)) return Promise.reject(new Error(`injected: ${line}`));
      return run(...args);
    };
  const fs: FileOps = {
    mkdir: wrap("mkdir", denoFileOps.mkdir, (p) => [p]),
    writeFile: (path, data, flush) =>
      wrap(
        "writeFile",
        (p: string) => denoFileOps.writeFile(p, data, flush),
        (p) => [p, flush ? "flushed" : "unflushed"],
      )(
        path,
      ),
    rename: wrap("rename", denoFileOps.rename, (a, b) => [a, b]),
    remove: wrap("remove", denoFileOps.remove, (p) => [p]),
    exists: wrap("exists", denoFileOps.exists, (p) => [p]),
    syncDir: wrap("syncDir", denoFileOps.syncDir, (p) => [p]),
  };
  return { fs, log };
}

/** `…/name.tmp-<pid>-<id>` written `…/name.tmp`, to compare logs and listings. */
const plain = (text: string) => text.replaceAll(/\.tmp-\d+-[0-9a-f]{8}/g, ".tmp");

const names = async (dir: string) =>
  (await Array.fromAsync(Deno.readDir(dir))).map((e) => plain(e.name)).sort();

Deno.test("writeFileAtomic() flushes the new file, renames it over the old one, then flushes the folder", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/a.txt`, "old");
  const { fs, log } = loggedOps();
  await writeTextAtomic(`${dir}/a.txt`, "new", { fs });
  assert.deepEqual(log.map(plain), [
    `writeFile ${dir}/a.txt.tmp flushed`, // flushed before it resolves
    `rename ${dir}/a.txt.tmp ${dir}/a.txt`,
    `syncDir ${dir}`,
  ]);
  assert.equal(await Deno.readTextFile(`${dir}/a.txt`), "new");
  // without flushes: the same write and rename, nothing flushed
  log.length = 0;
  await writeTextAtomic(`${dir}/a.txt`, "newer", { fs, flush: false });
  assert.deepEqual(log.map(plain), [
    `writeFile ${dir}/a.txt.tmp unflushed`,
    `rename ${dir}/a.txt.tmp ${dir}/a.txt`,
  ]);
  assert.equal(await Deno.readTextFile(`${dir}/a.txt`), "newer");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("writeFileAtomic() failing at the write or the rename keeps the old file and removes the temporary one", async () => {
  for (const op of ["writeFile", "rename"]) {
    const dir = await Deno.makeTempDir();
    await Deno.writeTextFile(`${dir}/a.txt`, "old");
    const { fs } = loggedOps((line) => line.startsWith(op));
    await assert.rejects(() => writeFileAtomic(`${dir}/a.txt`, new Uint8Array([1]), { fs }), /injected/);
    assert.equal(await Deno.readTextFile(`${dir}/a.txt`), "old", op);
    assert.deepEqual(await names(dir), ["a.txt"], op);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeDirAtomic() after a crash between its renames writes anew, and the next replace discards the stale previous", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/site`;
  // what a crash between "move the old one aside" and "rename the new one in" leaves
  await Deno.mkdir(previousPath(path));
  await Deno.writeTextFile(`${previousPath(path)}/v.txt`, "1");
  assert.deepEqual(await names(dir), ["site.saekit-previous"]);
  // nothing at `path`: the new folder is renamed in, the previous one is left alone
  await writeDirAtomic(path, (tmp) => writeTextAtomic(`${tmp}/v.txt`, "2"));
  assert.deepEqual(await names(dir), ["site", "site.saekit-previous"]);
  assert.equal(await Deno.readTextFile(`${path}/v.txt`), "2");
  // a replace first discards the stale previous (renamed to a temporary name, then removed)
  const { fs, log } = loggedOps();
  await writeDirAtomic(path, (tmp) => writeTextAtomic(`${tmp}/v.txt`, "3"), { fs });
  assert.deepEqual(log.map(plain), [
    `mkdir ${path}.tmp`,
    `syncDir ${path}.tmp`,
    `exists ${path}`,
    `exists ${path}.saekit-previous`,
    `rename ${path}.saekit-previous ${path}.tmp`,
    `remove ${path}.tmp`,
    `rename ${path} ${path}.saekit-previous`,
    `rename ${path}.tmp ${path}`,
    `syncDir ${dir}`,
    `rename ${path}.saekit-previous ${path}.tmp`,
    `remove ${path}.tmp`,
  ]);
  assert.equal(await Deno.readTextFile(`${path}/v.txt`), "3");
  assert.deepEqual(await names(dir), ["site"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("writeDirAtomic() failing to discard a stale previous leaves the folder there untouched", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/site`;
  await writeDirAtomic(path, (tmp) => writeTextAtomic(`${tmp}/v.txt`, "1"));
  await Deno.mkdir(previousPath(path));
  const { fs } = loggedOps((line) => line.startsWith(`rename ${previousPath(path)}`));
  await assert.rejects(
    () => writeDirAtomic(path, (tmp) => writeTextAtomic(`${tmp}/v.txt`, "2"), { fs }),
    /injected/,
  );
  assert.equal(await Deno.readTextFile(`${path}/v.txt`), "1");
  assert.deepEqual(await names(dir), ["site", "site.saekit-previous"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("denoFileOps.syncDir() reports a missing folder rather than skipping it", async () => {
  const dir = await Deno.makeTempDir();
  await assert.rejects(() => denoFileOps.syncDir(`${dir}/none`), Deno.errors.NotFound);
  await denoFileOps.syncDir(dir);
  await Deno.remove(dir);
});
