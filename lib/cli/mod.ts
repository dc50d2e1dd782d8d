/**
 * The command-line front ends behind `deno task train`, `activations`, `hub`,
 * `notebook` and `make-corpus` (the files of `tasks/` only call them), and the
 * help formatter that every command's flag table goes through.
 *
 * @module
 */
export {
  type CommandHelp,
  type FlagGroup,
  type FlagSpec,
  type FlagTable,
  formatHelp,
  wrapWords,
} from "./help.ts";
export { type CommandIO, runTrainCommand, TRAIN_FLAGS, TRAIN_HELP, withDefaultOut } from "./train.ts";
export { ACTIVATIONS_HELP, runActivationsCommand } from "./activations.ts";
export { HUB_HELP, runHubCommand } from "./hub.ts";
export { MAKE_CORPUS_HELP } from "./make_corpus.ts";
export {
  DEFAULT_NOTEBOOK,
  displayToFiles,
  type MimeBundle,
  NOTEBOOK_HELP,
  notebookModule,
  type NotebookRun,
  runNotebook,
  type RunNotebookOptions,
} from "./notebook.ts";
