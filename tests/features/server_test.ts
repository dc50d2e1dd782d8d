import { assert } from "../_helpers.ts";
import { prepareFeatureBrowser } from "../../lib/features/cli.ts";
import { serveFeatureBrowser, writeStaticFeatures } from "../../lib/features/server.ts";
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
