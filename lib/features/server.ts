/**
 * The feature browser on the network and on disk: a local HTTP server that
 * answers the page and its JSON documents on demand, and a writer of the same
 * documents as static files, so that any static host serves the same page
 * (without the search, which needs the model).
 *
 * The server reads each request's head itself (`Deno.listen`, one request per
 * connection, `connection: close`) rather than through `Deno.serve`, whose
 * HTTP parser answers a request line over 64 KiB with an empty 400 before any
 * handler runs. So every mistake of a client gets a JSON body
 * `{"error": "…"}`: a target (path and query) over {@linkcode MAX_URL_BYTES}
 * is a 414, a head over {@linkcode MAX_HEAD_BYTES} a 431, a malformed request
 * line or percent-encoding a 400, a method other than GET and HEAD a 405, a
 * head that does not arrive within 10 s a 408. Nothing is printed for a
 * client's mistake; an error of the server itself is a 500 with one line on
 * the console, without a stack trace. The server never reads files: a path
 * is only ever compared with the browser's component names.
 *
 * Effectful: listens on a socket, writes files.
 *
 * @module
 */
import { writeDirAtomic, writeTextAtomic } from "../io/files.ts";
import type { FeatureBrowser } from "./browser.ts";
import { featurePageHtml } from "./page.ts";

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
  });
}

function problem(status: number, message: string): Response {
  return json({ error: message }, status);
}

/**
 * The longest request target (path and query) answered, in bytes: 8 KiB; a longer one is a 414.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MAX_URL_BYTES } from "./server.ts";
 * assert.equal(MAX_URL_BYTES, 8 * 1024);
 * ```
 */
export const MAX_URL_BYTES = 8192;

/**
 * The longest request head (request line and headers) read, in bytes: 64 KiB; a longer one is a 431.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MAX_HEAD_BYTES } from "./server.ts";
 * assert.equal(MAX_HEAD_BYTES, 64 * 1024);
 * ```
 */
export const MAX_HEAD_BYTES = 65536;

/** Milliseconds a connection may take to send its request head. */
const HEAD_TIMEOUT_MS = 10_000;

