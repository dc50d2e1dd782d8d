/**
 * downloadHubModel() against a small Hugging Face Hub served on 127.0.0.1:
 * the same `@huggingface/hub` requests as against huggingface.co, only the
 * `hubUrl` differs. The fake Hub answers as the real one does: `resolve` with
 * `Range` (206, `Content-Range`, `ETag`, `X-Repo-Commit`), a 302 to a CDN path
 * for `*.safetensors` (with `X-Linked-Size` and `X-Linked-ETag`), `HEAD` on
 * `raw`, and 401 `RepoNotFound` / 404 `RevisionNotFound` / 404
 * `EntryNotFound` with their `X-Error-Code` headers.
 */
import { assert, tf } from "../_helpers.ts";
import {
  DEFAULT_HUB_URL,
  defaultHubCacheDir,
  downloadHubModel,
  hubSnapshotDir,
  isHubModelId,
  parseHubModelId,
} from "../../lib/models/load/hub.ts";
import { loadHfLlama } from "../../lib/models/load/hf_llama.ts";
import { loadModel } from "../../lib/models/load/model.ts";
import { llamaForward } from "../../lib/models/transformer.ts";
import { encodeSafetensors, type SafetensorsEntry } from "../../lib/io/safetensors.ts";

// The tests must not pick up a developer's own Hub settings.
for (const name of ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_ENDPOINT"]) Deno.env.delete(name);

const SHARED_HF = new URL("../../../shared/models/stories260K/hf/", import.meta.url);
const hasSharedTokenizer = await Deno.stat(new URL("tokenizer.json", SHARED_HF)).then(
  () => true,
  () => false,
);
if (!hasSharedTokenizer) {
  console.log(
    `skipping loadModel() on the downloaded tiny llama: ${SHARED_HF.pathname}tokenizer.json not found (only in the project's workspace)`,
  );
}

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
const MAIN_COMMIT = "1111111111111111111111111111111111111111";
const V1_COMMIT = "2222222222222222222222222222222222222222";

type FakeRevision = { readonly commit: string; readonly files: Record<string, Uint8Array> };
type FakeRepo = {
  readonly revisions: Record<string, FakeRevision>;
  /** When set, requests need `Authorization: Bearer {token}` (a private repository). */
  readonly token?: string;
  /**
   * Whether `*.safetensors` are stored with Xet, as most large files on the
   * Hub now are: a request that accepts `application/vnd.xet-fileinfo+json`
   * gets the file's Xet description instead of a redirect.
   */
  readonly xet?: boolean;
};
type FakeHub = {
  readonly url: string;
  /** `METHOD path`, `(range)` appended for `Range` requests, in the order they came. */
  readonly requests: string[];
  /** When set, full downloads of this file stop half-way. */
  breakFile?: string;
  close(): Promise<void>;
};

function etagOf(bytes: Uint8Array): string {
  let h = 2166136261;
  for (const b of bytes) h = Math.imul(h ^ b, 16777619) >>> 0;
  return `"${h.toString(16)}-${bytes.length}"`;
}

function send(req: Request, bytes: Uint8Array, headers: Record<string, string>): Response {
  const range = req.headers.get("Range")?.match(/^bytes=(\d+)-(\d*)$/);
  const body = (
    part: Uint8Array,
  ): Uint8Array<ArrayBuffer> | null => (req.method === "HEAD" ? null : new Uint8Array(part));
  if (range) {
    const start = Number(range[1]);
    const end = range[2] === "" ? bytes.length - 1 : Math.min(Number(range[2]), bytes.length - 1);
    return new Response(body(bytes.slice(start, end + 1)), {
      status: 206,
      headers: { ...headers, "Content-Range": `bytes ${start}-${end}/${bytes.length}` },
    });
  }
  return new Response(body(bytes), { headers: { ...headers, "Content-Length": String(bytes.length) } });
}

function refuse(status: number, code: string, message: string): Response {
  return new Response(message, { status, headers: { "X-Error-Code": code, "X-Error-Message": message } });
}

function serveHub(repos: Record<string, FakeRepo>): FakeHub {
  const requests: string[] = [];
  const cdn = new Map<string, Uint8Array>();
  const hub: FakeHub = {
    url: "",
    requests,
    close: () => server.shutdown(),
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const { pathname } = new URL(req.url);
    requests.push(`${req.method} ${pathname}${req.headers.has("Range") ? " (range)" : ""}`);
    const cached = cdn.get(pathname);
    if (cached !== undefined) {
      const file = pathname.split("/").pop();
      if (file === hub.breakFile && !req.headers.has("Range")) {
        // The body ends early (as when a proxy cuts a transfer short).
        const half = cached.slice(0, cached.length >> 1);
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(half);
            controller.close();
          },
        });
        return new Response(body);
      }
      return send(req, cached, { ETag: etagOf(cached) });
    }
    const match = pathname.match(/^\/([^/]+)\/([^/]+)\/(resolve|raw)\/([^/]+)\/(.+)$/);
    const repo = match ? repos[`${match[1]}/${match[2]}`] : undefined;
    if (
      match === null || repo === undefined ||
      (repo.token !== undefined && req.headers.get("Authorization") !== `Bearer ${repo.token}`)
    ) {
      return refuse(401, "RepoNotFound", "Repository not found");
    }
    const [, owner, name, kind, revision, path] = match;
    const wanted = decodeURIComponent(revision);
    const rev = repo.revisions[wanted] ?? Object.values(repo.revisions).find((r) => r.commit === wanted);
    if (rev === undefined) return refuse(404, "RevisionNotFound", `Invalid rev id: ${wanted}`);
    const bytes = rev.files[path];
    if (bytes === undefined) return refuse(404, "EntryNotFound", "Entry not found");
    const headers = { ETag: etagOf(bytes), "X-Repo-Commit": rev.commit };
    if (kind === "resolve" && path.endsWith(".safetensors")) {
      if (repo.xet && req.headers.get("Accept")?.includes("application/vnd.xet-fileinfo+json")) {
        const base = new URL(req.url).origin;
        return new Response(JSON.stringify({ hash: "ab".repeat(32) }), {
          headers: {
            "Content-Type": "application/vnd.xet-fileinfo+json",
            "X-Linked-Size": String(bytes.length),
            "X-Linked-ETag": headers.ETag,
            "X-Xet-Hash": "ab".repeat(32),
            "X-Repo-Commit": rev.commit,
            Link: `<${base}/xet/reconstructions/${"ab".repeat(32)}>; rel="xet-reconstruction-info", ` +
              `<${base}/api/models/${owner}/${name}/xet-read-token/${rev.commit}>; rel="xet-auth"`,
          },
        });
      }
      // Large files live on the CDN: the Hub answers with a redirect.
      const location = `/cdn/${owner}/${name}/${rev.commit}/${path}`;
      cdn.set(location, bytes);
      return new Response(null, {
        status: 302,
        headers: {
          Location: location,
          "X-Linked-Size": String(bytes.length),
          "X-Linked-ETag": headers.ETag,
          "X-Repo-Commit": rev.commit,
        },
      });
    }
    return send(req, bytes, headers);
  });
  return Object.assign(hub, { url: `http://127.0.0.1:${server.addr.port}` });
}

