// Builds the dashboard into one self-contained HTML file the core serves at /dashboard
// (core/src/http/dashboard.html, compiled into every binding): our script and uPlot from npm
// bundled and minified by esbuild, uPlot's CSS and ours inlined. Nothing is fetched from a
// CDN; the page works offline. `make dashboard` runs this; `make test` checks the committed
// file is what this writes.

import { build } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] ?? path.join(here, '..', 'core', 'src', 'http', 'dashboard.html');

const bundle = await build({
  entryPoints: [path.join(here, 'src', 'main.js')],
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2020'],
  write: false,
  legalComments: 'inline',
});
const script = bundle.outputFiles[0].text.replaceAll('</script', '<\\/script');
const style = fs.readFileSync(path.join(here, 'node_modules', 'uplot', 'dist', 'uPlot.min.css'), 'utf8')
  + fs.readFileSync(path.join(here, 'src', 'style.css'), 'utf8');
const page = fs.readFileSync(path.join(here, 'src', 'page.html'), 'utf8')
  .replace('/*STYLE*/', () => style)
  .replace('/*SCRIPT*/', () => script);
fs.writeFileSync(out, page);
console.log(`dashboard: ${out} (${page.length} bytes)`);
