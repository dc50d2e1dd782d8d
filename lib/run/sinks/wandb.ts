/**
 * A Weights & Biases sink through W&B's official JavaScript SDK (`@wandb/sdk`): each metrics line is logged
 * at its step under the same keys as `metrics.jsonl` (the original library's keys), the feature-density
 * histograms as W&B histograms.
 *
 * The SDK reads `WANDB_API_KEY` (or `~/.netrc`) and `WANDB_BASE_URL` (default `https://api.wandb.ai`); the
 * options here override them. It is loaded only when a sink is made.
 *
 * @module
 */
import process from "node:process";
import type { LogRecord, LogSink } from "../sinks.ts";
import { DENSITY_BIN_EDGES } from "../../metrics/summary.ts";

/** The part of the SDK's `Run` the sink uses. */
export type WandbRun = {
  readonly id: string;
  log(data: Record<string, unknown>, step?: number, commit?: boolean): void;
  finish(code?: number): Promise<void>;
  url(): string;
};

/** The part of the SDK (`import wandb from "@wandb/sdk"`) the sink uses; tests pass a fake. */
export type WandbSdk = {
  init(options: {
    project?: string;
    entity?: string;
    name?: string;
    config?: unknown;
    settings?: { baseUrl?: string; apiKey?: string; silent?: boolean };
  }): Promise<WandbRun>;
};

/** Options of {@linkcode wandbSink}. */
export type WandbSinkOptions = {
  /** W&B project (default `sparse-autoencoder`, the original's). */
  readonly project?: string;
  /** W&B entity (user or team; default: the API key's own). */
  readonly entity?: string;
  /** Display name of the run (default: one W&B makes up). */
  readonly name?: string;
  /** The run's configuration, shown and filterable in W&B (e.g. the resolved `TrainConfig`). */
  readonly config?: Readonly<Record<string, unknown>>;
  /** API server (default: `WANDB_BASE_URL`, else `https://api.wandb.ai`). */
  readonly baseUrl?: string;
  /** API key (default: `WANDB_API_KEY`, else `~/.netrc`). */
  readonly apiKey?: string;
  /** Give up starting the run after this many milliseconds (default 60 000). */
  readonly initTimeoutMs?: number;
  /** Give up waiting for the last upload at close after this many milliseconds (default 120 000). */
  readonly finishTimeoutMs?: number;
  /** The SDK object; `@wandb/sdk`'s default export when absent. */
  readonly sdk?: WandbSdk;
};

/** A W&B sink and the run it logs to. */
export type WandbSink = LogSink & { readonly id: string; readonly url: string };

const HISTOGRAM_PREFIX = "train/feature_density_histogram/";

/**
 * What the sink logs for one metrics line: every key as it is except `step` (the W&B step), and each
 * `train/feature_density_histogram/<component>` as a W&B histogram (`{ _type: "histogram", values, bins }`)
 * over log10 firing density, bins `[−8, −7, …, 0]` (the first bin, from −8, also holds the features that
 * never fired).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wandbData } from "./wandb.ts";
 * const data = wandbData({ step: 5, "loss/total/a": 0.5, "train/feature_density_histogram/a": [1, 0, 0, 0, 0, 0, 0, 2] });
 * assert.equal(data["loss/total/a"], 0.5);
 * assert.ok(!("step" in data));
 * const h = data["train/feature_density_histogram/a"] as { _type: string; values: number[]; bins: number[] };
 * assert.equal(h._type, "histogram");
 * assert.equal(h.values[7], 2);
 * assert.equal(h.bins.length, 9);
 * assert.equal(h.bins[0], -8);
 * ```
 */
export function wandbData(record: LogRecord): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record)) {
    if (key === "step") continue;
    if (key.startsWith(HISTOGRAM_PREFIX) && Array.isArray(value)) {
      if (value.length !== DENSITY_BIN_EDGES.length) {
        throw new RangeError(
          `${key}: expected ${DENSITY_BIN_EDGES.length} bin counts, received ${value.length}`,
        );
      }
      data[key] = {
        _type: "histogram",
        values: [...value],
        bins: [DENSITY_BIN_EDGES[0] - 1, ...DENSITY_BIN_EDGES],
      };
    } else {
      data[key] = Array.isArray(value) ? [...value] : value;
    }
  }
  return data;
}

