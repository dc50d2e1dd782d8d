import { assert } from "../_helpers.ts";
import { every, pipeSteps, when } from "../../lib/train/compose.ts";

Deno.test("pipeSteps() applies steps left to right with the same batch", () => {
  const step = pipeSteps<string, string>((s, b) => s + b, (s, b) => s + b.toUpperCase());
  assert.equal(step("x", "y"), "xyY");
  assert.equal(pipeSteps<number, number>()(5, 1), 5);
});

Deno.test("when() runs its step only while the predicate holds", () => {
  const step = when<number, null>((s) => s % 2 === 0, (s) => s + 1);
  assert.equal(step(2, null), 3);
  assert.equal(step(3, null), 3);
});

Deno.test("every() runs its step on multiples of n of the completed step count, never at 0", () => {
  const hits: number[] = [];
  const step = every<{ step: number }, null>(3, (s) => {
    hits.push(s.step);
    return s;
  });
  for (let i = 0; i <= 10; i++) step({ step: i }, null);
  assert.deepEqual(hits, [3, 6, 9]);
  assert.throws(
    () => every(0, (s: { step: number }) => s),
    /every: expected a positive integer interval, received 0/,
  );
});
