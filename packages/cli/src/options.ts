/**
 * Declarative command options: one table per command gives each option's flag, type, default and help
 * text. The same table registers the commander options, validates values from the command line and
 * from a JSON config file, and resolves the final configuration with the precedence
 * defaults < `--config` file < command line.
 */
import { readFile } from 'node:fs/promises';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { UsageError } from './errors.js';

/** Value kinds an option can hold. */
export type OptionType = 'int' | 'number' | 'string' | 'boolean' | 'numbers' | 'path';

/** One option of a command. */
export interface OptionSpec {
  /** Key in the resolved config and in JSON config files (camelCase, e.g. 'batchSize'). */
  key: string;
  type: OptionType;
  /** Help text (the default is appended by commander). */
  description: string;
  /** Default value; `undefined` means "not set" (the command decides, e.g. derived from other options). */
  default?: unknown;
  /** Allowed values of a 'string' option. */
  choices?: readonly string[];
  /** Smallest allowed value of 'int' / 'number' options (and of each entry of 'numbers'). */
  min?: number;
  /** Largest allowed value. */
  max?: number;
  /** Name of the value in help (default from the type). */
  valueName?: string;
  /** One-letter short flag, e.g. 'o' for -o. */
  short?: string;
}

/** A resolved configuration: option key -> value. */
export type ResolvedOptions = Record<string, unknown>;

/** The value of an option of `S`: number, number[], boolean, one of its choices, or string. */
export type OptionValue<S extends OptionSpec> = S['type'] extends 'int' | 'number'
  ? number
  : S['type'] extends 'numbers'
    ? number[]
    : S['type'] extends 'boolean'
      ? boolean
      : S extends { choices: readonly (infer C extends string)[] }
        ? C
        : string;

type WithDefault = { default: NonNullable<unknown> };

/**
 * The resolved options of a spec table (declared `as const`): one property per key, typed by
 * {@link OptionValue}, optional unless the option has a default. A table of plain `OptionSpec`s gives
 * {@link ResolvedOptions}.
 */
export type OptionsOf<Specs extends readonly OptionSpec[]> = string extends Specs[number]['key']
  ? ResolvedOptions
  : { [S in Specs[number] as S extends WithDefault ? S['key'] : never]: OptionValue<S> } & {
      [S in Specs[number] as S extends WithDefault ? never : S['key']]?: OptionValue<S>;
    };

/** 'batchSize' -> 'batch-size'. */
export function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function typeName(spec: OptionSpec): string {
  if (spec.valueName) return spec.valueName;
  switch (spec.type) {
    case 'int':
      return 'n';
    case 'number':
      return 'x';
    case 'numbers':
      return 'list';
    case 'path':
      return 'path';
    default:
      return spec.choices ? 'name' : 'value';
  }
}

/**
 * Check (and coerce) one value of `spec`, from a command-line string or a JSON value.
 * @throws Error with a message that says what was expected
 */
export function checkValue(spec: OptionSpec, raw: unknown): unknown {
  const range = (v: number) => {
    if (spec.min !== undefined && v < spec.min) throw new Error(`expected a value >= ${spec.min}, got ${v}`);
    if (spec.max !== undefined && v > spec.max) throw new Error(`expected a value <= ${spec.max}, got ${v}`);
    return v;
  };
  const num = (v: unknown, int: boolean): number => {
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isFinite(n) || (int && !Number.isInteger(n))) {
      throw new Error(`expected ${int ? 'an integer' : 'a finite number'}, got ${JSON.stringify(v)}`);
    }
    return range(n);
  };
  switch (spec.type) {
    case 'int':
      return num(raw, true);
    case 'number':
      return num(raw, false);
    case 'numbers': {
      const list = typeof raw === 'string' ? raw.split(',').filter((s) => s.trim() !== '') : raw;
      if (!Array.isArray(list) || list.length === 0)
        throw new Error(`expected a comma-separated list of numbers, got ${JSON.stringify(raw)}`);
      return list.map((v) => num(v, false));
    }
    case 'boolean':
      if (typeof raw === 'boolean') return raw;
      if (raw === 'true' || raw === 'false') return raw === 'true';
      throw new Error(`expected true or false, got ${JSON.stringify(raw)}`);
    default: {
      if (typeof raw !== 'string' || raw === '')
        throw new Error(`expected a non-empty string, got ${JSON.stringify(raw)}`);
      if (spec.choices && !spec.choices.includes(raw))
        throw new Error(`expected one of ${spec.choices.join(', ')}, got '${raw}'`);
      return raw;
    }
  }
}

