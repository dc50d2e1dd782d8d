import { assert, assertClose } from "../_helpers.ts";
import { summarizeMetrics } from "../../lib/metrics/summary.ts";

const snapshot = {
  n: 4,
  lossSum: [2, 6],
  l1Sum: [8, 4],
  l2Sum: [1, 3],
  l0Sum: [6, 10],
  sseSum: [2, 9],
  sstSum: [8, 9],
  // component a: fired [4, 0, 1]; component b: fired [0, 0, 2]
  fired: [4, 0, 1, 0, 0, 2],
  capacitySum: [1.5, 1],
  capacityBatches: 2,
};

Deno.test("summarizeMetrics() logs per component and the mean under the original's keys", () => {
  const log = summarizeMetrics(snapshot, { componentNames: ["a", "b"], dSae: 3, l1Coefficient: 0.1 });
  assertClose(log["loss/total/a"] as number, 0.5);
  assertClose(log["loss/total/b"] as number, 1.5);
  assertClose(log["loss/total/mean"] as number, 1);
  assertClose(log["loss/l1_learned_activations/a"] as number, 2);
  assertClose(log["loss/l2_reconstruction/b"] as number, 0.75);
  assertClose(log["train/l0_norm/a"] as number, 1.5);
  assertClose(log["train/l0_norm/mean"] as number, 2);
  // dead: a has 1 never-fired feature, b has 2
  assert.equal(log["train/neuron_activity/a"], 1);
  assert.equal(log["train/neuron_activity/b"], 2);
  assertClose(log["train/neuron_activity/mean"] as number, 1.5);
  assertClose(log["train/dead_fraction/b"] as number, 2 / 3);
  // explained variance: 1 − 2/8 = 0.75 and 1 − 9/9 = 0
  assertClose(log["train/explained_variance/a"] as number, 0.75);
  assertClose(log["train/explained_variance/b"] as number, 0);
  assertClose(log["train/capacity/a"] as number, 0.75);
});

Deno.test("summarizeMetrics() applies the dead threshold as a fraction of the vectors seen", () => {
  // threshold 0.25 of 4 vectors = 1 firing: a's features fired [4, 0, 1] -> 2 dead
  const log = summarizeMetrics(snapshot, {
    componentNames: ["a", "b"],
    dSae: 3,
    l1Coefficient: 0.1,
    deadThreshold: 0.25,
  });
  assert.equal(log["train/neuron_activity/a"], 2);
});

Deno.test("summarizeMetrics() bins log10 firing frequency, never-fired features in the first bin", () => {
  // a: densities 1 (log 0), 0 (−∞), 0.25 (log −0.60): bins (−∞,−7] gets 1, (−1,0] gets 2
  const log = summarizeMetrics(snapshot, { componentNames: ["a", "b"], dSae: 3, l1Coefficient: 0 });
  assert.deepEqual(log["train/feature_density_histogram/a"], [1, 0, 0, 0, 0, 0, 0, 2]);
});
