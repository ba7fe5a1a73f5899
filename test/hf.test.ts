/**
 * Hugging Face import: each family's documented init (transformers _init_weights) and the input
 * moments of its embedding, recomputed here from first principles:
 *   embedding sum of tables N(0, σ²): var = Σσ², token covariance = q·σ_tok² + σ_type² (q = 1/V uniform);
 *   LayerNorm: var v/(v+eps) with v = var(1 − 1/d), r unchanged; inverted dropout: var/(1−p), r·(1−p).
 */
import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { hfToConfig } from '../src/hf.js';
import { resolveConfig } from '../src/config.js';
import { InputError } from '../src/errors.js';

const load = (f: string) => JSON.parse(readFileSync(new URL(`../examples/hf/${f}.json`, import.meta.url), 'utf8'));

describe('HF import reproduces the documented init', () => {
  it('GPT-2: Pre-LN, gelu_new, causal, ln_f, 0.02 and c_proj 0.02/√(2·n_layer), embedding dropout', () => {
    const { config: c, notes } = hfToConfig(load('gpt2'));
    expect([c.layers, c.dModel, c.heads, c.dFF, c.seqLen]).toEqual([12, 768, 12, 3072, 1024]);
    expect([c.norm, c.normKind, c.activation, c.causal, c.finalNorm, c.dropout, c.eps]).toEqual(['pre', 'layernorm', 'gelu_tanh', true, true, 0.1, 1e-5]);
    expect(c.init).toMatchObject({ qk: 0.02, v: 0.02, ffn1: 0.02 });
    expect(c.init!.o).toBeCloseTo(0.02 / Math.sqrt(24), 15);
    expect(c.init!.ffn2).toBeCloseTo(0.02 / Math.sqrt(24), 15);
    const v = 2 * 0.02 ** 2, r = (0.02 ** 2 / 50257) / v;
    expect(c.input!.var).toBeCloseTo(v / 0.9, 15);
    expect(c.input!.r).toBeCloseTo(r * 0.9, 12);
    expect(notes.join(' ')).toMatch(/ln_f/);
    const ev = hfToConfig(load('gpt2'), { eval: true, seqLen: 64 }).config;
    expect(ev.dropout).toBe(0); expect(ev.input!.var).toBeCloseTo(v, 15); expect(ev.seqLen).toBe(64);
  });

  it('BERT: Post-LN, gelu, embedding LayerNorm then dropout as the input, eps 1e-12', () => {
    const { config: c } = hfToConfig(load('bert-base-uncased'), { seqLen: 128 });
    expect([c.layers, c.dModel, c.heads, c.dFF, c.seqLen]).toEqual([12, 768, 12, 3072, 128]);
    expect([c.norm, c.activation, c.causal, c.finalNorm, c.dropout, c.eps]).toEqual(['post', 'gelu', false, false, 0.1, 1e-12]);
    expect(c.init).toMatchObject({ qk: 0.02, v: 0.02, o: 0.02, ffn1: 0.02, ffn2: 0.02 });
    const s2 = 0.02 ** 2, raw = 3 * s2, rRaw = (s2 / 30522 + s2) / raw;
    const vn = raw * (1 - 1 / 768);
    expect(c.input!.var).toBeCloseTo(vn / (vn + 1e-12) / 0.9, 12);
    expect(c.input!.r).toBeCloseTo(rRaw * 0.9, 12);
  });

  it('LLaMA: Pre-RMSNorm, SwiGLU (ffn3 = up), causal, final norm, 0.02 everywhere, no dropout, rotary noted', () => {
    const { config: c, notes } = hfToConfig(load('llama-7b-like'), { seqLen: 256 });
    expect([c.layers, c.dModel, c.heads, c.dFF]).toEqual([32, 4096, 32, 11008]);
    expect([c.norm, c.normKind, c.activation, c.causal, c.finalNorm, c.dropout, c.eps]).toEqual(['pre', 'rmsnorm', 'swiglu', true, true, 0, 1e-6]);
    expect(c.init).toEqual({ qk: 0.02, v: 0.02, o: 0.02, ffn1: 0.02, ffn2: 0.02, ffn3: 0.02 });
    expect(c.input!.var).toBeCloseTo(0.02 ** 2, 15);
    expect(c.input!.r).toBeCloseTo(1 / 32000, 15);
    expect(notes.join(' ')).toMatch(/rotary/);
    expect(() => resolveConfig(c)).not.toThrow();
  });

  it('zipf tokens raise the embedding token correlation above uniform (q = H_V(2)/H_V(1)² > 1/V)', () => {
    const u = hfToConfig(load('llama-7b-like'), { tokens: 'uniform' }).embedding;
    const z = hfToConfig(load('llama-7b-like'), { tokens: 'zipf' }).embedding;
    let h1 = 0, h2 = 0;
    for (let k = 1; k <= 32000; k++) { h1 += 1 / k; h2 += 1 / (k * k); }
    expect(z.collision).toBeCloseTo(h2 / (h1 * h1), 12);
    expect(z.input.r).toBeGreaterThan(u.input.r);
  });

  it('unsupported family and bad sequence length are rejected naming the field', () => {
    expect(() => hfToConfig({ model_type: 't5' })).toThrow(/hf.model_type: unsupported model family "t5" \(supported: gpt2, bert, llama\)/);
    expect(() => hfToConfig(load('gpt2'), { seqLen: 2048 })).toThrow(/--seq-len: must be in \[1, 1024\]/);
    expect(() => hfToConfig({ ...load('bert-base-uncased'), hidden_act: 'tanh' })).toThrow(InputError);
  });
});

describe('CLI --hf', () => {
  const cli = (args: string[]) => spawnSync(process.execPath, ['bin/moments.js', ...args], { encoding: 'utf8' });
  it('predict --hf gives N+1 entries aligned with output_hidden_states (entry N after the final norm)', () => {
    const out = JSON.parse(execFileSync(process.execPath, ['bin/moments.js', 'predict', '--hf', 'examples/hf/gpt2.json', '--seq-len', '32', '--json'], { encoding: 'utf8' }));
    expect(out.layers.length).toBe(13);
    expect(out.layers[0].var).toBeCloseTo(2 * 0.02 ** 2 / 0.9, 12);
    expect(Math.abs(out.layers[12].var - 1)).toBeLessThan(1e-3); // after ln_f
  });
  it('unsupported family: exit 2, one line naming the field', () => {
    const r = cli(['advise', '--hf', 'package.json']);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n').length).toBe(1);
    expect(r.stderr).toMatch(/hf.model_type/);
  });
});
