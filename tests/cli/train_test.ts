import { assert } from "../_helpers.ts";
import { runTrainCommand } from "../../lib/cli/train.ts";
import { fakeWandbServer, historyLines } from "../run/sinks/_fake_wandb.ts";

const small = [
  "--source",
  "toy",
  "--backend",
  "cpu",
  "--batch-size",
  "64",
  "--store-size",
  "256",
  "--log-every",
  "2",
  "--resample-interval",
  "640",
  "--resample-collate",
  "320",
  "--resample-dataset-size",
  "128",
];

/** A few steps on stories260K with short windows and a small validation set. */
const smallStories = [
  "--backend",
  "cpu",
  "--context-size",
  "16",
  "--windows-per-batch",
  "8",
  "--validation-windows",
  "4",
  "--batch-size",
  "64",
  "--store-size",
  "128",
  "--steps",
  "4",
  "--log-every",
  "2",
];

function capture() {
  let text = "";
  return {
    write: (t: string) => void (text += t),
    text: () => text,
    isTerminal: false,
    signal: new AbortController().signal,
  };
}

Deno.test("deno task train --steps N --out DIR trains the toy default and prints a summary", async () => {
  const out = await Deno.makeTempDir();
  const io = capture();
  const code = await runTrainCommand([...small, "--steps", "4", "--out", out], io);
  assert.equal(code, 0);
  assert.match(io.text(), /backend cpu/);
  assert.match(io.text(), /component +loss +L0 +dead +expl\. var\. +MMCS/);
  assert.match(io.text(), /toy\.2 /);
  const lines = (await Deno.readTextFile(`${out}/metrics.jsonl`)).trim().split("\n").map((l) =>
    JSON.parse(l)
  );
  assert.deepEqual(lines.map((l) => l.step), [2, 4]);
  assert.equal(typeof lines[1]["eval/mmcs/mean"], "number");
  const config = JSON.parse(await Deno.readTextFile(`${out}/config.json`));
  assert.equal(config.nComponents, 3);
  assert.equal(config.batchSize, 64);

  // --resume continues to a larger --steps and refuses to change the model
  const again = capture();
  assert.equal(await runTrainCommand(["--resume", out, "--steps", "6"], again), 0);
  assert.match(again.text(), /resuming .*step-00000004 at step 4/);
  const more = (await Deno.readTextFile(`${out}/metrics.jsonl`)).trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(more.map((l) => l.step), [2, 4, 6]);
  await assert.rejects(
    () => runTrainCommand(["--resume", out, "--l1-coefficient", "0.5"], capture()),
    /--l1-coefficient: cannot be changed when resuming .* received "0.5"/,
  );
  await Deno.remove(out, { recursive: true });
});

