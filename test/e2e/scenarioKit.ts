/**
 * What the end-to-end scenarios share: the context run.ts gives them, the fixture files, and the
 * helpers that trace, wait for the diagnostics line (checking the event-loop limit) and check the
 * trace panel. The scenarios themselves are in scenarios/*.ts, listed by scenarios.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Frame } from 'playwright-core';
import { tokenize } from '../../src/engine/tokenizer';
import type { DomCanvas } from './browserTypes';
import { loopHeld, loopRan, type DiagnosticsLog, type TraceEvent } from './diagnostics';
import type { HubFixture } from './hub';
import { waitFor, type Workbench } from './workbench';

export const TRACE_TITLE = 'Residual Lens: Trace Residual Stream';
export const CIRCUITS_TITLE = 'Residual Lens: Show Model Circuits';
export const DOWNLOAD_TITLE = 'Residual Lens: Download Model';
export const EMPTY_MESSAGE = 'Nothing to trace: select text or put the cursor on a non-empty line.';
/**
 * Issue 4's target: the host's event loop is never blocked longer than this during a trace. It is a
 * speed figure, so it is measured in `npm run bench` (bench/panel.ts: every trace of a run, ten fresh
 * extension hosts included), not asserted here; the summary prints this run's figures against it.
 */
export const EVENT_LOOP_LIMIT_MS = 50;
/**
 * What the end-to-end run does fail on: the host's main thread *ran* this long between two ticks of
 * the 5 ms timer (CPU time, from the kernel's schedstat; the whole lag where there is none), i.e.
 * work on the loop. Ours measures ≤ 31 ms (bench/panel.ts, 2 cores); 100 ms means something blocks the
 * host — a bug, not a slow machine. Time waiting for a CPU, or asleep on a lock whose holder waits
 * for one, does not count, so contention on a small machine cannot fail the run; no retry.
 */
export const EVENT_LOOP_BLOCKED_MS = 100;

export interface DemoModel {
  readonly nLayer: number;
  readonly nHead: number;
  readonly nCtx: number;
}

export interface ScenarioContext {
  readonly wb: Workbench;
  readonly diagnostics: DiagnosticsLog;
  readonly workspace: string;
  readonly demo: DemoModel;
  readonly manifest: ExtensionManifest;
  readonly hub: HubFixture | undefined;
  readonly hubSkipReason: string | undefined;
  /** Why the hub fixture failed to start (scenario 8 then fails). */
  readonly hubError: string | undefined;
  /** residualLens.modelCacheDir of the run. */
  readonly modelCacheDir: string;
  /** Figures to print at the end (name → value). */
  readonly figures: Map<string, string>;
  /** Token ids and text of the last successful trace, for the reload scenario. */
  lastTraceIds: number[] | undefined;
  lastTraceText: string | undefined;
  /** Records a broken contract item; the scenario continues and fails at the end. */
  problem(message: string): void;
  /** Sets these settings in the workspace's settings file (VS Code picks the change up). */
  setWorkspaceSettings(settings: Readonly<Record<string, unknown>>): void;
  /** Empties the workspace's settings file again. */
  resetWorkspaceSettings(): void;
}

export interface ExtensionManifest {
  readonly contributes?: {
    readonly viewsContainers?: { readonly activitybar?: readonly { readonly id: string; readonly title: string }[] };
    readonly views?: Readonly<Record<string, readonly { readonly id: string; readonly name: string }[]>>;
  };
}

export interface Scenario {
  readonly id: number;
  readonly name: string;
  /** A reason to skip, or undefined to run. */
  skip?(ctx: ScenarioContext): string | undefined;
  run(ctx: ScenarioContext): Promise<void>;
}

export const SENTENCES = 'sentences.txt';
export const LONG = 'long-passage.txt';
/** Written into the run's workspace copy by writeGeneratedFixtures. */
export const ODD = 'odd-text.txt';
export const HUGE = 'one-megabyte.txt';
/** Text that is valid but unusual: whitespace only, the special token's text, control characters, non-BMP characters. */
export const ODD_LINES = ['    ', '<|endoftext|>', 'tab\there, bell\u0007, escape\u001b[0m', 'emoji 🧪 and CJK 残差流 and combining é'];

/** Compare Prompts (scenario 20): clean = random words repeated; corrupted = the earlier copy of the last word replaced. */
export const COMPARE_FILE = 'compare-prompts.txt';
export const COMPARE_CLEAN = 'river stone maple quiet orbit lantern river stone maple quiet orbit';
export const COMPARE_CORRUPTED = 'river stone maple quiet candle lantern river stone maple quiet orbit';

