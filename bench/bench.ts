/**
 * `npm run bench`: JSON on stdout with one section per benchmark — engine (bench/engine.ts), tokenizer
 * (bench/tokenizer.ts), soak (bench/soak.ts), contention (bench/contention.ts: the host's event loop
 * while the engine works, idle vs every core busy), circuits (bench/circuits.ts, when present), heatmap
 * (bench/heatmap.ts: our canvas heatmap vs chartjs-chart-matrix in headless Chromium), checkpointLoad
 * (bench/checkpointLoad.ts: a GPT-2-small-shaped pytorch_model.bin vs model.safetensors) and panel (bench/panel.ts: command →
 * trace panel painted in code-server, then fresh extension hosts' first traces; `skipped` when code-server/Chromium are not installed;
 * `--reuse-vsix` keeps an existing .vsix even if older than the sources) and liveLens (bench/liveLens.ts: keystroke → panel
 * painted / hover ready with live lens on, the host's loop while typing, its CPU once typing stops) and prefixReuse
 * (bench/prefixReuse.ts: a 32-token re-trace that shares a token prefix with the previous trace vs a full one), screenedLens
 * and rankCount (bench/rankCount.ts: the lens's next-token rank pass two ways). Progress goes to stderr.
 * Not a test: nothing here fails on a missed target; the `targets` fields say which were met.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { benchEngine } from './engine';
import { benchContention } from './contention';
import { benchTokenizer } from './tokenizer';
import { benchCheckpointLoad } from './checkpointLoad';
import { benchPatching } from './patching';
import { benchPatchingHost } from './patchingHost';

/** The soak runs in its own process, so the engine section's freed memory does not blur its RSS figures. */
function soakInChild(): Record<string, unknown> {
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', path.join(__dirname, 'soak.ts')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`bench/soak.ts failed with exit code ${r.status}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

async function main(): Promise<void> {
  const out: Record<string, unknown> = { date: new Date().toISOString(), node: process.version };
  out.engine = await benchEngine();
  process.stderr.write('[bench] tokenizer: counting 1 MB texts\n');
  out.tokenizer = benchTokenizer();
  process.stderr.write('[bench] soak: 200 traces through the worker\n');
  out.soak = soakInChild();
  process.stderr.write('[bench] contention: the host loop while the engine works beside busy cores\n');
  out.contention = await benchContention();
  if (fs.existsSync(path.join(__dirname, 'circuits.ts'))) {
    process.stderr.write('[bench] circuits\n');
    const { benchCircuits } = (await import('./circuits')) as { benchCircuits: () => Promise<Record<string, unknown>> };
    out.circuits = await benchCircuits();
  }
  process.stderr.write('[bench] checkpoint-load: GPT-2-small-shaped pytorch_model.bin vs model.safetensors\n');
  out.checkpointLoad = await benchCheckpointLoad();
  process.stderr.write('[bench] webgpu: execution-provider overheads on tiny shapes (skipped without an adapter)\n');
  const { benchWebGpu } = await import('./webgpu');
  out.webgpu = await benchWebGpu();
  process.stderr.write('[bench] screened lens: int8-screened exact lens vs the float32 table at T = 128\n');
  const { benchScreenedLens } = await import('./screenedLens');
  out.screenedLens = await benchScreenedLens();
  process.stderr.write('[bench] rank count: the lens\'s rank pass, Cast + ReduceSum vs MatMulInteger, and the head with / without it\n');
  const { benchRankCount } = await import('./rankCount');
  out.rankCount = await benchRankCount();
  process.stderr.write('[bench] patching: resid_pre map, head patching, ablation, cancel (bench/patching.ts, child process)\n');
  out.patching = benchPatching();
  process.stderr.write('[bench] patchingHost: the patching panel\'s sweeps through the worker, the host loop, cancel (bench/patchingHost.ts)\n');
  out.patchingHost = await benchPatchingHost();
  if (fs.existsSync(path.join(__dirname, 'sae.ts'))) {
    process.stderr.write('[bench] sae: encode at GPT-2-small shapes, workspace scan tokens/s\n');
    const { benchSae } = (await import('./sae')) as { benchSae: () => Promise<Record<string, unknown>> };
    out.sae = await benchSae();
  }
  process.stderr.write('[bench] heatmap: canvas heatmap vs chartjs-chart-matrix in headless Chromium\n');
  // Imported here, like the panel: it loads playwright.
  const { benchHeatmap } = await import('./heatmap');
  out.heatmap = await benchHeatmap();
  process.stderr.write('[bench] panel: command → trace panel painted, in code-server + Chromium\n');
  // Imported here: the e2e harness it uses loads playwright and installs signal handlers.
  const { benchPanel } = await import('./panel');
  out.panel = await benchPanel();
  process.stderr.write('[bench] liveLens: typing with live lens on, in code-server + Chromium\n');
  const { benchLiveLens } = await import('./liveLens');
  out.liveLens = await benchLiveLens();
  process.stderr.write('[bench] prefixReuse: re-traces that share a token prefix vs full traces\n');
  const { benchPrefixReuse } = await import('./prefixReuse');
  out.prefixReuse = await benchPrefixReuse();
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
