// What `make dist` ships, installed the way users install it: each tarball into an empty npm
// project (the Node packages run the README snippet, the Express middleware and router, and
// type-check under node16 and bundler resolution; the browser package is bundled by esbuild
// and delivers from Chromium to a real collector). Each installed package must hold exactly
// its published files: nothing missing, no tests or build leftovers.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const dist = path.join(root, 'dist');
const fromWasm = createRequire(path.join(root, 'bindings-wasm', 'package.json'));
const { build } = fromWasm('esbuild');
const tsc = path.join(root, 'bindings-node', 'node_modules', '.bin', 'tsc');
const version = fs.readFileSync(path.join(root, 'Cargo.toml'), 'utf8').match(/\[workspace\.package\][^[]*?version = "([^"]+)"/)[1];
const tarball = (name) => path.join(dist, `${name}-${version}.tgz`);
const npm = (cwd, ...args) => execFileSync('npm', [...args, '--no-audit', '--no-fund', '--silent'], { cwd, encoding: 'utf8' });
const node = (cwd, script, env = {}) => execFileSync(process.execPath, ['-e', script], { cwd, encoding: 'utf8', env: { ...process.env, ...env } });

function project(name) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `sonde-install-${name}-`));
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `install-${name}`, private: true }));
  return dir;
}

/** Every file of an installed package, relative to it. */
function filesOf(dir) {
  const out = [];
  const walk = (d) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, entry.name);
      if (entry.isDirectory()) walk(full);
      else out.push(path.relative(dir, full));
    }
  };
  walk(dir);
  return out.sort();
}

let nodeApp;

before(() => {
  nodeApp = project('node');
  npm(nodeApp, 'install', tarball(`sonde-linux-x64-gnu`), tarball('sonde'), 'express@5.3.0', '@types/node@26.6.6', '@types/express@5.0.6');
});

test('every artifact carries the one version', () => {
  for (const name of ['sonde', 'sonde-linux-x64-gnu', 'sonde-browser']) assert.ok(fs.existsSync(tarball(name)), name);
  assert.ok(fs.readdirSync(dist).some((f) => f.startsWith(`sonde-${version}-`) && f.endsWith('.whl')), 'the wheel');
  assert.ok(fs.existsSync(path.join(dist, `sonde-${version}.tar.gz`)));
  for (const pkg of ['sonde', 'sonde-linux-x64-gnu']) {
    assert.equal(JSON.parse(fs.readFileSync(path.join(nodeApp, 'node_modules', pkg, 'package.json'))).version, version);
  }
});

test('the Node packages hold exactly their published files', () => {
  const main = path.join(nodeApp, 'node_modules', 'sonde');
  assert.deepEqual(filesOf(main), ['LICENSE', 'README.md', 'index.d.ts', 'index.js', 'middleware.js', 'native.js', 'package.json']);
  assert.deepEqual(filesOf(path.join(nodeApp, 'node_modules', 'sonde-linux-x64-gnu')),
    ['LICENSE', 'README.md', 'package.json', 'sonde.linux-x64-gnu.node']);
  const manifest = JSON.parse(fs.readFileSync(path.join(main, 'package.json')));
  assert.equal(manifest.devDependencies, undefined);
  assert.equal(manifest.optionalDependencies['sonde-linux-x64-gnu'], version);
  assert.match(fs.readFileSync(path.join(main, 'LICENSE'), 'utf8'), /Apache License/);
});

test('the README snippet runs against the installed package', () => {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const [snippet] = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
  const script = `const loadCatalog = async () => ['teapot'];
    (async () => {
      ${snippet}
      if ((await sonde.queryEvents({ userId: 'user-7' })).events.length !== 1) throw new Error('the event was not stored');
      console.log('readme ok');
    })().catch((e) => { console.error(e); process.exit(1); });`;
  assert.match(node(nodeApp, script), /readme ok/);
});

test('Express middleware and the analytics router from the installed package', () => {
  const script = `
    const express = require('express');
    const { Sonde } = require('sonde');
    (async () => {
      const sonde = new Sonde({ store: 'app.db', flushOnExit: false });
      const app = express();
      app.use(sonde.middleware({ excludePaths: ['/analytics/'] }));
      app.use('/analytics', sonde.router({ apiKey: 'k' }));
      app.get('/items/:id', (req, res) => res.json({ id: req.params.id }));
      const server = app.listen(0, '127.0.0.1');
      await new Promise((r) => server.once('listening', r));
      const url = 'http://127.0.0.1:' + server.address().port;
      await fetch(url + '/items/3');
      const posted = await fetch(url + '/analytics/v1/track', { method: 'POST', body: JSON.stringify({ event: 'Installed', userId: 'u' }) });
      if (posted.status !== 200) throw new Error('collector answered ' + posted.status);
      await fetch(url + '/analytics/flush', { method: 'POST', headers: { 'x-api-key': 'k' } });
      const events = (await (await fetch(url + '/analytics/events?order=asc', { headers: { 'x-api-key': 'k' } })).json()).events;
      server.close();
      console.log(JSON.stringify(events.map((e) => e.event ?? e.type)));
    })().catch((e) => { console.error(e); process.exit(1); });`;
  assert.deepEqual(JSON.parse(node(nodeApp, script)), ['$api_request', 'Installed']);
});

