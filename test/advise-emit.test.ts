/**
 * Code export: the PyTorch and JAX snippets parse as Python (ast.parse), the tfjs one as an ES
 * module (node --check), and each contains the advised numbers (8 significant digits).
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig } from '../src/config.js';
import { advise } from '../src/advise.js';
import { emit } from '../src/emit.js';

const cfg = resolveConfig({ layers: 5, dModel: 128, heads: 4, dFF: 512, seqLen: 16, norm: 'pre', activation: 'swiglu', normKind: 'rmsnorm', causal: true, input: { mean: 0, var: 1, r: 0.1 } });
const adv = advise(cfg, { noFormulas: true });
const n8 = (x: number) => Number(x.toPrecision(8)).toString();
const hasPython = spawnSync('python3', ['-c', 'print(1)']).status === 0;

describe('emit', () => {
  for (const t of ['pytorch', 'jax'] as const) {
    it.skipIf(!hasPython)(`${t} snippet parses as Python and carries the numbers`, () => {
      const code = emit(adv.config, t);
      const r = spawnSync('python3', ['-c', 'import ast,sys; ast.parse(sys.stdin.read())'], { input: code, encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      for (const x of [adv.config.init.v[0], adv.config.init.v[4], adv.config.init.ffn2[2], adv.config.skip[0], adv.config.branch[0], adv.config.init.qk[0]]) expect(code).toContain(n8(x));
      expect(code).toContain('w3'); // SwiGLU up projection
    });
  }
  it('tfjs snippet parses as an ES module and carries the numbers', () => {
    const code = emit(adv.config, 'tfjs');
    const f = join(mkdtempSync(join(tmpdir(), 'emit-')), 'init.mjs');
    writeFileSync(f, code);
    const r = spawnSync(process.execPath, ['--check', f], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(code).toContain(n8(adv.config.init.o[3]));
  });
  it('the header names the dropout rates and places the predictions assume (none without dropout)', () => {
    expect(emit(adv.config, 'pytorch')).not.toMatch(/dropout/);
    const c = resolveConfig({ layers: 2, dModel: 64, heads: 4, seqLen: 16, activation: 'gelu', dropout: 0.1, attnDropout: 0, actDropout: 0.3 });
    for (const t of ['pytorch', 'jax', 'tfjs'] as const) {
      expect(emit(c, t)).toContain('training-mode dropout p=0 on the attention probabilities, p=0.1 after attn.o and after ffn.w2, p=0.3 after the activation.');
    }
    const sw = resolveConfig({ layers: 2, dModel: 64, heads: 4, seqLen: 16, activation: 'swiglu', dropout: 0.1 });
    expect(emit(sw, 'pytorch')).toContain('p=0.1 on the attention probabilities, p=0.1 after attn.o and after ffn.w2, p=0.1 after the SwiGLU product.');
  });
  it('unknown target names the flag', () => {
    expect(() => emit(adv.config, 'keras')).toThrow(/--emit: must be one of pytorch, jax, tfjs/);
  });
});
