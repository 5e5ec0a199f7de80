/**
 * Fuzzes openCheckpoint and the readers with 12,000 seeded mutations of valid small checkpoints:
 * flipped bits in the length, header and data, cut and extended files, edited header JSON
 * (dtypes, shapes, offsets, names, entries), edited and broken config.json.
 *
 * Every case must either open (and then read every weight) or throw a one-line CheckpointError
 * naming a file in the folder; any other error fails the test and prints the case number, which
 * reproduces it alone (case i uses seed BASE_SEED + i).
 *
 * Allocation bound (stated and asserted per case): every buffer the loader allocates is at most
 * max(size of config.json, 2 × size of model.safetensors) — F16 bits plus their F32 values —
 * whatever sizes the mutated header or config claim. The loader counts its own allocations
 * (largestAllocation in checkpoint.ts: every file-sized buffer goes through one allocator).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CheckpointError, ensureF32Weights, largestAllocation, openCheckpoint, readTensor, readUnembedColumn, readWeights, resetAllocationStats } from '../../src/engine/checkpoint';
import { makeTempFolder, removeTempFolder, writeRandomCheckpoint, type WriteCheckpointOptions } from '../helpers/checkpointWriter';
import { Random } from '../helpers/random';

const CASES = 12_000;
const BASE_SEED = 0x5eed;

interface Base {
  readonly label: string;
  readonly config: Buffer;
  readonly weights: Buffer;
  /** Parsed header JSON of the valid file. */
  readonly header: Record<string, unknown>;
  readonly data: Buffer;
}

const root = makeTempFolder('residual-lens-fuzz');
after(() => removeTempFolder(root));

function makeBase(label: string, opts: WriteCheckpointOptions): Base {
  const folder = path.join(root, `base-${label}`);
  writeRandomCheckpoint(folder, { seed: 21, nLayer: 2, nHead: 2, dModel: 8, nCtx: 8, dVocab: 16 }, opts);
  const weights = fs.readFileSync(path.join(folder, 'model.safetensors'));
  const n = Number(weights.readBigUInt64LE(0));
  return {
    label,
    config: fs.readFileSync(path.join(folder, 'config.json')),
    weights,
    header: JSON.parse(weights.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>,
    data: weights.subarray(8 + n),
  };
}

const bases = [
  makeBase('f32', {}),
  makeBase('f16-prefix-lmhead-masks', { dtype: 'F16', prefix: true, lmHead: true, maskBuffers: true }),
];

// ---- mutations ------------------------------------------------------------------------------------

function flipBits(bytes: Buffer, random: Random, start: number, end: number, count: number): void {
  if (end <= start) return;
  for (let i = 0; i < count; i++) {
    const at = random.int(start, end);
    bytes[at] = (bytes[at] as number) ^ (1 << random.int(0, 8));
  }
}

function assemble(header: unknown, data: Buffer, lengthDelta = 0): Buffer {
  const json = Buffer.from(toJson(header), 'utf8');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(Math.max(0, json.length + lengthDelta)));
  return Buffer.concat([length, json, data]);
}

const WEIRD_NUMBERS = [0, -1, 1, 2, 3, 7, 8, 16, 17, 1.5, 1e15, 2 ** 53, 2 ** 53 + 2, 2 ** 64, 1e308, -0, 4294967296];
/** Stands for a 10,000-deep nested array, spliced into the JSON text (messages must describe it without recursing). */
const DEEP = '<deep>';
const DEEP_TEXT = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
const WEIRD_VALUES: unknown[] = [...WEIRD_NUMBERS, null, '', '8', 'F32', true, [], {}, [1, 2], { a: 1 }, DEEP];

function toJson(value: unknown): string {
  return JSON.stringify(value).replaceAll(JSON.stringify(DEEP), DEEP_TEXT);
}
const DTYPES: unknown[] = ['F32', 'F16', 'BF16', 'F64', 'I64', 'U8', 'BOOL', 'F8_E4M3', 'Q4_K', 'f32', '', null, 4, ['F32']];

function weirdDim(random: Random, dim: number): unknown {
  return random.pick<unknown>([dim + 1, dim - 1, dim * 2, 0, -dim, 1e15, 2 ** 53, 1.5, '8', null, Math.floor(dim / 2)]);
}

