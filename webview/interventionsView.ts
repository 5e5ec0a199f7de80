/**
 * The trace panel's interventions section: a removable chip per active intervention, the metric
 * before → after, and the unedited and edited top-k side by side. Hidden while no intervention
 * is active on the shown trace.
 */
import type { InterventionsPayload, RunTopK } from '../src/protocol/patchingView';
import { formatProb, formatSigned, visibleToken, vocabLookup, type VocabLookup } from '../src/viewModels/format';
import { post } from './api';
import { clear, h, section } from './dom';

export interface InterventionsView {
  readonly root: HTMLElement;
  /** Shows `payload` if it belongs to the trace on screen, else hides the section. */
  render(payload: InterventionsPayload | undefined, traceId: number | undefined): void;
}

function topList(top: RunTopK, decode: VocabLookup, testId: string): HTMLElement {
  const list = h('ol', { class: 'topk', 'data-testid': testId });
  for (let j = 0; j < top.ids.length; j++) list.append(h('li', {}, h('span', { class: 'tok', text: visibleToken(decode(top.ids[j])) }), h('span', { class: 'p', text: formatProb(top.probs[j]) })));
  return list;
}

const metricText = (m: number | undefined): string => (m !== undefined && Number.isFinite(m) ? formatSigned(m, 3) : '…');

export function createInterventionsView(): InterventionsView {
  const sec = section('interventions', 'Interventions');
  sec.root.hidden = true;
  sec.root.dataset.testid = 'interventions';
  return {
    root: sec.root,
    render(payload, traceId) {
      clear(sec.body);
      sec.root.hidden = !payload || payload.traceId !== traceId;
      if (!payload || payload.traceId !== traceId) return;
      const decode = vocabLookup(payload.vocab);
      const row = h('div', { class: 'interventions', role: 'list', 'aria-label': 'Active interventions' });
      payload.items.forEach((label, index) => {
        const remove = h('button', { 'aria-label': `Remove ${label}`, title: `Remove ${label}`, 'data-testid': 'remove-intervention', text: '×' });
        remove.addEventListener('click', () => post({ type: 'removeIntervention', index }));
        row.append(h('span', { class: 'intervention-chip', role: 'listitem', 'data-testid': 'intervention-chip' }, label, remove));
      });
      const delta = payload.editedMetric !== undefined && Number.isFinite(payload.editedMetric) && Number.isFinite(payload.baseMetric) ? ` (Δ ${formatSigned(payload.editedMetric - payload.baseMetric, 3)})` : '';
      sec.body.append(row, h('p', { 'data-testid': 'intervention-metric', text: `${payload.metricLabel}: ${metricText(payload.baseMetric)} → ${metricText(payload.editedMetric)}${delta}` }));
      if (payload.status) sec.body.append(h('p', { class: 'muted', role: 'status', text: payload.status }));
      sec.body.append(
        h(
          'div',
          { class: 'run-columns' },
          h('div', {}, h('h3', { text: 'Unedited' }), topList(payload.base, decode, 'intervention-base-top')),
          payload.edited ? h('div', {}, h('h3', { text: 'With the interventions' }), topList(payload.edited, decode, 'intervention-edited-top')) : false,
        ),
      );
    },
  };
}
