/**
 * A pickle reader that runs nothing: it interprets an allow-list of opcodes into plain data and
 * hands every call the pickle asks for (REDUCE of an allow-listed global, a persistent id) to
 * the caller's hooks, which build data too. Modelled on PyTorch's weights_only unpickler
 * (torch/_weights_only_unpickler.py): globals are looked up in an allow-list by name, never
 * imported; BUILD only on dicts and the caller's objects; APPEND(S) only on lists.
 *
 * Why it is safe: a pickle is a program for a stack machine whose only dangerous instructions
 * are those that name a Python callable (GLOBAL, STACK_GLOBAL, INST, OBJ) and call it (REDUCE,
 * NEWOBJ, BUILD with __setstate__). Here a name is only a string compared with the allow-list;
 * nothing is imported or called, and opcodes outside the table (INST, OBJ, NEWOBJ, EXT1, …)
 * are refused. The result is data made of JS values; cost is linear in the pickle's length
 * (every opcode consumes at least one byte and makes O(1) new values; lengths are checked
 * against the bytes left before anything is sliced; no recursion).
 *
 * Opcode semantics: CPython Lib/pickle.py (protocols 0–5) and pickletools.
 */
import { quote } from '../safetensors';

/** A problem with the pickle; the message is one line without the file name. */
export class PickleError extends Error {
  override readonly name = 'PickleError';
}

export interface PickleTuple {
  readonly kind: 'tuple';
  readonly items: readonly PickleValue[];
}
export interface PickleList {
  readonly kind: 'list';
  readonly items: PickleValue[];
}
export interface PickleDict {
  readonly kind: 'dict';
  /** Insertion order kept (an OrderedDict and a dict read the same). */
  readonly entries: [PickleValue, PickleValue][];
}
/** An allow-listed global, by its full dotted name ("collections.OrderedDict"). Never resolved to code. */
export interface PickleGlobal {
  readonly kind: 'global';
  readonly name: string;
}
/** Whatever the caller's hooks build (a storage, a tensor); opaque to the reader. */
export interface PickleObject {
  readonly kind: 'object';
  readonly value: unknown;
}
export type PickleValue = null | boolean | number | string | PickleTuple | PickleList | PickleDict | PickleGlobal | PickleObject;

export interface UnpickleHooks {
  /** Full dotted names a GLOBAL may name; anything else is refused, naming it. */
  readonly allowedGlobals: ReadonlySet<string>;
  /** REDUCE: `callable(*args)` for an allow-listed global. Throws PickleError to refuse. */
  readonly reduce: (callable: string, args: PickleTuple) => PickleValue;
  /** BINPERSID: the object a persistent id stands for (PyTorch: a storage). */
  readonly persistentLoad: (pid: PickleValue) => PickleValue;
}

const OPCODE_NAMES: Readonly<Record<number, string>> = {
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT', 0x4a: 'BININT',
  0x4b: 'BININT1', 0x4c: 'LONG', 0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID', 0x51: 'BINPERSID', 0x52: 'REDUCE',
  0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING', 0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x61: 'APPEND',
  0x62: 'BUILD', 0x63: 'GLOBAL', 0x64: 'DICT', 0x7d: 'EMPTY_DICT', 0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET',
  0x69: 'INST', 0x6a: 'LONG_BINGET', 0x6c: 'LIST', 0x5d: 'EMPTY_LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT',
  0x72: 'LONG_BINPUT', 0x73: 'SETITEM', 0x74: 'TUPLE', 0x29: 'EMPTY_TUPLE', 0x75: 'SETITEMS', 0x47: 'BINFLOAT',
  0x80: 'PROTO', 0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x85: 'TUPLE1', 0x86: 'TUPLE2', 0x87: 'TUPLE3',
  0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4', 0x42: 'BINBYTES', 0x43: 'SHORT_BINBYTES',
  0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8', 0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS', 0x91: 'FROZENSET',
  0x92: 'NEWOBJ_EX', 0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE', 0x95: 'FRAME', 0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER',
  0x98: 'READONLY_BUFFER',
};

const MARK = Symbol('mark');
type StackItem = PickleValue | typeof MARK;
/** Longest module or name a GLOBAL may carry (real ones are under 60 characters). */
const MAX_GLOBAL_LINE = 256;

