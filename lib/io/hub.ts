/**
 * Trained SAEs on the Hugging Face Hub, through Hugging Face's own
 * JavaScript client `@huggingface/hub`: {@linkcode uploadRun} publishes a
 * run's `final/` (SAELens's layout, one folder per SAE) as a model repository
 * with a model card, and {@linkcode downloadSae} fetches the SAEs of a
 * repository (SAELens's or sparsify's layout) and imports them.
 *
 * The requests, in the order the client makes them:
 *
 * - upload: `POST {hub}/api/repos/create` (409 when it exists: kept), then
 *   `uploadFiles`: `POST {hub}/api/models/{repo}/preupload/main` (which files
 *   go to LFS), for those `POST {hub}/{repo}.git/info/lfs/objects/batch` and
 *   a `PUT` of each file to the address it returns (Git LFS's basic transfer:
 *   `useXet: false`, the Xet protocol is not used), then
 *   `POST {hub}/api/models/{repo}/commit/main` (NDJSON: the small files
 *   inline, the LFS ones by SHA-256);
 * - download: the revision resolved to its commit,
 *   `GET {hub}/api/models/{repo}/revision/{revision}` (`modelInfo`), then
 *   `GET {hub}/api/models/{repo}/tree/{commit}?recursive=true` (following
 *   `Link: rel="next"` pages), then per file `downloadFileToCacheDir`:
 *   `POST {hub}/api/models/{repo}/paths-info/{commit}` and
 *   `GET {hub}/{repo}/resolve/{commit}/{path}` with `Range: bytes=0-0` and
 *   without (plain HTTP, `xet: false`), into the standard Hugging Face cache
 *   that models share (see `lib/models/load/hub.ts`).
 *
 * The Hub's address is `hubUrl`, else `$HF_ENDPOINT`, else
 * `https://huggingface.co`; the token is `accessToken`, else `$HF_TOKEN`
 * (`$HUGGING_FACE_HUB_TOKEN`). Nothing else differs between the real Hub and
 * a test server.
 *
 * @module
 */
import * as hf from "@huggingface/hub";
import {
  defaultHubCacheDir,
  downloadHubFileToCache,
  type HubFileEntry,
  hubRepoCacheDir,
  hubRequestOptions,
  hubSnapshotDir,
  isHubOffline,
  parseHubModelId,
  resolveHubCommit,
  writeHubRef,
} from "../models/load/hub.ts";
import {
  type ImportedSaes,
  importSaelens,
  readCfg,
  saeFolders,
  SAELENS_CFG,
  SAELENS_WEIGHTS,
} from "./saelens.ts";
import { importSparsify, SPARSIFY_WEIGHTS } from "./sparsify.ts";
import { readJsonFile } from "./files.ts";
import { findArch } from "../sae/arch/registry.ts";

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** `value` when it is a JSON object; else a `TypeError` naming `path`. */
function jsonObject(value: unknown, path: string): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new TypeError(`${path}: expected a JSON object, received ${JSON.stringify(value)}`);
  }
  return value as Record<string, unknown>;
}

/** The status, error code and address of the last failed response: `@huggingface/hub`'s errors drop the code. */
type Failure = { status: number; code: string | null; url: string };

/** A fetch that remembers the last failed response in `failure.last`, and sets `failure.unreachable` when a request could not be sent. */
function tracking(
  base: typeof fetch | undefined,
  failure: { last?: Failure; unreachable?: boolean },
): typeof fetch {
  return async (input, init) => {
    let response: Response;
    try {
      response = await (base ?? fetch)(input, init);
    } catch (error) {
      failure.unreachable = true;
      throw error;
    }
    if (!response.ok) {
      const url = input instanceof Request ? input.url : String(input);
      failure.last = {
        status: response.status,
        code: response.headers.get("X-Error-Code"),
        url: response.url || url,
      };
    }
    return response;
  };
}

