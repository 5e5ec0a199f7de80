/**
 * End-to-end run (`npm run test:e2e`): the packaged .vsix installed into code-server on 127.0.0.1,
 * driven in Debian's Chromium through playwright-core, scenarios of issue 6. Screenshots go to
 * artifacts/e2e/. Prints `N passed, N failed` last and exits non-zero on failure. Every process it
 * starts is stopped at the end, on failure and on Ctrl-C.
 *
 * Options: --only 1,3      run only these scenarios (others count as skipped)
 *          --reuse-vsix    install the existing .vsix even if sources are newer (debugging)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { ensureE2eTools, cacheRoot } from '../../scripts/e2e-setup';
import { hostTarget, isVsixStale, packageExtension, vsixPath } from '../../scripts/package';
import { codeServerDirs, installExtension, prepareDirs, QUIET_WORKBENCH_SETTINGS, startCodeServer, workspaceSettingsWriter } from './codeServer';
import { DiagnosticsLog } from './diagnostics';
import { startHubFixture } from './hub';
import { onCleanup, runCleanups } from './processes';
import { loopFigures, scenarios, writeGeneratedFixtures, type DemoModel, type ExtensionManifest, type ScenarioContext } from './scenarios';
import { launchBrowser, Workbench } from './workbench';

const root = path.resolve(__dirname, '..', '..');
const SCENARIO_TIMEOUT_MS = 5 * 60_000;
const RUN_TIMEOUT_MS = 30 * 60_000;

const log = (line: string): void => console.log(`[e2e] ${line}`);
const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

function readDemoModel(): DemoModel {
  const file = path.join(root, 'models', 'demo', 'config.json');
  const c = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  const num = (...keys: string[]): number => {
    for (const k of keys) if (typeof c[k] === 'number') return c[k];
    throw new Error(`${file}: none of ${keys.join('/')} is a number`);
  };
  return { nLayer: num('n_layer', 'nLayer'), nHead: num('n_head', 'nHead'), nCtx: num('n_ctx', 'n_positions', 'nCtx') };
}

function onlyScenarios(argv: readonly string[]): Set<number> | undefined {
  const i = argv.indexOf('--only');
  const value = i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
  return value === undefined ? undefined : new Set(value.split(',').map(Number));
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${seconds(ms)}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

interface Outcome {
  readonly id: number;
  readonly name: string;
  readonly status: 'passed' | 'failed' | 'skipped';
  readonly detail: string[];
  readonly ms: number;
}

async function main(): Promise<number> {
  const started = Date.now();
  const only = onlyScenarios(process.argv.slice(2));
  const outcomes: Outcome[] = [];
  const failAll = (why: string): number => {
    for (const s of scenarios) outcomes.push({ id: s.id, name: s.name, status: 'failed', detail: [why], ms: 0 });
    return report(outcomes, new Map());
  };

  const setupStart = Date.now();
  const tools = ensureE2eTools();
  log(`tools ready in ${seconds(Date.now() - setupStart)}`);

  const target = hostTarget();
  try {
    const reuse = process.argv.includes('--reuse-vsix') && fs.existsSync(vsixPath(target));
    if (!reuse && isVsixStale(target)) {
      log(`packaging ${target} (the .vsix is missing or older than the sources)`);
      packageExtension([target]);
    }
  } catch (err: unknown) {
    return failAll(`packaging failed: ${err instanceof Error ? err.message : String(err)}`);
  }
  const vsix = vsixPath(target);

  const runDir = path.join(cacheRoot, 'e2e');
  fs.rmSync(runDir, { recursive: true, force: true });
  const dirs = codeServerDirs(runDir);
  const workspace = path.join(runDir, 'workspace');
  fs.cpSync(path.join(root, 'test', 'fixtures', 'workspace'), workspace, { recursive: true });
  const diagnosticsFile = path.join(runDir, 'diagnostics.jsonl');
  const modelCache = path.join(runDir, 'model-cache');
  const screenshots = path.join(root, 'artifacts', 'e2e');
  fs.rmSync(screenshots, { recursive: true, force: true });

  let hubError: string | undefined;
  const hub = await startHubFixture(runDir).catch((err: unknown) => {
    hubError = `the local hub did not start: ${err instanceof Error ? err.message : String(err)}`;
    return { fixture: undefined, skipReason: undefined, stop: async () => undefined };
  });
  if (hub.fixture === undefined) log(`scenario 8: ${hub.skipReason ?? hubError ?? 'no hub'}`);
  onCleanup(() => hub.stop());

  writeGeneratedFixtures(workspace);
  const userSettings: Record<string, unknown> = {
    ...QUIET_WORKBENCH_SETTINGS,
    'editor.wordWrap': 'off',
    'editor.hover.delay': 300,
    'editor.hover.sticky': true,
    'window.restoreWindows': 'all',
    'residualLens.model': 'demo',
    'residualLens.modelCacheDir': modelCache,
    ...(hub.fixture !== undefined ? { 'residualLens.hubEndpoint': hub.fixture.endpoint } : {}),
  };
  prepareDirs(dirs, userSettings);
  const writeSettings = workspaceSettingsWriter(workspace);
  const installStart = Date.now();
  installExtension(tools.codeServer, dirs, vsix);
  log(`installed ${path.relative(root, vsix)} in ${seconds(Date.now() - installStart)}`);

  const server = await startCodeServer({
    codeServer: tools.codeServer,
    dirs,
    workspace,
    env: { RESIDUAL_LENS_DIAGNOSTICS: diagnosticsFile, RESIDUAL_LENS_CACHE: path.join(runDir, 'engine-cache') },
  });
  log(`code-server at ${server.url} (log: ${path.relative(root, dirs.log)})`);

  const context: BrowserContext = await launchBrowser(tools.chromium, path.join(runDir, 'chromium-profile'));
  onCleanup(async () => {
    await context.close().catch(() => undefined);
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const wb = new Workbench(page, server.url, workspace, screenshots);
  const openStart = Date.now();
  await wb.open();
  log(`workbench ready in ${seconds(Date.now() - openStart)}`);

  const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as ExtensionManifest;
  const figures = new Map<string, string>();
  let problems: string[] = [];
  const ctx: ScenarioContext = {
    wb,
    diagnostics: new DiagnosticsLog(diagnosticsFile),
    workspace,
    demo: readDemoModel(),
    manifest,
    hub: hub.fixture,
    hubSkipReason: hub.skipReason,
    hubError,
    modelCacheDir: modelCache,
    figures,
    lastTraceIds: undefined,
    lastTraceText: undefined,
    setWorkspaceSettings: (extra) => writeSettings(extra),
    resetWorkspaceSettings: () => writeSettings({}),
    problem: (message) => {
      problems.push(message);
      log(`  problem: ${message}`);
    },
  };

  for (const s of scenarios) {
    const skipReason = only !== undefined && !only.has(s.id) ? 'not selected (--only)' : s.skip?.(ctx);
    if (skipReason !== undefined) {
      outcomes.push({ id: s.id, name: s.name, status: 'skipped', detail: [skipReason], ms: 0 });
      log(`- ${s.id} ${s.name}: skipped (${skipReason})`);
      continue;
    }
    const t0 = Date.now();
    log(`> ${s.id} ${s.name}`);
    problems = [];
    try {
      await withTimeout(s.run(ctx), SCENARIO_TIMEOUT_MS, `scenario ${s.id}`);
    } catch (err: unknown) {
      problems.push(err instanceof Error ? (err.message.split('\n')[0] ?? err.message) : String(err));
      log(`  error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      await wb.screenshot(`${String(s.id).padStart(2, '0')}-failed`);
    }
    const ms = Date.now() - t0;
    outcomes.push({ id: s.id, name: s.name, status: problems.length === 0 ? 'passed' : 'failed', detail: problems, ms });
    log(`${problems.length === 0 ? '✔' : '✘'} ${s.id} ${s.name} (${seconds(ms)})`);
    // Leave no quick input or menu open for the next scenario.
    await page.keyboard.press('Escape').catch(() => undefined);
  }
  for (const [k, v] of loopFigures()) figures.set(k, v);
  figures.set('e2e wall time', seconds(Date.now() - started));
  return report(outcomes, figures);
}

function report(outcomes: readonly Outcome[], figures: ReadonlyMap<string, string>): number {
  console.log('');
  for (const o of outcomes) {
    const mark = o.status === 'passed' ? 'PASS' : o.status === 'failed' ? 'FAIL' : 'SKIP';
    console.log(`${mark} ${o.id}. ${o.name}${o.ms > 0 ? ` (${seconds(o.ms)})` : ''}`);
    for (const d of o.detail) console.log(`     ${d}`);
  }
  if (figures.size > 0) {
    console.log('\nFigures:');
    for (const [k, v] of figures) console.log(`  ${k}: ${v}`);
  }
  console.log(`Screenshots: ${path.relative(root, path.join(root, 'artifacts', 'e2e'))}/`);
  const passed = outcomes.filter((o) => o.status === 'passed').length;
  const failed = outcomes.filter((o) => o.status === 'failed').length;
  const skipped = outcomes.filter((o) => o.status === 'skipped').length;
  console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`);
  return failed > 0 ? 1 : 0;
}

const watchdog = setTimeout(() => {
  console.error(`[e2e] the whole run took longer than ${seconds(RUN_TIMEOUT_MS)}; stopping`);
  void runCleanups().then(() => process.exit(1));
}, RUN_TIMEOUT_MS);
watchdog.unref();

main()
  .catch((err: unknown) => {
    console.error(`[e2e] ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    console.log(`0 passed, ${scenarios.length} failed`);
    return 1;
  })
  .then(async (code) => {
    await runCleanups();
    process.exit(code);
  });
