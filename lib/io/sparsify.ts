/**
 * Reading SAEs saved by EleutherAI's sparsify (`SparseCoder.save_to_disk`):
 * a folder with `cfg.json` (its `SparseCoderConfig` fields and `d_in`) and
 * `sae.safetensors` with `encoder.weight [d_sae, d_in]`, `encoder.bias
 * [d_sae]`, `W_dec [d_sae, d_in]` and `b_dec [d_in]`, or a folder of such
 * folders, one per hook point (`layers.0/`, `layers.1/`, ... as sparsify
 * saves a run and as its Hub repositories hold them).
 *
 * sparsify's SAEs are TopK SAEs: `pre = ReLU((x − b_dec)·encoderᵀ + bias)`
 * (without the `− b_dec` for transcoders, `transcode: true`), the `k`
 * largest kept. saekit's `topk` activation keeps the `k` largest positive
 * pre-activations, the same up to ties. The encoder is stored transposed
 * (`encoder.weight` is `[d_sae, d_in]`); the import transposes it into
 * saekit's `wEnc [d_in, d_sae]`. The `groupmax` activation and skip
 * connections (`W_skip`) have no saekit counterpart and are refused.
 *
 * @module
 */
import { type HfTensors, indexSafetensors, takeHfTensor } from "../models/load/hf_checkpoint.ts";
import { ARCH_RECORDS } from "../sae/arch/registry.ts";
import {
  type ImportedSaes,
  readCfg,
  type SaeComponent,
  saeFolders,
  SAELENS_CFG,
  stackComponents,
} from "./saelens.ts";

/**
 * sparsify's weights file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SPARSIFY_WEIGHTS } from "./sparsify.ts";
 * assert.equal(SPARSIFY_WEIGHTS, "sae.safetensors");
 * ```
 */
export const SPARSIFY_WEIGHTS = "sae.safetensors";

