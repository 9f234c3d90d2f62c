#!/usr/bin/env node
/**
 * Runs every project under examples/ against the packed packages, as a user would install them.
 *
 * 1. builds the packages (`nx run-many -t build`, cached; `--no-build` skips it);
 * 2. `npm pack`s every non-private package under packages/ into <tmp>/tarballs;
 * 3. for each example: copies it to a fresh directory under os.tmpdir() (outside the repository),
 *    points its @ldmae/* dependencies and `overrides` at the tarballs, runs `npm install` there,
 *    checks that every @ldmae/* package was installed from a tarball (a real directory inside the
 *    temporary project, not a link into the workspace), runs `npm run typecheck` when the example
 *    has one (its JSDoc types against the packed .d.ts files), then `npm start`;
 * 4. prints one line per example (install, typecheck and run time, PASS / FAIL) and exits non-zero if any failed.
 *
 * Usage: node tools/examples/run-examples.mjs [--only 01[,03]] [--keep] [--no-build] [--verbose]
 * Plain Node (>= 20), no dependencies.
 */
import { spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
const examplesDir = join(repo, 'examples');
const packagesDir = join(repo, 'packages');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** Seconds an install / a run may take before the example fails. */
const INSTALL_TIMEOUT_S = 600;
const START_TIMEOUT_S = 300;

function parseArgs(argv) {
  const opts = { only: [], keep: false, build: true, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--only') {
      const v = argv[++i];
      if (!v) throw new Error('--only needs a value, e.g. --only 01 or --only 01,03');
      opts.only.push(...v.split(',').filter(Boolean));
    } else if (a.startsWith('--only=')) opts.only.push(...a.slice(7).split(',').filter(Boolean));
    else if (a === '--keep') opts.keep = true;
    else if (a === '--no-build') opts.build = false;
    else if (a === '--verbose') opts.verbose = true;
    else if (a === '--help' || a === '-h') {
      console.log(
        'usage: node tools/examples/run-examples.mjs [--only 01[,03]] [--keep] [--no-build] [--verbose]',
      );
      process.exit(0);
    } else throw new Error(`unknown argument '${a}' (expected --only, --keep, --no-build, --verbose)`);
  }
  return opts;
}

/**
 * Runs a command, collecting stdout + stderr (and echoing them with --verbose).
 * Resolves to { code, output, seconds }; never rejects.
 */
function run(cmd, args, { cwd, timeoutS, echo = false, env } = {}) {
  return new Promise((resolvePromise) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: process.platform !== 'win32',
    });
    let output = '';
    const onData = (chunk) => {
      const s = chunk.toString();
      output += s;
      if (echo) process.stdout.write(s);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    let timedOut = false;
    const timer =
      timeoutS &&
      setTimeout(() => {
        timedOut = true;
        try {
          // The whole process group: npm start's children included.
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      }, timeoutS * 1000);
    const finish = (code, err) => {
      if (timer) clearTimeout(timer);
      if (err) output += `\n${err.message}\n`;
      if (timedOut) output += `\n[timed out after ${timeoutS} s]\n`;
      resolvePromise({
        code: timedOut ? 124 : (code ?? 1),
        output,
        seconds: (performance.now() - t0) / 1000,
      });
    };
    child.on('error', (err) => finish(1, err));
    child.on('close', (code) => finish(code));
  });
}

function readJson(path) {
  return JSON.parse(readFileSync(path, 'utf8'));
}

