/**
 * Builds models/demo-sae/blocks.1.hook_resid_pre/{cfg.json, sae_weights.safetensors,
 * feature-labels.json} from src/models/sae/demoSae.ts and checks the weights' sha256 against the
 * committed models/demo-sae/sae_weights.safetensors.sha256. Skips the build when the file is
 * already there with the right hash. Run by `npm install` (scripts/prepare.ts), after the demo model.
 *
 *   node --import tsx scripts/build-demo-sae.ts [--force] [--update-hash]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEMO_SAE_HOOK, writeDemoSae } from '../src/models/sae/demoSae';
import { sha256OfFile } from './build-demo-model';

const ROOT = path.resolve(__dirname, '..');
export const DEMO_SAE_FOLDER = path.join(ROOT, 'models', 'demo-sae', DEMO_SAE_HOOK);
const HASH_FILE = path.join(ROOT, 'models', 'demo-sae', 'sae_weights.safetensors.sha256');

export function ensureDemoSae(folder = DEMO_SAE_FOLDER, options: { force?: boolean; updateHash?: boolean } = {}): 'up-to-date' | 'built' {
  const weights = path.join(folder, 'sae_weights.safetensors');
  const expected = options.updateHash ? undefined : (fs.readFileSync(HASH_FILE, 'utf8').trim().split(/\s+/)[0] ?? '');
  const complete = ['cfg.json', 'feature-labels.json', 'sae_weights.safetensors'].every((f) => fs.existsSync(path.join(folder, f)));
  if (!options.force && expected && complete && sha256OfFile(weights) === expected) return 'up-to-date';
  writeDemoSae(folder);
  const actual = sha256OfFile(weights);
  if (options.updateHash) fs.writeFileSync(HASH_FILE, `${actual}  sae_weights.safetensors\n`);
  else if (actual !== expected) {
    throw new Error(`${weights}: built weights have sha256 ${actual}, but ${path.relative(ROOT, HASH_FILE)} says ${expected ?? '?'}; the build is not reproducible here (report it) or the construction changed (rerun with --update-hash)`);
  }
  return 'built';
}

if (require.main === module) {
  const args = process.argv.slice(2);
  try {
    const result = ensureDemoSae(DEMO_SAE_FOLDER, { force: args.includes('--force'), updateHash: args.includes('--update-hash') });
    process.stdout.write(`demo SAE: ${path.relative(ROOT, DEMO_SAE_FOLDER)} ${result === 'up-to-date' ? 'is up to date' : 'built (sha256 verified)'}\n`);
  } catch (error) {
    process.stderr.write(`build-demo-sae: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}