Deno.test("deno task train reads --config files and reports bad ones clearly", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/bad.json`, JSON.stringify({ dIn: 8, l1Coef: 1 }));
  await assert.rejects(
    () => runTrainCommand(["--config", `${dir}/bad.json`], capture()),
    /l1Coef: unknown field/,
  );
  await Deno.writeTextFile(`${dir}/broken.json`, "{");
  await assert.rejects(
    () => runTrainCommand(["--config", `${dir}/broken.json`], capture()),
    /--config: .*broken.json is not valid JSON/,
  );
  await assert.rejects(
    () => runTrainCommand(["--config", `${dir}/missing.json`], capture()),
    /--config: cannot read .*missing.json/,
  );
  await assert.rejects(
    () => runTrainCommand(["--l1-coeficient", "1"], capture()),
    /Unknown option '--l1-coeficient'/,
  );
  await assert.rejects(
    () => runTrainCommand(["--resume", dir], capture()),
    /--resume .*: expected a run folder with checkpoints/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("deno task train trains on stories260K's residual streams and validates with the SAEs spliced in", async () => {
  const out = await Deno.makeTempDir();
  const io = capture();
  const code = await runTrainCommand([
    ...smallStories,
    "--hooks",
    "blocks.1.hook_resid_post,blocks.3.hook_mlp_out",
    "--expansion-factor",
    "2",
    "--max-resamples",
    "0",
    "--out",
    out,
  ], io);
  assert.equal(code, 0);
  assert.match(io.text(), /source stories260K .*hooks blocks\.1\.hook_resid_post, blocks\.3\.hook_mlp_out/);
  assert.match(io.text(), /recon\. score/);
  assert.match(io.text(), /features: deno task features .* \(browse the trained features/);
  const lines = (await Deno.readTextFile(`${out}/metrics.jsonl`)).trim().split("\n").map((l) =>
    JSON.parse(l)
  );
  const last = lines[lines.length - 1];
  assert.equal(last.step, 4);
  for (const hook of ["blocks.1.hook_resid_post", "blocks.3.hook_mlp_out"]) {
    const score = last[`validate/reconstruction_score/${hook}`];
    assert.equal(typeof score, "number");
    assert.ok(Number.isFinite(score), `${hook}: ${score}`);
    assert.ok(last[`validate/loss_zero/${hook}`] > last[`validate/loss_clean/${hook}`] - 1e-6);
  }
  const config = JSON.parse(await Deno.readTextFile(`${out}/config.json`));
  assert.equal(config.dIn, 64);
  assert.equal(config.nComponents, 2);
  await assert.rejects(
    () => runTrainCommand(["--backend", "cpu", "--d-in", "32", "--steps", "1"], capture()),
    /dIn: expected the width of blocks\.0\.hook_resid_post in stories260k \(64\), received 32/,
  );
  await Deno.remove(out, { recursive: true });
});

Deno.test("deno task train reads a pre-tokenized dataset (--dataset-tokenized true)", async () => {
  const dir = await Deno.makeTempDir();
  // 40 documents of token ids in the model's vocabulary (2..511)
  const rows = Array.from(
    { length: 40 },
    (_, d) => ({ input_ids: Array.from({ length: 30 }, (_, i) => 2 + ((d * 31 + i * 7) % 500)) }),
  );
  await Deno.writeTextFile(`${dir}/ids.jsonl`, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
  const io = capture();
  const code = await runTrainCommand([
    "--backend",
    "cpu",
    "--dataset",
    `${dir}/ids.jsonl`,
    "--dataset-tokenized",
    "true",
    "--dataset-field",
    "input_ids",
    "--hooks",
    "blocks.0.hook_resid_post",
    "--context-size",
    "16",
    "--windows-per-batch",
    "8",
    "--validation-windows",
    "0",
    "--batch-size",
    "32",
    "--store-size",
    "64",
    "--steps",
    "2",
    "--log-every",
    "1",
    "--max-resamples",
    "0",
  ], io);
  assert.equal(code, 0);
  assert.match(io.text(), /completed at step 2/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("--activation-cache DIR generates the activations once, then trains from the cache", async () => {
  const dir = await Deno.makeTempDir();
  const args = [
    "--backend",
    "cpu",
    "--hooks",
    "blocks.0.hook_resid_post,blocks.1.hook_resid_post",
    "--context-size",
    "16",
    "--windows-per-batch",
    "8",
    "--validation-windows",
    "0",
    "--batch-size",
    "32",
    "--store-size",
    "64",
    "--steps",
    "4",
    "--log-every",
    "2",
    "--max-resamples",
    "0",
    "--activation-cache",
    `${dir}/cache`,
  ];
  const first = capture();
  assert.equal(await runTrainCommand([...args, "--out", `${dir}/a`], first), 0);
  assert.match(first.text(), /activations cached in .*cache \(128 rows, 1 shards\)/);
  const stat = await Deno.stat(`${dir}/cache/shard-00000.safetensors`);
  assert.equal(await runTrainCommand([...args, "--out", `${dir}/b`], capture()), 0);
  // the shard was reused, not rewritten, and both runs trained on the same rows
  assert.equal(
    (await Deno.stat(`${dir}/cache/shard-00000.safetensors`)).mtime?.getTime(),
    stat.mtime?.getTime(),
  );
  const strip = (text: string) => text.trim().split("\n").map((l) => ({ ...JSON.parse(l), time_s: 0 }));
  assert.deepEqual(
    strip(await Deno.readTextFile(`${dir}/b/metrics.jsonl`)),
    strip(await Deno.readTextFile(`${dir}/a/metrics.jsonl`)),
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("deno task train --arch NAME trains every architecture and exports it in SAELens's layout", async () => {
  const expected: Record<string, { architecture: string; tensors: string[] }> = {
    relu: { architecture: "standard", tensors: ["W_dec", "W_enc", "b_dec", "b_enc"] },
    "relu-april": { architecture: "standard", tensors: ["W_dec", "W_enc", "b_dec", "b_enc"] },
    topk: { architecture: "topk", tensors: ["W_dec", "W_enc", "b_dec", "b_enc"] },
    batchtopk: { architecture: "jumprelu", tensors: ["W_dec", "W_enc", "b_dec", "b_enc", "threshold"] },
    matryoshka: { architecture: "jumprelu", tensors: ["W_dec", "W_enc", "b_dec", "b_enc", "threshold"] },
    jumprelu: { architecture: "jumprelu", tensors: ["W_dec", "W_enc", "b_dec", "b_enc", "threshold"] },
    gated: { architecture: "gated", tensors: ["W_dec", "W_enc", "b_dec", "b_gate", "b_mag", "r_mag"] },
  };
  for (const [arch, want] of Object.entries(expected)) {
    const out = await Deno.makeTempDir();
    const code = await runTrainCommand(
      [...small, "--arch", arch, "--k", "4", "--steps", "3", "--max-resamples", "0", "--out", out],
      capture(),
    );
    assert.equal(code, 0, arch);
    const cfg = JSON.parse(await Deno.readTextFile(`${out}/final/toy.0/cfg.json`));
    assert.equal(cfg.architecture, want.architecture, arch);
    assert.equal(cfg.saekit_architecture, arch);
    const bytes = await Deno.readFile(`${out}/final/toy.0/sae_weights.safetensors`);
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
    assert.deepEqual(Object.keys(header).filter((k) => k !== "__metadata__").sort(), want.tensors, arch);
    await Deno.remove(out, { recursive: true });
  }
  await assert.rejects(
    () => runTrainCommand([...small, "--arch", "sparse", "--steps", "1"], capture()),
    /arch: .*"relu".*received "sparse"/,
  );
});

Deno.test("deno task train --transcoder-from A --transcoder-to B trains a transcoder and validates it spliced in", async () => {
  const out = await Deno.makeTempDir();
  const io = capture();
  const code = await runTrainCommand([
    ...smallStories,
    "--transcoder-from",
    "blocks.1.ln2.hook_normalized",
    "--transcoder-to",
    "blocks.1.hook_mlp_out",
    "--max-resamples",
    "0",
    "--normalize-activations",
    "expected-norm",
    "--b-dec-init",
    "mean",
    "--init-sample",
    "64",
    "--out",
    out,
  ], io);
  assert.equal(code, 0);
  const name = "blocks.1.ln2.hook_normalized->blocks.1.hook_mlp_out";
  assert.match(io.text(), /transcoders blocks\.1\.ln2\.hook_normalized->blocks\.1\.hook_mlp_out/);
  const last = (await Deno.readTextFile(`${out}/metrics.jsonl`)).trim().split("\n").map((l) => JSON.parse(l))
    .at(
      -1,
    );
  assert.ok(Number.isFinite(last[`validate/reconstruction_score/${name}`]));
  assert.ok(last[`validate/loss_zero/${name}`] > last[`validate/loss_clean/${name}`] - 1e-6);
  const cfg = JSON.parse(
    await Deno.readTextFile(`${out}/final/${name.replace(/[^A-Za-z0-9._-]/g, "_")}/cfg.json`),
  );
  assert.equal(cfg.hook_name, "blocks.1.ln2.hook_normalized");
  assert.equal(cfg.hook_name_out, "blocks.1.hook_mlp_out");
  assert.equal(cfg.apply_b_dec_to_input, false);
  await assert.rejects(
    () =>
      runTrainCommand([
        "--backend",
        "cpu",
        "--transcoder-from",
        "blocks.1.ln2.hook_normalized",
        "--steps",
        "1",
      ], capture()),
    /transcoderTo: expected both transcoderFrom and transcoderTo/,
  );
  await Deno.remove(out, { recursive: true });
});

Deno.test("deno task train writes TensorBoard events under --out by default; --tensorboard false or DIR changes that", async () => {
  const out = await Deno.makeTempDir();
  const io = capture();
  assert.equal(await runTrainCommand([...small, "--steps", "4", "--out", out], io), 0);
  const files = [...Deno.readDirSync(`${out}/tensorboard`)].map((e) => e.name);
  assert.equal(files.length, 1);
  assert.match(files[0], /^events\.out\.tfevents\.\d+\./);
  assert.match(io.text(), new RegExp(`TensorBoard events in ${out}/tensorboard/events.out.tfevents`));
  assert.ok(Deno.statSync(`${out}/tensorboard/${files[0]}`).size > 200, "the event file holds the metrics");
  // A resumed run writes a second file (which marks the restart) in the same folder.
  assert.equal(await runTrainCommand(["--resume", out, "--steps", "6"], capture()), 0);
  assert.equal([...Deno.readDirSync(`${out}/tensorboard`)].length, 2);

  const none = await Deno.makeTempDir();
  assert.equal(
    await runTrainCommand([...small, "--steps", "2", "--out", none, "--tensorboard", "false"], capture()),
    0,
  );
  assert.ok(![...Deno.readDirSync(none)].some((e) => e.name === "tensorboard"));
  const elsewhere = await Deno.makeTempDir();
  assert.equal(
    await runTrainCommand([...small, "--steps", "2", "--tensorboard", `${elsewhere}/tb`], capture()),
    0,
  );
  assert.equal([...Deno.readDirSync(`${elsewhere}/tb`)].length, 1);

  await assert.rejects(
    () => runTrainCommand([...small, "--steps", "2", "--tensorboard", "true"], capture()),
    /--tensorboard: expected a folder, or --out to write DIR\/tensorboard, received "true"/,
  );
  await assert.rejects(
    () => runTrainCommand([...small, "--steps", "2", "--wandb", "yes"], capture()),
    /--wandb: expected true or false, received "yes"/,
  );
  for (const dir of [out, none, elsewhere]) await Deno.remove(dir, { recursive: true });
});

Deno.test({
  name:
    "deno task train logs to W&B when WANDB_API_KEY is set (a local fake W&B server here), not with --wandb false",
  ignore: (await Deno.permissions.query({ name: "net", host: "127.0.0.1" })).state !== "granted",
  fn: async () => {
    const fake = fakeWandbServer();
    const saved = ["WANDB_API_KEY", "WANDB_BASE_URL", "WANDB_MODE"].map((name) =>
      [name, Deno.env.get(name)] as const
    );
    Deno.env.set("WANDB_API_KEY", "0123456789abcdef0123456789abcdef01234567");
    Deno.env.set("WANDB_BASE_URL", fake.url);
    Deno.env.delete("WANDB_MODE");
    const out = `${await Deno.makeTempDir()}/my-run`;
    try {
      const io = capture();
      assert.equal(
        await runTrainCommand([...small, "--steps", "4", "--out", out, "--wandb-project", "toys"], io),
        0,
      );
      assert.match(io.text(), new RegExp(`W&B run ${fake.url}/tester/toys/runs/\\w+`));
      const upsert = fake.graphql.find((g) => g.operation === "UpsertBucket")!.variables;
      assert.equal(upsert.displayName, "my-run", "the run is named after the --out folder");
      assert.equal(JSON.parse(upsert.config as string).batchSize, 64);
      const lines = (await Deno.readTextFile(`${out}/metrics.jsonl`)).trim().split("\n").map((l) =>
        JSON.parse(l)
      );
      const history = historyLines(fake.streams);
      assert.deepEqual(history.map((h) => h._step), [2, 4]);
      for (const [i, line] of lines.entries()) {
        for (const [key, value] of Object.entries(line)) {
          if (key === "step") continue;
          if (key.startsWith("train/feature_density_histogram/")) {
            assert.deepEqual((history[i][key] as { values: number[] }).values, value);
          } else assert.deepEqual(history[i][key], value, `${key} at step ${line.step}`);
        }
      }
      const runs = fake.graphql.length;
      assert.equal(await runTrainCommand([...small, "--steps", "2", "--wandb", "false"], capture()), 0);
      assert.equal(fake.graphql.length, runs, "--wandb false starts no W&B run");
    } finally {
      for (const [name, value] of saved) {
        value === undefined ? Deno.env.delete(name) : Deno.env.set(name, value);
      }
      await fake.server.shutdown();
      await Deno.remove(out, { recursive: true });
    }
  },
});
