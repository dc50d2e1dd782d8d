/**
 * Finds TensorFlow.js's native packages for Node.js (`@tensorflow/tfjs-node-gpu`
 * and `@tensorflow/tfjs-node`) on disk, without importing or downloading them.
 *
 * Importing an npm package that is not on disk makes Deno download it, and
 * Deno runs an npm package's install script only when allowed
 * (`deno install --allow-scripts=…`). These two packages get their native part
 * from that script: it downloads libtensorflow into `deps/` and the Node-API
 * binding into `lib/napi-v8/tfjs_binding.node`. So `selectBackend` imports one
 * of them only when this probe has found it complete, and otherwise says what
 * is missing and how to fix it.
 *
 * Effectful: reads files (`--allow-read`) and the environment variables that
 * locate Deno's cache (`--allow-env`).
 *
 * @module
 */
import { dirname, join, resolve, sep } from "node:path";
import process from "node:process";

/** The version saekit imports: the version of its `@tensorflow/tfjs`, which the package must share. */
export const TFJS_NODE_VERSION = "4.22.0";

/** The packages that provide tfjs's `tensorflow` backend, in the order they are tried. */
export const TFJS_NODE_PACKAGES = ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"] as const;

/** One of {@linkcode TFJS_NODE_PACKAGES}. */
export type TfjsNodePackage = typeof TFJS_NODE_PACKAGES[number];

/** The README section that explains how to install the packages. */
export const TENSORFLOW_README_SECTION = "The tensorflow backend (and tfjs-node-gpu)";

/** Options of {@linkcode probeTensorflow}. */
export type TensorflowProbeOptions = {
  /**
   * Folders whose `node_modules` are searched, nearest first (default: the
   * current directory and every folder above it).
   */
  readonly roots?: readonly string[];
  /**
   * Deno's cache folder, whose `npm/` is searched after the `node_modules`
   * folders (default: {@linkcode defaultDenoDir}); `null` skips it.
   */
  readonly denoDir?: string | null;
  /**
   * The runtime's Node-API version, which picks the binding's folder as
   * node-pre-gyp does (default: `process.versions.napi`; 10 in Deno 2.9).
   */
  readonly napiVersion?: number;
};

/** What {@linkcode probeTensorflow} found. */
export type TensorflowProbe = {
  /** Packages found with their native binding, to import in this order (`npm:<name>@4.22.0`). */
  readonly ready: readonly TfjsNodePackage[];
  /**
   * One sentence per package found but unusable (binding missing, other
   * version) naming the file or folder and the fix, or, when neither package
   * is anywhere, one sentence saying where it looked.
   */
  readonly problems: readonly string[];
};

/**
 * Where Deno keeps its cache, as Deno itself decides: `DENO_DIR` when set,
 * otherwise the platform's cache folder (`$XDG_CACHE_HOME` or `~/.cache` on
 * Linux, `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on Windows) followed
 * by `deno`. `deno info` prints the same folder. Undefined when the variables
 * it needs are unset or not readable.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultDenoDir } from "./tensorflow_probe.ts";
 * const env: Record<string, string> = { HOME: "/home/ada" };
 * assert.equal(defaultDenoDir((name) => env[name], "linux"), "/home/ada/.cache/deno");
 * assert.equal(defaultDenoDir((name) => env[name], "darwin"), "/home/ada/Library/Caches/deno");
 * env.DENO_DIR = "/opt/deno-cache";
 * assert.equal(defaultDenoDir((name) => env[name], "linux"), "/opt/deno-cache");
 * ```
 */
export function defaultDenoDir(
  getEnv: (name: string) => string | undefined = readEnv,
  os: string = Deno.build.os,
): string | undefined {
  const explicit = getEnv("DENO_DIR");
  if (explicit) return resolve(explicit);
  const home = getEnv(os === "windows" ? "USERPROFILE" : "HOME");
  let cache: string | undefined;
  if (os === "windows") cache = getEnv("LOCALAPPDATA");
  else if (os === "darwin") cache = home && join(home, "Library", "Caches");
  else {
    const xdg = getEnv("XDG_CACHE_HOME");
    cache = xdg && xdg.startsWith("/") ? xdg : home && join(home, ".cache");
  }
  if (cache) return join(cache, "deno");
  return home ? join(home, ".deno") : undefined;
}

