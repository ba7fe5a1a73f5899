/**
 * The shipped softmax tables (formulas/softmax-tables.ts) are a cache of what formulas/softmax.ts
 * computes: the grid values (E[p²], E[p³], Q4 by the Laplace identity) and the row-correlation
 * tables (fixed-seed quasi-Monte-Carlo) for n = 2, 4, …, 4096. They must equal the computed numbers
 * exactly (same code, same seed): a change to that code without `node scripts/gen-softmax-tables.mjs`
 * fails here. Computing everything from scratch first (setShippedTables(false) before any table is
 * touched in this file's module instance) keeps the shipped data out of the recomputation.
 */
import { describe, expect, it } from 'vitest';
import { computeSoftmaxTables, setShippedTables } from '../formulas/softmax.js';
import { SHIPPED } from '../formulas/softmax-tables.js';

function decode(b64: string): Float64Array {
  const b = Buffer.from(b64, 'base64');
  return new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

describe('shipped softmax tables', () => {
  setShippedTables(false);
  const fresh = new Map([16, 128].map((n) => [n, computeSoftmaxTables(n)]));
  it('cover n = 2 … 4096 (powers of two)', () => {
    expect(Object.keys(SHIPPED).map(Number).sort((a, b) => a - b)).toEqual([2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]);
  });
  for (const n of [16, 128]) {
    it(`n = ${n}: equal, bit for bit, to the tables the code computes`, () => {
      const t = fresh.get(n)!;
      const g = decode(SHIPPED[n].grid), r = decode(SHIPPED[n].row);
      expect(g.length).toBe(t.grid.length);
      expect(r.length).toBe(t.row.length);
      let gd = 0, rd = 0;
      for (let i = 0; i < g.length; i++) if (!Object.is(g[i], t.grid[i])) gd++;
      for (let i = 0; i < r.length; i++) if (!Object.is(r[i], t.row[i])) rd++;
      expect({ gridDiffer: gd, rowDiffer: rd }).toEqual({ gridDiffer: 0, rowDiffer: 0 });
    });
  }
});
