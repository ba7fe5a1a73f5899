/**
 * Causal multi-head attention as a map of position-resolved kernels (used by the causal fold,
 * src/causal.ts). Derived here; on an exchangeable input (every position with the same variance
 * and every pair with the same correlation) it reproduces formulas/attention.ts's causal forward
 * (per-position variance, per-pair correlation) and its V, Q and K paths exactly (test/causal.test.ts).
 *
 * State. Per feature, the uncentred token-token second moment H_jl = E[x_jf x_lf] (the kernel of
 * the normalised input; its diagonal is each position's mean square). Positions are grouped into
 * clusters (src/causal.ts, `Grid`): singletons up to a size limit, so the map below is exact in
 * expectation position by position; beyond it, late positions in narrow clusters treated as
 * exchangeable (D_g their diagonal, O_gh the kernel of two distinct tokens, O_gg two distinct
 * tokens of the same cluster). A row of cluster g (n_g = t_g + 1 keys, t_g the cluster's middle
 * position) sees F_ga = w_a·f_ga tokens of cluster a (f = 1 before g, the fraction up to t_g in g).
 *
 * Softmax weights. Row i's logits s_ij = q_i·k_j/√d_h: the key part shared by the row's visible
 * keys adds the same logit to the whole row and cancels, so the row sees n_i logits of variance
 *   v_i = dσ_q² H_ii · dσ_k² pk_i,   pk_i = T_i/(n_i − 1),   T_i = Σ_{j≤i} H_jj − (1/n_i)Σ_{j,l≤i} H_jl
 * (pk_i the private key variance among the visible keys; T_i = n_i × their scatter). From the
 * softmax block (exact for n iid logits): E[P_ij] = 1/n_i, E[P_ij²] = K2_i/n_i², the Jacobian gain J_i,
 * each averaged over the row's logit-variance factor u (|q_i|² spread at small head dimension, relative
 * variance 2(1 + 2d_h/d)/d_h: formulas/attention.ts attnSoftmaxStats, one 5-node average per cluster).
 * Fluctuations P_ij − 1/n_i sum to zero over a row; for two rows i ≤ k (nested key sets) the
 * covariance of the weights on their common columns j, l ≤ i is
 *   Cov(P_ij, P_kl) = γ_ik (δ_jl − 1/n_i),  γ_ii = (K2_i − 1)/(n_i(n_i − 1)),
 *   γ_ik = c_ik √((K2_i − 1)(K2_k − 1))/(n_k (n_i − 1))   (i < k),
 * zero outside the common columns: it sums to zero over either row, reproduces E[P_ij²] and the
 * cross-row Σ_j E[P_ij P_kj] = (1 + c√((K2_i−1)(K2_k−1)))/max(n_i, n_k) of formulas/attention.ts;
 * c_ik = softmax row correlation at the two rows' query correlation H_ik/√(H_ii H_kk).
 *
 * Forward (weights independent of the values v = x W_v, kernel dσ_v² H; then W_o: ×dσ_o²):
 *   E[o_i o_k] = dσ_o² dσ_v² Σ_{j,l} E[P_ij P_kl] H_jl
 *             = dσ_o² dσ_v² [ M_ik/(n_i n_k) + γ_ik T_min(i,k) + δ_ik (p_a/(1−p_a)) K2_i/n_i² S1_i ],
 *   M_ik = Σ_{j≤i, l≤k} H_jl,  S1_i = Σ_{j≤i} H_jj  (attention dropout p_a adds the last term).
 * Backward, upstream gradient kernel G at the attention output, G_o = dσ_o² G at the heads:
 *   V path: dv = Pᵀ g_o, so its kernel dσ_v² E[Pᵀ G_o P] is the ADJOINT of the forward map in
 *     H (⟨E[P H Pᵀ], G⟩ = ⟨H, E[Pᵀ G P]⟩); it is computed as that adjoint (prefix sums become
 *     suffix sums): main term Σ_{i≥j, k≥l} G_o,ik/(n_i n_k), fluctuation Σ_m W_m (δ_jl − 1/n_m)
 *     over j, l ≤ m, W_m = Σ_{min(i,k)=m} γ_ik G_o,ik.
 *   Q path (dS_ij = P_ij g_o,i·(v_j − v̄_i), dq_i = Σ_j dS_ij k_j/√d_h): only private value and
 *     key parts pass (shared parts cancel against the row's weighted mean), so
 *     G^Q_ii = dσ_o²dσ_q²dσ_k² G_ii pk_i pv_i J_i/(1−p_a),   pv = dσ_v² pk  (J_i → qPathGain's per-row
 *     gain, coherent term included: along the row's own logit direction the keys are its logits),
 *     G^Q_ik = dσ_o²dσ_q²dσ_k² G_ik pk_m pv_m X_ik (m the shorter row, X_ik = Σ_j E[P_ij P_kj]),
 *     plus the coherent key–value term (k_j and v_j are maps of the same token: E[(g_o,i·v_j) k_j] =
 *     W_kᵀW_v g_o,i, squared norm 1/d of E[(g_o·v)²]E|k|², summing coherently over the row)
 *     dσ_o²dσ_q²dσ_k² G_ii pk_i pv_i (1 − 2K2_i/n_i + Q4_i + J_i/(1−p_a))/d on the diagonal and
 *     G_ik √(pk_i pv_i pk_k pv_k)(1 − K2_i/n_i)(1 − K2_k/n_k)/d for two rows,
 *     as formulas/attention.ts (its variance and its per-pair covariance).
 *   K path (dk_j = Σ_i dS_ij q_i/√d_h): Σ_j dS_ij = 0 for every row, so Σ_j dk_j = 0 — the K-path
 *     gradient has zero sum over positions. Row pairs (i, k) (q_i·q_k ≈ d_h dσ_q² H_ik) put
 *     α_ik = dσ_o²dσ_q²dσ_k² G_ik H_ik pv E[P_ij P_kj (centred)] on each common column j
 *     (α_ii: E[uJ]_i/n_i/(1−p_a), each row's gain weighted by its own |q_i|² ∝ u_i; α_ik: the two
 *     rows' Jacobian overlap weighted by their queries' dot product, √(H_ii H_kk) E[wρD_m]/n_max with
 *     ρ = H_ik/√(H_ii H_kk) and m the shorter row (formulas/attention.ts causalKcvRows: the longer
 *     row's share n_m/n_max of its weight on the shared keys, times causal-share.ts F̄_D(n_m, n_max)
 *     for that share's dependence on the shared keys' weights, at the layer's v and the pair's ρ;
 *     kcv = E[wρc′]/v once per layer at the longest rows' variance, times the shorter row's own
 *     K2 − 1) and, by the zero-sum over the row, −α/(n_m − 1) on every pair of
 *     common columns: G^K = Σ_m (n_m/(n_m − 1)) Σ_{min(i,k)=m} α_ik (δ_jl − 1/n_m) over j, l ≤ m —
 *     the adjoint of T_m, so it reuses the V path's adjoint.
 *   The three weight matrices are independent: G_in = G^V + G^Q + G^K.
 */
