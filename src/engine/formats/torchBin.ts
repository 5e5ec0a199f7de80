/**
 * pytorch_model.bin as torch.save writes it (PyTorch ≥ 1.6, torch/serialization.py
 * _save): a zip archive `<prefix>/data.pkl` (the pickled state dict), `<prefix>/data/<key>`
 * (one record per storage, raw little-endian elements), `<prefix>/version`, and in newer
 * versions `<prefix>/byteorder`. In the pickle each tensor is
 * `torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks)`
 * and each storage a persistent id `('storage', torch.<T>Storage, key, location, numel)`.
 *
 * The pickle is read by pickle.ts, which runs nothing; the hooks here only build descriptions
 * of tensors, which become byte ranges of the .bin file (records are stored uncompressed).
 */
import { formatBytes, quote } from '../safetensors';
import { CheckpointError, readAt, withOpenFile } from './fileAccess';
import { PickleError, unpickle, type PickleTuple, type PickleValue } from './pickle';
import type { StoredTensor, WeightSource } from './types';
import { readZipDirectory, storedEntryData, type ZipEntry } from './zip';

export const BIN_FILE = 'pytorch_model.bin';
/** Largest data.pkl accepted (GPT-2 XL's is about 60 KiB). */
export const MAX_PICKLE_BYTES = 64 * 1024 * 1024;
const MAX_RANK = 8;

/** torch.<T>Storage → the safetensors name of its element type, and the element size. */
const STORAGE_DTYPES: Readonly<Record<string, { readonly dtype: string; readonly bytes: number }>> = {
  'torch.FloatStorage': { dtype: 'F32', bytes: 4 },
  'torch.HalfStorage': { dtype: 'F16', bytes: 2 },
  'torch.BFloat16Storage': { dtype: 'BF16', bytes: 2 },
  'torch.DoubleStorage': { dtype: 'F64', bytes: 8 },
  'torch.LongStorage': { dtype: 'I64', bytes: 8 },
  'torch.IntStorage': { dtype: 'I32', bytes: 4 },
  'torch.ShortStorage': { dtype: 'I16', bytes: 2 },
  'torch.CharStorage': { dtype: 'I8', bytes: 1 },
  'torch.ByteStorage': { dtype: 'U8', bytes: 1 },
  'torch.BoolStorage': { dtype: 'BOOL', bytes: 1 },
};

const REBUILD_TENSOR_V2 = 'torch._utils._rebuild_tensor_v2';
const REBUILD_TENSOR = 'torch._utils._rebuild_tensor';
const REBUILD_PARAMETER = 'torch._utils._rebuild_parameter';
const REBUILD_PARAMETER_WITH_STATE = 'torch._utils._rebuild_parameter_with_state';
const ORDERED_DICT = 'collections.OrderedDict';

/**
 * Everything a GPT-2 state dict pickle may name: the ordered dict, the tensor and parameter
 * rebuild functions, and the storage classes. (PyTorch's weights_only list is wider: sparse and
 * quantized tensors, sets, complex numbers, devices; none of them is in a GPT-2 checkpoint.)
 */
export const ALLOWED_GLOBALS: ReadonlySet<string> = new Set([
  ORDERED_DICT, REBUILD_TENSOR_V2, REBUILD_TENSOR, REBUILD_PARAMETER, REBUILD_PARAMETER_WITH_STATE, ...Object.keys(STORAGE_DTYPES),
]);

/** The legacy (pre-1.6) format starts with the pickled magic number 0x1950a86a20f9469cfc6c. */
const LEGACY_MAGIC = Uint8Array.of(0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19);

interface StorageRef {
  readonly kind: 'storage';
  readonly storageType: string;
  readonly key: string;
  readonly numel: number;
}

interface TensorRef {
  readonly kind: 'tensor';
  readonly storage: StorageRef;
  readonly offset: number;
  readonly size: readonly number[];
  readonly stride: readonly number[];
}

function object(value: StorageRef | TensorRef): PickleValue {
  return { kind: 'object', value };
}

function asRef(value: PickleValue | undefined): StorageRef | TensorRef | undefined {
  if (typeof value !== 'object' || value === null || value.kind !== 'object') return undefined;
  return value.value as StorageRef | TensorRef;
}

function describe(value: PickleValue | undefined): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'None';
  if (typeof value === 'string') return quote(value, 40);
  if (typeof value !== 'object') return String(value);
  if (value.kind === 'global') return value.name;
  if (value.kind === 'object') return asRef(value)?.kind ?? 'object';
  return value.kind;
}

