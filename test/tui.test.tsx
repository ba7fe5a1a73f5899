/**
 * The terminal UI, driven through ink-testing-library at 80×24: every panel renders, edits
 * re-predict (with first-principles checks on the numbers), invalid edits show the InputError
 * inline, warnings point at layers, and the plotting helper draws what it is given.
 */
import React from 'react';
import { describe, expect, it, afterEach } from 'vitest';
import { render, cleanup } from 'ink-testing-library';
import { readFileSync } from 'node:fs';
import { App } from '../src/tui/App.js';
import { chart, chartText, progressBar } from '../src/tui/plot.js';
import { FIELDS, stepField, typeField, validate } from '../src/tui/model.js';
import { classify } from '../src/tui/warnings.js';
import { schemesService } from '../src/tui/schemes.js';
import type { Prediction } from '../src/engine.js';
import type { ResolvedConfig } from '../src/config.js';

const PRELN = JSON.parse(readFileSync(new URL('../examples/preln-48.json', import.meta.url), 'utf8'));
const KEY = { up: '\u001B[A', down: '\u001B[B', right: '\u001B[C', left: '\u001B[D', tab: '\t', esc: '\u001B', enter: '\r' };
const tick = (ms = 30) => new Promise((r) => setTimeout(r, ms));

/** Mount the app at 80×24 and record every prediction it makes. */
function mount(initial: Record<string, unknown>, extra: Partial<React.ComponentProps<typeof App>> = {}) {
  const preds: { p: Prediction; c: ResolvedConfig }[] = [];
  const r = render(<App initial={initial} columns={80} rows={24} onPredict={(p, c) => preds.push({ p, c })} {...extra} />);
  // after each key wait until the frame changes (up to 1 s: a loaded CI machine renders late), then settle
  const press = async (...keys: string[]) => {
    for (const k of keys) {
      const before = r.lastFrame();
      r.stdin.write(k);
      for (let t = 0; t < 100 && r.lastFrame() === before; t++) await tick(10);
      await tick();
    }
  };
  const frame = () => r.lastFrame() ?? '';
  return { ...r, preds, press, frame };
}

afterEach(() => cleanup());

describe('tui panels at 80×24', () => {
  it('profile view: model fields, three charts with the picked layer numbers, fits 80×24', async () => {
    const { frame } = mount(PRELN);
    await tick();
    const f = frame();
    const lines = f.split('\n');
    expect(lines.length).toBeLessThanOrEqual(24);
    for (const l of lines) expect([...l].length).toBeLessThanOrEqual(80);
    for (const s of ['MODEL', 'layers', 'dModel', 'activation', 'init qk', 'forward var', 'gradient var (log)', 'token correlation r', 'L1/48']) expect(f).toContain(s);
    expect(f).toMatch(/[\u2801-\u28ff]/); // braille dots were drawn
    expect(f).toContain('var  1.113'); // layer 1 of the Pre-LN example (engine value)
  });

  it('layer cursor: → and l move it, the numbers beside the chart follow', async () => {
    const { press, frame, preds } = mount(PRELN);
    await press(KEY.right, 'l', 'l');
    expect(frame()).toContain('L4/48');
    const l4 = preds[0].p.layers[4];
    expect(frame()).toContain(`var  ${l4.var!.toPrecision(4)}`);
    await press('G');
    expect(frame()).toContain('L48/48');
  });

  it('formula view: sub-blocks of the picked layer, formulas reproduce the engine, source/method/domain', async () => {
    const { press, frame } = mount(PRELN);
    await press(KEY.tab);
    let f = frame();
    expect(f).toContain('FORMULAS · layer 1 of 48');
    for (const s of ['attn norm', 'attn attention', 'ffn  W1', 'ffn  residual', 'layernorm', 'engine']) expect(f).toContain(s);
    expect(f).toMatch(/= 1\.000 +engine 1\.000 ✓/); // LayerNorm output variance, formula evaluated = engine
    await press(KEY.down); // attention: the K2 softmax factor is substituted too
    f = frame();
    expect(f).toContain('attention — attention');
    expect(f).toMatch(/engine [\d.e-]+ ✓/);
    await press(KEY.down, KEY.down, KEY.down, KEY.down); // ffn W1: linear
    f = frame();
    expect(f).toContain('din * w ^ 2 * (s + mu ^ 2) + b ^ 2');
    expect(f).toContain('din=512');
    expect(f).toContain('dout=2048');
  });

  it('help overlay opens with ? and any key closes it', async () => {
    const { press, frame } = mount(PRELN);
    await press('?');
    expect(frame()).toContain('keys');
    expect(frame()).toContain('quit');
    await press('x');
    expect(frame()).toContain('MODEL');
  });
});

