#!/usr/bin/env node
// Checks that what a package publishes speaks to users only: its README.md and built type
// declarations (dist/**/*.d.ts) must not carry notes about how the project is run (work items,
// briefs, paths of the maintainers' spec files).
//
//   node tools/docs/check-published.mjs [packageDir ...]   (default: the current directory)
//
// Exits 1 with one line per hit (file:line and the text).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

/** What must not appear, each with why. */
export const INTERNAL = [
  [/\bthe brief\b|\bbrief's\b|\bbriefs?\s+(says|asks|names)\b/i, 'a note about a work brief'],
  [
    /\bshared\/(spec|paper|design)\b|\bspec\/(vmae|diffusion|metrics|environment)\.md\b/,
    'a path of the maintainers’ spec files',
  ],
  [/\b(issue|task|ticket) #?\d+\b/i, 'a reference to a work item'],
  [/\bclosing note\b|\bthis session\b/i, 'a note about how the work was done'],
];

function files(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else if (p.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** The hits in one package folder. */
export function check(pkgDir) {
  const hits = [];
  const targets = [
    join(pkgDir, 'README.md'),
    ...(existsSync(join(pkgDir, 'dist')) ? files(join(pkgDir, 'dist')) : []),
  ];
  for (const file of targets) {
    if (!existsSync(file)) continue;
    const lines = readFileSync(file, 'utf8').split('\n');
    lines.forEach((line, i) => {
      for (const [re, why] of INTERNAL)
        if (re.test(line))
          hits.push(`${relative(process.cwd(), file)}:${i + 1}: ${why}: ${line.trim().slice(0, 120)}`);
    });
  }
  return hits;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dirs = process.argv.slice(2).length ? process.argv.slice(2) : ['.'];
  const hits = dirs.flatMap((d) => check(resolve(d)));
  for (const h of hits) console.error(h);
  if (hits.length) {
    console.error(`check-published: ${hits.length} internal note(s) in published files`);
    process.exit(1);
  }
}
