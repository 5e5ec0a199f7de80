/**
 * Causal experiments in the editor (issue 11): two lines, Compare Prompts, the patching maps paint
 * with the planted heads on top; ablating the induction head from the hover changes the demo
 * model's prediction, and the intervention can be removed again. A reloaded window brings the
 * patching panel back, compared again with the saved answers (no questions), the same cells on top,
 * linked to the file again (a best cell selects its token there).
 *
 * Clean = random words repeated; corrupted = the earlier copy of the last word replaced, so the
 * induction head finds nothing to copy. The replaced word is at position 5: the previous-token head
 * L0H0 carries it at position 6, the induction head L1H0 copies at the last position (11).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Frame } from 'playwright-core';
import { tokenize } from '../../../src/engine/tokenizer';
import { waitFor } from '../workbench';
import { COMPARE_CLEAN, COMPARE_CORRUPTED, COMPARE_FILE, expectTraceOf, newExtensionHost, paintedPixels, takeTraceEvents, TRACE_TITLE, type Scenario, type ScenarioContext } from '../scenarioKit';

const FILE = COMPARE_FILE;
const CLEAN = COMPARE_CLEAN;
const CORRUPTED = COMPARE_CORRUPTED;
const COMPARE_TITLE = 'Residual Lens: Compare Prompts';

/** Closes the editor hover (it covers part of the panel beside the editor). */
async function closeHover(ctx: ScenarioContext): Promise<void> {
  await ctx.wb.page.mouse.move(20, 700);
  await ctx.wb.page.keyboard.press('Escape');
  await ctx.wb.page.locator('.monaco-hover:not(.hidden)').first().waitFor({ state: 'hidden', timeout: 5_000 }).catch(() => undefined);
}

/** Waits for the quick input whose title contains `title`, then accepts what it offers (Enter). */
async function acceptQuickInput(ctx: ScenarioContext, title: string): Promise<void> {
  const widget = ctx.wb.page.locator('.quick-input-widget', { hasText: title });
  await widget.waitFor({ state: 'visible', timeout: 120_000 });
  await ctx.wb.page.locator('.quick-input-widget input').focus();
  await ctx.wb.page.keyboard.press('Enter');
  await widget.waitFor({ state: 'hidden', timeout: 10_000 }).catch(() => undefined);
}

/** Names of the best cells listed under a map, best first. */
async function topCells(frame: Frame, kind: string): Promise<string[]> {
  return frame.locator(`[data-testid="patch-top-${kind}"] li`).evaluateAll((els) => els.map((e) => e.getAttribute('data-name') ?? ''));
}

