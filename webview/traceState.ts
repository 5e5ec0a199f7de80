/** What the trace panel and the side view know: the host's latest trace, lens, attribution and selection. */
import type { AttributionPayload, FeatureCardPayload, FeaturesPayload, HeadSourcesPayload, HostToWebview, LensPayload, PatternPayload, PatternThumbsPayload, SelectionState, TracePayload } from '../src/protocol/webview';

export class TraceState {
  trace: TracePayload | undefined;
  lens: LensPayload | undefined;
  /** The selected layer's patterns, once they arrived. */
  pattern: PatternPayload | undefined;
  thumbs: PatternThumbsPayload | undefined;
  attribution: AttributionPayload | undefined;
  /** SAE features of the trace, when an SAE is in use. */
  features: FeaturesPayload | undefined;
  /** The feature card asked for last (latest trace only). */
  featureCard: FeatureCardPayload | undefined;
  selection: SelectionState = { pos: 0, layer: 0, head: 0 };
  status: { text: string; busy: boolean } | undefined;
  /** headSources answers of this trace, by `${layer}.${head}.${pos}` (the attention pattern's hover). */
  readonly sources = new Map<string, HeadSourcesPayload>();
  /** Why the trace on show is not the latest one asked for (a newer one failed or was refused); cleared by the next trace. */
  stale: string | undefined;

  /** Applies a host message; returns which parts changed. */
  apply(msg: HostToWebview): 'trace' | 'predictions' | 'pattern' | 'thumbs' | 'lens' | 'attribution' | 'features' | 'featureCard' | 'select' | 'status' | 'sources' | undefined {
    switch (msg.type) {
      case 'trace':
        this.trace = msg.trace;
        this.lens = undefined;
        this.pattern = undefined;
        this.thumbs = undefined;
        this.attribution = undefined;
        this.features = undefined;
        this.featureCard = undefined;
        this.selection = msg.selection;
        this.status = undefined;
        this.stale = undefined;
        this.sources.clear();
        return 'trace';
      case 'predictions':
        if (msg.traceId !== this.trace?.traceId) return undefined;
        this.trace = { ...this.trace, ...msg.predictions };
        return 'predictions';
      case 'pattern':
        if (msg.pattern.traceId !== this.trace?.traceId) return undefined;
        this.pattern = msg.pattern;
        return 'pattern';
      case 'thumbs':
        if (msg.thumbs.traceId !== this.trace?.traceId) return undefined;
        this.thumbs = msg.thumbs;
        return 'thumbs';
      case 'lens':
        if (msg.lens.traceId !== this.trace?.traceId) return undefined;
        this.lens = msg.lens;
        return 'lens';
      case 'attribution':
        if (msg.attribution.traceId !== this.trace?.traceId) return undefined;
        this.attribution = msg.attribution;
        return 'attribution';
      case 'features':
        if (msg.features.traceId !== this.trace?.traceId) return undefined;
        this.features = msg.features;
        return 'features';
      case 'featureCard':
        if (msg.card.traceId !== this.trace?.traceId) return undefined;
        this.featureCard = msg.card;
        return 'featureCard';
      case 'select':
        this.selection = msg.selection;
        return 'select';
      case 'status':
        this.status = msg.text ? { text: msg.text, busy: msg.busy } : undefined;
        if (msg.stale) this.stale = msg.text;
        return 'status';
      case 'headSources':
        if (msg.sources.traceId !== this.trace?.traceId) return undefined;
        this.sources.set(sourcesKey(msg.sources.layer, msg.sources.head, msg.sources.pos), msg.sources);
        return 'sources';
      case 'clear':
        this.status = { text: msg.text, busy: false };
        return 'status';
      default:
        return undefined;
    }
  }

  /** The selected layer's patterns ([H, S, S]), if they arrived. */
  get layerPattern(): PatternPayload | undefined {
    return this.pattern && this.pattern.layer === this.selection.layer ? this.pattern : undefined;
  }

  get positions(): number {
    return this.trace?.tokens.length ?? 0;
  }
}

export function sourcesKey(layer: number, head: number, pos: number): string {
  return `${layer}.${head}.${pos}`;
}
