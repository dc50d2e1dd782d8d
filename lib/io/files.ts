/**
 * File writing that never leaves a half-written file behind: everything is
 * written to a temporary name beside the target and renamed over it.
 *
 * @module
 */

function tempName(path: string): string {
  return `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
}

/** Writes bytes to `path` through a temporary file and a rename. */
export async function writeFileAtomic(path: string, data: Uint8Array): Promise<void> {
  const tmp = tempName(path);
  try {
    await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
}

/** Writes text to `path` through a temporary file and a rename. */
export async function writeTextAtomic(path: string, text: string): Promise<void> {
  await writeFileAtomic(path, new TextEncoder().encode(text));
}

/**
 * Fills a new directory and puts it at `path` in one rename; an existing
 * directory at `path` is replaced only after the new one is complete.
 */
export async function writeDirAtomic(path: string, fill: (dir: string) => Promise<void>): Promise<void> {
  const tmp = tempName(path);
  await Deno.mkdir(tmp, { recursive: true });
  try {
    await fill(tmp);
    let old: string | undefined;
    try {
      await Deno.stat(path);
      old = tempName(path);
      await Deno.rename(path, old);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    await Deno.rename(tmp, path);
    if (old !== undefined) await Deno.remove(old, { recursive: true });
  } catch (error) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw error;
  }
}

/** Whether a path exists. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
