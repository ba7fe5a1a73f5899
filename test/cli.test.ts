/**
 * The built CLI (dist/ via bin/moments.js): predict, component (single and --batch), formulas.
 * Most calls run main() of dist/src/cli.js in-process (output captured; one module load instead
 * of a node start per call); a few run bin/moments.js as a child process end to end.
 * Output must never contain NaN or Infinity, also for exploding configs.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { component } from '../src/index.js';
import { describe as describeConfig } from '../src/commands/predict.js';
import { resolveConfig } from '../src/config.js';
import { cli, ensureBuilt, expectOneErrorLine, NON_FINITE, ROOT, spawnCli } from './mc/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'moments-cli-'));
const write = (name: string, text: string) => { const p = join(dir, name); writeFileSync(p, text); return p; };
const examples = readdirSync(join(ROOT, 'examples')).filter((f) => f.endsWith('.json')).map((f) => `examples/${f}`);

beforeAll(() => ensureBuilt(), 120_000);

interface Layer { layer: number; mean: number | null; var: number | null; r: number | null; gradVar: number | null; gradR: number | null }

function checkLayers(layers: Layer[], N: number) {
  expect(layers).toHaveLength(N + 1);
  layers.forEach((l, i) => {
    expect(l.layer).toBe(i);
    for (const k of ['mean', 'var', 'r', 'gradVar', 'gradR'] as const) {
      const v = l[k];
      expect(v === null || (typeof v === 'number' && Number.isFinite(v))).toBe(true);
    }
  });
}

describe('predict', () => {
  it('has example configs to run', () => expect(examples.length).toBeGreaterThan(0));
  for (const ex of examples) {
    it(`${ex}: text table and --json`, async () => {
      const t = await cli(['predict', '--config', ex]);
      expect(t.code).toBe(0);
      expect(t.stderr).toBe('');
      expect(t.stdout).toMatch(/layer\s+mean\s+var\s+r\s+gradVar\s+gradR/);
      expect(t.stdout).not.toMatch(NON_FINITE);
      const j = await cli(['predict', '--config', ex, '--json']);
      expect(j.code).toBe(0);
      expect(j.stdout).not.toMatch(NON_FINITE);
      const out = JSON.parse(j.stdout);
      const cfg = JSON.parse((await import('node:fs')).readFileSync(join(ROOT, ex), 'utf8'));
      const list = Array.isArray(out) ? out : [out];
      const cfgs = Array.isArray(cfg) ? cfg : [cfg];
      expect(list).toHaveLength(cfgs.length);
      list.forEach((o: { layers: Layer[]; warnings: string[] }, i: number) => {
        checkLayers(o.layers, cfgs[i].layers);
        expect(Array.isArray(o.warnings)).toBe(true);
        // entry N carries the injected gradient G ~ N(0, 1): gradVar 1, gradR 0
        expect(o.layers[cfgs[i].layers].gradVar).toBe(1);
        expect(o.layers[cfgs[i].layers].gradR).toBe(0);
      });
    });
  }

  it('an array config answers with an array, same order', async () => {
    const a = { layers: 2, dModel: 32, heads: 2, seqLen: 8 }, b = { ...a, layers: 5, norm: 'post' };
    const r = await cli(['predict', '--config', write('arr.json', JSON.stringify([a, b])), '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toHaveLength(2);
    checkLayers(out[0].layers, 2);
    checkLayers(out[1].layers, 5);
  });

  it('exploding gradient (Pre-LN, huge stds, 1000 layers): warning "explodes at layer k", nulls, no NaN/Infinity', async () => {
    // qk 8: saturated attention whose Q/K paths grow the gradient each layer; it passes 1e300 near
    // layer 261 (qk 5 stopped at 1.8e289 at layer 0 once the Q path along the logit direction took
    // T ≪ J)
    const p = write('expl.json', JSON.stringify({ layers: 1000, dModel: 64, heads: 4, dFF: 256, seqLen: 16, norm: 'pre', init: { qk: 8, v: 50, o: 50, ffn1: 50, ffn2: 50 } }));
    const t = await cli(['predict', '--config', p]);
    expect(t.code).toBe(0);
    expect(t.stdout).not.toMatch(NON_FINITE);
    expect(t.stdout).toMatch(/explodes at layer \d+/);
    const j = await cli(['predict', '--config', p, '--json']);
    expect(j.stdout).not.toMatch(NON_FINITE);
    const o = JSON.parse(j.stdout);
    checkLayers(o.layers, 1000);
    expect(o.warnings.some((w: string) => /explodes at layer \d+/.test(w))).toBe(true);
    expect(o.layers.some((l: Layer) => l.gradVar === null)).toBe(true);
  });

  it('exploding forward variance (skip λ = 10, 1000 layers): warning "explodes at layer k", no NaN/Infinity', async () => {
    // λ² = 100 per sub-layer: the variance passes 1e300 after ~150 sub-layers
    const p = write('explf.json', JSON.stringify({ layers: 1000, dModel: 32, heads: 2, seqLen: 8, norm: 'pre', residual: { skip: 10, branch: 1 } }));
    const j = await cli(['predict', '--config', p, '--json']);
    expect(j.code).toBe(0);
    expect(j.stdout).not.toMatch(NON_FINITE);
    const o = JSON.parse(j.stdout);
    checkLayers(o.layers, 1000);
    const w = o.warnings.find((s: string) => /explodes at layer \d+/.test(s));
    expect(w).toBeDefined();
    const k = Number(/explodes at layer (\d+)/.exec(w)![1]);
    // from first principles: var_l ≥ 100^(2l) (two sub-layers per layer) ⇒ overflow by l = 75
    expect(k).toBeGreaterThan(0);
    expect(k).toBeLessThanOrEqual(76);
    const t = await cli(['predict', '--config', p]);
    expect(t.stdout).not.toMatch(NON_FINITE);
  });

  it('forward overflow in the causal fold: every entry below "explodes at layer k" is complete (no lone null r)', async () => {
    const p = write('explfc.json', JSON.stringify({ layers: 400, dModel: 64, heads: 4, seqLen: 16, causal: true, residual: { skip: 2 } }));
    const o = JSON.parse((await cli(['predict', '--config', p, '--json'])).stdout);
    const k = o.explodesAt.forward as number;
    expect(k).toBeGreaterThan(1);
    for (let l = 0; l < k; l++) for (const q of ['mean', 'var', 'r']) expect(o.layers[l][q]).not.toBeNull();
    for (let l = k; l <= 400; l++) expect(o.layers[l].var).toBeNull();
    // the warning says why (the correlation's products overflow near variance 1e154, not at 1e300)
    const w = (o.warnings as string[]).find((x) => /explodes at layer/.test(x))!;
    expect(w).toMatch(/token correlation overflows/);
    expect(w).not.toMatch(/exceeds 1e300/);
  });

  it('warnings never print NaN: heavy-tail ratio 0/0 (gradVar 0 at layer 0), a norm domain warning at an overflowed input', async () => {
    const cfgs = [
      { layers: 96, dModel: 8, heads: 2, seqLen: 16, norm: 'post', normKind: 'rmsnorm', finalNorm: true, residual: { skip: 0, branch: 0.1 }, init: { qk: 0.02, v: 0, o: 0.125, ffn1: 0.02, ffn2: 0.125 }, input: { mean: -2, var: 0, r: 1 } },
      { layers: 96, dModel: 4, heads: 1, seqLen: 1, causal: true, norm: 'post', normKind: 'rmsnorm', activation: 'swiglu', finalNorm: true, residual: { skip: 0, branch: 3 }, init: { qk: 0.1, v: 0.02, o: 0.125, ffn1: 0.02, ffn2: 0.02 }, input: { mean: 0.5, var: 1e-6, r: 0.2 } },
    ];
    for (const [i, c] of cfgs.entries()) {
      const r = await cli(['predict', '--config', write(`nan${i}.json`, JSON.stringify(c)), '--json']);
      expect(r.code).toBe(0);
      expect(r.stdout).not.toMatch(NON_FINITE);
    }
  });

  it('backward overflow: "explodes at layer k" names the lowest reported gradient, plain and causal fold alike', async () => {
    // Post-LN with dropout 0.99: each sub-layer's backward multiplies the gradient by ~1/(1 − p)
    for (const causal of [false, true]) {
      const p = write(`explb${causal}.json`, JSON.stringify({ layers: 400, dModel: 64, heads: 4, seqLen: 16, norm: 'post', causal, dropout: 0.99 }));
      const o = JSON.parse((await cli(['predict', '--config', p, '--json'])).stdout);
      const k = o.explodesAt.backward as number;
      expect(o.warnings[0]).toBe(`gradient variance explodes at layer ${k} (exceeds 1e300 going backward); gradients below it are not reported`);
      expect(o.layers[k].gradVar).not.toBeNull();
      for (let l = 0; l < k; l++) expect(o.layers[l].gradVar).toBeNull();
    }
  });

  it('end to end via bin/moments.js: predict --json on an example', () => {
    const r = spawnCli(['predict', '--config', examples[0], '--json']);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(NON_FINITE);
    expect(() => JSON.parse(r.stdout)).not.toThrow();
  }, 60_000);
});

describe('component', () => {
  const req = { block: 'relu', params: {}, input: { mean: 0, var: 2, r: 0.5 }, grad: { var: 1, r: 0.3 } };

  it('single request --json equals the API answer', async () => {
    const r = await cli(['component', 'relu', '--params', '{}', '--input', JSON.stringify(req.input), '--grad', JSON.stringify(req.grad), '--json']);
    expect(r.code).toBe(0);
    const a = JSON.parse(r.stdout);
    expect(a).toEqual(JSON.parse(JSON.stringify(component(req))));
    for (const k of ['mean', 'var', 'r', 'gradVar', 'gradR', 'method', 'warnings']) expect(a).toHaveProperty(k);
  });

  it('single request, text output', async () => {
    const r = await cli(['component', 'linear', '--params', '{"dIn":64,"dOut":64,"std":0.125}', '--input', '{"mean":0,"var":1,"r":0.2}']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^linear: mean .* var .* r .* gradVar .* gradR /);
    expect(r.stdout).not.toMatch(NON_FINITE);
  });

  it('--batch: one answer per line, same order; a bad line answers {"error"} and exit code 2', async () => {
    const reqs: unknown[] = [
      req,
      { block: 'linear', params: { dIn: 128, dOut: 64, std: 0.1 }, input: { mean: 0.5, var: 1, r: 0.2 } },
      { block: 'dropout', params: { p: 1.5 } },
      { block: 'softmax', params: { n: 16 }, input: { var: 2, r: 0.4 } },
      { block: 'attention', params: { dModel: 64, heads: 4, stdQ: 0.1, stdK: 0.1, stdV: 0.1, stdO: 0.1, seqLen: 32, causal: true } },
    ];
    const lines = reqs.map((q) => JSON.stringify(q));
    lines.splice(3, 0, '{not json');
    const p = write('batch.jsonl', lines.join('\n') + '\n');
    const r = await cli(['component', '--batch', p, '--json']);
    expect(r.code).toBe(2);
    const out = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(out).toHaveLength(6);
    expect(out[0]).toEqual(JSON.parse(JSON.stringify(component(reqs[0]))));
    expect(out[1]).toEqual(JSON.parse(JSON.stringify(component(reqs[1]))));
    expect(Object.keys(out[2])).toEqual(['error']);
    expect(out[2].error).toMatch(/params\.p/);
    expect(Object.keys(out[3])).toEqual(['error']);
    expect(out[3].error).toMatch(/line 4/);
    expect(out[4]).toEqual(JSON.parse(JSON.stringify(component(reqs[3]))));
    expect(out[5]).toEqual(JSON.parse(JSON.stringify(component(reqs[4]))));
    expect(r.stdout).not.toMatch(NON_FINITE);
    // stderr: one summary line
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^error: /);
  });

  it('--batch: a blank line between requests answers {"error"} in its place (answer k is line k\'s); trailing blank lines end the file', async () => {
    const good = JSON.stringify(req);
    const p = write('blank.jsonl', `${good}\n\n   \n${good}\n\n\n`);
    const r = await cli(['component', '--batch', p, '--json']);
    expect(r.code).toBe(2);
    const out = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(out).toHaveLength(4);
    expect(out[0]).toEqual(JSON.parse(JSON.stringify(component(req))));
    expect(out[1]).toEqual({ error: expect.stringMatching(/^line 2: is empty/) });
    expect(out[2]).toEqual({ error: expect.stringMatching(/^line 3: is empty/) });
    expect(out[3]).toEqual(out[0]);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('--batch with only good lines exits 0', async () => {
    const p = write('good.jsonl', [req, { block: 'gelu_tanh', input: { var: 1 } }].map((q) => JSON.stringify(q)).join('\n'));
    const r = await cli(['component', '--batch', p, '--json']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(2);
  });

  it('--batch of a missing file names --batch', async () => {
    const r = await cli(['component', '--batch', join(dir, 'nope.jsonl'), '--json']);
    expect(r.code).toBe(2);
    expect(expectOneErrorLine(r.stderr, '--batch')).toBeNull();
  });

  it('overflowing moments become null with a warning, never NaN/Infinity', async () => {
    const r = await cli(['component', 'linear', '--params', '{"dIn":1000000,"dOut":1000000,"std":1e150}', '--input', '{"var":1e10}', '--json']);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(NON_FINITE);
    const a = JSON.parse(r.stdout);
    expect(a.var).toBeNull();
    expect(a.warnings.join(' ')).toMatch(/explodes/);
  });

  it('an overflowing logit variance is named in words in the saturation warning, never "Infinity"', async () => {
    const r = await cli(['component', 'attention', '--params', '{"dModel":64,"heads":4,"stdQ":0.1,"stdK":0.1,"stdV":0.1,"stdO":0.1,"seqLen":8}', '--input', '{"var":1e300}', '--json']);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(NON_FINITE);
    expect(JSON.parse(r.stdout).warnings.join(' ')).toMatch(/attention saturated: .*overflow/);
  });

  it('end to end via bin/moments.js: --batch exit code 2 on a bad line', () => {
    const p = write('e2e.jsonl', `${JSON.stringify(req)}\n{"block":"nope"}\n`);
    const r = spawnCli(['component', '--batch', p, '--json']);
    expect(r.code).toBe(2);
    const out = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(out).toHaveLength(2);
    expect(out[1]).toHaveProperty('error');
  }, 60_000);
});

describe('an internal error (a bug, not bad input)', () => {
  it('prints one line naming it and exits 70, no stack trace (MOMENTS_DEBUG=1 rethrows)', async () => {
    const { COMMANDS } = (await import(join(ROOT, 'dist', 'src', 'cli.js'))) as { COMMANDS: Record<string, () => Promise<unknown>> };
    COMMANDS.boom = async () => ({ usage: 'boom', run: () => { throw new RangeError('Invalid typed array length: 1e13\n    at x'); } });
    try {
      const r = await cli(['boom']);
      expect(r.code).toBe(70);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^error: internal error .*RangeError: Invalid typed array length/);
      process.env.MOMENTS_DEBUG = '1';
      await expect(cli(['boom'])).rejects.toThrow(RangeError);
    } finally {
      delete COMMANDS.boom;
      delete process.env.MOMENTS_DEBUG;
    }
  });
});

describe('formulas', () => {
  const blocks = ['linear', 'embedding', 'relu', 'gelu', 'silu', 'layernorm', 'rmsnorm', 'dropout', 'softmax', 'attention', 'ffn', 'swiglu', 'residual'];

  it('lists every block with its source, method and domain', async () => {
    const r = await cli(['formulas']);
    expect(r.code).toBe(0);
    for (const b of blocks) expect(r.stdout).toMatch(new RegExp(`^${b} — `, 'm'));
    expect(r.stdout).toMatch(/source:/);
    expect(r.stdout).toMatch(/method:/);
    expect(r.stdout).toMatch(/domain:/);
    expect(r.stdout).not.toMatch(NON_FINITE);
  });

  for (const b of ['relu', 'layernorm', 'attention', 'gelu_tanh']) {
    it(`formulas ${b} and --tex`, async () => {
      const t = await cli(['formulas', b]);
      expect(t.code).toBe(0);
      expect(t.stdout.split('\n').filter((l) => / — /.test(l) && !/^\s/.test(l))).toHaveLength(1);
      const x = await cli(['formulas', b, '--tex']);
      expect(x.code).toBe(0);
      if (b === 'relu' || b === 'layernorm') expect(x.stdout).toMatch(/\\frac|\\sqrt|\\cdot|\\left/); // LaTeX markup
    });
  }

  it('formulas relu --tex shows the DSLM ReLU variance σ²(π−1)/(2π) in LaTeX', async () => {
    const x = await cli(['formulas', 'relu', '--tex']);
    expect(x.stdout).toMatch(/\\pi/);
  });

  it('unknown block: exit 2, one error line naming block', async () => {
    const r = await cli(['formulas', 'conv']);
    expect(r.code).toBe(2);
    expect(expectOneErrorLine(r.stderr, 'block')).toBeNull();
  });

  it('unknown command: exit 2', async () => {
    const r = await cli(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: /);
  });
});

describe('predict header', () => {
  it('a per-layer array shows first…last and, where the ends do not show it, its range', () => {
    const h = (skip: number[]) => describeConfig(resolveConfig({ layers: 3, dModel: 64, heads: 4, seqLen: 16, residual: { skip } }));
    expect(h([1, 2, 1])).toMatch(/λ=1\.00…1\.00 \[1\.00, 2\.00\] /);
    expect(h([1, 2, 3])).toMatch(/λ=1\.00…3\.00 /);
    expect(h([1, 1, 1])).toMatch(/λ=1\.00 /);
  });
});
