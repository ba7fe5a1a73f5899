/**
 * Bad input → one clear error naming the field: the API throws InputError with that `field`, and
 * the built CLI exits with code 2 printing exactly one line `error: <field>: <message>`.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { component, InputError, predict, resolveConfig } from '../src/index.js';
import { toConfigV1 } from '../src/config.js';
import { cli, ensureBuilt, expectOneErrorLine, spawnCli } from './mc/cli.js';

const good = { layers: 3, dModel: 64, heads: 4, dFF: 256, seqLen: 16 };
const dir = mkdtempSync(join(tmpdir(), 'moments-cfg-'));
let fileNo = 0;
function file(text: string): string {
  const p = join(dir, `c${fileNo++}.json`);
  writeFileSync(p, text);
  return p;
}

function fieldOf(f: () => unknown): string {
  try { f(); } catch (e) {
    if (e instanceof InputError) return e.field;
    throw e;
  }
  throw new Error('no error thrown');
}

/** [label, config, field the error must name] */
const badConfigs: [string, unknown, string][] = [
  ['unknown top-level field', { ...good, foo: 1 }, 'foo'],
  ['unknown init field', { ...good, init: { qk: 0.02, wq: 0.02 } }, 'init.wq'],
  ['unknown residual field', { ...good, residual: { skip: 1, alpha: 2 } }, 'residual.alpha'],
  ['unknown input field', { ...good, input: { mean: 0, sd: 1 } }, 'input.sd'],
  ['negative input variance', { ...good, input: { var: -1 } }, 'input.var'],
  ['negative std', { ...good, init: { qk: -0.02 } }, 'init.qk'],
  ['negative std inside a per-layer array', { ...good, init: { v: [0.02, -0.02, 0.02] } }, 'init.v[1]'],
  ['negative residual multiplier', { ...good, residual: { branch: -1 } }, 'residual.branch'],
  ['dropout = 1', { ...good, dropout: 1 }, 'dropout'],
  ['dropout < 0', { ...good, dropout: -0.1 }, 'dropout'],
  ['heads not dividing dModel', { ...good, dModel: 10, heads: 4 }, 'heads'],
  ['r > 1', { ...good, input: { r: 1.5 } }, 'input.r'],
  ['r < -1', { ...good, input: { r: -1.01 } }, 'input.r'],
  ['layers = 0', { ...good, layers: 0 }, 'layers'],
  ['layers > 100000', { ...good, layers: 100001 }, 'layers'],
  ['layers not an integer', { ...good, layers: 2.5 }, 'layers'],
  ['layers missing', { dModel: 64, heads: 4, seqLen: 16 }, 'layers'],
  ['dModel a string', { ...good, dModel: '64' }, 'dModel'],
  ['seqLen null', { ...good, seqLen: null }, 'seqLen'],
  ['skip a string', { ...good, residual: { skip: '1' } }, 'residual.skip'],
  ['dropout a boolean', { ...good, dropout: true }, 'dropout'],
  ['attnDropout = 1', { ...good, attnDropout: 1 }, 'attnDropout'],
  ['attnDropout < 0', { ...good, dropout: 0.1, attnDropout: -0.1 }, 'attnDropout'],
  ['attnDropout a string', { ...good, attnDropout: '0.1' }, 'attnDropout'],
  ['actDropout = 1', { ...good, actDropout: 1 }, 'actDropout'],
  ['actDropout < 0', { ...good, actDropout: -0.01 }, 'actDropout'],
  ['actDropout null', { ...good, actDropout: null }, 'actDropout'],
  ['actDropout inside an array config', [good, { ...good, actDropout: 1.5 }], '[1].actDropout'],
  ['causal a number', { ...good, causal: 1 }, 'causal'],
  ['per-layer array too short', { ...good, residual: { branch: [1, 1] } }, 'residual.branch'],
  ['per-layer array too long', { ...good, init: { ffn2: [0.1, 0.1, 0.1, 0.1] } }, 'init.ffn2'],
  ['per-layer array holding a string', { ...good, init: { o: [0.1, '0.1', 0.1] } }, 'init.o[1]'],
  ['unknown norm placement', { ...good, norm: 'middle' }, 'norm'],
  ['unknown activation', { ...good, activation: 'tanh' }, 'activation'],
  ['not an object', [1, 2], '[0]'],
  ['second config of an array is bad', [good, { ...good, layers: -1 }], '[1].layers'],
  // 16 exchangeable tokens cannot correlate below −1/15 (the causal fold turned it into NaN, reported as "explodes")
  ['input r below -1/(seqLen-1)', { ...good, input: { r: -0.5 } }, 'input.r'],
  ['input r = -1 with seqLen 16', { ...good, causal: true, input: { r: -1 } }, 'input.r'],
  // a hole of a sparse array (API) / null (JSON) is not a number (map() skipped holes: a silent "explodes")
  // eslint-disable-next-line no-sparse-arrays
  ['per-layer array with a hole', { ...good, residual: { skip: [1, , 1] } }, 'residual.skip[1]'],
];

