/**
 * Progress reporting: a redrawn bar with rate and ETA on a terminal, a plain
 * line per log interval otherwise.
 *
 * @module
 */

/** What the progress display is told after each step. */
export type ProgressUpdate = {
  readonly step: number;
  readonly total: number;
  readonly activations: number;
  /** Seconds since the run (or the resumed part of it) started. */
  readonly elapsed: number;
  /** Steps done before this process started (resumed runs). */
  readonly startStep: number;
  readonly loss?: number;
};

/** A progress display. */
export type Progress = {
  /** Called after every step. */
  step(update: ProgressUpdate): void;
  /** Called at every log line. */
  log(update: ProgressUpdate): void;
  /** Called once at the end. */
  done(): void;
};

/** `h:mm:ss` or `m:ss`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = h > 0 ? String(m).padStart(2, "0") : String(m);
  return `${h > 0 ? `${h}:` : ""}${mm}:${String(r).padStart(2, "0")}`;
}

/** One status text: `step 120/200 (60%) · 35.2 steps/s · 143k act/s · ETA 0:03 · loss 0.0123`. */
export function progressText(u: ProgressUpdate): string {
  const done = u.step - u.startStep;
  const rate = u.elapsed > 0 ? done / u.elapsed : 0;
  const actRate = u.elapsed > 0 && u.step > 0 ? (u.activations * done / u.step) / u.elapsed : 0;
  const eta = rate > 0 ? (u.total - u.step) / rate : Infinity;
  const pct = Math.floor((100 * u.step) / u.total);
  const parts = [
    `step ${u.step}/${u.total} (${pct}%)`,
    `${rate.toFixed(rate < 10 ? 2 : 1)} steps/s`,
    `${compact(actRate)} act/s`,
    `ETA ${formatDuration(eta)}`,
  ];
  if (u.loss !== undefined) parts.push(`loss ${u.loss.toPrecision(4)}`);
  return parts.join(" · ");
}

function compact(value: number): string {
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)}k`;
  return value.toFixed(0);
}

/**
 * A progress display on a stream: on a TTY a bar redrawn at most ten times a
 * second, otherwise one line per log.
 */
export function createProgress(
  write: (text: string) => void,
  isTerminal: boolean,
  now: () => number = () => performance.now(),
): Progress {
  let lastDraw = -Infinity;
  let drawn = false;
  const bar = (u: ProgressUpdate) => {
    const width = 24;
    const filled = Math.round((width * u.step) / u.total);
    return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${progressText(u)}`;
  };
  return {
    step(u) {
      if (!isTerminal) return;
      const t = now();
      if (t - lastDraw < 100 && u.step < u.total) return;
      lastDraw = t;
      drawn = true;
      write(`\r\x1b[2K${bar(u)}`);
    },
    log(u) {
      if (!isTerminal) write(`${progressText(u)}\n`);
    },
    done() {
      if (isTerminal && drawn) write("\n");
    },
  };
}
