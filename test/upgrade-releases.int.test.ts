/**
 * Upgrade from data directories written by older releases (issue 15/22). Each test/fixtures/upgrade/<commit>/ holds a
 * real, stopped data directory that commit wrote (ledger/) and the evidence fetched from it before it stopped
 * (evidence/), written by `node scripts/upgrade-fixture.js <commit>` (fixture.json says when, with which Node, and
 * what evidence that release could give); rerun it to regenerate one, or with another commit to add one:
 *   811727d  before the firmware part of the map: unit-map.sqlite v1, CheckpointIssued v1, a units-only index log
 *   4ddff66  before the unit history map: no unit-map.sqlite, no index log, provenance without `history`
 * Today's code is started on a copy and must: open it; rebuild or build the unit map, reproducing the index
 * checkpoint an old release signed; keep v1 leaves for the old checkpoints and switch to `mapCommitment: 2` at its
 * next checkpoint (docs/format.md §15.3, §15.6), answering firmware questions from then on; and leave every piece of
 * old evidence — the provenance document, the export, the SCITT receipt — verifying, by our verifier and our CLI.
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
import { parseScittKeySet, scittKeyForReceipt, verifyReceipt } from '../src/scitt/receipt.ts';
import { canonicalBytes } from '../src/crypto/jcs.ts';
import { parseVerifierKey, verifyFirmwareEvidence, verifyProvenance, type ProvenanceDocument } from '../src/verify/index.ts';
import { UNIT_MAP_FORMAT } from '../src/read/unit-map.ts';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..');
const FIXTURES = join(ROOT, 'test', 'fixtures', 'upgrade');
const run = promisify(execFile);
const cli = (args: string[]) => run(process.execPath, [join(ROOT, 'bin', 'flashtrail.js'), ...args], { maxBuffer: 1 << 26 }).then((r) => ({ code: 0, ...r }), (e: { code: number; stdout: string; stderr: string }) => e);
const rootOf = (leaves: readonly string[]) => {
  const tree = new MemoryTree(nativeCrypto);
  for (const leaf of leaves) tree.append(leafHash(new TextEncoder().encode(leaf), nativeCrypto));
  return rootHash(tree, leaves.length, nativeCrypto);
};
const bodyOf = (note: string) => parseCheckpointBody(parseNote(note).text);
const mapFormatOf = (file: string) => {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare("SELECT value FROM map_meta WHERE key = 'format'").get() as { value: string }).value;
  } finally {
    db.close();
  }
};

interface Fixture {
  readonly commit: string;
  readonly serial: string;
  readonly shipped: readonly string[];
  readonly receiptLeafIndex: number;
}

function upgradeFrom(name: string): void {
  const dir = join(FIXTURES, name);
  const fixture = JSON.parse(readFileSync(join(dir, 'fixture.json'), 'utf8')) as Fixture;
  const evidence = (file: string) => join(dir, 'evidence', file);
  const has = (file: string) => existsSync(evidence(file));
  const evidenceText = (file: string) => readFileSync(evidence(file), 'utf8');
  /** The release kept a unit map (unit-map.sqlite v1) and signed index checkpoints; older ones had none. */
  const hadMap = existsSync(join(dir, 'ledger', 'unit-map.sqlite'));

  const work = mkdtempSync(join(tmpdir(), `flashtrail-upgrade-${name}-`));
  const dataDir = join(work, 'data');
  let logText = '';
  let running: RunningLedger | null = null;
  let token = '';
  let stationToken = '';

  /** Today's ledger on the (copied) old data directory, on its SQLite files whatever the suite's store. */
  const start = async () => {
    const config = configFromEnv({}, { dataDir, port: 0, logLevel: 'info' });
    running = await startLedgerServer(config, pino({ level: 'info' }, { write: (line: string) => void (logText += line) }));
  };
  const stop = async () => {
    await running?.close();
    running = null;
  };
  const get = async (path: string) => {
    const r = await fetch(`${running?.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: r.status, bytes: new Uint8Array(await r.arrayBuffer()) };
  };
  const text = async (path: string) => new TextDecoder().decode((await get(path)).bytes);
  const json = async <T>(path: string) => JSON.parse(await text(path)) as T;
  const indexLeaves = async () => (await json<{ leaves: string[] }>('/v1/unit-map/leaves?limit=1000')).leaves;
  /** Every CheckpointIssued of the log, in leaf order, as GET /v1/log/entries gives them. */
  const checkpointRecords = async () => {
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
  };
  const ledgerKey = parseVerifierKey(evidenceText('ledger.pub').trim());
  /** The index log's key as fetched before the upgrade, or (a release without the map) as the upgraded ledger made it. */
  let mapKey = has('unit-map.vkey') ? parseVerifierKey(evidenceText('unit-map.vkey').trim()) : null;
  const theMapKey = () => mapKey as NonNullable<typeof mapKey>;

  describe(`upgrade from a data directory written by ${fixture.commit.slice(0, 7)}`, () => {
    beforeAll(() => {
      cpSync(join(dir, 'ledger'), dataDir, { recursive: true });
      // git keeps no 0600: the copy is given back the modes the old release wrote (the ledger refuses looser keys).
      for (const file of readdirSync(dataDir)) chmodSync(join(dataDir, file), 0o600);
      chmodSync(dataDir, 0o700);
      // Tokens are read at start: the ones this test uses are added to the old tokens.json first.
      token = addToken(join(dataDir, 'tokens.json'), { name: 'upgrade-auditor', role: 'admin' });
      stationToken = addToken(join(dataDir, 'tokens.json'), { name: 'upgrade-station', role: 'station', stationId: 'ST-UP' });
    });
    afterAll(async () => {
      await stop();
      rmSync(work, { recursive: true, force: true });
    });

    it('the fixture is what it says: the old map format (or none), the evidence its release could give', () => {
      if (hadMap) {
        expect(mapFormatOf(join(dir, 'ledger', 'unit-map.sqlite'))).toBe('flashtrail-unit-map-v1');
        expect(bodyOf(evidenceText('unit-map.checkpoint')).size).toBeGreaterThan(0);
      } else {
        expect(has('unit-map.checkpoint')).toBe(false);
        expect(existsSync(join(dir, 'ledger', 'unit-map.key'))).toBe(false);
      }
      expect(fixture.shipped).toContain(fixture.serial);
    });

    it('opens it and builds the unit map from the log: an old index checkpoint is reproduced, the old checkpoints get v1 leaves', async () => {
      await start();
      expect(logText).not.toMatch(/out of service/);
      if (hadMap) expect(logText).toMatch(/the unit map file is of the units-only format: rebuilt from the event store/);
      mapKey ??= parseVerifierKey((await text('/v1/unit-map/key')).trim());
      const leaves = await indexLeaves();
      const oldCheckpoints = (await checkpointRecords()).filter((r) => r.mapCommitment === undefined);
      expect(oldCheckpoints.length).toBeGreaterThan(0);
      // One v1 leaf per old checkpoint that grew the tree, in order (§15.3).
      const v1 = leaves.filter((l) => l.startsWith('flashtrail/map-commitment/v1\n'));
      expect(v1.map((l) => Number(l.split('\n')[2]))).toEqual([...new Set(oldCheckpoints.map((r) => r.size as number))]);
      if (hadMap) {
        // The rebuilt index log, cut at the old index checkpoint's size, has the root that checkpoint signed.
        const old = bodyOf(evidenceText('unit-map.checkpoint'));
        expect(leaves.length).toBeGreaterThanOrEqual(old.size);
        expect(toHex(rootOf(leaves.slice(0, old.size)))).toBe(toHex(old.root));
      }
      expect(bodyOf(await text('/v1/checkpoint')).size).toBeGreaterThanOrEqual(bodyOf(evidenceText('checkpoint')).size);
    });

    it("an export by firmware before the next checkpoint is v4, not v5, and says why: the index log commits the old checkpoint with a units-only v1 leaf (docs/format.md §7.6.3)", async () => {
      const doc = JSON.parse(evidenceText('provenance.json')) as ProvenanceDocument;
      // A firmware image the old release's unit carries, as its own provenance document says.
      const images = doc.entries.flatMap((e) => (decodeTrustedEnvelope(canonicalBytes(e.envelope), nativeCrypto).event.data as { images?: { sha256: string }[] }).images ?? []);
      const sha256 = (images[0] as { sha256: string }).sha256;
      const size = bodyOf(await text('/v1/checkpoint')).size;
      const r = await fetch(`${running?.url}/v1/exports`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ firmwareSha256: sha256 }) });
      expect(r.status).toBe(200);
      expect(r.headers.get('x-export-format')).toBe('flashtrail.export.v4');
      expect(r.headers.get('x-export-note')).toBe(`the index log commits checkpoint ${size} with a units-only (v1) leaf, which holds no firmware: the answer cannot be proved until the ledger commits a v2 leaf (docs/format.md 15.3)`);
      const lines = (await r.text()).trimEnd().split('\n').map((l) => JSON.parse(l) as { record: string; serial?: string });
      expect(lines[0]).toMatchObject({ record: 'header', format: 'flashtrail.export.v4' });
      expect(lines.some((l) => l.record === 'firmware')).toBe(false);
      expect(lines.filter((l) => l.record === 'unit').map((l) => l.serial)).toContain(fixture.serial);
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
      for (const r of records.filter((x) => (x.size as number) <= oldSize)) expect(r.mapCommitment).toBeUndefined();
      const after = records.filter((r) => (r.size as number) > oldSize);
      expect(after.length).toBeGreaterThan(0);
      for (const r of after) expect(r.mapCommitment).toBe(2);

      const leaves = await indexLeaves();
      const last = leaves.at(-1) as string;
      expect(last.split('\n')[0]).toBe('flashtrail/map-commitment/v2');
      expect(last.split('\n')[2]).toBe(String(bodyOf(note).size));
      // Once v2, always v2 (§15.3): no v1 leaf after the first v2 one.
      const firstV2 = leaves.findIndex((l) => l.startsWith('flashtrail/map-commitment/v2\n'));
      expect(leaves.slice(firstV2).every((l) => l.startsWith('flashtrail/map-commitment/v2\n'))).toBe(true);
      const indexNote = await text('/v1/unit-map/checkpoint');
      expect(bodyOf(indexNote).size).toBe(leaves.length);
      expect(toHex(rootOf(leaves))).toBe(toHex(bodyOf(indexNote).root));

      // The firmware the old release's units carry: all firmware since leaf 0 is in the v2 root, not only what came after the switch.
      const doc = JSON.parse(evidenceText('provenance.json')) as ProvenanceDocument;
      const digests = new Set<string>();
      for (const entry of doc.entries) {
        const { event } = decodeTrustedEnvelope(canonicalBytes(entry.envelope), nativeCrypto);
        for (const image of (event.data as { images?: { sha256?: string }[] }).images ?? []) if (image.sha256) digests.add(image.sha256);
      }
      expect(digests.size).toBeGreaterThan(0);
      for (const sha256 of digests) {
        const report = verifyFirmwareEvidence(await json(`/v1/unit-map/firmware/${sha256}`), ledgerKey, theMapKey(), nativeCrypto);
        expect(report.serialsNow).toEqual(expect.arrayContaining([fixture.serial]));
      }
      const upgradedApp = verifyFirmwareEvidence(await json(`/v1/unit-map/firmware/${release.application.sha256}`), ledgerKey, theMapKey(), nativeCrypto);
      expect(upgradedApp.serialsNow).toEqual(['U-AFTER-UPGRADE']);
    });

    it('evidence fetched before the upgrade still verifies after it: the provenance document, the SCITT receipt by the key set served now', async () => {
      const doc = JSON.parse(evidenceText('provenance.json')) as ProvenanceDocument;
      expect(verifyProvenance(doc, ledgerKey, nativeCrypto, { mapKey: theMapKey() }).serial).toBe(fixture.serial);
      // The same unit's document made now is complete as of the upgraded ledger's newest checkpoint, by the same keys.
      const now = await json<ProvenanceDocument>(`/v1/units/${encodeURIComponent(fixture.serial)}/provenance`);
      expect(now).toHaveProperty('history');
      expect(verifyProvenance(now, ledgerKey, nativeCrypto, { mapKey: theMapKey() }).serial).toBe(fixture.serial);

      const receipt = new Uint8Array(readFileSync(evidence('receipt.cose')));
      const entry = doc.entries.find((e) => e.leafIndex === fixture.receiptLeafIndex) as ProvenanceDocument['entries'][number];
      expect(entry).toBeDefined();
      const key = scittKeyForReceipt(parseScittKeySet((await get('/.well-known/scitt-keys')).bytes), receipt);
      expect(verifyReceipt(receipt, canonicalBytes(entry.envelope), key, nativeCrypto).index).toBe(fixture.receiptLeafIndex);
    });

    it('the old provenance document and export verify with the flashtrail CLI, as the README tells an auditor', async () => {
      const keys = ['--ledger-key', `@${evidence('ledger.pub')}`, ...(has('unit-map.vkey') ? ['--map-key', `@${evidence('unit-map.vkey')}`] : []), ...(has('ledger-pq.pub') ? ['--ledger-pq-key', `@${evidence('ledger-pq.pub')}`] : [])];
      const doc = await cli(['verify', evidence('provenance.json'), ...keys]);
      expect(doc.stderr + doc.stdout).toMatch(/verified/);
      expect(doc.code).toBe(0);
      const exported = await cli(['verify', evidence('export.ndjson'), ...keys, '--workers', '1']);
      expect(exported.stderr + exported.stdout).toMatch(/verified/);
      expect(exported.code).toBe(0);
    });

    it('a second start on the upgraded directory rebuilds nothing: unit-map.sqlite is v2 and reproduces its commitments', async () => {
      await stop();
      expect(mapFormatOf(join(dataDir, 'unit-map.sqlite'))).toBe(UNIT_MAP_FORMAT);
      logText = '';
      await start();
      expect(logText).not.toMatch(/rebuilt from the event store/);
      expect(logText).not.toMatch(/out of service/);
      expect((await get(`/v1/unit-map/firmware/${'0'.repeat(64)}`)).status).toBe(200);
    });
  });
}

// Every fixture the script wrote: adding one is `node scripts/upgrade-fixture.js COMMIT` and a commit.
for (const name of readdirSync(FIXTURES).sort()) upgradeFrom(name);
