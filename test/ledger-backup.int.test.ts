/**
 * `flashtrail backup DIR` while the ledger appends, `backup verify`, `restore`, and a real `flashtrail serve`
 * on the restored data directory: the same signed checkpoint, a provenance document made before the backup
 * still verifies against it, and it accepts new events. Tampered backups are named by file or leaf.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestLedger, type TestLedger } from './helpers/ledger-fixture.ts';
import { linesOf, oneLineFailure, runCli } from './helpers/cli.ts';
import { spawnLedger } from './helpers/server-process.ts';
import { SimulatedStation } from '../src/sim/simulated-station.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { EventSigner } from '../src/event/signer.ts';
import { SbomStore } from '../src/files/sbom-store.ts';
import { parseCheckpointBody } from '../src/tlog/checkpoint.ts';
import { parseNote } from '../src/tlog/note.ts';
import { parseVerifierKey, verifyCheckpointConsistency, verifyProvenance } from '../src/verify/index.ts';
import { nativeCrypto } from '../src/native/crypto.ts';
import { fromBase64 } from '../src/crypto/encoding.ts';
import { LEDGER_BACKUP_MANIFEST, type LedgerBackupManifest } from '../src/server/ledger-backup.ts';

const root = mkdtempSync(join(tmpdir(), 'flashtrail-ledger-backup-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const dataDir = join(root, 'ledger');
const quietBackup = join(root, 'backups', 'quiet');
let t: TestLedger;
let station: (url: string) => SimulatedStation;
let provenanceBefore: unknown;
let verifierKey = '';
let sbomSha256 = '';

const readManifest = (dir: string) => JSON.parse(readFileSync(join(dir, LEDGER_BACKUP_MANIFEST), 'utf8')) as LedgerBackupManifest;
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

beforeAll(async () => {
  t = await startTestLedger({ dataDir });
  station = (url) => new SimulatedStation(new LedgerClient(url, t.tokens.station1), new EventSigner(t.stationKeys['ST-01'], 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId: t.batchId, hardwareRevision: 'rev-C' }, t.release);
  await station(t.url).flash('S-1', 'pass');
  await station(t.url).flash('S-2', 'pass');
  sbomSha256 = new SbomStore(join(dataDir, 'sboms')).put(new TextEncoder().encode('{"bomFormat":"CycloneDX","specVersion":"1.6"}\n'));
  await t.running.checkpointer.issue();
  provenanceBefore = await t.adminClient.get<unknown>('/v1/units/S-1/provenance');
  verifierKey = t.running.identity.verifierKey;
}, 60_000);
afterAll(async () => {
  await t?.stop().catch(() => undefined);
});

describe('flashtrail backup', () => {
  it('copies a running, appending ledger into a consistent, verified backup', async () => {
    // Appends go on while the backup is made: the copy must still be one consistent state.
    let appending = true;
    const appender = (async () => {
      for (let i = 0; appending; i++) await station(t.url).flash(`S-LIVE-${i}`, 'pass');
    })();
    const to = join(root, 'backups', 'live');
    const r = await runCli(['backup', to, '--data', dataDir], { timeoutMs: 60_000 });
    appending = false;
    await appender;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^flashtrail: copying events\.sqlite \([0-9.]+ MB\) as one snapshot$/m);
    expect(r.stderr).toMatch(/^flashtrail: recomputed the Merkle root of \d+ events: equal to the signed checkpoint at size \d+$/m);
    expect(r.stdout).toMatch(/^backed up \d+ files, \d+ events, to /m);
    expect(r.stdout + r.stderr).not.toContain(readFileSync(join(dataDir, 'admin.token'), 'utf8').trim());

    const manifest = readManifest(to);
    expect(manifest.verifierKey).toBe(verifierKey);
    expect(manifest.checkpoint).not.toBeNull();
    expect(statSync(to).mode & 0o777).toBe(0o700);
    for (const f of manifest.files) {
      expect(statSync(join(to, f.path)).mode & 0o777, f.path).toBe(0o600);
      expect(sha256(readFileSync(join(to, f.path))), f.path).toBe(f.sha256);
    }
    const paths = manifest.files.map((f) => f.path);
    for (const name of ['events.sqlite', 'merkle.sqlite', 'readmodel.sqlite', 'ledger.key', 'ledger-ml-dsa.key', 'admin.key', 'admin.token', 'ledger.json', 'tokens.json', 'admin-keys.json', `sboms/${sbomSha256}`]) expect(paths).toContain(name);
    for (const name of ['ledger.url', 'lock.sqlite', 'events.sqlite-wal']) expect(paths).not.toContain(name);

    const v = await runCli(['backup', 'verify', to, '--json']);
    expect(v.code, v.stderr).toBe(0);
    const report = JSON.parse(v.stdout) as { ok: boolean; events: number; checkpoint: { size: number; root: string }; merkleLeavesCompared: number };
    expect(report.events).toBe(manifest.events.count);
    expect(report.checkpoint).toEqual({ size: manifest.checkpoint?.size, root: manifest.checkpoint?.root });
    expect(report.merkleLeavesCompared).toBeGreaterThan(0);
  }, 120_000);

  it('refuses a directory that is not empty, and a PostgreSQL store (pg_dump is its tool)', async () => {
    const occupied = join(root, 'occupied');
    mkdirSync(occupied);
    writeFileSync(join(occupied, 'something'), 'x');
    const r = await runCli(['backup', occupied, '--data', dataDir]);
    const f = oneLineFailure(r);
    expect([f.code, f.lines, f.stackFrames]).toEqual([1, 1, false]);
    expect(f.line).toBe(`flashtrail: ${occupied} is not empty: each backup goes to a new directory (a backup is never overwritten or merged)`);

    const pg = await runCli(['backup', join(root, 'pg'), '--data', dataDir], { env: { FLASHTRAIL_STORE: 'postgres', FLASHTRAIL_POSTGRES_URL: 'postgres://nobody@127.0.0.1:1/none' } });
    expect(oneLineFailure(pg).line).toMatch(/^flashtrail: the event store is PostgreSQL: back it up with its own tools \(pg_dump --format=custom --schema=\S+ /);
    expect(existsSync(join(root, 'pg'))).toBe(false);
  });
});

describe('flashtrail restore', () => {
  let restored = '';

  beforeAll(async () => {
    // Quiet: nothing appended since the last checkpoint, so the restored ledger must serve that very note.
    await t.running.checkpointer.issue();
    const r = await runCli(['backup', quietBackup, '--data', dataDir], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    await t.stop();
    restored = join(root, 'restored');
    const rr = await runCli(['restore', quietBackup, '--data', restored], { timeoutMs: 60_000 });
    expect(rr.code, rr.stderr).toBe(0);
    expect(rr.stdout).toContain(`start it with: flashtrail serve --data ${restored}`);
  }, 120_000);

  it('starts a real ledger on the restored directory: same checkpoint, old provenance verifies, new events accepted', async () => {
    const manifest = readManifest(quietBackup);
    const server = await spawnLedger(restored);
    try {
      const client = new LedgerClient(server.url, t.tokens.admin);
      expect((await client.getText('/v1/ledger/key')).trim()).toBe(verifierKey);
      const served = await client.getText('/v1/checkpoint');
      expect(served).toBe(manifest.checkpoint?.note);

      const key = parseVerifierKey(verifierKey);
      const before = verifyProvenance(provenanceBefore, key, nativeCrypto);
      expect(before.serial).toBe('S-1');
      const now = verifyProvenance(await client.get<unknown>('/v1/units/S-1/provenance'), key, nativeCrypto);
      expect(now.events).toBe(before.events);

      await station(server.url).flash('S-AFTER-RESTORE', 'pass');
      const after = verifyProvenance(await client.get<unknown>('/v1/units/S-AFTER-RESTORE/provenance'), key, nativeCrypto);
      expect(after.serial).toBe('S-AFTER-RESTORE');
      // The restored log extends the backed-up one: an RFC 6962 consistency proof from the backup's checkpoint.
      const oldSize = parseCheckpointBody(parseNote(served).text).size;
      const newNote = await client.getText('/v1/checkpoint');
      const newSize = parseCheckpointBody(parseNote(newNote).text).size;
      expect(newSize).toBeGreaterThan(oldSize);
      const { proof } = await client.get<{ proof: string[] }>(`/v1/proofs/consistency?from=${oldSize}&to=${newSize}`);
      verifyCheckpointConsistency(served, newNote, proof.map(fromBase64), key, nativeCrypto);
    } finally {
      await server.kill('SIGTERM');
    }
  }, 60_000);

  it('refuses to restore into a directory that is not empty', async () => {
    const r = await runCli(['restore', quietBackup, '--data', restored]);
    expect(r.code).toBe(1);
    expect(linesOf(r.stderr).at(-1)).toBe(`flashtrail: ${restored} is not empty: restore into a new data directory (a restore never mixes two ledgers' files)`);
  }, 60_000);
});

describe('flashtrail backup verify on a damaged backup', () => {
  let copies = 0;
  const copy = () => {
    const dir = join(root, `damaged-${++copies}`);
    cpSync(quietBackup, dir, { recursive: true });
    return dir;
  };
  /** What an insider with the backup can do: change one event, and (optionally) the manifest's digest with it. */
  const editEvent = (dir: string, leafIndex: number, rewriteManifest: boolean) => {
    const db = new Database(join(dir, 'events.sqlite'));
    db.exec('DROP TRIGGER IF EXISTS events_append_only_update; DROP TRIGGER IF EXISTS events_append_only_delete;');
    const row = db.prepare('SELECT position, data FROM events ORDER BY position LIMIT 1 OFFSET ?').get(leafIndex) as { position: number; data: Buffer };
    const data = Buffer.from(row.data);
    data[data.length - 3] = (data[data.length - 3] as number) ^ 1;
    db.prepare('UPDATE events SET data = ? WHERE position = ?').run(data, row.position);
    db.close();
    if (rewriteManifest) {
      const m = readManifest(dir);
      const f = m.files.find((x) => x.path === 'events.sqlite') as { sha256: string; bytes: number };
      f.sha256 = sha256(readFileSync(join(dir, 'events.sqlite')));
      f.bytes = statSync(join(dir, 'events.sqlite')).size;
      writeFileSync(join(dir, LEDGER_BACKUP_MANIFEST), JSON.stringify(m));
    }
  };
  /** The failure is the last line on stderr (progress lines come before it), with no stack trace. */
  const failure = async (dir: string) => {
    const r = await runCli(['backup', 'verify', dir]);
    const f = oneLineFailure(r);
    expect([f.code, f.stackFrames], r.stderr).toEqual([1, false]);
    return linesOf(r.stderr).at(-1) as string;
  };

  it('names a file whose bytes changed', async () => {
    const dir = copy();
    writeFileSync(join(dir, 'sboms', sbomSha256), 'not the SBOM\n');
    expect(await failure(dir)).toMatch(new RegExp(`^flashtrail: BACKUP_FILE_DIGEST_MISMATCH: ${join(dir, 'sboms', sbomSha256)} has SHA-256 [0-9a-f]{64}, the manifest says ${sbomSha256}`));
  });

  it('names a file that is missing, or was added', async () => {
    const gone = copy();
    rmSync(join(gone, 'admin-keys.json'));
    expect(await failure(gone)).toBe(`flashtrail: BACKUP_FILE_MISSING: ${join(gone, 'admin-keys.json')} is listed in the manifest but missing`);
    const added = copy();
    writeFileSync(join(added, 'extra.key'), 'x');
    expect(await failure(added)).toBe(`flashtrail: BACKUP_FILE_UNLISTED: ${join(added, 'extra.key')} is not in the manifest: it was added after the backup was made`);
  });

  it('names the leaf of an event changed in the backup, even with the manifest rewritten to match', async () => {
    const dir = copy();
    editEvent(dir, 3, true);
    expect(await failure(dir)).toMatch(new RegExp(`^flashtrail: BACKUP_LEAF_MISMATCH: leaf 3 of ${join(dir, 'merkle.sqlite')} \\(the event at \\$all position \\d+\\) is not the event at \\$all position \\d+ `));
  });

  it('without the Merkle log, the recomputed root is compared with the signed checkpoint', async () => {
    const dir = copy();
    editEvent(dir, 3, true);
    rmSync(join(dir, 'merkle.sqlite'));
    const m = readManifest(dir);
    m.files = m.files.filter((f) => f.path !== 'merkle.sqlite');
    writeFileSync(join(dir, LEDGER_BACKUP_MANIFEST), JSON.stringify(m));
    expect(await failure(dir)).toMatch(new RegExp(`^flashtrail: BACKUP_ROOT_MISMATCH: the root of the first ${m.checkpoint?.size} events of ${join(dir, 'events.sqlite')} is [0-9a-f]{64}, the signed checkpoint says ${m.checkpoint?.root}$`));
  });

  it('an unfinished backup (no manifest) is not a backup', async () => {
    const dir = copy();
    rmSync(join(dir, LEDGER_BACKUP_MANIFEST));
    expect(await failure(dir)).toBe(`flashtrail: BACKUP_MANIFEST_INVALID: ${join(dir, LEDGER_BACKUP_MANIFEST)} does not exist: ${dir} is not a finished flashtrail backup`);
    expect(readdirSync(dir)).toContain('events.sqlite');
  });
});
