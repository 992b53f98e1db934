/**
 * A pickle reader that runs no code: the opcodes of protocols 2 to 5 that hold data (the ones torch.save writes and
 * those a newer protocol would use instead), building plain JavaScript values. Every name the pickle imports
 * (GLOBAL, STACK_GLOBAL) and every call it makes (REDUCE, NEWOBJ, BUILD, persistent ids) goes to the caller's
 * allow-list; the text opcodes of protocol 0, extension codes and out-of-band buffers are refused.
 *
 * Values: None -> null, bool -> boolean, int -> number (bigint past 2^53), float -> number, str -> string,
 * bytes -> Buffer, list and tuple -> array (a tuple frozen), dict -> Map, set and frozenset -> Set.
 */
import { VarScopeError } from '../../shared/errors';

/** What the caller decides: which globals exist, what calling them builds, what a persistent id stands for. */
export interface PickleHooks {
  /** The value a GLOBAL names, or a thrown refusal. */
  global(module: string, name: string): unknown;
  /** REDUCE (and NEWOBJ): `callable(...args)`. */
  call(callable: unknown, args: unknown[]): unknown;
  /** BUILD: sets `state` on `obj`. */
  build(obj: unknown, state: unknown): void;
  /** BINPERSID: the object a persistent id stands for. */
  persistent(pid: unknown): unknown;
}

/** The opcodes of protocol 0 and 1 that hold text or import classes by other means: named in a refusal. */
const REFUSED: Record<number, string> = {
  0x49: 'INT',
  0x4c: 'LONG',
  0x46: 'FLOAT',
  0x53: 'STRING',
  0x56: 'UNICODE',
  0x70: 'PUT',
  0x67: 'GET',
  0x50: 'PERSID',
  0x69: 'INST',
  0x6f: 'OBJ',
  0x82: 'EXT1',
  0x83: 'EXT2',
  0x84: 'EXT4',
  0x97: 'NEXT_BUFFER',
  0x98: 'READONLY_BUFFER',
};

/**
 * The object pickled in `data`. `damaged(message)` makes the error for a malformed pickle; a refusal thrown by a
 * hook passes through as it is.
 */
