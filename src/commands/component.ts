import { readFileSync } from 'node:fs';
import { checkFlags, jsonArg, parseArgs, str } from '../args.js';
import { fail, InputError, internalError } from '../errors.js';
import { component } from '../component.js';
import { fmt } from '../format.js';

export const usage = `moments component <block> --params '{…}' --input '{mean,var,r}' [--grad '{var,r}'] [--json]
moments component --batch REQ.jsonl [--json] [--formula paper]
  One block's forward/backward moments. Batch: one request per line
  {"block","params","input","grad"} → one JSON answer per line, same order: answer k is line k's
  ({"error": "line k: ..."} for a bad line — malformed JSON, an invalid request or a blank line
  before the last request — the other lines are answered as usual; exit code 2 if any line was bad).`;

export function run(argv: string[]): number {
  const a = parseArgs(argv, ['json']);
  checkFlags(a, ['params', 'input', 'grad', 'json', 'batch', 'formula']);
  const fs = str(a, 'formula') ?? 'ours';
  if (fs !== 'ours' && fs !== 'paper') fail('--formula', `must be ours or paper, got ${fs}`);
  const batch = str(a, 'batch');
  if (batch !== undefined) {
    let text: string;
    try { text = batch === '-' ? readFileSync(0, 'utf8') : readFileSync(batch, 'utf8'); } catch { fail('--batch', `cannot read file '${batch}'`); }
    const lines = text.split('\n');
    // trailing blank lines end the file; a blank line between requests is a bad line (answered with
    // an error, so answer k is always line k's)
    let end = lines.length;
    while (end > 0 && !lines[end - 1].trim()) end--;
    lines.length = end;
    const out: string[] = [];
    let bad = 0, internal = 0;
    lines.forEach((line, i) => {
      try {
        if (!line.trim()) throw new InputError(`line ${i + 1}`, 'is empty (one request per line; blank lines are allowed only at the end)');
        let req: unknown;
        try { req = JSON.parse(line); } catch (e) { throw new InputError(`line ${i + 1}`, `is not valid JSON (${(e as Error).message})`); }
        out.push(JSON.stringify(component(req, '', fs)));
      } catch (e) {
        if (!(e instanceof InputError)) {
          // a bug on this line: answered in its place, the other lines still are; exit code 70
          if (process.env.MOMENTS_DEBUG) throw e;
          internal++;
          out.push(JSON.stringify({ error: `line ${i + 1}: ${internalError(e)}` }));
          return;
        }
        bad++;
        out.push(JSON.stringify({ error: e.field.startsWith('line') ? e.message : `line ${i + 1}: ${e.message}` }));
      }
    });
    process.stdout.write(out.join('\n') + (out.length ? '\n' : ''));
    if (bad || internal) process.stderr.write(`error: ${[bad ? `${bad} of ${out.length} requests were invalid` : '', internal ? `${internal} of ${out.length} failed with an internal error` : ''].filter(Boolean).join(', ')} (see their "error" answers)\n`);
    return internal ? 70 : bad ? 2 : 0;
  }
  const block = a._[0];
  if (!block) fail('block', 'is required: moments component <block> --params ... (or --batch FILE)');
  if (a._.length > 1) fail('block', `takes one block name, got ${a._.map((x) => `'${x}'`).join(', ')}`);
  // (undefined when the flag is absent; an explicit null is validated as the API does: not an object)
  const ans = component({ block, params: jsonArg(a, 'params'), input: jsonArg(a, 'input'), grad: jsonArg(a, 'grad') }, '', fs);
  if (a.flags.json) { process.stdout.write(JSON.stringify(ans) + '\n'); return 0; }
  process.stdout.write(`${block}: mean ${fmt(ans.mean)}  var ${fmt(ans.var)}  r ${fmt(ans.r)}  gradVar ${fmt(ans.gradVar)}  gradR ${fmt(ans.gradR)}  [${ans.method}]\n`);
  for (const w of ans.warnings) process.stdout.write(`warning: ${w}\n`);
  return 0;
}
