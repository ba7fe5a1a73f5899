/**
 * `verify --report out.html`: one self-contained HTML page (no scripts, no network) with three
 * plots made by Vega-Lite (compiled with vega-lite, rendered to SVG in Node by vega): per-layer
 * var and gradVar (log scale) and r — theory as lines, measurements as points with ±1 seed std
 * error bars — plus the comparison table and the verdict.
 */
import * as vl from 'vega-lite';
import * as vega from 'vega';
import type { ResolvedConfig } from '../src/config.js';
import type { VerifyResult } from './run.js';
import { TOLERANCE_RULE, type Quantity } from './compare.js';

interface Row { layer: number; value: number; lo?: number; hi?: number; series: string }

function rows(res: VerifyResult, q: Quantity, log: boolean): Row[] {
  const out: Row[] = [];
  for (const l of res.layers) {
    const p = l.predicted[q];
    if (p !== null && (!log || p > 0)) out.push({ layer: l.layer, value: p, series: 'theory' });
    const m = l.measured[q];
    if (m !== null && (!log || m[0] > 0)) {
      const lo = m[0] - m[1], hi = m[0] + m[1];
      out.push({ layer: l.layer, value: m[0], lo: log ? Math.max(lo, m[0] / 10) : lo, hi, series: 'measured' });
    }
  }
  return out;
}

function spec(title: string, q: Quantity, data: Row[], log: boolean): vl.TopLevelSpec {
  const y = { field: 'value', type: 'quantitative' as const, title: q, scale: log ? { type: 'log' as const } : { zero: false } };
  const x = { field: 'layer', type: 'quantitative' as const, title: 'layer (entry)' };
  const color = { field: 'series', type: 'nominal' as const, scale: { domain: ['theory', 'measured'], range: ['#1f77b4', '#d62728'] }, title: null };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title, width: 560, height: 260,
    data: { values: data as unknown as Record<string, unknown>[] },
    layer: [
      { transform: [{ filter: "datum.series === 'theory'" }], mark: { type: 'line', point: false }, encoding: { x, y, color } },
      { transform: [{ filter: "datum.series === 'measured'" }], mark: { type: 'errorbar', ticks: true }, encoding: { x, y: { field: 'lo', type: 'quantitative', scale: y.scale, title: q }, y2: { field: 'hi' }, color } },
      { transform: [{ filter: "datum.series === 'measured'" }], mark: { type: 'point', filled: true, size: 36 }, encoding: { x, y, color } },
    ],
  } as vl.TopLevelSpec;
}

export async function renderSvg(s: vl.TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vl.compile(s).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

export async function reportHtml(cfg: ResolvedConfig, res: VerifyResult): Promise<string> {
  const plots: string[] = [];
  for (const [q, log, title] of [['var', true, 'Forward variance'], ['gradVar', true, 'Gradient variance'], ['r', false, 'Token correlation r']] as const) {
    const data = rows(res, q, log);
    plots.push(data.length ? await renderSvg(spec(title, q, data, log)) : `<p>No finite ${q} values to plot.</p>`);
  }
  const f = (x: number | null | undefined) => (x === null || x === undefined ? '—' : Math.abs(x) >= 1e4 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(3) : x.toPrecision(4));
  const qs: Quantity[] = ['mean', 'var', 'r', 'gradVar', 'gradR'];
  const head = `<tr><th>layer</th>${qs.map((q) => `<th>${q} pred</th><th>measured ± std</th><th>err</th>`).join('')}<th>ok</th></tr>`;
  const body = res.layers.map((l) => `<tr${l.withinTolerance ? '' : ' class="bad"'}><td>${l.layer}</td>${qs.map((q) => {
    const m = l.measured[q], e = l.relErr[q], t = l.tolerance[q];
    const out = e !== null && t !== null && e > t;
    return `<td>${f(l.predicted[q])}</td><td>${m ? `${f(m[0])} ± ${f(m[1])}` : 'NaN/Inf'}</td><td${out ? ' class="out"' : ''}>${f(e)}</td>`;
  }).join('')}<td>${l.withinTolerance ? 'yes' : 'NO'}</td></tr>`).join('\n');
  const title = `signal-moments verify${cfg.name ? ': ' + cfg.name : ''}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font:14px system-ui,sans-serif;margin:24px;max-width:1300px}table{border-collapse:collapse;font-size:12px}td,th{padding:2px 6px;border-bottom:1px solid #ddd;text-align:right}
tr.bad td:first-child{color:#b00}td.out{color:#b00;font-weight:bold}.verdict{font-weight:bold;margin:12px 0}.plots svg{display:block;margin:8px 0}code{background:#f4f4f4}</style></head>
<body><h1>${esc(title)}</h1>
<p>Backend <b>${esc(res.backend)}</b> on ${esc(res.device)}; ${res.seeds} seed(s) × batch ${res.batch}; median pass ${res.timing.passSeconds === null ? '—' : res.timing.passSeconds.toFixed(3) + ' s'}; total ${res.timing.totalSeconds.toFixed(1)} s.</p>
<p>Config: <code>${esc(JSON.stringify({ layers: cfg.layers, dModel: cfg.dModel, heads: cfg.heads, dFF: cfg.dFF, seqLen: cfg.seqLen, norm: cfg.norm, normKind: cfg.normKind, activation: cfg.activation, dropout: cfg.dropout, ...(cfg.attnDropout !== cfg.dropout ? { attnDropout: cfg.attnDropout } : {}), ...(cfg.actDropout !== cfg.dropout ? { actDropout: cfg.actDropout } : {}), causal: cfg.causal, finalNorm: cfg.finalNorm, input: cfg.input }))}</code></p>
<p class="verdict">${esc(res.summary.verdict)}</p>
<div class="plots">${plots.join('\n')}</div>
<p>Lines: theory (predict). Points: mean over seeds; bars: ±1 seed-to-seed std. Errors: var and gradVar relative, mean/r/gradR absolute. Tolerance: ${esc(TOLERANCE_RULE)}.</p>
${res.notes.length ? `<p>Notes: ${res.notes.map(esc).join('; ')}</p>` : ''}
<table>${head}\n${body}</table>
</body></html>
`;
}
