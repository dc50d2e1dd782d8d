/**
 * Training metrics as pure accumulators (`initMetrics`, `accumulate`) and
 * their summaries, the ground-truth MMCS of the toy source, and the losses with
 * the SAEs spliced into a model.
 *
 * @module
 */
export {
  accumulate,
  accumulateCapacity,
  capacities,
  initMetrics,
  type MetricsState,
} from "./accumulators.ts";
export {
  DENSITY_BIN_EDGES,
  type MetricsSnapshot,
  summarizeMetrics,
  type SummarizeOptions,
} from "./summary.ts";
export { mmcs } from "./mmcs.ts";
export {
  componentParams,
  reconstructActivation,
  type SplicedLosses,
  splicedLosses,
  type SplicedTotals,
  type SpliceOptions,
  validationRecord,
} from "./reconstruction.ts";
