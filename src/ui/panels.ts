/**
 * The webview containers: the trace panel and the circuits panel (singleton WebviewPanels that a
 * serializer can bring back after a reload) and the side view (a WebviewView). Each one only
 * wires its webview to a `ViewSource`: what to replay when the page (re)loads, and who handles
 * what the page sends.
 */
import * as vscode from 'vscode';
import type { WebviewKind } from '../protocol/webview';
import { PageStartWatchdog } from './pageStart';
import { WebviewChannel, type HostMessage, type PageMessage } from './webviewChannel';
import { webviewHtml, webviewOptions } from './webviewHtml';

export interface ViewSource {
  /** Everything the page must show, re-posted after each 'ready'. */
  replay(view: WebviewKind): HostMessage[];
  handle(msg: PageMessage, view: WebviewKind): void;
  log(line: string): void;
  /** A problem the user must see (a notification). */
  warn(line: string): void;
}

/** Something the controllers can post to. */
export interface ViewSink {
  post(msg: HostMessage): void;
}

/**
 * One webview's page: its HTML, its message channel, and a watchdog that loads the page again if
 * it never says 'ready' (pageStart.ts).
 */
class PageConnection implements vscode.Disposable {
  readonly channel: WebviewChannel;
  private readonly watchdog: PageStartWatchdog;

  constructor(webview: vscode.Webview, extensionUri: vscode.Uri, kind: WebviewKind, title: string, source: ViewSource, visible: () => boolean) {
    webview.options = webviewOptions(extensionUri);
    const load = (): void => {
      webview.html = webviewHtml(webview, extensionUri, kind, title);
    };
    this.watchdog = new PageStartWatchdog({
      reload: () => {
        this.channel.reset();
        load();
      },
      visible,
      log: (line) => source.log(line),
      warn: (line) => source.warn(line),
      name: title,
    });
    this.channel = new WebviewChannel(webview, {
      onReady: () => {
        this.watchdog.ready();
        for (const m of source.replay(kind)) this.channel.post(m);
      },
      onMessage: (m) => source.handle(m, kind),
      log: (line) => source.log(line),
    });
    load();
    this.watchdog.arm();
  }

  /** A hidden webview is destroyed (posts wait for its next 'ready'); a shown one starts again. */
  visibilityChanged(visible: boolean): void {
    if (!visible) this.channel.reset();
    else if (!this.channel.isReady) this.watchdog.arm();
  }

  post(msg: HostMessage): void {
    this.channel.post(msg);
  }

  dispose(): void {
    this.watchdog.dispose();
    this.channel.dispose();
  }
}

/** A singleton editor-area panel (trace or circuits). */
export class Panel implements ViewSink, vscode.Disposable {
  private readonly page: PageConnection;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly disposed = new vscode.EventEmitter<void>();
  readonly onDidDispose = this.disposed.event;

  constructor(
    readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    kind: WebviewKind,
    source: ViewSource,
  ) {
    this.page = new PageConnection(panel.webview, extensionUri, kind, panel.title, source, () => panel.visible);
    this.disposables.push(
      this.page,
      // A hidden webview is destroyed; it says 'ready' again when shown and gets a replay.
      panel.onDidChangeViewState(() => this.page.visibilityChanged(panel.visible)),
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
    this.page.post(msg);
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
  private page: PageConnection | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly source: ViewSource,
  ) {}

  resolveWebviewView(view: vscode.WebviewView): void {
    this.page?.dispose();
    const page = new PageConnection(view.webview, this.extensionUri, 'side', 'Residual Lens: Heatmaps', this.source, () => view.visible);
    this.page = page;
    this.disposables.push(
      page,
      view.onDidChangeVisibility(() => page.visibilityChanged(view.visible)),
      view.onDidDispose(() => {
        page.dispose();
        if (this.page === page) this.page = undefined;
      }),
    );
  }

  post(msg: HostMessage): void {
    this.page?.post(msg);
  }

  dispose(): void {
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}