describe('tui schemes view (src/schemes.ts, src/advise.ts)', () => {
  it('lists every scheme side by side; ⏎ applies one (gpt2 keeps Pre-LN variance near 1); a applies the advised init', async () => {
    const { press, frame, preds } = mount(PRELN, { schemes: schemesService });
    await press('s');
    const f = frame();
    for (const n of ['xavier', 'bert', 'gpt2', 'deepnorm', 'deepscalelm', 'admin', 't-fixup', 'advised']) expect(f).toContain(n);
    expect(f).toMatch(/gpt2 +1\.06/);
    await press(KEY.down, KEY.down, KEY.enter); // xavier → bert → gpt2
    const g = preds[preds.length - 1];
    expect(g.c.init.o[0]).toBeCloseTo(0.02 / Math.sqrt(2 * 48), 6); // GPT-2: output projections 0.02/√(2N)
    expect(g.p.layers[48].var!).toBeLessThan(preds[0].p.layers[48].var!);
    expect(frame()).toContain('init gpt2');
    await press('s', 'a');
    const a = preds[preds.length - 1];
    for (const l of a.p.layers) expect(l.var!).toBeGreaterThanOrEqual(0.9), expect(l.var!).toBeLessThanOrEqual(1.1);
    expect(frame()).toContain('init advised');
  });
});

describe('tui editing re-predicts', () => {
  it('+ on layers: one more layer, and the Pre-LN final variance grows (each block adds variance)', async () => {
    const { press, preds, frame } = mount(PRELN);
    const before = preds[preds.length - 1];
    await press('+', '+');
    const after = preds[preds.length - 1];
    expect(after.c.layers).toBe(50);
    expect(after.p.layers.length).toBe(51);
    expect(after.p.layers[50].var!).toBeGreaterThan(before.p.layers[48].var!);
    expect(frame()).toMatch(/layers +50/);
  });

  it('typing a value: 96 layers gives a larger final variance than 48', async () => {
    const { press, preds } = mount(PRELN);
    const v48 = preds[preds.length - 1].p.layers[48].var!;
    await press(KEY.enter, '\u007F', '\u007F', '9', '6', KEY.enter);
    const last = preds[preds.length - 1];
    expect(last.c.layers).toBe(96);
    expect(last.p.layers[96].var!).toBeGreaterThan(v48);
  });

  it('doubling a weight std quadruples the linear part it feeds (dModel·σ² law in the W1 stage)', async () => {
    const { press, preds } = mount(PRELN);
    const idx = FIELDS.findIndex((f) => f.path === 'init.ffn1');
    for (let i = 0; i < idx; i++) await press(KEY.down);
    await press(KEY.enter, ...'\u007F'.repeat(8).split(''), ...'0.04'.split(''), KEY.enter);
    const last = preds[preds.length - 1];
    expect(last.c.init.ffn1[0]).toBe(0.04);
    const w1 = last.p.trace!.sublayers.find((s) => s.kind === 'ffn')!.branch.find((b) => b.label === 'W1')!;
    expect(w1.fwd.out.var / w1.input.var).toBeCloseTo(512 * 0.04 ** 2, 10);
  });

  it('an invalid value shows the InputError inline (field named) and keeps the last valid profile; fixing it clears it', async () => {
    const { press, frame, preds } = mount(PRELN);
    const n = preds.length;
    await press(KEY.down, KEY.down); // heads
    await press(KEY.enter, '\u007F', '3', KEY.enter);
    const f = frame();
    expect(f).toContain('heads: must divide dModel (512), got 3');
    expect(f).toContain('✗');
    expect(f).toContain('forward var'); // charts of the last valid config stay
    expect(preds.length).toBe(n); // no prediction for the invalid draft
    await press('+'); // 3 → 6: still invalid; then type 16
    await press(KEY.enter, '\u007F', '1', '6', KEY.enter);
    expect(frame()).not.toContain('must divide');
    expect(preds[preds.length - 1].c.heads).toBe(16);
  });

  it('enum and boolean fields cycle/toggle: post-LN keeps every layer at unit variance', async () => {
    const { press, preds } = mount(PRELN);
    const idx = FIELDS.findIndex((f) => f.path === 'norm');
    for (let i = 0; i < idx; i++) await press(KEY.down);
    await press('+');
    const last = preds[preds.length - 1];
    expect(last.c.norm).toBe('post');
    for (const l of last.p.layers.slice(1)) expect(l.var!).toBeCloseTo(1, 3);
  });
});

