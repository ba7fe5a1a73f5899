/**
 * Test helper (lives in test/mc/ with the other helpers) shared by test/cli.test.ts and test/config-validation.test.ts: run the BUILT CLI (dist/src/cli.js,
 * what bin/moments.js launches) either in-process (main(argv) with stdout/stderr captured: cheap,
 * the modules load once) or as a real child process of bin/moments.js (end-to-end exit code).
 * Builds dist/ first (npx tsc -p .) only when dist/src/cli.js is missing.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI_JS = join(ROOT, 'dist', 'src', 'cli.js');

export function ensureBuilt(): void {
  if (existsSync(CLI_JS)) return;
  try { execFileSync('npx', ['tsc', '-p', '.'], { cwd: ROOT, stdio: 'pipe' }); } catch { /* tsc exits non-zero on type errors but still emits */ }
  if (!existsSync(CLI_JS)) throw new Error('build failed: dist/src/cli.js missing after npx tsc -p .');
}

export interface RunResult { code: number; stdout: string; stderr: string }

let mainFn: ((argv: string[]) => Promise<number>) | null = null;

/** In-process: main(argv) of the built CLI, output captured. Relative paths resolve against ROOT. */
export async function cli(argv: string[]): Promise<RunResult> {
  ensureBuilt();
  if (!mainFn) mainFn = ((await import(CLI_JS)) as { main: (a: string[]) => Promise<number> }).main;
  let out = '', err = '';
  const ow = process.stdout.write.bind(process.stdout), ew = process.stderr.write.bind(process.stderr);
  const cwd = process.cwd();
  process.chdir(ROOT);
  (process.stdout as any).write = (chunk: unknown) => { out += String(chunk); return true; };
  (process.stderr as any).write = (chunk: unknown) => { err += String(chunk); return true; };
  try {
    const code = await mainFn(argv);
    return { code, stdout: out, stderr: err };
  } finally {
    process.stdout.write = ow; process.stderr.write = ew;
    process.chdir(cwd);
  }
}

/** A real child process of bin/moments.js (end to end, including the exit code). */
export function spawnCli(argv: string[]): RunResult {
  ensureBuilt();
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'moments.js'), ...argv], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** stderr is exactly one line `error: <field>: <message>` naming `field`. */
export function expectOneErrorLine(stderr: string, field: string): string | null {
  const lines = stderr.split('\n').filter((l) => l.length > 0);
  if (lines.length !== 1) return `expected one stderr line, got ${lines.length}: ${JSON.stringify(stderr)}`;
  const prefix = `error: ${field}: `;
  if (!lines[0].startsWith(prefix) || lines[0].length <= prefix.length) return `expected a line starting ${JSON.stringify(prefix)}, got ${JSON.stringify(lines[0])}`;
  return null;
}

/** no NaN / Infinity anywhere in a text */
export const NON_FINITE = /\bNaN\b|Infinity/;
