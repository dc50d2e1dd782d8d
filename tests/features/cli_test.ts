import { assert } from "../_helpers.ts";
import { runFeaturesCommand } from "../../lib/features/cli.ts";
import { tinyRun } from "./_run.ts";

function capture() {
  let text = "";
  return { write: (t: string) => void (text += t), text: () => text };
}

Deno.test("deno task features DIR --static OUT writes the browser's files and says how to serve them", async () => {
  const dir = await tinyRun();
  const out = `${dir}/features-site`;
  const io = capture();
  const hooks: string[] = [];
  assert.equal(
    await runFeaturesCommand([dir, "--tokens", "100", "--static", out, "--backend", "cpu"], {
      ...io,
      onPrepared: (prepared, backend) =>
        hooks.push(
          `prepared ${backend} ${prepared.positions} ${prepared.windows} ${prepared.unseenWindows} ${prepared.model}`,
        ),
      onStaticWritten: (files) => hooks.push(`wrote ${files}`),
    }),
    0,
  );
  // The hooks deno task bench --features measures through: the statistics first, then the files.
  assert.deepEqual(hooks, ["prepared cpu 115 5 5 stories260K (llama2.c, shipped with saekit)", "wrote 130"]);
  // 100 tokens at 23 a window: 5 windows, all held out (4) or after the training region.
  assert.match(io.text(), /backend cpu/);
  assert.match(io.text(), /2 × 64 features; reading 5 windows of 24 tokens \(held out first\)/);
  assert.match(
    io.text(),
    /statistics of 128 features over 115 tokens in [\d.]+ s \(5 of 5 windows unseen in training\)/,
  );
  assert.match(io.text(), /wrote 130 files to .*features-site; serve that folder/);
  const summary = JSON.parse(await Deno.readTextFile(`${out}/api/summary.json`));
  assert.equal(summary.positions, 115);
  await Deno.remove(out, { recursive: true });
});

Deno.test("deno task features DIR serves the page until stopped", async () => {
  const dir = await tinyRun();
  const controller = new AbortController();
  const io = capture();
  let url = "";
  const done = runFeaturesCommand([dir, "--tokens", "50", "--port", "0", "--backend", "cpu"], {
    ...io,
    signal: controller.signal,
    onListen: (u) => {
      url = u;
      fetch(`${u}api/summary.json`).then((r) => r.json()).then((s) => {
        assert.equal(s.components.length, 2);
        controller.abort();
      });
    },
  });
  assert.equal(await done, 0);
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  assert.match(io.text(), /open http:\/\/127\.0\.0\.1:\d+\/ \(Ctrl-C to stop\)/);
});

Deno.test("deno task features explains bad arguments", async () => {
  const io = capture();
  assert.equal(await runFeaturesCommand(["--help"], io), 0);
  assert.match(io.text(), /deno task features DIR/);
  await assert.rejects(
    () => runFeaturesCommand([], capture()),
    /DIR: expected one run folder .*received none/,
  );
  await assert.rejects(
    () => runFeaturesCommand(["a", "--tokens", "1.5"], capture()),
    /--tokens: expected a positive integer, received "1.5"/,
  );
  await assert.rejects(
    () => runFeaturesCommand(["a", "--port", "70000"], capture()),
    /--port: expected an integer in \[0, 65535\], received "70000"/,
  );
  await assert.rejects(
    () => runFeaturesCommand(["a", "--colour", "red"], capture()),
    /Unknown option '--colour'/,
  );
});
