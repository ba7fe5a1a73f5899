#!/usr/bin/env node
// Standalone float64 Monte-Carlo of a non-causal Pre-LN λ/β stack (attention + ReLU FFN
// sub-layers, LayerNorm without affine, no biases), forward and backward, one sequence and fresh
// weights per trial. Nothing is imported from the code under test. It reports the bottom-layer
// gradient token correlation (config v1's per-pair Pearson statistic and the pooled ratio) and,
// per sub-layer, the terms of the residual backward  dx = λ·g + β·b  (b = the branch's input
// gradient): the branch covariance b_s·b_t/d and the skip–branch cross term g_s·b_t/d (both
// relative to the upstream gradient variance), and their sum over the stack, crossSum/v0 =
// Σ 2λβ·cross / gradVar(layer 0), the part of the bottom-layer gradR the moment fold (which sets
// the cross term to zero) does not carry.
//   node scripts/prestack-mc.mjs N beta2 trials seed [inputR]
// e.g. node scripts/prestack-mc.mjs 12 0.0833333 300 51   (d = 64, 4 heads, dFF 256, L = 32,
// std 1/√d, ffn2 1/√dFF: the fidelity grid's stack shapes; ~0.6 s per trial at N = 12)
let s0 = 0x9e3779b9 >>> 0, s1 = 0x243f6a88 >>> 0, s2 = 0xb7e15162 >>> 0, s3 = 0x12345678 >>> 0;
function seed(n) { s0 = (n * 2654435761) >>> 0 || 1; s1 = 0x243f6a88 ^ n; s2 = 0xb7e15162; s3 = 0x12345678 + n; for (let i = 0; i < 20; i++) u32(); }
function u32() { const t = s1 << 9; let r = s1 * 5; r = ((r << 7) | (r >>> 25)) * 9; s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = (s3 << 11) | (s3 >>> 21); return r >>> 0; }
function unif() { return (u32() + 0.5) / 4294967296; }
let spare = NaN;
function gauss() { if (spare === spare) { const v = spare; spare = NaN; return v; } const u = unif(), v = unif(); const R = Math.sqrt(-2 * Math.log(u)); spare = R * Math.sin(2 * Math.PI * v); return R * Math.cos(2 * Math.PI * v); }
function randn(n, std) { const a = new Float64Array(n); for (let i = 0; i < n; i++) a[i] = gauss() * std; return a; }
// C[n×m] = A[n×k] B[k×m]
function mm(A, B, n, k, m) { const C = new Float64Array(n * m); for (let i = 0; i < n; i++) { const ci = i * m; for (let p = 0; p < k; p++) { const a = A[i * k + p]; if (a === 0) continue; const bp = p * m; for (let j = 0; j < m; j++) C[ci + j] += a * B[bp + j]; } } return C; }
// C[n×k] = A[n×m] Bᵀ, B[k×m]
function mmT(A, B, n, m, k) { const C = new Float64Array(n * k); for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) { let s = 0; for (let p = 0; p < m; p++) s += A[i * m + p] * B[j * m + p]; C[i * k + j] = s; } return C; }
// C[k×m] = Aᵀ B, A[n×k], B[n×m]
function mTm(A, B, n, k, m) { const C = new Float64Array(k * m); for (let i = 0; i < n; i++) for (let p = 0; p < k; p++) { const a = A[i * k + p]; if (a === 0) continue; for (let j = 0; j < m; j++) C[p * m + j] += a * B[i * m + j]; } return C; }

function lnFwd(x, L, d) { const h = new Float64Array(L * d), sig = new Float64Array(L); for (let t = 0; t < L; t++) { let m = 0; for (let k = 0; k < d; k++) m += x[t * d + k]; m /= d; let v = 0; for (let k = 0; k < d; k++) { const u = x[t * d + k] - m; v += u * u; } v /= d; const s = Math.sqrt(v + 1e-5); sig[t] = s; for (let k = 0; k < d; k++) h[t * d + k] = (x[t * d + k] - m) / s; } return { h, sig }; }
function lnBwd(h, sig, dh, L, d) { const dx = new Float64Array(L * d); for (let t = 0; t < L; t++) { let a = 0, b = 0; for (let k = 0; k < d; k++) { a += dh[t * d + k]; b += dh[t * d + k] * h[t * d + k]; } a /= d; b /= d; for (let k = 0; k < d; k++) dx[t * d + k] = (dh[t * d + k] - a - h[t * d + k] * b) / sig[t]; } return dx; }

