'use strict';
// The benchmarks' dummy ingest server, run as its own process so that answering requests
// never competes with the measured client for its event loop or CPU. It accepts any POST
// (Segment's /v1/batch, PostHog's /batch/, gzip or not), counts the events it received, and
// answers GET /count with that number. Prints its port on stdout when listening.
//   node sink.js

const http = require('node:http');
const zlib = require('node:zlib');

let received = 0;

function eventsIn(body) {
  const parsed = JSON.parse(body.toString('utf8'));
  if (Array.isArray(parsed)) return parsed.length;
  if (Array.isArray(parsed.batch)) return parsed.batch.length;
  return 1;
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    if (req.method === 'GET' && req.url === '/count') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ received }));
      return;
    }
    let body = Buffer.concat(chunks);
    if (body[0] === 0x1f && body[1] === 0x8b) body = zlib.gunzipSync(body);
    try {
      received += eventsIn(body);
    } catch {
      res.statusCode = 400;
      res.end('{"error":"not JSON"}');
      return;
    }
    res.setHeader('content-type', 'application/json');
    res.end('{"status":1}');
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
process.on('disconnect', () => process.exit(0));