/** Non-private packages under packages/: [{ name, version, dir }]. */
function publishablePackages() {
  const out = [];
  for (const entry of readdirSync(packagesDir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const pj = join(packagesDir, entry.name, 'package.json');
    if (!existsSync(pj)) continue;
    const pkg = readJson(pj);
    if (pkg.private === true) continue;
    out.push({ name: pkg.name, version: pkg.version, dir: join(packagesDir, entry.name) });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** `npm pack` each package into `dest`; returns Map name -> absolute tarball path. */
async function packAll(packages, dest) {
  const tarballs = new Map();
  for (const p of packages) {
    const r = await run(npm, ['pack', '--json', '--pack-destination', dest], { cwd: p.dir, timeoutS: 120 });
    if (r.code !== 0) throw new Error(`npm pack failed for ${p.name}:\n${r.output}`);
    // npm may print lifecycle output before the JSON array.
    const json = JSON.parse(r.output.slice(r.output.indexOf('[')));
    const file = join(dest, json[0].filename);
    if (!existsSync(file)) throw new Error(`npm pack of ${p.name} reported ${file}, which does not exist`);
    tarballs.set(p.name, file);
  }
  return tarballs;
}

/** Every installed @ldmae/* package directory below `nodeModules` (nested ones included). */
function findInstalledLdmae(nodeModules, found = []) {
  if (!existsSync(nodeModules)) return found;
  for (const entry of readdirSync(nodeModules, { withFileTypes: true })) {
    const path = join(nodeModules, entry.name);
    if (entry.name === '@ldmae') {
      for (const pkg of readdirSync(path)) {
        const dir = join(path, pkg);
        found.push(dir);
        findInstalledLdmae(join(dir, 'node_modules'), found);
      }
    } else if (entry.name.startsWith('@') && entry.isDirectory()) {
      for (const pkg of readdirSync(path)) findInstalledLdmae(join(path, pkg, 'node_modules'), found);
    } else if (entry.isDirectory() && !entry.name.startsWith('.')) {
      findInstalledLdmae(join(path, 'node_modules'), found);
    }
  }
  return found;
}

/**
 * Throws unless every @ldmae/* package of the project is a real directory inside it, resolved from a
 * tarball, and Node resolves @ldmae/core there (not in the workspace).
 */
async function checkInstalledFromTarballs(projectDir, tarballs) {
  const problems = [];
  const root = realpathSync(projectDir);
  const dirs = findInstalledLdmae(join(projectDir, 'node_modules'));
  if (dirs.length === 0) problems.push('no @ldmae/* package was installed');
  for (const dir of dirs) {
    const real = realpathSync(dir);
    if (lstatSync(dir).isSymbolicLink()) problems.push(`${relative(projectDir, dir)} is a link to ${real}`);
    if (!real.startsWith(root + sep)) problems.push(`${relative(projectDir, dir)} resolves outside: ${real}`);
    if (real.startsWith(repo + sep))
      problems.push(`${relative(projectDir, dir)} resolves into the repository`);
  }
  const lock = readJson(join(projectDir, 'package-lock.json'));
  for (const [path, entry] of Object.entries(lock.packages ?? {})) {
    const name = path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
    if (!name.startsWith('@ldmae/')) continue;
    const want = tarballs.get(name);
    if (entry.link) problems.push(`package-lock: ${path} is a link (${entry.resolved})`);
    else if (!want) problems.push(`package-lock: ${path} is not one of the packed packages`);
    else if (!String(entry.resolved ?? '').endsWith(want.slice(want.lastIndexOf(sep) + 1)))
      problems.push(`package-lock: ${path} resolved from ${entry.resolved}, expected the tarball ${want}`);
  }
  const r = await run(
    process.execPath,
    ['-e', "console.log(require('fs').realpathSync(require.resolve('@ldmae/core/package.json')))"],
    { cwd: projectDir, timeoutS: 30 },
  );
  const resolved = r.output.trim();
  if (r.code !== 0) problems.push(`require.resolve('@ldmae/core/package.json') failed: ${resolved}`);
  else if (!resolved.startsWith(join(root, 'node_modules') + sep))
    problems.push(`@ldmae/core resolves to ${resolved}, not under ${join(root, 'node_modules')}`);
  if (problems.length) throw new Error(`not installed from the tarballs:\n  ${problems.join('\n  ')}`);
  return dirs.length;
}

/** Copies the example and points its @ldmae/* dependencies (direct and transitive) at the tarballs. */
function prepareProject(exampleDir, projectDir, tarballs) {
  cpSync(exampleDir, projectDir, {
    recursive: true,
    // Build outputs and installs of a local run stay behind.
    filter: (src) => src === exampleDir || !['node_modules', 'dist', 'out'].includes(basename(src)),
  });
  const pjPath = join(projectDir, 'package.json');
  const pkg = readJson(pjPath);
  if (pkg.private !== true) throw new Error(`${pjPath}: examples must be "private": true`);
  if (!pkg.scripts?.start) throw new Error(`${pjPath}: no "start" script`);
  for (const field of ['dependencies', 'devDependencies', 'optionalDependencies']) {
    for (const name of Object.keys(pkg[field] ?? {})) {
      if (!name.startsWith('@ldmae/')) continue;
      const tarball = tarballs.get(name);
      if (!tarball) throw new Error(`${pjPath}: ${name} is not a packed (non-private) package`);
      pkg[field][name] = `file:${tarball}`;
    }
  }
  // Transitive @ldmae/* dependencies (e.g. @ldmae/vmae -> @ldmae/core) resolve to the tarballs too.
  // A direct dependency's override must equal its spec, which it does (the same file: URL).
  pkg.overrides = { ...(pkg.overrides ?? {}) };
  for (const [name, tarball] of tarballs) pkg.overrides[name] = `file:${tarball}`;
  writeFileSync(pjPath, `${JSON.stringify(pkg, null, 2)}\n`);
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const examples = readdirSync(examplesDir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(examplesDir, e.name, 'package.json')))
    .map((e) => e.name)
    .filter((name) => opts.only.length === 0 || opts.only.some((o) => name.includes(o)))
    .sort();
  if (examples.length === 0) throw new Error(`no example matches --only ${opts.only.join(',')}`);

  const packages = publishablePackages();
  if (opts.build) {
    // Only what gets packed (private packages such as the playground are not published).
    const projects = packages.map((p) => p.name).join(',');
    console.log(`building ${projects} (nx run-many -t build, cached) ...`);
    const r = await run(
      'npx',
      ['nx', 'run-many', '-t', 'build', `--projects=${projects}`, '--outputStyle=static'],
      {
        cwd: repo,
        timeoutS: 900,
        echo: opts.verbose,
      },
    );
    if (r.code !== 0) {
      console.error(r.output);
      throw new Error('the build failed');
    }
  }

  const work = mkdtempSync(join(tmpdir(), 'ldmae-examples-'));
  const tarballDir = join(work, 'tarballs');
  mkdirSync(tarballDir);
  const t0 = performance.now();
  const tarballs = await packAll(packages, tarballDir);
  console.log(
    `packed ${tarballs.size} packages in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${[
      ...tarballs.values(),
    ]
      .map((f) => relative(work, f))
      .join(', ')}`,
  );

  const results = [];
  for (const name of examples) {
    const projectDir = join(work, name);
    const result = { name, ok: false, install: 0, typecheck: 0, start: 0, error: '' };
    try {
      prepareProject(join(examplesDir, name), projectDir, tarballs);
      console.log(`\n=== ${name}: npm install in ${projectDir}`);
      const inst = await run(npm, ['install', '--no-audit', '--no-fund', '--prefer-offline'], {
        cwd: projectDir,
        timeoutS: INSTALL_TIMEOUT_S,
        echo: opts.verbose,
      });
      result.install = inst.seconds;
      if (inst.code !== 0) throw new Error(`npm install failed (exit ${inst.code}):\n${inst.output}`);
      const n = await checkInstalledFromTarballs(projectDir, tarballs);
      console.log(
        `${name}: ${n} @ldmae/* packages installed from the tarballs (${inst.seconds.toFixed(1)} s)`,
      );
      if (readJson(join(projectDir, 'package.json')).scripts?.typecheck) {
        // The example's JSDoc types against the packed .d.ts files.
        console.log(`=== ${name}: npm run typecheck`);
        const tc = await run(npm, ['run', 'typecheck', '--silent'], {
          cwd: projectDir,
          timeoutS: 300,
          echo: true,
        });
        result.typecheck = tc.seconds;
        if (tc.code !== 0) throw new Error(`npm run typecheck failed (exit ${tc.code})`);
      }
      console.log(`=== ${name}: npm start`);
      const st = await run(npm, ['start', '--silent'], {
        cwd: projectDir,
        timeoutS: START_TIMEOUT_S,
        echo: true,
      });
      result.start = st.seconds;
      if (st.code !== 0) throw new Error(`npm start failed (exit ${st.code})`);
      result.ok = true;
    } catch (e) {
      result.error = e.message;
      console.error(`${name}: ${e.message}`);
    }
    results.push(result);
  }

  const secs = (/** @type {number} */ x) => `${x.toFixed(1).padStart(7)} s`;
  console.log(
    `\n${'example'.padEnd(30)} ${'install'.padStart(9)} ${'typecheck'.padStart(9)} ${'start'.padStart(9)}   result`,
  );
  for (const r of results) {
    console.log(
      `${r.name.padEnd(30)} ${secs(r.install)} ${secs(r.typecheck)} ${secs(r.start)}   ${r.ok ? 'PASS' : 'FAIL'}`,
    );
  }
  if (opts.keep) console.log(`\nkept ${work}`);
  else rmSync(work, { recursive: true, force: true });
  const failed = results.filter((r) => !r.ok).length;
  if (failed) {
    console.error(`${failed} of ${results.length} examples failed`);
    process.exitCode = 1;
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
