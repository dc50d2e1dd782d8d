/**
 * Flattening of state records into named tensors and a JSON skeleton, and
 * back. Works for any nesting of records, arrays, numbers, strings, booleans,
 * `null` and tensors, so custom state records checkpoint as well.
 *
 * @module
 */
import { tf } from "../tf.ts";

/** A tensor's place in the skeleton. */
export type TensorRef = { readonly $tensor: string };

/** A flattened tree. */
export type FlatTree = {
  /** The tree with each tensor replaced by `{ $tensor: path }`. */
  readonly skeleton: unknown;
  /** Tensors by dotted path, e.g. `params.wEnc`, `opt.2.mu.wDec`. */
  readonly tensors: Readonly<Record<string, tf.Tensor>>;
};

/**
 * Splits a tree into tensors and a JSON-able skeleton.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { flattenTree } from "./tree.ts";
 * const flat = flattenTree({ step: 3, params: { w: tf.scalar(1) } });
 * assert.equal(Object.keys(flat.tensors).join(), "params.w");
 * ```
 */
export function flattenTree(tree: unknown): FlatTree {
  const tensors: Record<string, tf.Tensor> = {};
  const walk = (node: unknown, path: string): unknown => {
    if (node instanceof tf.Tensor) {
      tensors[path] = node;
      return { $tensor: path };
    }
    if (Array.isArray(node)) return node.map((child, i) => walk(child, path ? `${path}.${i}` : `${i}`));
    if (node !== null && typeof node === "object") {
      const out: Record<string, unknown> = {};
      for (const [key, child] of Object.entries(node)) {
        if (key.includes(".")) {
          throw new RangeError(`state key ${JSON.stringify(key)}: expected no "." in keys`);
        }
        out[key] = walk(child, path ? `${path}.${key}` : key);
      }
      return out;
    }
    if (typeof node === "number" && !Number.isFinite(node)) {
      return { $number: String(node) };
    }
    if (
      node === undefined || typeof node === "function" || typeof node === "symbol" || typeof node === "bigint"
    ) {
      throw new TypeError(
        `state at ${path || "(root)"}: expected JSON-able data or tensors, received ${typeof node}`,
      );
    }
    return node;
  };
  return { skeleton: walk(tree, ""), tensors };
}

/**
 * Rebuilds a tree from its skeleton and tensors.
 */
export function unflattenTree(skeleton: unknown, tensors: Readonly<Record<string, tf.Tensor>>): unknown {
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk);
    if (node !== null && typeof node === "object") {
      const ref = node as { $tensor?: string; $number?: string };
      if (typeof ref.$tensor === "string") {
        const tensor = tensors[ref.$tensor];
        if (tensor === undefined) throw new RangeError(`checkpoint: tensor ${ref.$tensor} is missing`);
        return tensor;
      }
      if (typeof ref.$number === "string") return Number(ref.$number);
      const out: Record<string, unknown> = {};
      for (const [key, child] of Object.entries(node)) out[key] = walk(child);
      return out;
    }
    return node;
  };
  return walk(skeleton);
}

/** The shape of each tensor of a tree, by dotted path (as {@linkcode flattenTree} names them). */
export type TensorShapes = Readonly<Record<string, readonly number[]>>;

/**
 * The shape of every tensor of a tree, by dotted path: what a checkpoint of a
 * state like it must hold (see `checkStateShapes()`). Reads no tensor data.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { tensorShapes } from "./tree.ts";
 * const w = tf.zeros([2, 3]);
 * assert.deepEqual(tensorShapes({ step: 1, params: { w } }), { "params.w": [2, 3] });
 * w.dispose();
 * ```
 */
export function tensorShapes(tree: unknown): TensorShapes {
  const out: Record<string, readonly number[]> = {};
  for (const [name, tensor] of Object.entries(flattenTree(tree).tensors)) out[name] = [...tensor.shape];
  return out;
}
