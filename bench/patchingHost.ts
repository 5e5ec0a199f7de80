/**
 * Compare Prompts from the extension host's side (issue 11): the engine in its worker
 * (EngineClient, the extension's thread count: cores − 1), the GPT-2-small-shaped checkpoint of
 * bench/engine.ts, 16-token clean / corrupted prompts. Measured in one run:
 * - every map the patching panel sweeps, in its order (resid_pre, attn_out, mlp_out, heads,
 *   patterns, heads by position over 8 heads), rows streamed to this thread as the host receives
 *   them; each row handled as src/ui/patchingController.ts does (copy into the map, a
 *   structured clone standing in for the webview post) — per-row handling time;
 * - this thread's event-loop lateness (5 ms ticks) during the sweeps, and the part of it the loop was
 *   held (lateness less the time waiting for a CPU, from schedstat): the host must never be held > 50 ms;
 * - Cancel as the panel's button does it: abort the request's signal at a random moment of a
 *   resid_pre sweep, time until the request rejects in the host, and until the worker answers the
 *   next request (the cancel has taken effect in the engine) (target ≤ 100 ms).
 * Nothing fails on a miss: `targets` says which were met.
 *
 * Run alone: node --import tsx bench/patchingHost.ts   (prints JSON)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineClient } from '../src/engine/client';
import { INTERVENTIONS_SCHEMA_VERSION as schema, type Metric } from '../src/protocol/interventions';
import type { HeadRef, PatchTarget } from '../src/protocol/patching';
import { headsForByPosition } from '../src/viewModels/experiments';
import { BENCH_DIR, ensureBenchCheckpoint } from './engine';
import { median, printWhenRunAlone, round1 } from './section';
import { workerEntry } from './soak';

const TICK_MS = 5;
const ROUNDS = 2;
const CANCELS = 6;
const ORDER: readonly PatchTarget[] = ['resid_pre', 'attn_out', 'mlp_out', 'heads', 'patterns', 'heads_by_pos'];

const log = (line: string): void => {
  process.stderr.write(`[bench] patchingHost: ${line}\n`);
};

/** This thread's time waiting for a CPU, ms (Linux schedstat, as bench/contention.ts); 0 elsewhere. */
function waitMs(): number {
  try {
    return Number(fs.readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[1] ?? 0) / 1e6;
  } catch {
    return 0;
  }
}

/** Every 5 ms tick's lateness, and the part of it the loop was held (lateness less the time waiting for a CPU), until stopped. */
function startTicker(): () => { lateness: number[]; held: number[] } {
  const lateness: number[] = [];
  const held: number[] = [];
  let last = performance.now();
  let lastWait = waitMs();
  const timer = setInterval(() => {
    const now = performance.now();
    const wait = waitMs();
    const late = Math.max(0, now - last - TICK_MS);
    lateness.push(late);
    held.push(Math.max(0, late - (wait - lastWait)));
    last = now;
    lastWait = wait;
  }, TICK_MS);
  return () => {
    clearInterval(timer);
    return { lateness, held };
  };
}

