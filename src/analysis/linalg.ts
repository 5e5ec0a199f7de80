/**
 * Small dense linear algebra for the weight analyses: row-major typed arrays, float64 accumulation.
 * Nothing here knows about transformers. Shapes use the project's [rows, cols] convention.
 */

/** C[m, n] = A[m, k] · B[k, n]; asynchronous so a native backend (e.g. an ORT MatMul) can stand in. */
export interface MatmulBackend {
  matmul(a: Float32Array, b: Float32Array, m: number, k: number, n: number): Promise<Float32Array>;
  /** C[m, n] = A[m, k] · Bᵀ with bt [n, k]; optional (falls back to a transpose + matmul). */
  matmulTransB?(a: Float32Array, bt: Float32Array, m: number, k: number, n: number): Promise<Float32Array>;
  /** C[m, n] = Aᵀ · B with at [k, m], b [k, n]; optional (falls back to a transpose + matmul). */
  matmulTransA?(at: Float32Array, b: Float32Array, m: number, k: number, n: number): Promise<Float32Array>;
}

/** The pure-TypeScript backend (float64 accumulation). */
export const jsBackend: MatmulBackend = {
  matmul: (a, b, m, k, n) => Promise.resolve(matmul(a, b, m, k, n)),
  matmulTransB: (a, bt, m, k, n) => Promise.resolve(matmulTransB(a, bt, m, k, n)),
};

/** Aᵀ A [cols, cols] of a [rows, cols] matrix through the backend (transA product when it has one). */
export function backendGramColumns(backend: MatmulBackend, a: Float32Array, rows: number, cols: number): Promise<Float32Array> {
  if (backend.matmulTransA) return backend.matmulTransA(a, a, cols, rows, cols);
  const at = transpose(a, rows, cols);
  return backend.matmulTransB ? backend.matmulTransB(at, at, cols, rows, cols) : backend.matmul(at, a, cols, rows, cols);
}

/** A · Btᵀ through the backend's transB product when it has one. */
export function backendMatmulTransB(backend: MatmulBackend, a: Float32Array, bt: Float32Array, m: number, k: number, n: number): Promise<Float32Array> {
  return backend.matmulTransB ? backend.matmulTransB(a, bt, m, k, n) : backend.matmul(a, transpose(bt, n, k), m, k, n);
}

/** [cols, rows] transpose of a row-major [rows, cols] matrix. */
export function transpose(a: ArrayLike<number>, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const row = i * cols;
    for (let j = 0; j < cols; j++) out[j * rows + i] = a[row + j] as number;
  }
  return out;
}

/** C[m, n] = A[m, k] · B[k, n]. */
export function matmul(a: Float32Array, b: Float32Array, m: number, k: number, n: number): Float32Array {
  return matmulTransB(a, transpose(b, k, n), m, k, n);
}

/**
 * C[m, n] = A[m, k] · Bᵀ with B given as bt [n, k]: every output is a contiguous dot product,
 * four at a time (the fastest plain-JS form measured here, ~1.7 GMAC/s).
 */
export function matmulTransB(a: Float32Array, bt: Float32Array, m: number, k: number, n: number): Float32Array {
  const c = new Float32Array(m * n);
  // A · Aᵀ is symmetric: compute j >= i only (rounded to the 4-wide block), mirror afterwards
  const symmetric = a === bt && m === n;
  for (let i = 0; i < m; i++) {
    const ai = i * k;
    const ci = i * n;
    let j = symmetric ? i - (i % 4) : 0;
    for (; j + 3 < n; j += 4) {
      const b0 = j * k;
      const b1 = b0 + k;
      const b2 = b1 + k;
      const b3 = b2 + k;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let p = 0; p < k; p++) {
        const x = a[ai + p] as number;
        s0 += x * (bt[b0 + p] as number);
        s1 += x * (bt[b1 + p] as number);
        s2 += x * (bt[b2 + p] as number);
        s3 += x * (bt[b3 + p] as number);
      }
      c[ci + j] = s0;
      c[ci + j + 1] = s1;
      c[ci + j + 2] = s2;
      c[ci + j + 3] = s3;
    }
    for (; j < n; j++) {
      const bj = j * k;
      let s = 0;
      for (let p = 0; p < k; p++) s += (a[ai + p] as number) * (bt[bj + p] as number);
      c[ci + j] = s;
    }
  }
  if (symmetric) for (let i = 0; i < m; i++) for (let j = 0; j < i - (i % 4); j++) c[i * n + j] = c[j * n + i] as number;
  return c;
}

