/** Forward moments of an activation tensor: every feature shares `mean`; `var` is the variance
 * over all entries; `r` the correlation between two different tokens of one sequence (centred). */
export interface Moments {
  mean: number;
  var: number;
  r: number;
}

/** Backward moments: variance of dLoss/dx over all entries and token-token correlation. */
export interface GradMoments {
  var: number;
  r: number;
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
