import { assert } from "../_helpers.ts";
import { formatHelp } from "../../lib/cli/help.ts";
import { fieldToFlag, TrainConfigSchema } from "../../lib/config.ts";
import { runTrainCommand, TRAIN_FLAGS } from "../../lib/cli/train.ts";
import { ACTIVATIONS_HELP, runActivationsCommand } from "../../lib/cli/activations.ts";
import { HUB_HELP, runHubCommand } from "../../lib/cli/hub.ts";
import { REPORT_HELP, runReportCommand } from "../../lib/report/report.ts";
import { BENCH_HELP, BENCH_USAGE, runBenchCommand } from "../../lib/bench/benchmarks.ts";
import { FEATURES_HELP, runFeaturesCommand } from "../../lib/features/cli.ts";
import { runSweepCommand, SWEEP_HELP } from "../../lib/sweep/architectures.ts";
import { runSweepFileCommand, SWEEP_FILE_HELP } from "../../lib/sweep/workers.ts";
import { ARCH_NAMES } from "../../lib/sae/arch/registry.ts";

async function trainHelp(): Promise<string> {
  let text = "";
  assert.equal(await runTrainCommand(["--help"], { write: (t) => void (text += t) }), 0);
  return text;
}

/** The flags of a help text, from its flag column (`      --out DIR` or `  -h, --help`). */
function helpFlags(help: string): string[] {
  return [...help.matchAll(/^ {2}(?:-\w, | {4})--([a-z0-9-]+)/gm)].map((m) => m[1]);
}

/** The entry of `--flag`: its line and the wrapped lines under it, joined by single spaces. */
function entry(help: string, flag: string): string | undefined {
  const lines = help.split("\n");
  const start = lines.findIndex((line) => new RegExp(`^ {2}(?:-\\w, | {4})--${flag}( |$)`).test(line));
  if (start === -1) return undefined;
  let end = start + 1;
  while (end < lines.length && /^ {7,}\S/.test(lines[end])) end++;
  return lines.slice(start, end).map((line) => line.trim()).join(" ");
}

/** A default as written after its flag: `null`, `a,b`, `0.001`. */
function written(value: unknown): string {
  return value === null ? "null" : Array.isArray(value) ? value.join(",") : String(value);
}

Deno.test("train --help lists every configuration field with its description and its default", async () => {
  const help = await trainHelp();
  // The defaults come from parsing an empty configuration, not from the help's own reading of the schema.
  const defaults = TrainConfigSchema.parse({}) as Record<string, unknown>;
  const shape = TrainConfigSchema.shape as Record<string, { description?: string }>;
  const fields = Object.keys(shape);
  assert.ok(fields.length >= 60, `expected the whole schema, received ${fields.length} fields`);
  for (const field of fields) {
    const description = shape[field].description ?? "";
    assert.ok(description.trim().length > 0, `${field}: expected a .describe() text, received none`);
    const text = entry(help, fieldToFlag(field));
    assert.ok(text !== undefined, `--${fieldToFlag(field)}: expected in train --help, not found`);
    assert.ok(text.includes(description), `--${fieldToFlag(field)}: expected its description in "${text}"`);
    assert.ok(
      text.includes(`default ${written(defaults[field])})`),
      `--${fieldToFlag(field)}: expected "default ${written(defaults[field])}" in "${text}"`,
    );
  }
  // Hand-checked samples of the generated parts (placeholder, range, values).
  assert.match(entry(help, "lr")!, /^--lr X .*\(X > 0; default 0\.001\)$/);
  assert.match(entry(help, "threshold-decay")!, /\(0 ≤ X < 1; default 0\.99\)$/);
  assert.match(entry(help, "batch-size")!, /\(N ≥ 1; default 8192\)$/);
  assert.match(entry(help, "lr-schedule")!, /\(one of constant, warmup, cosine; default constant\)$/);
  for (const line of help.split("\n")) {
    assert.ok([...line].length <= 110, `expected lines of at most 110 characters, received "${line}"`);
  }
});

