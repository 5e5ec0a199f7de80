/**
 * Hostile pytorch_model.bin files: a named corpus (globals outside the allow-list, __reduce__
 * payloads that would run a shell command, opcodes a state dict never needs, huge declared sizes,
 * compressed and truncated zips, deep nesting) and 3,000 seeded mutations of a valid .bin.
 *
 * Every case must open (then every weight is read) or throw a one-line CheckpointError naming
 * the file; the named cases must be refused with the stated message. No case may run anything:
 * the payloads would create a sentinel file, which must never appear. Allocation bound, asserted
 * per case: every buffer the loader allocates is at most max(size of config.json, 2 × size of
 * the .bin) — whatever sizes the file declares.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CheckpointError, largestAllocation, openCheckpoint, readWeights, resetAllocationStats } from '../../src/engine/checkpoint';
import { hfConfigJson, makeTempFolder, randomWeights, removeTempFolder } from '../helpers/checkpointWriter';
import { fileTensors, PickleWriter, torchBinBytes, zipStored } from '../helpers/checkpointFormats';
import { Random } from '../helpers/random';

const root = makeTempFolder('rl-pickle-fuzz');
after(() => removeTempFolder(root));

const SENTINEL = path.join(root, 'pwned');
const WEIGHTS = randomWeights({ seed: 3, nLayer: 1, nHead: 2, dModel: 8, nCtx: 8, dVocab: 16 });
const TENSORS = fileTensors(WEIGHTS, { dtype: 'F32', lmHead: 'tied' });
const VALID = torchBinBytes(TENSORS);
const CONFIG = Buffer.from(JSON.stringify(hfConfigJson(WEIGHTS.config)));

const folder = path.join(root, 'case');
fs.mkdirSync(folder);
fs.writeFileSync(path.join(folder, 'config.json'), CONFIG);
const binPath = path.join(folder, 'pytorch_model.bin');

/** Opens and reads the case; returns 'opened' or the CheckpointError's problem; anything else throws. */
function attempt(bytes: Buffer): { outcome: string; allocated: number } {
  fs.writeFileSync(binPath, bytes);
  resetAllocationStats();
  let outcome: string;
  try {
    const ckpt = openCheckpoint(folder);
    const w = readWeights(ckpt);
    assert.equal(w.wte.length, 16 * 8);
    outcome = 'opened';
  } catch (error) {
    if (!(error instanceof CheckpointError) || error.message.includes('\n') || !error.message.startsWith(folder)) throw error;
    outcome = error.problem;
  }
  return { outcome, allocated: largestAllocation() };
}

/** A .bin whose data.pkl is `pickle`, with the valid file's storage records beside it. */
function withPickle(pickle: Uint8Array): Buffer {
  return torchBinBytes(TENSORS, { pickle });
}

const p = (): PickleWriter => new PickleWriter().byte(0x80, 2);
/** `module.name('touch SENTINEL')` via GLOBAL + REDUCE: the classic __reduce__ payload. */
const reducePayload = (module: string, name: string): Uint8Array =>
  p().global(module, name).string(`touch ${SENTINEL}`).byte(0x85).byte(0x52).byte(0x2e).bytes();

const refusedGlobal = (name: string): RegExp => new RegExp(`^data\\.pkl refers to "${name.replace(/\./g, '\\.')}", which is not on the allow-list`);

