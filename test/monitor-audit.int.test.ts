/**
 * `flashtrail monitor` audits the whole log (docs/format.md §16), a real process against a real ledger: each poll
 * reads only the entries after the last one --state says it audited, checks every one, follows a `keys rotate`
 * (each checkpoint under the key in force at its size), and reports an insider's write past the ledger's decider
 * (a serial scanned into a second batch, written into the SQLite store directly) with its leaf index.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { startTestLedger, scanData, type TestLedger } from './helpers/ledger-fixture.ts';
import { runCli } from './helpers/cli.ts';
import { SimulatedStation } from '../src/sim/simulated-station.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { EventSigner } from '../src/event/signer.ts';
import { unitStream } from '../src/event/streams.ts';
import { envelopeBytes } from '../src/crypto/dsse.ts';
import { decodeTrustedEnvelope } from '../src/event/codec.ts';
import type { Signer } from '../src/crypto/ed25519.ts';

const work = mkdtempSync(join(tmpdir(), 'flashtrail-monitor-audit-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const get = async (t: TestLedger, path: string) => (await fetch(`${t.url}${path}`, { headers: { authorization: `Bearer ${t.tokens.auditor}` } })).text();
const checkpoint = (t: TestLedger) => fetch(`${t.url}/v1/checkpoint`, { method: 'POST', headers: { authorization: `Bearer ${t.tokens.admin}` } });
const flash = (t: TestLedger, serial: string, key: Signer) =>
  new SimulatedStation(new LedgerClient(t.url, t.tokens.station1), new EventSigner(key, 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId: t.batchId, hardwareRevision: 'rev-C' }, t.release).flash(serial, 'pass');
const lines = (stdout: string) => stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
const sizeOf = (note: string) => Number(note.split('\n')[1]);

describe('flashtrail monitor: the log audit', () => {
  it('audits only new entries each poll, reports an insider write with its leaf, and follows a ledger key rotation', async () => {
    const dataDir = join(work, 'ledger');
    const state = join(work, 'monitor.state');
    const tokenFile = join(work, 'auditor.token');
    let t = await startTestLedger({ dataDir });
    const stationKey = t.stationKeys['ST-01'];
    const key = (await get(t, '/v1/ledger/key')).trim();
    writeFileSync(tokenFile, `${t.tokens.auditor}\n`, { mode: 0o600 });
    const monitor = () => runCli(['monitor', '--ledger', t.url, '--ledger-key', key, '--state', state, '--token-file', tokenFile, '--once']);
    try {
      await flash(t, 'AU-1', stationKey);
      await checkpoint(t);
      const r1 = await monitor();
      expect(r1.code, r1.stdout + r1.stderr).toBe(0);
      const size1 = sizeOf(await get(t, '/v1/checkpoint'));
      expect(lines(r1.stdout)).toEqual([expect.objectContaining({ kind: 'checkpoint', size: size1, audited: size1 })]);
      const kept1 = JSON.parse(readFileSync(state, 'utf8')) as { audit: { size: number; cursor: string } };
      expect(kept1.audit.size).toBe(size1);

      await flash(t, 'AU-2', stationKey);
      await checkpoint(t);
      const r2 = await monitor();
      expect(r2.code, r2.stdout + r2.stderr).toBe(0);
      const size2 = sizeOf(await get(t, '/v1/checkpoint'));
      expect(lines(r2.stdout)).toEqual([expect.objectContaining({ kind: 'checkpoint', size: size2, consistentWith: size1, audited: size2 })]);
      const kept2 = JSON.parse(readFileSync(state, 'utf8')) as { audit: { size: number; cursor: string } };
      expect(BigInt(kept2.audit.cursor)).toBeGreaterThan(BigInt(kept1.audit.cursor));

      // An insider writes past the decider: AU-1 scanned into a second batch, chained and signed by the station.
      const head = (await t.running.store.readStream(unitStream('AU-1'))).at(-1)!;
      const scan = new EventSigner(stationKey, 'ST-01').sign('UnitScanned', scanData('AU-1', 'B-OTHER'), { prev: decodeTrustedEnvelope(head.data).digest });
      await t.running.store.appendToStream(unitStream('AU-1'), [{ id: scan.event.id, type: scan.event.type, data: envelopeBytes(scan.envelope) }]);
      await checkpoint(t);
      // A real loopback receiver for --webhook: it refuses the first delivery (503), so the monitor must retry.
      const received: Record<string, unknown>[] = [];
      let requests = 0;
      const receiver = createServer((req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          requests++;
          if (requests === 1) return void res.writeHead(503).end();
          received.push(JSON.parse(body) as Record<string, unknown>);
          res.writeHead(204).end();
        });
      });
      await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
      const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/findings`;
      const r3 = await runCli(['monitor', '--ledger', t.url, '--ledger-key', key, '--state', state, '--token-file', tokenFile, '--once', '--webhook', hook]);
      await new Promise<void>((r) => receiver.close(() => r()));
      expect(r3.code).toBe(1);
      const findings = lines(r3.stdout).filter((l) => l.kind === 'finding');
      const twice = findings.find((f) => f.code === 'UNIT_IN_TWO_BATCHES') as { leafIndex: number; evidence: { event: { leafIndex: number; eventId: string }; batchId: string } };
      expect(twice).toBeDefined();
      // The leaf named is the one holding the insider's entry in the log the ledger serves.
      const page = JSON.parse(await get(t, '/v1/log/entries?limit=1000')) as { entries: string[] };
      const leaf = page.entries.findIndex((e) => decodeTrustedEnvelope(Buffer.from(e, 'base64')).event.id === scan.event.id);
      expect(leaf).toBeGreaterThanOrEqual(size2);
      expect(twice.leafIndex).toBe(leaf);
      expect(twice.evidence).toMatchObject({ batchId: 'B-OTHER', event: { leafIndex: leaf, eventId: scan.event.id } });
      // Every finding printed reached the webhook, the refused one after a retry.
      expect(requests).toBe(findings.length + 1);
      expect(received.map((f) => f.code).sort()).toEqual(findings.map((f) => f.code).sort());
      expect(received).toContainEqual(twice);
    } finally {
      await t.stop();
    }

    const rotated = await runCli(['keys', 'rotate', '--data', dataDir]);
    expect(rotated.code, rotated.stderr).toBe(0);
    const newKeyId = (JSON.parse(rotated.stdout) as { verifierKey: string }).verifierKey.split('+')[1];
    t = await startTestLedger({ dataDir, setup: false });
    try {
      writeFileSync(tokenFile, `${t.tokens.auditor}\n`, { mode: 0o600 });
      await flash(t, 'AU-3', stationKey);
      await checkpoint(t);
      // Pinned to the old key, the monitor follows the rotation record; the insider's finding was reported once.
      const r4 = await monitor();
      expect(r4.code, r4.stdout + r4.stderr).toBe(0);
      const size4 = sizeOf(await get(t, '/v1/checkpoint'));
      expect(lines(r4.stdout)).toEqual([expect.objectContaining({ kind: 'checkpoint', size: size4, audited: size4, ledgerKey: newKeyId })]);
    } finally {
      await t.stop();
    }
  });
});
