// `make dist`, the npm half: stages each npm package in target/npm/<name>/ exactly as a
// registry would serve it (the package's `files`, its README, the repository's LICENSE) and
// packs it into dist/. The Node binding ships as napi-rs projects do: the main package `sonde`
// (JavaScript and types) with an optional dependency on the platform package
// `sonde-linux-x64-gnu`, which holds the prebuilt addon and is chosen by `native.js` at load
// time. The browser package's JavaScript is packed minified (bindings-wasm/minify.mjs).
// Every version is the Cargo workspace's.
//   node scripts/pack.mjs <addon.node>

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
const staging = path.join(root, 'target', 'npm');
const [addon] = process.argv.slice(2);

const version = fs.readFileSync(path.join(root, 'Cargo.toml'), 'utf8').match(/\[workspace\.package\][^[]*?version = "([^"]+)"/)[1];

/** `transform(path, bytes)`, when given, rewrites the staged files (the browser package minifies its JS). */
function stage(name, manifest, files, transform = null) {
  const dir = path.join(staging, name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  for (const [from, to] of files) {
    fs.cpSync(from, path.join(dir, to), { recursive: true });
  }
  // Only packages that transform are read back: the addon's package is megabytes of binary.
  for (const file of transform ? fs.readdirSync(dir, { recursive: true }) : []) {
    const full = path.join(dir, file);
    if (fs.statSync(full).isFile()) fs.writeFileSync(full, transform(file, fs.readFileSync(full)));
  }
  fs.copyFileSync(path.join(root, 'LICENSE'), path.join(dir, 'LICENSE'));
  fs.writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const out = execFileSync('npm', ['pack', '--silent', '--pack-destination', dist], { cwd: dir, encoding: 'utf8' });
  console.log(`dist/${out.trim().split('\n').pop()}`);
}

/** A source package.json made into what is published: no scripts, no dev dependencies. */
function published(source, extra) {
  const { scripts, devDependencies, ...rest } = JSON.parse(fs.readFileSync(source, 'utf8'));
  if (rest.version !== version) throw new Error(`${source} says ${rest.version}, Cargo.toml says ${version}`);
  return { ...rest, ...extra };
}

fs.mkdirSync(dist, { recursive: true });

// The Node binding's platform package: the prebuilt addon only.
const node = path.join(root, 'bindings-node');
const nodeManifest = JSON.parse(fs.readFileSync(path.join(node, 'package.json'), 'utf8'));
const platform = 'linux-x64-gnu';
stage(`sonde-${platform}`, {
  name: `sonde-${platform}`,
  version,
  description: `The prebuilt native addon of sonde for ${platform} (installed by sonde as an optional dependency).`,
  license: nodeManifest.license,
  repository: nodeManifest.repository,
  os: ['linux'],
  cpu: ['x64'],
  libc: ['glibc'],
  main: `sonde.${platform}.node`,
  files: [`sonde.${platform}.node`],
  engines: nodeManifest.engines,
}, [[addon, `sonde.${platform}.node`], [path.join(node, 'npm', 'README.platform.md'), 'README.md']]);

// The Node binding's main package.
stage('sonde', published(path.join(node, 'package.json'), { optionalDependencies: { [`sonde-${platform}`]: version } }),
  [...nodeManifest.files.map((f) => [path.join(node, f), f]), [path.join(node, 'README.md'), 'README.md']]);

// The browser package.
const wasm = path.join(root, 'bindings-wasm');
const wasmManifest = JSON.parse(fs.readFileSync(path.join(wasm, 'package.json'), 'utf8'));
const { minifyModule } = await import(path.join(wasm, 'minify.mjs'));
stage('sonde-browser', published(path.join(wasm, 'package.json')),
  [...wasmManifest.files.map((f) => [path.join(wasm, f), f]), [path.join(wasm, 'README.md'), 'README.md']],
  (file, bytes) => (file.endsWith('.js') ? Buffer.from(minifyModule(bytes.toString('utf8'))) : bytes));
