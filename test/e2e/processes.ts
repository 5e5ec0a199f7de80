/**
 * Child processes of the e2e run. Each is started in its own process group so that stopping it
 * also stops what it started (code-server forks extension hosts that outlive their parent
 * otherwise). Cleanups run once: at the end, on failure, and on SIGINT/SIGTERM.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import * as fs from 'node:fs';

type Cleanup = () => Promise<void> | void;
const cleanups: Cleanup[] = [];
let cleaning: Promise<void> | undefined;

/** Registers work to do at exit (last registered runs first). */
export function onCleanup(fn: Cleanup): void {
  cleanups.push(fn);
}

export function runCleanups(): Promise<void> {
  cleaning ??= (async () => {
    while (cleanups.length > 0) {
      const fn = cleanups.pop();
      try {
        await fn?.();
      } catch (err: unknown) {
        console.error(`cleanup failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  })();
  return cleaning;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`${signal}: stopping every process started here`);
    void runCleanups().then(() => process.exit(130));
  });
}

export interface GroupProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** SIGTERM to the whole group, SIGKILL after graceMs if anything is left. */
  stop(graceMs?: number): Promise<void>;
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Starts `command` as the leader of a new process group, its output appended to logFile. */
export function startGroup(command: string, args: readonly string[], options: SpawnOptions & { readonly logFile: string }): GroupProcess {
  const log = fs.openSync(options.logFile, 'a');
  const child = spawn(command, [...args], { ...options, detached: true, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  const pid = child.pid;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async (graceMs = 3000): Promise<void> => {
    if (!groupAlive(pid)) return;
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {
      return;
    }
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && groupAlive(pid)) await new Promise((r) => setTimeout(r, 100));
    if (groupAlive(pid)) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  onCleanup(() => stop());
  return { child, pid, exited, stop };
}
