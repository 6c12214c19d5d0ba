// Every shared vector in real headless Chromium. What a page can call in the shipped package
// runs on the shipped package: `track` and `config` through `js/sonde.js` (`Sonde.init`,
// `register`, `track`, delivery over HTTP to this test's route) on `pkg/`, the `-Oz` build
// `make wasm` ships. The kinds a page cannot reach there — `message` and `batch` (ingest),
// `stats_merge` (`mergeStats`), `alerts` (`alertTransitions`) and `store_query`
// (`checkEventQuery`) — run through a build with those entry points added (feature
// `vectors`, `make wasm-vectors`: the same size profile and wasm-opt -Oz as the package).
// Inputs reach the page as the vector file's own text, so `1.0` stays `1.0`; the pages only
// call and record; the checks are the Node suite's (tests/vectors/check.cjs).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import check from '../../tests/vectors/check.cjs';
import { fulfillFile, launchChromium } from './chromium.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const PKG = path.resolve(here, '..', 'pkg-vectors');
const PACKAGE_ROOT = path.resolve(here, '..');
const ORIGIN = 'http://vectors.sonde.test';
const SHIPPED_ORIGIN = 'http://shipped.sonde.test';
const RUN_IN_TEST_BUILD = new Set(['message', 'batch', 'stats_merge', 'alerts', 'store_query']);
const RUN_ON_SHIPPED = new Set(['track', 'config']);
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
    // `text` holds each input as the vector file wrote it (see check.jsonText).
    const client = (configText) => new NativeSonde(configText === '{}' ? '{"flush_interval_ms":3600000}'
      : `{"flush_interval_ms":3600000,${configText.trim().slice(1)}`);
    // The delivered batch's payload text, parsed outside the page by parseKeepingText.
    const delivered = (s) => {
      s.flush();
      const batch = s.takeBatch();
      return batch === undefined ? null : batch.payload;
    };
    const report = (json) => JSON.parse(json);
    const run = {
      message(c, text) {
        const s = client(text.config);
        if (c.expected_errors) {
          const dry = attempt(() => report(s.ingest(text.body, true)));
          const received = JSON.parse(s.stats()).counters.received;
          return { dry, received, real: attempt(() => report(s.ingest(text.body))) };
        }
        const real = attempt(() => report(s.ingest(text.body)));
        return { real, payload: real.value ? delivered(s) : null };
      },
      batch(c, text) {
        return { real: attempt(() => report(client(text.config).ingest(text.body))) };
      },
      stats_merge(c, text) {
        const snapshot = (messagesText) => {
          const s = client(text.config);
          s.ingest(messagesText);
          return s.stats();
        };
        const merged = JSON.parse(mergeStats(snapshot(text.a), snapshot(text.b)));
        return { merged, combined: JSON.parse(snapshot(text.ab)) };
      },
      alerts(c, text) {
        return { real: attempt(() => JSON.parse(alertTransitions(text.rules, text.series))) };
      },
      store_query(c, text) {
        return { real: attempt(() => checkEventQuery(text.body)) };
      },
    };
    return list.map(({ kind, c, text }) => {
      try {
        return run[kind](c, text);
      } catch (e) {
        return { crashed: String(e && e.stack || e) };
      }
    });
  }
}

/** Runs `track` and `config` cases through the shipped package's own API, in the page. */
async function shippedRunner(list) {
  const { Sonde } = await import('/js/sonde.js');
  const thrown = (e) => ({ isError: e instanceof Error, name: e.name, code: e.code, violations: e.violations });
  const out = [];
  for (const { kind, c, index } of list) {
    localStorage.clear();
    try {
      if (kind === 'config') {
        try {
          const s = await Sonde.init({ ...c.input, endpoint: `/collect/${index}` });
          await s.shutdown();
          out.push({ real: { value: 'ok' } });
        } catch (e) {
          out.push({ real: { error: thrown(e) } });
        }
        continue;
      }
      // The vectors' contract is that a refused event throws where it is tracked.
      const s = await Sonde.init({ onInvalid: 'raise', ...(c.config ?? {}), endpoint: `/collect/${index}`, compression: false, flushIntervalMs: 3_600_000 });
      if (c.input.register) s.register(c.input.register);
      let real;
      try {
        real = { value: s.track(c.input.event, c.input.properties ?? undefined, c.input.user_id ? { userId: c.input.user_id } : undefined) ?? null };
      } catch (e) {
        real = { error: thrown(e) };
      }
      await s.flush();
      await s.shutdown();
      out.push({ real, deviceId: s.anonymousId });
    } catch (e) {
      out.push({ crashed: String((e && e.stack) || e) });
    }
  }
  return out;
}

