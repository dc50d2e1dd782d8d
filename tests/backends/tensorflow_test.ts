// The tensorflow backend is looked for on disk before anything is imported: these tests lay out fake
// packages in temporary folders (no network, no download, no real tfjs-node) and point the probe at
// them, with Deno's cache replaced by a temporary folder too, so that what this machine has installed
// does not matter.
import assert from "node:assert/strict";
import { join } from "node:path";
import { tf } from "../../lib/tf.ts";
import { selectBackend } from "../../lib/backends/select.ts";
import { defaultDenoDir, probeTensorflow } from "../../lib/backends/tensorflow_probe.ts";

const README = `see the README section "The tensorflow backend (and tfjs-node-gpu)"`;
const GPU = "@tensorflow/tfjs-node-gpu";
const CPU = "@tensorflow/tfjs-node";

/** The fields of tfjs-node(-gpu) 4.22.0's package.json that the probe reads, as published. */
function manifest(name: string, version = "4.22.0"): string {
  return JSON.stringify({
    name,
    version,
    main: "dist/index.js",
    scripts: { install: `node scripts/install.js${name.endsWith("-gpu") ? " gpu download" : ""}` },
    binary: {
      module_name: "tfjs_binding",
      module_path: "./lib/napi-v{napi_build_version}",
      host: "https://storage.googleapis.com/tf-builds/pre-built-binary",
      remote_path: "./napi-v{napi_build_version}/{version}/",
      napi_versions: [3, 4, 5, 6, 7, 8],
    },
  });
}

/** A temporary folder with its real path (macOS's /var is a link), removed after `fn`. */
async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = Deno.realPathSync(await Deno.makeTempDir({ prefix: "saekit-tf-" }));
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Lays a package out as Deno does with `"nodeModulesDir": "auto"`: the files under `.deno/`, a link on top. */
async function denoLayout(root: string, name: string, version = "4.22.0"): Promise<string> {
  const flat = `${name.replace("/", "+")}@${version}`;
  const real = join(root, "node_modules", ".deno", flat, "node_modules", ...name.split("/"));
  await Deno.mkdir(real, { recursive: true });
  await Deno.writeTextFile(join(real, "package.json"), manifest(name, version));
  await Deno.mkdir(join(root, "node_modules", "@tensorflow"), { recursive: true });
  await Deno.symlink(
    join("..", ".deno", flat, "node_modules", ...name.split("/")),
    join(root, "node_modules", ...name.split("/")),
  );
  return real;
}

/** Records what would be imported and imports nothing. */
function importSpy(onImport: (specifier: string) => Promise<unknown> = () => Promise.resolve()) {
  const calls: string[] = [];
  return {
    calls,
    importModule: (specifier: string) => {
      calls.push(specifier);
      return onImport(specifier);
    },
  };
}

Deno.test("auto skips tensorflow with the 'not installed' line, and imports nothing, when no package is anywhere", async () => {
  await withTemp(async (dir) => {
    const project = join(dir, "project");
    const cache = join(dir, "deno-cache");
    await Deno.mkdir(project);
    await Deno.mkdir(cache);
    const spy = importSpy();
    const choice = await selectBackend("auto", {
      autoOrder: ["tensorflow"],
      tensorflow: { roots: [project], denoDir: cache, importModule: spy.importModule },
    });
    assert.equal(choice.name, "cpu");
    assert.deepEqual(choice.skipped, [
      `tensorflow: not installed (no @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node 4.22.0 in ` +
      `${project}/node_modules or Deno's npm cache ${cache}/npm); ${README}`,
    ]);
    assert.deepEqual(spy.calls, []);
    await assert.rejects(
      () => selectBackend("tensorflow", { tensorflow: { roots: [project], denoDir: null, ...spy } }),
      (error: Error) => {
        assert.equal(error.constructor, Error);
        assert.equal(
          error.message,
          `backend tensorflow: not installed (no @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node 4.22.0 ` +
            `in ${project}/node_modules); ${README}`,
        );
        return true;
      },
    );
    assert.deepEqual(spy.calls, []);
  });
});

