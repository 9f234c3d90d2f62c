/**
 * A small, safe Python unpickler: it understands the opcodes of pickle protocols 0-5 that data
 * (containers, numbers, strings, bytes) needs, and resolves globals only through an explicit allow-list
 * supplied by the caller. Nothing from the file is ever executed or evaluated: an allowed global maps to
 * a TypeScript function the caller wrote; any other global, and the opcodes that exist only to build
 * arbitrary objects (INST, OBJ, EXT*, out-of-band buffers), are refused with an error naming them.
 *
 * Python values map to: None -> null, bool -> boolean, int -> number (bigint beyond 2^53),
 * float -> number, str -> string, bytes / bytearray -> Uint8Array, list and tuple -> array,
 * dict -> {@link PyDict}, set / frozenset -> Set.
 *
 * Memory is bounded by the input: every opcode pushes at most one new value, lengths are checked
 * against the bytes present before anything is sliced, and the machine is iterative (no recursion).
 */
import { ByteReader, decodeLatin1, decodeUtf8, TensorFormatError } from './bytes.js';

/** A Python dict (insertion ordered, like Python's). `attrs` holds state set by BUILD (e.g. torch's `_metadata`). */
export class PyDict extends Map<unknown, unknown> {
  attrs: Record<string, unknown> = {};
}

/** A reference to an allowed global (a class or function named `module.name`). */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
    /** True for a non-allowed global kept as an inert placeholder (`unknownGlobals: 'stub'`). */
    readonly stub = false,
  ) {}

  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/**
 * An object of a non-allowed class, recorded (never constructed) in `unknownGlobals: 'stub'` mode: the
 * class name, the constructor arguments, the BUILD state and any list / dict items appended to it.
 */
export class PyObject {
  state: unknown = undefined;
  listItems: unknown[] = [];
  dictItems = new PyDict();

  constructor(
    readonly cls: string,
    readonly args: unknown[],
  ) {}
}

/** A function implementing an allowed global when it is called (REDUCE) with its arguments. */
export type PyCallable = (args: unknown[]) => unknown;

/** Options of {@link unpickle}. */
export interface UnpickleOptions {
  /**
   * Allowed globals by qualified name (`module.name`). A function is called on REDUCE; `null` allows
   * the global only as a value (e.g. a storage type inside a persistent id).
   */
  globals: ReadonlyMap<string, PyCallable | null>;
  /** Resolves persistent ids (PERSID / BINPERSID); without it they are refused. */
  persistentLoad?: (pid: unknown) => unknown;
  /**
   * What to do with a global that is not allowed: 'error' (default) refuses the file; 'stub' records
   * it as an inert {@link PyGlobal} / {@link PyObject} so the rest of the file can be read.
   */
  unknownGlobals?: 'error' | 'stub';
  /** Names the file format in errors. */
  format?: string;
}

/** The result of {@link unpickle}: the value and the offset just past its STOP opcode. */
export interface UnpickleResult {
  value: unknown;
  end: number;
}

// Opcodes refused outright, with the reason given to the user.
const REFUSED: Record<number, string> = {
  105: 'INST (builds arbitrary objects)',
  111: 'OBJ (builds arbitrary objects)',
  130: 'EXT1 (extension registry)',
  131: 'EXT2 (extension registry)',
  132: 'EXT4 (extension registry)',
  151: 'NEXT_BUFFER (out-of-band buffers)',
  152: 'READONLY_BUFFER (out-of-band buffers)',
};

/**
 * Unpickle one pickle starting at `start` in `bytes`.
 * @throws TensorFormatError on malformed input, unknown or refused opcodes, and non-allowed globals.
 */
