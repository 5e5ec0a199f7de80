/**
 * The intervention cases the engine's tests run (against the reference forward, and WebGPU against
 * the CPU): every action at every hook kind of a 2-layer model, with positions / heads / neurons
 * chosen to cover the slicing. `rng` draws the add / set values: the same seed gives the same cases.
 */
import type { ModelConfig } from '../../src/engine/types';
import type { Intervention, InterventionAction } from '../../src/protocol/interventions';
import type { Random } from './random';

export function interventionCases(config: Pick<ModelConfig, 'nHead' | 'dHead' | 'dModel' | 'dMlp'>, T: number, source: number, rng: Random): { name: string; iv: Intervention }[] {
  const { nHead: H, dHead: Dh, dModel: D, dMlp: M } = config;
  const sites: { name: string; hook: string; positions?: number[]; head?: number; neuron?: number; width: number; perPos: number }[] = [
    { name: 'resid_pre L0 pos 2,4', hook: 'blocks.0.hook_resid_pre', positions: [4, 2], width: D, perPos: D },
    { name: 'resid_mid L1 all', hook: 'blocks.1.hook_resid_mid', width: D, perPos: D },
    { name: 'resid_post L0 pos 3', hook: 'blocks.0.hook_resid_post', positions: [3], width: D, perPos: D },
    { name: 'attn_out L1 pos 1,5', hook: 'blocks.1.hook_attn_out', positions: [1, 5], width: D, perPos: D },
    { name: 'mlp_out L0 pos 6', hook: 'blocks.0.hook_mlp_out', positions: [6], width: D, perPos: D },
    { name: 'z L0 head 1 pos 2', hook: 'blocks.0.attn.hook_z', positions: [2], head: 1, width: Dh, perPos: Dh },
    { name: 'z L1 every head', hook: 'blocks.1.attn.hook_z', width: Dh, perPos: H * Dh },
    { name: 'pattern L0 head 0 all', hook: 'blocks.0.attn.hook_pattern', head: 0, width: T, perPos: T },
    { name: 'pattern L1 every head pos 5', hook: 'blocks.1.attn.hook_pattern', positions: [5], width: T, perPos: H * T },
    { name: 'mlp_post L0 neuron 7 pos 3', hook: 'blocks.0.mlp.hook_post', positions: [3], neuron: 7, width: 1, perPos: 1 },
    { name: 'mlp_post L1 all', hook: 'blocks.1.mlp.hook_post', width: M, perPos: M },
  ];
  const cases: { name: string; iv: Intervention }[] = [];
  for (const s of sites) {
    const nPos = s.positions?.length ?? T;
    const actions: InterventionAction[] = [
      { kind: 'patch', sourceTraceId: source },
      { kind: 'zero' },
      { kind: 'mean' },
      { kind: 'scale', factor: -1.7 },
      { kind: 'add', vector: rng.gaussianArray(s.width, 0.5) },
      { kind: 'set', values: rng.gaussianArray(nPos * s.perPos, 0.3) },
    ];
    for (const action of actions) {
      const site = { hook: s.hook, ...(s.positions ? { positions: s.positions } : {}), ...(s.head !== undefined ? { head: s.head } : {}), ...(s.neuron !== undefined ? { neuron: s.neuron } : {}) };
      cases.push({ name: `${s.name}: ${action.kind}`, iv: { site, action } });
    }
  }
  return cases;
}
