/**
 * The workspace scan (src/models/sae/scan.ts) on a small random checkpoint and SAE:
 * - equals a brute-force pass: every window through the slow reference forward and the dense
 *   reference SAE, every feature's window maximum collected, then the top-N per feature by
 *   (activation desc, file, token) — same files and tokens exactly, activations within 1e-4 relative;
 * - n shards merged equal one run (n = 2, 3), and merging refuses overlapping shards;
 * - binary and oversized files are skipped with their reason;
 * - the CLI's features / scan / merge on the demo model and SAE write the documented JSON.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Engine } from '../../src/engine/engine';
import { tokenize } from '../../src/engine/tokenizer';
import type { ModelWeights } from '../../src/engine/types';
import type { SaeInfo } from '../../src/engine/sae/types';
import { corpusFingerprint, scanFiles, type ScanState } from '../../src/models/sae/scan';
import { mergeFeatureIndexes, type FeatureIndexJson } from '../../src/analysis/featureIndex';
import { expandGlobs } from '../../src/cli/glob';
import { makeTempFolder, removeTempFolder, writeRandomCheckpoint } from '../helpers/checkpointWriter';
import { writeRandomSae, type SaeTensors } from '../helpers/saeWriter';
import { referenceForward } from '../helpers/referenceForward';
import { referenceSae } from '../helpers/referenceSae';

const CONFIG = { nLayer: 2, nHead: 2, dModel: 16, nCtx: 32, dVocab: 50257 };
const D = CONFIG.dModel;
const S = 24;
const TOP = 3;
const WINDOW = 8;
const ROOT = path.resolve(__dirname, '../..');
const TEXTS: Record<string, string> = {
  'a.txt': 'The cat sat on the mat. The dog sat on the log, and the bird sat on the wire.',
  'notes/b.md': '# Notes\nResidual streams add up: every head writes into them.\nThen the MLP reads.',
  'notes/c.txt': 'Paris is the capital of France; Rome is the capital of Italy.',
  'd.ts': 'export const x = 1;\nfunction f(a: number): number { return a * 2; }\n',
  'e.txt': 'Short.',
};

let root: string;
let corpus: string;
let engine: Engine;
let weights: ModelWeights;
let sae: SaeTensors;
let info: SaeInfo;
let model: { name: string; fingerprint: string };
let files: string[];

before(async () => {
  root = makeTempFolder('residual-lens-scan');
  weights = writeRandomCheckpoint(path.join(root, 'model'), { seed: 11, ...CONFIG });
  sae = writeRandomSae(path.join(root, 'sae'), { seed: 12, dIn: D, dSae: S, style: '6', hookName: 'blocks.1.hook_resid_pre', centre: true });
  corpus = path.join(root, 'corpus');
  for (const [name, text] of Object.entries(TEXTS)) {
    fs.mkdirSync(path.dirname(path.join(corpus, name)), { recursive: true });
    fs.writeFileSync(path.join(corpus, name), text);
  }
  fs.writeFileSync(path.join(corpus, 'bin.txt'), Buffer.from([65, 66, 0, 67]));
  fs.writeFileSync(path.join(corpus, 'big.txt'), 'x'.repeat(5000));
  engine = new Engine({ threads: 1 });
  const m = await engine.load({ folder: path.join(root, 'model'), name: 'tiny', cacheDir: path.join(root, 'cache') });
  model = { name: m.name, fingerprint: m.fingerprint };
  info = await engine.loadSae({ folder: path.join(root, 'sae') });
  files = expandGlobs(corpus, ['**/*.{txt,md,ts}']);
});

after(async () => {
  await engine.dispose();
  removeTempFolder(root);
});

const scan = (shard?: { index: number; count: number }): Promise<FeatureIndexJson> =>
  scanFiles(engine, { root: corpus, files, model, sae: info, top: TOP, window: WINDOW, maxFileBytes: 4096, ...(shard ? { shard } : {}) });

