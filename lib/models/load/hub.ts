/**
 * Downloading a model from the Hugging Face Hub into the standard Hugging
 * Face cache, so that `--model EleutherAI/pythia-70m` (or
 * `owner/name@revision`) works like a local Hugging Face folder, and a model
 * that Python's `huggingface_hub` (or `transformers`) already downloaded is
 * reused as it is.
 *
 * The cache is the one Python uses (see {@linkcode defaultHubCacheDir}), in
 * its layout:
 *
 * ```text
 * {cache}/models--{owner}--{name}/
 *   blobs/{etag}                      each file once: its SHA-256 (LFS files) or git blob id
 *   snapshots/{commit}/{path}         symbolic links to ../../blobs/{etag}
 *   refs/{revision}                   the commit a branch or tag was last resolved to
 *   .no_exist/{commit}/{path}         an empty file: the commit has no such file
 * ```
 *
 * A revision (branch, tag or `refs/pr/N`) is resolved to its commit on each
 * load, `GET {hub}/api/models/{repo}/revision/{revision}` (`modelInfo`), so a
 * branch that moved is fetched anew; when the snapshot of that commit is
 * complete nothing else is asked for. A full commit id (40 hex digits) whose
 * snapshot is complete is used without any request. Files are fetched with
 * `@huggingface/hub`'s `downloadFileToCacheDir` (per file: `POST
 * {hub}/api/models/{repo}/paths-info/{commit}`, then `GET
 * {hub}/{repo}/resolve/{commit}/{path}` with `Range: bytes=0-0` and without;
 * the Hub redirects large files to its CDN), over plain HTTP (`xet: false`),
 * not the Xet protocol. Each lands in `blobs/` through an `.incomplete` file
 * and a rename; a transfer that stops short is removed, so the cache never
 * holds a partial file.
 *
 * With `$HF_HUB_OFFLINE` set (or `offline: true`), and when the Hub cannot be
 * reached (or answers 5xx), the snapshot that `refs/{revision}` names is used
 * if it is complete, as Python does.
 *
 * Only the files the loaders read are fetched: `config.json`,
 * `tokenizer.json`, `tokenizer_config.json` (when the repository has one), and
 * `model.safetensors` or `model.safetensors.index.json` with every shard it
 * lists.
 *
 * The Hub's address is `options.hubUrl`, else `$HF_ENDPOINT` (as in Python's
 * `huggingface_hub`), else `https://huggingface.co`; the access token for
 * private or gated repositories is `options.accessToken`, else `$HF_TOKEN`
 * (`$HUGGING_FACE_HUB_TOKEN`).
 *
 * @module
 */
import * as hf from "@huggingface/hub";
import { writeTextAtomic } from "../../io/files.ts";

/** The Hub's address when neither `hubUrl` nor `$HF_ENDPOINT` says otherwise. */
export const DEFAULT_HUB_URL = "https://huggingface.co";

/** A model repository on the Hub and the revision (branch, tag or commit) to take. */
export type HubModelRef = {
  /** `owner/name` */
  readonly repo: string;
  /** `"main"` unless the spec says `owner/name@revision`. */
  readonly revision: string;
};

/** Options of {@linkcode downloadHubModel}. */
export type DownloadHubModelOptions = {
  /** The cache folder; default {@linkcode defaultHubCacheDir}. */
  readonly cacheDir?: string;
  /** The Hub's address; default `$HF_ENDPOINT`, else {@linkcode DEFAULT_HUB_URL}. */
  readonly hubUrl?: string;
  /** A token (`hf_...`) for private or gated repositories; default `$HF_TOKEN`. */
  readonly accessToken?: string;
  /** The fetch function every request goes through; default the global `fetch`. */
  readonly fetch?: typeof fetch;
  /** Called as each file starts downloading (files found in the cache are not reported). */
  readonly onProgress?: (file: string, bytes: number) => void;
  /** Use the cache only, without any request; default {@linkcode isHubOffline}. */
  readonly offline?: boolean;
};

/** Where the Hub is and how to ask it: what every request of this module needs. */
export type HubRequestOptions = {
  /** The Hub's address, without a trailing `/`. */
  readonly hubUrl: string;
  /** A token (`hf_...`) for private or gated repositories. */
  readonly accessToken?: string;
  /** The fetch function every request goes through; default the global `fetch`. */
  readonly fetch?: typeof fetch;
};

const SEGMENT = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$/;
const FILE_LIKE = /\.(bin|safetensors|json|pt|pth|gguf)$/i;
const COMMIT = /^[0-9a-f]{40}$/;
const CONFIG = "config.json";
const TOKENIZER = "tokenizer.json";
const TOKENIZER_CONFIG = "tokenizer_config.json";
const SINGLE = "model.safetensors";
const INDEX = "model.safetensors.index.json";
const PYTORCH = "pytorch_model.bin";

