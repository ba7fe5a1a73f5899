import { checkFlags, parseArgs, str } from '../args.js';
import { toConfigV1 } from '../config.js';
import { advise, checkBands, DEFAULT_TARGET, type Advice } from '../advise.js';
import { SCHEME_NAMES, SCHEMES, schemeInfo, type SchemeName } from '../schemes.js';
import { fmt, table } from '../format.js';
import { describe, profileTable } from './predict.js';
import { CONFIG_FLAGS, SCHEME_FLAGS, adviceJson, checkText, loadOne, schemeOptions } from './advise.js';

export const usage = `moments schemes (--config FILE | --hf config.json [--seq-len L] [--tokens uniform|zipf] [--eval]) [--scheme NAME] [--json]
                [--deepnorm encoder|decoder|encdec-encoder|encdec-decoder] [--other-layers M] [--torchscale] [--k K]
  The predicted profile of every named scheme on the same architecture, side by side (var at layer 0 / N / max,
  gradVar range relative to its top value, r at N, the default band check [0.9,1.1] × [0.5,2], first warning).
  Schemes: ${SCHEME_NAMES.join(', ')}. --scheme NAME applies one and prints its config and profile.`;

export interface SchemeSummary {
  scheme: SchemeName; source: string; ok: boolean;
  var0: number | null; varN: number | null; varMax: number | null;
  gradRatioMin: number | null; gradRatioMax: number | null; rN: number | null;
  warnings: string[]; notes: string[];
}

export function summarize(adv: Advice): SchemeSummary {
  const L = adv.predicted.layers, N = L.length - 1;
  const c = checkBands(adv.predicted, DEFAULT_TARGET);
  return {
    scheme: adv.scheme, source: SCHEMES[adv.scheme].source, ok: c.ok,
    var0: L[0].var, varN: L[N].var, varMax: c.varRange ? c.varRange[1] : null,
    gradRatioMin: c.gradRatioRange ? c.gradRatioRange[0] : null, gradRatioMax: c.gradRatioRange ? c.gradRatioRange[1] : null,
    rN: L[N].r, warnings: adv.predicted.warnings, notes: adv.notes,
  };
}

export function run(argv: string[]): number {
  const a = parseArgs(argv, ['json', 'eval', 'torchscale']);
  checkFlags(a, [...CONFIG_FLAGS, 'scheme', 'json', ...SCHEME_FLAGS]);
  const { cfg, hf } = loadOne(a);
  const so = schemeOptions(a);
  const one = str(a, 'scheme');
  if (one !== undefined) {
    const adv = advise(cfg, { scheme: schemeInfo(one).name, schemeOptions: so });
    if (hf) adv.notes = [...hf.notes, ...adv.notes];
    if (a.flags.json) { process.stdout.write(JSON.stringify(adviceJson(adv, { source: SCHEMES[adv.scheme].source })) + '\n'); return 0; }
    process.stdout.write(`scheme: ${adv.scheme} — ${SCHEMES[adv.scheme].title}\nsource: ${SCHEMES[adv.scheme].source}\n`);
    process.stdout.write(describe(adv.config) + '\n' + profileTable(adv.predicted) + '\n' + checkText(adv) + '\n');
    for (const n of adv.notes) process.stdout.write(`note: ${n}\n`);
    for (const w of adv.predicted.warnings) process.stdout.write(`warning: ${w}\n`);
    process.stdout.write(`config: ${JSON.stringify(toConfigV1(adv.config))}\n`);
    return 0;
  }
  const rows = SCHEME_NAMES.map((s) => summarize(advise(cfg, { scheme: s, schemeOptions: so, noFormulas: true })));
  if (a.flags.json) { process.stdout.write(JSON.stringify({ architecture: toConfigV1(cfg), schemes: rows, hf: hf ? { family: hf.family, notes: hf.notes } : undefined }) + '\n'); return 0; }
  process.stdout.write(describe(cfg) + '\n');
  if (hf) for (const n of hf.notes) process.stdout.write(`note: ${n}\n`);
  process.stdout.write(table(
    ['scheme', 'var 0', 'var N', 'var max', 'gradVar/top min', 'max', 'r N', 'band', 'first warning'],
    rows.map((r) => [r.scheme, fmt(r.var0), fmt(r.varN), fmt(r.varMax), fmt(r.gradRatioMin), fmt(r.gradRatioMax), fmt(r.rN), r.ok ? 'ok' : 'out', (r.warnings[0] ?? '').slice(0, 70)]),
  ) + '\n');
  process.stdout.write('band: forward var in [0.9, 1.1] and gradVar within [0.5, 2] × its top value at every layer. Sources: `moments schemes --scheme NAME`.\n');
  return 0;
}
