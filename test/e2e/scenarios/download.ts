/** Downloading a model from a hub-shaped server on 127.0.0.1: progress, cancel, resume. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { waitFor } from '../workbench';
import { DOWNLOAD_TITLE, type Scenario } from '../scenarioKit';

export const downloadScenarios: readonly Scenario[] = [
  {
    id: 8,
    name: 'download flow against a local hub: progress, cancel, resume',
    skip: (ctx) => ctx.hubSkipReason,
    async run(ctx) {
      const hub = ctx.hub;
      if (hub === undefined) throw new Error(ctx.hubError ?? 'no local hub fixture');
      const { entry, server, weights } = hub;
      const page = ctx.wb.page;
      const pickModel = async (): Promise<void> => {
        await ctx.wb.runCommand(DOWNLOAD_TITLE);
        const input = page.locator('.quick-input-widget input');
        await input.waitFor({ state: 'visible', timeout: 15_000 });
        await input.fill(entry.name);
        await page.locator('.quick-input-list .monaco-list-row', { hasText: entry.displayName }).first().waitFor({ timeout: 15_000 });
        await page.keyboard.press('Enter');
      };
      await ctx.wb.clearNotifications();
      await pickModel();
      const toast = page.locator('.notifications-toasts .notification-toast', { hasText: `Downloading ${entry.displayName}` }).first();
      await toast.waitFor({ timeout: 30_000 });
      // The weights' first response stalls after hub.stallAfter bytes: progress must show it.
      const shown = await waitFor('download progress on model.safetensors', async () => {
        const text = await toast.innerText().catch(() => '');
        return /model\.safetensors: [\d.]+ \/ [\d.]+ MB/.test(text) && !/: 0\.0 \//.test(text) ? text : undefined;
      }, 30_000).catch(() => undefined);
      await ctx.wb.screenshot('08a-download-progress');
      if (shown === undefined) ctx.problem(`download: the progress notification never showed "model.safetensors: x / y MB" with x > 0 (shows "${(await toast.innerText().catch(() => '')).replace(/\s+/g, ' ')}")`);
      const cancel = toast.locator('.monaco-button', { hasText: 'Cancel' }).first();
      if ((await cancel.count()) === 0) throw new Error('download: the progress notification has no Cancel button');
      await cancel.click();
      const cancelled = await ctx.wb.waitForNotification(/cancelled/i, 20_000).catch(() => undefined);
      await ctx.wb.screenshot('08b-download-cancelled');
      if (cancelled === undefined) ctx.problem('download: no message after Cancel');
      const folder = path.join(ctx.modelCacheDir, entry.name);
      if (fs.existsSync(path.join(folder, 'model.safetensors'))) ctx.problem('download: model.safetensors exists under its final name after Cancel');
      const servedBeforeResume = server.bytesServed('model.safetensors');
      await ctx.wb.clearNotifications();
      await pickModel();
      const ready = await ctx.wb.waitForNotification(/is ready in/, 120_000).catch(() => undefined);
      await ctx.wb.screenshot('08c-download-resumed');
      if (ready === undefined) throw new Error('download: no "… is ready in …" message after resuming');
      const ranged = server.requests.filter((r) => r.path.includes('model.safetensors') && r.range !== undefined && r.range !== 'bytes=0-');
      if (ranged.length === 0) ctx.problem(`download: the second download did not resume (no Range request for model.safetensors; requests: ${server.requests.map((r) => `${r.status} ${r.range ?? ''}`).join(', ')})`);
      const served = server.bytesServed('model.safetensors');
      if (served - servedBeforeResume >= weights.length) ctx.problem(`download: resuming fetched ${served - servedBeforeResume} bytes of a ${weights.length}-byte file (expected only the rest)`);
      const onDisk = fs.existsSync(path.join(folder, 'model.safetensors')) ? fs.readFileSync(path.join(folder, 'model.safetensors')) : undefined;
      if (onDisk === undefined || !onDisk.equals(weights)) ctx.problem(`download: ${path.join(folder, 'model.safetensors')} is missing or differs from what the hub served`);
      ctx.figures.set('download: bytes served for a resumed 1.6 MB file', `${served} (${servedBeforeResume} before cancel)`);
    },
  },
];
