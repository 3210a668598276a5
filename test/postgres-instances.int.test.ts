/**
 * Three `flashtrail serve` processes on one PostgreSQL store, under concurrent load: any instance accepts
 * appends, exactly one (the elected log writer) extends the shared Merkle log and signs checkpoints. The
 * writer is killed with SIGKILL mid-load; another instance takes over within seconds, no acknowledged event
 * is lost, and every checkpoint ever signed (seen by clients, recorded in the log, recorded as
 * CheckpointIssued) is consistent with every other.
 */
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
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
import { parseVerifierKey, verifyNote } from '../src/tlog/note.ts';
import { parseCheckpointBody } from '../src/tlog/checkpoint.ts';
import { verifyConsistency } from '../src/merkle/proofs.ts';
import { MemoryTree, rootHash } from '../src/merkle/proofs.ts';
import { leafHash } from '../src/merkle/hash.ts';
import { fromBase64, toHex } from '../src/crypto/encoding.ts';
import { nativeCrypto } from '../src/native/crypto.ts';
import { bootloaderData, scanData } from './helpers/ledger-fixture.ts';
import { spawnLedger, type ServerProcess } from './helpers/server-process.ts';
import { verifiedHistory } from './helpers/provenance.ts';
import { createTestDatabase, describeWithPostgres } from './helpers/postgres.ts';


