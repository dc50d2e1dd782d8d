/**
 * downloadHubModel() against the fake Hugging Face Hub of tests/_fake_hub.ts on 127.0.0.1: the same
 * `@huggingface/hub` requests as against huggingface.co (`modelInfo`, `pathsInfo`,
 * `downloadFileToCacheDir`), only the `hubUrl` differs. Files land in the standard Hugging Face cache,
 * the one Python's `huggingface_hub` uses: `models--owner--name/blobs/{etag}`,
 * `snapshots/{commit}/{path}` (links to the blobs) and `refs/{revision}`.
 *
 * The blob names are checked against ids computed here from the bytes (SHA-256 for LFS files, the
 * git blob id `SHA-1("blob {size}\0" + bytes)` for the others), as the Hub defines them.
 */
import { assert, tf } from "../_helpers.ts";
import { type FakeHub, serveFakeHub } from "../_fake_hub.ts";
import {
  DEFAULT_HUB_URL,
  defaultHubCacheDir,
  downloadHubModel,
  hubRepoCacheDir,
  hubSnapshotDir,
  isHubModelId,
  parseHubModelId,
} from "../../lib/models/load/hub.ts";
import { loadHfLlama } from "../../lib/models/load/hf_llama.ts";
import { loadModel } from "../../lib/models/load/model.ts";
import { llamaForward } from "../../lib/models/transformer.ts";
import { encodeSafetensors, type SafetensorsEntry } from "../../lib/io/safetensors.ts";

// The tests must not pick up a developer's own Hub settings, nor write to their cache.
const HUB_ENV = [
  "HF_TOKEN",
  "HUGGING_FACE_HUB_TOKEN",
  "HF_ENDPOINT",
  "HF_HUB_OFFLINE",
  "HF_HUB_CACHE",
  "HUGGINGFACE_HUB_CACHE",
  "HF_HOME",
];
for (const name of HUB_ENV) Deno.env.delete(name);

/** stories260K converted to a Hugging Face Llama folder (config, safetensors, tokenizer files). */
const FIXTURE = new URL("../fixtures/stories260K/hf/", import.meta.url);
const FIXTURE_FILES = ["config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"];

// The fake Hub listens on 127.0.0.1: without that permission the download tests cannot run.
const netAllowed = (await Deno.permissions.query({ name: "net", host: "127.0.0.1" })).state === "granted";
if (!netAllowed) {
  console.log(
    "skipping the download tests: they serve a fake Hub on 127.0.0.1 (run with --allow-net=127.0.0.1)",
  );
}
/** A download test: it needs the fake Hub, so it is skipped without network permission for 127.0.0.1. */
function hubTest(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, ignore: !netAllowed, fn });
}

const encoder = new TextEncoder();
const json = (value: unknown) => encoder.encode(JSON.stringify(value));

async function hex(algorithm: "SHA-1" | "SHA-256", bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest(algorithm, new Uint8Array(bytes));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}
/** The Hub's name for a file stored in git: the git blob id. */
function gitId(bytes: Uint8Array): Promise<string> {
  return hex("SHA-1", new Uint8Array([...encoder.encode(`blob ${bytes.length}\0`), ...bytes]));
}
/** The Hub's name for a file stored in LFS: its SHA-256. */
function lfsId(bytes: Uint8Array): Promise<string> {
  return hex("SHA-256", bytes);
}

/** Sets environment variables (undefined: deletes) while `fn` runs, then puts them back. */
async function withEnv(vars: Record<string, string | undefined>, fn: () => Promise<void>): Promise<void> {
  const saved = Object.fromEntries(Object.keys(vars).map((name) => [name, Deno.env.get(name)]));
  const set = (values: Record<string, string | undefined>) => {
    for (const [name, value] of Object.entries(values)) {
      if (value === undefined) Deno.env.delete(name);
      else Deno.env.set(name, value);
    }
  };
  set(vars);
  try {
    await fn();
  } finally {
    set(saved);
  }
}

async function withCache(fn: (cacheDir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "saekit_hub_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function withHub(fn: (hub: FakeHub, cacheDir: string) => Promise<void>): Promise<void> {
  const hub = serveFakeHub();
  try {
    await withCache((cacheDir) => fn(hub, cacheDir));
  } finally {
    await hub.close();
  }
}

/** The address of a Hub that is not there (connection refused). */
async function goneHubUrl(): Promise<string> {
  const gone = serveFakeHub();
  await gone.close();
  return gone.url;
}

/** Every file under `dir` (links included, not followed), relative to it, sorted. */
async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = `${prefix}${entry.name}`;
    if (entry.isDirectory) out.push(...await listFiles(`${dir}/${entry.name}`, `${path}/`));
    else out.push(path);
  }
  return out.sort();
}

/** The requests that fetch file contents (the resolve endpoint and the CDN), not metadata. */
const fileRequests = (requests: string[]) =>
  requests.filter((r) => r.includes("/resolve/") || r.includes("/cdn/"));

function weights(n: number, seed: number): SafetensorsEntry {
  return { dtype: "F32", shape: [n], data: Float32Array.from({ length: n }, (_, i) => Math.sin(i + seed)) };
}

