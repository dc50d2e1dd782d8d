/**
 * A small Hugging Face Hub on 127.0.0.1 for tests: it answers the requests
 * `@huggingface/hub` makes to upload and download model repositories, as the
 * real Hub does (the same paths, methods, headers, bodies and error codes),
 * and keeps the repositories in memory. Endpoints:
 *
 * - `POST /api/repos/create` `{name, organization, type, visibility}` → `{url, id}`; 409 when it exists;
 * - `POST /api/models/{repo}/preupload/{rev}` `{files: [{path, size, sample}]}` →
 *   `{files: [{path, uploadMode}]}` (`lfs` for `*.safetensors` and binary samples);
 * - `POST /{repo}.git/info/lfs/objects/batch` (Git LFS batch API, basic transfer) → upload actions
 *   for objects the Hub does not have yet; `PUT /lfs-storage/{oid}` stores them (SHA-256 checked);
 * - `POST /api/models/{repo}/commit/{rev}` (NDJSON `header`, `file`, `lfsFile`) → `{commitOid, commitUrl}`;
 * - `GET /api/models/{repo}/revision/{rev}?expand=…` (`modelInfo`) → `{_id, id, sha, private, gated,
 *   lastModified, siblings, …}`: `sha` is the commit the branch, tag or commit id names;
 * - `POST /api/models/{repo}/paths-info/{rev}` `{paths, expand}` (`pathsInfo`) → an entry for each
 *   path that exists (the others are left out), with `lastCommit` when `expand`;
 * - `GET /api/models/{repo}/tree/{rev}?recursive=…` → entries, in pages with `Link: <…>; rel="next"`;
 * - `GET /{repo}/resolve/{rev}/{path}` with or without `Range` (206, `Content-Range`, `ETag`,
 *   `X-Repo-Commit`), LFS files through a 302 to a CDN path with `X-Linked-Size` and `X-Linked-ETag`;
 *   in a repository stored with Xet, a request that accepts `application/vnd.xet-fileinfo+json` gets
 *   the file's Xet description instead of the redirect.
 *
 * Files are named as on the Hub: `oid` is the git blob id (SHA-1 of `blob {size}\0{bytes}`), the
 * `ETag` of a regular file; LFS files (`*.safetensors`, and files with a zero byte) have `lfs.oid`,
 * their SHA-256, which is their `X-Linked-ETag`. These are the names Python's `huggingface_hub` and
 * `@huggingface/hub` give the files in the cache's `blobs/`.
 *
 * Writes need `Authorization: Bearer {token}` with a token the Hub knows with write access (401
 * without one, 403 with a read token); private repositories answer only with a known token (401
 * `RepoNotFound` otherwise, as the Hub hides them); gated ones show their metadata to anyone but
 * their files only with a known token (401 `GatedRepo` otherwise).
 */

/** One revision's files. */
export type FakeFiles = Map<string, Uint8Array>;

/** A repository: its commits (oldest first) and branches (tags and `refs/pr/N` are branches here). */
export type FakeRepo = {
  private: boolean;
  /** Files need a known token; metadata does not. */
  gated?: boolean;
  /** LFS files are stored with Xet (see the module's doc). */
  xet?: boolean;
  commits: { id: string; title: string; files: FakeFiles }[];
  branches: Map<string, string>;
};

/** Options of {@linkcode FakeHub.addRepo}. */
export type FakeRepoOptions = { private?: boolean; gated?: boolean; xet?: boolean };

/** The running fake Hub. */
export type FakeHub = {
  readonly url: string;
  readonly repos: Map<string, FakeRepo>;
  /** `METHOD path` of every request, `(range)` appended for `Range` requests, in order. */
  readonly requests: string[];
  /** Tokens it knows: `write` or `read` access. */
  readonly tokens: Map<string, "write" | "read">;
  /** When set, full downloads of the CDN file of this name stop half-way (as when a proxy cuts a transfer). */
  breakFile?: string;
  /** The files of a repository at a branch (default `main`). */
  files(repo: string, branch?: string): FakeFiles;
  /** Adds a repository with these files on `main` (one commit); returns the commit id. */
  addRepo(repo: string, files: Record<string, Uint8Array>, options?: FakeRepoOptions): string;
  /**
   * Adds a commit with these files (the whole tree) and points `branch` (default `main`; a new name
   * makes a branch or tag) at it; returns the commit id.
   */
  commit(repo: string, files: Record<string, Uint8Array>, branch?: string): string;
  close(): Promise<void>;
};

