// Every shared vector in real headless Chromium, through the WebAssembly binding: `message`
// and `batch` through `ingest`, `track` through `register` + `track`, `config` through the
// constructor, `stats_merge` through `stats()` and `mergeStats`, `alerts` through
// `alertTransitions`, `store_query` through `checkEventQuery` (the query reading; the page
// has no store). The page runs the binding built with the `vectors` feature
// (bindings-wasm/pkg-vectors, `make wasm-vectors`): the same core as the shipped package
// plus those test entry points. The page only calls and records; the checks are the same
// code as the Node suite's (tests/vectors/check.cjs).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import check from '../../tests/vectors/check.cjs';
import { fulfillFile, launchChromium } from './chromium.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const PKG = path.resolve(here, '..', 'pkg-vectors');
const ORIGIN = 'http://vectors.sonde.test';
const RUN_IN_PAGE = new Set(['message', 'batch', 'track', 'config', 'stats_merge', 'alerts', 'store_query']);
// Server-side kinds: the HTTP layer is not in the browser build (Rust, Python and Node run them).
const SERVER_ONLY = new Set(['http_request', 'api']);

const all = check.cases();
let context;
let results;

/** Runs every case in the page; returns what each call returned or threw. */
async function pageRunner(list) {
  {
    const { default: init, NativeSonde, mergeStats, alertTransitions, checkEventQuery } = await import('/pkg/sonde_wasm.js');
    await init();
    const thrown = (e) => ({
      isError: e instanceof Error, name: e.name, code: e.code, violations: e.violations,
    });
    const attempt = (fn) => {
      try { return { value: fn() }; } catch (e) { return { error: thrown(e) }; }
    };
    const client = (config) => new NativeSonde(JSON.stringify({ ...(config ?? {}), flush_interval_ms: 3_600_000 }));
    const delivered = (s) => {
      s.flush();
      const raw = s.takeBatch();
      return raw === undefined ? [] : JSON.parse(JSON.parse(raw).payload).batch;
    };
    const body = (c) => (c.raw ? c.input : JSON.stringify(c.input));
    const report = (text) => JSON.parse(text);
    const run = {
      message(c) {
        const s = client(c.config);
        if (c.expected_errors) {
          const dry = attempt(() => report(s.ingest(body(c), true)));
          const received = JSON.parse(s.stats()).counters.received;
          return { dry, received, real: attempt(() => report(s.ingest(body(c)))) };
        }
        const real = attempt(() => report(s.ingest(body(c))));
        return { real, delivered: real.value ? delivered(s) : [] };
      },
      batch(c) {
        return { real: attempt(() => report(client(c.config).ingest(body(c)))) };
      },
      config(c) {
        return { real: attempt(() => { new NativeSonde(JSON.stringify(c.input)).close(); return 'ok'; }) };
      },
      stats_merge(c) {
        const snapshot = (messages) => {
          const s = client(c.config);
          s.ingest(JSON.stringify(messages));
          return s.stats();
        };
        const merged = JSON.parse(mergeStats(snapshot(c.input.a), snapshot(c.input.b)));
        return { merged, combined: JSON.parse(snapshot([...c.input.a, ...c.input.b])) };
      },
      alerts(c) {
        return { real: attempt(() => JSON.parse(alertTransitions(JSON.stringify(c.input.rules), JSON.stringify(c.input.series ?? [])))) };
      },
      store_query(c) {
        return { real: attempt(() => checkEventQuery(JSON.stringify(c.input))) };
      },
      track(c) {
        const s = client(c.config);
        if (c.input.register) s.register(JSON.stringify(c.input.register));
        const props = c.input.properties == null ? undefined : JSON.stringify(c.input.properties);
        const options = JSON.stringify({ userId: c.input.user_id });
        const real = attempt(() => s.track(c.input.event, props, options));
        return { real, delivered: real.value ? delivered(s) : [] };
      },
    };
    return list.map(({ kind, c }) => {
      try {
        return run[kind](c);
      } catch (e) {
        return { crashed: String(e && e.stack || e) };
      }
    });
  }
}

before(async () => {
  assert.ok(fs.existsSync(path.join(PKG, 'sonde_wasm_bg.wasm')), 'run `make wasm-vectors` first');
  context = await launchChromium();
  const page = await context.newPage();
  await page.route(`${ORIGIN}/**`, (route) => {
    const { pathname } = new URL(route.request().url());
    if (pathname === '/') return route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>vectors</title>' });
    return fulfillFile(route, path.join(PKG, path.basename(pathname)));
  });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  await page.goto(`${ORIGIN}/`);
  const cases = all.filter((v) => RUN_IN_PAGE.has(v.kind)).map(({ kind, c }) => ({ kind, c }));
  const out = await page.evaluate(pageRunner, cases);
  assert.deepEqual(errors, []);
  results = new Map(cases.map((v, i) => [v.c, out[i]]));
});

