import { assert } from "../_helpers.ts";
import { prepareFeatureBrowser } from "../../lib/features/cli.ts";
import { handleFeatureRequest, serveFeatureBrowser, writeStaticFeatures } from "../../lib/features/server.ts";
import type { BrowserSummary, FeatureDocument, SearchDocument } from "../../lib/features/browser.ts";
import { tinyRun } from "./_run.ts";

const dir = await tinyRun();
const prepared = await prepareFeatureBrowser(dir, { tokens: 8 * 23 });
const { browser } = prepared;
globalThis.addEventListener("unload", () => prepared.dispose());

async function get(url: string): Promise<{ status: number; type: string; body: string }> {
  const response = await fetch(url);
  return {
    status: response.status,
    type: response.headers.get("content-type") ?? "",
    body: await response.text(),
  };
}

Deno.test("the server answers the page, the summary, a feature on demand and a search, on 127.0.0.1", async () => {
  const server = serveFeatureBrowser(browser, { port: 0 });
  try {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await get(server.url);
    assert.equal(page.status, 200);
    assert.match(page.type, /text\/html/);
    assert.match(page.body, /api\/summary\.json/);
    assert.doesNotMatch(page.body, /https?:\/\/(?!127\.0\.0\.1)/, "the page loads nothing from the network");

    const summary = JSON.parse((await get(`${server.url}api/summary.json`)).body) as BrowserSummary;
    assert.equal(summary.search, true);
    assert.equal(summary.positions, 8 * 23);
    assert.deepEqual(summary.components.map((c) => c.folder), [
      "blocks.0.hook_resid_post",
      "blocks.2.hook_resid_post",
    ]);

    const feature = await get(`${server.url}api/feature/blocks.2.hook_resid_post/7.json`);
    assert.equal(feature.status, 200);
    assert.match(feature.type, /application\/json/);
    const doc = JSON.parse(feature.body) as FeatureDocument;
    assert.deepEqual(doc, JSON.parse(JSON.stringify(browser.features(1, [7])[0])));

    const search = await get(`${server.url}api/search?text=${encodeURIComponent("The cat sat on the mat.")}`);
    assert.equal(search.status, 200);
    const found = JSON.parse(search.body) as SearchDocument;
    assert.equal(found.tokens.slice(1).join(""), " The cat sat on the mat.");
    assert.equal(found.components.length, 2);

    const problems: [string, number, RegExp][] = [
      [
        "api/feature/blocks.9.hook_resid_post/0.json",
        404,
        /component: expected one of blocks\.0\.hook_resid_post/,
      ],
      [
        "api/feature/blocks.0.hook_resid_post/64.json",
        404,
        /feature: expected an id in \[0, 64\), received 64/,
      ],
      ["api/search?text=", 400, /text: expected a non-empty query parameter/],
      ["api/nothing", 404, /path: expected \/, \/api\/summary\.json/],
    ];
    for (const [path, status, message] of problems) {
      const answer = await get(server.url + path);
      assert.equal(answer.status, status, path);
      assert.match(JSON.parse(answer.body).error, message, path);
    }
    const post = await fetch(`${server.url}api/summary.json`, { method: "POST", body: "{}" });
    assert.equal(post.status, 405);
    await post.body?.cancel();
  } finally {
    await server.shutdown();
  }
});

Deno.test("the server stops when its signal is aborted", async () => {
  const controller = new AbortController();
  const server = serveFeatureBrowser(browser, { signal: controller.signal });
  assert.equal((await get(`${server.url}api/summary.json`)).status, 200);
  controller.abort();
  await server.finished;
  await assert.rejects(() => fetch(server.url));
});