export const comparePromptsScenarios: readonly Scenario[] = [
  {
    id: 20,
    name: 'Compare Prompts: patching maps put the planted heads on top; ablating L1H0 from the hover changes the prediction',
    async run(ctx) {
      fs.writeFileSync(path.join(ctx.workspace, FILE), `${CLEAN}\n${CORRUPTED}\n`);
      await ctx.wb.clearNotifications();
      await ctx.wb.openFile(FILE);
      await ctx.wb.selectLine(1);
      const started = Date.now();
      await ctx.wb.runCommand(COMPARE_TITLE);
      // The corrupted prompt: the input box offers the next line; the answers: the clean and the corrupted top-1.
      await acceptQuickInput(ctx, 'Compare Prompts');
      await acceptQuickInput(ctx, 'correct answer');
      await acceptQuickInput(ctx, 'wrong answer');
      const frame = await ctx.wb.frameWith('[data-testid="patch-status"]', 120_000);
      const done = await waitFor('the sweep to finish', async () => {
        const status = await frame.locator('[data-testid="patch-status"]').innerText();
        return /Done in|failed|no longer/.test(status) ? status : undefined;
      }, 120_000, 250).catch(() => undefined);
      ctx.figures.set('Compare Prompts: command → every map painted', `${((Date.now() - started) / 1000).toFixed(1)} s wall (answers picked in between)`);
      await ctx.wb.screenshot('20a-patching');
      if (done === undefined || !done.includes('Done in')) ctx.problem(`patching panel status: "${done ?? (await frame.locator('[data-testid="patch-status"]').innerText())}", expected "… Done in x s."`);
      const message = await frame.locator('[data-testid="patch-token-message"]').innerText().catch(() => '');
      if (!message.includes('differ at position 5')) ctx.problem(`tokens message "${message}", expected the prompts to differ at position 5`);
      for (const kind of ['resid_pre', 'attn_out', 'mlp_out', 'heads', 'patterns', 'heads_by_pos']) {
        if ((await paintedPixels(frame, `canvas[data-testid="patch-map-${kind}"]`).catch(() => 0)) <= 0) ctx.problem(`patching map ${kind} is missing or blank`);
      }
      const byPos = await topCells(frame, 'heads_by_pos');
      if (!(byPos.slice(0, 2).includes('L0H0 pos 6') && byPos.slice(0, 2).includes('L1H0 pos 11'))) ctx.problem(`heads by position: best cells ${byPos.join(', ')}; expected L0H0 pos 6 and L1H0 pos 11 on top`);
      const heads = await topCells(frame, 'heads');
      if (!(heads.slice(0, 2).includes('L0H0') && heads.slice(0, 2).includes('L1H0'))) ctx.problem(`heads: best cells ${heads.join(', ')}; expected L0H0 and L1H0 on top`);
      // A best cell clicked: that patched run's top tokens.
      await frame.locator('[data-testid="patch-top-heads_by_pos"] li').first().click();
      const cellTop = await waitFor('the clicked cell\'s top-k', async () => ((await frame.locator('[data-testid="patch-cell-top"] li').count()) > 0 ? true : undefined), 30_000).catch(() => false);
      if (!cellTop) ctx.problem('clicking a best cell did not show that patched run\'s top tokens');
      await ctx.wb.screenshot('20b-patched-cell');

      // Trace the clean line, hover a second-half word (its induction prediction), ablate L1H0 from the hover.
      await ctx.wb.openFile(FILE);
      await ctx.wb.selectLine(1);
      takeTraceEvents(ctx);
      await ctx.wb.runCommand(TRACE_TITLE);
      const { frame: panel } = await expectTraceOf(ctx, CLEAN, 'palette, compare-prompts line 1');
      await ctx.wb.goToLine(1);
      const hover = await ctx.wb.hoverText(CLEAN, 'lantern river stone maple quiet orbit', 'Ablate L1H0');
      await ctx.wb.screenshot('20c-hover-ablate');
      if (!hover.text.includes('Ablate L1H0')) ctx.problem(`hover offers no "Ablate L1H0": ${hover.text.slice(0, 300)}`);
      const args = encodeURIComponent(JSON.stringify([{ layer: 1, head: 0, mode: 'zero' }]));
      const link = ctx.wb.page.locator(`.monaco-hover a[data-href*="${args}"], .monaco-hover a[href*="${args}"]`).first();
      await link.click({ timeout: 10_000 }).catch(() => ctx.problem('the hover\'s "zero" link for L1H0 could not be clicked'));
      await closeHover(ctx);
      const chip = await waitFor('the intervention chip in the trace panel', async () => {
        const text = await panel.locator('[data-testid="intervention-chip"]').first().innerText({ timeout: 1000 }).catch(() => '');
        const edited = await panel.locator('[data-testid="intervention-edited-top"] li').count();
        return text && edited > 0 ? text : undefined;
      }, 30_000).catch(() => undefined);
      await ctx.wb.screenshot('20d-ablated');
      if (chip === undefined || !chip.includes('Zero-ablate L1H0')) ctx.problem(`trace panel: no "Zero-ablate L1H0" intervention with an edited top-k (chip "${chip}")`);
      else {
        const first = (testid: string): Promise<string> => panel.locator(`[data-testid="${testid}"] li .tok`).first().innerText();
        const [base, edited] = [await first('intervention-base-top'), await first('intervention-edited-top')];
        ctx.figures.set('ablate L1H0 (zero): top-1 at the last position', `${base} → ${edited}`);
        if (base === edited) ctx.problem(`zero-ablating L1H0 left the top-1 prediction at "${base}"`);
        const metric = await panel.locator('[data-testid="intervention-metric"]').innerText();
        if (!/→\s*[−+-]?\d/.test(metric)) ctx.problem(`intervention metric "${metric}" shows no edited value`);
        // The hover says the trace has interventions; removing the chip clears the row.
        await ctx.wb.goToLine(1);
        const again = await ctx.wb.hoverText(CLEAN, 'lantern river stone maple quiet orbit', 'Interventions active').catch(() => undefined);
        if (again === undefined) ctx.problem('the hover does not say the trace has interventions');
        await closeHover(ctx);
        await panel.locator('[data-testid="remove-intervention"]').first().click();
        const gone = await waitFor('the interventions row to go', async () => ((await panel.locator('[data-testid="intervention-chip"]').count()) === 0 ? true : undefined), 10_000).catch(() => false);
        if (!gone) ctx.problem('removing the only intervention left its chip in the trace panel');
      }

      // Developer: Reload Window: the patching panel comes back and compares its saved prompts again.
      takeTraceEvents(ctx);
      newExtensionHost();
      const reloadStarted = Date.now();
      await ctx.wb.reload();
      // The trace panel (the group's active tab) comes back first and traces its text again, revealing
      // itself; a background tab's webview is restored when it is shown, so the patching tab is
      // clicked after that.
      await ctx.wb.frameWith('[data-testid="token-chip"]', 90_000).catch(() => undefined);
      const tab = ctx.wb.page.locator('.tabs-container .tab', { hasText: 'Residual Lens: Patching' }).first();
      await tab.waitFor({ timeout: 30_000 }).catch(() => undefined);
      if ((await tab.count()) === 0) ctx.problem('after reload there is no "Residual Lens: Patching" tab');
      else {
        await tab.click();
        const restored = await ctx.wb.frameWith('[data-testid="patch-map-heads_by_pos"]', 120_000);
        const status = await waitFor('the restored comparison', async () => {
          const text = await restored.locator('[data-testid="patch-status"]').innerText();
          return /Done in|failed|no longer/.test(text) ? text : undefined;
        }, 120_000, 250).catch(() => undefined);
        ctx.figures.set('reload: patching panel compared again', `${((Date.now() - reloadStarted) / 1000).toFixed(1)} s`);
        await ctx.wb.screenshot('20e-patching-reloaded');
        if (status === undefined || !status.includes('Done in')) ctx.problem(`restored patching panel status: "${status}", expected "… Done in x s."`);
        const again = await topCells(restored, 'heads_by_pos');
        if (again.join(', ') !== byPos.join(', ')) ctx.problem(`restored heads by position: best cells ${again.join(', ')}; before the reload ${byPos.join(', ')}`);
        // The restored prompts are linked to the file again: a best cell selects its token there.
        const pos = Number(/ pos (\d+)$/.exec(again[0] ?? '')?.[1]);
        const tok = tokenize(CLEAN, { prependBos: true }).tokens[pos];
        if (tok === undefined) ctx.problem(`restored heads by position: no position in the best cell "${again[0]}"`);
        else {
          await restored.locator('[data-testid="patch-top-heads_by_pos"] li').first().click();
          await ctx.wb.page.locator('.tabs-container .tab', { hasText: path.basename(FILE) }).first().click(); // the editor's own status bar items
          const want = `(${tok.end - tok.start} selected)`;
          const selection = ctx.wb.page.locator('.statusbar-item[id="status.editor.selection"]').first();
          const shown = await waitFor(`the cell's token ${JSON.stringify(tok.text)} selected in ${FILE}`, async () => {
            const text = await selection.innerText({ timeout: 1000 }).catch(() => '');
            return text.includes(want) ? text : undefined;
          }, 15_000, 250).catch(() => undefined);
          await ctx.wb.screenshot('20f-restored-cell-selects');
          if (shown === undefined) ctx.problem(`after reload, clicking the best cell "${again[0]}" did not select its token ${JSON.stringify(tok.text)} in ${FILE} (status bar "${await selection.innerText({ timeout: 1000 }).catch(() => '')}", expected "… ${want}")`);
          else if (!shown.startsWith('Ln 1,')) ctx.problem(`after reload, the cell selected text on another line: "${shown}"`);
        }
      }
      takeTraceEvents(ctx);
    },
  },
];
