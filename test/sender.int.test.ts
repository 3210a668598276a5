/**
 * The station's sender against a real ledger address on loopback that first answers 503, then refuses
 * connections, then is a real ledger again: retries space out exponentially up to the cap, and the pending
 * events are delivered, once each, when the ledger is back.
 */
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanData, startTestLedger, type TestLedger } from './helpers/ledger-fixture.ts';
import { Outbox } from '../station/outbox.ts';
import { Sender } from '../station/sender.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { EventSigner } from '../src/event/signer.ts';
import type { Signer } from '../src/crypto/ed25519.ts';

// Long enough that the time a request takes on a loaded machine (tens of ms) does not blur the doubling.
const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 800;

const dir = mkdtempSync(join(tmpdir(), 'flashtrail-sender-'));
const dataDir = join(dir, 'ledger');
let port: number;
let stationToken: string;
let stationKey: Signer;

beforeAll(async () => {
  // A ledger with its station set up; then it goes down, and its address is what the station talks to.
  const first = await startTestLedger({ dataDir });
  port = first.running.port;
  stationToken = first.tokens.station1;
  stationKey = first.stationKeys['ST-01'];
  await first.stop();
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** A ledger address that answers every request with 503, recording when each one arrived. */
function unavailableLedger(): Promise<{ server: Server; arrivals: number[] }> {
  const arrivals: number[] = [];
  const server = createServer((req, res) => {
    arrivals.push(performance.now());
    req.resume();
    req.on('end', () => {
      res.writeHead(503, { 'content-type': 'application/problem+json', 'retry-after': '1' });
      res.end(JSON.stringify({ type: 'about:blank', title: 'Service Unavailable', status: 503, detail: 'maintenance', code: 'UNAVAILABLE' }));
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve({ server, arrivals }));
  });
}

describe('station sender', () => {
  it('backs off exponentially up to the cap while the ledger is unavailable, then delivers every pending event once', async () => {
    const outbox = new Outbox(join(dir, 'outbox.sqlite'));
    const signer = new EventSigner(stationKey, 'ST-01');
    const serials = ['BO-1', 'BO-2', 'BO-3'];
    for (const serial of serials) outbox.enqueue(signer.sign('UnitScanned', scanData(serial)), new Date());
    const onlineChanges: boolean[] = [];
    const scheduled: number[] = [];
    const client = new LedgerClient(`http://127.0.0.1:${port}`, stationToken);
    const sender = new Sender({
      outbox,
      client: () => client,
      clock: () => new Date(),
      minBackoffMs: MIN_BACKOFF_MS,
      maxBackoffMs: MAX_BACKOFF_MS,
      onConnection: (connection) => onlineChanges.push(connection === 'online'),
      onRetryScheduled: (delayMs) => scheduled.push(delayMs),
    });
    let ledger: TestLedger | null = null;
    try {
      // 1. 503: the waits the sender schedules double from the minimum, then stay at the cap; and it really
      // waits that long (a lower bound on wall-clock gaps holds however loaded the machine is).
      const unavailable = await unavailableLedger();
      sender.start();
      await until('eight attempts', () => unavailable.arrivals.length >= 8, 20_000);
      expect(onlineChanges).toEqual([false]);
      expect(scheduled.slice(0, 7)).toEqual([MIN_BACKOFF_MS, 2 * MIN_BACKOFF_MS, 4 * MIN_BACKOFF_MS, MAX_BACKOFF_MS, MAX_BACKOFF_MS, MAX_BACKOFF_MS, MAX_BACKOFF_MS]);
      const gaps = unavailable.arrivals.slice(1, 8).map((t, i) => t - (unavailable.arrivals[i] as number));
      gaps.forEach((gap, i) => expect(gap, `gap ${i + 1} of ${gaps.map(Math.round).join(', ')} ms`).toBeGreaterThanOrEqual((scheduled[i] as number) - 5));
      expect(outbox.counts()).toEqual({ pending: 3, delivered: 0, rejected: 0 });
      expect(outbox.pending(1)[0]?.lastError).toMatch(/503/);

      // 2. Nothing listens: connections are refused, and the sender keeps trying.
      unavailable.server.closeAllConnections();
      await new Promise<void>((r) => unavailable.server.close(() => r()));
      const attemptsBefore = outbox.pending(1)[0]?.attempts ?? 0;
      await until('two refused attempts', () => (outbox.pending(1)[0]?.attempts ?? 0) >= attemptsBefore + 2, 5_000);
      expect(outbox.pending(1)[0]?.lastError).not.toMatch(/503/);
      expect(outbox.counts().pending).toBe(3);

      // 3. The ledger is back at the same address: everything pending arrives, within about one capped wait.
      ledger = await startTestLedger({ dataDir, port, setup: false });
      await until('delivery', () => outbox.counts().pending === 0, 5_000);
      expect(Math.max(...scheduled), 'no wait beyond the cap, so recovery is noticed within one capped wait').toBe(MAX_BACKOFF_MS);
      expect(outbox.counts()).toEqual({ pending: 0, delivered: 3, rejected: 0 });
      expect(onlineChanges).toEqual([false, true]);
      const auditor = new LedgerClient(ledger.url, ledger.tokens.auditor);
      for (const serial of serials) {
        const events = await auditor.get<{ events: unknown[] }>(`/v1/units/${serial}/events`);
        expect(events.events).toHaveLength(1);
      }
    } finally {
      await sender.stop();
      outbox.close();
      await ledger?.stop();
    }
  });
});
