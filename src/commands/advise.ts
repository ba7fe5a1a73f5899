import { checkFlags, jsonArg, parseArgs, readJsonFile, str, type Args } from '../args.js';
import { fail } from '../errors.js';
import { resolveConfig, toConfigV1, type ResolvedConfig } from '../config.js';
import { advise, parseTarget, sensitivity, type Advice } from '../advise.js';
import { DEEPNORM_VARIANTS, SCHEMES, schemeInfo, type DeepNormVariant, type SchemeName, type SchemeOptions } from '../schemes.js';
import { HF_FLAGS, hfFromArgs, type HfImport } from '../hf.js';
import { emit, EMIT_TARGETS } from '../emit.js';
import { fmt, table } from '../format.js';
import { describe, profileTable } from './predict.js';

export const usage = `moments advise (--config FILE | --hf config.json [--seq-len L] [--tokens uniform|zipf] [--eval])
               [--target '{"var":[0.9,1.1],"gradVar":[0.5,2]}'] [--scheme NAME] [--emit pytorch|jax|tfjs]
               [--json] [--explain] [--sensitivity]
  Set init stds and residual multipliers so that the forward variance stays in target.var at every layer and
  the gradient variance in target.gradVar × its top value (default [0.9,1.1] and [0.5,2]); verified with the engine.
  target.k fixes β² = k/N; target.margin (default 0.8) is how far into the gradient band the solver aims.
  --scheme NAME  return a named scheme instead (${Object.keys(SCHEMES).join(', ')}) with its band check
  --emit T       print a runnable snippet applying the stds and multipliers (with --json: the "code" field)
  --explain      the solved closed forms (nerdamer) and how each number was chosen
  --sensitivity  d ln(metric)/d ln(hyperparameter) by central finite differences on the engine`;

export const CONFIG_FLAGS = ['config', ...HF_FLAGS] as const;
export const SCHEME_FLAGS = ['deepnorm', 'other-layers', 'torchscale', 'k'] as const;

/** One config from --config FILE (an object) or --hf config.json. */
export function loadOne(a: Args): { cfg: ResolvedConfig; hf?: HfImport } {
  const hf = hfFromArgs(a);
  const path = str(a, 'config') ?? a._[0];
  if (hf) {
    if (path) fail('--config', 'give either --config or --hf, not both');
    return { cfg: resolveConfig(hf.config, 'hf→config'), hf };
  }
  if (!path) fail('--config', 'is required (a config v1 JSON file), or --hf config.json');
  const raw = readJsonFile(path, '--config');
  if (Array.isArray(raw)) fail('--config', 'must hold one config object here (not an array)');
  return { cfg: resolveConfig(raw) };
}

export function schemeOptions(a: Args): SchemeOptions {
  const o: SchemeOptions = {};
  const v = str(a, 'deepnorm');
  if (v !== undefined) {
    if (!(DEEPNORM_VARIANTS as readonly string[]).includes(v)) fail('--deepnorm', `must be one of ${DEEPNORM_VARIANTS.join(', ')}, got ${v}`);
    o.deepnormVariant = v as DeepNormVariant;
  }
  const m = str(a, 'other-layers');
  if (m !== undefined) {
    const n = Number(m);
    if (!Number.isInteger(n) || n < 1 || n > 100_000) fail('--other-layers', `must be an integer in [1, 100000], got ${m}`);
    o.otherLayers = n;
  }
  if (a.flags.torchscale) o.deepnormBeta = 'torchscale';
  const k = str(a, 'k');
  if (k !== undefined) {
    const x = Number(k);
    if (!(x > 0) || !Number.isFinite(x)) fail('--k', `must be a number > 0, got ${k}`);
    o.k = x;
  }
  return o;
}

export function adviceJson(adv: Advice, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const o: Record<string, unknown> = {
    config: toConfigV1(adv.config),
    predicted: { layers: adv.predicted.layers, warnings: adv.predicted.warnings, method: adv.predicted.method, ...(adv.predicted.explodesAt ? { explodesAt: adv.predicted.explodesAt } : {}) },
    scheme: adv.scheme,
    formulas: adv.formulas,
    notes: adv.notes,
    check: { ok: adv.check.ok, target: { var: adv.target.var, gradVar: adv.target.gradVar }, varRange: adv.check.varRange, gradRatioRange: adv.check.gradRatioRange, violations: adv.check.violations.slice(0, 50), violationCount: adv.check.violations.length },
    unsatisfiable: adv.unsatisfiable,
    ...extra,
  };
  if (adv.k !== undefined) o.k = adv.k;
  return o;
}

