/**
 * A minimal stand-in for the `vscode` module, enough to activate the extension in plain Node and
 * drive a command: importing this file makes `require('vscode')` return `vscode` below. Every
 * disposable it hands out (registrations, listeners, output channel, status item, panels) is
 * tracked in `live` until disposed, so a test can check deactivation leaves nothing behind.
 * Not a fake VS Code: only the calls Residual Lens makes, with the simplest behaviour.
 */
import Module from 'node:module';
import * as path from 'node:path';

type Listener<T> = (e: T) => unknown;

/** The output channel's lines go to stderr when RESIDUAL_LENS_STUB_LOG is set (for debugging a test). */
const debugLog = (line: string): void => {
  if (process.env.RESIDUAL_LENS_STUB_LOG) process.stderr.write(`[output] ${line}\n`);
};

/** Every disposable handed out and not yet disposed, by a label saying what it is. */
export const live = new Map<object, string>();

function track(label: string, dispose: () => void = () => undefined): { dispose(): void } {
  const d = {
    dispose: () => {
      if (!live.has(d)) return;
      live.delete(d);
      dispose();
    },
  };
  live.set(d, label);
  return d;
}

export class EventEmitter<T> {
  /** Listener → its subscription (disposing the emitter ends them all, as in VS Code). */
  private listeners = new Map<Listener<T>, { dispose(): void }>();
  private readonly self = track('EventEmitter');
  readonly event = (listener: Listener<T>): { dispose(): void } => {
    const subscription = track('listener', () => this.listeners.delete(listener));
    this.listeners.set(listener, subscription);
    return subscription;
  };
  fire(e: T): void {
    for (const l of [...this.listeners.keys()]) l(e);
  }
  dispose(): void {
    for (const subscription of [...this.listeners.values()]) subscription.dispose();
    this.self.dispose();
  }
}

export class Uri {
  private constructor(
    readonly fsPath: string,
    readonly scheme = 'file',
  ) {}
  static file(p: string): Uri {
    return new Uri(p);
  }
  static joinPath(base: Uri, ...parts: string[]): Uri {
    return new Uri(path.join(base.fsPath, ...parts), base.scheme);
  }
  /** file: URIs, and untitled: ones (a new editor's, e.g. untitled:Untitled-1). */
  static parse(s: string): Uri {
    if (s.startsWith('untitled:')) return new Uri(s.slice('untitled:'.length), 'untitled');
    return new Uri(s.startsWith('file://') ? s.slice('file://'.length) : s);
  }
  get path(): string {
    return this.fsPath;
  }
  toString(): string {
    return this.scheme === 'file' ? `file://${this.fsPath}` : `${this.scheme}:${this.fsPath}`;
  }
}

export class Position {
  constructor(
    readonly line: number,
    readonly character: number,
  ) {}
  compareTo(other: Position): number {
    return this.line - other.line || this.character - other.character;
  }
}

class Range {
  constructor(
    readonly start: Position,
    readonly end: Position,
  ) {}
  get isEmpty(): boolean {
    return this.start.line === this.end.line && this.start.character === this.end.character;
  }
}

export class Selection extends Range {
  get active(): Position {
    return this.end;
  }
}

/** A one-line text document (offsets = characters of line 0). */
export function textDocument(text: string, uri = Uri.file('/work/doc.txt')): unknown {
  return {
    uri,
    getText: (r?: Range) => (r ? text.slice(r.start.character, r.end.character) : text),
    offsetAt: (p: Position) => p.character,
    positionAt: (o: number) => new Position(0, o),
    lineAt: () => ({ range: new Range(new Position(0, 0), new Position(0, text.length)) }),
  };
}

/**
 * A one-line document whose text `edit` changes, firing workspace.onDidChangeTextDocument as VS
 * Code does (offsets of the text before the edit). Listed in workspace.textDocuments.
 */
export function editableDocument(initial: string, uri = Uri.file('/work/live.txt'), listed = true): { document: unknown; text(): string; edit(offset: number, length: number, inserted: string): void; open(): void } {
  let text = initial;
  const document = {
    uri,
    getText: (r?: Range) => (r ? text.slice(r.start.character, r.end.character) : text),
    offsetAt: (p: Position) => p.character,
    positionAt: (o: number) => new Position(0, Math.max(0, Math.min(o, text.length))),
    lineAt: () => ({ range: new Range(new Position(0, 0), new Position(0, text.length)) }),
  };
  // Not listed: a document VS Code has not opened yet (open() lists it and fires onDidOpenTextDocument).
  if (listed) state.textDocuments.push(document);
  return {
    document,
    open: () => {
      state.textDocuments.push(document);
      fireListeners('workspace.onDidOpenTextDocument', document);
    },
    text: () => text,
    edit: (offset, length, inserted) => {
      text = text.slice(0, offset) + inserted + text.slice(offset + length);
      fireListeners('workspace.onDidChangeTextDocument', { document, contentChanges: [{ rangeOffset: offset, rangeLength: length, text: inserted }] });
    },
  };
}