beforeAll(() => ensureBuilt(), 120_000);

describe('config validation (API: InputError names the field)', () => {
  for (const [label, cfg, field] of badConfigs) {
    it(`${label} → ${field}`, () => {
      expect(fieldOf(() => predict(cfg as object))).toBe(field);
    });
  }
  it('a valid config passes, defaults filled', () => {
    const c = resolveConfig(good);
    expect(c.norm).toBe('pre');
    expect(c.skip).toEqual([1, 1, 1]);
    expect(c.input).toEqual({ mean: 0, var: 1, r: 0 });
  });
  it('attnDropout and actDropout default to dropout; toConfigV1 writes them only where they differ', () => {
    const one = resolveConfig({ ...good, dropout: 0.2 });
    expect([one.dropout, one.attnDropout, one.actDropout]).toEqual([0.2, 0.2, 0.2]);
    expect(toConfigV1(one)).not.toHaveProperty('attnDropout');
    expect(toConfigV1(one)).not.toHaveProperty('actDropout');
    const none = resolveConfig(good);
    expect([none.dropout, none.attnDropout, none.actDropout]).toEqual([0, 0, 0]);
    const sep = resolveConfig({ ...good, dropout: 0.2, attnDropout: 0, actDropout: 0.3 });
    expect([sep.dropout, sep.attnDropout, sep.actDropout]).toEqual([0.2, 0, 0.3]);
    const back = toConfigV1(sep);
    expect(back).toMatchObject({ dropout: 0.2, attnDropout: 0, actDropout: 0.3 });
    expect(resolveConfig(back)).toEqual(sep); // round trip
    const onlyAct = toConfigV1(resolveConfig({ ...good, dropout: 0.1, actDropout: 0 }));
    expect(onlyAct).not.toHaveProperty('attnDropout');
    expect(onlyAct.actDropout).toBe(0);
  });
  it('the error shows NaN and Infinity as such, and a missing field as required', () => {
    const msg = (f: () => unknown) => { try { f(); } catch (e) { return (e as Error).message; } return 'no error'; };
    expect(msg(() => predict({ ...good, dropout: NaN }))).toMatch(/^dropout: must be a finite number in \[0, 1\), got NaN$/);
    expect(msg(() => predict({ ...good, init: { qk: Infinity } }))).toMatch(/got Infinity$/);
    expect(msg(() => predict({ ...good, layers: 2n as unknown as number }))).toMatch(/^layers: must be a finite number .*got 2n$/);
    expect(msg(() => predict({ dModel: 64, heads: 4, seqLen: 16 }))).toMatch(/^layers: is required \(a finite number in \[1, 100000\]\)$/);
  });
  it('token correlations down to -1/(seqLen-1) are accepted and stay finite', () => {
    expect(predict({ ...good, seqLen: 2, input: { r: -1 } }).layers[0].r).toBe(-1);
    const p = predict({ ...good, layers: 2, seqLen: 8, causal: true, input: { r: -1 / 7 } });
    expect(p.explodesAt).toBeUndefined();
    for (const l of p.layers) for (const v of [l.mean, l.var, l.r, l.gradVar, l.gradR]) expect(Number.isFinite(v)).toBe(true);
  });
  it('predict options are validated like the config (opts.formula, opts.batch, opts.trace)', () => {
    expect(fieldOf(() => predict(good, { formula: 'bogus' as 'ours' }))).toBe('opts.formula');
    expect(fieldOf(() => predict(good, { batch: 0 }))).toBe('opts.batch');
    expect(fieldOf(() => predict(good, { trace: 'yes' as unknown as boolean }))).toBe('opts.trace');
    expect(fieldOf(() => predict(good, { colour: 1 } as object))).toBe('opts.colour');
    expect(predict(good, { formula: 'paper', batch: 4 }).layers).toHaveLength(4);
  });
  it('a non-finite number (1e999 parses to Infinity) is rejected', () => {
    expect(fieldOf(() => predict(JSON.parse(`{"layers": 3, "dModel": 64, "heads": 4, "seqLen": 16, "input": {"var": 1e999}}`)))).toBe('input.var');
  });
});

