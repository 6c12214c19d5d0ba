// Types of the browser package's public API (js/sonde.js).

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export interface Violation {
  path: string;
  code: string;
  message: string;
}

/** What Sonde throws: an `Error` named "SondeError" with a stable `code`. */
export interface SondeError extends Error {
  code: string;
  violations: Violation[];
}

export interface SondeBrowserOptions {
  /** A Segment-compatible batch URL (default `/analytics/v1/batch`). */
  endpoint?: string;
  /** Sent as `?writeKey=` (beacons cannot carry headers). */
  writeKey?: string;
  /** Events per batch (20): the core's `batchSize`, the same word as in Node and Python. */
  batchSize?: number;
  /** @deprecated Segment's name for `batchSize`, accepted for code ported from analytics.js. */
  flushAt?: number;
  /** How often buffered events are sent (5000 ms). */
  flushIntervalMs?: number;
  /** A new session after this long without activity (30 minutes). */
  sessionTimeoutMs?: number;
  /** Batches kept across page loads when they could not be sent (100). */
  maxQueuedBatches?: number;
  /**
   * Retries of a failed batch in this page (the core's `maxRetries`), waiting
   * `retryInitialBackoffMs` doubling up to `retryMaxBackoffMs` with jitter, and never less
   * than the collector's `Retry-After` (at most an hour). A batch out of retries waits in
   * the offline queue and is sent once at a later load, or when the collector answers again.
   */
  maxRetries?: number;
  retryInitialBackoffMs?: number;
  retryMaxBackoffMs?: number;
  /** Opt-in automatic events. */
  autocapture?: {
    /** A page view now and on every history API navigation. */
    pageViews?: boolean;
    /** Clicks on elements with `attribute` (`true`), or also every button and link (`'all'`). */
    clicks?: boolean | 'all';
    /** Navigation timing, LCP, CLS and INP as `$performance` events when the page is hidden. */
    performance?: boolean;
    /** The attribute naming tracked elements (default `data-track`). */
    attribute?: string;
  };
  /**
   * `'gzip'` (default): batches of 1 KiB or more are sent gzipped (`Content-Encoding: gzip`)
   * where the browser has `CompressionStream`; `false` sends them as plain text.
   */
  compression?: 'gzip' | false;
  /**
   * The query parameters page views keep in `url` and `referrer` (names, or prefixes ending
   * in `*`); default `['utm_*']`; `true` keeps every one. Fragments are always dropped:
   * tokens travel in both.
   */
  keepQueryParams?: string[] | true;
  /** The visitor's id when the page knows it (a server-set cookie, say); by default the id
   * this browser keeps in `localStorage`, created once. */
  anonymousId?: string;
  /** Where the `.wasm` file is, when not next to the glue. */
  wasmUrl?: string | URL;
  trackingPlan?: JsonObject;
  sampleRate?: number;
  sampleRates?: { [eventName: string]: number };
  superProperties?: JsonObject;
  redactKeys?: string[];
  /** Validate every event, send and store nothing (tests, local runs). */
  disabled?: boolean;
  /** Log to the console (nothing is logged otherwise); invalid events throw by default. */
  debug?: boolean;
  /**
   * What a tracking call does with an event it cannot accept: throw (`'raise'`), tell
   * `onError` and return null (`'warn'`), or return null (`'drop'`). Default `'raise'`
   * when disabled or in debug mode, `'warn'` otherwise: a typo never breaks a button.
   */
  onInvalid?: 'raise' | 'warn' | 'drop';
  /** Refused events (under `'warn'`) and batches the collector refused or the offline queue dropped. */
  onError?: (error: SondeError, events: JsonObject[]) => void;
  /** Scrubs or drops an event before validation: return it (changed or not), or null. */
  beforeSend?: (event: TrackedEvent) => TrackedEvent | null | undefined;
  /**
   * Consent mode (cookie banners): start opted out, storing nothing in the browser, until
   * `optIn()`; the consent is then remembered across loads.
   */
  requireConsent?: boolean;
}

