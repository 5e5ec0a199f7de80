/**
 * Fuzzes openSae (cfg.json + sae_weights.safetensors) with 4,000 seeded mutations of valid small
 * SAEs (pre-6.0 F32 ReLU, 6.x BF16 jumprelu, 6.x F16 topk): flipped bits in the length, header and
 * data, cut and extended files, edited header entries (dtype, shape, offsets, names), edited and
 * broken cfg.json fields.
 *
 * Every case must either open (all weights finite, of the sizes cfg.json states) or throw a
 * one-line SaeError naming a file of the folder; anything else fails and prints the case, which
 * reproduces alone (case i uses seed BASE_SEED + i). Allocation bound, asserted per case: every
 * buffer allocated from a file-sized value is at most max(size of cfg.json, 2 × size of the
 * weights file), whatever the mutated header or config claim.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SaeError } from '../../src/models/sae/config';
import { largestSaeAllocation, openSae, resetSaeAllocationStats } from '../../src/models/sae/load';
import { makeTempFolder, removeTempFolder } from '../helpers/checkpointWriter';
import { writeRandomSae, type RandomSaeOptions } from '../helpers/saeWriter';
import { Random } from '../helpers/random';

const CASES = 4000;
const BASE_SEED = 0x5ae;
const root = makeTempFolder('residual-lens-sae-fuzz');
after(() => removeTempFolder(root));

interface Base {
  readonly label: string;
  readonly cfg: string;
  readonly weights: Buffer;
  readonly header: Record<string, unknown>;
  readonly data: Buffer;
}

function makeBase(label: string, o: Omit<RandomSaeOptions, 'seed' | 'dIn' | 'dSae'>): Base {
  const folder = path.join(root, `base-${label}`);
  writeRandomSae(folder, { seed: 9, dIn: 8, dSae: 12, ...o });
  const weights = fs.readFileSync(path.join(folder, 'sae_weights.safetensors'));
  const n = Number(weights.readBigUInt64LE(0));
  return { label, cfg: fs.readFileSync(path.join(folder, 'cfg.json'), 'utf8'), weights, header: JSON.parse(weights.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>, data: weights.subarray(8 + n) };
}

const bases = [
  makeBase('pre6-f32-relu', {}),
  makeBase('v6-bf16-jumprelu', { style: '6', architecture: 'jumprelu', dtype: 'BF16' }),
  makeBase('v6-f16-topk-layernorm', { style: '6', architecture: 'topk', k: 3, dtype: 'F16', normalizeActivations: 'layer_norm' }),
];

const WEIRD: unknown[] = [0, -1, 1, 2, 7, 8, 12, 1.5, 1e15, 2 ** 53, 1e308, null, '', '8', 'F32', true, false, [], {}, [1, 2], { a: 1 }, 'relu', 'topk', 'jumprelu', 'gated', 'none', 'layer_norm', 'blocks.0.hook_resid_pre', 'blocks.99.hook_resid_pre', 'hook_embed'];
const CFG_KEYS = ['d_in', 'd_sae', 'hook_point', 'hook_name', 'architecture', 'activation_fn_str', 'activation_fn', 'activation_fn_kwargs', 'k', 'normalize_activations', 'apply_b_dec_to_input', 'dtype', 'model_name', 'metadata', 'model_from_pretrained_kwargs', 'hook_point_head_index', 'reshape_activations', 'sae_lens_version', 'finetuning_scaling_factor', 'rescale_acts_by_decoder_norm'];
const DTYPES: unknown[] = ['F32', 'F16', 'BF16', 'F64', 'I32', 'U8', 'BOOL', '', null, 4];

function flip(bytes: Buffer, r: Random, start: number, end: number, count: number): void {
  if (end <= start) return;
  for (let i = 0; i < count; i++) {
    const at = r.int(start, end);
    bytes[at] = (bytes[at] as number) ^ (1 << r.int(0, 8));
  }
}

function assemble(header: unknown, data: Buffer): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([length, json, data]);
}

function editHeader(header: Record<string, unknown>, r: Random, dataLength: number): string {
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const name = r.pick(names);
  const entry = header[name] as Record<string, unknown>;
  const shape = entry['shape'] as number[];
  const offsets = entry['data_offsets'] as number[];
  switch (r.int(0, 8)) {
    case 0: entry['dtype'] = r.pick(DTYPES); return `dtype of ${name}`;
    case 1: { const axis = r.int(0, shape.length); shape[axis] = r.pick([shape[axis] + 1, shape[axis] * 2, 0, -1, 1e15, 1.5]) as number; return `shape of ${name}`; }
    case 2: entry['shape'] = [...shape].reverse(); return `reversed shape of ${name}`;
    case 3: { const delta = r.pick([1, -1, 2, 4, 64, dataLength]); entry['data_offsets'] = [(offsets[0] as number) + delta, (offsets[1] as number) + delta]; return `offsets of ${name} shifted`; }
    case 4: delete header[name]; return `deleted ${name}`;
    case 5: header[`${name}x`] = entry; delete header[name]; return `renamed ${name}`;
    case 6: header['scaling_factor'] = { ...entry }; return 'scaling_factor added';
    default: entry[r.pick(['dtype', 'shape', 'data_offsets'])] = r.pick(WEIRD); return `field of ${name} replaced`;
  }
}

function editConfig(text: string, r: Random): { text: string; what: string } {
  if (r.chance(0.1)) { const cut = r.int(0, text.length); return { text: text.slice(0, cut), what: `cfg.json cut at ${cut}` }; }
  if (r.chance(0.05)) { const b = Buffer.from(text, 'utf8'); flip(b, r, 0, b.length, 2); return { text: b.toString('latin1'), what: 'cfg.json bits flipped' }; }
  const cfg = JSON.parse(text) as Record<string, unknown>;
  const key = r.pick(CFG_KEYS);
  const target = key in cfg || !(typeof cfg['metadata'] === 'object' && cfg['metadata'] !== null) ? cfg : (cfg['metadata'] as Record<string, unknown>);
  if (r.chance(0.2)) delete target[key];
  else target[key] = r.pick(WEIRD);
  return { text: JSON.stringify(cfg), what: `cfg.json ${key} = ${JSON.stringify(target[key])}` };
}

test(`openSae survives ${CASES} seeded mutations with one-line errors and bounded allocations`, () => {
  let opened = 0;
  const failures: string[] = [];
  for (let i = 0; i < CASES; i++) {
    const r = new Random(BASE_SEED + i);
    const base = r.pick(bases);
    let weights: Buffer = Buffer.from(base.weights);
    let cfg = base.cfg;
    const what: string[] = [base.label];
    const headerEnd = 8 + Number(base.weights.readBigUInt64LE(0));
    switch (r.int(0, 9)) {
      case 0: flip(weights, r, 0, 8, r.int(1, 3)); what.push('length bits'); break;
      case 1: flip(weights, r, 8, headerEnd, r.int(1, 6)); what.push('header bits'); break;
      case 2: flip(weights, r, headerEnd, weights.length, r.int(1, 16)); what.push('data bits'); break;
      case 3: { const cut = r.int(0, weights.length); weights = weights.subarray(0, cut); what.push(`cut at ${cut}`); break; }
      case 4: { const extra = r.int(1, 300); weights = Buffer.concat([weights, Buffer.alloc(extra, 7)]); what.push(`extended ${extra}`); break; }
      case 5: { const v = r.pick([0n, 1n, BigInt(weights.length), 2n ** 63n, 100_000_000n]); weights.writeBigUInt64LE(v, 0); what.push(`length ${v}`); break; }
      case 6: { const h = structuredClone(base.header); what.push(editHeader(h, r, base.data.length)); weights = assemble(h, base.data); break; }
      default: { const e = editConfig(cfg, r); cfg = e.text; what.push(e.what); }
    }
    const folder = path.join(root, `case-${i % 8}`);
    fs.mkdirSync(folder, { recursive: true });
    fs.writeFileSync(path.join(folder, 'cfg.json'), cfg, 'latin1');
    fs.writeFileSync(path.join(folder, 'sae_weights.safetensors'), weights);
    resetSaeAllocationStats();
    try {
      const sae = openSae(folder);
      const { dIn, dSae } = sae.config;
      assert.equal(sae.weights.wEnc.length, dIn * dSae);
      assert.equal(sae.weights.wDec.length, dIn * dSae);
      for (const a of [sae.weights.wEnc, sae.weights.bEnc, sae.weights.wDec, sae.weights.bDec]) assert.ok(a.every(Number.isFinite));
      opened++;
    } catch (err) {
      if (!(err instanceof SaeError) || err.message.includes('\n') || !err.message.startsWith(folder)) {
        failures.push(`case ${i} (${what.join(', ')}): ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
      }
    }
    const bound = Math.max(Buffer.byteLength(cfg, 'latin1'), 2 * weights.length);
    if (largestSaeAllocation() > bound) failures.push(`case ${i} (${what.join(', ')}): allocated ${largestSaeAllocation()} > ${bound}`);
    if (failures.length > 5) break;
  }
  assert.deepEqual(failures, []);
  assert.ok(opened > CASES / 20, `only ${opened} cases opened: the mutations are too destructive to test the happy path`);
});
