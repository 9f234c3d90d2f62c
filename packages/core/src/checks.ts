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
