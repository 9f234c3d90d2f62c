/**
 * A minimal protocol-2 pickler emitting exactly the opcode sequence CPython's pickler produces for the
 * objects a torch state dict contains (strings, small ints, tuples, globals, REDUCE calls), including
 * its memoisation (BINPUT after each string, tuple and global; BINGET when the same one recurs). It is
 * only used to write `data.pkl` of `.pth` files; callers compose the calls.
 */
import { concatBytes, latin1, utf8 } from './bytes.js';

/** The 4 little-endian bytes of a 32-bit integer (signed or not). */
const u32le = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];

/** Builds a pickle byte stream opcode by opcode. */
export class PickleWriter {
  private readonly chunks: Uint8Array[] = [];
  private readonly memo = new Map<string, number>();
  private next = 0;

  constructor() {
    this.raw(0x80, 2);
  }

  private raw(...b: number[]): void {
    this.chunks.push(Uint8Array.from(b));
  }

  private put(key: string): void {
    const i = this.next++;
    if (key) this.memo.set(key, i);
    if (i < 256) this.raw(0x71, i);
    else this.raw(0x72, ...u32le(i));
  }

  private get(key: string): boolean {
    const i = this.memo.get(key);
    if (i === undefined) return false;
    if (i < 256) this.raw(0x68, i);
    else this.raw(0x6a, ...u32le(i));
    return true;
  }

  /** A str (BINUNICODE), memoised by value. */
  str(s: string): this {
    if (this.get(`s:${s}`)) return this;
    const b = utf8(s);
    const h = new Uint8Array(5);
    h[0] = 0x58;
    new DataView(h.buffer).setUint32(1, b.length, true);
    this.chunks.push(h, b);
    this.put(`s:${s}`);
    return this;
  }

  /** An int, with the smallest opcode CPython would use. */
  int(n: number): this {
    if (!Number.isSafeInteger(n)) throw new RangeError(`PickleWriter.int: ${n} is not a safe integer`);
    if (n >= 0 && n < 256) this.raw(0x4b, n);
    else if (n >= 0 && n < 65536) this.raw(0x4d, n & 0xff, n >> 8);
    else if (n >= -0x80000000 && n <= 0x7fffffff) this.raw(0x4a, ...u32le(n));
    else {
      let v = BigInt(n);
      const bytes: number[] = [];
      // Minimal two's-complement little-endian encoding, as pickle's encode_long.
      for (;;) {
        const byte = Number(v & 0xffn);
        bytes.push(byte);
        v >>= 8n;
        if ((v === 0n && !(byte & 0x80)) || (v === -1n && byte & 0x80)) break;
      }
      this.raw(0x8a, bytes.length, ...bytes);
    }
    return this;
  }

  bool(b: boolean): this {
    this.raw(b ? 0x88 : 0x89);
    return this;
  }

  /** A module-level global (GLOBAL opcode), memoised. */
  global(module: string, name: string): this {
    const key = `g:${module}.${name}`;
    if (this.get(key)) return this;
    this.chunks.push(Uint8Array.of(0x63), latin1(`${module}\n${name}\n`));
    this.put(key);
    return this;
  }

  /**
   * A tuple whose items are written by `items` (which returns how many it wrote): EMPTY_TUPLE, TUPLE1-3
   * or MARK ... TUPLE, memoised like CPython (tuples are never shared here, so each gets a fresh slot).
   */
  tuple(items: () => number): this {
    const start = this.chunks.length;
    this.raw(0x28);
    const n = items();
    if (n > 3) this.raw(0x74);
    else {
      this.chunks.splice(start, 1);
      this.raw(n === 0 ? 0x29 : 0x84 + n);
    }
    // CPython memoises every tuple but the empty one.
    if (n > 0) this.put('');
    return this;
  }

  /** A tuple of ints. */
  intTuple(values: readonly number[]): this {
    return this.tuple(() => {
      for (const v of values) this.int(v);
      return values.length;
    });
  }

  /** REDUCE (call the callable below the arguments tuple), then memoise the result. */
  reduce(): this {
    this.raw(0x52);
    this.put('');
    return this;
  }

  /** Call `global` with no arguments: GLOBAL, EMPTY_TUPLE, REDUCE. */
  callEmpty(module: string, name: string): this {
    this.global(module, name);
    this.raw(0x29);
    return this.reduce();
  }

  mark(): this {
    this.raw(0x28);
    return this;
  }

  setitem(): this {
    this.raw(0x73);
    return this;
  }

  setitems(): this {
    this.raw(0x75);
    return this;
  }

  binpersid(): this {
    this.raw(0x51);
    return this;
  }

  /** STOP and return the bytes. */
  finish(): Uint8Array {
    this.raw(0x2e);
    return concatBytes(this.chunks);
  }
}
