// Compiled with `tsc --noEmit --strict` (never run): the declarations must accept real
// usage and refuse wrong usage.
import * as http from 'node:http';
import express from 'express';
import Fastify from 'fastify';
import { Sonde, SondeError, SondeEvent, EventPage } from '..';

const received: SondeEvent[] = [];
const sonde = new Sonde({ store: 'sonde.db', sink: (events) => received.push(...events), batchSize: 100 });
const forwarding = new Sonde({ endpoint: 'https://collector.example/v1/batch', writeKey: 'wk', forwardFormat: 'posthog', httpTimeoutMs: 10000 });
const relaying = new Sonde({ store: 'relay.db', forward: [{ endpoint: 'https://eu.posthog.example/batch/', forwardFormat: 'posthog', writeKey: 'phc', outbox: 'ph.db' }] });
const outboxes: number | undefined = relaying.stats().outboxes?.['https://eu.posthog.example/batch/']?.pending_events;
const awaited = new Sonde({ sink: async (events) => { await Promise.resolve(events.length); }, sinkTimeoutMs: 5000 });
void awaited;
void forwarding;
void outboxes;
const id: string | null = sonde.track('Signed Up', { plan: 'pro', seats: 3, tags: ['a'] }, { userId: '42', timestamp: new Date() });
sonde.page('Home', null, { anonymousId: 'a' });
sonde.alias({ previousId: 'a', userId: '42' });
const quiet = new Sonde({
  disabled: true,
  debug: false,
  onInvalid: 'warn',
  logger: console,
  onError: (error, events) => { void error.code; void events.length; },
  beforeSend: (event) => (event.type === 'track' ? { ...event, properties: {} } : event),
});
void quiet;
sonde.identify('42', { email: 'x@example.com' });
sonde.trackApiRequest({ method: 'GET', route: '/items/:id', statusCode: 200, durationMs: 12.5 });
sonde.trackPerformance('db.query', 3.2, { success: false, errorType: 'Timeout' });
const report = sonde.ingest({ batch: [{ type: 'track', event: 'A', userId: 'u' }] });
const accepted: number = report.accepted;
const paged: Promise<string | null> = sonde.queryEvents({ userId: '42', limit: 10, order: 'asc', from: new Date(0) })
  .then((page: EventPage) => page.next_cursor);
void paged;
const doubled: Promise<number> = sonde.time('double', async () => 2 * 21);
const fixed: number = sonde.time('sync', () => 1);
const timer = sonde.startTimer('load');
timer.end({ rows: 3 });
const delivered: number = sonde.stats().counters.delivered;
const exposition: Promise<string> = sonde.metricsText({ openMetrics: true });
const exported: number | undefined = sonde.stats().exports?.['http://otel:4318/v1/metrics']?.sent;
const pushing = new Sonde({ sink: () => {}, otlpEndpoint: 'http://otel:4318/v1/metrics', otlpHeaders: { 'x-tenant': 't' }, otlpIntervalMs: 30000, otlpResource: { 'service.name': 'shop' } });

async function main(): Promise<void> {
  try {
    await sonde.flush(1000);
  } catch (e) {
    const error = e as SondeError;
    const codes: string[] = error.violations.map((v) => v.code);
    console.log(error.code, codes);
  }
  await sonde.shutdown();
}

const app = express();
app.use(sonde.middleware({ excludePaths: ['^/health$'], requestSampleRate: 0.5 }));
app.get('/items/:id', (req, res) => { res.json({ id: req.params.id }); });
app.use(sonde.errorHandler());
const server = Fastify();
void server.register(sonde.fastify(), { excludePaths: ['^/health$'] });
http.createServer(sonde.wrap(async (req, res) => { res.end('ok'); }));
app.use('/analytics', sonde.router({ apiKey: ['k1', 'k2'], writeKeys: 'w', corsOrigins: ['https://shop.example'], metricsToken: 'scrape', openMetrics: false }));
void server.register(sonde.fastifyRouter({ apiKey: 'k' }), { prefix: '/analytics' });
const analytics = sonde.handler({ prefix: '/collect', allowUnauthenticated: true });
http.createServer((req, res) => { if (!analytics(req, res)) res.end('app'); });
app.use(sonde.middleware({ trustedProxies: 1, identify: (req) => (typeof req.user === 'string' ? req.user : null) }));
// @ts-expect-error: maxBodyBytes is a number
sonde.router({ maxBodyBytes: '1mb' });
// @ts-expect-error: what is recorded of addresses is the client's ipPolicy
sonde.middleware({ clientAddress: 'omit' });

// @ts-expect-error: the event name is required
sonde.track();
// @ts-expect-error: a sink receives events, not a string
new Sonde({ sink: (events: string) => events });
// @ts-expect-error: unknown destinations are refused
new Sonde({ stores: 'x.db' });

void [id, accepted, doubled, fixed, delivered, main, app];
