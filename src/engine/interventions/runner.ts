/**
 * Runs interventions for the engine: validates requests, plans batches, drives the per-layer
 * block sessions and scores metrics. The Engine hands it a narrow view of the loaded model and
 * its stored traces (InterventionHost), so this module never reaches into Engine internals.
 */
import type { SessionSettings } from '../session';
import type { WeightLocator } from '../graph';
import type { LensRunner } from '../lens';
import type { ModelInfo, TokenInfo } from '../types';
import { EngineError } from '../../protocol/engine';
import type {
  PatchSweepParams,
  PatchSweepResult,
  ProgressPayload,
  RunInterventionsParams,
  RunInterventionsResult,
  TraceMetricParams,
  TraceMetricResult,
} from '../../protocol/patching';

/** What a stored trace offers to interventions (a subset of the engine's StoredTrace). */
export interface InterventionTrace {
  readonly traceId: number;
  readonly tokens: readonly TokenInfo[];
  /** [L+1, T, D] resid_pre of each layer, then the last resid_post. */
  readonly resid: Float32Array;
}

/** The loaded model and trace store, as the engine exposes them to the runner. */
export interface InterventionHost {
  readonly info: ModelInfo;
  readonly locate: WeightLocator;
  readonly weightsFolder: string;
  readonly lens: LensRunner;
  /** [D] ln_final gain and bias. */
  readonly lnFinalWeight: Float32Array;
  readonly lnFinalBias: Float32Array;
  /** [D] W_U[:, tokenId] (= W_E[tokenId], tied). */
  readonly unembedColumn: (tokenId: number) => Float32Array;
  /** Throws EngineError('unknown-trace') when the trace is gone. */
  readonly storedTrace: (traceId: number) => InterventionTrace;
  readonly sessionSettings: SessionSettings;
}

/** Cancellation and partial results, as the engine's RequestContext. */
export interface RunnerContext {
  readonly progress?: (stage: string) => void;
  readonly between?: () => Promise<void>;
  readonly emit?: (payload: ProgressPayload) => void;
}

export class InterventionRunner {
  constructor(private readonly host: InterventionHost) {}

  runInterventions(_p: RunInterventionsParams, _ctx: RunnerContext): Promise<RunInterventionsResult> {
    return Promise.reject(notYet());
  }

  patchSweep(_p: PatchSweepParams, _ctx: RunnerContext): Promise<PatchSweepResult> {
    return Promise.reject(notYet());
  }

  traceMetric(_p: TraceMetricParams, _ctx: RunnerContext): Promise<TraceMetricResult> {
    return Promise.reject(notYet());
  }

  /** Releases the block sessions. */
  async release(): Promise<void> {
    await Promise.resolve(this.host);
  }
}

function notYet(): EngineError {
  return new EngineError('internal', 'internal: not implemented yet');
}
