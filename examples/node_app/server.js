'use strict';
// A small node:http service instrumented with Sonde, storing to ./sonde.db, that also serves
// the analytics API and Segment-compatible collector under /analytics and the browser demo
// page under /demo/ (which sends its events to this collector).
//   make node-addon wasm && node examples/node_app/server.js
//   (PORT, SONDE_STORE and SONDE_API_KEY to change; the API key defaults to dev-key)

const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { Sonde } = require(path.join(__dirname, '..', '..', 'bindings-node'));

const sonde = new Sonde({ store: process.env.SONDE_STORE || 'sonde.db', superProperties: { service: 'example-node' } });
const analytics = sonde.handler({ apiKey: process.env.SONDE_API_KEY || 'dev-key' });
const items = new Map([[1, { name: 'Teapot', price: 18.5 }], [2, { name: 'Cup', price: 4 }]]);

// The browser package (`make wasm` builds its pkg/) and the demo page, as static files.
const STATIC = {
  '/sonde-browser/js/': path.join(__dirname, '..', '..', 'bindings-wasm', 'js'),
  '/sonde-browser/pkg/': path.join(__dirname, '..', '..', 'bindings-wasm', 'pkg'),
  '/demo/': path.join(__dirname, '..', 'browser'),
};
const TYPES = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html; charset=utf-8', '.ts': 'text/plain' };

function serveStatic(req, res) {
  const { pathname } = new URL(req.url, 'http://localhost');
  const prefix = Object.keys(STATIC).find((p) => pathname.startsWith(p));
  if (!prefix) return false;
  const dir = STATIC[prefix];
  const file = path.resolve(dir, `.${pathname.slice(prefix.length - 1)}`.replace(/\/$/, '/index.html'));
  if (!file.startsWith(dir + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
    res.writeHead(404).end('not found');
    return true;
  }
  res.writeHead(200, { 'content-type': TYPES[path.extname(file)] || 'application/octet-stream' });
  fs.createReadStream(file).pipe(res);
  return true;
}

function route(req) {
  const { pathname } = new URL(req.url, 'http://localhost');
  if (pathname === '/items') return '/items';
  if (/^\/items\/\d+$/.test(pathname)) return '/items/:id';
  if (pathname === '/slow' || pathname === '/fail' || pathname === '/stats') return pathname;
  return undefined; // the __unmatched__ bucket
}

const json = (res, status, body) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

const app = sonde.wrap(async (req, res) => {
  const template = route(req);
  if (template === '/items') return json(res, 200, Object.fromEntries(items));
  if (template === '/items/:id') {
    const item = items.get(Number(req.url.split('/')[2]));
    return item ? json(res, 200, item) : json(res, 404, { error: 'no such item' });
  }
  if (template === '/slow') {
    await sonde.time('inventory.recount', () => new Promise((r) => setTimeout(r, 250)));
    return json(res, 200, { status: 'recounted' });
  }
  if (template === '/fail') throw new Error('the payment provider is down');
  if (template === '/stats') return json(res, 200, sonde.stats().routes);
  return json(res, 404, { error: 'not found' });
}, { route, excludePaths: ['/analytics/', '/demo/', '/sonde-browser/'] });

const server = http.createServer((req, res) => {
  if (analytics(req, res) || serveStatic(req, res)) return;
  app(req, res);
});

const port = Number(process.env.PORT || 3000);
server.listen(port, '127.0.0.1', () => {
  console.log(`Sonde example on http://127.0.0.1:${server.address().port} (try /items/1, /slow, /fail, /stats, /analytics/performance with X-API-Key, /demo/)`);
});
process.on('SIGTERM', () => server.close());
