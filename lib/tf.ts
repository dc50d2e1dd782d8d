/**
 * The single import of TensorFlow.js in saekit.
 *
 * Everything else in the library imports `tf` from here, so that one backend
 * registry is shared. This module imports nothing of saekit: backend
 * selection is `selectBackend` in `./backends/select.ts`, which imports this.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

// tfjs prints a banner suggesting tfjs-node when it runs outside a browser;
// the library chooses its own backend and says which one ran.
tf.env().set("IS_TEST", true);

export { tf };

/**
 * `tf.tidy` for any record of tensors: runs `fn`, frees every tensor it made
 * except those reachable from its result. (tfjs's own typing accepts only its
 * `TensorContainer`, which generic state records do not satisfy.)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf, tidy } from "./tf.ts";
 * const before = tf.memory().numTensors;
 * const out = tidy(() => ({ y: tf.add(tf.scalar(1), tf.scalar(2)) }));
 * assert.equal(tf.memory().numTensors, before + 1);
 * assert.deepEqual(Array.from(out.y.dataSync()), [3]);
 * out.y.dispose();
 * ```
 */
export function tidy<T>(fn: () => T): T {
  return tf.tidy(fn as unknown as () => tf.TensorContainer) as unknown as T;
}

/**
 * Whether the active backend has a kernel of this name: how the pure core
 * chooses between a fused kernel (registered by a backend such as `blas`)
 * and the same computation composed of ordinary tfjs ops.
 */
export function hasKernel(name: string): boolean {
  return tf.getKernel(name, tf.getBackend()) !== undefined;
}

/** Runs a registered kernel with several outputs and returns them in order. */
export function runKernel(
  name: string,
  inputs: Readonly<Record<string, tf.Tensor>>,
  attrs: Readonly<Record<string, number | boolean | string>> = {},
): tf.Tensor[] {
  const out = tf.engine().runKernel(name, inputs as tf.NamedTensorMap, attrs as tf.NamedAttrMap);
  return Array.isArray(out) ? out : [out];
}
