/**
 * Upgrade from a data directory written by an older release (issue 15/22): test/fixtures/upgrade/811727d holds a
 * real, stopped data directory that commit 811727d wrote (before the firmware part of the map, unit-map.sqlite v1,
 * CheckpointIssued v1, a units-only index log), and the evidence fetched from it before it stopped. It was written
 * by `node scripts/upgrade-fixture.js 811727d` (fixture.json says when and with which Node); rerun that to
 * regenerate it. Today's code is started on a copy of it and must: open it; rebuild unit-map.sqlite v1 → v2 so that
 * the index log reproduces the index checkpoint that release signed; switch to `mapCommitment: 2` at its next
 * checkpoint (docs/format.md §15.3, §15.6) and answer firmware questions from then on; and leave every piece of
 * old evidence — the provenance document, the export, the SCITT receipt — verifying, by our CLI and our verifier.
 */
import { execFile } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFromEnv, startLedgerServer, type RunningLedger } from '../src/server/main.ts';
import { addToken } from '../src/api/tokens.ts';
import { readSecretKeyFile } from '../src/files/key-file.ts';
import { newSigner } from '../src/crypto/ed25519.ts';
import { EventSigner } from '../src/event/signer.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { lineSetupEvents } from '../src/sim/line-setup.ts';
import { SimulatedStation, simulatedRelease } from '../src/sim/simulated-station.ts';
import { decodeTrustedEnvelope } from '../src/event/codec.ts';
import { nativeCrypto } from '../src/native/crypto.ts';
import { fromBase64, toHex } from '../src/crypto/encoding.ts';
import { leafHash } from '../src/merkle/hash.ts';
import { MemoryTree, rootHash } from '../src/merkle/proofs.ts';
import { parseNote } from '../src/tlog/note.ts';
import { parseCheckpointBody } from '../src/tlog/checkpoint.ts';
import { decodeSign1 } from '../src/scitt/cose.ts';
import { decodeCbor } from '../src/scitt/cbor.ts';
import { verifyReceipt } from '../src/scitt/receipt.ts';
import { canonicalBytes } from '../src/crypto/jcs.ts';
import { parseVerifierKey, verifyFirmwareEvidence, verifyProvenance, type ProvenanceDocument } from '../src/verify/index.ts';
import { UNIT_MAP_FORMAT } from '../src/read/unit-map.ts';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..');
const FIXTURE = join(ROOT, 'test', 'fixtures', 'upgrade', '811727d');
const fixture = JSON.parse(readFileSync(join(FIXTURE, 'fixture.json'), 'utf8')) as { commit: string; serial: string; shipped: string[]; batchId: string; receiptLeafIndex: number };
const evidence = (name: string) => join(FIXTURE, 'evidence', name);
const evidenceText = (name: string) => readFileSync(evidence(name), 'utf8');
const run = promisify(execFile);
const cli = (args: string[]) => run(process.execPath, [join(ROOT, 'bin', 'flashtrail.js'), ...args], { maxBuffer: 1 << 26 }).then((r) => ({ code: 0, ...r }), (e: { code: number; stdout: string; stderr: string }) => e);

const work = mkdtempSync(join(tmpdir(), 'flashtrail-upgrade-'));
const dataDir = join(work, 'data');
let logText = '';
let running: RunningLedger | null = null;
let token = '';
let stationToken = '';