/** Files too odd or too big to keep in the fixture folder, and those a scenario opens (written before the workbench starts, so Quick Open lists them). */
export function writeGeneratedFixtures(workspace: string): void {
  fs.writeFileSync(path.join(workspace, COMPARE_FILE), `${COMPARE_CLEAN}\n${COMPARE_CORRUPTED}\n`);
  fs.writeFileSync(path.join(workspace, ODD), ODD_LINES.join('\n') + '\n');
  const sentence = 'Residual streams carry every layer\'s writes to the unembedding. ';
  fs.writeFileSync(path.join(workspace, HUGE), sentence.repeat(Math.ceil((1 << 20) / sentence.length)).slice(0, 1 << 20));
}
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** 1-based number and text of the first line of a workspace file that starts with `prefix`. */
export function fixtureLine(ctx: ScenarioContext, file: string, prefix: string): { line: number; text: string } {
  const lines = fs.readFileSync(path.join(ctx.workspace, file), 'utf8').split('\n');
  const i = lines.findIndex((l) => l.startsWith(prefix));
  if (i < 0) throw new Error(`${file} has no line starting with "${prefix}"`);
  return { line: i + 1, text: lines[i] ?? '' };
}

export function firstEmptyLine(ctx: ScenarioContext, file: string): number {
  const lines = fs.readFileSync(path.join(ctx.workspace, file), 'utf8').split('\n');
  const i = lines.findIndex((l) => l.trim() === '');
  if (i < 0) throw new Error(`${file} has no empty line`);
  return i + 1;
}

export function expectedIds(text: string): number[] {
  return tokenize(text, { prependBos: true }).tokens.map((t) => t.id);
}

export async function chipIds(frame: Frame): Promise<number[]> {
  const ids = await frame.locator('[data-testid="token-chip"]').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-token-id'))));
  return ids;
}

export const sameIds = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

/** Number of non-transparent pixels in a canvas (drawn by chart.js or by hand, 2d context). */
export async function paintedPixels(frame: Frame, selector: string): Promise<number> {
  return frame.locator(selector).first().evaluate((el) => {
    const canvas = el as unknown as DomCanvas;
    if (canvas.width === 0 || canvas.height === 0) return 0;
    const g = canvas.getContext('2d');
    if (g === null) return -1;
    const data = g.getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 3; i < data.length; i += 4) if ((data[i] ?? 0) > 0) n++;
    return n;
  });
}

/** Traces finished in the current extension host (a window reload starts a new one). */
let tracesInHost = 0;

/** Call before reloading the window: the next trace is the first of a new extension host. */
export function newExtensionHost(): void {
  tracesInHost = 0;
}

/** Every trace's loop figures in this run, for the closing summary. */
const loopRecords: { first: boolean; lagMs: number; heldMs: number; ranMs: number }[] = [];

/** Trace events seen since the last read; checks the event-loop limit on each. */
export function takeTraceEvents(ctx: ScenarioContext): TraceEvent[] {
  const { events, malformed } = ctx.diagnostics.readNew();
  for (const line of malformed) ctx.problem(`diagnostics: malformed line ${line.slice(0, 120)}`);
  const traces = events.filter((e): e is TraceEvent => e.event === 'trace');
  for (const t of traces) {
    const first = tracesInHost === 0;
    const which = first ? 'the first trace of this extension host' : `a ${t.tokens}-token trace`;
    const ran = loopRan(t);
    loopRecords.push({ first, lagMs: t.eventLoopMaxMs, heldMs: loopHeld(t), ranMs: ran });
    if (ran > EVENT_LOOP_BLOCKED_MS) {
      const worst = [...(t.stalls ?? [])].sort((a, b) => b.lagMs - a.lagMs)[0];
      const split = worst?.waitMs !== undefined ? ` (longest stall ${worst.lagMs.toFixed(0)} ms at ${worst.atMs.toFixed(0)} ms: ran ${worst.cpuMs?.toFixed(0)} ms, waited for a CPU ${worst.waitMs.toFixed(0)} ms)` : '';
      ctx.problem(`extension host event loop ran work for ${ran.toFixed(0)} ms without a break (> ${EVENT_LOOP_BLOCKED_MS}) during ${which} (${t.tokens} tokens, paintedMs ${t.paintedMs.toFixed(0)})${split}`);
    }
    tracesInHost++;
  }
  return traces;
}

