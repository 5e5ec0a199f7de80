/**
 * `npm run package`: builds the bundles (production) and one platform-specific .vsix per target with
 * @vscode/vsce, each carrying only its platform's onnxruntime binary (the npm package ships all of
 * them, ~290 MB). Every target is staged in `.vscode-test/package/<target>/` with exactly the files
 * that run, then packed there, so the repository's node_modules is never touched.
 *
 * Usage: node --import tsx scripts/package.ts [--target linux-x64[,win32-x64…]] [--all] [--skip-build]
 * Output: artifacts/vsix/residual-lens-<target>-<version>.vsix
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatMiB, vsceSizeInMiB } from '../src/viewModels/format';

const root = path.resolve(__dirname, '..');
export const vsixDir = path.join(root, 'artifacts', 'vsix');
const stageRoot = path.join(root, '.vscode-test', 'package');

/** vsce target → onnxruntime-node's binary folder (bin/napi-v6/<os>/<arch>). */
const ortBinaryFolder: Readonly<Record<string, string>> = {
  'linux-x64': 'linux/x64',
  'linux-arm64': 'linux/arm64',
  'darwin-arm64': 'darwin/arm64',
  'darwin-x64': 'darwin/x64',
  'win32-x64': 'win32/x64',
  'win32-arm64': 'win32/arm64',
};
const allTargets = ['linux-x64', 'linux-arm64', 'darwin-arm64', 'darwin-x64', 'win32-x64', 'win32-arm64'] as const;

/** Files that must be in every package (paths inside the .vsix, under extension/). */
const requiredFiles = [
  'package.json',
  'LICENSE.txt', // vsce renames LICENSE
  'dist/extension.js',
  'dist/worker.js',
  'dist/webview.js',
  'models/manifest.json',
  'models/demo/config.json',
  'models/demo/model.safetensors',
  'models/demo-sae/blocks.1.hook_resid_pre/cfg.json',
  'models/demo-sae/blocks.1.hook_resid_pre/sae_weights.safetensors',
  'models/demo-sae/blocks.1.hook_resid_pre/feature-labels.json',
  'node_modules/onnxruntime-node/package.json',
  'node_modules/onnxruntime-node/dist/index.js',
  'node_modules/onnxruntime-common/package.json',
  'node_modules/onnxruntime-common/dist/cjs/index.js',
];

/** Sources whose change makes a packaged .vsix stale. */
const packagedSources = ['package.json', 'src', 'webview', 'media', 'models', 'README.md', 'LICENSE', '.vscodeignore', 'scripts/build.ts', 'scripts/package.ts'];

export interface PackageResult {
  readonly target: string;
  readonly vsix: string;
  readonly bytes: number;
  readonly files: number;
}

interface Manifest {
  readonly name: string;
  readonly version: string;
  readonly repository?: unknown;
  readonly dependencies?: Readonly<Record<string, string>>;
  readonly [key: string]: unknown;
}

const log = (line: string): void => console.log(`[package] ${line}`);

function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

export function hostTarget(): string {
  return `${process.platform}-${process.arch}`;
}

export function vsixPath(target: string): string {
  const { name, version } = readJson<Manifest>(path.join(root, 'package.json'));
  return path.join(vsixDir, `${name}-${target}-${version}.vsix`);
}

function newestMtime(p: string): number {
  if (!fs.existsSync(p)) return 0;
  const st = fs.statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const name of fs.readdirSync(p)) newest = Math.max(newest, newestMtime(path.join(p, name)));
  return newest;
}

/** True when the .vsix is missing or older than any packaged source. */
export function isVsixStale(target: string): boolean {
  const vsix = vsixPath(target);
  if (!fs.existsSync(vsix)) return true;
  const built = fs.statSync(vsix).mtimeMs;
  return packagedSources.some((p) => newestMtime(path.join(root, p)) > built);
}

