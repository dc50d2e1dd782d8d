/**
 * Single-precision matrix products through a system BLAS, reached with Deno's
 * FFI: OpenBLAS on Linux and Windows, Accelerate on macOS.
 *
 * Effectful (it opens a native library); needs `--allow-ffi`.
 *
 * @module
 */

/** Row-major `C ← alpha · op(A) · op(B) + beta · C` on `Float32Array` views. */
export type Sgemm = (
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: Float32Array,
  lda: number,
  b: Float32Array,
  ldb: number,
  beta: number,
  c: Float32Array,
  ldc: number,
) => void;

/** A loaded BLAS. */
export type Blas = {
  /** The library file that was opened. */
  readonly library: string;
  /** Threads the library uses, when it says (OpenBLAS). */
  readonly threads: number | undefined;
  /** The CPU kernel it chose, when it says (OpenBLAS). */
  readonly core: string | undefined;
  readonly sgemm: Sgemm;
  /** Closes the library. */
  close(): void;
};

/** Where to look for a BLAS, in order. */
export const BLAS_CANDIDATES: readonly string[] = [
  "libopenblas.so.0",
  "libopenblas.so",
  "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
  "/usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.so.0",
  "/System/Library/Frameworks/Accelerate.framework/Accelerate",
  "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
  "/usr/local/opt/openblas/lib/libopenblas.dylib",
  "libopenblas.dll",
];

const CBLAS_ROW_MAJOR = 101;
const CBLAS_NO_TRANS = 111;
const CBLAS_TRANS = 112;

const SGEMM_SIGNATURE = {
  parameters: [
    "i32",
    "i32",
    "i32",
    "i32",
    "i32",
    "i32",
    "f32",
    "buffer",
    "i32",
    "buffer",
    "i32",
    "f32",
    "buffer",
    "i32",
  ],
  result: "void",
} as const;

/**
 * OpenBLAS's idle threads spin (calling `sched_yield`) for about 2^28 cycles
 * after each product before they sleep, so between products they hold the
 * cores that the fused kernels' own worker thread needs (on two cores the
 * TopK step's sparse half runs no faster with the worker than without).
 * `OPENBLAS_THREAD_TIMEOUT=4` makes them sleep after 2^4; it is read when the
 * library loads, so it is set here (where Deno may set the environment and
 * the user has not set it).
 */
function quietOpenBlasThreads(): void {
  try {
    if (Deno.permissions.querySync({ name: "env" }).state !== "granted") return;
    if (Deno.env.get("OPENBLAS_THREAD_TIMEOUT") !== undefined) return;
    if (Deno.env.get("GOTO_THREAD_TIMEOUT") !== undefined) return;
    Deno.env.set("OPENBLAS_THREAD_TIMEOUT", "4");
  } catch {
    // no environment to set: the threads spin
  }
}

/** Why a BLAS could not be loaded, or the loaded BLAS. */
export type BlasLoad = { readonly blas: Blas } | { readonly reason: string };

/**
 * Opens the first BLAS of `candidates` that has `cblas_sgemm`. Never throws:
 * a missing library or a missing `--allow-ffi` permission gives a reason.
 *
 * @example
 * ```ts ignore
 * import { loadBlas } from "./blas_ffi.ts";
 * const load = loadBlas();
 * console.log("blas" in load ? load.blas.library : load.reason);
 * ```
 */
export function loadBlas(candidates: readonly string[] = BLAS_CANDIDATES): BlasLoad {
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
    return { reason: "FFI is not permitted (run Deno with --allow-ffi)" };
  }
  quietOpenBlasThreads();
  const failures: string[] = [];
  for (const library of candidates) {
    let lib;
    try {
      lib = Deno.dlopen(library, { cblas_sgemm: SGEMM_SIGNATURE });
    } catch (error) {
      failures.push(`${library}: ${error instanceof Error ? error.message.split("\n")[0] : error}`);
      continue;
    }
    let threads: number | undefined;
    let core: string | undefined;
    try {
      const info = Deno.dlopen(library, {
        openblas_get_num_threads: { parameters: [], result: "i32" },
        openblas_get_corename: { parameters: [], result: "pointer" },
      });
      threads = info.symbols.openblas_get_num_threads();
      const name = info.symbols.openblas_get_corename();
      core = name === null ? undefined : Deno.UnsafePointerView.getCString(name);
      info.close();
    } catch {
      // Not OpenBLAS (Accelerate has no such functions): fine.
    }
    const raw = lib.symbols.cblas_sgemm;
    const sgemm: Sgemm = (transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) =>
      raw(
        CBLAS_ROW_MAJOR,
        transA ? CBLAS_TRANS : CBLAS_NO_TRANS,
        transB ? CBLAS_TRANS : CBLAS_NO_TRANS,
        m,
        n,
        k,
        alpha,
        a,
        lda,
        b,
        ldb,
        beta,
        c,
        ldc,
      );
    return { blas: { library, threads, core, sgemm, close: () => lib.close() } };
  }
  return {
    reason:
      `no BLAS library found (install OpenBLAS, e.g. apt-get install libopenblas0-pthread); tried ${failures.length} names`,
  };
}