type ProcessEvent = "SIGINT" | "SIGTERM" | "beforeExit";
const PROCESS_EVENTS: readonly ProcessEvent[] = ["SIGINT", "SIGTERM", "beforeExit"];

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Starts a W&B run and returns a sink that logs every metrics line to it at the line's `step`
 * ({@linkcode wandbData} says what is sent). `close()` finishes the run and waits for the upload.
 *
 * Two behaviours of `@wandb/sdk` 0.5 are tamed here: the signal and exit handlers it installs (its Ctrl-C
 * handler would end the process before the runner writes its checkpoint) are removed, and the errors it
 * throws from an event handler while the run starts (e.g. when the server refuses the run) reject this
 * function instead of crashing the process.
 *
 * @example With a stand-in for the SDK
 * ```ts
 * import assert from "node:assert/strict";
 * import { wandbSink, type WandbSdk } from "./wandb.ts";
 * const logged: unknown[] = [];
 * const sdk: WandbSdk = {
 *   init: (options) => Promise.resolve({
 *     id: "run1",
 *     log: (data, step) => void logged.push({ ...data, _step: step }),
 *     finish: () => Promise.resolve(),
 *     url: () => `https://wandb.ai/me/${options.project}/runs/run1`,
 *   }),
 * };
 * const sink = await wandbSink({ sdk });
 * await sink.log({ step: 100, "loss/total/mean": 0.5 });
 * await sink.close();
 * assert.ok(sink.url.endsWith("/sparse-autoencoder/runs/run1"));
 * assert.equal(JSON.stringify(logged), '[{"loss/total/mean":0.5,"_step":100}]');
 * ```
 */
export async function wandbSink(options: WandbSinkOptions = {}): Promise<WandbSink> {
  const sdk = options.sdk ?? ((await import("@wandb/sdk")).default as unknown as WandbSdk);
  const settings: { baseUrl?: string; apiKey?: string; silent: boolean } = { silent: true };
  if (options.baseUrl !== undefined) settings.baseUrl = options.baseUrl.replace(/\/+$/, "");
  if (options.apiKey !== undefined) settings.apiKey = options.apiKey;
  const where = settings.baseUrl ?? process.env.WANDB_BASE_URL ?? "https://api.wandb.ai";

  const before = new Map(PROCESS_EVENTS.map((event) => [event, new Set(process.listeners(event))]));
  let failStart: (error: unknown) => void = () => {};
  const started = new Promise<never>((_, reject) => (failStart = reject));
  const onError = (event: ErrorEvent) => {
    event.preventDefault();
    failStart(event.error ?? new Error(event.message));
  };
  globalThis.addEventListener("error", onError);
  // The SDK prints its HTTP failures while it starts; they are kept, and said again in the error if it fails.
  const printed: unknown[][] = [];
  const consoleError = console.error;
  console.error = (...args: unknown[]) => void printed.push(args);
  let run: WandbRun;
  try {
    run = await withTimeout(
      Promise.race([
        sdk.init({
          project: options.project ?? "sparse-autoencoder",
          ...(options.entity !== undefined ? { entity: options.entity } : {}),
          ...(options.name !== undefined ? { name: options.name } : {}),
          ...(options.config !== undefined ? { config: options.config } : {}),
          settings,
        }),
        started,
      ]),
      options.initTimeoutMs ?? 60_000,
      `W&B run at ${where}`,
    );
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    const first = printed.length === 0
      ? ""
      : printed[0].map((a) => (a instanceof Error ? `${a.name}: ${a.message}` : String(a))).join(" ")
        .replace(/\s+/g, " ").trim();
    const said = first === ""
      ? ""
      : `; the SDK said: ${first.length > 160 ? `${first.slice(0, 160)}…` : first}`;
    printed.length = 0;
    throw new Error(
      `W&B: could not start a run at ${where} (${reason}${said}); check WANDB_API_KEY and WANDB_BASE_URL, ` +
        `or train without W&B (--wandb false)`,
      { cause: error },
    );
  } finally {
    console.error = consoleError;
    for (const args of printed) console.error(...args);
    globalThis.removeEventListener("error", onError);
    for (const event of PROCESS_EVENTS) {
      const old = before.get(event)!;
      for (const listener of process.listeners(event)) {
        if (!old.has(listener)) process.removeListener(event, listener as (...args: unknown[]) => void);
      }
    }
  }
  let closed = false;
  return {
    id: run.id,
    url: run.url(),
    log(record: LogRecord) {
      if (closed) {
        throw new Error(`W&B run ${run.id}: expected log() before close(), received a log after it`);
      }
      const step = record.step;
      if (typeof step !== "number" || !Number.isSafeInteger(step) || step < 0) {
        throw new TypeError(
          `log record step: expected a non-negative integer, received ${JSON.stringify(step)}`,
        );
      }
      run.log(wandbData(record), step);
    },
    async close() {
      if (closed) return;
      closed = true;
      await withTimeout(run.finish(), options.finishTimeoutMs ?? 120_000, `W&B run ${run.id} finishing`);
    },
  };
}
