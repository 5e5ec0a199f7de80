/**
 * The HTML document every webview loads, as a pure function (no vscode import, unit-tested): a
 * strict CSP (default-src 'none', the one bundle by nonce, nothing inline, nothing remote), one
 * script element, no inline handlers.
 */
import { randomBytes } from 'node:crypto';
import type { WebviewKind } from '../protocol/webview';

/** 128 random bits, base64 (never Math.random). */
export function makeNonce(): string {
  return randomBytes(16).toString('base64');
}

/** `cspSource` is the webview's own origin (webview.cspSource): local files under localResourceRoots. */
export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    // Our CSS and the components' styles are constructable stylesheets; the nonce covers a <style> fallback.
    `style-src ${cspSource} 'nonce-${nonce}'`,
    `font-src ${cspSource}`,
    `img-src ${cspSource} data:`,
  ].join('; ');
}

/** Escapes text for an element or a double-quoted attribute. */
const escapeHtml = (text: string): string => text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

export interface WebviewDocumentInput {
  readonly cspSource: string;
  /** webview.asWebviewUri of dist/webview.js, as a string. */
  readonly scriptUri: string;
  readonly nonce: string;
  readonly view: WebviewKind;
  readonly title: string;
}

export function webviewDocument(d: WebviewDocumentInput): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(contentSecurityPolicy(d.cspSource, d.nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>${escapeHtml(d.title)}</title>
</head>
<body data-view="${escapeHtml(d.view)}">
<main id="app" aria-live="polite"></main>
<script nonce="${escapeHtml(d.nonce)}" src="${escapeHtml(d.scriptUri)}"></script>
</body>
</html>`;
}
