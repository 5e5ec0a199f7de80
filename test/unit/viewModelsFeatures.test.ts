/** The editor's SAE view models: the setting's resolution, the hover's feature lines, labels files. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { featuresAt, hookLabel, labelsJson, parseFeatureLabels, resolveSaeSetting, spliceLine } from '../../src/viewModels/features';
import { hoverMarkdown } from '../../src/viewModels/hover';
import type { SaeFeatures } from '../../src/engine/sae/types';

const DEMO = '/ext/models/demo-sae/blocks.1.hook_resid_pre';

test('residualLens.sae: empty means the demo SAE only with the demo model', () => {
  assert.deepEqual(resolveSaeSetting('', 'demo', DEMO, path.isAbsolute), { kind: 'folder', folder: DEMO });
  assert.deepEqual(resolveSaeSetting('', 'gpt2', DEMO, path.isAbsolute), { kind: 'off' });
  assert.deepEqual(resolveSaeSetting('none', 'demo', DEMO, path.isAbsolute), { kind: 'off' });
  assert.deepEqual(resolveSaeSetting(' demo ', 'gpt2', DEMO, path.isAbsolute), { kind: 'folder', folder: DEMO });
  assert.deepEqual(resolveSaeSetting('/saes/l8', 'gpt2', DEMO, path.isAbsolute), { kind: 'folder', folder: '/saes/l8' });
  assert.equal(resolveSaeSetting('saes/l8', 'gpt2', DEMO, path.isAbsolute).kind, 'error');
});

test('hover lines: top features at a position, with labels, escaped', () => {
  const f = { positions: 2, k: 3, ids: Int32Array.from([4, 1, -1, 7, 2, 9]), values: Float32Array.from([2.5, 0.5, 0, 3, 2, 1]) } as unknown as SaeFeatures;
  const labels = new Map([[4, 'token is "*cat*"']]);
  assert.deepEqual(featuresAt(f, 0, 5, labels), [{ id: 4, activation: 2.5, label: 'token is "*cat*"' }, { id: 1, activation: 0.5 }]);
  assert.deepEqual(featuresAt(f, 1, 2, labels).map((x) => x.id), [7, 2]);
  assert.deepEqual(featuresAt(f, 5, 2, labels), []);
  assert.equal(hookLabel('blocks.8.hook_resid_pre'), 'L8 resid_pre');
  const md = hoverMarkdown({ pos: 0, tokenText: 'a', tokenId: 1, model: 'demo', predictions: [], nLayer: 2, features: { sae: 'L1 resid_pre · demo', items: featuresAt(f, 0, 5, labels) } });
  assert.match(md, /\*\*Top features\*\* · L1 resid\\_pre · demo/);
  assert.match(md, /- `#4` 2\.50 — token is "\\\*cat\\\*"/);
  const none = hoverMarkdown({ pos: 0, tokenText: 'a', tokenId: 1, model: 'demo', predictions: [], nLayer: 2, features: { sae: 's', items: [] } });
  assert.match(none, /no feature is active here/);
});

test('labels JSON round-trips and ignores what is not a label', () => {
  const labels = new Map([[10, 'ten'], [2, 'two']]);
  const json = labelsJson(labels, { name: 'x', hook_name: 'blocks.0.hook_resid_pre', fingerprint: 'f' });
  assert.deepEqual(Object.keys(json.labels), ['2', '10']);
  assert.deepEqual(parseFeatureLabels(JSON.parse(JSON.stringify(json))), new Map([[2, 'two'], [10, 'ten']]));
  assert.deepEqual(parseFeatureLabels({ labels: { '1': 'a', x: 'b', '2': 3 } }), new Map([[1, 'a']]));
  assert.equal(parseFeatureLabels({ labels: [] }), undefined);
  assert.equal(parseFeatureLabels(null), undefined);
});

test('feature heatmap: strongest features first, [F, T] from the top-k lists', async () => {
  const { featureHeatmap } = await import('../../src/viewModels/features');
  const f = {
    traceId: 5, positions: 3, k: 2,
    ids: Int32Array.from([4, 1, 7, 4, -1, -1]), values: Float32Array.from([1, 0.5, 3, 2, 0, 0]),
    l0: Int32Array.from([2, 2, 0]), varianceExplained: Float64Array.from([0.5, 0.9, NaN]),
    sae: { hookName: 'blocks.1.hook_resid_pre', name: 'demo', input: 'raw' },
  } as unknown as SaeFeatures;
  const m = featureHeatmap(f, new Map([[7, 'seven']]), 2);
  assert.deepEqual(m.ids, [7, 4]);
  assert.deepEqual(m.labels, ['seven', '']);
  assert.deepEqual(m.values, [0, 3, 0, 1, 2, 0]);
  assert.deepEqual(m.varianceExplained, [0.5, 0.9, null]);
  assert.equal(m.sae, 'L1 resid_pre · demo');
});

test('splice line: KL (never -0 from float noise), probabilities from log-probabilities, the top-1 with the SAE', () => {
  const line = spliceLine({ hook: 'blocks.1.hook_resid_pre', pos: 12, kl: -1e-9, logprobBefore: Math.log(0.8), logprobAfter: Math.log(0.0004) }, '" mat"', '" rug"');
  assert.equal(line, 'SAE spliced in at blocks.1.hook_resid_pre (every position): at position 12, KL(unedited ‖ spliced) 0.0000 nats; p(" mat") 80% → <0.1%; top-1 with the SAE: " rug"');
});
