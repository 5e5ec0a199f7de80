/**
 * The forward a workspace feature scan runs per window: the instrumented graph cut after the last
 * layer the SAE's hook needs (the same graph builder with fewer layers), one session at a time,
 * created on first use per model and layer count. With every layer needed it is the model's own.
 */
import type * as ort from 'onnxruntime-node';
import type { SaeConfig } from '../../models/sae/config';
import { buildInstrumentedGraph, type WeightLocator } from '../graph';
import { createSession, type SessionSettings } from '../session';
import type { ModelInfo } from '../types';

/** What the scan needs of the loaded model. */
export interface ScanModel {
  readonly info: ModelInfo;
  readonly locate: WeightLocator;
  readonly weightsFolder: string;
  /** The model's full instrumented forward. */
  readonly forward: ort.InferenceSession;
}

/** Layers the scan's forward runs: up to and including the SAE's hook layer (resid_pre l needs l layers). */
export function scanLayers(nLayer: number, cfg: Pick<SaeConfig, 'hookKind' | 'hookLayer'>): number {
  return Math.min(nLayer, Math.max(1, cfg.hookKind === 'resid_pre' ? cfg.hookLayer : cfg.hookLayer + 1));
}

export class ScanForward {
  private current: { readonly key: string; readonly session: Promise<ort.InferenceSession> } | undefined;

  constructor(private readonly settings: () => SessionSettings) {}

  /** The session for `layers` layers of `m` (its own forward when that is all of them). */
  session(m: ScanModel, layers: number): Promise<ort.InferenceSession> {
    if (layers >= m.info.config.nLayer) return Promise.resolve(m.forward);
    const key = `${m.info.fingerprint}:${layers}`;
    if (this.current?.key !== key) {
      void this.release();
      this.current = { key, session: createSession(buildInstrumentedGraph({ ...m.info.config, nLayer: layers }, m.locate), m.weightsFolder, this.settings()) };
    }
    return this.current.session;
  }

  /** Releases the cut session, if any (a new model, or the engine's disposal). */
  async release(): Promise<void> {
    const s = this.current;
    this.current = undefined;
    if (s) await s.session.then((x) => x.release()).catch(() => undefined);
  }
}
