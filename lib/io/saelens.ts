/**
 * Reading SAEs saved in SAELens's layout (what `SAE.save_model` writes and
 * `SAE.load_from_disk` reads, and what {@linkcode exportSaes} writes): a
 * folder with `cfg.json` and `sae_weights.safetensors`, or a folder of such
 * folders (one SAE each, read as the components of one {@linkcode SaeParams}).
 *
 * | SAELens `architecture` | tensors | saekit activation |
 * | --- | --- | --- |
 * | `standard` (the default when absent) | `W_enc [d_in, d_sae]`, `b_enc`, `W_dec [d_sae, d_in]`, `b_dec` | `relu` |
 * | `topk` (`k`, or `activation_fn_kwargs.k` before SAELens 6) | as `standard` | `topk` |
 * | `jumprelu` | as `standard`, plus `threshold [d_sae]` (or `log_threshold`) | `jumprelu` |
 * | `gated` | `W_enc`, `b_gate`, `r_mag`, `b_mag`, `W_dec`, `b_dec` | `gated` |
 * | `transcoder`, `jumprelu_transcoder` | as `standard` / `jumprelu`, `W_dec [d_sae, d_out]`, `b_dec [d_out]` | `relu` / `jumprelu`, untied bias |
 *
 * Conversions, so that saekit's `forward` computes what SAELens computes:
 * a TopK SAE with `rescale_acts_by_decoder_norm` gets its decoder norms
 * folded (`W_enc·n`, `b_enc·n`, `W_dec/n`, the same function); JumpReLU
 * thresholds below 0 are raised to 0 (SAELens encodes `ReLU(pre)·[pre > θ]`,
 * saekit `pre·[pre > θ]`; they agree for θ ≥ 0). F16, BF16 and F64 weights
 * are widened or narrowed to float32.
 *
 * @module
 */
import { tf } from "../tf.ts";
import type { SaeParams } from "../sae/params.ts";
import type { ArchRecord, ExtraParamName, SaeActivation } from "../sae/arch/record.ts";
import { ARCH_RECORDS, type ArchName, archOf, makeSpec } from "../sae/arch/registry.ts";
import { type HfTensors, indexSafetensors, takeHfTensor } from "../models/load/hf_checkpoint.ts";
import { readJsonFile } from "./files.ts";

/**
 * The architecture an import produces: how the imported SAEs encode, in saekit's terms (those whose
 * record has a SAELens `import`: `relu`, `topk`, `jumprelu`, `gated`).
 */
export type ImportedArch = ArchName;

/** One SAE read from disk, before stacking: plain float32 arrays. */
export type SaeComponent = {
  /** A name: saekit's component name, the hook point, or the folder name. */
  readonly name: string;
  /** The hook the SAE reads, when the configuration says. */
  readonly hookName: string | null;
  readonly arch: ImportedArch;
  /** TopK: active features per item. */
  readonly k?: number;
  /** Whether `b_dec` is subtracted from the input before encoding (false for transcoders). */
  readonly tiedBias: boolean;
  readonly dIn: number;
  readonly dSae: number;
  readonly dOut: number;
  /** `[dIn, dSae]`, `[dSae]`, `[dSae, dOut]`, `[dOut]` and the optional `[dSae]` extras. */
  readonly wEnc: Float32Array;
  readonly bEnc: Float32Array;
  readonly wDec: Float32Array;
  readonly bDec: Float32Array;
  readonly threshold?: Float32Array;
  readonly rMag?: Float32Array;
  readonly bMag?: Float32Array;
  /** The folder it was read from. */
  readonly dir: string;
  /** Its configuration as read. */
  readonly cfg: Readonly<Record<string, unknown>>;
};

/** SAEs read from disk as the components of one set of parameters. */
export type ImportedSaes = {
  /** `[component, ...]` tensors in saekit's layout; the caller owns them (`tf.dispose`). */
  readonly params: SaeParams;
  readonly arch: ImportedArch;
  /** The activation to pass to `forward(params, x, activation, { tiedBias })`. */
  readonly activation: SaeActivation;
  readonly tiedBias: boolean;
  /** TopK: active features per item. */
  readonly k?: number;
  readonly componentNames: readonly string[];
  /** The hook each component reads, where its configuration says. */
  readonly hookNames: readonly (string | null)[];
  /** Each component's configuration as read. */
  readonly cfgs: readonly Readonly<Record<string, unknown>>[];
  /** Each component's folder. */
  readonly dirs: readonly string[];
  readonly format: "saelens" | "sparsify";
};

