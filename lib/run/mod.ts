/**
 * The runner: `train` folds the pipeline over a source's batches, writes
 * `metrics.jsonl`, checkpoints and `final/` at their cadence, sends every
 * metrics line to the log sinks (TensorBoard, Weights & Biases, your own),
 * reports progress and stops cleanly on abort; one writer per run folder (an
 * OS lock); and freeing the tensors a step replaced. Data-parallel training
 * over MPI (`distributed/`): MPICH through FFI, and the split of each global
 * batch between the processes.
 *
 * @module
 */
export { collectTensors, disposeAll, disposeReplaced } from "./dispose.ts";
export { createProgress, type Progress } from "./progress.ts";
export {
  type Evaluate,
  finalIsCurrent,
  type LogRecord,
  MAX_SKIPPED_IN_A_ROW,
  train,
  type TrainOptions,
  type TrainResult,
} from "./runner.ts";
export {
  type AppendFile,
  closeSinks,
  dropTornLastLine,
  type LogSink,
  memorySink,
  type MetricsFile,
  openMetricsFile,
  type OpenMetricsFileOptions,
  type TornLine,
  tornLineWarning,
} from "./sinks.ts";
export {
  LOCK_FILE,
  type LockHolder,
  lockRunFolder,
  type LockRunFolderOptions,
  RunFolderLockedError,
  type RunLock,
} from "./lock.ts";
export {
  crc32c,
  densityHistogram,
  encodeEvent,
  type EventContent,
  type TensorBoardHistogram,
  type TensorBoardSink,
  tensorboardSink,
  type TensorBoardSinkOptions,
  tfRecord,
} from "./sinks/tensorboard.ts";
export {
  wandbData,
  type WandbRun,
  type WandbSdk,
  type WandbSink,
  wandbSink,
  type WandbSinkOptions,
} from "./sinks/wandb.ts";
export { initMpi, missingMpiMessage, type Mpi, MPICH_LIBRARY, MpiError } from "./distributed/mpi.ts";
export { acrossProcesses, type Collective, shareOf, sliceRows } from "./distributed/across.ts";