/** Interprets `bytes` as a pickle (protocol ≤ 5) under `hooks`; returns the object STOP leaves. */
export function unpickle(bytes: Uint8Array, hooks: UnpickleHooks): PickleValue {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const stack: StackItem[] = [];
  const memo = new Map<number, PickleValue>();
  let pos = 0;

  const fail = (problem: string): never => {
    throw new PickleError(problem);
  };
  const need = (n: number, what: string): number => {
    if (n < 0 || pos + n > bytes.length) fail(`ends inside ${what} at byte ${pos} (truncated?)`);
    const at = pos;
    pos += n;
    return at;
  };
  const pop = (what: string): PickleValue => {
    const item = stack.pop();
    if (item === undefined || item === MARK) return fail(`${what} found no value on the stack (malformed)`);
    return item;
  };
  const top = (what: string): PickleValue => {
    const item = stack[stack.length - 1];
    if (item === undefined || item === MARK) return fail(`${what} found no value on the stack (malformed)`);
    return item;
  };
  const popMark = (what: string): PickleValue[] => {
    const mark = stack.lastIndexOf(MARK);
    if (mark < 0) fail(`${what} found no MARK (malformed)`);
    const items = stack.splice(mark) as StackItem[];
    items.shift();
    return items as PickleValue[];
  };
  const text = (at: number, length: number, what: string): string => {
    try {
      return utf8.decode(bytes.subarray(at, at + length));
    } catch {
      return fail(`${what} at byte ${at} is not valid UTF-8`);
    }
  };
  const line = (what: string): string => {
    const start = pos;
    const end = bytes.indexOf(0x0a, start);
    if (end < 0 || end - start > MAX_GLOBAL_LINE) fail(`${what} at byte ${start} has no end of line within ${MAX_GLOBAL_LINE} bytes (malformed)`);
    pos = end + 1;
    return text(start, end - start, what);
  };
  const global = (module: string, name: string): PickleGlobal => {
    const full = `${module}.${name}`;
    if (!hooks.allowedGlobals.has(full)) {
      fail(`refers to ${quote(full)}, which is not on the allow-list of what a state dict needs (nothing from the file is run; the file is refused)`);
    }
    return { kind: 'global', name: full };
  };
  const memoIndex = (index: number): PickleValue => {
    const value = memo.get(index);
    if (value === undefined) return fail(`reads memo slot ${index}, which was never stored (malformed)`);
    return value;
  };
  const setItems = (dict: PickleValue, items: PickleValue[], what: string): void => {
    if (typeof dict !== 'object' || dict === null || dict.kind !== 'dict') return void fail(`${what} on something that is not a dict`);
    if (items.length % 2 !== 0) fail(`${what} has an odd number of items (malformed)`);
    for (let i = 0; i < items.length; i += 2) dict.entries.push([items[i] as PickleValue, items[i + 1] as PickleValue]);
  };
  const appendItems = (list: PickleValue, items: PickleValue[], what: string): void => {
    if (typeof list !== 'object' || list === null || list.kind !== 'list') return void fail(`${what} on something that is not a list`);
    for (const item of items) list.items.push(item);
  };

  for (;;) {
    if (pos >= bytes.length) fail(`ends at byte ${pos} without STOP (truncated?)`);
    const opAt = pos;
    const op = bytes[pos++] as number;
    switch (op) {
      case 0x80: { // PROTO
        const protocol = bytes[need(1, 'PROTO')] as number;
        if (protocol > 5) fail(`uses pickle protocol ${protocol} (at most 5 is known)`);
        break;
      }
      case 0x95: need(8, 'FRAME'); break; // FRAME: a length hint only
      case 0x2e: { // STOP
        const result = pop('STOP');
        return result;
      }
      case 0x28: stack.push(MARK); break;
      case 0x29: stack.push({ kind: 'tuple', items: [] }); break;
      case 0x74: stack.push({ kind: 'tuple', items: popMark('TUPLE') }); break;
      case 0x85: { const a = pop('TUPLE1'); stack.push({ kind: 'tuple', items: [a] }); break; }
      case 0x86: { const b = pop('TUPLE2'); const a = pop('TUPLE2'); stack.push({ kind: 'tuple', items: [a, b] }); break; }
      case 0x87: { const c = pop('TUPLE3'); const b = pop('TUPLE3'); const a = pop('TUPLE3'); stack.push({ kind: 'tuple', items: [a, b, c] }); break; }
      case 0x5d: stack.push({ kind: 'list', items: [] }); break;
      case 0x61: { const item = pop('APPEND'); appendItems(top('APPEND'), [item], 'APPEND'); break; }
      case 0x65: { const items = popMark('APPENDS'); appendItems(top('APPENDS'), items, 'APPENDS'); break; }
      case 0x7d: stack.push({ kind: 'dict', entries: [] }); break;
      case 0x73: { const value = pop('SETITEM'); const key = pop('SETITEM'); setItems(top('SETITEM'), [key, value], 'SETITEM'); break; }
      case 0x75: { const items = popMark('SETITEMS'); setItems(top('SETITEMS'), items, 'SETITEMS'); break; }
      case 0x4e: stack.push(null); break;
      case 0x88: stack.push(true); break;
      case 0x89: stack.push(false); break;
      case 0x4a: stack.push(view.getInt32(need(4, 'BININT'), true)); break;
      case 0x4b: stack.push(bytes[need(1, 'BININT1')] as number); break;
      case 0x4d: stack.push(view.getUint16(need(2, 'BININT2'), true)); break;
      case 0x8a: { // LONG1: n little-endian two's-complement bytes
        const n = bytes[need(1, 'LONG1')] as number;
        const at = need(n, 'LONG1');
        if (n > 8) fail(`holds a ${n}-byte integer at byte ${opAt} (at most 8 bytes accepted)`);
        let value = 0n;
        for (let i = n - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[at + i] as number);
        if (n > 0 && ((bytes[at + n - 1] as number) & 0x80) !== 0) value -= 1n << BigInt(8 * n);
        if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) fail(`holds the integer ${value} at byte ${opAt}, beyond 2^53`);
        stack.push(Number(value));
        break;
      }
      case 0x47: stack.push(view.getFloat64(need(8, 'BINFLOAT'), false)); break;
      case 0x58: { // BINUNICODE
        const length = view.getUint32(need(4, 'BINUNICODE'), true);
        stack.push(text(need(length, 'a string'), length, 'a string'));
        break;
      }
      case 0x8c: { // SHORT_BINUNICODE
        const length = bytes[need(1, 'SHORT_BINUNICODE')] as number;
        stack.push(text(need(length, 'a string'), length, 'a string'));
        break;
      }
      case 0x55: { // SHORT_BINSTRING (protocol ≤ 2 byte strings; as PyTorch, read as text)
        const length = bytes[need(1, 'SHORT_BINSTRING')] as number;
        stack.push(text(need(length, 'a string'), length, 'a string'));
        break;
      }
      case 0x63: { // GLOBAL "module\nname\n"
        const module = line('GLOBAL');
        stack.push(global(module, line('GLOBAL')));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop('STACK_GLOBAL');
        const module = pop('STACK_GLOBAL');
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL on values that are not strings');
        stack.push(global(module as string, name as string));
        break;
      }
      case 0x52: { // REDUCE: callable(*args)
        const args = pop('REDUCE');
        const callable = pop('REDUCE');
        if (typeof callable !== 'object' || callable === null || callable.kind !== 'global') return fail(`REDUCE at byte ${opAt} calls something that is not an allow-listed global`);
        if (typeof args !== 'object' || args === null || args.kind !== 'tuple') return fail(`REDUCE at byte ${opAt} has arguments that are not a tuple`);
        stack.push(hooks.reduce(callable.name, args));
        break;
      }
      case 0x62: { // BUILD: obj.__setstate__(state); allowed on dicts (OrderedDict._metadata) and hook objects, state ignored
        pop('BUILD');
        const target = top('BUILD');
        if (typeof target !== 'object' || target === null || (target.kind !== 'dict' && target.kind !== 'object')) {
          fail(`BUILD at byte ${opAt} on something that is not a dict or a tensor`);
        }
        break;
      }
      case 0x51: stack.push(hooks.persistentLoad(pop('BINPERSID'))); break;
      case 0x71: memo.set(bytes[need(1, 'BINPUT')] as number, top('BINPUT')); break;
      case 0x72: memo.set(view.getUint32(need(4, 'LONG_BINPUT'), true), top('LONG_BINPUT')); break;
      case 0x94: memo.set(memo.size, top('MEMOIZE')); break;
      case 0x68: stack.push(memoIndex(bytes[need(1, 'BINGET')] as number)); break;
      case 0x6a: stack.push(memoIndex(view.getUint32(need(4, 'LONG_BINGET'), true))); break;
      default:
        fail(`uses opcode ${OPCODE_NAMES[op] ?? `0x${op.toString(16).padStart(2, '0')}`} at byte ${opAt}, which a state dict never needs (refused; nothing from the file is run)`);
    }
  }
}
