/**
 * `flashtrail monitor` and the checkpoint's ML-DSA-44 line (docs/format.md §5.5, §16.1), a real process against a
 * real ledger seen through a loopback proxy that can tamper with the checkpoint it serves: the line removed or
 * corrupted (the Ed25519 line still valid) is CHECKPOINT_PQ_SIGNATURE_ERROR, with or without a pinned ML-DSA-44
 * key; a pinned key the log never names is LEDGER_KEY_ERROR. The keys pinned on the first run are kept in --state
 * (later runs omit them; another key is refused). Pinned to the first ML-DSA-44 key, the monitor follows
 * `keys rotate --ml-dsa` (a link the old key signs) and reports, without following it, the unlinked
 * LedgerKeyAnnounced of a key an insider put in the data directory.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestLedger, type TestLedger } from './helpers/ledger-fixture.ts';
import { oneLineFailure, runCli } from './helpers/cli.ts';
import { SimulatedStation } from '../src/sim/simulated-station.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { EventSigner } from '../src/event/signer.ts';
import { LEDGER_KEYS_STREAM } from '../src/event/streams.ts';
import { decodeTrustedEnvelope } from '../src/event/codec.ts';
import { fromBase64, toBase64 } from '../src/crypto/encoding.ts';
import { newMlDsaSigner } from '../src/crypto/ml-dsa.ts';
import { formatMlDsaVerifierKey } from '../src/tlog/ml-dsa-note.ts';
import { writeMlDsaKeyFile } from '../src/files/ml-dsa-key-file.ts';

const work = mkdtempSync(join(tmpdir(), 'flashtrail-monitor-pq-'));
const dataDir = join(work, 'ledger');
const tokenFile = join(work, 'auditor.token');
let t: TestLedger;
let ledgerKey: string;
let pqKey: string;
let serials = 0;
/** ST-01's key, registered once: a restarted fixture makes new ones it does not register. */
let stationKey: TestLedger['stationKeys']['ST-01'];

/** What the proxy does to the note of GET /v1/checkpoint (identity: the ledger's own). */
let tamper: (note: string) => string = (note) => note;
let proxy: Server;
let proxyUrl: string;

const auth = () => ({ authorization: `Bearer ${t.tokens.auditor}` });
const lines = (stdout: string) => stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
const origin = () => ledgerKey.split('+')[0]!;
const pqId = (vkey: string) => vkey.split('+')[1]!;

/** A unit flashed and a checkpoint signed over it: new entries for the monitor's next poll. */
async function activity(): Promise<void> {
  await new SimulatedStation(new LedgerClient(t.url, t.tokens.station1), new EventSigner(stationKey, 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId: t.batchId, hardwareRevision: 'rev-C' }, t.release).flash(`PQ-${++serials}`, 'pass');
  const r = await fetch(`${t.url}/v1/checkpoint`, { method: 'POST', headers: { authorization: `Bearer ${t.tokens.admin}` } });
  expect(r.status, await r.text()).toBeLessThan(300);
}

const monitor = (state: string, keys: string[]) => runCli(['monitor', '--ledger', proxyUrl, ...keys, '--state', join(work, state), '--token-file', tokenFile, '--once'], { timeoutMs: 60_000 });
const pinned = () => ['--ledger-key', ledgerKey, '--ledger-pq-key', pqKey];

/** The checkpoint's signature lines other than the Ed25519 one: the ML-DSA-44 line (§5.5) is the only one here. */
function mlDsaLine(note: string): string {
  const found = note.split('\n').filter((l) => l.startsWith(`— ${origin()} `) && fromBase64(l.split(' ')[2]!).length > 68);
  expect(found).toHaveLength(1);
  return found[0]!;
}

