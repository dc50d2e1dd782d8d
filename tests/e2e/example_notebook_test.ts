/**
 * The example notebook runs end to end, without Jupyter (CI also runs it in
 * Jupyter's own headless runner when it can install one: see `.ci/run`).
 * The notebook checks its own results in its last cell.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { type MimeBundle, runNotebook } from "../../lib/cli/notebook.ts";

const NOTEBOOK = fileURLToPath(new URL("../../examples/train_stories260k.ipynb", import.meta.url));

Deno.test("examples/train_stories260k.ipynb trains two SAEs on stories260K and draws its charts", async () => {
  const shown: MimeBundle[] = [];
  const { cells, displays } = await runNotebook(NOTEBOOK, { onDisplay: (bundle) => void shown.push(bundle) });
  assert.ok(cells >= 10, `expected the notebook's code cells, received ${cells}`);
  assert.equal(displays, 3);
  const [loss, density, table] = shown;
  for (const chart of [loss, density]) {
    const svg = chart["image/svg+xml"];
    assert.ok(typeof svg === "string" && svg.startsWith("<svg") && svg.endsWith("</svg>"));
  }
  assert.match(loss["image/svg+xml"] as string, /Training loss/);
  assert.match(density["image/svg+xml"] as string, /Feature density/);
  assert.match(table["text/markdown"] as string, /^\| penalty \| L0 \|/);
  assert.match(table["text/markdown"] as string, /\| L1 \|[^\n]*\n\| tanh \|/);
});