Deno.test("train --help lists every backend of the schema on the --backend entry, blas included", async () => {
  const help = await trainHelp();
  const names = TrainConfigSchema.shape.backend.unwrap().options;
  assert.ok(
    names.includes("blas"),
    `expected blas among the schema's backends, received ${names.join(", ")}`,
  );
  const text = entry(help, "backend")!;
  assert.ok(text.includes(`one of ${names.join(", ")};`), `expected every backend in "${text}"`);
});

Deno.test("every flag the train parser accepts is in train --help, and every flag there parses", async () => {
  const help = await trainHelp();
  const listed = helpFlags(help);
  const own = ["config", "out", "resume", "help", "tensorboard", "wandb", "wandb-project", "wandb-entity"];
  const expected = [...own, "wandb-name", ...Object.keys(TrainConfigSchema.shape).map(fieldToFlag)];
  assert.deepEqual([...listed].sort(), [...expected].sort());
  assert.deepEqual(Object.keys(TRAIN_FLAGS).sort(), [...expected].sort());
  for (const flag of listed) {
    const args = flag === "help" ? ["--help"] : [`--${flag}=x`, "--help"];
    assert.equal(await runTrainCommand(args, { write: () => {} }), 0, `--${flag}: expected to parse`);
  }
  await assert.rejects(
    () => runTrainCommand(["--no-such-flag=1", "--help"], { write: () => {} }),
    /Unknown option '--no-such-flag'/,
  );
});

Deno.test("activations, hub and report print their help from the table they parse", async () => {
  const commands = [
    ["activations", ACTIVATIONS_HELP, runActivationsCommand],
    ["hub", HUB_HELP, runHubCommand],
    ["report", REPORT_HELP, runReportCommand],
  ] as const;
  for (const [name, help, run] of commands) {
    let text = "";
    assert.equal(await run(["--help"], (t) => void (text += t)), 0);
    assert.equal(text, formatHelp(help), `${name}: expected the formatted help`);
    for (const group of help.groups) {
      for (const [flag, spec] of Object.entries(group.flags)) {
        const line = entry(text, flag);
        assert.ok(line?.includes(spec.description), `${name} --${flag}: expected its line, received ${line}`);
        const args = spec.type === "boolean" ? [`--${flag}`, "--help"] : [`--${flag}=x`, "--help"];
        assert.equal(await run(args, () => {}), 0, `${name} --${flag}: expected to parse`);
      }
    }
    await assert.rejects(async () => await run(["--no-such-flag", "--help"], () => {}), /no-such-flag/);
  }
});

/** A command line as the help tests run it: arguments and where its help goes, to its exit code. */
type Run = (args: string[], write: (text: string) => void) => Promise<number>;

const noProcesses = {
  bench: () => Promise.reject(new Error("no process expected with --help")),
  torch: () => Promise.reject(new Error("no process expected with --help")),
};

// The flags each parser accepted before its help came from its table, written out by hand.
const COMMANDS = [
  {
    name: "bench",
    help: BENCH_HELP,
    run: ((args, write) => runBenchCommand(args, { processes: noProcesses, write })) as Run,
    flags: [
      "batch",
      "d-in",
      "d-sae",
      "steps",
      "warmup",
      "rounds",
      "backend",
      "arch",
      "all-archs",
      "k",
      "l0",
      "backends",
      "json",
      "activations",
      "features",
      "tokens",
      "context-size",
      "windows-per-batch",
      "no-torch",
      "benchmarks-file",
      "help",
    ],
  },
  {
    name: "features",
    help: FEATURES_HELP,
    run: ((args, write) => runFeaturesCommand(args, { write })) as Run,
    flags: ["tokens", "static", "port", "host", "top-k", "backend", "help"],
  },
  {
    name: "sweep",
    help: SWEEP_HELP,
    run: ((args, write) => runSweepCommand(args, { write })) as Run,
    flags: [
      "source",
      "archs",
      "steps",
      "benchmarks-file",
      "out",
      "cache",
      "json",
      "quick",
      "backend",
      "help",
    ],
  },
  {
    name: "sweep --sweep FILE",
    help: SWEEP_FILE_HELP,
    run: ((args, write) => runSweepFileCommand(args, { write })) as Run,
    flags: [
      "sweep",
      "workers",
      "dir",
      "retry-failed",
      "worker",
      "worker-name",
      "run-index",
      "summary",
      "help",
    ],
  },
] as const;