const CONFIG = json({ model_type: "llama", hidden_size: 8 });
const TOKENIZER = json({ version: "1.0", model: { type: "BPE", vocab: {}, merges: [] } });
const TOKENIZER_CONFIG = json({ bos_token: "<s>" });
const SINGLE = encodeSafetensors({ w: weights(16, 1) });

function tinyFiles(extra: Record<string, Uint8Array> = {}): Record<string, Uint8Array> {
  return {
    "config.json": CONFIG,
    "tokenizer.json": TOKENIZER,
    "tokenizer_config.json": TOKENIZER_CONFIG,
    "model.safetensors": SINGLE,
    "README.md": encoder.encode("# tiny\n"),
    ...extra,
  };
}

const SHARD_ONE = encodeSafetensors({ a: weights(8, 2), b: weights(4, 3) });
const SHARD_TWO = encodeSafetensors({ c: weights(8, 4) });
function shardedFiles(): Record<string, Uint8Array> {
  const index = {
    metadata: { total_size: 80 },
    weight_map: {
      a: "model-00001-of-00002.safetensors",
      b: "model-00001-of-00002.safetensors",
      c: "model-00002-of-00002.safetensors",
    },
  };
  return {
    "config.json": CONFIG,
    "tokenizer.json": TOKENIZER,
    "model.safetensors.index.json": json(index),
    "model-00001-of-00002.safetensors": SHARD_ONE,
    "model-00002-of-00002.safetensors": SHARD_TWO,
    "pytorch_model.bin": encoder.encode("not read"),
  };
}

Deno.test("parseHubModelId() and isHubModelId() tell Hub ids from paths", () => {
  assert.deepEqual(parseHubModelId("EleutherAI/pythia-70m"), {
    repo: "EleutherAI/pythia-70m",
    revision: "main",
  });
  assert.deepEqual(parseHubModelId("roneneldan/TinyStories-1M@v1.0"), {
    repo: "roneneldan/TinyStories-1M",
    revision: "v1.0",
  });
  assert.deepEqual(parseHubModelId("a/b@refs/pr/1"), { repo: "a/b", revision: "refs/pr/1" });
  for (
    const spec of [
      "stories260k",
      "./EleutherAI/pythia-70m",
      "../EleutherAI/pythia-70m",
      "/models/pythia-70m",
      "~/models/pythia",
      "a/b/c",
      "a//b",
      "a/b@",
      "a/b@..",
      "a/b@refs/../../x",
      "a/b@x//y",
      "a/b@x/",
      "a/b@has space",
      "a--x/b",
      "a/b..c",
      "a/-b",
      "runs/stories15M.bin",
      "out/model.safetensors",
      "C:\\models\\x",
      "",
    ]
  ) {
    assert.equal(parseHubModelId(spec), undefined, `parseHubModelId(${JSON.stringify(spec)})`);
    assert.equal(isHubModelId(spec), false, `isHubModelId(${JSON.stringify(spec)})`);
  }
  assert.equal(isHubModelId("EleutherAI/pythia-70m"), true);
  assert.equal(isHubModelId("roneneldan/TinyStories-1M@main"), true);
  // An existing folder of the same shape is a path (relative to where the tests run).
  let here = true;
  try {
    Deno.statSync("lib/models");
  } catch {
    here = false;
  }
  assert.equal(isHubModelId("lib/models"), !here);
});

Deno.test(
  "defaultHubCacheDir() follows Python's rules: HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, HF_HOME, XDG_CACHE_HOME, HOME",
  async () => {
    await withEnv({
      HF_HUB_CACHE: "/a",
      HUGGINGFACE_HUB_CACHE: "/b",
      HF_HOME: "/c",
      XDG_CACHE_HOME: "/x",
      HOME: "/h",
    }, async () => {
      assert.equal(defaultHubCacheDir(), "/a");
      Deno.env.delete("HF_HUB_CACHE");
      assert.equal(defaultHubCacheDir(), "/b");
      Deno.env.delete("HUGGINGFACE_HUB_CACHE");
      assert.equal(defaultHubCacheDir(), "/c/hub");
      Deno.env.delete("HF_HOME");
      assert.equal(defaultHubCacheDir(), "/x/huggingface/hub");
      Deno.env.delete("XDG_CACHE_HOME");
      assert.equal(defaultHubCacheDir(), "/h/.cache/huggingface/hub");
      // A leading ~ is the home folder, as Python's os.path.expanduser reads it.
      Deno.env.set("HF_HOME", "~/hf");
      assert.equal(defaultHubCacheDir(), "/h/hf/hub");
      Deno.env.set("HF_HUB_CACHE", "~/hub-cache");
      assert.equal(defaultHubCacheDir(), "/h/hub-cache");
      Deno.env.delete("HF_HUB_CACHE");
      Deno.env.delete("HF_HOME");
      assert.equal(hubRepoCacheDir("a/b"), "/h/.cache/huggingface/hub/models--a--b");
      await Promise.resolve();
    });
    assert.equal(DEFAULT_HUB_URL, "https://huggingface.co");
  },
);

