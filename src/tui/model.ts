/**
 * The editable model of the TUI: the raw config v1 draft the user edits, its field list, the
 * step rules behind +/-, typed values, and validation with exactly the rules of resolveConfig
 * (an invalid draft yields the InputError message naming the field; the UI shows it inline).
 */
import { resolveConfig, toConfigV1, type ResolvedConfig } from '../config.js';
import { InputError } from '../errors.js';
import { fmt } from '../format.js';

export type Draft = Record<string, unknown>;
export type FieldKind = 'int' | 'num' | 'enum' | 'bool';

export interface FieldDef {
  /** dotted path in the config v1 object; also the InputError field name it answers to */
  path: string;
  label: string;
  kind: FieldKind;
  values?: readonly string[];
  /** how +/- step: 'add' by `by`, 'mul' by `by`, 'double' ×2/÷2 (integers) */
  step?: { mode: 'add' | 'mul' | 'double'; by: number; min?: number; max?: number };
  /** value to show when the draft does not set the field (from the resolved config) */
  dflt(c: ResolvedConfig): unknown;
  /** hidden unless (e.g. ffn3 only for SwiGLU) */
  when?(d: Draft, c: ResolvedConfig | undefined): boolean;
}

const STD_STEP = { mode: 'mul' as const, by: 10 ** 0.1, min: 0 };

export const FIELDS: FieldDef[] = [
  { path: 'layers', label: 'layers', kind: 'int', step: { mode: 'add', by: 1, min: 1 }, dflt: (c) => c.layers },
  { path: 'dModel', label: 'dModel', kind: 'int', step: { mode: 'double', by: 2, min: 1 }, dflt: (c) => c.dModel },
  { path: 'heads', label: 'heads', kind: 'int', step: { mode: 'double', by: 2, min: 1 }, dflt: (c) => c.heads },
  { path: 'dFF', label: 'dFF', kind: 'int', step: { mode: 'double', by: 2, min: 1 }, dflt: (c) => c.dFF },
  { path: 'seqLen', label: 'seqLen', kind: 'int', step: { mode: 'double', by: 2, min: 1 }, dflt: (c) => c.seqLen },
  { path: 'norm', label: 'norm', kind: 'enum', values: ['pre', 'post'], dflt: (c) => c.norm },
  { path: 'normKind', label: 'normKind', kind: 'enum', values: ['layernorm', 'rmsnorm'], dflt: (c) => c.normKind },
  { path: 'finalNorm', label: 'finalNorm', kind: 'bool', dflt: (c) => c.finalNorm },
  { path: 'activation', label: 'activation', kind: 'enum', values: ['relu', 'gelu', 'gelu_tanh', 'silu', 'swiglu'], dflt: (c) => c.activation },
  { path: 'dropout', label: 'dropout', kind: 'num', step: { mode: 'add', by: 0.05, min: 0, max: 0.95 }, dflt: (c) => c.dropout },
  { path: 'attnDropout', label: 'attn dropout', kind: 'num', step: { mode: 'add', by: 0.05, min: 0, max: 0.95 }, dflt: (c) => c.attnDropout },
  { path: 'actDropout', label: 'act dropout', kind: 'num', step: { mode: 'add', by: 0.05, min: 0, max: 0.95 }, dflt: (c) => c.actDropout },
  { path: 'causal', label: 'causal', kind: 'bool', dflt: (c) => c.causal },
  { path: 'residual.skip', label: 'skip λ', kind: 'num', step: { mode: 'add', by: 0.01, min: 0 }, dflt: (c) => c.skip },
  { path: 'residual.branch', label: 'branch β', kind: 'num', step: STD_STEP, dflt: (c) => c.branch },
  { path: 'init.qk', label: 'init qk', kind: 'num', step: STD_STEP, dflt: (c) => c.init.qk },
  { path: 'init.v', label: 'init v', kind: 'num', step: STD_STEP, dflt: (c) => c.init.v },
  { path: 'init.o', label: 'init o', kind: 'num', step: STD_STEP, dflt: (c) => c.init.o },
  { path: 'init.ffn1', label: 'init ffn1', kind: 'num', step: STD_STEP, dflt: (c) => c.init.ffn1 },
  { path: 'init.ffn2', label: 'init ffn2', kind: 'num', step: STD_STEP, dflt: (c) => c.init.ffn2 },
  { path: 'init.ffn3', label: 'init ffn3', kind: 'num', step: STD_STEP, dflt: (c) => c.init.ffn3, when: (d, c) => (getPath(d, 'activation') ?? c?.activation) === 'swiglu' },
  { path: 'input.r', label: 'input r', kind: 'num', step: { mode: 'add', by: 0.05, min: -1, max: 1 }, dflt: (c) => c.input.r },
];

