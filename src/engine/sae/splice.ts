/**
 * Splicing the SAE into the model (SAELens's `run_with_saes`): the stored trace run again with the
 * SAE's hook activation replaced at every position by its reconstruction — one 'set' intervention
 * through the interventions engine — scored at one position against the unedited run.
 */
import { INTERVENTIONS_SCHEMA_VERSION, type InterventionRun, type Metric } from '../../protocol/interventions';
import type { RunInterventionsParams, RunInterventionsResult } from '../../protocol/patching';
import type { SaeReconstruction, SaeSpliceParams, SaeSpliceResult } from './types';

/** What splicing needs of the engine. */
export interface SpliceDeps {
  reconstruction(traceId: number): Promise<SaeReconstruction>;
  runInterventions(p: RunInterventionsParams): Promise<RunInterventionsResult>;
}

const DEFAULT_TOP_K = 5;

export async function spliceSae(deps: SpliceDeps, p: SaeSpliceParams): Promise<SaeSpliceResult> {
  const rec = await deps.reconstruction(p.traceId);
  const runs: InterventionRun[] = [{ interventions: [{ site: { hook: rec.hook }, action: { kind: 'set', values: rec.values } }] }];
  const pos = p.pos ?? rec.positions - 1;
  const ask = (metric: Metric, topK?: number): Promise<RunInterventionsResult> =>
    deps.runInterventions({ schema: INTERVENTIONS_SCHEMA_VERSION, traceId: p.traceId, runs, metric, ...(topK ? { topK } : {}) });
  // KL first (with both top-k lists), then the unedited top-1's log-probability with the SAE in.
  const kl = await ask({ kind: 'kl', pos }, p.topK ?? DEFAULT_TOP_K);
  const baseTop = kl.baseTop;
  const top = kl.top?.[0];
  if (!baseTop || !top) throw new Error('spliceSae: the interventions engine returned no top-k');
  const tokenId = baseTop.ids[0] ?? 0;
  const lp = await ask({ kind: 'logprob', pos, token: tokenId });
  return {
    traceId: p.traceId,
    hook: rec.hook,
    pos: kl.pos,
    kl: kl.metrics[0] ?? 0,
    tokenId,
    logprobBefore: lp.baseline,
    logprobAfter: lp.metrics[0] ?? 0,
    baseTop,
    top,
  };
}
