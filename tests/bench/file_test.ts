import assert from "node:assert/strict";
import {
  addBenchmarkRun,
  BENCHMARKS_HEAD,
  benchmarkSections,
  formatBenchmarkSection,
  formatRunHeading,
  writeBenchmarkRun,
} from "../../lib/bench/file.ts";

// A file in the format: a head, then three sections. The step section holds two runs; the sweep's runs
// have #### sub-headings; a fenced block holds a line that looks like a section heading; the sections end
// with different blank lines, which must survive.
const head = "# Benchmarks\n\nhead text\n";
const step = "## Step\n\nWritten by `deno task bench`.\n\n" +
  "### Run of 2026-11-27 — cpu A — `deno task bench --rounds 5`\n\n- 5 rounds\n\n| x |\n| ---: |\n| 361 |\n\n" +
  "### Run of 2026-11-26 — cpu A — `deno task bench`\n\n| x |\n| ---: |\n| 438 |\n\n";
const sweep = "## Sweep\n\nWritten by `deno task sweep`.\n\n" +
  "### Run of 2026-11-27 — cpu B — `deno task sweep`\n\n#### toy\n\n| a |\n| --- |\n| 1 |\n\n" +
  "```\n## not a section\n```\n\n\n";
const last =
  "## Last\n\nabout last\n\n### Run of 2026-11-20 — cpu C — `deno task bench --activations`\n\nbody\n";
const file = head + "\n" + step + sweep + last;

const newRun = {
  date: "2026-12-02",
  machine: "cpu D, 2 cores",
  command: "deno task bench --rounds 3",
  body: "| x |\n| ---: |\n| 350 |",
};

Deno.test("formatRunHeading() names the date, the machine and the command", () => {
  assert.equal(
    formatRunHeading(newRun),
    "### Run of 2026-12-02 — cpu D, 2 cores — `deno task bench --rounds 3`",
  );
});

Deno.test("benchmarkSections() finds the sections outside fenced code and counts their runs", () => {
  assert.deepEqual(benchmarkSections(file), [
    { heading: "Step", runs: 2 },
    { heading: "Sweep", runs: 1 },
    { heading: "Last", runs: 1 },
  ]);
});

