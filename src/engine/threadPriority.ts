/**
 * Lowers the scheduling priority of the calling thread, on Linux, where the nice value belongs to
 * each thread and the threads a thread creates inherit it.
 *
 * Why: the engine worker shares its process with the extension host. With the worker's thread
 * lowered before onnxruntime creates its intra-op pool, every onnxruntime thread runs at that
 * priority, so the engine may use every core while the extension host's event loop (and the
 * editor) still get a core the moment they need one. Measured (bench/panel.ts): 2 threads niced
 * against 1 thread at normal priority on 2 cores.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';

/** The nice value the engine worker runs at (0 normal … 19 lowest). */
export const ENGINE_NICENESS = 10;

/** Whether this platform lets one thread be lowered without the rest of the process. */
export function canLowerThreadPriority(): boolean {
  return process.platform === 'linux';
}

/**
 * Sets the calling thread's nice value (never raises it: that needs privileges and is not wanted).
 * Returns why not, or undefined when it was applied.
 */
export function lowerThisThreadPriority(niceness: number = ENGINE_NICENESS): string | undefined {
  if (!canLowerThreadPriority()) return `thread priorities are per process on ${process.platform}`;
  try {
    // /proc/thread-self → "<pid>/task/<tid>": the kernel's id of this very thread.
    const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isInteger(tid) || tid <= 0) return 'no thread id in /proc/thread-self';
    if (os.getPriority(tid) >= niceness) return undefined;
    os.setPriority(tid, niceness);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