async function withCache(fn: (cacheDir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "saekit_hub_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function withHub(
  repos: Record<string, FakeRepo>,
  fn: (hub: FakeHub, cacheDir: string) => Promise<void>,
): Promise<void> {
  const hub = serveHub(repos);
  try {
    await withCache((cacheDir) => fn(hub, cacheDir));
  } finally {
    await hub.close();
  }
}

/** Every file under `dir`, relative to it, sorted. */
async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = `${prefix}${entry.name}`;
    if (entry.isDirectory) out.push(...await listFiles(`${dir}/${entry.name}`, `${path}/`));
    else out.push(path);
  }
  return out.sort();
}

function weights(n: number, seed: number): SafetensorsEntry {
  return { dtype: "F32", shape: [n], data: Float32Array.from({ length: n }, (_, i) => Math.sin(i + seed)) };
}

const CONFIG = json({ model_type: "llama", hidden_size: 8 });
const TOKENIZER = json({ version: "1.0", model: { type: "BPE", vocab: {}, merges: [] } });
const TOKENIZER_CONFIG = json({ bos_token: "<s>" });
const SINGLE = encodeSafetensors({ w: weights(16, 1) });

function tinyRepo(extra: Record<string, Uint8Array> = {}): FakeRepo {
  return {
    revisions: {
      main: {
        commit: MAIN_COMMIT,
        files: {
          "config.json": CONFIG,
          "tokenizer.json": TOKENIZER,
          "tokenizer_config.json": TOKENIZER_CONFIG,
          "model.safetensors": SINGLE,
          "README.md": encoder.encode("# tiny\n"),
          ...extra,
        },
      },
    },
  };
}