Deno.test("hubSnapshotDir() names the commit a spec resolves to in the cache", async () => {
  const commit = "0123456789abcdef0123456789abcdef01234567";
  assert.equal(
    hubSnapshotDir(`EleutherAI/pythia-70m@${commit}`, "/c/"),
    `/c/models--EleutherAI--pythia-70m/snapshots/${commit}`,
  );
  assert.throws(
    () => hubSnapshotDir("./x", "/c"),
    (e: unknown) =>
      e instanceof TypeError &&
      e.message === `Hugging Face model id: expected "owner/name" or "owner/name@revision", received "./x"`,
  );
  await withCache(async (cacheDir) => {
    assert.equal(hubSnapshotDir("a/b@refs/pr/1", cacheDir), undefined);
    await Deno.mkdir(`${cacheDir}/models--a--b/refs/refs/pr`, { recursive: true });
    await Deno.writeTextFile(`${cacheDir}/models--a--b/refs/refs/pr/1`, commit);
    assert.equal(hubSnapshotDir("a/b@refs/pr/1", cacheDir), `${cacheDir}/models--a--b/snapshots/${commit}`);
    // A ref that does not hold a commit id is no snapshot.
    await Deno.writeTextFile(`${cacheDir}/models--a--b/refs/main`, "not a commit");
    assert.equal(hubSnapshotDir("a/b", cacheDir), undefined);
  });
});

hubTest(
  "downloadHubModel() fetches config, tokenizer files and model.safetensors into $HF_HUB_CACHE, in the standard layout",
  async () => {
    await withHub(async (hub, cacheDir) => {
      const commit = hub.addRepo("acme/tiny", tinyFiles());
      const progress: string[] = [];
      let dir = "";
      await withEnv({ HF_HUB_CACHE: cacheDir }, async () => {
        dir = await downloadHubModel("acme/tiny", {
          hubUrl: `${hub.url}/`,
          onProgress: (file, bytes) => progress.push(`${file} ${bytes}`),
        });
      });
      const storage = `${cacheDir}/models--acme--tiny`;
      assert.equal(dir, `${storage}/snapshots/${commit}`);
      // Each file once in blobs/, named as the Hub names it; the snapshot links to it; README.md is not
      // fetched; no temporary file is left.
      const ids = {
        "config.json": await gitId(CONFIG),
        "tokenizer.json": await gitId(TOKENIZER),
        "tokenizer_config.json": await gitId(TOKENIZER_CONFIG),
        "model.safetensors": await lfsId(SINGLE),
      };
      assert.deepEqual(
        await listFiles(storage),
        [
          ...Object.values(ids).map((id) => `blobs/${id}`),
          "refs/main",
          ...Object.keys(ids).map((file) => `snapshots/${commit}/${file}`),
        ].sort(),
      );
      for (const [file, id] of Object.entries(ids)) {
        assert.equal(await Deno.readLink(`${dir}/${file}`), `../../blobs/${id}`, file);
      }
      assert.equal(await Deno.readTextFile(`${storage}/refs/main`), commit);
      assert.deepEqual(await Deno.readFile(`${dir}/config.json`), CONFIG);
      assert.deepEqual(await Deno.readFile(`${dir}/tokenizer.json`), TOKENIZER);
      assert.deepEqual(await Deno.readFile(`${dir}/tokenizer_config.json`), TOKENIZER_CONFIG);
      assert.deepEqual(await Deno.readFile(`${dir}/model.safetensors`), SINGLE);
      assert.deepEqual(progress, [
        `config.json ${CONFIG.length}`,
        `tokenizer.json ${TOKENIZER.length}`,
        `tokenizer_config.json ${TOKENIZER_CONFIG.length}`,
        `model.safetensors ${SINGLE.length}`,
      ]);
      // The revision resolved to its commit, one look at the files needed, then per file
      // downloadFileToCacheDir's requests at that commit: paths-info, a one-byte range request for
      // size and ETag, the download (safetensors through the CDN's redirect).
      const api = "/api/models/acme/tiny";
      const r = `/acme/tiny/resolve/${commit}`;
      const cdn = `/cdn/acme/tiny/${commit}/model.safetensors`;
      assert.deepEqual(hub.requests, [
        `GET ${api}/revision/main`,
        `POST ${api}/paths-info/${commit}`,
        ...["config.json", "tokenizer.json", "tokenizer_config.json"].flatMap((file) => [
          `POST ${api}/paths-info/${commit}`,
          `GET ${r}/${file} (range)`,
          `GET ${r}/${file}`,
        ]),
        `POST ${api}/paths-info/${commit}`,
        `GET ${r}/model.safetensors (range)`,
        `GET ${cdn} (range)`,
        `GET ${cdn}`,
      ]);

      // Loaded again: the revision is resolved (the branch may have moved), nothing else.
      const before = await Deno.lstat(`${dir}/config.json`);
      const seen = hub.requests.length;
      assert.equal(await downloadHubModel("acme/tiny", { cacheDir, hubUrl: hub.url }), dir);
      assert.deepEqual(hub.requests.slice(seen), [`GET ${api}/revision/main`]);
      assert.deepEqual((await Deno.lstat(`${dir}/config.json`)).mtime, before.mtime);
    });
  },
);