/** The run's event-loop figures — lag (what the host felt), held (lag less CPU waits), ran (work on the loop) — first and later traces. */
export function loopFigures(): Map<string, string> {
  const out = new Map<string, string>();
  for (const [label, rows] of [
    ['first trace of an extension host', loopRecords.filter((r) => r.first)],
    ['later traces', loopRecords.filter((r) => !r.first)],
  ] as const) {
    if (rows.length === 0) continue;
    const lag = Math.max(...rows.map((r) => r.lagMs));
    const held = Math.max(...rows.map((r) => r.heldMs));
    const over = rows.filter((r) => r.lagMs > EVENT_LOOP_LIMIT_MS).length;
    const ran = Math.max(...rows.map((r) => r.ranMs));
    out.set(`event loop, ${label} (${rows.length})`, `lag max ${lag.toFixed(0)} ms (${over} over ${EVENT_LOOP_LIMIT_MS} ms), held max ${held.toFixed(0)} ms, ran max ${ran.toFixed(0)} ms`);
  }
  return out;
}

/**
 * Waits for the diagnostics line of a trace of `text` (written once the webview reports it
 * painted), then checks the trace panel shows exactly the tokenizer's ids. Returns the panel's
 * frame. The file is read first, and the page probed only afterwards, so the harness stays off the
 * CPU while the trace it measures runs (probing every frame through the browser costs a core's
 * tenth on 2 cores).
 */
export async function expectTraceOf(ctx: ScenarioContext, text: string, how: string, timeoutMs = 90_000): Promise<{ frame: Frame; event: TraceEvent | undefined }> {
  const want = expectedIds(text);
  const event = await waitFor('the diagnostics line of the trace', async () => takeTraceEvents(ctx).find((e) => e.tokens === want.length), timeoutMs, 100).catch(() => undefined);
  if (event === undefined) ctx.problem(`diagnostics: no {"event":"trace","tokens":${want.length}} line in $RESIDUAL_LENS_DIAGNOSTICS after a trace (${how})`);
  let lastSeen: number[] = [];
  const frame = await waitFor(
    `the trace panel to show the ${want.length} tokens of "${text.slice(0, 40)}…" (${how}); last seen ${lastSeen.length} chips`,
    async () => {
      const f = await ctx.wb.frameWith('[data-testid="token-chip"]', 2000).catch(() => undefined);
      if (f === undefined) return undefined;
      lastSeen = await chipIds(f);
      return sameIds(lastSeen, want) ? f : undefined;
    },
    event === undefined ? 5_000 : 15_000,
    300,
  ).catch((err: unknown) => {
    const seen = lastSeen.length > 0 ? ` Chips shown: [${lastSeen.slice(0, 12).join(', ')}${lastSeen.length > 12 ? ', …' : ''}] (${lastSeen.length}); expected [${want.slice(0, 12).join(', ')}${want.length > 12 ? ', …' : ''}] (${want.length}).` : '';
    throw new Error(`${err instanceof Error ? err.message : String(err)}.${seen}`);
  });
  ctx.lastTraceIds = want;
  ctx.lastTraceText = text;
  return { frame, event };
}