function positiveInt(value: unknown, field: string, source: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new TypeError(`${source}: ${field} expected a positive integer, received ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * One sparsify SAE from its configuration and indexed tensors (pure).
 *
 * @param dir the folder; its name is the component's name (sparsify names folders by hook point)
 * @throws TypeError for an activation other than `topk`, a skip connection, or a wrong field
 * @throws RangeError naming the file and tensor for a missing tensor or a shape that does not match
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeSafetensors } from "./safetensors.ts";
 * import { indexSafetensors } from "../models/load/hf_checkpoint.ts";
 * import { sparsifyComponent } from "./sparsify.ts";
 * const t = (shape: number[], data: number[]) => ({ dtype: "F32" as const, shape, data: new Float32Array(data) });
 * const bytes = encodeSafetensors({
 *   "encoder.weight": t([3, 2], [1, 2, 3, 4, 5, 6]), "encoder.bias": t([3], [0, 0, 0]),
 *   W_dec: t([3, 2], [1, 0, 0, 1, 1, 1]), b_dec: t([2], [0, 0]),
 * });
 * const sae = sparsifyComponent({ d_in: 2, num_latents: 3, k: 1 }, indexSafetensors(bytes, "sae"), "layers.0");
 * // wEnc is the transpose of encoder.weight: [d_in, d_sae]
 * assert.equal(sae.wEnc.join(), "1,3,5,2,4,6");
 * assert.equal(sae.k, 1);
 * assert.equal(sae.name, "layers.0");
 * ```
 */
export function sparsifyComponent(
  cfg: Readonly<Record<string, unknown>>,
  tensors: HfTensors,
  dir: string,
): SaeComponent {
  const source = `${dir}/${SAELENS_CFG}`;
  if (cfg === null || typeof cfg !== "object" || Array.isArray(cfg)) {
    throw new TypeError(`${source}: expected a JSON object, received ${JSON.stringify(cfg)}`);
  }
  const activation = cfg.activation ?? "topk";
  // The record that sparsify's activation is read as (only TopK has one).
  const record = ARCH_RECORDS.find((r) => r.sparsify?.activation === activation);
  if (record === undefined) {
    const known = ARCH_RECORDS.flatMap((r) => (r.sparsify ? [JSON.stringify(r.sparsify.activation)] : []));
    throw new TypeError(
      `${source}: activation expected ${known.join(" or ")}, received ${JSON.stringify(activation)}`,
    );
  }
  if (cfg.skip_connection === true || tensors.W_skip !== undefined) {
    throw new TypeError(
      `${source}: skip_connection expected false (saekit has no skip connection), received ${
        JSON.stringify(cfg.skip_connection ?? "a W_skip tensor")
      }`,
    );
  }
  const dIn = positiveInt(cfg.d_in, "d_in", source);
  const latents = cfg.num_latents;
  const dSae = typeof latents === "number" && latents > 0
    ? positiveInt(latents, "num_latents", source)
    : positiveInt(
      typeof cfg.expansion_factor === "number" ? cfg.expansion_factor * dIn : cfg.expansion_factor,
      "num_latents (or expansion_factor · d_in)",
      source,
    );
  const k = positiveInt(cfg.k, "k", source);
  if (k > dSae) {
    throw new TypeError(`${source}: k expected an integer in [1, ${dSae}] (the latents), received ${k}`);
  }
  const encoder = takeHfTensor(tensors, "encoder.weight", [dSae, dIn]);
  const wEnc = new Float32Array(dIn * dSae);
  for (let j = 0; j < dSae; j++) {
    for (let i = 0; i < dIn; i++) wEnc[i * dSae + j] = encoder[j * dIn + i];
  }
  const name = dir.replace(/\/+$/, "").split("/").at(-1) ?? dir;
  return {
    name,
    hookName: name,
    arch: record.name,
    k,
    tiedBias: cfg.transcode !== true,
    dIn,
    dSae,
    dOut: dIn,
    wEnc,
    bEnc: takeHfTensor(tensors, "encoder.bias", [dSae]),
    wDec: takeHfTensor(tensors, "W_dec", [dSae, dIn]),
    bDec: takeHfTensor(tensors, "b_dec", [dIn]),
    dir,
    cfg,
  };
}

/**
 * Reads sparsify SAEs: one folder (`cfg.json` and `sae.safetensors`), a folder of them, one per hook
 * point, or a list of folders, taken in natural order (`layers.2` before `layers.10`) as the components of one set of
 * parameters (they must share sizes and `k`). Components are named by their folders.
 *
 * @throws Error for a missing file; TypeError or RangeError (see {@linkcode sparsifyComponent})
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { encodeSafetensors } from "./safetensors.ts";
 * import { importSparsify } from "./sparsify.ts";
 * const t = (shape: number[]) => ({ dtype: "F32" as const, shape, data: new Float32Array(shape.reduce((a, b) => a * b)) });
 * const dir = await Deno.makeTempDir();
 * await Deno.mkdir(`${dir}/layers.0`);
 * await Deno.writeTextFile(`${dir}/layers.0/cfg.json`, JSON.stringify({ d_in: 2, num_latents: 4, k: 2 }));
 * await Deno.writeFile(`${dir}/layers.0/sae.safetensors`, encodeSafetensors({
 *   "encoder.weight": t([4, 2]), "encoder.bias": t([4]), W_dec: t([4, 2]), b_dec: t([2]),
 * }));
 * const saes = await importSparsify(dir);
 * assert.equal(saes.activation.kind, "topk");
 * assert.equal(saes.componentNames.join(), "layers.0");
 * tf.dispose(saes.params as unknown as tf.TensorContainer);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function importSparsify(dir: string | readonly string[]): Promise<ImportedSaes> {
  const folders = typeof dir === "string"
    ? await saeFolders(dir, SPARSIFY_WEIGHTS)
    : (await Promise.all(dir.map((d) => saeFolders(d, SPARSIFY_WEIGHTS)))).flat();
  const components: SaeComponent[] = [];
  for (const folder of folders) {
    const file = `${folder}/${SPARSIFY_WEIGHTS}`;
    const tensors = indexSafetensors(await Deno.readFile(file), file);
    components.push(sparsifyComponent(await readCfg(folder), tensors, folder));
  }
  return stackComponents(components, "sparsify");
}
