/** CLI entry: `moments <command> ...`. Bad input → `error: <field>: <message>`, exit code 2.
 * Commands load lazily, so `predict` does not pay for TF.js or ink. */
import { InputError, internalError } from './errors.js';

interface Command { usage: string; run(argv: string[]): number | Promise<number> }

export const COMMANDS: Record<string, () => Promise<Command>> = {
  predict: () => import('./commands/predict.js'),
  component: () => import('./commands/component.js'),
  formulas: () => import('./commands/formulas.js'),
  verify: () => import('./commands/verify.js'),
  advise: () => import('./commands/advise.js'),
  schemes: () => import('./commands/schemes.js'),
  limits: () => import('./commands/limits.js'),
  tui: () => import('./commands/tui.js'),
};

async function help(): Promise<string> {
  const usages = await Promise.all(Object.values(COMMANDS).map(async (load) => (await load()).usage));
  return `signal-moments — predict and verify how signals move through a transformer at initialisation\n\nusage:\n${usages.map((u) => '  ' + u.split('\n').join('\n  ')).join('\n\n')}\n`;
}

// `moments … | head` closes stdout early: end quietly instead of crashing on EPIPE.
process.stdout.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'EPIPE') process.exit(0); throw e; });

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') { process.stdout.write(await help()); return 0; }
  const load = COMMANDS[cmd];
  if (!load) { process.stderr.write(`error: command: unknown command '${cmd}' (one of ${Object.keys(COMMANDS).join(', ')})\n`); return 2; }
  const c = await load();
  if (rest.includes('--help')) { process.stdout.write(c.usage + '\n'); return 0; }
  try {
    return await c.run(rest);
  } catch (e) {
    if (e instanceof InputError) { process.stderr.write(`error: ${e.message}\n`); return 2; }
    // a bug, not bad input: one line too (MOMENTS_DEBUG=1 rethrows, with the stack), exit code 70
    if (process.env.MOMENTS_DEBUG) throw e;
    process.stderr.write(`error: ${internalError(e)}\n`);
    return 70;
  }
}

