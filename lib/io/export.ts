/**
 * The trained SAEs of a run, one folder per component, in SAELens's layout:
 * `cfg.json` and `sae_weights.safetensors` with `W_enc [d_in, d_sae]`,
 * `b_enc [d_sae]`, `W_dec [d_sae, d_in]` and `b_dec [d_in]`.
 *
 * @module
 */
import type { tf } from "../tf.ts";
import type { SaeParams } from "../sae/params.ts";
import { encodeSafetensors } from "./safetensors.ts";
import { writeDirAtomic, writeFileAtomic, writeTextAtomic } from "./files.ts";

/** Options of {@linkcode exportSaes}. */
export type ExportOptions = {
  readonly componentNames: readonly string[];
  /** Extra fields for every `cfg.json` (e.g. the training configuration). */
  readonly extra?: Readonly<Record<string, unknown>>;
  /** Extra files for the top folder, by name (e.g. `summary.json`). */
  readonly files?: Readonly<Record<string, string>>;
};

/** A folder name for a component: its name with characters unsafe in paths replaced. */
export function componentFolder(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, "_");
}

/** Writes one SAELens-layout folder per component under `dir` (atomically). */
export async function exportSaes(dir: string, params: SaeParams, options: ExportOptions): Promise<void> {
  const [c, dIn, dSae] = params.wEnc.shape;
  const slices = async (t: tf.Tensor) => {
    const data = (await t.data()) as Float32Array;
    const size = data.length / c;
    return Array.from({ length: c }, (_, k) => data.slice(k * size, (k + 1) * size));
  };
  const [wEnc, bEnc, wDec, bDec] = await Promise.all([
    slices(params.wEnc),
    slices(params.bEnc),
    slices(params.wDec),
    slices(params.bDec),
  ]);
  await writeDirAtomic(dir, async (tmp) => {
    for (let k = 0; k < c; k++) {
      const folder = `${tmp}/${componentFolder(options.componentNames[k])}`;
      await Deno.mkdir(folder, { recursive: true });
      const bytes = encodeSafetensors({
        W_enc: { dtype: "F32", shape: [dIn, dSae], data: wEnc[k] },
        b_enc: { dtype: "F32", shape: [dSae], data: bEnc[k] },
        W_dec: { dtype: "F32", shape: [dSae, dIn], data: wDec[k] },
        b_dec: { dtype: "F32", shape: [dIn], data: bDec[k] },
      });
      await writeFileAtomic(`${folder}/sae_weights.safetensors`, bytes);
      const cfg = {
        architecture: "standard",
        d_in: dIn,
        d_sae: dSae,
        dtype: "float32",
        device: "cpu",
        apply_b_dec_to_input: true,
        normalize_activations: "none",
        hook_name: options.componentNames[k],
        ...options.extra,
      };
      await writeTextAtomic(`${folder}/cfg.json`, JSON.stringify(cfg, null, 2) + "\n");
    }
    for (const [name, text] of Object.entries(options.files ?? {})) {
      await writeTextAtomic(`${tmp}/${name}`, text);
    }
  });
}
