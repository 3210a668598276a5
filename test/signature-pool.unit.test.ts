/**
 * The append path's signature pool (src/native/signature-pool.ts): real worker threads give, envelope by
 * envelope, the verdict the writer thread gives itself (verifyEnvelopeSignature on the native backend),
 * for genuine signatures and for each way of forging one the strict rule refuses; and a ledger with the pool
 * refuses a forged event with the same code and message as one without it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { signEnvelope, verifyEnvelopeSignature, type DsseEnvelope } from '../src/crypto/dsse.ts';
import { newSigner } from '../src/crypto/ed25519.ts';
import { fromBase64, fromHex, toBase64, utf8 } from '../src/crypto/encoding.ts';
import { nativeCrypto } from '../src/native/crypto.ts';
import { SignatureVerifierPool } from '../src/native/signature-pool.ts';
import { SqliteEventStore } from '../src/store/sqlite.ts';
import { Ledger, type Principal } from '../src/write/pipeline.ts';
import { EventSigner } from '../src/event/signer.ts';
import { simulatedRelease } from '../src/sim/simulated-station.ts';
import { lineSetupEvents } from '../src/sim/line-setup.ts';
import { scanData } from './helpers/ledger-fixture.ts';

/** L, the order of the base point, little-endian: S + L is the same scalar, written non-canonically. */
const L = 2n ** 252n + 27742317777372353535851937790883648493n;

function withSignature(envelope: DsseEnvelope, sig: Uint8Array | string): DsseEnvelope {
  return { ...envelope, signatures: [{ keyid: envelope.signatures[0]!.keyid, sig: typeof sig === 'string' ? sig : toBase64(sig) }] };
}

function plusL(signature: Uint8Array): Uint8Array {
  let s = 0n;
  for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(signature[32 + i]!);
  s += L;
  const out = signature.slice();
  for (let i = 0; i < 32; i++) {
    out[32 + i] = Number(s & 0xffn);
    s >>= 8n;
  }
  return out;
}

describe('signature pool', () => {
  const pool = new SignatureVerifierPool(2, 3); // batches of 3: one turn's requests span several messages and both workers
  afterAll(() => pool.close());

  it('gives every envelope the verdict the calling thread gives, genuine or forged', async () => {
    const key = newSigner();
    const other = newSigner();
    const good = signEnvelope('application/vnd.flashtrail.event+json', utf8('{"a":1}'), key);
    const sig = fromBase64(good.signatures[0]!.sig);
    const flipped = (i: number) => {
      const s = sig.slice();
      s[i] = s[i]! ^ 1;
      return s;
    };
    const identityR = sig.slice();
    identityR.set(fromHex('0100000000000000000000000000000000000000000000000000000000000000'), 0);
    const cases: [string, DsseEnvelope, Uint8Array, boolean][] = [
      ['genuine', good, key.publicKey, true],
      ['a bit of R flipped', withSignature(good, flipped(3)), key.publicKey, false],
      ['a bit of S flipped', withSignature(good, flipped(40)), key.publicKey, false],
      ['S + L (non-canonical S)', withSignature(good, plusL(sig)), key.publicKey, false],
      ['R the identity point', withSignature(good, identityR), key.publicKey, false],
      ['63-byte signature', withSignature(good, sig.subarray(0, 63)), key.publicKey, false],
      ['signature not base64', withSignature(good, '!!!!'), key.publicKey, false],
      ['another payload', { ...good, payload: toBase64(utf8('{"a":2}')) }, key.publicKey, false],
      ['another payload type', { ...good, payloadType: 'text/plain' }, key.publicKey, false],
      ['another key', good, other.publicKey, false],
      ['a key of small order', good, fromHex('0100000000000000000000000000000000000000000000000000000000000000'), false],
      ['a 31-byte key', good, key.publicKey.subarray(0, 31), false],
      ['two signatures', { ...good, signatures: [good.signatures[0]!, good.signatures[0]!] }, key.publicKey, false],
    ];
    const verdicts = await Promise.all(cases.map(([, envelope, publicKey]) => pool.verify(envelope, publicKey)));
    // Sent at once, spread over both workers: the same verdicts, in order.
    const sentNow = await pool.verifyNow(cases.map(([, envelope, publicKey]) => ({ envelope, publicKey })));
    for (const [i, [what, envelope, publicKey, expected]] of cases.entries()) {
      expect([what, verdicts[i]]).toEqual([what, expected]);
      expect([what, sentNow[i]]).toEqual([what, expected]);
      expect([what, verdicts[i]]).toEqual([what, verifyEnvelopeSignature(envelope, publicKey, nativeCrypto)]);
    }
  });

  it('answers what it holds when it is closed', async () => {
    const own = new SignatureVerifierPool(1);
    const key = newSigner();
    const envelope = signEnvelope('t', utf8('x'), key);
    const pending = [own.verify(envelope, key.publicKey), own.verify(envelope, newSigner().publicKey)];
    await new Promise((r) => setImmediate(r)); // sent to the worker, not yet answered
    await own.close();
    await expect(Promise.all(pending)).resolves.toEqual([true, false]);
    // Closed: verified on the calling thread.
    await expect(own.verify(envelope, key.publicKey)).resolves.toBe(true);
  });
});

