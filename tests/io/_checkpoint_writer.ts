/**
 * Child process of the SIGKILL test in `checkpoint_test.ts`: writes
 * checkpoints in a loop until it is killed, each step to a new folder
 * `<run>/checkpoints/step-N` and then over the same folder `<run>/same`, and
 * prints `saved step N` / `saved same N` once each write has returned. It
 * stops by itself after `<maxSteps>` steps, should the parent fail to kill it.
 *
 * Usage: `deno run --allow-read --allow-write --allow-env _checkpoint_writer.ts <run> <firstStep> <floats> <maxSteps>`
 *
 * The tensors are derived from the step alone ({@linkcode checkpointTensors}),
 * so that the parent can check what it finds.
 */
import { tf } from "../../lib/tf.ts";
import { selectBackend } from "../../lib/backends/select.ts";
import { checkpointName, saveCheckpoint } from "../../lib/io/checkpoint.ts";

/**
 * The tensors of the checkpoint at `step`: `w[i] = (7 i + 1009 step) mod 65536`
 * (integers below 2^24, exact in float32) and `count = [step, -step]` (int32).
 */
export function checkpointTensors(step: number, floats: number): { w: Float32Array; count: Int32Array } {
  const w = new Float32Array(floats);
  for (let i = 0; i < floats; i++) w[i] = (7 * i + 1009 * step) % 65536;
  return { w, count: Int32Array.of(step, -step) };
}

/** The data position saved with the checkpoint at `step`. */
export function checkpointPosition(step: number): number {
  return step * 8;
}

if (import.meta.main) {
  const [run, first, floats, maxSteps] = Deno.args;
  await selectBackend("cpu");
  const write = (line: string) => Deno.stdout.write(new TextEncoder().encode(line + "\n"));
  for (let step = Number(first); step < Number(first) + Number(maxSteps); step++) {
    const { w, count } = checkpointTensors(step, Number(floats));
    const state = { step, w: tf.tensor1d(w), count: tf.tensor1d(count, "int32") };
    const info = { position: checkpointPosition(step), config: { floats: Number(floats) } };
    await saveCheckpoint(`${run}/checkpoints/${checkpointName(step)}`, state, info);
    await write(`saved step ${step}`);
    await saveCheckpoint(`${run}/same`, state, info);
    await write(`saved same ${step}`);
    tf.dispose([state.w, state.count]);
  }
}