describe('config validation (built CLI: exit code 2, one line `error: <field>: …`)', () => {
  for (const [label, cfg, field] of badConfigs) {
    it(`predict: ${label}`, async () => {
      const r = await cli(['predict', '--config', file(JSON.stringify(cfg))]);
      expect(r.code).toBe(2);
      expect(expectOneErrorLine(r.stderr, field)).toBeNull();
      expect(r.stdout).toBe('');
    });
  }
  it('bad JSON names --config', async () => {
    const r = await cli(['predict', '--config', file('{"layers": 3, "dModel": 64,,}')]);
    expect(r.code).toBe(2);
    expect(expectOneErrorLine(r.stderr, '--config')).toBeNull();
  });
  it('bad JSON whose parser message quotes a line break still gives one line', async () => {
    const r = await cli(['predict', '--config', file('{"layers": 3, "init": {"v": NaN}}\n')]);
    expect(r.code).toBe(2);
    expect(expectOneErrorLine(r.stderr, '--config')).toBeNull();
  });
  it('missing file names --config', async () => {
    const r = await cli(['predict', '--config', join(dir, 'does-not-exist.json')]);
    expect(r.code).toBe(2);
    expect(expectOneErrorLine(r.stderr, '--config')).toBeNull();
  });
  it('missing --config names --config', async () => {
    const r = await cli(['predict']);
    expect(r.code).toBe(2);
    expect(expectOneErrorLine(r.stderr, '--config')).toBeNull();
  });
  it('unknown option is named', async () => {
    const r = await cli(['predict', '--config', 'examples/preln-48.json', '--colour']);
    expect(r.code).toBe(2);
    expect(expectOneErrorLine(r.stderr, '--colour')).toBeNull();
  });
  it('end to end (child process of bin/moments.js): exit code 2 and one error line', () => {
    const r = spawnCli(['predict', '--config', file(JSON.stringify({ ...good, dModel: 10, heads: 4 }))]);
    expect(r.code).toBe(2);
    expect(expectOneErrorLine(r.stderr, 'heads')).toBeNull();
  }, 60_000);
});