function shardedRepo(): FakeRepo {
  const one = encodeSafetensors({ a: weights(8, 2), b: weights(4, 3) });
  const two = encodeSafetensors({ c: weights(8, 4) });
  const index = {
    metadata: { total_size: 80 },
    weight_map: {
      a: "model-00001-of-00002.safetensors",
      b: "model-00001-of-00002.safetensors",
      c: "model-00002-of-00002.safetensors",
    },
  };
  return {
    xet: true,
    revisions: {
      main: {
        commit: MAIN_COMMIT,
        files: {
          "config.json": CONFIG,
          "tokenizer.json": TOKENIZER,
          "model.safetensors.index.json": json(index),
          "model-00001-of-00002.safetensors": one,
          "model-00002-of-00002.safetensors": two,
          "pytorch_model.bin": encoder.encode("not read"),
        },
      },
    },
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

Deno.test("hubSnapshotDir() and defaultHubCacheDir() follow SAEKIT_CACHE, XDG_CACHE_HOME and HOME", () => {
  assert.equal(
    hubSnapshotDir("EleutherAI/pythia-70m@refs/pr/1", "/c/"),
    "/c/models--EleutherAI--pythia-70m/snapshots/refs%2Fpr%2F1",
  );
  assert.throws(
    () => hubSnapshotDir("./x", "/c"),
    (e: unknown) =>
      e instanceof TypeError &&
      e.message === `Hugging Face model id: expected "owner/name" or "owner/name@revision", received "./x"`,
  );
  const saved = Object.fromEntries(
    ["SAEKIT_CACHE", "XDG_CACHE_HOME", "HOME"].map((n) => [n, Deno.env.get(n)]),
  );
  try {
    Deno.env.set("SAEKIT_CACHE", "/s");
    Deno.env.set("XDG_CACHE_HOME", "/x");
    Deno.env.set("HOME", "/h");
    assert.equal(defaultHubCacheDir(), "/s");
    Deno.env.delete("SAEKIT_CACHE");
    assert.equal(defaultHubCacheDir(), "/x/saekit/hub");
    Deno.env.delete("XDG_CACHE_HOME");
    assert.equal(defaultHubCacheDir(), "/h/.cache/saekit/hub");
    assert.equal(hubSnapshotDir("a/b"), "/h/.cache/saekit/hub/models--a--b/snapshots/main");
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) Deno.env.delete(name);
      else Deno.env.set(name, value);
    }
  }
  assert.equal(DEFAULT_HUB_URL, "https://huggingface.co");
});

hubTest(
  "downloadHubModel() fetches config, tokenizer files and model.safetensors into the cache",
  async () => {
    await withHub({ "acme/tiny": tinyRepo() }, async (hub, cacheDir) => {
      const progress: string[] = [];
      const dir = await downloadHubModel("acme/tiny", {
        cacheDir,
        hubUrl: `${hub.url}/`,
        onProgress: (file, bytes) => progress.push(`${file} ${bytes}`),
      });
      assert.equal(dir, `${cacheDir}/models--acme--tiny/snapshots/main`);
      // README.md is not fetched; no temporary file is left.
      assert.deepEqual(await listFiles(dir), [
        ".saekit-snapshot.json",
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
      ]);
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
      const manifest = JSON.parse(await Deno.readTextFile(`${dir}/.saekit-snapshot.json`));
      assert.deepEqual(manifest, {
        repo: "acme/tiny",
        revision: "main",
        commit: MAIN_COMMIT,
        files: ["config.json", "tokenizer.json", "model.safetensors", "tokenizer_config.json"],
      });
      // Per file: a one-byte range request for size and ETag, then the download; safetensors via the CDN.
      const r = "/acme/tiny/resolve/main";
      const cdn = `/cdn/acme/tiny/${MAIN_COMMIT}/model.safetensors`;
      assert.deepEqual(hub.requests, [
        `GET ${r}/config.json (range)`,
        `GET ${r}/tokenizer.json (range)`,
        `GET ${r}/tokenizer_config.json (range)`,
        `GET ${r}/model.safetensors (range)`,
        `GET ${cdn} (range)`,
        `GET ${r}/config.json`,
        `GET ${r}/tokenizer.json`,
        `GET ${r}/tokenizer_config.json`,
        `GET ${cdn}`,
      ]);
    });
  },
);

