/** Bad input and bad settings: each gets a clear message, and a good trace still works after. */
import { waitFor } from '../workbench';
import { tokenize } from '../../../src/engine/tokenizer';
import { chipIds, DOWNLOAD_TITLE, EMPTY_MESSAGE, expectedIds, expectTraceOf, firstEmptyLine, fixtureLine, HUGE, LONG, ODD, ODD_LINES, openSentences, sameIds, SENTENCES, sleep, takeTraceEvents, TRACE_TITLE, traceSentence, type Scenario } from '../scenarioKit';

export const badInputScenarios: readonly Scenario[] = [
  {
    id: 7,
    name: 'bad input: empty, odd and too-long text; then a good trace',
    async run(ctx) {
      await ctx.wb.clearNotifications();
      await openSentences(ctx);
      await ctx.wb.goToLine(firstEmptyLine(ctx, SENTENCES));
      await ctx.wb.runCommand(TRACE_TITLE);
      const empty = await ctx.wb.waitForNotification(/Nothing to trace/, 30_000).catch(() => undefined);
      await ctx.wb.screenshot('07a-empty-line');
      if (empty === undefined) ctx.problem(`empty line: no notification "${EMPTY_MESSAGE}"`);
      else if (!empty.includes(EMPTY_MESSAGE)) ctx.problem(`empty line: message "${empty}", expected "${EMPTY_MESSAGE}"`);
      await ctx.wb.clearNotifications();

      // Odd but valid text (written into the run's workspace copy): each must trace exactly or say why.
      await ctx.wb.openFile(ODD);
      for (const [i, text] of ODD_LINES.entries()) {
        await ctx.wb.goToLine(i + 1);
        takeTraceEvents(ctx);
        await ctx.wb.runCommand(TRACE_TITLE);
        const plain = expectedIds(text);
        const special = tokenize(text, { prependBos: true, allowSpecial: true }).tokens.map((t) => t.id);
        const outcome = await waitFor(
          `a trace or a message for ${JSON.stringify(text)}`,
          async () => {
            const f = await ctx.wb.frameWith('[data-testid="token-chip"]', 1000).catch(() => undefined);
            const ids = f === undefined ? [] : await chipIds(f);
            if (sameIds(ids, plain) || sameIds(ids, special)) return `traced ${ids.length} tokens`;
            // A message, not the trace's own progress notification.
            const message = (await ctx.wb.notificationsText()).split('\n').find((l) => l.trim() !== '' && !/Tracing/.test(l));
            return message === undefined ? undefined : `message: ${message}`;
          },
          30_000,
          300,
        ).catch(() => undefined);
        if (outcome === undefined) ctx.problem(`odd text ${JSON.stringify(text)}: neither a trace with the tokenizer's ids nor a message within 30 s`);
        else ctx.figures.set(`odd text ${JSON.stringify(text)}`, outcome);
        await ctx.wb.clearNotifications();
      }

      await ctx.wb.openFile(LONG);
      await ctx.wb.selectAll();
      const n = ctx.demo.nCtx;
      const tooLong = new RegExp(`^The selection has more than ${n} tokens; demo accepts at most ${n} \\(BOS included\\)\\. Select less text\\.$`);
      const expectTooLong = async (what: string, shot: string): Promise<void> => {
        const started = Date.now();
        await ctx.wb.runCommand(TRACE_TITLE);
        const message = await ctx.wb.waitForNotification(/Select less text/, 30_000).catch(() => undefined);
        ctx.figures.set(`${what} → message`, `${Date.now() - started} ms wall`);
        await ctx.wb.screenshot(shot);
        if (message === undefined) ctx.problem(`${what}: no notification ending "Select less text."`);
        else if (!tooLong.test(message.trim())) ctx.problem(`${what}: message "${message}", expected "The selection has more than ${n} tokens; demo accepts at most ${n} (BOS included). Select less text."`);
        // The panel still shows the previous trace: marked as not the latest, with the reason.
        const panel = await ctx.wb.frameWith('[data-testid="token-chip"]', 5000).catch(() => undefined);
        const banner = panel === undefined ? '' : await waitFor('the stale-trace banner', async () => {
          const b = panel.locator('[data-testid="stale-banner"]:visible');
          return (await b.count()) > 0 ? (await b.first().innerText()).replace(/\s+/g, ' ') : undefined;
        }, 10_000).catch(() => '');
        if (panel !== undefined && !/Not the latest trace.*more than \d+ tokens/.test(banner)) ctx.problem(`${what}: the panel's previous trace is not marked as not the latest (banner: "${banner}")`);
        await ctx.wb.clearNotifications();
      };
      await expectTooLong('too-long selection (14 KB, 3,000 tokens)', '07b-too-long');
      await ctx.wb.openFile(HUGE);
      await ctx.wb.selectAll();
      await expectTooLong('1 MB selection', '07c-one-megabyte');

      await traceSentence(ctx, 'When Mary and John', 'after bad input');
      await ctx.wb.screenshot('07d-good-trace-after');
    },
  },
  {
    id: 9,
    name: 'bad settings: unknown model, missing folder, non-http hub; then a good trace',
    async run(ctx) {
      // Each message must name the setting's value and say what is wrong with it (wording is the UI's).
      const cases: readonly { readonly settings: Readonly<Record<string, unknown>>; readonly command: string; readonly expect: RegExp; readonly what: string }[] = [
        { what: 'unknown model name', settings: { 'residualLens.model': 'no-such-model' }, command: TRACE_TITLE, expect: /"no-such-model".*(unknown|use one of)|unknown model.*"no-such-model"/i },
        { what: 'relative model path', settings: { 'residualLens.model': 'models/mine' }, command: TRACE_TITLE, expect: /models\/mine.*not an absolute folder path/i },
        { what: 'missing model folder', settings: { 'residualLens.model': '/nonexistent/model' }, command: TRACE_TITLE, expect: /\/nonexistent\/model.*(does not exist|not found|missing)/i },
        { what: 'non-http hub endpoint', settings: { 'residualLens.hubEndpoint': 'ftp://127.0.0.1/hub' }, command: DOWNLOAD_TITLE, expect: /hubEndpoint.*(ftp|http)/i },
      ];
      await openSentences(ctx);
      const mary = fixtureLine(ctx, SENTENCES, 'When Mary and John');
      for (const c of cases) {
        await ctx.wb.clearNotifications();
        ctx.setWorkspaceSettings(c.settings);
        await sleep(2500); // the settings file watcher
        await ctx.wb.selectLine(mary.line);
        await ctx.wb.runCommand(c.command);
        if (c.command === DOWNLOAD_TITLE) {
          const input = ctx.wb.page.locator('.quick-input-widget input');
          await input.fill('gpt2');
          await sleep(300);
          await ctx.wb.page.keyboard.press('Enter');
        }
        let message = await ctx.wb.waitForNotification(c.expect, 15_000).catch(() => undefined);
        if (message === undefined && (await ctx.wb.notificationsText()).trim() === '') {
          // The settings change may not have reached the extension yet: ask once more.
          await sleep(2000);
          await ctx.wb.page.keyboard.press('Escape');
          await ctx.wb.selectLine(mary.line);
          await ctx.wb.runCommand(c.command);
          if (c.command === DOWNLOAD_TITLE) {
            await ctx.wb.page.locator('.quick-input-widget input').fill('gpt2');
            await sleep(300);
            await ctx.wb.page.keyboard.press('Enter');
          }
          message = await ctx.wb.waitForNotification(c.expect, 15_000).catch(() => undefined);
        }
        await ctx.wb.screenshot(`09-${c.what.replace(/\W+/g, '-')}`);
        if (message === undefined) ctx.problem(`${c.what}: no message matching ${c.expect} (shown: "${(await ctx.wb.notificationsText()).replace(/\s+/g, ' ').slice(0, 200)}")`);
        ctx.resetWorkspaceSettings();
      }
      await ctx.wb.clearNotifications();
      await sleep(1500);
      await ctx.wb.selectLine(mary.line);
      takeTraceEvents(ctx);
      await ctx.wb.runCommand(TRACE_TITLE);
      await expectTraceOf(ctx, mary.text, 'after bad settings');
    },
  },
];
