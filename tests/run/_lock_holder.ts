/**
 * Child process of `lock_test.ts`: takes the lock of run folder `<dir>`,
 * prints `locked <started>` and waits until it is killed (or for `<ms>`
 * milliseconds at most, should the parent fail to kill it).
 *
 * Usage: `deno run --allow-read --allow-write _lock_holder.ts <dir> <ms>`
 */
import { lockRunFolder } from "../../lib/run/lock.ts";

if (import.meta.main) {
  const [dir, ms] = Deno.args;
  const lock = await lockRunFolder(dir);
  await Deno.stdout.write(new TextEncoder().encode(`locked ${lock.holder.started}\n`));
  await new Promise((resolve) => setTimeout(resolve, Number(ms)));
  lock.release();
}
