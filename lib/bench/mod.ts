/**
 * Benchmarks whose runs go into BENCHMARKS.md: the training step of each
 * architecture against a PyTorch baseline (from a chosen starting L0),
 * activation generation, the feature statistics pass, and the writer that
 * adds each run to its section (`deno task bench`).
 *
 * @module
 */
export {
  allArchsSection,
  type ArchRow,
  BENCH_HELP,
  type BenchCommandIO,
  benchMain,
  type BenchProcesses,
  type BenchResult,
  type BenchSize,
  describeMachine,
  formatArchTable,
  formatBenchTable,
  L0_ARCHS,
  measureActivationGeneration,
  measureFeatureStatistics,
  measureStep,
  type ProcessMeasurement,
  runBenchCommand,
  stepConfig,
  stepLabel,
} from "./benchmarks.ts";
export { firingItems, l0EncoderBias, l0StartBias } from "./l0.ts";
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
