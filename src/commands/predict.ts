import { checkFlags, parseArgs, readJsonFile, str } from '../args.js';
import { fail } from '../errors.js';
import { resolveConfigs, type ResolvedConfig } from '../config.js';
import { predictResolved, type Prediction } from '../engine.js';
import { fmt, sampleIndices, table } from '../format.js';
import { closedForms } from '../closedform.js';
import { HF_FLAGS, hfFromArgs } from '../hf.js';

export const usage = `moments predict --config FILE [--json] [--symbolic] [--trace] [--all]   (or: moments predict FILE …)
  Predict the per-layer moments (mean, var, r, gradVar, gradR) of a config v1 (object or array).
  --json      machine output {"layers": [...], "warnings": [...]} (an array for an array config)
  --symbolic  also print closed forms in the depth N where they exist
  --trace     print every sub-block with its forward/backward moments (first 2 layers and the last)
  --all       print every layer (default: a sample of long profiles)
  --formula paper   use the published DSLM rows where they exist (comparison; default: ours)`;

export function loadConfigs(a: ReturnType<typeof parseArgs>): { configs: ResolvedConfig[]; isArray: boolean } {
  const hf = hfFromArgs(a); // --hf config.json [--seq-len L] [--tokens uniform|zipf] [--eval] (src/hf.ts)
  if (hf) return resolveConfigs(hf.config);
  const flag = str(a, 'config');
  if (a._.length > (flag === undefined ? 1 : 0)) fail('--config', `takes one config file (a JSON array holds several configs), got ${[...(flag === undefined ? [] : [flag]), ...a._].map((x) => `'${x}'`).join(', ')}`);
  const path = flag ?? a._[0];
  if (!path) fail('--config', 'is required (a config v1 JSON file)');
  return resolveConfigs(readJsonFile(path, '--config'));
}

export function jsonPrediction(p: Prediction): Record<string, unknown> {
  const o: Record<string, unknown> = { layers: p.layers, warnings: p.warnings, method: p.method };
  if (p.explodesAt) o.explodesAt = p.explodesAt;
  return o;
}

export function profileTable(p: Prediction, all = false): string {
  const idx = sampleIndices(p.layers.length, all);
  const rows = idx.map((i) => {
    const l = p.layers[i];
    return [String(l.layer), fmt(l.mean), fmt(l.var), fmt(l.r), fmt(l.gradVar), fmt(l.gradR)];
  });
  return table(['layer', 'mean', 'var', 'r', 'gradVar', 'gradR'], rows);
}

export function describe(c: ResolvedConfig): string {
  // a per-layer array: first…last, with its range where the ends do not show it ([1, 2, 1]: 1.00…1.00 [1.00, 2.00])
  const uniq = (a: number[]) => {
    if (a.every((x) => x === a[0])) return fmt(a[0], 3);
    const lo = Math.min(...a), hi = Math.max(...a), first = a[0], last = a[a.length - 1];
    const ends = `${fmt(first, 3)}…${fmt(last, 3)}`;
    return lo === Math.min(first, last) && hi === Math.max(first, last) ? ends : `${ends} [${fmt(lo, 3)}, ${fmt(hi, 3)}]`;
  };
  return `${c.name ? c.name + ': ' : ''}${c.layers} layers, d=${c.dModel}, heads=${c.heads}, dFF=${c.dFF}, L=${c.seqLen}, ${c.norm}-${c.normKind}, ${c.activation}, dropout ${c.dropout}${c.attnDropout !== c.dropout || c.actDropout !== c.dropout ? ` (attention probabilities ${c.attnDropout}, after the activation ${c.actDropout})` : ''}${c.causal ? ', causal' : ''}${c.finalNorm ? ', final norm' : ''}; λ=${uniq(c.skip)} β=${uniq(c.branch)}; init qk=${uniq(c.init.qk)} v=${uniq(c.init.v)} o=${uniq(c.init.o)} ffn1=${uniq(c.init.ffn1)} ffn2=${uniq(c.init.ffn2)}`;
}

function traceText(p: Prediction): string {
  if (!p.trace) return '';
  const lines: string[] = [];
  const N = Math.max(...p.trace.sublayers.map((s) => s.layer));
  const mom = (m: { mean: number; var: number; r: number }) => `mean ${fmt(m.mean)} var ${fmt(m.var)} r ${fmt(m.r)}`;
  const grad = (g?: { var: number; r: number }) => (g ? `grad ${fmt(g.var)} r_g ${fmt(g.r)}` : '');
  for (const s of p.trace.sublayers) {
    if (s.layer > 2 && s.layer < N) continue;
    lines.push(`layer ${s.layer} ${s.kind}: in ${mom(s.input)} | ${grad(s.gradIn)}`);
    for (const t of s.branch) lines.push(`   ${t.label.padEnd(10)} → ${mom(t.fwd.out)} | in-${grad(t.gradIn)}  [${t.fwd.method}]`);
    lines.push(`   ${'residual'.padEnd(10)} → ${mom(s.added)}`);
    if (s.post) lines.push(`   ${s.post.label.padEnd(10)} → ${mom(s.post.fwd.out)} | in-${grad(s.post.gradIn)}`);
  }
  return lines.join('\n');
}

export function run(argv: string[]): number {
  const a = parseArgs(argv, ['json', 'symbolic', 'trace', 'all']);
  checkFlags(a, ['config', 'json', 'symbolic', 'trace', 'all', 'formula', ...HF_FLAGS]);
  const { configs, isArray } = loadConfigs(a);
  const fs = str(a, 'formula') ?? 'ours';
  if (fs !== 'ours' && fs !== 'paper') fail('--formula', `must be ours or paper, got ${fs}`);
  const preds = configs.map((c) => predictResolved(c, { trace: Boolean(a.flags.trace), formula: fs }));
  if (a.flags.json) {
    const out = preds.map((p, i) => {
      const o = jsonPrediction(p);
      if (a.flags.symbolic) o.symbolic = closedForms(configs[i]);
      return o;
    });
    process.stdout.write(JSON.stringify(isArray ? out : out[0]) + '\n');
    return 0;
  }
  preds.forEach((p, i) => {
    if (i) process.stdout.write('\n');
    process.stdout.write(describe(configs[i]) + '\n');
    process.stdout.write(profileTable(p, Boolean(a.flags.all)) + '\n');
    process.stdout.write(`method: ${p.method}\n`);
    for (const w of p.warnings) process.stdout.write(`warning: ${w}\n`);
    if (a.flags.symbolic) for (const f of closedForms(configs[i])) process.stdout.write(`${f.quantity} = ${f.expr}\n    ${f.note}\n`);
    if (a.flags.trace) process.stdout.write(traceText(p) + '\n');
  });
  return 0;
}