export function unpickle(bytes: Uint8Array, start: number, opts: UnpickleOptions): UnpickleResult {
  const format = opts.format ?? 'pickle';
  const r = new ByteReader(bytes, format, start);
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  const fail = (msg: string): never => {
    throw new TensorFormatError(format, `${msg} (pickle offset ${r.pos})`);
  };
  const pop = (): unknown => {
    if (stack.length === 0 || (marks.length && stack.length <= marks[marks.length - 1]))
      fail('pickle stack underflow (corrupt pickle)');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) fail('pickle stack underflow (corrupt pickle)');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined) fail('pickle MARK missing (corrupt pickle)');
    return stack.splice(m!);
  };
  const memoGet = (i: number): unknown => {
    if (!memo.has(i)) fail(`pickle memo key ${i} is not defined (corrupt pickle)`);
    return memo.get(i);
  };
  const resolveGlobal = (module: string, name: string): PyGlobal => {
    const q = `${module}.${name}`;
    if (opts.globals.has(q)) return new PyGlobal(module, name);
    if (opts.unknownGlobals === 'stub') return new PyGlobal(module, name, true);
    const allowed = [...opts.globals.keys()].join(', ');
    return fail(
      `refusing pickle global '${q}': only the globals a tensor state dict needs are allowed (${allowed}); ` +
        `nothing in the file is executed. Re-save it as a plain state dict, or read it with { unknownGlobals: 'stub' } to inspect it`,
    );
  };
  const appendTo = (target: unknown, items: unknown[]): void => {
    if (Array.isArray(target)) target.push(...items);
    else if (target instanceof PyObject) target.listItems.push(...items);
    else fail(`pickle APPEND to a ${describe(target)} (expected a list)`);
  };
  const setItems = (target: unknown, kv: unknown[]): void => {
    if (kv.length % 2) fail('pickle SETITEMS with an odd number of items');
    const d =
      target instanceof PyDict
        ? target
        : target instanceof PyObject
          ? target.dictItems
          : fail(`pickle SETITEM on a ${describe(target)} (expected a dict)`);
    for (let i = 0; i < kv.length; i += 2) d.set(kv[i], kv[i + 1]);
  };
  const decodeText = (b: Uint8Array, what: string): string => decodeUtf8(b, format, what);

  for (;;) {
    const op = r.u8('pickle opcode');
    switch (op) {
      case 0x80: {
        const v = r.u8();
        if (v > 5) fail(`unsupported pickle protocol ${v}`);
        break;
      }
      case 0x95:
        r.u64('FRAME length');
        break;
      case 0x2e: // STOP
        if (stack.length !== 1 || marks.length)
          fail(`pickle ended with ${stack.length} values on the stack (corrupt pickle)`);
        return { value: stack[0], end: r.pos };
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x30: // POP
        pop();
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
      case 0x88:
        stack.push(true);
        break;
      case 0x89:
        stack.push(false);
        break;
      case 0x4a: // BININT
        stack.push(r.i32());
        break;
      case 0x4b: // BININT1
        stack.push(r.u8());
        break;
      case 0x4d: // BININT2
        stack.push(r.u16());
        break;
      case 0x8a: // LONG1
        stack.push(decodeLong(r.take(r.u8(), 'LONG1')));
        break;
      case 0x8b: {
        const n = r.i32('LONG4 length');
        if (n < 0) fail('negative LONG4 length');
        stack.push(decodeLong(r.take(n, 'LONG4')));
        break;
      }
      case 0x49: {
        // INT (text): also encodes True / False as I01 / I00 in protocol 0.
        const s = decodeLatin1(r.line('INT')).trim();
        if (s === '01' || s === '00') stack.push(s === '01');
        else stack.push(parseIntText(s, fail));
        break;
      }
      case 0x4c: // LONG (text)
        stack.push(parseIntText(decodeLatin1(r.line('LONG')).trim().replace(/L$/, ''), fail));
        break;
      case 0x46: {
        const s = decodeLatin1(r.line('FLOAT')).trim();
        const v = Number(s);
        if (s === '' || (Number.isNaN(v) && !/^[+-]?nan$/i.test(s)))
          fail(`bad FLOAT literal '${s.slice(0, 40)}'`);
        stack.push(v);
        break;
      }
      case 0x47: // BINFLOAT
        stack.push(r.f64be());
        break;
      case 0x58: // BINUNICODE
        stack.push(decodeText(r.take(r.u32('BINUNICODE length'), 'BINUNICODE'), 'BINUNICODE string'));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(decodeText(r.take(r.u8(), 'SHORT_BINUNICODE'), 'SHORT_BINUNICODE string'));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(decodeText(r.take(r.u64('BINUNICODE8 length'), 'BINUNICODE8'), 'BINUNICODE8 string'));
        break;
      case 0x56: // UNICODE (raw-unicode-escape text)
        stack.push(decodeRawUnicodeEscape(decodeLatin1(r.line('UNICODE'))));
        break;
      // Python 2 byte strings: legacy torch files use them for keys; read as Latin-1 text like
      // torch.load does with its default encoding.
      case 0x55: // SHORT_BINSTRING
        stack.push(decodeLatin1(r.take(r.u8(), 'SHORT_BINSTRING')));
        break;
      case 0x54: {
        const n = r.i32('BINSTRING length');
        if (n < 0) fail('negative BINSTRING length');
        stack.push(decodeLatin1(r.take(n, 'BINSTRING')));
        break;
      }
      case 0x53: // STRING (quoted text)
        stack.push(parseQuotedString(decodeLatin1(r.line('STRING')), fail));
        break;
      case 0x42: // BINBYTES
        stack.push(r.take(r.u32('BINBYTES length'), 'BINBYTES').slice());
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(r.take(r.u8(), 'SHORT_BINBYTES').slice());
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        stack.push(r.take(r.u64('BINBYTES8 length'), 'BINBYTES8').slice());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x61: // APPEND
      case 0x65: {
        const items = op === 0x61 ? [pop()] : popMark();
        appendTo(top(), items);
        break;
      }
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x74: // TUPLE
        stack.push(popMark());
        break;
      case 0x85:
      case 0x86:
      case 0x87: {
        const n = op - 0x84;
        const items: unknown[] = [];
        for (let i = 0; i < n; i++) items.unshift(pop());
        stack.push(items);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new PyDict());
        break;
      case 0x64: {
        const d = new PyDict();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x73: // SETITEM
      case 0x75: {
        const kv = op === 0x73 ? [pop(), pop()].reverse() : popMark(); // SETITEM pops the value, then the key
        setItems(top(), kv);
        break;
      }
      case 0x8f: // EMPTY_SET
        stack.push(new Set());
        break;
      case 0x90: {
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) fail(`pickle ADDITEMS on a ${describe(s)} (expected a set)`);
        for (const v of items) (s as Set<unknown>).add(v);
        break;
      }
      case 0x91: // FROZENSET
        stack.push(new Set(popMark()));
        break;
      case 0x70: // PUT (text)
        memo.set(parseIntText(decodeLatin1(r.line('PUT')).trim(), fail) as number, top());
        break;
      case 0x71: // BINPUT
        memo.set(r.u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(r.u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x67: // GET (text)
        stack.push(memoGet(parseIntText(decodeLatin1(r.line('GET')).trim(), fail) as number));
        break;
      case 0x68: // BINGET
        stack.push(memoGet(r.u8()));
        break;
      case 0x6a: // LONG_BINGET
        stack.push(memoGet(r.u32()));
        break;
      case 0x63: {
        // GLOBAL: "module\nname\n"
        const module = decodeLatin1(r.line('GLOBAL module', 256));
        const name = decodeLatin1(r.line('GLOBAL name', 256));
        stack.push(resolveGlobal(module, name));
        break;
      }
      case 0x93: {
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string')
          fail('pickle STACK_GLOBAL needs two strings');
        stack.push(resolveGlobal(module as string, name as string));
        break;
      }
      case 0x52: {
        // REDUCE: callable(*args)
        const args = pop();
        const fn = pop();
        if (!(fn instanceof PyGlobal))
          fail(`pickle REDUCE on a ${describe(fn)} (expected an allowed global)`);
        if (!Array.isArray(args)) fail(`pickle REDUCE arguments are a ${describe(args)} (expected a tuple)`);
        stack.push(call(fn as PyGlobal, args as unknown[]));
        break;
      }
      case 0x81:
      case 0x92: {
        // NEWOBJ: cls.__new__(cls, *args); NEWOBJ_EX also has kwargs (dropped). Only meaningful for
        // stubbed classes.
        if (op === 0x92) pop();
        const args = pop();
        const cls = pop();
        if (!(cls instanceof PyGlobal) || !cls.stub)
          fail(
            `pickle ${op === 0x81 ? 'NEWOBJ' : 'NEWOBJ_EX'} on ${cls instanceof PyGlobal ? `'${cls.qualifiedName}'` : describe(cls)} is not supported`,
          );
        stack.push(new PyObject((cls as PyGlobal).qualifiedName, Array.isArray(args) ? args : [args]));
        break;
      }
      case 0x62: {
        // BUILD: obj.__setstate__(state) / obj.__dict__.update(state)
        const state = pop();
        const obj = top();
        if (obj instanceof PyObject) obj.state = state;
        else if (obj instanceof PyDict && state instanceof PyDict) {
          for (const [k, v] of state) obj.attrs[String(k)] = v;
        } else if (!(state === null || (state instanceof PyDict && state.size === 0))) {
          fail(`pickle BUILD of a ${describe(obj)} with a ${describe(state)} state is not supported`);
        }
        break;
      }
      case 0x50: // PERSID (text id)
      case 0x51: {
        const pid = op === 0x50 ? decodeLatin1(r.line('PERSID')) : pop();
        if (!opts.persistentLoad) fail('pickle uses persistent ids but none are expected in this file');
        stack.push(opts.persistentLoad!(pid));
        break;
      }
      default: {
        const name = REFUSED[op];
        fail(
          name
            ? `refusing pickle opcode 0x${hex(op)} ${name}`
            : `unknown pickle opcode 0x${hex(op)}${op >= 0x20 && op < 0x7f ? ` ('${String.fromCharCode(op)}')` : ''} (not a pickle, or corrupt)`,
        );
      }
    }
  }

  function call(fn: PyGlobal, args: unknown[]): unknown {
    if (fn.stub) return new PyObject(fn.qualifiedName, args);
    const impl = opts.globals.get(fn.qualifiedName);
    if (!impl) fail(`pickle global '${fn.qualifiedName}' may appear only as a value, not be called`);
    try {
      return impl!(args);
    } catch (e) {
      if (e instanceof TensorFormatError) throw e;
      return fail(`calling '${fn.qualifiedName}' failed: ${(e as Error).message}`);
    }
  }
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0');
}

/** A short description of a pickle value's type, for error messages. */
export function describe(v: unknown): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'list/tuple';
  if (v instanceof PyDict) return 'dict';
  if (v instanceof PyGlobal) return `global '${v.qualifiedName}'`;
  if (v instanceof PyObject) return `'${v.cls}' object`;
  if (v instanceof Uint8Array) return 'bytes';
  if (v instanceof Set) return 'set';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}

