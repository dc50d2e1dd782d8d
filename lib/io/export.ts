/**
 * The trained SAEs of a run, one folder per component, in SAELens's layout so
 * that `SAE.load_from_disk(folder)` loads them: `cfg.json` and
 * `sae_weights.safetensors` with `W_enc [d_in, d_sae]`, `b_enc [d_sae]`,
 * `W_dec [d_sae, d_in]` and `b_dec [d_in]`, plus `threshold [d_sae]` for
 * JumpReLU (and BatchTopK / Matryoshka, which encode as JumpReLU at inference,
 * as SAELens saves them), and for gated SAEs `b_gate`, `r_mag`, `b_mag` in
 * place of `b_enc`. Transcoders have `W_dec [d_sae, d_out]` and `b_dec [d_out]`.
 *
 * | saekit | SAELens `architecture` | transcoder |
 * | --- | --- | --- |
 * | `relu`, `relu-april` | `standard` | `transcoder` |
 * | `topk` | `topk` (with `k`) | `topk` (no SAELens class) |
 * | `batchtopk`, `matryoshka`, `jumprelu` | `jumprelu` | `jumprelu_transcoder` |
 * | `gated` | `gated` | `gated` (no SAELens class) |
 *
 * (each architecture's record in `lib/sae/arch/` holds its row: `saelens`).
 *
 * `cfg.json` carries SAELens 6's fields (`d_in`, `d_sae`, `dtype`, `device`,
 * `apply_b_dec_to_input`, `normalize_activations`, `reshape_activations`,
 * `metadata {model_name, hook_name, ...}`), the same facts again as the
 * top-level fields of SAELens before 6.0 (`model_name`, `hook_name`,
 * `hook_layer`, `activation_fn_str`, ...), and saekit's own `saekit_*` fields,
 * which SAELens ignores. See {@linkcode saelensConfig}.
 *
 * @module
 */
import type { tf } from "../tf.ts";
import type { SaeParams } from "../sae/params.ts";
import type { ExtraParamName } from "../sae/arch/record.ts";
import { type ArchName, archOf } from "../sae/arch/registry.ts";
import { encodeSafetensors } from "./safetensors.ts";
import { readJsonFile, writeDirAtomic, writeFileAtomic, writeTextAtomic } from "./files.ts";

/**
 * What SAELens keeps about where an SAE's inputs come from (its `metadata`).
 * Absent fields are written as `null`.
 */
export type SaelensMetadata = {
  /** The model the activations come from (a Hub id, a path, or `stories260k`). */
  readonly modelName?: string | null;
  /** The hook each component reads, by component; default the component names. */
  readonly hookNames?: readonly string[] | null;
  /** Tokens per context window. */
  readonly contextSize?: number | null;
  /** Whether every window started with BOS. */
  readonly prependBos?: boolean | null;
  /** The dataset the activations were generated from. */
  readonly datasetPath?: string | null;
};

/** Options of {@linkcode exportSaes}. */
export type ExportOptions = {
  readonly componentNames: readonly string[];
  /** The architecture (`relu` by default). */
  readonly arch?: ArchName;
  /** TopK: active features per item. */
  readonly k?: number;
  /** Transcoders: the hook each component reads and the hook it reconstructs. */
  readonly transcoder?: { readonly from: readonly string[]; readonly to: readonly string[] };
  /**
   * SAELens's metadata. When absent and the folder's parent holds a run's `config.json` (as a run's
   * `final/` does), it is read from there with {@linkcode saelensMetadataOf}; a `config.json` there
   * that does not parse stops the export with an error naming it (give `metadata` to not read it).
   */
  readonly metadata?: SaelensMetadata;
  /** Extra fields for every `cfg.json` (e.g. the training configuration). */
  readonly extra?: Readonly<Record<string, unknown>>;
  /** Extra files for the top folder, by name (e.g. `summary.json`). */
  readonly files?: Readonly<Record<string, string>>;
};

/**
 * A folder name for a component: its name with characters unsafe in paths replaced.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { componentFolder } from "./export.ts";
 * assert.equal(componentFolder("a->b/c"), "a-_b_c");
 * ```
 */
export function componentFolder(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, "_");
}

/**
 * SAELens's name of a saekit architecture (for transcoders, pass `transcoder`): its record's mapping.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { saelensArchitecture } from "./export.ts";
 * assert.equal(saelensArchitecture("batchtopk"), "jumprelu");
 * assert.equal(saelensArchitecture("relu", true), "transcoder");
 * ```
 */
export function saelensArchitecture(arch: ArchName, transcoder = false): string {
  const { architecture } = archOf(arch).saelens;
  return transcoder ? architecture.transcoder : architecture.sae;
}

/**
 * The layer of a TransformerLens hook name (`blocks.3.hook_resid_post` → 3, `hook_embed` → 0), `null`
 * when the name says none.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hookLayer } from "./export.ts";
 * assert.equal(hookLayer("blocks.12.ln2.hook_normalized"), 12);
 * assert.equal(hookLayer("toy.0"), null);
 * ```
 */