hubTest("downloadHubModel() follows a branch that moved, fetching only the files that changed", async () => {
  await withHub(async (hub, cacheDir) => {
    const options = { cacheDir, hubUrl: hub.url };
    const first = hub.addRepo("acme/tiny", tinyFiles());
    const old = await downloadHubModel("acme/tiny", options);
    const newConfig = json({ model_type: "llama", hidden_size: 16 });
    const second = hub.commit("acme/tiny", tinyFiles({ "config.json": newConfig }));
    const seen = hub.requests.length;
    const progress: string[] = [];
    const dir = await downloadHubModel("acme/tiny", { ...options, onProgress: (f) => progress.push(f) });
    const storage = `${cacheDir}/models--acme--tiny`;
    assert.equal(dir, `${storage}/snapshots/${second}`);
    assert.equal(old, `${storage}/snapshots/${first}`);
    assert.equal(await Deno.readTextFile(`${storage}/refs/main`), second);
    assert.deepEqual(await Deno.readFile(`${dir}/config.json`), newConfig);
    assert.deepEqual(await Deno.readFile(`${old}/config.json`), CONFIG);
    // The unchanged files are linked to the blobs already there: only config.json is downloaded.
    assert.deepEqual(progress, ["config.json"]);
    assert.deepEqual(fileRequests(hub.requests.slice(seen)), [
      `GET /acme/tiny/resolve/${second}/config.json (range)`,
      `GET /acme/tiny/resolve/${second}/config.json`,
    ]);
    assert.equal(await Deno.readLink(`${dir}/model.safetensors`), `../../blobs/${await lfsId(SINGLE)}`);
    assert.equal((await listFiles(`${storage}/blobs`)).length, 5); // 4 files, one of them in two versions
  });
});

hubTest("downloadHubModel() takes a tag, a pull-request ref or a commit after @", async () => {
  await withHub(async (hub, cacheDir) => {
    const options = { cacheDir, hubUrl: hub.url };
    const main = hub.addRepo("acme/tiny", tinyFiles());
    const v1Config = json({ model_type: "llama", hidden_size: 4 });
    const v1 = hub.commit("acme/tiny", tinyFiles({ "config.json": v1Config }), "v1");
    const pr = hub.commit("acme/tiny", tinyFiles({ "tokenizer_config.json": json({}) }), "refs/pr/1");
    const storage = `${cacheDir}/models--acme--tiny`;

    const tagged = await downloadHubModel("acme/tiny@v1", options);
    assert.equal(tagged, `${storage}/snapshots/${v1}`);
    assert.deepEqual(await Deno.readFile(`${tagged}/config.json`), v1Config);
    assert.equal(await Deno.readTextFile(`${storage}/refs/v1`), v1);

    const seen = hub.requests.length;
    const fromPr = await downloadHubModel("acme/tiny@refs/pr/1", options);
    assert.equal(fromPr, `${storage}/snapshots/${pr}`);
    assert.equal(hub.requests[seen], "GET /api/models/acme/tiny/revision/refs%2Fpr%2F1");
    assert.equal(await Deno.readTextFile(`${storage}/refs/refs/pr/1`), pr);

    // A commit not in the cache yet: downloaded into its snapshot, no ref written.
    const pinned = await downloadHubModel(`acme/tiny@${main}`, options);
    assert.equal(pinned, `${storage}/snapshots/${main}`);
    assert.deepEqual(await Deno.readFile(`${pinned}/config.json`), CONFIG);
    assert.deepEqual(await listFiles(`${storage}/refs`), ["refs/pr/1", "v1"]);
    // Now in the cache: no request at all.
    const mark = hub.requests.length;
    assert.equal(await downloadHubModel(`acme/tiny@${main}`, options), pinned);
    assert.equal(await downloadHubModel(`acme/tiny@${v1}`, options), tagged);
    assert.deepEqual(hub.requests.slice(mark), []);

    await assert.rejects(
      () => downloadHubModel("acme/tiny@nope", options),
      (e: unknown) =>
        e instanceof Error &&
        e.message.startsWith(
          `Hugging Face model acme/tiny@nope: revision "nope" not found in acme/tiny (HTTP 404 RevisionNotFound for ${hub.url}/api/models/acme/tiny/revision/nope?`,
        ),
    );
  });
});

/**
 * Lays out the cache as Python's `huggingface_hub` leaves it after `snapshot_download` or
 * `from_pretrained`: each file in `blobs/` under the Hub's id, relative links in
 * `snapshots/{commit}/`, and `refs/main` holding the commit (no newline).
 */
async function pythonCache(
  cacheDir: string,
  repo: string,
  commit: string,
  files: Record<string, Uint8Array>,
): Promise<string> {
  const storage = `${cacheDir}/models--${repo.replace("/", "--")}`;
  const snapshot = `${storage}/snapshots/${commit}`;
  await Deno.mkdir(`${storage}/blobs`, { recursive: true });
  await Deno.mkdir(`${storage}/refs`, { recursive: true });
  await Deno.mkdir(snapshot, { recursive: true });
  for (const [path, bytes] of Object.entries(files)) {
    const id = path.endsWith(".safetensors") ? await lfsId(bytes) : await gitId(bytes);
    await Deno.writeFile(`${storage}/blobs/${id}`, bytes);
    await Deno.symlink(`../../blobs/${id}`, `${snapshot}/${path}`);
  }
  await Deno.writeTextFile(`${storage}/refs/main`, commit);
  return snapshot;
}

async function fixtureFiles(): Promise<Record<string, Uint8Array>> {
  return Object.fromEntries(
    await Promise.all(FIXTURE_FILES.map(async (f) => [f, await Deno.readFile(new URL(f, FIXTURE))] as const)),
  );
}