function attnFwd(h, W, L, d, H, causal = false) {
  const dh = d / H, sc = 1 / Math.sqrt(dh);
  const Q = mm(h, W.q, L, d, d), K = mm(h, W.k, L, d, d), V = mm(h, W.v, L, d, d);
  const P = new Float64Array(H * L * L), O = new Float64Array(L * d);
  for (let a = 0; a < H; a++) for (let i = 0; i < L; i++) {
    let mx = -Infinity; const row = a * L * L + i * L;
    for (let j = 0; j < L; j++) { if (causal && j > i) { P[row + j] = -Infinity; continue; } let s = 0; for (let p = 0; p < dh; p++) s += Q[i * d + a * dh + p] * K[j * d + a * dh + p]; s *= sc; P[row + j] = s; if (s > mx) mx = s; }
    let z = 0; for (let j = 0; j < L; j++) { const e = P[row + j] === -Infinity ? 0 : Math.exp(P[row + j] - mx); P[row + j] = e; z += e; }
    for (let j = 0; j < L; j++) P[row + j] /= z;
    for (let j = 0; j < L; j++) { const pj = P[row + j]; if (!pj) continue; for (let p = 0; p < dh; p++) O[i * d + a * dh + p] += pj * V[j * d + a * dh + p]; }
  }
  const out = mm(O, W.o, L, d, d);
  return { out, cache: { Q, K, V, P, O } };
}
/** returns per-path input gradients (at h) and their sum; paths: 'v', 'k', 'q' */
function attnBwd(h, W, c, g, L, d, H) {
  const dh = d / H, sc = 1 / Math.sqrt(dh);
  const dO = mmT(g, W.o, L, d, d); // g Woᵀ
  const dQ = new Float64Array(L * d), dK = new Float64Array(L * d), dV = new Float64Array(L * d);
  const { Q, K, V, P } = c;
  const dP = new Float64Array(L), dS = new Float64Array(L);
  for (let a = 0; a < H; a++) for (let i = 0; i < L; i++) {
    const row = a * L * L + i * L; let dot = 0;
    for (let j = 0; j < L; j++) { let s = 0; for (let p = 0; p < dh; p++) s += dO[i * d + a * dh + p] * V[j * d + a * dh + p]; dP[j] = s; dot += s * P[row + j]; }
    for (let j = 0; j < L; j++) dS[j] = P[row + j] * (dP[j] - dot) * sc;
    for (let j = 0; j < L; j++) { const pj = P[row + j], ds = dS[j]; for (let p = 0; p < dh; p++) { dV[j * d + a * dh + p] += pj * dO[i * d + a * dh + p]; dQ[i * d + a * dh + p] += ds * K[j * d + a * dh + p]; dK[j * d + a * dh + p] += ds * Q[i * d + a * dh + p]; } }
  }
  const gv = mmT(dV, W.v, L, d, d), gk = mmT(dK, W.k, L, d, d), gq = mmT(dQ, W.q, L, d, d);
  const tot = new Float64Array(L * d); for (let i = 0; i < L * d; i++) tot[i] = gv[i] + gk[i] + gq[i];
  return { tot, gv, gk, gq };
}
function ffnFwd(h, W, L, d, F) { const a = mm(h, W.w1, L, d, F); const m = new Float64Array(L * F); for (let i = 0; i < L * F; i++) m[i] = a[i] > 0 ? a[i] : 0; return { out: mm(m, W.w2, L, F, d), cache: { a } }; }
function ffnBwd(W, c, g, L, d, F) { const dm = mmT(g, W.w2, L, d, F); for (let i = 0; i < L * F; i++) if (!(c.a[i] > 0)) dm[i] = 0; return mmT(dm, W.w1, L, F, d); }

/** config v1 statistic of one sequence: global mean removed (over the given tensor), mean over pairs of cosine; and the pooled ratio */
function stats(x, L, d, mean = null) {
  let m = 0; if (mean === null) { for (let i = 0; i < L * d; i++) m += x[i]; m /= L * d; } else m = mean;
  const n = new Float64Array(L); let v = 0;
  for (let t = 0; t < L; t++) { let s = 0; for (let k = 0; k < d; k++) { const u = x[t * d + k] - m; s += u * u; } n[t] = s; v += s; }
  let pear = 0, cov = 0;
  for (let s = 0; s < L; s++) for (let t = s + 1; t < L; t++) { let c = 0; for (let k = 0; k < d; k++) c += (x[s * d + k] - m) * (x[t * d + k] - m); pear += c / Math.sqrt(n[s] * n[t]); cov += c; }
  const np = L * (L - 1) / 2;
  return { var: v / (L * d), r: pear / np, rPooled: (cov / np) / (v / L), cov: cov / np / d };
}
/** cross statistic: mean over pairs s≠t of a_s·b_t / d (both orders) */
function crossCov(a, b, L, d) { let c = 0; for (let s = 0; s < L; s++) for (let t = 0; t < L; t++) if (s !== t) { let z = 0; for (let k = 0; k < d; k++) z += a[s * d + k] * b[t * d + k]; c += z; } return c / (L * (L - 1)) / d; }
function tokens(L, d, v, r) { const z0 = randn(d, 1), x = new Float64Array(L * d); const a = Math.sqrt(v * r), b = Math.sqrt(v * (1 - r)); for (let t = 0; t < L; t++) for (let k = 0; k < d; k++) x[t * d + k] = a * z0[k] + b * gauss(); return x; }

