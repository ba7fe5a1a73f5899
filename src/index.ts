/**
 * signal-moments programmatic API.
 *   predict(config)      per-layer moments of a config v1 (or an array of them)
 *   component(request)   one block's forward/backward moments
 *   formulas(block?)     the catalogue: symbolic formulas, sources, assumptions, domains
 */
import { resolveConfig, resolveConfigs, toConfigV1, type ConfigV1, type ResolvedConfig } from './config.js';
import { predictResolved, type Prediction, type PredictOptions } from './engine.js';
export { component, type ComponentRequest } from './component.js';
export { formulas, formulaText, type FormulaEntry } from './symbolic.js';
export { InputError } from './errors.js';
import { fail, isObject, num, onlyKeys } from './errors.js';
export { resolveConfig, resolveConfigs, toConfigV1 };
export { buildPlan, runPlan, predictResolved } from './engine.js';
export type { ConfigV1, ResolvedConfig, Prediction, PredictOptions };
export type { Moments, GradMoments, ComponentAnswer, LayerMoments, Method } from './types.js';

/** Predict the per-layer profile of one config (object) — throws InputError on bad input. */
export function predict(config: readonly (ConfigV1 | Record<string, unknown>)[], opts?: PredictOptions): Prediction[];
export function predict(config: ConfigV1 | Record<string, unknown>, opts?: PredictOptions): Prediction;
export function predict(config: unknown, opts?: PredictOptions): Prediction | Prediction[];
export function predict(config: unknown, opts: PredictOptions = {}): Prediction | Prediction[] {
  const { configs, isArray } = resolveConfigs(config);
  checkPredictOptions(opts);
  const out = configs.map((c) => predictResolved(c, opts));
  return isArray ? out : out[0];
}
export { advise, advisedForHarness, calibrate, checkBands, limits, parseTarget, sensitivity, DEFAULT_TARGET, type Advice, type Target, type BandCheck } from './advise.js'; export { applyBasicScheme, SCHEMES, SCHEME_NAMES, deepnormConstants, type SchemeName } from './schemes.js'; export { hfToConfig, HF_FAMILIES, type HfImport } from './hf.js'; export { emit, EMIT_TARGETS } from './emit.js';

/** The options of predict(), validated as the config is (InputError naming `opts.<key>`). */
function checkPredictOptions(opts: unknown): void {
  if (opts === undefined) return;
  if (!isObject(opts)) fail('opts', 'must be an object {trace?, formula?, batch?}');
  onlyKeys(opts, ['trace', 'formula', 'batch'], 'opts');
  if (opts.trace !== undefined && typeof opts.trace !== 'boolean') fail('opts.trace', `must be true or false, got ${JSON.stringify(opts.trace)}`);
  if (opts.formula !== undefined && opts.formula !== 'ours' && opts.formula !== 'paper') fail('opts.formula', `must be ours or paper, got ${JSON.stringify(opts.formula)}`);
  if (opts.batch !== undefined && opts.batch !== Infinity) num(opts.batch, 'opts.batch', { min: 1, integer: true });
}