/** A client's text in a message: JSON-quoted, cut to 80 characters. */
function quoted(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 77)}...` : text);
}

function tooLong(bytes: number | undefined): Response {
  return problem(
    414,
    `url: expected at most ${MAX_URL_BYTES} bytes of path and query, received ${
      bytes === undefined ? "more" : bytes
    }`,
  );
}

/**
 * Answers one request of the browser's page:
 * `GET /` (the page), `GET /api/summary.json`, `GET /api/feature/<component>/<id>.json`,
 * `GET /api/search?text=…`. Anything else is a 404 (or 405 for methods other than GET and HEAD, 414
 * for a path and query over {@linkcode MAX_URL_BYTES}, 400 for malformed percent-encoding); every
 * answer but the page is JSON, an error `{"error": "…"}`. It never throws for a client's request.
 *
 * @example An unknown feature is a 404 that says which ids exist
 * ```ts
 * import assert from "node:assert/strict";
 * import { handleFeatureRequest } from "./server.ts";
 * import type { FeatureBrowser } from "./browser.ts";
 * const browser = { componentFolders: ["blocks.0.hook_resid_post"], dSae: 4 } as unknown as FeatureBrowser;
 * const response = handleFeatureRequest(browser, new Request("http://x/api/feature/blocks.0.hook_resid_post/9.json"));
 * assert.equal(response.status, 404);
 * assert.equal((await response.json()).error, "feature: expected an id in [0, 4), received 9");
 * const malformed = handleFeatureRequest(browser, new Request("http://x/api/feature/%E0%A4%A/1.json"));
 * assert.equal(malformed.status, 400);
 * assert.equal(
 *   (await malformed.json()).error,
 *   'component: expected a name in percent-encoded UTF-8, received "%E0%A4%A"',
 * );
 * ```
 */
export function handleFeatureRequest(browser: FeatureBrowser, request: Request): Response {
  if (request.method !== "GET" && request.method !== "HEAD") {
    return problem(405, `method: expected GET, received ${request.method}`);
  }
  const url = new URL(request.url);
  const bytes = new TextEncoder().encode(url.pathname + url.search).length;
  if (bytes > MAX_URL_BYTES) return tooLong(bytes);
  try {
    return answer(browser, url);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    console.error(`saekit features: internal error answering ${quoted(url.pathname)}: ${message}`);
    return problem(500, `internal error: ${message}`);
  }
}

function answer(browser: FeatureBrowser, url: URL): Response {
  const path = url.pathname;
  if (path === "/" || path === "/index.html") {
    return new Response(featurePageHtml(), { headers: { "content-type": "text/html; charset=utf-8" } });
  }
  if (path === "/api/summary.json") return json(browser.summary({ search: true }));
  const feature = /^\/api\/feature\/([^/]+)\/(\d+)\.json$/.exec(path);
  if (feature !== null) {
    let folder: string;
    try {
      folder = decodeURIComponent(feature[1]);
    } catch {
      return problem(
        400,
        `component: expected a name in percent-encoded UTF-8, received ${quoted(feature[1])}`,
      );
    }
    const k = browser.componentFolders.indexOf(folder);
    if (k < 0) {
      return problem(
        404,
        `component: expected one of ${browser.componentFolders.join(", ")}, received ${quoted(folder)}`,
      );
    }
    const id = Number(feature[2]);
    const dSae = browser.dSae;
    if (id >= dSae) return problem(404, `feature: expected an id in [0, ${dSae}), received ${id}`);
    return json(browser.features(k, [id])[0]);
  }
  if (path === "/api/search") {
    const text = url.searchParams.get("text");
    if (text === null || text.trim() === "") {
      return problem(
        400,
        `text: expected a non-empty query parameter, received ${text === null ? "none" : quoted(text)}`,
      );
    }
    try {
      return json(browser.search(text));
    } catch (error) {
      return problem(400, error instanceof Error ? error.message : String(error));
    }
  }
  return problem(
    404,
    `path: expected /, /api/summary.json, /api/feature/<component>/<id>.json or /api/search, received ${
      quoted(path)
    }`,
  );
}

/** Options of {@linkcode serveFeatureBrowser}. */
export type ServeFeatureOptions = {
  /** Default `127.0.0.1` (this machine only). */
  readonly hostname?: string;
  /** Default 0: any free port. */
  readonly port?: number;
  /** Stops the server when aborted. */
  readonly signal?: AbortSignal;
};

/** A running server. */
export type FeatureServer = {
  /** The page's address, e.g. `http://127.0.0.1:8700/`. */
  readonly url: string;
  /** Resolves when the server has stopped. */
  readonly finished: Promise<void>;
  shutdown(): Promise<void>;
};

/** Reason phrases of the statuses the server answers. */
const REASONS: Readonly<Record<number, string>> = {
  200: "OK",
  400: "Bad Request",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  414: "URI Too Long",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
};

/** A request head as read from a connection: its request line, or the answer to a malformed one. */
type Head = { readonly line: string } | { readonly refuse: Response } | { readonly closed: true };

/** The first line end of the bytes, and the end of the head (after the blank line), or −1. */
function headEnds(bytes: Uint8Array, length: number): { line: number; head: number } {
  let line = -1;
  for (let i = 0; i < length; i++) {
    if (bytes[i] !== 0x0a) continue;
    if (line < 0) line = i;
    // "\n\n" or "\n\r\n" ends the head.
    if (i + 1 < length && bytes[i + 1] === 0x0a) return { line, head: i + 2 };
    if (i + 2 < length && bytes[i + 1] === 0x0d && bytes[i + 2] === 0x0a) return { line, head: i + 3 };
  }
  return { line, head: -1 };
}

/**
 * Reads a request head, at most {@linkcode MAX_HEAD_BYTES}; refuses a request
 * line longer than a {@linkcode MAX_URL_BYTES} target allows (414) as soon as
 * that is clear, without reading the rest, and a head that is not whole when
 * `expired` resolves (408).
 */