/** Float64 C[m, n] = A[m, k] · B[k, n] for the small exact cores (Dh × Dh and similar). */
export function matmul64(a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < k; p++) {
      const x = a[i * k + p] as number;
      if (x === 0) continue;
      const bp = p * n;
      const ci = i * n;
      for (let j = 0; j < n; j++) c[ci + j] += x * (b[bp + j] as number);
    }
  }
  return c;
}

/** Gram Aᵀ A [cols, cols] of a [rows, cols] matrix, float64, symmetric. */
export function gramColumns(a: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const g = new Float64Array(cols * cols);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let i = 0; i < cols; i++) {
      const x = a[base + i] as number;
      if (x === 0) continue;
      const gi = i * cols;
      for (let j = i; j < cols; j++) g[gi + j] += x * (a[base + j] as number);
    }
  }
  for (let i = 0; i < cols; i++) for (let j = 0; j < i; j++) g[i * cols + j] = g[j * cols + i] as number;
  return g;
}

/** Gram A Aᵀ [rows, rows] of a [rows, cols] matrix, float64, symmetric. */
export function gramRows(a: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const g = new Float64Array(rows * rows);
  for (let i = 0; i < rows; i++) {
    for (let j = i; j < rows; j++) {
      let s = 0;
      for (let p = 0; p < cols; p++) s += (a[i * cols + p] as number) * (a[j * cols + p] as number);
      g[i * rows + j] = s;
      g[j * rows + i] = s;
    }
  }
  return g;
}

/** Σ x² over a slice. */
export function sumSquares(a: ArrayLike<number>, start = 0, end = a.length): number {
  let s = 0;
  for (let i = start; i < end; i++) {
    const x = a[i] as number;
    s += x * x;
  }
  return s;
}

/** Σ aᵢ bᵢ. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
}

/**
 * Pivoted Cholesky of a symmetric positive semi-definite [n, n] matrix G: R [n, n] (rows and columns
 * in pivot order, upper triangular, rows past `rank` zero) with Rᵀ R = G[perm][:, perm] up to the
 * dropped remainder. Pivots stop once the largest remaining diagonal is ≤ relTol · max diag(G).
 */
export function pivotedCholesky(g: ArrayLike<number>, n: number, relTol: number): { r: Float64Array; perm: number[]; rank: number } {
  const a = Float64Array.from(g as ArrayLike<number>);
  const perm = Array.from({ length: n }, (_, i) => i);
  const r = new Float64Array(n * n); // rows of the factor in pivoted column order
  let maxDiag = 0;
  for (let i = 0; i < n; i++) maxDiag = Math.max(maxDiag, a[i * n + i] as number);
  const tol = maxDiag * relTol;
  let rank = 0;
  for (let k = 0; k < n; k++) {
    let p = k;
    let best = -Infinity;
    for (let i = k; i < n; i++) {
      const d = a[perm[i]! * n + perm[i]!] as number;
      if (d > best) {
        best = d;
        p = i;
      }
    }
    if (!(best > tol)) break;
    rank = k + 1;
    [perm[k], perm[p]] = [perm[p]!, perm[k]!];
    // swap the already computed columns k and p of the factor
    for (let j = 0; j < k; j++) {
      const t = r[j * n + k] as number;
      r[j * n + k] = r[j * n + p] as number;
      r[j * n + p] = t;
    }
    const pk = perm[k]!;
    const root = Math.sqrt(best);
    r[k * n + k] = root;
    for (let i = k + 1; i < n; i++) {
      const pi = perm[i]!;
      let s = a[pk * n + pi] as number;
      for (let j = 0; j < k; j++) s -= (r[j * n + k] as number) * (r[j * n + i] as number);
      r[k * n + i] = s / root;
    }
    for (let i = k + 1; i < n; i++) {
      const pi = perm[i]!;
      const v = r[k * n + i] as number;
      a[pi * n + pi] = (a[pi * n + pi] as number) - v * v;
    }
  }
  return { r, perm, rank };
}

/**
 * Pivoted Cholesky of a symmetric positive semi-definite [n, n] matrix: F [n, n] with Fᵀ F = G.
 * Rows past the numerical rank are zero, so singular Grams (e.g. an all-zero head) are fine.
 * Used so that ‖W X‖_F = ‖F X‖_F whenever G = Wᵀ W.
 */
