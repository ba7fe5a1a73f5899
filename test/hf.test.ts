/**
 * Hugging Face import: each family's documented init (transformers _init_weights) and the input
 * moments of its embedding, recomputed here from first principles:
 *   embedding sum of tables N(0, σ²): var = Σσ², token covariance = q·σ_tok² + σ_type² (q = 1/V uniform);
 *   LayerNorm: var v/(v+eps) with v = var(1 − 1/d), r unchanged; inverted dropout: var/(1−p), r·(1−p).
 * Each std is the formula of the family's _init_weights in transformers (modeling_opt.py,
 * modeling_gpt_neox.py, modeling_t5.py), evaluated here from the config numbers.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { hfToConfig } from '../src/hf.js';
import { resolveConfig, toConfigV1 } from '../src/config.js';
import { predict } from '../src/index.js';
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
    // GPT2Attention: attn_dropout (attn_pdrop) on the probabilities, resid_dropout (resid_pdrop) after c_proj;
    // GPT2MLP: c_fc → act → c_proj → dropout (resid_pdrop), nothing after the activation
    expect([c.attnDropout, c.dropout, c.actDropout]).toEqual([0.1, 0.1, 0]);
    expect(hfToConfig({ ...load('gpt2'), attn_pdrop: 0.05, resid_pdrop: 0.2 }).config).toMatchObject({ attnDropout: 0.05, dropout: 0.2, actDropout: 0 });
    expect(toConfigV1(resolveConfig(c))).toMatchObject({ dropout: 0.1, actDropout: 0 }); // attnDropout = dropout: left to its default
    expect(toConfigV1(resolveConfig(c)).attnDropout).toBeUndefined();
    expect(notes.join(' ')).not.toMatch(/approximation|one dropout rate/);
    const ev = hfToConfig(load('gpt2'), { eval: true, seqLen: 64 }).config;
    expect([ev.attnDropout, ev.dropout, ev.actDropout]).toEqual([0, 0, 0]); expect(ev.input!.var).toBeCloseTo(v, 15); expect(ev.seqLen).toBe(64);
  });

  it('BERT: Post-LN, gelu, embedding LayerNorm then dropout as the input, eps 1e-12', () => {
    const { config: c, notes } = hfToConfig(load('bert-base-uncased'), { seqLen: 128 });
    // BertSelfAttention drops the probabilities (attention_probs_dropout_prob), BertSelfOutput / BertOutput
    // drop after their dense (hidden_dropout_prob); BertIntermediate (dense → act) has no dropout
    expect([c.attnDropout, c.dropout, c.actDropout]).toEqual([0.1, 0.1, 0]);
    expect(hfToConfig({ ...load('bert-base-uncased'), attention_probs_dropout_prob: 0.3, hidden_dropout_prob: 0.05 }).config).toMatchObject({ attnDropout: 0.3, dropout: 0.05, actDropout: 0 });
    expect(hfToConfig(load('bert-base-uncased'), { eval: true }).config).toMatchObject({ attnDropout: 0, dropout: 0, actDropout: 0 });
    expect(notes.join(' ')).not.toMatch(/approximation|one dropout rate/);
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
    // LlamaAttention drops the probabilities only (attention_dropout); no hidden or MLP dropout
    expect([c.attnDropout, c.dropout, c.actDropout]).toEqual([0, 0, 0]);
    const dr = hfToConfig({ ...load('llama-7b-like'), attention_dropout: 0.1 });
    expect(dr.config).toMatchObject({ attnDropout: 0.1, dropout: 0, actDropout: 0 });
    expect(dr.notes.join(' ')).not.toMatch(/approximation/);
    expect(hfToConfig({ ...load('llama-7b-like'), attention_dropout: 0.1 }, { eval: true }).config.attnDropout).toBe(0);
  });

  it('zipf tokens raise the embedding token correlation above uniform (q = H_V(2)/H_V(1)² > 1/V)', () => {
    const u = hfToConfig(load('llama-7b-like'), { tokens: 'uniform' }).embedding;
    const z = hfToConfig(load('llama-7b-like'), { tokens: 'zipf' }).embedding;
    let h1 = 0, h2 = 0;
    for (let k = 1; k <= 32000; k++) { h1 += 1 / k; h2 += 1 / (k * k); }
    expect(z.collision).toBeCloseTo(h2 / (h1 * h1), 12);
    expect(z.input.r).toBeGreaterThan(u.input.r);
  });

  it('OPT: Pre-LN, ReLU, causal, final_layer_norm, init_std for every Linear and both embeddings, no embedding dropout', () => {
    const j = load('opt-125m');
    const { config: c, notes } = hfToConfig(j);
    expect([c.layers, c.dModel, c.heads, c.dFF, c.seqLen]).toEqual([12, 768, 12, 3072, 1024]);
    expect([c.norm, c.normKind, c.activation, c.causal, c.finalNorm, c.dropout, c.eps]).toEqual(['pre', 'layernorm', 'relu', true, true, 0.1, 1e-5]);
    const s = j.init_std as number;
    expect(c.init).toEqual({ qk: s, v: s, o: s, ffn1: s, ffn2: s });
    // embed_tokens + embed_positions, both N(0, init_std²); hidden_states[0] has no dropout and no norm
    expect(c.input!.var).toBeCloseTo(2 * s ** 2, 15);
    expect(c.input!.r).toBeCloseTo((s ** 2 / 50272) / (2 * s ** 2), 12);
    const all = notes.join(' ');
    expect(all).toMatch(/offset by 2/);
    // OPTDecoderLayer: dropout after self_attn and after fc2, attention_dropout on the probabilities,
    // fc1 → act → fc2 with no dropout between (activation_dropout is not used)
    expect([c.attnDropout, c.dropout, c.actDropout]).toEqual([0, 0.1, 0]);
    expect(all).not.toMatch(/approximation|one dropout rate/);
    expect(hfToConfig({ ...j, attention_dropout: 0.2, activation_dropout: 0.3 }).config).toMatchObject({ attnDropout: 0.2, dropout: 0.1, actDropout: 0 });
    expect(hfToConfig({ ...j, activation_dropout: 0.3 }).notes.join(' ')).toMatch(/activation_dropout = 0\.3 is not used/);
    expect(hfToConfig(j, { eval: true }).config).toMatchObject({ attnDropout: 0, dropout: 0, actDropout: 0 });
    expect(hfToConfig({ ...j, init_std: 0.006 }).config.init!.ffn2).toBe(0.006);
    // do_layer_norm_before false (the 350m layout) is Post-LN without a final norm
    const post = hfToConfig({ ...j, do_layer_norm_before: false }).config;
    expect([post.norm, post.finalNorm]).toEqual(['post', false]);
    expect(hfToConfig({ ...j, _remove_final_layer_norm: true }).config.finalNorm).toBe(false);
    expect(hfToConfig(j, { seqLen: 2048 }).config.seqLen).toBe(2048);
    expect(() => hfToConfig(j, { seqLen: 2049 })).toThrow(/--seq-len: must be in \[1, 2048\]/);
    expect(() => resolveConfig(c)).not.toThrow();
  });

  it('OPT refuses word_embed_proj_dim ≠ hidden_size (project_in/out) and LayerDrop in training, naming the field', () => {
    const j = load('opt-125m');
    const opt350 = { ...j, hidden_size: 1024, num_attention_heads: 16, ffn_dim: 4096, word_embed_proj_dim: 512, do_layer_norm_before: false };
    expect(() => hfToConfig(opt350)).toThrow(/^hf\.word_embed_proj_dim: 512 differs from hidden_size 1024: .*supported: word_embed_proj_dim = hidden_size$/);
    expect(() => hfToConfig({ ...j, layerdrop: 0.05 })).toThrow(/^hf\.layerdrop: LayerDrop 0\.05 .*supported: 0, or --eval/);
    expect(hfToConfig({ ...j, layerdrop: 0.05 }, { eval: true }).config.dropout).toBe(0);
  });

  it('GPT-NeoX: use_parallel_residual true (Pythia; also the default when absent) is refused naming the field', () => {
    const j = load('pythia-160m');
    expect(j.use_parallel_residual).toBe(true);
    expect(() => hfToConfig(j)).toThrow(/^hf\.use_parallel_residual: true computes x \+ attn\(ln1\(x\)\) \+ mlp\(ln2\(x\)\).*supported: use_parallel_residual false$/);
    const { use_parallel_residual: _omit, ...absent } = j;
    expect(() => hfToConfig(absent)).toThrow(/use_parallel_residual: true \(the GPTNeoXConfig default\)/);
  });

  it('GPT-NeoX sequential variant: Pre-LN, gelu, causal, final_layer_norm, initializer_range everywhere, rotary noted', () => {
    const j = load('pythia-160m-sequential');
    const { config: c, notes } = hfToConfig(j, { seqLen: 128 });
    expect([c.layers, c.dModel, c.heads, c.dFF, c.seqLen]).toEqual([12, 768, 12, 3072, 128]);
    expect([c.norm, c.normKind, c.activation, c.causal, c.finalNorm, c.dropout, c.eps]).toEqual(['pre', 'layernorm', 'gelu', true, true, 0, 1e-5]);
    const s = j.initializer_range as number;
    expect(c.init).toEqual({ qk: s, v: s, o: s, ffn1: s, ffn2: s });
    expect(c.input!.var).toBeCloseTo(s ** 2, 15); // embed_in only (rotary positions), hidden_dropout default 0
    expect(c.input!.r).toBeCloseTo(1 / 50304, 15);
    expect(notes.join(' ')).toMatch(/rotary_pct = 0\.25/);
    const dr = hfToConfig({ ...j, hidden_dropout: 0.1, attention_dropout: 0.2 });
    // post_attention_dropout and post_mlp_dropout (hidden_dropout), attention_dropout on the probabilities,
    // GPTNeoXMLP dense_h_to_4h → act → dense_4h_to_h with no dropout
    expect(dr.config).toMatchObject({ attnDropout: 0.2, dropout: 0.1, actDropout: 0 });
    expect(dr.config.input!.var).toBeCloseTo(s ** 2 / 0.9, 15); // emb_dropout
    expect(dr.notes.join(' ')).not.toMatch(/approximation|one dropout rate/);
    expect(hfToConfig({ ...j, hidden_dropout: 0.1, attention_dropout: 0.2 }, { eval: true }).config).toMatchObject({ attnDropout: 0, dropout: 0, actDropout: 0 });
    expect(hfToConfig(j, { seqLen: 4096 }).notes.join(' ')).toMatch(/exceeds max_position_embeddings 2048 \(rotary/);
  });

  it('T5 encoder: Pre-RMSNorm, relu, bidirectional, final norm, each std from T5PreTrainedModel._init_weights', () => {
    const j = load('t5-small');
    const { config: c, notes } = hfToConfig(j);
    const d = j.d_model as number, dkv = j.d_kv as number, H = j.num_heads as number, dff = j.d_ff as number, f = j.initializer_factor as number;
    expect([c.layers, c.dModel, c.heads, c.dFF, c.seqLen]).toEqual([6, 512, 8, 2048, 512]);
    expect([c.norm, c.normKind, c.activation, c.causal, c.finalNorm, c.dropout, c.eps]).toEqual(['pre', 'rmsnorm', 'relu', false, true, 0.1, 1e-6]);
    const sq = f * (d * dkv) ** -0.5, sk = f * d ** -0.5;
    const qk = c.init!.qk as number;
    // T5 score Σ_a q_a k_a (no 1/√d_kv) ≡ config v1 Σ_a q_a k_a/√d_h with Q, K std qk: σ_q σ_k = qk²/√d_h
    expect(qk ** 2 / Math.sqrt(d / H)).toBeCloseTo(sq * sk, 15);
    expect(c.init!.v).toBeCloseTo(f * d ** -0.5, 15);
    expect(c.init!.o).toBeCloseTo(f * (H * dkv) ** -0.5, 15);
    expect(c.init!.ffn1).toBeCloseTo(f * d ** -0.5, 15);
    expect(c.init!.ffn2).toBeCloseTo(f * dff ** -0.5, 15);
    expect(c.init!.ffn3).toBeUndefined();
    // shared embedding N(0, f²), then the encoder's dropout
    expect(c.input!.var).toBeCloseTo(f ** 2 / 0.9, 14);
    expect(c.input!.r).toBeCloseTo((1 / 32128) * 0.9, 14);
    const all = notes.join(' ');
    expect(all).toMatch(/relative position bias not modelled.*0\.20 % of it at r = 0, below 1 % while r < 0\.805/);
    expect(all).toMatch(/after final_layer_norm too/);
    // the bias note's premise: the predicted token correlation stays below the 1 % bound
    const p = predict(c);
    expect(Math.max(...p.layers.map((l) => l.r ?? 1))).toBeLessThan(1 - 100 / d); // null (overflow) would fail
    const ev = hfToConfig(j, { eval: true });
    expect([ev.config.attnDropout, ev.config.dropout, ev.config.actDropout]).toEqual([0, 0, 0]);
    expect(ev.notes.join(' ')).not.toMatch(/after final_layer_norm too/);
    // T5Attention drops the probabilities, T5LayerSelfAttention / T5LayerFF after their sub-layer, and
    // T5DenseActDense (wi → act → dropout → wo) after the activation: dropout_rate at all three
    expect([c.attnDropout, c.dropout, c.actDropout]).toEqual([0.1, 0.1, 0.1]);
    expect(hfToConfig({ ...j, dropout_rate: 0.25, feed_forward_proj: 'gated-silu' }).config).toMatchObject({ activation: 'swiglu', attnDropout: 0.25, dropout: 0.25, actDropout: 0.25 });
  });

  it('T5 score algebra: the same Z_q, Z_k give the same score matrix in T5 and in the imported config v1', () => {
    const cfg = { model_type: 't5', vocab_size: 100, d_model: 16, d_kv: 4, num_heads: 4, d_ff: 32, num_layers: 1 };
    const qk = hfToConfig(cfg).config.init!.qk as number;
    const d = 16, dkv = 4, n = 5;
    const sq = (d * dkv) ** -0.5, sk = d ** -0.5;
    let seed = 12345;
    const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 - 0.5; };
    const mat = (r: number, c: number) => Array.from({ length: r }, () => Array.from({ length: c }, rnd));
    const X = mat(n, d), Zq = mat(d, dkv), Zk = mat(d, dkv); // one head
    const mul = (A: number[][], B: number[][], s: number) => A.map((row) => B[0].map((_, j) => s * row.reduce((acc, a, k) => acc + a * B[k][j], 0)));
    const scores = (cq: number, ck: number, scale: number) => {
      const Q = mul(X, Zq, cq), K = mul(X, Zk, ck);
      return Q.map((qi) => K.map((kj) => scale * qi.reduce((acc, a, k) => acc + a * kj[k], 0)));
    };
    const t5 = scores(sq, sk, 1), v1 = scores(qk, qk, 1 / Math.sqrt(d / 4));
    for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) expect(v1[i][k]).toBeCloseTo(t5[i][k], 14);
  });

  it('T5: gated-silu is SwiGLU (wi_0 gate = ffn1, wi_1 = ffn3); gated-gelu, n_heads·d_kv ≠ d_model and initializer_factor ≠ 1 are refused', () => {
    const j = load('t5-small');
    const g = hfToConfig({ ...j, feed_forward_proj: 'gated-silu' }).config;
    expect(g.activation).toBe('swiglu');
    expect(g.init!.ffn3).toBeCloseTo(512 ** -0.5, 15);
    expect(g.init!.ffn1).toBeCloseTo(512 ** -0.5, 15);
    expect(hfToConfig({ ...j, feed_forward_proj: 'gelu_new' }).config.activation).toBe('gelu_tanh');
    expect(() => hfToConfig({ ...j, feed_forward_proj: 'gated-gelu' })).toThrow(/^hf\.feed_forward_proj: "gated-gelu" is GeGLU.*supported: relu, gelu, gelu_new, silu, gated-silu$/);
    expect(() => hfToConfig({ ...j, feed_forward_proj: 'tanh' })).toThrow(/^hf\.feed_forward_proj: unsupported activation "tanh"/);
    // t5-3b: d_model 1024, 32 heads of d_kv 128
    expect(() => hfToConfig({ ...j, d_model: 1024, num_heads: 32, d_kv: 128 })).toThrow(/^hf\.d_kv: num_heads·d_kv = 32·128 = 4096 differs from d_model 1024.*supported: num_heads·d_kv = d_model$/);
    expect(() => hfToConfig({ ...j, initializer_factor: 0.5 })).toThrow(/^hf\.initializer_factor: must be 1, got 0\.5/);
  });

  it('unsupported family and bad sequence length are rejected naming the field', () => {
    expect(() => hfToConfig({ model_type: 'bloom' })).toThrow(/hf.model_type: unsupported model family "bloom" \(supported: gpt2, bert, llama, opt, gpt_neox, t5\)/);
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
  it('predict --hf works for opt, gpt_neox (sequential) and t5 (encoder): N+1 entries, entry 0 = hidden_states[0]', () => {
    const run = (f: string) => JSON.parse(execFileSync(process.execPath, ['bin/moments.js', 'predict', '--hf', `examples/hf/${f}.json`, '--seq-len', '32', '--json'], { encoding: 'utf8' }));
    const opt = run('opt-125m');
    expect(opt.layers.length).toBe(13);
    expect(opt.layers[0].var).toBeCloseTo(2 * 0.02 ** 2, 12);
    expect(Math.abs(opt.layers[12].var - 1)).toBeLessThan(1e-3); // after final_layer_norm
    const neox = run('pythia-160m-sequential');
    expect(neox.layers.length).toBe(13);
    expect(neox.layers[0].var).toBeCloseTo(0.02 ** 2, 12);
    const t5 = run('t5-small');
    expect(t5.layers.length).toBe(7);
    expect(t5.layers[0].var).toBeCloseTo(1 / 0.9, 12);
    expect(Math.abs(t5.layers[6].var - 1)).toBeLessThan(1e-3); // after final_layer_norm (RMS, eps 1e-6)
  });
  it('Pythia with use_parallel_residual true: exit 2, one line naming the field', () => {
    const r = cli(['predict', '--hf', 'examples/hf/pythia-160m.json']);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n').length).toBe(1);
    expect(r.stderr).toMatch(/^error: hf\.use_parallel_residual: /);
  });
  it('unsupported family: exit 2, one line naming the field', () => {
    const r = cli(['advise', '--hf', 'package.json']);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n').length).toBe(1);
    expect(r.stderr).toMatch(/hf.model_type/);
  });
});