/**
 * The repository and revision of an `owner/name` or `owner/name@revision`
 * spec, or `undefined` when the spec does not have that shape (a path that
 * starts with `.`, `/` or `~`, more or fewer than two segments, characters a
 * Hub name cannot hold, a last segment ending in a weight or JSON file
 * extension, or a revision with white space or an empty, `.` or `..`
 * segment). It does not look at the file system: see
 * {@linkcode isHubModelId}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseHubModelId } from "./hub.ts";
 * assert.deepEqual(parseHubModelId("EleutherAI/pythia-70m"), { repo: "EleutherAI/pythia-70m", revision: "main" });
 * assert.equal(parseHubModelId("roneneldan/TinyStories-1M@refs/pr/3")?.revision, "refs/pr/3");
 * assert.equal(parseHubModelId("a/b@refs/../../x"), undefined);
 * assert.equal(parseHubModelId("./runs/model"), undefined);
 * assert.equal(parseHubModelId("stories260k"), undefined);
 * ```
 */
export function parseHubModelId(spec: string): HubModelRef | undefined {
  const at = spec.indexOf("@");
  const id = at < 0 ? spec : spec.slice(0, at);
  const revision = at < 0 ? "main" : spec.slice(at + 1);
  const parts = id.split("/");
  if (parts.length !== 2) return undefined;
  for (const part of parts) {
    if (!SEGMENT.test(part) || part.includes("--") || part.includes("..") || part.length > 96) {
      return undefined;
    }
  }
  if (FILE_LIKE.test(parts[1])) return undefined;
  if (!validRevision(revision)) return undefined;
  return { repo: id, revision };
}

function validRevision(revision: string): boolean {
  if (revision === "" || revision.length > 256) return false;
  // "/" is fine (refs/pr/1, feature/x): it is escaped in URLs, and refs/{revision} nests folders as Python's
  // cache does; an empty, "." or ".." segment is not (it would leave the refs folder).
  if (revision.split("/").some((s) => s === "" || s === "." || s === "..")) return false;
  for (const char of revision) {
    const code = char.codePointAt(0)!;
    if (code <= 0x20 || code === 0x7f || char === "\\" || /\s/.test(char)) return false;
  }
  return true;
}

/**
 * Whether `--model` names a Hub repository: an `owner/name[@revision]` spec
 * (see {@linkcode parseHubModelId}) that is not an existing local path.
 * `./owner/name`, `../a/b` and absolute paths are always paths.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isHubModelId } from "./hub.ts";
 * assert.ok(isHubModelId("EleutherAI/pythia-70m"));
 * assert.ok(isHubModelId("roneneldan/TinyStories-1M@main"));
 * assert.ok(!isHubModelId("./EleutherAI/pythia-70m"));
 * assert.ok(!isHubModelId("/models/pythia-70m"));
 * assert.ok(!isHubModelId("stories260k"));
 * assert.ok(!isHubModelId("runs/stories15M.bin"));
 * ```
 */
export function isHubModelId(spec: string): boolean {
  return parseHubModelId(spec) !== undefined && !pathExists(spec);
}

function pathExists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (error) {
    // Anything but "not found" (no permission to look, say) is taken as a path, the safer reading.
    return !(error instanceof Deno.errors.NotFound);
  }
}

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined; // no --allow-env
  }
}

/** A leading `~` (alone or before `/`) as the home folder, as Python's `os.path.expanduser` reads it. */
function expandUser(path: string): string {
  if (path !== "~" && !path.startsWith("~/")) return path;
  const home = env("HOME") ?? env("USERPROFILE");
  return home === undefined ? path : home + path.slice(1);
}

/**
 * The Hugging Face cache folder, chosen by the rules of Python's
 * `huggingface_hub` (and `@huggingface/hub`'s `getHFHubCachePath`):
 * `$HF_HUB_CACHE`, else `$HUGGINGFACE_HUB_CACHE` (its older name), else
 * `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`, else
 * `~/.cache/huggingface/hub`. A leading `~` is the home folder.
 *
 * @throws Error when none of these variables, nor `$HOME`, is set
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultHubCacheDir } from "./hub.ts";
 * const saved = Deno.env.get("HF_HUB_CACHE");
 * Deno.env.set("HF_HUB_CACHE", "/data/hf-cache");
 * assert.equal(defaultHubCacheDir(), "/data/hf-cache");
 * if (saved === undefined) Deno.env.delete("HF_HUB_CACHE");
 * else Deno.env.set("HF_HUB_CACHE", saved);
 * ```
 */
export function defaultHubCacheDir(): string {
  const hub = env("HF_HUB_CACHE") ?? env("HUGGINGFACE_HUB_CACHE");
  if (hub !== undefined) return expandUser(hub);
  const hfHome = env("HF_HOME");
  if (hfHome !== undefined) return `${expandUser(hfHome).replace(/\/+$/, "")}/hub`;
  const xdg = env("XDG_CACHE_HOME");
  if (xdg !== undefined) return `${expandUser(xdg).replace(/\/+$/, "")}/huggingface/hub`;
  const home = env("HOME") ?? env("USERPROFILE");
  if (home !== undefined) return `${home.replace(/\/+$/, "")}/.cache/huggingface/hub`;
  throw new Error(
    "Hugging Face cache: expected $HF_HUB_CACHE, $HF_HOME, $XDG_CACHE_HOME or $HOME to be set (or a cacheDir option), found none",
  );
}