async function readHead(conn: Deno.Conn, expired: Promise<"expired">): Promise<Head> {
  const buffer = new Uint8Array(MAX_HEAD_BYTES);
  let length = 0;
  // "GET " + target + " HTTP/1.1\r": the method's and version's share, generously.
  const maxLine = MAX_URL_BYTES + 64;
  while (true) {
    const read = conn.read(buffer.subarray(length)).catch(() => null); // a reset ends the request too
    const n = await Promise.race([read, expired]);
    if (n === "expired") {
      return {
        refuse: problem(408, `request: expected a whole request head within ${HEAD_TIMEOUT_MS / 1000} s`),
      };
    }
    if (n === null) {
      return length === 0
        ? { closed: true }
        : { refuse: problem(400, `request: expected a whole request head, received ${length} bytes`) };
    }
    length += n;
    const ends = headEnds(buffer, length);
    if ((ends.line < 0 ? length : ends.line) > maxLine) return { refuse: tooLong(undefined) };
    if (ends.head >= 0) {
      return { line: new TextDecoder().decode(buffer.subarray(0, ends.line)).replace(/\r$/, "") };
    }
    if (length === buffer.length) {
      return {
        refuse: problem(
          431,
          `request: expected a request head of at most ${MAX_HEAD_BYTES} bytes, received more`,
        ),
      };
    }
  }
}

/** Writes every byte, or gives up quietly when the client has gone. */
async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<boolean> {
  try {
    for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
    return true;
  } catch {
    return false;
  }
}

/** Reads and drops what the client still sends (at most 64 MiB, 2 s), so that closing does not reset. */
async function drain(conn: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(65536);
  const timer = setTimeout(() => {
    try {
      conn.close();
    } catch { /* closed already */ }
  }, 2000);
  try {
    for (let total = 0; total < 64 << 20;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      total += n;
    }
  } catch {
    /* closed or reset: nothing left to drain */
  } finally {
    clearTimeout(timer);
  }
}

/** The answer to a request line, and the method it asked with. */
function answerLine(
  line: string,
  origin: string,
  handle: (request: Request) => Response,
): { response: Response; method: string } {
  const parts = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) HTTP\/1\.[01]$/.exec(line);
  if (parts === null) {
    return {
      response: problem(400, `request: expected "GET /path HTTP/1.1", received ${quoted(line)}`),
      method: "GET",
    };
  }
  const [, method, target] = parts;
  if (method !== "GET" && method !== "HEAD") {
    return { response: problem(405, `method: expected GET, received ${quoted(method)}`), method: "GET" };
  }
  if (!target.startsWith("/")) {
    return {
      response: problem(400, `url: expected a path that starts with /, received ${quoted(target)}`),
      method,
    };
  }
  let request: Request;
  try {
    request = new Request(origin + target, { method });
  } catch {
    return {
      response: problem(400, `url: expected a valid path and query, received ${quoted(target)}`),
      method,
    };
  }
  return { response: handle(request), method };
}

/** Answers the one request of a connection, then closes it. */
async function serveConnection(
  conn: Deno.Conn,
  origin: string,
  handle: (request: Request) => Response,
): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<"expired">((resolve) => {
    timer = setTimeout(() => resolve("expired"), HEAD_TIMEOUT_MS);
  });
  try {
    let head: Head;
    try {
      head = await readHead(conn, expired);
    } finally {
      clearTimeout(timer);
    }
    if ("closed" in head) return;
    const { response, method } = "refuse" in head
      ? { response: head.refuse, method: "GET" }
      : answerLine(head.line, origin, handle);
    const body = new Uint8Array(await response.arrayBuffer());
    const lines = [`HTTP/1.1 ${response.status} ${REASONS[response.status] ?? "Unknown"}`];
    response.headers.forEach((value, name) => {
      if (name !== "content-length" && name !== "connection") lines.push(`${name}: ${value}`);
    });
    lines.push(`content-length: ${body.length}`, "connection: close", "", "");
    const sent = await writeAll(conn, new TextEncoder().encode(lines.join("\r\n"))) &&
      (method === "HEAD" || await writeAll(conn, body));
    if (sent) {
      // Half-close, then read what the client still sends until it closes: closing with unread bytes
      // would reset the connection, and the client could lose the answer.
      await conn.closeWrite().catch(() => {});
      await drain(conn);
    }
  } finally {
    try {
      conn.close();
    } catch { /* closed already */ }
  }
}

