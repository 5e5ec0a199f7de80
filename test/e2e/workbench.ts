/**
 * Drives VS Code's workbench in Chromium the way a person does: the explorer, the keyboard, the
 * command palette, the editor's context menu and hover, and the webviews (found by what they show).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SHOW_TEXT, type DomDocument, type DomText } from './browserTypes';
import { chromium, type BrowserContext, type Frame, type Locator, type Page } from 'playwright-core';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Headless Chromium with its profile in profileDir and HOME beside it (it writes ~/.config, ~/.cache). */
export async function launchBrowser(executablePath: string, profileDir: string): Promise<BrowserContext> {
  const home = `${profileDir}-home`;
  fs.mkdirSync(profileDir, { recursive: true });
  fs.mkdirSync(home, { recursive: true });
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  Object.assign(env, { HOME: home, XDG_CONFIG_HOME: path.join(home, '.config'), XDG_CACHE_HOME: path.join(home, '.cache') });
  return chromium.launchPersistentContext(profileDir, {
    executablePath,
    env,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1600, height: 1000 },
    timeout: 60_000,
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns a value (not undefined) or the time is up. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err: unknown) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message.split('\n')[0]})` : '';
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${why}`);
    }
    await sleep(intervalMs);
  }
}

export class Workbench {
  constructor(
    readonly page: Page,
    readonly url: string,
    readonly workspace: string,
    private readonly screenshotDir: string,
  ) {}

  async open(): Promise<void> {
    await this.page.goto(`${this.url}/?folder=${encodeURIComponent(this.workspace)}`, { timeout: 60_000 });
    await this.waitReady();
  }

  async waitReady(): Promise<void> {
    await this.page.locator('.monaco-workbench .part.editor').first().waitFor({ timeout: 60_000 });
  }

  async screenshot(name: string): Promise<string> {
    fs.mkdirSync(this.screenshotDir, { recursive: true });
    const file = path.join(this.screenshotDir, `${name}.png`);
    await this.page.screenshot({ path: file }).catch(() => undefined);
    return file;
  }

  /**
   * Shows a workspace file in a text editor and focuses it: its tab when it is already open (so a
   * webview panel beside it stays visible), else Quick Open from the group of a visible text editor.
   */
  async openFile(relativePath: string): Promise<void> {
    const base = path.basename(relativePath);
    const tab = this.page.locator('.tabs-container .tab', { hasText: base }).first();
    if ((await tab.count()) > 0) {
      await tab.click();
    } else {
      const editor = this.visibleEditorLines();
      if ((await editor.count()) > 0) await editor.click({ position: { x: 10, y: 5 }, force: true });
      await this.quickInput(relativePath, () => undefined);
      await this.page.locator('.quick-input-list .monaco-list-row', { hasText: base }).first().waitFor({ timeout: 15_000 });
      await this.page.keyboard.press('Enter');
      await tab.waitFor({ timeout: 15_000 });
    }
    await this.focusEditor();
  }

  /** The visible text area of a text editor (not .view-lines: it is wider than the view when scrolled). */
  private visibleEditorLines(): Locator {
    return this.page.locator('.editor-group-container .monaco-editor .editor-scrollable:visible').first();
  }

  /** Focuses the visible text editor (webview panels open beside it); clicking also moves the cursor. */
  async focusEditor(): Promise<void> {
    await this.visibleEditorLines().click({ position: { x: 10, y: 5 }, timeout: 15_000, force: true });
  }

  /** Opens the quick input (F1), replacing its text; `afterOpen` may type. */
  private async quickInput(text: string, afterOpen: () => Promise<void> | void): Promise<void> {
    await this.page.keyboard.press('F1');
    const input = this.page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible', timeout: 15_000 });
    await input.fill(text);
    await afterOpen();
  }

  /** Moves the cursor to the start of a 1-based line. */
  async goToLine(line: number): Promise<void> {
    await this.focusEditor();
    await this.quickInput(`:${line}`, () => undefined);
    await sleep(200);
    await this.page.keyboard.press('Enter');
    await this.page.keyboard.press('Home');
    await this.page.keyboard.press('Home'); // twice: the first may stop at the first non-blank
  }

  /** Selects the whole text of a 1-based line (no line break). */
  async selectLine(line: number): Promise<void> {
    await this.goToLine(line);
    await this.page.keyboard.press('Shift+End');
  }

  async selectAll(): Promise<void> {
    await this.focusEditor();
    await this.page.keyboard.press('Control+A');
  }