/**
 * Whether `$HF_HUB_OFFLINE` asks for no requests at all: `1`, `on`, `yes`
 * or `true` in any case, as Python's `huggingface_hub` reads it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isHubOffline } from "./hub.ts";
 * const saved = Deno.env.get("HF_HUB_OFFLINE");
 * Deno.env.set("HF_HUB_OFFLINE", "Yes");
 * assert.equal(isHubOffline(), true);
 * Deno.env.set("HF_HUB_OFFLINE", "0");
 * assert.equal(isHubOffline(), false);
 * if (saved === undefined) Deno.env.delete("HF_HUB_OFFLINE");
 * else Deno.env.set("HF_HUB_OFFLINE", saved);
 * ```
 */
export function isHubOffline(): boolean {
  return ["1", "ON", "YES", "TRUE"].includes((env("HF_HUB_OFFLINE") ?? "").toUpperCase());
}

/**
 * The Hub's address, `hubUrl` else `$HF_ENDPOINT` else
 * {@linkcode DEFAULT_HUB_URL}, and the token, `accessToken` else `$HF_TOKEN`
 * else `$HUGGING_FACE_HUB_TOKEN`, with the fetch function.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hubRequestOptions } from "./hub.ts";
 * assert.equal(hubRequestOptions({ hubUrl: "http://127.0.0.1:8080/" }).hubUrl, "http://127.0.0.1:8080");
 * assert.equal(hubRequestOptions({ accessToken: "hf_x" }).accessToken, "hf_x");
 * ```
 */
export function hubRequestOptions(
  options: { readonly hubUrl?: string; readonly accessToken?: string; readonly fetch?: typeof fetch } = {},
): HubRequestOptions {
  return {
    hubUrl: (options.hubUrl ?? env("HF_ENDPOINT") ?? DEFAULT_HUB_URL).replace(/\/+$/, ""),
    accessToken: options.accessToken ?? env("HF_TOKEN") ?? env("HUGGING_FACE_HUB_TOKEN"),
    fetch: options.fetch,
  };
}

/**
 * The folder of a model repository in the cache:
 * `{cacheDir}/models--{owner}--{name}`.
 *
 * @throws TypeError when `repo` is not `owner/name`
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hubRepoCacheDir } from "./hub.ts";
 * assert.equal(hubRepoCacheDir("EleutherAI/pythia-70m", "/c/"), "/c/models--EleutherAI--pythia-70m");
 * ```
 */
export function hubRepoCacheDir(repo: string, cacheDir: string = defaultHubCacheDir()): string {
  const ref = parseHubModelId(repo);
  if (ref === undefined || repo.includes("@")) {
    throw new TypeError(`Hugging Face repository: expected "owner/name", received ${JSON.stringify(repo)}`);
  }
  return `${cacheDir.replace(/\/+$/, "")}/models--${repo.replace("/", "--")}`;
}

/**
 * The snapshot folder a spec names in the cache,
 * `{cacheDir}/models--{owner}--{name}/snapshots/{commit}`: the commit is the
 * revision itself when it is a full commit id (40 hex digits), else the one
 * `refs/{revision}` holds; `undefined` when the cache has no such ref. The
 * folder itself may be missing or incomplete: {@linkcode downloadHubModel}
 * makes it complete.
 *
 * @throws TypeError when `spec` is not `owner/name[@revision]`
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hubSnapshotDir } from "./hub.ts";
 * const commit = "0123456789abcdef0123456789abcdef01234567";
 * assert.equal(hubSnapshotDir(`a/b@${commit}`, "/c"), `/c/models--a--b/snapshots/${commit}`);
 * const cacheDir = await Deno.makeTempDir();
 * assert.equal(hubSnapshotDir("a/b", cacheDir), undefined);
 * await Deno.mkdir(`${cacheDir}/models--a--b/refs`, { recursive: true });
 * await Deno.writeTextFile(`${cacheDir}/models--a--b/refs/main`, commit);
 * assert.equal(hubSnapshotDir("a/b", cacheDir), `${cacheDir}/models--a--b/snapshots/${commit}`);
 * await Deno.remove(cacheDir, { recursive: true });
 * ```
 */
export function hubSnapshotDir(spec: string, cacheDir: string = defaultHubCacheDir()): string | undefined {
  const { repo, revision } = parseSpec(spec);
  const storage = hubRepoCacheDir(repo, cacheDir);
  let commit: string | undefined = revision;
  if (!COMMIT.test(revision)) {
    try {
      commit = Deno.readTextFileSync(`${storage}/refs/${revision}`).trim();
    } catch {
      commit = undefined;
    }
  }
  return commit !== undefined && COMMIT.test(commit) ? `${storage}/snapshots/${commit}` : undefined;
}

