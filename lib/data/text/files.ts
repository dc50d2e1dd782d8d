/**
 * Streaming reads of local files: bytes, text and lines, a chunk at a time,
 * never the whole file at once. A path ending in `.gz` is decompressed as it
 * is read (gzip, with the runtime's `DecompressionStream`).
 *
 * @module
 */
import { checkInteger, pathLabel } from "./documents.ts";

/** Default bytes per read: 64 KiB. */
export const DEFAULT_CHUNK_SIZE = 65536;

/** Options of {@linkcode readChunks}, {@linkcode readTextChunks} and {@linkcode readLines}. */
export type ReadOptions = {
  /** Bytes per read (default 64 KiB); small values are for tests of chunk boundaries. */
  readonly chunkSize?: number;
};

/**
 * Opens a file for reading, with an error that names the file when it is
 * missing or not a regular file.
 *
 * @throws Deno.errors.NotFound naming the file when it does not exist
 * @throws TypeError when the path is a directory
 *
 * @example
 * ```ts
 * import { openFile } from "./files.ts";
 * const path = await Deno.makeTempFile();
 * const file = await openFile(path);
 * file.close();
 * ```
 */
export async function openFile(path: string | URL): Promise<Deno.FsFile> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(`${pathLabel(path)}: expected an existing file, received none`, {
        cause: error,
      });
    }
    throw error;
  }
  const info = await file.stat();
  if (!info.isFile) {
    file.close();
    throw new TypeError(`${pathLabel(path)}: expected a regular file, received a directory or device`);
  }
  return file;
}

/**
 * The bytes of a file, `chunkSize` bytes per read (the last chunk may be
 * shorter; a `.gz` file yields decompressed chunks of whatever size the
 * decompressor gives). The file is closed when iteration ends or stops.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readChunks } from "./files.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "abcdefg");
 * const sizes: number[] = [];
 * for await (const chunk of readChunks(path, { chunkSize: 3 })) sizes.push(chunk.length);
 * assert.equal(sizes.join(), "3,3,1");
 * ```
 */
export async function* readChunks(path: string | URL, options: ReadOptions = {}): AsyncGenerator<Uint8Array> {
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  checkInteger("chunkSize", chunkSize, 1);
  const file = await openFile(path);
  if (pathLabel(path).endsWith(".gz")) {
    // The stream owns the file from here: it closes it when the stream ends or is cancelled.
    const reader = file.readable.pipeThrough(new DecompressionStream("gzip")).getReader();
    try {
      while (true) {
        const { done, value } = await reader.read();
        if (done) return;
        yield value;
      }
    } catch (error) {
      throw new TypeError(`${pathLabel(path)}: expected gzip data, received bytes that do not decompress`, {
        cause: error,
      });
    } finally {
      await reader.cancel().catch(() => {});
    }
  }
  try {
    while (true) {
      const buffer = new Uint8Array(chunkSize);
      let filled = 0;
      while (filled < chunkSize) {
        const n = await file.read(buffer.subarray(filled));
        if (n === null) break;
        filled += n;
      }
      if (filled > 0) yield filled === chunkSize ? buffer : buffer.subarray(0, filled);
      if (filled < chunkSize) return;
    }
  } finally {
    file.close();
  }
}

/**
 * The text of a file as UTF-8, a chunk at a time (a character split across
 * two reads is joined; a byte-order mark at the start is dropped; invalid
 * bytes become U+FFFD).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readTextChunks } from "./files.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "héllo");
 * let text = "";
 * for await (const part of readTextChunks(path, { chunkSize: 2 })) text += part;
 * assert.equal(text, "héllo");
 * ```
 */
export async function* readTextChunks(path: string | URL, options: ReadOptions = {}): AsyncGenerator<string> {
  const decoder = new TextDecoder("utf-8");
  for await (const bytes of readChunks(path, options)) {
    const text = decoder.decode(bytes, { stream: true });
    if (text.length > 0) yield text;
  }
  const rest = decoder.decode();
  if (rest.length > 0) yield rest;
}

/**
 * The lines of a text file, without their line ends (`\n` or `\r\n`). A final
 * line without a line end is still a line; an empty file has no lines. A line
 * longer than a read chunk is assembled from its parts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readLines } from "./files.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "first\r\nsecond line\nthird");
 * const lines: string[] = [];
 * for await (const line of readLines(path, { chunkSize: 4 })) lines.push(line);
 * assert.equal(lines.join("|"), "first|second line|third");
 * ```
 */
export function readLines(path: string | URL, options: ReadOptions = {}): AsyncGenerator<string> {
  return splitLines(readTextChunks(path, options));
}

/**
 * The lines of a stream of text pieces, as {@linkcode readLines} reads them
 * from a file: without their line ends (`\n` or `\r\n`), a final line
 * without a line end still a line, a line split across pieces joined.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { splitLines } from "./files.ts";
 * async function* pieces() {
 *   yield "a\r";
 *   yield "\nb";
 *   yield "c\n\nd";
 * }
 * const lines: string[] = [];
 * for await (const line of splitLines(pieces())) lines.push(line);
 * assert.deepEqual(lines, ["a", "bc", "", "d"]);
 * ```
 */
export async function* splitLines(texts: AsyncIterable<string>): AsyncGenerator<string> {
  let parts: string[] = [];
  const finish = (last: string): string => {
    parts.push(last);
    const line = parts.length === 1 ? parts[0] : parts.join("");
    parts = [];
    return line.endsWith("\r") ? line.slice(0, -1) : line;
  };
  for await (const text of texts) {
    let from = 0;
    while (true) {
      const end = text.indexOf("\n", from);
      if (end === -1) break;
      yield finish(text.slice(from, end));
      from = end + 1;
    }
    if (from < text.length) parts.push(text.slice(from));
  }
  if (parts.length > 0) yield finish("");
}