/** A Hub failure as an error that says what happened, with the status, code and address. */
function explain(error: unknown, what: string, hubUrl: string, repo: string, failure?: Failure): Error {
  if (error instanceof hf.HubApiError) {
    const code = failure?.code ?? null;
    const http = `HTTP ${error.statusCode}${code ? ` ${code}` : ""} for ${failure?.url ?? error.url}`;
    const detail = error.message.replace(/\. URL: .*$/, "");
    if (code === "RevisionNotFound") {
      return new Error(`${what}: revision not found in ${repo} (${http}: ${detail})`, { cause: error });
    }
    if (code === "EntryNotFound") {
      return new Error(`${what}: file not found in ${repo} (${http}: ${detail})`, { cause: error });
    }
    if (code === "RepoNotFound" || error.statusCode === 401 || error.statusCode === 404) {
      return new Error(
        `${what}: repository ${repo} not found at ${hubUrl} (${http}: ${detail}); ` +
          `check the name, and for a private repository set HF_TOKEN`,
        { cause: error },
      );
    }
    if (error.statusCode === 403) {
      return new Error(
        `${what}: the token may not write to ${repo} (${http}: ${detail}); use a token with write access (HF_TOKEN)`,
        { cause: error },
      );
    }
    return new Error(`${what}: ${http}: ${detail}`, { cause: error });
  }
  if (error instanceof TypeError && /fetch|connect|dns|network|sending request/i.test(message(error))) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
    return new Error(`${what}: could not reach ${hubUrl} (${message(error)}${cause})`, { cause: error });
  }
  return new Error(`${what}: ${message(error)}`, { cause: error });
}

/** What the model card says, gathered from a run folder. */
export type ModelCardInput = {
  /** `owner/name` */
  readonly repo: string;
  /** The run's resolved configuration (`config.json`). */
  readonly config: Readonly<Record<string, unknown>>;
  /** The last metrics line (`final/summary.json`), when there is one. */
  readonly summary?: Readonly<Record<string, unknown>> | null;
  /** Each SAE's folder in the repository and its `cfg.json`. */
  readonly saes: readonly { readonly folder: string; readonly cfg: Readonly<Record<string, unknown>> }[];
};

const CARD_METRICS: readonly [string, string][] = [
  ["train/l0_norm", "L0"],
  ["train/explained_variance", "explained variance"],
  ["train/dead_fraction", "dead fraction"],
  ["loss/total", "loss"],
  ["validate/reconstruction_score", "reconstruction score"],
  ["validate/kl_div", "KL divergence"],
  ["eval/mmcs", "MMCS (toy ground truth)"],
];

function figure(value: unknown): string {
  if (typeof value !== "number") return "–";
  if (Number.isInteger(value)) return String(value);
  return Number(value.toPrecision(4)).toString();
}

function yamlString(value: string): string {
  return JSON.stringify(value); // a JSON string is a valid double-quoted YAML scalar
}

/**
 * The model card (`README.md`) of an uploaded run: YAML front matter (`library_name: saelens`, tags,
 * `base_model` when the model is a Hub id) and what was trained, on which model, hooks and data, how,
 * the final metrics per SAE, and how to load the SAEs with SAELens and saekit (pure).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { modelCard } from "./hub.ts";
 * const card = modelCard({
 *   repo: "me/saes",
 *   config: { source: "model", model: "EleutherAI/pythia-70m", arch: "topk", k: 32, steps: 1000 },
 *   summary: { step: 1000, "train/l0_norm/blocks.3.hook_resid_post": 32 },
 *   saes: [{ folder: "blocks.3.hook_resid_post", cfg: { architecture: "topk", d_in: 512, d_sae: 4096, hook_name: "blocks.3.hook_resid_post" } }],
 * });
 * assert.ok(card.startsWith("---\nlibrary_name: saelens\n"));
 * assert.ok(card.includes('base_model: "EleutherAI/pythia-70m"'));
 * ```
 */