/** Contract checks on a trace panel showing T tokens. */
export async function checkPanel(ctx: ScenarioContext, frame: Frame, tokens: number): Promise<void> {
  const { nLayer, nHead } = ctx.demo;
  const rows = frame.locator('table[data-testid="lens-table"] tbody tr[data-layer]');
  // The lens, the DLA and the thumbnails are follow-ups: they are computed once the panel has painted the trace.
  const followUpsIn = async (): Promise<true | undefined> =>
    (await rows.count()) > 0 && (await frame.locator('[data-testid="dla-list"] li').count()) > 0 ? true : undefined;
  await waitFor('the trace\'s follow-ups (lens table, DLA) to be shown', followUpsIn, 15_000, 100).catch(() => undefined);
  const rowCount = await rows.count();
  if (rowCount !== nLayer + 1) ctx.problem(`lens table: ${rowCount} tbody tr[data-layer] rows, expected L+1 = ${nLayer + 1}`);
  for (let r = 0; r < rowCount; r++) {
    const cells = await rows.nth(r).locator('td[data-pos]').count();
    if (cells !== tokens) {
      ctx.problem(`lens table row ${r}: ${cells} td[data-pos] cells, expected T = ${tokens}`);
      break;
    }
  }
  if ((await frame.locator('table[data-testid="lens-table"] tfoot tr[data-testid="rank-row"]').count()) !== 1) ctx.problem('lens table: no tfoot tr[data-testid="rank-row"]');
  const chart = await waitFor('the residual chart to be drawn', async () => ((await paintedPixels(frame, 'canvas[data-testid="resid-chart"]').catch(() => 0)) > 0 ? true : undefined), 15_000).catch(() => false);
  if (!chart) ctx.problem('canvas[data-testid="resid-chart"] missing or blank');
  if ((await frame.locator('[data-testid="dla-list"] li').count()) === 0) ctx.problem('[data-testid="dla-list"] has no li');
  if ((await frame.locator('canvas[data-testid="dla-grid"]').count()) === 0) ctx.problem('canvas[data-testid="dla-grid"] missing');
  if ((await frame.locator('canvas[data-testid="attention-heatmap"]').count()) === 0) ctx.problem('canvas[data-testid="attention-heatmap"] missing');
  await expectColorBar(ctx, frame, 'canvas[data-testid="dla-grid"]');
  await expectColorBar(ctx, frame, 'canvas[data-testid="attention-heatmap"]');
  // Which sources fed the chosen head's write at the selected position (a follow-up request of the page).
  const sources = await waitFor('the head sources list', async () => ((await frame.locator('[data-testid="head-sources"] li').count()) > 0 ? true : undefined), 15_000).catch(() => false);
  if (!sources) ctx.problem('[data-testid="head-sources"] lists no source of the chosen head\'s write');
  const thumbs = await frame.locator('[data-testid="head-thumb"][data-layer][data-head]').count();
  if (thumbs !== nLayer * nHead) ctx.problem(`${thumbs} [data-testid="head-thumb"] with data-layer/data-head, expected L×H = ${nLayer * nHead}`);
  const status = (await frame.locator('[data-testid="trace-status"]').first().innerText().catch(() => '')).replace(/\s+/g, ' ');
  if (!new RegExp(`demo · ${tokens} tokens · [\\d.,]+ ?ms`).test(status)) ctx.problem(`trace-status shows "${status}", expected "demo · ${tokens} tokens · x ms"`);
  if ((await frame.locator('[data-testid="token-chip"][aria-selected="true"]').count()) !== 1) ctx.problem('no single token chip with aria-selected="true"');
}

/**
 * CSS pixels a heatmap canvas leaves under its cells (data-grid = left,top,width,height of the
 * cells): a colour bar with its labels needs about 20; undefined when the canvas has no data-grid.
 */
export async function roomUnderGrid(frame: Frame, selector: string): Promise<number | undefined> {
  return frame
    .locator(selector)
    .first()
    .evaluate((el) => {
      const g = (el.getAttribute('data-grid') ?? '').split(',').map(Number);
      return g.length === 4 && g.every(Number.isFinite) ? el.getBoundingClientRect().height - ((g[1] ?? 0) + (g[3] ?? 0)) : undefined;
    })
    .catch(() => undefined);
}

/** Reports a heatmap without room for its colour bar under the cells. */
export async function expectColorBar(ctx: ScenarioContext, frame: Frame, selector: string): Promise<void> {
  const room = await roomUnderGrid(frame, selector);
  if (room === undefined || room < 20) ctx.problem(`${selector}: no colour bar under the cells (${room === undefined ? 'no data-grid' : `${room.toFixed(0)} px below the grid`})`);
}

export async function selectedPos(frame: Frame): Promise<number | undefined> {
  const v = await frame.locator('[data-testid="token-chip"][aria-selected="true"]').first().getAttribute('data-pos', { timeout: 2000 }).catch(() => null);
  return v === null ? undefined : Number(v);
}

export async function openSentences(ctx: ScenarioContext): Promise<void> {
  await ctx.wb.openFile(SENTENCES);
}

/** Opens sentences.txt, selects the line starting with `prefix`, runs the Trace command from the palette and waits for the panel. */
export async function traceSentence(ctx: ScenarioContext, prefix: string, how: string, timeoutMs?: number): Promise<{ readonly sentence: { readonly line: number; readonly text: string }; readonly frame: Frame }> {
  await openSentences(ctx);
  const sentence = fixtureLine(ctx, SENTENCES, prefix);
  await ctx.wb.selectLine(sentence.line);
  takeTraceEvents(ctx);
  await ctx.wb.runCommand(TRACE_TITLE);
  const { frame } = await expectTraceOf(ctx, sentence.text, how, timeoutMs);
  return { sentence, frame };
}

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)] ?? NaN;
};
