/**
 * Live lens rules (src/ui/liveLens.ts), with a manual clock: the debounce, newest wins, one trace
 * in flight, the pause rules, how edits move the followed range, which position a re-trace keeps
 * selected, and the inline hint's text.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hintText, keptPosition, liveLensPaused, liveRange, LiveLensScheduler, type LiveRequest, type SchedulerClock, type ShowGate } from '../../src/ui/liveLens';

/** A clock whose timers run only when `advance` passes their time. */
class ManualClock implements SchedulerClock {
  now = 0;
  private timers = new Map<number, { at: number; fn: () => void }>();
  private next = 1;
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.timers.set(id, { at: this.now + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  get pendingTimers(): number {
    return this.timers.size;
  }
  advance(ms: number): void {
    const until = this.now + ms;
    for (;;) {
      const due = [...this.timers.entries()].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.now = due[1].at;
      due[1].fn();
    }
    this.now = until;
  }
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A run as the scheduler started it: the request's end offset and what its show gate said (undefined: not yet). */
interface GatedRun {
  readonly end: number;
  shown: boolean | undefined;
}

/**
 * A scheduler whose runs are recorded (with their show gates) and finish only when the test
 * resolves them; `ahead` traces ahead of the pause (residualLens.liveLens.traceAhead).
 */
function harness(debounce = 150, ahead = false): { clock: ManualClock; scheduler: LiveLensScheduler; runs: LiveRequest[]; gates: GatedRun[]; finish(): Promise<void>; inFlight(): number; maxInFlight(): number } {
  const clock = new ManualClock();
  const runs: LiveRequest[] = [];
  const gates: GatedRun[] = [];
  const open: (() => void)[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const scheduler = new LiveLensScheduler(
    (r: LiveRequest, show: ShowGate) => {
      runs.push(r);
      const gate: GatedRun = { end: r.range.end, shown: undefined };
      gates.push(gate);
      void show.then((v) => (gate.shown = v));
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      return new Promise<void>((resolve) => open.push(() => {
        inFlight--;
        resolve();
      }));
    },
    () => debounce,
    clock,
    undefined,
    () => ahead,
  );
  return {
    clock,
    scheduler,
    runs,
    gates,
    finish: async () => {
      open.shift()?.();
      await settle();
    },
    inFlight: () => inFlight,
    maxInFlight: () => maxInFlight,
  };
}

const req = (end: number, editedAt = end): LiveRequest => ({ uri: 'file:///doc', range: { start: 0, end }, editedAt });

describe('LiveLensScheduler', () => {
  it('debounces: a burst of edits 50 ms apart runs once, 150 ms after the last, with the newest request', () => {
    const h = harness(150);
    for (let i = 1; i <= 10; i++) {
      h.scheduler.edited(req(i));
      h.clock.advance(50);
    }
    assert.equal(h.runs.length, 0, 'nothing runs while typing continues');
    h.clock.advance(99);
    assert.equal(h.runs.length, 0, '149 ms after the last edit');
    h.clock.advance(1);
    assert.deepEqual(h.runs, [req(10)]);
    assert.equal(h.clock.pendingTimers, 0, 'idle once typing stopped: no timer left');
  });

  it('at most one trace in flight; edits during it wait, and only the newest runs after it', async () => {
    const h = harness(100);
    h.scheduler.edited(req(1));
    h.clock.advance(100);
    assert.equal(h.runs.length, 1);
    for (let i = 2; i <= 5; i++) {
      h.scheduler.edited(req(i));
      h.clock.advance(200); // each quiet period ends while the first trace still runs
    }
    assert.equal(h.runs.length, 1, 'no second trace while one runs');
    assert.equal(h.scheduler.pending, true);
    await h.finish();
    assert.deepEqual(h.runs.map((r) => r.range.end), [1, 5], 'the newest waiting request, once');
    await h.finish();
    h.clock.advance(1000);
    assert.equal(h.runs.length, 2);
    assert.equal(h.maxInFlight(), 1);
    assert.equal(h.scheduler.pending, false);
  });

  it('an edit during a trace still waits for its quiet period after the trace ends', async () => {
    const h = harness(100);
    h.scheduler.edited(req(1));
    h.clock.advance(100);
    h.scheduler.edited(req(2));
    h.clock.advance(10);
    await h.finish(); // the first trace ends 10 ms after the edit: the edit's timer still runs
    assert.equal(h.runs.length, 1);
    h.clock.advance(90);
    assert.deepEqual(h.runs.map((r) => r.range.end), [1, 2]);
  });

  it('paused: nothing runs; on resume the newest waiting request runs at once', () => {
    const h = harness(100);
    h.scheduler.setPaused(true);
    h.scheduler.edited(req(1));
    h.scheduler.edited(req(2));
    h.clock.advance(1000);
    assert.equal(h.runs.length, 0);
    h.scheduler.setPaused(false);
    assert.deepEqual(h.runs, [req(2)]);
  });

  it('resuming during a quiet period waits for its end; clear() drops what waits; a failed run lets the next one go', async () => {
    const clock = new ManualClock();
    const runs: number[] = [];
    const s = new LiveLensScheduler(
      async (r) => {
        runs.push(r.range.end);
        if (r.range.end === 3) throw new Error('trace failed');
      },
      () => 100,
      clock,
    );
    s.setPaused(true);
    s.edited(req(1));
    s.setPaused(false);
    assert.deepEqual(runs, [], 'still in the quiet period');
    clock.advance(100);
    assert.deepEqual(runs, [1]);
    await settle();
    s.edited(req(2));
    s.clear();
    clock.advance(1000);
    assert.deepEqual(runs, [1]);
    s.edited(req(3));
    clock.advance(100);
    await settle();
    s.edited(req(4));
    clock.advance(100);
    assert.deepEqual(runs, [1, 3, 4]);
    s.dispose();
    s.edited(req(5));
    clock.advance(1000);
    assert.deepEqual(runs, [1, 3, 4]);
  });
});

describe('LiveLensScheduler, tracing ahead of the pause', () => {
  it('a single edit starts its trace at once; the trace is shown when the quiet period ends, not before', async () => {
    const h = harness(150, true);
    h.scheduler.edited(req(1));
    assert.deepEqual(h.gates, [{ end: 1, shown: undefined }], 'started at the edit');
    await h.finish(); // the trace is done long before the pause ends
    h.clock.advance(149);
    await settle();
    assert.equal(h.gates[0].shown, undefined, 'not shown while the quiet period runs');
    h.clock.advance(1);
    await settle();
    assert.deepEqual(h.gates, [{ end: 1, shown: true }]);
    assert.equal(h.clock.pendingTimers, 0);
    assert.equal(h.scheduler.pending, false);
  });

  it('a newer edit drops the trace in flight; the newest starts when it settles, one at a time, and is the only one shown', async () => {
    const h = harness(150, true);
    h.scheduler.edited(req(1));
    h.clock.advance(50);
    h.scheduler.edited(req(2)); // while 1 runs
    h.clock.advance(50);
    h.scheduler.edited(req(3)); // still while 1 runs: 2 never starts
    await settle();
    assert.deepEqual(h.gates, [{ end: 1, shown: false }], 'no second trace while one runs; the first is dropped');
    await h.finish();
    assert.deepEqual(h.gates.map((r) => r.end), [1, 3], 'the newest waiting edit starts when the first settles');
    h.clock.advance(149);
    await settle();
    assert.equal(h.gates[1].shown, undefined);
    h.clock.advance(1);
    await settle();
    assert.equal(h.gates[1].shown, true);
    await h.finish();
    h.clock.advance(1000);
    assert.equal(h.gates.length, 2, 'nothing more once typing stopped');
    assert.equal(h.maxInFlight(), 1);
  });

  it('typing at 80 ms a key with 30 ms traces: a trace per key, each dropped by the next, the last shown 150 ms after the last key', async () => {
    const h = harness(150, true);
    for (let i = 1; i <= 5; i++) {
      h.scheduler.edited(req(i));
      h.clock.advance(30);
      await h.finish();
      h.clock.advance(50);
    }
    assert.deepEqual(h.gates.map((r) => r.end), [1, 2, 3, 4, 5]);
    assert.deepEqual(h.gates.slice(0, 4).map((r) => r.shown), [false, false, false, false]);
    h.clock.advance(69); // 149 ms after the last key
    await settle();
    assert.equal(h.gates[4].shown, undefined);
    h.clock.advance(1);
    await settle();
    assert.equal(h.gates[4].shown, true);
  });

  it('a trace slower than the pause is shown as soon as it settles; paused: nothing starts until resumed', async () => {
    const h = harness(100, true);
    h.scheduler.edited(req(1));
    h.clock.advance(500);
    await settle();
    assert.equal(h.gates[0].shown, true, 'the gate opened while the trace still ran');
    await h.finish();
    h.scheduler.setPaused(true);
    h.scheduler.edited(req(2));
    assert.equal(h.gates.length, 1, 'paused: not started at the edit');
    h.scheduler.setPaused(false);
    assert.deepEqual(h.gates.map((r) => r.end), [1, 2], 'started on resume, within the quiet period');
    h.clock.advance(100);
    await settle();
    assert.equal(h.gates[1].shown, true);
  });

  it('clear() (live lens turned off) drops the trace in flight: its gate closes', async () => {
    const h = harness(150, true);
    h.scheduler.edited(req(1));
    h.scheduler.clear();
    await settle();
    assert.deepEqual(h.gates, [{ end: 1, shown: false }]);
    await h.finish();
    h.clock.advance(1000);
    assert.equal(h.gates.length, 1);
  });
});

describe('liveLensPaused', () => {
  it('pauses while the panel is hidden or the window is unfocused', () => {
    assert.equal(liveLensPaused({ panelVisible: true, windowFocused: true }), false);
    assert.equal(liveLensPaused({ panelVisible: false, windowFocused: true }), true);
    assert.equal(liveLensPaused({ panelVisible: true, windowFocused: false }), true);
    assert.equal(liveLensPaused({ panelVisible: false, windowFocused: false }), true);
  });
});

describe('liveRange', () => {
  const r = { start: 10, end: 20 };
  it('typing inside or at either end grows the range; deleting inside shrinks it', () => {
    assert.deepEqual(liveRange(r, { offset: 15, length: 0, insertedLength: 3 }), { start: 10, end: 23 });
    assert.deepEqual(liveRange(r, { offset: 20, length: 0, insertedLength: 1 }), { start: 10, end: 21 }, 'typing at the end');
    assert.deepEqual(liveRange(r, { offset: 10, length: 0, insertedLength: 2 }), { start: 10, end: 22 }, 'typing at the start');
    assert.deepEqual(liveRange(r, { offset: 12, length: 5, insertedLength: 0 }), { start: 10, end: 15 });
    assert.deepEqual(liveRange(r, { offset: 19, length: 1, insertedLength: 0 }), { start: 10, end: 19 }, 'backspace at the end');
  });
  it('an edit before shifts it, one after leaves it', () => {
    assert.deepEqual(liveRange(r, { offset: 2, length: 3, insertedLength: 1 }), { start: 8, end: 18 });
    assert.deepEqual(liveRange(r, { offset: 25, length: 3, insertedLength: 10 }), r);
  });
  it('an edit across a boundary keeps what is left plus the inserted text; one that swallows the range ends it', () => {
    assert.deepEqual(liveRange(r, { offset: 8, length: 4, insertedLength: 1 }), { start: 8, end: 17 });
    assert.deepEqual(liveRange(r, { offset: 18, length: 5, insertedLength: 0 }), { start: 10, end: 18 });
    assert.equal(liveRange(r, { offset: 5, length: 20, insertedLength: 3 }), undefined);
    assert.deepEqual(liveRange(r, { offset: 10, length: 10, insertedLength: 0 }), { start: 10, end: 10 }, 'all of its text deleted: empty, typing there grows it again');
  });
});

describe('keptPosition', () => {
  const ids = (...xs: number[]): { id: number }[] => xs.map((id) => ({ id }));
  const before = ids(0, 11, 12, 13, 14, 15);
  it('a token before the edit keeps its index', () => {
    assert.equal(keptPosition(before, ids(0, 11, 12, 13, 99, 15), 2), 2);
    assert.equal(keptPosition(before, ids(0, 11, 12, 13, 14, 15, 16, 17), 3), 3, 'text appended');
  });
  it('a token after the edit moves with it', () => {
    assert.equal(keptPosition(before, ids(0, 11, 98, 97, 12, 13, 14, 15), 4), 6, 'two tokens inserted before it');
    assert.equal(keptPosition(before, ids(0, 13, 14, 15), 4), 2, 'two removed before it');
  });
  it('the last position stays the last; a token the edit changed falls back to the last position', () => {
    assert.equal(keptPosition(before, ids(0, 11, 12, 13, 14, 15, 16), 5), 6);
    assert.equal(keptPosition(before, ids(0, 11, 99, 13, 14, 15), 2), 5);
    assert.equal(keptPosition(before, ids(0, 11), 3), 1, 'text cut after it');
    assert.equal(keptPosition(before, ids(0, 11, 12), 9), 2, 'out of range');
  });
});

describe('hintText', () => {
  it('the top-1 token quoted, with its probability in whole percent', () => {
    assert.equal(hintText(' mat', 0.4213), ' → " mat" 42%');
    assert.equal(hintText('\n', 0.999), ' → "\\n" 100%');
    assert.equal(hintText('x', 0.004), ' → "x" <1%');
  });
});