function parseSpec(spec: string): HubModelRef {
  const ref = parseHubModelId(spec);
  if (ref === undefined) {
    throw new TypeError(
      `Hugging Face model id: expected "owner/name" or "owner/name@revision", received ${
        JSON.stringify(spec)
      }`,
    );
  }
  return ref;
}

/** The commit `refs/{revision}` holds in the cache, `undefined` when none. */
async function readRef(storage: string, revision: string): Promise<string | undefined> {
  if (COMMIT.test(revision)) return revision;
  try {
    const commit = (await Deno.readTextFile(`${storage}/refs/${revision}`)).trim();
    return COMMIT.test(commit) ? commit : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The commit a revision names on the Hub: a full commit id (40 hex digits)
 * as it is, without a request; a branch, tag or `refs/pr/N` through
 * `@huggingface/hub`'s `modelInfo` (`GET {hub}/api/models/{repo}/revision/{revision}`,
 * its `sha`). Errors are the library's (`HubApiError` with the status).
 *
 * @throws Error when the Hub answers with anything but a commit id
 *
 * @example A Hub answered by an in-memory fetch
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveHubCommit } from "./hub.ts";
 * const hub: typeof fetch = () => Promise.resolve(Response.json({ sha: "c".repeat(40) }));
 * assert.equal(await resolveHubCommit("acme/tiny", "main", { hubUrl: "http://hub.test", fetch: hub }), "c".repeat(40));
 * assert.equal(await resolveHubCommit("acme/tiny", "d".repeat(40), { hubUrl: "http://hub.test" }), "d".repeat(40));
 * ```
 */
export async function resolveHubCommit(
  repo: string,
  revision: string,
  options: HubRequestOptions,
): Promise<string> {
  if (COMMIT.test(revision)) return revision;
  const info = await hf.modelInfo({
    name: repo,
    revision,
    additionalFields: ["sha"],
    hubUrl: options.hubUrl,
    accessToken: options.accessToken,
    fetch: options.fetch,
  });
  const sha = (info as { sha?: unknown }).sha;
  if (typeof sha !== "string" || !COMMIT.test(sha)) {
    throw new Error(
      `${options.hubUrl}/api/models/${repo}/revision/${
        encodeURIComponent(revision)
      }: expected a commit id (40 hex digits) in sha, received ${JSON.stringify(sha)}`,
    );
  }
  return sha;
}

/**
 * Records in the cache that `revision` resolved to `commit`:
 * `{cacheDir}/models--{owner}--{name}/refs/{revision}` holds the commit id
 * (no newline), as Python's `huggingface_hub` writes it. Nothing is written
 * when the revision is the commit itself.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeHubRef } from "./hub.ts";
 * const cacheDir = await Deno.makeTempDir();
 * await writeHubRef("a/b", "refs/pr/1", "e".repeat(40), cacheDir);
 * assert.equal(await Deno.readTextFile(`${cacheDir}/models--a--b/refs/refs/pr/1`), "e".repeat(40));
 * await Deno.remove(cacheDir, { recursive: true });
 * ```
 */
export async function writeHubRef(
  repo: string,
  revision: string,
  commit: string,
  cacheDir: string = defaultHubCacheDir(),
): Promise<void> {
  if (revision === commit) return;
  if (!validRevision(revision)) {
    throw new TypeError(
      `Hugging Face revision: expected a branch or tag name, received ${JSON.stringify(revision)}`,
    );
  }
  const path = `${hubRepoCacheDir(repo, cacheDir)}/refs/${revision}`;
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  await writeTextAtomic(path, commit);
}

/** What {@linkcode downloadHubFileToCache} needs to know of a file: `hf.PathInfo` and `hf.ListFileEntry` have it. */
export type HubFileEntry = {
  readonly path: string;
  /** Its size in bytes, checked after the download. */
  readonly size: number;
  /** The git blob id. */
  readonly oid?: string;
  /** For files stored with Git LFS: the SHA-256. */
  readonly lfs?: { readonly oid: string };
  readonly xetHash?: string;
};

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile; // follows the snapshot's symbolic links
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/**
 * Downloads one file of a commit into the cache with `@huggingface/hub`'s
 * `downloadFileToCacheDir` (over plain HTTP, `xet: false`) and returns its
 * path in the snapshot, `{cacheDir}/models--{owner}--{name}/snapshots/{commit}/{path}`
 * (a link to `blobs/{etag}`). A blob already in the cache (the same file in
 * another commit) is linked without a download. The size is checked: a
 * transfer that stopped short is removed, as is the `.incomplete` file of a
 * failed one, so the cache keeps only complete files. `onProgress` is
 * called when a download starts.
 *
 * @throws Error (the library's, or "expected N bytes, received M") when the download fails
 *
 * @example A Hub answered by an in-memory fetch
 * ```ts
 * import assert from "node:assert/strict";
 * import { downloadHubFileToCache } from "./hub.ts";
 * const commit = "a".repeat(40);
 * const entry = { path: "config.json", size: 2, oid: "b".repeat(40) };
 * const hub: typeof fetch = (input, init) => {
 *   if (String(input).includes("/paths-info/")) return Promise.resolve(Response.json([{ type: "file", ...entry }]));
 *   const ranged = new Headers(init?.headers).has("Range");
 *   const headers = { ETag: `"${entry.oid}"`, "Content-Range": "bytes 0-0/2" };
 *   return Promise.resolve(ranged ? new Response("{", { status: 206, headers }) : new Response("{}"));
 * };
 * const cacheDir = await Deno.makeTempDir();
 * const path = await downloadHubFileToCache("acme/tiny", commit, entry, { cacheDir, hubUrl: "http://hub.test", fetch: hub });
 * assert.equal(path, `${cacheDir}/models--acme--tiny/snapshots/${commit}/config.json`);
 * assert.equal(await Deno.readTextFile(`${cacheDir}/models--acme--tiny/blobs/${entry.oid}`), "{}");
 * await Deno.remove(cacheDir, { recursive: true });
 * ```
 */