import { attnJacOverlap, attnSoftmaxStats, attnSoftmaxStatsDirect, causalKcvAtNode, causalKcvFill, causalKcvNode, causalKcvTop, causalKcvRows, qPathCovGain, qPathGain, tiltVar, type AttentionParams } from './attention.js';
import { queryCosineDim, queryDirFrac, softmaxRowCorrCos } from './softmax.js';
import { causalShareLaw, shareNodes } from './causal-share.js';

/** Position clusters (see src/causal.ts). */
export interface Grid {
  L: number; P: number;
  /** tokens per cluster */ w: Float64Array;
  /** first position */ start: Int32Array;
  /** representative (middle) position; its row has n = t + 1 keys */ t: Int32Array;
  n: Float64Array;
  /** fraction of its own cluster a row of cluster g sees ((t − start + 1)/w) */ fo: Float64Array;
  /** weights of ordered pairs of distinct tokens: w_g w_h, and w_g(w_g − 1) on the diagonal */ omega: Float64Array;
  /** (filled on first use by causalAttentionForward) per pair of clusters g ≤ h, the causal-share
   * look-up's nodes for the rows' lengths (causal-share.ts shareNodes; 6 per pair at 6(gP + h)) */
  shareGeo?: Float64Array;
  /** (filled on first use) per cluster, causalKcvAt's length node for its rows (formulas/attention.ts causalKcvNode; 2 per cluster) */
  kcvNodes?: Float64Array;
}

