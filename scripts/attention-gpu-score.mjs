#!/usr/bin/env node
// Scores the current build (dist/) on the stored many-trial PyTorch attention measurements
// (fidelity/gpu/attention-<trials>.json): per mask and quantity, points within the grid's rule and
// within the floor alone, summed error; `--list Q` lists the worst points of quantity Q
// (`--causal` / `--noncausal` to restrict). Run after `npx tsc -p tsconfig.json` to see what a
// theory change moved.
import { attentionGpu } from '../dist/fidelity/gpu.js';
const args = process.argv.slice(2);
const li = args.indexOf('--list'), listQ = li >= 0 ? args[li + 1] : undefined;
const only = args.includes('--causal') ? true : args.includes('--noncausal') ? false : undefined;
const a = attentionGpu(new URL('../fidelity/gpu/', import.meta.url).pathname);
if (!a) { console.error('no stored attention measurements'); process.exit(1); }
console.log(`${a.trials} trials, ${a.device}`);
for (const causal of [false, true]) for (const q of ['var', 'r', 'gradVar', 'gradR']) {
  const ps = a.points.filter((p) => p.causal === causal && p.q === q);
  const e = ps.map((p) => p.err).sort((x, y) => x - y);
  const sum = e.reduce((s, x) => s + x, 0);
  console.log(`${(causal ? 'causal' : 'non-causal').padEnd(11)} ${q.padEnd(8)} rule ${ps.filter((p) => p.err <= p.tol).length}/${ps.length}  floor ${ps.filter((p) => p.err <= p.floor).length}/${ps.length}  sum|err| ${sum.toFixed(4)}  p50 ${e[e.length >> 1].toFixed(4)} p90 ${e[Math.floor(e.length * 0.9)].toFixed(4)} max ${e[e.length - 1].toFixed(4)}`);
}
if (listQ) {
  const ps = a.points.filter((p) => p.q === listQ && (only === undefined || p.causal === only)).sort((x, y) => y.err - x.err);
  for (const p of ps.slice(0, 40)) console.log(`${p.id} ${p.q}: ours ${p.ours.toPrecision(4)} measured ${p.measured.toPrecision(4)} ± ${p.std.toPrecision(2)} (sd), err ${p.err.toFixed(4)} tol ${p.tol.toFixed(4)}`);
}
