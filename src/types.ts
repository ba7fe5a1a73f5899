/** Forward moments of an activation tensor: every feature shares `mean`; `var` is the variance
 * over all entries; `r` the correlation between two different tokens of one sequence (centred). */
export interface Moments {
  mean: number;
  var: number;
  r: number;
  /** per-token dispersion: relative variance, across tokens, of a token's mean square
   * (1/d)Σ_f x_f². 2/d for iid Gaussian features; 0 right after a norm. Drives the Jensen factor
   * E[1/v] of the next norm's backward pass. Optional: blocks that cannot tell leave it out. */
  kappa?: number;
  /** fraction of `var` carried by per-token feature means: Var_tokens(x̄_tok)/var. 1/d for iid
   * features and after any random linear map; 0 right after a LayerNorm. A LayerNorm's per-token
   * variance is E[v] = var·(1 − nu). */
  nu?: number;
  /** pair fluctuations beside kappa (formulas/_core.ts cosGap): Cov(B_i, B_j) and Cov(A_ij, B_i) of
   * two tokens' normalised mean squares B and dot product A (uncentred). They give the finite-width
   * gap between the mean per-pair cosine (config v1's r) and the pooled r. Optional: unknown. */
  pairK2?: number;
  pairKA?: number;
}

/** Backward moments: variance of dLoss/dx over all entries and token-token correlation. */
export interface GradMoments {
  var: number;
  r: number;
  /** alignment of the gradient with the token's own (centred) activation direction:
   * E[(g·x̂)²]/(E|g|²/d); 1 for an isotropic gradient, 0 right after a norm's backward pass
   * (its Jacobian projects that direction out). */
  align?: number;
  /** the same with the all-ones direction (the token mean). */
  alignMean?: number;
  /** the config-v1 statistic (mean over token pairs of the Pearson correlation) when it differs
   * from `r`, which is the pooled ratio ΣCov/ΣVar that propagates (a weighted sum of token
   * gradients has the pooled covariance). Set by blocks whose tokens get gradients of very
   * different sizes (causal attention); `component` reports it as gradR. */
  rPearson?: number;
}

export type Method = 'closed-form' | 'quadrature' | 'monte-carlo';

export interface ComponentAnswer {
  mean: number;
  var: number;
  r: number;
  gradVar: number;
  gradR: number;
  method: Method;
  warnings: string[];
}

export interface LayerMoments {
  layer: number;
  mean: number;
  var: number;
  r: number;
  gradVar: number;
  gradR: number;
}