hubTest(
  "a cache laid out as Python's huggingface_hub leaves it is used: offline, with the Hub unreachable, or pinned, without a request",
  async () => {
    const files = await fixtureFiles();
    const commit = "5e1f0c2d9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d";
    await withCache(async (cacheDir) => {
      const snapshot = await pythonCache(cacheDir, "karpathy/stories260K", commit, files);
      const gone = await goneHubUrl();
      // HF_HUB_OFFLINE and HF_HUB_CACHE, as Python reads them; loadModel() takes the Hub id as --model does.
      await withEnv({ HF_HUB_OFFLINE: "1", HF_HUB_CACHE: cacheDir, HF_ENDPOINT: gone }, async () => {
        assert.equal(await downloadHubModel("karpathy/stories260K"), snapshot);
        const { model, tokenizer } = await loadModel("karpathy/stories260K");
        assert.equal(model.hookDim("blocks.4.hook_resid_post"), 64);
        const ids = tokenizer.encode("Once upon a time", { bos: true });
        assert.equal(ids[0], 1);
        assert.equal(tokenizer.decode(ids.slice(1)), "Once upon a time");
        // Offline, a revision the cache has no ref for is an error that says so.
        await assert.rejects(
          () => downloadHubModel("karpathy/stories260K@v2"),
          (e: unknown) =>
            e instanceof Error &&
            e.message ===
              `Hugging Face model karpathy/stories260K@v2: offline (HF_HUB_OFFLINE), and the cache has no commit for revision "v2" (expected ${cacheDir}/models--karpathy--stories260K/refs/v2); run once with access to the Hub, or unset HF_HUB_OFFLINE`,
        );
      });
      // Online, but the Hub cannot be reached: the snapshot refs/main names is used.
      assert.equal(await downloadHubModel("karpathy/stories260K", { cacheDir, hubUrl: gone }), snapshot);
      // Pinned to the commit: complete, so no request (the Hub is not there to answer one).
      assert.equal(
        await downloadHubModel(`karpathy/stories260K@${commit}`, { cacheDir, hubUrl: gone }),
        snapshot,
      );
      // Nothing was added to the cache.
      assert.deepEqual(
        (await listFiles(`${cacheDir}/models--karpathy--stories260K`)).filter((f) => !f.startsWith("blobs/")),
        ["refs/main", ...FIXTURE_FILES.map((f) => `snapshots/${commit}/${f}`).sort()],
      );

      // Offline with a snapshot that lacks the weights: an error naming what is missing.
      await Deno.remove(`${snapshot}/model.safetensors`);
      await assert.rejects(
        () => downloadHubModel("karpathy/stories260K", { cacheDir, offline: true }),
        (e: unknown) =>
          e instanceof Error &&
          e.message ===
            `Hugging Face model karpathy/stories260K: offline (HF_HUB_OFFLINE), and ${snapshot} lacks model.safetensors or model.safetensors.index.json; run once with access to the Hub, or unset HF_HUB_OFFLINE`,
      );
    });

    // The same cache, with the Hub up and main at that commit: one request to resolve main, no file request.
    await withHub(async (hub, cacheDir) => {
      const commit = hub.addRepo("karpathy/stories260K", files);
      const snapshot = await pythonCache(cacheDir, "karpathy/stories260K", commit, files);
      assert.equal(await downloadHubModel("karpathy/stories260K", { cacheDir, hubUrl: hub.url }), snapshot);
      assert.deepEqual(hub.requests, ["GET /api/models/karpathy/stories260K/revision/main"]);
    });
  },
);

hubTest("downloadHubModel() puts the cache in $HF_HOME/hub, unless HF_HUB_CACHE says otherwise", async () => {
  await withHub(async (hub, home) => {
    const commit = hub.addRepo("acme/tiny", tinyFiles());
    await withEnv({ HF_HOME: home, HF_ENDPOINT: hub.url }, async () => {
      const dir = await downloadHubModel("acme/tiny");
      assert.equal(dir, `${home}/hub/models--acme--tiny/snapshots/${commit}`);
      assert.deepEqual(await Deno.readFile(`${dir}/model.safetensors`), SINGLE);
      await withEnv({ HF_HUB_CACHE: `${home}/elsewhere` }, async () => {
        assert.equal(
          await downloadHubModel("acme/tiny"),
          `${home}/elsewhere/models--acme--tiny/snapshots/${commit}`,
        );
      });
    });
    assert.deepEqual(await listFiles(home).then((f) => f.filter((p) => p.includes("/refs/"))), [
      "elsewhere/models--acme--tiny/refs/main",
      "hub/models--acme--tiny/refs/main",
    ]);
  });
});

