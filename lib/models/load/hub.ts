/**
 * Downloading a model from the Hugging Face Hub into a local cache, so that
 * `--model EleutherAI/pythia-70m` (or `owner/name@revision`) works like a
 * local Hugging Face folder. Requests go through Hugging Face's own
 * JavaScript client, `@huggingface/hub` (`downloadFile`, `fileDownloadInfo`,
 * `fileExists`): for each file one `GET {hubUrl}/{repo}/resolve/{revision}/{path}`
 * with `Range: bytes=0-0` (size, ETag, and whether the file exists), then one
 * plain `GET` of the same URL (the Hub redirects large files to its CDN).
 * Files are fetched over plain HTTP (`xet: false`), not the Xet protocol.
 *
 * Only the files the loaders read are fetched: `config.json`,
 * `tokenizer.json`, `tokenizer_config.json` (when the repository has one), and
 * `model.safetensors` or `model.safetensors.index.json` with every shard it
 * lists. They land in `{cacheDir}/models--{owner}--{name}/snapshots/{revision}/`,
 * each written to a temporary name and renamed, so the cache never holds a
 * half-written file. A snapshot that is complete is used without any request
 * (so a branch such as `main` is fetched once: pin a commit, or delete the
 * folder, to refresh it).
 *
 * The Hub's address is `options.hubUrl`, else `$HF_ENDPOINT` (as in Python's
 * `huggingface_hub`), else `https://huggingface.co`; the access token for
 * private or gated repositories is `options.accessToken`, else `$HF_TOKEN`.
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
};

const SEGMENT = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$/;
const FILE_LIKE = /\.(bin|safetensors|json|pt|pth|gguf)$/i;
const CONFIG = "config.json";
const TOKENIZER = "tokenizer.json";
const TOKENIZER_CONFIG = "tokenizer_config.json";
const SINGLE = "model.safetensors";
const INDEX = "model.safetensors.index.json";
const MANIFEST = ".saekit-snapshot.json";

/**
 * The repository and revision of an `owner/name` or `owner/name@revision`
 * spec, or `undefined` when the spec does not have that shape (a path that
 * starts with `.`, `/` or `~`, more or fewer than two segments, characters a
 * Hub name cannot hold, or a last segment ending in a weight or JSON file
 * extension). It does not look at the file system: see
 * {@linkcode isHubModelId}.
 *
 * @example
 * ```ts
 * import { parseHubModelId } from "./hub.ts";
 * console.assert(parseHubModelId("EleutherAI/pythia-70m")?.revision === "main");
 * console.assert(parseHubModelId("roneneldan/TinyStories-1M@refs/pr/3")?.revision === "refs/pr/3");
 * console.assert(parseHubModelId("./runs/model") === undefined);
 * console.assert(parseHubModelId("stories260k") === undefined);
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
  if (revision === "" || revision === "." || revision === ".." || revision.length > 256) return false;
  // No white space or control characters; "/" is fine (refs/pr/1), it is escaped in URLs and folder names.
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
 * import { isHubModelId } from "./hub.ts";
 * console.assert(isHubModelId("EleutherAI/pythia-70m"));
 * console.assert(isHubModelId("roneneldan/TinyStories-1M@main"));
 * console.assert(!isHubModelId("./EleutherAI/pythia-70m"));
 * console.assert(!isHubModelId("/models/pythia-70m"));
 * console.assert(!isHubModelId("stories260k"));
 * console.assert(!isHubModelId("runs/stories15M.bin"));
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

/**
 * The cache folder used when none is given: `$SAEKIT_CACHE`, else
 * `$XDG_CACHE_HOME/saekit/hub`, else `$HOME/.cache/saekit/hub`.
 *
 * @throws Error when none of these variables is set
 *
 * @example
 * ```ts
 * import { defaultHubCacheDir } from "./hub.ts";
 * console.assert(defaultHubCacheDir().length > 0);
 * ```
 */