async function startProxy(): Promise<void> {
  proxy = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        try {
          const headers: Record<string, string> = {};
          for (const name of ['authorization', 'content-type', 'accept']) if (typeof req.headers[name] === 'string') headers[name] = req.headers[name];
          const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined;
          const upstream = await fetch(`${t.url}${req.url ?? '/'}`, { method: req.method ?? 'GET', headers, ...(body ? { body } : {}), signal: AbortSignal.timeout(30_000) });
          let text = await upstream.text();
          if (req.method === 'GET' && req.url === '/v1/checkpoint' && upstream.ok) text = tamper(text);
          res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'text/plain' }).end(text);
        } catch (error) {
          res.writeHead(502).end(String(error));
        }
      })();
    });
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  t = await startTestLedger({ dataDir });
  stationKey = t.stationKeys['ST-01'];
  writeFileSync(tokenFile, `${t.tokens.auditor}\n`, { mode: 0o600 });
  ledgerKey = (await (await fetch(`${t.url}/v1/ledger/key`, { headers: auth() })).text()).trim();
  pqKey = (await (await fetch(`${t.url}/v1/ledger/pq-key`, { headers: auth() })).text()).trim();
  await startProxy();
  await activity();
}, 60_000);
afterAll(async () => {
  tamper = (note) => note;
  proxy?.closeAllConnections();
  await new Promise<void>((r) => (proxy ? proxy.close(() => r()) : r()));
  await t?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('flashtrail monitor: the checkpoint ML-DSA-44 line (§5.5)', () => {
  it('verifies both lines under the pinned first keys, keeps the pins in --state, and refuses another key', async () => {
    const r1 = await monitor('main.state', pinned());
    expect(r1.code, r1.stdout + r1.stderr).toBe(0);
    expect(lines(r1.stdout)).toEqual([expect.objectContaining({ kind: 'checkpoint', signatures: ['Ed25519', 'ML-DSA-44'], mlDsaKey: pqId(pqKey) })]);
    const kept = JSON.parse(readFileSync(join(work, 'main.state'), 'utf8')) as { keys: { ledger: string; mlDsa: string } };
    expect(kept.keys).toEqual({ ledger: ledgerKey, mlDsa: pqKey });

    // A later run takes both pins from the state.
    await activity();
    const r2 = await monitor('main.state', []);
    expect(r2.code, r2.stdout + r2.stderr).toBe(0);
    expect(lines(r2.stdout)).toEqual([expect.objectContaining({ kind: 'checkpoint', signatures: ['Ed25519', 'ML-DSA-44'], mlDsaKey: pqId(pqKey) })]);

    // Another ML-DSA-44 key than the state pins: refused before anything is fetched, one line, no stack.
    const other = formatMlDsaVerifierKey(origin(), newMlDsaSigner().publicKey);
    const r3 = await monitor('main.state', ['--ledger-pq-key', other]);
    const failure = oneLineFailure(r3);
    expect(failure.code).toBe(2);
    expect(failure.lines).toBe(1);
    expect(failure.stackFrames).toBe(false);
    expect(failure.line).toContain('--ledger-pq-key');
    expect(failure.line).toContain('main.state');

    // No key on the command line and none in a new state: the monitor says what it needs.
    const r4 = await monitor('none.state', []);
    expect(oneLineFailure(r4)).toMatchObject({ code: 2, lines: 1, stackFrames: false });
    expect(r4.stderr).toContain('--ledger-key');

    // A state kept without an ML-DSA-44 pin takes one later: the chain its audit followed must hold it.
    const r5 = await monitor('late.state', ['--ledger-key', ledgerKey]);
    expect(r5.code, r5.stdout + r5.stderr).toBe(0);
    await activity();
    const r6 = await monitor('late.state', ['--ledger-pq-key', pqKey]);
    expect(r6.code, r6.stdout + r6.stderr).toBe(0);
    expect(lines(r6.stdout)).toEqual([expect.objectContaining({ kind: 'checkpoint', signatures: ['Ed25519', 'ML-DSA-44'], mlDsaKey: pqId(pqKey) })]);
    expect((JSON.parse(readFileSync(join(work, 'late.state'), 'utf8')) as { keys: unknown }).keys).toEqual({ ledger: ledgerKey, mlDsa: pqKey });
  });

  it('a checkpoint with its ML-DSA-44 line removed is CHECKPOINT_PQ_SIGNATURE_ERROR, pinned or not', async () => {
    await activity();
    for (const [state, keys] of [['removed-pinned.state', pinned()], ['removed-announced.state', ['--ledger-key', ledgerKey]]] as const) {
      tamper = (note) => note;
      const clean = await monitor(state, [...keys]);
      expect(clean.code, clean.stdout + clean.stderr).toBe(0);
      expect(lines(clean.stdout)).toEqual([expect.objectContaining({ kind: 'checkpoint', signatures: ['Ed25519', 'ML-DSA-44'] })]);

      await activity();
      let served = '';
      tamper = (note) => (served = note.replace(`${mlDsaLine(note)}\n`, ''));
      const r = await monitor(state, [...keys]);
      expect(r.code, r.stdout + r.stderr).toBe(1);
      const findings = lines(r.stdout).filter((l) => l['kind'] === 'finding');
      expect(findings).toEqual([expect.objectContaining({ code: 'CHECKPOINT_PQ_SIGNATURE_ERROR', step: 'checkpoint', evidence: { checkpoint: served } })]);
      expect(findings[0]!['message']).toContain(`carries no ML-DSA-44 signature by ${origin()} (${pqId(pqKey)})`);
      // Its Ed25519 line alone still verifies: the finding is the missing line, nothing else.
      expect(served.split('\n').filter((l) => l.startsWith('— '))).toHaveLength(1);
    }
  });

  it('a checkpoint with a corrupted ML-DSA-44 signature is CHECKPOINT_PQ_SIGNATURE_ERROR', async () => {
    tamper = (note) => note;
    const clean = await monitor('corrupted.state', pinned());
    expect(clean.code, clean.stdout + clean.stderr).toBe(0);

    await activity();
    tamper = (note) => {
      const line = mlDsaLine(note);
      const [dash, name, b64] = line.split(' ');
      const sig = fromBase64(b64!);
      const at = sig.length - 100;
      sig[at] = sig[at]! ^ 0x01;
      return note.replace(line, `${dash} ${name} ${toBase64(sig)}`);
    };
    const r = await monitor('corrupted.state', []);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(lines(r.stdout).filter((l) => l['kind'] === 'finding')).toEqual([expect.objectContaining({ code: 'CHECKPOINT_PQ_SIGNATURE_ERROR', step: 'checkpoint', message: expect.stringContaining('does not verify') })]);
    tamper = (note) => note;
  });

  it('a pinned ML-DSA-44 key the log never names is LEDGER_KEY_ERROR', async () => {
    tamper = (note) => note;
    const stranger = formatMlDsaVerifierKey(origin(), newMlDsaSigner().publicKey);
    const r = await monitor('stranger.state', ['--ledger-key', ledgerKey, '--ledger-pq-key', stranger]);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    const findings = lines(r.stdout).filter((l) => l['kind'] === 'finding');
    expect(findings).toEqual([expect.objectContaining({ code: 'LEDGER_KEY_ERROR', step: 'checkpoint' })]);
    expect(findings[0]!['message']).toContain(`pinned ML-DSA-44 key ${stranger.split('+').slice(0, 2).join('+')}`);
    expect(findings[0]!['message']).toContain(pqId(pqKey));
  });

  it('follows keys rotate --ml-dsa from the pinned first key, and reports an unlinked announcement without following it', async () => {
    tamper = (note) => note;
    await t.stop();
    const rotated = await runCli(['keys', 'rotate', '--ml-dsa', '--data', dataDir]);
    expect(rotated.code, rotated.stderr).toBe(0);
    const newPq = (JSON.parse(rotated.stdout) as { verifierKey: string }).verifierKey;
    expect(pqId(newPq)).not.toBe(pqId(pqKey));
    t = await startTestLedger({ dataDir, setup: false });
    writeFileSync(tokenFile, `${t.tokens.auditor}\n`, { mode: 0o600 });
    await activity();
    // main.state pins the first ML-DSA-44 key; the checkpoint now carries the new key's line.
    const r1 = await monitor('main.state', []);
    expect(r1.code, r1.stdout + r1.stderr).toBe(0);
    expect(lines(r1.stdout)).toEqual([expect.objectContaining({ kind: 'checkpoint', signatures: ['Ed25519', 'ML-DSA-44'], mlDsaKey: pqId(newPq) })]);

    // An insider with the data directory puts an ML-DSA-44 key of their own in place of the ledger's (as an
    // operator who lost the key would): at its start the ledger announces it, unlinked, under its Ed25519 key,
    // and signs with it. A monitor pinned to the chain reports the announcement and does not follow it.
    await t.stop();
    const intruder = newMlDsaSigner();
    rmSync(join(dataDir, 'ledger-ml-dsa.key'));
    writeMlDsaKeyFile(join(dataDir, 'ledger-ml-dsa.key'), intruder);
    const info = JSON.parse(readFileSync(join(dataDir, 'ledger.json'), 'utf8')) as Record<string, unknown>;
    delete info['mlDsaRotatedFrom'];
    writeFileSync(join(dataDir, 'ledger.json'), JSON.stringify({ ...info, mlDsaKeyId: intruder.keyId }));
    t = await startTestLedger({ dataDir, setup: false });
    writeFileSync(tokenFile, `${t.tokens.auditor}\n`, { mode: 0o600 });
    await activity();
    const intruderKey = formatMlDsaVerifierKey(origin(), intruder.publicKey);
    const announced = (await t.running.store.readStream(LEDGER_KEYS_STREAM)).map((r) => decodeTrustedEnvelope(r.data).event).at(-1)!;
    expect(announced).toMatchObject({ type: 'LedgerKeyAnnounced', data: { verifierKey: intruderKey } });
    const r2 = await monitor('main.state', []);
    expect(r2.code, r2.stdout + r2.stderr).toBe(1);
    const findings = lines(r2.stdout).filter((l) => l['kind'] === 'finding');
    expect(findings.map((f) => [f['code'], f['step']])).toEqual([
      ['LEDGER_KEY_ERROR', 'ledger-keys'],
      ['CHECKPOINT_PQ_SIGNATURE_ERROR', 'checkpoint'],
    ]);
    expect(findings[0]).toMatchObject({ evidence: expect.objectContaining({ eventId: announced.id, eventType: 'LedgerKeyAnnounced' }) });
    expect(findings[0]!['message']).toContain(`${pqId(intruderKey)}, unlinked`);
    // The checkpoint is checked under the chain followed, whose key (the rotated one) did not sign it.
    expect(findings[1]!['message']).toContain(`carries no ML-DSA-44 signature by ${origin()} (${pqId(newPq)})`);
    // The next poll reaches the ledger's CheckpointIssued record of that checkpoint: its note, in the log, is
    // checked the same way, at its leaf.
    await activity();
    const r2b = await monitor('main.state', []);
    expect(r2b.code, r2b.stdout + r2b.stderr).toBe(1);
    const logged = lines(r2b.stdout).filter((l) => l['kind'] === 'finding' && l['step'] === 'logged-checkpoints');
    expect(logged.length).toBeGreaterThanOrEqual(1);
    for (const f of logged) {
      expect(f).toMatchObject({ code: 'CHECKPOINT_PQ_SIGNATURE_ERROR', evidence: expect.objectContaining({ eventType: 'CheckpointIssued' }) });
      expect(f['leafIndex']).toBe((f['evidence'] as { leafIndex: number }).leafIndex);
    }

    // A monitor that pins no ML-DSA-44 key takes the log's word for it: it follows the announcement.
    const r3 = await monitor('unpinned.state', ['--ledger-key', ledgerKey]);
    expect(r3.code, r3.stdout + r3.stderr).toBe(0);
    expect(lines(r3.stdout)).toEqual([expect.objectContaining({ kind: 'checkpoint', signatures: ['Ed25519', 'ML-DSA-44'], mlDsaKey: pqId(intruderKey) })]);
  }, 120_000);
});
