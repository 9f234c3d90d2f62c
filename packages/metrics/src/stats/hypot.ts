/** The rotation length of the eigenvalue routines. Internal: not exported from the package. */

/** sqrt(a^2 + b^2) without overflow; Math.hypot is several times slower in V8. */
export function hypot(a: number, b: number): number {
  const x = Math.abs(a);
  const y = Math.abs(b);
  if (x > y) {
    const t = y / x;
    return x * Math.sqrt(1 + t * t);
  }
  if (y === 0) return 0;
  const t = x / y;
  return y * Math.sqrt(1 + t * t);
}