hubTest(
  "downloadHubModel() fetches a sharded checkpoint's index and each shard once; a lost shard is fetched again",
  async () => {
    await withHub(async (hub, cacheDir) => {
      // Stored with Xet, as most large files on the Hub now are: downloads still go over plain HTTP.
      const commit = hub.addRepo("acme/sharded", shardedFiles(), { xet: true });
      const options = { cacheDir, hubUrl: hub.url };
      const progress: string[] = [];
      const dir = await downloadHubModel("acme/sharded", { ...options, onProgress: (f) => progress.push(f) });
      const storage = `${cacheDir}/models--acme--sharded`;
      assert.equal(dir, `${storage}/snapshots/${commit}`);
      assert.deepEqual(await listFiles(dir), [
        "config.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
        "tokenizer.json",
      ]);
      assert.deepEqual(await Deno.readFile(`${dir}/model-00002-of-00002.safetensors`), SHARD_TWO);
      assert.deepEqual(progress, [
        "config.json",
        "tokenizer.json",
        "model.safetensors.index.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
      ]);
      // The repository has no tokenizer_config.json: recorded as Python records it, so that it is not looked for again.
      assert.deepEqual(
        await Deno.readFile(`${storage}/.no_exist/${commit}/tokenizer_config.json`),
        new Uint8Array(),
      );
      assert.ok(!hub.requests.some((r) => r.includes("pytorch_model.bin")), hub.requests.join("\n"));
      // A shard: its Xet description, then the plain download redirected to the CDN.
      const shard = "model-00001-of-00002.safetensors";
      assert.deepEqual(fileRequests(hub.requests).filter((r) => r.includes(shard)), [
        `GET /acme/sharded/resolve/${commit}/${shard} (range)`,
        `GET /acme/sharded/resolve/${commit}/${shard}`,
        `GET /cdn/acme/sharded/${commit}/${shard}`,
      ]);

      const seen = hub.requests.length;
      assert.equal(await downloadHubModel("acme/sharded", options), dir);
      assert.deepEqual(hub.requests.slice(seen), ["GET /api/models/acme/sharded/revision/main"]);

      // A shard lost from the cache (link and blob): only it is fetched again.
      const lost = "model-00002-of-00002.safetensors";
      await Deno.remove(await Deno.realPath(`${dir}/${lost}`));
      await Deno.remove(`${dir}/${lost}`);
      progress.length = 0;
      const mark = hub.requests.length;
      await downloadHubModel("acme/sharded", { ...options, onProgress: (f) => progress.push(f) });
      assert.deepEqual(progress, [lost]);
      assert.deepEqual(fileRequests(hub.requests.slice(mark)), [
        `GET /acme/sharded/resolve/${commit}/${lost} (range)`,
        `GET /acme/sharded/resolve/${commit}/${lost}`,
        `GET /cdn/acme/sharded/${commit}/${lost}`,
      ]);
      assert.deepEqual(await Deno.readFile(`${dir}/${lost}`), SHARD_TWO);
    });
  },
);

hubTest("downloadHubModel() names the repository, file and URL that are missing", async () => {
  await withHub(async (hub, cacheDir) => {
    const { "tokenizer.json": _, ...noTokenizer } = tinyFiles();
    const { "model.safetensors": __, ...pytorchOnly } = tinyFiles({
      "pytorch_model.bin": encoder.encode("x"),
    });
    const { "pytorch_model.bin": ___, ...noWeights } = pytorchOnly;
    const badIndex = shardedFiles();
    badIndex["model.safetensors.index.json"] = json({
      weight_map: { a: "model-00001-of-00002.safetensors", c: "model-00003-of-00003.safetensors" },
    });
    const escaping = shardedFiles();
    escaping["model.safetensors.index.json"] = json({ weight_map: { a: "../../evil.safetensors" } });
    const noTokenizerCommit = hub.addRepo("acme/no-tokenizer", noTokenizer);
    hub.addRepo("acme/pytorch", pytorchOnly);
    hub.addRepo("acme/no-weights", noWeights);
    const badIndexCommit = hub.addRepo("acme/bad-index", badIndex);
    hub.addRepo("acme/escaping", escaping);
    const options = { cacheDir, hubUrl: hub.url };
    const resolve = (repo: string, file: string) => `${hub.url}/${repo}/resolve/main/${file}`;

    await assert.rejects(
      () => downloadHubModel("acme/missing", options),
      (e: unknown) =>
        e instanceof Error &&
        e.message.startsWith(
          `Hugging Face model acme/missing: repository acme/missing not found at ${hub.url} (HTTP 401 RepoNotFound for ${hub.url}/api/models/acme/missing/revision/main?`,
        ) &&
        e.message.endsWith("); check the name, and for a private repository set HF_TOKEN"),
    );
    await assert.rejects(
      () => downloadHubModel("acme/no-tokenizer", options),
      (e: unknown) =>
        e instanceof Error &&
        e.message ===
          `Hugging Face model acme/no-tokenizer: tokenizer.json expected in acme/no-tokenizer at revision "main" (commit ${noTokenizerCommit}), not found (${
            resolve("acme/no-tokenizer", "tokenizer.json")
          }) (saekit reads tokenizers from tokenizer.json only)`,
    );
    await assert.rejects(
      () => downloadHubModel("acme/pytorch", options),
      (e: unknown) =>
        e instanceof Error &&
        e.message ===
          `Hugging Face model acme/pytorch: expected model.safetensors or model.safetensors.index.json in acme/pytorch at revision "main", found neither (it has pytorch_model.bin: saekit needs safetensors weights; the Hub's conversion bot often offers them on a pull-request revision such as @refs/pr/1)`,
    );
    await assert.rejects(
      () => downloadHubModel("acme/no-weights", options),
      (e: unknown) => e instanceof Error && e.message.endsWith(`at revision "main", found neither`),
    );
    // Nothing was downloaded for these: the cache is as it was, without even empty folders.
    assert.deepEqual(await listFiles(cacheDir), []);
    // Each was found out before any file was downloaded.
    assert.deepEqual(fileRequests(hub.requests), []);

    await assert.rejects(
      () => downloadHubModel("acme/bad-index", options),
      (e: unknown) =>
        e instanceof Error &&
        e.message ===
          `Hugging Face model acme/bad-index: model-00003-of-00003.safetensors expected in acme/bad-index at revision "main" (commit ${badIndexCommit}), not found (${
            resolve("acme/bad-index", "model-00003-of-00003.safetensors")
          }) (listed in model.safetensors.index.json)`,
    );
    // What was complete stays, but main is not recorded as pointing at a complete snapshot.
    assert.ok(!(await listFiles(cacheDir)).some((f) => f.includes("/refs/")));
    await assert.rejects(
      () => downloadHubModel("acme/escaping", options),
      /Hugging Face model acme\/escaping: .*model\.safetensors\.index\.json: Unsafe shard filename in weight_map: "\.\.\/\.\.\/evil\.safetensors" \(dot segment\)/,
    );
    assert.ok(!hub.requests.some((r) => r.includes("evil")));
    await assert.rejects(() => downloadHubModel("not a model id", options), TypeError);
  });
});

