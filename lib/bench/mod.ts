/**
 * Benchmarks whose runs go into BENCHMARKS.md: the training step against a
 * PyTorch baseline, activation generation, the feature statistics pass, and
 * the writer that adds each run to its section (`deno task bench`).
 *
 * @module
 */
export {
  BENCH_HELP,
  type BenchCommandIO,
  benchMain,
  type BenchProcesses,
  type BenchResult,
  type BenchSize,
  describeMachine,
  measureActivationGeneration,
  measureFeatureStatistics,
  measureStep,
  type ProcessMeasurement,
  runBenchCommand,
} from "./benchmarks.ts";
export {
  addBenchmarkRun,
  type BenchmarkRun,
  BENCHMARKS_HEAD,
  type BenchmarkSection,
  benchmarkSections,
  formatBenchmarkSection,
  formatRunHeading,
  writeBenchmarkRun,
} from "./file.ts";
