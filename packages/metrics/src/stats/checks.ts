/**
 * Argument checks shared by the statistics functions. Internal: not exported from the package. Their
 * messages name the argument; the public function that runs them adds its own name with {@link atDoor}.
 */

/** A float vector or row-major matrix. */
export type FloatArray = Float32Array | Float64Array;

export function isFloatArray(x: unknown): x is FloatArray {
  return x instanceof Float32Array || x instanceof Float64Array;
}

/** `v`, unless it is not a positive integer. */
export function checkPositiveInt(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
    throw new RangeError(`${name} must be a positive integer, got ${String(v)}`);
  return v;
}

export function assertFloatArray(name: string, x: unknown, length?: number): asserts x is FloatArray {
  if (!isFloatArray(x)) {
    throw new TypeError(`${name} must be a Float32Array or Float64Array, got ${describe(x)}`);
  }
  if (length !== undefined && x.length !== length) {
    throw new RangeError(`${name} must have ${length} elements, got ${x.length}`);
  }
}

/** Throws when any element is NaN or infinite, naming the first offending index. */
export function assertFinite(name: string, x: ArrayLike<number>): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (v - v !== 0) throw new RangeError(`${name}[${i}] is ${v}; all values must be finite`);
  }
}

/**
 * Checks that a row-major n x n matrix is finite ({@link assertFinite}'s error) and symmetric up to `tol`
 * times its largest absolute entry, and returns a symmetrised float64 copy (the average of it and its
 * transpose).
 */
export function symmetricCopy(name: string, a: FloatArray, n: number, tol: number): Float64Array {
  const out = new Float64Array(n * n);
  // One pass in 32 x 32 tiles, so that the column read of the upper triangle stays in cache: the largest
  // entry and the largest asymmetry are both known at its end, and the first offending pair in row
  // order is looked up again only when there is one.
  let scale = 0;
  let worst = 0;
  // NaN or infinite as soon as any entry is (or, harmlessly, when finite entries overflow the sum).
  let sum = 0;
  for (let i0 = 0; i0 < n; i0 += 32) {
    const i1 = Math.min(i0 + 32, n);
    for (let j0 = 0; j0 <= i0; j0 += 32) {
      for (let i = i0; i < i1; i++) {
        const j1 = Math.min(j0 + 32, i);
        for (let j = j0; j < j1; j++) {
          const lo = a[i * n + j];
          const up = a[j * n + i];
          sum += lo + up;
          const d = Math.abs(lo - up);
          if (d > worst) worst = d;
          const m = Math.max(Math.abs(lo), Math.abs(up));
          if (m > scale) scale = m;
          const v = 0.5 * (lo + up);
          out[i * n + j] = v;
          out[j * n + i] = v;
        }
      }
    }
    for (let i = i0; i < i1; i++) {
      const v = a[i * n + i];
      sum += v;
      out[i * n + i] = v;
      if (Math.abs(v) > scale) scale = Math.abs(v);
    }
  }
  if (!(sum - sum === 0)) assertFinite(name, a);
  const limit = tol * scale;
  const asymmetric = worst > limit;
  if (asymmetric) {
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < i; j++) {
        const lo = a[i * n + j];
        const up = a[j * n + i];
        if (Math.abs(lo - up) > limit) {
          throw new RangeError(
            `${name} must be symmetric, but ${name}[${i},${j}] = ${lo} and ${name}[${j},${i}] = ${up} ` +
              `(tolerance ${tol} x the largest entry)`,
          );
        }
      }
    }
  }
  return out;
}

export function describe(x: unknown): string {
  if (x === null) return 'null';
  if (typeof x !== 'object') return typeof x;
  return (x as object).constructor?.name ?? 'object';
}
