/**
 * One webview's message channel: waits for the page's 'ready' before posting (earlier messages
 * would be lost), validates everything the page sends, and logs what it refuses.
 * A hidden webview is torn down (no retainContextWhenHidden); when it comes back it sends
 * 'ready' again and `onReady` re-posts the current state.
 */
import * as vscode from 'vscode';
import { parseWebviewMessage, WEBVIEW_PROTOCOL_VERSION, type HostToWebview, type WebviewToHost } from '../protocol/webview';

type Unversioned<T> = T extends unknown ? Omit<T, 'v'> : never;
export type HostMessage = Unversioned<HostToWebview>;
export type PageMessage = Exclude<WebviewToHost, { type: 'ready' }>;

export class WebviewChannel implements vscode.Disposable {
  private ready = false;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly webview: vscode.Webview,
    private readonly handlers: {
      readonly onReady: () => void;
      readonly onMessage: (msg: PageMessage) => void;
      readonly log: (line: string) => void;
    },
  ) {
    this.disposables.push(webview.onDidReceiveMessage((raw: unknown) => this.receive(raw)));
  }

  /** Marks the page as reloading (its HTML was (re)set): posts wait for the next 'ready'. */
  reset(): void {
    this.ready = false;
  }

  get isReady(): boolean {
    return this.ready;
  }

  /** Posts when the page is ready; otherwise drops the message (onReady re-sends state). */
  post(msg: HostMessage): void {
    if (!this.ready) return;
    void this.webview.postMessage({ ...msg, v: WEBVIEW_PROTOCOL_VERSION });
  }

  private receive(raw: unknown): void {
    const parsed = parseWebviewMessage(raw);
    if (!parsed.ok) {
      this.handlers.log(`Ignored a webview message: ${parsed.error}`);
      return;
    }
    const msg = parsed.value;
    if (msg.type === 'ready') {
      this.ready = true;
      this.handlers.onReady();
      return;
    }
    this.handlers.onMessage(msg);
  }

  dispose(): void {
    // A disposed webview throws on postMessage: posts after this are dropped.
    this.ready = false;
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}