after(async () => {
  await context?.close();
});

const violationsOf = (outcome) => {
  if (outcome.error) {
    assert.ok(outcome.error.isError && outcome.error.name === 'SondeError' && typeof outcome.error.code === 'string',
      JSON.stringify(outcome.error));
    return check.pairs(outcome.error.violations);
  }
  const { items } = outcome.value;
  assert.ok(items.length === 1 && items[0].status === 'rejected', JSON.stringify(outcome.value));
  return check.pairs(items[0].errors);
};

const verify = {
  message(c, r) {
    if (c.expected_errors) {
      const want = check.pairs(c.expected_errors);
      assert.deepEqual(violationsOf(r.dry), want);
      assert.equal(r.received, 0, 'a dry run counted events');
      assert.deepEqual(violationsOf(r.real), want);
      return;
    }
    assert.ok(!r.real.error, JSON.stringify(r.real.error));
    const item = r.real.value.items[0];
    assert.equal(item.status, c.expected.status ?? 'accepted', JSON.stringify(item));
    assert.deepEqual(check.pairs(item.warnings), check.pairs(c.expected.warnings ?? []));
    if (item.status === 'accepted') {
      assert.equal(r.delivered.length, 1);
      check.checkDelivered(c.expected, r.delivered[0]);
    }
  },
  batch(c, r) {
    if (c.expected_errors) {
      assert.ok(r.real.error, 'expected the request to be refused');
      assert.deepEqual(check.pairs(r.real.error.violations), check.pairs(c.expected_errors));
      return;
    }
    assert.ok(!r.real.error, JSON.stringify(r.real.error));
    check.checkBatchReport(c, r.real.value);
  },
  config(c, r) {
    if (c.expected_errors) {
      assert.ok(r.real.error, 'the configuration was accepted');
      assert.equal(r.real.error.code, 'invalid_config');
      assert.deepEqual(check.pairs(r.real.error.violations), check.pairs(c.expected_errors));
    } else {
      assert.ok(!r.real.error, JSON.stringify(r.real.error));
    }
  },
  stats_merge(c, r) {
    if (c.exact !== false) {
      const comparable = ({ taken_at, rates, ...rest }) => rest; // eslint-disable-line no-unused-vars
      assert.deepEqual(comparable(r.merged), comparable(r.combined));
    }
    check.subset(c.expected, r.merged);
  },
  alerts(c, r) {
    if (c.expected_errors) {
      assert.ok(r.real.error, 'the rules were accepted');
      assert.ok(r.real.error.isError && r.real.error.name === 'SondeError', JSON.stringify(r.real.error));
      assert.equal(r.real.error.code, 'invalid_config');
      assert.deepEqual(check.pairs(r.real.error.violations), check.pairs(c.expected_errors));
      return;
    }
    assert.ok(!r.real.error, JSON.stringify(r.real.error));
    check.subset(c.expected, r.real.value);
  },
  store_query(c, r) {
    if (c.expected_errors) {
      assert.ok(r.real.error, 'the query was accepted');
      assert.deepEqual(check.pairs(r.real.error.violations), check.pairs(c.expected_errors));
    } else {
      assert.ok(!r.real.error, JSON.stringify(r.real.error));
    }
  },
  track(c, r) {
    if (c.expected_errors) {
      assert.ok(r.real.error, 'accepted');
      assert.deepEqual(check.pairs(r.real.error.violations), check.pairs(c.expected_errors));
      return;
    }
    assert.ok(!r.real.error, JSON.stringify(r.real.error));
    assert.equal(r.delivered.length, 1);
    check.checkDelivered(c.expected, r.delivered[0]);
  },
};

test('every vector kind runs in the page', () => {
  for (const { kind } of all) assert.ok(RUN_IN_PAGE.has(kind) || SERVER_ONLY.has(kind), kind);
  assert.ok(all.length >= 160);
});

for (const { kind, name, c } of all) {
  if (!RUN_IN_PAGE.has(kind)) continue;
  test(name, () => {
    const r = results.get(c);
    assert.ok(r && !r.crashed, r?.crashed ?? 'not run');
    verify[kind](c, r);
  });
}
