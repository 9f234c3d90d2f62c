/**
 * Run a public function's input checks, prefixing the message of what they throw with its name
 * (`door: message`), so shared checks name only the argument and need not know who calls them.
 * Returns what `check` returns.
 *
 * @example
 * ```ts
 * atDoor('psnr', () => checkPair(x, y)); // throws "psnr: y must have the shape of x ..."
 * ```
 */
export function atDoor<T>(door: string, check: () => T): T {
  try {
    return check();
  } catch (e) {
    if (e instanceof Error) e.message = `${door}: ${e.message}`;
    throw e;
  }
}

/** The rules of {@link checkNumber}, named by the words of its message. */
const NUMBER_RULES = {
  'a finite number >= 0': (v: number) => Number.isFinite(v) && v >= 0,
  'a finite number > 0': (v: number) => Number.isFinite(v) && v > 0,
  'an integer >= 0': (v: number) => Number.isInteger(v) && v >= 0,
  'a positive integer': (v: number) => Number.isInteger(v) && v >= 1,
};

/**
 * `v` when it is a number that follows `rule`, else a RangeError "`what` must be `rule`, got `v`",
 * e.g. `checkNumber(dim, 'LayerNorm: dim', 'a positive integer')`.
 */
export function checkNumber(v: unknown, what: string, rule: keyof typeof NUMBER_RULES): number {
  if (typeof v !== 'number' || !NUMBER_RULES[rule](v))
    throw new RangeError(`${what} must be ${rule}, got ${v}`);
  return v;
}
