/**
 * Files: safetensors, checkpoints, export to SAELens folders, import from
 * SAELens and sparsify, and Hugging Face Hub upload and download.
 *
 * @module
 */
export {
  decodeSafetensors,
  encodeSafetensors,
  indexSafetensorsBytes,
  parseSafetensorsHeader,
  readSafetensors,
  SAFETENSORS_DTYPE_BYTES,
  type SafetensorsEntry,
  type SafetensorsFile,
  type SafetensorsHeader,
  type SafetensorsHeaderEntry,
  safetensorsHeaderLength,
  type SafetensorsIndex,
  type SafetensorsRawEntry,
} from "./safetensors.ts";
export {
  checkpointName,
  checkStateShapes,
  latestCheckpoint,
  latestCheckpointConfig,
  listCheckpoints,
  loadCheckpoint,
  type LoadCheckpointOptions,
  type LoadedCheckpoint,
  loadLatestCheckpoint,
  type LoadLatestCheckpointOptions,
  readCheckpointConfig,
  removeCheckpointTemps,
  type ResumedCheckpoint,
  saveCheckpoint,
  type SaveCheckpointOptions,
} from "./checkpoint.ts";
export { parseJsonFile, readJsonFile, tempTarget } from "./files.ts";
export { type TensorShapes, tensorShapes } from "./tree.ts";
export {
  componentFolder,
  type ExportOptions,
  exportSaes,
  hookLayer,
  saelensArchitecture,
  saelensConfig,
  type SaelensConfigOptions,
  type SaelensMetadata,
  saelensMetadataOf,
} from "./export.ts";
export {
  type ImportedArch,
  type ImportedSaes,
  importSaelens,
  readCfg,
  type SaeComponent,
  saeFolders,
  SAELENS_CFG,
  SAELENS_WEIGHTS,
  saelensComponent,
  stackComponents,
} from "./saelens.ts";
export { importSparsify, SPARSIFY_WEIGHTS, sparsifyComponent } from "./sparsify.ts";
export {
  type DownloadedSaes,
  downloadSae,
  type DownloadSaeOptions,
  modelCard,
  type ModelCardInput,
  uploadRun,
  type UploadRunOptions,
  type UploadRunResult,
} from "./hub.ts";
