/**
 * The worker thread of the TopK step: runs one lane of the kernels on the
 * workspace's shared memory while the calling thread runs the other (see
 * `startWorker` in sae_wasm.ts).
 *
 * @module
 */
import { parentPort } from "node:worker_threads";
import { serveKernels } from "./sae_wasm.ts";

parentPort?.once("message", serveKernels);
