/**
 * The trained SAEs of a run, one folder per component, in SAELens's layout:
 * `cfg.json` and `sae_weights.safetensors` with `W_enc [d_in, d_sae]`,
 * `b_enc [d_sae]`, `W_dec [d_sae, d_in]` and `b_dec [d_in]`, plus
 * `threshold [d_sae]` for JumpReLU (and BatchTopK / Matryoshka, which encode
 * as JumpReLU at inference, as SAELens saves them), and for gated SAEs
 * `b_gate`, `r_mag`, `b_mag` in place of `b_enc`.
 *
 * | saekit | SAELens `architecture` |
 * | --- | --- |
 * | `relu`, `relu-april` | `standard` |
 * | `topk` | `topk` (with `k`) |
 * | `batchtopk`, `matryoshka`, `jumprelu` | `jumprelu` |
 * | `gated` | `gated` |
 *
 * @module
 */
import type { tf } from "../tf.ts";
import type { SaeParams } from "../sae/params.ts";
import type { ArchName } from "../sae/architecture.ts";
import { encodeSafetensors } from "./safetensors.ts";
import { writeDirAtomic, writeFileAtomic, writeTextAtomic } from "./files.ts";

/** Options of {@linkcode exportSaes}. */
export type ExportOptions = {
  readonly componentNames: readonly string[];
  /** The architecture (`relu` by default). */
  readonly arch?: ArchName;
  /** TopK: active features per item. */
  readonly k?: number;
  /** Transcoders: the hook each component reads and the hook it reconstructs. */
  readonly transcoder?: { readonly from: readonly string[]; readonly to: readonly string[] };
  /** Extra fields for every `cfg.json` (e.g. the training configuration). */
  readonly extra?: Readonly<Record<string, unknown>>;
  /** Extra files for the top folder, by name (e.g. `summary.json`). */
  readonly files?: Readonly<Record<string, string>>;
};

/** A folder name for a component: its name with characters unsafe in paths replaced. */
export function componentFolder(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, "_");
}

/** SAELens's name of a saekit architecture. */
export function saelensArchitecture(arch: ArchName): string {
  switch (arch) {
    case "relu":
    case "relu-april":
      return "standard";
    case "topk":
      return "topk";
    case "gated":
      return "gated";
    default:
      return "jumprelu";
  }
}

/** Writes one SAELens-layout folder per component under `dir` (atomically). */
export async function exportSaes(dir: string, params: SaeParams, options: ExportOptions): Promise<void> {
  const [c, dIn, dSae] = params.wEnc.shape;
  const dOut = params.wDec.shape[2];
  const arch = options.arch ?? "relu";
  const slices = async (t: tf.Tensor | undefined) => {
    if (t === undefined) return undefined;
    const data = (await t.data()) as Float32Array;
    const size = data.length / c;
    return Array.from({ length: c }, (_, k) => data.slice(k * size, (k + 1) * size));
  };
  const [wEnc, bEnc, wDec, bDec, threshold, rMag, bMag] = await Promise.all(
    [params.wEnc, params.bEnc, params.wDec, params.bDec, params.threshold, params.rMag, params.bMag].map(
      slices,
    ),
  );
  const architecture = saelensArchitecture(arch);
  await writeDirAtomic(dir, async (tmp) => {
    for (let k = 0; k < c; k++) {
      const folder = `${tmp}/${componentFolder(options.componentNames[k])}`;
      await Deno.mkdir(folder, { recursive: true });
      const tensors: Record<string, { dtype: "F32"; shape: number[]; data: Float32Array }> = {
        W_enc: { dtype: "F32", shape: [dIn, dSae], data: wEnc![k] },
        [architecture === "gated" ? "b_gate" : "b_enc"]: { dtype: "F32", shape: [dSae], data: bEnc![k] },
        W_dec: { dtype: "F32", shape: [dSae, dOut], data: wDec![k] },
        b_dec: { dtype: "F32", shape: [dOut], data: bDec![k] },
      };
      if (architecture === "jumprelu" && threshold !== undefined) {
        tensors.threshold = { dtype: "F32", shape: [dSae], data: threshold[k] };
      }
      if (architecture === "gated" && rMag !== undefined && bMag !== undefined) {
        tensors.r_mag = { dtype: "F32", shape: [dSae], data: rMag[k] };
        tensors.b_mag = { dtype: "F32", shape: [dSae], data: bMag[k] };
      }
      await writeFileAtomic(`${folder}/sae_weights.safetensors`, encodeSafetensors(tensors));
      const transcoder = options.transcoder;
      const cfg = {
        architecture,
        d_in: dIn,
        d_sae: dSae,
        ...(transcoder !== undefined ? { d_out: dOut } : {}),
        dtype: "float32",
        device: "cpu",
        apply_b_dec_to_input: transcoder === undefined,
        normalize_activations: "none",
        hook_name: transcoder !== undefined ? transcoder.from[k] : options.componentNames[k],
        ...(transcoder !== undefined ? { hook_name_out: transcoder.to[k] } : {}),
        ...(architecture === "topk" ? { k: options.k } : {}),
        saekit_architecture: arch,
        ...options.extra,
      };
      await writeTextAtomic(`${folder}/cfg.json`, JSON.stringify(cfg, null, 2) + "\n");
    }
    for (const [name, text] of Object.entries(options.files ?? {})) {
      await writeTextAtomic(`${tmp}/${name}`, text);
    }
  });
}
