/**
 * The full-width measurements stored from the GPU machine (fidelity/gpu/, scripts/gpu-check.sh):
 * an independent PyTorch implementation of config v1 at d = 256–768, 12–192 layers. The theory is
 * re-predicted from the stored configs; every entry must stay within the harness's tolerance
 * (verify/compare.ts: var max(5 %, 2·std), gradVar max(10 %, 2·std), r/gradR max(0.02, 2·std),
 * mean max(0.02·√var, 2·std), std the seed-to-seed std of 16–32 seeds), as it was when measured.
 * A theory change that breaks a full-width model fails here without a GPU.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { attentionGpu, compareGpu, gpuSection, loadGpu } from '../fidelity/gpu.js';

const DIR = fileURLToPath(new URL('../fidelity/gpu/', import.meta.url));
const g = loadGpu(DIR);

describe.runIf(g !== null)('stored full-width GPU measurements (PyTorch)', () => {
  for (const c of g?.cases ?? []) {
    it(`${c.id}: every entry within tolerance`, () => {
      const m = g!.measurements.get(c.id)!.find((x) => x.source === 'PyTorch');
      expect(m, 'a PyTorch measurement for every case').toBeDefined();
      expect(m!.layers.length).toBe(c.config.layers + 1);
      const cmp = compareGpu(c, m!);
      const bad = cmp.reports.filter((r) => !r.withinTolerance).map((r) => `entry ${r.layer}: ${JSON.stringify(r.relErr)} tol ${JSON.stringify(r.tolerance)}`);
      expect(bad, bad.slice(0, 3).join('\n')).toEqual([]);
    });
  }
});

/** Points of the stored many-trial attention measurement outside the grid's rule (2·trial std, floors
 * 5 % / 0.02) with the current theory, each with its numbers (FIDELITY.md): a theory change may
 * remove one, never add one. */
const ATTENTION_KNOWN_OUT = new Set<string>([
  // none since 2026-11-27: 'σ_s²=100 r=0.95 non-causal h=16 L=32 gradR' (0.1328 vs 0.0928 ± 0.0171
  // then) came within with the key popularity capped at the row count (formulas/attention.ts popLawCapped)
]);
const att = attentionGpu(DIR);
describe.runIf(att !== null)('stored many-trial attention components (PyTorch float64)', () => {
  it('all 294 cases × 4 quantities measured', () => {
    expect(att!.points.length).toBe(294 * 4);
  });
  it('no point outside the tolerance rule except the known ones', () => {
    const out = att!.points.filter((p) => !(p.err <= p.tol)).map((p) => `${p.id} ${p.q}`);
    expect(out.filter((k) => !ATTENTION_KNOWN_OUT.has(k))).toEqual([]);
    // and every known one is still out (remove it from the list when a fix brings it in)
    expect([...ATTENTION_KNOWN_OUT].filter((k) => !out.includes(k))).toEqual([]);
  });
});

describe('gpuSection', () => {
  it('is empty without stored measurements', () => {
    expect(gpuSection(mkdtempSync(join(tmpdir(), 'gpu-')))).toBe('');
  });
});
