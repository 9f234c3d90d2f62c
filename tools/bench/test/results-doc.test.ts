import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseReport, Report, writeFileAtomic } from '../report.js';
import {
  type BenchOutcome,
  checkTargets,
  END_MARKER,
  type RunInfo,
  renderResults,
  replaceBetweenMarkers,
  START_MARKER,
  type Target,
  writeResultsSection,
} from '../results-doc.js';

const DOC = `# Benchmarks

Intro written by hand.

${START_MARKER}
old generated text
| a | b |
${END_MARKER}

## Hand-written section

Kept as it is.
`;

describe('replaceBetweenMarkers', () => {
  it('replaces only the text between the markers', () => {
    const out = replaceBetweenMarkers(DOC, '## Results\n\nnew', 'doc.md');
    expect(out).toBe(
      `# Benchmarks\n\nIntro written by hand.\n\n${START_MARKER}\n## Results\n\nnew\n${END_MARKER}\n\n` +
        '## Hand-written section\n\nKept as it is.\n',
    );
  });

  it('is idempotent', () => {
    const once = replaceBetweenMarkers(DOC, '\n\nsection\n\n', 'doc.md');
    expect(replaceBetweenMarkers(once, '\n\nsection\n\n', 'doc.md')).toBe(once);
    expect(replaceBetweenMarkers(once, 'section', 'doc.md')).toBe(once);
  });

  it('works on markers next to each other and with an empty section', () => {
    const empty = `a\n${START_MARKER}\n${END_MARKER}\nb\n`;
    expect(replaceBetweenMarkers(empty, '', 'x.md')).toBe(empty);
    expect(replaceBetweenMarkers(empty, 'r', 'x.md')).toBe(`a\n${START_MARKER}\nr\n${END_MARKER}\nb\n`);
  });

  it('names the file and the marker when one is missing', () => {
    expect(() => replaceBetweenMarkers('# no markers\n', 'x', 'docs/benchmarks.md')).toThrow(
      /docs\/benchmarks\.md: marker <!-- bench:results:start --> not found/,
    );
    expect(() => replaceBetweenMarkers(`${START_MARKER}\n`, 'x', 'docs/benchmarks.md')).toThrow(
      /docs\/benchmarks\.md: marker <!-- bench:results:end --> not found/,
    );
  });

  it('refuses repeated or swapped markers', () => {
    expect(() => replaceBetweenMarkers(`${DOC}\n${START_MARKER}\n`, 'x', 'd.md')).toThrow(
      /d\.md: marker <!-- bench:results:start --> appears 2 times/,
    );
    expect(() => replaceBetweenMarkers(`${END_MARKER}\n${START_MARKER}\n`, 'x', 'd.md')).toThrow(
      /d\.md: .* comes before/,
    );
  });
});

describe('writeResultsSection', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bench-doc-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('rewrites the file in place and leaves no temporary file', () => {
    const file = join(dir, 'benchmarks.md');
    writeFileSync(file, DOC);
    writeResultsSection(file, 'fresh');
    const once = readFileSync(file, 'utf8');
    expect(once).toContain(`${START_MARKER}\nfresh\n${END_MARKER}`);
    expect(once).toContain('## Hand-written section\n\nKept as it is.\n');
    writeResultsSection(file, 'fresh');
    expect(readFileSync(file, 'utf8')).toBe(once);
    expect(readdirSync(dir)).toEqual(['benchmarks.md']);
  });

  it('leaves the target and no temporary file behind when the final rename fails', () => {
    // A non-empty directory where the file should go: the temporary file is written, the rename fails.
    const target = join(dir, 'taken');
    mkdirSync(target);
    writeFileSync(join(target, 'keep.txt'), 'kept');
    expect(() => writeFileAtomic(target, 'new text')).toThrow();
    expect(readdirSync(dir)).toEqual(['taken']);
    expect(readFileSync(join(target, 'keep.txt'), 'utf8')).toBe('kept');
  });

  it('leaves a file without markers untouched and says which file', () => {
    const file = join(dir, 'other.md');
    writeFileSync(file, '# Other\n');
    expect(() => writeResultsSection(file, 'x')).toThrow(`${file}: marker ${START_MARKER} not found`);
    expect(readFileSync(file, 'utf8')).toBe('# Other\n');
    expect(readdirSync(dir)).toEqual(['other.md']);
  });
});

describe('reports and targets', () => {
  const info: RunInfo = {
    date: '2026-12-07T10:00:00.000Z',
    quick: false,
    command: 'npm run bench',
    cpu: 'Test CPU',
    cores: 2,
    memGiB: 24,
    loadStart: 0.5,
    loadEnd: 1.25,
    node: 'v20.20.2',
    tfjsCore: '4.22.0',
    tfjsWasm: '4.22.0',
    torch: 'not installed',
    seconds: 90,
  };
  const targets: Target[] = [
    { bench: 'a', kind: 'ratio', label: /images/, op: '>=', value: 0.5, text: 'A speed' },
    { bench: 'a', kind: 'row', label: /^time$/, op: '<', value: 3, unit: 's', text: 'A time' },
    { bench: 'b', kind: 'ratio', label: /x/, op: '>=', value: 0.6, text: 'B speed' },
  ];
  const report = new Report('Bench A')
    .row('time', 3.5, 's')
    .row('broken', Number.NaN, 's')
    .ratio('ours / theirs: images / s', 0.75, 'PyTorch')
    .note('a note')
    .toJSON();
  const outcomes: BenchOutcome[] = [
    { id: 'a', command: 'npx tsx a.ts', seconds: 12, report },
    { id: 'b', command: 'npx tsx b.ts', seconds: 0, skipped: 'b.ts is not in this tree' },
  ];

  it('keeps non-finite values out of the rows', () => {
    expect(report.rows.map((r) => r.label)).toEqual(['time']);
    expect(report.notes).toContain('broken: not measured (NaN)');
    expect(parseReport(JSON.parse(JSON.stringify(report)), 'a.json')).toEqual(report);
    expect(() => parseReport({ name: 'x', rows: [{ label: 'y', value: null }] }, 'a.json')).toThrow(
      /a\.json: not a benchmark report \(rows\.value\)/,
    );
  });

  it('says met, not met and not measured', () => {
    const checked = checkTargets(targets, outcomes);
    expect(checked.map((c) => [c.measured, c.met, c.why])).toEqual([
      [0.75, true, undefined],
      [3.5, false, undefined],
      [undefined, undefined, 'skipped'],
    ]);
    const noTorch = { ...report, ratios: [], notes: ['PyTorch not installed: no PyTorch rows or ratios'] };
    expect(checkTargets(targets, [{ ...outcomes[0], report: noTorch }])[0].why).toBe('PyTorch not installed');
    expect(checkTargets(targets, [])[0].why).toBe('not run');
    const md = renderResults(info, outcomes, targets);
    expect(md).toContain('| A speed | ≥ 0.5x | 0.75x | met |');
    expect(md).toContain('| A time | < 3 s | 3.50 s | not met |');
    expect(md).toContain('| B speed | ≥ 0.6x | - | not measured (skipped) |');
    expect(md).toContain('| time | 3.50 | s | < 3 s: not met |');
    expect(md).toContain('| ours / theirs: images / s | 0.75x | PyTorch | ≥ 0.5x: met |');
    expect(md).toContain('Skipped: b.ts is not in this tree');
    expect(md).toContain('| PyTorch | not installed |');
    expect(md).toContain('- a note');
    expect(md).not.toContain('Quick run');
    expect(renderResults({ ...info, quick: true }, outcomes, targets)).toContain('**Quick run**');
  });
});