export function defaultHubCacheDir(): string {
  const own = env("SAEKIT_CACHE");
  if (own !== undefined) return own;
  const xdg = env("XDG_CACHE_HOME");
  if (xdg !== undefined) return `${xdg}/saekit/hub`;
  const home = env("HOME") ?? env("USERPROFILE");
  if (home !== undefined) return `${home}/.cache/saekit/hub`;
  throw new Error(
    "Hugging Face cache: expected $SAEKIT_CACHE, $XDG_CACHE_HOME or $HOME to be set (or a cacheDir option), found none",
  );
}

/**
 * The folder a spec's files are downloaded to:
 * `{cacheDir}/models--{owner}--{name}/snapshots/{revision}` with the revision
 * URI-encoded (`refs/pr/1` → `refs%2Fpr%2F1`).
 *
 * @throws TypeError when `spec` is not `owner/name[@revision]`
 *
 * @example
 * ```ts
 * import { hubSnapshotDir } from "./hub.ts";
 * console.assert(hubSnapshotDir("EleutherAI/pythia-70m", "/c") === "/c/models--EleutherAI--pythia-70m/snapshots/main");
 * console.assert(hubSnapshotDir("a/b@refs/pr/1", "/c") === "/c/models--a--b/snapshots/refs%2Fpr%2F1");
 * ```
 */