/** A text editor whose selection is all of `text`, or the given [start, end) character ranges (the first is the primary selection). */
export function textEditor(text: string, ranges: readonly (readonly [number, number])[] = [[0, text.length]]): unknown {
  const selections = ranges.map(([a, b]) => new Selection(new Position(0, a), new Position(0, b)));
  return { document: textDocument(text), selection: selections[0], selections };
}

export interface FakeWebview {
  readonly posted: { type: string; [key: string]: unknown }[];
  html: string;
  /** Sends a message from the page to the host. */
  send(msg: unknown): void;
  /** Called with each message the host posts, after it is recorded (a test plays the page). */
  onPost?: (msg: { type: string; [key: string]: unknown }) => void;
}

export const state = {
  /** User settings (globalValue). */
  settings: new Map<string, unknown>(),
  /** Workspace settings (workspaceValue). */
  workspaceSettings: new Map<string, unknown>(),
  isTrusted: true,
  activeTextEditor: undefined as unknown,
  commands: new Map<string, (...args: unknown[]) => unknown>(),
  messages: [] as string[],
  /** What showSaveDialog answers (undefined: the user cancelled), and the files the extension wrote through workspace.fs. */
  saveDialogAnswer: undefined as Uri | undefined,
  written: new Map<string, Uint8Array>(),
  webviews: [] as FakeWebview[],
  panels: [] as { dispose(): void; visible: boolean; fireViewState(): void }[],
  /** Every status bar item created, as the extension left it (text, tooltip, name). */
  statusBarItems: [] as { text?: string; tooltip?: { value: string }; name?: string }[],
  /** Answers of the next showInputBox calls (undefined = Escape); each is first run through validateInput, whose messages are kept. */
  inputBoxes: [] as (string | undefined)[],
  inputValidations: [] as string[],
  /** Index of the item the next showQuickPick calls pick (undefined = Escape); with none queued, `pickQuickPick` chooses (default: dismissed). */
  quickPicks: [] as (number | undefined)[],
  /** Items of every quick pick shown. */
  quickPickItems: [] as { label: string; description?: string; detail?: string }[][],
  clipboard: '',
  hoverProviders: [] as { provideHover(document: unknown, position: unknown): Promise<{ contents: { value: string } } | undefined> }[],
  pickQuickPick: (_items: { label: string }[]): { label: string } | undefined => undefined,
  /** vscode.window.state.focused (live lens pauses without focus). */
  windowFocused: true,
  /** The output channel's info lines. */
  outputLines: [] as string[],
  /** What the next messages' buttons answer, in order (a message with none queued is dismissed). */
  messageReplies: [] as (string | undefined)[],
  /** Open documents (vscode.workspace.textDocuments). */
  textDocuments: [] as unknown[],
  /** Every withProgress shown: its title, the messages reported, and `cancel()` (the notification's Cancel button). */
  progress: [] as { title?: string; messages: string[]; cancel(): void }[],
  /** Webview panel serializers by view type: a test restores a panel as a reloaded window does (restorePanel). */
  serializers: new Map<string, { deserializeWebviewPanel(panel: unknown, state: unknown): Promise<void> }>(),
  /** Listeners of workspace.onDidChangeTextDocument / window.onDidChangeWindowState: tests fire them with fireListeners. */
  listeners: new Map<string, Set<Listener<unknown>>>(),
};

/** Registers a listener under `name` (tracked, so deactivation must dispose it). */
function listen(name: string): (l: Listener<unknown>) => { dispose(): void } {
  return (l) => {
    const set = state.listeners.get(name) ?? new Set<Listener<unknown>>();
    state.listeners.set(name, set);
    set.add(l);
    return track(name, () => set.delete(l));
  };
}

/** Calls every listener registered under `name` (e.g. 'workspace.onDidChangeTextDocument') with `event`. */
export function fireListeners(name: string, event: unknown): void {
  for (const l of [...(state.listeners.get(name) ?? [])]) l(event);
}

