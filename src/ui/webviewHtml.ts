/**
 * Webview options and HTML for every panel and view: resources only from dist/ and media/
 * through asWebviewUri; the document itself (CSP, nonce) is built by webviewDocument.ts.
 */
import * as vscode from 'vscode';
import type { WebviewKind } from '../protocol/webview';
import { makeNonce, webviewDocument } from './webviewDocument';

/** Webview options for every panel and view: scripts on, local resources limited. */
export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions {
  return {
    enableScripts: true,
    localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist'), vscode.Uri.joinPath(extensionUri, 'media')],
  };
}

export function webviewHtml(webview: vscode.Webview, extensionUri: vscode.Uri, view: WebviewKind, title: string): string {
  const script = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'webview.js'));
  return webviewDocument({ cspSource: webview.cspSource, scriptUri: script.toString(), nonce: makeNonce(), view, title });
}
