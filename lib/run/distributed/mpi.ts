/**
 * MPI through Deno's FFI: the few calls data-parallel training needs (init, rank and size, all-reduce,
 * broadcast, barrier, finalize, abort), from MPICH's `libmpich.so.12` found at run time. Nothing of MPI
 * is reimplemented here: every call is MPICH's own.
 *
 * MPICH's handles are integer constants of its `mpi.h` (`MPI_COMM_WORLD` is `0x44000000`, `MPI_FLOAT`
 * `0x4c00040a`, `MPI_DOUBLE` `0x4c00080b`, `MPI_SUM` `0x58000003`); Open MPI's are addresses of symbols,
 * so its library is not loaded here.
 *
 * @module
 */

/** MPICH's `MPI_COMM_WORLD`. */
const MPI_COMM_WORLD = 0x44000000;
/** MPICH's `MPI_FLOAT`. */
const MPI_FLOAT = 0x4c00040a;
/** MPICH's `MPI_DOUBLE`. */
const MPI_DOUBLE = 0x4c00080b;
/** MPICH's `MPI_SUM`. */
const MPI_SUM = 0x58000003;
/** `MPI_SUCCESS`. */
const MPI_SUCCESS = 0;

/**
 * The libraries tried in turn: MPICH's soname, then what `SAEKIT_MPI_LIB` names (first when set).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MPICH_LIBRARY } from "./mpi.ts";
 * assert.equal(MPICH_LIBRARY, "libmpich.so.12");
 * ```
 */
export const MPICH_LIBRARY = "libmpich.so.12";

const symbols = {
  MPI_Init: { parameters: ["pointer", "pointer"], result: "i32" },
  MPI_Initialized: { parameters: ["buffer"], result: "i32" },
  MPI_Finalized: { parameters: ["buffer"], result: "i32" },
  MPI_Comm_rank: { parameters: ["i32", "buffer"], result: "i32" },
  MPI_Comm_size: { parameters: ["i32", "buffer"], result: "i32" },
  MPI_Allreduce: { parameters: ["buffer", "buffer", "i32", "i32", "i32", "i32"], result: "i32" },
  MPI_Bcast: { parameters: ["buffer", "i32", "i32", "i32", "i32"], result: "i32" },
  MPI_Barrier: { parameters: ["i32"], result: "i32" },
  MPI_Finalize: { parameters: [], result: "i32" },
  MPI_Abort: { parameters: ["i32", "i32"], result: "i32" },
} as const;

/** One process of an MPI job: its rank, the job's size, and the collective calls on `MPI_COMM_WORLD`. */
export type Mpi = {
  /** This process's number, `0 … size − 1`. */
  readonly rank: number;
  /** Processes in the job. */
  readonly size: number;
  /** Element-wise sum over every process (`MPI_Allreduce`, `MPI_SUM`); a new array, the input unchanged. */
  allSumFloat32(values: Float32Array): Float32Array;
  /** The same in float64, for metric sums and counts. */
  allSumFloat64(values: Float64Array): Float64Array;
  /** Overwrites `values` on every process with process `root`'s (`MPI_Bcast`); returns `values`. */
  broadcastFloat32(values: Float32Array, root?: number): Float32Array;
  /** The same in float64. */
  broadcastFloat64(values: Float64Array, root?: number): Float64Array;
  /** Waits until every process has called it (`MPI_Barrier`). */
  barrier(): void;
  /** Ends MPI in this process (`MPI_Finalize`); every process must call it. */
  finalize(): void;
  /** Ends every process of the job with `code` (`MPI_Abort`): what a process that fails alone calls. */
  abort(code: number): void;
};

/**
 * Thrown when MPI cannot be loaded or a call fails; says what to install or which call failed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MpiError } from "./mpi.ts";
 * assert.equal(new MpiError("MPI_Bcast: …").name, "MpiError");
 * ```
 */
export class MpiError extends Error {
  override name = "MpiError";
}

/**
 * The message given when MPICH's library cannot be opened: which package to install.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { missingMpiMessage } from "./mpi.ts";
 * assert.match(missingMpiMessage("not found"), /apt-get install mpich/);
 * ```
 */
export function missingMpiMessage(reason: string): string {
  return `--distributed mpi: expected MPICH's ${MPICH_LIBRARY} (Debian/Ubuntu: apt-get install mpich; ` +
    `or set SAEKIT_MPI_LIB to its path), received an error opening it: ${reason}`;
}