/** Kernel over clusters: D diagonal, O (P×P, symmetric) two distinct tokens. */
export interface Kernel { D: Float64Array; O: Float64Array }

export interface CausalAttnCache {
  HD: Float64Array; HO: Float64Array;
  K2: Float64Array; J: Float64Array; sq: Float64Array; pk: Float64Array; cen: Float64Array;
  /** row correlation c_gh and γ (fluctuation coefficients), P×P; gD the diagonal γ_ii */
  c: Float64Array; gO: Float64Array; gD: Float64Array;
  pa: number; vGain: number; oGain: number; qk: number;
  /** E[(Σ_k P_k²)²] per cluster's row and the model width (the Q path's coherent key–value term) */
  q4: Float64Array; d: number;
  /** small head dimension: E[uJ] per cluster's row (the K path's diagonal weights each row's
   * Jacobian gain by its own |q_i|² ∝ u_i) */
  ju: Float64Array;
  /** the K path's cross-row overlap per pair of clusters (P×P): √(H_gg H_hh)·E[wρD_{n_lo}]/n_hi
   * (formulas/attention.ts causalKcvRows / causalKeyOverlapCols) */
  kov: Float64Array;
  /** the Q path's per-row gain per cluster's row, with its coherent key–value term
   * (formulas/attention.ts qPathGain: T, not J, along the row's own logit direction) */
  jq: Float64Array;
  /** the Q path's two-row covariance (formulas/attention.ts qPathCovGain): per pair of clusters the
   * rows' Jacobian overlap D_gh (P×P, Price), per cluster T/J, and the logit-direction share f */
  dq: Float64Array; tj: Float64Array; fq: number;
}

export interface CausalAttnOut {
  out: Kernel;
  cache: CausalAttnCache;
  /** per cluster: shared fraction of the visible values, K2/n, and Q4 (for the per-token dispersion) */
  share: Float64Array; q4: Float64Array;
  /** largest logit variance over rows (saturation warning) */
  maxV: number;
}

/** Scratch P×P arrays, reused from call to call (every entry written before it is read; none is
 * kept in a returned kernel or cache): prefix's R and M, the backward's coefM and adjoint's Z. */
let SR = new Float64Array(0), SM = new Float64Array(0), SC = new Float64Array(0), SZ = new Float64Array(0);
const scratchFits = (a: Float64Array, n: number) => a.length === n;

/** Prefix sums of the forward map: S1_g, M_gh (P×P) for a kernel H (M: scratch, valid until the next call). */
function prefix(grid: Grid, H: Kernel): { S1: Float64Array; M: Float64Array } {
  const { P, w, fo } = grid, { D, O } = H;
  if (!scratchFits(SR, P * P)) { SR = new Float64Array(P * P); SM = new Float64Array(P * P); }
  const cum = new Float64Array(P), R = SR, M = SM;
  for (let g = 0; g < P; g++) {
    const wf = w[g] * fo[g], wg = w[g], row = g * P;
    for (let b = 0; b < P; b++) { const o = O[row + b]; R[row + b] = cum[b] + wf * o; cum[b] += wg * o; }
  }
  for (let g = 0; g < P; g++) {
    let run = 0;
    const row = g * P;
    for (let h = 0; h < P; h++) { const r = R[row + h]; M[row + h] = run + w[h] * fo[h] * r; run += w[h] * r; }
  }
  // diagonal-count term: tokens visible to the shorter row count D_a instead of O_aa
  const S1 = new Float64Array(P), Dc = new Float64Array(P);
  let c1 = 0, cd = 0;
  for (let m = 0; m < P; m++) {
    const dd = D[m] - O[m * P + m];
    S1[m] = c1 + w[m] * fo[m] * D[m]; c1 += w[m] * D[m];
    Dc[m] = cd + w[m] * fo[m] * dd; cd += w[m] * dd;
  }
  for (let g = 0; g < P; g++) for (let h = 0; h < P; h++) M[g * P + h] += Dc[Math.min(g, h)];
  return { S1, M };
}