export function modelCard(input: ModelCardInput): string {
  const { repo, config, saes } = input;
  const summary = input.summary ?? {};
  const arch = typeof config.arch === "string" ? config.arch : "relu";
  const knob = findArch(arch)?.sparsity;
  const toy = config.source !== "model";
  const model = typeof config.model === "string" ? config.model : null;
  const hubModel = !toy && model !== null && parseHubModelId(model) !== undefined ? model : null;
  const first = saes[0]?.cfg ?? {};
  const architecture = typeof first.architecture === "string" ? first.architecture : "standard";
  const transcoder = Array.isArray(config.transcoderFrom);

  const front = [
    "---",
    "library_name: saelens",
    ...(hubModel !== null ? [`base_model: ${yamlString(hubModel)}`] : []),
    "tags:",
    "- saelens",
    "- saekit",
    `- ${transcoder ? "transcoder" : "sparse-autoencoder"}`,
    `- ${yamlString(arch)}`,
    "---",
  ];

  const what = toy
    ? `on saekit's synthetic toy data (${figure(config.toyFeatures)} ground-truth directions, ` +
      `${figure(config.toyMeanActive)} active on average)`
    : `on the activations of \`${model}\``;
  const data = toy
    ? "saekit's synthetic toy source (no language model)"
    : typeof config.dataset === "string"
    ? `\`${config.dataset}\``
    : "saekit's built-in corpus of 2000 stories sampled from stories260K";
  const lines = [
    ...front,
    "",
    `# ${repo.split("/")[1]}`,
    "",
    `${saes.length} ${transcoder ? "transcoder" : "sparse autoencoder"}${saes.length === 1 ? "" : "s"} ` +
    `(saekit architecture \`${arch}\`, SAELens architecture \`${architecture}\`), trained with ` +
    `[saekit](https://jsr.io/@saekit/saekit) ${what}. Each folder holds one SAE in SAELens's layout ` +
    "(`cfg.json`, `sae_weights.safetensors`), with any activation normalisation folded into the weights.",
    "",
    "## SAEs and final metrics",
    "",
    `| folder (SAELens \`sae_id\`) | hook | d_in | d_sae | ${
      CARD_METRICS.map(([, label]) => label).join(" | ")
    } |`,
    `| --- | --- | --- | --- | ${CARD_METRICS.map(() => "---").join(" | ")} |`,
  ];
  for (const { folder, cfg } of saes) {
    const name = typeof cfg.saekit_component === "string" ? cfg.saekit_component : folder;
    const hook = typeof cfg.hook_name === "string"
      ? cfg.hook_name + (typeof cfg.hook_name_out === "string" ? ` → ${cfg.hook_name_out}` : "")
      : "–";
    const metrics = CARD_METRICS.map(([prefix]) => figure(summary[`${prefix}/${name}`]));
    lines.push(
      `| \`${folder}\` | \`${hook}\` | ${figure(cfg.d_in)} | ${figure(cfg.d_sae)} | ${metrics.join(" | ")} |`,
    );
  }
  const setting = (label: string, value: unknown) =>
    value === undefined || value === null
      ? []
      : [`- ${label}: ${typeof value === "string" ? value : JSON.stringify(value)}`];
  lines.push(
    "",
    `Metrics are those of the last logged step${
      typeof summary.step === "number" ? ` (${summary.step})` : ""
    }, ` +
      "averaged over the vectors since the previous log line; `–` where the run did not log it.",
    "",
    "## Training",
    "",
    ...setting("model", toy ? null : model),
    ...setting("hooks", transcoder ? null : config.hooks),
    ...setting("transcoder input hooks", config.transcoderFrom),
    ...setting("transcoder output hooks", config.transcoderTo),
    `- data: ${data}`,
    ...setting("context size (tokens)", toy ? null : config.contextSize),
    ...setting("BOS prepended", toy ? null : config.prependBos),
    ...setting("architecture", arch),
    // The architecture's sparsity knob: k for the TopK family, else the coefficient λ.
    ...setting("k", knob === "k" ? config.k : null),
    ...setting("sparsity coefficient", knob === "k" ? null : config.l1Coefficient),
    ...setting("steps", summary.step ?? config.steps),
    ...setting("activations trained on", summary.activations),
    ...setting("batch size", config.batchSize),
    ...setting("learning rate", config.lr),
    ...setting("learning-rate schedule", config.lrSchedule),
    ...setting("activation normalisation (folded into the weights)", config.normalizeActivations),
    ...setting("seed", config.seed),
    "",
    "The full configuration is in `training_config.json`, the last metrics line in `summary.json`.",
    "",
    "## Loading",
    "",
    "With SAELens:",
    "",
    "```python",
    "from sae_lens import SAE",
    `sae, cfg, sparsity = SAE.from_pretrained(release=${JSON.stringify(repo)}, sae_id=${
      JSON.stringify(saes[0]?.folder ?? "")
    })`,
    "```",
    "",
    "With saekit:",
    "",
    "```sh",
    `deno task hub download ${repo}`,
    "```",
    "",
  );
  return [...lines].join("\n");
}

