/**
 * `residual-lens trace` and `tokenize` as a user runs them (a child process through tsx): the JSON
 * schema 1 fields and shapes, values against the in-process engine and the reference forward,
 * the readable tables, and one-line errors with a non-zero exit code.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TraceJson } from '../../src/cli/traceJson';
import type { TokenizeJson } from '../../src/cli/tokenize';
import { tokenize } from '../../src/engine/tokenizer';
import type { ModelWeights } from '../../src/engine/types';
import { makeTempFolder, removeTempFolder, writeRandomCheckpoint } from '../helpers/checkpointWriter';
import { referenceForward } from '../helpers/referenceForward';

const CLI = path.resolve(__dirname, '../../src/cli.ts');
const CONFIG = { nLayer: 2, nHead: 2, dModel: 16, nCtx: 32, dVocab: 50257 };

function cli(args: string[], env: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('residual-lens CLI', () => {
  let root: string;
  let folder: string;
  let weights: ModelWeights;
  const text = 'Hello, residual stream!';

  before(() => {
    root = makeTempFolder('rl-cli');
    folder = path.join(root, 'tiny-model');
    weights = writeRandomCheckpoint(folder, { ...CONFIG, seed: 21 });
  });
  after(() => removeTempFolder(root));

  it('trace --json prints schema 1 with every documented field, consistent with the reference forward', () => {
    const r = cli(['trace', '--model', folder, '--text', text, '--json', '--k', '4', '--dir', path.join(root, 'cache')]);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as TraceJson;
    const { nLayer: L, nHead: H, dVocab: V, dModel: D } = weights.config;
    const ids = tokenize(text).tokens.map((t) => t.id);
    const T = ids.length;
    assert.equal(j.schema, 1);
    assert.equal(j.model.name, 'tiny-model');
    assert.equal(j.model.n_layer, L);
    assert.equal(j.k, 4);
    assert.deepEqual(j.tokens.map((t) => t.id), ids);
    assert.deepEqual(Object.keys(j.tokens[1]).sort(), ['end', 'id', 'partial', 'special', 'start', 'text']);

    const ref = referenceForward(weights, ids);
    // logits_top [T][k]: the reference's best logits, probabilities summing to at most 1.
    assert.equal(j.logits_top.length, T);
    for (let t = 0; t < T; t++) {
      assert.equal(j.logits_top[t].length, 4);
      const row = ref.logits.subarray(t * V, (t + 1) * V);
      const best = row.reduce((bi, v, i) => (v > row[bi] ? i : bi), 0);
      assert.equal(j.logits_top[t][0].id, best);
      assert.ok(Math.abs(j.logits_top[t][0].logit - row[best]) <= 1e-4 * Math.max(1, Math.abs(row[best])));
    }
    // resid_norms [L+1][T]
    assert.equal(j.resid_norms.length, L + 1);
    for (let r2 = 0; r2 <= L; r2++) {
      for (let t = 0; t < T; t++) {
        let s = 0;
        for (let i = 0; i < D; i++) s += ref.resid[(r2 * T + t) * D + i] ** 2;
        assert.ok(Math.abs(j.resid_norms[r2][t] - Math.sqrt(s)) <= 1e-4 * Math.max(1, Math.sqrt(s)), `norm ${r2},${t}`);
      }
    }
    // logit_lens [L+1][T][k]; the last row is the model's own top-k.
    assert.equal(j.logit_lens.length, L + 1);
    assert.equal(j.logit_lens[L].length, T);
    for (let t = 0; t < T; t++) assert.deepEqual(j.logit_lens[L][t].map((e) => e.id), j.logits_top[t].map((e) => e.id));
    // next_token_rank [L+1][T], null at the last position.
    assert.equal(j.next_token_rank.length, L + 1);
    for (const row of j.next_token_rank) {
      assert.equal(row.length, T);
      assert.equal(row[T - 1], null);
      for (const v of row.slice(0, -1)) assert.ok(typeof v === 'number' && v >= 0 && v < V);
    }
    // attention [L][H][T][T]: causal rows summing to 1.
    assert.equal(j.attention.length, L);
    assert.equal(j.attention[0].length, H);
    for (const layer of j.attention) for (const head of layer) for (let q = 0; q < T; q++) {
      assert.equal(head[q].length, T);
      assert.ok(Math.abs(head[q].reduce((a, b) => a + b, 0) - 1) < 1e-5);
      for (let k = q + 1; k < T; k++) assert.equal(head[q][k], 0);
    }
    // dla: last position, top token; components sum (+ ln bias term) to the logit.
    assert.equal(j.dla.pos, T - 1);
    assert.equal(j.dla.token.id, j.logits_top[T - 1][0].id);
    assert.equal(j.dla.components.length, 2 + L * (H + 2));
    const total = j.dla.components.reduce((a, c) => a + c.value, 0) + j.dla.ln_bias_term;
    assert.ok(Math.abs(total - j.dla.logit) <= 1e-4 * Math.max(1, Math.abs(j.dla.logit)), `${total} vs ${j.dla.logit}`);
    assert.ok(Math.abs(j.dla.logit - ref.logits[(T - 1) * V + j.dla.token.id]) <= 1e-4 * Math.max(1, Math.abs(j.dla.logit)));
  });

  it('trace prints readable tables without --json, and honours --no-bos', () => {
    const r = cli(['trace', '--model', folder, '--text', text, '--no-bos']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^tiny-model \(F32, 2 layers × 2 heads, d_model 16\) · 5 tokens · forward [\d.]+ ms/);
    for (const heading of ['Tokens', 'Top 3 next-token predictions', 'Logit lens:', 'Rank of the actual next token', 'Residual norm', 'Direct logit attribution at position 4']) {
      assert.ok(r.stdout.includes(heading), heading);
    }
    assert.ok(!r.stdout.includes('<|endoftext|>'), 'no BOS');
  });

  it('tokenize --json and the token table', () => {
    const r = cli(['tokenize', '--text', 'a<|endoftext|>', '--json', '--special']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as TokenizeJson;
    assert.equal(j.schema, 1);
    assert.deepEqual(j.tokens.map((t) => [t.id, t.start, t.end, t.special]), [[50256, 0, 0, true], [64, 0, 1, false], [50256, 1, 14, true]]);
    const plain = cli(['tokenize', '--text', 'a<|endoftext|>', '--no-bos']);
    assert.equal(plain.code, 0);
    assert.match(plain.stdout, /^\d+ tokens\n\npos +id +range +text/);
    assert.ok(!plain.stdout.includes('special'));
  });

  it('resolves --model by name through the registry: demo when built, an unknown name as a one-line error', () => {
    const unknown = cli(['trace', '--model', 'no-such-model', '--text', 'hi', '--dir', path.join(root, 'cache')]);
    assert.equal(unknown.code, 1);
    assert.equal(unknown.stdout, '');
    assert.equal(unknown.stderr.trim().split('\n').length, 1, unknown.stderr);
    assert.match(unknown.stderr, /^residual-lens: .*no-such-model/);
    const demo = path.resolve(__dirname, '../../models/demo/model.safetensors');
    if (!fs.existsSync(demo)) return; // built by `npm install`; nothing more to check without it
    const r = cli(['trace', '--model', 'demo', '--text', 'A B C A B', '--json', '--k', '2']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as TraceJson;
    assert.equal(j.model.name, 'demo');
    assert.equal(j.model.n_layer, 2);
    assert.equal(j.tokens.length, 6);
  });

  it('reports errors as one line on stderr with a non-zero exit code; the stack only with --debug', () => {
    const missing = path.join(root, 'nope');
    const r = cli(['trace', '--model', missing, '--text', 'hi']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.ok(r.stderr.startsWith(`residual-lens: ${missing}`), r.stderr);
    const long = cli(['trace', '--model', folder, '--text', 'x '.repeat(40)]);
    assert.equal(long.code, 1);
    assert.equal(long.stderr, 'residual-lens: The text has more than 32 tokens; tiny-model accepts at most 32 (BOS included).\n');
    const usage = cli(['trace', '--model', folder, '--text', 'hi', '--k', 'many']);
    assert.equal(usage.code, 2);
    assert.equal(usage.stderr, "residual-lens: --k must be a whole number from 1 to 1000, got 'many'\n");
    const debug = cli(['trace', '--model', missing, '--text', 'hi', '--debug']);
    assert.equal(debug.code, 1);
    assert.ok(debug.stderr.split('\n').length > 2 && debug.stderr.includes('    at '), 'stack with --debug');
  });

  it('refuses a 64 KB --text with one line (no crash: ORT no longer reads the command line) and echoes no long argument', () => {
    // 64 KB on the command line once ended in SIGSEGV inside onnxruntime's environment creation.
    const huge = 'The cat sat on the mat. '.repeat(2731);
    for (const model of ['demo', folder]) {
      if (model === 'demo' && !fs.existsSync(path.resolve(__dirname, '../../models/demo/model.safetensors'))) continue;
      const r = cli(['trace', '--model', model, '--text', huge]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^residual-lens: The text has more than \d+ tokens; \S+ accepts at most \d+ \(BOS included\)\.\n$/);
    }
    // ORT's environment created with that command line, past the CLI's check (this crashed before
    // prepareOrtEnvironment, whatever the check said): a session is created and a trace runs.
    const engineModule = JSON.stringify(path.resolve(__dirname, '../../src/engine/engine.ts'));
    const direct = spawnSync(process.execPath, ['--import', 'tsx', '-e', `
      const { Engine } = require(${engineModule});
      const engine = new Engine();
      engine.load({ folder: ${JSON.stringify(folder)}, name: 'tiny', cacheDir: ${JSON.stringify(path.join(root, 'cache'))} })
        .then(() => engine.trace({ text: 'hi there' }))
        .then((t) => { console.log(t.tokens.length, process.env.ORT_DISABLE_TELEMETRY); return engine.dispose(); });`, huge], { encoding: 'utf8' });
    assert.equal(direct.signal, null, 'no signal');
    assert.equal(direct.status, 0, direct.stderr);
    assert.equal(direct.stdout.trim(), '3 1');
    const stray = cli(['trace', '--model', folder, '--text', 'hi', huge]);
    assert.equal(stray.code, 2);
    assert.equal(stray.stderr, "residual-lens: Unexpected argument 'The cat sat on the mat. The cat sat on …' (65544 characters). This command does not take positional arguments\n");
    const blank = cli(['trace', '--model', folder, '--text', '   ']);
    assert.equal(blank.code, 1);
    assert.equal(blank.stderr, 'residual-lens: Nothing to trace: the text is empty or only whitespace.\n');
  });

  it('stops quietly when the reader of stdout goes away (| head), and shows --model as optional', () => {
    const big = 'token '.repeat(20_000);
    const r = spawnSync('bash', ['-c', `set -o pipefail; "${process.execPath}" --import tsx "${CLI}" tokenize --text - --json | head -c 10 >/dev/null`], { input: big, encoding: 'utf8' });
    assert.equal(r.stderr, '');
    assert.equal(r.status, 0);
    const help = cli(['--help']);
    assert.match(help.stdout, /trace +--text <text> \[--model <folder\|name>\]/);
    assert.match(help.stdout, /--model defaults to demo/);
  });
});