const CORPUS: { name: string; bytes: () => Buffer; expect: RegExp }[] = [
  ...['os.system', 'posix.system', 'builtins.eval', 'builtins.exec', '__builtin__.eval', 'subprocess.Popen', 'torch.load', 'numpy.core.multiarray._reconstruct', 'torch._utils._rebuild_device_tensor_from_numpy', 'runpy._run_code', 'webbrowser.open'].map((full) => {
    const dot = full.lastIndexOf('.');
    return { name: `__reduce__ payload calling ${full}`, bytes: () => withPickle(reducePayload(full.slice(0, dot), full.slice(dot + 1))), expect: refusedGlobal(full) };
  }),
  {
    name: 'STACK_GLOBAL os.system',
    bytes: () => withPickle(p().string('os').string('system').byte(0x93).string('id').byte(0x85, 0x52, 0x2e).bytes()),
    expect: refusedGlobal('os.system'),
  },
  {
    name: 'a payload hidden as one value of a real state dict',
    bytes: () => {
      const w = p().global('collections', 'OrderedDict').byte(0x29, 0x52).put();
      w.string('transformer.wte.weight').global('os', 'system').string(`touch ${SENTINEL}`).byte(0x85, 0x52, 0x73, 0x2e);
      return withPickle(w.bytes());
    },
    expect: refusedGlobal('os.system'),
  },
  { name: 'INST opcode', bytes: () => withPickle(Uint8Array.from([0x80, 2, 0x28, 0x69, ...Buffer.from(`os\nsystem\n`), 0x2e])), expect: /^data\.pkl uses opcode INST at byte 3, which a state dict never needs/ },
  { name: 'OBJ opcode', bytes: () => withPickle(Uint8Array.from([0x80, 2, 0x28, 0x6f, 0x2e])), expect: /^data\.pkl uses opcode OBJ at byte 3/ },
  { name: 'NEWOBJ on an allowed class', bytes: () => withPickle(p().global('collections', 'OrderedDict').byte(0x29, 0x81, 0x2e).bytes()), expect: /^data\.pkl uses opcode NEWOBJ at byte \d+/ },
  { name: 'NEWOBJ_EX', bytes: () => withPickle(Uint8Array.from([0x80, 4, 0x92, 0x2e])), expect: /^data\.pkl uses opcode NEWOBJ_EX at byte 2/ },
  { name: 'EXT1 (copyreg extension registry)', bytes: () => withPickle(Uint8Array.from([0x80, 2, 0x82, 1, 0x2e])), expect: /^data\.pkl uses opcode EXT1 at byte 2/ },
  { name: 'text PERSID', bytes: () => withPickle(Uint8Array.from([0x80, 2, 0x50, ...Buffer.from('x\n'), 0x2e])), expect: /^data\.pkl uses opcode PERSID/ },
  { name: 'protocol 0 INT text', bytes: () => withPickle(Uint8Array.from([0x49, ...Buffer.from('1\n'), 0x2e])), expect: /^data\.pkl uses opcode INT at byte 0/ },
  {
    name: 'REDUCE of an allowed function with the wrong arguments',
    bytes: () => withPickle(p().global('torch._utils', '_rebuild_tensor_v2').byte(0x28).string('not a storage').int(0).byte(0x29, 0x29, 0x89).global('collections', 'OrderedDict').byte(0x29, 0x52, 0x74, 0x52, 0x2e).bytes()),
    expect: /^data\.pkl a tensor is rebuilt from "not a storage", not a storage$/,
  },
  {
    name: 'a storage class called as a function',
    bytes: () => withPickle(p().global('torch', 'FloatStorage').byte(0x29, 0x52, 0x2e).bytes()),
    expect: /^data\.pkl calls "torch\.FloatStorage" with REDUCE, which is allowed only as a storage type$/,
  },
  {
    name: 'persistent id of a non-storage global',
    bytes: () => withPickle(p().byte(0x28).string('storage').global('collections', 'OrderedDict').string('0').string('cpu').int(4).byte(0x74, 0x51, 0x2e).bytes()),
    expect: /^data\.pkl has a storage of type collections\.OrderedDict, not a torch storage class$/,
  },
  {
    name: 'huge declared tensor size over a small storage',
    bytes: () => {
      const w = p().global('collections', 'OrderedDict').byte(0x29, 0x52).put().string('transformer.wte.weight');
      w.global('torch._utils', '_rebuild_tensor_v2').byte(0x28);
      w.byte(0x28).string('storage').global('torch', 'FloatStorage').string('0').string('cpu').int(128).byte(0x74, 0x51);
      w.int(0).intTuple([1e9, 1e9]).intTuple([1e9, 1]).byte(0x89).global('collections', 'OrderedDict').byte(0x29, 0x52).byte(0x74, 0x52, 0x73, 0x2e);
      return withPickle(w.bytes());
    },
    expect: /^tensor "transformer\.wte\.weight" of shape \[1000000000, 1000000000\] at offset 0 runs past its storage of 128 elements$/,
  },
  {
    name: 'huge declared storage over a small record',
    bytes: () => {
      const w = p().global('collections', 'OrderedDict').byte(0x29, 0x52).put().string('transformer.wte.weight');
      w.global('torch._utils', '_rebuild_tensor_v2').byte(0x28);
      w.byte(0x28).string('storage').global('torch', 'FloatStorage').string('0').string('cpu').int(2 ** 50).byte(0x74, 0x51);
      w.int(0).intTuple([16, 8]).intTuple([8, 1]).byte(0x89).global('collections', 'OrderedDict').byte(0x29, 0x52).byte(0x74, 0x52, 0x73, 0x2e);
      return withPickle(w.bytes());
    },
    expect: /^storage "0" declares 1125899906842624 elements of 4 bytes but its record holds 512 bytes$/,
  },
  { name: 'a 4 GiB string', bytes: () => withPickle(Uint8Array.from([0x80, 2, 0x58, 0xff, 0xff, 0xff, 0xff, 0x41, 0x2e])), expect: /^data\.pkl ends inside a string at byte 7 \(truncated\?\)$/ },
  { name: 'a 255-byte integer', bytes: () => withPickle(Uint8Array.from([0x80, 2, 0x8a, 0xff, ...new Uint8Array(255).fill(0x7f), 0x2e])), expect: /^data\.pkl holds a 255-byte integer at byte 2/ },
  { name: 'a memo slot never stored', bytes: () => withPickle(Uint8Array.from([0x80, 2, 0x6a, 0xff, 0xff, 0xff, 0x7f, 0x2e])), expect: /^data\.pkl reads memo slot 2147483647, which was never stored/ },
  {
    name: '300,000 nested marks and lists (no recursion, no stack overflow)',
    bytes: () => withPickle(Uint8Array.from([0x80, 2, ...new Array<number>(300_000).fill(0x28), ...new Array<number>(300_000).fill(0x5d), 0x2e])),
    expect: /^data\.pkl holds list, not a state dict/,
  },
  { name: 'no STOP', bytes: () => withPickle(Uint8Array.from([0x80, 2, 0x7d])), expect: /^data\.pkl ends at byte 3 without STOP \(truncated\?\)$/ },
  { name: 'a whole model pickled instead of a state dict', bytes: () => withPickle(reducePayload('transformers.models.gpt2.modeling_gpt2', 'GPT2LMHeadModel')), expect: refusedGlobal('transformers.models.gpt2.modeling_gpt2.GPT2LMHeadModel') },
  {
    name: 'compressed data.pkl',
    bytes: () => {
      const bytes = Buffer.from(VALID);
      const cd = bytes.lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]), bytes.length - 22 - 1);
      const first = bytes.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
      assert.ok(cd >= first);
      bytes.writeUInt16LE(8, first + 10); // the first central entry is data.pkl
      return bytes;
    },
    expect: /^zip entry "archive\/data\.pkl" is compressed \(method 8\)/,
  },
  {
    name: 'central directory claiming 65,535 entries',
    bytes: () => {
      const bytes = Buffer.from(VALID);
      bytes.writeUInt16LE(0xfffe, bytes.length - 22 + 10);
      return bytes;
    },
    expect: /^declares 65534 entries but its central directory holds at most \d+$/,
  },
  {
    name: 'central directory past the end of the file',
    bytes: () => {
      const bytes = Buffer.from(VALID);
      bytes.writeUInt32LE(0xfffffff0, bytes.length - 22 + 12);
      return bytes;
    },
    expect: /^has a central directory \[\d+, \d+\) past the end of the file/,
  },
  {
    name: 'ZIP64 end record claiming 2^53 entries at 2^53',
    bytes: () => {
      const bytes = Buffer.from(VALID);
      bytes.writeUInt16LE(0xffff, bytes.length - 22 + 10);
      return bytes;
    },
    expect: /^is a ZIP64 file without a ZIP64 locator/,
  },
  { name: 'legacy (pre-1.6) torch.save format', bytes: () => Buffer.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]), expect: /^is in PyTorch's legacy \(pre-1\.6, non-zip\) format, which is not read/ },
  { name: 'a zip without data.pkl', bytes: () => zipStored([{ name: 'archive/other', data: Uint8Array.of(1) }]), expect: /^is a zip file without <archive>\/data\.pkl/ },
  { name: 'not a zip', bytes: () => Buffer.from('hello, world'), expect: /^is not a PyTorch checkpoint/ },
];

