/** SAE features on the demo model with its demo SAE (the default): the hover's "Top features", the trace panel's feature heatmap and card. */
import { waitFor } from '../workbench';
import { paintedPixels, traceSentence, type Scenario } from '../scenarioKit';

export const featuresScenarios: readonly Scenario[] = [
  {
    id: 12,
    name: 'SAE features: hover, heatmap, feature card',
    async run(ctx) {
      const { sentence, frame } = await traceSentence(ctx, 'The Eiffel Tower', 'palette');
      const heat = 'canvas[data-testid="features-heatmap"]';
      // The section is hidden until this trace's features arrive (a previous trace's canvas may still hold pixels).
      const shown = await waitFor('the SAE features section of this trace', async () => ((await frame.locator('[data-testid="features-info"]').first().isVisible().catch(() => false)) ? true : undefined), 60_000).catch(() => false);
      const drawn = shown && (await waitFor('the SAE feature heatmap to be drawn', async () => ((await paintedPixels(frame, heat).catch(() => 0)) > 0 ? true : undefined), 30_000).catch(() => false));
      if (!drawn) ctx.problem(`trace panel: ${heat} is missing or blank`);
      const info = (await frame.locator('[data-testid="features-info"]').first().innerText().catch(() => '')) ?? '';
      if (!info.includes('L1 resid_pre')) ctx.problem(`trace panel: features-info does not name the hook: ${JSON.stringify(info.slice(0, 200))}`);
      if (!info.includes('as it is')) ctx.problem(`trace panel: features-info does not say which input the SAE read: ${JSON.stringify(info.slice(0, 200))}`);
      // Splicing the demo SAE in: the line names the hook and gives a finite KL and the top-1 with the SAE.
      const splice = await waitFor('the splice line', async () => {
        const t = (await frame.locator('[data-testid="features-splice"]').first().innerText().catch(() => '')) ?? '';
        return t.includes('SAE spliced in') ? t : undefined;
      }, 30_000).catch(() => '');
      if (!/blocks\.1\.hook_resid_pre .*KL\(unedited ‖ spliced\) \d+\.\d{4} nats; p\(.+\) .+ → .+; top-1 with the SAE: /.test(splice)) ctx.problem(`trace panel: no splice line: ${JSON.stringify(splice.slice(0, 200))}`);
      await ctx.wb.screenshot('12a-features-heatmap');
      if (drawn) {
        const canvas = frame.locator(heat).first();
        await canvas.scrollIntoViewIfNeeded();
        const box = await canvas.boundingBox();
        if (box) await canvas.click({ position: { x: box.width * 0.6, y: box.height * 0.9 } }); // a cell: the column labels take the top band
        const card = await waitFor('the feature card', async () => ((await frame.locator('[data-testid="feature-promoted"] li').count()) > 0 ? true : undefined), 30_000).catch(() => false);
        if (!card) ctx.problem('clicking the feature heatmap showed no feature card with promoted tokens');
        await ctx.wb.screenshot('12b-feature-card');
      }
      await ctx.wb.goToLine(sentence.line);
      const hover = await ctx.wb.hoverText('The Eiffel Tower', 'Paris', 'Top features', 30_000).catch(() => undefined);
      if (!hover) ctx.problem('hover on " Paris" has no "Top features"');
      else {
        await ctx.wb.screenshot('12c-hover-features');
        if (!hover.text.includes('token is')) ctx.problem(`hover "Top features" has no planted label (token is " Paris"): ${hover.text.slice(0, 400)}`);
      }
    },
  },
];
