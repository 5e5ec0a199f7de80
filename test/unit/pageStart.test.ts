/** PageStartWatchdog: a shown page that never says 'ready' is loaded again, at most twice, then the user is warned; a hidden one is left alone. */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import { PageStartWatchdog } from '../../src/ui/pageStart';

function harness(visible = true): { dog: PageStartWatchdog; reloads: () => number; log: string[]; show(v: boolean): void } {
  let shown = visible;
  let reloads = 0;
  const log: string[] = [];
  const dog = new PageStartWatchdog({ reload: () => reloads++, visible: () => shown, log: (l) => log.push(l), warn: (l) => log.push(`warning: ${l}`), name: 'Residual Lens: Heatmaps', timeoutMs: 1000 });
  return { dog, reloads: () => reloads, log, show: (v) => (shown = v) };
}

describe('PageStartWatchdog', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
  afterEach(() => mock.timers.reset());

  test('a page that says ready in time is never reloaded', () => {
    const h = harness();
    h.dog.arm();
    mock.timers.tick(999);
    h.dog.ready();
    mock.timers.tick(10_000);
    assert.equal(h.reloads(), 0);
    assert.deepEqual(h.log, []);
  });

  test('a shown page that stays silent is loaded again after the timeout, twice at most, each said once', () => {
    const h = harness();
    h.dog.arm();
    mock.timers.tick(1000);
    assert.equal(h.reloads(), 1);
    mock.timers.tick(1000);
    assert.equal(h.reloads(), 2);
    mock.timers.tick(5000);
    assert.equal(h.reloads(), 2);
    assert.deepEqual(h.log, [
      'The Residual Lens: Heatmaps page did not start within 1 s; loading it again (1 of 2).',
      'The Residual Lens: Heatmaps page did not start within 1 s; loading it again (2 of 2).',
      'warning: The Residual Lens: Heatmaps page has still not started after 2 reloads; close and open it again.',
    ]);
  });

  test('a reload that works resets the count; a hidden page is not reloaded until shown and armed again', () => {
    const h = harness();
    h.dog.arm();
    mock.timers.tick(1000);
    h.dog.ready(); // the reloaded page started
    h.dog.arm(); // shown again later, silent again: two more reloads allowed
    mock.timers.tick(1000);
    mock.timers.tick(1000);
    assert.equal(h.reloads(), 3);
    const hidden = harness(false);
    hidden.dog.arm();
    mock.timers.tick(5000);
    assert.equal(hidden.reloads(), 0);
    hidden.show(true);
    hidden.dog.arm();
    mock.timers.tick(1000);
    assert.equal(hidden.reloads(), 1);
    hidden.dog.dispose();
    mock.timers.tick(5000);
    assert.equal(hidden.reloads(), 1, 'disposed: nothing more');
  });
});