const OVF = new Float64Array(2), SMF = new Float64Array(9);
/** scratch: the rows' query correlations of one causalAttentionForward call (not kept) */
let QC = new Float64Array(0);
export function causalAttentionForward(p: AttentionParams, grid: Grid, H: Kernel): CausalAttnOut {
  const { P, n, L } = grid;
  const d = p.dModel, pa = p.attnDropout ?? 0;
  const vGain = d * (p.stdV ?? 0) ** 2, oGain = d * (p.stdO ?? 0) ** 2, qGain = d * p.stdQ * p.stdQ, kGain = d * p.stdK * p.stdK;
  const { S1, M } = prefix(grid, H);
  const HD = H.D, HO = H.O;
  const T = new Float64Array(P), pk = new Float64Array(P), K2 = new Float64Array(P), J = new Float64Array(P), sq = new Float64Array(P), cen = new Float64Array(P), v = new Float64Array(P), q4 = new Float64Array(P), share = new Float64Array(P);
  const ju = new Float64Array(P), jq = new Float64Array(P), ST = new Float64Array(9), tj = new Float64Array(P);
  const tx = new Float64Array(P), ty = new Float64Array(P), m1 = new Float64Array(P); // the tilt's X, Y, M1 (attention.ts tiltVar)
  const fq = queryDirFrac(d, p.heads);
  let maxV = 0;
  for (let g = 0; g < P; g++) {
    const ng = n[g];
    T[g] = S1[g] - M[g * P + g] / ng;
    pk[g] = ng >= 2 ? Math.max(T[g], 0) / (ng - 1) : 0;
    v[g] = qGain * HD[g] * kGain * pk[g];
    if (v[g] > maxV) maxV = v[g];
    if (ng >= 2 && v[g] > 0) {
      // averaged over the row's logit-variance factor u (|q_i|² spread at small head dimension,
      // formulas/attention.ts attnSoftmaxStats; one 5-node average per cluster's row)
      attnSoftmaxStatsDirect(ng, v[g], d, p.heads, ST);
      K2[g] = ST[0]; J[g] = ST[1]; q4[g] = ST[2]; ju[g] = ST[3]; jq[g] = qPathGain(ST[1], ST[4], ST[5], 1 - (2 * ST[0]) / ng + ST[2], fq, d, pa);
      tx[g] = ST[6]; ty[g] = ST[7]; m1[g] = ST[8]; tj[g] = ST[1] > 0 ? ST[4] / ST[1] : 1;
    } else { K2[g] = 1; J[g] = 0; q4[g] = 1 / (ng * ng); jq[g] = (1 - 2 / ng + q4[g]) / d; } // J taken 0 here: the coherent term only, as before
    sq[g] = Math.sqrt(Math.max(K2[g] - 1, 0));
    cen[g] = K2[g] > 0 ? Math.min(1, J[g] / (K2[g] / ng)) : 1;
    const meanDiag = S1[g] / ng;
    share[g] = meanDiag > 0 ? Math.max(0, Math.min(1, 1 - pk[g] / meanDiag)) : 0;
  }
  // query correlation of two rows (of their tokens' normalised inputs), g ≤ h: computed once per
  // pair into scratch (read by the range, the row correlations, the K path's overlap and the tilt)
  if (QC.length < P * P) QC = new Float64Array(P * P);
  const qc = QC;
  for (let g = 0; g < P; g++) for (let h = g; h < P; h++) { const den = Math.sqrt(HD[g] * HD[h]); qc[g * P + h] = den > 0 ? Math.max(-1, Math.min(1, HO[g * P + h] / den)) : 0; }
  const cosDim = queryCosineDim(d, p.heads);
  // row correlations and fluctuation coefficients
  const c = new Float64Array(P * P), gO = new Float64Array(P * P), gD = new Float64Array(P), dq = new Float64Array(P * P), kov = new Float64Array(P * P);
  // the Q path's two-row Jacobian overlap, Price: D_gh = c′(ρ)·sq_g·sq_h/(n_hi v), c′/v that of length-L
  // rows averaged over the query law (attnJacOverlap's E[D]·L/(K2_L − 1)), once per layer at the
  // longest rows' variance and query correlation (as formulas/attention.ts's per-pair model, which
  // takes it at the layer's v and r′; per pair of clusters it cost the 1000-layer causal predict +15 %)
  let dcv = NaN;
  // the K path's cross-row overlap (formulas/attention.ts causalKcvRows): kcv_n = E[wρc′_n]/v at the
  // power-of-two lengths, once per layer at the longest rows' variance (as dcv), each pair at its own
  // query correlation, with the shorter row's own (K2 − 1): √(H_gg H_hh) E[wρD_{n_lo}]/n_hi
  const kRows = causalKcvRows(L, v[P - 1], d, p.heads), kShare = causalShareLaw(v[P - 1], L, cosDim);
  {
    let rLo = 1, rHi = -1;
    for (let g = 0; g < P; g++) for (let h = g; h < P; h++) { const q = qc[g * P + h]; if (q < rLo) rLo = q; if (q > rHi) rHi = q; }
    if (rHi >= rLo) causalKcvFill(kRows, rLo, rHi);
  }
  {
    const gl = P - 1, rl = Math.max(0, qc[gl * P + gl]);
    if (v[gl] > 0) {
      attnJacOverlap(L, v[gl], rl, d, p.heads, OVF); attnSoftmaxStats(L, v[gl], d, p.heads, SMF);
      if (SMF[0] - 1 > 1e-9) dcv = (OVF[1] * L) / (SMF[0] - 1);
    }
  }
  // the share look-up's geometry depends on the two rows' lengths only: once per grid (kShare.at(ρ, n_lo, n_hi) ≡ atNodes)
  const geo = (grid.shareGeo ??= shareGeometry(grid));
  // and causalKcvAt's length node per cluster's row (causalKcvAt(R, n, ρ) ≡ causalKcvAtNode at it for n ≥ 2)
  const kcvN = (grid.kcvNodes ??= kcvNodes(grid));
  for (let g = 0; g < P; g++) {
    gD[g] = n[g] >= 2 ? (K2[g] - 1) / (n[g] * (n[g] - 1)) : 0;
    for (let h = g; h < P; h++) {
      const lo = n[g] <= n[h] ? g : h, hi = lo === g ? h : g, qgh = qc[g * P + h];
      let cc = 0, gg = 0;
      if (sq[g] > 0 && sq[h] > 0 && n[lo] >= 2) {
        const rho = Math.max(0, qgh);
        cc = softmaxRowCorrCos(Math.sqrt(v[g] * v[h]), rho, L, cosDim);
        gg = (cc * sq[g] * sq[h]) / (n[hi] * (n[lo] - 1));
        dq[g * P + h] = dq[h * P + g] = dcv === dcv ? (dcv * sq[g] * sq[h]) / n[hi] : (cc * sq[g] * sq[h] + 1) / n[hi];
      }
      c[g * P + h] = c[h * P + g] = cc;
      gO[g * P + h] = gO[h * P + g] = gg;
      // (× the longer row's share's dependence on the shared keys' weights, causal-share.ts F̄_D)
      if (n[lo] >= 2 && K2[lo] > 1) kov[g * P + h] = kov[h * P + g] = (Math.sqrt(HD[g] * HD[h]) * causalKcvAtNode(kRows, kcvN[2 * lo], kcvN[2 * lo + 1], qgh) * (K2[lo] - 1) * kShare.atNodes(qgh, geo, 6 * (g * P + h))) / (n[lo] * n[hi]);
    }
  }
  const cache: CausalAttnCache = { HD, HO, K2, J, sq, pk, cen, c, gO, gD, pa, vGain, oGain, qk: qGain * kGain, q4, d, ju, kov, jq, dq, tj, fq };
  const { D, O } = valueMap(grid, cache, S1, M);
  // tilt (formulas/attention.ts tiltVar): row g's weighted mean of the private parts leans toward its
  // logit direction: + (X + Y p_a/(1 − p_a))/d of the private value variance vGain·pk_g, and two rows
  // add the product of their mean tilts M1/√d (their directions correlate like their queries,
  // H_gh/√(H_gg H_hh)). Added to the forward kernel only: the backward paths are unchanged (as in
  // formulas/attention.ts).
  const amp = new Float64Array(P);
  for (let g = 0; g < P; g++) amp[g] = n[g] >= 2 ? (m1[g] / Math.sqrt(d)) * Math.sqrt(vGain * pk[g]) : 0;
  for (let g = 0; g < P; g++) {
    D[g] += n[g] >= 2 ? oGain * vGain * pk[g] * tiltVar(tx[g], ty[g], pa, d) : 0;
    for (let h = g; h < P; h++) {
      const y = oGain * qc[g * P + h] * amp[g] * amp[h];
      O[g * P + h] += y; if (h !== g) O[h * P + g] += y;
    }
  }
  return { out: { D, O }, cache, share, q4, maxV };
}

