/**
 * The unit history map on a shared PostgreSQL log (docs/shared-log.md §1), with three `flashtrail serve`
 * processes (the compiled CLI) on one schema under load from several stations:
 *
 *   - the elected log writer, and it alone, commits the map and signs the index log; the writer is SIGKILLed
 *     while a map commitment of its is open in PostgreSQL (observed in pg_stat_activity), and its successor
 *     continues the same index log: every index checkpoint ever signed or served verifies by the one pinned
 *     index key and is a prefix of one list of leaves (no fork), before and after the kill;
 *   - every instance serves the same `/v1/unit-map/leaves`, equal to the writer's rows, and a SQLite ledger's
 *     map fed the very same event sequence commits the identical leaves (map roots) and index root;
 *   - a follower serves a provenance v3 document whose `history` verifies, the firmware answer (§15.6) and an
 *     export with its history; under a witness policy its index checkpoint carries the witness cosignature;
 *   - an instance with another unit-map.key refuses to start; an edited commitment row takes a reader out of service.
 */
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { expect, it } from 'vitest';
import { configFromEnv, initDataDir } from '../src/server/main.ts';
import { addToken } from '../src/api/tokens.ts';
import { readSecretKeyFile } from '../src/files/key-file.ts';
import { newSigner } from '../src/crypto/ed25519.ts';
import { EventSigner, type SignedEvent } from '../src/event/signer.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { lineSetupEvents } from '../src/sim/line-setup.ts';
import { simulatedRelease } from '../src/sim/simulated-station.ts';
import { formatVerifierKey, parseVerifierKey, verifyNote } from '../src/tlog/note.ts';
import { parseCheckpointBody } from '../src/tlog/checkpoint.ts';
import { MemoryTree, rootHash } from '../src/merkle/proofs.ts';
import { leafHash } from '../src/merkle/hash.ts';
import { toHex, utf8 } from '../src/crypto/encoding.ts';
import { nativeCrypto } from '../src/native/crypto.ts';
import { SqliteEventStore } from '../src/store/sqlite.ts';
import { UnitMapIndex, UNIT_MAP_KEY_FILE } from '../src/read/unit-map.ts';
import { verifyProvenance } from '../src/verify/provenance.ts';
import { verifyFirmwareEvidence } from '../src/verify/firmware-map.ts';
import { exportToFile } from '../src/cli/commands/export.ts';
import { verifyExportFile } from '../src/native/export-verifier.ts';
import { bootloaderData, scanData } from './helpers/ledger-fixture.ts';
import { runCli } from './helpers/cli.ts';
import { spawnWitness, type WitnessProcess } from './helpers/witness-process.ts';
import { parseCosignerKey, verifyCosignatures } from '../src/tlog/cosignature.ts';
import { parseWitnessPolicy } from '../src/verify/index.ts';
import { indexLogOrigin } from '../src/verify/map-commitment.ts';
import { spawnLedger, type ServerProcess } from './helpers/server-process.ts';
import { createTestDatabase, describeWithPostgres } from './helpers/postgres.ts';

