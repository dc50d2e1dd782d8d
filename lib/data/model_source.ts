/**
 * Activations of a language model as an activation source: token windows go
 * through the model in batches, and the activations at the chosen hook
 * points become the components' rows (one row per token position).
 *
 * Effectful: reads the activations back to the host.
 *
 * @module
 */
import { tf } from "../tf.ts";
import type { HookedModel } from "../models/hooked.ts";
import { stopLayerFor } from "../models/hooked.ts";
import type { ActivationChunk, ActivationSource } from "./source.ts";
import { firstNonFinite } from "../train/finite.ts";

/** Token windows of a fixed length, readable from any window index (a `TokenWindows` of `./text/windows.ts` is one). */
export type WindowStream = {
  readonly contextSize: number;
  /** Windows from index `start` on, each `contextSize` token ids. */
  windows(start: number): AsyncIterable<Int32Array>;
};

/** Options of {@linkcode modelActivationSource}. */
export type ModelSourceOptions = {
  readonly model: HookedModel;
  /** Hook points read, one component each; they must share a width. */
  readonly hooks: readonly string[];
  readonly windows: WindowStream;
  /** Windows per forward pass. */
  readonly windowsPerBatch: number;
  /**
   * Leading positions of each window whose activations are not used (1 when
   * windows start with BOS: its activations are outliers that SAEs should not
   * spend features on).
   */
  readonly skipPositions?: number;
};

/** A model activation source, with the number of windows it has read. */
export type ModelActivationSource = ActivationSource & {
  /** Activation rows per window: `contextSize − skipPositions`. */
  readonly rowsPerWindow: number;
  readonly hooks: readonly string[];
};

/**
 * The activation source of a model over token windows. Row `r` is position
 * `skip + r mod rowsPerWindow` of window `floor(r / rowsPerWindow)`, so the
 * source can restart at any row.
 *
 * Every activation read back is checked: a NaN or infinite value (a model
 * with a non-finite weight, or one whose forward pass overflows) throws a
 * `RangeError` naming the hook, the window, the position and the dimension,
 * before any SAE trains on it.
 *
 * @example
 * ```ts ignore
 * const source = modelActivationSource({ model, hooks: ["blocks.0.hook_resid_post"], windows, windowsPerBatch: 16 });
 * for await (const chunk of source.chunks(0)) { ... }
 * ```
 */
export function modelActivationSource(options: ModelSourceOptions): ModelActivationSource {
  const { model, hooks, windows, windowsPerBatch } = options;
  const skip = options.skipPositions ?? 0;
  if (hooks.length === 0) throw new RangeError("hooks: expected at least one hook point, received none");
  const dims = hooks.map((h) => model.hookDim(h));
  if (dims.some((d) => d !== dims[0])) {
    throw new RangeError(
      `hooks: expected hook points of one width (an SAE per hook, trained together), received ${
        hooks.map((h, i) => `${h} (${dims[i]})`).join(", ")
      }`,
    );
  }
  const contextSize = windows.contextSize;
  if (contextSize > model.maxSeq) {
    throw new RangeError(
      `contextSize: expected at most the model's maxSeq ${model.maxSeq}, received ${contextSize}`,
    );
  }
  if (!(skip >= 0 && skip < contextSize)) {
    throw new RangeError(`skipPositions: expected an integer in [0, ${contextSize}), received ${skip}`);
  }
  if (!Number.isInteger(windowsPerBatch) || windowsPerBatch < 1) {
    throw new RangeError(`windowsPerBatch: expected a positive integer, received ${windowsPerBatch}`);
  }
  const rowsPerWindow = contextSize - skip;
  const dIn = dims[0];
  const c = hooks.length;
  const stopAtLayer = stopLayerFor(hooks, model.nLayers);

  async function* chunks(start: number): AsyncIterable<ActivationChunk> {
    const firstWindow = Math.floor(start / rowsPerWindow);
    let skipRows = start - firstWindow * rowsPerWindow;
    let pending: Int32Array[] = [];
    let nextWindow = firstWindow;
    const flush = async (): Promise<ActivationChunk> => {
      const b = pending.length;
      const first = nextWindow;
      nextWindow += b;
      const tokens = new Int32Array(b * contextSize);
      pending.forEach((w, i) => tokens.set(w, i * contextSize));
      pending = [];
      const picked = tf.tidy(() => {
        const { activations } = model.forward(tf.tensor2d(tokens, [b, contextSize], "int32"), {
          capture: hooks,
          stopAtLayer,
        });
        // [c, b, rows, d] → [c, b·rows, d]
        const parts = hooks.map((h) => tf.slice(activations[h], [0, skip, 0], [b, rowsPerWindow, dIn]));
        return tf.reshape(tf.stack(parts), [c, b * rowsPerWindow, dIn]);
      });
      const data = (await picked.data()) as Float32Array;
      picked.dispose();
      const bad = firstNonFinite(data, c, b * rowsPerWindow, dIn);
      if (bad !== undefined) {
        throw new RangeError(
          `hook ${hooks[bad.component]}: expected finite activations, received ${bad.value} at window ${
            first + Math.floor(bad.row / rowsPerWindow)
          }, position ${skip + (bad.row % rowsPerWindow)}, dimension ${bad.column} (a non-finite weight of ` +
            `the model, or an overflow in its forward pass)`,
        );
      }
      return { data, rows: b * rowsPerWindow };
    };
    for await (const window of windows.windows(firstWindow)) {
      if (window.length !== contextSize) {
        throw new RangeError(`windows: expected ${contextSize} tokens per window, received ${window.length}`);
      }
      pending.push(window);
      if (pending.length === windowsPerBatch) {
        const chunk = await flush();
        yield skipRows === 0 ? chunk : dropRows(chunk, skipRows, c, dIn);
        skipRows = 0;
      }
    }
    if (pending.length > 0) {
      const chunk = await flush();
      yield skipRows === 0 ? chunk : dropRows(chunk, skipRows, c, dIn);
    }
  }

  return { nComponents: c, dIn, rowsPerWindow, hooks, chunks };
}

function dropRows(chunk: ActivationChunk, drop: number, c: number, d: number): ActivationChunk {
  const rows = chunk.rows - drop;
  const data = new Float32Array(c * rows * d);
  for (let k = 0; k < c; k++) {
    data.set(chunk.data.subarray((k * chunk.rows + drop) * d, (k + 1) * chunk.rows * d), k * rows * d);
  }
  return { data, rows };
}
