/** The command-line options of a benchmark script: `--name value` pairs and bare flags. */
const argv = process.argv.slice(2);

/** Whether the bare flag `name` (e.g. '--profile') was given. */
export const flag = (name: string): boolean => argv.includes(name);

/** The value after `name`, or `fallback` when the option is absent or has no value. */
export function opt(name: string, fallback: string): string {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] ? argv[i + 1] : fallback;
}