export function psdFactor(g: ArrayLike<number>, n: number): Float64Array {
  const { r, perm } = pivotedCholesky(g, n, n * 1e-15);
  // undo the column permutation: F[:, perm[i]] = R[:, i]
  const f = new Float64Array(n * n);
  for (let row = 0; row < n; row++) for (let i = 0; i < n; i++) f[row * n + perm[i]!] = r[row * n + i] as number;
  return f;
}

/**
 * X [n, n] such that W X has orthonormal columns spanning W's column space (columns past the rank
 * zero), from G = Wᵀ W [n, n]: X = R₁₁⁻¹ placed at the pivot rows. Directions whose squared length
 * left after the earlier pivots is ≤ relTol · the largest squared column norm count as dependent
 * (1e-6 suits Grams accumulated in float32).
 */
export function orthonormalizer(g: ArrayLike<number>, n: number, relTol = 1e-6): { x: Float64Array; rank: number } {
  const { r, perm, rank } = pivotedCholesky(g, n, relTol);
  // inverse of the upper-triangular R₁₁ [rank, rank] by back substitution, column by column
  const inv = new Float64Array(rank * rank);
  for (let j = 0; j < rank; j++) {
    for (let i = j; i >= 0; i--) {
      let s = i === j ? 1 : 0;
      for (let k = i + 1; k <= j; k++) s -= (r[i * n + k] as number) * (inv[k * rank + j] as number);
      inv[i * rank + j] = s / (r[i * n + i] as number);
    }
  }
  const x = new Float64Array(n * n);
  for (let i = 0; i < rank; i++) for (let j = 0; j < rank; j++) x[perm[i]! * n + j] = inv[i * rank + j] as number;
  return { x, rank };
}

/** Eigen-decomposition of a small symmetric [n, n] matrix by cyclic Jacobi: values descending, vectors as rows. */
export function symmetricEigen(m: ArrayLike<number>, n: number): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(m as ArrayLike<number>);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    let total = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const x = (a[i * n + j] as number) ** 2;
        total += x;
        if (i !== j) off += x;
      }
    }
    if (off <= total * 1e-30 || off === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q] as number;
        if (apq === 0) continue;
        const app = a[p * n + p] as number;
        const aqq = a[q * n + q] as number;
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p] as number;
          const akq = a[k * n + q] as number;
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k] as number;
          const aqk = a[q * n + k] as number;
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vpk = v[p * n + k] as number;
          const vqk = v[q * n + k] as number;
          v[p * n + k] = c * vpk - s * vqk;
          v[q * n + k] = s * vpk + c * vqk;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => (a[y * n + y] as number) - (a[x * n + x] as number));
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    values[dst] = a[src * n + src] as number;
    for (let k = 0; k < n; k++) vectors[dst * n + k] = v[src * n + k] as number;
  });
  return { values, vectors };
}

/**
 * Eigenvalues (descending) of a symmetric [n, n] matrix: Householder tridiagonalisation, then
 * implicit QL. O(n³) without vectors; used for the d_model × d_model covariances.
 */