/**
 * The configuration file of SAELens's layout (sparsify's too).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SAELENS_CFG, SAELENS_WEIGHTS } from "./saelens.ts";
 * assert.equal(`${SAELENS_CFG} ${SAELENS_WEIGHTS}`, "cfg.json sae_weights.safetensors");
 * ```
 */
export const SAELENS_CFG = "cfg.json";
/** SAELens's weights file (see {@linkcode SAELENS_CFG}). */
export const SAELENS_WEIGHTS = "sae_weights.safetensors";

/** The records that SAELens folders are read as. */
const IMPORTERS: readonly ArchRecord<ArchName>[] = ARCH_RECORDS.filter((r) => r.saelens.import !== undefined);

/** SAELens's `architecture` values read (SAEs first, then transcoders), each by one record. */
const ARCHITECTURES = [
  ...new Set([
    ...IMPORTERS.map((r) => r.saelens.architecture.sae),
    ...IMPORTERS.map((r) => r.saelens.architecture.transcoder),
  ]),
];

/** SAELens's `activation_fn_str` values read. */
const ACTIVATION_FNS = [...new Set(IMPORTERS.map((r) => r.saelens.activationFn))];

/** SAELens's `architecture` when `cfg.json` has none. */
const DEFAULT_ARCHITECTURE = "standard";

function positiveInt(cfg: Readonly<Record<string, unknown>>, field: string, source: string): number {
  const value = cfg[field];
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new TypeError(`${source}: ${field} expected a positive integer, received ${JSON.stringify(value)}`);
  }
  return value;
}

/** The value of a field at the top level, else in SAELens 6's `metadata`. */
function metaField(cfg: Readonly<Record<string, unknown>>, field: string): unknown {
  const metadata = cfg.metadata;
  if (cfg[field] !== undefined && cfg[field] !== null) return cfg[field];
  if (metadata !== null && typeof metadata === "object") return (metadata as Record<string, unknown>)[field];
  return undefined;
}

/**
 * One SAELens SAE from its configuration and its indexed tensors (pure): checks the architecture,
 * the fields and every tensor's shape, and converts to saekit's conventions (see the module notes).
 *
 * @param cfg the parsed `cfg.json`
 * @param tensors the indexed `sae_weights.safetensors`
 * @param dir the folder, named in errors
 * @throws TypeError for an unknown architecture or normalisation, or a missing or wrong field
 * @throws RangeError naming the file and tensor for a missing tensor or a shape that does not match
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeSafetensors } from "./safetensors.ts";
 * import { indexSafetensors } from "../models/load/hf_checkpoint.ts";
 * import { saelensComponent } from "./saelens.ts";
 * const f = (n: number) => ({ dtype: "F32" as const, shape: [n], data: new Float32Array(n) });
 * const m = (a: number, b: number) => ({ dtype: "F32" as const, shape: [a, b], data: new Float32Array(a * b) });
 * const bytes = encodeSafetensors({ W_enc: m(2, 3), b_enc: f(3), W_dec: m(3, 2), b_dec: f(2) });
 * const sae = saelensComponent({ d_in: 2, d_sae: 3 }, indexSafetensors(bytes, "w"), "sae");
 * assert.equal(sae.arch, "relu");
 * assert.ok(sae.tiedBias);
 * assert.equal(sae.dSae, 3);
 * ```
 */
