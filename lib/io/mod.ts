/**
 * Files: safetensors, checkpoints, export to SAELens folders, import from
 * SAELens and sparsify, and Hugging Face Hub upload and download.
 *
 * @module
 */
export {
  decodeSafetensors,
  encodeSafetensors,
  readSafetensors,
  type SafetensorsEntry,
  type SafetensorsFile,
} from "./safetensors.ts";
export {
  checkpointName,
  latestCheckpoint,
  loadCheckpoint,
  type LoadedCheckpoint,
  saveCheckpoint,
  type SaveCheckpointOptions,
} from "./checkpoint.ts";
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
