/**
 * `deno task report` on a run folder whose metrics.jsonl ends in a torn line
 * (a run stopped while writing it): the line is ignored with a warning that
 * names the file; a bad line before the last is still an error naming it.
 */
import { assert } from "../_helpers.ts";
import { runReportCommand } from "../../lib/report/report.ts";

Deno.test("deno task report ignores a torn last metrics line with a warning, and refuses a bad line before it", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify({ steps: 4 }));
  const whole = '{"step":2,"loss/total/a":0.5,"loss/total/mean":0.5}\n';
  await Deno.writeTextFile(`${dir}/metrics.jsonl`, whole + '{"step":4,"loss/total/a":0.2');
  let text = "";
  assert.equal(await runReportCommand([dir], (t) => void (text += t)), 0);
  assert.equal(
    text,
    `warning: ${dir}/metrics.jsonl line 2: ignored a torn last line (a run stopped while writing it): ` +
      `{"step":4,"loss/total/a":0.2\n` +
      `report: ${dir}/report.html (open file://${
        encodeURI(dir.startsWith("/") ? dir : `${Deno.cwd()}/${dir}`)
      }/report.html)\n`,
  );
  assert.ok((await Deno.readTextFile(`${dir}/report.html`)).includes("<html"));
  // The metrics file itself is left as it is: the report only reads it.
  assert.equal(await Deno.readTextFile(`${dir}/metrics.jsonl`), whole + '{"step":4,"loss/total/a":0.2');

  await Deno.writeTextFile(`${dir}/metrics.jsonl`, '{"step":2\n' + whole);
  await assert.rejects(() => runReportCommand([dir], () => {}), {
    name: "SyntaxError",
    message: new RegExp(
      `^${dir}/metrics\\.jsonl line 1: expected a JSON object, received "\\{\\\\"step\\\\":2"`,
    ),
  });
  await Deno.remove(dir, { recursive: true });
});