export function symmetricEigenvalues(m: ArrayLike<number>, n: number): Float64Array {
  const a = Float64Array.from(m as ArrayLike<number>);
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  // tred2 without accumulating transformations (Numerical Recipes form, 0-based)
  for (let i = n - 1; i > 0; i--) {
    const l = i - 1;
    let h = 0;
    if (l > 0) {
      let scale = 0;
      for (let k = 0; k <= l; k++) scale += Math.abs(a[i * n + k] as number);
      if (scale === 0) {
        e[i] = a[i * n + l] as number;
      } else {
        for (let k = 0; k <= l; k++) {
          a[i * n + k] = (a[i * n + k] as number) / scale;
          h += (a[i * n + k] as number) ** 2;
        }
        let f = a[i * n + l] as number;
        const g = f >= 0 ? -Math.sqrt(h) : Math.sqrt(h);
        e[i] = scale * g;
        h -= f * g;
        a[i * n + l] = f - g;
        f = 0;
        for (let j = 0; j <= l; j++) {
          let gg = 0;
          for (let k = 0; k <= j; k++) gg += (a[j * n + k] as number) * (a[i * n + k] as number);
          for (let k = j + 1; k <= l; k++) gg += (a[k * n + j] as number) * (a[i * n + k] as number);
          e[j] = gg / h;
          f += (e[j] as number) * (a[i * n + j] as number);
        }
        const hh = f / (h + h);
        for (let j = 0; j <= l; j++) {
          const fj = a[i * n + j] as number;
          const gj = (e[j] as number) - hh * fj;
          e[j] = gj;
          for (let k = 0; k <= j; k++) a[j * n + k] = (a[j * n + k] as number) - (fj * (e[k] as number) + gj * (a[i * n + k] as number));
        }
      }
    } else {
      e[i] = a[i * n + l] as number;
    }
    d[i] = h;
  }
  for (let i = 0; i < n; i++) d[i] = a[i * n + i] as number;
  // tqli
  for (let i = 1; i < n; i++) e[i - 1] = e[i] as number;
  if (n > 0) e[n - 1] = 0;
  for (let l = 0; l < n; l++) {
    let iter = 0;
    let m2: number;
    do {
      for (m2 = l; m2 < n - 1; m2++) {
        const dd = Math.abs(d[m2] as number) + Math.abs(d[m2 + 1] as number);
        if (Math.abs(e[m2] as number) <= Number.EPSILON * dd) break;
      }
      if (m2 !== l) {
        if (iter++ === 200) throw new Error('symmetricEigenvalues: no convergence');
        let g = ((d[l + 1] as number) - (d[l] as number)) / (2 * (e[l] as number));
        let r = Math.hypot(g, 1);
        g = (d[m2] as number) - (d[l] as number) + (e[l] as number) / (g + (g >= 0 ? Math.abs(r) : -Math.abs(r)));
        let s = 1;
        let c = 1;
        let p = 0;
        let i: number;
        for (i = m2 - 1; i >= l; i--) {
          const f = s * (e[i] as number);
          const b = c * (e[i] as number);
          r = Math.hypot(f, g);
          e[i + 1] = r;
          if (r === 0) {
            d[i + 1] = (d[i + 1] as number) - p;
            e[m2] = 0;
            break;
          }
          s = f / r;
          c = g / r;
          g = (d[i + 1] as number) - p;
          r = ((d[i] as number) - g) * s + 2 * c * b;
          p = s * r;
          d[i + 1] = g + p;
          g = c * r - b;
        }
        if (r === 0 && i >= l) continue;
        d[l] = (d[l] as number) - p;
        e[l] = g;
        e[m2] = 0;
      }
    } while (m2 !== l);
  }
  return Float64Array.from(d).sort((x, y) => y - x);
}

/**
 * Eigenvalues of a general real [n, n] matrix (Hessenberg reduction + Francis double-shift QR,
 * EISPACK hqr). Returns real and imaginary parts.
 */
