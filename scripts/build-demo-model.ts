/**
 * Builds models/demo/{config.json, model.safetensors} from src/models/demoModel.ts and checks the
 * weights' sha256 against the committed models/demo/model.safetensors.sha256. Skips the build when
 * the file is already there with the right hash. Run by `npm install` (scripts/prepare.ts).
 *
 *   node --import tsx scripts/build-demo-model.ts [--force] [--update-hash]
 * --force rebuilds even when the file matches; --update-hash records the new hash (only after a
 * deliberate change to the construction).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeDemoModel } from '../src/models/demoModel';

const ROOT = path.resolve(__dirname, '..');
export const DEMO_FOLDER = path.join(ROOT, 'models', 'demo');
const HASH_FILE = path.join(DEMO_FOLDER, 'model.safetensors.sha256');

export function sha256OfFile(file: string): string {
  const hash = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buffer = Buffer.alloc(1 << 20);
    for (;;) {
      const n = fs.readSync(fd, buffer, 0, buffer.length, null);
      if (n === 0) break;
      hash.update(buffer.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

/** The committed hash ("<hex>  model.safetensors" in sha256sum format). */
export function expectedDemoSha256(): string {
  const text = fs.readFileSync(HASH_FILE, 'utf8').trim();
  const hex = text.split(/\s+/)[0] ?? '';
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`${HASH_FILE}: expected a sha256 hex digest, found ${JSON.stringify(text.slice(0, 80))}`);
  return hex;
}

export type DemoBuildResult = 'up-to-date' | 'built';

/** Makes sure `folder` holds the demo model with the committed hash; throws a one-line error if the build differs. */
export function ensureDemoModel(folder = DEMO_FOLDER, options: { force?: boolean; updateHash?: boolean; expectedSha256?: string } = {}): DemoBuildResult {
  const weights = path.join(folder, 'model.safetensors');
  const expected = options.updateHash ? undefined : options.expectedSha256 ?? expectedDemoSha256();
  if (!options.force && expected && fs.existsSync(weights) && fs.existsSync(path.join(folder, 'config.json')) && sha256OfFile(weights) === expected) {
    return 'up-to-date';
  }
  writeDemoModel(folder);
  const actual = sha256OfFile(weights);
  if (options.updateHash) {
    fs.writeFileSync(HASH_FILE, `${actual}  model.safetensors\n`);
  } else if (actual !== expected) {
    throw new Error(
      `${weights}: built weights have sha256 ${actual}, but ${path.relative(ROOT, HASH_FILE)} says ${expected ?? '?'}; ` +
        'the build is not reproducible here (report it) or the construction changed (rerun with --update-hash)',
    );
  }
  return 'built';
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const started = Date.now();
  try {
    const result = ensureDemoModel(DEMO_FOLDER, { force: args.includes('--force'), updateHash: args.includes('--update-hash') });
    const where = path.relative(ROOT, DEMO_FOLDER);
    process.stdout.write(result === 'up-to-date' ? `demo model: ${where} is up to date\n` : `demo model: built ${where} in ${((Date.now() - started) / 1000).toFixed(1)} s (sha256 verified)\n`);
  } catch (error) {
    process.stderr.write(`build-demo-model: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}