export async function downloadHubFileToCache(
  repo: string,
  commit: string,
  entry: HubFileEntry,
  options: HubRequestOptions & {
    readonly cacheDir: string;
    readonly onProgress?: (file: string, bytes: number) => void;
  },
): Promise<string> {
  if (!COMMIT.test(commit)) {
    throw new TypeError(`Hugging Face download: expected a commit id (40 hex digits), received ${commit}`);
  }
  const storage = hubRepoCacheDir(repo, options.cacheDir);
  const etag = entry.lfs?.oid ?? entry.xetHash ?? entry.oid;
  const blob = etag === undefined ? undefined : `${storage}/blobs/${etag}`;
  const fresh = blob === undefined || !(await Deno.lstat(blob).then(() => true, () => false));
  if (fresh) options.onProgress?.(entry.path, entry.size);
  const request = {
    repo: { type: "model" as const, name: repo },
    path: entry.path,
    revision: commit,
    cacheDir: options.cacheDir,
    hubUrl: options.hubUrl,
    accessToken: options.accessToken,
    fetch: options.fetch,
    xet: false, // passed on to downloadFile: plain HTTP
  };
  let pointer: string;
  try {
    pointer = await hf.downloadFileToCacheDir(request);
  } catch (error) {
    if (blob !== undefined) await Deno.remove(`${blob}.incomplete`).catch(() => {});
    throw error;
  }
  const size = (await Deno.stat(pointer)).size;
  if (size !== entry.size) {
    const target = await Deno.realPath(pointer).catch(() => undefined);
    await Deno.remove(pointer).catch(() => {});
    if (target !== undefined && fresh) await Deno.remove(target).catch(() => {});
    throw new Error(`expected ${entry.size} bytes, received ${size}`);
  }
  return pointer;
}

/** The fields of a failed response that `@huggingface/hub`'s errors leave out. */
type Failure = { readonly url: string; readonly status: number; readonly code: string | null };

/** What a snapshot folder holds of the files the loaders read. */
type SnapshotState = {
  readonly config: boolean;
  readonly tokenizer: boolean;
  /** `unknown` when the file is absent and `.no_exist/` does not say the commit lacks it. */
  readonly tokenizerConfig: "present" | "absent" | "unknown";
  /** The weight files present: `[SINGLE]`, or `[INDEX, ...shards present]`; empty when neither. */
  readonly weights: readonly string[];
  /** The shards the index lists that are not in the snapshot. */
  readonly missingShards: readonly string[];
};

async function snapshotState(storage: string, commit: string, label: string): Promise<SnapshotState> {
  const dir = `${storage}/snapshots/${commit}`;
  const tokenizerConfig = (await isFile(`${dir}/${TOKENIZER_CONFIG}`))
    ? "present"
    : (await isFile(`${storage}/.no_exist/${commit}/${TOKENIZER_CONFIG}`))
    ? "absent"
    : "unknown";
  let weights: string[] = [];
  const missingShards: string[] = [];
  if (await isFile(`${dir}/${SINGLE}`)) {
    weights = [SINGLE];
  } else if (await isFile(`${dir}/${INDEX}`)) {
    weights = [INDEX];
    for (const shard of await shardsOf(`${dir}/${INDEX}`, label)) {
      if (await isFile(`${dir}/${shard}`)) weights.push(shard);
      else missingShards.push(shard);
    }
  }
  return {
    config: await isFile(`${dir}/${CONFIG}`),
    tokenizer: await isFile(`${dir}/${TOKENIZER}`),
    tokenizerConfig,
    weights,
    missingShards,
  };
}

/** What a snapshot lacks for the loaders (`tokenizer_config.json` is optional). */
function lacking(state: SnapshotState): string[] {
  const out: string[] = [];
  if (!state.config) out.push(CONFIG);
  if (!state.tokenizer) out.push(TOKENIZER);
  if (state.weights.length === 0) out.push(`${SINGLE} or ${INDEX}`);
  out.push(...state.missingShards);
  return out;
}