/** Add the options of `specs` to a commander command (help text, defaults, parsing). */
export function addOptions(cmd: Command, specs: readonly OptionSpec[]): Command {
  for (const spec of specs) {
    const long = kebab(spec.key);
    const short = spec.short ? `-${spec.short}, ` : '';
    let opt: Option;
    if (spec.type === 'boolean') {
      // A flag that is on by default is spelled --no-<name> (commander sets the key to false).
      opt = new Option(spec.default === true ? `--no-${long}` : `${short}--${long}`, spec.description);
      if (spec.default === true) opt.default(true);
    } else {
      opt = new Option(`${short}--${long} <${typeName(spec)}>`, spec.description);
      if (spec.choices) opt.choices(spec.choices as string[]);
      opt.argParser((value: string) => {
        try {
          return checkValue(spec, value);
        } catch (e) {
          throw new InvalidArgumentError((e as Error).message);
        }
      });
      if (spec.default !== undefined) {
        opt.default(
          spec.default,
          Array.isArray(spec.default)
            ? spec.default.join(',')
            : JSON.stringify(spec.default).replace(/^"|"$/g, ''),
        );
      }
    }
    cmd.addOption(opt);
  }
  return cmd;
}

/** Read a JSON config file: an object of option keys (camelCase or kebab-case). */
export async function readConfigFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new UsageError(
      `--config: cannot read '${path}' (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--config: '${path}' is not valid JSON (${(e as Error).message})`);
  }
  if (!json || typeof json !== 'object' || Array.isArray(json))
    throw new UsageError(`--config: '${path}' must hold a JSON object of option names and values`);
  // A resolved config.json written by an earlier run holds the options under "options".
  const obj = json as Record<string, unknown>;
  if (obj.options && typeof obj.options === 'object' && typeof obj.command === 'string')
    return obj.options as Record<string, unknown>;
  return obj;
}

const CAMEL = (k: string) => k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/**
 * Resolve the options of `cmd` against `specs`: defaults, then the JSON file named by `--config` (if
 * any), then every option given on the command line. Unknown keys in the file, and values of the wrong
 * type, are UsageErrors naming the key.
 * @param ignore keys a config file may hold that are not options of this command (silently skipped)
 */
export async function resolveOptions(
  cmd: Command,
  specs: readonly OptionSpec[],
  ignore: readonly string[] = [],
): Promise<ResolvedOptions> {
  const given = cmd.opts() as Record<string, unknown>;
  const out: ResolvedOptions = {};
  for (const spec of specs) if (spec.default !== undefined) out[spec.key] = structuredClone(spec.default);
  const configPath = given.config;
  if (typeof configPath === 'string') {
    const file = await readConfigFile(configPath);
    const byKey = new Map(specs.map((s) => [s.key, s]));
    for (const [rawKey, value] of Object.entries(file)) {
      const key = CAMEL(rawKey);
      if (key === 'config' || ignore.includes(key)) continue;
      const spec = byKey.get(key);
      if (!spec) {
        throw new UsageError(
          `--config: '${configPath}' sets '${rawKey}', which is not an option of '${cmd.name()}'`,
          `known keys: ${specs.map((s) => s.key).join(', ')}`,
        );
      }
      if (value === null) {
        delete out[key];
        continue;
      }
      try {
        out[key] = checkValue(spec, value);
      } catch (e) {
        throw new UsageError(`--config: '${configPath}' key '${rawKey}': ${(e as Error).message}`);
      }
    }
  }
  for (const spec of specs) {
    if (cmd.getOptionValueSource(spec.key) === 'cli') out[spec.key] = given[spec.key];
  }
  return out;
}