describe('workspace scan', () => {
  it('expands globs with ** and {a,b}', () => {
    assert.deepEqual(files.map((f) => path.relative(corpus, f).split(path.sep).join('/')), ['a.txt', 'big.txt', 'bin.txt', 'd.ts', 'e.txt', 'notes/b.md', 'notes/c.txt']);
  });

  it('equals a brute-force pass through the reference forward and SAE', async () => {
    const run = await scan();
    assert.deepEqual(run.skipped, [{ path: 'big.txt', reason: 'larger than 4096 bytes (5000)' }, { path: 'bin.txt', reason: 'binary (NUL byte)' }]);
    const all = new Map<number, { activation: number; file: string; token: number }[]>();
    let tokensTotal = 0;
    for (const name of Object.keys(TEXTS).sort()) {
      const ids = tokenize(TEXTS[name], { prependBos: false }).tokens.map((t) => t.id);
      tokensTotal += ids.length;
      for (let w = 0; w < ids.length; w += WINDOW) {
        const win = [50256, ...ids.slice(w, w + WINDOW)];
        const T = win.length;
        const ref = referenceForward(weights, win);
        const rows = ref.resid.slice(1 * T * D + D, 2 * T * D); // blocks.1.hook_resid_pre without BOS
        const acts = referenceSae({ dIn: D, dSae: S, architecture: 'standard', normalization: 'none', applyBDecToInput: true, centre: true }, sae, rows, T - 1).acts;
        for (let f = 0; f < S; f++) {
          let best = 0;
          let at = -1;
          acts.forEach((row, p) => {
            if (row[f] > best) {
              best = row[f];
              at = p;
            }
          });
          if (at < 0) continue;
          const list = all.get(f) ?? [];
          list.push({ activation: best, file: name, token: w + at });
          all.set(f, list);
        }
      }
    }
    assert.equal(run.tokens_scanned, tokensTotal);
    assert.deepEqual(Object.keys(run.features).map(Number), [...all.keys()].sort((a, b) => a - b));
    for (const [f, list] of all) {
      const want = list.sort((a, b) => b.activation - a.activation || (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) || a.token - b.token).slice(0, TOP);
      const got = run.features[String(f)];
      assert.deepEqual(got.map((c) => [c.file, c.token]), want.map((c) => [c.file, c.token]), `feature ${f}`);
      got.forEach((c, i) => assert.ok(Math.abs(c.activation - want[i].activation) <= 1e-4 * Math.max(1, want[i].activation), `feature ${f} #${i}: ${c.activation} vs ${want[i].activation}`));
      for (const c of got) {
        const text = TEXTS[c.file];
        assert.ok(c.context.includes(`⟦${text.slice(c.start, c.end).replace(/\n/g, '↵')}⟧`), `feature ${f}: context ${c.context}`);
      }
    }
  });

  it('n shards merged equal one run', async () => {
    const run = await scan();
    for (const n of [2, 3]) {
      const shards: FeatureIndexJson[] = [];
      for (let i = 0; i < n; i++) shards.push(await scan({ index: i, count: n }));
      const merged = mergeFeatureIndexes(shards, corpusFingerprint);
      assert.equal(merged.shards_merged, n);
      assert.deepEqual({ ...merged, shards_merged: 1 }, run, `${n} shards`);
    }
    const one = await scan({ index: 0, count: 2 });
    assert.throws(() => mergeFeatureIndexes([one, one], corpusFingerprint), /file "a\.txt" is in two indexes/);
  });
});

