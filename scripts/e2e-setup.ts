/**
 * Installs what the end-to-end tests and `npm start` need, once, into the gitignored `.vscode-test/`:
 * Debian's chromium, ripgrep and libkrb5-dev (apt, only when missing) and code-server 4.100.3
 * (the last release that runs on Node 20) under its own npm prefix. Idempotent: a second run only
 * checks and returns. Nothing goes to the home folder except npm's download cache.
 *
 * Usage: node --import tsx scripts/e2e-setup.ts
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const CODE_SERVER_VERSION = '4.100.3';
export const CHROMIUM_PATH = '/usr/bin/chromium';

const root = path.resolve(__dirname, '..');
/** Everything the e2e tests install or write at run time lives here (gitignored). */
export const cacheRoot = path.join(root, '.vscode-test');
const codeServerPrefix = path.join(cacheRoot, 'code-server');
const installedMarker = path.join(codeServerPrefix, `.installed-${CODE_SERVER_VERSION}`);

/** Debian packages and a file each one installs, to check without asking dpkg when possible. */
const debianPackages: readonly { readonly name: string; readonly file: string }[] = [
  { name: 'chromium', file: CHROMIUM_PATH },
  { name: 'ripgrep', file: '/usr/bin/rg' },
  { name: 'libkrb5-dev', file: '/usr/include/krb5.h' },
];

/** @vscode/ripgrep 1.15.11 (a code-server dependency) downloads rg from GitHub unless its cache holds it. */
const ripgrepCacheDir = path.join(os.tmpdir(), 'vscode-ripgrep-cache-1.15.11');
const ripgrepCacheFile = path.join(ripgrepCacheDir, 'ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz');

export interface E2eTools {
  /** code-server's launcher script. */
  readonly codeServer: string;
  readonly chromium: string;
}

const log = (line: string): void => console.log(`[e2e-setup] ${line}`);

function isDebianPackageInstalled(name: string, file: string): boolean {
  if (fs.existsSync(file)) return true;
  const r = spawnSync('dpkg', ['-s', name], { encoding: 'utf8' });
  return r.status === 0 && /^Status: install ok installed$/m.test(r.stdout);
}

function ensureDebianPackages(): void {
  const missing = debianPackages.filter((p) => !isDebianPackageInstalled(p.name, p.file)).map((p) => p.name);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new Error(`Missing Debian packages: ${missing.join(' ')}. Install them: sudo apt-get update && sudo apt-get install -y ${missing.join(' ')}`);
  }
  log(`apt-get install ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
}

function codeServerBin(): string {
  return path.join(codeServerPrefix, 'node_modules', '.bin', 'code-server');
}

function seedRipgrepCache(): void {
  if (fs.existsSync(ripgrepCacheFile)) return;
  fs.mkdirSync(ripgrepCacheDir, { recursive: true });
  log(`seeding ${ripgrepCacheFile} with Debian's rg`);
  execFileSync('tar', ['-czf', ripgrepCacheFile, '-C', '/usr/bin', 'rg']);
}

function ensureCodeServer(): void {
  if (fs.existsSync(installedMarker) && fs.existsSync(codeServerBin())) return;
  seedRipgrepCache();
  fs.mkdirSync(codeServerPrefix, { recursive: true });
  // Its own package.json, so npm neither walks up into the project nor touches its lockfile.
  fs.writeFileSync(
    path.join(codeServerPrefix, 'package.json'),
    JSON.stringify({ name: 'residual-lens-e2e-code-server', private: true, description: 'code-server for the e2e tests (generated)' }, null, 2) + '\n',
  );
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    npm_config_unsafe_perm: 'true', // code-server's postinstall refuses to run as root otherwise
    npm_config_yes: 'true', // node-pty's postinstall runs `npx node-gyp`
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
  };
  const npm = (args: readonly string[]): void => {
    log(`npm ${args.join(' ')}`);
    execFileSync('npm', [...args], { cwd: codeServerPrefix, stdio: 'inherit', env });
  };
  const started = Date.now();
  // npm 11 holds dependencies' install scripts back until approved; code-server's native modules need them.
  // So: install (scripts held back), approve them in the generated package.json, then run them.
  npm(['install', '--save-exact', `code-server@${CODE_SERVER_VERSION}`]);
  npm(['install-scripts', 'approve', '--all']);
  npm(['rebuild']);
  if (!fs.existsSync(codeServerBin())) throw new Error(`code-server install finished but ${codeServerBin()} is missing`);
  // `--version` may log a line about its config file first; the version line starts with digits.
  const output = execFileSync(codeServerBin(), ['--version'], { encoding: 'utf8', env: isolatedEnv() });
  const version = /^(\d+\.\d+\.\d+)/m.exec(output)?.[1];
  if (version !== CODE_SERVER_VERSION) throw new Error(`code-server reports version "${version ?? output.trim()}", expected ${CODE_SERVER_VERSION}`);
  fs.writeFileSync(installedMarker, `${new Date().toISOString()}\n`);
  log(`code-server ${CODE_SERVER_VERSION} installed in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

/** Environment for a code-server call with HOME and the XDG folders under .vscode-test. */
export function isolatedEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const xdg = path.join(cacheRoot, 'xdg');
  fs.mkdirSync(path.join(xdg, 'home'), { recursive: true });
  return {
    ...base,
    HOME: path.join(xdg, 'home'),
    XDG_CONFIG_HOME: path.join(xdg, 'config'),
    XDG_DATA_HOME: path.join(xdg, 'data'),
    XDG_CACHE_HOME: path.join(xdg, 'cache'),
  };
}

/** Installs what is missing; fast (a few stat calls) when everything is there. */
export function ensureE2eTools(): E2eTools {
  ensureDebianPackages();
  ensureCodeServer();
  return { codeServer: codeServerBin(), chromium: CHROMIUM_PATH };
}

if (require.main === module) {
  const started = Date.now();
  try {
    const tools = ensureE2eTools();
    log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s: code-server ${tools.codeServer}, chromium ${tools.chromium}`);
  } catch (err: unknown) {
    console.error(`[e2e-setup] ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
}
