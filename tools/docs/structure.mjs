#!/usr/bin/env node
// Prints, for each package: source files, source lines (non-blank), and the names its entry
// points export (values and types, counted by the TypeScript checker). Run from the repo root:
//   node tools/docs/structure.mjs [--json]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

const root = new URL('../..', import.meta.url).pathname;
const pkgsDir = join(root, 'packages');

function walk(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (/\.(ts|tsx|mjs|js)$/.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const rows = [];
for (const name of readdirSync(pkgsDir).sort()) {
  const src = join(pkgsDir, name, 'src');
  let files;
  try {
    files = walk(src);
  } catch {
    continue;
  }
  const lines = files.reduce(
    (n, f) =>
      n +
      readFileSync(f, 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '').length,
    0,
  );
  const entries = files.filter((f) => /\/src\/index(\.node)?\.ts$/.test(f) || /\/src\/internal\.ts$/.test(f));
  const program = ts.createProgram(entries, {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    noEmit: true,
    skipLibCheck: true,
  });
  const checker = program.getTypeChecker();
  const exportsOf = {};
  for (const e of entries) {
    const sf = program.getSourceFile(e);
    const sym = sf && checker.getSymbolAtLocation(sf);
    exportsOf[relative(join(pkgsDir, name), e)] = sym ? checker.getExportsOfModule(sym).length : 0;
  }
  rows.push({ package: name, files: files.length, lines, exports: exportsOf });
}

if (process.argv.includes('--json')) {
  console.log(JSON.stringify(rows, null, 2));
} else {
  console.log('| package | files | lines | exports per entry |');
  console.log('| --- | ---: | ---: | --- |');
  let f = 0;
  let l = 0;
  for (const r of rows) {
    f += r.files;
    l += r.lines;
    const ex = Object.entries(r.exports)
      .map(([k, v]) => `${k.replace('src/', '')} ${v}`)
      .join(', ');
    console.log(`| ${r.package} | ${r.files} | ${r.lines} | ${ex} |`);
  }
  console.log(`| total | ${f} | ${l} | |`);
}
