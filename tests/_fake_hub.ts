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
 * - `GET /api/models/{repo}/tree/{rev}?recursive=…` → entries, in pages with `Link: <…>; rel="next"`;
 * - `GET /{repo}/resolve/{rev}/{path}` with or without `Range` (206, `Content-Range`, `ETag`,
 *   `X-Repo-Commit`), LFS files through a 302 to a CDN path with `X-Linked-Size` and `X-Linked-ETag`.
 *
 * Writes need `Authorization: Bearer {token}` with a token the Hub knows with write access (401
 * without one, 403 with a read token); private repositories answer only with a known token (401
 * `RepoNotFound` otherwise, as the Hub hides them).
 */

/** One revision's files. */
export type FakeFiles = Map<string, Uint8Array>;

/** A repository: its commits (newest last) and branches. */
export type FakeRepo = {
  private: boolean;
  commits: { id: string; title: string; files: FakeFiles }[];
  branches: Map<string, string>;
};

/** The running fake Hub. */
export type FakeHub = {
  readonly url: string;
  readonly repos: Map<string, FakeRepo>;
  /** `METHOD path` of every request, `(range)` appended for `Range` requests, in order. */
  readonly requests: string[];
  /** Tokens it knows: `write` or `read` access. */
  readonly tokens: Map<string, "write" | "read">;
  /** The files of a repository at a branch (default `main`). */
  files(repo: string, branch?: string): FakeFiles;
  /** Adds a repository with these files on `main` (one commit). */
  addRepo(repo: string, files: Record<string, Uint8Array>, options?: { private?: boolean }): string;
  close(): Promise<void>;
};

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new Uint8Array(bytes));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
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

function etagOf(bytes: Uint8Array): string {
  let h = 2166136261;
  for (const b of bytes) h = Math.imul(h ^ b, 16777619) >>> 0;
  return `"${h.toString(16)}-${bytes.length}"`;
}

function isLfs(path: string, sample: Uint8Array): boolean {
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
  let origin = "";

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
  const treeEntries = (files: FakeFiles) => {
    const entries: Record<string, unknown>[] = [];
    const dirs = new Set<string>();
    for (const path of [...files.keys()].sort()) {
      const parts = path.split("/");
      for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join("/"));
    }
    for (const dir of [...dirs].sort()) {
      entries.push({ type: "directory", path: dir, oid: "d".repeat(40), size: 0 });
    }
    for (const [path, bytes] of [...files].sort(([a], [b]) => a.localeCompare(b))) {
      const id = etagOf(bytes).replaceAll('"', "").replace("-", "").padEnd(40, "0").slice(0, 40);
      entries.push({
        type: "file",
        path,
        size: bytes.length,
        oid: id,
        ...(path.endsWith(".safetensors")
          ? { lfs: { oid: `sha256-of-${id}`, size: bytes.length, pointerSize: 134 } }
          : {}),
      });
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

    match = path.match(/^\/api\/models\/([^/]+\/[^/]+)\/tree\/(.+)$/);
    if (req.method === "GET" && match) {
      const repo = repos.get(match[1]);
      if (!visible(req, repo)) return refuse(401, "RepoNotFound", "Repository not found");
      const revision = revisionOf(repo, decodeURIComponent(match[2]));
      if (revision === undefined) return refuse(404, "RevisionNotFound", `Invalid rev id: ${match[2]}`);
      let entries = treeEntries(revision.files);
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
    if (cached !== undefined && req.method === "GET") return send(req, cached, { ETag: etagOf(cached) });

    match = path.match(/^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/);
    if ((req.method === "GET" || req.method === "HEAD") && match) {
      const repo = repos.get(match[1]);
      if (!visible(req, repo)) return refuse(401, "RepoNotFound", "Repository not found");
      const revision = revisionOf(repo, decodeURIComponent(match[2]));
      if (revision === undefined) return refuse(404, "RevisionNotFound", `Invalid rev id: ${match[2]}`);
      const bytes = revision.files.get(match[3]);
      if (bytes === undefined) return refuse(404, "EntryNotFound", "Entry not found");
      const headers = { ETag: etagOf(bytes), "X-Repo-Commit": revision.id };
      if (match[3].endsWith(".safetensors")) {
        const location = `/cdn/${match[1]}/${revision.id}/${match[3]}`;
        cdn.set(location, bytes);
        return new Response(null, {
          status: 302,
          headers: {
            Location: location,
            "X-Linked-Size": String(bytes.length),
            "X-Linked-ETag": headers.ETag,
            "X-Repo-Commit": revision.id,
          },
        });
      }
      return send(req, bytes, headers);
    }
    return refuse(404, null, `no such endpoint: ${req.method} ${path}`);
  });
  origin = `http://127.0.0.1:${server.addr.port}`;

  return {
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
        commits: [{ id, title: "add", files: new Map(Object.entries(files)) }],
        branches: new Map([["main", id]]),
      });
      return id;
    },
    close: () => server.shutdown(),
  };
}