Deno.test("addBenchmarkRun() puts the run first in its section and keeps the earlier runs and other sections byte for byte", () => {
  const after = addBenchmarkRun(file, { heading: "Step", about: "Written by `deno task bench`." }, newRun);
  const block =
    "### Run of 2026-12-02 — cpu D, 2 cores — `deno task bench --rounds 3`\n\n| x |\n| ---: |\n| 350 |\n\n";
  // The new run goes right after the about text; everything before and after is the old text.
  const at = head.length + 1 + "## Step\n\nWritten by `deno task bench`.\n\n".length;
  assert.equal(after, file.slice(0, at) + block + file.slice(at));
  assert.ok(after.endsWith(step.slice(step.indexOf("### Run of 2026-11-27")) + sweep + last));
  assert.deepEqual(benchmarkSections(after).map((s) => s.runs), [3, 1, 1]);
  // Newest first: the three runs of Step in order 12-02, 11-27, 11-26.
  const dates = [...after.matchAll(/^### Run of (\S+)/gm)].map((m) => m[1]).slice(0, 3);
  assert.deepEqual(dates, ["2026-12-02", "2026-11-27", "2026-11-26"]);
});

Deno.test("addBenchmarkRun() adds to a section in the middle and to the last one, keeping the rest", () => {
  const middle = addBenchmarkRun(file, { heading: "Sweep", about: "Written by `deno task sweep`." }, {
    ...newRun,
    command: "deno task sweep",
    body: "#### toy\n\n| a |\n| --- |\n| 2 |",
  });
  const sweepAt = middle.indexOf("## Sweep"), lastAt = middle.indexOf("## Last");
  assert.equal(middle.slice(0, sweepAt), head + "\n" + step);
  assert.equal(middle.slice(lastAt), last);
  assert.equal(
    middle.slice(sweepAt, lastAt),
    "## Sweep\n\nWritten by `deno task sweep`.\n\n" +
      "### Run of 2026-12-02 — cpu D, 2 cores — `deno task sweep`\n\n#### toy\n\n| a |\n| --- |\n| 2 |\n\n" +
      sweep.slice(sweep.indexOf("### Run of")),
  );
  // The last section: the file's end is the old run, still ending with one newline.
  const end = addBenchmarkRun(file, { heading: "Last", about: "about last" }, newRun);
  assert.equal(end.slice(0, end.indexOf("## Last")), head + "\n" + step + sweep);
  assert.ok(end.endsWith("\n\n### Run of 2026-11-20 — cpu C — `deno task bench --activations`\n\nbody\n"));
});

Deno.test("addBenchmarkRun() replaces only the about text, the writer's description of the section", () => {
  const after = addBenchmarkRun(file, { heading: "Step", about: "New columns explained." }, newRun);
  assert.ok(after.includes("## Step\n\nNew columns explained.\n\n### Run of 2026-12-02"));
  assert.ok(!after.includes("Written by `deno task bench`."));
  assert.ok(after.includes("| 361 |") && after.includes("| 438 |"));
});

Deno.test("addBenchmarkRun() appends a section the file lacks, and starts a new file with the head", () => {
  const section = { heading: "Feature statistics: m, 1 components × 2 features, 3 tokens", about: "About." };
  const after = addBenchmarkRun(file, section, newRun);
  assert.equal(
    after,
    file + "\n## Feature statistics: m, 1 components × 2 features, 3 tokens\n\nAbout.\n\n" +
      "### Run of 2026-12-02 — cpu D, 2 cores — `deno task bench --rounds 3`\n\n| x |\n| ---: |\n| 350 |\n",
  );
  assert.equal(
    addBenchmarkRun("", section, newRun),
    BENCHMARKS_HEAD + "\n" + formatBenchmarkSection(section, newRun),
  );
  // A heading that only starts like an existing one is another section.
  assert.deepEqual(
    benchmarkSections(addBenchmarkRun(file, { heading: "Step 2", about: "" }, newRun)).map((s) => s.heading),
    ["Step", "Sweep", "Last", "Step 2"],
  );
});

Deno.test("addBenchmarkRun() refuses text outside runs and headings that would open a section or a run", () => {
  const handWritten = "# B\n\n## Step\n\n- date: 2026-11-27\n\n| x |\n| --- |\n| 1 |\n";
  assert.throws(
    () => addBenchmarkRun(handWritten, { heading: "Step", about: "About." }, newRun),
    /section "## Step": expected its earlier runs under "### Run of …" headings, received text outside any run/,
  );
  // A section holding only its about text takes the run.
  assert.equal(
    addBenchmarkRun("# B\n\n## Step\n\nAbout.\n\n## C\n\nc\n", { heading: "Step", about: "About." }, newRun),
    "# B\n\n## Step\n\nAbout.\n\n### Run of 2026-12-02 — cpu D, 2 cores — `deno task bench --rounds 3`\n\n" +
      "| x |\n| ---: |\n| 350 |\n\n## C\n\nc\n",
  );
  assert.throws(
    () => addBenchmarkRun(file, { heading: "Step", about: "" }, { ...newRun, body: "### toy\n\nx" }),
    /run of 2026-12-02: body: expected headings of level 4 or deeper \(#### …\), received the line "### toy"/,
  );
  assert.throws(
    () => addBenchmarkRun(file, { heading: "Step", about: "## Other" }, newRun),
    /about: expected headings of level 4 or deeper/,
  );
  assert.throws(
    () => addBenchmarkRun(file, { heading: "Step", about: "" }, { ...newRun, command: "a\nb" }),
    /run command: expected one non-empty line, received "a\\nb"/,
  );
});

Deno.test("writeBenchmarkRun() creates the file, then adds runs newest first", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/BENCHMARKS.md`;
  const section = { heading: "Step", about: "About." };
  await writeBenchmarkRun(path, section, { ...newRun, date: "2026-12-01", body: "first" });
  const text = await writeBenchmarkRun(path, section, { ...newRun, body: "second" });
  assert.equal(await Deno.readTextFile(path), text);
  assert.ok(text.startsWith(BENCHMARKS_HEAD + "\n## Step\n\nAbout.\n\n### Run of 2026-12-02"));
  assert.ok(text.indexOf("\nsecond\n") < text.indexOf("### Run of 2026-12-01"));
  assert.ok(
    text.endsWith("### Run of 2026-12-01 — cpu D, 2 cores — `deno task bench --rounds 3`\n\nfirst\n"),
  );
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["BENCHMARKS.md"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("BENCHMARKS.md holds every section's runs under run headings, so a writer can add to each", async () => {
  const text = await Deno.readTextFile(new URL("../../BENCHMARKS.md", import.meta.url));
  const sections = benchmarkSections(text);
  assert.ok(sections.length >= 5, `expected the five benchmark sections, received ${sections.length}`);
  for (const { heading, runs } of sections) {
    assert.ok(runs >= 1, `## ${heading}: expected at least one run, received none`);
    // The section's about text is its text before the first run; adding a run keeps the rest.
    const start = text.indexOf(`## ${heading}\n`);
    const firstRun = text.indexOf("\n### Run of ", start);
    const about = text.slice(text.indexOf("\n", start), firstRun).trim();
    const after = addBenchmarkRun(text, { heading, about }, newRun);
    assert.equal(after.length, text.length + formatRunHeading(newRun).length + newRun.body.length + 4);
    assert.deepEqual(
      benchmarkSections(after).map((s) => s.runs),
      sections.map((s) => s.heading === heading ? s.runs + 1 : s.runs),
    );
  }
});