let current: Mpi | undefined;

/**
 * Opens MPICH, calls `MPI_Init` (once per process: later calls return the same handle) and reads the
 * rank and size. Needs `--allow-ffi` (and `--allow-env` for `SAEKIT_MPI_LIB`). Outside `mpirun` MPICH
 * runs as a job of one process.
 *
 * @example A process started without mpirun is rank 0 of a job of 1 (needs MPICH: apt-get install mpich)
 * ```ts
 * import assert from "node:assert/strict";
 * import { initMpi } from "./mpi.ts";
 * const mpi = initMpi();
 * assert.deepEqual([mpi.rank, mpi.size], [0, 1]);
 * assert.deepEqual(Array.from(mpi.allSumFloat32(new Float32Array([1, 2]))), [1, 2]);
 * assert.deepEqual(Array.from(mpi.allSumFloat64(new Float64Array([0.1]))), [0.1]);
 * assert.deepEqual(Array.from(mpi.broadcastFloat32(new Float32Array([3]))), [3]);
 * mpi.barrier();
 * mpi.finalize();
 * ```
 */
export function initMpi(): Mpi {
  if (current !== undefined) return current;
  let override: string | undefined;
  try {
    override = Deno.env.get("SAEKIT_MPI_LIB");
  } catch {
    override = undefined; // no --allow-env: MPICH's soname
  }
  const names = override ? [override, MPICH_LIBRARY] : [MPICH_LIBRARY];
  let lib: Deno.DynamicLibrary<typeof symbols> | undefined;
  const reasons: string[] = [];
  for (const name of names) {
    try {
      lib = Deno.dlopen(name, symbols);
      break;
    } catch (error) {
      reasons.push(`${name}: ${error instanceof Error ? error.message : error}`);
    }
  }
  if (lib === undefined) throw new MpiError(missingMpiMessage(reasons.join("; ")));
  const s = lib.symbols;
  const check = (call: string, code: number) => {
    if (code !== MPI_SUCCESS) {
      throw new MpiError(`${call}: expected MPI_SUCCESS (0), received error code ${code}`);
    }
  };
  const flag = new Int32Array(1);
  check("MPI_Initialized", s.MPI_Initialized(flag));
  if (flag[0] === 0) check("MPI_Init", s.MPI_Init(null, null));
  const out = new Int32Array(1);
  check("MPI_Comm_rank", s.MPI_Comm_rank(MPI_COMM_WORLD, out));
  const rank = out[0];
  check("MPI_Comm_size", s.MPI_Comm_size(MPI_COMM_WORLD, out));
  const size = out[0];
  const rootOf = (root: number) => {
    if (!Number.isInteger(root) || root < 0 || root >= size) {
      throw new RangeError(`root: expected a rank in 0…${size - 1}, received ${root}`);
    }
    return root;
  };
  let finished = false;
  current = {
    rank,
    size,
    allSumFloat32(values) {
      const result = new Float32Array(values.length);
      if (values.length > 0) {
        check(
          "MPI_Allreduce",
          s.MPI_Allreduce(values, result, values.length, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
        );
      }
      return result;
    },
    allSumFloat64(values) {
      const result = new Float64Array(values.length);
      if (values.length > 0) {
        check(
          "MPI_Allreduce",
          s.MPI_Allreduce(values, result, values.length, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD),
        );
      }
      return result;
    },
    broadcastFloat32(values, root = 0) {
      if (values.length > 0) {
        check("MPI_Bcast", s.MPI_Bcast(values, values.length, MPI_FLOAT, rootOf(root), MPI_COMM_WORLD));
      }
      return values;
    },
    broadcastFloat64(values, root = 0) {
      if (values.length > 0) {
        check("MPI_Bcast", s.MPI_Bcast(values, values.length, MPI_DOUBLE, rootOf(root), MPI_COMM_WORLD));
      }
      return values;
    },
    barrier() {
      check("MPI_Barrier", s.MPI_Barrier(MPI_COMM_WORLD));
    },
    finalize() {
      if (finished) return;
      finished = true;
      check("MPI_Finalize", s.MPI_Finalize());
    },
    abort(code) {
      s.MPI_Abort(MPI_COMM_WORLD, code);
    },
  };
  return current;
}
