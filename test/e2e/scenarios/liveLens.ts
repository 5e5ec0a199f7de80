/** Live lens (issue 13): typing at the end of a traced line re-traces it; the panel and the hover follow. */
import { waitFor } from '../workbench';
import { chipIds, expectedIds, fixtureLine, sameIds, SENTENCES, sleep, takeTraceEvents, traceSentence, type Scenario } from '../scenarioKit';

export const LIVE_LENS_TITLE = 'Residual Lens: Toggle Live Lens';
const TYPED = ' Then';

export const liveLensScenarios: readonly Scenario[] = [
  {
    id: 13,
    name: 'live lens: typing re-traces the edited line',
    async run(ctx) {
      const { sentence } = await traceSentence(ctx, 'When Mary and John', 'palette, before live lens');
      await ctx.wb.runCommand(LIVE_LENS_TITLE);
      const item = ctx.wb.page.locator('.statusbar-item', { hasText: 'Live lens' }).first();
      const itemText = await waitFor('the live lens status bar item to say on', async () => {
        const t = await item.innerText({ timeout: 2000 }).catch(() => '');
        return /Live lens: on/.test(t) ? t : undefined;
      }, 15_000).catch(() => undefined);
      if (itemText === undefined) ctx.problem(`the status bar shows no "Live lens: on" (${await item.innerText({ timeout: 1000 }).catch(() => 'no item')})`);
      await ctx.wb.selectLine(sentence.line);
      await ctx.wb.page.keyboard.press('End');
      takeTraceEvents(ctx);
      await ctx.wb.page.keyboard.type(TYPED, { delay: 60 });
      const edited = sentence.text + TYPED;
      const ids = expectedIds(edited);
      const want = ids.length;
      const live = await waitFor('a live re-trace line in the diagnostics', async () => takeTraceEvents(ctx).find((e) => e.live === true && e.tokens === want), 60_000, 100).catch(() => undefined);
      if (live === undefined) ctx.problem(`typing "${TYPED}" at the end of the traced line wrote no live trace line of ${want} tokens`);
      else ctx.figures.set(`live lens: last keystroke → panel painted (demo, ${want} tokens)`, `${live.paintedMs.toFixed(0)} ms (debounce included)`);
      const shown = await waitFor('the panel to show the edited line\'s tokens', async () => {
        const f = await ctx.wb.frameWith('[data-testid="token-chip"]', 2000).catch(() => undefined);
        return f !== undefined && sameIds(await chipIds(f), ids) ? true : undefined;
      }, 30_000, 300).catch(() => false);
      if (!shown) ctx.problem(`the trace panel does not show the ${want} tokens of the edited line`);
      await ctx.wb.screenshot('13-live-lens');
      const hover = await ctx.wb.hoverText(edited, 'Then', 'Top predictions').catch((err: unknown) => {
        ctx.problem(`hover on the typed word: ${err instanceof Error ? err.message : String(err)}`);
        return undefined;
      });
      if (hover && !hover.text.includes('Then')) ctx.problem(`the hover on the typed word does not name it: ${hover.text.slice(0, 200)}`);
      // Off again; the typed text removed without a re-trace.
      await ctx.wb.runCommand(LIVE_LENS_TITLE);
      await ctx.wb.selectLine(fixtureLine(ctx, SENTENCES, 'When Mary and John').line);
      await ctx.wb.page.keyboard.press('End');
      for (let i = 0; i < TYPED.length; i++) await ctx.wb.page.keyboard.press('Backspace');
      await sleep(1000);
      const after = takeTraceEvents(ctx).filter((e) => e.live === true);
      if (after.length > 0) ctx.problem(`live lens off, yet ${after.length} live trace line(s) after the edit`);
    },
  },
];
