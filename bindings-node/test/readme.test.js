'use strict';
// The README's JavaScript snippet runs as written (in a temporary folder), with
// `require('sonde')` pointing at this package and `loadCatalog` supplied.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const readme = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
const snippets = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);

test('the README has a JavaScript snippet', () => assert.ok(snippets.length >= 1));

snippets.forEach((snippet, i) => {
  test(`README snippet ${i} runs`, async () => {
    const cwd = process.cwd();
    process.chdir(fs.mkdtempSync(path.join(os.tmpdir(), 'sonde-readme-')));
    try {
      const source = snippet.replace("require('sonde')", `require(${JSON.stringify(path.join(__dirname, '..'))})`);
      const run = new Function('require', 'loadCatalog', 'console', `return (async () => {\n${source}\n})();`);
      const quiet = { log: () => {} };
      await run(require, async () => ['teapot'], quiet);
    } finally {
      process.chdir(cwd);
    }
  });
});