/**
 * Serves the browser over HTTP on `hostname` (default 127.0.0.1: this
 * machine only), answering each request with {@linkcode handleFeatureRequest}.
 * The summary is built once; a feature's document is built when it is asked
 * for. See the module documentation for what a malformed request gets.
 *
 * @throws Deno.errors.AddrInUse when the port is taken
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serveFeatureBrowser } from "./server.ts";
 * import type { FeatureBrowser } from "./browser.ts";
 * // A stand-in browser; a real one comes from prepareFeatureBrowser("runs/…").
 * const browser = { componentFolders: [], dSae: 0, summary: () => ({ components: [] }) } as unknown as FeatureBrowser;
 * const server = serveFeatureBrowser(browser); // any free port on 127.0.0.1
 * const page = await fetch(server.url);
 * assert.equal(page.status, 200);
 * assert.ok((await page.text()).includes("saekit"));
 * const long = await fetch(`${server.url}api/search?text=${"a".repeat(20_000)}`);
 * assert.equal(long.status, 414);
 * assert.equal((await long.json()).error, "url: expected at most 8192 bytes of path and query, received more");
 * await server.shutdown();
 * ```
 */
export function serveFeatureBrowser(
  browser: FeatureBrowser,
  options: ServeFeatureOptions = {},
): FeatureServer {
  const summary = browser.summary({ search: true });
  const cached: FeatureBrowser = { ...browser, summary: (o) => o.search ? summary : browser.summary(o) };
  const hostname = options.hostname ?? "127.0.0.1";
  const listener = Deno.listen({ hostname, port: options.port ?? 0, transport: "tcp" });
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  const url = `http://${host}:${listener.addr.port}/`;
  const origin = url.slice(0, -1);
  const open = new Set<Deno.Conn>();
  const handle = (request: Request) => handleFeatureRequest(cached, request);
  let stopping = false;
  const finished = (async () => {
    const answering = new Set<Promise<void>>();
    while (!stopping) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch {
        break; // the listener was closed
      }
      open.add(conn);
      const done: Promise<void> = serveConnection(conn, origin, handle).catch(() => {}).finally(() => {
        open.delete(conn);
        answering.delete(done);
      });
      answering.add(done);
    }
    await Promise.all(answering);
  })();
  const shutdown = async () => {
    if (!stopping) {
      stopping = true;
      try {
        listener.close();
      } catch { /* closed already */ }
      for (const conn of open) {
        try {
          conn.close();
        } catch { /* closed already */ }
      }
    }
    await finished;
  };
  if (options.signal !== undefined) {
    if (options.signal.aborted) void shutdown();
    else options.signal.addEventListener("abort", () => void shutdown(), { once: true });
  }
  return { url, finished, shutdown };
}

/** Options of {@linkcode writeStaticFeatures}. */
export type StaticFeatureOptions = {
  /** Called after each block of features is written, with the count written and the total. */
  readonly onProgress?: (written: number, total: number) => void;
};

/**
 * Writes the page and every document it reads under `out`, replacing `out`
 * only once everything is written: `index.html`, `api/summary.json` and
 * `api/feature/<component>/<id>.json`. Serve the folder with any static file
 * server (browsers do not let a `file://` page fetch its JSON).
 *
 * @returns the number of files written
 *
 * @example
 * ```ts ignore
 * await writeStaticFeatures(browser, "runs/a/features-site");
 * ```
 */
export async function writeStaticFeatures(
  browser: FeatureBrowser,
  out: string,
  options: StaticFeatureOptions = {},
): Promise<number> {
  const summary = browser.summary({ search: false });
  const total = summary.components.reduce((n, c) => n + c.dSae, 0);
  let files = 0;
  // The folder is put in place atomically and flushed as a whole; flushing each of its ~1,300 files too would
  // cost seconds.
  await writeDirAtomic(out, async (dir) => {
    await writeTextAtomic(`${dir}/index.html`, featurePageHtml(), { flush: false });
    await Deno.mkdir(`${dir}/api/feature`, { recursive: true });
    await writeTextAtomic(`${dir}/api/summary.json`, JSON.stringify(summary), { flush: false });
    files = 2;
    for (const [k, component] of summary.components.entries()) {
      const folder = `${dir}/api/feature/${component.folder}`;
      await Deno.mkdir(folder);
      for (let from = 0; from < component.dSae; from += 256) {
        const ids = Array.from({ length: Math.min(256, component.dSae - from) }, (_, i) => from + i);
        for (const doc of browser.features(k, ids)) {
          await writeTextAtomic(`${folder}/${doc.id}.json`, JSON.stringify(doc), { flush: false });
          files++;
        }
        options.onProgress?.(files - 2, total);
      }
    }
  });
  return files;
}
