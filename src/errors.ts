/**
 * Errors a user can act on. The CLI prints `error: <message>` and exits with code 2, no stack
 * trace. `field` names the offending input path (e.g. `init.qk[3]`, `params.p`).
 */
export class InputError extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    // one line, always (a JSON.parse message can quote the input's own line breaks)
    const m = oneLine(message);
    super(field ? `${field}: ${m}` : m);
    this.name = 'InputError';
    this.field = field;
  }
}

export function fail(field: string, message: string): never {
  throw new InputError(field, message);
}

/** A finite number, or an InputError naming the field. */
export function num(v: unknown, field: string, opts: { min?: number; max?: number; minExclusive?: boolean; maxExclusive?: boolean; integer?: boolean } = {}): number {
  if (v === undefined) fail(field, `is required (a finite number${inRange(opts)})`);
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(field, `must be a finite number${inRange(opts)}, got ${shown(v)}`);
  const { min, max, minExclusive, maxExclusive, integer } = opts;
  if (integer && !Number.isInteger(v)) fail(field, `must be an integer${inRange(opts)}, got ${v}`);
  if (min !== undefined && (minExclusive ? !(v > min) : !(v >= min))) fail(field, `must be in ${rangeText(opts).trim()}, got ${v}`);
  if (max !== undefined && (maxExclusive ? !(v < max) : !(v <= max))) fail(field, `must be in ${rangeText(opts).trim()}, got ${v}`);
  return v;
}

/** ` in [a, b]` (or '' without bounds) */
function inRange(o: Parameters<typeof rangeText>[0]): string { const t = rangeText(o); return t ? ` in${t}` : ''; }

/** A value as the error shows it: NaN, Infinity and BigInt as such (JSON.stringify would give null or throw). */
function shown(v: unknown): string {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'bigint') return `${v}n`;
  try { return JSON.stringify(v) ?? String(v); } catch { return String(v); }
}

function rangeText(o: { min?: number; max?: number; minExclusive?: boolean; maxExclusive?: boolean; integer?: boolean }): string {
  if (o.min === undefined && o.max === undefined) return '';
  const lo = o.min === undefined ? '(-inf' : `${o.minExclusive ? '(' : '['}${o.min}`;
  const hi = o.max === undefined ? 'inf)' : `${o.max}${o.maxExclusive ? ')' : ']'}`;
  return ` ${lo}, ${hi}`;
}

/** Reject keys that are not in `allowed`. */
export function onlyKeys(obj: Record<string, unknown>, allowed: readonly string[], field: string): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) fail(field ? `${field}.${k}` : k, `unknown field (allowed: ${allowed.join(', ')})`);
  }
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** One line for an error that is not bad input (a bug): its name and message. */
export function internalError(e: unknown): string {
  const m = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return `internal error (a bug, please report it; MOMENTS_DEBUG=1 shows the stack): ${oneLine(m)}`;
}

/** A message on one line: line breaks (and the spaces around them) become one space. */
function oneLine(s: string): string { return s.replace(/\s*[\r\n]+\s*/g, ' '); }
