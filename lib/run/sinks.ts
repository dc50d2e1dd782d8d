/**
 * Log sinks: where the runner sends each metrics line besides `metrics.jsonl`
 * (TensorBoard event files, Weights & Biases, anything a caller writes). The
 * runner awaits {@linkcode LogSink.log} after every line and closes every sink
 * when the run ends, completed, aborted or failed. The pure core knows nothing
 * of them.
 *
 * @module
 */
/**
 * A log record: one line of `metrics.jsonl`. Defined here, where records go, so
 * that the sinks need nothing of the runner that calls them.
 */
export type LogRecord = Record<string, number | number[]>;

/** A destination for metrics lines. */
export type LogSink = {
  /** Called with every metrics line, in step order; awaited before training goes on. */
  log(record: LogRecord): Promise<void> | void;
  /** Called once when the run ends; flushes and releases what the sink holds. */
  close(): Promise<void> | void;
};

/**
 * Closes every sink, each even if another failed, then throws the first failure (an `AggregateError`
 * when several failed).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { closeSinks, type LogSink } from "./sinks.ts";
 * const closed: string[] = [];
 * const sink = (name: string): LogSink => ({ log() {}, close: () => void closed.push(name) });
 * await closeSinks([sink("a"), sink("b")]);
 * assert.equal(closed.join(), "a,b");
 * ```
 */
export async function closeSinks(sinks: readonly LogSink[]): Promise<void> {
  const failures: unknown[] = [];
  for (const sink of sinks) {
    try {
      await sink.close();
    } catch (error) {
      failures.push(error);
    }
  }
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) throw new AggregateError(failures, `${failures.length} log sinks failed to close`);
}

/**
 * A sink that keeps every record in memory, for tests and notebooks.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { memorySink } from "./sinks.ts";
 * const sink = memorySink();
 * sink.log({ step: 1, "loss/total/mean": 0.5 });
 * sink.close();
 * assert.equal(sink.records.length, 1);
 * assert.ok(sink.closed);
 * ```
 */
export function memorySink(): LogSink & { readonly records: LogRecord[]; readonly closed: boolean } {
  const records: LogRecord[] = [];
  let closed = false;
  return {
    records,
    get closed() {
      return closed;
    },
    log(record) {
      if (closed) throw new Error(`memorySink: expected log() before close(), received step ${record.step}`);
      records.push(structuredClone(record));
    },
    close() {
      closed = true;
    },
  };
}