/** Today's ledger on the (copied) old data directory, on its SQLite files whatever the suite's store. */
async function start(): Promise<RunningLedger> {
  const config = configFromEnv({}, { dataDir, port: 0, logLevel: 'info' });
  running = await startLedgerServer(config, pino({ level: 'info' }, { write: (line: string) => void (logText += line) }));
  return running;
}
async function stop(): Promise<void> {
  await running?.close();
  running = null;
}
const get = async (path: string) => {
  const r = await fetch(`${running?.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: r.status, bytes: new Uint8Array(await r.arrayBuffer()) };
};
const text = async (path: string) => new TextDecoder().decode((await get(path)).bytes);
const json = async <T>(path: string) => JSON.parse(await text(path)) as T;
const indexLeaves = async () => (await json<{ leaves: string[] }>('/v1/unit-map/leaves?limit=1000')).leaves;
const rootOf = (leaves: readonly string[]) => {
  const tree = new MemoryTree(nativeCrypto);
  for (const leaf of leaves) tree.append(leafHash(new TextEncoder().encode(leaf), nativeCrypto));
  return rootHash(tree, leaves.length, nativeCrypto);
};
const bodyOf = (note: string) => parseCheckpointBody(parseNote(note).text);

/** Every CheckpointIssued of the log, in leaf order, as GET /v1/log/entries gives them. */
async function checkpointRecords(): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  let after: string | null = null;
  for (;;) {
    const page: { entries: string[]; next: string | null } = await json(`/v1/log/entries?limit=1000${after === null ? '' : `&after=${after}`}`);
    for (const entry of page.entries) {
      const { event } = decodeTrustedEnvelope(fromBase64(entry), nativeCrypto);
      if (event.type === 'CheckpointIssued') out.push(event.data as Record<string, unknown>);
    }
    if (page.entries.length === 0 || page.next === null) return out;
    after = page.next;
  }
}

const ledgerKey = parseVerifierKey(evidenceText('ledger.pub').trim());
const mapKey = parseVerifierKey(evidenceText('unit-map.vkey').trim());
const oldIndexCheckpoint = evidenceText('unit-map.checkpoint');

beforeAll(() => {
  cpSync(join(FIXTURE, 'ledger'), dataDir, { recursive: true });
  // git keeps no 0600: the copy is given back the modes the old release wrote (the ledger refuses looser keys).
  for (const name of readdirSync(dataDir)) chmodSync(join(dataDir, name), 0o600);
  chmodSync(dataDir, 0o700);
  // Tokens are read at start: the ones this test uses are added to the old tokens.json first.
  token = addToken(join(dataDir, 'tokens.json'), { name: 'upgrade-auditor', role: 'admin' });
  stationToken = addToken(join(dataDir, 'tokens.json'), { name: 'upgrade-station', role: 'station', stationId: 'ST-UP' });
});
afterAll(async () => {
  await stop();
  rmSync(work, { recursive: true, force: true });
});

describe(`upgrade from a data directory written by ${fixture.commit.slice(0, 7)}`, () => {
  it('the fixture is what it says: a units-only unit map (v1), CheckpointIssued without mapCommitment', () => {
    const db = new Database(join(FIXTURE, 'ledger', 'unit-map.sqlite'), { readonly: true, fileMustExist: true });
    try {
      expect((db.prepare("SELECT value FROM map_meta WHERE key = 'format'").get() as { value: string }).value).toBe('flashtrail-unit-map-v1');
    } finally {
      db.close();
    }
    expect(bodyOf(oldIndexCheckpoint).size).toBeGreaterThan(0);
  });

  it('opens it, rebuilds the unit map v1 → v2 reproducing the index checkpoint the old release signed, and keeps its v1 leaves', async () => {
    await start();
    expect(logText).toMatch(/the unit map file is of the units-only format: rebuilt from the event store/);
    expect(logText).not.toMatch(/out of service/);
    const old = bodyOf(oldIndexCheckpoint);
    const leaves = await indexLeaves();
    expect(leaves.length).toBeGreaterThanOrEqual(old.size);
    // The rebuilt index log, cut at the old index checkpoint's size, has the root that checkpoint signed.
    expect(toHex(rootOf(leaves.slice(0, old.size)))).toBe(toHex(old.root));
    for (const leaf of leaves.slice(0, old.size)) expect(leaf.split('\n')[0]).toBe('flashtrail/map-commitment/v1');
    // And the ledger's own log is the one the old checkpoint signed (same root at its size, via the newest checkpoint's consistency).
    const newest = await text('/v1/checkpoint');
    expect(bodyOf(newest).size).toBeGreaterThanOrEqual(bodyOf(evidenceText('checkpoint')).size);
  });

  it('production goes on: the next checkpoint is CheckpointIssued v2 (mapCommitment 2), committed by a v2 leaf, and firmware questions get a proved answer', async () => {
    const admin = new EventSigner(readSecretKeyFile(join(dataDir, 'admin.key')), 'admin');
    const station = newSigner();
    const release = simulatedRelease('R-UPGRADED', 'SENSOR-S3', '2.5.0');
    const adminClient = new LedgerClient(running?.url as string, readFileSync(join(dataDir, 'admin.token'), 'utf8').trim());
    await adminClient.appendAdmin(lineSetupEvents(admin, { stations: [{ stationId: 'ST-UP', key: station }], release, batch: { batchId: 'B-UP', line: 'L1', plannedQuantity: 10 } }));
    await new SimulatedStation(new LedgerClient(running?.url as string, stationToken), new EventSigner(station, 'ST-UP'), { stationId: 'ST-UP', operator: 'op', batchId: 'B-UP', hardwareRevision: 'rev-C' }, release).flash('U-AFTER-UPGRADE', 'pass');
    const post = await fetch(`${running?.url}/v1/checkpoint`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(post.status).toBe(201);
    const note = await post.text();

    const records = await checkpointRecords();
    const oldSize = bodyOf(evidenceText('checkpoint')).size;
    const before = records.filter((r) => (r.size as number) <= oldSize);
    const after = records.filter((r) => (r.size as number) > oldSize);
    expect(before.length).toBeGreaterThan(0);
    for (const r of before) expect(r.mapCommitment).toBeUndefined();
    expect(after.length).toBeGreaterThan(0);
    for (const r of after) expect(r.mapCommitment).toBe(2);

    const leaves = await indexLeaves();
    const last = leaves.at(-1) as string;
    expect(last.split('\n')[0]).toBe('flashtrail/map-commitment/v2');
    expect(last.split('\n')[2]).toBe(String(bodyOf(note).size));
    // Once v2, always v2 (§15.3): no v1 leaf after the first v2 one.
    const firstV2 = leaves.findIndex((l) => l.startsWith('flashtrail/map-commitment/v2\n'));
    expect(leaves.slice(firstV2).every((l) => l.startsWith('flashtrail/map-commitment/v2\n'))).toBe(true);
    // The new index checkpoint extends the old one (same leaves below its size, checked above), and is signed by the same key.
    const indexNote = await text('/v1/unit-map/checkpoint');
    expect(bodyOf(indexNote).size).toBe(leaves.length);
    expect(toHex(rootOf(leaves))).toBe(toHex(bodyOf(indexNote).root));

    // The firmware the old release's units carry: all firmware since leaf 0 is in the v2 root, not only what came after the switch.
    const doc = JSON.parse(evidenceText('provenance.json')) as ProvenanceDocument;
    const digests = new Set<string>();
    for (const entry of doc.entries) {
      const { event } = decodeTrustedEnvelope(canonicalBytes(entry.envelope), nativeCrypto);
      const images = (event.data as { images?: { sha256?: string }[] }).images;
      for (const image of images ?? []) if (image.sha256) digests.add(image.sha256);
    }
    expect(digests.size).toBeGreaterThan(0);
    for (const sha256 of digests) {
      const answer = await json<{ now: string[] }>(`/v1/unit-map/firmware/${sha256}`);
      const report = verifyFirmwareEvidence(answer, ledgerKey, mapKey, nativeCrypto);
      expect(report.serialsNow).toEqual(expect.arrayContaining([fixture.serial]));
    }
    const upgradedApp = verifyFirmwareEvidence(await json(`/v1/unit-map/firmware/${release.application.sha256}`), ledgerKey, mapKey, nativeCrypto);
    expect(upgradedApp.serialsNow).toEqual(['U-AFTER-UPGRADE']);
  });

  it('evidence fetched before the upgrade still verifies after it: the provenance document, the SCITT receipt by the key set served now', async () => {
    const doc = JSON.parse(evidenceText('provenance.json')) as unknown;
    const report = verifyProvenance(doc, ledgerKey, nativeCrypto, { mapKey });
    expect(report.serial).toBe(fixture.serial);
    // The same unit's document made now is complete as of the upgraded ledger's newest checkpoint, by the same keys.
    const now = verifyProvenance(await json(`/v1/units/${encodeURIComponent(fixture.serial)}/provenance`), ledgerKey, nativeCrypto, { mapKey });
    expect(now.serial).toBe(fixture.serial);

    const receipt = new Uint8Array(readFileSync(evidence('receipt.cose')));
    const entry = (doc as ProvenanceDocument).entries.find((e) => e.leafIndex === fixture.receiptLeafIndex);
    expect(entry).toBeDefined();
    const kid = decodeSign1(receipt).protectedHeader;
    const keySet = decodeCbor((await get('/.well-known/scitt-keys')).bytes, 65536) as Map<number, unknown>[];
    const key = keySet.find((k) => toHex(k.get(2) as Uint8Array) === toHex(kid.get(4) as Uint8Array));
    expect(key).toBeDefined();
    const verified = verifyReceipt(receipt, canonicalBytes((entry as ProvenanceDocument['entries'][number]).envelope), { kid: key?.get(2) as Uint8Array, alg: -8, publicKey: key?.get(-2) as Uint8Array }, nativeCrypto);
    expect(verified.index).toBe(fixture.receiptLeafIndex);
  });

  it('the old provenance document and export verify with the flashtrail CLI, as the README tells an auditor', async () => {
    const keys = ['--ledger-key', `@${evidence('ledger.pub')}`, '--map-key', `@${evidence('unit-map.vkey')}`, '--ledger-pq-key', `@${evidence('ledger-pq.pub')}`];
    const doc = await cli(['verify', evidence('provenance.json'), ...keys]);
    expect(doc.stderr + doc.stdout).toMatch(/verified/);
    expect(doc.code).toBe(0);
    const exported = await cli(['verify', evidence('export.ndjson'), ...keys, '--workers', '1']);
    expect(exported.stderr + exported.stdout).toMatch(/verified/);
    expect(exported.code).toBe(0);
  });

  it('a second start on the upgraded directory rebuilds nothing: unit-map.sqlite is v2 and reproduces its commitments', async () => {
    await stop();
    const db = new Database(join(dataDir, 'unit-map.sqlite'), { readonly: true, fileMustExist: true });
    try {
      expect((db.prepare("SELECT value FROM map_meta WHERE key = 'format'").get() as { value: string }).value).toBe(UNIT_MAP_FORMAT);
    } finally {
      db.close();
    }
    logText = '';
    await start();
    expect(logText).not.toMatch(/rebuilt from the event store/);
    expect(logText).not.toMatch(/out of service/);
    expect((await get(`/v1/unit-map/firmware/${'0'.repeat(64)}`)).status).toBe(200);
    expect(existsSync(join(dataDir, 'unit-map.sqlite'))).toBe(true);
  });
});
