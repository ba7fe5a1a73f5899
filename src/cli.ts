/** CLI entry: `moments <command> ...`. Bad input → `error: <field>: <message>`, exit code 2. */
import { InputError } from './errors.js';
import * as predict from './commands/predict.js';
import * as component from './commands/component.js';
import * as formulas from './commands/formulas.js';
import * as advise from './commands/advise.js';
import * as schemes from './commands/schemes.js';
import * as limits from './commands/limits.js';
import * as verify from './commands/verify.js';
import * as tui from './commands/tui.js';

interface Command { usage: string; run(argv: string[]): number | Promise<number> }

export const COMMANDS: Record<string, Command> = { predict, component, formulas, verify };
COMMANDS.tui = tui;
Object.assign(COMMANDS, { advise, schemes, limits });

function help(): string {
  return `signal-moments — predict and verify how signals move through a transformer at initialisation\n\nusage:\n${Object.values(COMMANDS).map((c) => '  ' + c.usage.split('\n').join('\n  ')).join('\n\n')}\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') { process.stdout.write(help()); return 0; }
  const c = COMMANDS[cmd];
  if (!c) { process.stderr.write(`error: command: unknown command '${cmd}' (one of ${Object.keys(COMMANDS).join(', ')})\n`); return 2; }
  if (rest.includes('--help')) { process.stdout.write(c.usage + '\n'); return 0; }
  try {
    return await c.run(rest);
  } catch (e) {
    if (e instanceof InputError) { process.stderr.write(`error: ${e.message}\n`); return 2; }
    throw e;
  }
}
