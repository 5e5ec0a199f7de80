/**
 * Top activating contexts per SAE feature, in bounded memory: one top-N list per feature (at most
 * N × d_sae entries, whatever the corpus size). A context is one scan window of one file; its
 * activation is the feature's maximum over the window, at the window's first position of that
 * maximum. Entries are ordered by activation (descending), then file path, then token index, so
 * the top-N of a union is the same however the corpus was split: merging shards' indexes equals
 * one run over the whole corpus (mergeFeatureIndexes).
 */

export interface FeatureContext {
  readonly activation: number;
  /** File path relative to the scan root, '/'-separated. */
  readonly file: string;
  /** Token index in the file (BOS not counted) of the maximum. */
  readonly token: number;
  /** UTF-16 offsets of that token in the file's text. */
  readonly start: number;
  readonly end: number;
  /** A few tokens either side, the token itself between ⟦ and ⟧. */
  readonly context: string;
}

export interface FeatureIndexJson {
  readonly schema: 1;
  readonly kind: 'feature-index';
  readonly model: { readonly name: string; readonly fingerprint: string };
  readonly sae: { readonly name: string; readonly hook_name: string; readonly d_sae: number; readonly fingerprint: string; readonly input: string };
  readonly settings: { readonly top: number; readonly window: number; readonly max_file_bytes: number };
  /** null for a whole run or a merge of every shard; {index, count} for one shard. */
  readonly shard: { readonly index: number; readonly count: number } | null;
  /** Shards merged into this index (1 for a run). */
  readonly shards_merged: number;
  readonly files: readonly { readonly path: string; readonly bytes: number; readonly tokens: number; readonly sha256: string }[];
  readonly skipped: readonly { readonly path: string; readonly reason: string }[];
  readonly tokens_scanned: number;
  /** sha256 over the sorted (path, sha256) of every scanned file. */
  readonly corpus_fingerprint: string;
  /** feature id (decimal string) → its top contexts, best first; features that never fired are absent. */
  readonly features: Readonly<Record<string, readonly FeatureContext[]>>;
}

/** a before b? */
export function contextBefore(a: FeatureContext, b: FeatureContext): boolean {
  if (a.activation !== b.activation) return a.activation > b.activation;
  if (a.file !== b.file) return a.file < b.file;
  return a.token < b.token;
}

/** Keeps the best `top` contexts of every feature. */
export class FeatureTopN {
  private readonly lists = new Map<number, FeatureContext[]>();

  constructor(readonly top: number) {
    if (!Number.isInteger(top) || top < 1) throw new Error(`top must be a positive whole number, got ${top}`);
  }

  /** Would a context with this activation (and order keys) enter the feature's list? Cheap pre-check before building the context text. */
  admits(feature: number, candidate: Pick<FeatureContext, 'activation' | 'file' | 'token'>): boolean {
    const list = this.lists.get(feature);
    if (!list || list.length < this.top) return true;
    return contextBefore(candidate as FeatureContext, list[list.length - 1]);
  }

  offer(feature: number, c: FeatureContext): void {
    let list = this.lists.get(feature);
    if (!list) {
      list = [];
      this.lists.set(feature, list);
    }
    if (list.length === this.top && !contextBefore(c, list[list.length - 1])) return;
    let at = list.length;
    while (at > 0 && contextBefore(c, list[at - 1])) at--;
    list.splice(at, 0, c);
    if (list.length > this.top) list.pop();
  }

  /** feature id → list, in ascending feature order. */
  toRecord(): Record<string, FeatureContext[]> {
    const out: Record<string, FeatureContext[]> = {};
    for (const id of [...this.lists.keys()].sort((a, b) => a - b)) out[String(id)] = this.lists.get(id) as FeatureContext[];
    return out;
  }

  entries(): number {
    let n = 0;
    for (const l of this.lists.values()) n += l.length;
    return n;
  }
}

/**
 * Merges indexes of the same model, SAE and settings over disjoint files (shards of one corpus).
 * Throws a one-line Error naming the first mismatch.
 */
export function mergeFeatureIndexes(indexes: readonly FeatureIndexJson[], corpusFingerprint: (files: FeatureIndexJson['files']) => string): FeatureIndexJson {
  if (indexes.length === 0) throw new Error('nothing to merge');
  const first = indexes[0];
  const files = new Map<string, FeatureIndexJson['files'][number]>();
  const skipped: FeatureIndexJson['skipped'][number][] = [];
  const heaps = new FeatureTopN(first.settings.top);
  let tokens = 0;
  let shardsMerged = 0;
  indexes.forEach((ix, i) => {
    const same = (what: string, a: unknown, b: unknown): void => {
      if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(`index ${i + 1}: ${what} ${JSON.stringify(b)} differs from the first index's ${JSON.stringify(a)}`);
    };
    same('model', first.model, ix.model);
    same('sae', first.sae, ix.sae);
    same('settings', first.settings, ix.settings);
    for (const f of ix.files) {
      if (files.has(f.path)) throw new Error(`index ${i + 1}: file ${JSON.stringify(f.path)} is in two indexes (overlapping shards)`);
      files.set(f.path, f);
    }
    skipped.push(...ix.skipped);
    tokens += ix.tokens_scanned;
    shardsMerged += ix.shards_merged;
    for (const [id, list] of Object.entries(ix.features)) for (const c of list) heaps.offer(Number(id), c);
  });
  const sortedFiles = [...files.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return {
    schema: 1,
    kind: 'feature-index',
    model: first.model,
    sae: first.sae,
    settings: first.settings,
    shard: null,
    shards_merged: shardsMerged,
    files: sortedFiles,
    skipped: skipped.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
    tokens_scanned: tokens,
    corpus_fingerprint: corpusFingerprint(sortedFiles),
    features: heaps.toRecord(),
  };
}

/** Validates the shape of a parsed index file enough to merge it; throws a one-line Error. */
export function parseFeatureIndex(json: unknown, source: string): FeatureIndexJson {
  const o = json as Partial<FeatureIndexJson> | null;
  if (typeof o !== 'object' || o === null || o.kind !== 'feature-index') throw new Error(`${source}: not a feature index (kind "feature-index")`);
  if (o.schema !== 1) throw new Error(`${source}: feature index schema ${JSON.stringify(o.schema)} is not 1`);
  if (!Array.isArray(o.files) || typeof o.features !== 'object' || o.features === null || typeof o.settings !== 'object' || o.settings === null) throw new Error(`${source}: feature index lacks files, features or settings`);
  return o as FeatureIndexJson;
}