Deno.test("writeStaticFeatures() writes the page and one JSON document per feature, the server's documents", async () => {
  const out = `${await Deno.makeTempDir()}/site`;
  const files = await writeStaticFeatures(browser, out);
  assert.equal(files, 2 + 2 * 64);
  assert.match(await Deno.readTextFile(`${out}/index.html`), /api\/summary\.json/);
  const summary = JSON.parse(await Deno.readTextFile(`${out}/api/summary.json`)) as BrowserSummary;
  assert.equal(summary.search, false, "a static host cannot search");
  assert.deepEqual(
    { ...summary, search: true },
    JSON.parse(JSON.stringify(browser.summary({ search: true }))),
  );
  for (const [k, folder] of ["blocks.0.hook_resid_post", "blocks.2.hook_resid_post"].entries()) {
    const names = [];
    for await (const entry of Deno.readDir(`${out}/api/feature/${folder}`)) names.push(entry.name);
    assert.equal(names.length, 64);
    const doc = JSON.parse(await Deno.readTextFile(`${out}/api/feature/${folder}/63.json`));
    assert.deepEqual(doc, JSON.parse(JSON.stringify(browser.features(k, [63])[0])));
  }
  // Writing again replaces the folder whole.
  await writeStaticFeatures(browser, out);
  const top = [];
  for await (const entry of Deno.readDir(out)) top.push(entry.name);
  assert.deepEqual(top.sort(), ["api", "index.html"]);
  await Deno.remove(out.replace(/\/site$/, ""), { recursive: true });
});

/** Sends raw bytes to the server and reads its whole answer: status, headers, body. */
async function raw(url: string, request: string): Promise<{ status: number; head: string; body: string }> {
  const { hostname, port } = new URL(url);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  const bytes = new TextEncoder().encode(request);
  // The server may answer (and stop reading) before the request is all sent.
  const sending = (async () => {
    try {
      for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
    } catch { /* the server closed its side */ }
  })();
  const parts: Uint8Array[] = [];
  const buffer = new Uint8Array(65536);
  try {
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      parts.push(buffer.slice(0, n));
    }
  } catch { /* a reset after the answer */ }
  await sending;
  conn.close();
  const text = new TextDecoder().decode(new Uint8Array(parts.flatMap((p) => [...p])));
  const end = text.indexOf("\r\n\r\n");
  return { status: Number(text.split(" ")[1]), head: text.slice(0, end), body: text.slice(end + 4) };
}

/** Runs `fn` with console.error, console.warn and console.log recorded instead of printed. */
async function quietly(fn: () => Promise<void> | void): Promise<unknown[][]> {
  const printed: unknown[][] = [];
  const saved = { error: console.error, warn: console.warn, log: console.log };
  console.error = console.warn = console.log = (...args: unknown[]) => void printed.push(args);
  try {
    await fn();
  } finally {
    Object.assign(console, saved);
  }
  return printed;
}