test('an unsupported platform is a clear error', () => {
  const script = `Object.defineProperty(process, 'arch', { value: 'riscv64' });
    try { require('sonde'); console.log('loaded'); } catch (e) { console.log(JSON.stringify({ code: e.code, name: e.name, message: e.message })); }`;
  const error = JSON.parse(node(nodeApp, script));
  assert.equal(error.code, 'unsupported');
  assert.equal(error.name, 'SondeError');
  assert.match(error.message, /linux-riscv64-gnu/);
});

test('the types resolve under node16 and bundler module resolution', () => {
  fs.writeFileSync(path.join(nodeApp, 'check.mts'), `import { Sonde, type SondeError } from 'sonde';
    const sonde = new Sonde({ store: 'x.db' });
    const id: string | null = sonde.track('Typed', { ok: true }, { userId: 'u1' });
    sonde.router({ apiKey: 'k' });
    const e = {} as SondeError;
    const code: string = e.code;
    void [id, code];\n`);
  fs.writeFileSync(path.join(nodeApp, 'check.cts'), `import sondeModule = require('sonde');
    const sonde = new sondeModule.Sonde({ console: true });
    void sonde.flush();\n`);
  const common = ['--noEmit', '--strict', '--types', 'node'];
  execFileSync(tsc, [...common, '--module', 'node16', '--moduleResolution', 'node16', 'check.mts', 'check.cts'], { cwd: nodeApp, encoding: 'utf8' });
  execFileSync(tsc, [...common, '--module', 'esnext', '--moduleResolution', 'bundler', 'check.mts'], { cwd: nodeApp, encoding: 'utf8' });
});

let collector;

after(() => collector?.kill('SIGTERM'));

test('the browser package: installed, bundled by esbuild, delivering from Chromium to a collector', async () => {
  const app = project('browser');
  npm(app, 'install', tarball('sonde-browser'));
  const installed = path.join(app, 'node_modules', 'sonde-browser');
  assert.deepEqual(filesOf(installed), ['LICENSE', 'README.md', 'js/sonde.d.ts', 'js/sonde.js', 'package.json',
    'pkg/sonde_wasm.d.ts', 'pkg/sonde_wasm.js', 'pkg/sonde_wasm_bg.wasm']);
  fs.writeFileSync(path.join(app, 'main.js'), `
    import Sonde from 'sonde-browser';
    window.delivered = (async () => {
      const sonde = await Sonde.init({ endpoint: '/analytics/v1/batch', flushIntervalMs: 600000 });
      sonde.track('Installed In Browser', { via: 'npm tarball' });
      await sonde.flush();
      return sonde.anonymousId;
    })();`);
  const out = path.join(app, 'public');
  await build({ entryPoints: [path.join(app, 'main.js')], bundle: true, format: 'esm', outfile: path.join(out, 'main.js'), logLevel: 'silent' });
  fs.copyFileSync(path.join(installed, 'pkg', 'sonde_wasm_bg.wasm'), path.join(out, 'sonde_wasm_bg.wasm'));

  // A real collector: the Node example (the core's Api), with a store of its own.
  const store = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sonde-install-collector-')), 'c.db');
  collector = spawn(process.execPath, [path.join(root, 'examples', 'node_app', 'server.js')], {
    env: { ...process.env, PORT: '0', SONDE_STORE: store, SONDE_API_KEY: 'k' }, stdio: ['ignore', 'pipe', 'inherit'],
  });
  const base = await new Promise((resolve, reject) => {
    collector.stdout.on('data', (d) => { const m = String(d).match(/http:\/\/127\.0\.0\.1:\d+/); if (m) resolve(m[0]); });
    collector.on('exit', () => reject(new Error('the collector exited')));
  });

  const { launchChromium, fulfillFile } = await import(path.join(root, 'bindings-wasm', 'test', 'chromium.js'));
  const context = await launchChromium();
  try {
    const page = await context.newPage();
    await page.route(`${base}/app/**`, (route) => {
      const { pathname } = new URL(route.request().url());
      if (pathname === '/app/') return route.fulfill({ contentType: 'text/html', body: '<!doctype html><script type="module" src="/app/main.js"></script>' });
      return fulfillFile(route, path.join(out, pathname.slice('/app/'.length)));
    });
    const errors = [];
    page.on('pageerror', (e) => errors.push(e));
    await page.goto(`${base}/app/`);
    const anonymousId = await page.evaluate(() => window.delivered);
    assert.deepEqual(errors, []);
    await fetch(`${base}/analytics/flush`, { method: 'POST', headers: { 'x-api-key': 'k' } });
    const events = (await (await fetch(`${base}/analytics/events?event=Installed%20In%20Browser`, { headers: { 'x-api-key': 'k' } })).json()).events;
    assert.equal(events.length, 1);
    assert.equal(events[0].anonymousId, anonymousId);
    assert.deepEqual(events[0].properties, { via: 'npm tarball' });
  } finally {
    await context.close();
  }
});