/**
 * Downloads what the Hugging Face loaders need of a Hub model into the
 * standard cache and returns its snapshot folder,
 * `{cacheDir}/models--{owner}--{name}/snapshots/{commit}`: `config.json`,
 * `tokenizer.json`, `tokenizer_config.json` when the repository has one, and
 * `model.safetensors` or `model.safetensors.index.json` and every shard it
 * lists. A branch or tag is resolved to its commit (one request), and
 * `refs/{revision}` records it once the snapshot is complete; only files the
 * snapshot lacks are downloaded. A full commit id whose snapshot is complete
 * takes no request; offline (`$HF_HUB_OFFLINE`), or when the Hub cannot be
 * reached, the snapshot `refs/{revision}` names is used when complete.
 *
 * @throws TypeError when `spec` is not `owner/name[@revision]`
 * @throws Error naming the repository, the file and the URL: an unknown (or
 *   private) repository, a gated one without access, an unknown revision, a
 *   missing file, a repository with PyTorch weights only, an unsafe shard
 *   name, a failed request (which says what the cache holds: never a partial
 *   file), or, offline, a snapshot the cache does not hold complete
 *
 * @example A Hub answered by an in-memory fetch (tests/_fake_hub.ts serves a fuller one over HTTP)
 * ```ts
 * import assert from "node:assert/strict";
 * import { downloadHubModel } from "./hub.ts";
 * const commit = "a".repeat(40);
 * const files: Record<string, string> = { "config.json": "{}", "tokenizer.json": "{}", "model.safetensors": "xy" };
 * const hub: typeof fetch = (input, init) => {
 *   const url = String(input);
 *   if (url.includes("/revision/main")) return Promise.resolve(Response.json({ sha: commit }));
 *   if (url.includes("/paths-info/")) {
 *     const paths: string[] = JSON.parse(String(init?.body)).paths;
 *     const found = paths.filter((path) => path in files);
 *     return Promise.resolve(Response.json(found.map((path) => ({ type: "file", path, size: files[path].length, oid: path }))));
 *   }
 *   const body = files[url.split(`/resolve/${commit}/`)[1]];
 *   const ranged = new Headers(init?.headers).has("Range");
 *   const headers = { ETag: '"1"', "Content-Range": `bytes 0-0/${body.length}` };
 *   return Promise.resolve(ranged ? new Response(body[0], { status: 206, headers }) : new Response(body));
 * };
 * const cacheDir = await Deno.makeTempDir();
 * const dir = await downloadHubModel("acme/tiny", { cacheDir, hubUrl: "http://hub.test", fetch: hub });
 * assert.equal(dir, `${cacheDir}/models--acme--tiny/snapshots/${commit}`);
 * assert.equal(await Deno.readTextFile(`${dir}/model.safetensors`), "xy");
 * assert.equal(await Deno.readTextFile(`${cacheDir}/models--acme--tiny/refs/main`), commit);
 * await Deno.remove(cacheDir, { recursive: true });
 * ```
 */
