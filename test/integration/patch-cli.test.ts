/**
 * `residual-lens patch` and `ablate` as a user runs them (a child process through tsx): the JSON
 * ("patch" / "ablate", schema 1) against the reference forward with the same edits, the readable
 * tables, and one-line errors with exit code 2 for bad arguments.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import type { PatchJson } from '../../src/cli/patch';
import type { AblateJson } from '../../src/cli/ablate';
import { tokenize } from '../../src/engine/tokenizer';
import type { ModelWeights } from '../../src/engine/types';
import { makeTempFolder, removeTempFolder, writeRandomCheckpoint } from '../helpers/checkpointWriter';
import { captureHooks, referenceWithInterventions } from '../helpers/referenceInterventions';

const CLI = path.resolve(__dirname, '../../src/cli.ts');
const CONFIG = { nLayer: 2, nHead: 2, dModel: 16, nCtx: 32, dVocab: 50257 };
const TOL = 1e-4;

function cli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const ids = (text: string): number[] => tokenize(text, { prependBos: true }).tokens.map((t) => t.id);
const one = (text: string): number => tokenize(text, { prependBos: false }).tokens[0]!.id;

describe('residual-lens patch / ablate', () => {
  let root: string;
  let folder: string;
  let weights: ModelWeights;
  const clean = 'When Mary and John went to the store, John gave a drink to';
  const corrupt = 'When Mary and John went to the store, Mary gave a drink to';

  before(() => {
    root = makeTempFolder('rl-patch-cli');
    folder = path.join(root, 'tiny-model');
    weights = writeRandomCheckpoint(folder, { ...CONFIG, seed: 23 });
  });
  after(() => removeTempFolder(root));

  it('patch --json: baselines, grids and scores match the reference forward with the same patches', () => {
    const r = cli(['patch', '--model', folder, '--clean', clean, '--corrupt', corrupt, '--answer', ' Mary', '--wrong', ' John', '--what', 'resid_pre,heads,heads_by_pos', '--heads', '1.0', '--json', '--dir', path.join(root, 'cache')]);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as PatchJson;
    assert.equal(j.schema, 1);
    assert.equal(j.command, 'patch');
    const cleanIds = ids(clean);
    const corruptIds = ids(corrupt);
    const T = cleanIds.length;
    const V = CONFIG.dVocab;
    assert.deepEqual(j.clean.tokens.map((t) => t.id), cleanIds);
    assert.deepEqual(j.metric, { kind: 'logit_diff', pos: T - 1, answer: { id: one(' Mary'), token: ' Mary' }, wrong: { id: one(' John'), token: ' John' } });
    const ld = (logits: Float32Array): number => logits[(T - 1) * V + one(' Mary')]! - logits[(T - 1) * V + one(' John')]!;
    const sources = new Map([[0, captureHooks(weights, cleanIds)]]);
    const cleanRef = ld(referenceWithInterventions(weights, cleanIds, [], sources).logits);
    const corruptRef = ld(referenceWithInterventions(weights, corruptIds, [], sources).logits);
    assert.ok(Math.abs(j.clean_metric - cleanRef) <= TOL * Math.max(1, Math.abs(cleanRef)));
    assert.ok(Math.abs(j.corrupted_metric - corruptRef) <= TOL * Math.max(1, Math.abs(corruptRef)));
    assert.equal(j.normalised, true);
    assert.deepEqual(j.sweeps.map((s) => [s.what, s.values.length, s.values[0]!.length]), [['resid_pre', 2, T], ['heads', 2, 2], ['heads_by_pos', 1, T]]);
    assert.deepEqual(j.sweeps[2]!.row_labels, ['L1H0']);
    // Cell (layer 1, position 9) of resid_pre, and head L0H1, against the reference.
    const cells = [
      { value: j.sweeps[0]!.values[1]![9]!, score: j.sweeps[0]!.scores![1]![9]!, iv: { site: { hook: 'blocks.1.hook_resid_pre', positions: [9] }, action: { kind: 'patch' as const, sourceTraceId: 0 } } },
      { value: j.sweeps[1]!.values[0]![1]!, score: j.sweeps[1]!.scores![0]![1]!, iv: { site: { hook: 'blocks.0.attn.hook_z', head: 1 }, action: { kind: 'patch' as const, sourceTraceId: 0 } } },
    ];
    for (const c of cells) {
      const ref = ld(referenceWithInterventions(weights, corruptIds, [c.iv], sources).logits);
      assert.ok(Math.abs(c.value - ref) <= TOL * Math.max(1, Math.abs(ref)), `${c.iv.site.hook}: ${c.value} vs ${ref}`);
      assert.ok(Math.abs(c.score - (ref - corruptRef) / (cleanRef - corruptRef)) <= 1e-3, `${c.iv.site.hook} score`);
    }
  });

  it('patch prints readable tables; clean = corrupted says so instead of NaN', () => {
    const r = cli(['patch', '--model', folder, '--clean', clean, '--corrupt', clean, '--answer', ' Mary', '--wrong', ' John', '--what', 'mlp_out', '--dir', path.join(root, 'cache')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /same metric/);
    assert.match(r.stdout, /mlp_out: metric/);
    assert.doesNotMatch(r.stdout, /NaN|Infinity/);
  });

  it('ablate --json: before / after top-k and the log-prob change match the reference with the head zeroed', () => {
    const text = 'The cat sat on the mat. The cat sat on the';
    const r = cli(['ablate', '--model', folder, '--text', text, '--head', '1.0,0.1', '--k', '3', '--json', '--dir', path.join(root, 'cache')]);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as AblateJson;
    assert.equal(j.schema, 1);
    assert.equal(j.command, 'ablate');
    assert.deepEqual(j.heads, [{ layer: 1, head: 0, hook: 'blocks.1.attn.hook_z' }, { layer: 0, head: 1, hook: 'blocks.0.attn.hook_z' }]);
    const t = ids(text);
    const T = t.length;
    const V = CONFIG.dVocab;
    const ivs = [1, 0].map((l, i) => ({ site: { hook: `blocks.${l}.attn.hook_z`, head: [0, 1][i]! }, action: { kind: 'zero' as const } }));
    const after = referenceWithInterventions(weights, t, ivs, new Map()).logits.subarray((T - 1) * V, T * V);
    const order = Array.from(after.keys()).sort((a, b) => after[b]! - after[a]!);
    assert.deepEqual(j.after.map((e) => e.id), order.slice(0, 3));
    j.after.forEach((e) => assert.ok(Math.abs(e.logit - after[e.id]!) <= TOL * Math.max(1, Math.abs(after[e.id]!))));
    assert.equal(j.metric.token.id, j.before[0]!.id);
    assert.ok(Math.abs(j.metric.change - (j.metric.after - j.metric.before)) < 1e-9);
  });

  it('bad arguments: one line on stderr, exit code 2 (1 for unequal token counts, with both tokenizations)', () => {
    const cases: [string[], RegExp, number][] = [
      [['patch', '--model', folder, '--clean', clean, '--corrupt', corrupt, '--answer', ' Marylandia'], /--answer " Marylandia" is 2 tokens: " Maryland" \+ "ia"; it must be exactly one token/, 2],
      [['patch', '--model', folder, '--clean', clean, '--corrupt', corrupt, '--answer', ' Mary', '--wrong', ' Mary'], /same token/, 2],
      [['patch', '--model', folder, '--clean', clean, '--corrupt', corrupt, '--answer', ' Mary', '--what', 'everything'], /--what: 'everything' is not one of/, 2],
      [['patch', '--model', folder, '--clean', clean, '--corrupt', corrupt], /--answer is required/, 2],
      [['ablate', '--model', folder, '--text', 'x y', '--head', '7.0', '--dir', path.join(root, 'cache')], /--head 7\.0 is out of range/, 2],
      [['ablate', '--model', folder, '--text', 'x y', '--head', 'L1H0'], /not a head; write layer\.head/, 2],
      [['ablate', '--model', folder, '--text', 'x y', '--head', '1.0', '--mode', 'resample'], /--mode must be zero or mean/, 2],
    ];
    for (const [args, message, code] of cases) {
      const r = cli(args);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').filter((l) => !l.startsWith('npm warn')).length, 1, r.stderr);
    }
    const r = cli(['patch', '--model', folder, '--clean', 'a b', '--corrupt', 'a b c', '--answer', ' Mary']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /clean prompt has 3 tokens and the corrupted one 4/);
    assert.match(r.stderr, /" c"/);
  });
});
