/**
 * Multi-head softmax attention softmax(QKᵀ/√d_h)·V, then W_o (no biases), optional causal mask
 * and dropout p_a on the attention probabilities. `value: false` means softmax(QKᵀ/√d_h)·X (no V/O).
 *
 * Derived here (extends DSLM's single-head row). Input x with mean μ, variance σ², token corr r;
 * a linear map sees the uncentred s' = σ² + μ² and r' = (rσ² + μ²)/s'. Per head:
 *   q, k variances s_q = dσ_q² s', s_k = dσ_k² s'; score variance σ_s² = s_q s_k = d²σ_q²σ_k²s'².
 *   The token-shared part of k adds the same logit to a whole row and cancels in the softmax, so a
 *   row sees n iid logits of variance v = (1 − r')σ_s²; two rows' logits correlate with ρ = r'.
 *   From the softmax block: S2 = Σ_j E[P_ij²] = K2(n, v)/n (exact, saturating) and the cross-row
 *   X2 = Σ_j E[P_ij P_kj] = (1 + c·√((K2_i−1)(K2_k−1)))/max(n_i, n_k), c = (e^{ρv}−1)/(e^{v}−1).
 * Forward (value v_j = x_j W_v: s_v = dσ_v² s', r_v = r'):
 *   Var(o_i) = s_v [ r_v (1 + S2 p_a/(1−p_a)) + (1 − r_v)(S2/(1−p_a) + τ) ],
 *   Cov(o_i, o_k) = s_v [ r_v + (1 − r_v)(X2 + r′τ) ];  then W_o: ×dσ_o².
 *   τ = v(1 − S2)²/d (non-causal): the weights select tokens along the row's key-space direction
 *   a_i (logit l_ij = a_i·x_j), so the weighted mean of the private parts leans toward it — by
 *   Stein's lemma E[Σ_j P_ij x_j] = s(1−r′)a_i(1 − S2) with |a_i|²s(1−r′) = v — one direction of d.
 *   At r = 0, L = 128, σ_s² = 1, d = 64 this is 44 % of the output variance (MC: 0.0359 vs 0.0202
 *   without it, 0.0352 with it).
 * Backward, upstream g (corr r_g), g_h = dσ_o² g at the head outputs:
 *   V path:  g_h dσ_v² [ S2/(1−p_a) + r_g (n−1) X2 ]      (DSLM keeps only this path)
 *   Q path:  g_h s_v (1−r_v)(1−r') σ_s²/s' · J/(1−p_a)    (dS_ij = P_ij(dP_ij − Σ_k P_ik dP_ik) sums to
 *            zero over j, so only the private part of k passes; J = Σ_j E[P_ij²(1 − 2P_ij + Σ_k P_ik²)]
 *            is the softmax Jacobian gain, exact from the softmax block, → 0 as the softmax saturates)
 *            + the coherent key–value term g_h s_v (1−r_v)(1−r') σ_s²/s' · (1 − 2S2 + Q4 + J)/d: k_j and
 *            v_j are maps of the same token, E[(dO_i·v_j) k_j] = W_kᵀW_v dO_i with squared norm 1/d of
 *            E[(dO·v)²]E|k|², and it sums coherently over the row (derived here; MC d = 64, L = 128,
 *            σ_s² = 1: Q path 0.0351 ± 0.0006, 0.0187 without, 0.0340 with; independent of h).
 *            Along the row's own logit direction (a share f ≈ 1/d_h of the keys' variance) the keys
 *            ARE the logits, and 1/d of δ is too: there J becomes T = E[Σ_j P_j²(z_j − z̄_P)²] (≪ J once
 *            rows peak) — the per-row gain is qPathGain's [(1 − f)J + fT]/(1 − p_a) + [(1 − 2f)T + fW +
 *            (1 − f)(1 − 2S2 + Q4)]/d (derived here, issue 4: the terms above were 25–35 % high at d_h = 4)
 *   K path:  g_h s_v (1−r_v) σ_s²/s' · [ J/(1−p_a) + r' r_g (n−1) X2 ]
 *   gradVar = V + Q + K (the three weight matrices are independent, so cross terms vanish).
 *   Small head dimension d_h = d/h (attnSoftmaxStats, derived here): a row's logits are iid given its
 *   query with variance v·u_i, u_i ∝ |q_i|² (relative variance 2(1 + 2d_h/d)/d_h), so K2, J, Q4 are
 *   averages over u (5-node Gauss–Hermite over a moment-matched lognormal u), and the K path's
 *   diagonal weights J by u (E[uJ]). Key selection: two rows' logits over the keys are, given
 *   their queries, iid pairs with correlation cos(q_i, q_k), spread around r′ with variance
 *   ~(1 − r′²)²(1 + 2d_h/d)/d_h (Fisher's law at the effective dimension d_h/(1 + 2d_h/d) of
 *   x_iᵀW_qᵀW_kW_kᵀW_q x_k), so the row correlation c in X2 = (1 + c(K2 − 1))/n is averaged over that
 *   law (softmax.ts softmaxRowCorrCos): rows whose queries point alike pick the same keys. It
 *   replaces a first-order key-norm term (L−1)/L·β²Var(w), which over-stated at peaked rows.
 *   Fixed-weight MC of L·X2 (d = 64, L = 32, σ_s² = 3/30): h = 1 1.090/1.311 vs 1.089/1.324, h = 16
 *   1.391/2.639 vs 1.493/2.837 (the rows' |q|² spread is not in c: 3–7 % high at d_h = 4). The K path
 *   gains (1−r′)²vγ²(L−1)/L·(1/d_h + 2/d), γ = 1 − 2S2 + Q4 − J: queries of rows that attend to
 *   the same key are correlated along it (Stein), and the key–value coherence adds the same with 1/d
 *   twice (first order; numpy MC d = 64, L = 128, r = 0, r_g = 0.2, K path at h = 1/4/16: σ_s² = 3
 *   0.215/0.273/0.521 vs 0.211/0.273/0.513, σ_s² = 10 1.119/1.319/2.232 vs 1.135/1.355/2.433).
 *   Causal rows carry the same per row length n (derived the same way; u is a property of the
 *   query, not of how many keys the row sees): K2(n), J(n), Q4(n), E[uJ](n) averaged over u
 *   (attnSoftmaxRows). The K path's cross-row term of column j sums over the row pairs i ≠ i′ ≥ j
 *   that see it the pair's Jacobian overlap weighted by their queries' dot product: E[wρD_n]/n′ for
 *   rows of n ≤ n′ keys (causalKcvRows: the longer row's weight on the shared keys is a share R,
 *   E[R] = n/n′; R rises with the shared keys' largest weight, so the term is multiplied by
 *   formulas/causal-share.ts F̄_D(n, n′), the Laplace quadrature of the unequal-row overlap over the
 *   independent-share form, averaged over the queries' cosine law; exact for n = n′), in place of
 *   r′·cross·min(1, J/(K2/n)) plus the first-order key-selection term Σ (γ_i/n_i)(γ_i′/n_i′)
 *   (causalKeySelPairs, kept only in the reported per-pair gradR); the stack fold
 *   formulas/attention-causal.ts takes the same per pair of position clusters. Per-path MC of the
 *   cross-row term K(r_g = 1) − K(0) (test/attention-causal-kcross.test.ts; d = 64, h = 16, L = 128,
 *   200 trials; new / old vs MC): r = 0, σ_s² = 10 / 30 / 100: 4.04 / 7.22 / 10.08 vs 4.96 ± 0.08 /
 *   8.72 ± 0.16 / 11.69 ± 0.24 (old 7.00 / 13.13 / 17.03); r = 0.5, σ_s² = 10 / 30: 9.13 / 19.99 vs
 *   9.97 ± 0.24 / 21.28 ± 0.53 (old 6.16 / 17.67); r = 0.95, σ_s² = 30 / 100: 5.89 / 25.76 vs 6.18 ±
 *   0.18 / 26.25 ± 0.72 (old 4.05 / 21.52; Price's form with the longest rows' c′, sq_n sq_n′/n′,
 *   8.21 / 38.8). What is left (15–18 % low at r = 0, in every position bin, where the same MC gives
 *   the non-causal equal-row term exactly: 13.49 vs 13.56 ± 0.33) is the share R's dependence on the
 *   shared keys. float64 MC d = 64, h = 16, L = 32, σ_s² = 1, r_g = 0.5
 *   (test/attention-causal-smallhead.test.ts): K-path diagonal 0.0992 vs 0.1000 ± 0.0005.
 *   Gradient token covariance: V path g_h dσ_v² [(1 − (K2−1)/(n−1))/n + r_g ((n−1)/n − (K2−1)c/n)]
 *   (the column sums c_j = Σ_i P_ij add up to n, so Cov(c_j, c_l) = −Var(c)/(n−1)), Q path
 *   g_h s_v (1−r_v)(1−r′) σ_s²/s′ · r_g {[1 − 2f(1 − T/J)]E[D] + (1 − f)(1 − S2)²/d} (qPathCovGain: the
 *   two rows' Jacobian overlap D = Σ_m E[P_jm P_lm(1 − P_jm − P_lm + Σ_a P_ja P_la)], which vanishes as
 *   rows saturate, passed in full off the plane of the two rows' logit directions, where the keys are
 *   the rows' own logits; causal rows: Price's D_jl, closure, per-pair model and fold), K path −K/(n−1) exactly (Σ_j dS_ij = 0, so the K-path gradients
 *   sum to zero over the tokens; non-causal kernel — the causal closure keeps ≈ 0).
 *   forward r: the kernel's is the population ratio ΣCov/ΣVar (what a following block sees); config
 *   v1's statistic, the mean over pairs of the per-pair cosine, is reportedR (formulas/attention-cos.ts:
 *   the ratio times E[B̄^{−1/2}]²E[B̄], B̄ the rows' Σ_k P_ik² over heads; h = 1, L = 32, σ_s² = 1:
 *   0.364 → 0.386 vs 0.3995 measured).
 *   gradR: `r` is the pooled ratio ΣCov/ΣVar (what a following linear map propagates); config v1's
 *   statistic, the mean over pairs of per-pair Pearson correlations, is reportedGradR (ncPairGradR:
 *   V- and K-path gradients scale with the key's column sum, which varies from key to key, and
 *   with the per-head, per-sequence scale U of the rows' shared query, which all tokens of a head
 *   share).
 * Causal: row i has n_i = i + 1 keys; every quantity is computed per position (column sums for
 * the backward pass) and averaged over positions (pairs of positions for r) — the statistics of
 * config v1 are averages over positions. The reported causal gradR (causalPairGradR) takes the
 * column sums' law (counts with zeros at late keys and saturated rows) into the per-pair mean.
 */
import { defineBlock, GridRows, uncentredR, kernelBackward, kernelForward, mom, gmom, normalNodes, NO_WARNINGS, R_C, R_WARN, setFGauss, setG, setM, type Block, type ForwardResult, type KernelCache } from './_core.js';
import type { Moments } from '../src/types.js';
import { causalShareLaw } from './causal-share.js';
import type { GradMoments } from '../src/types.js';
import { cosFactor } from './attention-cos.js';
import { ANISO_DH_MAX, interpRho, interpStencil, queryCosineDim, queryDirFrac, rhoStencil, softmaxJacOverlapAniso, softmaxJacOverlapCos, softmaxRowCorrCos, softmaxRowCorrCosAt, softmaxRows, softmaxRowStatsInto, softmaxRowStatsRows, softmaxStatsInto } from './softmax.js';

export interface AttentionParams {
  dModel: number; heads: number; stdQ: number; stdK: number; stdV?: number; stdO?: number;
  value?: boolean; seqLen: number; causal?: boolean; attnDropout?: number;
}

/** Causal rows (object path only: component requests and the advisor's calibration; stacks are
 * folded position by position in src/causal.ts): the backward closure over the per-position sums.
 * Non-causal attention is a kernel whose record cache holds the four linear backward coefficients
 * (gradVar = σ_g²(v0 + v1 r_g), Cov = σ_g²(c0 + c1 r_g)), then vq, cp1, cq1 (Q-path variance, V
 * and K covariance, Q covariance: the parts of the per-pair statistic) and K2, c (the softmax's n²E[p²]
 * and row correlation, from which reportedGradR builds the column-sum spread). */
interface CausalCache {
  causalGrad: (g: number, rg: number) => GradMoments;
  /** config v1's per-pair gradR (reported only; causalPairGradR), centred at the sample mean of a
   * batch of `batch` sequences (undefined: at the expected mean) */
  pairGradR: (g: number, rg: number, batch?: number) => number;
  /** config v1's forward r, the mean over position pairs of the per-pair cosine (reported only; cosFactor) */
  pairR: () => number;
}
const SM = new Float64Array(10);
const SMU = new Float64Array(3);
/** probabilists' 5-point Gauss–Hermite rule (exact for polynomials of degree ≤ 9 in z ~ N(0, 1)) */
const GH5_Z = [0, 1.3556261799742659, -1.3556261799742659, 2.8569700138728056, -2.8569700138728056];
const GH5_W = [8 / 15, (7 + 2 * Math.sqrt(10)) / 60, (7 + 2 * Math.sqrt(10)) / 60, (7 - 2 * Math.sqrt(10)) / 60, (7 - 2 * Math.sqrt(10)) / 60];

/**
 * Softmax statistics of a non-causal row averaged over the row's own logit variance (derived here).
 * Given the weights and the query q_i = W_q x_i of row i, the row's logits q_i·k_j/√d_h over the keys
 * are iid Gaussian with variance v·u_i, u_i = q_iᵀΣ_k q_i/(d_h E) a quadratic form in x_i (Σ_k = W_kW_kᵀ
 * per head): the softmax block is exact per row, and K2, J, Q4 are averages over u. u has mean 1 and
 * relative variance 2 tr(B²)/tr(B)² for B = W_qᵀW_kW_kᵀW_q, which is 2(1 + 2d_h/d)/d_h for d_h × d
 * Gaussian maps (two free Marchenko–Pastur factors of ratio d_h/d): u is taken lognormal with that
 * mean and variance (moment-matched), and the average is a 5-node Gauss–Hermite quadrature.
 * out = [E K2, E J, E Q4, E[u J], E T] (T = softmax.ts softmaxTq, the Q path's gain along the query's
 * own direction, qPathGain; unweighted like J: the Q path's |k_j|² does not carry u): the K path's per-key sum Σ_i E[dS_ij²|q_i|²] weights each row's
 * Jacobian gain by its own |q_i|² ∝ u_i. MC d = 64, L = 128, σ_s² = 10, r = r_g = 0: S2 (the V path)
 * 0.278/0.270/0.248 at h = 1/4/16 vs 0.2915 for u ≡ 1. Tabulated per (L, d_h/d) on a grid in ln v
 * (spacing 1/8, 1e-4 ≤ v ≤ 1e4; outside, the 5 nodes directly), cubic in ln v: one interpolation per
 * call, like softmaxStatsInto (interpolation error < 2e-4 relative, test/attention-keysel.test.ts).
 */
/** Relative variance of a row's logit variance over its rows (equally, of a key's over its column):
 * 2(1 + 2d_h/d)/d_h (attnSoftmaxStats). */
function keyNormVar(d: number, heads: number): number {
  const dh = d / Math.max(1, heads);
  return dh > 0 ? (2 * (1 + (2 * dh) / d)) / dh : 0;
}

/** γ = 1 − 2K2/n + Q4 − J = n·E[P(1−P)(1−2P)] of a softmax row of n keys (clipped at 0): the
 * heat-equation response of a key's weight to its logit variance (the K path's key selection). */
export function selGamma(k2: number, jac: number, q4: number, n: number): number {
  return Math.max(1 - (2 * k2) / n + q4 - jac, 0);
}
/**
 * The Q path's per-row gain (derived here, issue 4), the whole factor of g_h s_priv (1 − r′) σ_s²/s′:
 *   G = [(1 − f)J + fT]/(1 − p_a) + [(1 − 2f)T + fW + (1 − f)C2]/d,   C2 = E(1 − S2)² = 1 − 2K2/n + Q4.
 * dq_i = Σ_j dS_ij k_j, dS_ij = P_ij(δ_j − δ̄_P), δ_j = dO_i·v_j. For fixed weights the token x_j
 * makes k_j, δ_j and the row's logit l_j jointly Gaussian; condition on the standardised logits z_j
 * (P = softmax(√(vu) z)): k_j = μ_k z_j + k′_j, δ_j = μ_δ z_j + δ′_j with (k′, δ′) independent of z,
 * Cov(δ′, k′) = c′. Then (Σ_j P_j(δ_j − δ̄_P) = 0, w_j = z_j − z̄_P)
 *   dq = μ_kμ_δ S_w + μ_k Σ P_j w_j δ′_j + μ_δ Σ P_j w_j k′_j + Σ_j δ′_j P_j(k′_j − k̄′_P),  S_w = Σ_j P_j w_j²,
 * and Isserlis over (δ′, k′) gives E|dq|² = |μ_kμ_δ S_w + (1 − S2)c′|² + (|μ_k|²σ′_δ² + μ_δ² tr Σ′)T_z
 * + (σ′_δ² tr Σ′ + |c′|²)J_z (+ a term ∝ μ_δ μ_k·c′, zero in expectation over dO), T_z = Σ P_j²w_j²,
 * J_z = Σ P_j²(1 − 2P_j + S2). Per unit σ_δ² tr Σ: |μ_k|² = f (the key component along the row's
 * logit direction Σ_k q_i, back through W_q: softmax.ts queryDirFrac, 1/d_h for isotropic heads),
 * μ_δ² = 1/d (δ = (W_v dO)·x_j and l_j = (W_k q_i)·x_j/√d_h: two independent directions in R^d),
 * |c|² = 1/d (the coherent key–value term), so |c′|² = (1 − f)/d, σ′_δ² = 1 − 1/d, tr Σ′ = 1 − f:
 *   J-part (1 − f)J, T-part fT + (1 − 2f)T/d, coherent fW/d + (1 − f)C2/d,
 * T = E T_z (softmax.ts softmaxTq), W = E S_w² (softmaxTqInto), both → their uniform-row values as
 * v → 0 where T = J, W ≈ C2 and G is the former J + (J + C2)/d. Once rows peak T ≪ J (T/J = 0.180 /
 * 0.042 / 0.0094 at n = 32, v = 10 / 30 / 100): the row's Jacobian removes the weighted mean of the
 * very logits it was built from. Attention dropout: the masks' noise is independent of z and of the
 * keys, so it multiplies the J- and T-parts' δ-variance by 1/(1 − p_a). J, T, W are row-variance
 * averages over u (attnSoftmaxStats), f taken independent of u (sampled jointly from the Gaussian
 * weights: ≤ 0.5 % apart at d_h = 4). Per-path float64 MC (test/mc/attention-paths.ts, Q path alone,
 * d = 64, r = r_g = 0, σ_v = σ_o = 1/√d, 100 trials, B = 2; former → now vs MC ± standard error):
 *   non-causal L = 32, h = 16, σ_s² = 10 / 30 / 100: 1.100 / 2.856 / 6.594 → 0.876 / 2.113 / 4.754
 *     vs 0.854 ± 0.010 / 2.093 ± 0.025 / 4.942 ± 0.064;  h = 4: 1.129 / 2.792 / 6.201 → 1.036 / 2.514 /
 *     5.556 vs 1.033 ± 0.013 / 2.503 ± 0.042 / 5.497 ± 0.11;
 *   non-causal L = 128, h = 16, σ_s² = 1 / 10 / 30 / 100: 0.0346 / 0.928 / 2.932 / 7.532 → 0.0371 /
 *     0.772 / 2.197 / 5.441 vs 0.0374 ± 0.0004 / 0.754 ± 0.006 / 2.147 ± 0.019 / 5.480 ± 0.045;
 *   causal L = 32, h = 16: 1.069 / 2.497 / 5.450 → 0.832 / 1.837 / 3.926 vs 0.820 ± 0.010 / 1.882 ±
 *     0.024 / 4.110 ± 0.059; L = 128, h = 16: 1.016 / 2.815 / 6.769 → 0.820 / 2.093 / 4.884 vs 0.804 ±
 *     0.006 / 2.091 ± 0.016 / 5.051 ± 0.042.
 * Over 48 cases (non-causal and causal, L = 32 / 128, h = 1 / 4 / 16, σ_s² = 1 / 10 / 30 / 100) the
 * largest deviation is 4.0 standard errors (was 46), ≤ 4.5 %: what is left follows the lognormal u
 * (over the exact law of the Gaussian weights the Q gain is 2–5 % lower at v = 10 and 1–3 % higher
 * at v = 100, d_h = 4; with the exact law every non-causal case is within 2.0 standard errors). Only
 * T alone on the 1/d_h direction (without the δ–logit terms) left 16 heads 3–6 % high.
 */
export function qPathGain(J: number, T: number, W: number, C2: number, f: number, d: number, pa: number): number {
  return ((1 - f) * J + f * T) / (1 - pa) + ((1 - 2 * f) * T + f * W + (1 - f) * C2) / d;
}
/**
 * The Q path's two-row covariance gain (derived here, issue 4), the factor of g_h s_priv (1 − r′)
 * σ_s²/s′ · r_g:  [1 − 2f(1 − T/J)]·E[D] + (1 − f)·coh,  D = tr(J_i J_i′) the two rows' Jacobian
 * overlap, coh = (1 − S2_i)(1 − S2_i′)/d their coherent key–value terms, T/J a row's own-direction
 * pass ratio (qPathGain's T over J; causal rows of unequal length: √(t_i t_i′)).
 * Two rows i ≠ i′ share their keys: E[dq_i·dq_i′] = r_g σ_δ² E tr(Kᵀ J_i′ J_i K). Off the plane of the
 * two rows' logit directions (share 1 − 2f of the keys' variance, f per direction: queryDirFrac) the
 * keys are independent of both rows' weights and pass D. In that plane the key components are the
 * rows' own standardised logits z_i, z_i′ (correlation ρ, the queries' cosine), and it passes
 *   S(ρ) = E[(J_i′z_i)·(J_i z_i) − ρ(J_i′z_i′)·(J_i z_i) − ρ(J_i′z_i)·(J_i z_i′) + (J_i′z_i′)·(J_i z_i′)]/(1 − ρ²)
 * (the plane's metric in the non-orthogonal basis of the two directions; exact for isotropic keys).
 * S → 2D as v → 0 (the weights do not depend on the keys) and S(1) = J + T (the variance, qPathGain).
 * Not tabulated: S is taken as 2D·T/J — each row's own direction passes the overlap in the
 * proportion it passes the row's own Jacobian gain. Sampled S/(2D) at n = 32 (20,000–40,000 pairs;
 * ρ = 0 / 0.25 / 0.5 / 0.75 / 0.95) against T/J: v = 0.3 0.97 / 1.01 / 1.04 / 1.06 / 1.09 vs 1.19;
 * v = 1.5 0.82 / 0.88 / 0.93 / 0.97 / 1.03 vs 1.09; v = 5 0.45 / 0.41 / 0.40 / 0.47 / 0.64 vs 0.42;
 * v = 15 0.17 / 0.00 / −0.04 / 0.06 / 0.36 vs 0.106; v = 50 0.03 / −0.19 / −0.25 / −0.16 / 0.13 vs
 * 0.022 (low toward ρ → 1, where S(1)/2D(1) = (1 + T/J)/2). The coherent key–value vector W_kᵀW_v dO
 * has share f along each row's logit direction, where that row's term is the logit's (fW in the
 * variance; for two rows its product carries ρ·E[S_w]², ≲ 1e-4): (1 − f)·coh.
 * Per-path MC (test/mc/attention-pairs.ts, non-causal, d = 64, B = 4, 30 trials, r_g = 1: the Q
 * path's pooled covariance of distinct tokens; former E[D] + coh → this vs MC ± s.e.), (h, L, σ_s², r):
 *   (16, 32, 30, 0.5) 0.282 → 0.164 vs 0.170 ± 0.009;  (16, 32, 10, 0.5) 0.135 → 0.100 vs 0.103 ± 0.005;
 *   (16, 32, 100, 0.5) 0.457 → 0.230 vs 0.220 ± 0.013;  (4, 32, 30, 0.5) 0.234 → 0.199 vs 0.212 ± 0.010;
 *   (16, 32, 30, 0) 0.399 → 0.219 vs 0.224 ± 0.012;  (16, 32, 30, 0.95) 0.00566 → 0.00547 vs 0.00581 ±
 *   0.00029;  (16, 128, 30, 0.5) 0.235 → 0.149 vs 0.155 ± 0.008;  (16, 128, 10, 0.5) 0.0915 → 0.0762 vs
 *   0.0799 ± 0.0041;  (16, 128, 3, 0.5) 0.0229 → 0.0226 vs 0.0240 ± 0.0011;  (16, 128, 1, 0) 0.0234 →
 *   0.0216 vs 0.0229 ± 0.0008. S = 0 instead (the plane passing nothing) fell 2–7 s.e. low at σ_s² ≤ 30.
 */
