/**
 * `deno task bench`: the reference SAE step, saekit against PyTorch.
 *
 *   deno task bench                        # rounds of saekit (blas) and PyTorch, table into BENCHMARKS.md
 *   deno task bench --backends blas,wasm   # more saekit backends in the table
 *   deno task bench --batch 4096 --d-in 512 --d-sae 4096 --steps 5 --json
 *                                          # one in-process measurement; last line is JSON
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { BackendName } from "../lib/tf.ts";
import {
  type BenchRow,
  cpuModel,
  findTorchPython,
  formatBenchTable,
  measureActivationGeneration,
  measureStep,
  runJson,
} from "../lib/run/bench.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    batch: { type: "string", default: "4096" },
    "d-in": { type: "string", default: "512" },
    "d-sae": { type: "string", default: "4096" },
    steps: { type: "string", default: "5" },
    warmup: { type: "string", default: "1" },
    rounds: { type: "string", default: "3" },
    backend: { type: "string", default: "auto" },
    arch: { type: "string", default: "relu" },
    k: { type: "string", default: "32" },
    backends: { type: "string", default: "blas" },
    json: { type: "boolean", default: false },
    activations: { type: "boolean", default: false },
    "context-size": { type: "string", default: "128" },
    "windows-per-batch": { type: "string", default: "16" },
    "no-torch": { type: "boolean", default: false },
    out: { type: "string", default: "BENCHMARKS.md" },
  },
});

function positive(flag: string): number {
  const value = Number(values[flag as keyof typeof values]);
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(
      `--${flag}: expected a positive integer, received ${values[flag as keyof typeof values]}`,
    );
  }
  return value;
}

const size = { batch: positive("batch"), dIn: positive("d-in"), dSae: positive("d-sae") };
const steps = positive("steps"), warmup = Number(values.warmup), rounds = positive("rounds");

if (values.activations) {
  // Activation generation on stories260K; with --json, one in-process measurement.
  const options = {
    contextSize: positive("context-size"),
    windowsPerBatch: positive("windows-per-batch"),
    batches: steps,
  };
  if (values.json) {
    console.log(
      JSON.stringify(
        await measureActivationGeneration({ ...options, backend: values.backend as BackendName }),
      ),
    );
    Deno.exit(0);
  }
  const lines = [
    "| backend | tokens/s (per round) | median tokens/s | peak RSS (MB) |",
    "| --- | --- | ---: | ---: |",
  ];
  for (const backend of values.backends.split(",").map((b) => b.trim()).filter(Boolean)) {
    const runs = [];
    for (let round = 0; round < rounds; round++) {
      runs.push(
        await runJson(Deno.execPath(), [
          ...[
            "run",
            "--allow-read",
            "--allow-write",
            "--allow-env",
            "--allow-ffi",
            "--allow-sys",
            "--allow-run",
          ],
          new URL(import.meta.url).pathname,
          "--activations",
          "--json",
          "--backend",
          backend,
          "--steps",
          `${steps}`,
          "--context-size",
          `${options.contextSize}`,
          "--windows-per-batch",
          `${options.windowsPerBatch}`,
        ]),
      );
    }
    const rates = runs.map((r) => Number(r.tokens_per_s)).sort((a, b) => a - b);
    lines.push(
      `| ${runs[0].backend} | ${rates.join(", ")} | ${rates[Math.floor(rates.length / 2)]} | ${
        Math.max(...runs.map((r) => Number(r.peak_rss_mb)))
      } |`,
    );
  }
  const section =
    `## Activation generation: stories260K, 5 residual streams, windows of ${options.contextSize}

- date: ${new Date().toISOString().slice(0, 10)}
- machine: ${await cpuModel()}, ${navigator.hardwareConcurrency} cores
- command: \`deno task bench ${
      Deno.args.join(" ")
    }\` (${rounds} rounds; each times ${steps} forward passes of ${options.windowsPerBatch} windows after one untimed)

${lines.join("\n")}

Tokens per second counts every position whose activations reach host memory (all five hooks per token).
`;
  console.log(section);
  let existing = "# Benchmarks\n\nWritten by `deno task bench`; newest first.\n";
  try {
    existing = await Deno.readTextFile(values.out);
  } catch {
    // first report
  }
  const [head, ...rest] = existing.split(/\n(?=## )/);
  await Deno.writeTextFile(
    values.out,
    [head.trimEnd(), section.trimEnd(), ...rest.map((x) => x.trimEnd())].join("\n\n") + "\n",
  );
  Deno.exit(0);
}

if (values.json) {
  const result = await measureStep({
    ...size,
    steps,
    warmup,
    backend: values.backend as BackendName,
    architecture: values.arch as "relu" | "topk",
    k: positive("k"),
  });
  console.log(JSON.stringify(result));
  Deno.exit(0);
}

const arch = values.arch === "topk" ? "topk" : "relu";
const sizeArgs = [
  ...["--batch", `${size.batch}`, "--d-in", `${size.dIn}`, "--d-sae", `${size.dSae}`],
  ...["--arch", arch, "--k", `${positive("k")}`],
];
const self = new URL(import.meta.url).pathname;
const denoArgs = ["run", "--allow-read", "--allow-write", "--allow-env", "--allow-ffi", "--allow-sys", self];
const python = values["no-torch"] ? undefined : await findTorchPython();
const torchScript = new URL("./baselines/torch_sae_step.py", import.meta.url).pathname;
const backends = values.backends.split(",").map((b) => b.trim()).filter(Boolean);
const rows = new Map<string, { medians: number[]; peakRss: number }>();
const record = (label: string, r: Record<string, unknown>) => {
  const row = rows.get(label) ?? { medians: [], peakRss: 0 };
  row.medians.push(Number(r.median_ms));
  row.peakRss = Math.max(row.peakRss, Number(r.peak_rss_mb));
  rows.set(label, row);
};
let torchInfo = "";
for (let round = 1; round <= rounds; round++) {
  for (const backend of backends) {
    const r = await runJson(Deno.execPath(), [
      ...denoArgs,
      ...sizeArgs,
      "--steps",
      `${steps}`,
      "--warmup",
      `${warmup}`,
      "--json",
      "--backend",
      backend,
    ]);
    record(`saekit (${r.backend})`, r);
    console.error(`round ${round}: saekit ${r.backend} ${r.median_ms} ms`);
  }
  if (python) {
    const r = await runJson(python, [
      torchScript,
      ...sizeArgs,
      "--steps",
      `${steps}`,
      "--warmup",
      `${warmup}`,
    ]);
    record("PyTorch", r);
    torchInfo = `PyTorch ${r.torch} with ${r.blas} BLAS on ${r.threads} threads`;
    console.error(`round ${round}: PyTorch ${r.median_ms} ms`);
  }
}
const table = formatBenchTable(
  [...rows].map(([label, r]) =>
    ({ label, medians: r.medians, peakRss: r.peakRss, batch: size.batch }) as BenchRow
  ),
  python ? "PyTorch" : undefined,
);
const cpu = await cpuModel();
const machine = `${cpu}, ${navigator.hardwareConcurrency} cores, ${
  Math.round(Deno.systemMemoryInfo().total / 2 ** 30)
} GiB`;
const command = `deno task bench ${Deno.args.join(" ")}`.trim();
const archLabel = arch === "topk" ? `TopK k=${positive("k")}, MSE, Adam` : "ReLU, L1, Adam";
const report = `## SAE training step: batch ${size.batch}, dIn ${size.dIn}, dSae ${size.dSae} (${archLabel})

- date: ${new Date().toISOString().slice(0, 10)}
- machine: ${machine}
- command: \`${command}\` (${rounds} rounds, interleaved; each round times ${steps} steps after ${warmup} warm-up)
- Deno ${Deno.version.deno}; ${torchInfo || "no PyTorch found"}

${table}

"speed vs PyTorch" is PyTorch's median step time over saekit's (above 1: saekit is faster). The spread is
the range of the per-round medians. Peak RSS is the whole process's (VmHWM).
`;
console.log(report);
const out = values.out;
let existing = "";
try {
  existing = await Deno.readTextFile(out);
} catch {
  existing = "# Benchmarks\n\nWritten by `deno task bench`; newest first.\n";
}
const [head, ...rest] = existing.split(/\n(?=## )/);
await Deno.writeTextFile(
  out,
  [head.trimEnd(), report.trimEnd(), ...rest.map((s) => s.trimEnd())].join("\n\n") + "\n",
);
console.error(`wrote ${out}`);