const N = +process.argv[2], b2 = +process.argv[3], trials = +process.argv[4], sd = +process.argv[5], rx = +(process.argv[6] ?? 0.2), rgTop = +(process.argv[7] ?? 0);
const L = 32, d = 64, H = 4, F = 256, std = 1 / 8;
const lam = Math.sqrt(1 - b2), bet = Math.sqrt(b2);
seed(sd);
const nsub = 2 * N;
// accumulators per sublayer index i (0..nsub-1) and per entry
const A = {}; const add = (k, i, v) => { const a = (A[k] ??= []); (a[i] ??= []).push(v); };
for (let tr = 0; tr < trials; tr++) {
  let x = tokens(L, d, 1, rx);
  const caches = [];
  for (let i = 0; i < nsub; i++) {
    const { h, sig } = lnFwd(x, L, d);
    let c;
    if (i % 2 === 0) { const W = { q: randn(d * d, std), k: randn(d * d, std), v: randn(d * d, std), o: randn(d * d, std) }; const f = attnFwd(h, W, L, d, H); c = { W, f, h, sig }; }
    else { const W = { w1: randn(d * F, std), w2: randn(F * d, 1 / 16) }; const f = ffnFwd(h, W, L, d, F); c = { W, f, h, sig }; }
    const y = new Float64Array(L * d); for (let k = 0; k < L * d; k++) y[k] = lam * x[k] + bet * c.f.out[k];
    caches.push(c); x = y;
  }
  let g = tokens(L, d, 1, rgTop);
  let crossSum = 0, selfSum = 0;
  for (let i = nsub - 1; i >= 0; i--) {
    const c = caches[i];
    const hb = i % 2 === 0 ? attnBwd(c.h, c.W, c.f.cache, g, L, d, H).tot : ffnBwd(c.W, c.f.cache, g, L, d, F);
    const b = lnBwd(c.h, c.sig, hb, L, d);
    const sg = stats(g, L, d, 0), sb = stats(b, L, d, 0);
    const cr = crossCov(g, b, L, d); // mean over ordered pairs s≠t of g_s·b_t/d (symmetric avg)
    let self = 0; for (let k = 0; k < L * d; k++) self += g[k] * b[k]; self /= L * d;
    crossSum += 2 * lam * bet * cr; selfSum += 2 * lam * bet * self;
    add('gv', i, sg.var); add('gc', i, sg.cov); add('bv', i, sb.var); add('bc', i, sb.cov); add('cr', i, cr); add('self', i, self);
    const gn = new Float64Array(L * d); for (let k = 0; k < L * d; k++) gn[k] = lam * g[k] + bet * b[k];
    g = gn;
    if (i === 0) { const s0 = stats(g, L, d, 0); add('crossSum/v0', 0, crossSum / s0.var); add('selfSum/v0', 0, selfSum / s0.var); add('cov0/v0', 0, s0.cov / s0.var); }
    if (i % 2 === 0) { const s = stats(g, L, d); add('pear', i / 2, s.r); add('pool', i / 2, s.rPooled); add('var', i / 2, s.var); }
  }
}
const ms = (a) => { const m = a.reduce((x, y) => x + y) / a.length; const v = a.reduce((x, y) => x + (y - m) ** 2, 0) / (a.length - 1); return [m, Math.sqrt(v / a.length)]; };
const f = (p) => `${p[0].toFixed(5)}±${p[1].toFixed(5)}`;
const layers = (process.argv[8] || `0,${N >> 2},${N >> 1},${(3 * N) >> 2},${N - 1}`).split(',').map(Number);
for (const l of layers) if (A.pear[l]) console.log('layer', l, 'pearson', f(ms(A.pear[l])), 'pooled', f(ms(A.pool[l])), 'var', f(ms(A.var[l])));
for (const k of ['crossSum/v0', 'selfSum/v0', 'cov0/v0']) console.log(k, f(ms(A[k][0])));
// per-sublayer terms normalised by gv of that sublayer's upstream, averaged over sublayer kinds in layer bands
for (const kind of [0, 1]) for (const [lo, hi] of [[0, N / 4], [N / 4, N / 2], [N / 2, 3 * N / 4], [3 * N / 4, N]]) {
  const sel = (k) => { const out = []; for (let l = Math.floor(lo); l < hi; l++) { const i = 2 * l + kind; A[k][i].forEach((v, t) => { (out[t] ??= 0); out[t] += v / A.gv[i][t]; }); } return out.map((v) => v / (Math.ceil(hi) - Math.floor(lo))); };
  console.log(kind ? 'ffn ' : 'attn', `layers ${Math.floor(lo)}-${Math.ceil(hi) - 1}`, 'gc/gv', f(ms(sel('gc'))), 'bv/gv', f(ms(sel('bv'))), 'bc/gv', f(ms(sel('bc'))), 'cross/gv', f(ms(sel('cr'))), 'self/gv', f(ms(sel('self'))));
}
