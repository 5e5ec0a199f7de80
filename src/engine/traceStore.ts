/**
 * The traces an engine keeps for follow-up requests (lens, attribution, head results, patterns,
 * interventions, SAE features), least recently used first, bounded by count and bytes, and the newest
 * trace's extra arrays for prefix reuse (prefixReuse.ts). The arrays are the returned traces' own
 * (no copies): a worker must copy, not transfer, them when it posts a result (retainedBuffers).
 */
import { EngineError } from '../protocol/engine';
import { extraBytes, reusableTrace, type ReusableTrace } from './prefixReuse';
import type { ModelInfo, TokenInfo, Trace } from './types';

/** What a stored trace keeps: the arrays follow-up requests read (shared with the returned Trace). */
export interface StoredTrace {
  readonly traceId: number;
  readonly model: ModelInfo;
  readonly tokens: TokenInfo[];
  /** [T, D] */ readonly embed: Float32Array;
  /** [T, D] */ readonly posEmbed: Float32Array;
  /** [L+1, T, D] */ readonly resid: Float32Array;
  /** [L, T, H, Dh] */ readonly z: Float32Array;
  /** [L, T, D] */ readonly mlpOut: Float32Array;
  /** [T] */ readonly lnFinalScale: Float32Array;
  /** [T, k] top-1 ids are the default attribution targets */ readonly topIds: Int32Array;
  /** [L, H, T, T] kept only for traces made by traceSummary (whose caller never got the patterns). */
  readonly pattern?: Float32Array;
  readonly k: number;
  readonly bytes: number;
}

export interface TraceStoreLimits {
  /** Traces kept. Default 8. */
  readonly maxTraces?: number;
  /** Bytes of stored trace data kept at most (the newest trace is always kept). Default 384 MiB. */
  readonly maxTraceBytes?: number;
  /** Keep the newest trace's arrays for prefix reuse (false: never). Default true. */
  readonly reusePrefix?: boolean;
}

export class TraceStore {
  private readonly traces = new Map<number, StoredTrace>();
  private evicted = 0;
  /**
   * The newest trace's arrays for prefix reuse, valid while that trace is stored, or `detached`:
   * forgotten (forget) but kept for reuse, its stored bytes counted here.
   */
  private reuse: { readonly trace: ReusableTrace; readonly bytes: number; readonly detached?: true } | undefined;

  constructor(private readonly limits: TraceStoreLimits = {}) {}

  /**
   * Keeps the arrays follow-up requests read, then evicts the least recently used traces beyond the
   * limits (never the newest). `withPattern` also keeps the patterns (their bytes count).
   */
  add(trace: Trace, withPattern: boolean): void {
    const kept = {
      ...(withPattern ? { pattern: trace.pattern } : {}),
      embed: trace.embed,
      posEmbed: trace.posEmbed,
      resid: trace.resid,
      z: trace.z,
      mlpOut: trace.mlpOut,
      lnFinalScale: trace.lnFinalScale,
      topIds: trace.logitsTop.ids,
    };
    const bytes = Object.values(kept).reduce((n, a) => n + a.byteLength, 0);
    this.traces.set(trace.traceId, { traceId: trace.traceId, model: trace.model, tokens: trace.tokens, k: trace.logitsTop.k, bytes, ...kept });
    const maxTraces = Math.max(1, this.limits.maxTraces ?? 8);
    const maxBytes = this.limits.maxTraceBytes ?? 384 * 1024 * 1024;
    // Prefix reuse keeps the rest of the newest trace's arrays, only while they fit the byte budget.
    if (this.reuse) this.evicted += this.reuse.bytes;
    const reusable = this.limits.reusePrefix === false ? undefined : reusableTrace(trace);
    const reuseBytes = reusable ? extraBytes(reusable, withPattern) : 0;
    this.reuse = reusable && bytes + reuseBytes <= maxBytes ? { trace: reusable, bytes: reuseBytes } : undefined;
    let total = [...this.traces.values()].reduce((n, s) => n + s.bytes, this.reuse?.bytes ?? 0);
    for (const [id, s] of this.traces) {
      if (this.traces.size <= 1 || (this.traces.size <= maxTraces && total <= maxBytes)) break;
      this.traces.delete(id);
      total -= s.bytes;
      this.evicted += s.bytes;
    }
  }

  /** A stored trace, now the most recently used; EngineError('unknown-trace') when it is gone. */
  get(traceId: number): StoredTrace {
    const s = this.traces.get(traceId);
    if (!s) throw new EngineError('unknown-trace', `Trace ${traceId} is no longer stored; trace the text again.`);
    // Least recently used first: re-insert on access.
    this.traces.delete(traceId);
    this.traces.set(traceId, s);
    return s;
  }

  /**
   * Drops a stored trace (a live trace ahead of the pause that a newer edit superseded). When it is
   * the prefix-reuse source its arrays stay, detached, for the next trace to reuse.
   */
  forget(traceId: number): void {
    const s = this.traces.get(traceId);
    if (!s) return;
    this.traces.delete(traceId);
    if (this.reuse?.trace.traceId === traceId) this.reuse = { trace: this.reuse.trace, bytes: this.reuse.bytes + s.bytes, detached: true };
    else this.evicted += s.bytes;
  }

  /** The newest trace's arrays for prefix reuse, while that trace is stored (or detached for reuse). */
  reusable(): ReusableTrace | undefined {
    return this.reuse && (this.reuse.detached || this.traces.has(this.reuse.trace.traceId)) ? this.reuse.trace : undefined;
  }

  /** Forgets every trace (a new model). */
  clear(): void {
    this.traces.clear();
    this.reuse = undefined;
  }

  /** Stored trace ids, least recently used first. */
  ids(): number[] {
    return [...this.traces.keys()];
  }

  /** Bytes of trace data evicted so far (monotonic); the worker collects garbage by it. */
  get evictedBytes(): number {
    return this.evicted;
  }

  /** Buffers of stored traces: a worker must copy, not transfer, these when posting a result. */
  retainedBuffers(): Set<ArrayBufferLike> {
    const buffers = new Set<ArrayBufferLike>();
    for (const s of this.traces.values()) {
      for (const a of [s.embed, s.posEmbed, s.resid, s.z, s.mlpOut, s.lnFinalScale, s.topIds, s.pattern]) if (a) buffers.add(a.buffer);
    }
    // The reused head rows (small); the reusable forward arrays a trace returns are transferred (no reuse after that).
    if (this.reuse) for (const a of [this.reuse.trace.head.top.logits, this.reuse.trace.head.top.probs]) buffers.add(a.buffer);
    // A forgotten trace kept for reuse: its arrays are no longer among the stored traces'.
    if (this.reuse?.detached) for (const a of Object.values(this.reuse.trace.forward)) buffers.add(a.buffer);
    return buffers;
  }
}
