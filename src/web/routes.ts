/**
 * The ledger's web pages, mounted at the root of the API app (src/api/app.ts):
 * - GET /verify.html, the offline verifier page, public like the page written next to every export: it holds
 *   no ledger data, and whoever checks evidence with it gives it the key they pinned, never one served here;
 * - GET /ui, the web interface (a single page that calls the JSON API with the user's bearer token), and
 *   GET /, which sends a browser there;
 * - GET /ui/session, who the token is (its role decides which pages the interface shows);
 * - GET /ui/find?q=, the units whose serial, MAC or chip id is q (auditor, admin);
 * - GET /ui/live, server-sent events: the event store's head position whenever it moves, so that an open
 *   dashboard reloads its figures while a batch runs.
 */
import { Hono, type MiddlewareHandler } from 'hono';
import { streamSSE } from 'hono/streaming';
import { APP_PAGE_NAME, builtPage, VERIFIER_PAGE_NAME } from './pages.ts';
import { hardwareIdKey } from '../../projections/unit-state.ts';
import { LedgerError } from '../write/errors.ts';

/** What the unit search reads: the unit-state projection (projections/unit-state.ts) behind the projection runner. */
export interface UnitLookup {
  catchUp(): Promise<void>;
  get<T>(projection: string, key: string): T | null;
  findDocs<T>(projection: string, index: string, value: string, options?: { limit?: number }): T[];
}

export interface WebDeps {
  /** The API's bearer authentication; it sets the `principal` variable. */
  readonly authenticate: MiddlewareHandler;
  /** The event store's head position, polled for the live updates. */
  readonly headPosition: () => Promise<bigint>;
  readonly projections: UnitLookup;
  /** How often /ui/live looks at the head (ms). */
  readonly livePollMs?: number;
}

/** Every page answers with the same protective headers; each page's own policy is in its <meta>. */
const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-cache',
} as const;

/** At most this many live streams at once: each holds a connection and a timer. */
const MAX_LIVE_STREAMS = 64;

interface PrincipalLike {
  readonly role: string;
  readonly name?: string;
  readonly stationId?: string;
}

export function webRoutes(deps: WebDeps): Hono {
  const web = new Hono();
  const page = (name: string) =>
    web.get(`/${name === APP_PAGE_NAME ? 'ui' : name}`, (c) => {
      const bytes = builtPage(name);
      if (!bytes) return c.text(`${name} is not built (npm run build)\n`, 404);
      return c.body(bytes as Uint8Array<ArrayBuffer>, 200, PAGE_HEADERS);
    });
  page(VERIFIER_PAGE_NAME);
  page(APP_PAGE_NAME);
  // A person who types the ledger's address lands on the interface, not on a 404.
  web.get('/', (c) => c.redirect('/ui', 302));

  web.get('/ui/session', deps.authenticate, (c) => {
    const principal = (c.get as (key: string) => PrincipalLike)('principal');
    return c.json({ role: principal.role, name: principal.name ?? principal.stationId ?? principal.role }, 200, { 'cache-control': 'no-store' });
  });

  web.get('/ui/find', deps.authenticate, async (c) => {
    const principal = (c.get as (key: string) => PrincipalLike)('principal');
    // Thrown, not answered: the app's error handler renders every refusal as problem+json with its code.
    if (principal.role !== 'auditor' && principal.role !== 'admin') throw new LedgerError('FORBIDDEN', 'unit search needs the auditor or admin role');
    const q = (c.req.query('q') ?? '').trim();
    if (q.length === 0 || q.length > 128) throw new LedgerError('BODY_INVALID', 'q must be a serial, MAC or chip id of 1 to 128 characters', { field: 'q' });
    await deps.projections.catchUp();
    const found = new Map<string, string[]>();
    const add = (serial: string, by: string) => found.set(serial, [...(found.get(serial) ?? []), by]);
    if (deps.projections.get<{ serial: string }>('unit-state', q)) add(q, 'serial');
    const key = hardwareIdKey(q);
    if (key.length > 0) {
      for (const u of deps.projections.findDocs<{ serial: string }>('unit-state', 'mac', key, { limit: 100 })) add(u.serial, 'MAC');
      for (const u of deps.projections.findDocs<{ serial: string }>('unit-state', 'chip', key, { limit: 100 })) add(u.serial, 'chip id');
    }
    return c.json({ q, units: [...found.entries()].map(([serial, matched]) => ({ serial, matched })) }, 200, { 'cache-control': 'no-store' });
  });

  let streams = 0;
  web.get('/ui/live', deps.authenticate, (c) => {
    if (streams >= MAX_LIVE_STREAMS) throw new LedgerError('UNAVAILABLE', `too many live streams (${MAX_LIVE_STREAMS}); retry later`);
    streams++;
    return streamSSE(c, async (sse) => {
      let closed = false;
      sse.onAbort(() => {
        closed = true;
      });
      try {
        let last = -1n;
        let quiet = 0;
        while (!closed) {
          const head = await deps.headPosition();
          if (head !== last) {
            last = head;
            quiet = 0;
            await sse.writeSSE({ event: 'head', data: JSON.stringify({ headPosition: head.toString() }) });
          } else if (++quiet * (deps.livePollMs ?? 1000) >= 15_000) {
            quiet = 0;
            await sse.write(': keep-alive\n\n');
          }
          await sse.sleep(deps.livePollMs ?? 1000);
        }
      } finally {
        streams--;
      }
    });
  });
  return web;
}
