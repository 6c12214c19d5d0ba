// The browser package's JavaScript as it is published: minified by esbuild (whitespace,
// syntax, local names; exports, imports and `import.meta.url` untouched), since pages load
// it as shipped when no bundler minifies it for them. `scripts/pack.mjs` applies it to the
// packed files and `bench/size.mjs` measures with it.

import { createRequire } from 'node:module';

const { transformSync } = createRequire(import.meta.url)('esbuild');

/** ES module source text, minified. */
export function minifyModule(source) {
  return transformSync(source, { minify: true, format: 'esm', target: 'es2022', legalComments: 'none' }).code;
}
