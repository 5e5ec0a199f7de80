/**
 * Newest trace wins: each trace takes a ticket; taking a new one aborts the previous ticket's
 * signal, and `stale()` tells a finishing trace that a newer one started (or the panel closed),
 * so its result is dropped instead of painting over the newer one. No vscode import (unit-tested).
 */

export interface TraceTicket {
  /** Aborted when a newer trace starts or the sequence is cancelled. */
  readonly signal: AbortSignal;
  /** True once a newer ticket was taken or `cancel()` was called: drop this trace's results. */
  stale(): boolean;
}

export class TraceSequencer {
  private generation = 0;
  private inflight: AbortController | undefined;

  /** Starts a trace: cancels the one in flight and returns the new one's ticket. */
  begin(): TraceTicket {
    this.inflight?.abort();
    const abort = new AbortController();
    this.inflight = abort;
    const generation = ++this.generation;
    return { signal: abort.signal, stale: () => generation !== this.generation };
  }

  /** Cancels the trace in flight (panel closed, extension deactivated): its results are dropped. True when one was running. */
  cancel(): boolean {
    const running = this.inflight !== undefined;
    this.inflight?.abort();
    this.inflight = undefined;
    this.generation++;
    return running;
  }

  /** A ticket's trace finished: a later cancel() has nothing to abort. */
  finish(ticket: TraceTicket): void {
    if (!ticket.stale()) this.inflight = undefined;
  }
}