hubTest(
  "downloadHubModel() sends HF_TOKEN or accessToken for private and gated repositories, and honours HF_ENDPOINT",
  async () => {
    await withHub(async (hub, cacheDir) => {
      hub.tokens.set("hf_secret", "read");
      const commit = hub.addRepo("acme/private", tinyFiles(), { private: true });
      await assert.rejects(
        () => downloadHubModel("acme/private", { cacheDir, hubUrl: hub.url }),
        /repository acme\/private not found .*HTTP 401 RepoNotFound.*set HF_TOKEN/,
      );
      const dir = await downloadHubModel("acme/private", {
        cacheDir,
        hubUrl: hub.url,
        accessToken: "hf_secret",
      });
      assert.equal(dir, `${cacheDir}/models--acme--private/snapshots/${commit}`);
      assert.deepEqual(await Deno.readFile(`${dir}/model.safetensors`), SINGLE);
      await Deno.remove(`${cacheDir}/models--acme--private`, { recursive: true });
      await withEnv({ HF_ENDPOINT: hub.url, HF_TOKEN: "hf_secret" }, async () => {
        assert.equal(await downloadHubModel("acme/private", { cacheDir }), dir);
      });
      assert.deepEqual(await Deno.readFile(`${dir}/config.json`), CONFIG);

      // Gated: anyone sees the metadata, the files need a token (the Hub says 401 GatedRepo).
      hub.addRepo("acme/gated", tinyFiles(), { gated: true });
      await assert.rejects(
        () => downloadHubModel("acme/gated", { cacheDir, hubUrl: hub.url }),
        (e: unknown) =>
          e instanceof Error &&
          e.message ===
            `Hugging Face model acme/gated: access to acme/gated is restricted (HTTP 401 GatedRepo for ${hub.url}/acme/gated/resolve/${
              hub.repos.get("acme/gated")!.branches.get("main")
            }/config.json); accept its terms at ${hub.url}/acme/gated and set HF_TOKEN`,
      );
      assert.deepEqual(await listFiles(`${cacheDir}`).then((f) => f.filter((p) => p.includes("gated"))), []);
      const gated = await downloadHubModel("acme/gated", {
        cacheDir,
        hubUrl: hub.url,
        accessToken: "hf_secret",
      });
      assert.deepEqual(await Deno.readFile(`${gated}/tokenizer.json`), TOKENIZER);
    });
  },
);

hubTest("downloadHubModel() on a network failure names the URL and leaves no partial file", async () => {
  const gone = await goneHubUrl();
  await withCache(async (cacheDir) => {
    await assert.rejects(
      () => downloadHubModel("acme/tiny", { cacheDir, hubUrl: gone }),
      (e: unknown) =>
        e instanceof Error &&
        e.message.startsWith(
          `Hugging Face model acme/tiny: could not reach ${gone}/api/models/acme/tiny/revision/main?`,
        ) &&
        e.message.endsWith(`; the cache was left as it was (${cacheDir}/models--acme--tiny)`),
    );
    assert.deepEqual(await listFiles(cacheDir), []);
  });

  // A download that stops half-way: the files finished before stay, the broken one is not kept.
  await withHub(async (hub, cacheDir) => {
    const commit = hub.addRepo("acme/tiny", tinyFiles());
    hub.breakFile = "model.safetensors";
    const storage = `${cacheDir}/models--acme--tiny`;
    await assert.rejects(
      () => downloadHubModel("acme/tiny", { cacheDir, hubUrl: hub.url }),
      (e: unknown) =>
        e instanceof Error &&
        e.message ===
          `Hugging Face model acme/tiny: downloading model.safetensors from ${hub.url}/acme/tiny/resolve/main/model.safetensors failed: ` +
            `expected ${SINGLE.length} bytes, received ${SINGLE.length >> 1}; ` +
            `the cache keeps only the complete files downloaded before (config.json, tokenizer.json, tokenizer_config.json) in ${storage}/snapshots/${commit}, no partial file`,
    );
    assert.deepEqual(
      await listFiles(storage),
      [
        `blobs/${await gitId(CONFIG)}`,
        `blobs/${await gitId(TOKENIZER)}`,
        `blobs/${await gitId(TOKENIZER_CONFIG)}`,
        `snapshots/${commit}/config.json`,
        `snapshots/${commit}/tokenizer.json`,
        `snapshots/${commit}/tokenizer_config.json`,
      ].sort(),
    );
    hub.breakFile = undefined;
    const progress: string[] = [];
    await downloadHubModel("acme/tiny", { cacheDir, hubUrl: hub.url, onProgress: (f) => progress.push(f) });
    assert.deepEqual(progress, ["model.safetensors"]);
    assert.deepEqual(await Deno.readFile(`${storage}/snapshots/${commit}/model.safetensors`), SINGLE);
    assert.equal(await Deno.readTextFile(`${storage}/refs/main`), commit);
  });
});

