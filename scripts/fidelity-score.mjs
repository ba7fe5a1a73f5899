#!/usr/bin/env node
// Counts the fidelity points within tolerance (okOurs) in fidelity/results.json per regime and
// quantity, and lists the misses of one regime: `node scripts/fidelity-score.mjs [FILE] [--misses REGIME]`.
// Run after `node dist/fidelity/run.js --rescore` to see what a theory change moved.
import { readFileSync } from 'node:fs';
const args = process.argv.slice(2);
const mi = args.indexOf('--misses');
const missRegime = mi >= 0 ? args[mi + 1] : undefined;
const file = args.find((a, k) => !a.startsWith('--') && k !== mi + 1) ?? 'fidelity/results.json';
const { points } = JSON.parse(readFileSync(file, 'utf8'));
const tab = new Map();
for (const p of points) {
  const causal = /(^| )causal/.test(p.case) && p.regime === 'attention' ? ' causal' : '';
  const dir = p.q === 'gradVar' || p.q === 'gradR' ? 'bwd' : 'fwd';
  for (const key of [`${p.regime}${causal} ${p.q}`, `${p.regime} ${dir}`]) {
    const t = tab.get(key) ?? [0, 0];
    t[0] += p.okOurs ? 1 : 0; t[1]++; tab.set(key, t);
  }
}
for (const [k, [a, n]] of [...tab].sort()) console.log(`${k.padEnd(44)} ${String(a).padStart(5)} / ${String(n).padEnd(5)} ${(100 * a / n).toFixed(1)} %`);
if (missRegime) {
  for (const p of points) if (p.regime === missRegime && !p.okOurs)
    console.log(`MISS ${p.case}${p.layer !== undefined ? ' layer ' + p.layer : ''} ${p.q}: ours ${p.ours} measured ${p.measured} ± ${p.std} (err ${p.errOurs?.toPrecision(3)}, tol ${p.tol?.toPrecision(3)})`);
}