describe('tui warnings', () => {
  it('an exploding config shows the warning with its layer; w jumps the cursor there', async () => {
    // Pre-LN with σ = 1 weights: every block multiplies its branch variance by ≈ d·σ² ≫ 1
    const expl = { ...PRELN, init: { qk: 0.02, v: 1, o: 1, ffn1: 1, ffn2: 1 } };
    const { press, frame, preds } = mount(expl);
    const p = preds[0].p;
    expect(p.warnings.length).toBeGreaterThan(0);
    const f = frame();
    expect(f).toMatch(/EXPLODES/);
    const w = p.warnings.map(classify).filter((x) => x.kind === 'explosion' && x.layer !== undefined).sort((a, b) => a.layer! - b.layer!)[0];
    expect(w).toBeDefined();
    await press('w');
    expect(frame()).toContain(`L${w.layer}/48`);
    expect(frame()).toContain('▸');
  });

  it('warnings are classified by kind and located', () => {
    expect(classify('rank collapse: token correlation r exceeds 0.99 at layer 7')).toMatchObject({ kind: 'rank-collapse', layer: 7 });
    expect(classify('gradient vanishes: variance below 1e-6 × its top value at layer 3')).toMatchObject({ kind: 'vanishing', layer: 3 });
    expect(classify('layer 5 attn: attention: attention saturated: logit variance')).toMatchObject({ kind: 'saturated', layer: 5 });
    expect(classify('forward variance explodes at layer 9 (exceeds 1e300)')).toMatchObject({ kind: 'explosion', layer: 9 });
  });
});

describe('model fields and plotting helper', () => {
  it('steps follow the field rules and validation is resolveConfig\'s', () => {
    const f = (p: string) => FIELDS.find((x) => x.path === p)!;
    const v = validate(PRELN);
    expect(v.ok).toBe(true);
    const c = v.ok ? v.cfg : undefined;
    expect(stepField(PRELN, c, f('dModel'), 1).dModel).toBe(1024);
    expect(stepField(PRELN, c, f('causal'), 1).causal).toBe(true);
    expect(stepField(PRELN, c, f('activation'), 1).activation).toBe('gelu');
    expect((stepField(PRELN, c, f('init.v'), 1).init as Record<string, number>).v).toBeCloseTo(0.02 * 10 ** 0.1, 3);
    const bad = validate(typeField(PRELN, f('dropout'), 'lots'));
    expect(bad).toMatchObject({ ok: false, field: 'dropout' });
    const arr = validate({ ...PRELN, init: { ...PRELN.init, v: [0.1, 0.2] } });
    expect(arr).toMatchObject({ ok: false, field: 'init.v' });
    // the separate dropout rates are editable and validated like dropout
    const att = stepField(PRELN, c, f('attnDropout'), 1);
    expect(att.attnDropout).toBeCloseTo((c?.attnDropout ?? 0) + 0.05, 12);
    const va = validate(att);
    expect(va.ok && va.cfg.attnDropout).toBeCloseTo((c?.attnDropout ?? 0) + 0.05, 12);
    expect(validate(typeField(PRELN, f('actDropout'), '1.5'))).toMatchObject({ ok: false, field: 'actDropout' });
  });

  it('chart: a rising line goes bottom-left to top-right; log scale; cursor column; overlay range', () => {
    const c = chart([1, 2, 3, 4], { width: 4, height: 2 });
    const t = chartText(c);
    expect(c.top).toBe(4); expect(c.bottom).toBe(1);
    expect(t[1][0]).not.toBe('\u2800'); // bottom-left has a dot
    expect(t[0][3]).not.toBe('\u2800'); // top-right has a dot
    expect(t[0][0]).toBe('\u2800');
    const lg = chart([1, 10, 100, 1000], { width: 4, height: 2, log: true, cursor: 2 });
    expect(lg.top).toBeCloseTo(1000); expect(lg.bottom).toBeCloseTo(1);
    expect(lg.cursorCol).toBe(2);
    expect(chartText(lg).some((r) => r.includes('┊')) || lg.rows.some((r) => r.some((s) => s.cursor))).toBe(true);
    const ov = chart([1, 1], { width: 4, height: 2, overlay: [{ x: 1, y: 1, lo: 0.5, hi: 3 }] });
    expect(ov.top).toBe(3); expect(ov.bottom).toBe(0.5);
    expect(ov.rows.flat().some((s) => s.style === 'overlay')).toBe(true);
    expect(chart([null, null], { width: 3, height: 1, log: true }).drawn).toBe(false);
    expect(progressBar(0.5, 10)).toBe('█████·····');
  });
});
