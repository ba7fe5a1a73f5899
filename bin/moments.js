#!/usr/bin/env node
// CLI launcher: the compiled TypeScript lives in dist/ (built by `npm ci` via the prepare script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const cli = new URL('../dist/src/cli.js', import.meta.url);
if (!existsSync(fileURLToPath(cli))) {
  process.stderr.write('error: dist/ is missing: run `npm ci` (or `npm run build`) first\n');
  process.exit(2);
}
const { main } = await import(cli.href);
const code = await main(process.argv.slice(2));
process.exitCode = code;
