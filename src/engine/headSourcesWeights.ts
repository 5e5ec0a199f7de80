/**
 * The attention weights headSources reads that the engine does not already keep in memory (ln_1,
 * c_attn), read from the checkpoint once per layer and cached per checkpoint: 7 MiB a layer for
 * GPT-2 small, only for layers someone looked at.
 */
import { readTensor, type Checkpoint } from './checkpoint';

export interface LayerAttentionWeights {
  /** [D] */ readonly lnWeight: Float32Array;
  /** [D] */ readonly lnBias: Float32Array;
  /** [D, 3D] */ readonly qkvWeight: Float32Array;
  /** [3D] */ readonly qkvBias: Float32Array;
}

const cache = new WeakMap<Checkpoint, Map<number, LayerAttentionWeights>>();

export function layerAttentionWeights(ckpt: Checkpoint, layer: number): LayerAttentionWeights {
  let layers = cache.get(ckpt);
  if (!layers) cache.set(ckpt, (layers = new Map()));
  let w = layers.get(layer);
  if (!w) {
    w = {
      lnWeight: readTensor(ckpt, `h.${layer}.ln_1.weight`),
      lnBias: readTensor(ckpt, `h.${layer}.ln_1.bias`),
      qkvWeight: readTensor(ckpt, `h.${layer}.attn.c_attn.weight`),
      qkvBias: readTensor(ckpt, `h.${layer}.attn.c_attn.bias`),
    };
    layers.set(layer, w);
  }
  return w;
}
