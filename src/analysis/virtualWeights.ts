/**
 * Head virtual weights for one pair h1 (layer1) → h2 (layer2 > layer1).
 * Row-vector convention: what h1 reads (x) reaches h2's query as x · W_OV(h1) · W_Q(h2), so the
 * virtual weight is X = W_OV(h1) W_Q(h2) [D, Dh]; the seed's W_Q(h2)ᵀ W_OV(h1) [Dh, D] is its transpose
 * in column-vector notation. K and V use W_K(h2), W_V(h2). Everything goes through the d_head core
 * M = W_O(h1) W_X(h2) [Dh, Dh]: Xᵀ X = Mᵀ G_V(h1) M.
 */
import type { HeadPairParams, HeadPairReport } from './circuitTypes';
import { gramColumns, gramRows, matmul64, symmetricEigen } from './linalg';
import { headW, headWO, projectOnUnembed, type ProcessedWeights } from './processWeights';

/** Trace of A Bᵀ-style products for symmetric inputs: Σ a ⊙ b. */
function inner(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
}

export function validateHeadPair(pw: ProcessedWeights, p: HeadPairParams): void {
  const { nLayer: L, nHead: H } = pw.config;
  const okLayer = (l: number): boolean => Number.isInteger(l) && l >= 0 && l < L;
  const okHead = (h: number): boolean => Number.isInteger(h) && h >= 0 && h < H;
  if (!okLayer(p.layer1) || !okLayer(p.layer2) || !okHead(p.head1) || !okHead(p.head2)) {
    throw new RangeError(`headPair: L${p.layer1}H${p.head1} → L${p.layer2}H${p.head2} is outside the model (${L} layers × ${H} heads)`);
  }
  if (p.layer1 >= p.layer2) throw new RangeError(`headPair: the writing head's layer (${p.layer1}) must come before the reading head's (${p.layer2})`);
  if (p.kind !== 'q' && p.kind !== 'k' && p.kind !== 'v') throw new RangeError(`headPair: kind must be 'q', 'k' or 'v', got '${String(p.kind)}'`);
}

export function headPairReport(pw: ProcessedWeights, params: HeadPairParams): HeadPairReport {
  validateHeadPair(pw, params);
  const cfg = pw.config;
  const { dModel: D, dHead: Dh } = cfg;
  const topDirections = params.topDirections ?? 5;
  const l1 = pw.layers[params.layer1]!;
  const l2 = pw.layers[params.layer2]!;
  const wV1 = headW(l1.wV, params.head1, cfg);
  const wO1 = headWO(l1, params.head1, cfg);
  const wQ2 = headW(l2.wQ, params.head2, cfg);
  const wK2 = headW(l2.wK, params.head2, cfg);
  const wV2 = headW(l2.wV, params.head2, cfg);
  const wO2 = headWO(l2, params.head2, cfg);
  const read = params.kind === 'q' ? wQ2 : params.kind === 'k' ? wK2 : wV2;
  const gV1 = gramColumns(wV1, D, Dh);
  const core = matmul64(wO1, read, Dh, D, Dh); // M = W_O(h1) W_X(h2)
  // Xᵀ X = Mᵀ G_V M
  const gM = matmul64(gV1, core, Dh, Dh, Dh);
  const xtx = matmul64(transposeSmall(core, Dh), gM, Dh, Dh, Dh);
  const eig = symmetricEigen(xtx, Dh);
  const singularValues = Float32Array.from(eig.values, (v) => Math.sqrt(Math.max(0, v)));
  const norm = Math.sqrt(Math.max(0, inner(gM, core)));

  // Composition score of the pair: B = W_QK(h2), W_QK(h2)ᵀ or W_OV(h2); its right factor's Gram G_Y.
  const gY = params.kind === 'q' ? gramColumns(wK2, D, Dh) : params.kind === 'k' ? gramColumns(wQ2, D, Dh) : gramRows(wO2, Dh, D);
  const numSq = inner(xtx, gY); // ‖W_OV(h1) W_X W_Yᵀ‖² = tr(Xᵀ X G_Y)
  const ovNormSq = inner(gV1, gramRows(wO1, Dh, D));
  const bNormSq = params.kind === 'v' ? inner(gramColumns(wV2, D, Dh), gY) : inner(gramColumns(wQ2, D, Dh), gramColumns(wK2, D, Dh));
  const denom = Math.sqrt(ovNormSq * bNormSq);
  const score = denom > 0 ? Math.sqrt(Math.max(0, numSq)) / denom : 0;

  const directions: { singularValue: number; topTokens: { id: number; value: number }[] }[] = [];
  for (let i = 0; i < Math.min(topDirections, Dh); i++) {
    const sigma = singularValues[i] as number;
    if (!(sigma > 0)) break;
    // right singular vector w (in h2's head space) → input direction u = X w / σ → h1's write u · W_OV(h1)
    const w = eig.vectors.subarray(i * Dh, (i + 1) * Dh);
    const mw = matmul64(core, w, Dh, Dh, 1);
    const u = matmul64(wV1, mw, D, Dh, 1);
    const uV = matmul64(u, wV1, 1, D, Dh);
    const written = matmul64(uV, wO1, 1, Dh, D);
    const len = Math.sqrt(inner(written, written));
    if (!(len > 0)) break;
    for (let k = 0; k < D; k++) written[k] = (written[k] as number) / len;
    directions.push({ singularValue: sigma, topTokens: topTokens(projectOnUnembed(pw, written), 10) });
  }
  return { ...params, topDirections, norm, score, singularValues, directions };
}

/** Tokens with the largest |value|, signed; the sign of a singular direction is arbitrary, so flip it to make the top one positive. */
function topTokens(values: Float32Array, k: number): { id: number; value: number }[] {
  const ids = Array.from({ length: values.length }, (_, i) => i);
  ids.sort((a, b) => Math.abs(values[b] as number) - Math.abs(values[a] as number));
  const chosen = ids.slice(0, k);
  const sign = chosen.length > 0 && (values[chosen[0]!] as number) < 0 ? -1 : 1;
  return chosen.map((id) => ({ id, value: sign * (values[id] as number) }));
}

function transposeSmall(a: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[j * n + i] = a[i * n + j] as number;
  return out;
}