describe('resume', () => {
  it('a scan stopped after some files and resumed from its saved state equals one run', async () => {
    const run = await scan();
    let saved: ScanState | undefined;
    const abort = new AbortController();
    await assert.rejects(
      scanFiles(engine, {
        root: corpus, files, model, sae: info, top: TOP, window: WINDOW, maxFileBytes: 4096, signal: abort.signal,
        onFileDone: (state) => {
          saved = JSON.parse(JSON.stringify(state)) as ScanState;
          if (state.files.length + state.skipped.length >= 3) abort.abort();
        },
      }),
      /scan cancelled/,
    );
    assert.ok(saved && saved.files.length + saved.skipped.length >= 3);
    const resumed = await scanFiles(engine, { root: corpus, files, model, sae: info, top: TOP, window: WINDOW, maxFileBytes: 4096, resume: saved });
    assert.deepEqual(resumed, run);
  });
});

describe('CLI features / scan / merge on the demo model', () => {
  const cli = (args: string[]): string => execFileSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli.ts'), ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, RESIDUAL_LENS_CACHE: path.join(root, 'cache') } });

  it('features --json', () => {
    const j = JSON.parse(cli(['features', '--model', 'demo', '--sae', 'demo', '--text', ' The cat sat', '--k', '3', '--json'])) as {
      schema: number; kind: string; sae: { hook_name: string; centred_input: boolean; input: string }; positions: { pos: number; l0: number; features: { id: number; activation: number; label?: string }[] }[];
    };
    assert.equal(j.schema, 1);
    assert.equal(j.kind, 'features');
    assert.equal(j.sae.hook_name, 'blocks.1.hook_resid_pre');
    assert.equal(j.sae.centred_input, false);
    assert.match(j.sae.input, /as it is/);
    assert.equal(j.positions.length, 4);
    assert.deepEqual(j.positions[2].features.map((f) => f.label).sort(), ['after " The" (written by L0H0)', 'position 2', 'token is " cat"']);
    assert.equal(j.positions[2].l0, 3);
  });

  it('features --splice: the demo SAE reconstructs its hook exactly, so splicing it in changes nothing', () => {
    const j = JSON.parse(cli(['features', '--model', 'demo', '--sae', 'demo', '--text', ' The cat sat on the mat. The cat sat on the', '--splice', '--json'])) as {
      splice: { hook: string; pos: number; kl: number; token: { id: number }; logprob_before: number; logprob_after: number; top_before: { id: number }[]; top_after: { id: number }[] };
    };
    assert.equal(j.splice.hook, 'blocks.1.hook_resid_pre');
    assert.equal(j.splice.pos, 12);
    assert.ok(Math.abs(j.splice.kl) < 1e-4, `KL ${j.splice.kl}`);
    assert.ok(Math.abs(j.splice.logprob_after - j.splice.logprob_before) < 1e-4);
    assert.deepEqual(j.splice.top_after.map((e) => e.id), j.splice.top_before.map((e) => e.id));
  });

  it('scan in 2 shards, merge, equals one scan', () => {
    const out = (n: string): string => path.join(root, n);
    const base = ['scan', '--model', 'demo', '--sae', 'demo', '--root', corpus, '--files', '**/*.txt', '--files', 'notes/*.md', '--top', '2', '--window', '16', '--max-file-bytes', '4096', '--quiet'];
    cli([...base, '--out', out('one.json')]);
    cli([...base, '--shard', '0/2', '--out', out('s0.json')]);
    cli([...base, '--shard', '1/2', '--out', out('s1.json')]);
    cli(['merge', out('s0.json'), out('s1.json'), '--out', out('merged.json')]);
    const one = JSON.parse(fs.readFileSync(out('one.json'), 'utf8')) as FeatureIndexJson;
    const merged = JSON.parse(fs.readFileSync(out('merged.json'), 'utf8')) as FeatureIndexJson;
    assert.equal(one.kind, 'feature-index');
    assert.ok(Object.keys(one.features).length > 5);
    assert.deepEqual({ ...merged, shards_merged: 1 }, one);
    const cat = one.features['3']; // demo "token is ' cat'"
    assert.ok(cat.length > 0 && cat.every((c) => c.context.includes('⟦ cat⟧')));
  });
});
