/**
 * The training report: a run folder's `metrics.jsonl` and facts rendered into
 * one self-contained HTML page of charts (`report.html`), written when a run
 * ends and by `deno task report`.
 *
 * @module
 */
export {
  finishRunReport,
  type MachineInfo,
  machineInfo,
  parseMetricsJsonl,
  readRun,
  recordRunSegment,
  renderReport,
  REPORT_HELP,
  type ReportOptions,
  type RunData,
  type RunInfo,
  runReportCommand,
  type RunSegment,
  type SegmentFacts,
  writeReport,
} from "./report.ts";
