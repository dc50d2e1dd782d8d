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

/** The file operations of {@linkcode openMetricsFile} (a `Deno.FsFile` has them; tests pass failing ones). */
export type AppendFile = {
  write(bytes: Uint8Array): Promise<number>;
  truncate(length: number): Promise<void>;
  close(): void;
};

/** `metrics.jsonl` opened for appending. */
export type MetricsFile = {
  readonly path: string;
  /**
   * Appends a record as one line, written whole or not at all: should a write fail (a full disk), the
   * file is cut back to its length before the line and the error names the file.
   */
  append(record: LogRecord): Promise<void>;
  close(): void;
};

/** Options of {@linkcode openMetricsFile}. */
export type OpenMetricsFileOptions = {
  /** Opens the file for appending and says its length (default: `Deno.open` with `append`). */
  readonly open?: (path: string) => Promise<{ file: AppendFile; size: number }>;
};

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Opens `metrics.jsonl` (which must exist) for appending whole lines.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openMetricsFile } from "./sinks.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/metrics.jsonl`, "");
 * const file = await openMetricsFile(`${dir}/metrics.jsonl`);
 * await file.append({ step: 1, "loss/total/mean": 0.5 });
 * file.close();
 * assert.equal(await Deno.readTextFile(`${dir}/metrics.jsonl`), '{"step":1,"loss/total/mean":0.5}\n');
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function openMetricsFile(
  path: string,
  options: OpenMetricsFileOptions = {},
): Promise<MetricsFile> {
  const open = options.open ?? (async (path: string) => {
    const file = await Deno.open(path, { append: true });
    return { file, size: (await file.stat()).size };
  });
  let opened: { file: AppendFile; size: number };
  try {
    opened = await open(path);
  } catch (error) {
    throw new Error(`${path}: cannot open the metrics file for appending (${messageOf(error)})`, {
      cause: error,
    });
  }
  const { file } = opened;
  let size = opened.size;
  const encoder = new TextEncoder();
  return {
    path,
    async append(record) {
      const bytes = encoder.encode(JSON.stringify(record) + "\n");
      let written = 0;
      try {
        while (written < bytes.length) written += await file.write(bytes.subarray(written));
      } catch (error) {
        let cut = "the file ends with the line before it";
        if (written > 0) {
          try {
            await file.truncate(size);
          } catch (truncateError) {
            cut = `the file could not be cut back to ${size} bytes (${messageOf(truncateError)}), so its ` +
              "last line is torn (--resume and deno task report skip it with a warning)";
          }
        }
        throw new Error(
          `${path}: cannot write the metrics line of step ${record.step} (${messageOf(error)}); ${cut}`,
          { cause: error },
        );
      }
      size += bytes.length;
    },
    close() {
      file.close();
    },
  };
}

/** A last line of JSON Lines text cut short (by a crash or a full disk while it was written). */
export type TornLine = {
  /** Its line number, from 1. */
  readonly line: number;
  readonly text: string;
};

/**
 * Splits a torn last line off JSON Lines text: when the last non-blank line is
 * not valid JSON, returns the text before it and the line; otherwise the text
 * as it is. Lines before the last are left to the reader to judge.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { dropTornLastLine } from "./sinks.ts";
 * const whole = '{"step":1}\n{"step":2}\n';
 * assert.deepEqual(dropTornLastLine(whole), { text: whole });
 * assert.deepEqual(dropTornLastLine('{"step":1}\n{"step":2,"lo'), {
 *   text: '{"step":1}\n',
 *   torn: { line: 2, text: '{"step":2,"lo' },
 * });
 * ```
 */
export function dropTornLastLine(text: string): { text: string; torn?: TornLine } {
  const trimmed = text.trimEnd();
  if (trimmed === "") return { text };
  const start = trimmed.lastIndexOf("\n") + 1;
  const last = trimmed.slice(start);
  try {
    JSON.parse(last);
    return { text };
  } catch {
    const line = trimmed.slice(0, start).split("\n").length;
    return { text: text.slice(0, start), torn: { line, text: last } };
  }
}

/**
 * The warning for a torn last line of `path`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tornLineWarning } from "./sinks.ts";
 * assert.equal(
 *   tornLineWarning("runs/x/metrics.jsonl", { line: 7, text: '{"step":70,"loss/total/a":0.0' }),
 *   'runs/x/metrics.jsonl line 7: ignored a torn last line (a run stopped while writing it): {"step":70,"loss/total/a":0.0',
 * );
 * ```
 */
export function tornLineWarning(path: string, torn: TornLine): string {
  const text = torn.text.length > 60 ? `${torn.text.slice(0, 57)}...` : torn.text;
  return `${path} line ${torn.line}: ignored a torn last line (a run stopped while writing it): ${text}`;
}

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