export function qPathCovGain(D: number, coh: number, f: number, t: number): number {
  return (1 - 2 * f * (1 - t)) * D + (1 - f) * coh;
}
/** The K path's first-order key-selection factor 1/d_h + 2/d (now only in the causal reported per-pair
 * gradR, causalPairGradR; the causal variance takes causalKcvRows): the
 * Stein term of two rows' queries correlated along a key both attend to, 1/d_h + 2/d =
 * 1/queryCosineDim being E[ρ²] of the two queries' cosine law (the 2/d is the weights' anisotropy,
 * not a key–value coherence: a Monte-Carlo with values from independent tokens gives the same K
 * path). The non-causal kernel carries the exact cross-row term instead (attnJacOverlap). */
export function keySelFactor(d: number, heads: number): number {
  return 1 / (d / Math.max(1, heads)) + 2 / d;
}

/**
 * Two rows' Jacobian overlap for the K path's cross-row sum and the Q path's covariance (derived
 * here, issue 4): out = [E[w ρ D], E[D]] with D = Σ_j E[P_ij P_i′j(1 − P_ij − P_i′j + Σ_a P_ia P_i′a)]
 * = E[tr(J_i J_i′)] (softmax.ts: D(ρ) for two rows whose iid logit pairs correlate with ρ; by
 * Price's theorem D = (K2 − 1)c′(ρ)/(n v), sampled directly where v ≥ 0.05), ρ the two rows' query
 * cosine and w = √(u_i u_i′), u_i = |q_i|²/E|q|² in the key metric (the rows' logit-variance
 * factors). The K path's weight is q_i·q_i′/E|q|² = wρ; the Q path's (|k_j|²) carries no w. Two
 * rows of unequal variances v·u_i, v·u_i′ are taken as separable in the two factors:
 * D(vu, vu′, ρ) = √(D(vu, ρ) D(vu′, ρ)) (checked against direct sampling of isotropic d_h = 4
 * queries with their norms, 20,000 pairs, E[(L−1)wρD] at (L, v) = (128, 3) 0.533 vs
 * 0.519 ± 0.011, (32, 30) 0.131 vs 0.124 ± 0.003, (128, 10) 0.695 vs 0.661 ± 0.014, (32, 1) 0.157 vs
 * 0.161 ± 0.004; taking both rows at the pair's geometric-mean variance over-stated it more).
 * The law of (ρ, u, u′): d_h ≤ ANISO_DH_MAX the sampled law of the Gaussian weights' anisotropic
 * query metric (softmax.ts softmaxJacOverlapAniso; per pair); above, queryCosineDim's Fisher law
 * with u lognormal (attnSoftmaxStats' spread keyNormVar), the pair sum factorised:
 *   E[wρD] = (E_u[√(u F(vu))])²,  E[D] = (E_u[√(G(vu))])²,  F = E_ρ[ρD], G = E_ρ[D] at one variance
 * (5-node Gauss–Hermite in ln u; F < 0, possible for r′ < 0: its sign carried separately).
 */
export function attnJacOverlap(L: number, v: number, r1: number, d: number, heads: number, out: Float64Array): void {
  if (d / Math.max(1, heads) <= ANISO_DH_MAX) { softmaxJacOverlapAniso(v, r1, L, d, heads, out); return; }
  const rel = keyNormVar(d, heads);
  if (!(rel > 0) || L <= 1 || !(v >= AV_MIN && v <= AV_MAX)) { ovDirect(L, v, r1, d, heads, out); return; }
  // tabulated on attnSoftmaxStats' grid in ln v (memoised per (L, d, heads)), cubic in r′ on the
  // grid r = k/10 − 1, linear in ln v: one interpolation per call instead of five table look-ups
  const x = (Math.log(v) - AT_MIN) / AT_STEP;
  const g = Math.max(0, Math.min(AN_GRID - 2, Math.floor(x))), w = x - g;
  const ta = ovRow(L, d, heads, g), tb = ovRow(L, d, heads, g + 1);
  const r = Math.max(-1, Math.min(1, r1));
  out[0] = interpRho(ta, tb, w, r); // ovRow's layout: the r grid of softmax.ts's tables, E[D] from 21
  out[1] = Math.max(interpRho(ta, tb, w, r, 21), 0);
}
/** attnJacOverlap's Fisher-law average evaluated at v (the 5-node Gauss–Hermite in ln u) */
function ovDirect(L: number, v: number, r1: number, d: number, heads: number, out: Float64Array): void {
  const rel = keyNormVar(d, heads), dh = queryCosineDim(d, heads);
  if (!(rel > 0) || L <= 1) { softmaxJacOverlapCos(v, r1, L, dh, out); return; }
  const s2 = Math.log1p(rel), s = Math.sqrt(s2), m = -s2 / 2;
  let ap = 0, an = 0, b = 0;
  for (let k = 0; k < 5; k++) {
    const u = Math.exp(m + s * GH5_Z[k]);
    softmaxJacOverlapCos(v * u, r1, L, dh, OVT);
    const f = OVT[0];
    if (f >= 0) ap += GH5_W[k] * Math.sqrt(u * f); else an += GH5_W[k] * Math.sqrt(-u * f);
    b += GH5_W[k] * Math.sqrt(Math.max(OVT[1], 0));
  }
  out[0] = ap * ap - an * an; out[1] = b * b;
}
const ovAttRows = new GridRows(4096);
/** ovDirect at grid point gi of attnSoftmaxStats' grid for r = k/10 − 1, k = 0..20: [E[wρD]…, E[D]…] */
function ovRow(L: number, d: number, heads: number, gi: number): Float64Array {
  const rows = ovAttRows.rows(L, d * 65536 + heads);
  let row = rows[gi];
  if (row) return row;
  row = new Float64Array(42);
  const v = Math.exp(AT_MIN + gi * AT_STEP);
  for (let k = 0; k <= 20; k++) { ovDirect(L, v, k / 10 - 1, d, heads, OVT); row[k] = OVT[0]; row[21 + k] = OVT[1]; }
  rows[gi] = row;
  return row;
}
const OVT = new Float64Array(2), OV = new Float64Array(2), OVC = new Float64Array(2);

/** The non-causal kernel fwd's numbers that depend on (d, heads, L) only, for the last such key:
 * KP = [d, heads, L, keyNormVar, cosDim, queryDirFrac, d_h ≤ ANISO_DH_MAX (1/0)] (kernelPrep) */
const KP = Float64Array.of(NaN, NaN, NaN, 0, 0, 0, 0);
function kernelPrep(d: number, heads: number, L: number): void {
  KP[0] = d; KP[1] = heads; KP[2] = L;
  KP[3] = keyNormVar(d, heads); KP[4] = queryCosineDim(d, heads); KP[5] = queryDirFrac(d, heads);
  KP[6] = d / Math.max(1, heads) <= ANISO_DH_MAX ? 1 : 0;
}
/** interpRho's stencil at the kernel's r′ (rhoStencil) */
const RST = new Float64Array(5);
/**
 * The kernel fwd's tables at (L, v, r′) in one pass (KP filled for (d, heads, L)): SM[0…8] =
 * attnSoftmaxStats(L, v, d, heads), SM[9] = softmaxRowCorrCos(v, r′, L, cosDim), OV =
 * attnJacOverlap(L, v, r′, d, heads) — the same arithmetic as those functions (bit-identical
 * numbers), with ln v taken once (all three take the log of the same v inside their tables'
 * ranges), interpRho's stencil in r′ computed once for the row correlation and both overlaps, and
 * each memo's rows looked up once.
 */
function fwdTables(L: number, v: number, r1: number, d: number, heads: number): void {
  const rel = KP[3], lv = Math.log(v), r = Math.max(-1, Math.min(1, r1));
  rhoStencil(r, RST);
  SM[9] = softmaxRowCorrCosAt(v, lv, r1, L, KP[4], RST);
  const table = rel > 0 && !(L <= 1) && v >= AV_MIN && v <= AV_MAX;
  if (!table) avgDirect(L, v, rel, SM);
  const xa = (lv - AT_MIN) / AT_STEP;
  if (table) {
    // attnSoftmaxStats' cubic in t = ln v
    let g = Math.floor(xa) - 1;
    g = Math.max(0, Math.min(AN_GRID - 4, g));
    const x = (lv - (AT_MIN + g * AT_STEP)) / AT_STEP;
    const rows = avgRows.rows(L, rel);
    statsCubic(x, rows[g] ?? avgRow(L, rel, g), rows[g + 1] ?? avgRow(L, rel, g + 1), rows[g + 2] ?? avgRow(L, rel, g + 2), rows[g + 3] ?? avgRow(L, rel, g + 3), SM);
  }
  // attnJacOverlap
  if (KP[6] !== 0) { softmaxJacOverlapAniso(v, r1, L, d, heads, OV); return; }
  if (!table) { ovDirect(L, v, r1, d, heads, OV); return; }
  const g = Math.max(0, Math.min(AN_GRID - 2, Math.floor(xa))), w = xa - g;
  const rows = ovAttRows.rows(L, d * 65536 + heads);
  const ta = rows[g] ?? ovRow(L, d, heads, g), tb = rows[g + 1] ?? ovRow(L, d, heads, g + 1);
  OV[0] = interpStencil(ta, tb, w, RST);
  OV[1] = Math.max(interpStencil(ta, tb, w, RST, 21), 0);
}

/** The softmax symbols the non-causal forward formulas name (the catalogue's var and r rows), computed
 * as the kernel fwd computes them (u-averaged K2, the tilt tau and two rows' tilt product tm, the row
 * correlation c, X2), so that the printed formulas evaluate to the engine's numbers (src/tui). */
export function attentionFormulaSymbols(p: AttentionParams, x: Moments): { K2: number; c: number; tau: number; tm: number; X2: number } {
  logitVar(p, x, VR);
  const v = VR[0], c = softmaxRowCorrCos(v, VR[1], p.seqLen, cosDim(p));
  attnSoftmaxStats(p.seqLen, v, p.dModel, p.heads, SMF);
  const K2 = SMF[0];
  return { K2, c, tau: tiltVar(SMF[6], SMF[7], p.attnDropout ?? 0, p.dModel), tm: (SMF[8] * SMF[8]) / p.dModel, X2: (1 + c * Math.max(K2 - 1, 0)) / p.seqLen };
}
const SMF = new Float64Array(9);

/** The row logit variance v = (1 − r′)σ_s² and the uncentred token correlation r′ of the kernel fwd,
 * recomputed from the input (the same expressions, so the same numbers) into out = [v, r′]. */
function logitVar(p: AttentionParams, x: Moments, out: Float64Array): void {
  const r1 = uncentredR(x.mean, x.var, x.r);
  out[0] = (1 - r1) * scoreVar(p, x.var + x.mean * x.mean); out[1] = r1;
}
const VR = new Float64Array(2), SMP = new Float64Array(9);

/** the head dimension d_h = dModel/heads */
function headDim(p: AttentionParams): number {
  return p.dModel / Math.max(1, p.heads);
}
/** the effective dimension of two rows' query cosine (softmax.ts queryCosineDim: d_h/(1 + 2d_h/d)) */
function cosDim(p: AttentionParams): number {
  return queryCosineDim(p.dModel, p.heads);
}

export function attnSoftmaxStats(L: number, v: number, d: number, heads: number, out: Float64Array): void {
  const rel = keyNormVar(d, heads);
  if (!(rel > 0) || L <= 1 || !(v >= AV_MIN && v <= AV_MAX)) { avgDirect(L, v, rel, out); return; }
  // tabulated: the averages at the grid points t_g = ln v_g (spacing 1/8, memoised per (L, rel)),
  // cubic Lagrange interpolation in t of ln(K2 − 1) and ln Q4 (they need the log's relative
  // precision near K2 = 1 and at Q4 ~ 1/L²) and of the values J, E[uJ], T, W, X, Y, M1 (smooth in t:
  // < 1e-3 relative against the direct average, test/attention-keysel.test.ts; no exp on the hot path)
  const t = Math.log(v);
  let g = Math.floor((t - AT_MIN) / AT_STEP) - 1;
  g = Math.max(0, Math.min(AN_GRID - 4, g));
  const x = (t - (AT_MIN + g * AT_STEP)) / AT_STEP;
  statsCubic(x, avgRow(L, rel, g), avgRow(L, rel, g + 1), avgRow(L, rel, g + 2), avgRow(L, rel, g + 3), out);
}
/** The cubic Lagrange interpolation of attnSoftmaxStats at x ∈ [1, 2] between the grid rows r0…r3:
 * ln(K2 − 1) and ln Q4 as logs, the other seven (the tilt's X, Y, M1 included: see avgDirect) as
 * values — no exp on the hot path but those two (shared by attnSoftmaxStats and fwdTables). */
function statsCubic(x: number, r0: Float64Array, r1: Float64Array, r2: Float64Array, r3: Float64Array, out: Float64Array): void {
  const c0 = (-(x - 1) * (x - 2) * (x - 3)) / 6, c1 = (x * (x - 2) * (x - 3)) / 2;
  const c2 = (-x * (x - 1) * (x - 3)) / 2, c3 = (x * (x - 1) * (x - 2)) / 6;
  out[0] = 1 + Math.exp(c0 * r0[0] + c1 * r1[0] + c2 * r2[0] + c3 * r3[0]);
  for (let k = 1; k < 9; k++) out[k] = c0 * r0[k] + c1 * r1[k] + c2 * r2[k] + c3 * r3[k];
  out[2] = Math.exp(out[2]);
}
/** attnSoftmaxStats without the table (the 5-node average evaluated at v; tests bound the
 * interpolation error with it). */
export function attnSoftmaxStatsDirect(L: number, v: number, d: number, heads: number, out: Float64Array): void {
  avgDirect(L, v, keyNormVar(d, heads), out);
}
/**
 * Causal rows (n = 1..L keys) at small head dimension: attnSoftmaxStats per row length, derived the
 * same way — row i's logits over its n_i visible keys are iid given its query, variance v·u_i with
 * the same u (a property of q_i and the weights, not of how many keys the row sees), so K2(n), J(n),
 * Q4(n) and E[uJ](n) are the same 5-node Gauss–Hermite averages over the moment-matched lognormal u,
 * each node one softmaxRows sweep at v·u. Returns { k2, jac, q4, ju } indexed by n (n = 1: one key,
 * K2 = Q4 = 1, J = 0). rel = 0 or v ≤ 0: the plain softmaxRows (ju = jac).
 */
export function attnSoftmaxRows(v: number, L: number, d: number, heads: number): { k2: Float64Array; jac: Float64Array; q4: Float64Array; ju: Float64Array; tq: Float64Array; tw: Float64Array; tx: Float64Array; ty: Float64Array; m1: Float64Array } {
  const rel = keyNormVar(d, heads), one = !(rel > 0) || !(v > 0) || L <= 1;
  const k2 = new Float64Array(L + 1), jac = new Float64Array(L + 1), q4 = new Float64Array(L + 1), ju = new Float64Array(L + 1), tq = new Float64Array(L + 1), tw = new Float64Array(L + 1);
  const tx = new Float64Array(L + 1), ty = new Float64Array(L + 1), m1 = new Float64Array(L + 1);
  const s2 = one ? 0 : Math.log1p(rel), s = Math.sqrt(s2), m = -s2 / 2;
  for (let k = 0; k < (one ? 1 : 5); k++) {
    const u = one ? 1 : Math.exp(m + s * GH5_Z[k]), w = one ? 1 : GH5_W[k], vu = v > 0 ? v * u : 0;
    const r = softmaxRows(vu, L), t = softmaxRowStatsRows(vu, L), sv = Math.sqrt(vu);
    for (let n = 1; n <= L; n++) {
      const s2n = r.k2[n] / n;
      k2[n] += w * r.k2[n]; jac[n] += w * r.jac[n]; q4[n] += w * r.q4[n]; ju[n] += w * u * r.jac[n]; tq[n] += w * t.tq[n]; tw[n] += w * t.w[n];
      tx[n] += w * (t.m2[n] - s2n); ty[n] += w * (t.w2[n] - s2n); m1[n] += w * sv * (1 - s2n);
    }
  }
  return { k2, jac, q4, ju, tq, tw, tx, ty, m1 };
}

/** the 5-node average at one v (attnSoftmaxStats; rel = 0: u ≡ 1): out = [K2, J, Q4, E[uJ], T, W,
 * X, Y, M1] with the tilt's X = E[M2 − S2], Y = E[W2 − S2] (softmax.ts softmaxTiltInto, S2 = K2/L)
 * and M1 = E[z̄_P] = E[√(vu)(1 − S2(vu))] (Stein: E[P_j z_j] = √(vu) E[P_j(1 − P_j)]) — tiltVar */
function avgDirect(L: number, v: number, rel: number, out: Float64Array): void {
  const one = !(rel > 0) || !(v > 0) || L <= 1;
  const s2 = one ? 0 : Math.log1p(rel), s = Math.sqrt(s2), m = -s2 / 2;
  let k2 = 0, j = 0, q4 = 0, ju = 0, tq = 0, tw = 0, tx = 0, ty = 0, m1 = 0;
  for (let n = 0; n < (one ? 1 : 5); n++) {
    const u = one ? 1 : Math.exp(m + s * GH5_Z[n]), w = one ? 1 : GH5_W[n], vu = v > 0 ? v * u : 0;
    softmaxStatsInto(L, vu, SMU);
    softmaxRowStatsInto(L, vu, TQW); // [T, W, M2, W2]
    const s2n = SMU[0] / L;
    k2 += w * SMU[0]; j += w * SMU[1]; q4 += w * SMU[2]; ju += w * u * SMU[1]; tq += w * TQW[0]; tw += w * TQW[1];
    tx += w * (TQW[2] - s2n); ty += w * (TQW[3] - s2n); m1 += w * Math.sqrt(vu) * (1 - s2n);
  }
  out[0] = k2; out[1] = j; out[2] = q4; out[3] = ju; out[4] = tq; out[5] = tw; out[6] = tx; out[7] = ty; out[8] = m1;
}
const TQW = new Float64Array(4);
const AT_MIN = Math.log(1e-9), AT_STEP = 1 / 8, AN_GRID = Math.round((Math.log(1e4) - AT_MIN) / AT_STEP) + 1;
const AV_MIN = Math.exp(AT_MIN + 1.5 * AT_STEP), AV_MAX = Math.exp(AT_MIN + (AN_GRID - 2.5) * AT_STEP);
/** grid rows per (L, rel) */
const avgRows = new GridRows(AN_GRID);
const AVT = new Float64Array(9);
function avgRow(L: number, rel: number, gi: number): Float64Array {
  const rows = avgRows.rows(L, rel);
  let row = rows[gi];
  if (row) return row;
  avgDirect(L, Math.exp(AT_MIN + gi * AT_STEP), rel, AVT);
  row = Float64Array.of(Math.log(Math.max(AVT[0] - 1, 1e-300)), AVT[1], Math.log(Math.max(AVT[2], 1e-300)), AVT[3], AVT[4], AVT[5], AVT[6], AVT[7], AVT[8]);
  rows[gi] = row;
  return row;
}
/** standard-normal nodes for the key popularity of the per-pair gradient correlation's hit models
 * (ONE_NODE: a popularity without spread) */
const PN = normalNodes([], 4), ONE_NODE = { z: Float64Array.of(0), w: Float64Array.of(1) };

/** E[(c, 1, √η)/√X], X = (1/h)Σ_{heads}(V + K_d ξ_d + K_x ξ_x) + γη, over the atoms (p_a, c_a, V_a,
 * K_d,a, K_x,a, N_a) of one head (the h heads iid); ξ_d ~ Gamma(N/rvK, mean 1), ξ_x ~ Gamma(kX, mean 1)
 * per head, η ~ Gamma(kQ, mean 1) (kQ = Infinity: η ≡ 1); V is not random. Heads with no hit (V = K
 * = 0: the mass p0) in all h heads leave X = γη, whose part is taken at η's mean (p0^h/√γ, zero
 * weight when γ = 0). By X^{−1/2} = π^{−1/2}∫e^{u/2}e^{−e^u X}du the heads factor,
 *   E[f X^{−1/2}] = π^{−1/2} ∫ e^{u/2} E[e^{−Tγη}(·)] E[f e^{−tY}] E[e^{−tY}]^{h−1} du, T = e^u, t = T/h,
 * E[e^{−tY}] = E[e^{−tV}(1 + tK_d/k_d)^{−k_d}(1 + tK_x/k_x)^{−k_x}] (Gamma Laplace transforms), one
 * integral in u (trapezoid, step 1/2: the integrand e^{u/2}e^{−e^u x} is analytic in the strip
 * |Im u| < π/2, so the rule's relative error is ~e^{−2π²} ≈ 3e-9), its part below u0 analytic. This
 * replaces a grid convolution of the other heads' law (its step vmax/256 split an atom at V < step
 * between 0 and the step, so when γ and a head's V are small against the step E[1/√X] came out 40 %
 * high: σ_s² = 100, r = 0.95, h = 2, L = 32, key 1: 0.964 vs 0.689 from the exact double sum over the
 * atoms). Range: from e^u·E[X] = 1e-7 (below it 2e^{u0/2}E[f] in closed form) to e^u·x_lo = 60, x_lo
 * the smallest V/h past the bottom 1e-9 of the hit mass (every term left holds a head with a hit,
 * whose V is not random; lighter atoms move an expectation by less than their mass over √x_lo).
 * The atoms are pooled into 96 bins of ln(V + K_d + K_x) (mass, mean V, K_d, K_x, N, c): a bin's
 * relative width ≤ ~0.15, so e^{−tV} over a bin differs from its value at the mean V by ≤ ~1e-3
 * relative. Exported for its test (test/attention-pairgradr.test.ts: against the exact sum over all
 * heads' atom combinations, amplitudes fixed). */
const LB = 96, LBP = new Float64Array(LB + 1), LBV = new Float64Array(LB + 1), LBC = new Float64Array(LB + 1);
const LBD = new Float64Array(LB + 1), LBX = new Float64Array(LB + 1), LBN = new Float64Array(LB + 1);
const LINV = new Float64Array(3), ADD0 = new Float64Array(1);
let HE = new Float64Array(3 * 32);
export function headsInv(ap: Float64Array, ac: Float64Array, av: Float64Array, akd: Float64Array | null, akx: Float64Array | null, an: Float64Array | null, na: number,
  h: number, gamma: number, rvK: number, kX: number, kQ: number, adds: Float64Array = ADD0, nAdd = 1, out: Float64Array = LINV): Float64Array {
  let vmin = Infinity, vmax = 0, ex = 0, p0 = 0, ec = 0;
  for (let a = 0; a < na; a++) {
    const v = av[a] + (akd ? akd[a] : 0) + (akx ? akx[a] : 0);
    ex += ap[a] * v; ec += ap[a] * ac[a];
    if (v > 0) { if (v < vmin) vmin = v; if (v > vmax) vmax = v; }
  }
  LBP.fill(0); LBV.fill(0); LBC.fill(0); LBD.fill(0); LBX.fill(0); LBN.fill(0);
  const lv0 = Math.log(vmin), sc = vmax > vmin ? (LB - 1) / (Math.log(vmax) - lv0) : 0;
  for (let a = 0; a < na; a++) {
    const kd = akd ? akd[a] : 0, kx = akx ? akx[a] : 0, v = av[a] + kd + kx, pr = ap[a];
    const k = v > 0 ? 1 + Math.round((Math.log(v) - lv0) * sc) : 0;
    LBP[k] += pr; LBV[k] += pr * av[a]; LBC[k] += pr * ac[a]; LBD[k] += pr * kd; LBX[k] += pr * kx; LBN[k] += pr * (an ? an[a] : 1);
  }
  let nb = 0;
  for (let k = 0; k <= LB; k++) if (LBP[k] > 0) {
    const pr = LBP[k];
    if (k === 0) { p0 = pr; continue; }
    LBP[nb] = pr; LBV[nb] = LBV[k] / pr; LBC[nb] = LBC[k] / pr; LBD[nb] = LBD[k] / pr; LBX[nb] = LBX[k] / pr; LBN[nb++] = LBN[k] / pr;
  }
  const detQ = !(kQ < 1e8), lgR = detQ ? 1 : Math.exp(lnGammaL(kQ + 0.5) - lnGammaL(kQ)) / Math.sqrt(kQ); // E[√η]
  const pAll0 = p0 ** h;
  let xlo = Infinity, amax = 0;
  for (let k = 0, m = 0; k < nb; k++) { m += LBP[k]; if (LBV[k] > 0) xlo = Math.min(xlo, LBV[k] / h); if (m > 1e-9 && xlo < Infinity) break; }
  if (!(xlo < Infinity)) for (let k = 0; k < nb; k++) xlo = Math.min(xlo, (LBV[k] + LBD[k] + LBX[k]) / h);
  for (let k = 0; k < nAdd; k++) amax = Math.max(amax, adds[k]);
  const EX = ex / h + gamma;
  if (!(EX > 0) || !(xlo < Infinity) || nb === 0) {
    for (let k = 0; k < nAdd; k++) { const z = gamma + adds[k] > 0 ? pAll0 / Math.sqrt(gamma + adds[k]) : 0; out[3 * k] = 0; out[3 * k + 1] = z; out[3 * k + 2] = z; }
    return out;
  }
  const du = 0.5, u0 = Math.log(1e-7 / (EX + amax)), u1 = Math.max(Math.log(60 / xlo), u0 + 1), nu = Math.ceil((u1 - u0) / du);
  if (HE.length < 3 * nAdd) HE = new Float64Array(3 * nAdd);
  HE.fill(0, 0, 3 * nAdd);
  for (let i = 0; i <= nu; i++) {
    const u = u0 + i * du, T = Math.exp(u), t = T / h, wq = i === 0 ? du / 2 : du;
    let P0 = p0, P1 = 0;
    for (let k = 0; k < nb; k++) {
      let lg = -t * LBV[k];
      if (LBD[k] > 0) { const kk = LBN[k] / rvK; lg -= kk * Math.log1p((t * LBD[k]) / kk); }
      if (LBX[k] > 0) lg -= kX * Math.log1p((t * LBX[k]) / kX);
      const e = LBP[k] * Math.exp(lg);
      P0 += e; P1 += e * LBC[k];
    }
    const zq = (T * gamma) / kQ, Qf = detQ ? Math.exp(-T * gamma) : Math.exp(-kQ * Math.log1p(zq)), Qh = detQ ? Qf : lgR * Math.exp(-(kQ + 0.5) * Math.log1p(zq));
    const base = wq * Math.exp(u / 2), ph = P0 ** (h - 1), hit = P0 * ph - pAll0;
    const f1 = base * Qf * P1 * ph, f2 = base * Qf * hit, f3 = base * Qh * hit;
    for (let k = 0; k < nAdd; k++) {
      const ea = adds[k] > 0 ? Math.exp(-T * adds[k]) : 1;
      HE[3 * k] += f1 * ea; HE[3 * k + 1] += f2 * ea; HE[3 * k + 2] += f3 * ea;
    }
  }
  // below u0, e^{−e^u X} = 1 − O(e^u X): the tail is 2e^{u0/2}E[f] (relative error ~e^{u0}E[X]/3)
  const tail = 2 * Math.exp(u0 / 2), norm = 1 / Math.sqrt(Math.PI);
  for (let k = 0; k < nAdd; k++) {
    // heads with no hit in all h heads: X = γη + a at η's mean
    const zeroPart = gamma + adds[k] > 0 ? pAll0 / Math.sqrt(gamma + adds[k]) : 0;
    out[3 * k] = (HE[3 * k] + tail * ec) * norm;
    out[3 * k + 1] = (HE[3 * k + 1] + tail * (1 - pAll0)) * norm + zeroPart;
    out[3 * k + 2] = (HE[3 * k + 2] + tail * lgR * (1 - pAll0)) * norm + zeroPart;
  }
  return out;
}

