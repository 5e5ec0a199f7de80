/**
 * A small seeded PRNG: the same seed gives the same numbers on every machine, so the demo model,
 * the circuits' samples and baselines, fuzz cases and random test checkpoints are reproducible
 * from the seed alone.
 */

/** mulberry32: 32-bit state, full period 2^32, integer-only. Returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seeded generator with the draws the analyses and tests need. */
export class SeededRandom {
  private readonly next: () => number;
  private spareGaussian: number | undefined;

  constructor(seed: number) {
    this.next = mulberry32(seed);
  }

  /** Uniform float in [0, 1). */
  uniform(): number {
    return this.next();
  }

  /** Uniform integer in [lo, hi) (hi exclusive). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo));
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('SeededRandom.pick: empty array');
    return items[this.int(0, items.length)] as T;
  }

  /** Standard normal draw (Box–Muller; the second value of each pair is kept for the next call). */
  gaussian(): number {
    if (this.spareGaussian !== undefined) {
      const value = this.spareGaussian;
      this.spareGaussian = undefined;
      return value;
    }
    // 1 - uniform() is in (0, 1], so the log is finite.
    const radius = Math.sqrt(-2 * Math.log(1 - this.next()));
    const angle = 2 * Math.PI * this.next();
    this.spareGaussian = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  }

  /** A Float32Array of n draws from N(mean, std²). */
  gaussianArray(n: number, std = 1, mean = 0): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = mean + std * this.gaussian();
    return out;
  }

  /** n integers in [lo, hi). */
  ints(n: number, lo: number, hi: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(this.int(lo, hi));
    return out;
  }

  /** `count` distinct integers from [lo, hi), in draw order (partial Fisher–Yates over a lazy map). */
  distinct(count: number, lo: number, hi: number): number[] {
    const size = hi - lo;
    if (count > size) throw new Error(`SeededRandom.distinct: ${count} values requested from a range of ${size}`);
    const swapped = new Map<number, number>();
    const out: number[] = [];
    for (let i = 0; i < count; i++) {
      const j = i + this.int(0, size - i);
      const vj = swapped.get(j) ?? j;
      const vi = swapped.get(i) ?? i;
      swapped.set(j, vi);
      out.push(lo + vj);
    }
    return out;
  }
}
