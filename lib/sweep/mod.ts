/**
 * Sweeps: the architecture sweep of `deno task sweep` (every architecture at
 * three sparsity levels, tables for BENCHMARKS.md), sweep files (a grid or
 * random search over configuration fields), and their runs shared by worker
 * processes through a folder.
 *
 * @module
 */
export {
  activationCacheName,
  formatSweepSection,
  formatSweepTable,
  runSweep,
  runSweepCommand,
  type RunSweepOptions,
  SWEEP_BASE,
  SWEEP_HELP,
  SWEEP_LEVELS,
  SWEEP_SECTION,
  SWEEP_SOURCES,
  sweepBenchmarkRun,
  type SweepCommandIO,
  sweepGrid,
  type SweepGridOptions,
  type SweepResult,
  type SweepRow,
  sweepRow,
  type SweepSectionInfo,
  type SweepSourceName,
  type SweepSpec,
} from "./architectures.ts";
export {
  describeParams,
  expandSweep,
  formatParamValue,
  formatSweepSummary,
  MAX_SWEEP_RUNS,
  parseSweepFile,
  planSweep,
  SWEEP_DISTRIBUTIONS,
  type SweepDistribution,
  type SweepFile,
  type SweepFileInput,
  SweepFileSchema,
  type SweepMetric,
  SweepMetricSchema,
  type SweepParameter,
  SweepParameterSchema,
  type SweepPlan,
  type SweepRun,
  type SweepRunResult,
  sweepRunResult,
  type SweepRunState,
  type SweepRunStatus,
} from "./file.ts";
export { readStatuses, readSweepPlan, summarizeSweep, SWEEP_PLAN_FILE } from "./queue.ts";
export {
  isSweepFileCommand,
  runSweepFileCommand,
  runSweepWorker,
  SWEEP_FILE_HELP,
  type SweepFileCommandIO,
  type SweepTrainer,
  type SweepWorkerOptions,
  type SweepWorkerReport,
  trainSweepRun,
} from "./workers.ts";
