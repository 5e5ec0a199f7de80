/**
 * The WebGPU execution provider against the CPU, graph by graph, on a tiny random checkpoint:
 * the instrumented forward (every hook), the final top-k, the lens table and one cell's distribution,
 * per-head results, mlp.hook_post, DLA at every position, and the circuits products (A·B, A·Bᵀ, Aᵀ·B).
 * Tolerance: |webgpu − cpu| ≤ 1e-4 · max(1, |cpu|); ids and ranks must match exactly.
 *
 * NEEDS a WebGPU adapter. In CI that is Mesa's lavapipe (software Vulkan, installed by
 * .ci/install-lavapipe); without one these tests skip and say why. Lavapipe runs on the CPU and is
 * slow, so the checkpoint is tiny. The fallback test (no adapter → CPU, one note) runs everywhere.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { EngineClient } from '../../src/engine/client';
import { Engine } from '../../src/engine/engine';
import { chooseExecutionProvider, hasGpuDevice, isExecutionProviderSetting, SOFTWARE_DEVICE_WARNING, webGpuAvailability } from '../../src/engine/executionProvider';
import { createOrtMatmulBackend } from '../../src/engine/matmulBackend';
import type { Trace } from '../../src/engine/types';
import { writeWorkerBootstrap } from '../helpers/extensionHost';
import { webGpuSkipReason } from '../helpers/webGpuSkip';
import { makeTempFolder, removeTempFolder, writeRandomCheckpoint } from '../helpers/checkpointWriter';
import { Random } from '../helpers/random';
import { assertClose, assertSameIdsUpToTies } from '../helpers/assertClose';

const TOL = 1e-4;
const TEXT = 'The cat sat on the mat. The cat sat on the';
const CONFIG = { nLayer: 2, nHead: 2, dModel: 16, nCtx: 32, dVocab: 50257, seed: 31 };
const root = path.resolve(__dirname, '../..');

describe('WebGPU execution provider vs CPU (tiny checkpoint)', () => {
  /** Why these tests skip: no WebGPU adapter here. */
  let skip: string | undefined;
  let folder: string | undefined;
  const cpu = new Engine({ threads: 1, executionProvider: 'cpu' });
  const gpu = new Engine({ threads: 1, executionProvider: 'webgpu' });
  let tc: Trace;
  let tg: Trace;

  before(async () => {
    skip = await webGpuSkipReason();
    if (skip) return;
    folder = makeTempFolder('residual-lens-webgpu');
    writeRandomCheckpoint(folder, CONFIG);
    const ic = await cpu.load({ folder, name: 'tiny', cacheDir: folder });
    const ig = await gpu.load({ folder, name: 'tiny', cacheDir: folder });
    assert.equal(ic.executionProvider, 'cpu');
    assert.equal(ig.executionProvider, 'webgpu');
    assert.equal(ig.executionProviderNote, undefined, 'no graph fell back to the CPU');
    // Without a GPU device node (CI: lavapipe) the user is told WebGPU runs on a software device.
    if (hasGpuDevice()) assert.equal(ig.executionProviderWarning, undefined);
    else assert.equal(ig.executionProviderWarning, SOFTWARE_DEVICE_WARNING);
    assert.equal(ic.executionProviderWarning, undefined);
    tc = await cpu.trace({ text: TEXT, options: { topK: 5, withMlpPost: true } });
    tg = await gpu.trace({ text: TEXT, options: { topK: 5, withMlpPost: true } });
  });

  after(async () => {
    await cpu.dispose();
    await gpu.dispose();
    if (folder) removeTempFolder(folder);
  });

  it('instrumented forward: every hook, mlp.hook_post and the final top-k', (t) => {
    if (skip) return t.skip(skip);
    for (const key of ['embed', 'posEmbed', 'resid', 'residMid', 'ln1Scale', 'ln2Scale', 'pattern', 'z', 'attnOut', 'mlpOut', 'mlpPost', 'lnFinalScale'] as const) {
      const a = tg[key];
      const b = tc[key];
      assert.ok(a && b, `${key} present`);
      assertClose(a, b, key);
    }
    assertSameIdsUpToTies(tg.logitsTop.ids, tc.logitsTop.ids, tg.logitsTop.logits, tc.logitsTop.logits, 'final top-k');
    assertClose(tg.logitsTop.logits, tc.logitsTop.logits, 'final top-k logits');
    assertClose(tg.logitsTop.probs, tc.logitsTop.probs, 'final top-k probs');
  });

  it('lens table, next-token ranks and one cell distribution', async (t) => {
    if (skip) return t.skip(skip);
    const lc = await cpu.lens({ traceId: tc.traceId, k: 5 });
    const lg = await gpu.lens({ traceId: tg.traceId, k: 5 });
    assertSameIdsUpToTies(lg.top.ids, lc.top.ids, lg.top.logits, lc.top.logits, 'lens top-k');
    // A rank counts logits strictly above the target's: it may differ only by tokens tied with the target within the tolerance.
    const T = tc.tokens.length;
    for (let i = 0; i < lc.nextTokenRank.length; i++) {
      const diff = Math.abs(lg.nextTokenRank[i] - lc.nextTokenRank[i]);
      if (diff === 0) continue;
      const dist = await cpu.lensDistribution({ traceId: tc.traceId, layer: Math.floor(i / T), pos: i % T });
      const target = dist[tc.tokens[(i % T) + 1].id];
      const tied = dist.filter((p) => p !== target && Math.abs(Math.log(p / target)) <= TOL).length;
      assert.ok(diff <= tied, `rank of cell ${i}: ${lg.nextTokenRank[i]} vs ${lc.nextTokenRank[i]} with only ${tied} logits within ${TOL} of the target's`);
    }
    assertClose(lg.top.logits, lc.top.logits, 'lens logits');
    assertClose(lg.top.probs, lc.top.probs, 'lens probs');
    assertClose(await gpu.lensDistribution({ traceId: tg.traceId, layer: 1, pos: 3 }), await cpu.lensDistribution({ traceId: tc.traceId, layer: 1, pos: 3 }), 'lens distribution');
  });

  it('per-head results of every layer and DLA at every position', async (t) => {
    if (skip) return t.skip(skip);
    for (let layer = 0; layer < CONFIG.nLayer; layer++) {
      assertClose(await gpu.headResults({ traceId: tg.traceId, layer }), await cpu.headResults({ traceId: tc.traceId, layer }), `hook_result L${layer}`);
    }
    const ac = await cpu.attributeAll({ traceId: tc.traceId });
    const ag = await gpu.attributeAll({ traceId: tg.traceId });
    assert.deepEqual([...ag.tokenIds], [...ac.tokenIds]);
    assertClose(ag.values, ac.values, 'DLA values');
  });

  it('circuits products: A·B, A·Bᵀ, Aᵀ·B', async (t) => {
    if (skip) return t.skip(skip);
    const bc = await createOrtMatmulBackend({ threads: 1, provider: 'cpu' });
    const bg = await createOrtMatmulBackend({ threads: 1, provider: 'webgpu' });
    try {
      const rnd = new Random(5);
      const [m, k, n] = [17, 40, 23];
      const a = Float32Array.from({ length: m * k }, () => rnd.gaussian());
      const b = Float32Array.from({ length: k * n }, () => rnd.gaussian());
      const at = Float32Array.from({ length: k * m }, () => rnd.gaussian());
      const bt = Float32Array.from({ length: n * k }, () => rnd.gaussian());
      assertClose(await bg.matmul(a, b, m, k, n), await bc.matmul(a, b, m, k, n), 'A·B');
      assertClose(await bg.matmulTransB(a, bt, m, k, n), await bc.matmulTransB(a, bt, m, k, n), 'A·Bᵀ');
      assertClose(await bg.matmulTransA(at, b, m, k, n), await bc.matmulTransA(at, b, m, k, n), 'Aᵀ·B');
    } finally {
      await bc.release();
      await bg.release();
    }
  });
});

