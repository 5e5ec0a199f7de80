/**
 * The execution provider from the settings, in the real VS Code: changing it while the engine runs
 * offers to restart the engine; after the restart the status bar names the provider and the trace
 * on show is traced again on it. CI has Mesa's lavapipe (a software Vulkan device), so `webgpu`
 * runs on WebGPU there; without an adapter the engine falls back to the CPU and the status bar
 * says so, which this scenario then checks instead.
 */
import { waitFor } from '../workbench';
import { chipIds, sameIds, sleep, traceSentence, type Scenario } from '../scenarioKit';
import { hasGpuDevice, webGpuAvailability } from '../../../src/engine/executionProvider';

const RESTART_OFFER = /applies once the engine restarts/;

export const executionProviderScenarios: readonly Scenario[] = [
  {
    id: 22,
    name: 'execution provider from the settings: restart offered, status bar names it, the trace comes back',
    async run(ctx) {
      // The same probe the engine runs, in this process: whether `webgpu` can run on WebGPU here.
      const gpu = await webGpuAvailability();
      const { frame } = await traceSentence(ctx, 'The Eiffel Tower', 'palette');
      const traceIdShown = async (): Promise<string | undefined> => (await frame.locator('body').getAttribute('data-trace-id', { timeout: 1000 }).catch(() => null)) || undefined;
      const before = await chipIds(frame);
      const engineItem = ctx.wb.page.locator('.statusbar-item', { hasText: /· ready ·/ }).first();
      const statusText = async (): Promise<string> => (await engineItem.innerText({ timeout: 1000 }).catch(() => '')).replace(/\s+/g, ' ');
      if (!/· CPU/.test(await statusText())) ctx.problem(`before the change the status bar reads "${await statusText()}", expected "… · CPU"`);
      // Each change: the offer, its Restart Engine button, then the status bar and the panel.
      for (const provider of ['webgpu', 'cpu'] as const) {
        await ctx.wb.clearNotifications();
        const shownBefore = await traceIdShown();
        const statusBefore = await statusText();
        const t0 = Date.now();
        ctx.setWorkspaceSettings({ 'residualLens.executionProvider': provider });
        const toast = ctx.wb.page.locator('.notifications-toasts .notification-toast', { hasText: RESTART_OFFER }).first();
        const offered = await toast.waitFor({ timeout: 30_000 }).then(() => true).catch(() => false);
        if (!offered) {
          ctx.problem(`executionProvider ${provider}: no "… applies once the engine restarts" notification within 30 s of the settings change`);
          continue;
        }
        await toast.locator('.monaco-button', { hasText: 'Restart Engine' }).first().click();
        // The restart first shows the model as not loaded, then ready again on the new provider.
        const left = await waitFor('the status bar to leave its state before the restart', async () => ((await statusText()) !== statusBefore ? true : undefined), 30_000, 50).catch(() => false);
        if (!left) ctx.problem(`executionProvider ${provider}: the status bar still reads "${statusBefore}" 30 s after Restart Engine`);
        const shown = await waitFor(`the status bar to read "· ready · …" after the restart (${provider})`, async () => {
          const text = await statusText();
          return /· ready · (WebGPU|CPU)/.test(text) ? text : undefined;
        }, 120_000, 250).catch(() => undefined);
        await sleep(500);
        await ctx.wb.screenshot(`22-execution-provider-${provider}`);
        ctx.figures.set(`execution provider ${provider}: restart → status bar ready`, `${((Date.now() - t0) / 1000).toFixed(1)} s (${shown ?? 'never'})`);
        if (shown === undefined) {
          ctx.problem(`executionProvider ${provider}: the status bar never read "· ready · WebGPU|CPU" after the restart (reads "${await statusText()}")`);
          continue;
        }
        // webgpu: WebGPU where the machine has an adapter (CI: lavapipe), else the CPU with a line saying why.
        const expected = provider === 'cpu' || !gpu.available ? /· CPU/ : /· WebGPU/;
        if (!expected.test(shown)) ctx.problem(`executionProvider ${provider}: the status bar reads "${shown}" (WebGPU adapter here: ${gpu.available ? 'yes' : `no, ${gpu.reason ?? ''}`})`);
        ctx.figures.set(`execution provider ${provider}: runs on`, shown.includes('WebGPU') ? 'WebGPU' : 'CPU');
        // WebGPU without a GPU device node (CI: lavapipe) runs on a software device: the user is warned.
        if (shown.includes('WebGPU') && !hasGpuDevice()) {
          const warned = await ctx.wb.waitForNotification(/software Vulkan device/, 15_000).catch(() => undefined);
          if (warned === undefined) ctx.problem('webgpu on a software device: no warning notification saying so');
        }
        // The panel's trace was traced again on the new engine: another trace id, the same tokens.
        const traced = await waitFor('the panel to show a trace of the new engine', async () => {
          const id = await traceIdShown();
          return id !== undefined && id !== shownBefore ? id : undefined;
        }, 60_000, 250).catch(() => undefined);
        if (traced === undefined) ctx.problem(`executionProvider ${provider}: the panel's ${before.length}-token trace was not traced again after the restart`);
        const ids = await chipIds(frame).catch(() => []);
        if (!sameIds(ids, before)) ctx.problem(`executionProvider ${provider}: after the restart the panel shows ${ids.length} chips, expected the sentence's ${before.length}`);
      }
      ctx.resetWorkspaceSettings();
      await sleep(1500);
      await ctx.wb.clearNotifications();
    },
  },
];
