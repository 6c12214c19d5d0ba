'use strict';
// The same option words everywhere: every option the TypeScript declarations name is one
// of the core's (camelCase of its snake_case name) or one the binding documents as its own,
// and every core option is declared. The names are read from the Rust sources, so a new
// core option without its declaration (or a renamed one) fails here.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..', '..');
const read = (file) => fs.readFileSync(path.join(root, file), 'utf8');

/** The strings of `pub const NAME: &[&str] = &[...]` in a Rust file. */
function rustNames(file, constant) {
  const body = read(file).match(new RegExp(`pub const ${constant}: &\\[&str\\] = &\\[([^\\]]*)\\]`))[1];
  return [...body.matchAll(/"([a-z_]+)"/g)].map((m) => m[1]);
}

/** The top-level keys of an interface in a .d.ts file. */
function declared(file, name) {
  const text = read(file);
  const start = text.indexOf(`export interface ${name} {`);
  assert.ok(start >= 0, `${name} in ${file}`);
  const body = text.slice(start, text.indexOf('\n}', start));
  return [...body.matchAll(/^ {2}(\w+)\?:/gm)].map((m) => m[1]);
}

const snake = (name) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const core = rustNames('core/src/config/options.rs', 'OPTION_NAMES');
const destinations = rustNames('core/src/config/destinations.rs', 'DESTINATION_OPTIONS');
const recorder = rustNames('core/src/http/recorder.rs', 'RECORDER_OPTION_NAMES');
const api = rustNames('core/src/http/api.rs', 'API_OPTION_NAMES');

function check(file, name, known, own, { complete = known } = {}) {
  const keys = declared(file, name).map(snake);
  const unknown = keys.filter((k) => !known.includes(k) && !own.includes(k));
  assert.deepEqual(unknown, [], `${name} declares options the core does not have`);
  const missing = complete.filter((k) => !keys.includes(k));
  assert.deepEqual(missing, [], `${name} does not declare these core options`);
}

test('the core option lists are read', () => {
  assert.ok(core.includes('batch_size') && destinations.includes('store'));
  assert.ok(recorder.includes('trusted_proxies') && api.includes('api_key'));
});

test('Node client options are the core options plus destinations and lifecycle', () => {
  // `delivery: 'manual'` is for hosts that run their own transport (the browser); Node has
  // no take/ack API, so it does not offer it.
  // Every duration is in milliseconds in JS: the core's `http_timeout` (seconds) is `httpTimeoutMs`.
  const offered = [...core, ...destinations]
    .filter((k) => k !== 'delivery')
    .map((k) => (k === 'http_timeout' ? 'http_timeout_ms' : k));
  const own = ['sink', 'sink_timeout_ms', 'flush_on_exit', 'handle_signals', 'exit_timeout_ms', 'on_error', 'logger', 'before_send'];
  check('bindings-node/index.d.ts', 'SondeOptions', offered, own);
});

test('Node middleware and API options are the core HTTP layer options', () => {
  check('bindings-node/index.d.ts', 'MiddlewareOptions', recorder, ['route', 'identify']);
  check('bindings-node/index.d.ts', 'ApiOptions', api, []);
});

test('browser options are core options plus the page transport', () => {
  const transport = ['endpoint', 'write_key', 'session_timeout_ms', 'max_queued_batches', 'autocapture', 'compression', 'wasm_url', 'flush_at', 'keep_query_params', 'on_error', 'before_send', 'require_consent'];
  check('bindings-wasm/js/sonde.d.ts', 'SondeBrowserOptions', core, transport, {
    // The browser binding takes the core options that make sense in a page.
    complete: ['batch_size', 'flush_interval_ms', 'sample_rate', 'sample_rates', 'tracking_plan', 'super_properties', 'redact_keys'],
  });
});
