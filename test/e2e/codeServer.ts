/**
 * code-server on 127.0.0.1 with every folder it writes under one directory (no state in $HOME):
 * user data, extensions, config and XDG folders. Used by the e2e run and by `npm start`.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { startGroup, type GroupProcess } from './processes';

export interface CodeServerDirs {
  /** Holds everything below; created if missing. */
  readonly root: string;
  readonly userData: string;
  readonly extensions: string;
  readonly config: string;
  readonly log: string;
}

export function codeServerDirs(root: string): CodeServerDirs {
  return {
    root,
    userData: path.join(root, 'user-data'),
    extensions: path.join(root, 'extensions'),
    config: path.join(root, 'config.yaml'),
    log: path.join(root, 'code-server.log'),
  };
}

/**
 * Environment for code-server and its extension hosts: HOME and the XDG folders inside dirs.root,
 * so nothing lands in the user's home (onnxruntime, for one, writes ~/.cache/Microsoft/…).
 */
export function codeServerEnv(dirs: CodeServerDirs, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const home = path.join(dirs.root, 'home');
  fs.mkdirSync(home, { recursive: true });
  return {
    ...process.env,
    HOME: home,
    XDG_CONFIG_HOME: path.join(dirs.root, 'xdg', 'config'),
    XDG_DATA_HOME: path.join(dirs.root, 'xdg', 'data'),
    XDG_CACHE_HOME: path.join(dirs.root, 'xdg', 'cache'),
    ...extra,
  };
}

function commonArgs(dirs: CodeServerDirs): string[] {
  return ['--config', dirs.config, '--user-data-dir', dirs.userData, '--extensions-dir', dirs.extensions];
}

/**
 * User settings for a measured workbench: no tips, telemetry, update checks or trust prompts, and
 * none of the extension host's own background work that a desktop VS Code does not do locally:
 * code-server's port auto-forwarding scans /proc and runs `ps` from the extension host every few
 * seconds, and the git extension spawns processes (the workspaces sit inside this repository).
 * Seen in CPU profiles as 16–99 ms stalls of the extension host's event loop, unrelated to us.
 */
export const QUIET_WORKBENCH_SETTINGS: Readonly<Record<string, unknown>> = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'workbench.enableExperiments': false,
  'extensions.autoUpdate': false,
  'extensions.autoCheckUpdates': false,
  'extensions.ignoreRecommendations': true,
  'telemetry.telemetryLevel': 'off',
  'security.workspace.trust.enabled': false,
  'editor.minimap.enabled': false,
  'remote.autoForwardPorts': false,
  'remote.autoForwardPortsSource': 'output',
  'remote.restoreForwardedPorts': false,
  'git.enabled': false,
  'git.openRepositoryInParentFolders': 'never',
  'git.autoRepositoryDetection': false,
};

/**
 * A writer of the workspace's `.vscode/settings.json`, created empty now so later writes are changes
 * to a watched file. Setting changes go there because the workbench watches that folder reliably;
 * a rewrite of the user settings file was not picked up by code-server within seconds.
 */
export function workspaceSettingsWriter(workspace: string): (settings: Readonly<Record<string, unknown>>) => void {
  const file = path.join(workspace, '.vscode', 'settings.json');
  const write = (settings: Readonly<Record<string, unknown>>): void => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify(settings, null, 2) + '\n');
  };
  write({});
  return write;
}

export function prepareDirs(dirs: CodeServerDirs, userSettings: Readonly<Record<string, unknown>>): void {
  for (const d of [dirs.root, dirs.userData, dirs.extensions, path.join(dirs.userData, 'User')]) fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(dirs.config, 'auth: none\ncert: false\n');
  // Ours win; anything else a person set in an earlier `npm start` session stays.
  const file = path.join(dirs.userData, 'User', 'settings.json');
  let previous: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
    if (typeof parsed === 'object' && parsed !== null) previous = parsed as Record<string, unknown>;
  } catch {
    // missing or not plain JSON: start afresh
  }
  fs.writeFileSync(file, JSON.stringify({ ...previous, ...userSettings }, null, 2) + '\n');
}

/** Installs a .vsix into dirs.extensions (about a second). */
export function installExtension(codeServer: string, dirs: CodeServerDirs, vsix: string): void {
  execFileSync(codeServer, [...commonArgs(dirs), '--install-extension', vsix, '--force'], {
    env: codeServerEnv(dirs),
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 120_000,
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface RunningCodeServer {
  readonly url: string;
  readonly port: number;
  readonly process: GroupProcess;
  stop(): Promise<void>;
}

async function waitForHealth(url: string, proc: GroupProcess, timeoutMs: number, logFile: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitCode: number | null | undefined;
  void proc.exited.then((c) => (exitCode = c === null ? -1 : c));
  while (Date.now() < deadline) {
    if (exitCode !== undefined) throw new Error(`code-server exited (code ${exitCode}) before answering /healthz; see ${logFile}`);
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`code-server did not answer ${url}/healthz within ${timeoutMs / 1000} s; see ${logFile}`);
}

export async function startCodeServer(options: {
  readonly codeServer: string;
  readonly dirs: CodeServerDirs;
  readonly workspace: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly port?: number;
  /** Extra CLI arguments, e.g. --extensionDevelopmentPath. */
  readonly args?: readonly string[];
}): Promise<RunningCodeServer> {
  const port = options.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const args = [
    ...commonArgs(options.dirs),
    '--bind-addr', `127.0.0.1:${port}`,
    '--auth', 'none',
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--disable-getting-started-override',
    ...(options.args ?? []),
    options.workspace,
  ];
  const proc = startGroup(options.codeServer, args, { env: codeServerEnv(options.dirs, options.env), logFile: options.dirs.log, cwd: options.dirs.root });
  await waitForHealth(url, proc, 60_000, options.dirs.log);
  return { url, port, process: proc, stop: () => proc.stop() };
}