/** Options of {@linkcode uploadRun}. */
export type UploadRunOptions = {
  /** The Hub's address; default `$HF_ENDPOINT`, else `https://huggingface.co`. */
  readonly hubUrl?: string;
  /** A token with write access (`hf_...`); default `$HF_TOKEN`. */
  readonly accessToken?: string;
  /** Create the repository private (when it does not exist yet). */
  readonly private?: boolean;
  /** The commit's title; default "Upload SAEs trained with saekit". */
  readonly commitTitle?: string;
  /** The fetch function every request goes through; default the global `fetch`. */
  readonly fetch?: typeof fetch;
};

/** What {@linkcode uploadRun} did. */
export type UploadRunResult = {
  readonly repo: string;
  /** The repository's page. */
  readonly url: string;
  /** Whether the repository was created (false: it existed). */
  readonly created: boolean;
  /** The commit's id, as the Hub reports it. */
  readonly commit: string;
  /** The paths uploaded, sorted. */
  readonly files: readonly string[];
};

async function filesUnder(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = `${prefix}${entry.name}`;
    if (entry.isDirectory) out.push(...await filesUnder(`${dir}/${entry.name}`, `${path}/`));
    else if (entry.isFile && !entry.name.includes(".tmp-")) out.push(path);
  }
  return out.sort();
}

/**
 * Uploads a run's SAEs as a Hub model repository: every file of `{runDir}/final/` (one SAELens folder
 * per SAE, `summary.json`), the run's `config.json` as `training_config.json`, and a generated
 * `README.md` model card ({@linkcode modelCard}), in one commit to `main`. The repository is created
 * when it does not exist.
 *
 * @param repo `owner/name`
 * @throws TypeError when `repo` is not `owner/name`
 * @throws TypeError naming the file when `config.json` or `final/summary.json` is not JSON (truncated,
 *   empty) or not a JSON object; nothing is uploaded then
 * @throws Error without a token, without `final/` SAEs, or naming the request that failed
 *
 * @example Against a Hub that accepts everything (any `hubUrl` answers the same requests)
 * ```ts
 * import assert from "node:assert/strict";
 * import { uploadRun } from "./hub.ts";
 * const run = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${run}/config.json`, JSON.stringify({ source: "toy", arch: "relu" }));
 * await Deno.mkdir(`${run}/final/toy.0`, { recursive: true });
 * await Deno.writeTextFile(`${run}/final/toy.0/cfg.json`, JSON.stringify({ architecture: "standard", d_in: 2, d_sae: 4 }));
 * await Deno.writeFile(`${run}/final/toy.0/sae_weights.safetensors`, new Uint8Array(8));
 * const hub: typeof fetch = (input) => {
 *   const url = String(input);
 *   const body = url.endsWith("/api/repos/create") ? { url: "http://hub.test/me/saes" }
 *     : url.includes("/preupload/") ? { files: [] }
 *     : { commitOid: "1".repeat(40), commitUrl: "http://hub.test/me/saes/commit/1" };
 *   return Promise.resolve(Response.json(body));
 * };
 * const result = await uploadRun(run, "me/saes", { hubUrl: "http://hub.test", accessToken: "hf_x", fetch: hub });
 * assert.deepEqual(result.files, ["README.md", "toy.0/cfg.json", "toy.0/sae_weights.safetensors", "training_config.json"]);
 * await Deno.remove(run, { recursive: true });
 * ```
 */