/** Non-negative safe integers of a tuple (a size or stride). */
function intTuple(value: PickleValue | undefined, what: string): number[] {
  if (typeof value !== 'object' || value === null || value.kind !== 'tuple') throw new PickleError(`${what} is ${describe(value)}, not a tuple`);
  if (value.items.length > MAX_RANK) throw new PickleError(`${what} has ${value.items.length} axes (at most ${MAX_RANK} accepted)`);
  return value.items.map((item) => {
    if (typeof item !== 'number' || !Number.isSafeInteger(item) || item < 0) throw new PickleError(`${what} holds ${describe(item)}, not a non-negative integer`);
    return item;
  });
}

function rebuildTensor(args: PickleTuple, minArgs: number): PickleValue {
  const [storageValue, offset, size, stride] = args.items;
  if (args.items.length < minArgs) throw new PickleError(`a tensor is rebuilt from ${args.items.length} arguments (expected at least ${minArgs})`);
  const storage = asRef(storageValue);
  if (storage?.kind !== 'storage') throw new PickleError(`a tensor is rebuilt from ${describe(storageValue)}, not a storage`);
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) throw new PickleError(`a tensor has storage offset ${describe(offset)}`);
  const tensor: TensorRef = { kind: 'tensor', storage, offset, size: intTuple(size, 'a tensor size'), stride: intTuple(stride, 'a tensor stride') };
  if (tensor.size.length !== tensor.stride.length) throw new PickleError(`a tensor has ${tensor.size.length} sizes but ${tensor.stride.length} strides`);
  return object(tensor);
}

const HOOKS = {
  allowedGlobals: ALLOWED_GLOBALS,
  reduce(callable: string, args: PickleTuple): PickleValue {
    switch (callable) {
      case ORDERED_DICT:
        if (args.items.length !== 0) throw new PickleError('collections.OrderedDict is called with arguments (a state dict is built empty, then filled)');
        return { kind: 'dict', entries: [] };
      case REBUILD_TENSOR_V2:
        return rebuildTensor(args, 6);
      case REBUILD_TENSOR:
        return rebuildTensor(args, 4);
      case REBUILD_PARAMETER:
      case REBUILD_PARAMETER_WITH_STATE: {
        const data = args.items[0];
        if (asRef(data)?.kind !== 'tensor') throw new PickleError(`a parameter is rebuilt from ${describe(data)}, not a tensor`);
        return data as PickleValue;
      }
      default:
        throw new PickleError(`calls ${quote(callable)} with REDUCE, which is allowed only as a storage type`);
    }
  },
  persistentLoad(pid: PickleValue): PickleValue {
    if (typeof pid !== 'object' || pid === null || pid.kind !== 'tuple' || pid.items.length !== 5 || pid.items[0] !== 'storage') {
      throw new PickleError(`has a persistent id ${describe(pid)} that is not ('storage', type, key, location, numel)`);
    }
    const [, type, key, location, numel] = pid.items;
    if (typeof type !== 'object' || type === null || type.kind !== 'global' || STORAGE_DTYPES[type.name] === undefined) {
      throw new PickleError(`has a storage of type ${describe(type)}, not a torch storage class`);
    }
    if (typeof key !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(key)) throw new PickleError(`has a storage key ${describe(key)}`);
    if (typeof location !== 'string') throw new PickleError(`has a storage location ${describe(location)}`);
    if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) throw new PickleError(`has a storage of ${describe(numel)} elements`);
    return object({ kind: 'storage', storageType: type.name, key, numel });
  },
};

