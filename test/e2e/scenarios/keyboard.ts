/** The trace panel without a mouse. */
import type { DomWindow } from '../browserTypes';
import { waitFor } from '../workbench';
import { expectedIds, selectedPos, traceSentence, type Scenario } from '../scenarioKit';

export const keyboardScenarios: readonly Scenario[] = [
  {
    id: 11,
    name: 'keyboard: token chips, Tab order and the attention heatmap without a mouse',
    async run(ctx) {
      const { sentence, frame } = await traceSentence(ctx, 'The Eiffel Tower', 'palette, for the keyboard');
      const T = expectedIds(sentence.text).length;
      const keys = ctx.wb.page.keyboard;
      const focused = (): Promise<{ testid: string | null; pos: string | null }> =>
        frame.evaluate(() => {
          const el = (globalThis as unknown as DomWindow).document.activeElement;
          return { testid: el?.getAttribute('data-testid') ?? null, pos: el?.getAttribute('data-pos') ?? null };
        });
      const expectSelected = async (want: number, after: string): Promise<void> => {
        const got = await waitFor(`position ${want} selected after ${after}`, async () => ((await selectedPos(frame)) === want ? want : undefined), 5_000).catch(() => undefined);
        if (got === undefined) ctx.problem(`keyboard: after ${after} the selected token is ${await selectedPos(frame)}, expected ${want}`);
      };
      await frame.locator('[data-testid="token-chip"][aria-selected="true"]').first().focus();
      await expectSelected(T - 1, 'a trace (default: the last position)');
      await keys.press('ArrowLeft');
      await keys.press('ArrowLeft');
      await expectSelected(T - 3, 'ArrowLeft twice on the chips');
      const f = await focused();
      if (f.testid !== 'token-chip' || f.pos !== String(T - 3)) ctx.problem(`keyboard: focus should follow the selection to chip ${T - 3}, is on ${JSON.stringify(f)}`);
      await keys.press('Home');
      await expectSelected(0, 'Home');
      await keys.press('End');
      await expectSelected(T - 1, 'End');
      // Tab from the chips reaches the attention heatmap (every control on the way is focusable).
      const seen: string[] = [];
      let reached = false;
      for (let i = 0; i < 60 && !reached; i++) {
        await keys.press('Tab');
        const at = await focused();
        seen.push(at.testid ?? '?');
        reached = at.testid === 'attention-heatmap';
      }
      if (!reached) ctx.problem(`keyboard: 60 Tabs from the chips never reached the attention heatmap (focus went: ${seen.join(' → ')})`);
      else {
        // Heatmap cursor starts at query row 0: three rows down, Enter selects query position 3.
        await keys.press('ArrowDown');
        await keys.press('ArrowDown');
        await keys.press('ArrowDown');
        await keys.press('Enter');
        await expectSelected(3, 'ArrowDown ×3 + Enter on the attention heatmap');
        // Screen readers hear the cell under the cursor: query token 3 → key token 0.
        const label = await frame.locator('canvas[data-testid="attention-heatmap"]').getAttribute('aria-label');
        const query = (await frame.locator('[data-testid="token-chip"][data-pos="3"]').textContent())?.trim() ?? '?';
        if (!label?.includes(`"${query}" → "BOS"`)) ctx.problem(`keyboard: the heatmap's aria-label should describe the cell under its cursor ("${query}" → "BOS"), is "${label}"`);
      }
      ctx.figures.set('keyboard: Tabs from the chips to the attention heatmap', String(seen.length));
      await ctx.wb.screenshot('11-keyboard');
    },
  },
];
