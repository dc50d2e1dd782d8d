/**
 * uploadRun() and downloadSae() against the fake Hub of tests/_fake_hub.ts on 127.0.0.1: the same
 * `@huggingface/hub` calls as against huggingface.co, only `hubUrl` differs.
 */
import { assert, tf } from "../_helpers.ts";
import { type FakeHub, serveFakeHub } from "../_fake_hub.ts";
import { downloadSae, modelCard, uploadRun } from "../../lib/io/hub.ts";
import { parseConfig } from "../../lib/config.ts";
import { toySource } from "../../lib/data/toy.ts";
import { train } from "../../lib/run/runner.ts";
import { disposeAll } from "../../lib/run/dispose.ts";
import { foldedParams } from "../../lib/train/pipeline.ts";
import { encodeSafetensors } from "../../lib/io/safetensors.ts";
import type { SaeParams } from "../../lib/sae/params.ts";

// The tests must not pick up a developer's own Hub settings, nor write to their cache.
for (
  const name of [
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HF_ENDPOINT",
    "HF_HUB_OFFLINE",
    "HF_HUB_CACHE",
    "HUGGINGFACE_HUB_CACHE",
    "HF_HOME",
  ]
) Deno.env.delete(name);

const netAllowed = (await Deno.permissions.query({ name: "net", host: "127.0.0.1" })).state === "granted";
if (!netAllowed) {
  console.log("skipping the Hub tests: they serve a fake Hub on 127.0.0.1 (--allow-net=127.0.0.1)");
}
function hubTest(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, ignore: !netAllowed, fn });
}

const WRITER = "hf_writer_token";
const READER = "hf_reader_token";