describeWithPostgres('the unit history map on a shared PostgreSQL log', (target) => {
  it('one index log across a SIGKILL of the writer mid-commitment; every instance serves it; a SQLite ledger fed the same events derives the same map', async () => {
    const database = await createTestDatabase(target);
    const dirs = [0, 1, 2].map((i) => mkdtempSync(join(tmpdir(), `flashtrail-pgmap-${i}-`)));
    const sqliteDir = mkdtempSync(join(tmpdir(), 'flashtrail-pgmap-sqlite-'));
    const config = configFromEnv({}, { dataDir: dirs[0] as string });
    const init = initDataDir(config);
    const stationToken = addToken(config.tokensFile, { name: 'st1', role: 'station', stationId: 'ST-01' });
    const adminToken = readFileSync(init.adminTokenFile, 'utf8').trim();
    // Every instance holds the same ledger and index log keys (README "Several instances, one log writer").
    for (const dir of dirs.slice(1)) {
      for (const file of ['ledger.key', 'ledger-ml-dsa.key', 'ledger.json', UNIT_MAP_KEY_FILE, 'admin-keys.json', 'tokens.json']) {
        copyFileSync(join(dirs[0] as string, file), join(dir, file));
        chmodSync(join(dir, file), 0o600);
      }
    }
    const env = { FLASHTRAIL_STORE: 'postgres', FLASHTRAIL_POSTGRES_URL: database.url, FLASHTRAIL_CHECKPOINT_EVERY_EVENTS: '20', FLASHTRAIL_CHECKPOINT_INTERVAL_S: '1' };
    const instances: ServerProcess[] = [];
    const killed = new Set<ServerProcess>();
    const db = new pg.Client({ connectionString: database.adminUrl });
    try {
      for (const dir of dirs) instances.push(await spawnLedger(dir, env));
      await db.connect();
      const alive = () => instances.filter((i) => !killed.has(i));
      const leaderNow = () => alive().filter((i) => (i.output().match(/elected log writer/g)?.length ?? 0) > 0 && !/no longer the log writer/.test(i.output()));
      await until(() => leaderNow().length === 1, 10_000, 'no instance was elected log writer');

      // One index key, pinned in PostgreSQL, served by every instance.
      const mapKeys = await Promise.all(instances.map(async (i) => (await new LedgerClient(i.url, adminToken).getText('/v1/unit-map/key')).trim()));
      expect(new Set(mapKeys).size).toBe(1);
      const mapKeyText = mapKeys[0] as string;
      const mapKey = parseVerifierKey(mapKeyText);
      const ledgerKey = parseVerifierKey(init.verifierKey);
      const pinned = await db.query<{ value: string }>("SELECT value FROM flashtrail.unit_map_meta WHERE key = 'index_key'");
      expect(pinned.rows[0]?.value).toBe(mapKeyText);

      const admin = new EventSigner(readSecretKeyFile(init.adminKeyFile), 'admin');
      const key = newSigner();
      const release = simulatedRelease('R-1', 'SENSOR-S3', '1.0.0');
      await new LedgerClient((instances[1] as ServerProcess).url, adminToken).appendAdmin(
        lineSetupEvents(admin, { stations: [{ stationId: 'ST-01', key }], release, batch: { batchId: 'B-1', line: 'L1', plannedQuantity: 100_000 } }),
      );

      // Clients watch the index checkpoint every instance serves: each note seen is evidence.
      const indexNotes = new Set<string>();
      let stop = false;
      const watcher = (async () => {
        while (!stop) {
          for (const i of alive()) {
            const note = await new LedgerClient(i.url, adminToken).getText('/v1/unit-map/checkpoint').catch(() => null);
            if (note) indexNotes.add(note);
          }
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      const newestIndexSeen = () => Math.max(0, ...[...indexNotes].map((n) => parseCheckpointBody(verifyNote(n, [mapKey], nativeCrypto).text).size));

      // Four stations append unit flows through whichever instances run; a failed request is retried unchanged elsewhere.
      const acknowledged: SignedEvent[] = [];
      const writer = async (w: number) => {
        const signer = new EventSigner(key, 'ST-01');
        for (let u = 0; !stop; u++) {
          const serial = `M${w}-${u}`;
          const batch = [signer.sign('UnitScanned', scanData(serial)), signer.sign('BootloaderWritten', bootloaderData(serial, release))];
          for (let attempt = 0; ; attempt++) {
            const via = alive()[(w + u + attempt) % alive().length] as ServerProcess;
            try {
              await new LedgerClient(via.url, stationToken).append(batch.map((e) => e.envelope));
              acknowledged.push(...batch);
              break;
            } catch (error) {
              if (attempt > 20) throw error;
              await new Promise((r) => setTimeout(r, 50));
            }
          }
        }
      };
      const writers = [0, 1, 2, 3].map(writer);
      await until(() => acknowledged.length >= 150 && newestIndexSeen() >= 2, 60_000, 'the load did not reach 150 events and two index checkpoints');

      // SIGKILL the writer while one of its map commitments is open: its election session inside a unit_map transaction.
      const [leader] = leaderNow() as [ServerProcess];
      const indexBeforeKill = newestIndexSeen();
      let landed = false;
      const deadline = Date.now() + 20_000;
      while (!landed && Date.now() < deadline) {
        const { rows } = await db.query<{ n: string }>(
          "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'flashtrail log writer election' AND state IN ('active', 'idle in transaction') AND query ILIKE '%unit_map_%' AND query NOT ILIKE '%COMMIT%'",
        );
        landed = Number(rows[0]?.n) > 0;
      }
      killed.add(leader);
      await leader.kill('SIGKILL');
      console.log(landed ? 'the writer was SIGKILLed inside a unit map transaction' : 'no unit map transaction was observed open within 20 s: the writer was SIGKILLed between transactions');

      await until(() => leaderNow().length === 1, 15_000, 'no instance took over as log writer');
      const successor = leaderNow()[0] as ServerProcess;
      const ackedAtKill = acknowledged.length;
      await until(() => acknowledged.length >= ackedAtKill + 150 && newestIndexSeen() > indexBeforeKill + 1, 60_000, 'the successor signed no index checkpoint over the load after the kill');
      stop = true;
      await Promise.all(writers);
      await watcher;

      // The index log as the writers recorded it: leaves and every index checkpoint signed.
      const rowLeaves = (await db.query<{ idx: string; leaf: string }>('SELECT idx, leaf FROM flashtrail.unit_map_commitments ORDER BY idx')).rows;
      rowLeaves.forEach((r, i) => expect(Number(r.idx)).toBe(i));
      const signedRows = (await db.query<{ note: string }>('SELECT note FROM flashtrail.unit_map_checkpoints')).rows;
      for (const r of signedRows) indexNotes.add(r.note);

      // Every instance serves the same leaves once it has followed the log to its end; a reader derives them itself.
      const leavesOf = async (i: ServerProcess) => {
        const client = new LedgerClient(i.url, adminToken);
        const all: string[] = [];
        for (;;) {
          const page = await client.get<{ leaves: string[] }>(`/v1/unit-map/leaves?from=${all.length}`);
          if (page.leaves.length === 0) return all;
          all.push(...page.leaves);
        }
      };
      let served: string[][] = [];
      await untilAsync(async () => {
        served = await Promise.all(alive().map(leavesOf));
        const rows = (await db.query<{ leaf: string }>('SELECT leaf FROM flashtrail.unit_map_commitments ORDER BY idx')).rows.map((r) => r.leaf);
        return served.every((l) => JSON.stringify(l) === JSON.stringify(rows));
      }, 20_000, 'the instances do not serve the same index log leaves as the writer recorded');
      const leaves = served[0] as string[];

      // No fork: every index checkpoint, seen by clients or recorded, verifies by the pinned key and is the root of a prefix of those leaves.
      const tree = new MemoryTree(nativeCrypto);
      for (const leaf of leaves) tree.append(leafHash(utf8(leaf), nativeCrypto));
      const sizes = new Set<number>();
      for (const note of indexNotes) {
        const { text, verifiedBy } = verifyNote(note, [mapKey], nativeCrypto);
        expect(verifiedBy).toHaveLength(1);
        const c = parseCheckpointBody(text);
        expect(c.size).toBeLessThanOrEqual(tree.size);
        expect(toHex(c.root), `index checkpoint ${c.size}`).toBe(toHex(rootHash(tree, c.size, nativeCrypto)));
        sizes.add(c.size);
      }
      expect([...sizes].some((s) => s <= indexBeforeKill) && [...sizes].some((s) => s > indexBeforeKill + 1)).toBe(true);

      // Deterministic: the same event sequence in a SQLite store gives a SQLite ledger's map the identical leaves and index root.
      const sqlite = new SqliteEventStore(join(sqliteDir, 'events.sqlite'));
      const events = await db.query<{ stream: string; id: string; type: string; data: Buffer }>('SELECT stream, id, type, data FROM flashtrail.events ORDER BY position');
      for (const e of events.rows) await sqlite.appendToStream(e.stream, [{ id: e.id, type: e.type, data: new Uint8Array(e.data) }]);
      const single = await UnitMapIndex.open({ store: sqlite, file: join(sqliteDir, 'unit-map.sqlite'), ledgerOrigin: parseVerifierKey(init.verifierKey).name, key: readSecretKeyFile(join(dirs[0] as string, UNIT_MAP_KEY_FILE)) });
      try {
        // The writer may have signed one more checkpoint after the load stopped (its interval): the copy then holds
        // its CheckpointIssued too, and the writer's rows catch up with it.
        const singleLeaves = single.committed().map((c) => c.leaf);
        expect(singleLeaves.length).toBeGreaterThanOrEqual(leaves.length);
        expect(singleLeaves.slice(0, leaves.length)).toEqual(leaves);
        const rowsNow = async () => (await db.query<{ leaf: string }>('SELECT leaf FROM flashtrail.unit_map_commitments ORDER BY idx')).rows.map((r) => r.leaf);
        await untilAsync(async () => (await rowsNow()).length >= singleLeaves.length, 20_000, 'the writer did not commit the last checkpoint');
        expect((await rowsNow()).slice(0, singleLeaves.length)).toEqual(singleLeaves);
        const singleTree = new MemoryTree(nativeCrypto);
        for (const leaf of singleLeaves) singleTree.append(leafHash(utf8(leaf), nativeCrypto));
        const singleNote = (await single.checkpoint()) as string;
        expect(toHex(parseCheckpointBody(verifyNote(singleNote, [mapKey], nativeCrypto).text).root)).toBe(toHex(rootHash(singleTree, singleTree.size, nativeCrypto)));
      } finally {
        await single.close();
        await sqlite.close();
      }

      // A follower serves provenance v3 with a history that verifies, and the firmware answer.
      const follower = alive().find((i) => i !== successor) as ServerProcess;
      const auditor = new LedgerClient(follower.url, adminToken);
      const serial = 'M1-0';
      const doc = await auditor.get<unknown>(`/v1/units/${serial}/provenance`);
      const report = verifyProvenance(doc, ledgerKey, nativeCrypto, { mapKey });
      expect(report.history?.events).toBe(2);
      const digest = bootloaderData(serial, release).imageSha256;
      const answer = await auditor.get<unknown>(`/v1/unit-map/firmware/${digest}`);
      const firmware = verifyFirmwareEvidence(answer, ledgerKey, mapKey, nativeCrypto);
      expect(firmware.now).toBeGreaterThan(50);
      expect(firmware.now).toBeLessThanOrEqual(acknowledged.length / 2);
      // And a batch export asked of the follower proves every unit complete as of its checkpoint.
      const exportFile = join(sqliteDir, 'batch.ndjson');
      await exportToFile(follower.url, adminToken, { batchId: 'B-1' }, exportFile, () => undefined);
      const exported = await verifyExportFile(exportFile, ledgerKey, { workers: 1, mapKey });
      expect(exported.history?.mapRoot).toMatch(/^[0-9a-f]{64}$/);
      expect(exported.units).toBe(acknowledged.length / 2);
      console.log(`${acknowledged.length} events; index log of ${leaves.length} leaves, ${sizes.size} index checkpoint sizes, one key, no fork; ${firmware.now} units carry the bootloader`);
    } finally {
      await db.end().catch(() => undefined);
      for (const i of instances) if (!killed.has(i)) await i.kill('SIGTERM');
      for (const dir of [...dirs, sqliteDir]) rmSync(dir, { recursive: true, force: true });
      await database.drop();
    }
  }, 240_000);
});

describeWithPostgres('the unit history map on a shared PostgreSQL log: what it refuses', (target) => {
  it('an instance with another unit-map.key refuses to start; an edited commitment row takes the map out of service on a reader, naming the fork', async () => {
    const database = await createTestDatabase(target);
    const dirs = [0, 1, 2].map((i) => mkdtempSync(join(tmpdir(), `flashtrail-pgmap-refuse-${i}-`)));
    const config = configFromEnv({}, { dataDir: dirs[0] as string });
    const init = initDataDir(config);
    const stationToken = addToken(config.tokensFile, { name: 'st1', role: 'station', stationId: 'ST-01' });
    const adminToken = readFileSync(init.adminTokenFile, 'utf8').trim();
    // dirs[1] is a proper second instance; dirs[2] got every file but unit-map.key (its own is made at start).
    for (const [dir, files] of [
      [dirs[1], ['ledger.key', 'ledger-ml-dsa.key', 'ledger.json', UNIT_MAP_KEY_FILE, 'admin-keys.json', 'tokens.json']],
      [dirs[2], ['ledger.key', 'ledger-ml-dsa.key', 'ledger.json', 'admin-keys.json', 'tokens.json']],
    ] as const) {
      for (const file of files) {
        copyFileSync(join(dirs[0] as string, file), join(dir as string, file));
        chmodSync(join(dir as string, file), 0o600);
      }
    }
    const env = { FLASHTRAIL_STORE: 'postgres', FLASHTRAIL_POSTGRES_URL: database.url, FLASHTRAIL_CHECKPOINT_EVERY_EVENTS: '4', FLASHTRAIL_CHECKPOINT_INTERVAL_S: '1' };
    const db = new pg.Client({ connectionString: database.adminUrl });
    const started: ServerProcess[] = [];
    try {
      const writer = await spawnLedger(dirs[0] as string, env);
      started.push(writer);
      await db.connect();
      const admin = new EventSigner(readSecretKeyFile(init.adminKeyFile), 'admin');
      const key = newSigner();
      const release = simulatedRelease('R-1', 'SENSOR-S3', '1.0.0');
      const client = new LedgerClient(writer.url, adminToken);
      await client.appendAdmin(lineSetupEvents(admin, { stations: [{ stationId: 'ST-01', key }], release, batch: { batchId: 'B-1', line: 'L1', plannedQuantity: 100 } }));
      const signer = new EventSigner(key, 'ST-01');
      const mapKeyText = (await client.getText('/v1/unit-map/key')).trim();
      const signedSize = async () => Number((await db.query<{ n: string }>('SELECT coalesce(max(size), 0) AS n FROM flashtrail.unit_map_checkpoints')).rows[0]?.n);
      for (let u = 0; (await signedSize()) < 3; u++) {
        if (u > 200) throw new Error('the writer signed no index checkpoint of 3 leaves');
        const serial = `R-${u}`;
        await new LedgerClient(writer.url, stationToken).append([signer.sign('UnitScanned', scanData(serial)).envelope, signer.sign('BootloaderWritten', bootloaderData(serial, release)).envelope]);
        await new Promise((r) => setTimeout(r, 200));
      }

      // Another index key against the pinned one: refused before listening, naming both keys and the file.
      const refused = await spawnLedger(dirs[2] as string, env).then(
        (p) => {
          started.push(p);
          return '';
        },
        (error: unknown) => (error as Error).message,
      );
      expect(refused).toMatch(/exited with 1 before listening/);
      expect(refused).toContain(`is signed by ${mapKeyText}`);
      expect(refused).toMatch(/give every instance the same unit-map\.key/);
      expect(refused).not.toMatch(/\n\s+at /);

      // An insider edits the writer's first commitment (as a superuser, past the append-only trigger).
      const [first, second] = (await db.query<{ leaf: string }>('SELECT leaf FROM flashtrail.unit_map_commitments ORDER BY idx LIMIT 2')).rows;
      await db.query('ALTER TABLE flashtrail.unit_map_commitments DISABLE TRIGGER USER');
      await db.query('UPDATE flashtrail.unit_map_commitments SET leaf = $1 WHERE idx = 0', [second?.leaf]);
      await db.query('ALTER TABLE flashtrail.unit_map_commitments ENABLE TRIGGER USER');
      expect(second?.leaf).not.toBe(first?.leaf);

      // A reader started now derives the map itself: its index tree does not reproduce the writer's signed
      // checkpoints over the edited rows, so it serves no map (503 UNAVAILABLE naming why), but still its log.
      const reader = await spawnLedger(dirs[1] as string, env);
      started.push(reader);
      const auditor = new LedgerClient(reader.url, adminToken);
      const answer = await fetch(`${reader.url}/v1/unit-map/checkpoint`, { headers: { authorization: `Bearer ${adminToken}` } });
      expect(answer.status).toBe(503);
      const problem = (await answer.json()) as { code: string; detail: string };
      expect(problem.code).toBe('UNAVAILABLE');
      expect(problem.detail).toMatch(/out of service: .*(would fork|does not reproduce its signed checkpoint)/);
      expect(reader.output()).toMatch(/the unit history map is out of service/);
      expect((await auditor.getText('/v1/checkpoint')).length).toBeGreaterThan(0);
      // Its provenance documents then claim no completeness: no history.
      const doc = await auditor.get<{ format: string; history?: unknown }>('/v1/units/R-0/provenance');
      expect(doc.history).toBeUndefined();
    } finally {
      await db.end().catch(() => undefined);
      for (const p of started) await p.kill('SIGTERM');
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
      await database.drop();
    }
  }, 120_000);
});

describeWithPostgres('the unit history map on a shared PostgreSQL log, witnessed', (target) => {
  it('the index checkpoint a follower serves carries the witness cosignature, and its provenance verifies under the policy', async () => {
    const database = await createTestDatabase(target);
    const work = mkdtempSync(join(tmpdir(), 'flashtrail-pgmap-witness-'));
    const dirs = [0, 1].map((i) => join(work, `instance-${i}`));
    const config = configFromEnv({}, { dataDir: dirs[0] as string });
    const init = initDataDir(config);
    const stationToken = addToken(config.tokensFile, { name: 'st1', role: 'station', stationId: 'ST-01' });
    const adminToken = readFileSync(init.adminTokenFile, 'utf8').trim();
    const mapKeyText = formatVerifierKey(indexLogOrigin(parseVerifierKey(init.verifierKey).name), readSecretKeyFile(join(dirs[0] as string, UNIT_MAP_KEY_FILE)).publicKey);
    const witnessDir = join(work, 'witness');
    const witnessInit = await runCli(['witness', 'init', '--dir', witnessDir, '--name', 'witness.test/w1', '--log', init.verifierKey, '--log', mapKeyText]);
    expect(witnessInit.code, witnessInit.stderr).toBe(0);
    let witness: WitnessProcess | null = null;
    const started: ServerProcess[] = [];
    try {
      witness = await spawnWitness(witnessDir);
      const policyText = `log ${init.verifierKey}\nwitness W1 ${witness.verifierKey} ${witness.url}\nquorum W1\n`;
      const policyFile = join(work, 'policy.txt');
      writeFileSync(policyFile, policyText);
      mkdirSync(dirs[1] as string, { mode: 0o700 });
      for (const file of ['ledger.key', 'ledger-ml-dsa.key', 'ledger.json', UNIT_MAP_KEY_FILE, 'admin-keys.json', 'tokens.json']) {
        copyFileSync(join(dirs[0] as string, file), join(dirs[1] as string, file));
        chmodSync(join(dirs[1] as string, file), 0o600);
      }
      const env = { FLASHTRAIL_STORE: 'postgres', FLASHTRAIL_POSTGRES_URL: database.url, FLASHTRAIL_CHECKPOINT_EVERY_EVENTS: '4', FLASHTRAIL_CHECKPOINT_INTERVAL_S: '1', FLASHTRAIL_WITNESS_POLICY: policyFile };
      const writer = await spawnLedger(dirs[0] as string, env);
      started.push(writer);
      await until(() => /elected log writer/.test(writer.output()), 10_000, 'the first instance was not elected');
      const follower = await spawnLedger(dirs[1] as string, env);
      started.push(follower);
      const admin = new EventSigner(readSecretKeyFile(init.adminKeyFile), 'admin');
      const key = newSigner();
      const release = simulatedRelease('R-1', 'SENSOR-S3', '1.0.0');
      await new LedgerClient(follower.url, adminToken).appendAdmin(lineSetupEvents(admin, { stations: [{ stationId: 'ST-01', key }], release, batch: { batchId: 'B-1', line: 'L1', plannedQuantity: 100 } }));
      const signer = new EventSigner(key, 'ST-01');
      for (let u = 0; u < 6; u++) {
        const serial = `W-${u}`;
        await new LedgerClient(follower.url, stationToken).append([signer.sign('UnitScanned', scanData(serial)).envelope, signer.sign('BootloaderWritten', bootloaderData(serial, release)).envelope]);
      }
      const cosigner = parseCosignerKey(witness.verifierKey);
      const mapKey = parseVerifierKey(mapKeyText);
      for (const instance of [follower, writer]) {
        const doc = await new LedgerClient(instance.url, adminToken).get<{ history?: { commitment: { checkpoint: string } } }>('/v1/units/W-5/provenance');
        const indexNote = doc.history?.commitment.checkpoint as string;
        expect(verifyCosignatures(indexNote, [cosigner]), instance === follower ? 'follower' : 'writer').toHaveLength(1);
        const report = verifyProvenance(doc, parseVerifierKey(init.verifierKey), nativeCrypto, { policy: parseWitnessPolicy(policyText), mapKey });
        expect(report.history?.indexWitnesses?.cosignedBy.map((c) => c.witness)).toEqual(['W1']);
      }
    } finally {
      for (const p of started) await p.kill('SIGTERM');
      await witness?.stop();
      rmSync(work, { recursive: true, force: true });
      await database.drop();
    }
  }, 120_000);
});

async function until(condition: () => boolean, timeoutMs: number, message: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(message);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function untilAsync(condition: () => Promise<boolean>, timeoutMs: number, message: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(message);
    await new Promise((r) => setTimeout(r, 250));
  }
}