/** causal-share.ts shareNodes for every pair of clusters g ≤ h (rows n_lo ≤ n_hi, tables for rows up to L) */
function shareGeometry(grid: Grid): Float64Array {
  const { P, n, L } = grid, out = new Float64Array(6 * P * P);
  for (let g = 0; g < P; g++) for (let h = g; h < P; h++) {
    const lo = n[g] <= n[h] ? g : h, hi = lo === g ? h : g;
    shareNodes(L, n[lo], n[hi], out, 6 * (g * P + h));
  }
  return out;
}

/** formulas/attention.ts causalKcvNode for every cluster's rows (n ≥ 2; K = causalKcvTop(L)) */
function kcvNodes(grid: Grid): Float64Array {
  const { P, n, L } = grid, out = new Float64Array(2 * P), K = causalKcvTop(L);
  for (let g = 0; g < P; g++) if (n[g] >= 2) causalKcvNode(K, n[g], out, 2 * g);
  return out;
}

/** The value path with the softmax statistics of `cache` held fixed (linear in H). */
function valueMap(grid: Grid, cache: CausalAttnCache, S1: Float64Array, M: Float64Array): Kernel {
  const { P, n } = grid;
  const { K2, gD, gO, pa, oGain, vGain } = cache;
  const T = new Float64Array(P);
  for (let g = 0; g < P; g++) T[g] = S1[g] - M[g * P + g] / n[g];
  const scale = oGain * vGain;
  const D = new Float64Array(P), O = new Float64Array(P * P);
  for (let g = 0; g < P; g++) {
    D[g] = scale * (M[g * P + g] / (n[g] * n[g]) + gD[g] * T[g] + ((pa / (1 - pa)) * K2[g] * S1[g]) / (n[g] * n[g]));
    for (let h = g; h < P; h++) {
      const y = scale * (M[g * P + h] / (n[g] * n[h]) + gO[g * P + h] * T[Math.min(g, h)]);
      O[g * P + h] = O[h * P + g] = y;
    }
  }
  return { D, O };
}