/** An event as a tracking call describes it, before validation (what `beforeSend` sees). */
export interface TrackedEvent {
  type: 'track' | 'page' | 'identify' | 'group' | 'alias';
  [field: string]: unknown;
}

export interface EventOptions {
  userId?: string;
  anonymousId?: string;
  sessionId?: string;
  messageId?: string;
  timestamp?: string | Date;
  context?: JsonObject;
}

/** What happened to batches once the core handed them to the page's transport. */
export interface TransportStats {
  sent_batches: number;
  /** Network errors, 429 and 5xx answers (the batch waits in the persistent queue). */
  failed_attempts: number;
  /** 4xx answers other than 429: not retried. */
  refused_batches: number;
  /** Batches in the persistent queue now. */
  queued_batches: number;
  /** Batches pushed out of the persistent queue by its cap or a full storage. */
  queue_dropped_batches: number;
}

export interface Timer {
  end(metadata?: JsonObject): string | null;
  fail(error: unknown, metadata?: JsonObject): string | null;
}

/**
 * Event methods return the event's `messageId`, or `null` while opted out (`optOut()`),
 * when `beforeSend` dropped the event, or when `onInvalid` is `'warn'`/`'drop'` and the
 * event was refused.
 */
export declare class Sonde {
  static init(options?: SondeBrowserOptions): Promise<Sonde>;
  /** A client to use at once: calls before the core is ready are queued and replayed. */
  static load(options?: SondeBrowserOptions): SondeLoading;
  readonly anonymousId: string;
  readonly userId: string | null;
  readonly sessionId: string;
  track(event: string, properties?: JsonObject | null, options?: EventOptions): string | null;
  page(name?: string | null, properties?: JsonObject | null, options?: EventOptions): string | null;
  identify(userId: string, traits?: JsonObject | null, options?: EventOptions): string | null;
  group(groupId: string, traits?: JsonObject | null, options?: EventOptions): string | null;
  /** `previousId` (default: this browser's anonymous id) becomes `userId`. */
  alias(identities: { userId: string; previousId?: string }, options?: EventOptions): string | null;
  trackInteraction(action: string, target: string, options?: EventOptions & { path?: string; value?: JsonValue }): string | null;
  trackError(errorType: string, message: string, options?: EventOptions & { stack?: string; route?: string }): string | null;
  screen(name?: string | null, properties?: JsonObject | null, options?: EventOptions): string | null;
  trackPerformance(
    operation: string,
    durationMs: number,
    options?: EventOptions & { success?: boolean; errorType?: string; metadata?: JsonObject },
  ): string | null;
  /** Super properties for every event, kept across page loads until `reset()`. */
  register(properties: JsonObject): void;
  /** `register` for the keys not registered yet. */
  registerOnce(properties: JsonObject): void;
  unregister(key: string): void;
  /** Stops all tracking in this browser, remembered across page loads. */
  optOut(): void;
  /** Tracking again after `optOut()`. */
  optIn(): void;
  readonly optedOut: boolean;
  /** Forgets the user (on logout): user id, session, registered properties and anonymous id (a new one is made). */
  reset(): void;
  /** The core's statistics (as every runtime reports them) plus the page's transport. */
  stats(): JsonObject & { transport: TransportStats };
  time<T>(operation: string, fn: () => T): T;
  startTimer(operation: string): Timer;
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

export default Sonde;

/** What `Sonde.load` returns at once: the event methods (queued until the core is ready). */
export interface SondeLoading
  extends Pick<Sonde, 'track' | 'page' | 'screen' | 'identify' | 'group' | 'alias' | 'trackInteraction' | 'trackError' | 'trackPerformance'
    | 'register' | 'registerOnce' | 'unregister' | 'reset' | 'optIn' | 'optOut' | 'flush' | 'shutdown'> {
  /** The client, once the core is loaded. */
  readonly ready: Promise<Sonde>;
  readonly anonymousId: string | null;
  readonly userId: string | null;
  readonly sessionId: string | null;
  readonly optedOut: boolean | null;
  stats(): (JsonObject & { transport: TransportStats }) | null;
}
