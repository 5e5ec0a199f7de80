/**
 * The circuits analyses' MatmulBackend (src/analysis/linalg.ts) on onnxruntime: three tiny
 * dynamic-shape graphs, C = A·B (MatMul), A·Bᵀ and Aᵀ·B (Gemm with transB / transA), so the
 * analyses never transpose large matrices in TypeScript. Float32 accumulation (MLAS), which is
 * ~1e-6 relative against the float64-accumulating TypeScript backend.
 * Used by Engine.circuits / Engine.mlpPair / Engine.attributeAll and by bench/circuits.ts.
 */
import type * as ort from 'onnxruntime-node';
import type { MatmulBackend } from '../analysis/linalg';
import { DataType, GraphBuilder } from './onnx/model';
import { createSession, floatOutput, floatTensor, type SessionSettings } from './session';

export interface OrtMatmulBackend extends Required<MatmulBackend> {
  /** Releases the three sessions; the backend must not be used afterwards. */
  release(): Promise<void>;
}

/** C [m, n] from a [m, k] (or at [k, m] with transA) and b [k, n] (or bt [n, k] with transB). */
function productGraph(name: string, transA: boolean, transB: boolean): Uint8Array {
  const g = new GraphBuilder(name);
  g.input('a', DataType.FLOAT, transA ? ['k', 'm'] : ['m', 'k']);
  g.input('b', DataType.FLOAT, transB ? ['n', 'k'] : ['k', 'n']);
  if (transA || transB) g.op('Gemm', ['a', 'b'], { ...(transA && { transA: { i: 1 } }), ...(transB && { transB: { i: 1 } }) }, 'c');
  else g.op('MatMul', ['a', 'b'], {}, 'c');
  g.output('c', DataType.FLOAT, ['m', 'n']);
  return g.build();
}

/** Creates the sessions (a few ms); typed-array views (subarray) are passed as they are: ORT reads their byteOffset. */
export async function createOrtMatmulBackend(settings?: SessionSettings): Promise<OrtMatmulBackend> {
  const sessions: ort.InferenceSession[] = [];
  try {
    for (const [name, transA, transB] of [
      ['residual_lens_matmul', false, false],
      ['residual_lens_matmul_transb', false, true],
      ['residual_lens_matmul_transa', true, false],
    ] as const) {
      sessions.push(await createSession(productGraph(name, transA, transB), undefined, settings));
    }
  } catch (err) {
    await Promise.all(sessions.map((s) => s.release().catch(() => undefined)));
    throw err;
  }
  const [plain, transB, transA] = sessions as [ort.InferenceSession, ort.InferenceSession, ort.InferenceSession];
  return {
    matmul: async (a, b, m, k, n) => floatOutput(await plain.run({ a: floatTensor(a, [m, k]), b: floatTensor(b, [k, n]) }), 'c'),
    matmulTransB: async (a, bt, m, k, n) => floatOutput(await transB.run({ a: floatTensor(a, [m, k]), b: floatTensor(bt, [n, k]) }), 'c'),
    matmulTransA: async (at, b, m, k, n) => floatOutput(await transA.run({ a: floatTensor(at, [k, m]), b: floatTensor(b, [k, n]) }), 'c'),
    release: async () => {
      await Promise.all(sessions.map((s) => s.release().catch(() => undefined)));
    },
  };
}
