/**
 * A small assembler for WebAssembly SIMD kernels: functions are written instruction by instruction in
 * TypeScript and assembled into a module at run time, so a package ships no binary and needs no build
 * step, and callers keep a JavaScript path where WebAssembly or its 128-bit SIMD is missing. A module
 * imports one memory (`env.mem`) and exports its functions by name.
 */

/** Value types. */
export const WASM_TYPE = { i32: 0x7f, f32: 0x7d, f64: 0x7c, v128: 0x7b } as const;

function uleb(v: number): number[] {
  const out: number[] = [];
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
}

function sleb(v: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const name = (s: string) => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];

/** Core opcodes (loads and stores take [align, offset] immediates after them). */
export const WASM_OP = {
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  else: 0x05,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  call: 0x10,
  drop: 0x1a,
  void: 0x40,
  select: 0x1b,
  f32Load: 0x2a,
  f64Load: 0x2b,
  f32Store: 0x38,
  f64Store: 0x39,
  i32Eqz: 0x45,
  i32LtS: 0x48,
  i32LtU: 0x49,
  i32LeS: 0x4c,
  i32GeS: 0x4e,
  i32GeU: 0x4f,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32Mul: 0x6c,
  i32And: 0x71,
  i32Shl: 0x74,
  f32Sqrt: 0x91,
  f32Add: 0x92,
  f32Sub: 0x93,
  f32Mul: 0x94,
  f32Div: 0x95,
  f64Add: 0xa0,
  f64Sub: 0xa1,
  f64Mul: 0xa2,
  f32ConvertI32S: 0xb2,
} as const;

/** SIMD opcodes (the 0xfd prefix is added by {@link WasmFunction.v}). */
export const WASM_SIMD_OP = {
  load: 0x00,
  load32Splat: 0x09,
  load64Splat: 0x0a,
  store: 0x0b,
  const: 0x0c,
  /** i8x16.shuffle: two vectors and 16 byte-lane immediates. */
  shuffle: 0x0d,
  i32Splat: 0x11,
  f32Splat: 0x13,
  f64Splat: 0x14,
  f32Extract: 0x1f,
  f64Extract: 0x21,
  store32Lane: 0x5a,
  and: 0x4e,
  or: 0x50,
  bitselect: 0x52,
  f32Nearest: 0x6a,
  i32Shl: 0xab,
  i32ShrS: 0xac,
  i32Add: 0xae,
  f32Abs: 0xe0,
  f32Neg: 0xe1,
  f32Sqrt: 0xe3,
  f32Add: 0xe4,
  f32Sub: 0xe5,
  f32Mul: 0xe6,
  f32Div: 0xe7,
  f32Min: 0xe8,
  f32Max: 0xe9,
  /** a < b ? b : a (one instruction on x64, where min / max handle NaN and -0 in several). */
  f32Pmin: 0xea,
  f32Pmax: 0xeb,
  f64Add: 0xf0,
  f64Sub: 0xf1,
  f64Mul: 0xf2,
  i32TruncSatF32: 0xf8,
  /** Relaxed SIMD (WebAssembly 3.0): a * b + c, fused where the CPU has FMA. */
  f32RelaxedMadd: 0x105,
} as const;

/** The instruction v128.const with `v` (rounded to float32) in every f32 lane. */
function f32x4Bytes(v: number): number[] {
  const lane = Array.from(new Uint8Array(new Float32Array([v]).buffer));
  return [0xfd, ...uleb(WASM_SIMD_OP.const), ...lane, ...lane, ...lane, ...lane];
}

