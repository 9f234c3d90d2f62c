import { describe, expect, it } from 'vitest';
import { COMMON_SPECS } from '../src/command.js';
import { commands } from '../src/commands/index.js';
import { kebab, type OptionSpec } from '../src/options.js';
import { run } from './helpers.js';

const NAMES = [
  'quickstart',
  'study',
  'train-ae',
  'encode',
  'train-ldm',
  'sample',
  'reconstruct',
  'eval-recon',
  'eval-gen',
  'smoothness',
  'convert',
  'info',
];

describe('help', () => {
  it('lists every subcommand with its summary', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    for (const name of NAMES) expect(r.stdout).toMatch(new RegExp(`\\n  ${name}\\b`));
    expect(commands.map((c) => c.name).sort()).toEqual([...NAMES].sort());
  });

  it('with no arguments prints the help and succeeds', async () => {
    const r = await run([]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: ldmae');
  });

  for (const def of commands) {
    it(`${def.name} --help documents every option with its default`, async () => {
      const r = await run([def.name, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: ldmae ${def.name}`);
      const specs: readonly OptionSpec[] = [...def.specs, ...COMMON_SPECS];
      for (const spec of specs) {
        const flag =
          spec.type === 'boolean' && spec.default === true
            ? `--no-${kebab(spec.key)}`
            : `--${kebab(spec.key)}`;
        expect(r.stdout, `${def.name}: ${flag}`).toContain(flag);
        expect(spec.description.length, `${def.name}: ${flag} has help text`).toBeGreaterThan(10);
        if (spec.default !== undefined && spec.type !== 'boolean') {
          const shown = Array.isArray(spec.default) ? spec.default.join(',') : String(spec.default);
          // commander wraps long lines; compare without whitespace.
          expect(r.stdout.replace(/\s+/g, ''), `${def.name}: ${flag} default`).toMatch(
            new RegExp(`[(,]default:${escapeRe(shown.replace(/\s+/g, ''))}\\)`),
          );
        }
      }
    });
  }

  it('prints the version', async () => {
    const r = await run(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('0.1.0');
  });
});

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