describe('execution provider choice', () => {
  it('cpu never probes; settings are validated', async () => {
    assert.deepEqual(await chooseExecutionProvider('cpu'), { requested: 'cpu', provider: 'cpu', probeMs: 0 });
    assert.ok(isExecutionProviderSetting('auto') && isExecutionProviderSetting('webgpu') && !isExecutionProviderSetting('cuda') && !isExecutionProviderSetting(1));
  });

  it('auto without a GPU device: the CPU, with one line saying why (the engine reports it in ModelInfo)', async (t) => {
    if (hasGpuDevice()) return t.skip('this machine has a GPU device node');
    const choice = await chooseExecutionProvider('auto');
    assert.equal(choice.provider, 'cpu');
    assert.match(choice.note ?? '', /No GPU device was found .*running on the CPU\./);
    const engine = new Engine({ threads: 1, executionProvider: 'auto' });
    try {
      const info = await engine.load({ folder: path.join(root, 'models/demo'), name: 'demo' });
      assert.equal(info.executionProvider, 'cpu');
      assert.equal(info.executionProviderNote, choice.note);
    } finally {
      await engine.dispose();
    }
  });
});

describe('execution provider through the worker', () => {
  it('the client hands the setting to the worker; ModelInfo says which EP runs', async () => {
    const tmp = makeTempFolder('residual-lens-ep-worker');
    const bootstrap = path.join(tmp, 'worker-bootstrap.cjs');
    writeWorkerBootstrap(bootstrap);
    const client = new EngineClient({ workerPath: bootstrap, threads: 1, executionProvider: 'webgpu' });
    try {
      const info = await client.request('load', { folder: path.join(root, 'models/demo'), name: 'demo', cacheDir: tmp });
      const availability = await webGpuAvailability();
      assert.equal(info.executionProvider, availability.available ? 'webgpu' : 'cpu');
      if (!availability.available) assert.match(info.executionProviderNote ?? '', /running on the CPU/);
    } finally {
      await client.close();
      removeTempFolder(tmp);
    }
  });
});

