/**
 * The trace JSON of docs/cli-json.md (schema 1), built in one place for the CLI (`trace --json`,
 * in-process engine) and the trace panel's "Save trace as JSON" (in the worker, so the extension
 * host never stringifies megabytes of attention patterns): one forward pass with the given
 * options, the logit lens with k = topK, and DLA at the last position to its top-1.
 */
import { residualNorms } from '../analysis/residual';
import { traceToJson, type TraceJson } from '../cli/traceJson';
import type { Engine, RequestContext } from './engine';
import type { TraceParams } from '../protocol/engine';

/** Default top-k of the export, as the CLI's --k. */
export const TRACE_JSON_DEFAULT_K = 10;

export async function buildTraceJson(engine: Engine, p: TraceParams, ctx?: RequestContext): Promise<TraceJson> {
  const k = p.options?.topK ?? TRACE_JSON_DEFAULT_K;
  const prependBos = p.options?.prependBos ?? true;
  const trace = await engine.trace({ text: p.text, options: { ...p.options, prependBos, topK: k } }, ctx);
  const lens = await engine.lens({ traceId: trace.traceId, k }, ctx);
  const attribution = await engine.attribute({ traceId: trace.traceId, pos: trace.tokens.length - 1 });
  const c = trace.model.config;
  const norms = residualNorms(trace.resid, c.nLayer + 1, trace.tokens.length, c.dModel);
  return traceToJson({ trace, lens, attribution, residNorms: norms, prependBos });
}

/** buildTraceJson as UTF-8 bytes (one line and a newline, as the CLI prints it): transferred, not copied, to the host. */
export async function traceJsonBytes(engine: Engine, p: TraceParams, ctx?: RequestContext): Promise<Uint8Array> {
  return new TextEncoder().encode(`${JSON.stringify(await buildTraceJson(engine, p, ctx))}\n`);
}
