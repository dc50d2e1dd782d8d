import { assert, tf } from "../_helpers.ts";
import { serveFakeHub } from "../_fake_hub.ts";
import { runHubCommand } from "../../lib/cli/hub.ts";
import { parseConfig } from "../../lib/config.ts";
import { toySource } from "../../lib/data/toy.ts";
import { train } from "../../lib/run/runner.ts";
import { disposeAll } from "../../lib/run/dispose.ts";

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

Deno.test({
  name:
    "deno task hub upload RUN owner/name, then download owner/name into $HF_HUB_CACHE and --out DIR (a local fake Hub)",
  ignore: !netAllowed,
  async fn() {
    const hub = serveFakeHub();
    hub.tokens.set("hf_cli", "write");
    const dir = await Deno.makeTempDir({ prefix: "saekit_hub_cli_" });
    try {
      const config = parseConfig({
        dIn: 4,
        nComponents: 1,
        arch: "jumprelu",
        batchSize: 16,
        storeSize: 32,
        steps: 2,
        logEvery: 2,
        maxResamples: 0,
        backend: "cpu",
      });
      const source = toySource({
        nComponents: 1,
        dIn: 4,
        nFeatures: 6,
        meanActive: 1,
        chunkRows: 32,
        seed: 2,
      });
      disposeAll((await train({ config, source, out: `${dir}/run` })).state);

      let text = "";
      const write = (t: string) => void (text += t);
      Deno.env.set("HF_TOKEN", "hf_cli");
      try {
        assert.equal(
          await runHubCommand(["upload", `${dir}/run`, "me/jump", "--hub-url", hub.url], write),
          0,
        );
      } finally {
        Deno.env.delete("HF_TOKEN");
      }
      assert.match(text, new RegExp(`^created ${hub.url}/me/jump: 5 files in commit [0-9a-f]{40}\n`));
      assert.match(text, /\n {2}component_0\/sae_weights\.safetensors\n/);

      text = "";
      const tensors = tf.memory().numTensors;
      Deno.env.set("HF_HUB_CACHE", `${dir}/hf-cache`);
      try {
        const code = await runHubCommand(
          ["download", "me/jump", "--out", `${dir}/got`, "--hub-url", hub.url],
          write,
        );
        assert.equal(code, 0);
      } finally {
        Deno.env.delete("HF_HUB_CACHE");
      }
      assert.equal(
        text,
        `me/jump@main: 1 saelens SAE (jumprelu, d_in 4, d_sae 8) in ${dir}/got\n  component_0\n`,
      );
      assert.equal(tf.memory().numTensors, tensors);
      assert.ok((await Deno.lstat(`${dir}/got/component_0/sae_weights.safetensors`)).isFile);
      // The files went through the Hugging Face cache that HF_HUB_CACHE names.
      const commit = hub.repos.get("me/jump")!.branches.get("main")!;
      const storage = `${dir}/hf-cache/models--me--jump`;
      assert.equal(await Deno.readTextFile(`${storage}/refs/main`), commit);
      assert.deepEqual(
        await Deno.readFile(`${storage}/snapshots/${commit}/component_0/sae_weights.safetensors`),
        await Deno.readFile(`${dir}/run/final/component_0/sae_weights.safetensors`),
      );

      // --cache-dir instead, without --out: the SAEs are read from the snapshot.
      text = "";
      assert.equal(
        await runHubCommand(["download", "me/jump", "--cache-dir", `${dir}/c2`, "--hub-url", hub.url], write),
        0,
      );
      assert.equal(
        text,
        `me/jump@main: 1 saelens SAE (jumprelu, d_in 4, d_sae 8) in ${dir}/c2/models--me--jump/snapshots/${commit}\n  component_0\n`,
      );

      await assert.rejects(
        () => runHubCommand(["push", "x"], write),
        /command: expected "upload" or "download", received "push"/,
      );
      await assert.rejects(
        () => runHubCommand(["upload", `${dir}/run`], write),
        /upload: expected RUN_DIR and OWNER\/NAME/,
      );
    } finally {
      await hub.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