export function hookLayer(hookName: string): number | null {
  const match = hookName.match(/^blocks\.(\d+)\./);
  if (match !== null) return Number(match[1]);
  return hookName === "hook_embed" || hookName === "hook_pos_embed" ? 0 : null;
}

/**
 * SAELens's metadata from a run's resolved configuration (`config.json`): the model, the hooks, the
 * context size, the BOS setting and the dataset for a language-model run; only the hooks (none) for
 * the toy source, which has no model.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { saelensMetadataOf } from "./export.ts";
 * const meta = saelensMetadataOf({ source: "model", model: "EleutherAI/pythia-70m", contextSize: 128 });
 * assert.equal(meta.modelName, "EleutherAI/pythia-70m");
 * assert.equal(meta.contextSize, 128);
 * assert.equal(saelensMetadataOf({ source: "toy" }).modelName, null);
 * ```
 */
export function saelensMetadataOf(config: Readonly<Record<string, unknown>>): SaelensMetadata {
  const text = (value: unknown) => (typeof value === "string" ? value : null);
  if (config.source !== "model") return { modelName: null, datasetPath: null };
  const from = config.transcoderFrom;
  const hooks = Array.isArray(from) ? from : config.hooks;
  return {
    modelName: text(config.model),
    hookNames: Array.isArray(hooks) && hooks.every((h) => typeof h === "string") ? hooks : null,
    contextSize: typeof config.contextSize === "number" ? config.contextSize : null,
    prependBos: typeof config.prependBos === "boolean" ? config.prependBos : null,
    datasetPath: text(config.dataset),
  };
}

/** What {@linkcode saelensConfig} needs about one component. */
export type SaelensConfigOptions = {
  readonly arch: ArchName;
  readonly dIn: number;
  readonly dSae: number;
  /** Transcoders: the width of the output and the hook it reconstructs. */
  readonly out?: { readonly dOut: number; readonly hookName: string };
  /** TopK: active features per item. */
  readonly k?: number;
  /** The hook the component reads. */
  readonly hookName: string;
  readonly metadata?: SaelensMetadata;
};

/**
 * The `cfg.json` of one component: SAELens 6's fields, the same facts as SAELens 5's top-level fields,
 * and `saekit_architecture`. Weights are float32 with every normalisation folded in, so `dtype` is
 * `float32`, `normalize_activations` `none` and `device` `cpu`. `sae_lens_version` is not written (this
 * is not SAELens), so SAELens's loader reads the top-level fields (its path for configurations before
 * 6.0), which hold the same values as `metadata`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { saelensConfig } from "./export.ts";
 * const cfg = saelensConfig({ arch: "topk", dIn: 4, dSae: 8, k: 2, hookName: "blocks.0.hook_resid_post" });
 * assert.equal(cfg.architecture, "topk");
 * assert.equal(cfg.k, 2);
 * assert.equal((cfg.metadata as { hook_name: string }).hook_name, "blocks.0.hook_resid_post");
 * ```
 */
export function saelensConfig(options: SaelensConfigOptions): Record<string, unknown> {
  const { arch, dIn, dSae, out, hookName } = options;
  const meta = options.metadata ?? {};
  const mapping = archOf(arch).saelens;
  const architecture = saelensArchitecture(arch, out !== undefined);
  const activation = mapping.cfg?.(options.k);
  const metadata = {
    model_name: meta.modelName ?? null,
    hook_name: hookName,
    hook_layer: hookLayer(hookName),
    hook_head_index: null,
    prepend_bos: meta.prependBos ?? null,
    context_size: meta.contextSize ?? null,
    dataset_path: meta.datasetPath ?? null,
  };
  return {
    architecture,
    d_in: dIn,
    d_sae: dSae,
    dtype: "float32",
    device: "cpu",
    apply_b_dec_to_input: out === undefined,
    normalize_activations: "none",
    reshape_activations: "none",
    ...activation?.fields,
    ...(out !== undefined
      ? {
        d_out: out.dOut,
        hook_name_out: out.hookName,
        hook_layer_out: hookLayer(out.hookName),
        hook_head_index_out: null,
      }
      : {}),
    metadata,
    // The same facts as SAELens's fields before 6.0, which its loader still reads.
    ...metadata,
    dataset_trust_remote_code: false,
    activation_fn_str: mapping.activationFn,
    activation_fn_kwargs: activation?.kwargs ?? {},
    finetuning_scaling_factor: false,
    sae_lens_training_version: null,
    saekit_architecture: arch,
  };
}

/**
 * SAELens's metadata from the run configuration beside `dir` (`../config.json`): undefined when there is
 * none to read, or when it is JSON but not an object (not a run's configuration); a file there that is
 * not JSON (truncated, empty) throws, naming it.
 */
