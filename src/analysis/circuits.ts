/**
 * Weight-only circuits of a model (issue 5), assembled from the modules beside this one.
 * Pure: ModelWeights in, CircuitsReport out; attention patterns for the detectors come from the
 * caller's `runPatterns` (the engine runs them through ORT; tests use the reference forward), and
 * large matrix products can go to a faster `MatmulBackend`.
 */
import type { ModelWeights } from '../engine/types';
import type { CircuitsOptions, CircuitsReport, HeadPairParams, HeadPairReport, HeadScores, MlpPairParams, MlpPairReport } from './circuitTypes';
import { compositionBaseline, compositionScores, headFactors } from './composition';
import { detectHeads, detectorCeilings, repeatedRandomSequences } from './detectors';
import { jsBackend, type MatmulBackend } from './linalg';
import { SeededRandom } from './random';
import { headMlpStrengths, mlpGrams, mlpPairReport, mlpPairReportWith, mlpVirtualNorms } from './mlpVirtual';
import { processWeights } from './processWeights';
import { ovCircuits, positionalQk } from './qkov';
import { embeddingSubspaces, headSubspaceOverlaps, writeEffectiveRanks } from './subspaces';
import { headPairReport } from './virtualWeights';

/** Runs the model on each token sequence and returns its attention patterns, each [L, H, T, T]. */
export type RunPatterns = (batch: readonly Int32Array[]) => Promise<Float32Array[]>;

export interface CircuitsCompute {
  /** Backend for the large products (default: plain TypeScript). */
  readonly backend?: MatmulBackend;
  /** Called between stages, e.g. to report progress. */
  readonly onStage?: (stage: string) => void;
}

/** GPT-2's <|endoftext|>, used as BOS for the detector sequences when the vocabulary has it. */
const GPT2_EOT = 50256;
/** Detector sequences: this many, each BOS + n random tokens repeated twice. */
const DETECTOR_SEQUENCES = 4;
const DETECTOR_HALF_LENGTH = 20;
/** Positions shown in the positional QK thumbnails. */
const POSITIONAL_QK_SIZE = 16;

export async function computeCircuits(
  weights: ModelWeights,
  runPatterns: RunPatterns,
  options: CircuitsOptions = {},
  compute: CircuitsCompute = {},
): Promise<CircuitsReport> {
  const cfg = weights.config;
  const { nLayer: L, nHead: H, dVocab: V } = cfg;
  const seed = options.seed ?? 0;
  const tokenSample = options.tokenSample ?? 200;
  if (!Number.isInteger(seed)) throw new RangeError(`circuits: seed must be an integer, got ${seed}`);
  if (!Number.isInteger(tokenSample) || tokenSample < 1) throw new RangeError(`circuits: tokenSample must be a positive integer, got ${tokenSample}`);
  const backend = compute.backend ?? jsBackend;
  const stage = compute.onStage ?? ((): void => undefined);
  const pw = processWeights(weights);

  stage('head factors');
  const factors = await headFactors(pw, backend);
  stage('composition scores');
  const composition = await compositionScores(cfg, factors, backend);
  stage('MLP virtual weights');
  const grams = await mlpGrams(pw, backend);
  const mlpNorms = mlpVirtualNorms(grams, L);
  stage('head ↔ MLP strengths');
  const { headToMlp, mlpToHead } = await headMlpStrengths(pw, factors, grams, backend);

  stage('OV copying scores');
  const sample = new SeededRandom(seed).distinct(Math.min(tokenSample, V), 0, V);
  const ov = await ovCircuits(pw, sample, backend);

  stage('head detectors');
  const bos = V > GPT2_EOT ? GPT2_EOT : V - 1;
  const half = Math.max(1, Math.min(DETECTOR_HALF_LENGTH, Math.floor((cfg.nCtx - 1) / 2), V - 1));
  const sequences = repeatedRandomSequences(seed, DETECTOR_SEQUENCES, half, V, bos);
  const patterns = await runPatterns(sequences);
  const detected = detectHeads(sequences, patterns, L, H);

  stage('subspaces');
  const ranks = writeEffectiveRanks(pw);
  const subspaces = { ...(await embeddingSubspaces(pw, backend)), headOverlap: await headSubspaceOverlaps(pw, backend) };
  const n = Math.min(POSITIONAL_QK_SIZE, cfg.nCtx);

  const heads: HeadScores[] = [];
  for (let l = 0; l < L; l++) {
    for (let h = 0; h < H; h++) {
      const i = l * H + h;
      heads.push({
        layer: l,
        head: h,
        previousToken: detected.previousToken[i] as number,
        duplicateToken: detected.duplicateToken[i] as number,
        induction: detected.induction[i] as number,
        copying: ov.copying[i] as number,
        writeEffectiveRank: ranks[i] as number,
        ovTopTokens: ov.top[i]!,
      });
    }
  }
  return {
    nLayer: L,
    nHead: H,
    composition,
    compositionBaseline: compositionBaseline(cfg.dModel, cfg.dHead, seed),
    detectorCeilings: detectorCeilings(sequences),
    mlpVirtualNorms: mlpNorms,
    headToMlp,
    mlpToHead,
    heads,
    positionalQk: positionalQk(pw, n),
    positionalQkSize: n,
    subspaces,
  };
}

/** Virtual weight of one head pair (see virtualWeights.ts). */
export function headPair(weights: ModelWeights, params: HeadPairParams): HeadPairReport {
  return headPairReport(processWeights(weights), params);
}

/** Exact neuron-pair drill-down of one MLP pair (see mlpVirtual.ts). */
export function mlpPair(weights: ModelWeights, params: MlpPairParams): MlpPairReport {
  return mlpPairReport(processWeights(weights), params);
}

/** mlpPair with the large product through `backend` (the engine passes ORT); the same exact top-N pairs. */
export function mlpPairWith(weights: ModelWeights, params: MlpPairParams, backend: MatmulBackend): Promise<MlpPairReport> {
  return mlpPairReportWith(processWeights(weights), params, backend);
}