/** Two's-complement little-endian integer (pickle LONG1 / LONG4), as a number when it is safe. */
function decodeLong(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function parseIntText(s: string, fail: (m: string) => never): number | bigint {
  if (!/^[+-]?\d{1,400}$/.test(s)) fail(`bad integer literal '${s.slice(0, 40)}'`);
  const v = BigInt(s);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function decodeRawUnicodeEscape(s: string): string {
  return s.replace(
    /\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g,
    (_, a: string | undefined, b: string | undefined) => {
      const cp = Number.parseInt((a ?? b)!, 16);
      return cp <= 0x10ffff ? String.fromCodePoint(cp) : '\ufffd';
    },
  );
}

const ESCAPES: Record<string, string> = {
  n: '\n',
  r: '\r',
  t: '\t',
  '\\': '\\',
  "'": "'",
  '"': '"',
  '0': '\0',
};

function parseQuotedString(s: string, fail: (m: string) => never): string {
  const q = s[0];
  if (s.length < 2 || (q !== "'" && q !== '"') || s[s.length - 1] !== q) fail('bad STRING literal');
  const body = s.slice(1, -1);
  return body.replace(/\\(x[0-9a-fA-F]{2}|.)/g, (_, e: string) =>
    e[0] === 'x' && e.length === 3
      ? String.fromCharCode(Number.parseInt(e.slice(1), 16))
      : (ESCAPES[e] ?? `\\${e}`),
  );
}