/** [label, request, field] */
const badRequests: [string, unknown, string][] = [
  ['unknown block', { block: 'conv2d', params: {} }, 'block'],
  ['block not a string', { block: 3 }, 'block'],
  ['unknown request field', { block: 'relu', foo: 1 }, 'foo'],
  ['unknown param', { block: 'relu', params: { slope: 0.1 } }, 'params.slope'],
  ['missing required param', { block: 'linear', params: { dOut: 4, std: 0.1 } }, 'params.dIn'],
  ['negative std', { block: 'linear', params: { dIn: 4, dOut: 4, std: -0.1 } }, 'params.std'],
  ['negative bias std', { block: 'linear', params: { dIn: 4, dOut: 4, std: 0.1, biasStd: -1 } }, 'params.biasStd'],
  ['dropout p = 1', { block: 'dropout', params: { p: 1 } }, 'params.p'],
  ['dropout p < 0', { block: 'dropout', params: { p: -0.5 } }, 'params.p'],
  ['ffn actDropout = 1', { block: 'ffn', params: { dModel: 8, dFF: 16, activation: 'relu', std1: 0.1, std2: 0.1, actDropout: 1 } }, 'params.actDropout'],
  ['swiglu actDropout < 0', { block: 'swiglu', params: { dModel: 8, dFF: 16, std1: 0.1, std3: 0.1, std2: 0.1, dropout: 0.1, actDropout: -0.2 } }, 'params.actDropout'],
  ['attnDropout = 1', { block: 'attention', params: { dModel: 8, heads: 2, stdQ: 0.1, stdK: 0.1, stdV: 0.1, stdO: 0.1, seqLen: 4, attnDropout: 1 } }, 'params.attnDropout'],
  ['heads not dividing dModel', { block: 'attention', params: { dModel: 10, heads: 4, stdQ: 0.1, stdK: 0.1, stdV: 0.1, stdO: 0.1, seqLen: 4 } }, 'params.heads'],
  ['value: true without stdV', { block: 'attention', params: { dModel: 8, heads: 2, stdQ: 0.1, stdK: 0.1, stdO: 0.1, seqLen: 4 } }, 'params.stdV'],
  ['bad enum', { block: 'gelu', params: { approximate: 'sigmoid' } }, 'params.approximate'],
  ['non-integer width', { block: 'layernorm', params: { d: 12.5 } }, 'params.d'],
  ['negative input variance', { block: 'relu', input: { var: -1 } }, 'input.var'],
  ['|r| > 1 input', { block: 'relu', input: { r: 1.2 } }, 'input.r'],
  ['|r| > 1 grad', { block: 'relu', grad: { r: -2 } }, 'grad.r'],
  ['negative grad variance', { block: 'relu', grad: { var: -3 } }, 'grad.var'],
  ['input mean a string', { block: 'relu', input: { mean: 'zero' } }, 'input.mean'],
  ['gelu_tanh told approximate: none (was silently tanh)', { block: 'gelu_tanh', params: { approximate: 'none' } }, 'params.approximate'],
  ['attention input r below -1/(seqLen-1)', { block: 'attention', params: { dModel: 8, heads: 2, stdQ: 0.1, stdK: 0.1, stdV: 0.1, stdO: 0.1, seqLen: 4 }, input: { r: -0.5 } }, 'input.r'],
  ['attention grad r below -1/(seqLen-1)', { block: 'attention', params: { dModel: 8, heads: 2, stdQ: 0.1, stdK: 0.1, stdV: 0.1, stdO: 0.1, seqLen: 4, causal: true }, grad: { r: -0.9 } }, 'grad.r'],
];

describe('component validation (API and CLI)', () => {
  for (const [label, req, field] of badRequests) {
    it(`${label} → ${field}`, async () => {
      expect(fieldOf(() => component(req))).toBe(field);
      const q = req as { block: unknown; params?: unknown; input?: unknown; grad?: unknown; foo?: unknown };
      if (typeof q.block !== 'string' || q.foo !== undefined) return; // not expressible as CLI flags
      const argv = ['component', q.block, '--params', JSON.stringify(q.params ?? {})];
      if (q.input) argv.push('--input', JSON.stringify(q.input));
      if (q.grad) argv.push('--grad', JSON.stringify(q.grad));
      const r = await cli(argv);
      expect(r.code).toBe(2);
      expect(expectOneErrorLine(r.stderr, field)).toBeNull();
    });
  }
  it('--params null is rejected as the API rejects params: null (the CLI had turned it into {})', async () => {
    expect(fieldOf(() => component({ block: 'relu', params: null }))).toBe('params');
    const r = await cli(['component', 'relu', '--params', 'null']);
    expect(r.code).toBe(2);
    expect(expectOneErrorLine(r.stderr, 'params')).toBeNull();
  });
  it('a second positional argument is named, not ignored (predict: one config file; component: one block)', async () => {
    const ok = file(JSON.stringify(good));
    for (const argv of [['predict', ok, ok], ['predict', ok, '--config', ok]]) {
      const r = await cli(argv);
      expect(r.code).toBe(2);
      expect(expectOneErrorLine(r.stderr, '--config')).toBeNull();
    }
    const c = await cli(['component', 'relu', 'gelu']);
    expect(c.code).toBe(2);
    expect(expectOneErrorLine(c.stderr, 'block')).toBeNull();
    expect((await cli(['predict', ok, '--json'])).code).toBe(0); // the documented positional form
  });
  it('invalid JSON in --params names --params', async () => {
    const r = await cli(['component', 'relu', '--params', '{nope']);
    expect(r.code).toBe(2);
    expect(expectOneErrorLine(r.stderr, '--params')).toBeNull();
  });
});