export async function downloadHubModel(spec: string, options: DownloadHubModelOptions = {}): Promise<string> {
  const { repo, revision } = parseSpec(spec);
  const cacheDir = (options.cacheDir ?? defaultHubCacheDir()).replace(/\/+$/, "");
  const storage = hubRepoCacheDir(repo, cacheDir);
  const offline = options.offline ?? isHubOffline();
  const label = revision === "main" ? repo : `${repo}@${revision}`;
  const snapshot = (commit: string) => `${storage}/snapshots/${commit}`;
  const pinned = COMMIT.test(revision);

  if (pinned) {
    const state = await snapshotState(storage, revision, label);
    if (lacking(state).length === 0 && (offline || state.tokenizerConfig !== "unknown")) {
      return snapshot(revision);
    }
  }
  if (offline) {
    const commit = await readRef(storage, revision);
    if (commit === undefined) {
      throw new Error(
        `Hugging Face model ${label}: offline (HF_HUB_OFFLINE), and the cache has no commit for revision ${
          JSON.stringify(revision)
        } (expected ${storage}/refs/${revision}); run once with access to the Hub, or unset HF_HUB_OFFLINE`,
      );
    }
    const missing = lacking(await snapshotState(storage, commit, label));
    if (missing.length > 0) {
      throw new Error(
        `Hugging Face model ${label}: offline (HF_HUB_OFFLINE), and ${snapshot(commit)} lacks ${
          missing.join(", ")
        }; run once with access to the Hub, or unset HF_HUB_OFFLINE`,
      );
    }
    return snapshot(commit);
  }

  const { hubUrl, accessToken, fetch: baseFetch = fetch } = hubRequestOptions(options);
  const written: string[] = [];
  let failure: Failure | undefined;
  let unreachable: { url: string; error: unknown } | undefined;

  // Every request goes through here, to keep what the library's errors drop.
  const trackedFetch: typeof fetch = async (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    let response: Response;
    try {
      response = await baseFetch(input, init);
    } catch (error) {
      unreachable ??= { url, error };
      throw error;
    }
    if (!response.ok) {
      failure = {
        url: response.url || url,
        status: response.status,
        code: response.headers.get("X-Error-Code"),
      };
    }
    return response;
  };
  const request: HubRequestOptions = { hubUrl, accessToken, fetch: trackedFetch };
  let commit = pinned ? revision : undefined;
  const urlOf = (path: string) => `${hubUrl}/${repo}/resolve/${encodeURIComponent(revision)}/${path}`;
  const where = () => (commit === undefined ? storage : snapshot(commit));
  const cacheNote = () =>
    written.length === 0
      ? `the cache was left as it was (${where()})`
      : `the cache keeps only the complete files downloaded before (${
        written.join(", ")
      }) in ${where()}, no partial file`;

  const explain = (error: unknown, what: string, url: string): Error => {
    const message = error instanceof Error ? error.message.replace(/\. URL: .*$/, "") : String(error);
    if (unreachable !== undefined) {
      return new Error(
        `Hugging Face model ${label}: could not reach ${unreachable.url} (${
          describeFetchError(unreachable.error)
        }); ${cacheNote()}`,
        { cause: error },
      );
    }
    if (failure !== undefined) {
      const { status, code } = failure;
      const http = `HTTP ${status}${code ? ` ${code}` : ""} for ${failure.url}`;
      if (code === "RepoNotFound" || (status === 401 && code !== "GatedRepo")) {
        return new Error(
          `Hugging Face model ${label}: repository ${repo} not found at ${hubUrl} (${http}); ` +
            `check the name, and for a private repository set HF_TOKEN`,
          { cause: error },
        );
      }
      if (code === "RevisionNotFound") {
        return new Error(
          `Hugging Face model ${label}: revision ${JSON.stringify(revision)} not found in ${repo} (${http})`,
          { cause: error },
        );
      }
      if (code === "GatedRepo" || status === 403) {
        return new Error(
          `Hugging Face model ${label}: access to ${repo} is restricted (${http}); ` +
            `accept its terms at ${hubUrl}/${repo} and set HF_TOKEN`,
          { cause: error },
        );
      }
      return new Error(`Hugging Face model ${label}: ${what}: ${http}: ${message}; ${cacheNote()}`, {
        cause: error,
      });
    }
    return new Error(`Hugging Face model ${label}: ${what} from ${url} failed: ${message}; ${cacheNote()}`, {
      cause: error,
    });
  };
  /** Runs the requests about `what`, turning failures into errors that say what happened. */
  const attempt = async <T>(what: string, url: string, run: () => Promise<T>): Promise<T> => {
    failure = undefined;
    unreachable = undefined;
    try {
      return await run();
    } catch (error) {
      throw explain(error, what, url);
    }
  };

  if (!pinned) {
    try {
      commit = await attempt(
        `resolving revision ${JSON.stringify(revision)}`,
        `${hubUrl}/api/models/${repo}/revision/${encodeURIComponent(revision)}`,
        () => resolveHubCommit(repo, revision, request),
      );
    } catch (error) {
      // As Python does: when the Hub cannot be reached (or fails), the snapshot the ref names will do.
      if (unreachable !== undefined || (failure !== undefined && failure.status >= 500)) {
        const cached = await readRef(storage, revision);
        if (cached !== undefined && lacking(await snapshotState(storage, cached, label)).length === 0) {
          return snapshot(cached);
        }
      }
      throw error;
    }
    const state = await snapshotState(storage, commit, label);
    if (lacking(state).length === 0 && state.tokenizerConfig !== "unknown") {
      await writeHubRef(repo, revision, commit, cacheDir);
      return snapshot(commit);
    }
  }
  const at = commit!;
  const dir = snapshot(at);

  /** The files the Hub has of `paths` at the commit (absent ones are left out). */
  const lookUp = async (paths: string[]): Promise<Map<string, hf.PathInfo>> => {
    const entries = await attempt(
      `looking up ${paths.join(", ")}`,
      `${hubUrl}/api/models/${repo}/paths-info/${at}`,
      () =>
        hf.pathsInfo({
          repo: { type: "model", name: repo },
          paths,
          revision: at,
          expand: true,
          hubUrl,
          accessToken,
          fetch: trackedFetch,
        }),
    );
    return new Map(entries.filter((e) => e.type === "file").map((e) => [e.path, e]));
  };
  const missing = (path: string, why = "") =>
    new Error(
      `Hugging Face model ${label}: ${path} expected in ${repo} at revision ${JSON.stringify(revision)}${
        pinned ? "" : ` (commit ${at})`
      }, not found (${urlOf(path)})${why}`,
    );
  const download = async (entry: hf.PathInfo): Promise<void> => {
    await attempt(
      `downloading ${entry.path}`,
      urlOf(entry.path),
      () =>
        downloadHubFileToCache(repo, at, entry, {
          ...request,
          cacheDir,
          onProgress: options.onProgress,
        }),
    );
    written.push(entry.path);
  };

  try {
    const state = await snapshotState(storage, at, label);
    // Look before downloading anything large: all required files must exist.
    const wanted = [CONFIG, TOKENIZER, TOKENIZER_CONFIG, SINGLE, INDEX, PYTORCH];
    const found = await lookUp(wanted);
    if (!state.config && !found.has(CONFIG)) throw missing(CONFIG);
    if (!state.tokenizer && !found.has(TOKENIZER)) {
      throw missing(TOKENIZER, " (saekit reads tokenizers from tokenizer.json only)");
    }
    let weights: string | undefined = state.weights[0];
    if (weights === undefined) {
      weights = found.has(SINGLE) ? SINGLE : found.has(INDEX) ? INDEX : undefined;
      if (weights === undefined) {
        throw new Error(
          `Hugging Face model ${label}: expected ${SINGLE} or ${INDEX} in ${repo} at revision ${
            JSON.stringify(revision)
          }, found neither${
            found.has(PYTORCH)
              ? ` (it has ${PYTORCH}: saekit needs safetensors weights; the Hub's conversion bot often offers them on a pull-request revision such as @refs/pr/1)`
              : ""
          }`,
        );
      }
    }
    const plan: hf.PathInfo[] = [];
    if (!state.config) plan.push(found.get(CONFIG)!);
    if (!state.tokenizer) plan.push(found.get(TOKENIZER)!);
    if (state.tokenizerConfig !== "present" && found.has(TOKENIZER_CONFIG)) {
      plan.push(found.get(TOKENIZER_CONFIG)!);
    }
    if (state.weights.length === 0) plan.push(found.get(weights)!);
    for (const entry of plan) await download(entry);
    if (state.tokenizerConfig === "unknown" && !found.has(TOKENIZER_CONFIG)) {
      // As Python records a file that a commit does not have.
      const marker = `${storage}/.no_exist/${at}/${TOKENIZER_CONFIG}`;
      await Deno.mkdir(marker.slice(0, marker.lastIndexOf("/")), { recursive: true });
      await Deno.writeFile(marker, new Uint8Array());
    }

    if (weights === INDEX) {
      const shards: string[] = [];
      for (const shard of await shardsOf(`${dir}/${INDEX}`, label)) {
        if (!(await isFile(`${dir}/${shard}`))) shards.push(shard);
      }
      if (shards.length > 0) {
        const listed = await lookUp(shards);
        for (const shard of shards) {
          if (!listed.has(shard)) throw missing(shard, ` (listed in ${INDEX})`);
        }
        for (const shard of shards) await download(listed.get(shard)!);
      }
    }
    if (!pinned) await writeHubRef(repo, revision, at, cacheDir);
    return dir;
  } catch (error) {
    if (written.length === 0) await removeEmptyFolders(storage);
    throw error;
  }
}

/** A fetch error's message with its cause, which is where Deno says what went wrong (DNS, refused, TLS). */
function describeFetchError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error
    ? error.cause.message.replace(/^error sending request for url \([^)]*\): /, "")
    : "";
  return cause === "" ? error.message : `${error.message}: ${cause}`;
}

/** The distinct shard files of an index, checked to stay inside the snapshot folder. */
async function shardsOf(indexPath: string, label: string): Promise<string[]> {
  let index: { weight_map?: unknown };
  try {
    index = JSON.parse(await Deno.readTextFile(indexPath));
  } catch (error) {
    throw new TypeError(
      `Hugging Face model ${label}: ${indexPath}: expected JSON, ${
        error instanceof Error ? error.message : error
      }`,
    );
  }
  const map = index.weight_map;
  if (map === null || typeof map !== "object" || Array.isArray(map)) {
    throw new TypeError(
      `Hugging Face model ${label}: ${indexPath}: expected a weight_map object, received ${
        JSON.stringify(map)
      }`,
    );
  }
  const shards = [...new Set(Object.values(map))];
  for (const shard of shards) {
    if (typeof shard !== "string") {
      throw new TypeError(
        `Hugging Face model ${label}: ${indexPath}: weight_map expected file names, received ${
          JSON.stringify(shard)
        }`,
      );
    }
    try {
      hf.assertSafeShardFilename(shard);
    } catch (error) {
      throw new Error(
        `Hugging Face model ${label}: ${indexPath}: ${error instanceof Error ? error.message : error}`,
      );
    }
  }
  return shards as string[];
}

/** Removes the empty folders under `dir` (and `dir` itself when it ends up empty); files are never touched. */
async function removeEmptyFolders(dir: string): Promise<void> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch {
    return;
  }
  for (const entry of entries) {
    if (entry.isDirectory) await removeEmptyFolders(`${dir}/${entry.name}`);
  }
  await Deno.remove(dir).catch(() => {}); // fails, as it should, on a folder that holds anything
}