Deno.test("bench, features and sweep --help list every flag their parsers accept, and every listed flag parses", async () => {
  for (const { name, help, run, flags } of COMMANDS) {
    let text = "";
    assert.equal(await run(["--help"], (t) => void (text += t)), 0, `${name} --help: expected exit code 0`);
    assert.equal(text, formatHelp(help), `${name}: expected the formatted help`);
    assert.deepEqual(helpFlags(text).sort(), [...flags].sort(), `${name}: expected every flag in\n${text}`);
    for (const line of text.split("\n")) {
      assert.ok(
        [...line].length <= 110,
        `${name}: expected lines of at most 110 characters, received "${line}"`,
      );
    }
    for (const group of help.groups) {
      for (const [flag, spec] of Object.entries(group.flags)) {
        const line = entry(text, flag);
        assert.ok(line?.includes(spec.description), `${name} --${flag}: expected its line, received ${line}`);
        const args = spec.type === "boolean" ? [`--${flag}`, "--help"] : [`--${flag}=x`, "--help"];
        assert.equal(await run(args, () => {}), 0, `${name} --${flag}: expected to parse`);
      }
    }
    // The parsers are strict: a flag outside the table is refused, even with --help.
    await assert.rejects(async () => await run(["--no-such-flag", "--help"], () => {}), /no-such-flag/);
  }
});