export async function uploadRun(
  runDir: string,
  repo: string,
  options: UploadRunOptions = {},
): Promise<UploadRunResult> {
  const ref = parseHubModelId(repo);
  if (ref === undefined || repo.includes("@")) {
    throw new TypeError(`Hugging Face repository: expected "owner/name", received ${JSON.stringify(repo)}`);
  }
  const what = `Hugging Face upload of ${runDir} to ${repo}`;
  const { hubUrl, accessToken } = hubRequestOptions(options);
  if (accessToken === undefined) {
    throw new Error(`${what}: expected an access token with write access (set HF_TOKEN), found none`);
  }
  const root = runDir.replace(/\/+$/, "");
  const final = `${root}/final`;
  let config: Record<string, unknown>;
  try {
    config = jsonObject(await readJsonFile(`${root}/config.json`), `${root}/config.json`);
  } catch (error) {
    // A file that is there but does not hold a JSON object: its own message names it.
    if (error instanceof TypeError) throw new TypeError(`${what}: ${error.message}`);
    throw new Error(`${what}: expected the run's config.json in ${root}, ${message(error)}`);
  }
  const folders = await saeFolders(final, SAELENS_WEIGHTS).catch((error) => {
    throw new Error(`${what}: expected the trained SAEs in ${final} (a finished run), ${message(error)}`);
  });
  const saes = await Promise.all(folders.map(async (dir) => ({
    folder: dir === final ? "" : dir.slice(final.length + 1),
    cfg: await readCfg(dir),
  })));
  let summary: Record<string, unknown> | null = null;
  try {
    summary = jsonObject(await readJsonFile(`${final}/summary.json`), `${final}/summary.json`);
  } catch (error) {
    // A run that logged nothing has none; a damaged one would be uploaded as it is, so it stops the upload.
    if (!(error instanceof Deno.errors.NotFound)) {
      if (error instanceof TypeError) throw new TypeError(`${what}: ${error.message}`);
      throw new Error(`${what}: ${message(error)}`);
    }
  }
  const files = new Map<string, Blob>();
  for (const path of await filesUnder(final)) {
    files.set(path, new Blob([await Deno.readFile(`${final}/${path}`)]));
  }
  files.set("training_config.json", new Blob([JSON.stringify(config, null, 2) + "\n"]));
  files.set("README.md", new Blob([modelCard({ repo, config, summary, saes })]));

  const failure: { last?: Failure } = {};
  const params = {
    repo: { type: "model" as const, name: repo },
    accessToken,
    hubUrl,
    fetch: tracking(options.fetch, failure),
  };
  let created = true;
  try {
    await hf.createRepo({
      ...params,
      ...(options.private !== undefined
        ? { visibility: options.private ? "private" as const : "public" as const }
        : {}),
    });
  } catch (error) {
    if (!(error instanceof hf.HubApiError && error.statusCode === 409)) {
      throw explain(error, what, hubUrl, repo, failure.last);
    }
    created = false; // it exists: add a commit to it
  }
  let output: Awaited<ReturnType<typeof hf.uploadFiles>>;
  try {
    output = await hf.uploadFiles({
      ...params,
      files: [...files].map(([path, content]) => ({ path, content })),
      commitTitle: options.commitTitle ?? "Upload SAEs trained with saekit",
      useXet: false,
    });
  } catch (error) {
    throw explain(error, what, hubUrl, repo, failure.last);
  }
  return {
    repo,
    url: `${hubUrl}/${repo}`,
    created,
    commit: output?.commit.oid ?? "",
    files: [...files.keys()].sort(),
  };
}