/** Atoms (c = s̄·t, q = ρ̄·c, hit count t, mass w_k·P(N = t)) of one popularity node: the exact
 * Poisson-binomial pmf of the hit count N over rows j..L−1 (hit probability min(1, w/K2_n)), eight
 * rows per pass (the product of their eight (1 − p + p z) applied at once).
 * Tails below tiny levels are dropped (relative to the node weight wk: an atom needs wk·pmf ≥ 1e-16;
 * a dropped mass changes the final pmf by at most itself). Appends to AC, AQ, AN, AP from na;
 * returns the new count; EQM accumulates the model's E[q]. */
let AP = new Float64Array(1024), AC = new Float64Array(1024), AQ = new Float64Array(1024), AN = new Float64Array(1024);
let EQM = 0;
function nodeAtoms(j: number, L: number, k2: Float64Array, w: number, wk: number, pmf: Float64Array, na: number): number {
  pmf.fill(0, 0, Math.min(pmf.length, L - j + 9)); pmf[0] = 1;
  const tTop = Math.max(1e-16, 1e-20 / wk), tLo = 1e-22 / wk;
  let top = 0, lo = 0, sp = 0, sps = 0, sps2 = 0;
  for (let i = j; i < L; i += 8) {
    let c0 = 1, c1 = 0, c2 = 0, c3 = 0, c4 = 0, c5 = 0, c6 = 0, c7 = 0, c8 = 0, r = 0;
    for (; r < 8 && i + r < L; r++) {
      const n = i + r + 1, p = Math.min(1, w / Math.max(k2[n], 1)), s = w / (n * p), q = 1 - p;
      sp += p; sps += p * s; sps2 += p * s * s;
      c8 = c8 * q + c7 * p; c7 = c7 * q + c6 * p; c6 = c6 * q + c5 * p; c5 = c5 * q + c4 * p;
      c4 = c4 * q + c3 * p; c3 = c3 * q + c2 * p; c2 = c2 * q + c1 * p; c1 = c1 * q + c0 * p; c0 *= q;
    }
    top += r;
    let x1 = 0, x2 = 0, x3 = 0, x4 = 0, x5 = 0, x6 = 0, x7 = 0, x8 = 0;
    for (let t = lo; t <= top; t++) {
      const cur = pmf[t];
      pmf[t] = c0 * cur + c1 * x1 + c2 * x2 + c3 * x3 + c4 * x4 + c5 * x5 + c6 * x6 + c7 * x7 + c8 * x8;
      x8 = x7; x7 = x6; x6 = x5; x5 = x4; x4 = x3; x3 = x2; x2 = x1; x1 = cur;
    }
    while (top > lo && pmf[top] < tTop) top--; // the entries above stay (below tTop) and feed the next pass
    while (lo < top && pmf[lo] < tLo) pmf[lo++] = 0;
  }
  EQM += wk * sps2; // E[q | w] = Σ_i p_i s_i²
  const sbar = sp > 0 ? sps / sp : 0, rho = sps > 0 ? sps2 / sps : 0;
  if (na + top - lo + 1 > AP.length) {
    const grow = (x: Float64Array) => { const y = new Float64Array(2 * (na + top - lo + 1)); y.set(x.subarray(0, na)); return y; };
    AP = grow(AP); AC = grow(AC); AQ = grow(AQ); AN = grow(AN);
  }
  for (let t = lo; t <= top; t++) {
    const pr = wk * pmf[t];
    if (pr < 1e-16) continue;
    const cc = sbar * t;
    AC[na] = cc; AQ[na] = rho * cc; AN[na] = t; AP[na++] = pr;
  }
  return na;
}

/** The softmax statistics and gains a causal component's per-pair gradR needs. */
interface CausalPairInput {
  L: number; h: number; r1: number; c: number; k2: Float64Array; jac: Float64Array;
  /** the Q path's per-row gain per row length, with its coherent term (qPathGain) */
  jq: Float64Array;
  gh: number; vGain: number; priv: number; qk: number; rg: number; pa: number;
  /** Q4[n] = E[(Σ_k P_k²)²] and the model width: the Q path's coherent key–value term */
  q4: Float64Array; d: number;
  /** E[uJ][n] (the K path's diagonal, row-variance weighted) and the K path's key-selection term per
   * position (kselArr of causalForward, without r_g) */
  ju: Float64Array; ksel: Float64Array;
  /** the head dimension d_h (the amplitudes' χ² terms) */
  dh: number;
  /** the Q covariance: E[c′(ρ)]/v of the length-L rows (attnJacOverlap's E[D]·L/(K2_L − 1); NaN:
   * the independent-rows centring X2·cen) and the logit-direction share f (qPathCovGain) */
  dcv: number; fq: number;
  /** T[n] (softmaxTq, row-variance averaged): T/J the plane's pass ratio (qPathCovGain) */
  tq: Float64Array;
  /** the popularity law's key-norm share φ (popPhi, ncPairGradR step 7; 0: the lognormal) */
  phi?: number;
  /** sequences per measurement batch (the statistic is centred at the batch's sample mean);
   * undefined or ∞: at the expected mean */
  batch?: number;
}

/** The batch mean's scale |z| (e = z·√E[e²], z ~ N(0, 1)) for causalPairGradR: node 0 is z = 0 with
 * the mass of |z| < 1e-4, then a trapezoid in ln|z| from 1e-4 to 6 (step 0.4; weights 2φ(z)z·step,
 * scaled to the mass above 1e-4). On the uniform-row V path (L = 512 / 128 / 32) the per-pair mean is
 * within 3e-6 of a step-0.02 rule. */
const ZC = (() => {
  const lo = Math.log(1e-4), hi = Math.log(6), st = 0.4, n = Math.floor((hi - lo) / st + 1e-9) + 1;
  const z = new Float64Array(n + 1), w = new Float64Array(n + 1);
  let sw = 0;
  for (let k = 0; k < n; k++) {
    const zk = Math.exp(lo + k * st);
    z[k + 1] = zk; w[k + 1] = ((2 * Math.exp(-zk * zk / 2)) / Math.sqrt(2 * Math.PI)) * zk * st * (k === 0 || k === n - 1 ? 0.5 : 1); sw += w[k + 1];
  }
  const m0 = 2 * 1e-4 / Math.sqrt(2 * Math.PI); // P(|z| < 1e-4)
  for (let k = 1; k <= n; k++) w[k] *= (1 - m0) / sw;
  w[0] = m0;
  return { z, w, n: n + 1 };
})();

/**
 * Config v1's gradR of causal attention: the mean over token pairs of the per-pair Pearson
 * correlation of the input gradients. Derived here (quadrature / exact sums over a derived model;
 * no fitted constants).
 *
 * Given the attention weights, token j's gradient variance and a pair's covariance are (per head;
 * h heads add independent terms, each with 1/h of the gain)
 *   Var_j = α c_j² + β q_j + γ_j,   Cov_jl = C c_j c_l + D_jl,
 * c_j = Σ_{i≥j} P_ij the column sum, q_j = Σ_i P_ij²: V path r_g c² + (1 − r_g) q (shared and
 * private parts of the upstream gradient), K path J-weighted q plus its cross-row part r′r_g·cen·c²,
 * γ_j the Q path of row j (its own softmax; with the coherent key–value term (1 − 2K2/n + Q4 + J)/d),
 * C = g_h dσ_v² r_g, D_jl the expectation of the rest:
 * the same-row V term Σ_{i≥l} E[P_ij P_il] − r_g Σ_{i≥l} 1/n_i² (so that E[Cov] is the exact
 * covariance) and the Q path's r_g-shared covariance of rows j and l, g_h s_priv(1−r′)σ_s²/s′ r_g
 * qPathCovGain(D_jl, coh_jl, f, √(t_j t_l)): the two rows' Jacobian overlap by Price, D_jl = ∂X2_jl/∂C =
 * c′(ρ)·√((K2_j − 1)(K2_l − 1))/(n_l v) (X2_jl's covariance part over the n_j shared keys), c′/v that of
 * the length-L rows averaged over the query law (attnJacOverlap's E[D]·L/(K2_L − 1)), only off the plane
 * of the two rows' logit directions in full (T/J in it), and the coherent key–value terms
 * (1 − f)r_g(1 − S2_j)(1 − S2_l)/d. It was X2_jl·cen_jl with the centring of independent rows
 * (n_j n_l[1/(n_j n_l) − e_j/n_l − e_l/n_j + e_j e_l + (n_j − 1)o_j o_l], e = K2/n², o = (1/n − e)/(n − 1))
 * and the whole coherent term: MC (test/mc/attention-pairs.ts, h = 16, L = 32, σ_s² = 30, r = 0.5,
 * r_g = 0.2, 40 trials, B = 4) the Q path's mean pair covariance 0.052 → 0.0219 vs 0.0207 ± 0.0012;
 * the Q part of the per-pair mean 0.0277 → 0.0112 vs 0.0113 ± 0.0006 (the QQ part of the measured
 * per-pair mean); V part 0.0425 vs 0.0407 ± 0.0009; per-pair mean 0.0701 → 0.0537 vs 0.0406 ± 0.0012.
 * Left out: the K path's zero-sum pair term (Σ_j dk_j = 0 per sequence and head, causal too; the
 * measured KK part −0.0105 ± 0.0001; ncPairGradR carries it, −E_K E1/(L − 1)).
 * The per-pair mean is E[Cov_jl/√(Var_j Var_l)] = C E[c_j/√Var_j] E[c_l/√Var_l] + D_jl E[1/√Var_j]
 * E[1/√Var_l] (columns independent). The column sums are far from their means: key j is seen by
 * L − j rows, a late key often by none in saturated rows (c_j a count with many zeros), an early
 * one by many. Model of a row's weight on a key: a hit of size s_i = K2_i/n_i with probability
 * π_i = 1/K2_i (two-point law with the exact E[P] = 1/n_i, E[P²] = K2_i/n_i²: exact at both ends,
 * uniform π = 1, one-hot s = 1); rows independent given the key's popularity w (lognormal, mean 1,
 * variance the cross-row part c(Σ std_i)² − c Σ std_i² of Var(c_j) over (Σ 1/n_i)² − Σ 1/n_i²;
 * std_i = √(K2_i − 1)/n_i, c the softmax row correlation), which scales the hit probability
 * (min(1, w π_i), size w/(n_i p_i)). So c_j = s̄ N, q_j = ρ̄ c_j with N a Poisson-binomial hit count
 * (exact pmf by recursion over rows), s̄, ρ̄ the hit-weighted mean size and size²/size. With h heads,
 * Var_j = (1/h)Σ_heads(V + K_d ξ_d + K_x ξ_x) + γ_j η_j, heads iid. Amplitudes (as ncPairGradR's step
 * 4, derived there): the V path is not random given P; the K diagonal is a mean over the N hitting
 * rows of terms of relative variance rvK = 3(1 + 2/d_h)² − 1 (ξ_d ~ Gamma(N/rvK)), the K cross-row
 * part one scalar times the shared query (ξ_x ~ Gamma(1/(3(1 + 2/d_h) − 1))), the Q path of row j a χ²
 * over ν = n_j/K2_j − 1 effective keys times |dO_j|², its mean ∝ the row's S2 (relative variance
 * rvS = Q4_j/(K2_j/n_j)² − 1 over rows): η_j ~ Gamma(h/((1 + rvS)(1 + 2/ν)(1 + 2/d_h) − 1)); the
 * Q-path part of D_jl scales with √η_j√η_l, so D_jl E2_j E2_l splits into the V same-row part with
 * E2 = E[1/√Var] and the Q part with E_η = E[√η/√Var]. The expectation over all heads is headsInv's
 * (one Laplace-transform integral). Positions: all when L ≤ 64, else 64 evenly spaced.
 * Stored grid (causal, 147 cases, within max(0.02, 2·std)): 141 with the grid convolution (whose
 * error over-predicted h > 1, r = 0.95), 140 with it exact and the amplitudes fixed, 144 with the
 * cross-row part clamped at ≥ 0 (and E[q] rescaled), 145 with the amplitudes: the one-head r = 0.95
 * under-predictions (σ_s² = 30, L = 128: 0.286 → 0.348 vs 0.385 ± 0.035 measured; σ_s² = 10: 0.556 →
 * 0.609 vs 0.609 ± 0.022) close; 146 with the row-to-row spread rvS of the Q path's mean. Tried and left out: hits of the private-logit size (K2 at (1 − r′)v, as
 * ncPairGradR's step 3, with the popularity variance keeping Var(c_j) exact): 137, over-predicting
 * r = 0.95 at σ_s² ≥ 30 (h = 1, L = 32, σ_s² = 100: 0.269 vs 0.178 ± 0.038).
 * The batch's sample mean (derived here, 2026-11-27): config v1 removes the batch's global mean e (one
 * scalar over B sequences, L tokens, d features) before the cosines. A late causal token's gradient is
 * small (the V path of the last token is W g_{L−1}/L) while e carries the r_g-shared part of every
 * token's gradient (Var e ≈ g_h dσ_v²(r_g + (1 − r_g)/L)/(Bd)), so after centring the late tokens
 * are nearly the vector −e·1 and the per-pair mean falls (uniform rows, V path alone, r_g = 0.2:
 * 0.9705 → 0.886 at L = 512, B = 1; 0.9218 → 0.891 at L = 128, B = 4). Per token, its feature mean α_j
 * regresses on e with slope L·R_j/ΣR (E[α_j e] = R_j/(dBL), E[e²] = ΣR/(dBL²), R_j = Σ_l E[g_j·g_l]/d:
 * V path g_h dσ_v²[m_j(1 − r_g + r_g L) + p_a/(1 − p_a)Σ_{i≥j} K2_i/n_i²] exactly (the rows sum to 1;
 * m_j = Σ_{i≥j} 1/n_i), Q path its variance plus its pair covariances, K path 0 (Σ_l dk_l = 0)), so
 * the centred token is the uncentred one minus λ_j e·1, λ_j = 1 − L·R_j/ΣR, with the residual of α_j
 * taken as one more feature like the others (its variance R_j²/(BΣR) below that: a 1/d term, left
 * out, as are the cross terms odd in e): Var_j + λ_j²e², Cov_jl + λ_jλ_l e², e Gaussian (ZC's nodes in
 * ln|e|; given e, headsInv's X gains the constant λ_j²e²). Only with the batch given (component's
 * `batch`; the grid's cases B = 4 at L ≤ 128 and 1 at L = 512). MC (test/mc/attention-paths.ts, the
 * per-pair mean centred as config v1 vs uncentred, σ_s² = 0.1, r = 0.95, h = 4): L = 128, B = 4 (30
 * trials) −0.0345 ± 0.0053 (model −0.031); L = 512, B = 1 (12 trials) −0.085 ± 0.014 (model −0.080);
 * the 8192-trial PyTorch measurements: 0.8810 and 0.8771 vs 0.9082 → 0.8774 and 0.9472 → 0.8674.
 * The popularity's law is ncPairGradR's (step 7: the key-norm form mixed in by φ = popPhi, E[w] and
 * E[w²] kept; the mixing is an interpolation, not derived): σ_s² = 3, r = 0, h = 16, L = 128 0.1270 →
 * 0.1342 vs 0.1566 ± 0.016 (8192 trials, std).
 */
function causalPairGradR(q: CausalPairInput): number {
  const { L, h, r1, c, k2, jac, jq, gh, vGain, priv, qk, rg, pa, q4, d, ju, ksel, dh, dcv, fq, tq, batch } = q;
  const phi = q.phi ?? 0;
  const pos = samplePositions(L);
  const sq = (n: number) => Math.sqrt(Math.max(k2[n] - 1, 0));
  // T/J per row length: the share of a row's Jacobian gain its own logit direction passes (qPathCovGain)
  const tj = new Float64Array(L + 1);
  for (let n = 1; n <= L; n++) tj[n] = jac[n] > 0 ? tq[n] / jac[n] : 1;
  // the Q path's r_g-shared covariance of the rows of tokens j < l (see the pair loop)
  const qCov = (j: number, l: number) => {
    const nj = j + 1, nl = l + 1;
    let x2: number;
    if (dcv === dcv) x2 = (sq(nj) * sq(nl) * dcv) / nl;
    else {
      const ej = k2[nj] / (nj * nj), el = k2[nl] / (nl * nl);
      const oj = nj > 1 ? (1 / nj - ej) / (nj - 1) : 0, ol = nl > 1 ? (1 / nl - el) / (nl - 1) : 0;
      const cenX = Math.max(0, nl * nj * (1 / (nj * nl) - ej / nl - el / nj + ej * el + (nj - 1) * oj * ol));
      x2 = ((1 + c * sq(nj) * sq(nl)) / nl) * cenX;
    }
    const coh = ((1 - k2[nj] / nj) * (1 - k2[nl] / nl)) / d; // the two rows' coherent key–value terms
    return gh * priv * (1 - r1) * qk * rg * qPathCovGain(x2, coh, fq, Math.sqrt(tj[nj] * tj[nl]));
  };
  // the batch's sample mean e (config v1 centres at it): per token, its feature mean α_j regresses on e
  // with slope L·R_j/ΣR (R_j = Σ_l E[g_j·g_l]/d; E[e²] = ΣR/(d·B·L²)), so the centred token is the
  // uncentred one (the residual of α_j one feature like the others) minus λ_j·e·1, λ_j = 1 − L·R_j/ΣR:
  // Var_j + λ_j²e², Cov_jl + λ_jλ_l e², e Gaussian (ZC's nodes). V path R_j = g_h dσ_v²[m_j(1 − r_g +
  // r_g L) + p_a/(1 − p_a)Σ_{i≥j}K2_i/n_i²] (rows sum to 1, m_j = Σ_{i≥j} 1/n_i), Q path its variance and
  // pair covariances, K path 0 (Σ_l dk_l = 0).
  const centre = batch !== undefined && batch > 0 && Number.isFinite(batch);
  const nz = centre ? ZC.n : 1, zz = centre ? ZC.z : ZN0, zw = centre ? ZC.w : ZW0;
  const lam = new Float64Array(L);
  let Ee2 = 0;
  if (centre) {
    const R = new Float64Array(L);
    let m = 0, eq = 0;
    for (let j = L - 1; j >= 0; j--) {
      const n = j + 1;
      m += 1 / n; eq += k2[n] / (n * n);
      R[j] = gh * vGain * (m * (1 - rg + rg * L) + (pa / (1 - pa)) * eq) + gh * priv * (1 - r1) * qk * jq[n];
    }
    for (let j = 0; j < L; j++) for (let l = j + 1; l < L; l++) { const x = qCov(j, l); R[j] += x; R[l] += x; }
    let Rt = 0;
    for (let j = 0; j < L; j++) Rt += R[j];
    if (Rt > 0) {
      Ee2 = Rt / (d * batch * L * L);
      for (let j = 0; j < L; j++) lam[j] = 1 - (L * R[j]) / Rt;
    }
  }
  const ADDS = new Float64Array(nz), HOUT = new Float64Array(3 * nz);
  const E1 = new Float64Array(L * nz), E2 = new Float64Array(L * nz), EH = new Float64Array(L * nz), S1SQ = new Float64Array(L), W2 = new Float64Array(L);
  const pmf = new Float64Array(L + 10);
  // amplitudes (as ncPairGradR's step 4): K diagonal Gamma of shape N/rvK, K cross-row kX
  const rvK = 3 * (1 + 2 / dh) ** 2 - 1, kX = 1 / (3 * (1 + 2 / dh) - 1);
  for (const j of pos) {
    let m = 0, Eq = 0, s1sq = 0, sd1 = 0, sdsq = 0, sumJ = 0, w2 = 0;
    for (let i = j; i < L; i++) {
      const n = i + 1, ex = Math.max(k2[n] - 1, 0);
      m += 1 / n; Eq += k2[n] / (n * n); s1sq += 1 / (n * n); sd1 += Math.sqrt(ex) / n; sdsq += ex / (n * n); sumJ += ju[n] / n;
      w2 += n > 1 ? (1 - (k2[n] - 1) / (n - 1)) / (n * n) : 0;
    }
    S1SQ[j] = s1sq; W2[j] = w2;
    const crossMean = m * m - s1sq, crossFl = c * (sd1 * sd1 - sdsq);
    const nRow = j + 1, cen = k2[nRow] > 0 ? Math.min(1, jac[nRow] / (k2[nRow] / nRow)) : 1;
    // Q path of row j, with its coherent key–value term (1 − 2K2/n + Q4 + J)/d (its mean)
    const gamma = gh * priv * (1 - r1) * qk * jq[nRow];
    // its amplitude: row j's Jacobian over ν + 1 = n/K2 effective keys times |dO_j|² over d_h
    const nuR = Math.max(nRow / Math.max(k2[nRow], 1) - 1, 1e-3), rvS = Math.max(0, (q4[nRow] * nRow * nRow) / (k2[nRow] * k2[nRow]) - 1);
    const kQ = h / ((1 + rvS) * (1 + 2 / nuR) * (1 + 2 / dh) - 1);
    // K path's cross-row parts (their mean is the cross-row sum): r′r_g·cen and the key-selection
    // term, the latter per unit of the mean cross-row sum Σ_{i≠k} 1/(n_i n_k)
    const kx = r1 * rg * cen + (crossMean > 0 ? (rg * ksel[j]) / crossMean : 0);
    const Vw = crossMean > 0 ? Math.max(0, crossFl / crossMean) : 0;
    const nodes = Vw > 1e-9 ? PN : ONE_NODE;
    const sw = Math.sqrt(Math.log1p(Vw)), mw = -Math.log1p(Vw) / 2;
    // the popularity's law (ncPairGradR step 7: the key-norm form mixed in by φ, moments kept)
    const law = Vw > 1e-9 && phi > 1e-6 ? popLaw(PL_SLOT, Math.log1p(Vw), dh, phi) : null;
    let na = 0;
    EQM = 0;
    for (let k = 0; k < nodes.z.length; k++) {
      if (nodes.w[k] < 1e-12) continue;
      na = nodeAtoms(j, L, k2, law ? law[PL_SLOT * 32 + k] : Math.exp(mw + sw * nodes.z[k]), nodes.w[k], pmf, na);
    }
    // the per-head parts given the column sum: V path g_h[r_g c² + (1 − r_g)/(1 − p_a) q] (not
    // random), K cross-row g_h s qk kx (c² − q) (≥ 0: Σ_{i≠k} P_ij P_kj; the model's c² − q is
    // negative at one hit, ρ̄ > s̄), K diagonal g_h s qk ΣJ/((1 − p_a)E[q]) q; the model's E[q]
    // (above min(1, w/K2) = 1 the hit size grows with w) is rescaled to the exact Σ_i K2_i/n_i², so
    // that E[Var_j] keeps the kernel's value
    const fq = EQM > 0 ? Eq / EQM : 1;
    const kd = Eq > 0 ? (gh * priv * qk * sumJ) / (1 - pa) / Eq : 0;
    if (CV.length < na) { CV = new Float64Array(2 * na); CD = new Float64Array(2 * na); CX = new Float64Array(2 * na); }
    for (let a = 0; a < na; a++) {
      const cc = AC[a], qq = fq * AQ[a];
      CV[a] = gh * vGain * (rg * cc * cc + ((1 - rg) / (1 - pa)) * qq);
      CX[a] = Math.max(gh * priv * qk * kx * (cc * cc - qq), 0);
      CD[a] = Math.max(kd * qq, 0);
    }
    for (let k = 0; k < nz; k++) ADDS[k] = lam[j] * lam[j] * Ee2 * zz[k] * zz[k];
    const e = headsInv(AP, AC, CV, CD, CX, AN, na, h, gamma, rvK, kX, kQ, ADDS, nz, HOUT);
    for (let k = 0; k < nz; k++) { E1[j * nz + k] = e[3 * k]; E2[j * nz + k] = e[3 * k + 1]; EH[j * nz + k] = e[3 * k + 2]; }
  }
  const C = gh * vGain * rg;
  let sr = 0, np = 0;
  for (let a = 0; a < pos.length; a++) for (let b = a + 1; b < pos.length; b++) {
    const j = pos[a], l = pos[b];
    // V path's same-row term (not random given P), Q path's covariance (scales with √η_j√η_l): the two
    // rows' Jacobian overlap by Price, D_jl = ∂X2_jl/∂C = c′(ρ)·sq_j·sq_l/(n_l v) (X2_jl's covariance
    // part c·sq_j·sq_l/n_l over the n_j shared keys), c′/v that of the length-L rows averaged over the
    // query law (attnJacOverlap; NaN: the independent-rows centring X2·cen), off the plane of the two
    // rows' logit directions only (qPathCovGain); the batch mean's λ_jλ_l e² (not random given e)
    const DV = gh * vGain * (W2[l] - rg * S1SQ[l]), DQ = qCov(j, l), ll = lam[j] * lam[l] * Ee2;
    let s = 0;
    for (let k = 0, oj = j * nz, ol = l * nz; k < nz; k++) {
      const E2jl = E2[oj + k] * E2[ol + k];
      s += zw[k] * Math.min(1, C * E1[oj + k] * E1[ol + k] + (DV + ll * zz[k] * zz[k]) * E2jl + DQ * EH[oj + k] * EH[ol + k]);
    }
    sr += s; np++;
  }
  return np > 0 ? Math.max(-1, Math.min(1, sr / np)) : 0;
}
let CV = new Float64Array(1024), CD = new Float64Array(1024), CX = new Float64Array(1024);
const ZN0 = Float64Array.of(0), ZW0 = Float64Array.of(1);
const PL_SLOT = 4;

