/**
 * A rebuild gives the same read model, byte for byte, whatever the runner's batches and however its reducers
 * are written. The log below is deterministic (fixed ids, times and signing key), so its read model is too:
 * GOLDEN is the SHA-256 of the dump (every document and index row of the server's projections) that the
 * reducers of 69ab8b0 produced on it, before the rebuild was made fast. A reducer or runner change that
 * alters one byte of one document fails here; a deliberate change of a document's shape bumps the
 * projection's version and this value, with a note of why.
 *
 * The log covers every unit reducer branch the projections have: the fixed sequence (pass, app mismatch,
 * step failure, rework, scrap, ship, field update) and the recipe (identity, burn, security read pass and
 * fail, writes, read-back pass and fail, boot log, lock, rework, scrap, ship), its units interleaved so that
 * a unit's events span many batches when batches are small.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ProjectionRunner } from '../src/read/projection-runner.ts';
import { SqliteEventStore } from '../src/store/sqlite.ts';
import { READ_MODEL_PROJECTIONS } from '../src/server/main.ts';
import { canonicalBytes } from '../src/crypto/jcs.ts';
import { envelopeBytes, signEnvelope } from '../src/crypto/dsse.ts';
import { keyIdOf, publicKeyFromSecret } from '../src/crypto/ed25519.ts';
import { streamOf } from '../src/event/streams.ts';
import { ingestSbom } from '../src/cra/sbom.ts';
import { sbomAttachment } from '../src/cra/index-entries.ts';
import { EVENT_PAYLOAD_TYPE, type LedgerEvent } from '../schemas/index.ts';
import { decodeTrustedEnvelope } from '../src/event/codec.ts';
import type { DocumentProjection } from '../projections/projection.ts';
import { ev, hash } from './helpers/events.ts';
import { firstPass, hex, recipeUnit, s3Release } from './helpers/recipe.ts';

/**
 * sha256 of ProjectionRunner.dump() over goldenLog(). By the reducers of 69ab8b0 it was 7418fab9…; production
 * version 4 (session 33) dropped the unit decider's state from production's unit documents (it reads
 * unit-state's instead): that dump, with `decider` deleted from each production document, is this one (checked
 * once against 69ab8b0's runner), and plainDump() below, the reducers folded one event at a time with no runner,
 * gives it too.
 */
const GOLDEN = '29c439cd209cf58d16702631ee61955a2f569ede00d0b9bacdebc558a63083d5';