export function unpickle(data: Buffer, hooks: PickleHooks, damaged: (message: string) => Error): unknown {
  let pos = 0;
  let at = 0; // where the current opcode starts
  let stack: unknown[] = [];
  const marks: unknown[][] = [];
  const memo: unknown[] = [];
  let stores = 0;
  const bad = (m: string) => damaged(`its pickle ${m} (byte ${at})`);
  const take = (n: number): number => {
    if (n > data.length - pos) throw bad(`ends inside an opcode`);
    const p = pos;
    pos += n;
    return p;
  };
  const length64 = (): number => {
    const v = data.readBigUInt64LE(take(8));
    if (v > BigInt(data.length)) throw bad(`declares ${v} bytes, more than it holds`);
    return Number(v);
  };
  const text = (n: number) => data.toString('utf8', take(n), pos);
  const bytes = (n: number) => Buffer.from(data.subarray(take(n), pos));
  const pop = (): unknown => {
    if (!stack.length) throw bad('pops an empty stack');
    return stack.pop();
  };
  const top = (): unknown => {
    if (!stack.length) throw bad('reads an empty stack');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const items = stack;
    const outer = marks.pop();
    if (!outer) throw bad('closes a MARK it never opened');
    stack = outer;
    return items;
  };
  const put = (index: number) => {
    if (index > stores) throw bad(`stores memo entry ${index} after ${stores}`);
    memo[index] = top();
    stores++;
  };
  const get = (index: number) => {
    if (!(index in memo)) throw bad(`reads memo entry ${index} before storing it`);
    stack.push(memo[index]);
  };
  const setItems = (dict: unknown, items: unknown[]) => {
    if (!(dict instanceof Map)) throw bad('sets items of something that is no dict');
    if (items.length % 2) throw bad('sets a key without a value');
    for (let i = 0; i < items.length; i += 2) dict.set(items[i], items[i + 1]);
  };
  const append = (list: unknown, items: unknown[]) => {
    if (!Array.isArray(list) || Object.isFrozen(list)) throw bad('appends to something that is no list');
    for (const x of items) list.push(x);
  };
  const addToSet = (set: unknown, items: unknown[]) => {
    if (!(set instanceof Set)) throw bad('adds items to something that is no set');
    for (const x of items) set.add(x);
  };
  const tuple = (items: unknown[]) => Object.freeze(items);
  // NOTE: \`stack.push(popMark())\` would push onto the stack popMark() replaces (the receiver is evaluated first).
  const push = (v: unknown) => stack.push(v);

  try {
    for (;;) {
      at = pos;
      const op = data[take(1)];
      switch (op) {
        case 0x80: // PROTO
          if (data[take(1)] > 5) throw bad(`is of protocol ${data[pos - 1]}, newer than 5`);
          break;
        case 0x95: // FRAME: a length hint only
          length64();
          break;
        case 0x2e: // STOP
          if (stack.length !== 1 || marks.length) throw bad('stops with its stack unbalanced');
          return stack[0];
        case 0x28: // MARK
          marks.push(stack);
          stack = [];
          break;
        case 0x30: // POP
          if (stack.length) stack.pop();
          else popMark();
          break;
        case 0x31: // POP_MARK
          popMark();
          break;
        case 0x32: // DUP
          stack.push(top());
          break;
        case 0x4e: // NONE
          stack.push(null);
          break;
        case 0x88: // NEWTRUE
          stack.push(true);
          break;
        case 0x89: // NEWFALSE
          stack.push(false);
          break;
        case 0x4a: // BININT
          stack.push(data.readInt32LE(take(4)));
          break;
        case 0x4b: // BININT1
          stack.push(data[take(1)]);
          break;
        case 0x4d: // BININT2
          stack.push(data.readUInt16LE(take(2)));
          break;
        case 0x8a: // LONG1
          stack.push(littleEndianInt(data, take(data[take(1)]), pos));
          break;
        case 0x8b: {
          // LONG4
          const n = data.readInt32LE(take(4));
          if (n < 0) throw bad('declares a negative length');
          stack.push(littleEndianInt(data, take(n), pos));
          break;
        }
        case 0x47: // BINFLOAT
          stack.push(data.readDoubleBE(take(8)));
          break;
        case 0x58: // BINUNICODE
        case 0x54: // BINSTRING (a Python 2 str, read as UTF-8 as torch.load's encoding says)
          stack.push(text(data.readUInt32LE(take(4))));
          break;
        case 0x8c: // SHORT_BINUNICODE
        case 0x55: // SHORT_BINSTRING
          stack.push(text(data[take(1)]));
          break;
        case 0x8d: // BINUNICODE8
          stack.push(text(length64()));
          break;
        case 0x42: // BINBYTES
          stack.push(bytes(data.readUInt32LE(take(4))));
          break;
        case 0x43: // SHORT_BINBYTES
          stack.push(bytes(data[take(1)]));
          break;
        case 0x8e: // BINBYTES8
        case 0x96: // BYTEARRAY8
          stack.push(bytes(length64()));
          break;
        case 0x29: // EMPTY_TUPLE
          stack.push(tuple([]));
          break;
        case 0x74: // TUPLE
          push(tuple(popMark()));
          break;
        case 0x85: // TUPLE1
          stack.push(tuple([pop()]));
          break;
        case 0x86: {
          // TUPLE2
          const b = pop();
          stack.push(tuple([pop(), b]));
          break;
        }
        case 0x87: {
          // TUPLE3
          const c = pop();
          const b = pop();
          stack.push(tuple([pop(), b, c]));
          break;
        }
        case 0x5d: // EMPTY_LIST
          stack.push([]);
          break;
        case 0x6c: // LIST
          push(popMark());
          break;
        case 0x61: {
          // APPEND
          const x = pop();
          append(top(), [x]);
          break;
        }
        case 0x65: {
          // APPENDS
          const items = popMark();
          append(top(), items);
          break;
        }
        case 0x7d: // EMPTY_DICT
          stack.push(new Map());
          break;
        case 0x64: {
          // DICT
          const d = new Map();
          setItems(d, popMark());
          stack.push(d);
          break;
        }
        case 0x73: {
          // SETITEM
          const v = pop();
          const k = pop();
          setItems(top(), [k, v]);
          break;
        }
        case 0x75: {
          // SETITEMS
          const items = popMark();
          setItems(top(), items);
          break;
        }
        case 0x8f: // EMPTY_SET
          stack.push(new Set());
          break;
        case 0x90: {
          // ADDITEMS
          const items = popMark();
          addToSet(top(), items);
          break;
        }
        case 0x91: // FROZENSET
          push(new Set(popMark()));
          break;
        case 0x71: // BINPUT
          put(data[take(1)]);
          break;
        case 0x72: // LONG_BINPUT
          put(data.readUInt32LE(take(4)));
          break;
        case 0x94: // MEMOIZE
          put(stores);
          break;
        case 0x68: // BINGET
          get(data[take(1)]);
          break;
        case 0x6a: // LONG_BINGET
          get(data.readUInt32LE(take(4)));
          break;
        case 0x63: {
          // GLOBAL: "module\nname\n"
          const module = line();
          stack.push(hooks.global(module, line()));
          break;
        }
        case 0x93: {
          // STACK_GLOBAL
          const name = pop();
          const module = pop();
          if (typeof module !== 'string' || typeof name !== 'string') throw bad('imports a name that is no string');
          stack.push(hooks.global(module, name));
          break;
        }
        case 0x52: {
          // REDUCE
          const args = pop();
          const callable = pop();
          if (!Array.isArray(args)) throw bad('calls with arguments that are no tuple');
          stack.push(hooks.call(callable, args));
          break;
        }
        case 0x81: {
          // NEWOBJ: cls.__new__(cls, *args)
          const args = pop();
          const cls = pop();
          if (!Array.isArray(args)) throw bad('builds an object with arguments that are no tuple');
          stack.push(hooks.call(cls, args));
          break;
        }
        case 0x92: {
          // NEWOBJ_EX: cls.__new__(cls, *args, **kwargs)
          const kwargs = pop();
          const args = pop();
          const cls = pop();
          if (!Array.isArray(args) || !(kwargs instanceof Map)) throw bad('builds an object with arguments that are no tuple and dict');
          if (kwargs.size) throw bad('builds an object with keyword arguments');
          stack.push(hooks.call(cls, args));
          break;
        }
        case 0x62: {
          // BUILD
          const state = pop();
          hooks.build(top(), state);
          break;
        }
        case 0x51: // BINPERSID
          stack.push(hooks.persistent(pop()));
          break;
        default:
          if (op in REFUSED) throw bad(`uses opcode ${REFUSED[op]} (0x${op.toString(16)}), which torch.save does not write`);
          throw bad(`has an unknown opcode 0x${op.toString(16).padStart(2, '0')}`);
      }
    }
  } catch (e) {
    if (e instanceof VarScopeError) throw e;
    throw bad(`is malformed (${e instanceof Error ? e.message : String(e)})`);
  }

  function line(): string {
    const end = data.indexOf(0x0a, pos);
    if (end < 0) throw bad('ends inside a GLOBAL');
    const s = data.toString('utf8', pos, end);
    pos = end + 1;
    return s;
  }
}

/** A little-endian two's-complement integer of data[start..end), as a number when exact, else a bigint. */
function littleEndianInt(data: Buffer, start: number, end: number): number | bigint {
  if (end === start) return 0;
  let v = BigInt(`0x${Buffer.from(data.subarray(start, end)).reverse().toString('hex')}`);
  if (data[end - 1] & 0x80) v -= 1n << BigInt(8 * (end - start));
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}
