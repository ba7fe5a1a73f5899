#!/usr/bin/env python3
"""Per-path float64 Monte-Carlo of non-causal attention's reported gradR (a diagnostic; numpy only,
not a project dependency). The statistic is scripts/torch-attention.py's (config v1: the trial's
global scalar mean removed, the mean over sequences and token pairs of the cosine of two tokens' input
gradients); the input gradient is split by the weight it passes through, g = g_V + g_Q + g_K
(W_v, W_q, W_k; hand-written backward), and the per-pair mean into its parts: VV, QQ, KK and the
cross terms VQ, VK, QK (each Σ a_j·b_l over the centred norms |g_j||g_l|), plus `mean` (what the
centring at the batch's global mean adds). Also E1 = E[c_1/√X] (head 0's column sum c over the
token's X = |g|²/d) and E[c²], the quantities of formulas/attention.ts ncPairGradR.

  python3 scripts/attention-pairpaths.py SIGMA_S2 R HEADS L TRIALS SEED

d = 64, B = 4, input var 1 and token correlation R, upstream var 1, r_g = 0.2, std_V = std_O = 1/8,
std_Q = std_K = SIGMA_S2^{1/4}/8 (the fidelity grid's attention cases). Prints mean ± se (sd).
"""
import numpy as np, sys, time
def run(sig2, r, H, L, trials, seed, d=64, B=4, rg=0.2, chunk=16, extra=None):
    rng = np.random.default_rng(seed)
    dh = d // H
    sq = sig2 ** 0.25 / 8; sv = so = 1/8
    acc = {}
    def add(k, v):
        acc.setdefault(k, []).append(v)
    done = 0
    while done < trials:
        S = min(chunk, trials - done)
        a = rng.standard_normal((S, B, 1, d)); e = rng.standard_normal((S, B, L, d))
        x = np.sqrt(r) * a + np.sqrt(1 - r) * e
        a = rng.standard_normal((S, B, 1, d)); e = rng.standard_normal((S, B, L, d))
        G = np.sqrt(rg) * a + np.sqrt(1 - rg) * e
        Wq = rng.standard_normal((S, 1, d, d)) * sq; Wk = rng.standard_normal((S, 1, d, d)) * sq
        Wv = rng.standard_normal((S, 1, d, d)) * sv; Wo = rng.standard_normal((S, 1, d, d)) * so
        def heads(y):  # [S,B,L,d] -> [S,B,H,L,dh]
            return y.reshape(S, B, L, H, dh).transpose(0, 1, 3, 2, 4)
        def unheads(y):
            return y.transpose(0, 1, 3, 2, 4).reshape(S, B, L, d)
        q, k, v = heads(x @ Wq), heads(x @ Wk), heads(x @ Wv)
        sc = q @ k.swapaxes(-1, -2) / np.sqrt(dh)
        sc -= sc.max(-1, keepdims=True)
        P = np.exp(sc); P /= P.sum(-1, keepdims=True)
        dO = heads(G @ Wo.swapaxes(-1, -2))
        dV = P.swapaxes(-1, -2) @ dO
        dP = dO @ v.swapaxes(-1, -2)
        dS = P * (dP - (P * dP).sum(-1, keepdims=True))
        dq = dS @ k / np.sqrt(dh); dk = dS.swapaxes(-1, -2) @ q / np.sqrt(dh)
        gV = unheads(dV) @ Wv.swapaxes(-1, -2); gQ = unheads(dq) @ Wq.swapaxes(-1, -2); gK = unheads(dk) @ Wk.swapaxes(-1, -2)
        g = gV + gQ + gK
        m = g.mean((1, 2, 3), keepdims=True)
        gc = g - m
        n = np.sqrt((gc * gc).sum(-1))  # [S,B,L]
        iu = np.triu_indices(L, 1)
        def pairmean(a_, b_):
            # mean over pairs j<l of (a_j·b_l + b_j·a_l)/2 / (n_j n_l)  per trial
            M = np.einsum('sbjd,sbld->sbjl', a_, b_)
            M = 0.5 * (M + M.swapaxes(-1, -2)) / (n[..., :, None] * n[..., None, :])
            return M[..., iu[0], iu[1]].mean((-1, -2))
        add('gradR', pairmean(gc, gc))
        add('VV', pairmean(gV, gV)); add('QQ', pairmean(gQ, gQ)); add('KK', pairmean(gK, gK))
        add('VQ', 2 * pairmean(gV, gQ)); add('VK', 2 * pairmean(gV, gK)); add('QK', 2 * pairmean(gQ, gK))
        add('mean', -pairmean(gc, np.broadcast_to(m, g.shape)) * 2 - pairmean(np.broadcast_to(m, g.shape), np.broadcast_to(m, g.shape)))
        # gradVar decomposition (per unit): var of each path
        add('varV', (gV * gV).mean((1, 2, 3))); add('varQ', (gQ * gQ).mean((1, 2, 3))); add('varK', (gK * gK).mean((1, 2, 3)))
        add('var', (gc * gc).mean((1, 2, 3)))
        # model-like intermediates: X = |g|^2/d ; per head column sums
        c = P.sum(-2)  # [S,B,H,L]
        X = n * n / d
        add('E1', (c[:, :, 0] / np.sqrt(X)).mean((1, 2)))
        add('E_invsqrtX', (1 / np.sqrt(X)).mean((1, 2)))
        add('Ec2', (c * c).mean((1, 2, 3)))
        if extra: extra(locals(), add)
        done += S
    out = {}
    for k_, vs in acc.items():
        a_ = np.concatenate(vs)
        out[k_] = (a_.mean(), a_.std() / np.sqrt(len(a_)), a_.std())
    return out
if __name__ == '__main__':
    sig2, r, H, L, T, seed = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
    t0 = time.time()
    o = run(sig2, r, H, L, T, seed)
    for k_, (m_, se, sd) in o.items(): print(f'{k_:12s} {m_: .5f} ± {se:.5f} (sd {sd:.4f})')
    print('time', time.time() - t0)
