/**
 * MLP virtual weights (the seed's W_in(j)ᵀ W_out(i), written out with TransformerLens shapes
 * W_in [D, M], W_out [M, D]): W_virtual[m, k] = W_in(j)[:, m] · W_out(i)[k, :], i.e. the [M, M] matrix
 * W_in(j)ᵀ W_out(i)ᵀ (writer neuron k of MLP i → reader neuron m of MLP j).
 * Its Frobenius norm comes from d_model × d_model Grams, never the M × M product:
 *   ‖W_virtual‖_F² = tr(G_j H_i),  G_j = W_in(j) W_in(j)ᵀ,  H_i = W_out(i)ᵀ W_out(i).
 * Head ↔ MLP strengths use the same Grams with the head factors of composition.ts.
 */
import type { MlpPairParams, MlpPairReport } from './circuitTypes';
import type { HeadFactors } from './composition';
import { backendGramColumns, backendMatmulTransB, jsBackend, matmulTransB, sumSquares, transpose, type MatmulBackend } from './linalg';
import type { ProcessedWeights } from './processWeights';

/** Per layer: G_j = W_in W_inᵀ (read Gram) and H_i = W_outᵀ W_out (write Gram), each [D, D]. */
export interface MlpGrams {
  readonly read: readonly Float32Array[];
  readonly write: readonly Float32Array[];
}

export async function mlpGrams(pw: ProcessedWeights, backend: MatmulBackend = jsBackend): Promise<MlpGrams> {
  const { dModel: D, dMlp: M } = pw.config;
  const read: Float32Array[] = [];
  const write: Float32Array[] = [];
  for (const layer of pw.layers) {
    read.push(await backendMatmulTransB(backend, layer.wIn, layer.wIn, D, M, D));
    write.push(await backendGramColumns(backend, layer.wOut, M, D));
  }
  return { read, write };
}

/** Σ a ⊙ b in float64 (the trace of a product of two symmetric matrices). */
function frobeniusInner(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
}

/** [L, L] ‖W_virtual(j ← i)‖_F, row = reader j, column = writer i; 0 where j <= i. */
export function mlpVirtualNorms(grams: MlpGrams, nLayer: number): Float32Array {
  const out = new Float32Array(nLayer * nLayer);
  for (let j = 0; j < nLayer; j++) {
    for (let i = 0; i < j; i++) out[j * nLayer + i] = Math.sqrt(Math.max(0, frobeniusInner(grams.read[j]!, grams.write[i]!)));
  }
  return out;
}

/**
 * Head → MLP: [L, H, L] ‖W_OV(h) W_in(j)‖_F for l <= j (the MLP of a head's own layer reads it), else 0.
 * = sqrt(⟨E(h)ᵀ E(h), G_j⟩), E from HeadFactors.
 * MLP → head: [L, L, H] for i < l, sqrt(‖W_out(i) W_QK(h)‖² + ‖W_out(i) W_QK(h)ᵀ‖² + ‖W_out(i) W_OV(h)‖²):
 * how strongly the head's query, key and value reads see MLP i's output; = sqrt(⟨H_i, R(h) R(h)ᵀ⟩).
 */