function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // no --allow-env: the cache is not searched
  }
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) return false;
    throw error;
  }
}

function listDir(path: string): string[] {
  try {
    return [...Deno.readDirSync(path)].filter((entry) => entry.isDirectory).map((entry) => entry.name).sort();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) return [];
    throw error;
  }
}

type PackageJson = {
  version?: unknown;
  binary?: { module_name?: unknown; module_path?: unknown; napi_versions?: unknown };
};

/**
 * The binding file a package's `binary` field names (node-pre-gyp's
 * `find`): `module_path` with `{napi_build_version}` set to the highest of
 * `napi_versions` not above the runtime's, then `module_name.node`. Relative to
 * the package folder; undefined when the field gives no such file.
 */
function bindingFile(pkg: PackageJson, napiVersion: number): string | undefined {
  const binary = pkg.binary;
  if (typeof binary?.module_name !== "string" || typeof binary.module_path !== "string") return undefined;
  const versions = Array.isArray(binary.napi_versions)
    ? binary.napi_versions.filter((v): v is number => typeof v === "number" && v <= napiVersion)
    : [];
  const modulePath = binary.module_path.replaceAll(
    "{napi_build_version}",
    versions.length > 0 ? String(Math.max(...versions)) : "{napi_build_version}",
  );
  if (modulePath.includes("{")) return undefined; // a placeholder this probe does not evaluate
  return join(modulePath, `${binary.module_name}.node`);
}

type Location = { readonly dir: string; readonly where: "local" | "cache"; readonly base: string };

/** Package folders where Deno or npm would have put `pkg`, nearest first. */
function candidates(pkg: TfjsNodePackage, roots: readonly string[], denoDir: string | null): Location[] {
  const found: Location[] = [];
  const flat = `${pkg.replace("/", "+")}@${TFJS_NODE_VERSION}`; // Deno's folder name in node_modules/.deno
  for (const root of roots) {
    const modules = join(root, "node_modules");
    found.push({ dir: join(modules, ...pkg.split("/")), where: "local", base: modules });
    found.push({
      dir: join(modules, ".deno", flat, "node_modules", ...pkg.split("/")),
      where: "local",
      base: modules,
    });
  }
  if (denoDir !== null) {
    const npm = join(denoDir, "npm");
    for (const registry of listDir(npm)) {
      found.push({
        dir: join(npm, registry, ...pkg.split("/"), TFJS_NODE_VERSION),
        where: "cache",
        base: npm,
      });
    }
  }
  return found;
}

function installCommand(pkg: TfjsNodePackage): string {
  const spec = `npm:${pkg}@${TFJS_NODE_VERSION}`;
  return `deno install --allow-scripts=${spec} ${spec}`;
}

/** The folder to delete so that Deno installs `dir` afresh and runs its install script. */
function installedFolder(dir: string): string {
  let real = dir;
  try {
    real = Deno.realPathSync(dir);
  } catch {
    // keep dir
  }
  const marker = `${sep}node_modules${sep}.deno${sep}`;
  const at = real.lastIndexOf(marker);
  if (at < 0) return dir; // a plain folder (npm, or Deno's hoisted linker)
  const rest = real.slice(at + marker.length);
  return real.slice(0, at + marker.length) + rest.split(sep)[0];
}

type Finding =
  | { readonly status: "ready" }
  | { readonly status: "problem"; readonly message: string }
  | { readonly status: "absent"; readonly other?: string };