describe.each([
  ['on worker threads', true],
  ['on the writer thread', false],
])('a ledger verifying signatures %s', (_, withPool) => {
  const adminKey = newSigner();
  const stationKey = newSigner();
  const release = simulatedRelease('R-1', 'SENSOR-S3', '1.0.0');
  const stationP: Principal = { name: 'st', role: 'station', stationId: 'ST-01' };

  it('accepts genuine events and refuses a forged one with SIGNATURE_INVALID, naming the event', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flashtrail-sigpool-'));
    const store = new SqliteEventStore(join(dir, 'events.sqlite'));
    const pool = withPool ? new SignatureVerifierPool(1) : undefined;
    let sentToPool = 0;
    const signatures = pool && { verify: (e: DsseEnvelope, k: Uint8Array) => (sentToPool++, pool.verify(e, k)), close: () => pool.close() };
    try {
      const ledger = new Ledger({ store, clock: () => new Date(), adminKeys: new Map([[adminKey.keyId, adminKey.publicKey]]), singleWriter: true, ...(signatures ? { signatures } : {}) });
      const admin = new EventSigner(adminKey, 'admin');
      const setup = lineSetupEvents(admin, { stations: [{ stationId: 'ST-01', key: stationKey }], release, batch: { batchId: 'B-1', line: 'L1', plannedQuantity: 100 } });
      await ledger.submit(setup, { name: 'admin', role: 'admin' });
      const station = new EventSigner(stationKey, 'ST-01');
      // The station stream is cached now: these are checked before their group (by the pool when there is one).
      const scans = ['P-1', 'P-2', 'P-3'].map((serial) => station.sign('UnitScanned', scanData(serial)).envelope);
      const forged = station.sign('UnitScanned', scanData('P-4')).envelope;
      const sig = fromBase64(forged.signatures[0]!.sig);
      sig[10] = sig[10]! ^ 0x80;
      const results = await Promise.allSettled([...scans, withSignature(forged, sig)].map((e) => ledger.submit([e], stationP)));
      expect(results.slice(0, 3).map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
      const refused = results[3];
      expect(refused?.status).toBe('rejected');
      expect(refused?.status === 'rejected' && refused.reason).toMatchObject({ code: 'SIGNATURE_INVALID', message: 'event 0: Ed25519 signature does not verify (RFC 8032, strict)', details: { index: 0 } });
      expect(await store.readStream('unit-P-4')).toEqual([]);
      expect((await store.readStream('unit-P-2')).length).toBe(1);
      // Through the pool: the station events after the first (which found the ledger idle and was verified on
      // its thread), and the administrator's events unless they were a submission small enough for that too.
      if (withPool) expect(sentToPool).toBe((setup.length > 4 ? setup.length : 0) + 3);
    } finally {
      await pool?.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
