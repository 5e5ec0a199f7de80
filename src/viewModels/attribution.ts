/** Direct logit attribution views: the sorted component list, the L × H grid, hover summaries. */
import type { AttributionPayload } from '../protocol/webview';
import type { ComponentKind } from '../engine/types';
import { componentShortName, formatSigned } from './format';

export interface DlaItem {
  readonly index: number;
  readonly name: string;
  readonly kind: ComponentKind;
  readonly layer: number;
  readonly head: number;
  readonly value: number;
  /** "L9 H6 +3.1" */
  readonly text: string;
}

/** Components sorted by |value|, largest first (ties keep canonical order); NaN sorts last. */
export function dlaItems(attribution: Pick<AttributionPayload, 'components' | 'values'>, digits = 2): DlaItem[] {
  const { components, values } = attribution;
  if (components.length !== values.length) throw new RangeError(`${components.length} component labels but ${values.length} values`);
  const items = components.map((c, index) => {
    const name = componentShortName(c);
    const value = values[index];
    return { index, name, kind: c.kind, layer: c.layer, head: c.head, value, text: `${name} ${formatSigned(value, digits)}` };
  });
  const key = (v: number): number => (Number.isNaN(v) ? -1 : Math.abs(v));
  return items.sort((a, b) => key(b.value) - key(a.value) || a.index - b.index);
}

/**
 * The `n` largest components as the hover shows them, e.g. "L9 H6 +3.1", "MLP 10 −1.2": only those
 * that contribute at the shown precision (a model with few components no longer pads the list with
 * "+0.0" entries); NaN is left out too.
 */
export function topComponentTexts(attribution: Pick<AttributionPayload, 'components' | 'values'>, n: number): string[] {
  return dlaItems(attribution, 1)
    .filter((i) => Number.isFinite(i.value) && Number(Math.abs(i.value).toFixed(1)) !== 0)
    .slice(0, n)
    .map((i) => i.text);
}

/** Check that the list adds up: Σ values + lnBiasTerm should equal the logit. */
export function attributionResidual(attribution: Pick<AttributionPayload, 'values' | 'lnBiasTerm' | 'logit'>): number {
  let sum = attribution.lnBiasTerm;
  for (const v of attribution.values) sum += v;
  return attribution.logit - sum;
}
