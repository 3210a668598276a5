/**
 * Prometheus metrics (prom-client), one registry per app so that several ledgers in one process (tests, a
 * host running two lines) never mix their series. Counters are counted where things happen (the append
 * route, the problem responses, every request); gauges are read when scraped, from the parts themselves.
 * Labels have bounded values only: event types the schemas know, error codes, route patterns.
 */
import type { MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { EventStore } from '../store/event-store.ts';
import type { ReadModel } from '../read/read-model.ts';
import type { LedgerLog } from '../read/ledger-log.ts';
import type { Checkpointer } from '../write/checkpointer.ts';
import { ADMIN_EVENT_TYPES, LEDGER_EVENT_TYPES, UNIT_EVENT_TYPES } from '../../schemas/index.ts';
import { fromBase64 } from '../crypto/encoding.ts';
import type { AppEnv } from './middleware.ts';

const KNOWN_TYPES = new Set<string>([...UNIT_EVENT_TYPES, ...ADMIN_EVENT_TYPES, ...LEDGER_EVENT_TYPES]);

export interface MetricsSources {
  readonly store: EventStore;
  readonly projections: ReadModel;
  readonly log: LedgerLog;
  readonly checkpointer: Checkpointer;
  /** Bytes the event store takes on disk, when it is a file the ledger can measure (SQLite). */
  readonly storeBytes?: () => number | null;
  readonly clock?: () => number;
}

export class LedgerMetrics {
  readonly registry = new Registry();
  private readonly appends: Counter<'type' | 'outcome'>;
  private readonly refusals: Counter<'code'>;
  readonly requestDuration: Histogram<'method' | 'route' | 'status'>;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    const clock = sources.clock ?? Date.now;
    collectDefaultMetrics({ register: this.registry, prefix: 'flashtrail_' });
    this.appends = new Counter({
      name: 'flashtrail_appends_total',
      help: 'Events submitted for appending, by event type and outcome (appended, duplicate: an exact retry, refused: the whole request was refused)',
      labelNames: ['type', 'outcome'],
      registers,
    });
    this.refusals = new Counter({ name: 'flashtrail_refusals_total', help: 'Problem responses, by stable error code', labelNames: ['code'], registers });
    this.requestDuration = new Histogram({
      name: 'flashtrail_http_request_duration_seconds',
      help: 'HTTP request latency until the response starts, by method, route pattern and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    new Gauge({
      name: 'flashtrail_projection_lag_events',
      help: 'Events in the store that a projection has not folded yet',
      labelNames: ['projection'],
      registers,
      async collect() {
        for (const s of await sources.projections.status()) this.set({ projection: s.name }, Number(s.lag));
      },
    });
    new Gauge({
      name: 'flashtrail_event_store_head_position',
      help: 'Global position of the newest event in the store (the number of events, on the embedded store)',
      registers,
      async collect() {
        this.set(Number(await sources.store.headPosition()));
      },
    });
    new Gauge({
      name: 'flashtrail_event_store_bytes',
      help: 'Bytes of the event store on disk (database file and its write-ahead log); absent when the store is a server',
      registers,
      collect() {
        const bytes = sources.storeBytes?.() ?? null;
        if (bytes === null) this.reset();
        else this.set(bytes);
      },
    });
    new Gauge({
      name: 'flashtrail_merkle_log_leaves',
      help: 'Leaves of the Merkle log (one per event)',
      registers,
      async collect() {
        this.set(await sources.log.size());
      },
    });
    new Gauge({
      name: 'flashtrail_checkpoint_age_seconds',
      help: 'Seconds since the newest signed checkpoint was issued; absent before the first',
      registers,
      collect() {
        const at = sources.checkpointer.lastIssuedAt();
        if (at === null) this.reset();
        else this.set(Math.max(0, (clock() - at) / 1000));
      },
    });
  }

  /** The outcome of one append request, per event. */
  appended(events: readonly { type: string; duplicate: boolean }[]): void {
    for (const e of events) this.appends.inc({ type: KNOWN_TYPES.has(e.type) ? e.type : 'other', outcome: e.duplicate ? 'duplicate' : 'appended' });
  }

  /** A refused append request: every event of it is refused (all or none), typed as far as its payload says. */
  refusedAppend(inputs: readonly unknown[]): void {
    for (const input of inputs) this.appends.inc({ type: typeOf(input), outcome: 'refused' });
  }

  refused(code: string): void {
    this.refusals.inc({ code });
  }

  async exposition(): Promise<string> {
    return this.registry.metrics();
  }
}

/** The event type an envelope claims, for a label only (never trusted for anything else); `invalid` when unreadable. */
function typeOf(input: unknown): string {
  try {
    const payload = (input as { payload?: unknown } | null)?.payload;
    if (typeof payload !== 'string' || payload.length > 512 * 1024) return 'invalid';
    const type = (JSON.parse(new TextDecoder().decode(fromBase64(payload))) as { type?: unknown }).type;
    return typeof type === 'string' && KNOWN_TYPES.has(type) ? type : 'invalid';
  } catch {
    return 'invalid';
  }
}

/**
 * Times every request and counts every problem response. The route label is the pattern of the route that
 * answered (`/v1/units/:serial`), or `unmatched`: never the raw path, whose values are unbounded.
 */
export function httpMetrics(metrics: LedgerMetrics): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const end = metrics.requestDuration.startTimer();
    await next();
    const route = matchedRoutes(c).filter((r) => r.method !== 'ALL').at(-1)?.path ?? 'unmatched';
    end({ method: c.req.method, route, status: String(c.res.status) });
    const code = c.get('problemCode');
    if (code) metrics.refused(code);
  };
}
