/**
 * Where a WebGPU → CPU fallback of one graph is said (session.ts's onFallback). While a model
 * loads, the first one becomes ModelInfo.executionProviderNote, which the host and the CLI print
 * with the load. A graph created later, on first use (head results, mlp.hook_post, interventions,
 * SAE), is said through `notice` (the worker's notice message, the CLI's stderr): each distinct
 * line once per engine, so a graph re-created for every request does not repeat it.
 */
export class FallbackNotes {
  private loading = false;
  private loadNote: string | undefined;
  private readonly said = new Set<string>();

  constructor(private readonly notice: ((text: string) => void) | undefined) {}

  /** A load starts creating its sessions: later fallbacks until `endLoad` belong to it. */
  beginLoad(): void {
    this.loading = true;
    this.loadNote = undefined;
  }

  /** The load's sessions are created (or failed): returns its first fallback line, if any. */
  endLoad(): string | undefined {
    this.loading = false;
    const note = this.loadNote;
    this.loadNote = undefined;
    return note;
  }

  /** session.ts's onFallback. */
  report(reason: string): void {
    if (this.loading) {
      this.loadNote ??= reason;
    } else if (!this.said.has(reason)) {
      this.said.add(reason);
      this.notice?.(reason);
    }
  }
}
