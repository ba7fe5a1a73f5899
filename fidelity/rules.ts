/**
 * The fidelity study's error and tolerance rules (issue 4's targets), shared by the grid
 * (fidelity/run.ts) and the stored GPU measurements (fidelity/gpu.ts):
 *   error: var, gradVar, mean relative |pred − meas|/|meas|; r, gradR absolute;
 *   within: error ≤ max(floor, 2·noise), noise the seed-to-seed (trial-to-trial) std in error units;
 *   floors: components 5 % (relative) / 0.02 (absolute); stacks the same but gradVar 10 %.
 */
export type Q = 'mean' | 'var' | 'r' | 'gradVar' | 'gradR';
export const REL: Record<Q, boolean> = { mean: true, var: true, r: false, gradVar: true, gradR: false };

export interface Point {
  regime: string;
  /** human label of the case (all inputs) */
  case: string;
  /** stacks: depth and layer index */
  depth?: number;
  layer?: number;
  q: Q;
  measured: number | null;
  /** seed-to-seed (trial-to-trial) std of the measured statistic */
  std: number | null;
  /** standard error of the measured mean (std/√seeds) */
  se: number | null;
  seeds: number;
  ours: number | null;
  paper: number | null;
  errOurs: number | null;
  errPaper: number | null;
  /** seed noise in error units */
  noise: number | null;
  tol: number | null;
  okOurs: boolean | null;
  okPaper: boolean | null;
}

// ------------------------------------------------------------------ error rules

export const isComponent = (regime: string) => !regime.startsWith('stack');

export function floorOf(regime: string, q: Q): number {
  if (!REL[q]) return 0.02;
  if (q === 'gradVar' && !isComponent(regime)) return 0.10;
  return 0.05;
}

function err(q: Q, p: number | null, m: number): number {
  if (p === null || !Number.isFinite(p)) return Infinity;
  const d = Math.abs(p - m);
  if (!REL[q]) return d;
  return m !== 0 ? d / Math.abs(m) : (d === 0 ? 0 : Infinity);
}

export function makePoint(regime: string, label: string, q: Q, m: number | null, std: number | null, seeds: number, ours: number | null, paper: number | null, extra: { depth?: number; layer?: number } = {}): Point {
  const base = { regime, case: label, ...extra, q, measured: m, std, se: std === null ? null : std / Math.sqrt(seeds), seeds, ours, paper };
  if (m === null || std === null || !Number.isFinite(m)) {
    return { ...base, errOurs: null, errPaper: null, noise: null, tol: null, okOurs: null, okPaper: null };
  }
  const noise = REL[q] ? (m !== 0 ? std / Math.abs(m) : Infinity) : std;
  const tol = Math.max(floorOf(regime, q), 2 * noise);
  const eo = err(q, ours, m), ep = err(q, paper, m);
  return { ...base, errOurs: eo, errPaper: ep, noise, tol, okOurs: eo <= tol, okPaper: ep <= tol };
}

