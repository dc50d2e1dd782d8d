/**
 * The feature browser on the network and on disk: a local HTTP server
 * (Deno's own) that answers the page and its JSON documents on demand, and a
 * writer of the same documents as static files, so that any static host
 * serves the same page (without the search, which needs the model).
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
 * Answers one request of the browser's page:
 * `GET /` (the page), `GET /api/summary.json`, `GET /api/feature/<component>/<id>.json`,
 * `GET /api/search?text=…`. Anything else is a 404 (or 405 for methods other than GET and HEAD).
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
 * ```
 */
export function handleFeatureRequest(browser: FeatureBrowser, request: Request): Response {
  if (request.method !== "GET" && request.method !== "HEAD") {
    return problem(405, `method: expected GET, received ${request.method}`);
  }
  const url = new URL(request.url);
  const path = url.pathname;
  if (path === "/" || path === "/index.html") {
    return new Response(featurePageHtml(), { headers: { "content-type": "text/html; charset=utf-8" } });
  }
  if (path === "/api/summary.json") return json(browser.summary({ search: true }));
  const feature = /^\/api\/feature\/([^/]+)\/(\d+)\.json$/.exec(path);
  if (feature !== null) {
    const folder = decodeURIComponent(feature[1]);
    const k = browser.componentFolders.indexOf(folder);
    if (k < 0) {
      return problem(
        404,
        `component: expected one of ${browser.componentFolders.join(", ")}, received ${
          JSON.stringify(folder)
        }`,
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
      return problem(400, `text: expected a non-empty query parameter, received ${JSON.stringify(text)}`);
    }
    try {
      return json(browser.search(text));
    } catch (error) {
      return problem(400, error instanceof Error ? error.message : String(error));
    }
  }
  return problem(
    404,
    `path: expected /, /api/summary.json, /api/feature/<component>/<id>.json or /api/search, received ${path}`,
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

/**
 * Serves the browser with `Deno.serve`. The summary is built once; a feature's
 * document is built when it is asked for.
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
  const server = Deno.serve({
    hostname,
    port: options.port ?? 0,
    signal: options.signal,
    onListen: () => {},
  }, (request) => handleFeatureRequest(cached, request));
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return {
    url: `http://${host}:${server.addr.port}/`,
    finished: server.finished,
    shutdown: () => server.shutdown(),
  };
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