/** The value path applied to any kernel H with the softmax statistics of `cache` fixed (its
 * adjoint is the V path of causalAttentionBackward; used by the tests). */
export function causalValueMap(grid: Grid, cache: CausalAttnCache, H: Kernel): Kernel {
  const { S1, M } = prefix(grid, H);
  return valueMap(grid, cache, S1, M);
}

/**
 * Adjoint of the forward value map (and of T_m): given coefficients on M_gh (symmetric P×P),
 * on S1_g and on T_m, returns the kernel H̃ with ⟨Y(H), ·⟩ = ⟨H, H̃⟩ under the pair weights
 * (w_g on the diagonal, ω_gh off it).
 */
function adjoint(grid: Grid, coefM: Float64Array, coefS1: Float64Array, coefT: Float64Array): Kernel {
  const { P, w, fo, n, omega } = grid;
  // T_m = S1_m − M_mm/n_m
  for (let m = 0; m < P; m++) { coefS1[m] += coefT[m]; coefM[m * P + m] -= coefT[m] / n[m]; }
  const HD = new Float64Array(P), HO = new Float64Array(P * P);
  // Cmin_m = Σ_{(g,h): min(g,h) = m} coefM_gh
  const Cmin = new Float64Array(P);
  for (let m = 0; m < P; m++) {
    let s = coefM[m * P + m];
    for (let h = m + 1; h < P; h++) s += 2 * coefM[m * P + h];
    Cmin[m] = s;
  }
  // suffix sums: HD_a = Σ_{g>a} coefS1_g + fo_a coefS1_a + Σ_{m>a} Cmin_m + fo_a Cmin_a
  const diagCnt = new Float64Array(P);
  {
    let s1 = 0, cm = 0;
    for (let a = P - 1; a >= 0; a--) {
      HD[a] = s1 + fo[a] * coefS1[a] + cm + fo[a] * Cmin[a];
      diagCnt[a] = cm + fo[a] * Cmin[a];
      s1 += coefS1[a]; cm += Cmin[a];
    }
  }
  // Z_gb = w_b (Σ_{h>b} coefM_gh + fo_b coefM_gb);  X_ab = w_a (Σ_{g>a} Z_gb + fo_a Z_ab)
  if (!scratchFits(SZ, P * P)) SZ = new Float64Array(P * P);
  const Z = SZ; // every entry written below
  for (let g = 0; g < P; g++) {
    let s = 0;
    const row = g * P;
    for (let b = P - 1; b >= 0; b--) { Z[row + b] = w[b] * (s + fo[b] * coefM[row + b]); s += coefM[row + b]; }
  }
  const acc = new Float64Array(P);
  for (let a = P - 1; a >= 0; a--) {
    const row = a * P;
    for (let b = 0; b < P; b++) {
      const x = w[a] * (acc[b] + fo[a] * Z[row + b]);
      acc[b] += Z[row + b];
      HO[row + b] = x; // X_ab, divided below
    }
  }
  for (let a = 0; a < P; a++) for (let b = 0; b < P; b++) {
    const k = a * P + b, om = omega[k];
    if (a === b) HO[k] = om > 0 ? (HO[k] - w[a] * diagCnt[a]) / om : 0;
    else HO[k] = om > 0 ? HO[k] / om : 0;
  }
  // symmetrise (X is symmetric for symmetric coefM up to rounding)
  for (let a = 0; a < P; a++) for (let b = a + 1; b < P; b++) { const s = 0.5 * (HO[a * P + b] + HO[b * P + a]); HO[a * P + b] = HO[b * P + a] = s; }
  return { D: HD, O: HO };
}

