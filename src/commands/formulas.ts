import { checkFlags, parseArgs } from '../args.js';
import { formulas, formulaText } from '../symbolic.js';

export const usage = `moments formulas [block] [--tex] [--json]
  Print the catalogue (or one block): formulas simplified, as text or LaTeX, with source,
  assumptions, validity domain and method.`;

export function run(argv: string[]): number {
  const a = parseArgs(argv, ['tex', 'json']);
  checkFlags(a, ['tex', 'json']);
  const list = formulas(a._[0]);
  if (a.flags.json) { process.stdout.write(JSON.stringify(a._[0] ? list[0] : list) + '\n'); return 0; }
  process.stdout.write(list.map((e) => formulaText(e, Boolean(a.flags.tex))).join('\n\n') + '\n');
  return 0;
}