export function saelensComponent(
  cfg: Readonly<Record<string, unknown>>,
  tensors: HfTensors,
  dir: string,
): SaeComponent {
  const source = `${dir}/${SAELENS_CFG}`;
  if (cfg === null || typeof cfg !== "object" || Array.isArray(cfg)) {
    throw new TypeError(`${source}: expected a JSON object, received ${JSON.stringify(cfg)}`);
  }
  const activationFn = cfg.activation_fn_str ?? cfg.activation_fn;
  let architecture = cfg.architecture ?? DEFAULT_ARCHITECTURE;
  // Before SAELens 6, TopK SAEs were "standard" ones with a topk activation function: the activation
  // function names the architecture of the record it belongs to.
  if (architecture === DEFAULT_ARCHITECTURE) {
    architecture = IMPORTERS.find((r) => r.saelens.activationFn === activationFn)?.saelens.architecture.sae ??
      architecture;
  }
  if (typeof architecture !== "string" || !ARCHITECTURES.includes(architecture)) {
    throw new TypeError(
      `${source}: architecture expected one of ${
        ARCHITECTURES.map((a) => JSON.stringify(a)).join(", ")
      }, received ${JSON.stringify(architecture)}`,
    );
  }
  if (
    activationFn !== undefined && activationFn !== null && !ACTIVATION_FNS.includes(activationFn as string)
  ) {
    throw new TypeError(
      `${source}: activation_fn_str expected ${
        ACTIVATION_FNS.map((f) => JSON.stringify(f)).join(" or ")
      }, received ${JSON.stringify(activationFn)}`,
    );
  }
  const normalize = cfg.normalize_activations;
  if (normalize !== undefined && normalize !== null && normalize !== "none" && normalize !== false) {
    throw new TypeError(
      `${source}: normalize_activations expected "none" (any scale folded into the weights), received ${
        JSON.stringify(normalize)
      }` +
        (normalize === "expected_average_only_in" || normalize === true
          ? "; SAELens keeps that scaling factor outside cfg.json: fold it in with SAELens's fold_activation_norm_scaling_factor() and save again"
          : "; saekit's forward pass has no per-input normalisation"),
    );
  }
  if (cfg.finetuning_scaling_factor === true) {
    throw new TypeError(`${source}: finetuning_scaling_factor expected false, received true`);
  }
  const dIn = positiveInt(cfg, "d_in", source);
  const dSae = positiveInt(cfg, "d_sae", source);
  // The record that reads it: the one whose SAE is this architecture, else whose transcoder is.
  const record = IMPORTERS.find((r) => r.saelens.architecture.sae === architecture) ??
    IMPORTERS.find((r) => r.saelens.architecture.transcoder === architecture)!;
  const transcoder = record.saelens.architecture.sae !== architecture;
  const dOut = cfg.d_out === undefined || cfg.d_out === null ? dIn : positiveInt(cfg, "d_out", source);
  const tiedBias = transcoder ? false : cfg.apply_b_dec_to_input !== false;
  if (tiedBias && dOut !== dIn) {
    throw new RangeError(
      `${source}: d_out expected ${dIn} (d_in) when apply_b_dec_to_input is true, received ${dOut}`,
    );
  }
  const arch: ImportedArch = record.name;
  const take = (name: string, shape: readonly number[]) => takeHfTensor(tensors, name, shape);
  const input = { cfg, source, dSae, dOut, take, has: (name: string) => tensors[name] !== undefined };
  const reading = record.saelens.import!;
  const { k } = reading.fields?.(input) ?? {};

  const scaling = tensors.scaling_factor;
  if (scaling !== undefined && takeHfTensor(tensors, "scaling_factor", scaling.shape).some((v) => v !== 1)) {
    throw new RangeError(`${scaling.file}: tensor scaling_factor expected all ones, received other values`);
  }
  const standard = {
    wEnc: take("W_enc", [dIn, dSae]),
    bEnc: take(record.saelens.encoderBias, [dSae]),
    wDec: take("W_dec", [dSae, dOut]),
  };
  const bDec = take("b_dec", [dOut]);
  // The record's own reading (JumpReLU's threshold, TopK's rescaled norms), then its other tensors.
  const converted = reading.tensors?.(input, standard) ?? {};
  const extra: Partial<Record<ExtraParamName, Float32Array>> = {};
  for (const [key, name] of Object.entries(record.saelens.tensors) as [ExtraParamName, string][]) {
    extra[key] = converted[key] ?? take(name, [dSae]);
  }
  const wEnc = converted.wEnc ?? standard.wEnc;
  const bEnc = converted.bEnc ?? standard.bEnc;
  const wDec = converted.wDec ?? standard.wDec;
  const hook = metaField(cfg, "hook_name") ?? cfg.hook_point;
  const hookName = typeof hook === "string" ? hook : null;
  const named = cfg.saekit_component;
  const folder = dir.replace(/\/+$/, "").split("/").at(-1) ?? dir;
  return {
    name: typeof named === "string" ? named : hookName ?? folder,
    hookName,
    arch,
    ...(k !== undefined ? { k } : {}),
    tiedBias,
    dIn,
    dSae,
    dOut,
    wEnc,
    bEnc,
    wDec,
    bDec,
    ...extra,
    dir,
    cfg,
  };
}