test('the wheel is manylinux-compatible as its tag claims (auditwheel show)', () => {
  const wheel = fs.readdirSync(dist).find((f) => f.startsWith(`sonde-${version}-`) && f.endsWith('.whl'));
  const tag = wheel.match(/-(manylinux[^.]+)\.whl$/)[1];
  const report = execFileSync(path.join(root, '.venv', 'bin', 'auditwheel'), ['show', path.join(dist, wheel)], { encoding: 'utf8' });
  assert.match(report.replace(/\s+/g, ' '), new RegExp(`is consistent with the following platform tag: "${tag}"`));
});

test('the wheel claims no Python older than the one the tests run on', () => {
  const wheel = fs.readdirSync(dist).find((f) => f.startsWith(`sonde-${version}-`) && f.endsWith('.whl'));
  const tested = execFileSync('python3', ['-c', 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")'], { encoding: 'utf8' }).trim();
  assert.match(wheel, new RegExp(`-cp${tested}-abi3-`), 'the abi3 floor is the tested interpreter');
  const metadata = execFileSync('python3', ['-c', 'import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]).decode())',
    path.join(dist, wheel), `sonde-${version}.dist-info/METADATA`], { encoding: 'utf8' });
  assert.match(metadata, new RegExp(`^Requires-Python: >=${tested[0]}\\.${tested.slice(1)}$`, 'm'));
});

test('the wheel in a fresh virtualenv runs the Python quickstart', () => {
  const venv = fs.mkdtempSync(path.join(os.tmpdir(), 'sonde-install-venv-'));
  execFileSync('python3', ['-m', 'venv', venv]);
  const python = path.join(venv, 'bin', 'python');
  const wheel = fs.readdirSync(dist).find((f) => f.startsWith(`sonde-${version}-`) && f.endsWith('.whl'));
  execFileSync(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-deps', path.join(dist, wheel)]);
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const quickstart = readme.split('## Python quickstart')[1].match(/```python\n([\s\S]*?)```/)[1];
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'sonde-install-py-'));
  fs.writeFileSync(path.join(cwd, 'quickstart.py'), `${quickstart}\nprint("quickstart ok")\n`);
  assert.match(execFileSync(python, ['quickstart.py'], { cwd, encoding: 'utf8' }), /quickstart ok/);
  const files = execFileSync(python, ['-c', `import importlib.metadata as m
print("\\n".join(sorted(str(f) for f in m.files("sonde"))))`], { cwd, encoding: 'utf8' }).trim().split('\n');
  const packaged = files.filter((f) => f.startsWith('sonde/') && !f.includes('__pycache__'));
  assert.ok(packaged.includes('sonde/_native.pyi') && packaged.includes('sonde/py.typed'), packaged.join(' '));
  assert.ok(packaged.some((f) => /^sonde\/_native\.abi3\.so$/.test(f)));
  assert.ok(!packaged.some((f) => /tests?\/|bench\/|conftest/.test(f)), packaged.join(' '));
  assert.ok(files.some((f) => /dist-info\/licenses\/LICENSE$/.test(f)), 'LICENSE in the wheel');
});

test('the sdist builds with only a Rust toolchain and pip, and so does the source folder', () => {
  // A dev-profile build keeps this test short; the release wheel above is what ships.
  const targetDir = path.join(root, 'target', 'install-test');
  const env = { ...process.env, MATURIN_PEP517_ARGS: '--profile dev', CARGO_TARGET_DIR: targetDir };
  // The shared target folder keeps the dependencies compiled between runs, but Sonde's own
  // crates must be built from the source under test: an sdist's files carry fixed mtimes,
  // so cargo would take a build of an older commit's core as fresh.
  const forgetSonde = () => {
    for (const sub of ['.fingerprint', 'deps', 'build']) {
      const dir = path.join(targetDir, 'debug', sub);
      if (!fs.existsSync(dir)) continue;
      for (const entry of fs.readdirSync(dir).filter((name) => /^(lib)?sonde[-_]/.test(name))) {
        fs.rmSync(path.join(dir, entry), { recursive: true, force: true });
      }
    }
  };
  for (const source of [path.join(dist, `sonde-${version}.tar.gz`), path.join(root, 'bindings-python')]) {
    forgetSonde();
    const venv = fs.mkdtempSync(path.join(os.tmpdir(), 'sonde-install-src-'));
    execFileSync('python3', ['-m', 'venv', venv]);
    const python = path.join(venv, 'bin', 'python');
    execFileSync(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', source], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    const out = execFileSync(python, ['-c', `import sonde
with sonde.Sonde(console="json", flush_interval=0.05) as s:
    s.track("From Source", user_id="u")
print("source ok", sonde.__version__)`], { encoding: 'utf8', cwd: venv });
    assert.match(out, new RegExp(`source ok ${version.replace(/\./g, '\\.')}`), source);
  }
});