export async function headMlpStrengths(
  pw: ProcessedWeights,
  factors: HeadFactors,
  grams: MlpGrams,
  backend: MatmulBackend = jsBackend,
): Promise<{ headToMlp: Float32Array; mlpToHead: Float32Array }> {
  const { nLayer: L, nHead: H, dModel: D, dHead: Dh } = pw.config;
  const DD = D * D;
  const headToMlp = new Float32Array(L * H * L);
  const mlpToHead = new Float32Array(L * L * H);
  // every inner product ⟨head Gram, MLP Gram⟩ of a layer is one entry of a [H, D²] × [D², L] product
  const readStack = new Float32Array(L * DD);
  const writeStack = new Float32Array(L * DD);
  grams.read.forEach((g, j) => readStack.set(g, j * DD));
  grams.write.forEach((g, i) => writeStack.set(g, i * DD));
  // Gram stacks as the right operand: transposed once when the backend has no transB product
  const againstStack = (a: Float32Array, stackRows: Float32Array, stackT: Float32Array | undefined): Promise<Float32Array> =>
    stackT ? backend.matmul(a, stackT, H, DD, L) : backendMatmulTransB(backend, a, stackRows, H, DD, L);
  const readT = backend.matmulTransB ? undefined : transpose(readStack, L, DD);
  const writeT = backend.matmulTransB ? undefined : transpose(writeStack, L, DD);
  const stack = new Float32Array(H * DD);
  const W3 = 3 * H * Dh;
  const r = new Float32Array(D * 3 * Dh); // [D, 3·Dh]: one head's q | k | v read factors
  for (let l = 0; l < L; l++) {
    for (let h = 0; h < H; h++) {
      const e = factors.write.subarray((l * H + h) * Dh * D, (l * H + h + 1) * Dh * D);
      stack.set(await backendGramColumns(backend, e, Dh, D), h * DD);
    }
    const toMlp = await againstStack(stack, readStack, readT); // [H, L]
    for (let h = 0; h < H; h++) for (let j = l; j < L; j++) headToMlp[(l * H + h) * L + j] = Math.sqrt(Math.max(0, toMlp[h * L + j] as number));
    if (l === 0) continue;
    const readLayer = factors.read[l]!;
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < D; i++) {
        for (let mode = 0; mode < 3; mode++) {
          const from = i * W3 + mode * H * Dh + h * Dh;
          r.set(readLayer.subarray(from, from + Dh), i * 3 * Dh + mode * Dh);
        }
      }
      stack.set(await backendMatmulTransB(backend, r, r, D, 3 * Dh, D), h * DD);
    }
    const fromMlp = await againstStack(stack, writeStack, writeT); // [H, L], columns i < l used
    for (let h = 0; h < H; h++) for (let i = 0; i < l; i++) mlpToHead[(i * L + l) * H + h] = Math.sqrt(Math.max(0, fromMlp[h * L + i] as number));
  }
  return { headToMlp, mlpToHead };
}

/** Top-N |W_virtual[m, k]| candidates kept while the product streams past, then re-ranked exactly. */
class NeuronPairTop {
  private readonly items: { readerNeuron: number; writerNeuron: number; approx: number }[] = [];
  /** N-th largest |approx| seen so far (0 until N were seen). */
  private threshold = 0;
  private compactAt: number;
  sumSq = 0;

  /** `slack`: the largest |approx − exact| the product can have; candidates within 2·slack of the N-th are kept. */
  constructor(
    private readonly topN: number,
    private readonly slack: number,
  ) {
    this.compactAt = 4 * topN;
  }

  /** Rows m0 … m0 + rows − 1 of the [M, M] product, row-major [rows, M]. */
  add(part: Float32Array, m0: number, rows: number, M: number): void {
    const band = 2 * this.slack;
    for (let r = 0; r < rows; r++) {
      for (let k = 0; k < M; k++) {
        const value = part[r * M + k] as number;
        this.sumSq += value * value;
        const mag = Math.abs(value);
        if (this.items.length < this.topN || mag >= this.threshold - band) {
          this.items.push({ readerNeuron: m0 + r, writerNeuron: k, approx: value });
          if (this.items.length > this.compactAt) this.compact();
        }
      }
    }
  }

  private compact(): void {
    const items = this.items;
    items.sort((a, b) => Math.abs(b.approx) - Math.abs(a.approx));
    this.threshold = Math.abs(items[this.topN - 1]!.approx);
    const floor = this.threshold - 2 * this.slack;
    let keep = this.topN;
    while (keep < items.length && Math.abs(items[keep]!.approx) >= floor) keep++;
    items.length = keep;
    this.compactAt = Math.max(4 * this.topN, 2 * keep);
  }

  /**
   * The exact top N: candidates re-evaluated as float64 dot products of the float32 rows, sorted by
   * |value| (ties: reader, then writer neuron), so every backend gives the same list.
   */
  finish(inT: Float32Array, outRows: Float32Array, D: number): { readerNeuron: number; writerNeuron: number; value: number }[] {
    if (this.items.length > this.topN) this.compact();
    const exact = this.items.map((c) => {
      let s = 0;
      const a = c.readerNeuron * D;
      const b = c.writerNeuron * D;
      for (let d = 0; d < D; d++) s += (inT[a + d] as number) * (outRows[b + d] as number);
      return { readerNeuron: c.readerNeuron, writerNeuron: c.writerNeuron, value: s };
    });
    exact.sort((p, q) => Math.abs(q.value) - Math.abs(p.value) || p.readerNeuron - q.readerNeuron || p.writerNeuron - q.writerNeuron);
    return exact.slice(0, this.topN);
  }
}

