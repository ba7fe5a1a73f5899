import { checkFlags, intFlag, parseArgs, str } from '../args.js';
import { fail } from '../errors.js';
import { limits } from '../advise.js';
import { schemeInfo, type SchemeName } from '../schemes.js';
import { describe } from './predict.js';
import { CONFIG_FLAGS, SCHEME_FLAGS, loadOne, schemeOptions } from './advise.js';

export const usage = `moments limits (--config FILE | --hf config.json …) [--max-var X] [--grad-band a,b] [--max-layers M] [--scheme NAME] [--json]
  Maximum depth before the forward variance exceeds X (default 10) at some layer or the layer-0 gradient
  gradVar_0/gradVar_N leaves [a, b] (default 0.1,10), searched over depth with the engine (exponential
  search, then bisection) up to M layers (default 10000). The config's per-layer values must be single
  numbers (repeated at every depth), or --scheme NAME recomputes them at each depth.`;

export function run(argv: string[]): number {
  const a = parseArgs(argv, ['json', 'eval', 'torchscale']);
  checkFlags(a, [...CONFIG_FLAGS, 'max-var', 'grad-band', 'max-layers', 'scheme', 'json', ...SCHEME_FLAGS]);
  const { cfg } = loadOne(a);
  const mv = str(a, 'max-var');
  const maxVar = mv === undefined ? 10 : Number(mv);
  if (!(maxVar > 0) || !Number.isFinite(maxVar)) fail('--max-var', `must be a number > 0, got ${mv}`);
  const gb = str(a, 'grad-band');
  let gradBand: [number, number] = [0.1, 10];
  if (gb !== undefined) {
    const p = gb.split(',').map(Number);
    if (p.length !== 2 || !(p[0] > 0) || !(p[1] > p[0]) || !p.every(Number.isFinite)) fail('--grad-band', `must be two numbers 0 < a < b as "a,b", got ${gb}`);
    gradBand = [p[0], p[1]];
  }
  const maxLayers = intFlag(a, 'max-layers', 10_000, 1, 100_000);
  const s = str(a, 'scheme');
  const scheme = s === undefined ? undefined : (schemeInfo(s).name as SchemeName);
  const r = limits(cfg, { maxVar, gradBand, maxLayers, scheme, schemeOptions: schemeOptions(a) });
  if (a.flags.json) { process.stdout.write(JSON.stringify({ ...r, maxVar, gradBand, scheme: scheme ?? null }) + '\n'); return 0; }
  process.stdout.write(describe(cfg) + '\n');
  process.stdout.write(`max depth: ${r.maxDepth === null ? `> ${maxLayers} (no limit found)` : r.maxDepth} layers${scheme ? ` (scheme ${scheme} re-applied at each depth)` : ''}\n`);
  process.stdout.write(`reason: ${r.reason}\n`);
  process.stdout.write(`forward limit (var ≤ ${maxVar}): ${r.forwardLimit === null ? (scheme ? 'checked per depth' : `none up to ${maxLayers}`) : r.forwardLimit}; gradient limit (gradVar_0/gradVar_N in [${gradBand.join(', ')}]): ${r.gradientLimit === null ? `none up to ${r.forwardLimit ?? maxLayers}` : r.gradientLimit}; ${r.engineRuns} engine runs\n`);
  return 0;
}
