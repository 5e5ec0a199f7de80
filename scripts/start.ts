/**
 * `npm start`: a real VS Code with Residual Lens in development mode on the sample workspace
 * (test/fixtures/workspace) and the embedded demo model.
 * - A desktop `code` on PATH: `code --extensionDevelopmentPath=<repo> --wait <workspace>`.
 * - Otherwise code-server (installed by scripts/e2e-setup.ts into .vscode-test/) on 127.0.0.1;
 *   prints the URL to open and stays in the foreground until Ctrl-C, then stops what it started.
 *
 * Usage: node --import tsx scripts/start.ts [--port N] [--code-server] [--smoke]
 *   --smoke  start, check /healthz, open the workbench in headless Chromium, check that the trace
 *            command is listed and that tracing a line shows the panel, then stop and exit 0.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { codeServerDirs, freePort, prepareDirs, startCodeServer } from '../test/e2e/codeServer';
import { onCleanup, runCleanups } from '../test/e2e/processes';
import { launchBrowser, Workbench } from '../test/e2e/workbench';
import { cacheRoot, ensureE2eTools } from './e2e-setup';

const root = path.resolve(__dirname, '..');
const workspace = path.join(root, 'test', 'fixtures', 'workspace');
const TRACE_TITLE = 'Residual Lens: Trace Residual Stream';
const DEFAULT_PORT = 8080;

const log = (line: string): void => console.log(`[start] ${line}`);

function newestMtime(p: string): number {
  if (!fs.existsSync(p)) return 0;
  const st = fs.statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  return fs.readdirSync(p).reduce((m, name) => Math.max(m, newestMtime(path.join(p, name))), st.mtimeMs);
}

/** Runs the prepare step (demo model + bundles) or just the build when the bundles are stale. */
function ensureBuilt(): void {
  const tsx = (script: string, args: readonly string[] = []): void => {
    execFileSync(process.execPath, ['--import', 'tsx', path.join(root, script), ...args], { cwd: root, stdio: 'inherit' });
  };
  if (!fs.existsSync(path.join(root, 'models', 'demo', 'model.safetensors'))) {
    log('building the demo model and the bundles (npm install normally does this)');
    tsx('scripts/prepare.ts');
    return;
  }
  const bundle = path.join(root, 'dist', 'extension.js');
  const built = fs.existsSync(bundle) ? fs.statSync(bundle).mtimeMs : 0;
  const sources = Math.max(newestMtime(path.join(root, 'src')), newestMtime(path.join(root, 'webview')));
  if (built < sources) {
    log('building the bundles');
    tsx('scripts/build.ts');
  }
}

function desktopCode(): string | undefined {
  const r = spawnSync('sh', ['-c', 'command -v code'], { encoding: 'utf8' });
  const found = r.status === 0 ? r.stdout.trim() : '';
  // code-server's terminal puts a remote `code` CLI on PATH; that is not a desktop VS Code.
  if (found === '' || process.env.VSCODE_IPC_HOOK_CLI !== undefined || found.includes('code-server')) return undefined;
  return found;
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

function argValue(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
}

/** Workbench URL that opens the workspace with the repository loaded as a development extension. */
function workbenchUrl(base: string, authority: string): string {
  // The web workbench reads `payload` pairs; extensionDevelopmentPath is a URI on the server.
  const payload = JSON.stringify([['extensionDevelopmentPath', `vscode-remote://${authority}${root}`]]);
  return `${base}/?folder=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(payload)}`;
}

async function smoke(url: string, chromium: string, profile: string): Promise<void> {
  const context = await launchBrowser(chromium, profile);
  onCleanup(() => context.close().catch(() => undefined));
  const page = context.pages()[0] ?? (await context.newPage());
  const wb = new Workbench(page, url, workspace, path.join(root, 'artifacts', 'start-smoke'));
  await page.goto(url, { timeout: 60_000 });
  await wb.waitReady();
  log('workbench loaded');
  // The development extension's commands appear once the extension host has scanned it, a few seconds after the workbench.
  const deadline = Date.now() + 60_000;
  while (!(await wb.hasCommand(TRACE_TITLE))) {
    if (Date.now() > deadline) throw new Error(`the command palette does not list "${TRACE_TITLE}" after 60 s: the extension was not loaded`);
  }
  log(`"${TRACE_TITLE}" is listed`);
  await wb.openFile('sentences.txt');
  const lines = fs.readFileSync(path.join(workspace, 'sentences.txt'), 'utf8').split('\n');
  await wb.goToLine(lines.findIndex((l) => l.startsWith('When Mary')) + 1);
  await wb.runCommand(TRACE_TITLE);
  await wb.frameWith('[data-testid="token-chip"]', 120_000);
  await wb.screenshot('trace');
  log('the extension activated and traced a line');
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const isSmoke = argv.includes('--smoke');
  ensureBuilt();

  const code = argv.includes('--code-server') || isSmoke ? undefined : desktopCode();
  if (code !== undefined) {
    log(`${code} --extensionDevelopmentPath=${root} ${workspace}`);
    const child = spawn(code, ['--new-window', `--extensionDevelopmentPath=${root}`, '--wait', workspace], { stdio: 'inherit' });
    onCleanup(() => {
      if (child.exitCode === null) child.kill('SIGTERM');
    });
    return new Promise((resolve) => child.once('exit', (c) => resolve(c ?? 0)));
  }

  const tools = ensureE2eTools();
  const dirs = codeServerDirs(path.join(cacheRoot, isSmoke ? 'start-smoke' : 'start'));
  if (isSmoke) fs.rmSync(dirs.root, { recursive: true, force: true });
  prepareDirs(dirs, {
    'workbench.startupEditor': 'none',
    'telemetry.telemetryLevel': 'off',
    'extensions.autoUpdate': false,
    'git.openRepositoryInParentFolders': 'never', // the sample workspace sits inside this repository
  });
  const wanted = Number(argValue(argv, '--port') ?? process.env.PORT ?? DEFAULT_PORT);
  const port = (await portIsFree(wanted)) ? wanted : await freePort();
  const server = await startCodeServer({
    codeServer: tools.codeServer,
    dirs,
    workspace,
    port,
    env: { RESIDUAL_LENS_CACHE: path.join(dirs.root, 'engine-cache') },
  });
  const url = workbenchUrl(server.url, `127.0.0.1:${port}`);
  const health = await fetch(`${server.url}/healthz`);
  log(`code-server ${health.ok ? 'healthy' : `unhealthy (${health.status})`} at ${server.url} (log: ${path.relative(root, dirs.log)})`);
  if (isSmoke) {
    const watchdog = setTimeout(() => {
      console.error('[start] smoke test took longer than 5 minutes; stopping');
      void runCleanups().then(() => process.exit(1));
    }, 5 * 60_000);
    watchdog.unref();
    await smoke(url, tools.chromium, path.join(dirs.root, 'chromium-profile'));
    return 0;
  }
  console.log(`\nOpen this URL in a browser (Residual Lens in development mode, sample workspace, demo model):\n\n  ${url}\n\nCtrl-C stops it.\n`);
  const exit = await server.process.exited;
  log(`code-server exited (${exit ?? 'signal'})`);
  return exit === 0 ? 0 : 1;
}

main()
  .catch((err: unknown) => {
    console.error(`[start] ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  })
  .then(async (code) => {
    await runCleanups();
    process.exit(code);
  });