function runBuild(): void {
  log('build (production)');
  execFileSync(process.execPath, ['--import', 'tsx', path.join(root, 'scripts/build.ts'), '--production'], { cwd: root, stdio: 'inherit' });
  for (const bundle of fs.readdirSync(path.join(root, 'dist')).filter((f) => f.endsWith('.js'))) {
    const text = fs.readFileSync(path.join(root, 'dist', bundle), 'utf8');
    // js-tiktoken (and every other dependency but onnxruntime-node) must be inside the bundle.
    if (/require\(["']js-tiktoken/.test(text)) throw new Error(`dist/${bundle} requires js-tiktoken at run time; it must be bundled by esbuild`);
  }
}

function copy(from: string, to: string): void {
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.copyFileSync(from, to);
}

function copyMatching(fromDir: string, toDir: string, keep: (name: string) => boolean): void {
  if (!fs.existsSync(fromDir)) return;
  for (const entry of fs.readdirSync(fromDir, { withFileTypes: true })) {
    const from = path.join(fromDir, entry.name);
    if (entry.isDirectory()) copyMatching(from, path.join(toDir, entry.name), keep);
    else if (keep(entry.name)) copy(from, path.join(toDir, entry.name));
  }
}

/** The extension manifest as shipped: no scripts (vsce would run vscode:prepublish), no dev tooling. */
function stagedManifest(manifest: Manifest): Manifest {
  const shipped: Record<string, unknown> = { ...manifest };
  for (const key of ['scripts', 'devDependencies', 'allowScripts', 'bin']) delete shipped[key];
  // Everything else is bundled by esbuild.
  shipped.dependencies = { 'onnxruntime-node': manifest.dependencies?.['onnxruntime-node'] ?? '*' };
  return shipped as Manifest;
}

/** onnxruntime-node's adm-zip/global-agent serve only its (skipped) install script. */
function stagedOrtManifest(ortManifest: Manifest): Manifest {
  const shipped: Record<string, unknown> = { ...ortManifest };
  for (const key of ['scripts', 'devDependencies']) delete shipped[key];
  shipped.dependencies = { 'onnxruntime-common': ortManifest.dependencies?.['onnxruntime-common'] ?? '*' };
  return shipped as Manifest;
}

function stage(target: string): string {
  const binFolder = ortBinaryFolder[target];
  if (binFolder === undefined) throw new Error(`Unknown target "${target}"; known: ${allTargets.join(', ')}`);
  const ortRoot = path.join(root, 'node_modules', 'onnxruntime-node');
  const ortBin = path.join(ortRoot, 'bin', 'napi-v6', binFolder);
  if (!fs.existsSync(ortBin)) throw new Error(`onnxruntime-node ${readJson<Manifest>(path.join(ortRoot, 'package.json')).version} ships no binary for ${target} (${path.relative(root, ortBin)} is missing)`);
  for (const f of ['models/demo/config.json', 'models/demo/model.safetensors', 'models/manifest.json', 'dist/extension.js']) {
    if (!fs.existsSync(path.join(root, f))) throw new Error(`${f} is missing: run npm install (its prepare step builds the demo model and the bundles)`);
  }
  const dir = path.join(stageRoot, target);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const manifest = readJson<Manifest>(path.join(root, 'package.json'));
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify(stagedManifest(manifest), null, 2) + '\n');
  for (const f of ['README.md', 'CHANGELOG.md', 'LICENSE', '.vscodeignore', 'models/manifest.json', 'models/demo/config.json', 'models/demo/model.safetensors', 'models/demo-sae/blocks.1.hook_resid_pre/cfg.json', 'models/demo-sae/blocks.1.hook_resid_pre/sae_weights.safetensors', 'models/demo-sae/blocks.1.hook_resid_pre/feature-labels.json']) {
    if (fs.existsSync(path.join(root, f))) copy(path.join(root, f), path.join(dir, f));
  }
  copyMatching(path.join(root, 'dist'), path.join(dir, 'dist'), (n) => n.endsWith('.js'));
  copyMatching(path.join(root, 'media'), path.join(dir, 'media'), () => true);
  const ortStage = path.join(dir, 'node_modules', 'onnxruntime-node');
  fs.mkdirSync(ortStage, { recursive: true });
  fs.writeFileSync(path.join(ortStage, 'package.json'), JSON.stringify(stagedOrtManifest(readJson<Manifest>(path.join(ortRoot, 'package.json'))), null, 2) + '\n');
  copyMatching(path.join(ortRoot, 'dist'), path.join(ortStage, 'dist'), (n) => n.endsWith('.js'));
  copyMatching(ortBin, path.join(ortStage, 'bin', 'napi-v6', binFolder), () => true);
  const commonRoot = path.join(root, 'node_modules', 'onnxruntime-common');
  const commonStage = path.join(dir, 'node_modules', 'onnxruntime-common');
  copy(path.join(commonRoot, 'package.json'), path.join(commonStage, 'package.json'));
  copyMatching(path.join(commonRoot, 'dist', 'cjs'), path.join(commonStage, 'dist', 'cjs'), (n) => n.endsWith('.js') || n === 'package.json');
  return dir;
}

/** Names of the files in a zip archive, read from its central directory (no zip dependency needed). */
export function listZipEntries(file: string): { readonly name: string; readonly size: number }[] {
  const buf = fs.readFileSync(file);
  // End-of-central-directory record: signature 0x06054b50, within the last 64 KiB + 22 bytes.
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 65557); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) throw new Error(`${file}: not a zip archive (no end-of-central-directory record)`);
  const count = buf.readUInt16LE(eocd + 10);
  let at = buf.readUInt32LE(eocd + 16);
  const entries: { name: string; size: number }[] = [];
  for (let i = 0; i < count; i++) {
    if (buf.readUInt32LE(at) !== 0x02014b50) throw new Error(`${file}: bad central directory entry ${i}`);
    const size = buf.readUInt32LE(at + 24);
    const nameLength = buf.readUInt16LE(at + 28);
    const extraLength = buf.readUInt16LE(at + 30);
    const commentLength = buf.readUInt16LE(at + 32);
    entries.push({ name: buf.toString('utf8', at + 46, at + 46 + nameLength), size });
    at += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

function verify(target: string, vsix: string): number {
  const names = listZipEntries(vsix).map((e) => e.name);
  const inExtension = new Set(names.filter((n) => n.startsWith('extension/')).map((n) => n.slice('extension/'.length)));
  const missing = requiredFiles.filter((f) => !inExtension.has(f));
  if (missing.length > 0) throw new Error(`${path.basename(vsix)} lacks ${missing.join(', ')}`);
  const binFolder = ortBinaryFolder[target] ?? '';
  const binaries = [...inExtension].filter((n) => n.startsWith('node_modules/onnxruntime-node/bin/'));
  const foreign = binaries.filter((n) => !n.startsWith(`node_modules/onnxruntime-node/bin/napi-v6/${binFolder}/`));
  if (foreign.length > 0) throw new Error(`${path.basename(vsix)} carries other platforms' binaries: ${foreign.join(', ')}`);
  if (!binaries.some((n) => n.endsWith('onnxruntime_binding.node'))) throw new Error(`${path.basename(vsix)} has no onnxruntime_binding.node for ${target}`);
  return inExtension.size;
}

export function packageTarget(target: string): PackageResult {
  const dir = stage(target);
  const vsix = vsixPath(target);
  fs.mkdirSync(path.dirname(vsix), { recursive: true });
  fs.rmSync(vsix, { force: true });
  const manifest = readJson<Manifest>(path.join(dir, 'package.json'));
  const vsce = path.join(root, 'node_modules', '@vscode', 'vsce', 'vsce');
  const args = [vsce, 'package', '--target', target, '--out', vsix, '--no-yarn'];
  // Without a repository vsce would ask on stdin, and cannot rewrite README's relative links.
  if (manifest.repository === undefined) args.push('--allow-missing-repository', '--no-rewrite-relative-links');
  log(`vsce package --target ${target}`);
  // vsce prints the whole file tree; keep its warnings, errors and the DONE line.
  const r = spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`vsce package --target ${target} failed:\n${r.stdout}${r.stderr}`);
  for (const line of `${r.stdout}\n${r.stderr}`.split('\n')) if (/WARNING|ERROR|DONE|large/i.test(line)) log(`vsce: ${vsceSizeInMiB(line.trim())}`);
  const files = verify(target, vsix);
  const bytes = fs.statSync(vsix).size;
  log(`${path.relative(root, vsix)}: ${formatMiB(bytes)}, ${files} files`);
  return { target, vsix, bytes, files };
}

/** Builds (unless told not to) and packages the given targets; returns one result per target. */
export function packageExtension(targets: readonly string[], options: { readonly build?: boolean } = {}): PackageResult[] {
  if (options.build !== false) runBuild();
  return targets.map(packageTarget);
}

function parseTargets(argv: readonly string[]): string[] {
  if (argv.includes('--all')) {
    // onnxruntime-node has dropped some platforms (1.30 has no darwin/x64): package what it ships.
    return allTargets.filter((t) => {
      const present = fs.existsSync(path.join(root, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6', ortBinaryFolder[t] ?? ''));
      if (!present) log(`skipping ${t}: onnxruntime-node ships no binary for it`);
      return present;
    });
  }
  const targets: string[] = [];
  argv.forEach((a, i) => {
    if (a === '--target') targets.push(...(argv[i + 1] ?? '').split(',').filter(Boolean));
    else if (a.startsWith('--target=')) targets.push(...a.slice('--target='.length).split(',').filter(Boolean));
  });
  return targets.length > 0 ? targets : [hostTarget()];
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  try {
    const results = packageExtension(parseTargets(argv), { build: !argv.includes('--skip-build') });
    for (const r of results) console.log(`${r.target}\t${formatMiB(r.bytes)}\t${path.relative(root, r.vsix)}`);
  } catch (err: unknown) {
    console.error(`[package] ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
}
