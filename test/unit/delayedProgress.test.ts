/** Progress UI that appears only for a task still running after the delay (src/ui/delayedProgress.ts). */
import { state } from '../helpers/vscodeStub';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { delayedBusyLine, withDelayedProgress } from '../../src/ui/delayedProgress';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const options = { location: vscode.ProgressLocation.Notification, title: 'Residual Lens', cancellable: true, delayMs: 40 };

describe('withDelayedProgress', () => {
  it('a task done before the delay shows nothing and returns its value', async () => {
    const before = state.progress.length;
    let shown = 0;
    const value = await withDelayedProgress({ ...options, onShown: () => shown++ }, async (progress) => {
      progress.report({ message: 'Tracing 4 tokens…' });
      await sleep(5);
      return 42;
    });
    assert.equal(value, 42);
    await sleep(60); // the timer is cleared: nothing appears later either
    assert.equal(state.progress.length, before);
    assert.equal(shown, 0);
  });

  it('a longer task shows the progress once, with the last message so far and those after', async () => {
    const before = state.progress.length;
    let shown = 0;
    await withDelayedProgress({ ...options, onShown: () => shown++ }, async (progress) => {
      progress.report({ message: 'Loading model demo…' });
      progress.report({ message: 'Tracing 4 tokens…' });
      await sleep(80);
      progress.report({ message: 'Done soon…' });
    });
    assert.equal(state.progress.length, before + 1);
    assert.deepEqual(state.progress.at(-1)?.messages, ['Tracing 4 tokens…', 'Done soon…']);
    assert.equal(shown, 1);
  });

  it("the notification's Cancel aborts the task's signal; the task's rejection reaches the caller", async () => {
    const before = state.progress.length;
    const run = withDelayedProgress(options, (_progress, signal) => new Promise<never>((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('cancelled')))));
    await sleep(60);
    assert.equal(state.progress.length, before + 1);
    state.progress.at(-1)?.cancel();
    await assert.rejects(run, /cancelled/);
  });
});

describe('delayedBusyLine', () => {
  it('says nothing before the progress shows, then the latest line, then every later line at once', () => {
    const said: string[] = [];
    const line = delayedBusyLine((l) => said.push(l));
    line.set('Tracing 4 tokens…');
    assert.deepEqual(said, []);
    line.shown();
    assert.deepEqual(said, ['Tracing 4 tokens…']);
    line.set('Tracing 5 tokens…');
    assert.deepEqual(said, ['Tracing 4 tokens…', 'Tracing 5 tokens…']);
  });

  it('a line set after the progress showed (a load that outlasted the delay) is said at once', () => {
    const said: string[] = [];
    const line = delayedBusyLine((l) => said.push(l));
    line.shown();
    assert.deepEqual(said, [], 'no line yet');
    line.set('Tracing 32 tokens…');
    assert.deepEqual(said, ['Tracing 32 tokens…']);
  });
});
