import { assert } from "../_helpers.ts";
import { formatHelp } from "../../lib/cli/help.ts";
import { fieldToFlag, TrainConfigSchema } from "../../lib/config.ts";
import { runTrainCommand, TRAIN_FLAGS } from "../../lib/run/cli.ts";
import { ACTIVATIONS_HELP, runActivationsCommand } from "../../lib/run/activations_cli.ts";
import { HUB_HELP, runHubCommand } from "../../lib/run/hub_cli.ts";
import { REPORT_HELP, runReportCommand } from "../../lib/run/report.ts";

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