export function generalEigenvalues(m: ArrayLike<number>, n: number): { re: Float64Array; im: Float64Array } {
  const a = Float64Array.from(m as ArrayLike<number>);
  const at = (i: number, j: number): number => a[i * n + j] as number;
  const set = (i: number, j: number, v: number): void => {
    a[i * n + j] = v;
  };
  // elmhes: Gaussian elimination with pivoting to upper Hessenberg form
  for (let mm = 1; mm < n - 1; mm++) {
    let x = 0;
    let piv = mm;
    for (let j = mm; j < n; j++) {
      if (Math.abs(at(j, mm - 1)) > Math.abs(x)) {
        x = at(j, mm - 1);
        piv = j;
      }
    }
    if (piv !== mm) {
      for (let j = mm - 1; j < n; j++) {
        const t = at(piv, j);
        set(piv, j, at(mm, j));
        set(mm, j, t);
      }
      for (let j = 0; j < n; j++) {
        const t = at(j, piv);
        set(j, piv, at(j, mm));
        set(j, mm, t);
      }
    }
    if (x !== 0) {
      for (let i = mm + 1; i < n; i++) {
        let y = at(i, mm - 1);
        if (y !== 0) {
          y /= x;
          set(i, mm - 1, 0);
          for (let j = mm; j < n; j++) set(i, j, at(i, j) - y * at(mm, j));
          for (let j = 0; j < n; j++) set(j, mm, at(j, mm) + y * at(j, i));
        }
      }
    }
  }
  for (let i = 2; i < n; i++) for (let j = 0; j < i - 1; j++) set(i, j, 0);
  // hqr (Numerical Recipes 2nd ed., translated to 0-based)
  const wr = new Float64Array(n);
  const wi = new Float64Array(n);
  let anorm = 0;
  for (let i = 0; i < n; i++) for (let j = Math.max(i - 1, 0); j < n; j++) anorm += Math.abs(at(i, j));
  let nn = n - 1;
  let t = 0;
  while (nn >= 0) {
    let its = 0;
    let l: number;
    do {
      for (l = nn; l >= 1; l--) {
        const s = Math.abs(at(l - 1, l - 1)) + Math.abs(at(l, l));
        const ss = s === 0 ? anorm : s;
        if (Math.abs(at(l, l - 1)) + ss === ss) {
          set(l, l - 1, 0);
          break;
        }
      }
      const x = at(nn, nn);
      if (l === nn) {
        wr[nn] = x + t;
        wi[nn] = 0;
        nn--;
      } else {
        const y = at(nn - 1, nn - 1);
        const w = at(nn, nn - 1) * at(nn - 1, nn);
        if (l === nn - 1) {
          const p = 0.5 * (y - x);
          const q = p * p + w;
          const z = Math.sqrt(Math.abs(q));
          const xx = x + t;
          if (q >= 0) {
            const zz = p + (p >= 0 ? Math.abs(z) : -Math.abs(z));
            wr[nn - 1] = xx + zz;
            wr[nn] = zz !== 0 ? xx - w / zz : xx + zz;
            wi[nn - 1] = 0;
            wi[nn] = 0;
          } else {
            wr[nn - 1] = xx + p;
            wr[nn] = xx + p;
            wi[nn - 1] = -z;
            wi[nn] = z;
          }
          nn -= 2;
        } else {
          if (its === 60) throw new Error('generalEigenvalues: no convergence');
          let xs = x;
          let ys = y;
          let ws = w;
          if (its === 10 || its === 20) {
            t += xs;
            for (let i = 0; i <= nn; i++) set(i, i, at(i, i) - xs);
            const s = Math.abs(at(nn, nn - 1)) + Math.abs(at(nn - 1, nn - 2));
            xs = 0.75 * s;
            ys = xs;
            ws = -0.4375 * s * s;
          }
          its++;
          let mm: number;
          let p = 0;
          let q = 0;
          let r = 0;
          let z: number;
          for (mm = nn - 2; mm >= l; mm--) {
            z = at(mm, mm);
            r = xs - z;
            const s0 = ys - z;
            p = (r * s0 - ws) / at(mm + 1, mm) + at(mm, mm + 1);
            q = at(mm + 1, mm + 1) - z - r - s0;
            r = at(mm + 2, mm + 1);
            const s = Math.abs(p) + Math.abs(q) + Math.abs(r);
            p /= s;
            q /= s;
            r /= s;
            if (mm === l) break;
            const u = Math.abs(at(mm, mm - 1)) * (Math.abs(q) + Math.abs(r));
            const v = Math.abs(p) * (Math.abs(at(mm - 1, mm - 1)) + Math.abs(z) + Math.abs(at(mm + 1, mm + 1)));
            if (u + v === v) break;
          }
          for (let i = mm + 2; i <= nn; i++) {
            set(i, i - 2, 0);
            if (i !== mm + 2) set(i, i - 3, 0);
          }
          for (let k = mm; k <= nn - 1; k++) {
            if (k !== mm) {
              p = at(k, k - 1);
              q = at(k + 1, k - 1);
              r = 0;
              if (k !== nn - 1) r = at(k + 2, k - 1);
              xs = Math.abs(p) + Math.abs(q) + Math.abs(r);
              if (xs !== 0) {
                p /= xs;
                q /= xs;
                r /= xs;
              }
            }
            const sAbs = Math.sqrt(p * p + q * q + r * r);
            const s = p >= 0 ? sAbs : -sAbs;
            if (s !== 0) {
              if (k === mm) {
                if (l !== mm) set(k, k - 1, -at(k, k - 1));
              } else {
                set(k, k - 1, -s * xs);
              }
              p += s;
              xs = p / s;
              ys = q / s;
              z = r / s;
              q /= p;
              r /= p;
              for (let j = k; j <= nn; j++) {
                p = at(k, j) + q * at(k + 1, j);
                if (k !== nn - 1) {
                  p += r * at(k + 2, j);
                  set(k + 2, j, at(k + 2, j) - p * z);
                }
                set(k + 1, j, at(k + 1, j) - p * ys);
                set(k, j, at(k, j) - p * xs);
              }
              const mmin = nn < k + 3 ? nn : k + 3;
              for (let i = l; i <= mmin; i++) {
                p = xs * at(i, k) + ys * at(i, k + 1);
                if (k !== nn - 1) {
                  p += z * at(i, k + 2);
                  set(i, k + 2, at(i, k + 2) - p * r);
                }
                set(i, k + 1, at(i, k + 1) - p * q);
                set(i, k, at(i, k) - p);
              }
            }
          }
        }
      }
    } while (l < nn - 1);
  }
  return { re: wr, im: wi };
}

