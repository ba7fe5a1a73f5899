/**
 * Seeded random numbers for the harness, independent of the TF.js backend, so that weights,
 * inputs, upstream gradients and dropout masks are identical on every backend (and in the float64
 * reference of the tests). xoshiro128** seeded by splitmix32; normals by the Marsaglia–Tsang
 * ziggurat (128 layers) with the layer index drawn from a separate 32-bit word (Doornik's fix for
 * the correlation between the index and the value bits of the original RNOR).
 */
const ZN = 128, M1 = 2147483648;
const KN = new Int32Array(ZN), WN = new Float64Array(ZN), FN = new Float64Array(ZN);
{
  let dn = 3.442619855899, tn = dn;
  const vn = 9.91256303526217e-3;
  const q = vn / Math.exp(-0.5 * dn * dn);
  KN[0] = Math.floor((dn / q) * M1); KN[1] = 0;
  WN[0] = q / M1; WN[ZN - 1] = dn / M1;
  FN[0] = 1; FN[ZN - 1] = Math.exp(-0.5 * dn * dn);
  for (let i = ZN - 2; i >= 1; i--) {
    dn = Math.sqrt(-2 * Math.log(vn / dn + Math.exp(-0.5 * dn * dn)));
    KN[i + 1] = Math.floor((dn / tn) * M1);
    tn = dn;
    FN[i] = Math.exp(-0.5 * dn * dn);
    WN[i] = dn / M1;
  }
}
const ZR = 3.442619855899;
export class Rng {
  private a: number; private b: number; private c: number; private d: number;

  constructor(seed: number, stream = 0) {
    let s = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul((stream | 0) + 0x632be5ab, 0x85ebca6b)) >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next(); this.b = next(); this.c = next(); this.d = next();
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  /** Uniform 32-bit unsigned integer. */
  u32(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a; this.d ^= this.b; this.b ^= this.c; this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return r;
  }

  /** Uniform in [0, 1) with 32 random bits. */
  uniform(): number { return this.u32() / 4294967296; }

  /** Uniform in (0, 1). */
  private open(): number { return (this.u32() + 0.5) / 4294967296; }

  /** Standard normal (ziggurat). */
  normal(): number {
    const hz = this.u32() | 0;
    const iz = this.u32() & (ZN - 1);
    if (Math.abs(hz) < KN[iz]) return hz * WN[iz];
    return this.finish(hz, iz);
  }

  /** The ziggurat's rejection part for a first draw (hz, iz) outside the rectangle. */
  private finish(hz0: number, iz0: number): number {
    let hz = hz0, iz = iz0;
    for (;;) {
      if (iz === 0) {
        // the tail beyond ZR
        let x: number, y: number;
        do { x = -Math.log(this.open()) / ZR; y = -Math.log(this.open()); } while (y + y < x * x);
        return hz > 0 ? ZR + x : -ZR - x;
      }
      const x = hz * WN[iz];
      if (FN[iz] + this.open() * (FN[iz - 1] - FN[iz]) < Math.exp(-0.5 * x * x)) return x;
      hz = this.u32() | 0;
      iz = this.u32() & (ZN - 1);
      if (Math.abs(hz) < KN[iz]) return hz * WN[iz];
    }
  }

  /** Fill `n` iid N(0, std²) values (the ziggurat's fast path inlined; same stream as normal()). */
  normals(n: number, std = 1): Float32Array {
    const out = new Float32Array(n);
    let a = this.a, b = this.b, c = this.c, d = this.d;
    for (let i = 0; i < n; i++) {
      // two xoshiro128** steps, inlined
      let r = Math.imul(b, 5); r = Math.imul((r << 7) | (r >>> 25), 9);
      let t = b << 9; c ^= a; d ^= b; b ^= c; a ^= d; c ^= t; d = (d << 11) | (d >>> 21);
      const hz = r | 0;
      r = Math.imul(b, 5); r = Math.imul((r << 7) | (r >>> 25), 9);
      t = b << 9; c ^= a; d ^= b; b ^= c; a ^= d; c ^= t; d = (d << 11) | (d >>> 21);
      const iz = r & (ZN - 1);
      if (Math.abs(hz) < KN[iz]) { out[i] = std * hz * WN[iz]; continue; }
      // rare slow path: hand the state back, finish this normal, continue inline
      this.a = a >>> 0; this.b = b >>> 0; this.c = c >>> 0; this.d = d >>> 0;
      out[i] = std * this.finish(hz, iz);
      a = this.a; b = this.b; c = this.c; d = this.d;
    }
    this.a = a >>> 0; this.b = b >>> 0; this.c = c >>> 0; this.d = d >>> 0;
    return out;
  }

  /** Inverted-dropout mask: 0 with probability p, else 1/(1−p). */
  dropoutMask(n: number, p: number): Float32Array {
    const out = new Float32Array(n);
    const keep = 1 / (1 - p);
    for (let i = 0; i < n; i++) out[i] = this.uniform() < p ? 0 : keep;
    return out;
  }
}

function rotl(x: number, k: number): number { return ((x << k) | (x >>> (32 - k))) >>> 0; }