export function getPath(d: Draft, path: string): unknown {
  let cur: unknown = d;
  for (const k of path.split('.')) {
    if (typeof cur !== 'object' || cur === null || Array.isArray(cur)) return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

/** A copy of the draft with `path` set (intermediate objects created; undefined deletes). */
export function setPath(d: Draft, path: string, v: unknown): Draft {
  const keys = path.split('.');
  const out: Draft = { ...d };
  let cur: Record<string, unknown> = out;
  for (let i = 0; i < keys.length - 1; i++) {
    const k = keys[i];
    const next = cur[k];
    const copy = typeof next === 'object' && next !== null && !Array.isArray(next) ? { ...(next as Record<string, unknown>) } : {};
    cur[k] = copy;
    cur = copy;
  }
  const last = keys[keys.length - 1];
  if (v === undefined) delete cur[last]; else cur[last] = v;
  return out;
}

export function visibleFields(d: Draft, c: ResolvedConfig | undefined): FieldDef[] {
  return FIELDS.filter((f) => !f.when || f.when(d, c));
}

/** The value of a field: what the draft says, else the resolved default (arrays kept). */
export function fieldValue(f: FieldDef, d: Draft, c: ResolvedConfig | undefined): unknown {
  const v = getPath(d, f.path);
  if (v !== undefined) return v;
  return c ? f.dflt(c) : undefined;
}

/** Short text of a value: per-layer arrays collapse to their first…last element. */
export function valueText(v: unknown): string {
  if (Array.isArray(v)) {
    if (v.length && v.every((x) => x === v[0])) return valueText(v[0]);
    return v.length ? `${valueText(v[0])}…${valueText(v[v.length - 1])}` : '[]';
  }
  if (typeof v === 'number') {
    if (Number.isInteger(v) && Math.abs(v) < 1e7) return String(v);
    const a = Math.abs(v);
    return a >= 1e-3 && a < 1e5 ? String(Number(v.toPrecision(4))) : fmt(v, 4);
  }
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (v === undefined) return '—';
  return String(v);
}

const round = (x: number) => Number(x.toPrecision(4));

function stepNumber(x: number, f: FieldDef, dir: 1 | -1): number {
  const s = f.step!;
  let y: number;
  if (s.mode === 'add') y = Number((x + dir * s.by).toFixed(6));
  else if (s.mode === 'mul') y = x === 0 && dir > 0 ? 0.001 : round(dir > 0 ? x * s.by : x / s.by);
  else y = dir > 0 ? x * 2 : Math.floor(x / 2);
  if (f.kind === 'int') y = Math.round(y);
  if (s.min !== undefined && y < s.min) y = s.min;
  if (s.max !== undefined && y > s.max) y = s.max;
  return y;
}

/** The draft after pressing + (dir 1) or - (dir -1) on a field. Arrays are stepped element-wise. */
export function stepField(d: Draft, c: ResolvedConfig | undefined, f: FieldDef, dir: 1 | -1): Draft {
  const v = fieldValue(f, d, c);
  if (f.kind === 'bool') return setPath(d, f.path, !(v === true));
  if (f.kind === 'enum') {
    const vals = f.values!;
    const i = vals.indexOf(String(v));
    return setPath(d, f.path, vals[(i + dir + vals.length) % vals.length]);
  }
  if (Array.isArray(v)) {
    // a resolved default array that is constant is written back as one number
    const arr = v.map((x) => (typeof x === 'number' ? stepNumber(x, f, dir) : x));
    return setPath(d, f.path, arr.every((x) => x === arr[0]) ? arr[0] : arr);
  }
  if (typeof v !== 'number') return d; // invalid typed value: leave it for the user to retype
  return setPath(d, f.path, stepNumber(v, f, dir));
}

/** The draft after typing `text` into a field. Numbers parse as JSON numbers; anything else is
 * passed through unchanged so that resolveConfig names the field and says what it expects. */
export function typeField(d: Draft, f: FieldDef, text: string): Draft {
  const t = text.trim();
  if (f.kind === 'int' || f.kind === 'num') {
    const n = t === '' ? NaN : Number(t);
    return setPath(d, f.path, Number.isFinite(n) ? n : t);
  }
  if (f.kind === 'bool') {
    const m: Record<string, boolean> = { yes: true, true: true, y: true, on: true, no: false, false: false, n: false, off: false };
    return setPath(d, f.path, t.toLowerCase() in m ? m[t.toLowerCase()] : t);
  }
  const hit = f.values!.find((x) => x.startsWith(t.toLowerCase()));
  return setPath(d, f.path, hit ?? t);
}

export type Validation = { ok: true; cfg: ResolvedConfig } | { ok: false; field: string; message: string };

/** Validate a draft with the rules of resolveConfig. */
export function validate(d: Draft): Validation {
  try {
    return { ok: true, cfg: resolveConfig(d) };
  } catch (e) {
    if (e instanceof InputError) return { ok: false, field: e.field, message: e.message };
    throw e;
  }
}

/** Which visible field an error belongs to (`init.qk[3]` → init.qk; `residual` → residual.skip). */
export function fieldOfError(field: string, fields: FieldDef[]): number {
  const base = field.replace(/\[\d+\]$/, '');
  const i = fields.findIndex((f) => f.path === base);
  if (i >= 0) return i;
  return fields.findIndex((f) => f.path.startsWith(base + '.'));
}

/** A draft from a resolved config (what applying a scheme's config produces). */
export function draftOf(c: ResolvedConfig): Draft {
  return toConfigV1(c) as unknown as Draft;
}
