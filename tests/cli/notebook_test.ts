import assert from "node:assert/strict";
import { JUPYTER_STAND_IN, type MimeBundle, notebookModule, runNotebook } from "../../lib/cli/notebook.ts";

const base = new URL("file:///work/examples/a.ipynb");

Deno.test("notebookModule() joins the code cells in order and skips the others", () => {
  const code = notebookModule({
    cells: [
      { cell_type: "code", source: ["const a = 1;\n", "const b = a + 1;"] },
      { cell_type: "markdown", source: "const skipped = 0;" },
      { cell_type: "raw", source: "not code" },
      { cell_type: "code", source: "console.log(b);" },
    ],
  }, base);
  const a = code.indexOf("const a = 1;\nconst b = a + 1;"), b = code.indexOf("console.log(b);");
  assert.ok(a >= 0 && b > a, code);
  assert.ok(!code.includes("skipped") && !code.includes("not code"));
  assert.ok(code.includes("// cell 0") && code.includes("// cell 3") && !code.includes("// cell 1"));
});

Deno.test("notebookModule() makes relative specifiers absolute against the notebook and leaves others", () => {
  const code = notebookModule({
    cells: [{
      cell_type: "code",
      source: [
        'import { f } from "./f.ts";\n',
        "import '../side.ts';\n",
        'export { g } from "../lib/g.ts";\n',
        'const h = await import("./h.ts");\n',
        'import { tf } from "@saekit/saekit";\n',
        'import x from "npm:x@1";\n',
      ],
    }],
  }, base);
  assert.ok(code.includes('from "file:///work/examples/f.ts"'));
  assert.ok(code.includes("import 'file:///work/side.ts'"));
  assert.ok(code.includes('from "file:///work/lib/g.ts"'));
  assert.ok(code.includes('import("file:///work/examples/h.ts")'));
  assert.ok(code.includes('from "@saekit/saekit"') && code.includes('from "npm:x@1"'));
});

Deno.test("notebookModule() points Deno.jupyter at the stand-in", () => {
  const code = notebookModule({
    cells: [{ cell_type: "code", source: "await Deno.jupyter.display(Deno.jupyter.html`<b>x</b>`);" }],
  }, base);
  const cell = code.slice(code.indexOf("// cell 0"));
  assert.equal(cell, "// cell 0\nawait __jupyter.display(__jupyter.html`<b>x</b>`);\nexport {};\n");
  assert.ok(code.includes(`Symbol.for("${JUPYTER_STAND_IN.description}")`));
});

Deno.test("notebookModule() rejects what is not a notebook", () => {
  assert.throws(
    () => notebookModule({ worksheets: [] }, base),
    /expected a Jupyter notebook with a "cells" array/,
  );
  assert.throws(() => notebookModule(null, base), TypeError);
  assert.throws(
    () => notebookModule({ cells: [{ cell_type: "code", source: 3 }] }, base),
    /cells\[0\]\.source: expected a string or an array of strings, received number/,
  );
});

function notebookFile(dir: string, cells: string[]): string {
  const path = `${dir}/nb.ipynb`;
  const notebook = {
    cells: cells.map((source) => ({ cell_type: "code", metadata: {}, outputs: [], source })),
    metadata: { kernelspec: { name: "deno", display_name: "Deno", language: "typescript" } },
    nbformat: 4,
    nbformat_minor: 5,
  };
  Deno.writeTextFileSync(path, JSON.stringify(notebook));
  return path;
}

Deno.test("runNotebook() runs the cells as one module and hands over every display", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/helper.ts`, "export const twice = (n: number): number => 2 * n;\n");
    const path = notebookFile(dir, [
      'import { twice } from "./helper.ts";\nconst n: number = twice(21);',
      'await Deno.jupyter.display({ "image/svg+xml": `<svg>${n}</svg>` }, { raw: true });',
      "await Deno.jupyter.display(Deno.jupyter.html`<p>${n + 1}</p>`);\nawait Deno.jupyter.display([n]);",
      "await Deno.jupyter.display(Deno.jupyter.md`**${n}**`);",
    ]);
    const shown: [MimeBundle, number][] = [];
    const result = await runNotebook(path, { onDisplay: (bundle, i) => void shown.push([bundle, i]) });
    assert.deepEqual(result, { cells: 4, displays: 4 });
    assert.deepEqual(shown, [
      [{ "image/svg+xml": "<svg>42</svg>" }, 0],
      [{ "text/html": "<p>43</p>" }, 1],
      [{ "text/plain": "[ 42 ]" }, 2],
      [{ "text/markdown": "**42**" }, 3],
    ]);
    assert.equal((globalThis as unknown as Record<symbol, unknown>)[JUPYTER_STAND_IN], undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runNotebook() rejects with the error of a failing cell and runs no cell after it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = notebookFile(dir, [
      'throw new RangeError("cell failed");',
      'await Deno.jupyter.display({ "text/plain": "after" }, { raw: true });',
    ]);
    let displays = 0;
    await assert.rejects(runNotebook(path, { onDisplay: () => void displays++ }), RangeError);
    assert.equal(displays, 0);
    assert.equal((globalThis as unknown as Record<symbol, unknown>)[JUPYTER_STAND_IN], undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
