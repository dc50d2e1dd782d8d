/**
 * The tests run in any clone: nothing under tests/ reads the project workspace's shared folder (which a
 * user's clone does not have), and the third-party files that replace it, under tests/fixtures/, are all
 * there, whole, and listed with their source and licence in tests/fixtures/README.md.
 */
import { assert } from "./_helpers.ts";

const TESTS = new URL("./", import.meta.url);
const FIXTURES = new URL("./fixtures/", import.meta.url);

/**
 * A reference to the shared folder: a path containing `..` or `/work`, then `/shared`. Built from pieces,
 * so that this file's own text does not match it.
 */
const SHARED_REFERENCE = new RegExp(["\\.\\.", "/work"].map((head) => `${head}/${"shared"}`).join("|"));

/** Every fixture file (relative to tests/fixtures/) that the tests need, besides the README. */
const FIXTURE_FILES = [
  "stories260K/LICENSE",
  "stories260K/greedy_200_expected.txt",
  "stories260K/hf/config.json",
  "stories260K/hf/model.safetensors",
  "stories260K/hf/tokenizer.json",
  "stories260K/hf/tokenizer_config.json",
  "tokenizers/gpt2/LICENSE",
  "tokenizers/gpt2/tokenizer.json",
  "tokenizers/gpt_neox_20b/LICENSE",
  "tokenizers/gpt_neox_20b/tokenizer.json",
];

/** The paths (relative to `root`, `/`-separated, sorted) of every file below `root`. */
async function filesBelow(root: URL, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(new URL(prefix, root))) {
    const path = `${prefix}${entry.name}`;
    if (entry.isDirectory) out.push(...await filesBelow(root, `${path}/`));
    else out.push(path);
  }
  return out.sort();
}

/** `file:line: text` for every line of `text` that refers to the shared folder. */
function sharedReferences(file: string, text: string): string[] {
  return text.split("\n").flatMap((line, i) =>
    SHARED_REFERENCE.test(line) ? [`${file}:${i + 1}: ${line.trim().slice(0, 160)}`] : []
  );
}

Deno.test("the shared-folder pattern matches both spellings and nothing else", () => {
  const dots = ["..", "shared"].join("/");
  const absolute = ["", "work", "shared"].join("/");
  assert.ok(SHARED_REFERENCE.test(`new URL("../../${dots}/models/", import.meta.url)`));
  assert.ok(SHARED_REFERENCE.test(`read ${absolute}/tokenizers/README.md`));
  assert.ok(SHARED_REFERENCE.test(`${absolute}`));
  assert.ok(!SHARED_REFERENCE.test(`new URL("../fixtures/stories260K/hf/", import.meta.url)`));
  assert.ok(!SHARED_REFERENCE.test("the shared classifier; a shared array"));
  assert.deepEqual(sharedReferences("x_test.ts", `a\nconst S = "${dots}/";\nb`), [
    `x_test.ts:2: const S = "${dots}/";`,
  ]);
});

Deno.test("no file under tests/ refers to the shared folder, which a clone does not have", async () => {
  const files = await filesBelow(TESTS);
  assert.ok(
    files.includes("fixtures_test.ts"),
    `expected to list tests/ itself, received ${files.length} files`,
  );
  const decoder = new TextDecoder();
  const found: string[] = [];
  for (const file of files) {
    found.push(
      ...sharedReferences(`tests/${file}`, decoder.decode(await Deno.readFile(new URL(file, TESTS)))),
    );
  }
  assert.deepEqual(
    found,
    [],
    `expected no reference to the shared folder under tests/ (use tests/fixtures/), found ${found.length}:\n${
      found.join("\n")
    }`,
  );
});

/** The rows of the README's file table: name → stated bytes and SHA-256 (undefined for "—"). */
function readmeTable(readme: string): Map<string, { bytes?: number; sha256?: string }> {
  const rows = new Map<string, { bytes?: number; sha256?: string }>();
  for (const line of readme.split("\n")) {
    const cells = line.split("|").slice(1, -1).map((c) => c.trim());
    const name = /^`([^`]+)`$/.exec(cells[0] ?? "")?.[1];
    if (name === undefined) continue;
    const bytes = cells.at(-2)!.replaceAll(",", "");
    const sha = /^`([0-9a-f]{64})`$/.exec(cells.at(-1)!)?.[1];
    rows.set(name, { bytes: /^\d+$/.test(bytes) ? Number(bytes) : undefined, sha256: sha });
  }
  return rows;
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("every fixture file is there, whole, and listed in tests/fixtures/README.md", async () => {
  for (const file of FIXTURE_FILES) {
    const info = await Deno.stat(new URL(file, FIXTURES)).catch(() => undefined);
    assert.ok(info?.isFile, `tests/fixtures/${file}: expected a file, found none`);
  }
  // Sizes stated by the publisher of the stories260K files: a truncated copy fails here.
  const size = async (file: string) => (await Deno.stat(new URL(file, FIXTURES))).size;
  assert.equal(
    await size("stories260K/greedy_200_expected.txt"),
    464,
    "tests/fixtures/stories260K/greedy_200_expected.txt: expected 464 bytes",
  );
  assert.equal(
    await size("stories260K/hf/model.safetensors"),
    1_044_992,
    "tests/fixtures/stories260K/hf/model.safetensors: expected 1,044,992 bytes",
  );

  // The README lists exactly the files there are, each with its size and hash.
  const present = await filesBelow(FIXTURES);
  assert.deepEqual(present, [...FIXTURE_FILES, "README.md"].sort(), "tests/fixtures/: files");
  const table = readmeTable(await Deno.readTextFile(new URL("README.md", FIXTURES)));
  assert.deepEqual([...table.keys()].sort(), present, "tests/fixtures/README.md: the files its table lists");
  for (const file of FIXTURE_FILES) {
    const stated = table.get(file)!;
    assert.ok(
      stated.bytes !== undefined && stated.sha256 !== undefined,
      `tests/fixtures/README.md: the row of ${file} expected a size and a SHA-256, received ${
        JSON.stringify(stated)
      }`,
    );
    const bytes = await Deno.readFile(new URL(file, FIXTURES));
    assert.equal(bytes.length, stated.bytes, `tests/fixtures/${file}: expected ${stated.bytes} bytes`);
    assert.equal(await sha256(bytes), stated.sha256, `tests/fixtures/${file}: SHA-256`);
  }
});