function webview(): FakeWebview & Record<string, unknown> {
  const received = new Set<Listener<unknown>>();
  const w = {
    posted: [] as { type: string }[],
    html: '',
    options: {},
    cspSource: 'vscode-webview://stub',
    asWebviewUri: (u: Uri) => u,
    postMessage: async (m: { type: string }) => {
      w.posted.push(m);
      (w as FakeWebview).onPost?.(m);
      return true;
    },
    onDidReceiveMessage: (l: Listener<unknown>) => {
      received.add(l);
      return track('webview.onDidReceiveMessage', () => received.delete(l));
    },
    send: (msg: unknown) => {
      for (const l of [...received]) l(msg);
    },
  };
  state.webviews.push(w);
  return w;
}

/** As a reloaded window does: a new panel of `viewType` given to its serializer with the state its page saved. */
export async function restorePanel(viewType: string, title: string, saved: unknown): Promise<FakeWebview> {
  const serializer = state.serializers.get(viewType);
  if (!serializer) throw new Error(`no serializer for ${viewType}`);
  const panel = createWebviewPanel(viewType, title) as { webview: FakeWebview };
  await serializer.deserializeWebviewPanel(panel, saved);
  return panel.webview;
}

function createWebviewPanel(_viewType: string, title: string): unknown {
  const disposed = new EventEmitter<void>();
  const changed = new EventEmitter<void>();
  const handle = track('WebviewPanel');
  const panel = {
    title,
    visible: true,
    webview: webview(),
    iconPath: undefined as unknown,
    reveal: () => undefined,
    onDidDispose: disposed.event,
    onDidChangeViewState: changed.event,
    /** The panel was shown or hidden (set `visible` first). */
    fireViewState: () => changed.fire(),
    dispose: () => {
      if (!live.has(handle)) return;
      handle.dispose();
      disposed.fire();
      disposed.dispose();
      changed.dispose();
    },
  };
  state.panels.push(panel);
  return panel;
}

const configuration = {
  // As VS Code: a workspace value overrides the user's (the extension applies workspace trust itself).
  get: <T>(key: string, fallback?: T): T | undefined => (state.workspaceSettings.has(key) ? (state.workspaceSettings.get(key) as T) : state.settings.has(key) ? (state.settings.get(key) as T) : fallback),
  inspect: <T>(key: string) => ({ key, defaultValue: undefined, globalValue: state.settings.get(key) as T | undefined, workspaceValue: state.workspaceSettings.get(key) as T | undefined }),
  update: async (key: string, value: unknown) => {
    state.settings.set(key, value);
  },
};

const show = (kind: string) => async (message: string): Promise<string | undefined> => {
  state.messages.push(`${kind}: ${message}`);
  return state.messageReplies.shift();
};