export async function benchPatchingHost(): Promise<Record<string, unknown>> {
  const folder = ensureBenchCheckpoint();
  const threads = Math.max(1, os.availableParallelism() - 1);
  const client = new EngineClient({ workerPath: workerEntry(), threads });
  try {
    await client.request('load', { folder, name: 'gpt2-small-random', cacheDir: path.join(BENCH_DIR, 'cache') });
    // 16 tokens with BOS; the corrupted prompt differs at position 8.
    const clean = await client.request('traceSummary', { text: ' a'.repeat(15), options: { topK: 10 } });
    const corrupt = await client.request('traceSummary', { text: ' a'.repeat(7) + ' b' + ' a'.repeat(7), options: { topK: 10 } });
    const T = clean.tokens.length;
    const { nLayer, nHead } = clean.model.config;
    const k = clean.logitsTop.k;
    const metric: Metric = { kind: 'logit_diff', correct: clean.logitsTop.ids[(T - 1) * k], wrong: clean.logitsTop.ids[(T - 1) * k + 1] };
    const c = (await client.request('traceMetric', { schema, traceId: clean.traceId, metric })).value;
    const x = (await client.request('traceMetric', { schema, traceId: corrupt.traceId, metric })).value;
    const sweep = (what: PatchTarget, heads: readonly HeadRef[] | undefined, onRow: (values: Float64Array) => void, signal?: AbortSignal) =>
      client.request('patchSweep', { schema, cleanTraceId: clean.traceId, corruptedTraceId: corrupt.traceId, metric, what, ...(heads && { heads }) }, { signal, onPayload: (p) => p.kind === 'patch-row' && onRow(p.row.values) });

    log('warm-up sweep (block sessions)');
    await sweep('resid_pre', undefined, () => undefined);

    const mapMs = new Map<PatchTarget, number[]>();
    const handleMs: number[] = [];
    let rows = 0;
    const stop = startTicker();
    const started = performance.now();
    for (let r = 0; r < ROUNDS; r++) {
      log(`round ${r + 1}/${ROUNDS}: every map of the patching panel`);
      let headsMetric: Float32Array | undefined;
      for (const what of ORDER) {
        const heads = what === 'heads_by_pos' ? headsForByPosition(nLayer, nHead, headsMetric, c, x) : undefined;
        const cols = what === 'heads' || what === 'patterns' ? nHead : T;
        const grid = new Float32Array((heads?.length ?? nLayer) * cols).fill(NaN);
        let row = 0;
        const t0 = performance.now();
        await sweep(what, heads, (values) => {
          const h0 = performance.now();
          const copy = Float32Array.from(values);
          grid.set(copy, Math.min(row++, grid.length / cols - 1) * cols);
          structuredClone(copy);
          handleMs.push(performance.now() - h0);
          rows++;
        });
        mapMs.set(what, [...(mapMs.get(what) ?? []), performance.now() - t0]);
        if (what === 'heads') headsMetric = grid;
      }
    }
    const allMapsMs = (performance.now() - started) / ROUNDS;
    const ticks = stop();
    const lateness = ticks.lateness.sort((a, b) => a - b);
    const held = ticks.held.sort((a, b) => a - b);

    log('cancel latency');
    const cancelMs: number[] = [];
    /** Abort → the worker answers the next request (a tokenize): when the cancel has taken effect in the engine too. */
    const nextAnswerMs: number[] = [];
    for (let i = 0; i < CANCELS; i++) {
      const abort = new AbortController();
      const at = 20 + ((i * 37) % 180);
      let abortedAt = 0;
      const timer = setTimeout(() => {
        abortedAt = performance.now();
        abort.abort();
      }, at);
      try {
        await sweep('resid_pre', undefined, () => undefined, abort.signal);
        clearTimeout(timer); // finished before the abort
      } catch {
        if (abortedAt > 0) {
          cancelMs.push(performance.now() - abortedAt);
          await client.request('tokenize', { text: ' a' });
          nextAnswerMs.push(performance.now() - abortedAt);
        }
      }
    }
    // the engine still answers after the cancels
    await client.request('traceMetric', { schema, traceId: clean.traceId, metric });

    const maxLate = lateness[lateness.length - 1] ?? 0;
    const worstCancel = cancelMs.length ? Math.max(...cancelMs) : NaN;
    return {
      what: `patching panel's sweeps through the worker (${threads} ORT thread(s)), GPT-2-small shapes, T = ${T}, ${ROUNDS} rounds; host-side row handling, this thread's event loop, cancel from the host`,
      mapMsMedian: Object.fromEntries([...mapMs].map(([k2, v]) => [k2, round1(median(v))])),
      allMapsMsPerRound: round1(allMapsMs),
      rowsStreamed: rows,
      rowHandlingMsMax: round1(Math.max(...handleMs)),
      rowHandlingMsMedian: Math.round(median(handleMs) * 1000) / 1000,
      eventLoop: {
        ticks: lateness.length,
        latenessMaxMs: round1(maxLate),
        ticksOver50Ms: lateness.filter((l) => l > 50).length,
        heldMaxMs: round1(held[held.length - 1] ?? 0),
        heldTicksOver50Ms: held.filter((l) => l > 50).length,
      },
      cancelLatencyMs: cancelMs.map(round1),
      cancelToNextAnswerMs: nextAnswerMs.map(round1),
      loadAverage: os.loadavg().map(round1),
      targets: { heldUnder50Ms: (held[held.length - 1] ?? 0) <= 50, cancelUnder100Ms: worstCancel <= 100, cancelToNextAnswerUnder100Ms: Math.max(...nextAnswerMs) <= 100 },
    };
  } finally {
    await client.close();
  }
}

if (require.main === module) {
  printWhenRunAlone(() => benchPatchingHost());
}
