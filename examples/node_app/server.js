'use strict';
// A small node:http service instrumented with Sonde, storing to ./sonde.db.
//   make node-addon && node examples/node_app/server.js   (PORT and SONDE_STORE to change)

const http = require('node:http');
const path = require('node:path');
const { Sonde } = require(path.join(__dirname, '..', '..', 'bindings-node'));

const sonde = new Sonde({ store: process.env.SONDE_STORE || 'sonde.db', superProperties: { service: 'example-node' } });
const items = new Map([[1, { name: 'Teapot', price: 18.5 }], [2, { name: 'Cup', price: 4 }]]);

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

const server = http.createServer(sonde.wrap(async (req, res) => {
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
}, { route }));

const port = Number(process.env.PORT || 3000);
server.listen(port, '127.0.0.1', () => {
  console.log(`Sonde example on http://127.0.0.1:${server.address().port} (try /items/1, /slow, /fail, /stats)`);
});
process.on('SIGTERM', () => server.close());
