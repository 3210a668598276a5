/**
 * A failed export is an error, never a signed file that looks whole: the ledger refuses before the first byte
 * when it cannot sign the checkpoint (problem+json), aborts the connection when it cannot finish, and
 * `flashtrail export` exits 1 and leaves no file when what arrived is not a complete export.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestLedger, scanData, type TestLedger } from './helpers/ledger-fixture.ts';
import { runCli } from './helpers/cli.ts';
import { SimulatedStation } from '../src/sim/simulated-station.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { EventSigner } from '../src/event/signer.ts';
import { unitStream } from '../src/event/streams.ts';
import { envelopeBytes } from '../src/crypto/dsse.ts';

const dir = mkdtempSync(join(tmpdir(), 'flashtrail-export-failure-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function ledgerWithUnits(units: number): Promise<TestLedger> {
  const t = await startTestLedger();
  const station = new SimulatedStation(new LedgerClient(t.url, t.tokens.station1), new EventSigner(t.stationKeys['ST-01'], 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId: t.batchId, hardwareRevision: 'rev-C' }, t.release);
  for (let i = 0; i < units; i++) await station.flash(`EF-${String(i).padStart(3, '0')}`, 'pass');
  return t;
}

function exportCli(t: TestLedger, url: string, out: string) {
  const tokenFile = join(dir, `auditor-${Math.random()}.token`);
  writeFileSync(tokenFile, t.tokens.auditor, { mode: 0o600 });
  return runCli(['export', '--url', url, '--token-file', tokenFile, '--batch', t.batchId, '--out', out], { timeoutMs: 60_000 });
}

/** Nothing under the export's name, no CSV, and no temporary file left beside it. */
function expectNothingWritten(out: string): void {
  expect(existsSync(out)).toBe(false);
  expect(existsSync(out.replace(/\.ndjson$/, '.csv'))).toBe(false);
  expect(readdirSync(dir).filter((n) => n.includes('.tmp-'))).toEqual([]);
}

describe('a failed export is an error', () => {
  let t: TestLedger;
  beforeAll(async () => {
    t = await ledgerWithUnits(6);
  }, 120_000);
  afterAll(() => t.stop());

  it('a connection that breaks off mid-transfer: exit 1, the reason in one line, no file', async () => {
    // A real TCP relay that drops both sides after 30 kB of the response: what a flaky network does.
    const relay: Server = createServer((client: Socket) => {
      const upstream = connect(Number(new URL(t.url).port), '127.0.0.1');
      let relayed = 0;
      client.pipe(upstream);
      upstream.on('data', (chunk: Buffer) => {
        const room = 30_000 - relayed;
        relayed += chunk.length;
        if (chunk.length < room) return void client.write(chunk);
        // The headers and the first part of the body get through; then the connection is gone.
        client.end(chunk.subarray(0, Math.max(0, room)), () => client.destroy());
        upstream.destroy();
      });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', () => r()));
    try {
      const out = join(dir, 'broken.ndjson');
      const r = await exportCli(t, `http://127.0.0.1:${(relay.address() as { port: number }).port}`, out);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/export broke off after \d+ records|ended in the middle of a line|without its signed statement/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expectNothingWritten(out);
    } finally {
      relay.close();
    }
  });

  it('a complete export over the same ledger is written whole, and verifies', async () => {
    const out = join(dir, 'whole.ndjson');
    const r = await exportCli(t, t.url, out);
    expect(r.code, r.stderr).toBe(0);
    const key = (await (await fetch(`${t.url}/v1/ledger/key`, { headers: { authorization: `Bearer ${t.tokens.auditor}` } })).text()).trim();
    const v = await runCli(['verify', out, '--ledger-key', key]);
    expect(v.code, v.stdout).toBe(0);
    expect(v.stdout).toMatch(/verified: 6 units/);
  });

  it('a unit too large for one line: the ledger aborts the transfer (no final chunk), the CLI exits 1 and writes nothing', async () => {
    const serial = 'EF-HUGE';
    const signer = new EventSigner(t.stationKeys['ST-01'], 'ST-01');
    // More than MAX_EXPORT_LINE_BYTES (4 MiB) for one unit record. The unit decider caps failures and passes, so
    // no sequence the API accepts grows a unit this large any more: the events go into the store directly, as an
    // older ledger's history (or an insider's edit) could hold them, and the export must still end as an error.
    const signed = [signer.sign('UnitScanned', scanData(serial, t.batchId))];
    for (let i = 0; i < 1500; i++) signed.push(signer.sign('StepFailed', { serial, step: 'bootloader', errorCode: 'FLASH_TIMEOUT', message: 'x'.repeat(2000), attempt: i + 1 }));
    await t.running.store.appendToStream(unitStream(serial), signed.map((e) => ({ id: e.event.id, type: e.event.type, data: envelopeBytes(e.envelope) })), { expected: 'no_stream' });
    await t.running.projections.catchUp();
    // The connection is reset before the end: after the 200 and some lines, or before the first chunk left.
    // A reset can also come from the keep-alive connection fetch reuses, closed by the server's idle timeout
    // while the request was on its way (timers run late on a loaded machine): that request never reached the
    // export, so it left no "export aborted" line, and is made again on a fresh connection.
    let status: number | null = null;
    let completed = false;
    for (let attempt = 0; attempt < 3 && !/"msg":"export aborted"/.test(t.logs()); attempt++) {
      status = null;
      try {
        const response = await fetch(`${t.url}/v1/exports`, { method: 'POST', headers: { authorization: `Bearer ${t.tokens.auditor}`, 'content-type': 'application/json' }, body: JSON.stringify({ batchId: t.batchId }) });
        status = response.status;
        await response.text();
        completed = true;
        break;
      } catch {
        // the aborted transfer, or a stale connection
      }
    }
    expect(completed, 'the transfer ended normally').toBe(false);
    expect([null, 200]).toContain(status);
    expect(t.logs()).toMatch(/"msg":"export aborted"/);
    const out = join(dir, 'huge.ndjson');
    const r = await exportCli(t, t.url, out);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/export broke off/);
    expectNothingWritten(out);
  }, 120_000);
});

describe('a checkpoint the ledger refuses to sign', () => {
  it('is a 503 problem+json before any byte of the export, and flashtrail export exits 1 without a file', async () => {
    const t = await ledgerWithUnits(1);
    try {
      // What a restore of an older Merkle log beside a newer signed record looks like: a bigger tree was signed.
      const bogus = await t.running.checkpointer.issue();
      await t.running.log.recordCheckpoint((await t.running.log.size()) + 100, new Uint8Array(32), bogus, new Date().toISOString());
      const response = await fetch(`${t.url}/v1/exports`, { method: 'POST', headers: { authorization: `Bearer ${t.tokens.auditor}`, 'content-type': 'application/json' }, body: JSON.stringify({ batchId: t.batchId }) });
      expect(response.status).toBe(503);
      expect(response.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(await response.json()).toMatchObject({ code: 'CHECKPOINT_REFUSED' });
      const out = join(dir, 'refused.ndjson');
      const r = await exportCli(t, t.url, out);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/CHECKPOINT_REFUSED|refus/);
      expectNothingWritten(out);
    } finally {
      await t.stop();
    }
  }, 120_000);
});
