/** The engine worker's lower priority (src/engine/threadPriority.ts): its own thread and the threads it starts, not the rest of the process. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { canLowerThreadPriority, ENGINE_NICENESS } from '../../src/engine/threadPriority';

/** Nice value of every thread of this process, by thread id (Linux /proc). */
function niceByThread(): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of fs.readdirSync('/proc/self/task')) {
    try {
      const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      out.set(Number(tid), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]));
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

describe('lowerThisThreadPriority', { skip: canLowerThreadPriority() ? false : 'per-thread priorities are a Linux feature' }, () => {
  it('lowers the calling thread and the threads it then starts; the main thread keeps its priority', async () => {
    const mainBefore = niceByThread().get(process.pid);
    const source = `
      const { parentPort } = require('node:worker_threads');
      const fs = require('node:fs');
      require(${JSON.stringify(require.resolve('tsx/cjs'))});
      const { lowerThisThreadPriority } = require(${JSON.stringify(require.resolve('../../src/engine/threadPriority'))});
      const why = lowerThisThreadPriority();
      const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
      // A thread started from here afterwards (a nested worker) inherits the priority.
      const { Worker } = require('node:worker_threads');
      const child = new Worker("const fs = require('node:fs'); require('node:worker_threads').parentPort.postMessage(Number(fs.readlinkSync('/proc/thread-self').split('/').pop()));", { eval: true });
      child.once('message', (childTid) => {
        parentPort.postMessage({ why, tid, childTid, nice: require('node:os').getPriority(tid), childNice: require('node:os').getPriority(childTid) });
        child.terminate();
      });`;
    const worker = new Worker(source, { eval: true });
    const answer = await new Promise<{ why?: string; tid: number; childTid: number; nice: number; childNice: number }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    assert.equal(answer.why, undefined);
    // At least ENGINE_NICENESS: a process already below it (e.g. CI under nice) is never raised.
    assert.ok(answer.nice >= ENGINE_NICENESS, `worker thread nice ${answer.nice}`);
    assert.equal(answer.childNice, answer.nice);
    assert.equal(niceByThread().get(process.pid), mainBefore, 'the main thread (the extension host) is untouched');
  });
});
