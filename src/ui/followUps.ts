/**
 * The follow-up engine requests of one stored trace, each asked at most once: the lens table, and
 * the DLA of every position to its top-1 prediction (one `attributeAll` per trace). The panel, the
 * side view and any number of hovers read from those answers; only a token picked from the top-k
 * that is not the top-1 costs an `attribute` request (once per position and token).
 * A failed request is forgotten so a later view may retry (e.g. after a worker restart).
 * No vscode import (unit-tested with a counting fake engine).
 */
import type { Attribution, AttributionTable, LensTable } from '../engine/types';

/** The engine calls a trace's views need (EngineSession.request in the extension). */
export interface FollowUpEngine {
  lens(traceId: number, k: number): Promise<LensTable>;
  attributeAll(traceId: number): Promise<AttributionTable>;
  attribute(traceId: number, pos: number, tokenId: number | undefined): Promise<Attribution>;
}

/** Row `pos` of an attribution table as the Attribution `attribute` would return for the default token. */
export function attributionAt(table: AttributionTable, pos: number): Attribution {
  if (!Number.isInteger(pos) || pos < 0 || pos >= table.positions) throw new RangeError(`pos ${pos} is out of range: 0..${table.positions - 1}.`);
  const C = table.components.length;
  const heads = table.components.filter((c) => c.kind === 'head');
  const nHead = heads.filter((c) => c.layer === 0).length;
  const values = table.values.slice(pos * C, (pos + 1) * C);
  const headGrid = new Float32Array(heads.length);
  table.components.forEach((c, i) => {
    if (c.kind === 'head') headGrid[c.layer * nHead + c.head] = values[i];
  });
  return {
    traceId: table.traceId,
    pos,
    tokenId: table.tokenIds[pos],
    components: table.components,
    values,
    headGrid,
    logit: table.logit[pos],
    lnBiasTerm: table.lnBiasTerm[pos],
  };
}

export class TraceFollowUps {
  private lensTable: Promise<LensTable> | undefined;
  private table: Promise<AttributionTable> | undefined;
  /** The table once it has arrived (tells a picked top-1 token apart from another token). */
  private tableValue: AttributionTable | undefined;
  private readonly picked = new Map<string, Promise<Attribution>>();

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

  /** DLA at every position to its top-1 prediction, requested once. */
  attributionTable(): Promise<AttributionTable> {
    if (!this.table) {
      const p = this.engine.attributeAll(this.traceId);
      this.table = p;
      p.then(
        (t) => {
          if (this.table === p) this.tableValue = t;
        },
        () => {
          if (this.table === p) this.table = undefined;
        },
      );
    }
    return this.table;
  }

  /** DLA at `pos` to `tokenId` (default: the top-1 prediction, read from the table); other tokens once per (pos, token). */
  attribution(pos: number, tokenId?: number): Promise<Attribution> {
    if (tokenId === undefined || this.tableValue?.tokenIds[pos] === tokenId) return this.attributionTable().then((t) => attributionAt(t, pos));
    const key = `${pos}:${tokenId}`;
    let p = this.picked.get(key);
    if (!p) {
      const request = this.engine.attribute(this.traceId, pos, tokenId);
      p = request;
      this.picked.set(key, request);
      request.catch(() => {
        if (this.picked.get(key) === request) this.picked.delete(key);
      });
    }
    return p;
  }
}
