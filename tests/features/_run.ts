/**
 * A small trained run for the feature browser's tests: two SAEs of 64
 * features on stories260K's blocks 0 and 2, four steps on the cpu backend,
 * trained once per test process.
 */
import { runTrainCommand } from "../../lib/cli/train.ts";

let run: Promise<string> | undefined;

/** The run folder (trained on first use; removed when the process exits). */
export function tinyRun(): Promise<string> {
  run ??= (async () => {
    const out = await Deno.makeTempDir({ prefix: "saekit-features-" });
    globalThis.addEventListener("unload", () => Deno.removeSync(out, { recursive: true }));
    const code = await runTrainCommand([
      ...["--backend", "cpu", "--hooks", "blocks.0.hook_resid_post,blocks.2.hook_resid_post"],
      ...["--context-size", "24", "--windows-per-batch", "8", "--validation-windows", "4"],
      ...["--batch-size", "64", "--store-size", "128", "--steps", "4", "--log-every", "2"],
      ...["--expansion-factor", "1", "--max-resamples", "0", "--out", out],
    ], { write: () => {}, isTerminal: false, signal: new AbortController().signal });
    if (code !== 0) throw new Error(`training the test run failed with exit code ${code}`);
    return out;
  })();
  return run;
}