/**
 * Config v1's gradR of non-causal attention: the mean over token pairs of the per-pair Pearson
 * correlation (cosine over the d features) of the input gradients. Derived here (exact sums and
 * quadrature over a derived model; no fitted constants). MC numbers below: in-process float64
 * simulation, d = 64, input var 1, r_g = 0.2, B = 2 sequences per trial.
 *
 * 1. Per token, given the attention weights P (per head; h heads add independent terms with 1/h of
 *    the gain): Var_j = V_j + K_j + γ,  V_j = α c_j² + β q_j,  c_j = Σ_i P_ij, q_j = Σ_i P_ij²:
 *    V path r_g c² + (1/(1 − p_a) − r_g) q (shared and private parts of the upstream gradient); K path
 *    K_j = b_K q_j (its diagonal Σ_i P_ij²(1 − 2P_ij + Σ_m P_im²)|q_i|², ∝ q_j) + a_K (c_j² − q_j)
 *    (its cross-row part, Σ_{i≠k} P_ij P_kj); γ the Q path (row j's own softmax). The coefficients
 *    are the kernel's (their means are its V, K-path v0 and r_g·v1 and Q terms, so E[Var] is the
 *    kernel's gradVar). Cov_jl = C c_j c_l (V path: r_g, plus the private same-row Σ_i P_ij P_il at
 *    its mean relative to E[c_j c_l]) + D_Q (Q path, the kernel's r_g·cq1) + Cov^K_jl.
 * 2. K path pair covariance (the lognormal model of before left it out): Σ_j dS_ij = 0 per row, so
 *    the K-path gradients of a sequence and head sum to zero exactly and Σ_{l≠j} Cov^K_jl = −Var^K_j.
 *    A pair's share comes through rows that weigh both keys (Cov^K_jl ∝ Σ_i P_ij P_il(Σ_m P_im² − P_ij
 *    − P_il)), so the partner l is drawn in proportion to P_il (size-biased by c_l): the per-pair mean
 *    of that term is −E[K_j/√Var_j]·E[c_l/√Var_l]/(L − 1). MC (r = 0.5, h = 4, L = 32, σ_s² = 100,
 *    100 trials): the K–K part of the per-pair mean −0.0107 measured, −0.0097 from the covariance
 *    above on the sampled weights.
 * 3. Column sums (a hit model as causalPairGradR's, every row seeing all L keys): a row puts a hit of
 *    size s on a key with probability π, rows independent given the key's popularity w (lognormal,
 *    mean 1). The logits of two rows correlate with ρ = r′ (their queries' cosine), so a row's logit
 *    l_ij = a_j + b_ij splits into a shared a_j (the popularity) and a private b_ij of variance
 *    (1 − ρ)v: a hit has the size of the private softmax, s = K2p/L (K2p = K2 at (1 − ρ)v), and
 *    π = min(1, w/K2p) (s = w/L above): E[P | w] = w/L. Var(w) = c(K2 − 1) + (K2 − K2p)/(L − 1) keeps
 *    Var(c) = (K2 − 1)(1 + (L − 1)c)/L exact (c the softmax row correlation); the q coefficients are
 *    rescaled so that E[q] keeps its exact K2/L. c = sN with N ~ Bin(L, π), q = s·c. MC per head
 *    (σ_s² = 100, r = 0.5, h = 4, L = 32, 30 trials): P(c < 0.05) = 0.47 (the lognormal of the same
 *    variance: 0.06), E[q | 0.5 ≤ c < 1] = 0.35 (hit model with s = K2/L: 0.48; with size ∝ w: 0.07);
 *    at r = 0.95 (σ_s² = 30, h = 1) rows agree, K2p → 1 and a key's weight comes from every row:
 *    E[q | 0.2 ≤ c < 0.5] = 0.0041 measured, 0.039 with s = K2/L.
 * 4. Amplitudes (what lifts the per-pair mean over Cov/√(Var·Var) given P): a K- or Q-path gradient
 *    is a scalar score gradient dS times a vector, so its squared norm fluctuates like a χ² of few
 *    degrees of freedom and E[1/√Var] grows. K diagonal: a mean over the N hitting rows of terms of
 *    relative variance 3(1 + 2/d_h)² − 1 (dS² ~ χ²₁, |dO_i|², |q_i|² over d_h): Gamma of shape
 *    N/(3(1 + 2/d_h)² − 1). K cross-row part: the rows' queries share their r′ part, so it is one
 *    scalar Σ_i dS_ij times the shared query: shape 1/(3(1 + 2/d_h) − 1). Q path: row j's Jacobian over
 *    L/K2 effective keys, χ² with ν = L/K2 − 1 after the centring, times |dO_j|² over d_h, its mean
 *    ∝ the row's S2 = Σ_m P_jm² (relative variance rvS = Q4/(K2/L)² − 1 over rows): relative
 *    variance (1 + rvS)(1 + 2/ν)(1 + 2/d_h) − 1 per head, h heads averaged; its covariance D_Q scales
 *    with √η_j√η_l. MC (standalone float64, 20 trials, h = 1, the Q path's |dx_j|² over tokens):
 *    σ_s² = 3, r = 0, L = 128: relative variance 1.38 measured, 1.36 this (0.20 without rvS);
 *    σ_s² = 10, r = 0.5: 1.42 measured, 1.56 this. Not covered: the V path's own amplitude (|Σ_i P_ij
 *    dO_i|² over d_h, relative variance ~2/d_h) — as an independent Gamma in the denominator it
 *    over-predicts every near-uniform case (σ_s² ≤ 1: 0.98–1 vs 0.94–0.97 measured; 143 → 119 of
 *    147), since there the same fluctuation sits in the numerator. MC (σ_s² = 30, r = 0.95, h = 1, L = 32, 60 trials): per-pair mean 0.475 ± 0.008;
 *    Cov/√(Var·Var) on the sampled P 0.410, and 0.481 with the sampled K and Q norms in Var.
 * 5. The per-pair mean with columns independent: C E1² + D_Q E_η² − E_K E1/(L − 1), E1 = E[c_1/√X],
 *    E_η = E[√η/√X], E_K = E[K_1/√X], X = (1/h)Σ_h (V_h + K_h ξ_h) + γη (head 1's column sum c_1;
 *    heads independent): by the Laplace transform X^{−1/2} = π^{−1/2}∫e^{u/2}e^{−e^u X}du the
 *    heads factor, E[e^{−tX}] = E[e^{−tV/h}(1 + tK/(hk))^{−k}]^h·(1 + tγ/k_Q)^{−k_Q} (Gamma Laplace
 *    transforms), one integral in u. The column sums of a head add up to L, so two columns are not
 *    independent: to first order (the part of g(c) along c), Cov(g(c_j), g(c_l)) = −Cov(g, c)²/
 *    (Var(c)(L − 1)) (exact for linear g): E1² loses (E[c²/√X] − E1)²/(Var(c)(L − 1)).
 * 6. The head's shared-query scale (derived here; without it 140 of 147 within, the 7 misses all
 *    under-predictions at r = 0.5/0.95 with h = 16 or L = 512, and every σ_s² 1–10 case low). The
 *    rows of a head share the query part q̄ = W_qᵀ·(shared input): a key's popularity logit q̄·k_j has,
 *    per head AND sequence, the variance r′vU, U the quadratic form q̄ᵀW_kᵀW_k q̄ (mean 1, relative
 *    variance keyNormVar = 2(1 + 2d_h/d)/d_h, that of attnSoftmaxStats' u), and every token of that
 *    head and sequence shares it. The pair's numerator sits in one head (c_1j c_1l, K_1j c_1l), whose
 *    U the two tokens share, so its terms are E_U of products: C·E_U[E1(U)²] ≥ C·E1², E_U[EK(U)E1(U)],
 *    E_U[ED(U)²] (ncPairGradR: one Laplace integral per node, E[f/√X | U_1] with the other h − 1
 *    heads' factor averaged over their U; sharing those too — a double integral in (u, u′) — moved
 *    the stored grid's values by < 0.0006, so it is left out). Per node (ncScaleNodes: U lognormal,
 *    moment-matched, 3-node Gauss–Hermite — 5 nodes move the grid's values by < 0.003 for 5/3 the per-node
 *    cost; one node at r′ = 0, where nothing is shared): the rows'
 *    logit variance v(1 − r′ + r′U) and correlation r′U/(1 − r′ + r′U) give the node's K2, row
 *    correlation c and popularity variance, and the K path's factors |q|²E[uJ] (diagonal) and
 *    |q|²E[wρD] (cross-row: the rows' query dot product), |q|² ∝ 1 − r′ + r′U (a K path ∝ U alone,
 *    without the node's Jacobian overlap, over-predicted r = 0.95, σ_s² = 100 by 0.07–0.14). Each
 *    family is normalised so that the mixture keeps the kernel's exact means: E[Var(c)] = Vc through
 *    one factor κ on the nodes' popularity log-variances, E[q], E[c²] and the K-path and V-private
 *    means through the per-node coefficients (with one node the kernel of before, bit for bit).
 *    Not in it: the Q path's and the upstream's per-head scales (the shared upstream's |ḡ_h W_vᵀ|²,
 *    relative variance ~2/d_h: equalising it per head in the MC moved the mean by −0.010 ± 0.008),
 *    a head-level scale at r′ = 0, and the heavy tail of a head's K energy beyond U (MC: the top 1 %
 *    of (sequence, head) pairs hold 19 % of it). MC (a float64 diagnostic like test/mc/attention-pairs.ts,
 *    d = 64, B = 2, r_g = 0.2): at σ_s² = 3, r = 0.5, h = 16, L = 128 (30 trials, seed 31) the
 *    popularity logit variance per (sequence, head) is 0.738 (r′v = 0.75) with relative variance
 *    0.61 (keyNormVar 0.5625), and over the quintiles of U (0.24/0.52/0.80/1.20/2.23) the head's
 *    Var(c) is 0.30/0.65/1.00/1.54/3.68 and its mean K-path energy 0.0067/0.017/0.023/0.037/0.102;
 *    (40 trials, seed 11) replacing each token's K-path |g|² by its sequence mean drops the per-pair
 *    mean 0.347 ± 0.006 → 0.224 ± 0.007, E[1/√X] 1.456 ± 0.027 (the model with U ≡ 1: 1.204).
 *    Per-pair mean, MC vs the model without/with U: (σ_s², r, h, L) = (3, 0.5, 16, 128) 0.347 ± 0.006
 *    vs 0.253/0.297; (1, 0.5, 16, 128) 0.641 ± 0.007 (seed 24) vs 0.573/0.607; (30, 0.95, 16, 128)
 *    0.259 ± 0.006 (seed 21) vs 0.188/0.248; (10, 0.5, 4, 512) 0.156 ± 0.009 (8 trials, seed 23) vs
 *    0.127/0.140; (100, 0.95, 16, 32) 0.0917 ± 0.0023 (100 trials, seed 22) vs 0.111/0.129 (an
 *    over-prediction that grows); r = 0 unchanged ((3, 0, 16, 128) 0.237 ± 0.006 vs 0.204). Stored
 *    grid (147 cases): 140 → 145 within, summed |ours − measured| 2.402 → 1.776.
 * 7. The key popularity law (derived shape, variance kept at the kernel's; popLaw, popPhi). At r′ = 0
 *    no query part is shared: given the keys the queries are isotropic, so a key's popularity is a
 *    function of its key norm ρ = |k_j|²/E|k|² (χ²_{d_h}/d_h) alone, w(ρ) = e^{vρ/2}/E[e^{vρ/2}] while a
 *    row's normaliser is a law-of-large-numbers sum — bounded below (a key of norm 0 still gets 1/Z of
 *    every row) and skewed up, where the lognormal of the same variance puts many keys near 0. MC
 *    (float64 scratch simulator, d = 64, r_g = 0.2; σ_s² = 3, r = 0, h = 16, L = 128, 8 trials of B = 4,
 *    seed 42), per head the share of column sums in c < 0.2 / 0.2–0.5 / 0.5–1 / 1–2 / 2–4 / ≥ 4:
 *    0 / 0.21 / 0.50 / 0.21 / 0.068 / 0.016; the lognormal hit model 0.105 / 0.19 / 0.31 / 0.31 / 0.069 /
 *    0.009. That miss is per token, not per pair: the mean of c_1j c_1l/(|g_j||g_l|/d) over pairs is
 *    E[c_1/√X]² to 0.3 % (1.190 vs 1.186 ± 0.02, 30 trials of B = 4, seed 21), E[c_1/√X] 1.088 ± 0.009
 *    vs the model's 0.977, and the lift over E[c]/√E[X] (0.926) comes from the K path (its |g|² set
 *    to the mean: 0.933). (Not a per-token scale shared across heads: giving every input token the
 *    norm √d moves the per-pair mean by +0.0046 ± 0.0007, 60 trials of B = 4, seed 7.) The law here:
 *    on the PN nodes z, log w = κ·[φ(ρ(z) − 1)/√(2/d_h) + (1 − φ)z] + const, ρ(z) the χ²_{d_h}/d_h
 *    quantile by Wilson–Hilferty, κ and the constant setting E[w] and E[w²] to those of the lognormal
 *    on the same nodes (φ = 0: the lognormal exactly, so E[Var(c)] = Vc as before). φ = P(χ²_{d_h} <
 *    d_h²/v_p)·c(v_p, 0)/c(v, r′), v_p = (1 − r′)v the rows' private logit variance: the share of rows
 *    whose normaliser's mean E[e^{v_p uρ/2}] = (1 − v_p u/d_h)^{−d_h/2} exists (row factor u =
 *    χ²_{d_h}/d_h), times the private (key-norm) share of the row correlation (the shared query's part
 *    is a Gaussian logit, its lognormal exact). The mixing of the two shapes by φ is an interpolation,
 *    not derived. MC per-pair mean vs lognormal → this: (3, 0, 16, 128) 0.2393 ± 0.0028 (60 trials of
 *    B = 4, seed 7), 0.2425 ± 0.0043 (30, seed 21), 0.2470 ± 0.0054 (test, 24 of B = 2) vs 0.2035 →
 *    0.2253; (1, 0, 16, 128) 0.6148 ± 0.0077 (16 of B = 4, seed 32) vs 0.5736 → 0.5829; (10, 0.5, 4,
 *    512) 0.1742 ± 0.0067 (40 of B = 1, seed 8), 0.1597 ± 0.0094 (20, seed 12), 0.1467 ± 0.0082 (16,
 *    seed 31) vs 0.1402 → 0.1458 (the grid's 0.185 ± 0.010 std over 6 sequences sits high). Stored
 *    grid: 145 → 146 within, summed |ours − measured| 1.776 → 1.687 (70 closer, 52 farther; r = 0.95
 *    0.538 → 0.547). Left: the kernel's Var(c) at r = 0, d_h = 4 is above the MC's (E[c²] 2.067 vs
 *    1.856 ± 0.013 at σ_s² = 3; 1.172 vs 1.147 ± 0.002 at σ_s² = 1) — scaling the model's row
 *    correlation to the MC's would add ~0.01 — and the K path's tie to the popularity (E[c²K]/
 *    (E[c²]E[K]) per head 9.2 ± 0.4 MC vs 11.9 lognormal model).
 * 8. The popularity's cap (derived here, 2026-11-27; popLaw's `cap`, popLawCapped). A key's popularity is
 *    its expected column sum w_j = L·E[P_ij | a_j], and a row's weight on it is a softmax entry,
 *    P_ij = e^{a_j}/(e^{a_j} + S_{−j}) (S_{−j} the other keys' sum): a logistic function of a_j − ln S_{−j}.
 *    Taking ln S_{−j} Gaussian and independent of a_j (the approximation) gives the logistic-normal law w = L·σ(y), y Gaussian: bounded by
 *    the row count L (every row puts all its weight on the key), and below the cap σ(y) ≈ e^y, step
 *    7's lognormal. On step 7's nodes g, w = L·σ(κg + μ) with κ, μ setting E[w] and E[w²] to step 7's
 *    (a joint Newton; so E[Var(c)] = Vc as before, only the shape changes). It matters where Var(w) is
 *    a sizeable share of its bound L − 1: at r = 0.95 and σ_s² ≥ 30 the popularity logit's variance
 *    r′vU (4.75U at σ_s² = 100) is far above the lognormal's ln(1 + Var w) (1.9), and the lognormal
 *    of the kernel's variance put its mass at moderate c, where 1/√X is large. L·softmax of L = 32
 *    iid Gaussians of variance 4.75 (numpy, 20000 rows) per bin c < 0.05 / 0.05–0.2 / 0.2–0.5 / 0.5–1 /
 *    1–2 / 2–4 / 4–8 / 8–16 / ≥ 16: 0.330 / 0.234 / 0.150 / 0.095 / 0.074 / 0.053 / 0.034 / 0.020 /
 *    0.009; lognormal of the same variance (the 60-node rule's masses) 0.111 / 0.231 / 0.316 / 0.134 /
 *    0.097 / 0.059 / 0.031 / 0.014 / 0.007; logistic 0.342 / 0.158 / 0.158 / 0.134 / 0.097 / 0.059 /
 *    0.031 / 0.014 / 0.007. Per-path float64 MC (scripts/attention-pairpaths.py: numpy, d = 64, B = 4,
 *    r_g = 0.2, the statistic as scripts/torch-attention.py's, the input gradient split by the weight
 *    it passes through) at σ_s² = 100, r = 0.95, h = 16, L = 32 (1024 trials, seed 2): per-pair mean
 *    0.0932 ± 0.0005 (PyTorch 8192 trials 0.0928), its V–V part 0.1005, Q–Q 0.0039, K–K −0.0078, V–K
 *    −0.0028, the batch centring −0.0004; the model's V part C(E_U[E1²] − E_U[ED²]/(L − 1)) 0.1506 →
 *    0.1127, Q 0.0037 → 0.0038, K −E_U[EK·E1]/(L − 1) −0.0214 → −0.0203, total 0.1328 → 0.0962. Per head
 *    (256 trials, seed 3) the column sums in the bins above: MC 0.255 / 0.206 / 0.176 / 0.140 / 0.109
 *    / 0.059 / 0.032 / 0.016 / 0.007, the model 0.104 / 0.166 / 0.262 / 0.172 / 0.239 / 0 / 0.052 /
 *    0.001 / 0.005 → 0.290 / 0.156 / 0.211 / 0.086 / 0.199 / 0 / 0.009 / 0.044 / 0.005; E[c_1/√X]
 *    0.725 ± 0.004 (1024 trials) vs 0.827 → 0.714; the pair mean of c_1j c_1l/√(X_j X_l) 0.535 ±
 *    0.012 vs E_U[E1²] 0.689 → 0.532. What is left there cancels: the V part is high by 0.013 at the
 *    right E1 (the pair numerator given c below C c_j c_l: 0.186 c_j c_l per unit of the MC's pair
 *    mean vs C = 0.224; the head's shared-upstream scale |ḡ W_oᵀW_vᵀ|² of step 6's "not in it"), the K
 *    part low by 0.010 (below). Left, one head (the logistic law moved these down; MC 256 trials):
 *    σ_s² = 100, r = 0.95, L = 32: 0.2146 ± 0.0028 (PyTorch 0.2120), V–V 0.1248, Q–Q 0.0545, K–K
 *    +0.0264, V–K −0.0070, centring +0.0175 vs the model's V 0.1302, Q 0.0515, K −0.0102 (0.2300 →
 *    0.1715); σ_s² = 30, r = 0.95, L = 32: 0.4793 ± 0.0028, V–V 0.4624, Q–Q 0.0156, K–K 0.0150, V–K
 *    −0.0158, centring 0.0037 vs 0.4076 / 0.0133 / −0.0121 (0.4356 → 0.4088); σ_s² = 3, r = 0.5, L =
 *    32: 0.4205 ± 0.0025, V–V 0.4050 (E[c_1/√X] 1.387 ± 0.007 vs the model's 1.24), Q–Q 0.0299, K–K
 *    −0.0010, V–K −0.0094 vs 0.3442 / 0.0231 / −0.0093. So (i) the K part's pair covariance is not
 *    −K_j c_l/(L − 1): per row it is ∝ P_ij P_il(Σ_m P_im² − P_ij − P_il), positive for two keys that
 *    are both below the row's Σ_m P_im² — at r′ → 1 (rows agree) the unpopular keys, whose small
 *    norms weigh most in the per-pair mean; (ii) config v1's batch centring, a no-op for the
 *    exchangeable tokens of the expected model, acts per token: a key that no row picks has |g|² ≪ e²d
 *    and its centred gradient is ≈ −e·1; (iii) at moderate v the hit model puts too many keys at small
 *    c (one-head σ_s² = 3, r = 0.5: c < 0.5 0.31 vs 0.33 MC, but 0.05–0.2 0.093 vs 0.064, 2–4 0.043 vs
 *    0.089) and E1 is 11 % low. Stored 8192-trial grid (non-causal gradR, within max(0.02, 2·std)):
 *    146 → 147 / 147, within the floor 127 → 127, summed |error| 1.439 → 1.448 (35 closer, 77
 *    farther: the logistic law lowers every peaked case a little, where σ_s² 3–30 was already low;
 *    three one-head L = 16 cases of test/formulas-mc.test.ts fall just outside, now known discrepancies);
 *    σ_s² = 100, r = 0.95 (h, L) = (16, 32) 0.1328 → 0.0962 vs 0.0928, (4, 32) 0.1871 → 0.1470 vs
 *    0.1439, (4, 128) 0.1845 → 0.1601 vs 0.1528, (1, 128) 0.2402 → 0.1928 vs 0.2069, (16, 128) 0.1238
 *    → 0.1056 vs 0.1096, (4, 512) 0.1739 → 0.1620 vs 0.1604, (1, 32) 0.2300 → 0.1715 vs 0.2120.
 * 9. The row's own part of a key's weight (derived here, 2026-11-27, helper h39; popLawCapped's sp,
 *    rowMom, ncHeadAtoms' per-node hit size PLS). Steps 1–8 drew, per popularity w, N ~ Bin(L, w/K2h)
 *    hits of ONE size K2h/L: E[P_ij | w] = w/L but E[P_ij² | w] = wK2h/L², linear in w, so Var(c | w)
 *    = (wK2h − w²)/L and an unpopular key was hit rarely but in full size (w = 0.1, K2h = 4.5, L = 32:
 *    no hit with probability 0.49, else c ≥ 0.14) — step 8's (iii). A row's weight on key j is
 *    σ(a_ij − ln S_{−j,i}) (step 8), a_ij = b_j + ε_ij: the shared part b_j (the key's popularity) and
 *    the row's own ε_ij = q̃_i·k_j/√d_h (the row's private query), independent over rows given the
 *    keys. So given the popularity logit y each row gives σ(y + ε), ε ~ N(0, s_p²) iid over rows
 *    (ε Gaussian and ln S_{−j,i}'s row-to-row spread folded into it: the approximation), and Var(c | y)
 *    = L·Var_ε σ(y + ε): below the cap ≈ w²(e^{s_p²} − 1)/L — an unpopular key's column sum is small
 *    with the relative spread of any other. s_p² = ln K2h: for a small entry E[P²]/E[P]² = e^{s_p²},
 *    which for the private rows is their K2h (so at w = 1 below the cap the within-key variance is
 *    the hit model's (K2h − 1)/L). Each row's weight is replaced by the two-point law with its first
 *    two moments m_k(y) = E_ε[σ(y + ε)^k]: hit probability m1²/m2, size m2/m1 (the hit model is the
 *    case of one size), N ~ Bin(L, m1²/m2), c = N·m2/m1, q = c·m2/m1 (E[q | y] = L·m2 exact); the
 *    K path's Gamma shape stays N/rvK. The law of y: y = κg + μ on step 7's nodes g, κ and μ setting
 *    E[c] = M1 and E[c²] = M2 + (K2h·M1 − M2)/L, the hit model's on the lognormal's M1, M2 (so E[Var(c)]
 *    is still the kernel's Vc; w = L·m1(y) ≤ L, step 8's cap, which is this law at s_p = 0). ε's
 *    moments by 10-node Gauss–Hermite (EPS_Z); each node's hit counts pooled into ≤ 16 runs of
 *    consecutive N (NGRP; mass, E[N], E[N²] kept: values move ≤ 0.0003). Per head, shares of c in the
 *    bins of step 8 and E[c_1/√X], MC (scripts/attention-pairpaths.py, 256 trials of B = 4, seed 5)
 *    vs the model before → now: σ_s² = 3, r = 0.5, h = 1, L = 32: 0.002 / 0.064 / 0.259 / 0.324 /
 *    0.245 / 0.089 / 0.015 / 0.001 / 0 vs 0.002 / 0.068 / 0.266 / 0.329 / 0.258 / 0.057 / 0.018 / 0.001
 *    / 0 (0.05–0.2 was 0.093, 2–4 0.043), E1 1.387 ± 0.007 vs 1.24 → 1.323, the V part 0.4050 vs
 *    0.3442 → 0.3928, per-pair mean 0.4205 ± 0.0025 vs 0.3580 → 0.4104 (PyTorch 8192 trials 0.4175);
 *    σ_s² = 10, r = 0.5, h = 1, L = 32: 0.082 / 0.215 / 0.235 / 0.182 / 0.149 / 0.091 / 0.037 / 0.009 /
 *    0.001 vs 0.070 / 0.231 / 0.227 / 0.175 / 0.169 / 0.076 / 0.047 / 0.005 / 0.001, E1 0.758 ± 0.005 vs
 *    0.780, per-pair mean 0.1526 ± 0.0016 vs 0.1172 → 0.1567 (PyTorch 0.1517); σ_s² = 3, r = 0, h = 1,
 *    L = 32: E1 1.113 ± 0.004 vs 1.044, 0.2678 ± 0.0020 vs 0.2362 → 0.2469 (PyTorch 0.2691);
 *    σ_s² = 30, r = 0.95, h = 1, L = 32: E1 1.483 ± 0.010 vs 1.463, V part 0.4623 ± 0.0036 vs 0.4076 →
 *    0.4834, per-pair mean 0.4793 ± 0.0028 vs 0.4088 → 0.4862 (PyTorch 0.4736); σ_s² = 100, r = 0.95,
 *    h = 16, L = 32: E1 0.737 ± 0.008 vs 0.714 → 0.719, 0.0934 ± 0.0010 vs 0.0962 → 0.0976 (PyTorch
 *    0.0928). Left: at σ_s² = 100, r = 0.95, h = 1, L = 32 the total is right (0.2159 vs MC 0.2145 ±
 *    0.0028, PyTorch 0.2120) by cancellation — the V part 0.1690 vs 0.1306 ± 0.0023 (E1 0.860 vs 0.768
 *    ± 0.008) against the K part −0.0114 vs K–K + V–K + centring ≈ +0.037 (step 8's (i), (ii)); and the
 *    r = 0, σ_s² = 1–3 cases stay low (0.01–0.03, e.g. σ_s² = 3, h = 1, L = 128: 0.3375 vs 0.3694).
 *    Stored 8192-trial data (non-causal gradR): rule 147 / 147, within the floor 127 → 138, summed
 *    |error| 1.448 → 0.866 (main's 1.439), max 0.065 → 0.035 (main's 0.052); 83 closer and 48 farther
 *    than step 8 (the most: σ_s² = 100, r = 0.95, h = 4, L = 32 0.1470 → 0.1566 vs 0.1439); one head,
 *    before → after vs measured: (σ_s², r, L) = (3, 0.5, 32) 0.3580 → 0.4104 vs 0.4175; (30, 0.95, 32)
 *    0.4088 → 0.4862 vs 0.4736; (10, 0.95, 32) 0.6845 → 0.7325 vs 0.7291; (3, 0.5, 128) 0.4503 →
 *    0.4906 vs 0.4935; (100, 0.95, 32) 0.1715 → 0.2159 vs 0.2120; (100, 0.95, 128) 0.1928 → 0.2170 vs
 *    0.2069. The other seven rows bit-identical (the causal model passes no cap and keeps its
 *    lognormal). Grid: attention gradR 144 → 147 / 147; test/formulas-mc's seven one-head gradR
 *    known discrepancies now pass (σ_s² = 4, r = 0.5 / 25, r = 0.5 / 4, r = 0.9: 0.3091 / 0.0780 /
 *    0.7216 → 0.3674 / 0.1106 / 0.7662 vs MC 0.3590 / 0.1082 / 0.7590; σ_s² = 4, r = 0: 0.4225 →
 *    0.4579 vs 0.4855 ± 0.0091, tol 0.036; σ_s² = 1, r = 0.5 with σ² = 4 / value: false / attention
 *    dropout 0.1: 0.6849 / 0.6849 / 0.6595 → 0.7208 / 0.7208 / 0.6967 vs 0.7215 / 0.7246 / 0.6949).
 * Stored grid (non-causal, 147 cases, within max(0.02, 2·std)): 136 → 142 (143 with the Q path's
 * row-to-row spread rvS in step 4); the lognormal model's
 * misses at peaked rows with r = 0.5 (e.g. σ_s² = 100, h = 4, L = 32: 0.0532 vs 0.0211 ± 0.0055,
 * now 0.0226) and at r = 0.95, h = 1 (σ_s² = 30, L = 32: 0.412 vs 0.487 ± 0.035, now 0.420, within).
 */