/** Each input as the vector file wrote it, for the test build's runner. */
function inputTexts(kind, c) {
  const configText = check.jsonText(c.config ?? {});
  switch (kind) {
    case 'stats_merge':
      return {
        config: configText, a: check.jsonText(c.input.a), b: check.jsonText(c.input.b),
        ab: `[${[check.jsonText(c.input.a).trim().slice(1, -1), check.jsonText(c.input.b).trim().slice(1, -1)].filter((x) => x.trim()).join(',')}]`,
      };
    case 'alerts':
      return { rules: check.jsonText(c.input.rules), series: check.jsonText(c.input.series ?? []) };
    case 'store_query':
      return { body: check.jsonText(c.input) };
    default:
      return { config: configText, body: check.body(c) };
  }
}

before(async () => {
  assert.ok(fs.existsSync(path.join(PKG, 'sonde_wasm_bg.wasm')), 'run `make wasm-vectors` first');
  assert.ok(fs.existsSync(path.join(PACKAGE_ROOT, 'pkg', 'sonde_wasm_bg.wasm')), 'run `make wasm` first');
  context = await launchChromium();
  const errors = [];
  results = new Map();

  const page = await context.newPage();
  await page.route(`${ORIGIN}/**`, (route) => {
    const { pathname } = new URL(route.request().url());
    if (pathname === '/') return route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>vectors</title>' });
    return fulfillFile(route, path.join(PKG, path.basename(pathname)));
  });
  page.on('pageerror', (e) => errors.push(e));
  await page.goto(`${ORIGIN}/`);
  const cases = all.filter((v) => RUN_IN_TEST_BUILD.has(v.kind)).map(({ kind, c }) => ({ kind, c, text: inputTexts(kind, c) }));
  const out = await page.evaluate(pageRunner, cases);
  cases.forEach((v, i) => results.set(v.c, out[i]));

  const shipped = await context.newPage();
  const posted = new Map(); // case index -> delivered messages
  await shipped.route(`${SHIPPED_ORIGIN}/**`, (route) => {
    const request = route.request();
    const { pathname } = new URL(request.url());
    if (pathname === '/') return route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>shipped</title>' });
    if (pathname.startsWith('/collect/')) {
      const index = Number(pathname.slice('/collect/'.length));
      posted.set(index, [...(posted.get(index) ?? []), ...check.parseKeepingText(request.postData()).batch]);
      return route.fulfill({ status: 200, contentType: 'application/json', body: '{"success":true}' });
    }
    if (!pathname.startsWith('/js/') && !pathname.startsWith('/pkg/')) return route.fulfill({ status: 404 });
    return fulfillFile(route, path.join(PACKAGE_ROOT, pathname));
  });
  shipped.on('pageerror', (e) => errors.push(e));
  await shipped.goto(`${SHIPPED_ORIGIN}/`);
  const shippedCases = all.filter((v) => RUN_ON_SHIPPED.has(v.kind)).map(({ kind, c }, index) => ({ kind, c, index }));
  const shippedOut = await shipped.evaluate(shippedRunner, shippedCases);
  shippedCases.forEach((v, i) => results.set(v.c, { ...shippedOut[i], delivered: posted.get(v.index) ?? [] }));
  assert.deepEqual(errors, []);
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
      const delivered = r.payload === null ? [] : check.parseKeepingText(r.payload).batch;
      assert.equal(delivered.length, 1);
      check.checkDelivered(c.expected, delivered[0]);
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
    // A browser always has a visitor id (analytics.js does the same): where the vector's
    // configuration names none, the page's own id is sent instead of none.
    const expected = { ...c.expected, absent: (c.expected.absent ?? []).filter((p) => p !== '/anonymousId') };
    if (expected.absent.length !== (c.expected.absent ?? []).length) {
      assert.equal(r.delivered[0].anonymousId, r.deviceId);
    }
    check.checkDelivered(expected, r.delivered[0]);
  },
};

test('every vector kind runs in a page', () => {
  for (const { kind } of all) assert.ok(RUN_IN_TEST_BUILD.has(kind) || RUN_ON_SHIPPED.has(kind) || SERVER_ONLY.has(kind), kind);
});

for (const { kind, name, c } of all) {
  if (SERVER_ONLY.has(kind)) continue;
  test(name, () => {
    const r = results.get(c);
    assert.ok(r && !r.crashed, r?.crashed ?? 'not run');
    verify[kind](c, r);
  });
}