/**
 * Stacks SAEs of one architecture and size into `[component, ...]` parameters (the first component
 * sets what the others must match).
 *
 * @throws RangeError naming the folder and the field that differs
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stackComponents, type SaeComponent } from "./saelens.ts";
 * const one = (v: number): SaeComponent => ({
 *   name: `c${v}`, hookName: null, arch: "relu", tiedBias: true, dIn: 1, dSae: 2, dOut: 1,
 *   wEnc: new Float32Array([v, v]), bEnc: new Float32Array(2), wDec: new Float32Array([1, 1]),
 *   bDec: new Float32Array(1), dir: `c${v}`, cfg: {},
 * });
 * const saes = stackComponents([one(1), one(2)], "saelens");
 * assert.equal(saes.params.wEnc.shape.join(), "2,1,2");
 * assert.equal(saes.componentNames.join(), "c1,c2");
 * ```
 */
export function stackComponents(
  components: readonly SaeComponent[],
  format: "saelens" | "sparsify",
): ImportedSaes {
  if (components.length === 0) throw new RangeError("components: expected at least one SAE, received none");
  const first = components[0];
  for (const other of components.slice(1)) {
    for (const field of ["arch", "k", "tiedBias", "dIn", "dSae", "dOut"] as const) {
      if (other[field] !== first[field]) {
        throw new RangeError(
          `${other.dir}: ${field} expected ${
            JSON.stringify(first[field])
          } (as in ${first.dir}, read as components of one set), received ${JSON.stringify(other[field])}`,
        );
      }
    }
  }
  const c = components.length;
  const { dIn, dSae, dOut } = first;
  const stack = (pick: (s: SaeComponent) => Float32Array | undefined) => {
    const parts = components.map(pick);
    if (parts.some((p) => p === undefined)) return undefined;
    const out = new Float32Array(parts.reduce((n, p) => n + p!.length, 0));
    let at = 0;
    for (const part of parts) {
      out.set(part!, at);
      at += part!.length;
    }
    return out;
  };
  const threshold = stack((s) => s.threshold);
  const rMag = stack((s) => s.rMag);
  const bMag = stack((s) => s.bMag);
  const params: SaeParams = {
    wEnc: tf.tensor3d(stack((s) => s.wEnc)!, [c, dIn, dSae]),
    bEnc: tf.tensor2d(stack((s) => s.bEnc)!, [c, dSae]),
    wDec: tf.tensor3d(stack((s) => s.wDec)!, [c, dSae, dOut]),
    bDec: tf.tensor2d(stack((s) => s.bDec)!, [c, dOut]),
    ...(threshold !== undefined ? { threshold: tf.tensor2d(threshold, [c, dSae]) } : {}),
    ...(rMag !== undefined ? { rMag: tf.tensor2d(rMag, [c, dSae]) } : {}),
    ...(bMag !== undefined ? { bMag: tf.tensor2d(bMag, [c, dSae]) } : {}),
  };
  const activation: SaeActivation = archOf(first.arch).inference(
    makeSpec(first.arch, first.k !== undefined ? { k: first.k } : {}),
  );
  return {
    params,
    arch: first.arch,
    activation,
    tiedBias: first.tiedBias,
    ...(first.k !== undefined ? { k: first.k } : {}),
    componentNames: components.map((s) => s.name),
    hookNames: components.map((s) => s.hookName),
    cfgs: components.map((s) => s.cfg),
    dirs: components.map((s) => s.dir),
    format,
  };
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/**
 * The SAE folders under `dir`: `dir` itself when it holds `cfg.json`, else its subfolders that do (in
 * natural order: `layers.2` before `layers.10`), each checked to hold `weights` too.
 *
 * @throws Error naming the folder and the file that is missing
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { saeFolders } from "./saelens.ts";
 * const dir = await Deno.makeTempDir();
 * for (const name of ["layers.10", "layers.2"]) {
 *   await Deno.mkdir(`${dir}/${name}`);
 *   await Deno.writeTextFile(`${dir}/${name}/cfg.json`, "{}");
 *   await Deno.writeTextFile(`${dir}/${name}/sae.safetensors`, "");
 * }
 * const folders = await saeFolders(dir, "sae.safetensors");
 * assert.equal(folders.join(), `${dir}/layers.2,${dir}/layers.10`);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function saeFolders(dir: string, weights: string): Promise<string[]> {
  const root = dir.replace(/\/+$/, "") || "/";
  let folders: string[];
  if (await isFile(`${root}/${SAELENS_CFG}`)) {
    folders = [root];
  } else {
    const names: string[] = [];
    try {
      for await (const entry of Deno.readDir(root)) {
        if (entry.isDirectory && await isFile(`${root}/${entry.name}/${SAELENS_CFG}`)) names.push(entry.name);
      }
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new Error(`${root}: expected a folder of SAEs, not found`);
      }
      throw error;
    }
    if (names.length === 0) {
      throw new Error(
        `${root}: expected ${SAELENS_CFG} and ${weights}, in the folder or in its subfolders (one SAE each), found none`,
      );
    }
    const collator = new Intl.Collator("en", { numeric: true });
    folders = names.sort(collator.compare).map((name) => `${root}/${name}`);
  }
  for (const folder of folders) {
    if (!(await isFile(`${folder}/${weights}`))) {
      throw new Error(`${folder}: expected ${weights} beside ${SAELENS_CFG}, not found`);
    }
  }
  return folders;
}

/**
 * Reads and parses a folder's `cfg.json`, naming the file in errors (see `readJsonFile()`); whether it
 * holds an object is checked by the readers ({@linkcode saelensComponent}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readCfg } from "./saelens.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/cfg.json`, '{"d_in": 4}');
 * assert.equal((await readCfg(dir)).d_in, 4);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readCfg(folder: string): Promise<Record<string, unknown>> {
  return await readJsonFile(`${folder}/${SAELENS_CFG}`) as Record<string, unknown>;
}

/**
 * Reads SAEs in SAELens's layout: one folder (`cfg.json` and `sae_weights.safetensors`), a folder of
 * such folders (as a run's `final/` or a Hub repository of several SAEs), or a list of folders. The
 * SAEs become the components of one set of parameters, so they must share architecture and sizes.
 * saekit's own exports come back in their original component order and with their names; other
 * folders in natural order, named by their hook.
 *
 * @throws Error for a missing file; TypeError or RangeError (see {@linkcode saelensComponent}) for a
 *   configuration or tensor that does not fit
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../tf.ts";
 * import { exportSaes } from "./export.ts";
 * import { importSaelens } from "./saelens.ts";
 * const params = {
 *   wEnc: tf.ones([1, 2, 3]) as tf.Tensor3D, bEnc: tf.zeros([1, 3]) as tf.Tensor2D,
 *   wDec: tf.ones([1, 3, 2]) as tf.Tensor3D, bDec: tf.zeros([1, 2]) as tf.Tensor2D,
 * };
 * const dir = await Deno.makeTempDir();
 * await exportSaes(`${dir}/final`, params, { componentNames: ["blocks.0.hook_resid_post"] });
 * const saes = await importSaelens(`${dir}/final`);
 * assert.equal(saes.arch, "relu");
 * assert.equal(saes.params.wEnc.shape.join(), "1,2,3");
 * tf.dispose([saes.params as unknown as tf.TensorContainer, params as unknown as tf.TensorContainer]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function importSaelens(dir: string | readonly string[]): Promise<ImportedSaes> {
  const folders = typeof dir === "string"
    ? await saeFolders(dir, SAELENS_WEIGHTS)
    : (await Promise.all(dir.map((d) => saeFolders(d, SAELENS_WEIGHTS)))).flat();
  const components: SaeComponent[] = [];
  for (const folder of folders) {
    const cfg = await readCfg(folder);
    const file = `${folder}/${SAELENS_WEIGHTS}`;
    components.push(saelensComponent(cfg, indexSafetensors(await Deno.readFile(file), file), folder));
  }
  const index = (s: SaeComponent) => s.cfg.saekit_component_index;
  if (components.every((s) => typeof index(s) === "number")) {
    components.sort((a, b) => (index(a) as number) - (index(b) as number));
  }
  return stackComponents(components, "saelens");
}
