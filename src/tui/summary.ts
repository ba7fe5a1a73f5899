/** The static one-screen summary printed when there is no TTY (pipes, CI). */
import type { ResolvedConfig } from '../config.js';
import type { Prediction } from '../engine.js';
import { describe, profileTable } from '../commands/predict.js';
import { chart, chartText } from './plot.js';
import { kindLabel, tuiWarnings } from './warnings.js';
import { fmt } from '../format.js';

export function staticSummary(cfg: ResolvedConfig, p: Prediction, width = 80): string {
  const out: string[] = [];
  out.push(describe(cfg));
  out.push('');
  const w = Math.max(20, Math.min(width, 120) - 24);
  const line = (q: 'var' | 'gradVar' | 'r', log: boolean, name: string) => {
    const c = chart(p.layers.map((l) => l[q]), { width: w, height: 2, log, include: q === 'r' ? [0, 1] : undefined });
    const t = chartText(c);
    out.push(`${name.padEnd(12)}${fmt(c.top, 3).padStart(9)} ${t[0]}`);
    out.push(`${(log ? '(log)' : '').padEnd(12)}${fmt(c.bottom, 3).padStart(9)} ${t[1]}`);
  };
  line('var', true, 'forward var');
  line('gradVar', true, 'gradient var');
  line('r', false, 'token r');
  out.push('');
  out.push(profileTable(p));
  out.push(`method: ${p.method}`);
  for (const wn of tuiWarnings(p.warnings)) out.push(`warning${wn.layer !== undefined ? ` (layer ${wn.layer})` : ''} ${kindLabel(wn.kind)}: ${wn.text}`);
  out.push('(no TTY: static summary; run `moments tui` in a terminal for the interactive view, or --screenshot for one frame)');
  return out.join('\n') + '\n';
}