/** Edits one header entry's JSON value, or the set of entries. */
function editHeader(header: Record<string, unknown>, random: Random, dataLength: number): string {
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const name = random.pick(names);
  const entry = header[name] as { dtype: unknown; shape: unknown; data_offsets: unknown };
  const shape = entry.shape as number[];
  const offsets = entry.data_offsets as number[];
  switch (random.int(0, 12)) {
    case 0: entry.dtype = random.pick(DTYPES); return `dtype of ${name}`;
    case 1: {
      if (shape.length === 0) { entry.shape = [random.int(0, 4)]; return `shape of scalar ${name}`; }
      const axis = random.int(0, shape.length);
      shape[axis] = weirdDim(random, shape[axis] as number) as number;
      return `shape[${axis}] of ${name}`;
    }
    case 2: entry.shape = random.chance(0.5) ? [...shape, 1] : shape.slice(1); return `rank of ${name}`;
    case 3: entry.shape = [...shape].reverse(); return `reversed shape of ${name}`;
    case 4: {
      const delta = random.pick([1, -1, 2, 4, -4, 64, dataLength]);
      entry.data_offsets = random.chance(0.5) ? [(offsets[0] as number) + delta, (offsets[1] as number) + delta] : [offsets[0], (offsets[1] as number) + delta];
      return `offsets of ${name} shifted by ${delta}`;
    }
    case 5: entry.data_offsets = [random.pick(WEIRD_VALUES), random.pick(WEIRD_VALUES)]; return `weird offsets of ${name}`;
    case 6: {
      const other = header[random.pick(names)] as { data_offsets: unknown };
      entry.data_offsets = other.data_offsets;
      return `offsets of ${name} copied from another tensor`;
    }
    case 7: delete header[name]; return `deleted ${name}`;
    case 8: header[random.chance(0.5) ? `transformer.${name}` : name.replace(/^transformer\./, '')] = { ...entry }; return `duplicated ${name}`;
    case 9: {
      const chars = [...name];
      chars[random.int(0, chars.length)] = random.pick(['x', '9', '.', '\n', '\u2028', '']);
      header[chars.join('')] = entry;
      delete header[name];
      return `renamed ${name}`;
    }
    case 10: header['__metadata__'] = random.pick<unknown>([{ format: 'pt' }, { a: 1 }, 'x', [], null]); return 'metadata';
    default: {
      const fields = ['dtype', 'shape', 'data_offsets'] as const;
      const field = random.pick(fields);
      if (random.chance(0.5)) delete (entry as Record<string, unknown>)[field];
      else (entry as Record<string, unknown>)[field] = random.pick(WEIRD_VALUES);
      return `${field} of ${name} replaced`;
    }
  }
}

const CONFIG_KEYS = ['n_layer', 'n_head', 'n_embd', 'n_positions', 'n_ctx', 'vocab_size', 'n_inner', 'layer_norm_epsilon', 'model_type', 'architectures', 'activation_function', 'scale_attn_by_inverse_layer_idx', 'scale_attn_weights'];

function editConfig(text: string, random: Random): { text: string; what: string } {
  if (random.chance(0.1)) {
    const cut = random.int(0, text.length);
    return { text: text.slice(0, cut), what: `config.json cut at ${cut}` };
  }
  if (random.chance(0.1)) {
    const bytes = Buffer.from(text, 'utf8');
    flipBits(bytes, random, 0, bytes.length, random.int(1, 4));
    return { text: bytes.toString('latin1'), what: 'config.json bits flipped' };
  }
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return { text: `${text}}`, what: 'broken config.json extended' }; // an earlier step already broke it
  }
  if (typeof config !== 'object' || config === null) return { text: '{}', what: 'config.json emptied' };
  const key = random.pick(CONFIG_KEYS);
  const current = config[key];
  if (random.chance(0.15)) delete config[key];
  else if (typeof current === 'number' && random.chance(0.6)) config[key] = random.pick([current + 1, current - 1, current * 2, current / 2, -current, 0, 1e9, 1e300]);
  else config[key] = random.pick(WEIRD_VALUES);
  return { text: toJson(config), what: `config.json ${key} = ${JSON.stringify(config[key])}` };
}

/** One seeded mutation of a base: the files to write and a description for failure reports. */
function mutate(base: Base, random: Random): { config: Buffer; weights: Buffer; what: string[] } {
  let config = base.config;
  let weights: Buffer = Buffer.from(base.weights);
  const what: string[] = [base.label];
  const steps = random.chance(0.2) ? 2 : 1;
  for (let step = 0; step < steps; step++) {
    const headerEnd = 8 + Number(base.weights.readBigUInt64LE(0));
    switch (random.int(0, 10)) {
      case 0: flipBits(weights, random, 0, Math.min(8, weights.length), random.int(1, 3)); what.push('length bits flipped'); break;
      case 1: flipBits(weights, random, 8, Math.min(headerEnd, weights.length), random.int(1, 6)); what.push('header bits flipped'); break;
      case 2: flipBits(weights, random, headerEnd, weights.length, random.int(1, 16)); what.push('data bits flipped'); break;
      case 3: { const cut = random.int(0, weights.length); weights = weights.subarray(0, cut); what.push(`cut at ${cut}`); break; }
      case 4: { const extra = random.int(1, 300); weights = Buffer.concat([weights, Buffer.alloc(extra, random.int(0, 256))]); what.push(`extended by ${extra}`); break; }
      case 5: {
        const value = random.pick([0n, 1n, 2n, BigInt(weights.length), BigInt(weights.length - 8), BigInt(weights.length - 7), 100_000_000n, 2n ** 63n, BigInt(random.int(0, 1 << 30))]);
        weights.writeBigUInt64LE(value, 0);
        what.push(`length = ${value}`);
        break;
      }
      case 6:
      case 7: {
        const header = structuredClone(base.header);
        what.push(editHeader(header, random, base.data.length));
        weights = assemble(header, base.data, random.chance(0.1) ? random.pick([-1, 1, 8]) : 0);
        break;
      }
      case 8: {
        // Edit the header text itself (keeps the length field right): insert, delete or replace a character.
        const text = weights.subarray(8, headerEnd).toString('latin1');
        const at = random.int(0, text.length);
        const edited = text.slice(0, at) + random.pick(['', '"', ',', '}', ']', '0', '-', ' ', 'e9', '\u00ff']) + text.slice(at + random.int(0, 2));
        const json = Buffer.from(edited, 'latin1');
        const length = Buffer.alloc(8);
        length.writeBigUInt64LE(BigInt(json.length));
        weights = Buffer.concat([length, json, base.data]);
        what.push(`header text edited at ${at}`);
        break;
      }
      default: {
        const edit = editConfig(config.toString('utf8'), random);
        config = Buffer.from(edit.text, 'latin1');
        what.push(edit.what);
      }
    }
  }
  return { config, weights, what };
}