export function hubSnapshotDir(spec: string, cacheDir: string = defaultHubCacheDir()): string {
  const { repo, revision } = parseSpec(spec);
  return `${cacheDir.replace(/\/+$/, "")}/models--${repo.replace("/", "--")}/snapshots/${
    encodeURIComponent(revision)
  }`;
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

/** What is written beside a snapshot's files once all of them are in place. */
type Manifest = {
  readonly repo: string;
  readonly revision: string;
  /** The commit the Hub resolved the revision to (`X-Repo-Commit`), when it said. */
  readonly commit: string | null;
  readonly files: readonly string[];
};

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

async function completeSnapshot(dir: string): Promise<boolean> {
  let manifest: Manifest;
  try {
    manifest = JSON.parse(await Deno.readTextFile(`${dir}/${MANIFEST}`));
  } catch {
    return false;
  }
  if (!Array.isArray(manifest.files)) return false;
  for (const file of manifest.files) if (!(await isFile(`${dir}/${file}`))) return false;
  return true;
}

/** The fields of a failed response that `@huggingface/hub`'s errors leave out. */
type Failure = { readonly url: string; readonly status: number; readonly code: string | null };

/**
 * Downloads what the Hugging Face loaders need of a Hub model into the
 * cache and returns its folder (see {@linkcode hubSnapshotDir}): `config.json`,
 * `tokenizer.json`, `tokenizer_config.json` when the repository has one, and
 * `model.safetensors` or `model.safetensors.index.json` and every shard it
 * lists. Files already in the cache are not downloaded again; a complete
 * snapshot is returned without any request.
 *
 * @throws TypeError when `spec` is not `owner/name[@revision]`
 * @throws Error naming the repository, the file and the URL: an unknown (or
 *   private) repository, an unknown revision, a missing file, a repository
 *   with PyTorch weights only, an unsafe shard name, or a failed request
 *   (which says what the cache holds: never a partial file)
 *
 * @example A Hub answered by an in-memory fetch (any `hubUrl` works the same way)
 * ```ts
 * import { downloadHubModel } from "./hub.ts";
 * const files: Record<string, string> = { "config.json": "{}", "tokenizer.json": "{}", "model.safetensors": "x" };
 * const hub: typeof fetch = (input, init) => {
 *   const body = files[String(input).split("/resolve/main/")[1]];
 *   if (body === undefined) return Promise.resolve(new Response(null, { status: 404, headers: { "X-Error-Code": "EntryNotFound" } }));
 *   const ranged = new Headers(init?.headers).has("Range");
 *   const headers = { ETag: '"1"', "Content-Range": `bytes 0-0/${body.length}` };
 *   return Promise.resolve(ranged ? new Response(body[0], { status: 206, headers }) : new Response(body));
 * };
 * const cacheDir = await Deno.makeTempDir();
 * const dir = await downloadHubModel("acme/tiny", { cacheDir, hubUrl: "http://hub.test", fetch: hub });
 * console.assert(dir === `${cacheDir}/models--acme--tiny/snapshots/main`);
 * console.assert(await Deno.readTextFile(`${dir}/model.safetensors`) === "x");
 * await Deno.remove(cacheDir, { recursive: true });
 * ```
 */
export async function downloadHubModel(spec: string, options: DownloadHubModelOptions = {}): Promise<string> {
  const { repo, revision } = parseSpec(spec);
  const cacheDir = options.cacheDir ?? defaultHubCacheDir();
  const dir = hubSnapshotDir(spec, cacheDir);
  if (await completeSnapshot(dir)) return dir;

  const hubUrl = (options.hubUrl ?? env("HF_ENDPOINT") ?? DEFAULT_HUB_URL).replace(/\/+$/, "");
  const accessToken = options.accessToken ?? env("HF_TOKEN") ?? env("HUGGING_FACE_HUB_TOKEN");
  const baseFetch = options.fetch ?? fetch;
  const label = revision === "main" ? repo : `${repo}@${revision}`;
  const written: string[] = [];
  let commit: string | null = null;
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
    commit ??= response.headers.get("X-Repo-Commit");
    if (!response.ok) {
      failure = {
        url: response.url || url,
        status: response.status,
        code: response.headers.get("X-Error-Code"),
      };
    }
    return response;
  };
  const params = { repo, revision, hubUrl, accessToken, fetch: trackedFetch };
  const urlOf = (path: string) => `${hubUrl}/${repo}/resolve/${encodeURIComponent(revision)}/${path}`;

  const cacheNote = () =>
    written.length === 0
      ? `the cache was left as it was (${dir})`
      : `the cache keeps only the complete files downloaded before (${
        written.join(", ")
      }) in ${dir}, no partial file`;

  const explain = (error: unknown, path: string): Error => {
    const url = urlOf(path);
    const message = error instanceof Error ? error.message : String(error);
    if (unreachable !== undefined) {
      const cause = describeFetchError(unreachable.error);
      return new Error(
        `Hugging Face model ${label}: could not reach ${unreachable.url} (${cause}); ${cacheNote()}`,
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
      return new Error(`Hugging Face model ${label}: ${path}: ${http}: ${message}; ${cacheNote()}`, {
        cause: error,
      });
    }
    return new Error(
      `Hugging Face model ${label}: downloading ${path} from ${url} failed: ${message}; ${cacheNote()}`,
      {
        cause: error,
      },
    );
  };

  /** Runs one request (or a few) about `path`, turning failures into errors that say what happened. */
  const attempt = async <T>(path: string, run: () => Promise<T>): Promise<T> => {
    failure = undefined;
    unreachable = undefined;
    try {
      return await run();
    } catch (error) {
      throw explain(error, path);
    }
  };

  type Info = NonNullable<Awaited<ReturnType<typeof hf.fileDownloadInfo>>>;
  /** The file's size and address, `null` when the repository has no such file. */
  const probe = (path: string): Promise<Info | null> =>
    attempt(path, () => hf.fileDownloadInfo({ ...params, path }));
  const missing = (path: string, why = "") =>
    new Error(
      `Hugging Face model ${label}: ${path} expected in ${repo} at revision ${
        JSON.stringify(revision)
      }, not found (HTTP 404 for ${urlOf(path)})${why}`,
    );

  const fetchFile = async (path: string, info: Info): Promise<void> => {
    const target = `${dir}/${path}`;
    options.onProgress?.(path, info.size);
    let tmp: string | undefined;
    await attempt(path, async () => {
      try {
        const blob = await hf.downloadFile({ ...params, path, xet: false, downloadInfo: info });
        if (blob === null) throw missing(path);
        await Deno.mkdir(target.replace(/\/[^/]*$/, ""), { recursive: true });
        tmp = `${target}.incomplete-${crypto.randomUUID().slice(0, 8)}`;
        const file = await Deno.open(tmp, { write: true, createNew: true });
        await blob.stream().pipeTo(file.writable);
        const { size } = await Deno.stat(tmp);
        if (size !== info.size) throw new Error(`expected ${info.size} bytes, received ${size}`);
        await Deno.rename(tmp, target);
        written.push(path);
      } catch (error) {
        if (tmp !== undefined) await Deno.remove(tmp).catch(() => {});
        throw error;
      }
    });
  };

  /** Downloads `path` unless the cache has it; an error when the repository has no such file. */
  const ensure = async (path: string, why: string): Promise<void> => {
    if (await isFile(`${dir}/${path}`)) return;
    const info = await probe(path);
    if (info === null) throw missing(path, why);
    await fetchFile(path, info);
  };

  try {
    // Look before downloading anything large: all required files must exist.
    const plan = new Map<string, Info | null>();
    for (const path of [CONFIG, TOKENIZER, TOKENIZER_CONFIG]) {
      if (!(await isFile(`${dir}/${path}`))) plan.set(path, await probe(path));
    }
    if (plan.get(CONFIG) === null) throw missing(CONFIG);
    if (plan.get(TOKENIZER) === null) {
      throw missing(TOKENIZER, " (saekit reads tokenizers from tokenizer.json only)");
    }
    let weights: string[];
    if (await isFile(`${dir}/${INDEX}`)) {
      weights = [INDEX];
    } else if (await isFile(`${dir}/${SINGLE}`)) {
      weights = [SINGLE];
    } else {
      const single = await probe(SINGLE);
      const index = single === null ? await probe(INDEX) : null;
      if (single === null && index === null) {
        const path = "pytorch_model.bin";
        const pytorch = await attempt(path, () => hf.fileExists({ ...params, path }));
        throw new Error(
          `Hugging Face model ${label}: expected ${SINGLE} or ${INDEX} in ${repo} at revision ${
            JSON.stringify(revision)
          }, found neither${
            pytorch
              ? " (it has pytorch_model.bin: saekit needs safetensors weights; the Hub's conversion bot often offers them on a pull-request revision such as @refs/pr/1)"
              : ""
          }`,
        );
      }
      weights = [single === null ? INDEX : SINGLE];
      plan.set(weights[0], single ?? index);
    }
    for (const [path, info] of plan) if (info !== null) await fetchFile(path, info);

    if (weights[0] === INDEX) {
      for (const shard of await shardsOf(`${dir}/${INDEX}`, label)) {
        await ensure(shard, ` (listed in ${INDEX})`);
        weights.push(shard);
      }
    }
    const files = [CONFIG, TOKENIZER, ...weights];
    if (await isFile(`${dir}/${TOKENIZER_CONFIG}`)) files.push(TOKENIZER_CONFIG);
    const manifest: Manifest = { repo, revision, commit, files };
    await writeTextAtomic(`${dir}/${MANIFEST}`, JSON.stringify(manifest, null, 2) + "\n");
    return dir;
  } catch (error) {
    if (written.length === 0) await removeEmptyFolders(dir, cacheDir);
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

/** Removes the snapshot folder and its parents up to `cacheDir` while they are empty. */
async function removeEmptyFolders(dir: string, cacheDir: string): Promise<void> {
  const root = cacheDir.replace(/\/+$/, "");
  for (let at = dir; at.length > root.length && at.startsWith(`${root}/`); at = at.replace(/\/[^/]*$/, "")) {
    try {
      await Deno.remove(at); // fails, as it should, on a folder that holds anything
    } catch {
      return;
    }
  }
}