test(`hostile pickles: ${CORPUS.length} named cases refused with their message, nothing run, within the allocation bound`, () => {
  for (const c of CORPUS) {
    const bytes = c.bytes();
    const { outcome, allocated } = attempt(bytes);
    assert.match(outcome, c.expect, c.name);
    assert.ok(allocated <= Math.max(CONFIG.length, 2 * bytes.length), `${c.name}: allocated ${allocated} for a ${bytes.length}-byte file`);
  }
  assert.ok(!fs.existsSync(SENTINEL), 'no payload ran');
});

test('truncated zips: the valid .bin cut at every 61st byte is refused, never crashes', () => {
  assert.equal(attempt(VALID).outcome, 'opened');
  const outcomes = new Set<string>();
  for (let length = 0; length < VALID.length; length += 61) {
    const { outcome, allocated } = attempt(VALID.subarray(0, length));
    assert.notEqual(outcome, 'opened', `cut at ${length}`);
    assert.ok(allocated <= Math.max(CONFIG.length, 2 * length), `cut at ${length}: allocated ${allocated}`);
    outcomes.add(outcome.replace(/\d+/g, 'N'));
  }
  assert.ok(outcomes.size >= 2, [...outcomes].join(' | '));
});

test('fuzz: 3,000 seeded mutations of a valid .bin each open or throw a one-line CheckpointError, within the allocation bound', { timeout: 300_000 }, () => {
  const CASES = 3000;
  const failures: string[] = [];
  const kinds = new Map<string, number>();
  let opened = 0;
  // Where mutations hurt most: the pickle (first record) and the central directory (the tail).
  const pickleEnd = VALID.indexOf(Buffer.from('archive/data/0'));
  for (let i = 0; i < CASES; i++) {
    const random = new Random(0xb1 + i);
    const bytes = Buffer.from(VALID);
    const region = random.int(0, 3);
    const [start, end] = region === 0 ? [0, pickleEnd] : region === 1 ? [VALID.length - 400, VALID.length] : [0, VALID.length];
    const flips = 1 + random.int(0, 4);
    for (let f = 0; f < flips; f++) {
      const at = start + random.int(0, end - start);
      bytes[at] = random.int(0, 3) === 0 ? random.int(0, 256) : (bytes[at] as number) ^ (1 << random.int(0, 8));
    }
    try {
      const { outcome, allocated } = attempt(bytes);
      if (outcome === 'opened') opened++;
      else kinds.set(outcome.replace(/"[^"]*"/g, '"…"').replace(/\d+/g, 'N').slice(0, 50), 1);
      if (allocated > Math.max(CONFIG.length, 2 * bytes.length)) failures.push(`case ${i}: allocated ${allocated}`);
    } catch (error) {
      failures.push(`case ${i}: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
    }
  }
  console.log(`pickle fuzz: ${CASES} cases, ${opened} opened, ${CASES - opened} refused with ${kinds.size} kinds of message`);
  assert.deepEqual(failures.slice(0, 10), [], `${failures.length} failing cases`);
  assert.ok(!fs.existsSync(SENTINEL), 'no payload ran');
  assert.ok(kinds.size >= 15, `only ${kinds.size} kinds: ${[...kinds.keys()].join(' | ')}`);
});
