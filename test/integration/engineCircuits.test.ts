/**
 * Engine.circuits / headPair / mlpPair: the engine's report (ORT matmuls, ORT attention patterns)
 * equals the pure analysis on the same weights with the reference forward's patterns within 1e-4,
 * and a second request is served from the cache under cacheDir (JSON + binary), bit-identical; a cache
 * written with another CIRCUITS_CACHE_VERSION is recomputed, and the report's field list is pinned to it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Engine } from '../../src/engine/engine';
import { CIRCUITS_CACHE_VERSION, circuitsCachePath, readCircuitsCache, writeCircuitsCache } from '../../src/engine/circuitsCache';
import { computeCircuits, headPair, mlpPair } from '../../src/analysis/circuits';
import type { CircuitsReport } from '../../src/analysis/circuitTypes';
import type { ModelWeights } from '../../src/engine/types';
import { makeTempFolder, removeTempFolder, writeRandomCheckpoint } from '../helpers/checkpointWriter';
import { referenceForward } from '../helpers/referenceForward';
import { assertClose } from '../helpers/assertClose';

const CONFIG = { nLayer: 2, nHead: 2, dModel: 16, nCtx: 48, dVocab: 50257 };
const OPTIONS = { seed: 3, tokenSample: 16 };


describe('engine circuits', () => {
  let root: string;
  let weights: ModelWeights;
  let engine: Engine;
  let report: CircuitsReport;

  before(async () => {
    root = makeTempFolder('rl-engine-circuits');
    weights = writeRandomCheckpoint(path.join(root, 'model'), { ...CONFIG, seed: 31 });
    engine = new Engine();
    await engine.load({ folder: path.join(root, 'model'), name: 'tiny', cacheDir: path.join(root, 'cache') });
    report = await engine.circuits(OPTIONS);
  });
  after(async () => {
    await engine.dispose();
    removeTempFolder(root);
  });

  it('matches the pure analysis run on the reference forward', async () => {
    const expected = await computeCircuits(weights, async (batch) => batch.map((ids) => referenceForward(weights, Array.from(ids)).pattern), OPTIONS);
    assert.equal(report.nLayer, expected.nLayer);
    assertClose(report.composition.q, expected.composition.q, 'composition.q');
    assertClose(report.composition.k, expected.composition.k, 'composition.k');
    assertClose(report.composition.v, expected.composition.v, 'composition.v');
    assertClose(report.mlpVirtualNorms, expected.mlpVirtualNorms, 'mlpVirtualNorms');
    assertClose(report.positionalQk, expected.positionalQk, 'positionalQk');
    for (const kind of ['q', 'k', 'v'] as const) assertClose(report.subspaces.headOverlap![kind], expected.subspaces.headOverlap![kind], `headOverlap.${kind}`);
    report.heads.forEach((h, i) => {
      const e = expected.heads[i];
      assert.deepEqual([h.layer, h.head], [e.layer, e.head]);
      assertClose([h.previousToken, h.duplicateToken, h.induction, h.copying], [e.previousToken, e.duplicateToken, e.induction, e.copying], `head ${i} scores`);
    });
  });

  it('serves the second request from the cache under cacheDir', async () => {
    const files = fs.readdirSync(path.join(root, 'cache', 'circuits')).sort();
    assert.equal(files.length, 2);
    assert.match(files[0], /^[0-9a-f]{32}\.bin$/);
    assert.match(files[1], /^[0-9a-f]{32}\.json$/);
    const again = await engine.circuits(OPTIONS);
    assert.deepEqual(again, report);
    const other = await engine.circuits({ ...OPTIONS, seed: 4 });
    assert.equal(fs.readdirSync(path.join(root, 'cache', 'circuits')).length, 4);
    assert.notDeepEqual(other.heads.map((h) => h.induction), report.heads.map((h) => h.induction));
  });

  it('passes head and MLP pairs through to the analysis', async () => {
    const params = { layer1: 0, head1: 1, layer2: 1, head2: 0, kind: 'k' as const };
    const hp = await engine.headPair(params);
    const ehp = headPair(weights, params);
    assert.ok(Math.abs(hp.norm - ehp.norm) <= 1e-4 * Math.max(1, ehp.norm));
    const mp = await engine.mlpPair({ writer: 0, reader: 1, topN: 5 });
    const emp = mlpPair(weights, { writer: 0, reader: 1, topN: 5 });
    assert.ok(Math.abs(mp.norm - emp.norm) <= 1e-5 * emp.norm);
    assert.equal(mp.pairs.length, 5);
    assert.deepEqual(mp.pairs, emp.pairs); // through ORT, re-ranked exactly
  });

  it('never serves a cache written with another version: the report is recomputed', async () => {
    const cacheDir = path.join(root, 'cache-stale');
    const fingerprint = engine.info!.fingerprint;
    // what an older build left: the same report without ovTopTokens, under the old key and under today's key with v = old
    const stale: CircuitsReport = { ...report, heads: report.heads.map((h) => ({ ...h, ovTopTokens: [] })) };
    const old = CIRCUITS_CACHE_VERSION - 1;
    writeCircuitsCache(circuitsCachePath(cacheDir, fingerprint, OPTIONS, old), stale, old);
    const current = circuitsCachePath(cacheDir, fingerprint, OPTIONS);
    writeCircuitsCache(current, stale, old);
    assert.notEqual(circuitsCachePath(cacheDir, fingerprint, OPTIONS, old), current, 'the key includes the version');
    assert.equal(readCircuitsCache(current), undefined);
    const fresh = new Engine();
    try {
      await fresh.load({ folder: path.join(root, 'model'), name: 'tiny', cacheDir });
      const recomputed = await fresh.circuits(OPTIONS);
      assert.ok(recomputed.heads.every((h) => (h.ovTopTokens ?? []).length > 0), 'ovTopTokens recomputed');
      assert.deepEqual(recomputed.heads.map((h) => h.ovTopTokens), report.heads.map((h) => h.ovTopTokens));
      assert.deepEqual(readCircuitsCache(current), recomputed, "today's entry was rewritten with this version");
    } finally {
      await fresh.dispose();
    }
  });

  it('pins the report fields to CIRCUITS_CACHE_VERSION (a new field needs a version bump, else stale caches lack it)', () => {
    const fields = (o: object, prefix = ''): string[] =>
      Object.entries(o).flatMap(([k, v]) => (v !== null && typeof v === 'object' && !ArrayBuffer.isView(v) && !Array.isArray(v) ? fields(v as object, `${prefix}${k}.`) : [`${prefix}${k}`]));
    const shape = [...fields(report), ...fields(report.heads[0]!).map((f) => `heads[].${f}`)].sort();
    const pinned: Record<number, string[]> = {
      2: [
        'composition.k', 'composition.q', 'composition.v', 'compositionBaseline', 'headToMlp', 'heads',
        'heads[].copying', 'heads[].duplicateToken', 'heads[].head', 'heads[].induction', 'heads[].layer', 'heads[].ovTopTokens',
        'heads[].previousToken', 'heads[].writeEffectiveRank', 'mlpToHead', 'mlpVirtualNorms', 'nHead', 'nLayer', 'positionalQk',
        'positionalQkSize', 'subspaces.embedding.at50', 'subspaces.embedding.at80', 'subspaces.embedding.at90',
        'subspaces.embedding.cumulative', 'subspaces.headOverlap.baseline', 'subspaces.headOverlap.k', 'subspaces.headOverlap.q',
        'subspaces.headOverlap.v', 'subspaces.positional.at50', 'subspaces.positional.at80', 'subspaces.positional.at90',
        'subspaces.positional.cumulative',
      ],
      3: [
        'composition.k', 'composition.q', 'composition.v', 'compositionBaseline',
        'detectorCeilings.duplicateToken', 'detectorCeilings.induction', 'detectorCeilings.previousToken', 'headToMlp', 'heads',
        'heads[].copying', 'heads[].duplicateToken', 'heads[].head', 'heads[].induction', 'heads[].layer', 'heads[].ovTopTokens',
        'heads[].previousToken', 'heads[].writeEffectiveRank', 'mlpToHead', 'mlpVirtualNorms', 'nHead', 'nLayer', 'positionalQk',
        'positionalQkSize', 'subspaces.embedding.at50', 'subspaces.embedding.at80', 'subspaces.embedding.at90',
        'subspaces.embedding.cumulative', 'subspaces.headOverlap.baseline', 'subspaces.headOverlap.k', 'subspaces.headOverlap.q',
        'subspaces.headOverlap.v', 'subspaces.positional.at50', 'subspaces.positional.at80', 'subspaces.positional.at90',
        'subspaces.positional.cumulative',
      ],
    };
    assert.deepEqual(shape, pinned[CIRCUITS_CACHE_VERSION], `CircuitsReport fields changed: bump CIRCUITS_CACHE_VERSION (src/engine/circuitsCache.ts) and pin the new list`);
  });
});