hubTest("downloadHubModel() fetches a sharded checkpoint's index and each shard once", async () => {
  await withHub({ "acme/sharded": shardedRepo() }, async (hub, cacheDir) => {
    const progress: string[] = [];
    const dir = await downloadHubModel("acme/sharded", {
      cacheDir,
      hubUrl: hub.url,
      onProgress: (file) => progress.push(file),
    });
    const files = shardedRepo().revisions.main.files;
    assert.deepEqual(await listFiles(dir), [
      ".saekit-snapshot.json",
      "config.json",
      "model-00001-of-00002.safetensors",
      "model-00002-of-00002.safetensors",
      "model.safetensors.index.json",
      "tokenizer.json",
    ]);
    for (const file of ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]) {
      assert.deepEqual(await Deno.readFile(`${dir}/${file}`), files[file]);
    }
    assert.deepEqual(progress, [
      "config.json",
      "tokenizer.json",
      "model.safetensors.index.json",
      "model-00001-of-00002.safetensors",
      "model-00002-of-00002.safetensors",
    ]);
    assert.ok(!hub.requests.some((r) => r.includes("pytorch_model.bin")), hub.requests.join("\n"));
    assert.equal(
      hub.requests.filter((r) =>
        r === `GET ${"/cdn/acme/sharded/" + MAIN_COMMIT}/model-00001-of-00002.safetensors`
      ).length,
      1,
    );
  });
});

hubTest(
  "downloadHubModel() answers from the cache without requests and refetches only a missing file",
  async () => {
    await withHub({ "acme/sharded": shardedRepo() }, async (hub, cacheDir) => {
      const options = { cacheDir, hubUrl: hub.url };
      const dir = await downloadHubModel("acme/sharded", options);
      const first = hub.requests.length;
      // config and tokenizer (2 each), no tokenizer_config.json nor model.safetensors (1 each),
      // the index (2), two shards stored with Xet (3 each: Xet description, redirect, CDN)
      assert.equal(first, 2 + 2 + 1 + 1 + 2 + 3 + 3);
      const before = await Deno.stat(`${dir}/config.json`);
      assert.equal(await downloadHubModel("acme/sharded", options), dir);
      assert.equal(
        hub.requests.length,
        first,
        `expected no new request, received ${hub.requests.slice(first)}`,
      );
      assert.deepEqual((await Deno.stat(`${dir}/config.json`)).mtime, before.mtime);

      await Deno.remove(`${dir}/model-00002-of-00002.safetensors`);
      const progress: string[] = [];
      await downloadHubModel("acme/sharded", { ...options, onProgress: (file) => progress.push(file) });
      assert.deepEqual(progress, ["model-00002-of-00002.safetensors"]);
      const cdn = `/cdn/acme/sharded/${MAIN_COMMIT}/model-00002-of-00002.safetensors`;
      assert.deepEqual(hub.requests.slice(first), [
        // tokenizer_config.json is looked for again: the snapshot was incomplete.
        "GET /acme/sharded/resolve/main/tokenizer_config.json (range)",
        // Stored with Xet: the probe gets the Xet description; the plain download is redirected to the CDN.
        "GET /acme/sharded/resolve/main/model-00002-of-00002.safetensors (range)",
        "GET /acme/sharded/resolve/main/model-00002-of-00002.safetensors",
        `GET ${cdn}`,
      ]);
    });
  },
);

hubTest("downloadHubModel() takes a branch, tag, commit or pull-request revision after @", async () => {
  const v1Config = json({ model_type: "llama", hidden_size: 4 });
  const repo = tinyRepo();
  repo.revisions.v1 = { commit: V1_COMMIT, files: { ...repo.revisions.main.files, "config.json": v1Config } };
  repo.revisions["refs/pr/1"] = { commit: "3".repeat(40), files: repo.revisions.main.files };
  await withHub({ "acme/tiny": repo }, async (hub, cacheDir) => {
    const options = { cacheDir, hubUrl: hub.url };
    const main = await downloadHubModel("acme/tiny", options);
    const v1 = await downloadHubModel("acme/tiny@v1", options);
    assert.equal(v1, `${cacheDir}/models--acme--tiny/snapshots/v1`);
    assert.deepEqual(await Deno.readFile(`${v1}/config.json`), v1Config);
    assert.deepEqual(await Deno.readFile(`${main}/config.json`), CONFIG);
    const manifest = JSON.parse(await Deno.readTextFile(`${v1}/.saekit-snapshot.json`));
    assert.equal(manifest.commit, V1_COMMIT);

    const pinned = await downloadHubModel(`acme/tiny@${V1_COMMIT}`, options);
    assert.equal(pinned, `${cacheDir}/models--acme--tiny/snapshots/${V1_COMMIT}`);
    assert.deepEqual(await Deno.readFile(`${pinned}/config.json`), v1Config);

    const seen = hub.requests.length;
    const pr = await downloadHubModel("acme/tiny@refs/pr/1", options);
    assert.equal(pr, `${cacheDir}/models--acme--tiny/snapshots/refs%2Fpr%2F1`);
    assert.equal(hub.requests[seen], "GET /acme/tiny/resolve/refs%2Fpr%2F1/config.json (range)");

    await assert.rejects(
      () => downloadHubModel("acme/tiny@nope", options),
      (e: unknown) =>
        e instanceof Error &&
        e.message ===
          `Hugging Face model acme/tiny@nope: revision "nope" not found in acme/tiny (HTTP 404 RevisionNotFound for ${hub.url}/acme/tiny/resolve/nope/config.json)`,
    );
    assert.deepEqual(
      (await listFiles(`${cacheDir}/models--acme--tiny/snapshots`)).filter((f) => f.endsWith("/config.json"))
        .sort(),
      [`${V1_COMMIT}/config.json`, "main/config.json", "refs%2Fpr%2F1/config.json", "v1/config.json"],
    );
  });
});

