"""The collapsed Post-LN single-token chain's forward pass shared by scripts/postln-batch-chain.py
and scripts/postln-collapsed-stack.py (float64, the fidelity grid's d = 64 shapes: λ = β = 1,
attention collapsed to W_vW_o with std 1/√d each, ReLU FFN d → m → d with std 1/√d and 1/√m,
LayerNorm eps 1e-5). Not a runnable script: imported by those two."""
import numpy as np


def ln_f(z):
    """LayerNorm over features (axis 0) of a [d, B] block: the output and each column's std"""
    c = z - z.mean(0, keepdims=True)
    s = np.sqrt((c * c).mean(0, keepdims=True) + 1e-5)
    return c / s, s


def forward(rng, x, N, d, m):
    """N layers (attention, then FFN, each x ← LN(x + F(x))) with fresh weights from rng, on the
    [d, B] tokens x; returns the tape per sub-layer, ('a', W_vW_o, y, s) or ('f', (W1, W2, h), y, s)"""
    cache = []
    for _ in range(N):
        A = (rng.standard_normal((d, d)) / np.sqrt(d)) @ (rng.standard_normal((d, d)) / np.sqrt(d))
        y, s = ln_f(x + A @ x); cache.append(('a', A, y, s)); x = y
        W1 = rng.standard_normal((m, d)) / np.sqrt(d); W2 = rng.standard_normal((d, m)) / np.sqrt(m)
        h = W1 @ x; y, s = ln_f(x + W2 @ np.maximum(h, 0)); cache.append(('f', (W1, W2, h), y, s)); x = y
    return cache
