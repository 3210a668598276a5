/**
 * The station's outbox and sender against a real ledger on loopback: one delivery at a time (the eFuse
 * gate's `deliver` and the background loop do not send the same event twice, nor report a refusal twice),
 * and `flashtrail station requeue` delivering events the ledger refused once their cause is gone (here a
 * station clock that ran ahead: the same signed events are valid once the time has come).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootloaderData, scanData, startTestLedger, type TestLedger } from './helpers/ledger-fixture.ts';
import { Outbox } from '../station/outbox.ts';
import { Sender } from '../station/sender.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { EventSigner } from '../src/event/signer.ts';
import { writeSecretKeyFile } from '../src/files/key-file.ts';
import { runCli } from './helpers/cli.ts';

let dir: string;
let t: TestLedger;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'flashtrail-station-sender-'));
  t = await startTestLedger();
}, 60_000);
afterAll(async () => {
  await t.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('station outbox and sender', () => {
  it('one delivery at a time: concurrent deliveries send each event once and report a refusal once', async () => {
    const outbox = new Outbox(join(dir, 'concurrent.sqlite'));
    const signer = new EventSigner(t.stationKeys['ST-01'], 'ST-01');
    const client = new LedgerClient(t.url, t.tokens.station1);
    let requests = 0;
    const counting = new Proxy(client, {
      get(target, prop, receiver) {
        if (prop === 'append') return (...args: Parameters<LedgerClient['append']>) => (requests++, target.append(...args));
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    const refusals: string[] = [];
    const sender = new Sender({ outbox, client: () => counting, clock: () => new Date(), onRejected: (id) => refusals.push(id) });
    const scan = signer.sign('UnitScanned', scanData('CC-1'));
    outbox.enqueue(scan, new Date());
    // Not scanned: the ledger refuses it (UNIT_NOT_SCANNED).
    const orphan = signer.sign('BootloaderWritten', bootloaderData('CC-2', t.release));
    outbox.enqueue(orphan, new Date());
    sender.start();
    const results = await Promise.all([sender.deliver(scan.event.id), sender.deliver(orphan.event.id), sender.flush(), sender.deliver(orphan.event.id)]);
    await sender.stop();
    expect(results[0]).toEqual({ state: 'delivered' });
    expect(results[1]).toMatchObject({ state: 'rejected', reason: expect.stringMatching(/409 RULE_VIOLATION UNIT_NOT_SCANNED/) });
    expect(refusals).toEqual([orphan.event.id]);
    // The batch of two was refused once, then the rest sent once; nothing more.
    expect(requests).toBe(2);
    expect(outbox.counts()).toEqual({ pending: 0, delivered: 1, rejected: 1 });
    outbox.close();
  });

  it('requeue delivers refused events once their cause is gone, in order, with their chain intact', async () => {
    const home = join(dir, 'requeue');
    const dataDir = join(home, 'data');
    writeSecretKeyFile(join(dir, 'rq.key'), t.stationKeys['ST-01']);
    writeFileSync(join(dir, 'rq.token'), t.tokens.station1, { mode: 0o600 });
    const configFile = join(dir, 'rq.json');
    writeFileSync(
      configFile,
      JSON.stringify({ stationId: 'ST-01', keyFile: 'rq.key', dataDir, ledger: { url: t.url, tokenFile: 'rq.token' }, batchId: t.batchId, ports: { scanner: { path: '/dev/null' }, console: { path: '/dev/null' } } }),
    );
    // A station whose clock ran 5 minutes and 3 seconds ahead (the ledger allows 5 minutes).
    const ahead = () => new Date(Date.now() + 5 * 60_000 + 3_000);
    mkdirSync(dataDir, { recursive: true });
    const outbox = new Outbox(join(dataDir, 'outbox.sqlite'));
    const signer = new EventSigner(t.stationKeys['ST-01'], 'ST-01', ahead);
    const events = [signer.sign('UnitScanned', scanData('RQ-1')), signer.sign('BootloaderWritten', bootloaderData('RQ-1', t.release))];
    for (const e of events) outbox.enqueue(e, new Date());
    const sender = new Sender({ outbox, client: () => new LedgerClient(t.url, t.tokens.station1), clock: () => new Date() });
    await sender.flush();
    expect(outbox.counts()).toEqual({ pending: 0, delivered: 0, rejected: 2 });
    expect(outbox.rejected().map((e) => e.lastError)).toEqual([expect.stringMatching(/CLOCK_SKEW/), expect.stringMatching(/CHAIN_MISMATCH/)]);
    outbox.close();

    const status = await runCli(['station', 'status', '--config', configFile]);
    expect(status.code).toBe(1);
    expect(status.stdout).toMatch(/after fixing the cause: flashtrail station requeue --config/);

    // Requeued too early, refused again; once the time has come, delivered.
    const early = await runCli(['station', 'requeue', '--config', configFile]);
    expect(early.code).toBe(1);
    await new Promise((r) => setTimeout(r, 4_000));
    const late = await runCli(['station', 'requeue', '--config', configFile]);
    expect(late.stdout, late.stderr).toMatch(/2 rejected event\(s\) put back in the queue/);
    expect(late.stdout).toMatch(/0 pending, 2 delivered, 0 rejected/);
    expect(late.code).toBe(0);
    const history = await new LedgerClient(t.url, t.tokens.auditor).get<{ events: { event: { id: string } }[] }>('/v1/units/RQ-1/events');
    expect(history.events.map((e) => e.event.id)).toEqual(events.map((e) => e.event.id));
  }, 60_000);
});