describe('WebGPU fallback', () => {
  it('CLI --execution-provider webgpu without an adapter: one note on stderr, the CPU result', async () => {
    const run = promisify(execFile);
    const args = ['--import', 'tsx', path.join(root, 'src/cli.ts'), 'trace', '--model', 'demo', '--text', 'The cat sat', '--json'];
    // An ICD list naming no file: the Vulkan loader finds no device, so Dawn has no adapter.
    const env = { ...process.env, VK_DRIVER_FILES: '/nonexistent/icd.json', VK_ICD_FILENAMES: '/nonexistent/icd.json' };
    const gpu = await run(process.execPath, [...args, '--execution-provider', 'webgpu'], { cwd: root, env });
    const cpu = await run(process.execPath, args, { cwd: root, env });
    const notes = gpu.stderr.split('\n').filter((line) => line.includes('running on the CPU'));
    assert.equal(notes.length, 1, `one fallback line, got stderr: ${gpu.stderr}`);
    assert.match(notes[0], /WebGPU is not available/);
    const strip = (s: string): unknown => ({ ...(JSON.parse(s) as Record<string, unknown>), forward_ms: 0 });
    assert.deepEqual(strip(gpu.stdout), strip(cpu.stdout));
  });

  it('CLI rejects an unknown provider with a usage error, in every command that runs the model', async () => {
    const run = promisify(execFile);
    const commands = [
      ['trace', '--model', 'demo', '--text', 'x'],
      ['circuits', '--model', 'demo'],
      ['ablate', '--model', 'demo', '--text', 'x', '--head', '0.0'],
      ['patch', '--model', 'demo', '--clean', 'a cat', '--corrupt', 'a dog', '--answer', ' sat'],
      ['features', '--model', 'demo', '--sae', 'demo', '--text', 'x'],
      ['scan', '--model', 'demo', '--sae', 'demo', '--files', 'README.md', '--out', path.join(os.tmpdir(), 'residual-lens-never-written.json')],
    ];
    for (const args of commands) {
      await assert.rejects(
        run(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli.ts'), ...args, '--execution-provider', 'cuda'], { cwd: root }),
        (err: { code?: number; stderr?: string }) => err.code === 2 && /--execution-provider must be cpu, webgpu or auto, got 'cuda'/.test(err.stderr ?? ''),
        `${args[0]}: a usage error`,
      );
    }
  });

  it('CLI ablate, patch and features --execution-provider webgpu without an adapter: one note on stderr, the CPU result', async () => {
    const run = promisify(execFile);
    const env = { ...process.env, VK_DRIVER_FILES: '/nonexistent/icd.json', VK_ICD_FILENAMES: '/nonexistent/icd.json' };
    const commands = [
      ['ablate', '--model', 'demo', '--text', 'The cat sat on the mat', '--head', '1.0', '--json'],
      ['patch', '--model', 'demo', '--clean', 'The cat sat on the', '--corrupt', 'The dog sat on the', '--answer', ' mat', '--what', 'resid_pre', '--json'],
      ['features', '--model', 'demo', '--sae', 'demo', '--text', ' The cat sat on the mat', '--k', '3', '--splice', '--json'],
    ];
    // Timings ("ms", a patching map's) differ between runs; every other field must be equal.
    const strip = (s: string): string => s.replace(/"(\w*ms)":[0-9.e+-]+/gi, '"$1":0');
    for (const args of commands) {
      const cli = ['--import', 'tsx', path.join(root, 'src/cli.ts'), ...args];
      const gpu = await run(process.execPath, [...cli, '--execution-provider', 'webgpu'], { cwd: root, env });
      const cpu = await run(process.execPath, cli, { cwd: root, env });
      const notes = gpu.stderr.split('\n').filter((line) => line.includes('running on the CPU'));
      assert.equal(notes.length, 1, `${args[0]}: one fallback line, got stderr: ${gpu.stderr}`);
      assert.equal(cpu.stderr.includes('running on the CPU'), false, `${args[0]}: the CPU says nothing`);
      assert.equal(strip(gpu.stdout), strip(cpu.stdout), `${args[0]}: the same JSON`);
    }
  });
});