async function digestHex(algorithm: "SHA-1" | "SHA-256", bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest(algorithm, new Uint8Array(bytes));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return await digestHex("SHA-256", bytes);
}

/** The git blob id of a file: SHA-1 of `blob {size}\0` and the bytes. */
export async function gitBlobId(bytes: Uint8Array): Promise<string> {
  const header = new TextEncoder().encode(`blob ${bytes.length}\0`);
  const all = new Uint8Array(header.length + bytes.length);
  all.set(header);
  all.set(bytes, header.length);
  return await digestHex("SHA-1", all);
}

let commitCounter = 0;
function newCommitId(): string {
  commitCounter++;
  return commitCounter.toString(16).padStart(40, "c");
}

function refuse(status: number, code: string | null, message: string): Response {
  return new Response(JSON.stringify({ error: message }), {
    status,
    headers: { "Content-Type": "application/json", ...(code ? { "X-Error-Code": code } : {}) },
  });
}

/** Whether the Hub keeps a file in LFS: `*.safetensors`, and any file with a zero byte (binary). */
export function isLfs(path: string, sample: Uint8Array): boolean {
  return path.endsWith(".safetensors") || sample.includes(0);
}

function send(req: Request, bytes: Uint8Array, headers: Record<string, string>): Response {
  const range = req.headers.get("Range")?.match(/^bytes=(\d+)-(\d*)$/);
  const body = (part: Uint8Array) => (req.method === "HEAD" ? null : new Uint8Array(part));
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

/** Starts a fake Hub on 127.0.0.1 with a random port. */
export function serveFakeHub(): FakeHub {
  const repos = new Map<string, FakeRepo>();
  const requests: string[] = [];
  const tokens = new Map<string, "write" | "read">();
  const lfs = new Map<string, Uint8Array>(); // by SHA-256
  const cdn = new Map<string, Uint8Array>();
  const ids = new WeakMap<Uint8Array, { oid: string; sha256: string }>();
  let origin = "";

  /** The git blob id and SHA-256 of a file's bytes (computed once). */
  const idsOf = async (bytes: Uint8Array) => {
    let known = ids.get(bytes);
    if (known === undefined) {
      known = { oid: await gitBlobId(bytes), sha256: await sha256Hex(bytes) };
      ids.set(bytes, known);
    }
    return known;
  };
  const access = (req: Request): "write" | "read" | null => {
    const auth = req.headers.get("Authorization")?.match(/^Bearer (.+)$/);
    return auth ? tokens.get(auth[1]) ?? null : null;
  };
  const visible = (req: Request, repo: FakeRepo | undefined): repo is FakeRepo =>
    repo !== undefined && (!repo.private || access(req) !== null);
  const canWrite = (req: Request): Response | null => {
    const level = access(req);
    if (level === null) return refuse(401, null, "Invalid credentials in Authorization header");
    if (level !== "write") return refuse(403, null, "You don't have the rights to write to this repository");
    return null;
  };
  const revisionOf = (repo: FakeRepo, rev: string) => {
    const id = repo.branches.get(rev) ?? rev;
    return repo.commits.find((c) => c.id === id);
  };
  /** The newest commit, up to `revision`, since which the file has been the same (the Hub's `lastCommit`). */
  const lastCommitOf = (repo: FakeRepo, revision: FakeRepo["commits"][number], path: string) => {
    const upTo = repo.commits.slice(0, repo.commits.indexOf(revision) + 1);
    let last = revision;
    for (
      let i = upTo.length - 1;
      i >= 0 && sameBytes(upTo[i].files.get(path), revision.files.get(path));
      i--
    ) {
      last = upTo[i];
    }
    return { id: last.id, title: last.title, date: "2024-01-01T00:00:00.000Z" };
  };
  const fileEntry = async (path: string, bytes: Uint8Array) => {
    const { oid, sha256 } = await idsOf(bytes);
    return {
      type: "file",
      path,
      size: bytes.length,
      oid,
      ...(isLfs(path, bytes) ? { lfs: { oid: sha256, size: bytes.length, pointerSize: 134 } } : {}),
    };
  };
  const dirsOf = (files: FakeFiles) => {
    const dirs = new Set<string>();
    for (const path of files.keys()) {
      const parts = path.split("/");
      for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join("/"));
    }
    return dirs;
  };
  const treeEntries = async (files: FakeFiles) => {
    const entries: Record<string, unknown>[] = [];
    for (const dir of [...dirsOf(files)].sort()) {
      entries.push({ type: "directory", path: dir, oid: "d".repeat(40), size: 0 });
    }
    for (const [path, bytes] of [...files].sort(([a], [b]) => a.localeCompare(b))) {
      entries.push(await fileEntry(path, bytes));
    }
    return entries;
  };

  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    const path = url.pathname;
    requests.push(`${req.method} ${path}${req.headers.has("Range") ? " (range)" : ""}`);
    if (req.method === "POST" && path === "/api/repos/create") {
      const denied = canWrite(req);
      if (denied) return denied;
      const body = await req.json();
      if (body.type !== "model") return refuse(400, null, `type: expected "model", received ${body.type}`);
      const name = `${body.organization}/${body.name}`;
      if (repos.has(name)) return refuse(409, null, "You already created this model repo");
      const id = newCommitId();
      repos.set(name, {
        private: body.visibility === "private",
        commits: [{
          id,
          title: "initial commit",
          files: new Map([[
            ".gitattributes",
            new TextEncoder().encode("*.safetensors filter=lfs diff=lfs merge=lfs -text\n"),
          ]]),
        }],
        branches: new Map([["main", id]]),
      });
      return Response.json({ url: `${origin}/${name}`, name, id: `repo-${name}` });
    }

    let match = path.match(/^\/api\/models\/([^/]+\/[^/]+)\/preupload\/([^/]+)$/);
    if (req.method === "POST" && match) {
      const denied = canWrite(req);
      if (denied) return denied;
      if (!visible(req, repos.get(match[1]))) return refuse(404, "RepoNotFound", "Repository not found");
      const body = await req.json() as { files: { path: string; size: number; sample: string }[] };
      return Response.json({
        files: body.files.map((f) => ({
          path: f.path,
          uploadMode: isLfs(f.path, Uint8Array.from(atob(f.sample), (c) => c.charCodeAt(0)))
            ? "lfs"
            : "regular",
          shouldIgnore: false,
        })),
        commitOid: repos.get(match[1])!.branches.get(decodeURIComponent(match[2])),
      });
    }

    match = path.match(/^\/([^/]+\/[^/]+)\.git\/info\/lfs\/objects\/batch$/);
    if (req.method === "POST" && match) {
      const denied = canWrite(req);
      if (denied) return denied;
      if (req.headers.get("Accept") !== "application/vnd.git-lfs+json") {
        return refuse(406, null, "Accept: expected application/vnd.git-lfs+json");
      }
      const body = await req.json() as {
        operation: string;
        transfers: string[];
        objects: { oid: string; size: number }[];
      };
      if (body.operation !== "upload" || !body.transfers.includes("basic")) {
        return refuse(
          422,
          null,
          `expected an upload with the basic transfer, received ${JSON.stringify(body)}`,
        );
      }
      return new Response(
        JSON.stringify({
          transfer: "basic",
          objects: body.objects.map(({ oid, size }) => ({
            oid,
            size,
            authenticated: true,
            ...(lfs.has(oid) ? {} : {
              actions: { upload: { href: `${origin}/lfs-storage/${oid}?size=${size}`, expires_in: 3600 } },
            }),
          })),
        }),
        { headers: { "Content-Type": "application/vnd.git-lfs+json" } },
      );
    }

    match = path.match(/^\/lfs-storage\/([0-9a-f]{64})$/);
    if (req.method === "PUT" && match) {
      const bytes = new Uint8Array(await req.arrayBuffer());
      if ((await sha256Hex(bytes)) !== match[1] || String(bytes.length) !== url.searchParams.get("size")) {
        return refuse(400, null, "the uploaded object does not match its SHA-256 or size");
      }
      lfs.set(match[1], bytes);
      return new Response(null, { status: 200, headers: { ETag: `"${match[1]}"` } });
    }

    match = path.match(/^\/api\/models\/([^/]+\/[^/]+)\/commit\/([^/]+)$/);
    if (req.method === "POST" && match) {
      const denied = canWrite(req);
      if (denied) return denied;
      const repo = repos.get(match[1]);
      if (!visible(req, repo)) return refuse(404, "RepoNotFound", "Repository not found");
      if (req.headers.get("Content-Type") !== "application/x-ndjson") {
        return refuse(415, null, "Content-Type: expected application/x-ndjson");
      }
      const branch = decodeURIComponent(match[2]);
      const parent = revisionOf(repo, branch);
      if (parent === undefined) return refuse(404, "RevisionNotFound", `Invalid rev id: ${branch}`);
      const files = new Map(parent.files);
      let title = "";
      for (const line of (await req.text()).split("\n").filter((l) => l.trim() !== "")) {
        const { key, value } = JSON.parse(line);
        if (key === "header") title = value.summary;
        else if (key === "file") {
          if (value.encoding !== "base64") return refuse(400, null, "file: expected base64 content");
          files.set(value.path, Uint8Array.from(atob(value.content), (c) => c.charCodeAt(0)));
        } else if (key === "lfsFile") {
          const bytes = lfs.get(value.oid);
          if (bytes === undefined || bytes.length !== value.size || value.algo !== "sha256") {
            return refuse(400, null, `lfsFile ${value.path}: object ${value.oid} was not uploaded`);
          }
          files.set(value.path, bytes);
        } else if (key === "deletedFile") files.delete(value.path);
        else return refuse(400, null, `unknown operation ${key}`);
      }
      const id = newCommitId();
      repo.commits.push({ id, title, files });
      repo.branches.set(branch, id);
      return Response.json({
        success: true,
        commitOid: id,
        commitUrl: `${origin}/${match[1]}/commit/${id}`,
        hookOutput: "",
      });
    }

    match = path.match(/^\/api\/models\/([^/]+\/[^/]+)\/revision\/(.+)$/);
    if (req.method === "GET" && match) {
      const repo = repos.get(match[1]);
      if (!visible(req, repo)) return refuse(401, "RepoNotFound", "Repository not found");
      const wanted = decodeURIComponent(match[2]);
      const revision = revisionOf(repo, wanted);
      if (revision === undefined) return refuse(404, "RevisionNotFound", `Invalid rev id: ${wanted}`);
      return Response.json({
        _id: `repo-${match[1]}`,
        id: match[1],
        private: repo.private,
        gated: repo.gated ? "auto" : false,
        downloads: 0,
        likes: 0,
        lastModified: "2024-01-01T00:00:00.000Z",
        sha: revision.id,
        siblings: [...revision.files.keys()].sort().map((rfilename) => ({ rfilename })),
      });
    }

    match = path.match(/^\/api\/models\/([^/]+\/[^/]+)\/paths-info\/(.+)$/);
    if (req.method === "POST" && match) {
      const repo = repos.get(match[1]);
      if (!visible(req, repo)) return refuse(401, "RepoNotFound", "Repository not found");
      const wanted = decodeURIComponent(match[2]);
      const revision = revisionOf(repo, wanted);
      if (revision === undefined) return refuse(404, "RevisionNotFound", `Invalid rev id: ${wanted}`);
      if (!req.headers.get("Content-Type")?.startsWith("application/json")) {
        return refuse(400, null, "Content-Type: expected application/json");
      }
      const body = await req.json() as { paths?: unknown; expand?: boolean };
      if (!Array.isArray(body.paths)) return refuse(400, null, "paths: expected an array");
      const dirs = dirsOf(revision.files);
      const entries: Record<string, unknown>[] = [];
      for (const p of body.paths as string[]) {
        const bytes = revision.files.get(p);
        const extra = body.expand
          ? { lastCommit: lastCommitOf(repo, revision, p), securityFileStatus: { status: "safe" } }
          : {};
        if (bytes !== undefined) entries.push({ ...(await fileEntry(p, bytes)), ...extra });
        else if (dirs.has(p)) entries.push({ type: "directory", path: p, oid: "d".repeat(40), size: 0 });
      }
      return Response.json(entries);
    }

    match = path.match(/^\/api\/models\/([^/]+\/[^/]+)\/tree\/(.+)$/);
    if (req.method === "GET" && match) {
      const repo = repos.get(match[1]);
      if (!visible(req, repo)) return refuse(401, "RepoNotFound", "Repository not found");
      const revision = revisionOf(repo, decodeURIComponent(match[2]));
      if (revision === undefined) return refuse(404, "RevisionNotFound", `Invalid rev id: ${match[2]}`);
      let entries = await treeEntries(revision.files);
      if (url.searchParams.get("recursive") !== "true") {
        entries = entries.filter((e) => !(e.path as string).includes("/"));
      }
      // Pages of 3 entries, as the Hub pages long listings (it uses larger pages and a cursor).
      const cursor = Number(url.searchParams.get("cursor") ?? "0");
      const page = entries.slice(cursor, cursor + 3);
      const headers: Record<string, string> = {};
      if (cursor + 3 < entries.length) {
        const next = new URL(url);
        next.searchParams.set("cursor", String(cursor + 3));
        headers.Link = `<${next}>; rel="next"`;
      }
      return Response.json(page, { headers });
    }

    const cached = cdn.get(path);
    if (cached !== undefined && req.method === "GET") {
      if (hub.breakFile !== undefined && path.endsWith(`/${hub.breakFile}`) && !req.headers.has("Range")) {
        // The body ends early, without an error: only its size tells.
        const half = cached.slice(0, cached.length >> 1);
        return new Response(
          new ReadableStream<Uint8Array>({
            start(controller) {
              controller.enqueue(half);
              controller.close();
            },
          }),
        );
      }
      return send(req, cached, { ETag: `"${(await idsOf(cached)).sha256}"` });
    }

    match = path.match(/^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/);
    if ((req.method === "GET" || req.method === "HEAD") && match) {
      const repo = repos.get(match[1]);
      if (!visible(req, repo)) return refuse(401, "RepoNotFound", "Repository not found");
      const wanted = decodeURIComponent(match[2]);
      const revision = revisionOf(repo, wanted);
      if (revision === undefined) return refuse(404, "RevisionNotFound", `Invalid rev id: ${wanted}`);
      if (repo.gated && access(req) === null) {
        return refuse(
          401,
          "GatedRepo",
          `Access to model ${
            match[1]
          } is restricted. You must have access to it and be authenticated to access it. Please log in.`,
        );
      }
      const file = match[3];
      const bytes = revision.files.get(file);
      if (bytes === undefined) return refuse(404, "EntryNotFound", "Entry not found");
      const { oid, sha256 } = await idsOf(bytes);
      if (!isLfs(file, bytes)) return send(req, bytes, { ETag: `"${oid}"`, "X-Repo-Commit": revision.id });
      const linked = {
        "X-Linked-Size": String(bytes.length),
        "X-Linked-ETag": `"${sha256}"`,
        "X-Repo-Commit": revision.id,
        ETag: `"${oid}"`,
      };
      if (repo.xet && req.headers.get("Accept")?.includes("application/vnd.xet-fileinfo+json")) {
        return new Response(JSON.stringify({ hash: sha256 }), {
          headers: {
            ...linked,
            "Content-Type": "application/vnd.xet-fileinfo+json",
            "X-Xet-Hash": sha256,
            Link: `<${origin}/xet/reconstructions/${sha256}>; rel="xet-reconstruction-info", ` +
              `<${origin}/api/models/${match[1]}/xet-read-token/${revision.id}>; rel="xet-auth"`,
          },
        });
      }
      // Large files live on the CDN: the Hub answers with a redirect.
      const location = `/cdn/${match[1]}/${revision.id}/${file}`;
      cdn.set(location, bytes);
      return new Response(null, { status: 302, headers: { ...linked, Location: location } });
    }
    return refuse(404, null, `no such endpoint: ${req.method} ${path}`);
  });
  origin = `http://127.0.0.1:${server.addr.port}`;

  const hub: FakeHub = {
    url: origin,
    repos,
    requests,
    tokens,
    files(repo: string, branch = "main") {
      const r = repos.get(repo);
      if (r === undefined) throw new Error(`fake Hub: no repository ${repo}`);
      return revisionOf(r, branch)!.files;
    },
    addRepo(repo, files, options = {}) {
      const id = newCommitId();
      repos.set(repo, {
        private: options.private ?? false,
        gated: options.gated ?? false,
        xet: options.xet ?? false,
        commits: [{ id, title: "add", files: new Map(Object.entries(files)) }],
        branches: new Map([["main", id]]),
      });
      return id;
    },
    commit(repo, files, branch = "main") {
      const r = repos.get(repo);
      if (r === undefined) throw new Error(`fake Hub: no repository ${repo}`);
      const id = newCommitId();
      r.commits.push({ id, title: `update ${branch}`, files: new Map(Object.entries(files)) });
      r.branches.set(branch, id);
      return id;
    },
    close: () => server.shutdown(),
  };
  return hub;
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