export function checkText(adv: Advice): string {
  const c = adv.check;
  const vr = c.varRange ? `[${fmt(c.varRange[0])}, ${fmt(c.varRange[1])}]` : 'overflows';
  const gr = c.gradRatioRange ? `[${fmt(c.gradRatioRange[0])}, ${fmt(c.gradRatioRange[1])}]` : 'overflows';
  const lines = [`check (engine): forward var ${vr} vs band [${adv.target.var.join(', ')}]; gradVar/top ${gr} vs band [${adv.target.gradVar.join(', ')}] → ${c.ok ? 'inside at every layer' : `${c.violations.length} violation(s)`}`];
  for (const v of c.violations.slice(0, 5)) lines.push(`  layer ${v.layer} ${v.moment}: ${v.value === null ? 'overflow' : fmt(v.value)} outside [${v.band.join(', ')}]`);
  if (c.violations.length > 5) lines.push(`  … ${c.violations.length - 5} more`);
  for (const u of adv.unsatisfiable) lines.push(`cannot meet: layer ${u.layer} ${u.moment} band [${u.band.join(', ')}]; closest achievable ${u.closest === null ? 'none (overflow)' : fmt(u.closest)} — ${u.reason}`);
  return lines.join('\n');
}

function explainText(adv: Advice): string {
  const lines: string[] = ['solved closed forms (nerdamer.solve):'];
  for (const [k, f] of Object.entries(adv.formulas)) {
    lines.push(`  ${k}: ${f.equation}  ⇒  ${f.solvedFor} = ${f.solution}`);
    lines.push(`      i.e. ${f.readable}`);
    lines.push(`      ${f.note}`);
  }
  if (adv.scheme === 'advised') {
    const c = adv.config, N = c.layers;
    const idx = [...new Set([0, 1, Math.floor(N / 2), N - 1].filter((i) => i >= 0 && i < N))];
    lines.push('per-layer values (engine forward recurrence):');
    lines.push(table(['layer', 'λ', 'β', 'σ_qk', 'σ_v=σ_o', 'σ_ffn1', 'σ_ffn2'], idx.map((i) => [String(i + 1), fmt(c.skip[i]), fmt(c.branch[i]), fmt(c.init.qk[i]), fmt(c.init.v[i]), fmt(c.init.ffn1[i]), fmt(c.init.ffn2[i])])));
  }
  return lines.join('\n');
}

export function run(argv: string[]): number {
  const a = parseArgs(argv, ['json', 'explain', 'sensitivity', 'eval', 'torchscale']);
  checkFlags(a, [...CONFIG_FLAGS, 'target', 'scheme', 'emit', 'json', 'explain', 'sensitivity', ...SCHEME_FLAGS]);
  const { cfg, hf } = loadOne(a);
  const target = parseTarget(jsonArg(a, 'target'));
  const sname = str(a, 'scheme');
  const scheme = sname === undefined ? undefined : (schemeInfo(sname).name as SchemeName);
  const em = str(a, 'emit');
  if (em !== undefined && !(EMIT_TARGETS as readonly string[]).includes(em)) fail('--emit', `must be one of ${EMIT_TARGETS.join(', ')}, got ${em}`);
  const adv = advise(cfg, { target, scheme, schemeOptions: schemeOptions(a) });
  const notes = hf ? [...hf.notes, ...adv.notes] : adv.notes;
  adv.notes = notes;
  const sens = a.flags.sensitivity ? sensitivity(adv.config) : undefined;
  if (a.flags.json) {
    const extra: Record<string, unknown> = {};
    if (em) extra.code = emit(adv.config, em);
    if (sens) extra.sensitivity = sens;
    if (hf) extra.hf = { family: hf.family, embedding: hf.embedding };
    process.stdout.write(JSON.stringify(adviceJson(adv, extra)) + '\n');
    return 0;
  }
  if (em) { process.stdout.write(emit(adv.config, em)); return 0; }
  process.stdout.write(`scheme: ${adv.scheme}${adv.k !== undefined ? ` (k = ${fmt(adv.k)})` : ''}\n`);
  process.stdout.write(describe(adv.config) + '\n');
  process.stdout.write(profileTable(adv.predicted) + '\n');
  process.stdout.write(checkText(adv) + '\n');
  for (const n of adv.notes) process.stdout.write(`note: ${n}\n`);
  for (const w of adv.predicted.warnings) process.stdout.write(`warning: ${w}\n`);
  if (a.flags.explain) process.stdout.write(explainText(adv) + '\n');
  if (sens) {
    process.stdout.write('sensitivity d ln(metric)/d ln(parameter) (central differences, ±0.1%, engine):\n');
    const metrics = [...new Set(sens.map((r) => r.metric))];
    const params = [...new Set(sens.map((r) => r.parameter))];
    process.stdout.write(table(['parameter', ...metrics], params.map((p) => [p, ...metrics.map((m) => fmt(sens.find((r) => r.parameter === p && r.metric === m)?.elasticity ?? null))])) + '\n');
  }
  return 0;
}