describeWithPostgres('three API instances on one PostgreSQL store', (target) => {
  it('SIGKILL of the log writer under load: another takes over within seconds, nothing acknowledged is lost, no inconsistent checkpoints', async () => {
    const database = await createTestDatabase(target);
    const dirs = [0, 1, 2].map((i) => mkdtempSync(join(tmpdir(), `flashtrail-instance-${i}-`)));
    const config = configFromEnv({}, { dataDir: dirs[0] as string });
    const init = initDataDir(config);
    const stationToken = addToken(config.tokensFile, { name: 'st1', role: 'station', stationId: 'ST-01' });
    const adminToken = readFileSync(init.adminTokenFile, 'utf8').trim();
    // Every instance holds the same ledger key, trust list and tokens; each keeps its own read models.
    for (const dir of dirs.slice(1)) {
      for (const file of ['ledger.key', 'ledger-ml-dsa.key', 'ledger.json', 'unit-map.key', 'admin-keys.json', 'tokens.json']) {
        copyFileSync(join(dirs[0] as string, file), join(dir, file));
        chmodSync(join(dir, file), 0o600);
      }
    }
    const env = { FLASHTRAIL_STORE: 'postgres', FLASHTRAIL_POSTGRES_URL: database.url, FLASHTRAIL_CHECKPOINT_EVERY_EVENTS: '25', FLASHTRAIL_CHECKPOINT_INTERVAL_S: '1' };
    const instances: ServerProcess[] = [];
    const killed = new Set<ServerProcess>();
    const db = new pg.Client({ connectionString: database.url });
    try {
      for (const dir of dirs) instances.push(await spawnLedger(dir, env));
      await db.connect();
      const leaderNow = () => instances.filter((i) => !killed.has(i) && (i.output().match(/elected log writer/g)?.length ?? 0) > 0 && !/no longer the log writer/.test(i.output()));
      await until(() => leaderNow().length === 1, 10_000, 'no instance was elected log writer');

      const admin = new EventSigner(readSecretKeyFile(init.adminKeyFile), 'admin');
      const key = newSigner();
      const release = simulatedRelease('R-1', 'SENSOR-S3', '1.0.0');
      await new LedgerClient((instances[1] as ServerProcess).url, adminToken).appendAdmin(
        lineSetupEvents(admin, { stations: [{ stationId: 'ST-01', key }], release, batch: { batchId: 'B-1', line: 'L1', plannedQuantity: 100_000 } }),
      );

      // Clients watch the checkpoint every instance serves; each note seen is evidence.
      const notes = new Set<string>();
      let stop = false;
      const watcher = (async () => {
        while (!stop) {
          for (const i of instances.filter((x) => !killed.has(x))) {
            const note = await new LedgerClient(i.url, stationToken).getText('/v1/checkpoint').catch(() => null);
            if (note) notes.add(note);
          }
          await new Promise((r) => setTimeout(r, 100));
        }
      })();

      // Six stations append unit flows through all three instances; a request that fails (its instance was
      // killed) is retried unchanged on another instance: an exact retry, answered without a second copy.
      const acknowledged: SignedEvent[] = [];
      let retried = 0;
      const writer = async (w: number) => {
        const signer = new EventSigner(key, 'ST-01');
        for (let u = 0; !stop; u++) {
          const serial = `P${w}-${u}`;
          const steps: SignedEvent[][] = [
            [signer.sign('UnitScanned', scanData(serial)), signer.sign('BootloaderWritten', bootloaderData(serial, release))],
            [signer.sign('StepFailed', { serial, step: 'app_verify', errorCode: 'BOOT_LOG_TIMEOUT', message: 'no boot log in 10 s', attempt: 1 })],
          ];
          for (const [s, batch] of steps.entries()) {
            for (let attempt = 0; ; attempt++) {
              const alive = instances.filter((x) => !killed.has(x));
              const via = alive[(w + u + s + attempt) % alive.length] as ServerProcess;
              try {
                await new LedgerClient(via.url, stationToken).append(batch.map((e) => e.envelope));
                acknowledged.push(...batch);
                if (attempt > 0) retried++;
                break;
              } catch (error) {
                if (attempt > 20) throw error;
                await new Promise((r) => setTimeout(r, 50));
              }
            }
          }
        }
      };
      const writers = [0, 1, 2, 3, 4, 5].map(writer);
      const loadStarted = Date.now();
      await until(() => acknowledged.length >= 200, 60_000, 'the load did not reach 200 events');
      console.log(`200 events in ${Date.now() - loadStarted} ms`);

      const [leader] = leaderNow();
      expect(leader).toBeDefined();
      const ackedBeforeKill = acknowledged.length;
      const killedAt = Date.now();
      killed.add(leader as ServerProcess);
      await (leader as ServerProcess).kill('SIGKILL');

      await until(() => leaderNow().length === 1, 15_000, 'no instance took over as log writer');
      const takeoverMs = Date.now() - killedAt;
      expect(takeoverMs).toBeLessThan(10_000);
      const [successor] = leaderNow();
      expect(successor).not.toBe(leader);

      // The load goes on through the two survivors, and the new writer keeps signing: the load stops only once a
      // client has seen a checkpoint the successor signed over events acknowledged after the kill (how many
      // checkpoints that takes depends on the machine's speed, so the test waits for the evidence, not a count).
      const sizeOf = (note: string) => Number(note.split('\n')[1]);
      const newestSeen = () => Math.max(0, ...[...notes].map(sizeOf));
      await until(() => acknowledged.length >= ackedBeforeKill + 200 && newestSeen() > ackedBeforeKill + 10, 60_000, 'the load did not go on after the kill, or no checkpoint covered it');
      console.log(`400 events after ${Date.now() - loadStarted} ms`);
      stop = true;
      await Promise.all(writers);
      await watcher;
      console.log(`stopped after ${Date.now() - loadStarted} ms`);

      const survivors = instances.filter((x) => !killed.has(x));
      const follower = survivors.find((x) => x !== successor) as ServerProcess;
      const auditor = new LedgerClient(follower.url, adminToken);
      // A provenance document asked of the follower needs a checkpoint only the writer can sign.
      const lastSerial = (acknowledged[acknowledged.length - 1] as SignedEvent).stream.slice('unit-'.length);
      const verifierKey = init.verifierKey;
      expect((await verifiedHistory(auditor, lastSerial, verifierKey)).events).toBeGreaterThan(0);
      const final = await auditor.getText('/v1/checkpoint');
      notes.add(final);

      // Nothing acknowledged is lost, nothing is doubled by the retries.
      const { rows } = await db.query<{ id: string; n: string }>(`SELECT id, count(*) AS n FROM flashtrail.events GROUP BY id`);
      const stored = new Map(rows.map((r) => [r.id, Number(r.n)]));
      for (const e of acknowledged) expect(stored.get(e.event.id), `acknowledged ${e.event.type} of ${e.stream}`).toBe(1);

      // The shared Merkle log has exactly one leaf per event, in $all order: recomputed here from the events.
      const events = await db.query<{ data: Buffer }>('SELECT data FROM flashtrail.events ORDER BY position');
      const tree = new MemoryTree(nativeCrypto);
      for (const e of events.rows) tree.append(leafHash(new Uint8Array(e.data), nativeCrypto));

      // Every checkpoint on record: seen by clients, in the log's table, and as CheckpointIssued events.
      const recorded = await db.query<{ note: string }>('SELECT note FROM flashtrail.merkle_checkpoints');
      for (const r of recorded.rows) notes.add(r.note);
      const issued = await db.query<{ data: Buffer }>("SELECT data FROM flashtrail.events WHERE type = 'CheckpointIssued'");
      for (const r of issued.rows) {
        const envelope = JSON.parse(new TextDecoder().decode(r.data)) as { payload: string };
        notes.add((JSON.parse(new TextDecoder().decode(fromBase64(envelope.payload))) as { data: { note: string } }).data.note);
      }
      const key0 = parseVerifierKey(verifierKey);
      const checkpoints = [...notes].map((note) => {
        const { text, verifiedBy } = verifyNote(note, [key0], nativeCrypto);
        expect(verifiedBy).toHaveLength(1);
        return parseCheckpointBody(text);
      });
      // Checkpoints at two sizes at least, so that consistency between them is checked below.
      expect(new Set(checkpoints.map((c) => c.size)).size).toBeGreaterThanOrEqual(2);
      const sizes = [...new Set(checkpoints.map((c) => c.size))].sort((a, b) => a - b);
      const largest = sizes[sizes.length - 1] as number;
      expect(largest).toBeLessThanOrEqual(tree.size);
      // One root per size, each the root of the events' own tree at that size: no fork was ever signed.
      for (const c of checkpoints) expect(toHex(c.root), `checkpoint ${c.size}`).toBe(toHex(rootHash(tree, c.size, nativeCrypto)));
      // And the ledger proves each one consistent with the next, as a monitor would check.
      for (let k = 1; k < sizes.length; k++) {
        const [from, to] = [sizes[k - 1] as number, sizes[k] as number];
        const proof = await auditor.get<{ proof: string[] }>(`/v1/proofs/consistency?from=${from}&to=${to}`);
        const rootAt = (size: number) => (checkpoints.find((c) => c.size === size) as { root: Uint8Array }).root;
        expect(verifyConsistency(from, to, rootAt(from), rootAt(to), proof.proof.map(fromBase64), nativeCrypto)).toBe(true);
      }
      // Checkpoints were signed before and after the kill (the successor signed too).
      expect(sizes.some((s) => s > ackedBeforeKill + 10)).toBe(true);
      console.log(`checked after ${Date.now() - loadStarted} ms`);
      console.log(`log writer taken over ${takeoverMs} ms after SIGKILL; ${acknowledged.length} events acknowledged (${retried} after a retry on another instance), ${sizes.length} checkpoint sizes, all consistent`);
    } finally {
      await db.end().catch(() => undefined);
      for (const i of instances) if (!killed.has(i)) await i.kill('SIGTERM');
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
      await database.drop();
    }
  }, 180_000);
});

async function until(condition: () => boolean, timeoutMs: number, message: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(message);
    await new Promise((r) => setTimeout(r, 50));
  }
}

