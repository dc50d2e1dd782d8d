/**
 * One writer per run folder (lib/run/lock.ts): a second lock, in this process
 * or another, is refused with the holder's process id and start time; the lock
 * of a process killed with SIGKILL does not block; `train()` takes the lock
 * before anything is written and refuses a folder in use without touching it.
 */
import { assert } from "../_helpers.ts";
import { parseConfig } from "../../lib/config.ts";
import { toySource } from "../../lib/data/toy.ts";
import { LOCK_FILE, lockRunFolder, RunFolderLockedError } from "../../lib/run/lock.ts";
import { train } from "../../lib/run/runner.ts";
import { disposeAll } from "../../lib/run/dispose.ts";

const HINT = "one process writes a run folder at a time; wait for it to end or write to another folder";

/** The deno binary to start (as tests/module_graph_test.ts finds it). */
async function denoBinary(): Promise<string> {
  const self = await Deno.permissions.query({ name: "run", command: Deno.execPath() });
  return self.state === "granted" ? Deno.execPath() : "deno";
}

/** Starts `_lock_holder.ts` on `dir`; resolves once it holds the lock, with its pid and start time. */
async function startHolder(dir: string) {
  const child = new Deno.Command(await denoBinary(), {
    args: [
      "run",
      "--quiet",
      "--allow-read",
      "--allow-write",
      new URL("./_lock_holder.ts", import.meta.url).pathname,
      dir,
      "60000", // at most: it ends by itself should the kill below not come
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) {
      assert.fail(`lock holder exited before locking: ${text} ${await new Response(child.stderr).text()}`);
    }
    text += value;
  }
  const match = /^locked (\S+)\n/.exec(text);
  assert.ok(match, `lock holder said ${JSON.stringify(text)}`);
  return {
    child,
    started: match[1],
    async kill() {
      child.kill("SIGKILL");
      const status = await child.status;
      // stdout is piped through the decoder, so it is cancelled through the decoder's reader.
      await reader.cancel();
      await child.stderr.cancel();
      assert.equal(status.signal, "SIGKILL");
    },
  };
}

/** Names, sizes and bytes of every file under `dir`, the lock file included. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const walk = async (path: string, prefix: string) => {
    for await (const entry of Deno.readDir(path)) {
      if (entry.isDirectory) await walk(`${path}/${entry.name}`, `${prefix}${entry.name}/`);
      else {files.set(
          `${prefix}${entry.name}`,
          Array.from(await Deno.readFile(`${path}/${entry.name}`)).join(),
        );}
    }
  };
  await walk(dir, "");
  return files;
}

Deno.test("lockRunFolder() refuses a second lock in the same process, then gives it once released", async () => {
  const dir = await Deno.makeTempDir();
  const lock = await lockRunFolder(`${dir}/runs/x`, { now: () => new Date("2025-03-04T05:06:07.890Z") });
  assert.equal(lock.path, `${dir}/runs/x/${LOCK_FILE}`);
  assert.deepEqual(JSON.parse(await Deno.readTextFile(lock.path)), {
    pid: Deno.pid,
    started: "2025-03-04T05:06:07Z",
  });
  const error = await lockRunFolder(`${dir}/runs/x`).then(
    () => assert.fail("expected the second lock refused"),
    (e) => e,
  );
  assert.ok(error instanceof RunFolderLockedError);
  assert.equal(
    error.message,
    `${dir}/runs/x is in use by process ${Deno.pid} (started 2025-03-04T05:06:07Z): ${HINT}`,
  );
  assert.deepEqual(error.holder, { pid: Deno.pid, started: "2025-03-04T05:06:07Z" });
  lock.release();
  lock.release(); // a second release does nothing
  {
    using again = await lockRunFolder(`${dir}/runs/x`, { create: false });
    assert.equal(again.holder.pid, Deno.pid);
  }
  // `using` gave it back at the end of the block
  (await lockRunFolder(`${dir}/runs/x`)).release();
  await assert.rejects(() => lockRunFolder(`${dir}/missing`, { create: false }), Deno.errors.NotFound);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a run folder locked by another process is refused with its pid, and SIGKILL frees it", async () => {
  const dir = await Deno.makeTempDir();
  const holder = await startHolder(dir);
  try {
    const before = await snapshot(dir);
    await assert.rejects(() => lockRunFolder(dir), {
      name: "RunFolderLockedError",
      message: `${dir} is in use by process ${holder.child.pid} (started ${holder.started}): ${HINT}`,
    });
    // train() takes the same lock before it writes anything: refused, and the folder is as it was.
    const config = parseConfig({ dIn: 4, batchSize: 8, storeSize: 8, steps: 2 });
    const source = toySource({ nComponents: 1, dIn: 4, nFeatures: 4, meanActive: 1, chunkRows: 8, seed: 0 });
    await assert.rejects(() => train({ config, source, out: dir }), {
      name: "RunFolderLockedError",
      message: `${dir} is in use by process ${holder.child.pid} (started ${holder.started}): ${HINT}`,
    });
    assert.deepEqual(await snapshot(dir), before);
    await holder.kill();
    // The lock file of the killed process stays, and blocks nothing.
    assert.deepEqual(await snapshot(dir), before);
    const result = await train({ config, source, out: dir });
    assert.equal(result.stopped, "completed");
    disposeAll(result.state);
    assert.equal(JSON.parse(await Deno.readTextFile(`${dir}/${LOCK_FILE}`)).pid, Deno.pid);
    (await lockRunFolder(dir)).release(); // train() gave the lock back
  } finally {
    try {
      holder.child.kill("SIGKILL");
    } catch { /* already killed */ }
    await Deno.remove(dir, { recursive: true });
  }
});
