"""Collapsed Post-LN single-token chain with a batch of B sequences sharing the weights (float64).

Diagnoses the between-sequence part of Var log gradVar that src/engine.ts spreadOf takes as the
forward part alone (A = Σ vM·ρ_x²): per sequence b the log gradient gain is split into the forward
normalisation Σ −2 log σ_z and the rest (the backward gains), and their covariances between two
sequences are printed, with, per sub-layer, the backward log-gain's between-sequence covariance
against the mean squared overlap o² of the sequences' unit gradients at its output.

Shapes as the fidelity grid's d = 64 Post-LN stacks (λ = β = 1, attention collapsed to W_vW_o with
std 1/√d each, ReLU FFN d → 4d → d with std 1/√d and 1/√(4d), LayerNorm eps 1e-5); the 32-token
stack's deep layers are this chain exactly (all tokens of a sequence equal, uniform attention).

usage: python3 scripts/postln-batch-chain.py [N=96] [B=4] [seeds=400] [seed=1]
"""
import sys
import numpy as np
from postln_chain import forward

N = int(sys.argv[1]) if len(sys.argv) > 1 else 96
B = int(sys.argv[2]) if len(sys.argv) > 2 else 4
S = int(sys.argv[3]) if len(sys.argv) > 3 else 400
rng = np.random.default_rng(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
d, m, K = 64, 256, 2 * N


def between(X, Y):
    """mean covariance of X[:, b] with Y[:, c] over b ≠ c, and over b = c"""
    X = X - X.mean(0); Y = Y - Y.mean(0)
    C = X.T @ Y / (X.shape[0] - 1)
    return (C.sum() - np.trace(C)) / (B * (B - 1)), np.trace(C) / B


tot = np.zeros((S, N + 1, B)); fwd = np.zeros((S, N + 1, B))
dl = np.zeros((S, K, B)); ov = np.zeros((S, K)); logB = np.zeros((S, N + 1))
for t in range(S):
    cache = forward(rng, rng.standard_normal((d, B)), N, d, m)
    g = rng.standard_normal((d, B)); top = np.log((g * g).sum(0)); f = np.zeros(B)
    logB[t, N] = np.log((g * g).mean())
    for k in range(K - 1, -1, -1):
        kind, P, y, s = cache[k]
        u = g / np.linalg.norm(g, axis=0); G = u.T @ u
        ov[t, k] = (G[np.triu_indices(B, 1)] ** 2).mean()
        gz = (g - g.mean(0, keepdims=True) - y * (g * y).mean(0, keepdims=True)) / s
        if kind == 'a':
            gn = gz + P.T @ gz
        else:
            W1, W2, h = P; gn = gz + W1.T @ ((W2.T @ gz) * (h > 0))
        dl[t, k] = np.log((gn * gn).sum(0)) - np.log((g * g).sum(0)) + 2 * np.log(s[0])
        f = f - 2 * np.log(s[0]); g = gn
        if k % 2 == 0:
            tot[t, k // 2] = np.log((g * g).sum(0)) - top; fwd[t, k // 2] = f
            logB[t, k // 2] = np.log((g * g).mean())

print(f'N = {N}, B = {B}, {S} seeds, d = {d}')
print('entry | Var log per seq, between-seq cov | fwd part: var, cov | bwd part: var, cov | fwd-bwd cross cov | Var log gradVar_B, E log (rel. top)')
for l in range(0, N + 1, max(N // 12, 1)):
    c, v = between(tot[:, l], tot[:, l]); fc, fv = between(fwd[:, l], fwd[:, l])
    bw = tot[:, l] - fwd[:, l]; bc, bv = between(bw, bw); xc, _ = between(fwd[:, l], bw)
    print(f'{l:4d} | {v:.3f} {c:.3f} | {fv:.3f} {fc:.3f} | {bv:.3f} {bc:.3f} | {xc:.3f} | {logB[:, l].var():.3f} {logB[:, l].mean() - logB[:, N].mean():.3f}')
print('sub-layer k | o² at its output | backward log-gain: var, between-seq cov, cov/var')
for k in range(K - 1, -1, -max(K // 16, 1)):
    c, v = between(dl[:, k], dl[:, k])
    print(f'{k:4d} {"attn" if k % 2 == 0 else "ffn "} | {ov[:, k].mean():.3f} | {v:.4f} {c:.4f} {c / v:.3f}')
