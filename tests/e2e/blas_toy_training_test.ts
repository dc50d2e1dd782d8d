/**
 * End to end on the backend users get: the toy training cases of _toy.ts
 * (every architecture recovers the ground truth, with the same settings and
 * bounds as toy_training_test.ts on `cpu`) on the `blas` backend, whose fused
 * step of every architecture (with the worker thread), AuxK, Adam and decoder
 * kernels do the work. Not skipped where OpenBLAS is missing: every test fails and
 * says to install it.
 */
import "../_helpers.ts";
import { selectBackend } from "../../lib/backends/select.ts";
import { defineToyTrainingTests } from "./_toy.ts";

// tests/_helpers.ts selected `cpu` when imported; this module trains on `blas`.
const missing = await selectBackend("blas").then(
  () => undefined,
  (error: Error) => error.message,
);

defineToyTrainingTests({
  backend: "blas",
  ready() {
    if (missing !== undefined) {
      throw new Error(
        `${missing}. These tests train on the blas backend: install OpenBLAS ` +
          "(Debian/Ubuntu: apt-get install libopenblas0-pthread; CI installs it) and run with --allow-ffi.",
      );
    }
  },
});
