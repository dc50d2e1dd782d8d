/**
 * End to end: training on synthetic data with known ground truth recovers the
 * ground-truth directions (MMCS ≥ 0.9) and the loss falls, for every
 * architecture, on the deterministic `cpu` backend that tests/_helpers.ts
 * selects. The cases live in _toy.ts, shared with blas_toy_training_test.ts,
 * which runs them with the same settings and bounds on the `blas` backend.
 */
import "../_helpers.ts";
import { defineToyTrainingTests } from "./_toy.ts";

defineToyTrainingTests({ backend: "cpu" });
