/**
 * The publisher's flow control, against a real AMQP 1.0 peer whose credit and dispositions the test decides
 * (rhea as a listener; a broker that is slow, full or refusing): it never sends beyond the link's credit, never
 * holds more than its window unaccepted, reads the log only as far as that window needs, and a refused
 * message is sent again (same message-id) with nothing after it skipped.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import rhea, { type Delivery, type EventContext, type Message, type Receiver } from 'rhea';
import type { Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestLedger, type TestLedger } from './helpers/ledger-fixture.ts';
import { SimulatedStation } from '../src/sim/simulated-station.ts';
import { EventSigner } from '../src/event/signer.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { BrokerConnection } from '../src/plant/broker.ts';
import { CfxPublisher } from '../src/plant/publisher.ts';

const UNITS = 15;
const PER_UNIT = 7; // WorkStarted, UnitsPersonalized, UnitsProcessed, UnitsTested, UnitsProcessed, UnitsProcessed, WorkCompleted
const WINDOW = 8;

const until = async (what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 20_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};
const settle = () => new Promise((r) => setTimeout(r, 400));

describe('CFX publisher flow control', () => {
  let ledger: TestLedger;
  let server: Server;
  let connection: BrokerConnection;
  let publisher: CfxPublisher;
  let dir: string;
  let link: Receiver | null = null;
  const arrived: { position: bigint; id: string; name: string; serial: string; delivery: Delivery }[] = [];

  beforeAll(async () => {
    ledger = await startTestLedger();
    const station = new SimulatedStation(new LedgerClient(ledger.url, ledger.tokens.station1), new EventSigner(ledger.stationKeys['ST-01'], 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId: ledger.batchId, hardwareRevision: 'rev-C' }, ledger.release);
    for (let i = 0; i < UNITS; i++) await station.flash(`SN-BP-${i}`, 'pass-unshipped');
    // The peer: grants no credit and settles nothing until the test says so.
    const peer = rhea.create_container({ id: 'peer', receiver_options: { credit_window: 0, autoaccept: false } });
    peer.on('receiver_open', (c: EventContext) => (link = c.receiver as Receiver));
    peer.on('message', (c: EventContext) => {
      const m = c.message as Message;
      const envelope = JSON.parse(gunzipSync((m.body as { content: Buffer }).content).toString()) as { MessageName: string; MessageBody: { PrimaryIdentifier?: string } };
      const serial = String((m.application_properties as Record<string, string>)['flashtrail-provenance-url']).split('/').at(-2) as string;
      arrived.push({ position: BigInt(String((m.application_properties as Record<string, string>)['flashtrail-log-position'])), id: String(m.message_id), name: envelope.MessageName.split('.').at(-1) as string, serial, delivery: c.delivery as Delivery });
    });
    server = peer.listen({ port: 0, host: '127.0.0.1' }) as unknown as Server;
    await new Promise<void>((r) => (server.listening ? r() : server.once('listening', () => r())));
    const port = (server.address() as { port: number }).port;
    dir = mkdtempSync(join(tmpdir(), 'flashtrail-cfx-bp-'));
    connection = new BrokerConnection({ scheme: 'amqp', host: '127.0.0.1', port, username: null, password: null, vhost: null, caFile: null, tlsServerName: null }, { containerId: 'ledger', minBackoffMs: 100 });
    publisher = new CfxPublisher({
      store: ledger.running.store, broker: connection, file: join(dir, 'cfx-publisher.sqlite'), address: '/exchange/cfx',
      mapping: { handle: 'Plant1.L1.flashtrail', provenanceUrl: (s) => `${ledger.url}/v1/units/${s}/provenance` },
      maxInFlight: WINDOW, start: 'beginning', readBatch: 10, retryAfterMs: 100,
    });
    await publisher.start();
    connection.start();
    await until('the publisher link', () => link !== null);
  }, 120_000);

  afterAll(async () => {
    await publisher?.stop();
    await connection?.stop();
    server?.close();
    await ledger?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('no credit: nothing is sent, and the log is read no further than the window needs', async () => {
    await settle();
    expect(arrived).toHaveLength(0);
    const stats = await publisher.stats();
    expect(stats).toMatchObject({ connected: true, inFlight: 0 });
    expect(stats.buffered).toBeLessThanOrEqual(WINDOW * 4);
    expect(stats.lag).toBeGreaterThan(BigInt(UNITS * 6 - WINDOW * 4));
    // Without credit nothing is even read.
    expect(stats).toMatchObject({ cursor: -1n, buffered: 0 });
  });

  it('credit 3: exactly three messages, the first three of the log', async () => {
    (link as Receiver).add_credit(3);
    await until('three deliveries', () => arrived.length === 3);
    await settle();
    expect(arrived.map((a) => a.name)).toEqual(['WorkStarted', 'UnitsPersonalized', 'UnitsProcessed']);
    expect((await publisher.stats()).inFlight).toBe(3);
  });

  it('ample credit, no dispositions: the window (8 unaccepted) holds, whatever the credit', async () => {
    (link as Receiver).add_credit(100);
    await until('the window to fill', () => arrived.length === WINDOW);
    await settle();
    expect(arrived).toHaveLength(WINDOW);
    const stats = await publisher.stats();
    expect(stats.inFlight).toBe(WINDOW);
    expect(stats.buffered).toBeLessThanOrEqual(WINDOW * 4);
    // Nothing accepted: the cursor is before the first message's event (past the administrator events only).
    expect(stats.cursor).toBeLessThan((arrived[0] as { position: bigint }).position);
  });

  it('a refused message is sent again with the same message-id, and nothing after it is skipped', async () => {
    const first = arrived[0] as (typeof arrived)[number];
    first.delivery.reject({ condition: 'amqp:internal-error', description: 'disk alarm' });
    await until('the refusal to be counted', async () => (await publisher.stats()).deliveryFailures === 1);
    // Accept everything from now on, in order, and give credit as it is used.
    const accept = setInterval(() => {
      for (const a of arrived) if (!a.delivery.remote_settled && a !== first) a.delivery.accept();
      if (((link as Receiver & { credit: number }).credit) < 20) (link as Receiver).add_credit(50);
    }, 20);
    try {
      await until('every message', async () => new Set(arrived.map((a) => a.id)).size === UNITS * PER_UNIT && (await publisher.stats()).lag === 0n, 30_000);
    } finally {
      clearInterval(accept);
    }
    expect(arrived.filter((a) => a.id === first.id).length).toBeGreaterThanOrEqual(2);
    const seen = new Set<string>();
    const perUnit = new Map<string, string[]>();
    for (const a of arrived) {
      if (seen.has(a.id)) continue;
      seen.add(a.id);
      perUnit.set(a.serial, [...(perUnit.get(a.serial) ?? []), a.name]);
    }
    for (let i = 0; i < UNITS; i++) expect(perUnit.get(`SN-BP-${i}`)).toEqual(['WorkStarted', 'UnitsPersonalized', 'UnitsProcessed', 'UnitsTested', 'UnitsProcessed', 'UnitsProcessed', 'WorkCompleted']);
    const stats = await publisher.stats();
    expect(stats).toMatchObject({ lag: 0n, inFlight: 0, deliveryFailures: 1, buffered: 0 });
  }, 60_000);
});
