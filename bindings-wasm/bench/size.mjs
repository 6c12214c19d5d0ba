// Transferred size of the browser package (wasm + JS glue) against the incumbents'
// browser bundles installed from npm, raw and gzip -9. `make bench-browser` runs it after
// `make wasm`. The JS is measured as the repository holds it and as `make dist` packs it
// (minified by esbuild: ../minify.mjs), which is what a page loads without a bundler.
//
//   node bench/size.mjs [--json]

import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { minifyModule } from '../minify.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkgRoot = path.resolve(here, '..');
const require = createRequire(import.meta.url);

const gzip = (bytes) => zlib.gzipSync(bytes, { level: 9 }).length;

function measure(files, { shipped = false } = {}) {
  let raw = 0;
  let gz = 0;
  for (const file of files) {
    let bytes = fs.readFileSync(file);
    if (shipped && file.endsWith('.js')) bytes = Buffer.from(minifyModule(bytes.toString('utf8')));
    raw += bytes.length;
    gz += gzip(bytes);
  }
  return { raw, gzip: gz };
}

const packageFile = (name, rel) => path.join(path.dirname(require.resolve(`${name}/package.json`)), rel);

const sonde = {
  wasm: path.join(pkgRoot, 'pkg', 'sonde_wasm_bg.wasm'),
  glue: path.join(pkgRoot, 'pkg', 'sonde_wasm.js'),
  api: path.join(pkgRoot, 'js', 'sonde.js'),
};
for (const file of Object.values(sonde)) {
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: run \`make wasm\` first`);
}

const rows = [
  ['sonde-browser: .wasm', measure([sonde.wasm])],
  ['sonde-browser: JS (wasm-bindgen glue + sonde.js), as in the repository', measure([sonde.glue, sonde.api])],
  ['sonde-browser: JS, as packed (minified)', measure([sonde.glue, sonde.api], { shipped: true })],
  ['sonde-browser: total as packed', measure(Object.values(sonde), { shipped: true })],
  ['posthog-js: dist/array.js (what its snippet loads)', measure([packageFile('posthog-js', 'dist/array.js')])],
  ['posthog-js: dist/module.js (npm ESM entry)', measure([packageFile('posthog-js', 'dist/module.js')])],
  ['posthog-js: dist/module.slim.js (no extensions)', measure([packageFile('posthog-js', 'dist/module.slim.js')])],
  ['@segment/analytics-next: dist/umd/standalone.js (what its snippet loads first)',
    measure([packageFile('@segment/analytics-next', 'dist/umd/standalone.js')])],
];

const versions = Object.fromEntries(['posthog-js', '@segment/analytics-next']
  .map((name) => [name, require(`${name}/package.json`).version]));

if (process.argv.includes('--json')) {
  console.log(JSON.stringify({ versions, rows: rows.map(([what, size]) => ({ what, ...size })) }, null, 2));
} else {
  const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
  console.log(`versions: ${JSON.stringify(versions)}`);
  console.log('| what | raw | gzip -9 |\n| --- | ---: | ---: |');
  for (const [what, size] of rows) console.log(`| ${what} | ${kb(size.raw)} | ${kb(size.gzip)} |`);
}
