/**
 * A small terminal plotting helper: line charts over depth drawn with braille dots (2×4 dots per
 * character cell), optional log scale, a highlighted cursor column, and overlaid measured points
 * with vertical error bars. Pure: returns rows of styled segments that the ink view renders.
 */
export interface Overlay { x: number; y: number; lo: number; hi: number }

export interface ChartOptions {
  /** width and height in character cells of the plotting area (axis labels not included) */
  width: number;
  height: number;
  log?: boolean;
  /** index of the highlighted x value (a layer) */
  cursor?: number;
  /** measured points: x index, value and error-bar ends (same units as the values) */
  overlay?: Overlay[];
  /** force the range to include these values (e.g. r charts include 1) */
  include?: number[];
}

export type CellStyle = 'line' | 'overlay' | 'empty';
export interface Segment { text: string; style: CellStyle; cursor: boolean }

export interface Chart {
  rows: Segment[][];
  /** value at the top and bottom edge (real units, not log) */
  top: number;
  bottom: number;
  /** character column of the cursor, if any */
  cursorCol?: number;
  /** false when no value could be drawn (all null / non-positive on a log scale) */
  drawn: boolean;
}

// braille dot bits by (x in 0..1, y in 0..3)
const DOT = [[0x01, 0x02, 0x04, 0x40], [0x08, 0x10, 0x20, 0x80]];

/** x pixel of data index i out of n on a canvas `w` pixels wide */
export function xPixel(i: number, n: number, w: number): number {
  return n <= 1 ? 0 : Math.round((i * (w - 1)) / (n - 1));
}

export function chart(values: (number | null)[], o: ChartOptions): Chart {
  const W = Math.max(1, o.width) * 2, H = Math.max(1, o.height) * 4;
  const tf = (v: number | null): number | null => {
    if (v === null || !Number.isFinite(v)) return null;
    if (o.log) return v > 0 ? Math.log10(v) : null;
    return v;
  };
  const ys = values.map(tf);
  const ov = (o.overlay ?? []).map((p) => ({ x: p.x, y: tf(p.y), lo: tf(p.lo > 0 || !o.log ? p.lo : p.y), hi: tf(p.hi) }));
  const all: number[] = [];
  for (const y of ys) if (y !== null) all.push(y);
  for (const p of ov) for (const y of [p.y, p.lo, p.hi]) if (y !== null) all.push(y);
  for (const v of o.include ?? []) { const t = tf(v); if (t !== null) all.push(t); }
  const drawn = ys.some((y) => y !== null);
  let lo = all.length ? Math.min(...all) : 0, hi = all.length ? Math.max(...all) : 1;
  if (hi - lo < 1e-12) {
    const pad = o.log ? 0.5 : Math.max(Math.abs(lo) * 0.1, 1e-6);
    lo -= pad; hi += pad;
  }
  const py = (t: number) => Math.max(0, Math.min(H - 1, Math.round(((hi - t) / (hi - lo)) * (H - 1))));
  const n = values.length;
  const bits = new Uint8Array(o.width * o.height);
  const obits = new Uint8Array(o.width * o.height);
  const set = (buf: Uint8Array, x: number, y: number) => {
    if (x < 0 || x >= W || y < 0 || y >= H) return;
    const c = (y >> 2) * o.width + (x >> 1);
    buf[c] |= DOT[x & 1][y & 3];
  };
  const line = (x0: number, y0: number, x1: number, y1: number) => {
    // Bresenham
    const dx = Math.abs(x1 - x0);
    const dy = -Math.abs(y1 - y0);
    const sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    let err = dx + dy;
    for (;;) {
      set(bits, x0, y0);
      if (x0 === x1 && y0 === y1) break;
      const e2 = 2 * err;
      if (e2 >= dy) { err += dy; x0 += sx; }
      if (e2 <= dx) { err += dx; y0 += sy; }
    }
  };
  let prev: [number, number] | null = null;
  for (let i = 0; i < n; i++) {
    const y = ys[i];
    if (y === null) { prev = null; continue; }
    const p: [number, number] = [xPixel(i, n, W), py(y)];
    if (prev) line(prev[0], prev[1], p[0], p[1]); else set(bits, p[0], p[1]);
    prev = p;
  }
  for (const p of ov) {
    if (p.y === null) continue;
    const x = xPixel(p.x, n, W);
    const a = py(p.hi ?? p.y), b = py(p.lo ?? p.y);
    for (let y = Math.min(a, b); y <= Math.max(a, b); y++) set(obits, x, y);
    set(obits, x, py(p.y));
    if (x + 1 < W && (x & 1) === 0) set(obits, x + 1, py(p.y));
  }
  const cursorCol = o.cursor !== undefined && n > 0 ? xPixel(Math.max(0, Math.min(n - 1, o.cursor)), n, W) >> 1 : undefined;
  const rows: Segment[][] = [];
  for (let r = 0; r < o.height; r++) {
    const segs: Segment[] = [];
    for (let c = 0; c < o.width; c++) {
      const i = r * o.width + c;
      const b = bits[i] | obits[i];
      const style: CellStyle = obits[i] ? 'overlay' : bits[i] ? 'line' : 'empty';
      const cur = c === cursorCol;
      // an empty cell of the cursor column shows a thin bar, so the cursor reads in plain text too
      const ch = cur && b === 0 ? '┊' : String.fromCharCode(0x2800 + b);
      const last = segs[segs.length - 1];
      if (last && last.style === style && last.cursor === cur) last.text += ch;
      else segs.push({ text: ch, style, cursor: cur });
    }
    rows.push(segs);
  }
  const back = (t: number) => (o.log ? 10 ** t : t);
  return { rows, top: back(hi), bottom: back(lo), cursorCol, drawn };
}

/** Plain text of a chart (for the static summary and tests). */
export function chartText(c: Chart): string[] {
  return c.rows.map((r) => r.map((s) => s.text).join(''));
}

/** A progress bar of `width` cells for a fraction in [0, 1]. */
export function progressBar(frac: number, width: number): string {
  const f = Math.max(0, Math.min(1, frac));
  const eighths = Math.round(f * width * 8);
  const full = Math.floor(eighths / 8), part = eighths % 8;
  const partial = part ? ' ▏▎▍▌▋▊▉'[part] : '';
  return ('█'.repeat(full) + partial).padEnd(width, '·').slice(0, width);
}
