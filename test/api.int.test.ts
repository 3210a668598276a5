/**
 * The HTTP API end to end: the real server on a loopback port over a real SQLite file, driven with fetch.
 * Every error status the API documents is triggered here by a real bad request.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootloaderData, scanData, startTestLedger, type TestLedger } from './helpers/ledger-fixture.ts';
import { EventSigner } from '../src/event/signer.ts';
import { newSigner } from '../src/crypto/ed25519.ts';
import { signEnvelope, type DsseEnvelope } from '../src/crypto/dsse.ts';
import { EVENT_PAYLOAD_TYPE } from '../schemas/index.ts';
import { fromBase64, toBase64, toHex, utf8 } from '../src/crypto/encoding.ts';
import { verifiedHistory } from './helpers/provenance.ts';
import { SimulatedStation } from '../src/sim/simulated-station.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { contractChecker, type ContractChecker } from './helpers/openapi-contract.ts';

let t: TestLedger;
let st1: EventSigner;
let contract: ContractChecker;

interface Reply {
  status: number;
  type: string;
  body: Record<string, unknown>;
}

async function call(method: string, path: string, options: { token?: string | null; body?: unknown; raw?: string; contentType?: string } = {}): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (options.token !== null) headers['authorization'] = `Bearer ${options.token ?? t.tokens.admin}`;
  const hasBody = options.body !== undefined || options.raw !== undefined;
  if (hasBody) headers['content-type'] = options.contentType ?? 'application/json';
  const response = await fetch(`${t.url}${path}`, { method, headers, ...(hasBody ? { body: options.raw ?? JSON.stringify(options.body) } : {}) });
  const text = await response.text();
  // Every answer of this suite is checked against the OpenAPI document the server serves (the contract test).
  contract.check(method, path, response.status, response.headers.get('content-type') ?? '', text);
  return { status: response.status, type: response.headers.get('content-type') ?? '', body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

const postEvents = (envelopes: DsseEnvelope[], token = t.tokens.station1) => call('POST', '/v1/events', { token, body: { events: envelopes } });

function expectProblem(reply: Reply, status: number, code: string) {
  expect(reply.status, JSON.stringify(reply.body)).toBe(status);
  expect(reply.type).toMatch(/^application\/problem\+json/);
  expect(reply.body).toMatchObject({ status, code, type: expect.stringMatching(/^urn:flashtrail:problem:/), title: expect.any(String), detail: expect.any(String) });
  expect(reply.body['requestId']).toEqual(expect.any(String));
}

beforeAll(async () => {
  t = await startTestLedger({ maxBodyBytes: 256 * 1024 });
  contract = contractChecker((await (await fetch(`${t.url}/openapi.json`)).json()) as Record<string, unknown>);
  st1 = new EventSigner(t.stationKeys['ST-01'], 'ST-01');
});
afterAll(async () => t.stop());

describe('health', () => {
  it('healthz and readyz answer without a token', async () => {
    expect((await call('GET', '/healthz', { token: null })).body).toEqual({ status: 'ok' });
    const ready = await call('GET', '/readyz', { token: null });
    expect(ready.status).toBe(200);
    expect(ready.body['projections']).toEqual([expect.objectContaining({ name: 'unit-state' }), expect.objectContaining({ name: 'production' }), expect.objectContaining({ name: 'cra' })]);
  });
});

describe('appending and reading', () => {
  it('201 with positions; the unit state and the signed history follow', async () => {
    const scan = st1.sign('UnitScanned', scanData('A-1'));
    const boot = st1.sign('BootloaderWritten', bootloaderData('A-1', t.release));
    const reply = await postEvents([scan.envelope, boot.envelope]);
    expect(reply.status).toBe(201);
    const events = reply.body['events'] as { eventId: string; revision: number; position: number; digest: string; duplicate: boolean }[];
    expect(events.map((e) => [e.eventId, e.revision, e.duplicate])).toEqual([[scan.event.id, 0, false], [boot.event.id, 1, false]]);
    expect(events[1]!.position).toBeGreaterThan(events[0]!.position);
    expect(events[1]!.digest).toBe(boot.digest);

    const unit = await call('GET', '/v1/units/A-1', { token: t.tokens.auditor });
    expect(unit.body).toMatchObject({ serial: 'A-1', status: 'bootloader_written', batchId: 'B-1', lastStation: 'ST-01', eventCount: 2, head: { digest: boot.digest } });
    expect((unit.body['bootloader'] as { sha256: string }).sha256).toBe(t.release.bootloader.sha256);

    const history = await call('GET', '/v1/units/A-1/events', { token: t.tokens.auditor });
    const entries = history.body['events'] as { envelope: DsseEnvelope; digest: string }[];
    expect(entries).toHaveLength(2);
    expect((await verifiedHistory(new LedgerClient(t.url, t.tokens.auditor), 'A-1', t.running.identity.verifierKey)).events).toBe(2);

    const head = await call('GET', '/v1/streams/unit-A-1/head', { token: t.tokens.station1 });
    expect(head.body).toEqual({ stream: 'unit-A-1', revision: 1, digest: boot.digest });
  });

  it('a retried event is a no-op: 200, duplicate, the original position', async () => {
    const scan = st1.sign('UnitScanned', scanData('A-2'));
    const first = await postEvents([scan.envelope]);
    const again = await postEvents([scan.envelope]);
    expect(again.status).toBe(200);
    expect(again.body['events']).toEqual([{ ...(first.body['events'] as object[])[0], duplicate: true }]);
    expect((await call('GET', '/v1/units/A-2')).body['eventCount']).toBe(1);
  });

  it('a whole unit flashed by the simulated station ends shipped and verifiable', async () => {
    const station = new SimulatedStation(new LedgerClient(t.url, t.tokens.station1), new EventSigner(t.stationKeys['ST-01'], 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId: 'B-1', hardwareRevision: 'rev-C' }, t.release);
    await station.flash('A-3', 'app-mismatch-then-rework');
    const unit = await call('GET', '/v1/units/A-3');
    expect(unit.body).toMatchObject({ status: 'shipped', attempt: 2, failures: 1, eventCount: 9 });
    expect((unit.body['application'] as { verified: boolean }).verified).toBe(true);
    const list = await call('GET', '/v1/units?limit=2', { token: t.tokens.auditor });
    expect((list.body['units'] as unknown[]).length).toBe(2);
    expect(list.body['next']).toEqual(expect.any(String));
  });

  it('admin resources are readable', async () => {
    expect((await call('GET', '/v1/batches/B-1', { token: t.tokens.auditor })).body).toMatchObject({ batchId: 'B-1', status: 'open' });
    expect((await call('GET', '/v1/releases/R-1', { token: t.tokens.auditor })).body).toMatchObject({ release: { releaseId: 'R-1' } });
  });
});

describe('400: malformed input', () => {
  it('BODY_INVALID for a body that is not JSON', async () => {
    expectProblem(await call('POST', '/v1/events', { token: t.tokens.station1, raw: '{"events": [' }), 400, 'BODY_INVALID');
  });
  it('ENVELOPE_INVALID for an envelope without signatures or of another payload type', async () => {
    const { envelope } = st1.sign('UnitScanned', scanData('B-1x'));
    expectProblem(await postEvents([{ ...envelope, signatures: [] }]), 400, 'ENVELOPE_INVALID');
    expectProblem(await postEvents([{ ...envelope, payloadType: 'application/json' }]), 400, 'ENVELOPE_INVALID');
    expectProblem(await postEvents([{ ...envelope, payload: '%%%' } as DsseEnvelope]), 400, 'ENVELOPE_INVALID');
  });
  it('PAYLOAD_NOT_CANONICAL for a correctly signed payload that is not RFC 8785 JSON', async () => {
    const { event } = st1.sign('UnitScanned', scanData('B-2'));
    const pretty = utf8(JSON.stringify(event, null, 2));
    const envelope = signEnvelope(EVENT_PAYLOAD_TYPE, pretty, t.stationKeys['ST-01']);
    expectProblem(await postEvents([envelope]), 400, 'PAYLOAD_NOT_CANONICAL');
  });
  it('SCHEMA_INVALID names the failing field', async () => {
    const { envelope } = st1.sign('BootloaderWritten', { ...bootloaderData('B-3', t.release), imageSha256: 'not-a-hash' });
    const reply = await postEvents([envelope]);
    expectProblem(reply, 400, 'SCHEMA_INVALID');
    expect(JSON.stringify(reply.body['issues'])).toContain('data.imageSha256');
  });
});

describe('401 and 403: who may write what', () => {
  it('UNAUTHORIZED without a token or with an unknown one', async () => {
    const { envelope } = st1.sign('UnitScanned', scanData('C-1'));
    const none = await call('POST', '/v1/events', { token: null, body: envelope });
    expectProblem(none, 401, 'UNAUTHORIZED');
    expectProblem(await postEvents([envelope], 'ft_this-token-does-not-exist-anywhere'), 401, 'UNAUTHORIZED');
    expectProblem(await call('GET', '/v1/units/A-1', { token: null }), 401, 'UNAUTHORIZED');
  });
  it('FORBIDDEN for a station speaking for another station, an auditor writing, a station sending admin events', async () => {
    const { envelope } = st1.sign('UnitScanned', scanData('C-2'));
    expectProblem(await postEvents([envelope], t.tokens.station2), 403, 'FORBIDDEN');
    expectProblem(await postEvents([envelope], t.tokens.auditor), 403, 'FORBIDDEN');
    const adminEvent = t.admin.sign('BatchClosed', { batchId: 'B-1' }, { prev: null });
    expectProblem(await postEvents([adminEvent.envelope], t.tokens.station1), 403, 'FORBIDDEN');
    expectProblem(await call('POST', '/v1/admin/events', { token: t.tokens.station1, body: envelope }), 403, 'FORBIDDEN');
    expectProblem(await call('GET', '/v1/units', { token: t.tokens.station1 }), 403, 'FORBIDDEN');
  });
  it('KEY_UNKNOWN for a key the station never registered, and for an unregistered station', async () => {
    const rogue = new EventSigner(newSigner(), 'ST-01');
    expectProblem(await postEvents([rogue.sign('UnitScanned', scanData('C-3')).envelope]), 403, 'KEY_UNKNOWN');
    const adminRogue = new EventSigner(newSigner(), 'admin');
    const reply = await call('POST', '/v1/admin/events', { body: adminRogue.sign('StationRegistered', { stationId: 'ST-X', line: 'L', site: 'S' }).envelope });
    expectProblem(reply, 403, 'KEY_UNKNOWN');
  });
  it('SIGNATURE_INVALID for a tampered payload or signature', async () => {
    const { envelope } = st1.sign('UnitScanned', scanData('C-4'));
    const payload = JSON.parse(Buffer.from(fromBase64(envelope.payload)).toString()) as { data: { operator: string } };
    payload.data.operator = 'op-mallory';
    const { canonicalize } = await import('../src/crypto/jcs.ts');
    const tampered = { ...envelope, payload: toBase64(utf8(canonicalize(payload))) };
    expectProblem(await postEvents([tampered]), 403, 'SIGNATURE_INVALID');
    const sig = fromBase64(envelope.signatures[0]!.sig);
    sig[0] = (sig[0] as number) ^ 1;
    expectProblem(await postEvents([{ ...envelope, signatures: [{ keyid: envelope.signatures[0]!.keyid, sig: toBase64(sig) }] }]), 403, 'SIGNATURE_INVALID');
  });
  it('KEY_REVOKED once an administrator revokes the key', async () => {
    const key = newSigner();
    const station = await call('GET', '/v1/stations/ST-02', { token: t.tokens.auditor });
    const events = station.body['events'] as { digest: string }[];
    t.admin.setHead('station-ST-02', events[events.length - 1]!.digest);
    await t.adminClient.appendAdmin([t.admin.sign('StationKeyRegistered', { stationId: 'ST-02', keyId: key.keyId, publicKey: toHex(key.publicKey), algorithm: 'ed25519' }).envelope]);
    const signer = new EventSigner(key, 'ST-02');
    expect((await postEvents([signer.sign('UnitScanned', scanData('C-5', 'B-1', 'ST-02')).envelope], t.tokens.station2)).status).toBe(201);
    await t.adminClient.appendAdmin([t.admin.sign('StationKeyRevoked', { stationId: 'ST-02', keyId: key.keyId, reason: 'station PC stolen' }).envelope]);
    const reply = await postEvents([signer.sign('BootloaderWritten', bootloaderData('C-5', t.release)).envelope], t.tokens.station2);
    expectProblem(reply, 403, 'KEY_REVOKED');
  });
});

describe('409: sequence, chain and identity', () => {
  it('RULE_VIOLATION names the rule and the current state', async () => {
    const reply = await postEvents([st1.sign('BootloaderWritten', bootloaderData('D-1', t.release)).envelope]);
    expectProblem(reply, 409, 'RULE_VIOLATION');
    expect(reply.body).toMatchObject({ rule: 'UNIT_NOT_SCANNED', currentState: 'new' });
  });
  it('CHAIN_MISMATCH when prev is not the head of the stream', async () => {
    await postEvents([st1.sign('UnitScanned', scanData('D-2')).envelope]);
    const reply = await postEvents([st1.sign('BootloaderWritten', bootloaderData('D-2', t.release), { prev: 'f'.repeat(64) }).envelope]);
    expectProblem(reply, 409, 'CHAIN_MISMATCH');
    expect(reply.body['actualPrev']).toBe('f'.repeat(64));
  });
  it('EVENT_ID_CONFLICT when an id is reused for different content', async () => {
    const first = st1.sign('UnitScanned', scanData('D-3'));
    await postEvents([first.envelope]);
    const reuse = st1.sign('BootloaderWritten', bootloaderData('D-3', t.release), { id: first.event.id, prev: null });
    expectProblem(await postEvents([reuse.envelope]), 409, 'EVENT_ID_CONFLICT');
  });
  it('a batch is all or nothing: one bad event and none is written', async () => {
    const signer = new EventSigner(t.stationKeys['ST-01'], 'ST-01');
    const batch = [
      signer.sign('UnitScanned', scanData('D-4')).envelope,
      signer.sign('UnitScanned', scanData('D-5')).envelope,
      signer.sign('AppVerified', { serial: 'D-6', imageSha256: 'a'.repeat(64), version: '1', sizeBytes: 1, reportedSha256: 'a'.repeat(64), method: 'device_report', result: 'pass' }).envelope,
    ];
    const reply = await postEvents(batch);
    expectProblem(reply, 409, 'RULE_VIOLATION');
    expect(reply.body['index']).toBe(2);
    expectProblem(await call('GET', '/v1/units/D-4'), 404, 'NOT_FOUND');
    expectProblem(await call('GET', '/v1/units/D-5'), 404, 'NOT_FOUND');
  });
});

describe('413, 415, 404', () => {
  it('PAYLOAD_TOO_LARGE for a body over the limit', async () => {
    const reply = await call('POST', '/v1/events', { token: t.tokens.station1, raw: JSON.stringify({ events: [], pad: 'x'.repeat(300 * 1024) }) });
    expectProblem(reply, 413, 'PAYLOAD_TOO_LARGE');
  });
  it('PAYLOAD_TOO_LARGE for more events than a batch may hold', async () => {
    const many = Array.from({ length: 1001 }, () => ({ payloadType: 'x', payload: 'e30=', signatures: [] }));
    expectProblem(await call('POST', '/v1/events', { token: t.tokens.station1, body: many }), 413, 'PAYLOAD_TOO_LARGE');
  });
  it('UNSUPPORTED_MEDIA_TYPE for a non-JSON content type', async () => {
    expectProblem(await call('POST', '/v1/events', { token: t.tokens.station1, raw: '{}', contentType: 'text/plain' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
  });
  it('NOT_FOUND for unknown units, stations, routes', async () => {
    expectProblem(await call('GET', '/v1/units/NOPE'), 404, 'NOT_FOUND');
    expectProblem(await call('GET', '/v1/units/NOPE/events'), 404, 'NOT_FOUND');
    expectProblem(await call('GET', '/v1/stations/NOPE'), 404, 'NOT_FOUND');
    expectProblem(await call('GET', '/v1/nothing-here'), 404, 'NOT_FOUND');
  });
});

describe('logging', () => {
  it('logs every request with a request id and never a token or a key', async () => {
    await call('GET', '/v1/units/A-1', { token: t.tokens.auditor });
    const logs = t.logs();
    const lines = logs.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const requests = lines.filter((l) => l['msg'] === 'request');
    expect(requests.length).toBeGreaterThan(1);
    for (const r of requests) expect(r).toMatchObject({ requestId: expect.any(String), status: expect.any(Number), method: expect.any(String), path: expect.any(String) });
    expect(requests).toContainEqual(expect.objectContaining({ method: 'GET', path: '/v1/units/A-1', principal: expect.stringMatching(/^aud-/) }));
    for (const secret of Object.values(t.tokens)) expect(logs).not.toContain(secret);
    for (const key of Object.values(t.stationKeys)) expect(logs).not.toContain(toHex(key.secretKey));
    expect(logs).not.toContain('ft_this-token-does-not-exist-anywhere');
  });
});
