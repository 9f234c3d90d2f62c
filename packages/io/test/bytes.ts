// Byte-building helpers shared by the io tests: files are assembled opcode by opcode / field by field
// from the format specifications, so the tests do not depend on the writers they check.

/** Concatenate numbers (single bytes), strings (Latin-1 bytes) and byte arrays. */
export function b(...parts: (number | string | Uint8Array | number[])[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') out.push(p);
    else if (typeof p === 'string') for (const c of p) out.push(c.charCodeAt(0));
    else out.push(...p);
  }
  return Uint8Array.from(out);
}

export const u16 = (n: number) => [n & 0xff, n >>> 8];
export const u32 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24];
export function u64(n: number | bigint): number[] {
  const d = new DataView(new ArrayBuffer(8));
  d.setBigUint64(0, BigInt(n), true);
  return [...new Uint8Array(d.buffer)];
}
export const f32le = (...v: number[]) => [...new Uint8Array(new Float32Array(v).buffer)];
export const f64le = (...v: number[]) => [...new Uint8Array(new Float64Array(v).buffer)];

/** Pickle opcodes (CPython Lib/pickle.py names). */
export const OP = {
  MARK: 0x28,
  STOP: 0x2e,
  BININT: 0x4a,
  BININT1: 0x4b,
  BININT2: 0x4d,
  NONE: 0x4e,
  BINPERSID: 0x51,
  REDUCE: 0x52,
  SHORT_BINSTRING: 0x55,
  BINUNICODE: 0x58,
  EMPTY_LIST: 0x5d,
  APPEND: 0x61,
  BUILD: 0x62,
  GLOBAL: 0x63,
  APPENDS: 0x65,
  BINGET: 0x68,
  BINPUT: 0x71,
  SETITEM: 0x73,
  TUPLE: 0x74,
  EMPTY_TUPLE: 0x29,
  SETITEMS: 0x75,
  EMPTY_DICT: 0x7d,
  PROTO: 0x80,
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  LONG1: 0x8a,
  SHORT_BINUNICODE: 0x8c,
  STACK_GLOBAL: 0x93,
  MEMOIZE: 0x94,
  FRAME: 0x95,
} as const;

/** BINUNICODE string. */
export const str = (s: string) =>
  b(OP.BINUNICODE, u32(new TextEncoder().encode(s).length), [...new TextEncoder().encode(s)]);
/** GLOBAL 'module\nname\n'. */
export const glob = (m: string, n: string) => b(OP.GLOBAL, `${m}\n${n}\n`);
export const put = (i: number) => b(OP.BINPUT, i);
export const get = (i: number) => b(OP.BINGET, i);

/** `nextInt(n)`, an integer in [0, n), of a small seeded generator (mulberry32): reproducible fuzz cases. */
export function seededInts(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * n);
  };
}
