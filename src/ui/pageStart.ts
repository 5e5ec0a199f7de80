/**
 * Loads a webview page again when it never says 'ready'. In the browser workbench (code-server), a
 * page that starts while another webview of the window is (re)registering the webview service
 * worker can lose its script request: Chromium logs "Found unexpected service worker controller",
 * the script goes to the network instead (net::ERR_NAME_NOT_RESOLVED for vscode-cdn.net) and the
 * view stays blank for good. Seen after a window reload that brings the trace panel and the side
 * view back together. Setting the page's HTML again starts it afresh.
 */

export interface PageStartOptions {
  /** Sets the page's HTML again. */
  readonly reload: () => void;
  /** Whether the view is shown now (a hidden webview has no page: nothing to wait for). */
  readonly visible: () => boolean;
  readonly log: (line: string) => void;
  /** Says that the page could not be started (shown to the user: the view stays blank). */
  readonly warn: (line: string) => void;
  /** The view's name in the log line. */
  readonly name: string;
  readonly timeoutMs?: number;
  readonly maxReloads?: number;
}

/** How long a shown page may take to say 'ready' (a cold page on a busy 2-core machine: 1–3 s). */
export const PAGE_START_TIMEOUT_MS = 8000;
const MAX_RELOADS = 2;

export class PageStartWatchdog {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private reloads = 0;

  constructor(private readonly options: PageStartOptions) {}

  /** The page starts now (its HTML was set, or its view was shown): it must say 'ready' in time. */
  arm(): void {
    this.clear();
    this.timer = setTimeout(() => this.expire(), this.options.timeoutMs ?? PAGE_START_TIMEOUT_MS);
    this.timer.unref?.(); // never what keeps a process alive
  }

  /** The page said 'ready'. */
  ready(): void {
    this.clear();
    this.reloads = 0;
  }

  dispose(): void {
    this.clear();
  }

  private expire(): void {
    this.timer = undefined;
    if (!this.options.visible()) return; // it starts when shown, which arms again
    const max = this.options.maxReloads ?? MAX_RELOADS;
    const seconds = ((this.options.timeoutMs ?? PAGE_START_TIMEOUT_MS) / 1000).toFixed(0);
    if (this.reloads >= max) {
      this.options.warn(`The ${this.options.name} page has still not started after ${max} reloads; close and open it again.`);
      return;
    }
    this.reloads++;
    this.options.log(`The ${this.options.name} page did not start within ${seconds} s; loading it again (${this.reloads} of ${max}).`);
    this.options.reload();
    this.arm();
  }

  private clear(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
