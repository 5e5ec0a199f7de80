/**
 * What the tests need to run the extension or its engine worker without a build: the worker from its
 * TypeScript sources (through tsx) and a stub ExtensionContext for activate().
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { vscode as stub } from './vscodeStub';

const REPO = path.resolve(__dirname, '../..');
const WORKER_SOURCE = path.join(REPO, 'src/engine/worker.ts');

/** Writes a CommonJS file at `file` that loads tsx, then src/engine/worker.ts (what dist/worker.js is when built); returns `file`. */
export function writeWorkerBootstrap(file: string): string {
  fs.writeFileSync(file, `require(${JSON.stringify(require.resolve('tsx/cjs'))});\nrequire(${JSON.stringify(WORKER_SOURCE)});\n`);
  return file;
}

/**
 * A stub ExtensionContext: the repository as the extension's folder, dist/worker.js resolved to a
 * bootstrap written in `root` (worker-bootstrap.cjs), global storage in `root`/storage, workspace
 * state in memory. Cast to activate()'s parameter type by the caller.
 */
export function stubExtensionContext(root: string, subscriptions: { dispose(): unknown }[]): Record<string, unknown> {
  const bootstrap = writeWorkerBootstrap(path.join(root, 'worker-bootstrap.cjs'));
  const memento = new Map<string, unknown>();
  return {
    subscriptions,
    extensionPath: REPO,
    extensionUri: stub.Uri.file(REPO),
    globalStorageUri: stub.Uri.file(path.join(root, 'storage')),
    asAbsolutePath: (p: string) => (p === 'dist/worker.js' ? bootstrap : path.join(REPO, p)),
    workspaceState: { get: (k: string) => memento.get(k), update: async (k: string, v: unknown) => void memento.set(k, v), keys: () => [...memento.keys()] },
  };
}
