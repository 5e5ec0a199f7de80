/**
 * `residual-lens circuits` end to end on the demo model: JSON shapes and the planted numbers,
 * the readable summary, and bad input. Skips when models/demo/model.safetensors is not built.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.resolve(__dirname, '../..');
const built = fs.existsSync(path.join(root, 'models/demo/model.safetensors'));
const skip = built ? false : 'models/demo/model.safetensors is not built yet (node --import tsx scripts/build-demo-model.ts)';

function cli(args: string[], cacheDir: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli.ts'), ...args, '--dir', cacheDir], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('circuits --json on the demo model: documented shapes and the planted pair', { skip }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rl-circuits-'));
  try {
    const r = cli(['circuits', '--model', 'demo', '--json'], dir);
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout) as {
      schema: number;
      composition: Record<'q' | 'k' | 'v', number[][][][]>;
      mlp_virtual_norms: number[][];
      heads: { layer: number; head: number; previous_token: number; duplicate_token: number; induction: number; copying: number; role: string | null }[];
      detector_ceilings: { previous_token: number; duplicate_token: number; induction: number };
      subspaces: Record<'embedding' | 'positional', { at50: number; at80: number; at90: number; cumulative: number[] }> & {
        head_overlap: Record<'q' | 'k' | 'v', number[][][][]> & { baseline: number; top: Record<'k', { from: string; to: string; score: number }[]> };
      };
      top_composition: Record<'k', { from: string; to: string; score: number }[]>;
    };
    assert.equal(j.schema, 1);
    for (const kind of ['q', 'k', 'v'] as const) {
      const c = j.composition[kind];
      assert.deepEqual([c.length, c[0]!.length, c[0]![0]!.length, c[0]![0]![0]!.length], [2, 4, 2, 4]);
      for (let l1 = 0; l1 < 2; l1++) for (let h1 = 0; h1 < 4; h1++) for (let h2 = 0; h2 < 4; h2++) assert.equal(c[l1]![h1]![0]![h2], 0, 'l2 <= l1 is 0');
    }
    assert.ok(Math.abs(j.composition.k[0]![0]![1]![0]! - 0.125) < 1e-4);
    assert.deepEqual(j.top_composition.k[0] && [j.top_composition.k[0].from, j.top_composition.k[0].to], ['L0H0', 'L1H0']);
    assert.deepEqual(j.mlp_virtual_norms, [[0, 0], [0, 0]]); // the demo's MLPs are zero
    assert.equal(j.heads.length, 8);
    assert.deepEqual(Object.keys(j.heads[0]!).slice(0, 6), ['layer', 'head', 'previous_token', 'duplicate_token', 'induction', 'copying']);
    // Raw TransformerLens scores (L1H0 ≈ 0.488, under 0.5) with the ceiling beside them, and the role relative to it.
    assert.ok(Math.abs(j.detector_ceilings.induction - 20 / 41) < 1e-5 && Math.abs(j.detector_ceilings.previous_token - 40 / 41) < 1e-5);
    const l1h0 = j.heads.find((h) => h.layer === 1 && h.head === 0)!;
    assert.ok(l1h0.induction > 0.48 && l1h0.induction < 0.5, `raw induction ${l1h0.induction}`);
    assert.deepEqual(j.heads.filter((h) => h.role !== null).map((h) => [`L${h.layer}H${h.head}`, h.role]), [['L0H0', 'previous-token'], ['L1H0', 'induction']]);
    assert.equal(j.subspaces.embedding.cumulative.length, 256);
    assert.ok(j.subspaces.embedding.at50 <= j.subspaces.embedding.at80 && j.subspaces.embedding.at80 <= j.subspaces.embedding.at90);
    // L0H0 writes into PREV, L1H0's keys read exactly PREV, its queries and values read TOKEN: overlaps 1, 0, 0
    const overlap = j.subspaces.head_overlap;
    assert.ok(Math.abs(overlap.k[0]![0]![1]![0]! - 1) < 1e-4, `K overlap ${overlap.k[0]![0]![1]![0]}`);
    assert.ok(overlap.q[0]![0]![1]![0]! < 1e-4 && overlap.v[0]![0]![1]![0]! < 1e-4);
    assert.deepEqual([overlap.top.k[0]!.from, overlap.top.k[0]!.to], ['L0H0', 'L1H0']);
    assert.ok(Math.abs(overlap.baseline - 64 / 255) < 1e-5);
    const summary = cli(['circuits', '--model', 'demo'], dir); // second run: from the engine's cache
    assert.equal(summary.status, 0, summary.stderr);
    assert.match(summary.stdout, /Top K-composition[\s\S]*L0H0\s+L1H0\s+0\.1250/);
    assert.match(summary.stdout, /Subspaces/);
    assert.match(summary.stdout, /L1H0 .* induction\n/);
    assert.match(summary.stdout, /Largest write → read subspace overlaps[\s\S]*K\s+L0H0\s+L1H0\s+1\.0000/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('circuits: bad options give one line and exit code 2', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rl-circuits-'));
  try {
    const r = cli(['circuits', '--tokens', '0'], dir);
    assert.equal(r.status, 2);
    assert.equal(r.stderr.trim(), "residual-lens: --tokens must be a whole number from 1 to 5000, got '0'");
    const missing = cli(['circuits', '--model', path.join(dir, 'nowhere')], dir);
    assert.equal(missing.status, 1);
    assert.equal(missing.stderr.trim().split('\n').length, 1);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
