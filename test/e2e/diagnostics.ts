/**
 * Reads the extension's diagnostics file (RESIDUAL_LENS_DIAGNOSTICS): one JSON object per line,
 * `{"event":"trace",…}` per finished trace and `{"event":"error","message":…}` per error.
 */
import * as fs from 'node:fs';
import type { PageTimes } from '../../src/protocol/webview';

/** A trace line; its PageTimes are the page's own share, as it reported them. */
export interface TraceEvent extends PageTimes {
  readonly event: 'trace';
  readonly tokens: number;
  readonly model: string;
  readonly engineMs: number;
  readonly paintedMs: number;
  /** The same on the page's clock: when it painted, without the "painted" message's way back (same machine). */
  readonly paintedOnPageMs?: number;
  /** A live-lens re-trace (paintedMs from the keystroke, debounce included). */
  readonly live?: boolean;
  /** A live-lens re-trace: its last keystroke, ms after the first keystroke since the previous paint (when the loop's watch began). */
  readonly lastEditAtMs?: number;
  /** The longest lag of the host's event loop during the trace (a 5 ms timer's lateness). */
  readonly eventLoopMaxMs: number;
  /** The same minus the time the host's main thread waited for a CPU (Linux; else absent). */
  readonly loopHeldMaxMs?: number;
  /** The most CPU time the main thread spent between two ticks: work on the loop (Linux; else absent). */
  readonly loopRanMaxMs?: number;
  /** Stalls over 20 ms: when, how long, and how much of it the thread ran or waited for a CPU. */
  readonly stalls?: readonly { readonly atMs: number; readonly lagMs: number; readonly cpuMs?: number; readonly waitMs?: number }[];
  /** Named moments before the paint (model ready, traced, follow-up views shown …), ms after the command. */
  readonly marks?: readonly { readonly name: string; readonly atMs: number }[];
}

/** A follow-up view (e.g. "logit lens") shown after the trace's line was written; atMs after the same command start. */
export interface ShownEvent {
  readonly event: 'shown';
  readonly name: string;
  readonly atMs: number;
}

/** When `name` was shown for trace `t`, ms after its command: from its marks (shown before the paint) or a later shown event. */
export function shownAtMs(t: TraceEvent, later: readonly DiagnosticEvent[], name: string): number | undefined {
  return t.marks?.find((m) => m.name === name)?.atMs ?? later.find((e): e is ShownEvent => e.event === 'shown' && e.name === name)?.atMs;
}

/** Held time of a trace; where the kernel's counters are missing (not Linux), the whole lag. */
export function loopHeld(t: TraceEvent): number {
  return t.loopHeldMaxMs ?? t.eventLoopMaxMs;
}

/** Work on the loop (ran) of a trace; where the kernel's counters are missing, the held time. */
export function loopRan(t: TraceEvent): number {
  return t.loopRanMaxMs ?? loopHeld(t);
}

export interface ErrorEvent {
  readonly event: 'error';
  readonly message: string;
}

export type DiagnosticEvent = TraceEvent | ErrorEvent | ShownEvent;

/** The event kinds this reader knows: a line of one of them that does not parse as such is malformed. */
const OUR_EVENTS: ReadonlySet<unknown> = new Set(['trace', 'error', 'shown']);

function isDiagnosticEvent(v: unknown): v is DiagnosticEvent {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Record<string, unknown>;
  if (e.event === 'error') return typeof e.message === 'string';
  if (e.event === 'shown') return typeof e.name === 'string' && typeof e.atMs === 'number';
  return e.event === 'trace' && typeof e.tokens === 'number' && typeof e.paintedMs === 'number' && typeof e.eventLoopMaxMs === 'number';
}

/** Follows the file from where the last read stopped. */
export class DiagnosticsLog {
  private offset = 0;

  constructor(readonly file: string) {}

  /** Events appended since the previous call (complete lines only); malformed lines are reported. */
  readNew(): { events: DiagnosticEvent[]; malformed: string[] } {
    if (!fs.existsSync(this.file)) return { events: [], malformed: [] };
    const text = fs.readFileSync(this.file).subarray(this.offset).toString('utf8');
    const end = text.lastIndexOf('\n');
    if (end < 0) return { events: [], malformed: [] };
    this.offset += Buffer.byteLength(text.slice(0, end + 1));
    const events: DiagnosticEvent[] = [];
    const malformed: string[] = [];
    for (const line of text.slice(0, end).split('\n')) {
      if (line.trim() === '') continue;
      try {
        const v: unknown = JSON.parse(line);
        if (isDiagnosticEvent(v)) events.push(v);
        else if (typeof v !== 'object' || v === null || OUR_EVENTS.has((v as { event?: unknown }).event)) malformed.push(line);
        // other event kinds are not ours to judge
      } catch {
        malformed.push(line);
      }
    }
    return { events, malformed };
  }
}