Deno.test("bench, features and sweep --help show the defaults and values their parsers apply", async () => {
  const texts = new Map<string, string>();
  for (const { name, run } of COMMANDS) {
    let text = "";
    await run(["--help"], (t) => void (text += t));
    texts.set(name, text);
  }
  const bench = texts.get("bench")!, features = texts.get("features")!;
  const sweep = texts.get("sweep")!, sweepFile = texts.get("sweep --sweep FILE")!;
  assert.equal(bench, BENCH_USAGE + "\n");
  // bench: the step's size 4096 × 512 → 4096, 5 timed steps after 1, 3 rounds; TopK with k 32.
  assert.match(entry(bench, "batch")!, /^--batch B .*\(default 4096\)$/);
  assert.match(entry(bench, "d-in")!, /\(default 512\)$/);
  assert.match(entry(bench, "d-sae")!, /\(default 4096\)$/);
  assert.match(entry(bench, "steps")!, /\(default 5\)$/);
  assert.match(entry(bench, "warmup")!, /\(default 1\)$/);
  assert.match(entry(bench, "rounds")!, /\(default 3\)$/);
  assert.match(entry(bench, "k")!, /\(default 32\)$/);
  assert.match(
    entry(bench, "arch")!,
    /\(one of relu, relu-april, topk, batchtopk, jumprelu, gated, matryoshka; default relu\)$/,
  );
  assert.match(entry(bench, "tokens")!, /\(default 131072\)$/);
  assert.match(entry(bench, "benchmarks-file")!, /\(default BENCHMARKS\.md\)$/);
  assert.match(
    entry(bench, "backend")!,
    /\(one of auto, cpu, blas, wasm, webgpu, tensorflow; default auto\)$/,
  );
  assert.equal(entry(bench, "json")!.includes("default"), false, "a switch's default false is not shown");
  // features: 131,072 positions, the top 20, port 8700 on 127.0.0.1.
  assert.match(entry(features, "tokens")!, /\(default 131072\)$/);
  assert.match(entry(features, "top-k")!, /\(default 20\)$/);
  assert.match(entry(features, "port")!, /\(default 8700, or any free port if taken\)$/);
  assert.match(entry(features, "host")!, /\(default 127\.0\.0\.1\)$/);
  // sweep: 600 steps on the toy source and 150 on stories260K (40 and 6 with --quick).
  assert.match(entry(sweep, "steps")!, /\(default 600 on toy, 150 on stories; 40 and 6 with --quick\)$/);
  assert.match(entry(sweep, "source")!, /\(one of toy, stories, both; default both\)$/);
  assert.ok(entry(sweep, "archs")!.includes(ARCH_NAMES.join(", ")), `expected every architecture in --archs`);
  assert.match(sweep, /"## Architecture sweep/);
  assert.match(entry(sweepFile, "workers")!, /\(default 1\)$/);
  assert.match(entry(sweepFile, "dir")!, /\(default runs\/sweep-<name>\)$/);
  // The sweep file's example keeps its layout.
  assert.match(
    sweepFile,
    /\n {2}\{ "name": "l1", "method": "grid" \| "random", "count": 8, "seed": 0,\n {4}"base"/,
  );
});

Deno.test("deno task sweep --help prints the built-in sweep's flags, then the sweep file's", async () => {
  const output = await new Deno.Command("deno", {
    args: ["run", "--allow-read", "--allow-env", "--allow-ffi", "--allow-sys", "tasks/sweep.ts", "--help"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, `tasks/sweep.ts --help: ${text}`);
  assert.equal(text, formatHelp(SWEEP_HELP) + "\n" + formatHelp(SWEEP_FILE_HELP));
});

Deno.test("make-corpus and notebook answer --help with their flags", async () => {
  const cases = [
    ["tasks/make_corpus.ts", [
      "stories",
      "batch",
      "max-tokens",
      "temperature",
      "seed",
      "backend",
      "out",
      "help",
    ]],
    ["tasks/notebook.ts", ["out", "help"]],
  ] as const;
  for (const [file, flags] of cases) {
    const output = await new Deno.Command("deno", {
      args: ["run", "--allow-read", "--allow-env", "--allow-ffi", "--allow-sys", file, "--help"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(output.stdout);
    assert.equal(output.code, 0, `${file} --help: ${new TextDecoder().decode(output.stderr)}`);
    assert.deepEqual(helpFlags(text).sort(), [...flags].sort(), `${file}: expected every flag in\n${text}`);
  }
});

Deno.test("formatHelp() lays out a hand-written table as written by hand", () => {
  const text = formatHelp({
    usage: ["deno task demo [--size N] FILE"],
    about: [
      "Counts the words of FILE and prints the most frequent ones first.",
      "  deno task demo a.txt\n  deno task demo --size 3 a.txt",
    ],
    groups: [
      {
        title: "Input",
        flags: {
          size: { type: "string", value: "N", default: "10", range: "N ≥ 1", description: "Words to print" },
          mode: {
            type: "string",
            value: "NAME",
            choices: ["words", "lines"],
            default: "words",
            description: "What to count",
          },
          "fold-case-before-counting-words": {
            type: "boolean",
            default: false,
            description: "Count The and the as one word",
          },
        },
      },
      {
        title: "Other",
        flags: {
          lang: { type: "string", value: "CODE", required: true, description: "Language of the text" },
          help: { type: "boolean", short: "h", description: "Print this help" },
        },
      },
    ],
    after: ["Exit status 0 when FILE was read."],
  }, 60);
  // The widest flag (39 characters) is wider than 38, so descriptions start at column 38 + 2 = 40 and
  // that flag's goes on the next line; descriptions wrap at 60 - 40 = 20 characters.
  const expected = [
    "deno task demo [--size N] FILE",
    "",
    "Counts the words of FILE and prints the most frequent ones",
    "first.",
    "",
    "  deno task demo a.txt",
    "  deno task demo --size 3 a.txt",
    "",
    "Input:",
    "      --size N                          Words to print (N ≥",
    "                                        1; default 10)",
    "      --mode NAME                       What to count (one",
    "                                        of words, lines;",
    "                                        default words)",
    "      --fold-case-before-counting-words",
    "                                        Count The and the as",
    "                                        one word",
    "",
    "Other:",
    "      --lang CODE                       Language of the text",
    "                                        (required)",
    "  -h, --help                            Print this help",
    "",
    "Exit status 0 when FILE was read.",
    "",
  ].join("\n");
  assert.equal(text, expected);
});
