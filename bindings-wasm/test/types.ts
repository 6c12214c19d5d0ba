// Compiled with `tsc --noEmit --strict` (never run): the declarations of js/sonde.d.ts must
// accept real page code and refuse wrong usage.
import Sonde, { SondeError, SondeBrowserOptions } from '../js/sonde.js';

const options: SondeBrowserOptions = {
  endpoint: '/analytics/v1/batch',
  writeKey: 'wk',
  batchSize: 50,
  compression: 'gzip',
  autocapture: { pageViews: true, clicks: 'all', performance: true },
  trackingPlan: { events: { 'Signed Up': { type: 'object' } } },
  superProperties: { app: 'web' },
};

async function main(): Promise<void> {
  const sonde: Sonde = await Sonde.init(options);
  const id: string | null = sonde.track('Signed Up', { plan: 'pro', seats: 3, tags: ['a'] }, { timestamp: new Date() });
  sonde.page(null, { section: 'pricing' });
  sonde.identify('42', { email: 'x@example.com' });
  sonde.trackInteraction('click', 'buy', { path: '/pricing', value: 3 });
  sonde.trackError('TypeError', 'x is undefined', { stack: 'at f()' });
  const doubled: Promise<number> = sonde.time('double', async () => 2 * 21);
  const timer = sonde.startTimer('render');
  const recorded: string | null = timer.end({ rows: 3 });
  const anonymous: string = sonde.anonymousId;
  const waiting: number = sonde.stats().transport.queued_batches;
  const user: string | null = sonde.userId;
  try {
    await sonde.flush();
  } catch (e) {
    const error = e as SondeError;
    const codes: string[] = error.violations.map((v) => v.code);
    console.log(codes, error.code);
  }
  sonde.optOut();
  const out: boolean = sonde.optedOut;
  sonde.optIn();
  sonde.reset();
  await sonde.shutdown();
  console.log(id, doubled, recorded, anonymous, user, out, waiting);
  // @ts-expect-error: properties are a JSON object, not a string
  sonde.track('Bad', 'not an object');
  // @ts-expect-error: compression is 'gzip' or false
  await Sonde.init({ compression: 'brotli' });
  // @ts-expect-error: an event needs a name
  sonde.track();
}

void main;
