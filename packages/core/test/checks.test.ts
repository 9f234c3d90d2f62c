import { describe, expect, it } from 'vitest';
import { atDoor } from '../src/index.js';

describe('atDoor', () => {
  it("returns the check's value and prefixes the door's name to the error it throws", () => {
    expect(atDoor('f', () => 3)).toBe(3);
    const err = new RangeError('x must be > 0');
    let thrown: unknown;
    try {
      atDoor('f', () => {
        throw err;
      });
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBe(err); // the same error object, so its class and stack are kept
    expect(err.message).toBe('f: x must be > 0');
  });
});
