// Checks the Vite output for Node built-ins: no import / export / import() / require() of a Node
// module in any emitted chunk (code inside string literals, such as tfjs's embedded worker source,
// is not code of the bundle and is ignored). Exits non-zero on any finding.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { parseAst } from 'vite';

const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
/** @param {unknown} s */
const isBuiltin = (s) => typeof s === 'string' && (s.startsWith('node:') || builtins.has(s.split('/')[0]));

/** @param {string} dir @returns {string[]} */
const files = (dir) =>
  readdirSync(dir).flatMap((f) =>
    statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : [join(dir, f)],
  );

/** @type {string[]} */
const findings = [];
const chunks = files('dist').filter((f) => /\.m?js$/.test(f));
if (chunks.length === 0) findings.push('no JavaScript in dist/: did vite build run?');
for (const file of chunks) {
  const code = readFileSync(file, 'utf8');
  if (code.includes('__vite-browser-external'))
    findings.push(`${file}: contains an externalised Node built-in`);
  /** @param {any} node */
  const visit = (node) => {
    if (!node || typeof node !== 'object') return;
    if (Array.isArray(node)) return node.forEach(visit);
    const source =
      node.type === 'ImportDeclaration' ||
      node.type === 'ImportExpression' ||
      node.type === 'ExportAllDeclaration' ||
      node.type === 'ExportNamedDeclaration'
        ? node.source?.value
        : node.type === 'CallExpression' &&
            node.callee?.type === 'Identifier' &&
            node.callee.name === 'require'
          ? node.arguments?.[0]?.value
          : undefined;
    if (isBuiltin(source)) findings.push(`${file}: ${node.type} of '${source}' at offset ${node.start}`);
    for (const key of Object.keys(node)) if (key !== 'parent') visit(node[key]);
  };
  visit(parseAst(code));
}
const html = readFileSync('dist/index.html', 'utf8');
if (!/<script type="module"[^>]*src="[^"]+\.js"/.test(html))
  findings.push('dist/index.html loads no module script');

if (findings.length) {
  console.error(`bundle check FAILED:\n  ${findings.join('\n  ')}`);
  process.exit(1);
}
const kib = chunks.reduce((s, f) => s + statSync(f).size, 0) / 1024;
console.log(
  `bundle check passed: ${chunks.length} chunks (${kib.toFixed(0)} KiB of JavaScript), no Node built-ins`,
);
