import assert from "node:assert/strict";
import "../_helpers.ts";
import { type BrowserPage, browserTest, decodePng, distinctColours, inkFraction } from "../_browser.ts";
import { type PreparedFeatures, prepareFeatureBrowser } from "../../lib/features/cli.ts";
import { serveFeatureBrowser, writeStaticFeatures } from "../../lib/features/server.ts";
import { tinyRun } from "./_run.ts";

let prepared: Promise<PreparedFeatures> | undefined;
/** The tiny run's browser over 8 windows, built on first use (not at all when chromium is missing). */
function features(): Promise<PreparedFeatures> {
  prepared ??= tinyRun().then((dir) => prepareFeatureBrowser(dir, { tokens: 8 * 23 }));
  return prepared;
}
globalThis.addEventListener("unload", () => void prepared?.then((p) => p.dispose()));

async function assertDrawn(page: BrowserPage, selector: string, what: string): Promise<void> {
  const image = await decodePng(await page.screenshot({ selector }));
  assert.ok(image.width > 100 && image.height > 50, `${what}: ${image.width}×${image.height} px`);
  assert.ok(distinctColours(image) > 2, `${what} is blank (${distinctColours(image)} colours)`);
  assert.ok(inkFraction(image) > 0.02, `${what} is almost blank (ink ${inkFraction(image).toFixed(4)})`);
}

/** Opens the densest feature of the shown component by clicking its row; returns its id. */
async function clickFirstFeature(page: BrowserPage): Promise<number> {
  const id = Number(
    await page.evaluate(`document.querySelector("#features tbody tr").getAttribute("data-feature")`),
  );
  await page.click("#features tbody tr");
  await page.waitFor(`document.querySelectorAll("#contexts .context").length > 0`);
  return id;
}

browserTest(
  "feature browser: the density chart draws, paging works, and clicking a feature shows its contexts",
  async ({ open, errors }) => {
    const { browser } = await features();
    const server = serveFeatureBrowser(browser);
    try {
      const page = await open(server.url);
      await page.waitFor(`document.body.getAttribute("data-ready") === "true"`);
      const summary = browser.summary({ search: true });
      const density = summary.components[0].density;
      // The density histogram is an SVG of bars, drawn.
      assert.ok(
        await page.evaluate<number>(`document.querySelectorAll("#density-chart rect.bar").length`) > 10,
      );
      await assertDrawn(page, "#density-chart svg", "the density chart");
      // 64 features, 50 to a page, densest first.
      assert.equal(await page.evaluate(`document.querySelectorAll("#features tbody tr").length`), 50);
      assert.equal(await page.evaluate(`document.getElementById("page").textContent`), "page 1 of 2");
      const shown = await page.evaluate<number[]>(
        `[...document.querySelectorAll("#features tbody tr")].map((tr) => Number(tr.getAttribute("data-feature")))`,
      );
      const sorted = density.map((d, i) => ({ d, i })).sort((a, b) => b.d - a.d || a.i - b.i).map((e) => e.i);
      assert.deepEqual(shown, sorted.slice(0, 50));
      await page.click("#next");
      assert.equal(await page.evaluate(`document.querySelectorAll("#features tbody tr").length`), 14);
      await page.click("#prev");

      // Clicking the densest feature loads its document and shows its top contexts, highlighted.
      const id = await clickFirstFeature(page);
      const doc = browser.features(0, [id])[0];
      assert.equal(
        await page.evaluate(`document.querySelectorAll("#contexts .context").length`),
        doc.contexts.length,
      );
      assert.match(
        await page.evaluate<string>(`document.querySelector("#feature h2").textContent`),
        new RegExp(`#${id}$`),
      );
      const firstContext = await page.evaluate<string>(
        `document.querySelector("#contexts .context .toks").textContent`,
      );
      assert.equal(firstContext, doc.contexts[0].tokens.join("").replace(/\n/g, "↵"));
      const top = await page.evaluate<string>(
        `getComputedStyle(document.querySelector("#contexts .tok.top")).backgroundColor`,
      );
      assert.match(top, /^rgba\(255, 120, 20, 0\.8/, "the top token is highlighted at full strength");
      assert.equal(await page.evaluate(`document.querySelectorAll(".logits table.up tbody tr").length`), 10);
      assert.equal(await page.evaluate(`location.hash`), `#c=blocks.0.hook_resid_post&f=${id}`);
      assert.ok(
        await page.evaluate<number>(`document.querySelectorAll("#feature svg.histogram rect.bar").length`) >
          0,
      );
      await assertDrawn(page, "#feature svg.histogram", "the activation histogram");
      await assertDrawn(page, "#contexts", "the contexts");

      // Another component, then a search whose result opens a feature.
      await page.evaluate(
        `(() => { const s = document.getElementById("component"); s.value = "1"; s.dispatchEvent(new Event("change")); })()`,
      );
      const second = await page.evaluate<string>(
        `document.querySelector("#features tbody tr").getAttribute("data-feature")`,
      );
      const density1 = summary.components[1].density;
      assert.equal(Number(second), density1.indexOf(Math.max(...density1)));
      await page.evaluate(`document.getElementById("search-text").value = "The little dog ran to the park."`);
      await page.click("#search-form button");
      await page.waitFor(`document.querySelectorAll("#search-results .result a").length > 0`);
      const link = await page.evaluate<{ k: string; id: string }>(
        `(() => { const a = document.querySelector("#search-results .result a"); return { k: a.getAttribute("data-k"), id: a.getAttribute("data-id") }; })()`,
      );
      await page.click("#search-results .result a");
      await page.waitFor(
        `(document.querySelector("#feature h2") || {}).textContent === ${
          JSON.stringify(`${summary.components[Number(link.k)].name} · feature #${link.id}`)
        }`,
      );
      // The address of a feature opens it directly.
      const linked = await open(`${server.url}#c=blocks.2.hook_resid_post&f=5`);
      await linked.waitFor(
        `document.querySelector("#feature h2") && document.querySelector("#feature h2").textContent.endsWith("#5")`,
      );
      assert.deepEqual(errors, []);
    } finally {
      await server.shutdown();
    }
  },
);

browserTest(
  "feature browser: the static files show the same page, without the search",
  async ({ open, errors }) => {
    const { browser } = await features();
    const out = `${await Deno.makeTempDir()}/site`;
    await writeStaticFeatures(browser, out);
    // A plain static file server, as any static host would be.
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
      const path = new URL(request.url).pathname;
      try {
        const body = await Deno.readFile(`${out}${path === "/" ? "/index.html" : decodeURIComponent(path)}`);
        return new Response(body, {
          headers: { "content-type": path.endsWith(".json") ? "application/json" : "text/html" },
        });
      } catch {
        return new Response("not found", { status: 404 });
      }
    });
    try {
      const page = await open(`http://127.0.0.1:${server.addr.port}/`);
      await page.waitFor(`document.body.getAttribute("data-ready") === "true"`);
      assert.equal(await page.evaluate(`document.getElementById("search-form").hidden`), true);
      await assertDrawn(page, "#density-chart svg", "the density chart");
      const id = await clickFirstFeature(page);
      assert.equal(
        await page.evaluate(`document.querySelectorAll("#contexts .context").length`),
        browser.features(0, [id])[0].contexts.length,
      );
      await assertDrawn(page, "#feature", "the feature panel");
      assert.deepEqual(errors, []);
    } finally {
      await server.shutdown();
      await Deno.remove(out.replace(/\/site$/, ""), { recursive: true });
    }
  },
);