/** Runs `fn` with a fake Hub and a temporary folder, whose `hf-cache/` is `$HF_HUB_CACHE` meanwhile. */
async function withHub(fn: (hub: FakeHub, dir: string) => Promise<void>): Promise<void> {
  const hub = serveFakeHub();
  hub.tokens.set(WRITER, "write");
  hub.tokens.set(READER, "read");
  const dir = await Deno.makeTempDir({ prefix: "saekit_hub_" });
  Deno.env.set("HF_HUB_CACHE", `${dir}/hf-cache`);
  try {
    await fn(hub, dir);
  } finally {
    Deno.env.delete("HF_HUB_CACHE");
    await hub.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function hex(algorithm: "SHA-1" | "SHA-256", bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest(algorithm, new Uint8Array(bytes));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A finished toy run in `out`: two TopK SAEs. Returns the folded parameters (the caller disposes). */
async function toyRun(out: string): Promise<SaeParams> {
  const config = parseConfig({
    dIn: 8,
    nComponents: 2,
    componentNames: ["toy.0", "toy.1"],
    arch: "topk",
    k: 3,
    batchSize: 32,
    storeSize: 64,
    steps: 4,
    logEvery: 2,
    maxResamples: 0,
    backend: "cpu",
  });
  const source = toySource({ nComponents: 2, dIn: 8, nFeatures: 12, meanActive: 2, chunkRows: 64, seed: 5 });
  const { state } = await train({ config, source, out });
  const folded = foldedParams(state);
  disposeAll(state);
  return folded;
}

async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = `${prefix}${entry.name}`;
    if (entry.isDirectory) out.push(...await listFiles(`${dir}/${entry.name}`, `${path}/`));
    else out.push(path);
  }
  return out.sort();
}

const RUN_FILES = [
  "README.md",
  "summary.json",
  "toy.0/cfg.json",
  "toy.0/sae_weights.safetensors",
  "toy.1/cfg.json",
  "toy.1/sae_weights.safetensors",
  "training_config.json",
];

hubTest(
  "uploadRun() creates the repository and commits final/, the config and a model card; a second upload adds a commit",
  async () => {
    await withHub(async (hub, dir) => {
      const run = `${dir}/run`;
      const folded = await toyRun(run);
      tf.dispose(folded as unknown as tf.TensorContainer);
      const result = await uploadRun(run, "me/toy-saes", { hubUrl: hub.url, accessToken: WRITER });
      assert.equal(result.created, true);
      assert.equal(result.url, `${hub.url}/me/toy-saes`);
      assert.deepEqual(result.files, RUN_FILES);
      const repo = hub.repos.get("me/toy-saes")!;
      assert.equal(result.commit, repo.branches.get("main"));
      assert.equal(repo.commits.at(-1)!.title, "Upload SAEs trained with saekit");
      // The requests @huggingface/hub makes, in order: create, preupload, LFS batch, one PUT per weight file, commit.
      const lfsPuts = hub.requests.filter((r) => r.startsWith("PUT /lfs-storage/"));
      assert.equal(lfsPuts.length, 2);
      assert.deepEqual(hub.requests.filter((r) => !r.startsWith("PUT ")), [
        "POST /api/repos/create",
        "POST /api/models/me/toy-saes/preupload/main",
        "POST /me/toy-saes.git/info/lfs/objects/batch",
        "POST /api/models/me/toy-saes/commit/main",
      ]);
      const files = hub.files("me/toy-saes");
      for (const path of ["toy.0/cfg.json", "toy.1/sae_weights.safetensors", "summary.json"]) {
        assert.deepEqual(files.get(path), await Deno.readFile(`${run}/final/${path}`), path);
      }
      assert.deepEqual(
        JSON.parse(new TextDecoder().decode(files.get("training_config.json"))),
        JSON.parse(await Deno.readTextFile(`${run}/config.json`)),
      );
      const card = new TextDecoder().decode(files.get("README.md"));
      assert.match(
        card,
        /^---\nlibrary_name: saelens\ntags:\n- saelens\n- saekit\n- sparse-autoencoder\n- "topk"\n---\n/,
      );
      assert.match(card, /2 sparse autoencoders \(saekit architecture `topk`, SAELens architecture `topk`\)/);
      assert.match(card, /\| `toy\.0` \| `toy\.0` \| 8 \| 16 \| 3 \|/); // L0 is k
      assert.match(card, /- steps: 4/);
      assert.match(card, /sae_id="toy\.0"/);

      // Again: the repository exists (409, kept), the weights are already in LFS storage (no PUT).
      const before = hub.requests.length;
      const again = await uploadRun(run, "me/toy-saes", {
        hubUrl: hub.url,
        accessToken: WRITER,
        commitTitle: "again",
      });
      assert.equal(again.created, false);
      assert.equal(hub.repos.get("me/toy-saes")!.commits.length, 3); // the initial commit and two uploads
      assert.ok(!hub.requests.slice(before).some((r) => r.startsWith("PUT ")));
    });
  },
);

hubTest(
  "uploadRun() → downloadSae() gives the run's folded weights exactly, from the standard cache, which is reused",
  async () => {
    await withHub(async (hub, dir) => {
      const run = `${dir}/run`;
      const folded = await toyRun(run);
      await uploadRun(run, "me/toy-saes", { hubUrl: hub.url, accessToken: WRITER });
      const commit = hub.repos.get("me/toy-saes")!.branches.get("main")!;
      const cacheDir = `${dir}/cache`;
      const storage = `${cacheDir}/models--me--toy-saes`;
      const before = hub.requests.length;
      const saes = await downloadSae("me/toy-saes", { hubUrl: hub.url, cacheDir });
      assert.equal(saes.format, "saelens");
      assert.deepEqual(saes.folders, ["toy.0", "toy.1"]);
      assert.deepEqual(saes.componentNames, ["toy.0", "toy.1"]);
      assert.deepEqual(saes.activation, { kind: "topk", k: 3 });
      assert.equal(saes.commit, commit);
      assert.equal(saes.dir, `${storage}/snapshots/${commit}`);
      for (const key of ["wEnc", "bEnc", "wDec", "bDec"] as const) {
        assert.deepEqual(saes.params[key].dataSync(), folded[key].dataSync(), key);
      }
      const requests = hub.requests.slice(before);
      // main resolved to its commit, the tree at that commit in pages of 3 (8 files, 2 folders), then
      // per file downloadFileToCacheDir's paths-info, ranged probe and download (weights via the CDN).
      assert.equal(requests[0], "GET /api/models/me/toy-saes/revision/main");
      assert.deepEqual(
        requests.filter((r) => r.includes("/tree/")),
        Array(4).fill(`GET /api/models/me/toy-saes/tree/${commit}`),
      );
      assert.ok(requests.includes(`GET /me/toy-saes/resolve/${commit}/toy.0/cfg.json (range)`));
      assert.ok(requests.includes(`GET /cdn/me/toy-saes/${commit}/toy.1/sae_weights.safetensors`));
      assert.ok(!requests.some((r) => r.includes("README.md") || r.includes("summary.json")));
      // The standard layout: links to blobs named by the Hub's ids, and refs/main.
      assert.deepEqual(await listFiles(saes.dir), [
        "toy.0/cfg.json",
        "toy.0/sae_weights.safetensors",
        "toy.1/cfg.json",
        "toy.1/sae_weights.safetensors",
      ]);
      const weights = await Deno.readFile(`${run}/final/toy.1/sae_weights.safetensors`);
      assert.equal(
        await Deno.readLink(`${saes.dir}/toy.1/sae_weights.safetensors`),
        `../../../blobs/${await hex("SHA-256", weights)}`,
      );
      const cfg = await Deno.readFile(`${run}/final/toy.0/cfg.json`);
      const gitId = await hex(
        "SHA-1",
        new Uint8Array([...new TextEncoder().encode(`blob ${cfg.length}\0`), ...cfg]),
      );
      assert.equal(await Deno.readLink(`${saes.dir}/toy.0/cfg.json`), `../../../blobs/${gitId}`);
      assert.equal(await Deno.readTextFile(`${storage}/refs/main`), commit);
      tf.dispose(saes.params as unknown as tf.TensorContainer);

      // Again: main is resolved and listed; the files come from the cache.
      const mark = hub.requests.length;
      const cached = await downloadSae("me/toy-saes", { hubUrl: hub.url, cacheDir, folders: ["toy.1"] });
      assert.ok(
        hub.requests.slice(mark).every((r) => r.includes("/tree/") || r.includes("/revision/main")),
        hub.requests.slice(mark).join("\n"),
      );
      assert.deepEqual(cached.componentNames, ["toy.1"]);
      assert.deepEqual(cached.params.wEnc.dataSync(), folded.wEnc.dataSync().slice(8 * 16));
      tf.dispose(cached.params as unknown as tf.TensorContainer);

      // Pinned to a commit whose folders are in the cache: no request at all.
      const pinnedMark = hub.requests.length;
      const pinned = await downloadSae(`me/toy-saes@${commit}`, {
        hubUrl: hub.url,
        cacheDir,
        folders: ["toy.0"],
      });
      assert.deepEqual(hub.requests.slice(pinnedMark), []);
      assert.equal(pinned.revision, commit);
      assert.equal(pinned.dir, saes.dir);
      tf.dispose(pinned.params as unknown as tf.TensorContainer);

      // Offline, or with the Hub gone: the snapshot refs/main names.
      Deno.env.set("HF_HUB_OFFLINE", "1");
      try {
        const offline = await downloadSae("me/toy-saes", { hubUrl: hub.url, cacheDir });
        assert.deepEqual(offline.folders, ["toy.0", "toy.1"]);
        tf.dispose(offline.params as unknown as tf.TensorContainer);
      } finally {
        Deno.env.delete("HF_HUB_OFFLINE");
      }
      assert.equal(hub.requests.length, pinnedMark);

      // A new commit with the same SAE files: a new snapshot, linked to the blobs already there.
      await uploadRun(run, "me/toy-saes", { hubUrl: hub.url, accessToken: WRITER, commitTitle: "again" });
      const next = hub.repos.get("me/toy-saes")!.branches.get("main")!;
      assert.notEqual(next, commit);
      const nextMark = hub.requests.length;
      const moved = await downloadSae("me/toy-saes", { hubUrl: hub.url, cacheDir });
      assert.equal(moved.dir, `${storage}/snapshots/${next}`);
      assert.equal(await Deno.readTextFile(`${storage}/refs/main`), next);
      assert.ok(!hub.requests.slice(nextMark).some((r) => r.includes("/resolve/") || r.includes("/cdn/")));
      assert.deepEqual(moved.params.wDec.dataSync(), folded.wDec.dataSync());
      tf.dispose([moved.params as unknown as tf.TensorContainer, folded as unknown as tf.TensorContainer]);

      await hub.close();
      const gone = await downloadSae("me/toy-saes", { hubUrl: hub.url, cacheDir, folders: ["toy.1"] });
      assert.equal(gone.commit, next);
      tf.dispose(gone.params as unknown as tf.TensorContainer);
    });
  },
);

hubTest(
  "downloadSae() reads a sparsify repository (layers.N/) and honours HF_ENDPOINT and HF_TOKEN for a private one",
  async () => {
    await withHub(async (hub, dir) => {
      const t = (shape: number[], fill: number) => ({
        dtype: "F32" as const,
        shape,
        data: new Float32Array(shape.reduce((a, b) => a * b)).fill(fill),
      });
      const files: Record<string, Uint8Array> = {
        "README.md": new TextEncoder().encode("# sparsify SAEs\n"),
      };
      for (const layer of [0, 1]) {
        files[`layers.${layer}/cfg.json`] = new TextEncoder().encode(
          JSON.stringify({
            activation: "topk",
            expansion_factor: 2,
            num_latents: 0,
            k: 2,
            transcode: false,
            d_in: 4,
          }),
        );
        files[`layers.${layer}/sae.safetensors`] = encodeSafetensors({
          "encoder.weight": t([8, 4], layer + 1),
          "encoder.bias": t([8], 0),
          W_dec: t([8, 4], 0.5),
          b_dec: t([4], 0),
        });
      }
      hub.addRepo("eleuther/private-saes", files, { private: true });
      await assert.rejects(
        () => downloadSae("eleuther/private-saes", { hubUrl: hub.url, out: `${dir}/a` }),
        (e: unknown) =>
          e instanceof Error &&
          e.message.startsWith(
            `Hugging Face SAEs eleuther/private-saes: repository eleuther/private-saes not found at ${hub.url} (HTTP 401 RepoNotFound for ${hub.url}/api/models/eleuther/private-saes/revision/main?`,
          ) && e.message.endsWith("check the name, and for a private repository set HF_TOKEN"),
      );
      Deno.env.set("HF_ENDPOINT", hub.url);
      Deno.env.set("HF_TOKEN", READER);
      try {
        const saes = await downloadSae("eleuther/private-saes", { out: `${dir}/b` });
        assert.equal(saes.format, "sparsify");
        // Into $HF_HUB_CACHE, and copied to out as plain files.
        assert.equal(saes.dir, `${dir}/b`);
        assert.deepEqual(await listFiles(`${dir}/b`), [
          "layers.0/cfg.json",
          "layers.0/sae.safetensors",
          "layers.1/cfg.json",
          "layers.1/sae.safetensors",
        ]);
        assert.ok((await Deno.lstat(`${dir}/b/layers.1/sae.safetensors`)).isFile);
        assert.deepEqual(
          await Deno.readFile(`${dir}/b/layers.1/sae.safetensors`),
          files["layers.1/sae.safetensors"],
        );
        const snapshot = `${dir}/hf-cache/models--eleuther--private-saes/snapshots/${saes.commit}`;
        assert.deepEqual(await Deno.readFile(`${snapshot}/layers.0/cfg.json`), files["layers.0/cfg.json"]);
        assert.deepEqual(saes.componentNames, ["layers.0", "layers.1"]);
        assert.deepEqual(saes.params.wEnc.shape, [2, 4, 8]);
        assert.equal(saes.params.wEnc.dataSync()[0], 1);
        assert.equal(saes.params.wEnc.dataSync()[32], 2);
        tf.dispose(saes.params as unknown as tf.TensorContainer);
      } finally {
        Deno.env.delete("HF_ENDPOINT");
        Deno.env.delete("HF_TOKEN");
      }
    });
  },
);

hubTest(
  "uploadRun() and downloadSae() say what is wrong: no token, a read-only token, no final/, no SAEs, a missing folder",
  async () => {
    await withHub(async (hub, dir) => {
      const run = `${dir}/run`;
      tf.dispose((await toyRun(run)) as unknown as tf.TensorContainer);
      const what = `Hugging Face upload of ${run} to me/saes`;
      await assert.rejects(
        () => uploadRun(run, "me/saes", { hubUrl: hub.url }),
        (e: unknown) =>
          e instanceof Error &&
          e.message === `${what}: expected an access token with write access (set HF_TOKEN), found none`,
      );
      await assert.rejects(
        () => uploadRun(run, "me/saes", { hubUrl: hub.url, accessToken: READER }),
        (e: unknown) =>
          e instanceof Error &&
          e.message.startsWith(
            `${what}: the token may not write to me/saes (HTTP 403 for ${hub.url}/api/repos/create`,
          ),
      );
      await assert.rejects(() => uploadRun(run, "not-a-repo", { accessToken: WRITER }), TypeError);
      await Deno.mkdir(`${dir}/unfinished`);
      await Deno.writeTextFile(`${dir}/unfinished/config.json`, "{}");
      await assert.rejects(
        () => uploadRun(`${dir}/unfinished`, "me/saes", { hubUrl: hub.url, accessToken: WRITER }),
        (e: unknown) =>
          e instanceof Error &&
          e.message ===
            `Hugging Face upload of ${dir}/unfinished to me/saes: expected the trained SAEs in ${dir}/unfinished/final (a finished run), ${dir}/unfinished/final: expected a folder of SAEs, not found`,
      );
      assert.equal(hub.repos.size, 0); // nothing was created by the failed uploads

      hub.addRepo("me/model", { "config.json": new TextEncoder().encode("{}") });
      await assert.rejects(
        () => downloadSae("me/model", { hubUrl: hub.url, out: `${dir}/m` }),
        (e: unknown) =>
          e instanceof Error &&
          e.message ===
            "Hugging Face SAEs me/model: expected folders with cfg.json and sae_weights.safetensors (SAELens) or sae.safetensors (sparsify), found none among 1 files",
      );
      await uploadRun(run, "me/saes", { hubUrl: hub.url, accessToken: WRITER });
      await assert.rejects(
        () => downloadSae("me/saes", { hubUrl: hub.url, out: `${dir}/s`, folders: ["toy.7"] }),
        (e: unknown) =>
          e instanceof Error &&
          e.message ===
            `Hugging Face SAEs me/saes: folder "toy.7" expected among its SAE folders ("toy.0", "toy.1"), not found`,
      );
      await assert.rejects(
        () => downloadSae("me/saes@nope", { hubUrl: hub.url, out: `${dir}/n` }),
        (e: unknown) =>
          e instanceof Error &&
          e.message.startsWith(
            `Hugging Face SAEs me/saes@nope: revision not found in me/saes (HTTP 404 RevisionNotFound for ${hub.url}/api/models/me/saes/revision/nope?`,
          ) && e.message.endsWith(": Invalid rev id: nope)"),
      );
      await assert.rejects(
        () => downloadSae("me/saes@v9", { offline: true }),
        (e: unknown) =>
          e instanceof Error &&
          e.message ===
            `Hugging Face SAEs me/saes@v9: offline (HF_HUB_OFFLINE), and the cache has no commit for revision "v9" (expected ${dir}/hf-cache/models--me--saes/refs/v9); run once with access to the Hub, or unset HF_HUB_OFFLINE`,
      );
      await assert.rejects(() => downloadSae("./local/folder", { hubUrl: hub.url }), TypeError);
    });
  },
);

/** What `JSON.parse` says of `text` (the messages quote the parser's own words). */
function parserSays(text: string): string {
  try {
    JSON.parse(text);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(text)} not to parse`);
}

hubTest(
  "uploadRun() names a run's config.json or final/summary.json that is truncated, empty or not an object, and sends nothing",
  async () => {
    await withHub(async (hub, dir) => {
      const run = `${dir}/run`;
      tf.dispose((await toyRun(run)) as unknown as tf.TensorContainer);
      const what = `Hugging Face upload of ${run} to me/saes`;
      const upload = () => uploadRun(run, "me/saes", { hubUrl: hub.url, accessToken: WRITER });
      for (const file of [`${run}/config.json`, `${run}/final/summary.json`]) {
        const whole = await Deno.readTextFile(file);
        const cut = whole.slice(0, 25);
        const cases: [string, string][] = [
          [cut, `${what}: ${file}: expected JSON, received text that does not parse (${parserSays(cut)})`],
          ["", `${what}: ${file}: expected JSON, received an empty file`],
          ["  \n", `${what}: ${file}: expected JSON, received an empty file`],
          ["null", `${what}: ${file}: expected a JSON object, received null`],
          ['["step"]', `${what}: ${file}: expected a JSON object, received ["step"]`],
        ];
        for (const [text, message] of cases) {
          await Deno.writeTextFile(file, text);
          await assert.rejects(upload, { name: "TypeError", message });
        }
        await Deno.writeTextFile(file, whole);
      }
      assert.deepEqual(hub.requests, []); // refused before any request
      // a run that logged nothing has no summary.json: that one uploads, without it
      await Deno.remove(`${run}/final/summary.json`);
      const result = await upload();
      assert.deepEqual(result.files, RUN_FILES.filter((f) => f !== "summary.json"));
    });
  },
);

Deno.test("modelCard() names a Hub model as base_model, the hooks, the data and the metrics of each SAE", () => {
  const card = modelCard({
    repo: "me/pythia-saes",
    config: {
      source: "model",
      model: "EleutherAI/pythia-70m",
      hooks: ["blocks.3.hook_resid_post"],
      dataset: "data/pile.parquet",
      contextSize: 128,
      prependBos: true,
      arch: "relu",
      l1Coefficient: 0.001,
      batchSize: 4096,
      lr: 0.0004,
      lrSchedule: "cosine",
      normalizeActivations: "expected-norm",
      seed: 49,
    },
    summary: {
      step: 100,
      activations: 409600,
      "train/l0_norm/blocks.3.hook_resid_post": 12.345678,
      "train/explained_variance/blocks.3.hook_resid_post": 0.9,
      "validate/reconstruction_score/blocks.3.hook_resid_post": 0.87654,
    },
    saes: [{
      folder: "blocks.3.hook_resid_post",
      cfg: { architecture: "standard", d_in: 512, d_sae: 4096, hook_name: "blocks.3.hook_resid_post" },
    }],
  });
  assert.match(card, /^---\nlibrary_name: saelens\nbase_model: "EleutherAI\/pythia-70m"\n/);
  assert.match(card, /on the activations of `EleutherAI\/pythia-70m`/);
  assert.match(
    card,
    /\| `blocks\.3\.hook_resid_post` \| `blocks\.3\.hook_resid_post` \| 512 \| 4096 \| 12\.35 \| 0\.9 \| – \| – \| 0\.8765 \| – \| – \|/,
  );
  assert.match(card, /- data: `data\/pile\.parquet`/);
  assert.match(card, /- context size \(tokens\): 128/);
  assert.match(card, /- sparsity coefficient: 0\.001/);
  assert.match(card, /- activations trained on: 409600/);
  assert.match(card, /- activation normalisation \(folded into the weights\): expected-norm/);
  // A local model path is no base_model.
  const local = modelCard({ repo: "me/x", config: { source: "model", model: "./models/mine" }, saes: [] });
  assert.ok(!local.includes("base_model"));
});

Deno.test("modelCard() prints the architecture's own sparsity knob: k, or the coefficient", () => {
  const card = (arch: string) =>
    modelCard({ repo: "me/x", config: { source: "toy", arch, k: 16, l1Coefficient: 0.004 }, saes: [] });
  for (const arch of ["topk", "batchtopk", "matryoshka"]) {
    assert.match(card(arch), /- k: 16\n/, arch);
    assert.ok(!card(arch).includes("sparsity coefficient"), `${arch}: no coefficient`);
  }
  for (const arch of ["relu", "relu-april", "jumprelu", "gated"]) {
    assert.match(card(arch), /- sparsity coefficient: 0\.004\n/, arch);
    assert.ok(!card(arch).includes("- k:"), `${arch}: no k`);
  }
});