// ---- the test -------------------------------------------------------------------------------------

function overwrite(fd: number, bytes: Buffer): void {
  let done = 0;
  while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done, done);
  fs.ftruncateSync(fd, bytes.length);
}

test(`fuzz: ${CASES} mutated checkpoints each open cleanly or throw a one-line CheckpointError, within the allocation bound`, { timeout: 300_000 }, () => {
  const folder = path.join(root, 'case');
  fs.mkdirSync(folder);
  // One file of each kind, rewritten in place: truncating to zero and rewriting (writeFileSync)
  // makes ext4 flush on every close, which would make this I/O-bound.
  const configFd = fs.openSync(path.join(folder, 'config.json'), 'w');
  const weightsFd = fs.openSync(path.join(folder, 'model.safetensors'), 'w');
  const cacheDir = path.join(root, 'cache');
  const failures: string[] = [];
  const problems = new Map<string, number>();
  let opened = 0;
  let refused = 0;
  let largestRatio = 0;
  let largestBytes = 0;

  try {
    for (let i = 0; i < CASES; i++) {
      const random = new Random(BASE_SEED + i);
      const base = bases[i % bases.length] as Base;
      const { config, weights, what } = mutate(base, random);
      overwrite(configFd, config);
      overwrite(weightsFd, weights);
      const bound = Math.max(config.length, 2 * weights.length);
      resetAllocationStats();
      try {
        const ckpt = openCheckpoint(folder);
        const all = readWeights(ckpt);
        assert.equal(all.wte.length, ckpt.config.dVocab * ckpt.config.dModel);
        assert.equal(all.layers.length, ckpt.config.nLayer);
        assert.equal(readTensor(ckpt, 'ln_f.bias').length, ckpt.config.dModel);
        assert.equal(readUnembedColumn(ckpt, ckpt.config.dVocab - 1).length, ckpt.config.dModel);
        if (i % 97 === 0) {
          const f32 = ensureF32Weights(ckpt, cacheDir);
          assert.equal(f32.offsets.size, ckpt.tensors.size);
          fs.rmSync(cacheDir, { recursive: true, force: true });
        }
        opened++;
      } catch (error) {
        if (error instanceof CheckpointError && !error.message.includes('\n') && error.message.startsWith(`${folder}`)) {
          refused++;
          // Group messages by their wording without numbers and names, to show what was covered.
          const kind = error.problem.replace(/"[^"]*"/g, '"…"').replace(/\d+/g, 'N').slice(0, 60);
          problems.set(kind, (problems.get(kind) ?? 0) + 1);
        } else {
          failures.push(`case ${i} (${what.join('; ')}): ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
        }
      }
      const largest = largestAllocation();
      largestRatio = Math.max(largestRatio, largest / bound);
      largestBytes = Math.max(largestBytes, largest);
      if (largest > bound) failures.push(`case ${i} (${what.join('; ')}): allocated ${largest} bytes, over the bound ${bound}`);
    }
  } finally {
    fs.closeSync(configFd);
    fs.closeSync(weightsFd);
  }

  console.log(`fuzz: ${CASES} cases, ${opened} opened, ${refused} refused with ${problems.size} kinds of message; largest allocation ${largestBytes} bytes (base files ${bases.map((b) => b.weights.length).join(' and ')} bytes), at most ${largestRatio.toFixed(2)} of the bound`);
  assert.deepEqual(failures.slice(0, 10), [], `${failures.length} failing cases`);
  assert.equal(opened + refused, CASES);
  // The mutations must reach both outcomes and many distinct checks, or the fuzzer is not exercising the parser.
  assert.ok(opened > CASES / 20, `only ${opened} cases opened`);
  assert.ok(problems.size >= 25, `only ${problems.size} kinds of message: ${[...problems.keys()].join(' | ')}`);
});
