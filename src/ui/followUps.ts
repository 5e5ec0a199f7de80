/**
 * The follow-up engine requests of one stored trace (the lens table, DLA per position and token),
 * each asked at most once: the panel, the side view and any number of hovers share the answers.
 * A failed request is forgotten so a later view may retry (e.g. after a worker restart).
 * No vscode import (unit-tested with a counting fake engine).
 */
import type { Attribution, LensTable } from '../engine/types';

/** The two engine calls a trace's views need (EngineSession.request in the extension). */
export interface FollowUpEngine {
  lens(traceId: number, k: number): Promise<LensTable>;
  attribute(traceId: number, pos: number, tokenId: number | undefined): Promise<Attribution>;
}

export class TraceFollowUps {
  private lensTable: Promise<LensTable> | undefined;
  private readonly attributions = new Map<string, Promise<Attribution>>();

  constructor(
    private readonly traceId: number,
    private readonly engine: FollowUpEngine,
  ) {}

  /** The lens table, requested once (with the first caller's k). */
  lens(k: number): Promise<LensTable> {
    if (!this.lensTable) {
      const p = this.engine.lens(this.traceId, k);
      this.lensTable = p;
      p.catch(() => {
        if (this.lensTable === p) this.lensTable = undefined;
      });
    }
    return this.lensTable;
  }

  /** DLA at `pos` to `tokenId` (default: the top-1 prediction), requested once per (pos, token). */
  attribution(pos: number, tokenId?: number): Promise<Attribution> {
    const key = `${pos}:${tokenId ?? 'top'}`;
    let p = this.attributions.get(key);
    if (!p) {
      const request = this.engine.attribute(this.traceId, pos, tokenId);
      p = request;
      this.attributions.set(key, request);
      request.catch(() => {
        if (this.attributions.get(key) === request) this.attributions.delete(key);
      });
    }
    return p;
  }
}
