import { assert, tf, values } from "../_helpers.ts";
import { flattenTree, unflattenTree } from "../../lib/io/tree.ts";

Deno.test("flattenTree() names tensors by their path and unflattenTree() rebuilds the tree", () => {
  const tree = {
    step: 3,
    opt: [null, { kind: "adam", mu: { w: tf.scalar(2) } }],
    key: tf.tensor1d([-Infinity, 1]),
    inf: -Infinity,
  };
  const { skeleton, tensors } = flattenTree(tree);
  assert.deepEqual(Object.keys(tensors).sort(), ["key", "opt.1.mu.w"]);
  const json = JSON.parse(JSON.stringify(skeleton));
  const back = unflattenTree(json, tensors) as typeof tree;
  assert.equal(back.step, 3);
  assert.equal(back.inf, -Infinity);
  assert.equal((back.opt[1] as { kind: string }).kind, "adam");
  assert.deepEqual(values((back.opt[1] as { mu: { w: tf.Tensor } }).mu.w), [2]);
});

Deno.test("flattenTree() rejects values that cannot be saved and unflattenTree() a missing tensor", () => {
  assert.throws(
    () => flattenTree({ f: () => 1 }),
    /state at f: expected JSON-able data or tensors, received function/,
  );
  assert.throws(() => unflattenTree({ w: { $tensor: "w" } }, {}), /checkpoint: tensor w is missing/);
});