/** Options of {@linkcode downloadSae}. */
export type DownloadSaeOptions = {
  /** The Hub's address; default `$HF_ENDPOINT`, else `https://huggingface.co`. */
  readonly hubUrl?: string;
  /** A token for private repositories; default `$HF_TOKEN`. */
  readonly accessToken?: string;
  /** The Hugging Face cache (as for models); default `defaultHubCacheDir()` (`$HF_HUB_CACHE`, `$HF_HOME/hub`, `~/.cache/huggingface/hub`). */
  readonly cacheDir?: string;
  /** A branch, tag or commit; default the spec's `@revision`, else `main`. */
  readonly revision?: string;
  /** Also copy the SAE folders from the cache into this folder, and import them from there. */
  readonly out?: string;
  /** Only these SAE folders of the repository (default: every one). */
  readonly folders?: readonly string[];
  /** The fetch function every request goes through; default the global `fetch`. */
  readonly fetch?: typeof fetch;
  /** Use the cache only, without any request; default `$HF_HUB_OFFLINE`. */
  readonly offline?: boolean;
};

/** The SAEs {@linkcode downloadSae} fetched, imported, and where their files are. */
export type DownloadedSaes = ImportedSaes & {
  readonly repo: string;
  readonly revision: string;
  /** The commit the revision resolved to. */
  readonly commit: string;
  /** The local folder holding the repository's SAE folders: the cache's snapshot, or `out`. */
  readonly dir: string;
  /** The SAE folders taken, as paths in the repository (`""` for one at its root). */
  readonly folders: readonly string[];
};

const COMMIT = /^[0-9a-f]{40}$/;

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile; // follows the snapshot's links
  } catch {
    return false;
  }
}

/** The files of a snapshot folder already in the cache, as a listing. */
async function localListing(dir: string, prefix = ""): Promise<Map<string, HubFileEntry>> {
  const out = new Map<string, HubFileEntry>();
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch {
    return out;
  }
  for (const entry of entries) {
    const path = `${prefix}${entry.name}`;
    if (entry.isDirectory) {
      for (const [p, e] of await localListing(`${dir}/${entry.name}`, `${path}/`)) out.set(p, e);
    } else if (await isFile(`${dir}/${entry.name}`)) {
      out.set(path, { path, size: (await Deno.stat(`${dir}/${entry.name}`)).size });
    }
  }
  return out;
}

/**
 * Downloads the SAEs of a Hub repository and imports them: every folder holding `cfg.json` with
 * `sae_weights.safetensors` (SAELens's layout; taken when there is any) or with `sae.safetensors`
 * (sparsify's), or only `options.folders`. The revision is resolved to its commit and the repository
 * listed at it; only those files are fetched, with `@huggingface/hub`'s `downloadFileToCacheDir`, into
 * the standard Hugging Face cache, as models are (see `downloadHubModel`):
 * `{cacheDir}/models--{owner}--{name}/snapshots/{commit}/`, links to `blobs/`, with `refs/{revision}`.
 * A file already in the snapshot is not fetched again (nor one whose blob another commit brought);
 * a commit id whose requested `folders` are in the cache takes no request; offline
 * (`$HF_HUB_OFFLINE`), or when the Hub cannot be reached, the snapshot `refs/{revision}` names is read
 * as it is. With `out`, the SAE folders are also copied there.
 *
 * @param spec `owner/name` or `owner/name@revision`
 * @throws TypeError when `spec` is not `owner/name[@revision]`
 * @throws Error naming the repository: not found, no SAE folders, a folder asked for that is not
 *   there, a failed request, or offline a snapshot not in the cache; import errors as
 *   {@linkcode importSaelens} throws them
 *
 * @example A Hub answered by an in-memory fetch (tests/io/hub_test.ts serves a fuller one over HTTP)
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { encodeSafetensors } from "./safetensors.ts";
 * import { downloadSae } from "./hub.ts";
 * const commit = "c".repeat(40);
 * const t = (shape: number[]) => ({ dtype: "F32" as const, shape, data: new Float32Array(shape.reduce((a, b) => a * b)) });
 * const files: Record<string, Uint8Array> = {
 *   "l0/cfg.json": new TextEncoder().encode(JSON.stringify({ d_in: 2, d_sae: 3 })),
 *   "l0/sae_weights.safetensors": encodeSafetensors({ W_enc: t([2, 3]), b_enc: t([3]), W_dec: t([3, 2]), b_dec: t([2]) }),
 * };
 * const entry = (path: string) => ({ type: "file", path, size: files[path].length, oid: path.replace("/", "-") });
 * const hub: typeof fetch = (input, init) => {
 *   const url = String(input);
 *   if (url.includes("/revision/main")) return Promise.resolve(Response.json({ sha: commit }));
 *   if (url.includes(`/tree/${commit}`)) return Promise.resolve(Response.json(Object.keys(files).map(entry)));
 *   if (url.includes("/paths-info/")) return Promise.resolve(Response.json(JSON.parse(String(init?.body)).paths.map(entry)));
 *   const body = files[url.split(`/resolve/${commit}/`)[1]];
 *   const range = new Headers(init?.headers).has("Range");
 *   const headers = { ETag: '"1"', "Content-Range": `bytes 0-0/${body.length}` };
 *   return Promise.resolve(range ? new Response(body.slice(0, 1), { status: 206, headers }) : new Response(new Uint8Array(body)));
 * };
 * const cacheDir = await Deno.makeTempDir();
 * const saes = await downloadSae("me/saes", { hubUrl: "http://hub.test", cacheDir, fetch: hub });
 * assert.equal(saes.dir, `${cacheDir}/models--me--saes/snapshots/${commit}`);
 * assert.deepEqual(saes.folders, ["l0"]);
 * assert.deepEqual(saes.params.wEnc.shape, [1, 2, 3]);
 * tf.dispose(saes.params as unknown as tf.TensorContainer);
 * await Deno.remove(cacheDir, { recursive: true });
 * ```
 */