async function runMetadata(dir: string): Promise<SaelensMetadata | undefined> {
  const parent = dir.replace(/\/+$/, "").replace(/\/[^/]*$/, "");
  if (parent === dir || parent === "") return undefined;
  let config: unknown;
  try {
    config = await readJsonFile(`${parent}/config.json`, "a run's configuration (for SAELens's metadata)");
  } catch (error) {
    if (error instanceof TypeError) throw error;
    return undefined; // no run beside it (or not readable): no metadata
  }
  if (config === null || typeof config !== "object" || Array.isArray(config)) return undefined;
  return saelensMetadataOf(config as Record<string, unknown>);
}

/**
 * Writes one SAELens-layout folder per component under `dir` (atomically: the folder appears complete
 * or not at all, replacing an older one).
 *
 * @param params `[component, ...]` tensors, with any activation scale already folded in
 * @throws TypeError naming `config.json` when, without `options.metadata`, the parent folder's
 *   `config.json` is there but not JSON (a truncated or empty file); `dir` is left as it was
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { exportSaes } from "./export.ts";
 * const params = {
 *   wEnc: tf.zeros([1, 2, 3]) as tf.Tensor3D, bEnc: tf.zeros([1, 3]) as tf.Tensor2D,
 *   wDec: tf.zeros([1, 3, 2]) as tf.Tensor3D, bDec: tf.zeros([1, 2]) as tf.Tensor2D,
 * };
 * const dir = await Deno.makeTempDir();
 * await exportSaes(`${dir}/final`, params, { componentNames: ["blocks.0.hook_resid_post"] });
 * const cfg = JSON.parse(await Deno.readTextFile(`${dir}/final/blocks.0.hook_resid_post/cfg.json`));
 * assert.equal(cfg.architecture, "standard");
 * assert.equal(cfg.d_sae, 3);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function exportSaes(dir: string, params: SaeParams, options: ExportOptions): Promise<void> {
  const [c, dIn, dSae] = params.wEnc.shape;
  const dOut = params.wDec.shape[2];
  const arch = options.arch ?? "relu";
  const mapping = archOf(arch).saelens;
  if (options.componentNames.length !== c) {
    throw new RangeError(
      `componentNames: expected ${c} names (one per component), received ${options.componentNames.length}`,
    );
  }
  const metadata = options.metadata ?? await runMetadata(dir);
  const slices = async (t: tf.Tensor | undefined) => {
    if (t === undefined) return undefined;
    const data = (await t.data()) as Float32Array;
    const size = data.length / c;
    return Array.from({ length: c }, (_, k) => data.slice(k * size, (k + 1) * size));
  };
  const [wEnc, bEnc, wDec, bDec] = await Promise.all(
    [params.wEnc, params.bEnc, params.wDec, params.bDec].map(slices),
  );
  // The architecture's own tensors, by SAELens's names (JumpReLU's threshold, the gated SAE's r_mag, b_mag).
  const extras = await Promise.all(
    Object.entries(mapping.tensors).map(async ([key, name]) =>
      [name, await slices(params[key as ExtraParamName])] as const
    ),
  );
  const transcoder = options.transcoder;
  await writeDirAtomic(dir, async (tmp) => {
    for (let k = 0; k < c; k++) {
      const folder = `${tmp}/${componentFolder(options.componentNames[k])}`;
      await Deno.mkdir(folder, { recursive: true });
      const tensors: Record<string, { dtype: "F32"; shape: number[]; data: Float32Array }> = {
        W_enc: { dtype: "F32", shape: [dIn, dSae], data: wEnc![k] },
        [mapping.encoderBias]: { dtype: "F32", shape: [dSae], data: bEnc![k] },
        W_dec: { dtype: "F32", shape: [dSae, dOut], data: wDec![k] },
        b_dec: { dtype: "F32", shape: [dOut], data: bDec![k] },
      };
      for (const [name, values] of extras) {
        if (values !== undefined) tensors[name] = { dtype: "F32", shape: [dSae], data: values[k] };
      }
      await writeFileAtomic(`${folder}/sae_weights.safetensors`, encodeSafetensors(tensors));
      const hookName = transcoder !== undefined
        ? transcoder.from[k]
        : metadata?.hookNames?.[k] ?? options.componentNames[k];
      const cfg = {
        ...saelensConfig({
          arch,
          dIn,
          dSae,
          k: options.k,
          hookName,
          metadata,
          out: transcoder !== undefined ? { dOut, hookName: transcoder.to[k] } : undefined,
        }),
        saekit_component: options.componentNames[k],
        saekit_component_index: k,
        ...options.extra,
      };
      await writeTextAtomic(`${folder}/cfg.json`, JSON.stringify(cfg, null, 2) + "\n");
    }
    for (const [name, text] of Object.entries(options.files ?? {})) {
      await writeTextAtomic(`${tmp}/${name}`, text);
    }
  });
}
