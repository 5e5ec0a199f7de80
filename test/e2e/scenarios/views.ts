/** The side view, the circuits panel, and a reloaded window bringing the trace panel back. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { waitFor } from '../workbench';
import { chipIds, CIRCUITS_TITLE, expectColorBar, expectTraceOf, newExtensionHost, openSentences, paintedPixels, sameIds, selectedPos, SENTENCES, sleep, takeTraceEvents, TRACE_TITLE, traceSentence, type Scenario } from '../scenarioKit';

export const viewsScenarios: readonly Scenario[] = [
  {
    id: 4,
    name: 'side view heatmaps; a click selects a position',
    async run(ctx) {
      const { frame: panel } = await traceSentence(ctx, 'The Eiffel Tower', 'palette');
      const container = ctx.manifest.contributes?.viewsContainers?.activitybar?.find((c) => c.id === 'residualLens');
      if (container === undefined) ctx.problem('package.json has no activity-bar view container "residualLens"');
      const icon = ctx.wb.page.locator(`.activitybar .action-item .action-label[aria-label^="${container?.title ?? 'Residual Lens'}"]`).first();
      if ((await icon.count()) > 0) await icon.click();
      else await ctx.wb.runCommand('residualLens.heatmaps.focus').catch(() => ctx.problem('could not open the side view (no activity-bar item, no focus command)'));
      const side = await ctx.wb.frameWith('canvas[data-testid="side-resid-heatmap"]', 60_000);
      for (const sel of ['canvas[data-testid="side-dla-heatmap"]', '[data-testid="side-head-grid"]']) {
        if ((await side.locator(sel).count()) === 0) ctx.problem(`side view: ${sel} missing`);
      }
      for (const sel of ['canvas[data-testid="side-resid-heatmap"]', 'canvas[data-testid="side-dla-heatmap"]']) await expectColorBar(ctx, side, sel);
      const gridText = (await side.locator('[data-testid="side-head-grid"]').first().innerText().catch(() => '')).replace(/\s+/g, ' ');
      if (!/L0/.test(gridText) || !/H0/.test(gridText)) ctx.problem(`side view: the head thumbnails are not named (grid text "${gridText}", expected L0… and H0…)`);
      const drawn = await waitFor('the side residual heatmap to be drawn', async () => ((await paintedPixels(side, 'canvas[data-testid="side-resid-heatmap"]').catch(() => 0)) > 0 ? true : undefined), 15_000).catch(() => false);
      if (!drawn) ctx.problem('side view: canvas[data-testid="side-resid-heatmap"] is blank');
      await ctx.wb.screenshot('04a-side-view');
      const canvas = side.locator('canvas[data-testid="side-resid-heatmap"]').first();
      const box = await canvas.boundingBox();
      if (box === null) throw new Error('side residual heatmap has no box');
      // The cells' area inside the canvas (row labels, axis titles and the colour bar surround it).
      const [gx, gy, gw, gh] = ((await canvas.getAttribute('data-grid')) ?? `0,0,${box.width},${box.height}`).split(',').map(Number) as [number, number, number, number];
      const picks: number[] = [];
      for (const fx of [0.12, 0.88]) {
        const before = await selectedPos(panel);
        await canvas.click({ position: { x: gx + gw * fx, y: gy + gh * 0.5 } });
        const pos = await waitFor('the trace panel to select the clicked position', async () => {
          const p = await selectedPos(panel);
          return p !== undefined && p !== before ? p : undefined;
        }, 10_000).catch(() => undefined);
        if (pos === undefined) {
          ctx.problem(`clicking the side residual heatmap at ${(fx * 100).toFixed(0)} % of its width did not change the selected token (aria-selected) in the trace panel`);
          break;
        }
        picks.push(pos);
      }
      if (picks.length === 2 && !((picks[0] ?? 0) < (picks[1] ?? 0))) ctx.problem(`heatmap clicks left→right selected positions ${picks.join(' then ')}, expected increasing`);
      await ctx.wb.screenshot('04b-side-view-click');
    },
  },
  {
    id: 5,
    name: 'circuits panel shows the planted pair',
    async run(ctx) {
      takeTraceEvents(ctx);
      await ctx.wb.runCommand(CIRCUITS_TITLE);
      const frame = await ctx.wb.frameWith('table[data-testid="composition-top"] tbody tr', 180_000);
      const first = (await frame.locator('table[data-testid="composition-top"] tbody tr').first().innerText()).replace(/\s+/g, ' ').trim();
      await ctx.wb.screenshot('05-circuits');
      await expectColorBar(ctx, frame, 'canvas[data-testid="composition-heatmap"]');
      // The demo's MLPs are zero: the MLP tab says so instead of showing a blank map.
      const mlpEmpty = (await frame.locator('[data-testid="mlp-empty"]').first().textContent().catch(() => '')) ?? '';
      if (!/zero/.test(mlpEmpty)) ctx.problem(`circuits: the all-zero MLP virtual weights are not called empty ([data-testid="mlp-empty"]: "${mlpEmpty}")`);
      // The planted heads get their roles (the induction detector tops out near 0.49, so roles are relative to that).
      await frame.locator('vscode-tab-header', { hasText: 'Heads' }).first().click().catch(() => undefined);
      await sleep(300);
      await ctx.wb.screenshot('05b-circuits-heads');
      for (const [layer, head, role] of [[0, 0, 'previous-token'], [1, 0, 'induction']] as const) {
        const row = ((await frame.locator(`table[data-testid="heads-table"] tr[data-layer="${layer}"][data-head="${head}"]`).first().textContent().catch(() => '')) ?? '').replace(/\s+/g, ' ');
        if (!row.includes(role)) ctx.problem(`circuits heads table: L${layer}H${head}'s row "${row}" has no role "${role}"`);
      }
      for (const [tab, shot] of [['MLP virtual weights', '05c-circuits-mlp'], ['Subspaces', '05d-circuits-subspaces']] as const) {
        await frame.locator('vscode-tab-header', { hasText: tab }).first().click().catch(() => undefined);
        await sleep(300);
        await ctx.wb.screenshot(shot);
      }
      if (!/L0H0\s*→\s*L1H0/.test(first)) ctx.problem(`circuits: first composition row is "${first}", expected the pair "L0H0 → L1H0"`);
      if (!/\d\.\d/.test(first)) ctx.problem(`circuits: first composition row "${first}" shows no score`);
      takeTraceEvents(ctx);
    },
  },
  {
    id: 6,
    name: 'reload restores the trace panel',
    async run(ctx) {
      const want = ctx.lastTraceIds;
      // The selected position before the reload (scenario 4 clicked one): the restored panel keeps it.
      // The trace tab is brought forward to read it (the circuits panel may be in front).
      const traceTab = ctx.wb.page.locator('.tabs-container .tab', { hasText: 'Residual Lens: Trace' }).first();
      if (want !== undefined && (await traceTab.count()) > 0) await traceTab.click();
      const before = want === undefined ? undefined : await ctx.wb.frameWith('[data-testid="token-chip"]', 10_000).then(selectedPos).catch(() => undefined);
      const t0 = Date.now();
      takeTraceEvents(ctx);
      newExtensionHost();
      await ctx.wb.reload();
      const reloaded = Date.now();
      // A restored panel may be a background tab (the circuits panel was opened after it).
      const tab = ctx.wb.page.locator('.tabs-container .tab', { hasText: 'Residual Lens: Trace' }).first();
      await tab.waitFor({ timeout: 30_000 }).catch(() => undefined);
      if ((await tab.count()) === 0) throw new Error('after reload there is no "Residual Lens: Trace" tab');
      await tab.click();
      const frame = await ctx.wb.frameWith('[data-testid="token-chip"]', 90_000);
      ctx.figures.set('reload: workbench back / trace panel content back', `${((reloaded - t0) / 1000).toFixed(1)} s / ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      await sleep(500);
      const ids = await chipIds(frame);
      await ctx.wb.screenshot('06-reload');
      if (want !== undefined && !sameIds(ids, want)) ctx.problem(`after reload the panel shows ${ids.length} chips [${ids.slice(0, 8).join(', ')}…], expected the last trace's ${want.length}`);
      const after = await selectedPos(frame);
      ctx.figures.set('reload: selected position before / after', `${before} / ${after}`);
      if (before !== undefined && after !== before) ctx.problem(`after reload the selected position is ${after}, before it ${before}`);
      // The lens is a follow-up of the restored panel's trace: it comes after the paint.
      const lensRows = frame.locator('table[data-testid="lens-table"] tbody tr[data-layer]');
      await waitFor('the restored lens table', async () => ((await lensRows.count()) === ctx.demo.nLayer + 1 ? true : undefined), 15_000, 100).catch(() => undefined);
      if ((await lensRows.count()) !== ctx.demo.nLayer + 1) ctx.problem('after reload the lens table is not restored');
      // The side view, open before the reload, comes back with the restored trace.
      if (await ctx.wb.page.locator('.part.sidebar .title-label', { hasText: /heatmaps/i }).first().isVisible().catch(() => false)) {
        const side = await ctx.wb.frameWith('canvas[data-testid="side-resid-heatmap"]', 30_000).catch(() => undefined);
        ctx.figures.set('reload: side view back', side ? `${((Date.now() - t0) / 1000).toFixed(1)} s` : 'no');
        if (side === undefined) ctx.problem('after reload the side view (open before it) shows no heatmaps');
      }
      // The restored trace is linked to its sentence again (the panel saved where it sat): its hover answers.
      const text = ctx.lastTraceText;
      const line = text === undefined ? -1 : fs.readFileSync(path.join(ctx.workspace, SENTENCES), 'utf8').split('\n').indexOf(text);
      if (text !== undefined && line >= 0) {
        await openSentences(ctx);
        await ctx.wb.goToLine(line + 1);
        const word = text.split(' ').find((w, i) => i >= 2 && w.length >= 4) ?? text.split(' ')[0];
        const hover = await ctx.wb.hoverText(text.slice(0, 20), word, 'Top predictions').catch(() => undefined);
        await ctx.wb.screenshot('06b-reload-hover');
        if (hover === undefined) ctx.problem(`after reload, hovering "${word}" in the traced sentence shows no "Top predictions": the restored trace is not linked to its document`);
      }
      takeTraceEvents(ctx);
    },
  },
  {
    id: 21,
    name: 'reload relinks the trace of an untitled document',
    async run(ctx) {
      // Text pasted into a new untitled editor and traced: VS Code backs the document up and reopens
      // it after a reload; the restored trace panel must find its text there again.
      const text = 'An untitled note about the quick brown fox';
      await ctx.wb.runCommand('File: New Untitled Text File');
      // The new editor has the focus; a click there could land on its "Select a language" hint.
      await sleep(500);
      await ctx.wb.page.keyboard.type(text);
      await ctx.wb.selectAll();
      takeTraceEvents(ctx);
      await ctx.wb.runCommand(TRACE_TITLE);
      await expectTraceOf(ctx, text, 'untitled document');
      await sleep(1500); // the untitled document's backup (hot exit) is written after a short delay
      const t0 = Date.now();
      newExtensionHost();
      await ctx.wb.reload();
      const traceTab = ctx.wb.page.locator('.tabs-container .tab', { hasText: 'Residual Lens: Trace' }).first();
      await traceTab.waitFor({ timeout: 30_000 }).catch(() => undefined);
      if ((await traceTab.count()) === 0) throw new Error('after reload there is no "Residual Lens: Trace" tab');
      await traceTab.click();
      await ctx.wb.frameWith('[data-testid="token-chip"]', 90_000);
      ctx.figures.set('reload (untitled): trace panel content back', `${((Date.now() - t0) / 1000).toFixed(1)} s`);
      // VS Code names an untitled editor after its first line.
      const editorTab = ctx.wb.page.locator('.tabs-container .tab', { hasText: 'An untitled note' }).first();
      await editorTab.waitFor({ timeout: 30_000 }).catch(() => undefined);
      if ((await editorTab.count()) === 0) {
        ctx.problem('after reload the untitled document did not come back (no "An untitled note…" tab)');
        return;
      }
      await editorTab.click();
      const hover = await ctx.wb.hoverText(text.slice(0, 20), 'quick', 'Top predictions').catch(() => undefined);
      await ctx.wb.screenshot('21-reload-untitled-hover');
      if (hover === undefined) ctx.problem('after reload, hovering "quick" in the untitled document shows no "Top predictions": the restored trace is not linked to it');
      takeTraceEvents(ctx);
    },
  },
];