/** Reads pytorch_model.bin's tensor layout (no tensor data) without running anything from it. */
export function readTorchBin(file: string): WeightSource {
  return withOpenFile(file, (fd, fileSize, stat) => {
    const fail = (problem: string): never => {
      throw new CheckpointError(file, problem);
    };
    const head = readAt(fd, file, 0, Math.min(fileSize, 512), true);
    if (head.length >= LEGACY_MAGIC.length && LEGACY_MAGIC.every((b, i) => head[i] === b)) {
      fail('is in PyTorch\'s legacy (pre-1.6, non-zip) format, which is not read: in Python, torch.save(torch.load(path), path) with PyTorch 1.6 or newer rewrites it as a zip, or save it as model.safetensors');
    }
    if (head.length >= 262 && new TextDecoder().decode(head.subarray(257, 262)) === 'ustar') {
      fail('is a tar archive (PyTorch\'s oldest format), which is not read: re-save it with a current PyTorch, or as model.safetensors');
    }
    if (!(head[0] === 0x50 && head[1] === 0x4b)) fail('is not a PyTorch checkpoint (torch.save writes a zip file; this does not start like one)');

    const { entries } = readZipDirectory(fd, file, fileSize);
    const pickles = [...entries.keys()].filter((name) => /^[^/]+\/data\.pkl$/.test(name));
    if (pickles.length !== 1) fail(pickles.length === 0 ? 'is a zip file without <archive>/data.pkl: not a PyTorch checkpoint' : 'holds more than one data.pkl');
    const pickleName = pickles[0] as string;
    const prefix = pickleName.slice(0, -'data.pkl'.length);
    const recordData = (entry: ZipEntry): { start: number; size: number } => ({ start: storedEntryData(fd, file, fileSize, entry), size: entry.size });

    const byteorder = entries.get(`${prefix}byteorder`);
    if (byteorder !== undefined) {
      const { start, size } = recordData(byteorder);
      const order = new TextDecoder().decode(readAt(fd, file, start, Math.min(size, 16), false));
      if (order !== 'little') fail(`stores tensors in ${quote(order)} byte order (only little-endian is read)`);
    }

    const pickleEntry = entries.get(pickleName) as ZipEntry;
    if (pickleEntry.size > MAX_PICKLE_BYTES) fail(`has a ${pickleEntry.size}-byte data.pkl, over the ${formatBytes(MAX_PICKLE_BYTES)} limit`);
    const pickleBytes = readAt(fd, file, recordData(pickleEntry).start, pickleEntry.size, false);
    let root: PickleValue;
    try {
      root = unpickle(pickleBytes, HOOKS);
    } catch (error) {
      if (error instanceof PickleError) fail(`data.pkl ${error.message}`);
      throw error;
    }
    if (typeof root !== 'object' || root === null || root.kind !== 'dict') {
      return fail(`data.pkl holds ${describe(root)}, not a state dict (a dict of tensors); save model.state_dict(), not the model`);
    }

    const notes: string[] = [];
    const tensors: StoredTensor[] = [];
    const records = new Map<string, { start: number; size: number }>();
    for (const [keyValue, value] of root.entries) {
      if (typeof keyValue !== 'string') fail(`data.pkl has a state dict key ${describe(keyValue)}, not a string`);
      const name = keyValue as string;
      const ref = asRef(value);
      if (ref?.kind !== 'tensor') {
        notes.push(`${BIN_FILE}: entry ${quote(name)} is ${describe(value)}, not a tensor; ignored`);
        continue;
      }
      const { dtype, bytes: elementBytes } = STORAGE_DTYPES[ref.storage.storageType] as { dtype: string; bytes: number };
      let record = records.get(ref.storage.key);
      if (record === undefined) {
        const entry = entries.get(`${prefix}data/${ref.storage.key}`);
        if (entry === undefined) return fail(`tensor ${quote(name)} uses storage ${quote(ref.storage.key)}, which has no data/${ref.storage.key} record (truncated?)`);
        record = recordData(entry);
        if (record.size < ref.storage.numel * elementBytes) {
          fail(`storage ${quote(ref.storage.key)} declares ${ref.storage.numel} elements of ${elementBytes} bytes but its record holds ${record.size} bytes`);
        }
        records.set(ref.storage.key, record);
      }
      let elements = 1;
      for (const dim of ref.size) elements = elements * dim > Number.MAX_SAFE_INTEGER ? Number.MAX_SAFE_INTEGER : elements * dim;
      if (ref.offset + elements > ref.storage.numel) {
        fail(`tensor ${quote(name)} of shape [${ref.size.join(', ')}] at offset ${ref.offset} runs past its storage of ${ref.storage.numel} elements`);
      }
      const unreadable = isContiguous(ref.size, ref.stride) ? undefined : `is stored as a strided view (stride [${ref.stride.join(', ')}]); save a contiguous copy (tensor.contiguous())`;
      tensors.push({
        name, dtype, shape: ref.size, file,
        fileOffset: record.start + ref.offset * elementBytes,
        byteLength: elements * elementBytes,
        ...(unreadable !== undefined ? { unreadable } : {}),
      });
    }
    return {
      format: 'pytorch-bin',
      primaryFile: file,
      files: [{ path: file, size: fileSize, mtimeMs: stat.mtimeMs }],
      tensors,
      layoutBytes: [pickleBytes],
      notes,
    };
  });
}

/** Row-major contiguous: each stride is the product of the later sizes (axes of size 1 may have any stride). */
function isContiguous(size: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let i = size.length - 1; i >= 0; i--) {
    if ((size[i] as number) !== 1 && stride[i] !== expected) return (size[i] as number) === 0;
    expected *= size[i] as number;
  }
  return true;
}