/** Input-gradient kernel of causal attention for the upstream gradient kernel G. */
export function causalAttentionBackward(grid: Grid, cache: CausalAttnCache, G: Kernel): Kernel {
  const { P, w, n, omega } = grid;
  const { HD, K2, pk, gO, gD, pa, vGain, oGain, qk, d, ju, kov, jq, dq, tj, fq } = cache;
  const A = oGain * qk; // dσ_o² dσ_q² dσ_k²
  // coefM: scratch, every entry written in the loop below (the diagonal, then each pair both ways)
  if (!scratchFits(SC, P * P)) SC = new Float64Array(P * P);
  const coefM = SC, coefS1 = new Float64Array(P), coefT = new Float64Array(P);
  const outD = new Float64Array(P), outO = new Float64Array(P * P);
  const pv = (g: number) => vGain * pk[g];
  // Q path, coherent key–value term per row (formulas/attention.ts): amplitude √(pk pv)(1 − K2/n)
  const ca = new Float64Array(P);
  for (let g = 0; g < P; g++) ca[g] = Math.sqrt(pk[g] * pv(g)) * (1 - K2[g] / n[g]);
  for (let g = 0; g < P; g++) {
    const gd = oGain * G.D[g], ng = n[g];
    // V path (×dσ_v²): M_gg carries the diagonal and same-cluster distinct rows; T_g the fluctuation; S1_g the dropout term
    coefM[g * P + g] = vGain * (w[g] * gd + omega[g * P + g] * oGain * G.O[g * P + g]) / (ng * ng);
    coefT[g] += vGain * w[g] * gd * gD[g];
    coefS1[g] += vGain * w[g] * gd * ((pa / (1 - pa)) * K2[g]) / (ng * ng);
    // K path, row pairs (i, i): α = A G_ii H_ii pv E[uJ]/(n(1−p_a)) on every visible column; T-adjoint weight n/(n−1)
    if (ng >= 2) coefT[g] += (ng / (ng - 1)) * w[g] * A * G.D[g] * HD[g] * pv(g) * ju[g] / (ng * (1 - pa));
    // Q path, diagonal
    // (+ the coherent key–value term (1 − 2K2/n + Q4 + J)/d: the row's values and keys are maps of
    // the same tokens, E[(g_o,i·v_j) k_j] = W_kᵀW_v g_o,i, squared norm 1/d of E[(g_o·v)²]E|k|²)
    // (qPathGain: J·(1 − f) + T·f, the key component along the row's logit direction passing T)
    outD[g] += A * G.D[g] * pk[g] * pv(g) * jq[g];
    for (let h = g; h < P; h++) {
      const k = g * P + h;
      const m = n[g] <= n[h] ? g : h, nmax = Math.max(ng, n[h]);
      const go = oGain * G.O[k];
      const om = omega[k];
      const mult = g === h ? 1 : 2; // ordered pairs (g,h) and (h,g)
      if (g !== h) coefM[k] = coefM[h * P + g] = (vGain * om * go) / (ng * n[h]);
      // V fluctuation on the shorter row's columns
      coefT[m] += vGain * mult * om * go * gO[k];
      // K path, distinct rows: the two rows' Jacobian overlap weighted by their queries' dot product,
      // √(H_gg H_hh) E[wρD_{n_lo}]/n_hi per common column (kov; formulas/attention.ts causalKcvRows)
      if (n[m] >= 2) coefT[m] += (n[m] / (n[m] - 1)) * mult * om * A * G.O[k] * pv(m) * kov[k];
      // Q path, distinct rows: the two rows' Jacobian overlap D_gh (formulas/attention.ts
      // qPathCovGain: in full only off the plane of the two rows' logit directions; it was the
      // uncentred Σ_j E[P_ij P_kj] = cross/max(n)), + the two rows' coherent key–value terms,
      // G_gh √(pk pv)_g √(pk pv)_h (1 − K2_g/n_g)(1 − K2_h/n_h)(1 − f)/d
      const q = A * G.O[k] * (pk[m] * pv(m) * qPathCovGain(dq[k], 0, fq, Math.sqrt(tj[g] * tj[h])) + ((1 - fq) * ca[g] * ca[h]) / d);
      outO[k] += q; if (g !== h) outO[h * P + g] += q;
    }
  }
  const adj = adjoint(grid, coefM, coefS1, coefT);
  for (let g = 0; g < P; g++) outD[g] += adj.D[g];
  for (let k = 0; k < P * P; k++) outO[k] += adj.O[k];
  return { D: outD, O: outO };
}