function lnGammaL(x: number): number {
  // Lanczos (g = 7, n = 9), relative error ~1e-15 for x > 0
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGammaL(1 - x);
  x -= 1;
  let a = c[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}
let NAV = new Float64Array(1024), NAP = new Float64Array(1024), NAC = new Float64Array(1024), NAC2 = new Float64Array(1024), NAK = new Float64Array(1024), NAX = new Float64Array(1024), NAN = new Float64Array(1024);
let NPMF = new Float64Array(1024), NTM = new Float64Array(1024);
let HIT_S = 0, HIT_P = 0;
const NBIN = 32, NGRP = 16;
const NBP = new Float64Array(NBIN + 1), NBV = new Float64Array(NBIN + 1), NBC = new Float64Array(NBIN + 1), NBC2 = new Float64Array(NBIN + 1), NBK = new Float64Array(NBIN + 1), NBX = new Float64Array(NBIN + 1), NBN = new Float64Array(NBIN + 1);
interface NcPairInput {
  L: number; h: number; dh: number; K2: number; c: number;
  /** Q4 = E[(Σ_k P_k²)²] of a row: the row-to-row spread of the Q path's mean */
  Q4: number;
  /** K2 of a row's private logits (variance (1 − ρ)v): the size of a hit */
  K2p: number;
  /** per head: V path av c² + bv q (deterministic), K path bK q + aK (c² − q) (random amplitude) */
  av: number; bv: number; bK: number; aK: number;
  /** Q path variance γ, the V-shared covariance C c_j c_l, the Q-path covariance DQ */
  ga: number; C: number; DQ: number;
  /** nodes of a head's shared-query scale U: weights, and per node K2, row correlation c, the K
   * path's diagonal and cross-row factors (1 − r′ + r′U)E[uJ] and (1 − r′ + r′U)E[wρD] */
  nU: number; uW: Float64Array; uK2: Float64Array; uC: Float64Array; uFd: Float64Array; uFx: Float64Array;
  /** the rows' private logit variance v_p = (1 − r′)v and the row correlation c(v_p, 0) at query
   * correlation 0 (the popularity law, step 7) */
  v: number; c0: number;
}
const US2 = new Float64Array(5);
const NU_MAX = 5, NBS = NBIN + 1;
let NMP = new Float64Array(NU_MAX * NBS), NMV = new Float64Array(NU_MAX * NBS), NMC = new Float64Array(NU_MAX * NBS), NMC2 = new Float64Array(NU_MAX * NBS), NMK = new Float64Array(NU_MAX * NBS), NMX = new Float64Array(NU_MAX * NBS), NMN = new Float64Array(NU_MAX * NBS);
const NKK = new Float64Array(NU_MAX * NBS), NKA = new Float64Array(NU_MAX * NBS), NXA = new Float64Array(NU_MAX * NBS);
const NMEC2 = new Float64Array(NU_MAX), NMEQ = new Float64Array(NU_MAX), UK2H = new Float64Array(NU_MAX), NMB = new Int32Array(NU_MAX), NM0 = new Float64Array(NU_MAX), NMVC = new Float64Array(NU_MAX);
const GP1 = new Float64Array(NU_MAX), GPD = new Float64Array(NU_MAX), GPK = new Float64Array(NU_MAX), E1M = new Float64Array(NU_MAX), EDM = new Float64Array(NU_MAX), EKM = new Float64Array(NU_MAX);
/** The key popularity law of ncPairGradR's hit model (derived here, steps 7 and 8 of its comment): on the PN
 * nodes z_k, log w_k = κ·g_k − ln E[e^{κg}] with g = φ·(ρ(z) − 1)/√(2/d_h) + (1 − φ)·z, ρ(z) = χ²_{d_h}/d_h
 * at the normal quantile z (Wilson–Hilferty), κ and the constant giving E[w], E[w²] of the lognormal
 * e^{√s2·z − s2/2} it replaces on the same nodes (the kernel's popularity variance, s2 = ln(1 + Vw));
 * φ = 0: that lognormal exactly. With a finite `cap` (ncPairGradR, cap = L: steps 8 and 9) the same
 * nodes carry the logistic form, each row's weight σ(κg + μ + ε), ε ~ N(0, ln K2h), w = cap·E_ε[σ],
 * E[c] and E[c²] the hit model's on the lognormal (popLawCapped; PLS the rows' two-point hit size);
 * the causal model passes no cap (its lognormal as before). Memoised
 * per U node m (the two calls of ncHeadAtoms share it). */
const PLW = new Float64Array(5 * 32), PLS = new Float64Array(5 * 32), PLKEY = new Float64Array(25).fill(NaN);
/** the row's own logit part ε of popLawCapped: the 10-node Gauss–Hermite rule for N(0, 1) (probabilists';
 * numpy.polynomial.hermite_e.hermegauss(10), weights over √(2π)); against a 200-node rule E[σ(y + sε)] and
 * E[σ(y + sε)²] over y ∈ [−15, 8] are within 1e-5 / 1.5e-4 relative at s² = 1.5 and 6e-4 / 1e-2 at s² = 3.5
 * (the worst at y ≪ 0, the unpopular keys' small weights) */
const GH10_Z = [0.48493570751549764, 1.4659890943911582, 2.4843258416389546, 3.581823483551927, 4.859462828332312];
const GH10_W = [0.34464233493201896, 0.13548370298026777, 0.01911158050077027, 0.0007580709343122171, 4.3106526307183114e-06];
const EPS_Z = Float64Array.from([...GH10_Z.map((z) => -z), ...GH10_Z]), EPS_W = Float64Array.from([...GH10_W, ...GH10_W]);
/** the PN nodes that carry weight (≥ 1e-18; ncHeadAtoms skips those below 1e-6), and per d_h the
 * standardised key norm (ρ(z) − 1)/√(2/d_h) at them (memoised for the last d_h) */
const PL_IDX = Array.from(PN.w.keys()).filter((k) => PN.w[k] >= 1e-18), PL_KN = new Float64Array(32), PL_X = new Float64Array(32);
let PL_DH = NaN;
/** `cap` (ncPairGradR steps 8 and 9): finite, the law is the logistic one w = cap·E_ε[σ(κg + μ + ε)]
 * (w ≤ cap, the row count; ε the row's own part, variance ln K2h), κ and μ setting E[c] and E[c²] to
 * the hit model's on the lognormal of the same nodes (below the cap, σ(y) ≈ e^y: the exponential
 * form); Infinity, log w = κg + const as before (K2h unused). */
function popLaw(m: number, s2: number, dh: number, phi: number, cap = Infinity, K2h = 1): Float64Array {
  const o = m * 32, nz = PL_IDX.length;
  if (PLKEY[5 * m] === s2 && PLKEY[5 * m + 1] === phi && PLKEY[5 * m + 2] === dh && PLKEY[5 * m + 3] === cap && PLKEY[5 * m + 4] === K2h) return PLW;
  if (PL_DH !== dh) {
    const a = 2 / (9 * dh), sa = Math.sqrt(a), sr = 1 / Math.sqrt(2 / dh);
    for (let i = 0; i < nz; i++) { const b = Math.max(0, 1 - a + PN.z[PL_IDX[i]] * sa); PL_KN[i] = (b * b * b - 1) * sr; }
    PL_DH = dh;
  }
  for (let i = 0; i < nz; i++) PLG[i] = phi * PL_KN[i] + (1 - phi) * PN.z[PL_IDX[i]];
  // the lognormal's moments on the same nodes (its mean e^{−s2/2}E[e^{√s2 z}] and second moment), so
  // that φ = 0 gives its weights exactly: Newton on f(κ) = ln M(2κ) − 2 ln M(κ) − ln(M2/M1²) (M(s) =
  // E[e^{sg}]; f′ = 2(E_{2κ}[g] − E_κ[g]) > 0) from κ = √s2, then the mean M1
  const sw = Math.sqrt(s2);
  let M1 = 0, M2 = 0;
  for (let i = 0; i < nz; i++) { const k = PL_IDX[i], e = Math.exp(sw * PN.z[k] - s2 / 2); M1 += PN.w[k] * e; M2 += PN.w[k] * e * e; }
  if (cap < Infinity) {
    popLawCapped(o, sw, M1, M2 + (K2h * M1 - M2) / cap, cap, Math.sqrt(Math.log(Math.max(K2h, 1))));
    PLKEY[5 * m] = s2; PLKEY[5 * m + 1] = phi; PLKEY[5 * m + 2] = dh; PLKEY[5 * m + 3] = cap; PLKEY[5 * m + 4] = K2h;
    return PLW;
  }
  const target = Math.log(M2) - 2 * Math.log(M1);
  let kap = sw, m1 = 0;
  for (let it = 0; it < 40; it++) {
    let g1 = 0, m2 = 0, g2 = 0;
    m1 = 0;
    for (let i = 0; i < nz; i++) { const x = Math.exp(kap * PLG[i]), e = PN.w[PL_IDX[i]] * x, e2 = e * x; PL_X[i] = x; m1 += e; g1 += e * PLG[i]; m2 += e2; g2 += e2 * PLG[i]; }
    const f = Math.log(m2) - 2 * Math.log(m1) - target, df = 2 * (g2 / m2 - g1 / m1);
    let step = df > 0 ? f / df : 0;
    if (kap - step <= 0) step = kap / 2;
    if (!(Math.abs(step) > 1e-9 * kap)) break; // converged: the weights at this κ (PL_X, m1)
    kap -= step;
  }
  // the nodes left out (weight < 1e-18) keep the lognormal's value
  for (let k = 0; k < PN.z.length; k++) PLW[o + k] = Math.exp(sw * PN.z[k] - s2 / 2);
  for (let i = 0; i < nz; i++) PLW[o + PL_IDX[i]] = (M1 * PL_X[i]) / m1;
  PLKEY[5 * m] = s2; PLKEY[5 * m + 1] = phi; PLKEY[5 * m + 2] = dh; PLKEY[5 * m + 3] = cap; PLKEY[5 * m + 4] = K2h;
  return PLW;
}
/** rowMom(y, sp): RM1, RM2, RM3 = E_ε[σ(y + ε)^k], k = 1, 2, 3, ε ~ N(0, sp²) on the EPS nodes */
let RM1 = 0, RM2 = 0, RM3 = 0;
// e^{−sp·z_i} at the last sp (σ(y + sp z_i) = 1/(1 + e^{−y}·e^{−sp z_i}): one exp per call)
const EPS_E = new Float64Array(EPS_Z.length);
let EPS_SP = NaN;
function rowMom(y: number, sp: number): void {
  if (!(sp > 0)) { const s = 1 / (1 + Math.exp(-y)); RM1 = s; RM2 = s * s; RM3 = s * s * s; return; }
  if (sp !== EPS_SP) { for (let i = 0; i < EPS_Z.length; i++) EPS_E[i] = Math.exp(-sp * EPS_Z[i]); EPS_SP = sp; }
  const ey = Math.exp(-y);
  let a = 0, b = 0, c = 0;
  for (let i = 0; i < EPS_Z.length; i++) { const s = 1 / (1 + ey * EPS_E[i]), w = EPS_W[i], s2 = s * s; a += w * s; b += w * s2; c += w * s2 * s; }
  RM1 = a; RM2 = b; RM3 = c;
}
/** popLaw's logistic form (ncPairGradR steps 8 and 9): a row's weight on the key is σ(y + ε), y = κg + μ
 * on the nodes (PLG), ε ~ N(0, sp²) the row's own part (iid over rows); w = cap·m1(y), m_k(y) =
 * E_ε[σ(y + ε)^k], and the row's two-point law (hit probability m1²/m2, size m2/m1: PLS) keeps
 * m1 and m2. κ and μ set E[c] = M1 and E[c²] = C2 (c = Σ_rows: E[c² | y] = (cap² − cap)m1² +
 * cap·m2), C2 clamped below the two-point bound cap·M1·(1 − 1e-6). sp = 0: w = cap·σ(y) with
 * E[w²] = C2 (step 8 alone). A joint Newton on (ln E[c], ln E[c²]) from the lognormal's (κ = √s2,
 * μ = ln(M1/cap) − s2/2 − sp²/2), else μ by Newton per κ and κ bracketed on [0, 200]. Fills PLW, PLS at
 * slot offset o. */
function popLawCapped(o: number, sw: number, M1: number, C2: number, cap: number, sp: number): void {
  const nz = PL_IDX.length, c1 = cap * cap - cap;
  const C2t = Math.min(C2, cap * M1 * (1 - 1e-6));
  let mu = Math.log(M1 / cap) - (sw * sw) / 2 - (sp * sp) / 2, kap = sw, klo = 0, khi = 200;
  // per κ, E[c] and E[c²] and their derivatives in μ (d1, d2) and κ (a1, a2)
  let m1 = 0, d1 = 0, a1 = 0, e2 = 0, d2 = 0, a2 = 0;
  const moments = (k: number, u: number) => {
    m1 = 0; d1 = 0; a1 = 0; e2 = 0; d2 = 0; a2 = 0;
    for (let i = 0; i < nz; i++) {
      const g = PLG[i], w = PN.w[PL_IDX[i]];
      rowMom(k * g + u, sp);
      const dm = RM1 - RM2, de = 2 * c1 * RM1 * dm + 2 * cap * (RM2 - RM3);
      m1 += w * RM1; d1 += w * dm; a1 += w * dm * g;
      e2 += w * (c1 * RM1 * RM1 + cap * RM2); d2 += w * de; a2 += w * de * g;
    }
    m1 *= cap; d1 *= cap; a1 *= cap;
  };
  const solveMu = (k: number) => {
    // Newton on ln E[c] − ln M1 (increasing in μ), bracketed
    let lo = -1e4, hi = 1e4;
    for (let it = 0; it < 200; it++) {
      moments(k, mu);
      const f = Math.log(m1 / M1);
      if (f > 0) hi = mu; else lo = mu;
      let next = d1 > 0 && m1 > 0 ? mu - f / (d1 / m1) : NaN;
      if (!(next > lo && next < hi)) next = (lo + hi) / 2;
      const done = Math.abs(next - mu) <= 1e-12 * Math.max(1, Math.abs(mu));
      mu = next;
      if (done) break;
    }
  };
  let ok = false;
  for (let it = 0; it < 30; it++) {
    moments(kap, mu);
    const F1 = Math.log(m1 / M1), F2 = Math.log(e2 / C2t);
    if (Math.abs(F1) < 1e-13 && Math.abs(F2) < 1e-11) { ok = true; break; }
    const j11 = a1 / m1, j12 = d1 / m1, j21 = a2 / e2, j22 = d2 / e2, det = j11 * j22 - j12 * j21;
    if (!(Math.abs(det) > 1e-300)) break;
    const dk = (F1 * j22 - F2 * j12) / det, dm = (j11 * F2 - j21 * F1) / det;
    if (!(Number.isFinite(dk) && Number.isFinite(dm)) || kap - dk <= 0 || kap - dk > 200) break;
    kap -= dk; mu -= dm;
  }
  if (!ok) {
    kap = sw; mu = Math.log(M1 / cap) - (sw * sw) / 2 - (sp * sp) / 2;
    for (let it = 0; it < 80; it++) {
      solveMu(kap);
      moments(kap, mu);
      const f = Math.log(e2 / C2t);
      if (f > 0) khi = kap; else klo = kap;
      const df = d1 > 0 ? (a2 - (d2 * a1) / d1) / e2 : 0;
      let next = df > 0 ? kap - f / df : NaN;
      if (!(next > klo && next < khi)) next = (klo + khi) / 2;
      const done = Math.abs(next - kap) <= 1e-10 * Math.max(1, kap);
      kap = next;
      if (done) break;
    }
    solveMu(kap);
  }
  // the nodes left out (weight < 1e-18) keep the lognormal's value, below the cap
  for (let k = 0; k < PN.z.length; k++) { PLW[o + k] = Math.min(cap, Math.exp(sw * PN.z[k] - (sw * sw) / 2)); PLS[o + k] = Math.exp(sp * sp) * PLW[o + k] / cap; }
  for (let i = 0; i < nz; i++) { rowMom(kap * PLG[i] + mu, sp); PLW[o + PL_IDX[i]] = cap * RM1; PLS[o + PL_IDX[i]] = RM1 > 0 ? RM2 / RM1 : 0; }
}
const PLG = new Float64Array(32);
/** the share φ of the popularity law's key-norm form (ncPairGradR step 7): the rows whose normaliser
 * is a law-of-large-numbers sum, P(χ²_{d_h} < d_h²/v) (a row's logit variance vu, u = χ²_{d_h}/d_h; the
 * normaliser's mean E[e^{vuρ/2}] = (1 − vu/d_h)^{−d_h/2} exists iff vu < d_h), times the key norm's
 * share c(v, 0)/c(v, r′) of the row correlation (the rest is the shared query's lognormal part) */
function popPhi(v: number, dh: number, c0: number, c: number): number {
  const k = dh / 2, x = (dh * dh) / (2 * v);
  let P: number;
  if (!(x > 0)) P = 0;
  else if (x > k + 12 * Math.sqrt(k) + 40) P = 1;
  else {
    let term = 1 / k, sum = term;
    for (let n = 1; n < 2000; n++) { term *= x / (k + n); sum += term; if (term < sum * 1e-15) break; }
    P = Math.min(1, Math.exp(-x + k * Math.log(x) - lnGammaL(k)) * sum);
  }
  const share = c > 0 ? Math.max(0, Math.min(1, c0 / c)) : 1;
  return P * share;
}
let POP_PHI = 0, POP_DH = 1;
/** One head's column-sum atoms of the hit model at popularity log-variance s2 (lognormal w, mean 1):
 * pooled into NBIN bins of ln(V + K) at slot m (mass, mean V, K_d, K_x, N, c, c²); returns the model's
 * Σ p·q (E[q]) when `eqOnly`, else fills the slot. */
function ncHeadAtoms(m: number, s2: number, L: number, K2h: number, av: number, bv: number, bK: number, aK: number, eqOnly: boolean): number {
  const nodes = s2 > 1e-9 ? PN : ONE_NODE;
  const sw = Math.sqrt(s2), mw = -s2 / 2;
  const law = s2 > 1e-9 ? popLaw(m, s2, POP_DH, POP_PHI > 1e-6 ? POP_PHI : 0, L, K2h) : null, lo0 = m * 32;
  // per popularity node: the mean w, the hit size s (law: the row's two-point law, popLawCapped; else
  // K2h/L) and probability p = w/(L s)
  const hitOf = (k: number, w: number) => {
    const s = law ? PLS[lo0 + k] : w >= K2h ? w / L : K2h / L;
    HIT_S = s; HIT_P = s > 0 ? Math.min(1, w / (L * s)) : 0;
  };
  if (eqOnly) {
    let eq = 0;
    let ec2 = 0;
    for (let k = 0; k < nodes.z.length; k++) {
      const w = law ? law[lo0 + k] : Math.exp(mw + sw * nodes.z[k]);
      hitOf(k, w);
      const p = HIT_P, s = HIT_S;
      eq += nodes.w[k] * s * w; ec2 += nodes.w[k] * (w * w + s * s * L * p * (1 - p));
    }
    NMEC2[m] = ec2;
    return eq;
  }
  if (NPMF.length < L + 1) NPMF = new Float64Array(2 * (L + 1));
  if (NTM.length < L + 1) NTM = new Float64Array(2 * (L + 1));
  if (NAV.length < (L + 2) * (nodes.z.length + 1)) {
    const n2 = 2 * (L + 2) * (nodes.z.length + 1);
    NAV = new Float64Array(n2); NAP = new Float64Array(n2); NAC = new Float64Array(n2); NAC2 = new Float64Array(n2); NAK = new Float64Array(n2); NAX = new Float64Array(n2); NAN = new Float64Array(n2);
  }
  // the hit counts N ~ Binomial(L, p) per node, atoms (N, c = sN) of their own per node (the old
  // equal-size model's pooling per N is the case of one size); p = 1 (every row hits): one atom
  let na = 0, p0 = 0, tlo = L, thi = 0;
  NTM.fill(0, 0, L + 1);
  // an atom of mass pr, hit count t (mean over its counts) and E[t²] = t2, hit size sz
  const atom = (pr: number, t: number, sz: number, t2 = t * t) => {
    const cc = sz * t, c2 = sz * sz * t2, qq = sz * cc;
    NAC[na] = cc; NAC2[na] = c2; NAP[na] = pr; NAN[na] = t;
    NAV[na] = av * c2 + bv * qq; NAK[na] = Math.max(bK * qq, 0); NAX[na++] = Math.max(aK * (c2 - qq), 0);
  };
  for (let k = 0; k < nodes.z.length; k++) {
    const wk = nodes.w[k];
    if (wk < 1e-6) continue;
    const w = law ? law[lo0 + k] : Math.exp(mw + sw * nodes.z[k]);
    hitOf(k, w);
    const p = HIT_P, sz = HIT_S;
    if (p >= 1) { atom(wk, L, sz); continue; }
    const mm = Math.min(L, Math.floor((L + 1) * p)), odds = p / (1 - p);
    let lo: number, hi: number;
    NPMF[mm] = 1; let tot = 1;
    for (hi = mm; hi < L;) { const nx = NPMF[hi] * ((L - hi) / (hi + 1)) * odds; if (nx < 1e-11) break; NPMF[++hi] = nx; tot += nx; }
    for (lo = mm; lo > 0;) { const nx = (NPMF[lo] * lo) / ((L - lo + 1) * odds); if (nx < 1e-11) break; NPMF[--lo] = nx; tot += nx; }
    if (!law) {
      for (let t = lo; t <= hi; t++) NTM[t] += (wk * NPMF[t]) / tot;
      if (lo < tlo) tlo = lo;
      if (hi > thi) thi = hi;
      continue;
    }
    if (lo === 0) p0 += (wk * NPMF[0]) / tot;
    // a node's counts in at most NGRP runs of consecutive t, each one atom keeping its mass, E[t]
    // and E[t²] (a run spans less than a bin of ln(V + K) below, where the atoms are pooled anyway)
    const t0 = Math.max(lo, 1), g = Math.ceil((hi - t0 + 1) / NGRP);
    for (let ta = t0; ta <= hi; ta += g) {
      let pr = 0, s1 = 0, s2 = 0;
      for (let t = ta; t < ta + g && t <= hi; t++) { const e = NPMF[t]; pr += e; s1 += e * t; s2 += e * t * t; }
      if ((wk * pr) / tot >= 1e-12) atom((wk * pr) / tot, s1 / pr, sz, s2 / pr);
    }
  }
  p0 += NTM[0];
  for (let t = Math.max(tlo, 1); t <= thi; t++) if (NTM[t] >= 1e-12) atom(NTM[t], t, K2h / L);
  // pool the hit atoms (N ≥ 1) into NBIN bins of ln(V + K) (mass, mean V, K, N, c, c²)
  let vmin = Infinity, vmax = 0, ev = 0, ec2 = 0;
  for (let a = 0; a < na; a++) { const v = NAV[a] + NAK[a] + NAX[a]; ev += NAP[a] * v; ec2 += NAP[a] * NAC2[a]; if (v > 0) { if (v < vmin) vmin = v; if (v > vmax) vmax = v; } }
  NBP.fill(0); NBV.fill(0); NBC.fill(0); NBC2.fill(0); NBK.fill(0); NBX.fill(0); NBN.fill(0);
  const lv0 = Math.log(vmin), sc = vmax > vmin ? (NBIN - 1) / (Math.log(vmax) - lv0) : 0;
  for (let a = 0; a < na; a++) {
    const v = NAV[a] + NAK[a] + NAX[a], k = v > 0 ? 1 + Math.round((Math.log(v) - lv0) * sc) : 0, pr = NAP[a];
    NBP[k] += pr; NBV[k] += pr * NAV[a]; NBK[k] += pr * NAK[a]; NBX[k] += pr * NAX[a]; NBN[k] += pr * NAN[a]; NBC[k] += pr * NAC[a]; NBC2[k] += pr * NAC2[a];
  }
  let nb = 0;
  const o = m * NBS;
  for (let k = 0; k <= NBIN; k++) if (NBP[k] > 0) {
    const pr = NBP[k];
    NMP[o + nb] = pr; NMV[o + nb] = NBV[k] / pr; NMK[o + nb] = NBK[k] / pr; NMX[o + nb] = NBX[k] / pr; NMN[o + nb] = NBN[k] / pr; NMC[o + nb] = NBC[k] / pr; NMC2[o + nb++] = NBC2[k] / pr;
  }
  NMB[m] = nb; NM0[m] = p0; NMVC[m] = Math.max(ec2 - 1, 0);
  return ev;
}
/** ln(1 + x), x ≥ 0: the series to x³ below 1e-3 (error < x⁴/4 < 2.5e-13), else Math.log (the
 * u-loop of ncPairGradR spends most of its time here, its first nodes at tiny x) */
function ln1p(x: number): number {
  return x < 1e-3 ? x * (1 - x * (0.5 - x / 3)) : Math.log(1 + x);
}
function ncPairGradR(q: NcPairInput): number {
  const { L, h, dh, K2, c, av, ga, C, DQ } = q;
  const { bv, bK, aK } = q;
  if (!(L > 1)) return 0;
  const ex = Math.max(K2 - 1, 0), Vc = (ex * (1 + (L - 1) * c)) / L;
  const K2h = Math.min(Math.max(q.K2p, 1), Math.max(K2, 1));
  const Vw = Math.max(0, c * ex + (Math.max(K2, 1) - K2h) / (L - 1));
  // per head and sequence, the shared query's scale U (q.nU nodes, weights q.uW): the node's K2,
  // row correlation c and K-path factors (reportedGradR); the node's popularity variance Vw_m =
  // c_m(K2_m − 1) + (K2_m − K2h_m)/(L − 1), its log-variance scaled by κ so that the mixture keeps
  // E[Var(w)] = Vw (the kernel's Var(c))
  const nU = q.nU;
  POP_PHI = popPhi(q.v, dh, q.c0, c); POP_DH = dh;
  for (let m = 0; m < nU; m++) {
    const K2m = Math.max(q.uK2[m], 1), K2hm = Math.min(Math.max(q.K2p, 1), K2m);
    UK2H[m] = K2hm; US2[m] = Math.log1p(Math.max(0, q.uC[m] * (K2m - 1) + (K2m - K2hm) / (L - 1)));
  }
  if (nU > 1) {
    const target = Math.log1p(Vw);
    let kap = 1;
    for (let it = 0; it < 60; it++) {
      let f = 0, df = 0;
      for (let m = 0; m < nU; m++) { const e = q.uW[m] * Math.exp(kap * US2[m] - target); f += e; df += e * US2[m]; }
      const step = df > 0 ? Math.log(f) / (df / f) : 0; // Newton on ln f(κ) = 0 (increasing, convex)
      kap -= step;
      if (!(Math.abs(step) > 1e-12)) break;
    }
    for (let m = 0; m < nU; m++) US2[m] *= kap;
  } else US2[0] = Math.log1p(Vw);
  // per node, the coefficients keep the kernel's means (the mixture's): V private part bv·E[q] ∝ K2_m,
  // K diagonal ∝ (1 − r′ + r′U)E[uJ]_m, K cross-row ∝ (1 − r′ + r′U)E[wρD]_m (the rows' query dot
  // product |q|²ρ at the node's row correlation); each divided by the model's E[q | m], E[c² − q | m]
  let sK2 = 0, sFd = 0, sFx = 0;
  for (let m = 0; m < nU; m++) { sK2 += q.uW[m] * q.uK2[m]; sFd += q.uW[m] * q.uFd[m]; sFx += q.uW[m] * q.uFx[m]; }
  const kv0 = bK * (K2 / L), kx = aK * (1 + Vc - K2 / L), pv = bv * (K2 / L);
  let ev = 0, vcm = 0, ec2 = 0;
  for (let m = 0; m < nU; m++) { NMEQ[m] = ncHeadAtoms(m, US2[m], L, UK2H[m], 0, 0, 0, 0, true); ec2 += q.uW[m] * NMEC2[m]; }
  for (let m = 0; m < nU; m++) {
    // E[c² | m]: the model's, scaled so that the mixture's is the kernel's 1 + Vc
    const eqm = NMEQ[m], ecm = Math.max(((1 + Vc) * NMEC2[m]) / ec2 - eqm, 1e-12);
    const bvm = eqm > 0 ? (pv * (nU > 1 ? q.uK2[m] / sK2 : 1)) / eqm : 0;
    const bKm = eqm > 0 ? (kv0 * (nU > 1 && sFd > 0 ? q.uFd[m] / sFd : 1)) / eqm : 0;
    const aKm = (kx * (nU > 1 && sFx > 0 ? q.uFx[m] / sFx : 1)) / ecm;
    ev += q.uW[m] * ncHeadAtoms(m, US2[m], L, UK2H[m], av, bvm, bKm, aKm, false); vcm += q.uW[m] * NMVC[m];
  }
  // amplitudes: a K-path gradient is Σ over its N hitting rows of a scalar dS_ij times a vector, its
  // squared norm a mean of N terms of relative variance rvK = 3(1 + 2/d_h)² − 1 (dS² ~ χ²₁, |dO_i|²,
  // |q_i|² over d_h): Gamma of shape N/rvK; the Q path of a row is its Jacobian over ν_r + 1 = L/K2
  // effective keys (χ²_{ν_r} after the centring) times |dO_j|² over d_h, and its mean ∝ the row's
  // own S2 = Σ_m P_jm², which varies from row to row with relative variance rvS = Q4/(K2/L)² − 1
  // (Q4 = E[S2²]; the row is not the key's column, so independent of c_j): relative variance
  // (1 + rvS)(1 + 2/ν_r)(1 + 2/d_h) − 1 per head, h heads averaged: Gamma of shape kQ, mean 1.
  const rvK = 3 * (1 + 2 / dh) ** 2 - 1, kX = 1 / (3 * (1 + 2 / dh) - 1);
  const nuR = Math.max(L / Math.max(K2, 1) - 1, 1e-3), rvS = K2 > 0 ? Math.max(0, (q.Q4 * L * L) / (K2 * K2) - 1) : 0;
  const rvQ = (1 + rvS) * (1 + 2 / nuR) * (1 + 2 / dh) - 1, kQ = h / rvQ;
  const lgR = Math.exp(lnGammaL(kQ + 0.5) - lnGammaL(kQ)) / Math.sqrt(kQ); // E[√η] factor Γ(k+½)/Γ(k)·θ^½, θ = 1/kQ
  // the range's top: every integrand left (the no-hit term of E[√η/√X] is exact, below) holds
  // a head with a hit, whose V-path part V = α c² + β q is not random: e^u·V/h = 60 for the lowest
  // such V past the atoms' bottom 1e-7 of mass (lighter atoms change an expectation by less than
  // their mass: c/√X ≤ 1/√α, √η/√X ≤ 1/√γ)
  let vq = Infinity;
  for (let m = 0; m < nU; m++) {
    const o = m * NBS;
    for (let k = 0, s = NM0[m]; k < NMB[m]; k++) { s += NMP[o + k]; if (s > 1e-7 && NMV[o + k] > 0 && NMV[o + k] < vq) vq = NMV[o + k]; }
  }
  // (in logs: 60/vlo overflowed to Infinity for a denormal vq — an endless u loop, seen at σ_s² ~ 1e8, r = 0.99, L = 128)
  const EX = ev + ga, lnVlo = vq < Infinity ? Math.log(vq) - Math.log(h) : Math.log(EX);
  // the bottom: e^u·E[X] = 1e-6 (the tail left out is 2e^{u/2}/√π of E[f]: ~1e-3 relative)
  const u0 = Math.log(1e-6) - Math.log(EX), u1 = Math.max(Math.log(60) - lnVlo, u0 + 1), du = 1;
  const nu = Math.ceil((u1 - u0) / du) + 1;
  const norm = du / Math.sqrt(Math.PI);
  // the pair's numerator lives in one head (head 1 of X's heads), whose U the two tokens share:
  // per node m, E1_m = E[c_1/√X | U_1], ED_m (the sum constraint's E[(c_1² − c_1)/√X | U_1]/√Vc_m)
  // and EK_m = E[K_1/√X | U_1], the other h − 1 heads' factor averaged over their U (sharing those
  // too, a double integral in (u, u′), moved the stored grid's values by < 0.0006)
  E1M.fill(0); EDM.fill(0); EKM.fill(0);
  // per bin, the u-loop's invariants: the Gamma shape k = N/rvK and the scales K_d/k, K_x/kX
  for (let m = 0; m < nU; m++) {
    const o = m * NBS;
    for (let k = 0; k < NMB[m]; k++) { const kk = NMN[o + k] / rvK; NKK[o + k] = kk; NKA[o + k] = NMK[o + k] / kk; NXA[o + k] = NMX[o + k] / kX; }
  }
  let pz = 0, eta = 0;
  for (let m = 0; m < nU; m++) pz += q.uW[m] * NM0[m];
  const pzh = pz ** h;
  for (let i = 0; i < nu; i++) {
    const u = u0 + i * du, T = Math.exp(u), t = T / h;
    let pb = 0;
    for (let m = 0; m < nU; m++) {
      const o = m * NBS;
      let P0 = 0, P1 = 0, P2 = 0, PK = 0;
      for (let k = 0; k < NMB[m]; k++) {
        const tv = t * NMV[o + k];
        if (tv > 60) continue; // e < e^{−60} of the bin's mass (and of its c, c², K weights' share)
        const ka = NKA[o + k], xa = NXA[o + k], z = 1 + t * ka, zx = 1 + t * xa;
        // (the logs of 1 skipped: a bin without K-path or cross-row part)
        const e = NMP[o + k] * Math.exp(-tv - (ka > 0 ? NKK[o + k] * ln1p(t * ka) : 0) - (xa > 0 ? kX * ln1p(t * xa) : 0));
        P0 += e; P1 += e * NMC[o + k]; P2 += e * NMC2[o + k]; PK += e * (NMK[o + k] / z + NMX[o + k] / zx);
      }
      // the sum constraint's first-order term divides by the head's Var(c): the node's model
      // variance, scaled so that its mean is the kernel's exact Vc
      const vcN = vcm > 0 ? (NMVC[m] * Vc) / vcm : Vc;
      GP1[m] = P1; GPD[m] = vcN > 1e-12 ? (P2 - P1) / Math.sqrt(vcN) : 0; GPK[m] = PK;
      pb += q.uW[m] * (P0 + NM0[m]);
    }
    const zq = 1 + (T * ga) / kQ, b = norm * Math.exp(u / 2);
    const f = b * Math.exp(-kQ * Math.log(zq)) * pb ** (h - 1);
    for (let m = 0; m < nU; m++) { E1M[m] += f * GP1[m]; EDM[m] += f * GPD[m]; EKM[m] += f * GPK[m]; }
    eta += b * lgR * Math.exp(-(kQ + 0.5) * Math.log(zq)) * (pb ** h - pzh);
  }
  eta += ga > 0 ? pzh / Math.sqrt(ga) : 0;
  let M11 = 0, MD = 0, MK = 0;
  for (let m = 0; m < nU; m++) { const w = q.uW[m]; M11 += w * E1M[m] * E1M[m]; MD += w * EDM[m] * EDM[m]; MK += w * EKM[m] * E1M[m]; }
  const r = C * (M11 - MD / (L - 1)) + DQ * eta * eta - MK / (L - 1);
  return Math.max(-1, Math.min(1, r));
}

/** probabilists' 3-point Gauss–Hermite rule (exact for polynomials of degree ≤ 5 in z ~ N(0, 1)) */
const GH3_Z = [0, Math.sqrt(3), -Math.sqrt(3)], GH3_W = [2 / 3, 1 / 6, 1 / 6];
const UN_W = new Float64Array(5), UN_K2 = new Float64Array(5), UN_C = new Float64Array(5), UN_FD = new Float64Array(5), UN_FX = new Float64Array(5), UN_SM = new Float64Array(9), UN_OV = new Float64Array(2);
/** The nodes of a head's shared-query scale U for ncPairGradR (derived here): the rows of a head
 * share the query part q̄ = W_qᵀ(shared input), whose squared norm in the keys' metric is, per head
 * and sequence, U ∝ q̄ᵀW_kᵀW_k q̄ with mean 1 and relative variance keyNormVar (the quadratic form
 * of attnSoftmaxStats' u), lognormal moment-matched, 3-node Gauss–Hermite. At U the rows' logit
 * variance is v(1 − r′ + r′U) and their correlation r′U/(1 − r′ + r′U). One node (U ≡ 1) at r′ = 0. */
function ncScaleNodes(p: AttentionParams, L: number, v: number, r1: number) {
  const rel = keyNormVar(p.dModel, p.heads), one = !(rel > 0 && r1 > 1e-9 && v > 0);
  const nU = one ? 1 : 3, su = Math.sqrt(Math.log1p(rel)), mu = -Math.log1p(rel) / 2;
  for (let m = 0; m < nU; m++) {
    const U = one ? 1 : Math.exp(mu + su * GH3_Z[m]), a = 1 - r1 + r1 * U, vm = v * a, rm = (r1 * U) / a;
    UN_W[m] = one ? 1 : GH3_W[m];
    attnSoftmaxStats(L, vm, p.dModel, p.heads, UN_SM);
    UN_K2[m] = UN_SM[0]; UN_FD[m] = a * UN_SM[3];
    UN_C[m] = softmaxRowCorrCos(vm, rm, L, cosDim(p));
    attnJacOverlap(L, vm, rm, p.dModel, p.heads, UN_OV);
    UN_FX[m] = a * Math.max(UN_OV[0], 0);
  }
  return { nU, uW: UN_W, uK2: UN_K2, uC: UN_C, uFd: UN_FD, uFx: UN_FX };
}

/** positions used for pair averages (all when L <= 64, else 64 evenly spaced) */
function samplePositions(L: number): number[] {
  if (L <= 64) return Array.from({ length: L }, (_, i) => i);
  return Array.from({ length: 64 }, (_, i) => Math.round((i * (L - 1)) / 63));
}

/** Row logit variance above which the softmax is reported as saturated (close to one-hot). */
const SATURATED = 50;

/** σ_s² = d²σ_q²σ_k² s′² for the uncentred input variance s′ = σ² + μ². */
function scoreVar(p: AttentionParams, s1: number): number {
  return p.dModel * p.dModel * p.stdQ * p.stdQ * p.stdK * p.stdK * s1 * s1;
}

export function attentionScoreVar(p: AttentionParams, x: { mean: number; var: number }): number {
  return scoreVar(p, x.var + x.mean * x.mean);
}

/** The logit variance as a warning prints it (never "Infinity": the output has no non-finite text). */
export function logitVarText(v: number): string { return Number.isFinite(v) ? v.toPrecision(3) : 'beyond the double range (overflow)'; }

function saturationWarnings(p: AttentionParams, x: { mean: number; var: number; r: number }): string[] {
  const v = (1 - uncentredR(x.mean, x.var, x.r)) * attentionScoreVar(p, x);
  return v > SATURATED ? [`attention saturated: logit variance (1−r)σ_s² = ${logitVarText(v)} (softmax close to one-hot)`] : NO_WARNINGS;
}

/**
 * Tilt (derived here, issue 4): the softmax-weighted mean of a row's private tokens leans toward the
 * row's logit direction â_i (the unit vector of W_k q_i in input space). Given the query, a private
 * token splits exactly into e_j = z_j â_i + e⊥_j with z_j the standardised logit (the row's logits
 * are √(vu) z_j) and e⊥_j independent of the row's weights P, so
 *   E|Σ_j P_j e_j|² = E[z̄_P²] + (d − 1) E[Σ_j P_j²],   z̄_P = Σ_j P_j z_j,
 * and per feature the private part passes S2 + (M2 − S2)/d instead of S2 (M2 = E z̄_P², softmax.ts
 * softmaxTiltInto; attention dropout: S2/(1 − p) + (X + Y p/(1 − p))/d with X = M2 − S2,
 * Y = W2 − S2, W2 = E Σ_j P_j² z_j²), X, Y averaged over the row-variance factor u (attnSoftmaxStats).
 * Two rows' tilts add r′(E z̄_P)²/d to their covariance (their directions correlate like their
 * queries), E z̄_P = M1 = E[√(vu)(1 − S2(vu))] (Stein). This replaces the first-order amplitude
 * √(v/d)(1 − S2) with S2 averaged over u before it was squared (v(1 − E S2)²/d: 10.2/d where the
 * exact E z̄_P² is 9.1/d at n = 512, v = 100, d = 64, 4 heads: attention output var 0.840 → 0.811,
 * measured 0.799 ± 0.009).
 */
export function tiltVar(X: number, Y: number, pa: number, d: number): number {
  return (X + (Y * pa) / (1 - pa)) / d;
}

/** Uncentred output variance of a row (before W_o): shared part (+ its attention-dropout term),
 * private part (S2 = Σ_j E[P_ij²], t2 the row's tilt term tiltVar). */
function posVar(sv: number, rv: number, S2: number, pa: number, t2: number): number {
  return sv * (rv * (1 + (S2 * pa) / (1 - pa)) + (1 - rv) * (S2 / (1 - pa) + t2));
}

/** Per-token dispersion of the output mean square: the value vectors' own (κ_in + 2/d for W_v),
 * reduced by averaging over ~1/S2 tokens in the private part, plus the row-to-row fluctuation of
 * Σ_j P_ij² (Var = Q4 − S2² per head, exact from the softmax block; the token's mean square averages
 * its h heads' independent rows, so 1/h of it), plus 2/d for W_o. κ_in NaN: iid (2/d). (The row term
 * was not divided by h before 2026-11-27: numpy d = 64, L = 128, σ_s² = 1, r = 0, 600 trials: κ
 * measured 0.204 at 16 heads, 0.358 at one; 1.485 and 0.320 before, 0.15 and 0.320 now.) */
function outKappa(kIn: number, d: number, value: boolean, rv: number, S2: number, q4: number, heads: number): number {
  return outKappaWishart(kIn, d, value, rv, S2) + outKappaRows(rv, S2, q4, heads);
}

/** The part of outKappa that is Wishart-sampled feature noise (the value vectors' κ_in + 2/d for
 * W_v, reduced by the averaging, plus 2/d for W_o) — without the rows' concentration term. */
function outKappaWishart(kIn: number, d: number, value: boolean, rv: number, S2: number): number {
  const share = rv + (1 - rv) * S2;
  return ((kIn === kIn ? kIn : 2 / d) + (value ? 2 / d : 0)) * share + (value ? 2 / d : 0);
}

/** The rows' concentration term of outKappa: Var Σ_j P_ij² = Q4 − S2² per head, 1/h of it. */
function outKappaRows(rv: number, S2: number, q4: number, heads: number): number {
  const share = rv + (1 - rv) * S2;
  return share > 0 ? ((1 - rv) ** 2 * Math.max(q4 - S2 * S2, 0)) / (share * share * heads) : 0;
}

/** Σ_{i≠i′≥j} (γ_i/n_i)(γ_i′/n_i′) per column j = 0..L−1 of a causal layer (row i has n_i = i + 1 keys;
 * γ_n = 1 − 2K2(n)/n + Q4(n) − J(n), so γ_n/n = E[P(1−P)(1−2P)] of a row of n keys): the row-pair sum
 * of the K path's first-order key-selection term (causalForward's kselArr, now only in the reported
 * per-pair gradR; test/attention-causal-smallhead.test.ts). */
export function causalKeySelPairs(k2: Float64Array, jac: Float64Array, q4: Float64Array, L: number): Float64Array {
  const out = new Float64Array(L);
  let sg = 0, sgsq = 0;
  for (let i = L - 1; i >= 0; i--) {
    const n = i + 1, gm = n > 1 ? selGamma(k2[n], jac[n], q4[n], n) / n : 0;
    sg += gm; sgsq += gm * gm;
    out[i] = Math.max(sg * sg - sgsq, 0);
  }
  return out;
}

/**
 * The causal K path's cross-row overlap (derived here, issue 4). Two causal rows i < i′ (n ≤ n′ keys)
 * share the shorter row's n keys; per shared column j the K path passes
 * E[(q_i·q_i′) P_ij P_i′j(1 − P_ij − P_i′j + Σ_{a≤n} P_ia P_i′a)] (r_g times; the non-causal kernel's
 * E[wρD]/L per column). On the shared keys the longer row is P_i′a = R·P̃_a with P̃ a softmax over the
 * same n keys (correlated with row i at the queries' cosine ρ, as two equal rows) and R the share of
 * row i′'s weight on them, E[R] = n/n′. Taking R independent of the shared keys' weights, the pair
 * passes E[wρD_n]/n′ per shared column — the equal-row overlap of length n scaled by the share —
 * exact for n = n′ — times F̄_D(n, n′) (formulas/causal-share.ts: R is not independent of the shared
 * keys' weights; a key that dominates them also raises R; F̄_D is the exact Gaussian-logit ratio of the
 * unequal-row overlap to that independent-share form, averaged over the queries' cosine law, 1 at
 * n = n′). E[wρD_n] = kcv_n·(K2_n − 1)/n (Price, kcv_n = E[wρc′_n]/v at length n) with kcv_n
 * from attnJacOverlap at the power-of-two lengths 2^k ≥ 2 up to the first ≥ L, linear in log₂ n
 * between them and cubic on the 21 ρ nodes k/10 − 1; (K2_n − 1) is each row's own (its own logit
 * variance in the stack fold, formulas/attention-causal.ts, which takes kcv once per layer at the
 * longest rows' variance like its Q covariance). It replaces r′·cross·min(1, J/(K2/n)) plus the
 * first-order key-selection term (causalKeySelPairs, now only in the reported per-pair gradR).
 * Per-path MC: the file header (causal rows) and test/attention-causal-kcross.test.ts.
 * out: row k (n = 2^k, k = 1..K) at offset 21k; K = causalKcvTop(L).
 */
export function causalKcvTop(L: number): number { return Math.max(1, Math.ceil(Math.log2(Math.max(L, 2)))); }
/** kcv_n on the ρ nodes: t[21k + i] (n = 2^k), filled by causalKcvFill for the nodes a layer's pairs'
 * query correlations need (their cubic stencils) at every length */
/** (t1: t one length row on, the second table of interpRho's blend) */
export interface KcvRows { v: number; d: number; heads: number; K: number; ex: Float64Array; t: Float64Array; t1: Float64Array }
export function causalKcvRows(L: number, v: number, d: number, heads: number): KcvRows {
  const K = causalKcvTop(L), ex = new Float64Array(K + 1);
  for (let k = 1; k <= K && v > 0; k++) { attnSoftmaxStats(2 ** k, v, d, heads, KCS); ex[k] = KCS[0] - 1; }
  const t = new Float64Array(21 * (K + 1));
  return { v, d, heads, K, ex, t, t1: t.subarray(21) };
}
const KCS = new Float64Array(9), KCO = new Float64Array(2);
/** the first node of the cubic stencil at ρ (softmax.ts interpRho's) */
function kcvStencil(rho: number): number {
  const xr = (Math.max(-1, Math.min(1, rho)) + 1) * 10;
  return Math.max(0, Math.min(17, Math.floor(xr) - 1));
}
/** fill the nodes of every length that ρ in [rLo, rHi] reads */
export function causalKcvFill(R: KcvRows, rLo: number, rHi: number): void {
  if (!(R.v > 0)) return;
  const i0 = kcvStencil(rLo), i1 = kcvStencil(rHi) + 3;
  for (let k = 1; k <= R.K; k++) {
    const n = 2 ** k, ex = R.ex[k];
    if (!(ex > 1e-12)) continue;
    for (let i = i0; i <= i1; i++) { attnJacOverlap(n, R.v, i / 10 - 1, R.d, R.heads, KCO); R.t[21 * k + i] = (KCO[0] * n) / ex; }
  }
}
/** kcv_n(ρ) from filled causalKcvRows: linear in log₂ n between the power-of-two rows (n ≤ 2: the n = 2
 * row), cubic in ρ on the 21 nodes (softmax.ts interpRho: row k blended with row k + 1) */
export function causalKcvAt(R: KcvRows, n: number, rho: number): number {
  if (n < 2 || !(R.v > 0)) return 0;
  causalKcvNode(R.K, n, KCN, 0);
  return causalKcvAtNode(R, KCN[0], KCN[1], rho);
}
const KCN = new Float64Array(2);
/** causalKcvAt's length node for rows of n ≥ 2 keys at K = causalKcvTop(L): out[o] = k, out[o + 1] = w
 * (the same for every layer of a sequence length) */
export function causalKcvNode(K: number, n: number, out: Float64Array, o: number): void {
  const x = Math.min(Math.log2(n), K);
  const k = Math.max(1, Math.min(K - 1, Math.floor(x))), w = K < 2 ? 0 : Math.max(0, x - k);
  out[o] = k; out[o + 1] = w;
}
/** causalKcvAt at the length node (k, w) of causalKcvNode (n ≥ 2) */
export function causalKcvAtNode(R: KcvRows, k: number, w: number, rho: number): number {
  if (!(R.v > 0)) return 0;
  const r = Math.max(-1, Math.min(1, rho));
  // w = 0 (n a power of two, or K < 2 where row k + 1 does not exist): row k alone
  return w === 0 ? interpRho(R.t, R.t, 0, r, 21 * k) : interpRho(R.t, R.t1, w, r, 21 * k);
}
/** Per column j of a causal layer, Σ_{i≠i′≥j} E[wρD_{n_min}]/n_max (causalKcvRows; the K path's
 * cross-row term in units of g_h s_priv σ_s²/s′ r_g): 2Σ_{i≥j} E[wρD_{n_i}] Σ_{i′>i} 1/n_i′. */
export function causalKeyOverlapCols(k2: Float64Array, L: number, v: number, r1: number, d: number, heads: number): Float64Array {
  const out = new Float64Array(L), rows = causalKcvRows(L, v, d, heads);
  causalKcvFill(rows, r1, r1);
  let s = 0;
  const share = causalShareLaw(v, L, queryCosineDim(d, heads));
  for (let i = L - 1; i >= 0; i--) {
    const n = i + 1, f = (causalKcvAt(rows, n, r1) * Math.max(k2[n] - 1, 0)) / n;
    // the longer rows' share of weight on the shared keys, with its dependence on those keys' weights
    // (causal-share.ts F_D; F = 1 took it independent)
    let sInv = 0;
    if (f !== 0) for (let i2 = i + 1; i2 < L; i2++) sInv += share.at(r1, n, i2 + 1) / (i2 + 1);
    s += f * sInv;
    out[i] = 2 * s;
  }
  return out;
}

/** Causal attention as an object (row i has n_i = i + 1 keys; every quantity per position,
 * averaged over positions, pairs of positions for r) with its backward closure. */
function causalForward(p: AttentionParams, x: Moments): ForwardResult<CausalCache> {
  const d = p.dModel, L = p.seqLen, pa = p.attnDropout ?? 0, value = p.value !== false;
  const mu = x.mean;
  const s1 = x.var + mu * mu;
  const r1 = uncentredR(mu, x.var, x.r);
  const sigS = scoreVar(p, s1);
  const v = (1 - r1) * sigS;
  const c = softmaxRowCorrCos(v, r1, L, cosDim(p)); // averaged over the queries' cosine (softmax.ts)
  const sv = value ? d * (p.stdV ?? 0) ** 2 * s1 : s1; // uncentred value variance
  const rv = r1;
  // k2arr[n] = K2(n) = n²E[p²], jarr[n] = J(n) (softmax Jacobian gain, → 0 when saturated),
  // q4arr[n] = Q4(n), juarr[n] = E[uJ](n), n = 1..L: averaged over the rows' logit-variance factor u
  // (small head dimension, attnSoftmaxRows; as the kernel fwd's attnSoftmaxStats at n = L)
  const { k2: k2arr, jac: jarr, q4: q4arr, ju: juarr, tq: tqarr, tw: twarr, tx: txarr, ty: tyarr, m1: m1arr } = attnSoftmaxRows(v, L, d, p.heads);
  // the Q path's per-row gain per row length, with its coherent key–value term (qPathGain)
  const fq = queryDirFrac(d, p.heads), jqarr = new Float64Array(L + 1);
  for (let n = 1; n <= L; n++) jqarr[n] = qPathGain(jarr[n], tqarr[n], twarr[n], 1 - (2 * k2arr[n]) / n + q4arr[n], fq, d, pa);
  const K2L = k2arr[L], Q4L = q4arr[L];
  const X2 = (i: number, k: number) => (1 + c * Math.sqrt(Math.max(k2arr[i + 1] - 1, 0) * Math.max(k2arr[k + 1] - 1, 0))) / (Math.max(i, k) + 1);
  const tilt2 = (i: number) => tiltVar(txarr[i + 1], tyarr[i + 1], pa, d); // the row's tilt (tiltVar)
  const tilt = (i: number) => m1arr[i + 1] / Math.sqrt(d); // the mean tilt amplitude (two rows' product)
  const out = value ? d * (p.stdO ?? 0) ** 2 : 1; // W_o gain
  const meanShift = value ? 0 : mu * mu; // value:false keeps the mean: centred = uncentred − μ²
  const vGain = value ? d * (p.stdV ?? 0) ** 2 : 1;
  const qk = s1 > 0 ? sigS / s1 : 0; // dσ_q² · s_k  (= dσ_k² · s_q)
  const priv = sv * (1 - rv); // private value variance
  // per-position variances (all L) and the mean over position pairs of the correlation
  // Cov_ik/√(Var_i Var_k) (64 evenly spaced positions when L > 64)
  const pv = new Float64Array(L), sq = new Float64Array(L + 1);
  let sv2 = 0;
  for (let i = 0; i < L; i++) { pv[i] = posVar(sv, rv, k2arr[i + 1] / (i + 1), pa, tilt2(i)) - meanShift; sv2 += pv[i]; }
  for (let n = 1; n <= L; n++) sq[n] = Math.sqrt(Math.max(k2arr[n] - 1, 0));
  const varAvg = (out * sv2) / L;
  const pos = samplePositions(L);
  let sr = 0, np = 0;
  for (let a = 0; a < pos.length; a++) for (let b = a + 1; b < pos.length; b++) {
    const i = pos[a], k = pos[b], vi = pv[i], vk = pv[k];
    const x2 = (1 + c * sq[i + 1] * sq[k + 1]) / (Math.max(i, k) + 1);
    sr += vi > 0 && vk > 0 ? (sv * (rv + (1 - rv) * (x2 + r1 * tilt(i) * tilt(k))) - meanShift) / Math.sqrt(vi * vk) : 0; np++;
  }
  const rAvg = np > 0 ? sr / np : 0;
  // (reported per-pair gradR only — causalPairGradR's ksel; the variance takes kovArr below)
  // K-path key-selection term per column j (the kernel fwd's kSel, derived the same way per row):
  // rows i ≠ i′ ≥ j that both attend to key j have queries correlated along k_j — by Stein,
  // E[P_ij(1−P_ij) q_i | keys] ∝ k_j γ_i/n_i with γ_i/n_i = E[P(1−P)(1−2P)] of row i's own n_i keys
  // (γ = 1 − 2K2/n + Q4 − J, row-variance averaged) — so the non-causal L(L−1)γ²/L² becomes
  // Σ_{i≠i′≥j} γ_iγ_i′/(n_i n_i′) = (Σ_{i≥j} γ_i/n_i)² − Σ_{i≥j} (γ_i/n_i)², times (1−r′)²v(1/d_h + 2/d)
  // (1/d_h the Stein term, 2/d the key–value coherence; r_g multiplies it in the closure). On an
  // all-length-L row set it is the kernel's kSel exactly.
  const kselArr = causalKeySelPairs(k2arr, jarr, q4arr, L);
  // the K path's cross-row term per column (causalKeyOverlapCols: it replaces r′·cross·cen + kselArr,
  // which the reported per-pair gradR keeps)
  const kovArr = causalKeyOverlapCols(k2arr, L, v, r1, d, p.heads);
  // the Q covariance of two rows (qPathCovGain): Price's D_jl = c′(ρ)·sq_j·sq_l/(n_l v), c′/v that of
  // the length-L rows averaged over the query law (E[D]·L/(K2_L − 1)); T/J per row length
  attnJacOverlap(L, v, r1, d, p.heads, OVC);
  const dcv = K2L - 1 > 1e-9 ? (OVC[1] * L) / (K2L - 1) : NaN;
  const tjArr = new Float64Array(L + 1);
  for (let n = 1; n <= L; n++) tjArr[n] = jarr[n] > 0 ? tqarr[n] / jarr[n] : 1;
  {
    const unit = (1 - r1) * (1 - r1) * v * keySelFactor(d, p.heads);
    for (let j = 0; j < L; j++) kselArr[j] *= unit;
  }
    // ---- causal backward closure (needs the same per-position softmax statistics). Causal stacks
  // are folded position by position (src/causal.ts); this per-position average serves component
  // requests and the advisor's calibration fold.
  const causalGrad = (g: number, rg: number): GradMoments => {
    const k2c = k2arr, jc = jarr;
    const gh = value ? out * g : g; // gradient variance at the head outputs
    // per column j (V and K paths sum over rows i that see j), per row i (Q path)
    // suffix sums over rows i >= j (causal column statistics)
    const suf = { s2: new Float64Array(L + 1), s1: new Float64Array(L + 1), s1sq: new Float64Array(L + 1), sd1: new Float64Array(L + 1), sdsq: new Float64Array(L + 1), sj: new Float64Array(L + 1), w2: new Float64Array(L + 1) };
    const colVar = new Float64Array(L);
    for (let i = L - 1; i >= 0; i--) {
    const n = i + 1, k2 = k2c[n], ex = Math.max(k2 - 1, 0);
    suf.s2[i] = suf.s2[i + 1] + k2 / (n * n); suf.s1[i] = suf.s1[i + 1] + 1 / n; suf.s1sq[i] = suf.s1sq[i + 1] + 1 / (n * n);
    suf.sd1[i] = suf.sd1[i + 1] + Math.sqrt(ex) / n; suf.sdsq[i] = suf.sdsq[i + 1] + ex / (n * n);
    // K-path diagonal: each row's Jacobian gain weighted by its own |q_i|² ∝ u_i (E[uJ], as JuL)
    suf.sj[i] = suf.sj[i + 1] + juarr[n] / n;
    // E[P_ij P_il] for two columns of row i: (1 − (K2−1)/(n−1))/n²
    suf.w2[i] = suf.w2[i + 1] + (n > 1 ? (1 - (k2 - 1) / (n - 1)) / (n * n) : 0);
    }
    // gradR: the statistic is the mean over token pairs of the Pearson correlation; causal columns
    // have very different gradient sizes, so it is averaged per pair, not pooled (ΣCov/ΣVar).
    let vSum = 0;
    for (let j = 0; j < L; j++) {
    // rows i >= j see column j; E[P_ij²] = K2(n_i)/n_i², std(P_ij) ≈ √(K2−1)/n_i
    // (sumJ: Σ_i E[P'_ij²(1 − 2P_ij + Σ_k P_ik²)], sumP2: Σ_i E[P'_ij²], cross: Σ_{i≠k} E[P_ij P_kj])
    const s2 = suf.s2[j], s1r = suf.s1[j], s1sq = suf.s1sq[j], sd1 = suf.sd1[j], sdsq = suf.sdsq[j];
    const sumJ = suf.sj[j] / (1 - pa);
    const sumP2 = s2 / (1 - pa);
    const meanCross = s1r * s1r - s1sq;
    const cross = meanCross + c * (sd1 * sd1 - sdsq);
    const nRow = j + 1;
    const k2n = k2c[nRow], jn = jc[nRow];
    const Vp = gh * vGain * (sumP2 + rg * cross);
    // Q path: row j's own gain with its coherent key–value term (qPathGain, kernel fwd), row j's own
    // statistics (n = j + 1 keys) (formulas/attention-causal.ts carries the same per row)
    const Qp = gh * priv * (1 - r1) * qk * jqarr[nRow];
    // cross-row part of the K path: the row pairs' Jacobian overlap weighted by their queries' dot
    // product, E[wρD_{n_min}]/n_max per pair (causalKeyOverlapCols)
    const Kp = gh * priv * qk * (sumJ + rg * kovArr[j]);
    const vj = Vp + Qp + Kp;
    vSum += vj;
    colVar[j] = vj;
    }
    const gv = vSum / L;
    let grPearson: number;
    {
    // mean over column pairs (j < l) of Cov_jl/√(Var_j Var_l): V path
    //   (1 − r_g) Σ_{i ≥ l} E[P_ij P_il] + r_g (Σ_{i ≥ j} 1/n_i)(Σ_{k ≥ l} 1/n_k) (minus the i = k terms),
    // Q path r_g·X2(j, l) (rows j and l share their keys); K path ≈ 0
    const S = suf, cv = colVar;
    const pos = samplePositions(L);
    let sr = 0, np = 0;
    for (let a = 0; a < pos.length; a++) for (let b = a + 1; b < pos.length; b++) {
      const j = pos[a], l = pos[b];
      const vjl = (1 - rg) * S.w2[l] + rg * (S.s1[j] * S.s1[l] - S.s1sq[l]);
      // Q path: rows j and l share their keys (X2) and their coherent key–value terms, r_g(1 − S2_j)(1 − S2_l)/d
      // (Price's D_jl, off the plane of the two rows' logit directions in full: qPathCovGain; it was
      // the uncentred X2(j, l) + coh — MC h = 16, L = 32, σ_s² = 30, r = 0.5: mean pair Q covariance
      // 0.239 vs 0.0207 ± 0.0012, now 0.0219)
      const djl = dcv === dcv ? (sq[j + 1] * sq[l + 1] * dcv) / (Math.max(j, l) + 1) : X2(j, l);
      const coh = ((1 - k2c[j + 1] / (j + 1)) * (1 - k2c[l + 1] / (l + 1))) / d;
      const cjl = gh * vGain * vjl + gh * priv * (1 - r1) * qk * rg * qPathCovGain(djl, coh, fq, Math.sqrt(tjArr[j + 1] * tjArr[l + 1]));
      sr += cv[j] > 0 && cv[l] > 0 ? Math.min(cjl / Math.sqrt(cv[j] * cv[l]), 1) : 0; np++;
    }
    grPearson = np > 0 ? Math.max(-1, Math.min(1, sr / np)) : 0;
    }
    // Propagate the per-pair mean as well: the pooled ratio, dominated by the few early positions
    // with very large gradients, over-states the correlation a following block's column sums see
    // (with a position-averaged state on 48-layer causal Pre-LN stacks, d = 64, L = 32: layer-0
    // gradVar 52 per-pair vs 129 pooled against 48 ± 17 measured).
    return gmom(gv, grPearson, undefined, undefined, grPearson);
  };
  const kappa = outKappa(x.kappa ?? NaN, d, value, rv, K2L / L, Q4L, p.heads);
  return {
    out: mom(value ? 0 : mu, Math.max(varAvg, 0), Math.max(-1, Math.min(1, rAvg)), kappa, value ? 1 / d : x.nu),
    method: 'quadrature',
    warnings: saturationWarnings(p, x),
    cache: {
      causalGrad,
      // the per-pair cosine: each pair's population correlation times the two rows' factors
      // √E[B̄]·E[B̄^{−1/2}] (formulas/attention-cos.ts cosFactor, B = b0 + b1·Σ_k P_ik² per head)
      pairR: () => {
        const rel = keyNormVar(d, p.heads), h = Math.max(1, p.heads), b1 = (sv * (rv * pa + 1 - rv)) / (1 - pa);
        const fac = new Float64Array(L);
        for (const i of pos) fac[i] = cosFactor(i + 1, v, rel, h, k2arr[i + 1] / (i + 1), sv * (rv + (1 - rv) * tilt2(i)) - meanShift, b1);
        let s = 0, m = 0;
        for (let a = 0; a < pos.length; a++) for (let b = a + 1; b < pos.length; b++) {
          const i = pos[a], k = pos[b], vi = pv[i], vk = pv[k];
          const x2 = (1 + c * sq[i + 1] * sq[k + 1]) / (Math.max(i, k) + 1);
          s += vi > 0 && vk > 0 ? (fac[i] * fac[k] * (sv * (rv + (1 - rv) * (x2 + r1 * tilt(i) * tilt(k))) - meanShift)) / Math.sqrt(vi * vk) : 0; m++;
        }
        return Math.max(-1, Math.min(1, m > 0 ? s / m : 0));
      },
      pairGradR: (g, rg, batch) => {
        return causalPairGradR({ L, h: Math.max(1, p.heads), r1, c, k2: k2arr, jac: jarr, jq: jqarr, gh: value ? out * g : g, vGain, priv, qk, rg, pa, q4: q4arr, d, ju: juarr, ksel: kselArr, dh: headDim(p), dcv, fq, tq: tqarr, batch, phi: popPhi((1 - r1) * v, headDim(p), r1 > 0 ? softmaxRowCorrCos((1 - r1) * v, 0, L, cosDim(p)) : c, c) });
      },
    },
  };
}

export const attention: Block<AttentionParams, KernelCache | CausalCache> = defineBlock<AttentionParams, KernelCache | CausalCache>({
  params: [
    { name: 'dModel', kind: 'integer', min: 1, doc: 'model width d' },
    { name: 'heads', kind: 'integer', min: 1, doc: 'number of heads (divides dModel)' },
    { name: 'stdQ', kind: 'number', min: 0, doc: 'W_q std' },
    { name: 'stdK', kind: 'number', min: 0, doc: 'W_k std' },
    { name: 'stdV', kind: 'number', min: 0, optional: true, doc: 'W_v std (required when value is true)' },
    { name: 'stdO', kind: 'number', min: 0, optional: true, doc: 'W_o std (required when value is true)' },
    { name: 'value', kind: 'boolean', optional: true, default: true, doc: 'false: softmax(QKᵀ/√d_h)·X, no V/O projection' },
    { name: 'seqLen', kind: 'integer', min: 1, max: 65536, doc: 'sequence length L' },
    { name: 'causal', kind: 'boolean', optional: true, default: false, doc: 'causal mask' },
    { name: 'attnDropout', kind: 'number', min: 0, max: 1, maxExclusive: true, optional: true, default: 0, doc: 'dropout on attention probabilities' },
  ],
  doc: {
    name: 'attention',
    title: 'Multi-head softmax attention (+ causal mask, V/O projections, attention dropout)',
    source: 'derived here; reduces to DSLM single-head attention (Kedia et al. 2024) in the small-score, V-path-only limit',
    assumptions: [
      'weights iid Gaussian; the token-shared part of the keys cancels in the softmax',
      'row logits treated as iid Gaussian with variance (1 − r′)σ_s² (exact softmax moments for that model)',
      'a token enters its value and its logit through the same input: along the row’s logit direction the value component is the logit (the tilt tau, and the Q path’s T, W: exact given the row-variance law); off it the softmax weights are independent of the values',
      'upstream gradient independent of the forward activations',
    ],
    domain: 'any score variance (softmax saturates correctly); causal and non-causal; any heads dividing dModel',
    method: 'quadrature',
    symbols: {
      d: 'dModel', L: 'seqLen (n = L, or i+1 for causal row i)', s: 'input variance', r: 'input token correlation', mu: 'input mean',
      sq: 'σ_q', sk: 'σ_k', sv: 'σ_v', so: 'σ_o', pa: 'attention dropout', g: 'upstream gradient variance', rg: 'upstream gradient correlation',
      K2: 'n²E[p²] of the softmax at variance (1−r)σ_s² (exact; 1 for small scores)',
      tau: 'a row’s tilt (X + Y·pa/(1−pa))/d: along the row’s logit direction a private token is its logit, so the weighted mean of the private parts carries E[z̄_P²] instead of S2 there; X = E[z̄_P²] − S2, Y = E[Σ_j P_j² z_j²] − S2 (z the standardised logits, z̄_P = Σ_j P_j z_j, S2 = K2/L; averaged over u: tiltVar)',
      tm: 'two rows’ tilt product (E z̄_P)²/d, E z̄_P = E[√(vu)(1 − S2(vu))] (Stein)',
      T: 'E[Σ_j P_j²(z_j − z̄_P)²]: the Jacobian gain along the row’s own logit direction (softmaxTqInto; averaged over u)', W: 'E[(Σ_j P_j(z_j − z̄_P)²)²] (softmaxTqInto; averaged over u)',
      f: 'share of the keys’ variance along a row’s logit direction (≈ 1/d_h: queryDirFrac)', c: 'softmax row correlation averaged over the law of the two queries’ cosine in d_h dimensions (softmaxRowCorrCos)', J: 'softmax Jacobian gain Σ_j E[P_j²(1 − 2P_j + Σ_k P_k²)] (softmax block)', Q4: 'E[(Σ_k P_k²)²] (softmax block)', X2: 'cross-row Σ_j E[P_ij P_kj] = (1 + c(K2−1))/L',
      h: 'heads', v: 'row logit variance (1−r)σ_s²', JU: 'E[u J] over the rows’ logit-variance factor u (K path)', r_pop: 'the population ratio (the forward r row above)', EB: 'E[B] = b0 + b1 K2/L', Sbar: 'S = Σ_k P_ik² averaged over the h heads', b0: 'r + (1−r)tau (minus mu² for value: false)', b1: '(1 − r + r pa)/(1 − pa)', KO: 'E[wρ D(ρ)]: two rows’ Jacobian overlap D = Σ_j E[P_ij P_kj(1 − P_ij − P_kj + Σ_a P_ia P_ka)] = (K2 − 1)c′(ρ)/(L v) (Price), weighted by their queries’ cosine ρ and norm factor w, averaged over both (attnJacOverlap)',
    },
    forward: {
      mean: [{ expr: '0', when: 'value: true' }, { expr: 'mu', when: 'value: false' }],
      var: [
        { expr: 'd*so^2*d*sv^2*(s+mu^2)*(r + (1-r)*(K2/L/(1-pa) + tau) + r*pa/(1-pa)*K2/L)', when: 'non-causal, value: true (r = uncentred r′)' },
        { expr: 'd^2*sv^2*so^2*s*(r + (1-r)/(L*(1-pa)))', when: 'DSLM small-score limit' },
      ],
      r: [
        { expr: '(r + (1-r)*((1 + c*(K2-1))/L + r*tm))/(r + (1-r)*(K2/L/(1-pa) + tau) + r*pa/(1-pa)*K2/L)', when: 'population ratio E[o_i·o_j]/E|o_i|² (propagated by the engine); non-causal, mu = 0; c = softmax row correlation at (L, (1−r)σ_s²), averaged over the queries’ cosine (mean ≈ r, spread ~1/√d_h)' },
        { expr: 'r_pop * EB * E_Sbar[(b0 + b1*Sbar)^(-1/2)]^2', when: 'reported (component): config v1’s mean per-pair cosine (formulas/attention-cos.ts cosFactor). Per head |o_i|²/d ≈ B = b0 + b1 S, S = Σ_k P_ik², b0 = r + (1−r)tau, b1 = (1 − r + r pa)/(1−pa), EB = b0 + b1 K2/L; for rows with independent logits E[cos] = E[A]·E[B^(-1/2)]² exactly (keys exchangeable). E[S^(-1/2)] exact by a Laplace integral (S^(-1/2) = Z/√N), tabulated in ln σ per n, averaged over u; S lognormal matched on K2/L and E[S^(-1/2)]; Sbar the mean over h heads (Fenton–Wilkinson). Causal: each pair’s correlation times the two rows’ factors. Left out: the rows’ correlation through their queries (1–3 % of the factor at d_h = 4)' },
      ],
    },
    backward: {
      gradVar: [
        { expr: 'g*d*so^2*d*sv^2*((K2/L/(1-pa) + rg*(L-1)*X2) + s*(1-r)^2*d^2*sq^2*sk^2*s*(((1-f)*J + f*T)/(1-pa) + ((1-2*f)*T + f*W + (1-f)*(1 - 2*K2/L + Q4))/d) + s*(1-r)*d^2*sq^2*sk^2*s*(JU/(1-pa) + rg*(L-1)*KO))', when: 'non-causal, mu = 0 (V + Q + K paths; X2 the cross-row sum; K2, J, Q4 the softmax statistics averaged over the rows’ logit variance v·u, JU = E[uJ]; KO = E[wρD] the two rows’ Jacobian overlap weighted by their queries’ dot product, v = (1−r)σ_s²; the Q path (qPathGain): J on the directions the logits do not use, T along the row’s own logit direction, and the coherent key–value term /d)' },
        { expr: 'g*(d/h)*sv^2*(1 + (L-1)*rg*(1-pa))/(L*(1-pa))', when: 'DSLM (value path only, single head; ×d so² for W_o)' },
      ],
      gradR: [
        { expr: '(cov_V + cov_Q)/(var_V + var_Q + var_K)', when: 'pooled ratio (propagated); see the file header' },
        { expr: 'C*(E_U[E1^2] - E_U[(Ec2 - E1)^2/Vc]/(L-1)) + DQ*Eq^2 - E_U[EK*E1]/(L-1)', when: 'per-pair mean (reported, non-causal): E1 = E[c/sqrt(X) | U], Ec2 = E[c^2/sqrt(X)], Eq = E[sqrt(eta)/sqrt(X)], EK = E[K/sqrt(X)] over a hit model of the column sums c (the weight of a row sigmoid(y + eps), eps ~ N(0, ln K2p) iid over rows, as the two-point law of its first two moments: hit probability m1^2/m2, size m2/m1; the logit y of a key Gaussian on the popularity nodes (lognormal below the cap L), mixed toward the key-norm law by phi) with Gamma amplitudes of the K and Q paths, heads by the Laplace transform; the squares are E_U of products over the per-head, per-sequence scale U of the rows\' shared query (lognormal, relative variance 2(1+2d_h/d)/d_h, 3 nodes: each node\'s K2, row correlation and K-path factors at logit variance v(1-r\'+r\'U)), shared by the pair in the head that carries its numerator (ncPairGradR, ncScaleNodes)' },
        { expr: 'sum_{j<l} (C*E1_j*E1_l + D_jl*E2_j*E2_l) / (P*(P-1)/2)', when: 'per-pair mean (reported, causal) over P sampled positions: per-position E1, E2 over a hit model of the column sums c_j (causalPairGradR)' },
      ],
    },
  },
  kernelApplies: (p) => p.causal !== true,
  kernel: {
    fwd(p, S, i, o) {
      const d = p.dModel, L = p.seqLen, pa = p.attnDropout ?? 0, value = p.value !== false;
      const mu = S[i], s = S[i + 1];
      const s1 = s + mu * mu;
      const r1 = uncentredR(mu, s, S[i + 2]);
      const sigS = scoreVar(p, s1);
      const v = (1 - r1) * sigS;
      // two rows' softmax correlation, averaged over the cosine of their d_h-dimensional queries
      // (formulas/softmax.ts softmaxRowCorrCos): rows whose queries point alike pick the same keys
      // (the three tables below share ln v and the stencil in r′: attnSoftmaxStats, attnJacOverlap and
      // softmaxRowCorrCos evaluated in one pass, the same arithmetic — fwdTables)
      if (d !== KP[0] || p.heads !== KP[1] || L !== KP[2]) kernelPrep(d, p.heads, L);
      fwdTables(L, v, r1, d, p.heads);
      const c = SM[9];
      const sv = value ? d * (p.stdV ?? 0) ** 2 * s1 : s1; // uncentred value variance
      const rv = r1;
      // SM: K2 = L²E[p²], J, Q4, E[uJ], T, W: averaged over the rows' logit variance
      const K2L = SM[0], JL = SM[1], Q4L = SM[2], JuL = SM[3];
      const out = value ? d * (p.stdO ?? 0) ** 2 : 1; // W_o gain
      const meanShift = value ? 0 : mu * mu; // value:false keeps the mean: centred = uncentred − μ²
      const vGain = value ? d * (p.stdV ?? 0) ** 2 : 1;
      const qk = s1 > 0 ? sigS / s1 : 0; // dσ_q² · s_k  (= dσ_k² · s_q)
      const priv = sv * (1 - rv); // private value variance
      const x2 = (1 + c * Math.max(K2L - 1, 0)) / L; // X2: cross-row Σ_j E[P_ij P_kj]
      const t2 = tiltVar(SM[6], SM[7], pa, d), m1 = SM[8]; // the tilt (tiltVar)
      const vv = posVar(sv, rv, K2L / L, pa, t2), cc = sv * (rv + (1 - rv) * (x2 + (r1 * m1 * m1) / d));
      const cen = vv - meanShift;
      const varAvg = out * cen;
      const rAvg = cen > 0 ? (cc - meanShift) / cen : 0;
      // backward coefficients (the causal closure with one column, n = L everywhere):
      //   V: g_h dσ_v² [S2/(1−p) + r_g (L−1) X2]; Q: g_h s_priv (1−r′) σ_s²/s′ J/(1−p);
      //   K: g_h s_priv σ_s²/s′ [E[uJ]/(1−p) + r_g (L−1) E[wρD]];
      //   Cov: V g_h dσ_v² [(1 − (K2−1)/(L−1))/L + r_g ((L−1)/L − (K2−1)c/L)], K −K/(L−1),
      //   Q g_h s_priv (1−r′) σ_s²/s′ r_g {[1 − 2f(1 − T/J)]E[D] + (1 − f)coh}   (E[wρD], E[D]:
      //   attnJacOverlap; qPathCovGain: the rows' logit directions)
      const gh = value ? out : 1;
      const cross = (L - 1) * x2;
      // Q-path covariance of two rows: Σ_m E[P_jm P_lm (1 − P_jm − P_lm + Σ_a P_ja P_la)] = E[D], the
      // two rows' Jacobian overlap averaged over their query cosine (attnJacOverlap below; it was
      // X2·min(1, J/(K2/L)), which over-stated it at peaked rows: n = 128, v = 100, ρ = 0.5)
      // Two exact token-sum identities fix the O(1/L) parts of the covariance (derived here):
      //  K path: Σ_j dS_ij = 0 for every row, so Σ_j dk_j = Σ_i q_i Σ_j dS_ij = 0 per sequence and
      //    head — the K-path gradients sum to zero over the L tokens, and their pooled covariance is
      //    exactly −Var_K/(L − 1) (not 0: MC d = 64, L = 32, r = 0.2, σ_s² = 1: K-path r = −0.0323).
      //  V path: Σ_j c_j = L for the column sums c_j = Σ_i P_ij, so Cov(c_j, c_l) = −Var(c)/(L − 1)
      //    and Σ_{i≠k} E[P_ij P_kl] = E[c_j c_l] − Σ_i E[P_ij P_il] = 1 − Var(c)/(L − 1) − c0,
      //    Var(c) = (K2 − 1)(1 + (L − 1)c)/L: the r_g coefficient is (L − 1)/L − (K2 − 1)c/L, not
      //    (L − 1)/L (attention dropout leaves the j ≠ l terms unchanged: independent masks).
      const C = o + R_C;
      // Q path, coherent key–value term (derived here): the keys and values of a token are maps of
      // the same x_j, so for fixed weights δ_ij = dO_i·v_j and k_j correlate, E[δ_j k_j] = W_kᵀW_v dO_i,
      // with E|W_kᵀW_v dO|² = E[δ²]E|k|²/d (d the input width). Isserlis on Σ_j δ_j P_ij (k_j − k̄_i):
      // besides J, E[δ_j(k_j − k̄)] = c(1 − P_j) sums coherently to (1 − Σ_j P_ij²)c, and the crossed
      // pairing adds J — gain J + (1 − 2S2 + Q4 + J)/d. MC d = 64, L = 128, σ_s² = 1, r = 0 (any h):
      // Q path 0.0351 ± 0.0006 vs 0.0187 without, 0.0340 with. Two rows: r_g (1 − S2)²/d.
      // Along the row's own logit direction the keys are the logits: qPathGain carries that and the
      // logit part of δ (T, W for J, C2 there). It was J′ + (1 − 2S2 + Q4 + J′)/d (J′ = J/(1 − p_a)), 25–35 % high at
      // d_h = 4 and peaked rows (see qPathGain).
      const cohR = (1 - K2L / L) ** 2 / d, fq = KP[5];
      const vq = gh * priv * (1 - r1) * qk * qPathGain(JL, SM[4], SM[5], 1 - (2 * K2L) / L + Q4L, fq, d, pa);
      // Key selection (derived here). V path: the cross-row sum Σ_{i≠i′} E[P_ij P_i′j] counts that two
      // rows pick the same keys; given the two queries, the rows' logits over the keys are iid pairs
      // with correlation cos(q_i, q_i′), so X2 = (1 + c̄(K2 − 1))/L with c̄ the row correlation
      // averaged over the law of that cosine in d_h dimensions (softmaxRowCorrCos above) — exact for
      // Gaussian keys, where a first-order key-norm term (L−1)/L·β²Var(w), β = (v/2)γ, which this
      // file used before, over-shot at peaked rows (β²Var(w) ≫ 1: gradVar +20–30 % at 16 heads,
      // σ_s² ≥ 30). γ = 1 − 3S2 + 2S3 = 1 − 2S2 + Q4 − J = L·E[P(1−P)(1−2P)].
      // K path, cross-row part (r_g): dk_j = Σ_i dS_ij q_i/√d_h, so two rows i ≠ i′ add
      // E[dS_ij dS_i′j q_i·q_i′] = r_g E[(q_i·q_i′) P_ij P_i′j(1 − P_ij − P_i′j + Σ_a P_ia P_i′a)]: the
      // Jacobian overlap D of the two rows weighted by their queries' dot product, whose cosine ρ is
      // the one that sets the rows' logit correlation (rows whose queries point alike pick the same
      // keys AND add their query vectors coherently; the back-projection through W_k measures both in
      // the same metric). Summed over i′ ≠ i: (L − 1)E[wρ D(ρ)] in units of the diagonal's J
      // (attnJacOverlap: D the exact two-row overlap of softmax.ts, averaged over the law of ρ at r′
      // and the rows' norm factors w). This replaces r′(L−1)X2·min(1, J/(K2/L)) (the ρ ≡ r′
      // part) and the first-order Stein term (1−r′)²v γ²(L−1)/L·(1/d_h + 2/d) (the spread of ρ to
      // first order: 1/d_h + 2/d = 1/queryCosineDim is exactly the law's E[ρ²]; the 2/d was read as a
      // key–value coherence, but an MC whose values come from independent tokens — no W_vW_kᵀ
      // coherence — gives the same K path: d = 64, L = 128, σ_s² = 3, r = 0, cross-row K at r_g = 1
      // h = 1 0.314 ± 0.018 vs 0.284 ± 0.014 coherent, h = 16 1.730 ± 0.052 vs 1.760 ± 0.041), which
      // over-stated it at peaked rows and small d_h. Cross-row K (r_g = 1, r = 0, d = 64; MC of
      // test/mc/attention-paths.ts, 60 trials, B = 2: the K path's variance at r_g = 1 minus at r_g = 0,
      // σ_v = σ_o = 1/√d; first order = this file's previous term): (L, h, σ_s²) =
      // (32, 16, 10) 2.22 vs 2.36 ± 0.11 (first order 3.35), (32, 16, 30) 3.81 vs 4.06 ± 0.22 (5.92),
      // (32, 16, 100) 5.11 vs 5.50 ± 0.42 (7.49), (128, 4, 30) 3.54 vs 3.28 ± 0.18 (3.63),
      // (128, 16, 3) 1.70 vs 1.76 ± 0.04 (1.67), (128, 16, 100) 19.95 vs 20.7 ± 0.6 (21.3),
      // (128, 1, 3) 0.280 vs 0.284 ± 0.014 (0.275). With queryCosineDim's Fisher law instead of the
      // sampled anisotropic one at d_h = 4: (128, 16, 100) 25.8, (32, 16, 10) 2.61 (the fractional
      // dimension's weight near ρ = ±1, where peaked rows' D lives).
      // OV = attnJacOverlap(L, v, r1, d, p.heads) (fwdTables)
      const kv0 = gh * priv * qk * (JuL / (1 - pa)), kv1 = gh * priv * qk * (L - 1) * OV[0]; // K-path variance
      const kc = L > 1 ? 1 / (L - 1) : 0;
      const cp1 = gh * vGain * ((L - 1) / L - (L > 1 ? (Math.max(K2L - 1, 0) * c) / L : 0)) - kv1 * kc; // V and K paths
      const cq1 = gh * priv * (1 - r1) * qk * qPathCovGain(L > 1 ? OV[1] : 1, cohR, fq, JL > 0 ? SM[4] / JL : 1);
      S[C] = gh * vGain * (K2L / L / (1 - pa)) + kv0 + vq; // v0
      S[C + 1] = gh * vGain * cross + kv1; // v1
      S[C + 2] = gh * vGain * (L > 1 ? (1 - (K2L - 1) / (L - 1)) / L : 0) - kv0 * kc; // c0
      S[C + 3] = cp1 + cq1; // c1
      S[C + 4] = vq; S[C + 5] = cp1; S[C + 6] = cq1;
      // K2 for the per-pair statistic (reportedGradR) and the engine's Post-LN terms, J (row-variance
      // averaged) for the engine's Post-LN terms (src/engine.ts homogForward: not recomputed there)
      S[C + 7] = K2L; S[C + 8] = JL;
      const wK = outKappaWishart(S[i + 3], d, value, rv, K2L / L), kappa = wK + outKappaRows(rv, K2L / L, Q4L, p.heads);
      const rO = Math.max(-1, Math.min(1, rAvg));
      setM(S, o, value ? 0 : mu, Math.max(varAvg, 0), rO, kappa, value ? 1 / d : S[i + 4], 1);
      // pair fluctuations (cosGap): the value vectors' (input's and W_v's Wishart sample, reduced by
      // the averaging as in κ) and W_o's, with Gaussian structure at the output correlation; the rows'
      // own concentration fluctuation (κ's row term) is left out of the two covariances (not derived)
      setFGauss(S, o, wK, rO);
      S[o + R_WARN] = v > SATURATED ? 1 : 0;
    },
    bwd(_p, S, _i, o, G, gi, go) {
      const C = o + R_C, g = G[gi], rg = G[gi + 1];
      const gv = g * (S[C] + S[C + 1] * rg);
      const cov = Math.min(g * (S[C + 2] + S[C + 3] * rg), gv);
      // the pooled ratio, which is what propagates (a weighted sum of token gradients has the pooled
      // covariance); config v1's per-pair statistic is reportedGradR
      setG(G, go, gv, gv > 0 ? Math.max(-1, Math.min(1, cov / gv)) : 0);
    },
  },
  forward(p, x) {
    return p.causal === true ? causalForward(p, x) : kernelForward(attention.kernel!, p, x, saturationWarnings);
  },
  backward(p, x, f, g) {
    const k = f.cache;
    return Array.isArray(k) ? kernelBackward(attention.kernel!, p, x, f as ForwardResult<KernelCache>, g) : k.causalGrad(g.var, g.r);
  },
  reportedR(p, x, f) {
    const k = f.cache;
    if (!Array.isArray(k)) return k.pairR();
    if (!(f.out.var > 0) || !(p.seqLen > 1)) return f.out.r;
    // the kernel's r is the population ratio E[o_i·o_j]/E|o_i|²; config v1's statistic is the mean
    // per-pair cosine, the ratio times the rows' factor² (formulas/attention-cos.ts cosFactor)
    const d = p.dModel, L = p.seqLen, pa = p.attnDropout ?? 0, value = p.value !== false, mu = x.mean;
    const s1 = x.var + mu * mu, r1 = uncentredR(mu, x.var, x.r), v = (1 - r1) * scoreVar(p, s1);
    attnSoftmaxStats(L, v, d, p.heads, SMP); // memoised: the forward filled it
    const sv = value ? d * (p.stdV ?? 0) ** 2 * s1 : s1, ms = value ? 0 : mu * mu;
    const b0 = sv * (r1 + (1 - r1) * tiltVar(SMP[6], SMP[7], pa, d)) - ms, b1 = (sv * (r1 * pa + 1 - r1)) / (1 - pa);
    const fc = cosFactor(L, v, keyNormVar(d, p.heads), Math.max(1, p.heads), SMP[0] / L, b0, b1);
    return Math.max(-1, Math.min(1, f.out.r * fc * fc));
  },
  reportedGradR(p, x, f, g, back, batch) {
    const k = f.cache;
    if (!Array.isArray(k)) return back.var > 0 ? k.pairGradR(g.var, g.r, batch) : back.rPearson ?? back.r;
    if (!(back.var > 0)) return back.rPearson ?? back.r;
    const C = R_C, vq = k[C + 4], K2L = k[C + 7], L = p.seqLen;
    logitVar(p, x, VR);
    const c = softmaxRowCorrCos(VR[0], VR[1], L, cosDim(p)); // the softmax row correlation (kernel fwd)
    if (!(L > 1)) return back.rPearson ?? back.r;
    // the per-token variance split (per unit upstream variance) from the kernel's coefficients:
    // V path ghv[r_g c² + (1/(1−p_a) − r_g) q] (its means are the kernel's V terms: E[c² − q] =
    // (L−1)X2, E[q] = K2/L), K path bK q + aK (c² − q) (the kernel's K-path v0 and r_g·v1), Q path vq
    const pa = p.attnDropout ?? 0, value = p.value !== false, rg = g.r;
    const ghv = value ? p.dModel * (p.stdO ?? 0) ** 2 * p.dModel * (p.stdV ?? 0) ** 2 : 1;
    const crossE = (L - 1) * ((1 + c * Math.max(K2L - 1, 0)) / L);
    const kv0 = Math.max(k[C] - ghv * (K2L / L / (1 - pa)) - vq, 0);
    const kv1 = Math.max(k[C + 1] - ghv * crossE, 0);
    const bK = K2L > 0 ? kv0 / (K2L / L) : 0, aK = crossE > 0 ? (kv1 * rg) / crossE : 0;
    const c0v = (1 - Math.max(K2L - 1, 0) / (L - 1)) / L; // E[Σ_i P_ij P_il], j ≠ l (kernel c0)
    const Ecc = 1 - ((Math.max(K2L - 1, 0) * (1 + (L - 1) * c)) / L) / (L - 1); // E[c_j c_l]
    attnSoftmaxStats(L, VR[0], p.dModel, p.heads, SMP); // Q4 (memoised: the forward filled it)
    const Q4L = SMP[2];
    attnSoftmaxStats(L, (1 - VR[1]) * VR[0], p.dModel, p.heads, SMP); // a row's private logits: v(1 − ρ), ρ = r′
    const K2p = SMP[0], un = ncScaleNodes(p, L, VR[0], VR[1]);
    // (the nodes' fields listed, not spread: a spread into the literal took the slow generic path)
    return ncPairGradR({
      L, h: Math.max(1, p.heads), dh: headDim(p), K2: K2L, Q4: Q4L, c, K2p,
      av: ghv * rg, bv: ghv * (1 / (1 - pa) - rg), bK, aK, ga: vq,
      C: ghv * (rg + ((1 - rg) * c0v) / Math.max(Ecc, 1e-9)), DQ: k[C + 6] * rg,
      nU: un.nU, uW: un.uW, uK2: un.uK2, uC: un.uC, uFd: un.uFd, uFx: un.uFx,
      v: (1 - VR[1]) * VR[0], c0: VR[1] > 0 ? softmaxRowCorrCos((1 - VR[1]) * VR[0], 0, L, cosDim(p)) : c,
    });
  },
});

/**
 * DSLM single-head attention rows as published (reference/moment-formulas.md), extended to h heads
 * and W_o the way the paper composes blocks (heads concatenated: ×dσ_o²):
 *   s_w = dσ²σ_q²σ_k², σ_s² = d²σ_q²σ_k²σ⁴,
 *   Var = dσ_v²[rσ² + ((1−r)²(L−1)s_wσ⁴ + e^{(1−r)σ_s²}/(1−p)·((1−r)²·4s_wσ⁴ + (1−r)σ²))/L] · dσ_o²,
 *   Cov = dσ_v²[rσ² + (2(1−r)²dσ_q²σ_k²σ⁶ + (1−r)σ²)/L] · dσ_o²,
 *   gradVar = σ_g² dσ_o² dσ_v² (1 + (L−1)r_g(1−p))/(L(1−p))   (value path only),
 *   gradR = 1 (the published composition carries a gradient correlation of one through attention).
 * No causal form is published: the non-causal row is applied (with a warning).
 */
export const attentionPaper = defineBlock<AttentionParams, null>({
  params: attention.params,
  doc: { ...attention.doc, title: 'Attention (DSLM single-head rows)', source: 'DSLM single-head attention rows as published (value path only backward)', method: 'closed-form', domain: 'small scores; non-causal' },
  forward(p, x) {
    const d = p.dModel, L = p.seqLen, pa = p.attnDropout ?? 0, s = x.var + x.mean * x.mean, r = s > 0 ? (x.r * x.var + x.mean * x.mean) / s : 0;
    const q2 = p.stdQ * p.stdQ, k2 = p.stdK * p.stdK;
    const sw = d * s * q2 * k2, sigS = d * d * q2 * k2 * s * s;
    const gv = p.value === false ? 1 / d : (p.stdV ?? 0) ** 2, go = p.value === false ? 1 : d * (p.stdO ?? 0) ** 2;
    const E = Math.exp((1 - r) * sigS);
    const v = d * gv * (r * s + ((1 - r) ** 2 * (L - 1) * sw * s * s + (E / (1 - pa)) * ((1 - r) ** 2 * 4 * sw * s * s + (1 - r) * s)) / L) * go;
    const c = d * gv * (r * s + (2 * (1 - r) ** 2 * d * q2 * k2 * s * s * s + (1 - r) * s) / L) * go;
    const warnings = p.causal ? ['no published causal attention formula: the non-causal row is applied'] : [];
    return { out: { mean: p.value === false ? x.mean : 0, var: v, r: v > 0 ? Math.min(1, c / v) : 0 }, method: 'closed-form', warnings, cache: null };
  },
  backward(p, _x, _f, g) {
    const d = p.dModel, L = p.seqLen, pa = p.attnDropout ?? 0;
    const gv = p.value === false ? 1 / d : (p.stdV ?? 0) ** 2, go = p.value === false ? 1 : d * (p.stdO ?? 0) ** 2;
    return { var: (g.var * go * d * gv * (1 + (L - 1) * g.r * (1 - pa))) / (L * (1 - pa)), r: 1 };
  },
});