const root = mkdtempSync(join(tmpdir(), 'flashtrail-golden-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const T0 = Date.parse('2026-03-02T08:00:00.000Z');
const secretKey = new Uint8Array(32).fill(7);
const signer = { keyId: keyIdOf(publicKeyFromSecret(secretKey)), secretKey };

function fixedUnit(serial: string, variant: number): LedgerEvent[] {
  const at = { source: 'ST-01' };
  const scan = () => ev('UnitScanned', { serial, batchId: 'B1', station: 'ST-01', operator: `op-${variant % 3}`, productSku: 'SKU', hardwareRevision: 'rev-A' }, at);
  const boot = () => ev('BootloaderWritten', { serial, imageSha256: hash('b'), version: '1', sizeBytes: 10, signingKeyRef: 'k', signingKeyDigest: hash('d') }, at);
  const app = (sha: string) => ev('AppVerified', { serial, imageSha256: hash('a'), version: '1', sizeBytes: 10, reportedSha256: sha, method: 'device_report', result: sha === hash('a') ? 'pass' : 'fail' }, at);
  const prov = () => ev('ProvisioningApplied', { serial, templateId: 'tpl', templateSha256: variant % 7 === 0 ? hash('9') : hash('t'), configSha256: hash('c') }, at);
  const burn = () => ev('EfuseBurned', { serial, profile: 'sb', fuses: [{ name: 'SECURE_BOOT_EN', value: '1' }], keyDigests: [hash('d')], secureBoot: true, flashEncryption: true }, at);
  const ship = () => ev('UnitShipped', { serial, customer: variant % 2 ? 'ACME' : 'Borealis', orderRef: `PO-${variant}` }, at);
  switch (variant % 5) {
    case 0:
      return [scan(), boot(), app(hash('a')), prov(), burn(), ship(), ev('FirmwareUpdated', { serial, fromReleaseId: 'R1', toReleaseId: 'R3', images: [{ name: 'application', sha256: hash('3') }], method: 'ota' }, { source: 'FLEET' })];
    case 1:
      return [scan(), boot(), app(hash('f')), boot(), app(hash('a')), prov(), burn(), ship()];
    case 2:
      return [scan(), boot(), ev('StepFailed', { serial, step: 'app_verify', errorCode: 'TIMEOUT', message: 'no boot log', attempt: 1 }, at), ev('UnitReworked', { serial, reason: 'reseat' }, { source: 'ST-01' }), scan(), boot(), app(hash('a'))];
    case 3:
      return [scan(), boot(), app(hash('a')), ev('UnitScrapped', { serial, reason: 'cracked' }, at)];
    default:
      return [scan(), boot(), app(hash('a')), prov()];
  }
}

function recipeFlow(serial: string, variant: number): LedgerEvent[] {
  const u = recipeUnit(serial);
  switch (variant % 5) {
    case 0:
      return [...firstPass(u), u.shipped()];
    case 1:
      return [...firstPass(u, 'read-back-images'), u.verified('read-back-images', { app: hex('0') }), u.written(), u.verified('read-back-images'), ...firstPass(u).slice(10)];
    case 2:
      return [...firstPass(u, 'read-back-efuses'), u.securityRead('read-back-efuses', { SECURE_BOOT_EN: false }), u.failed('read-back-efuses'), u.scrapped()];
    case 3:
      return [...firstPass(u, 'start-burn-flash-encryption'), u.failed('read-unique-id'), u.reworked(), ...firstPass(u, 'write-nvs')];
    default:
      return firstPass(u, 'boot-log');
  }
}

/** The log: line setup, then 40 units' flows dealt out one event at a time, so that their streams interleave. */
function goldenLog(): LedgerEvent[] {
  const cdx = readFileSync(new URL('./fixtures/cra/sensor-fw-2.3.0.cdx.json', import.meta.url));
  const release = { releaseId: 'R1', productSku: 'SKU', version: '2.3.0', bootloaderSha256: hash('b'), applicationSha256: hash('a'), provisioningTemplateSha256: hash('t'), signingKeyDigest: hash('d'), efuseProfile: 'sb', sbomSha256: hash('5') };
  const setup: LedgerEvent[] = [
    ev('StationRegistered', { stationId: 'ST-01', line: 'L1', site: 'Plant 1' }),
    ev('StationRegistered', { stationId: 'FLEET', line: 'fleet', site: 'OTA', role: 'fleet' } as never),
    ev('ReleaseApproved', release),
    ev('ReleaseApproved', { ...release, releaseId: 'R3', version: '2.4.0', applicationSha256: hash('3'), sbomSha256: undefined } as never),
    ev('ReleaseApproved', s3Release as never),
    ev('SbomAttached', sbomAttachment('R1', ingestSbom(new Uint8Array(cdx)), cdx.length)),
    ev('SupportPeriodSet', { releaseId: 'R1', supportEnd: '2031-12' }),
    ev('BatchOpened', { batchId: 'B1', releaseId: 'R1', line: 'L1', productSku: 'SKU', plannedQuantity: 30 }),
    ev('BatchOpened', { batchId: 'B2', releaseId: 'R2', line: 'L1', productSku: 'SKU', plannedQuantity: 30 }),
  ];
  const flows = Array.from({ length: 40 }, (_, i) => (i % 2 ? recipeFlow(`SN-R${i}`, i >> 1) : fixedUnit(`SN-F${i}`, i >> 1)));
  const dealt: LedgerEvent[] = [];
  for (let round = 0; flows.some((f) => round < f.length); round++) for (const f of flows) if (round < f.length) dealt.push(f[round] as LedgerEvent);
  const events = [...setup, ...dealt, ev('BatchClosed', { batchId: 'B1' })];
  // Ids and times from the event's place in the log alone: the same bytes on every run.
  return events.map((e, i) => ({ ...e, id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, occurredAt: new Date(T0 + i * 1000).toISOString() }) as LedgerEvent);
}

/** A store holding goldenLog(); `appended` runs after each event's append (a serving ledger's live pass). */
async function filledStore(name: string, appended: (store: SqliteEventStore, index: number) => Promise<void> = async () => undefined): Promise<SqliteEventStore> {
  const store = new SqliteEventStore(join(root, `${name}.sqlite`));
  const revisions = new Map<string, bigint>();
  for (const [index, event] of goldenLog().entries()) {
    const stream = streamOf(event);
    const data = envelopeBytes(signEnvelope(EVENT_PAYLOAD_TYPE, canonicalBytes(event), signer));
    const revision = revisions.get(stream) ?? -1n;
    await store.appendToStream(stream, [{ id: event.id, type: event.type, data }], { expected: revision < 0n ? 'no_stream' : revision });
    revisions.set(stream, revision + 1n);
    await appended(store, index);
  }
  return store;
}

const digestOf = (dump: string) => createHash('sha256').update(dump).digest('hex');

/**
 * The read model the plain way, without the runner: every stored event decoded by the strict codec and given
 * to every projection in log order, each reducer handed a shared document (never its own working copy, so it
 * copies per event), lookups answered from the documents as they stand, each document's index rows from its
 * last state; then laid out as ProjectionRunner.dump() lays out the tables. What the runner's batches, its
 * cache, the reducers' in-place changes and the multi-row writes must reproduce.
 */
async function plainDump(store: SqliteEventStore): Promise<string> {
  const projections = READ_MODEL_PROJECTIONS as readonly DocumentProjection<unknown>[];
  const docs = new Map(projections.map((p) => [p.name, new Map<string, unknown>()]));
  const docsOf = (name: string) => docs.get(name) as Map<string, unknown>;
  for (const recorded of await store.readAll({ maxCount: 1_000_000 })) {
    const { event, digest } = decodeTrustedEnvelope(recorded.data);
    for (const p of projections) {
      const key = p.keyOf(event);
      if (key === null) continue;
      const lookup = <T>(k: string, projection?: string) => (docsOf(projection ?? p.name).get(k) as T | undefined) ?? null;
      const meta = { stream: recorded.stream, revision: recorded.revision, position: recorded.position, digest };
      docsOf(p.name).set(key, p.evolve(docsOf(p.name).get(key) ?? null, event, meta, lookup, false));
    }
  }
  const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
  const rows: { projection: string; key: string; doc: string }[] = [];
  const index: { projection: string; name: string; value: string; key: string }[] = [];
  for (const p of projections) {
    for (const [key, doc] of docsOf(p.name)) {
      rows.push({ projection: p.name, key, doc: JSON.stringify(doc) });
      for (const [name, value] of new Map((p.indexes?.(doc) ?? []).map(([n, v]) => [`${n}\0${v}`, [n, v] as const])).values()) index.push({ projection: p.name, name, value, key });
    }
  }
  const order = (...fields: string[]) => (a: Record<string, string>, b: Record<string, string>) => {
    for (const f of fields) {
      const c = byteOrder(a[f] as string, b[f] as string);
      if (c !== 0) return c;
    }
    return 0;
  };
  rows.sort(order('projection', 'key'));
  index.sort(order('projection', 'name', 'value', 'key'));
  return JSON.stringify({ docs: rows, index });
}

describe('projection rebuild: the same read model as before', () => {
  it('rebuilds the golden log to the committed dump, in one batch and in batches of 7', async () => {
    const store = await filledStore('events');
    try {
      const whole = new ProjectionRunner(store, join(root, 'whole.sqlite'), READ_MODEL_PROJECTIONS);
      await whole.rebuild();
      const dump = whole.dump();
      whole.close();
      const small = new ProjectionRunner(store, join(root, 'small.sqlite'), READ_MODEL_PROJECTIONS, 7);
      await small.rebuild();
      expect(small.dump()).toBe(dump);
      small.close();
      const parsed = JSON.parse(dump) as { docs: unknown[]; index: unknown[] };
      expect(parsed.docs.length).toBeGreaterThan(100);
      expect(digestOf(dump)).toBe(GOLDEN);
      expect(await plainDump(store)).toBe(dump);
    } finally {
      await store.close();
    }
  });

  it('catching up after every few appends, as a serving ledger does, gives the same read model', async () => {
    let live: ProjectionRunner | null = null;
    const store = await filledStore('live', async (filling, index) => {
      live ??= new ProjectionRunner(filling, join(root, 'live-readmodel.sqlite'), READ_MODEL_PROJECTIONS);
      if (index % 5 === 4) await live.catchUp();
    });
    try {
      const runner = live as unknown as ProjectionRunner;
      await runner.catchUp();
      expect(digestOf(runner.dump())).toBe(GOLDEN);
      runner.close();
    } finally {
      await store.close();
    }
  });
});
