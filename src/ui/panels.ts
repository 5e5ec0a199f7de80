/**
 * The webview containers: the trace panel and the circuits panel (singleton WebviewPanels that a
 * serializer can bring back after a reload) and the side view (a WebviewView). Each one only
 * wires its webview to a `ViewSource`: what to replay when the page (re)loads, and who handles
 * what the page sends.
 */
import * as vscode from 'vscode';
import type { WebviewKind } from '../protocol/webview';
import { WebviewChannel, type HostMessage, type PageMessage } from './webviewChannel';
import { webviewHtml, webviewOptions } from './webviewHtml';

export interface ViewSource {
  /** Everything the page must show, re-posted after each 'ready'. */
  replay(view: WebviewKind): HostMessage[];
  handle(msg: PageMessage, view: WebviewKind): void;
  log(line: string): void;
}

/** Something the controllers can post to. */
export interface ViewSink {
  post(msg: HostMessage): void;
}

function connect(webview: vscode.Webview, extensionUri: vscode.Uri, kind: WebviewKind, title: string, source: ViewSource): WebviewChannel {
  webview.options = webviewOptions(extensionUri);
  const channel: WebviewChannel = new WebviewChannel(webview, {
    onReady: () => {
      for (const m of source.replay(kind)) channel.post(m);
    },
    onMessage: (m) => source.handle(m, kind),
    log: (line) => source.log(line),
  });
  webview.html = webviewHtml(webview, extensionUri, kind, title);
  return channel;
}

/** A singleton editor-area panel (trace or circuits). */
export class Panel implements ViewSink, vscode.Disposable {
  private readonly channel: WebviewChannel;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly disposed = new vscode.EventEmitter<void>();
  readonly onDidDispose = this.disposed.event;

  constructor(
    readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    kind: WebviewKind,
    source: ViewSource,
  ) {
    this.channel = connect(panel.webview, extensionUri, kind, panel.title, source);
    this.disposables.push(
      this.channel,
      // A hidden webview is destroyed; it says 'ready' again when shown and gets a replay.
      panel.onDidChangeViewState(() => {
        if (!panel.visible) this.channel.reset();
      }),
      panel.onDidDispose(() => this.dispose()),
    );
  }

  static create(viewType: string, title: string, kind: WebviewKind, extensionUri: vscode.Uri, source: ViewSource): Panel {
    const panel = vscode.window.createWebviewPanel(viewType, title, { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, webviewOptions(extensionUri));
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'icon.png');
    return new Panel(panel, extensionUri, kind, source);
  }

  /** Brings the panel forward without taking focus; a visible panel is left alone (each reveal re-lays out the workbench). */
  reveal(): void {
    if (!this.panel.visible) this.panel.reveal(undefined, true);
  }

  post(msg: HostMessage): void {
    this.channel.post(msg);
  }

  private isDisposed = false;

  dispose(): void {
    if (this.isDisposed) return;
    this.isDisposed = true;
    for (const d of this.disposables.splice(0)) d.dispose();
    this.disposed.fire();
    this.disposed.dispose();
    this.panel.dispose();
  }
}

/** The activity-bar side view of heatmaps. */
export class SideView implements vscode.WebviewViewProvider, ViewSink, vscode.Disposable {
  static readonly viewId = 'residualLens.heatmaps';
  private channel: WebviewChannel | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly source: ViewSource,
  ) {}

  resolveWebviewView(view: vscode.WebviewView): void {
    this.channel?.dispose();
    const channel = connect(view.webview, this.extensionUri, 'side', 'Residual Lens: Heatmaps', this.source);
    this.channel = channel;
    this.disposables.push(
      channel,
      view.onDidChangeVisibility(() => {
        if (!view.visible) channel.reset();
      }),
      view.onDidDispose(() => {
        channel.dispose();
        if (this.channel === channel) this.channel = undefined;
      }),
    );
  }

  post(msg: HostMessage): void {
    this.channel?.post(msg);
  }

  dispose(): void {
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}