Deno.test("a client's mistakes get a short JSON error (400, 404, 405, 414, 431) and print nothing", async () => {
  const server = serveFeatureBrowser(browser);
  const printed = await quietly(async () => {
    try {
      const expectError = (
        answer: { status: number; head: string; body: string },
        status: number,
        error: string,
        what: string,
      ) => {
        assert.equal(answer.status, status, what);
        assert.match(answer.head, /content-type: application\/json/, what);
        assert.deepEqual(JSON.parse(answer.body), { error }, what);
      };
      const viaFetch = async (path: string) => {
        const response = await fetch(server.url + path);
        return {
          status: response.status,
          head: `content-type: ${response.headers.get("content-type")}`,
          body: await response.text(),
        };
      };
      expectError(
        await viaFetch("api/feature/%E0%A4%A/1.json"),
        400,
        'component: expected a name in percent-encoded UTF-8, received "%E0%A4%A"',
        "a truncated UTF-8 sequence",
      );
      expectError(
        await viaFetch("api/feature/%ZZ/1.json"),
        400,
        'component: expected a name in percent-encoded UTF-8, received "%ZZ"',
        "not a percent-encoding",
      );
      // Path and query of exactly 8192 bytes are read (a 404 here); one more byte is a 414.
      const path = (n: number) => `api/nothing?q=${"a".repeat(n - "/api/nothing?q=".length)}`;
      assert.equal((await viaFetch(path(8192))).status, 404);
      expectError(
        await viaFetch(path(8193)),
        414,
        "url: expected at most 8192 bytes of path and query, received 8193",
        "8193 bytes",
      );
      // Longer request lines are refused before they are read whole: 100 kB and 2 MB.
      for (const n of [100_000, 2_000_000]) {
        expectError(
          await raw(server.url, `GET /api/search?text=${"a".repeat(n)} HTTP/1.1\r\nhost: x\r\n\r\n`),
          414,
          "url: expected at most 8192 bytes of path and query, received more",
          `${n} bytes`,
        );
      }
      expectError(
        await raw(server.url, `GET / HTTP/1.1\r\ncookie: ${"c".repeat(70_000)}\r\n\r\n`),
        431,
        "request: expected a request head of at most 65536 bytes, received more",
        "a 70 kB header",
      );
      expectError(
        await raw(server.url, "HELLO\r\n\r\n"),
        400,
        'request: expected "GET /path HTTP/1.1", received "HELLO"',
        "no request line",
      );
      expectError(
        await raw(server.url, "DELETE /api/summary.json HTTP/1.1\r\n\r\n"),
        405,
        'method: expected GET, received "DELETE"',
        "DELETE",
      );
      expectError(
        await raw(server.url, "GET ../../etc/passwd HTTP/1.1\r\n\r\n"),
        400,
        'url: expected a path that starts with /, received "../../etc/passwd"',
        "a relative target",
      );
      // Path traversal: nothing is read from disk, and no variant reaches anything but a 404.
      for (
        const target of [
          "/../../etc/passwd",
          "/%2e%2e/%2e%2e/etc/passwd",
          "/api/feature/..%2F..%2Fetc%2Fpasswd/1.json",
          "/api/feature/../../../etc/passwd",
          "/api/feature/%2e%2e/1.json",
        ]
      ) {
        const answer = await raw(server.url, `GET ${target} HTTP/1.1\r\n\r\n`);
        assert.equal(answer.status, 404, target);
        assert.doesNotMatch(answer.body, /root:/, target);
        assert.ok(answer.body.length < 300, `${target}: a short message`);
      }
      // A client that connects and leaves, or sends half a head, does not stop the server.
      (await Deno.connect({ hostname: "127.0.0.1", port: Number(new URL(server.url).port) })).close();
      const half = await Deno.connect({ hostname: "127.0.0.1", port: Number(new URL(server.url).port) });
      await half.write(new TextEncoder().encode("GET /api/sum"));
      half.close();
      // HEAD: the headers of a GET, no body.
      const get = await raw(server.url, "GET /api/summary.json HTTP/1.1\r\n\r\n");
      const head = await raw(server.url, "HEAD /api/summary.json HTTP/1.1\r\n\r\n");
      assert.equal(head.status, 200);
      assert.equal(head.body, "");
      assert.match(head.head, new RegExp(`content-length: ${new TextEncoder().encode(get.body).length}`));
      assert.equal((await viaFetch("api/summary.json")).status, 200, "the server still answers");
    } finally {
      await server.shutdown();
    }
  });
  assert.deepEqual(printed, [], "nothing printed for a client's mistake");
});

Deno.test("handleFeatureRequest() answers an error of the server with a 500 and one line, no stack trace", async () => {
  const broken = {
    componentFolders: ["c"],
    dSae: 4,
    features: () => {
      throw new Error("boom");
    },
  } as unknown as typeof browser;
  let response: Response | undefined;
  const printed = await quietly(() => {
    response = handleFeatureRequest(broken, new Request("http://x/api/feature/c/0.json"));
  });
  assert.equal(response?.status, 500);
  assert.deepEqual(await response?.json(), { error: "internal error: boom" });
  assert.deepEqual(printed, [['saekit features: internal error answering "/api/feature/c/0.json": boom']]);
});