hubTest("downloadHubModel() names the repository, file and URL that are missing", async () => {
  const { "tokenizer.json": _, ...noTokenizer } = tinyRepo().revisions.main.files;
  const { "model.safetensors": __, ...pytorchOnly } = tinyRepo({ "pytorch_model.bin": encoder.encode("x") })
    .revisions.main.files;
  const { "pytorch_model.bin": ___, ...noWeights } = pytorchOnly;
  const badIndex = shardedRepo();
  badIndex.revisions.main.files["model.safetensors.index.json"] = json({
    weight_map: { a: "model-00001-of-00002.safetensors", c: "model-00003-of-00003.safetensors" },
  });
  const escaping = shardedRepo();
  escaping.revisions.main.files["model.safetensors.index.json"] = json({
    weight_map: { a: "../../evil.safetensors" },
  });
  const one = (files: Record<string, Uint8Array>): FakeRepo => ({
    revisions: { main: { commit: MAIN_COMMIT, files } },
  });
  await withHub({
    "acme/no-tokenizer": one(noTokenizer),
    "acme/pytorch": one(pytorchOnly),
    "acme/no-weights": one(noWeights),
    "acme/bad-index": badIndex,
    "acme/escaping": escaping,
  }, async (hub, cacheDir) => {
    const options = { cacheDir, hubUrl: hub.url };
    const resolve = (repo: string, file: string) => `${hub.url}/${repo}/resolve/main/${file}`;
    await assert.rejects(
      () => downloadHubModel("acme/missing", options),
      (e: unknown) =>
        e instanceof Error &&
        e.message ===
          `Hugging Face model acme/missing: repository acme/missing not found at ${hub.url} (HTTP 401 RepoNotFound for ${
            resolve("acme/missing", "config.json")
          }); check the name, and for a private repository set HF_TOKEN`,
    );
    await assert.rejects(
      () => downloadHubModel("acme/no-tokenizer", options),
      (e: unknown) =>
        e instanceof Error &&
        e.message ===
          `Hugging Face model acme/no-tokenizer: tokenizer.json expected in acme/no-tokenizer at revision "main", not found (HTTP 404 for ${
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

    await assert.rejects(
      () => downloadHubModel("acme/bad-index", options),
      (e: unknown) =>
        e instanceof Error &&
        e.message ===
          `Hugging Face model acme/bad-index: model-00003-of-00003.safetensors expected in acme/bad-index at revision "main", not found (HTTP 404 for ${
            resolve("acme/bad-index", "model-00003-of-00003.safetensors")
          }) (listed in model.safetensors.index.json)`,
    );
    await assert.rejects(
      () => downloadHubModel("acme/escaping", options),
      /Hugging Face model acme\/escaping: .*model\.safetensors\.index\.json: Unsafe shard filename in weight_map: "\.\.\/\.\.\/evil\.safetensors" \(dot segment\)/,
    );
    assert.ok(!hub.requests.some((r) => r.includes("evil")));
    await assert.rejects(() => downloadHubModel("not a model id", options), TypeError);
  });
});

hubTest("downloadHubModel() sends HF_TOKEN or accessToken, and honours HF_ENDPOINT", async () => {
  const repo: FakeRepo = { ...tinyRepo(), token: "hf_secret" };
  await withHub({ "acme/private": repo }, async (hub, cacheDir) => {
    await assert.rejects(
      () => downloadHubModel("acme/private", { cacheDir, hubUrl: hub.url }),
      /repository acme\/private not found .*HTTP 401 RepoNotFound.*set HF_TOKEN/,
    );
    const dir = await downloadHubModel("acme/private", {
      cacheDir,
      hubUrl: hub.url,
      accessToken: "hf_secret",
    });
    assert.deepEqual(await Deno.readFile(`${dir}/model.safetensors`), SINGLE);
    await Deno.remove(`${cacheDir}/models--acme--private`, { recursive: true });
    Deno.env.set("HF_ENDPOINT", hub.url);
    Deno.env.set("HF_TOKEN", "hf_secret");
    try {
      assert.equal(await downloadHubModel("acme/private", { cacheDir }), dir);
    } finally {
      Deno.env.delete("HF_ENDPOINT");
      Deno.env.delete("HF_TOKEN");
    }
    assert.deepEqual(await Deno.readFile(`${dir}/config.json`), CONFIG);
  });
});

hubTest("downloadHubModel() on a network failure names the URL and leaves no partial file", async () => {
  // A Hub that is not there: connection refused.
  const gone = serveHub({});
  await gone.close();
  await withCache(async (cacheDir) => {
    await assert.rejects(
      () => downloadHubModel("acme/tiny", { cacheDir, hubUrl: gone.url }),
      (e: unknown) =>
        e instanceof Error &&
        e.message.startsWith(
          `Hugging Face model acme/tiny: could not reach ${gone.url}/acme/tiny/resolve/main/config.json (`,
        ) &&
        e.message.endsWith(`); the cache was left as it was (${cacheDir}/models--acme--tiny/snapshots/main)`),
    );
    assert.deepEqual(await listFiles(cacheDir), []);
  });

  // A download that stops half-way: the files finished before stay, the broken one is not written.
  await withHub({ "acme/tiny": tinyRepo() }, async (hub, cacheDir) => {
    hub.breakFile = "model.safetensors";
    const dir = `${cacheDir}/models--acme--tiny/snapshots/main`;
    await assert.rejects(
      () => downloadHubModel("acme/tiny", { cacheDir, hubUrl: hub.url }),
      (e: unknown) =>
        e instanceof Error &&
        e.message ===
          `Hugging Face model acme/tiny: downloading model.safetensors from ${hub.url}/acme/tiny/resolve/main/model.safetensors failed: ` +
            `expected ${SINGLE.length} bytes, received ${SINGLE.length >> 1}; ` +
            `the cache keeps only the complete files downloaded before (config.json, tokenizer.json, tokenizer_config.json) in ${dir}, no partial file`,
    );
    assert.deepEqual(await listFiles(dir), ["config.json", "tokenizer.json", "tokenizer_config.json"]);
    hub.breakFile = undefined;
    const progress: string[] = [];
    await downloadHubModel("acme/tiny", { cacheDir, hubUrl: hub.url, onProgress: (f) => progress.push(f) });
    assert.deepEqual(progress, ["model.safetensors"]);
    assert.deepEqual(await Deno.readFile(`${dir}/model.safetensors`), SINGLE);
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

hubTest(
  "a downloaded tiny Llama loads with loadHfLlama() (and loadModel() with a real tokenizer)",
  async () => {
    const { config, tensors } = tinyLlama();
    const files: Record<string, Uint8Array> = {
      "config.json": json(config),
      "model.safetensors": encodeSafetensors(tensors),
      "tokenizer.json": TOKENIZER,
    };
    if (hasSharedTokenizer) {
      files["tokenizer.json"] = await Deno.readFile(new URL("tokenizer.json", SHARED_HF));
      files["tokenizer_config.json"] = await Deno.readFile(new URL("tokenizer_config.json", SHARED_HF));
    }
    await withHub(
      { "acme/tiny-llama": { revisions: { main: { commit: MAIN_COMMIT, files } } } },
      async (hub, cacheDir) => {
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

        if (hasSharedTokenizer) {
          const loaded = await loadModel(dir);
          const ids = loaded.tokenizer.encode("Once upon a time", { bos: true });
          assert.equal(ids[0], 1);
          assert.equal(loaded.tokenizer.decode(ids.slice(1)), "Once upon a time");
          assert.equal(loaded.model.hookDim("blocks.0.hook_resid_post"), 8);
        }
      },
    );
  },
);
