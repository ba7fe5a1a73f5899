/** Minimal argv parser: `--flag`, `--key value`, `--key=value`, positionals. */
import { fail } from './errors.js';
import { readFileSync } from 'node:fs';

export interface Args { _: string[]; flags: Record<string, string | true> }

export function parseArgs(argv: string[], booleans: readonly string[] = []): Args {
  const out: Args = { _: [], flags: {} };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq > 0) { out.flags[a.slice(2, eq)] = a.slice(eq + 1); continue; }
      const k = a.slice(2);
      if (booleans.includes(k) || i + 1 >= argv.length || argv[i + 1].startsWith('--')) out.flags[k] = true;
      else out.flags[k] = argv[++i];
    } else out._.push(a);
  }
  return out;
}

export function checkFlags(a: Args, allowed: readonly string[]): void {
  for (const k of Object.keys(a.flags)) if (!allowed.includes(k)) fail(`--${k}`, `unknown option (allowed: ${allowed.map((x) => `--${x}`).join(', ')})`);
}

export function str(a: Args, k: string): string | undefined {
  const v = a.flags[k];
  if (v === undefined) return undefined;
  if (v === true) fail(`--${k}`, 'needs a value');
  return v;
}

export function jsonArg(a: Args, k: string): unknown {
  const v = str(a, k);
  if (v === undefined) return undefined;
  try { return JSON.parse(v); } catch (e) { fail(`--${k}`, `is not valid JSON (${(e as Error).message})`); }
}

export function readJsonFile(path: string, field: string): unknown {
  let text: string;
  try { text = readFileSync(path, 'utf8'); } catch { fail(field, `cannot read file '${path}'`); }
  try { return JSON.parse(text); } catch (e) { fail(field, `'${path}' is not valid JSON (${(e as Error).message})`); }
}

export function intFlag(a: Args, k: string, dflt: number, min: number, max: number): number {
  const v = str(a, k);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) fail(`--${k}`, `must be an integer in [${min}, ${max}], got ${v}`);
  return n;
}
