#!/usr/bin/env node
// Checks that a library package declares what its published code imports.
//
//   node tools/docs/check-deps.mjs [packageDir ...]   (default: the current directory)
//
// Every bare specifier in the package's src/ (static imports and re-exports, import() and
// require.resolve() of a string literal) must be the package itself, a Node built-in, or a name in
// its dependencies or peerDependencies: the root's devDependencies are not installed for
// consumers. Every @ldmae/* name in dependencies must be imported by src/ (test-only workspace
// packages belong in devDependencies). Exits 1 with one line per problem.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative, resolve } from 'node:path';
import ts from 'typescript';

const REQUIRE_RESOLVE = /\brequire\.resolve\(\s*(['"])([^'"\n]+)\1/g;

/** The module specifiers of a source file: TypeScript's own scan, plus require.resolve('...'). */
function specifiers(text) {
  const scanned = ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  return [...scanned, ...[...code.matchAll(REQUIRE_RESOLVE)].map((m) => m[2])];
}

/** The package name of a bare specifier ('@a/b/c' -> '@a/b', 'x/y' -> 'x'), or null if relative. */
function packageName(spec) {
  if (spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('node:')) return null;
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

function* sourceFiles(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* sourceFiles(path);
    else if (/\.(ts|mts|js|mjs)$/.test(name) && !/\.(test|spec)\.ts$/.test(name)) yield path;
  }
}

function check(dir) {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const declared = new Set([
    ...Object.keys(pkg.dependencies ?? {}),
    ...Object.keys(pkg.peerDependencies ?? {}),
  ]);
  const builtins = new Set(builtinModules);
  const used = new Map();
  for (const file of sourceFiles(join(dir, 'src'))) {
    for (const spec of specifiers(readFileSync(file, 'utf8'))) {
      const name = packageName(spec);
      if (!name || name === pkg.name || builtins.has(name)) continue;
      if (!used.has(name)) used.set(name, relative(dir, file));
    }
  }
  const problems = [];
  for (const [name, file] of used) {
    if (!declared.has(name))
      problems.push(
        `${pkg.name}: ${file} imports '${name}', which is in neither dependencies nor peerDependencies`,
      );
  }
  for (const name of Object.keys(pkg.dependencies ?? {})) {
    if (name.startsWith('@ldmae/') && !used.has(name))
      problems.push(`${pkg.name}: dependency '${name}' is not imported by src/ (move it to devDependencies)`);
  }
  return problems;
}

const dirs = process.argv.length > 2 ? process.argv.slice(2) : ['.'];
const problems = dirs.flatMap((d) => check(resolve(d)));
for (const p of problems) console.error(p);
if (problems.length) process.exit(1);
console.log(`check-deps: ${dirs.length} package(s), imports match dependencies`);