Deno.test("a package installed without its install script is named with its missing binding and the fix", async () => {
  await withTemp(async (dir) => {
    await denoLayout(dir, GPU);
    const spy = importSpy();
    // The binding's folder: module_path "./lib/napi-v{napi_build_version}" with the highest of
    // napi_versions 3..8 that is not above the runtime's Node-API 10, i.e. 8.
    const line = `@tensorflow/tfjs-node-gpu@4.22.0 is in ${dir}/node_modules but its native binding ` +
      `${dir}/node_modules/@tensorflow/tfjs-node-gpu/lib/napi-v8/tfjs_binding.node is missing (its install ` +
      `script, which downloads libtensorflow, did not run or failed: Deno runs npm install scripts only ` +
      `when allowed): delete ${dir}/node_modules/.deno/@tensorflow+tfjs-node-gpu@4.22.0 and run ` +
      "`deno install --allow-scripts=npm:@tensorflow/tfjs-node-gpu@4.22.0 npm:@tensorflow/tfjs-node-gpu@4.22.0` " +
      `in ${dir}; ${README}`;
    const options = { roots: [dir], denoDir: null, napiVersion: 10, importModule: spy.importModule };

    const auto = await selectBackend("auto", { autoOrder: ["tensorflow"], tensorflow: options });
    assert.equal(auto.name, "cpu");
    assert.deepEqual(auto.skipped, [`tensorflow: ${line}`]);

    await assert.rejects(
      () => selectBackend("tensorflow", { tensorflow: options }),
      (error: Error) => {
        assert.equal(error.constructor, Error);
        assert.equal(error.message, `backend tensorflow: ${line}`);
        return true;
      },
    );
    assert.deepEqual(spy.calls, []);
  });
});

Deno.test("the binding's folder follows the runtime's Node-API version as node-pre-gyp picks it", async () => {
  await withTemp(async (dir) => {
    const real = await denoLayout(dir, GPU);
    await Deno.mkdir(join(real, "lib", "napi-v8"), { recursive: true });
    await Deno.writeTextFile(join(real, "lib", "napi-v8", "tfjs_binding.node"), "");
    assert.deepEqual(probeTensorflow({ roots: [dir], denoDir: null, napiVersion: 10 }).ready, [GPU]);
    assert.deepEqual(probeTensorflow({ roots: [dir], denoDir: null, napiVersion: 8 }).ready, [GPU]);
    // Node-API 6: the highest of 3..8 not above 6 is 6, and lib/napi-v6 is empty.
    const old = probeTensorflow({ roots: [dir], denoDir: null, napiVersion: 6 });
    assert.deepEqual(old.ready, []);
    assert.match(old.problems[0], /tfjs-node-gpu\/lib\/napi-v6\/tfjs_binding\.node is missing/);
  });
});

Deno.test("a plain node_modules folder (npm, or Deno's hoisted linker) is the folder to delete", async () => {
  await withTemp(async (dir) => {
    const pkg = join(dir, "node_modules", "@tensorflow", "tfjs-node");
    await Deno.mkdir(pkg, { recursive: true });
    await Deno.writeTextFile(join(pkg, "package.json"), manifest(CPU));
    const probe = probeTensorflow({ roots: [join(dir, "sub"), dir], denoDir: null, napiVersion: 10 });
    assert.deepEqual(probe.ready, []);
    assert.deepEqual(probe.problems, [
      `@tensorflow/tfjs-node@4.22.0 is in ${dir}/node_modules but its native binding ` +
      `${pkg}/lib/napi-v8/tfjs_binding.node is missing (its install script, which downloads libtensorflow, ` +
      `did not run or failed: Deno runs npm install scripts only when allowed): delete ${pkg} and run ` +
      "`deno install --allow-scripts=npm:@tensorflow/tfjs-node@4.22.0 npm:@tensorflow/tfjs-node@4.22.0` " +
      `in ${dir}`,
    ]);
  });
});

Deno.test("a package only in Deno's npm cache never has its binding, and the fix says to install it locally", async () => {
  await withTemp(async (dir) => {
    const cached = join(dir, "cache", "npm", "registry.npmjs.org", "@tensorflow", "tfjs-node-gpu", "4.22.0");
    await Deno.mkdir(cached, { recursive: true });
    await Deno.writeTextFile(join(cached, "package.json"), manifest(GPU));
    await Deno.mkdir(join(dir, "project"));
    const spy = importSpy();
    const choice = await selectBackend("auto", {
      autoOrder: ["tensorflow"],
      tensorflow: { roots: [join(dir, "project")], denoDir: join(dir, "cache"), napiVersion: 10, ...spy },
    });
    assert.deepEqual(choice.skipped, [
      `tensorflow: @tensorflow/tfjs-node-gpu@4.22.0 is only in Deno's npm cache, where install scripts never ` +
      `run, so its native binding ${cached}/lib/napi-v8/tfjs_binding.node is missing: in your project set ` +
      `"nodeModulesDir": "auto" in deno.json and run ` +
      "`deno install --allow-scripts=npm:@tensorflow/tfjs-node-gpu@4.22.0 npm:@tensorflow/tfjs-node-gpu@4.22.0`; " +
      README,
    ]);
    assert.deepEqual(spy.calls, []);
  });
});