/** One function under construction: parameters are locals 0.., `local()` adds more. */
export class WasmFunction {
  readonly code: number[] = [];
  private readonly locals: number[] = [];
  private readonly prologue: number[] = [];
  private readonly constants = new Map<number, number>();
  constructor(
    readonly name: string,
    readonly params: number[],
  ) {}
  /** A new local of type `type`; returns its index. */
  local(type: number): number {
    this.locals.push(type);
    return this.params.length + this.locals.length - 1;
  }
  /** Raw bytes. */
  op(...bytes: number[]): this {
    this.code.push(...bytes);
    return this;
  }
  get(i: number): this {
    return this.op(0x20, ...uleb(i));
  }
  set(i: number): this {
    return this.op(0x21, ...uleb(i));
  }
  tee(i: number): this {
    return this.op(0x22, ...uleb(i));
  }
  i32(v: number): this {
    return this.op(0x41, ...sleb(v));
  }
  /** An f32 constant (rounded to float32). */
  f32(v: number): this {
    return this.op(0x43, ...new Uint8Array(new Float32Array([v]).buffer));
  }
  /** Call the module's function number `index` (its position in the list the module is built from). */
  call(index: number): this {
    return this.op(WASM_OP.call, ...uleb(index));
  }
  /** A SIMD instruction and its immediates. */
  v(opcode: number, ...immediates: number[]): this {
    return this.op(0xfd, ...uleb(opcode), ...immediates);
  }
  /** f64 at address base + idx (two locals). */
  ld2(base: number, idx: number): this {
    return this.get(base).get(idx).op(WASM_OP.i32Add, WASM_OP.f64Load, 3, 0);
  }
  /** v128 all zeros. */
  zero(): this {
    return this.v(WASM_SIMD_OP.const, ...new Array(16).fill(0));
  }
  /**
   * Push a v128 local holding `v` in every f32 lane, set once at the top of the function: a constant
   * written inside a loop is rebuilt on every pass by V8 (a few instructions each).
   */
  f32x4Const(v: number): this {
    const key = new Uint32Array(new Float32Array([v]).buffer)[0]; // bits: 0 and -0 differ
    let l = this.constants.get(key);
    if (l === undefined) {
      l = this.local(WASM_TYPE.v128);
      this.constants.set(key, l);
      this.prologue.push(...f32x4Bytes(v), 0x21, ...uleb(l)); // local.set
    }
    return this.get(l);
  }
  /** f32x4 with every lane `v`. */
  f32x4(v: number): this {
    return this.op(...f32x4Bytes(v));
  }
  /** local += step (i32). */
  inc(i: number, step: number): this {
    return this.get(i).i32(step).op(WASM_OP.i32Add).set(i);
  }
  /** `while (!exit) body`, where `exit` leaves an i32 on the stack. */
  loop(exit: () => void, body: () => void): this {
    this.op(WASM_OP.block, WASM_OP.void, WASM_OP.loop, WASM_OP.void);
    exit();
    this.op(WASM_OP.brIf, 1);
    body();
    return this.op(WASM_OP.br, 0, WASM_OP.end, WASM_OP.end);
  }
  /** The function body: local declarations, code, end. */
  body(): number[] {
    const decl = vec(this.locals.map((t) => [1, t]));
    const b = [...decl, ...this.prologue, ...this.code, WASM_OP.end];
    return [...uleb(b.length), ...b];
  }
}

/** Largest memory in pages of 64 KiB: 4 GiB, all of wasm32. */
export const WASM_MAX_PAGES = 65536;

/**
 * The module of `fns` (no results; parameters as declared), importing its memory as `env.mem`: a
 * shared memory of up to 4 GiB when `shared` (as worker threads and threaded builds use), otherwise an
 * ordinary one of any size.
 */
export function assembleWasmModule(fns: WasmFunction[], shared: boolean): Uint8Array<ArrayBuffer> {
  const types = fns.map((f) => [0x60, ...vec(f.params.map((t) => [t])), 0]);
  const limits = shared ? [0x03, 0x00, ...uleb(WASM_MAX_PAGES)] : [0x00, 0x00];
  const imports = vec([[...name('env'), ...name('mem'), 0x02, ...limits]]);
  const magicAndVersion = [0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0];
  return new Uint8Array([
    ...magicAndVersion,
    ...section(1, vec(types)),
    ...section(2, imports),
    ...section(3, vec(fns.map((_, i) => uleb(i)))),
    ...section(7, vec(fns.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]))),
    ...section(10, vec(fns.map((f) => f.body()))),
  ]);
}