export const vscode = {
  EventEmitter,
  Uri,
  Position,
  Range,
  Selection,
  MarkdownString: class {
    constructor(public value = '') {}
    appendText(t: string): this {
      this.value += t;
      return this;
    }
    appendMarkdown(t: string): this {
      this.value += t;
      return this;
    }
  },
  ThemeColor: class {
    constructor(readonly id: string) {}
  },
  Hover: class {
    constructor(
      readonly contents: unknown,
      readonly range?: Range,
    ) {}
  },
  ProgressLocation: { Notification: 15, Window: 10 },
  StatusBarAlignment: { Left: 1, Right: 2 },
  ViewColumn: { Beside: -2 },
  ConfigurationTarget: { Global: 1 },
  TextEditorRevealType: { InCenterIfOutsideViewport: 2 },
  window: {
    get activeTextEditor(): unknown {
      return state.activeTextEditor;
    },
    visibleTextEditors: [] as unknown[],
    createOutputChannel: () => ({
      ...track('OutputChannel'),
      info: (line: string) => (state.outputLines.push(line), debugLog(line)),
      warn: debugLog,
      error: debugLog,
      show: () => undefined,
    }),
    createStatusBarItem: () => {
      const item: { text?: string; tooltip?: { value: string }; name?: string; show(): void; hide(): void; dispose(): void } = { ...track('StatusBarItem'), show: () => undefined, hide: () => undefined };
      state.statusBarItems.push(item);
      return item;
    },
    createTextEditorDecorationType: () => track('TextEditorDecorationType'),
    onDidChangeVisibleTextEditors: () => track('window.onDidChangeVisibleTextEditors'),
    onDidChangeWindowState: listen('window.onDidChangeWindowState'),
    get state(): { focused: boolean } {
      return { focused: state.windowFocused };
    },
    registerWebviewViewProvider: () => track('registerWebviewViewProvider'),
    registerWebviewPanelSerializer: (viewType: string, serializer: { deserializeWebviewPanel(panel: unknown, state: unknown): Promise<void> }) => {
      state.serializers.set(viewType, serializer);
      return track('registerWebviewPanelSerializer', () => state.serializers.delete(viewType));
    },
    createWebviewPanel,
    showWarningMessage: show('warning'),
    showErrorMessage: show('error'),
    showInformationMessage: show('info'),
    showSaveDialog: async (): Promise<Uri | undefined> => state.saveDialogAnswer,
    showInputBox: async (options: { validateInput?: (value: string) => unknown }): Promise<string | undefined> => {
      const value = state.inputBoxes.shift();
      if (value !== undefined && options.validateInput) {
        const message = await options.validateInput(value);
        if (typeof message === 'string') state.inputValidations.push(message);
      }
      return value;
    },
    showQuickPick: async <T extends { label: string }>(items: readonly T[]): Promise<T | undefined> => {
      state.quickPickItems.push([...items]);
      if (state.quickPicks.length === 0) return state.pickQuickPick([...items]) as T | undefined;
      const i = state.quickPicks.shift();
      return i === undefined ? undefined : items[i];
    },
    withProgress: async <R>(options: { title?: string }, task: (progress: { report(step: { message?: string }): void }, token: { onCancellationRequested(l: () => void): { dispose(): void } }) => Promise<R>): Promise<R> => {
      const cancelListeners = new Set<() => void>();
      const shown = { title: options.title, messages: [] as string[], cancel: () => cancelListeners.forEach((l) => l()) };
      state.progress.push(shown);
      return task(
        { report: (step) => step.message !== undefined && shown.messages.push(step.message) },
        {
          onCancellationRequested: (l) => {
            cancelListeners.add(l);
            return { dispose: () => cancelListeners.delete(l) };
          },
        },
      );
    },
  },
  workspace: {
    getConfiguration: () => configuration,
    get isTrusted(): boolean {
      return state.isTrusted;
    },
    workspaceFolders: undefined,
    onDidChangeTextDocument: listen('workspace.onDidChangeTextDocument'),
    onDidOpenTextDocument: listen('workspace.onDidOpenTextDocument'),
    get textDocuments(): unknown[] {
      return state.textDocuments;
    },
    /** The open documents only: any other URI fails as a deleted file does. */
    openTextDocument: async (uri: Uri): Promise<unknown> => {
      const doc = state.textDocuments.find((d) => (d as { uri: Uri }).uri.toString() === uri.toString());
      if (!doc) throw new Error(`cannot open ${uri.toString()}: file not found`);
      return doc;
    },
    onDidCloseTextDocument: () => track('workspace.onDidCloseTextDocument'),
    onDidChangeConfiguration: listen('workspace.onDidChangeConfiguration'),
    fs: {
      writeFile: async (uri: Uri, bytes: Uint8Array): Promise<void> => {
        state.written.set(uri.fsPath, bytes);
      },
    },
  },
  languages: {
    registerHoverProvider: (_selector: unknown, provider: (typeof state.hoverProviders)[number]) => {
      state.hoverProviders.push(provider);
      return track('registerHoverProvider', () => state.hoverProviders.splice(state.hoverProviders.indexOf(provider), 1));
    },
  },
  commands: {
    registerCommand: (id: string, fn: (...args: unknown[]) => unknown) => {
      state.commands.set(id, fn);
      return track(`command ${id}`, () => state.commands.delete(id));
    },
    executeCommand: async (id: string, ...args: unknown[]) => state.commands.get(id)?.(...args),
  },
  env: {
    clipboard: {
      writeText: async (text: string) => {
        state.clipboard = text;
      },
    },
  },
};

// require('vscode') → the stub above (the tests run as CommonJS under tsx).
const resolver = Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
const original = resolver._resolveFilename;
resolver._resolveFilename = function (request: string, ...rest: unknown[]): string {
  return request === 'vscode' ? 'vscode' : original.call(this, request, ...rest);
};
require.cache['vscode'] = { id: 'vscode', filename: 'vscode', loaded: true, exports: vscode } as unknown as NodeJS.Module;