function maxRowNorm(a: Float32Array, rows: number, d: number): number {
  let best = 0;
  for (let r = 0; r < rows; r++) best = Math.max(best, sumSquares(a, r * d, (r + 1) * d));
  return Math.sqrt(best);
}

/** Checked parameters and the two operands: inT [M, D] (row m = reader neuron m's read vector), outRows [M, D]. */
function mlpPairSetup(pw: ProcessedWeights, params: MlpPairParams) {
  const { nLayer: L, dModel: D, dMlp: M } = pw.config;
  const { writer, reader } = params;
  const topN = params.topN ?? 20;
  if (!Number.isInteger(writer) || !Number.isInteger(reader) || writer < 0 || reader >= L || writer >= reader) {
    throw new RangeError(`mlpPair: need writer layer < reader layer within 0..${L - 1}, got writer ${writer}, reader ${reader}`);
  }
  if (!Number.isInteger(topN) || topN < 1) throw new RangeError(`mlpPair: topN must be a positive integer, got ${topN}`);
  const inT = transpose(pw.layers[reader]!.wIn, D, M);
  const outRows = pw.layers[writer]!.wOut;
  // A float32-accumulated dot product of length D errs by at most ~D·2⁻²⁴·‖a‖‖b‖ (plus rounding of
  // the result); 2⁻²³ doubles that for margin. Any backend within it yields the exact top N.
  const slack = (D + 2) * 2 ** -23 * maxRowNorm(inT, M, D) * maxRowNorm(outRows, M, D);
  return { writer, reader, topN, D, M, inT, outRows, top: new NeuronPairTop(Math.min(topN, M * M), slack) };
}

/** Rows of the [M, M] virtual weight computed per call. */
const MLP_PAIR_BLOCK = 256;

/**
 * Exact drill-down for one MLP pair: the M × M virtual weight W_in(j)ᵀ W_out(i)ᵀ (reader neuron m,
 * writer neuron k), computed in row blocks and never stored whole; its norm and top |entries| (signed).
 * Plain TypeScript; mlpPairReportWith sends the blocks to a faster backend and returns the same pairs.
 */
export function mlpPairReport(pw: ProcessedWeights, params: MlpPairParams): MlpPairReport {
  const s = mlpPairSetup(pw, params);
  for (let m0 = 0; m0 < s.M; m0 += MLP_PAIR_BLOCK) {
    const rows = Math.min(MLP_PAIR_BLOCK, s.M - m0);
    s.top.add(matmulTransB(s.inT.subarray(m0 * s.D, (m0 + rows) * s.D), s.outRows, rows, s.D, s.M), m0, rows, s.M);
  }
  return { writer: s.writer, reader: s.reader, topN: s.topN, norm: Math.sqrt(s.top.sumSq), pairs: s.top.finish(s.inT, s.outRows, s.D) };
}

/** mlpPairReport with the blocks through `backend` (7.2 G multiply-adds for GPT-2 small); same pairs and values. */
export async function mlpPairReportWith(pw: ProcessedWeights, params: MlpPairParams, backend: MatmulBackend): Promise<MlpPairReport> {
  const s = mlpPairSetup(pw, params);
  for (let m0 = 0; m0 < s.M; m0 += MLP_PAIR_BLOCK) {
    const rows = Math.min(MLP_PAIR_BLOCK, s.M - m0);
    s.top.add(await backendMatmulTransB(backend, s.inT.subarray(m0 * s.D, (m0 + rows) * s.D), s.outRows, rows, s.D, s.M), m0, rows, s.M);
  }
  return { writer: s.writer, reader: s.reader, topN: s.topN, norm: Math.sqrt(s.top.sumSq), pairs: s.top.finish(s.inT, s.outRows, s.D) };
}