function inspect(pkg: TfjsNodePackage, at: Location, napiVersion: number): Finding {
  const manifest = join(at.dir, "package.json");
  if (!isFile(manifest)) return { status: "absent" };
  let json: PackageJson;
  try {
    json = JSON.parse(Deno.readTextFileSync(manifest)) as PackageJson;
  } catch (error) {
    return {
      status: "problem",
      message: `${manifest} could not be read as JSON (${error instanceof Error ? error.message : error})`,
    };
  }
  if (json.version !== TFJS_NODE_VERSION) {
    return {
      status: "absent",
      other: `${pkg} in ${at.dir} is version ${JSON.stringify(json.version)}, while saekit needs ` +
        `${TFJS_NODE_VERSION} (the version of its @tensorflow/tfjs): run \`${installCommand(pkg)}\` ` +
        `in your project`,
    };
  }
  const binding = bindingFile(json, napiVersion);
  if (binding === undefined || isFile(join(at.dir, binding))) return { status: "ready" };
  const missing = join(at.dir, binding);
  if (at.where === "cache") {
    return {
      status: "problem",
      message: `${pkg}@${TFJS_NODE_VERSION} is only in Deno's npm cache, where install scripts never run, ` +
        `so its native binding ${missing} is missing: in your project set "nodeModulesDir": "auto" in ` +
        `deno.json and run \`${installCommand(pkg)}\``,
    };
  }
  return {
    status: "problem",
    message: `${pkg}@${TFJS_NODE_VERSION} is in ${at.base} but its native binding ${missing} is missing ` +
      `(its install script, which downloads libtensorflow, did not run or failed: Deno runs npm install ` +
      `scripts only when allowed): delete ${installedFolder(at.dir)} and run \`${installCommand(pkg)}\` ` +
      `in ${dirname(at.base)}`,
  };
}

/**
 * Looks for `@tensorflow/tfjs-node-gpu` and `@tensorflow/tfjs-node` 4.22.0 in
 * the `node_modules` folders (Deno's layout, `node_modules/.deno/…`, and
 * npm's) and in Deno's npm cache, and checks that each one found has the
 * native binding its install script puts in place. Reads files only: it
 * imports nothing and downloads nothing.
 *
 * @example Nothing installed
 * ```ts
 * import assert from "node:assert/strict";
 * import { probeTensorflow } from "./tensorflow_probe.ts";
 * const empty = await Deno.makeTempDir();
 * const probe = probeTensorflow({ roots: [empty], denoDir: null });
 * assert.deepEqual(probe.ready, []);
 * assert.match(probe.problems[0], /^not installed/);
 * await Deno.remove(empty);
 * ```
 */
export function probeTensorflow(options: TensorflowProbeOptions = {}): TensorflowProbe {
  const roots = options.roots ?? ancestors(Deno.cwd());
  const denoDir = options.denoDir === undefined ? defaultDenoDir() ?? null : options.denoDir;
  const napiVersion = options.napiVersion ?? Number(process.versions.napi ?? 0);
  const ready: TfjsNodePackage[] = [];
  const problems: string[] = [];
  const others: string[] = [];
  for (const pkg of TFJS_NODE_PACKAGES) {
    let other: string | undefined;
    for (const at of candidates(pkg, roots, denoDir)) {
      const finding = inspect(pkg, at, napiVersion);
      if (finding.status === "absent") {
        other ??= finding.other;
        continue;
      }
      if (finding.status === "ready") ready.push(pkg);
      else problems.push(finding.message);
      other = undefined;
      break;
    }
    if (other !== undefined) others.push(other);
  }
  problems.push(...others);
  if (ready.length === 0 && problems.length === 0) {
    const places = roots.length === 0 ? [] : [
      `${join(roots[0], "node_modules")}${
        roots.length > 1 ? " (and the node_modules folders above it)" : ""
      }`,
    ];
    if (denoDir !== null) places.push(`Deno's npm cache ${join(denoDir, "npm")}`);
    problems.push(
      `not installed (no ${TFJS_NODE_PACKAGES.join(" or ")} ${TFJS_NODE_VERSION} in ` +
        `${places.join(" or ") || "any folder searched"})`,
    );
  }
  return { ready, problems };
}

/** `dir` and every folder above it, nearest first. */
function ancestors(dir: string): string[] {
  const out = [resolve(dir)];
  while (dirname(out[out.length - 1]) !== out[out.length - 1]) out.push(dirname(out[out.length - 1]));
  return out;
}