Deno.test("another version is not imported (it would make Deno download 4.22.0)", async () => {
  await withTemp(async (dir) => {
    await denoLayout(dir, GPU, "4.21.0");
    const probe = probeTensorflow({ roots: [dir], denoDir: null, napiVersion: 10 });
    assert.deepEqual(probe.ready, []);
    assert.deepEqual(probe.problems, [
      `@tensorflow/tfjs-node-gpu in ${dir}/node_modules/@tensorflow/tfjs-node-gpu is version "4.21.0", while ` +
      "saekit needs 4.22.0 (the version of its @tensorflow/tfjs): run " +
      "`deno install --allow-scripts=npm:@tensorflow/tfjs-node-gpu@4.22.0 npm:@tensorflow/tfjs-node-gpu@4.22.0` " +
      "in your project",
    ]);
  });
});

Deno.test("a complete package is imported as npm:<name>@4.22.0, the GPU package first", async () => {
  await selectBackend("cpu");
  await withTemp(async (dir) => {
    for (const name of [GPU, CPU]) {
      const real = await denoLayout(dir, name);
      await Deno.mkdir(join(real, "lib", "napi-v8"), { recursive: true });
      await Deno.writeTextFile(join(real, "lib", "napi-v8", "tfjs_binding.node"), "");
    }
    // The GPU package fails to load (as when libtensorflow's CUDA libraries are missing); the CPU one
    // registers a backend named "tensorflow", standing in for tfjs-node's.
    const spy = importSpy((specifier) => {
      if (specifier.includes("-gpu")) {
        return Promise.reject(new Error("libcudart.so.11.0: cannot open shared object file\nstack..."));
      }
      tf.registerBackend(
        "tensorflow",
        () => new (tf.findBackend("cpu")!.constructor as new () => tf.KernelBackend)(),
      );
      return Promise.resolve();
    });
    try {
      const choice = await selectBackend("tensorflow", {
        tensorflow: { roots: [dir], denoDir: null, napiVersion: 10, ...spy },
      });
      assert.equal(choice.name, "tensorflow");
      assert.deepEqual(spy.calls, [
        "npm:@tensorflow/tfjs-node-gpu@4.22.0",
        "npm:@tensorflow/tfjs-node@4.22.0",
      ]);
    } finally {
      await selectBackend("cpu");
      tf.removeBackend("tensorflow");
    }

    // Loaded, but nothing registered the backend (two copies of tfjs would do that).
    const lost = importSpy();
    const auto = await selectBackend("auto", {
      autoOrder: ["tensorflow"],
      tensorflow: { roots: [dir], denoDir: null, napiVersion: 10, ...lost },
    });
    assert.equal(auto.name, "cpu");
    assert.deepEqual(lost.calls, [
      "npm:@tensorflow/tfjs-node-gpu@4.22.0",
      "npm:@tensorflow/tfjs-node@4.22.0",
    ]);
    assert.equal(auto.skipped.length, 1);
    assert.match(
      auto.skipped[0],
      /^tensorflow: @tensorflow\/tfjs-node-gpu@4\.22\.0 loaded but its tensorflow backend did not start \(.*tensorflow.*\); @tensorflow\/tfjs-node@4\.22\.0 loaded but its tensorflow backend did not start/,
    );
  });
});

Deno.test("defaultDenoDir() finds the folder `deno info` reports, and follows DENO_DIR and each platform's rule", async () => {
  const { stdout } = await new Deno.Command("deno", { args: ["info", "--json"], stdout: "piped" }).output();
  const info = JSON.parse(new TextDecoder().decode(stdout)) as { denoDir: string; npmCache: string };
  assert.equal(defaultDenoDir(), info.denoDir);
  assert.equal(join(info.denoDir, "npm"), info.npmCache);

  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  assert.equal(defaultDenoDir(env({ HOME: "/home/a", XDG_CACHE_HOME: "/xdg" }), "linux"), "/xdg/deno");
  assert.equal(
    defaultDenoDir(env({ HOME: "/home/a", XDG_CACHE_HOME: "rel" }), "linux"),
    "/home/a/.cache/deno",
  );
  assert.equal(defaultDenoDir(env({ HOME: "/Users/a" }), "darwin"), "/Users/a/Library/Caches/deno");
  assert.equal(
    defaultDenoDir(env({ LOCALAPPDATA: "C:\\Users\\a\\AppData\\Local" }), "windows"),
    join("C:\\Users\\a\\AppData\\Local", "deno"),
  );
  assert.equal(defaultDenoDir(env({ DENO_DIR: "/srv/deno", HOME: "/home/a" }), "linux"), "/srv/deno");
  assert.equal(defaultDenoDir(env({}), "linux"), undefined);
});
