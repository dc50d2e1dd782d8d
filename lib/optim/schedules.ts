/**
 * Learning-rate schedules, as pure functions of the step, and the transform
 * that scales updates by them.
 *
 * @module
 */
import { tf } from "../tf.ts";
import { type GradientTransformation, mapRecord } from "./transform.ts";

/** A schedule: the value to use at a 0-based step. */
export type Schedule = (step: number) => number;

/** A constant value. */
export function constantSchedule(value: number): Schedule {
  return () => value;
}

/**
 * Linear warm-up from 0 to `peak` over `warmupSteps`, then constant, then (with `decay`) a linear
 * decay over the last `decay.steps` of `decay.totalSteps`, reaching `peak · minRatio` at the last step
 * (Anthropic's April-2024 recipe decays over the last 20%).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { warmupSchedule } from "./schedules.ts";
 * const s = warmupSchedule(1, 4);
 * assert.equal(s(0), 0.25);
 * assert.equal(s(3), 1);
 * assert.equal(s(10), 1);
 * const d = warmupSchedule(1, 0, { steps: 4, totalSteps: 10 });
 * assert.equal(d(5), 1);
 * assert.equal(d(6), 0.75);
 * assert.equal(d(9), 0);
 * ```
 */
export function warmupSchedule(
  peak: number,
  warmupSteps: number,
  decay: { readonly steps: number; readonly totalSteps: number; readonly minRatio?: number } = {
    steps: 0,
    totalSteps: 0,
  },
): Schedule {
  const decayStart = decay.totalSteps - decay.steps;
  const floor = peak * (decay.minRatio ?? 0);
  return (step) => {
    if (warmupSteps > 0 && step < warmupSteps) return (peak * (step + 1)) / warmupSteps;
    if (decay.steps > 0 && step >= decayStart) {
      // Linear from the peak at the first decay step to the floor at the last step of the run.
      const progress = Math.min(1, (step - decayStart + 1) / decay.steps);
      return peak + (floor - peak) * progress;
    }
    return peak;
  };
}

/**
 * Linear warm-up over `warmupSteps`, then half a cosine from `peak` down to
 * `peak · minRatio` at `totalSteps` (once over the run, not the original's
 * 20-step `CosineAnnealingLR(T_max=10)` oscillation, defect V4).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cosineSchedule } from "./schedules.ts";
 * const s = cosineSchedule(1, 0, 11, 0);
 * assert.equal(s(0), 1);
 * assert.ok(Math.abs(s(5) - 0.5) < 1e-12);
 * assert.ok(Math.abs(s(10)) < 1e-12);
 * ```
 */
export function cosineSchedule(
  peak: number,
  warmupSteps: number,
  totalSteps: number,
  minRatio = 0,
): Schedule {
  return (step) => {
    if (warmupSteps > 0 && step < warmupSteps) return (peak * (step + 1)) / warmupSteps;
    const span = Math.max(1, totalSteps - 1 - warmupSteps);
    const progress = Math.min(1, (step - warmupSteps) / span);
    const cosine = 0.5 * (1 + Math.cos(Math.PI * progress));
    return peak * (minRatio + (1 - minRatio) * cosine);
  };
}

/** State of {@linkcode scaleByLearningRate}: the number of updates made. */
export type ScaleByScheduleState = { readonly count: number };

/**
 * Multiplies updates by `−schedule(count)` (descent), counting updates.
 */
export function scaleByLearningRate(schedule: Schedule): GradientTransformation<ScaleByScheduleState> {
  return {
    init: () => ({ count: 0 }),
    update: (grads, state) => {
      const lr = schedule(state.count);
      return [mapRecord(grads, (g) => tf.mul(g, -lr)), { count: state.count + 1 }];
    },
  };
}
