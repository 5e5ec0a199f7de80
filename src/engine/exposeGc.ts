/**
 * V8's gc() without --expose-gc on the command line: the worker's idle collection
 * (src/engine/worker.ts) and the bench that measures traces the way the worker spaces them.
 */
import * as v8 from 'node:v8';
import * as vm from 'node:vm';

/** V8's gc(), exposed for this call only: the flag is turned off again right after. */
export function exposeGc(): (() => void) | undefined {
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc: unknown = vm.runInNewContext('gc');
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } catch {
    return undefined;
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
}