export async function downloadSae(spec: string, options: DownloadSaeOptions = {}): Promise<DownloadedSaes> {
  const ref = parseHubModelId(spec);
  if (ref === undefined) {
    throw new TypeError(
      `Hugging Face repository: expected "owner/name" or "owner/name@revision", received ${
        JSON.stringify(spec)
      }`,
    );
  }
  const repo = ref.repo;
  const revision = options.revision ?? ref.revision;
  const what = `Hugging Face SAEs ${repo}${revision === "main" ? "" : `@${revision}`}`;
  const { hubUrl, accessToken } = hubRequestOptions(options);
  const cacheDir = (options.cacheDir ?? defaultHubCacheDir()).replace(/\/+$/, "");
  const offline = options.offline ?? isHubOffline();
  const pinned = COMMIT.test(revision);
  const failure: { last?: Failure; unreachable?: boolean } = {};
  const request = { hubUrl, accessToken, fetch: tracking(options.fetch, failure) };
  const snapshotOf = (commit: string) => `${hubRepoCacheDir(repo, cacheDir)}/snapshots/${commit}`;
  const parentOf = (path: string) => (path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "");
  const join = (folder: string, file: string) => (folder === "" ? file : `${folder}/${file}`);
  /** The commit the cache's ref names, when the cache has one. */
  const cachedCommit = () => hubSnapshotDir(`${repo}@${revision}`, cacheDir)?.split("/").at(-1);

  let commit: string | undefined = pinned ? revision : undefined;
  /** The repository's files at the commit; from the cache's snapshot when `fromCache`. */
  let listing: Map<string, HubFileEntry> | undefined;
  let fromCache = false;
  const wanted = options.folders?.map((f) => f.replace(/^\/+|\/+$/g, ""));
  if (pinned && wanted !== undefined) {
    // A commit never changes: when the folders asked for are in its snapshot, no request is needed.
    const local = await localListing(snapshotOf(revision));
    const complete = (f: string) =>
      local.has(join(f, SAELENS_CFG)) &&
      (local.has(join(f, SAELENS_WEIGHTS)) || local.has(join(f, SPARSIFY_WEIGHTS)));
    if (wanted.every(complete)) [listing, fromCache] = [local, true];
  }
  if (listing === undefined && offline) {
    commit ??= cachedCommit();
    if (commit === undefined) {
      throw new Error(
        `${what}: offline (HF_HUB_OFFLINE), and the cache has no commit for revision ${
          JSON.stringify(revision)
        } (expected ${
          hubRepoCacheDir(repo, cacheDir)
        }/refs/${revision}); run once with access to the Hub, or unset HF_HUB_OFFLINE`,
      );
    }
    [listing, fromCache] = [await localListing(snapshotOf(commit)), true];
  }
  if (listing === undefined) {
    try {
      commit ??= await resolveHubCommit(repo, revision, request);
      listing = new Map();
      for await (
        const entry of hf.listFiles({
          ...request,
          repo: { type: "model", name: repo },
          revision: commit,
          recursive: true,
        })
      ) {
        if (entry.type === "file") listing.set(entry.path, entry);
      }
    } catch (error) {
      // As Python does: when the Hub cannot be reached, the snapshot the ref names will do.
      const cached = failure.unreachable ? cachedCommit() : undefined;
      if (cached === undefined) throw explain(error, what, hubUrl, repo, failure.last);
      [commit, listing, fromCache] = [cached, await localListing(snapshotOf(cached)), true];
    }
  }
  const at = commit!;
  const snapshot = snapshotOf(at);

  const cfgFolders = [...listing.keys()].filter((p) => p.split("/").at(-1) === SAELENS_CFG).map(parentOf);
  const saelens = cfgFolders.filter((f) => listing.has(join(f, SAELENS_WEIGHTS)));
  const sparsify = cfgFolders.filter((f) => listing.has(join(f, SPARSIFY_WEIGHTS)));
  const format = saelens.length > 0 ? "saelens" : "sparsify";
  const weights = format === "saelens" ? SAELENS_WEIGHTS : SPARSIFY_WEIGHTS;
  const available = (format === "saelens" ? saelens : sparsify).sort(
    new Intl.Collator("en", { numeric: true }).compare,
  );
  const source = fromCache ? ` in the cache (${snapshot})` : "";
  if (available.length === 0) {
    throw new Error(
      `${what}: expected folders with ${SAELENS_CFG} and ${SAELENS_WEIGHTS} (SAELens) or ${SPARSIFY_WEIGHTS} (sparsify), found none among ${listing.size} files${source}`,
    );
  }
  const folders = wanted ?? available;
  for (const folder of folders) {
    if (!available.includes(folder)) {
      throw new Error(
        `${what}: folder ${JSON.stringify(folder)} expected among its SAE folders (${
          available.map((f) => JSON.stringify(f)).join(", ")
        })${source}, not found`,
      );
    }
  }

  const paths = folders.flatMap((folder) => [join(folder, SAELENS_CFG), join(folder, weights)]);
  for (const path of paths) {
    if (await isFile(`${snapshot}/${path}`)) continue; // in the cache already
    try {
      await downloadHubFileToCache(repo, at, listing.get(path)!, { ...request, cacheDir });
    } catch (error) {
      throw explain(error, `${what}: downloading ${path}`, hubUrl, repo, failure.last);
    }
  }
  if (!pinned && !fromCache) await writeHubRef(repo, revision, at, cacheDir);

  let dir = snapshot;
  if (options.out !== undefined) {
    dir = options.out.replace(/\/+$/, "");
    for (const path of paths) {
      const target = `${dir}/${path}`;
      await Deno.mkdir(target.slice(0, target.lastIndexOf("/")), { recursive: true });
      const tmp = `${target}.tmp-${crypto.randomUUID().slice(0, 8)}`;
      try {
        await Deno.copyFile(`${snapshot}/${path}`, tmp); // the blob the link points to
        await Deno.rename(tmp, target);
      } catch (error) {
        await Deno.remove(tmp).catch(() => {});
        throw new Error(`${what}: copying ${path} from ${snapshot} to ${dir}: ${message(error)}`, {
          cause: error,
        });
      }
    }
  }
  const local = folders.map((f) => (f === "" ? dir : `${dir}/${f}`));
  const imported = format === "saelens" ? await importSaelens(local) : await importSparsify(local);
  return { ...imported, repo, revision, commit: at, dir, folders };
}
