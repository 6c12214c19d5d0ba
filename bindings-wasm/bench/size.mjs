// Transferred size of the browser package (wasm + JS glue) against the incumbents'
// browser bundles installed from npm, raw and gzip -9. `make bench-browser` runs it after
// `make wasm`. JS is measured as shipped and minified by terser (the incumbents ship
// minified bundles; a page's bundler would minify ours).
//
//   node bench/size.mjs [--json]

import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { minify } from 'terser';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkgRoot = path.resolve(here, '..');
const require = createRequire(import.meta.url);

const gzip = (bytes) => zlib.gzipSync(bytes, { level: 9 }).length;

async function measure(files, { minifyJs = false } = {}) {
  let raw = 0;
  let gz = 0;
  for (const file of files) {
    let bytes = fs.readFileSync(file);
    if (minifyJs && file.endsWith('.js')) {
      const out = await minify(bytes.toString('utf8'), { module: true, compress: true, mangle: true });
      bytes = Buffer.from(out.code);
    }
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
  ['sonde-browser: .wasm', await measure([sonde.wasm])],
  ['sonde-browser: JS (wasm-bindgen glue + sonde.js), as shipped', await measure([sonde.glue, sonde.api])],
  ['sonde-browser: JS, minified', await measure([sonde.glue, sonde.api], { minifyJs: true })],
  ['sonde-browser: total as shipped', await measure(Object.values(sonde))],
  ['sonde-browser: total, JS minified', await measure(Object.values(sonde), { minifyJs: true })],
  ['posthog-js: dist/array.js (what its snippet loads)', await measure([packageFile('posthog-js', 'dist/array.js')])],
  ['posthog-js: dist/module.js (npm ESM entry)', await measure([packageFile('posthog-js', 'dist/module.js')])],
  ['posthog-js: dist/module.slim.js (no extensions)', await measure([packageFile('posthog-js', 'dist/module.slim.js')])],
  ['@segment/analytics-next: dist/umd/standalone.js (what its snippet loads first)',
    await measure([packageFile('@segment/analytics-next', 'dist/umd/standalone.js')])],
];

const versions = Object.fromEntries(['posthog-js', '@segment/analytics-next', 'terser']
  .map((name) => [name, require(`${name}/package.json`).version]));

if (process.argv.includes('--json')) {
  console.log(JSON.stringify({ versions, rows: rows.map(([what, size]) => ({ what, ...size })) }, null, 2));
} else {
  const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
  console.log(`versions: ${JSON.stringify(versions)}`);
  console.log('| what | raw | gzip -9 |\n| --- | ---: | ---: |');
  for (const [what, size] of rows) console.log(`| ${what} | ${kb(size.raw)} | ${kb(size.gzip)} |`);
}