  /** Runs a command by its palette title, e.g. "Residual Lens: Trace Residual Stream". */
  async runCommand(title: string): Promise<void> {
    await this.quickInput(`>${title}`, () => undefined);
    const row = this.page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
    await row.waitFor({ timeout: 15_000 });
    await row.click();
    await this.page.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: 5_000 }).catch(() => undefined);
  }

  /** Whether the palette lists a command with this exact title. */
  async hasCommand(title: string): Promise<boolean> {
    await this.quickInput(`>${title}`, () => undefined);
    const found = await this.page
      .locator('.quick-input-list .monaco-list-row', { hasText: title })
      .first()
      .waitFor({ timeout: 10_000 })
      .then(() => true)
      .catch(() => false);
    await this.page.keyboard.press('Escape');
    return found;
  }

  /** Right-clicks inside the current selection (just before the cursor) and picks the menu item whose label contains `label`. */
  async contextMenuCommand(label: string): Promise<void> {
    const editor = this.page.locator('.editor-group-container.active .monaco-editor');
    const cursor = await editor.locator('.cursor').first().boundingBox();
    if (cursor === null) throw new Error('no cursor in the active editor to right-click at');
    // A keyboard selection ends at the cursor; a few pixels to its left is inside the selection.
    await this.page.mouse.click(cursor.x - 4, cursor.y + cursor.height / 2, { button: 'right' });
    // The workbench menu lives in a shadow root; Playwright's CSS engine pierces open shadow roots.
    const item = this.page.locator('.monaco-menu .action-item', { hasText: label }).first();
    await item.waitFor({ timeout: 10_000 });
    // A click right after the menu opens can be swallowed (the menu guards against the opening
    // right-click's release); hovering focuses the item and Enter runs it, as a keyboard user does.
    await item.hover();
    await this.page.keyboard.press('Enter');
    await item.waitFor({ state: 'hidden', timeout: 5_000 }).catch(() => undefined);
  }

  /**
   * Screen point at the middle of `word` on the editor line whose text contains `lineText`,
   * measured with a DOM Range over the rendered text.
   */
  async wordPoint(lineText: string, word: string): Promise<{ x: number; y: number }> {
    const point = await this.page.evaluate(
      ({ lineText, word, showText }) => {
        const document = (globalThis as unknown as { document: DomDocument }).document;
        const lines = Array.from(document.querySelectorAll('.editor-group-container.active .monaco-editor .view-line'));
        const line = lines.find((l) => (l.textContent ?? '').replace(/\u00a0/g, ' ').includes(lineText));
        if (!line) return null;
        const walker = document.createTreeWalker(line, showText);
        const nodes: DomText[] = [];
        for (let n = walker.nextNode(); n; n = walker.nextNode()) nodes.push(n);
        const full = nodes.map((n) => (n.textContent ?? '').replace(/\u00a0/g, ' ')).join('');
        const at = full.indexOf(word);
        if (at < 0) return null;
        let offset = at + Math.floor(word.length / 2);
        for (const node of nodes) {
          const len = (node.textContent ?? '').length;
          if (offset < len) {
            const range = document.createRange();
            range.setStart(node, offset);
            range.setEnd(node, offset + 1);
            const r = range.getBoundingClientRect();
            return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
          }
          offset -= len;
        }
        return null;
      },
      { lineText, word, showText: SHOW_TEXT },
    );
    if (point === null) throw new Error(`"${word}" not found on a visible editor line containing "${lineText}"`);
    const view = await this.page.locator('.editor-group-container.active .monaco-editor .editor-scrollable').first().boundingBox();
    if (view !== null && (point.x < view.x || point.x > view.x + view.width || point.y < view.y || point.y > view.y + view.height)) {
      throw new Error(`"${word}" is scrolled out of the editor's view (at ${point.x.toFixed(0)},${point.y.toFixed(0)})`);
    }
    return point;
  }

  /** Hovers a word and returns the hover widget's text (waits for it to contain `expect`). */
  async hoverText(lineText: string, word: string, expect: string, timeoutMs = 20_000): Promise<{ text: string; strong: string[] }> {
    const p = await this.wordPoint(lineText, word);
    await this.page.mouse.move(p.x - 30, p.y + 60);
    await this.page.mouse.move(p.x, p.y, { steps: 5 });
    const hover = this.page.locator('.monaco-hover:not(.hidden)').first();
    return waitFor(
      `a hover containing "${expect}"`,
      async () => {
        if ((await hover.count()) === 0) {
          await this.page.mouse.move(p.x + 1, p.y, { steps: 2 });
          return undefined;
        }
        const text = await hover.innerText();
        if (!text.includes(expect)) return undefined;
        const strong = await hover.locator('strong, b').allInnerTexts();
        return { text, strong };
      },
      timeoutMs,
      500,
    );
  }

  /** The first frame (at any depth: webviews nest two iframes) that has an element matching selector. */
  async frameWith(selector: string, timeoutMs = 60_000): Promise<Frame> {
    return waitFor(
      `a webview showing ${selector}`,
      async () => {
        for (const frame of this.page.frames()) {
          if (frame.isDetached()) continue;
          const n = await frame.locator(selector).count().catch(() => 0);
          if (n > 0) return frame;
        }
        return undefined;
      },
      timeoutMs,
      250,
    );
  }

  /** Text of every visible notification toast, joined by newlines. */
  async notificationsText(): Promise<string> {
    const toasts = this.page.locator('.notifications-toasts .notification-list-item-message');
    return (await toasts.allInnerTexts()).join('\n');
  }

  async waitForNotification(pattern: RegExp, timeoutMs = 30_000): Promise<string> {
    return waitFor(
      `a notification matching ${pattern}`,
      async () => {
        const text = await this.notificationsText();
        const line = text.split('\n').find((l) => pattern.test(l));
        return line;
      },
      timeoutMs,
      250,
    );
  }

  async clearNotifications(): Promise<void> {
    await this.runCommand('Notifications: Clear All Notifications').catch(() => undefined);
  }

  /**
   * Developer: Reload Window, as a person does. (A bare browser reload can drop the workbench state
   * saved on shutdown, which is what restores editors and webview panels.)
   */
  async reload(): Promise<void> {
    const loaded = this.page.waitForEvent('load', { timeout: 60_000 });
    await this.runCommand('Developer: Reload Window');
    await loaded;
    await this.waitReady();
  }
}
