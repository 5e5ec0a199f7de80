/**
 * The page's side of the host channel: typed posts (version stamped), validated host messages,
 * and the state VS Code keeps for a hidden or restored page.
 */
import { isHostMessage, WEBVIEW_PROTOCOL_VERSION, type HostToWebview, type WebviewToHost } from '../src/protocol/webview';

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

// acquireVsCodeApi may be called only once per page.
const vscode = acquireVsCodeApi();

type Unversioned<T> = T extends unknown ? Omit<T, 'v'> : never;
export type PageMessage = Unversioned<WebviewToHost>;

export function post(msg: PageMessage): void {
  vscode.postMessage({ ...msg, v: WEBVIEW_PROTOCOL_VERSION });
}

export function onHostMessage(handler: (msg: HostToWebview) => void): void {
  window.addEventListener('message', (event: MessageEvent<unknown>) => {
    if (!isHostMessage(event.data)) return;
    try {
      handler(event.data);
    } catch (err) {
      post({ type: 'log', message: `failed to handle ${event.data.type}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}` });
    }
  });
}

export function getState(): unknown {
  return vscode.getState();
}

export function setState(state: unknown): void {
  vscode.setState(state);
}