/** A Hugging Face Llama checkpoint with one small layer, tensors as `transformers` names them. */
function tinyLlama(): { config: Record<string, unknown>; tensors: Record<string, SafetensorsEntry> } {
  const d = 8, heads = 2, dHead = 4, dMlp = 12, vocab = 512;
  let seed = 0;
  const matrix = (rows: number, cols: number): SafetensorsEntry => {
    seed++;
    const data = Float32Array.from({ length: rows * cols }, (_, i) => 0.1 * Math.sin(7 * i + seed));
    return { dtype: "F32", shape: [rows, cols], data };
  };
  const ones = (n: number): SafetensorsEntry => ({
    dtype: "F32",
    shape: [n],
    data: new Float32Array(n).fill(1),
  });
  const at = "model.layers.0.";
  return {
    config: {
      model_type: "llama",
      hidden_size: d,
      intermediate_size: dMlp,
      num_hidden_layers: 1,
      num_attention_heads: heads,
      num_key_value_heads: heads,
      vocab_size: vocab,
      max_position_embeddings: 32,
      rms_norm_eps: 1e-5,
      rope_theta: 10000,
      rope_scaling: null,
      hidden_act: "silu",
      tie_word_embeddings: true,
    },
    tensors: {
      "model.embed_tokens.weight": matrix(vocab, d),
      "model.norm.weight": ones(d),
      [`${at}input_layernorm.weight`]: ones(d),
      [`${at}post_attention_layernorm.weight`]: ones(d),
      [`${at}self_attn.q_proj.weight`]: matrix(heads * dHead, d),
      [`${at}self_attn.k_proj.weight`]: matrix(heads * dHead, d),
      [`${at}self_attn.v_proj.weight`]: matrix(heads * dHead, d),
      [`${at}self_attn.o_proj.weight`]: matrix(d, heads * dHead),
      [`${at}mlp.gate_proj.weight`]: matrix(dMlp, d),
      [`${at}mlp.up_proj.weight`]: matrix(dMlp, d),
      [`${at}mlp.down_proj.weight`]: matrix(d, dMlp),
    },
  };
}

hubTest("a downloaded tiny Llama loads with loadHfLlama()", async () => {
  const { config, tensors } = tinyLlama();
  await withHub(async (hub, cacheDir) => {
    hub.addRepo("acme/tiny-llama", {
      "config.json": json(config),
      "model.safetensors": encodeSafetensors(tensors),
      "tokenizer.json": TOKENIZER,
    });
    const dir = await downloadHubModel("acme/tiny-llama", { cacheDir, hubUrl: hub.url });
    const { config: c, weights: w } = await loadHfLlama(dir);
    assert.equal(c.dModel, 8);
    assert.equal(c.vocabSize, 512);
    assert.deepEqual(w.embed.dataSync(), tensors["model.embed_tokens.weight"].data);
    // v_proj is stored [out, in]; the loader keeps [in, out].
    const v = tensors["model.layers.0.self_attn.v_proj.weight"].data;
    assert.deepEqual(
      Array.from(w.blocks[0].wV.dataSync()),
      Array.from({ length: 64 }, (_, k) => v[(k % 8) * 8 + Math.floor(k / 8)]),
    );
    const { logits } = llamaForward(w, c, [[1, 5, 9, 2]]);
    assert.deepEqual(logits!.shape, [1, 4, 512]);
    tf.dispose([logits!, w as unknown as tf.TensorContainer]);
  });
});

hubTest(
  "loadModel() takes a Hub id: stories260K's Hugging Face files, downloaded, load and tokenize",
  async () => {
    const files = await fixtureFiles();
    await withHub(async (hub, cacheDir) => {
      const commit = hub.addRepo("karpathy/stories260K", files);
      const loaded = await loadModel("karpathy/stories260K", undefined, { cacheDir, hubUrl: hub.url });
      const dir = `${cacheDir}/models--karpathy--stories260K/snapshots/${commit}`;
      for (const file of FIXTURE_FILES) {
        assert.deepEqual(await Deno.readFile(`${dir}/${file}`), files[file], file);
      }
      assert.equal(loaded.model.hookDim("blocks.4.hook_resid_post"), 64);
      const ids = loaded.tokenizer.encode("Once upon a time", { bos: true });
      assert.equal(ids[0], 1);
      assert.equal(loaded.tokenizer.decode(ids.slice(1)), "Once upon a time");
    });
  },
);
