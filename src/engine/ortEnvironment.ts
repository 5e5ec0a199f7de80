/**
 * The process environment onnxruntime reads when it creates its global environment (first
 * session). Set on the main thread before the first session or the first engine worker: a worker
 * thread's `process.env` is a copy, and ORT reads the real one with getenv.
 *
 * ORT_DISABLE_TELEMETRY: onnxruntime-node 1.30's Linux telemetry reads /proc/self/cmdline when the
 * environment is created and walks it recursively (several native frames per byte), so a 30 KB
 * command-line argument (`residual-lens trace --text "<30 KB>"`) exhausted the main thread's 8 MB
 * stack: exit 139 before any of our code could refuse the text. With the variable set, ORT reads
 * neither the command line nor /etc/machine-id, whatever their length or the stack left
 * (test/integration/cli.test.ts runs a 64 KB argument). It also keeps the CLI and the extension from
 * collecting telemetry. Always set (a user's "0" would bring the crash back).
 */
import { isMainThread } from 'node:worker_threads';

export const ORT_TELEMETRY_VARIABLE = 'ORT_DISABLE_TELEMETRY';

/** Idempotent. */
export function prepareOrtEnvironment(env: NodeJS.ProcessEnv = process.env): void {
  // In a worker the assignment would change only this thread's copy: the spawner sets it instead.
  if (!isMainThread && env === process.env) return;
  env[ORT_TELEMETRY_VARIABLE] = '1';
}
