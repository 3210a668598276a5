/**
 * Ledger key rotation on the shared deployment (docs/shared-log.md §2.3): three `flashtrail serve` processes on
 * one PostgreSQL store under load; `flashtrail keys rotate` on one instance's files, copied to a second, both
 * restarted in turn (the rolling procedure, README "Rotating the ledger key"); the writer, still on the old files,
 * is stopped, a rolled instance is elected, announces the new key and is SIGKILLed right after; the third instance
 * comes back on its old files, wins the election while the others are stopped, refuses to sign (naming both key
 * ids) and releases the lock, which a rolled instance then takes. Afterwards: exactly one announcement is in the
 * log; every checkpoint ever signed verifies by the key in force at its size, and only by it; `GET
 * /v1/ledger/key` answers the new key on every instance; `flashtrail verify` pinned to the old key follows the
 * chain on a provenance document made after the rotation. The same for `keys rotate --ml-dsa` (docs/format.md §5.5.1):
 * `GET /v1/ledger/pq-key`, every checkpoint's ML-DSA-44 line by the ML-DSA-44 key in force at its size, `flashtrail
 * verify` pinned to the old ML-DSA-44 key.
 */
import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { expect, it } from 'vitest';
import { configFromEnv, initDataDir, readLedgerInfo } from '../src/server/main.ts';
import { addToken } from '../src/api/tokens.ts';
import { readSecretKeyFile } from '../src/files/key-file.ts';
import { keyIdOf, newSigner } from '../src/crypto/ed25519.ts';
import { EventSigner, type SignedEvent } from '../src/event/signer.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { lineSetupEvents } from '../src/sim/line-setup.ts';
import { simulatedRelease } from '../src/sim/simulated-station.ts';
import { parseVerifierKey, verifyNote } from '../src/tlog/note.ts';
import { parseMlDsaVerifierKey, verifyMlDsaLine } from '../src/tlog/ml-dsa-note.ts';
import { parseCheckpointBody } from '../src/tlog/checkpoint.ts';
import { MemoryTree, rootHash, verifyConsistency } from '../src/merkle/proofs.ts';
import { leafHash } from '../src/merkle/hash.ts';
import { fromBase64, fromHex, toHex } from '../src/crypto/encoding.ts';
import { nativeCrypto } from '../src/native/crypto.ts';
import { verifyReceipt } from '../src/scitt/receipt.ts';
import { bootloaderData, scanData } from './helpers/ledger-fixture.ts';
import { spawnLedger, type ServerProcess } from './helpers/server-process.ts';
import { createTestDatabase, describeWithPostgres } from './helpers/postgres.ts';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..');
const run = promisify(execFile);
const cli = (args: string[]) => run(process.execPath, [join(ROOT, 'bin', 'flashtrail.js'), ...args], { maxBuffer: 1 << 26 }).then((r) => ({ code: 0, ...r }), (e: { code: number; stdout: string; stderr: string }) => e);
const decode = (bytes: Uint8Array) => JSON.parse(new TextDecoder().decode(bytes)) as unknown;
const payloadOf = (data: Buffer) => {
  const envelope = decode(new Uint8Array(data)) as { payload: string; signatures: { keyid: string }[] };
  return { envelope, event: decode(fromBase64(envelope.payload)) as { type: string; data: Record<string, unknown> } };
};

/** Whether an instance's log says it holds the writer's lock now (its last election message is "elected"). */
function isWriter(i: ServerProcess): boolean {
  const out = i.output();
  const elected = out.lastIndexOf('elected log writer');
  const lost = Math.max(out.lastIndexOf('no longer the log writer'), out.lastIndexOf('log writer lock released'), out.lastIndexOf('giving up the log writer lock'));
  return elected > lost;
}

/** What differs between rotating the Ed25519 ledger key and the ML-DSA-44 one. */
const VARIANTS = [
  { algorithm: 'ed25519', flags: [], keyFile: 'ledger.key', keyPath: '/v1/ledger/key', refusal: 'the ledger key in force at tree size' },
  { algorithm: 'ml-dsa-44', flags: ['--ml-dsa'], keyFile: 'ledger-ml-dsa.key', keyPath: '/v1/ledger/pq-key', refusal: 'the ML-DSA-44 ledger key in force at tree size' },
] as const;

describeWithPostgres('ledger key rotation on a shared PostgreSQL log', (target) => {
  it.each(VARIANTS)('$algorithm: rolling rotation under load, one announcement, the announcer SIGKILLed, a stale instance refuses and releases the lock, every checkpoint by the key in force at its size', async (variant) => {
    const pq = variant.algorithm === 'ml-dsa-44';
    const database = await createTestDatabase(target);
    const dirs = [0, 1, 2].map((i) => mkdtempSync(join(tmpdir(), `flashtrail-rotate-pg-${i}-`)));
    const config = configFromEnv({}, { dataDir: dirs[0] as string });
    const init = initDataDir(config);
    const stationToken = addToken(config.tokensFile, { name: 'st1', role: 'station', stationId: 'ST-01' });
    const adminToken = readFileSync(init.adminTokenFile, 'utf8').trim();
    const copyKeyFiles = (from: string, to: string, files: string[]) => {
      for (const file of files) {
        copyFileSync(join(from, file), join(to, file));
        chmodSync(join(to, file), 0o600);
      }
    };
    for (const dir of dirs.slice(1)) copyKeyFiles(dirs[0] as string, dir, ['ledger.key', 'ledger-ml-dsa.key', 'ledger.json', 'unit-map.key', 'admin-keys.json', 'tokens.json']);
    const edKeyText = init.verifierKey;
    const edKey = parseVerifierKey(edKeyText);
    const edKeyId = keyIdOf(edKey.publicKey);
    // The key rotated: its verifier key (read from the ledger below, for ML-DSA-44) and key id.
    let oldKeyText = edKeyText;
    let oldKeyId = edKeyId;
    const pinnedOld = () => (pq ? ['--ledger-key', edKeyText, '--ledger-pq-key', oldKeyText] : ['--ledger-key', oldKeyText]);
    const env = { FLASHTRAIL_STORE: 'postgres', FLASHTRAIL_POSTGRES_URL: database.url, FLASHTRAIL_CHECKPOINT_EVERY_EVENTS: '25', FLASHTRAIL_CHECKPOINT_INTERVAL_S: '1' };
    // instances[k] runs on dirs[k]; a slot is null while its process is stopped.
    const instances: (ServerProcess | null)[] = [];
    const everStarted: ServerProcess[] = [];
    const start = async (k: number) => {
      const p = await spawnLedger(dirs[k] as string, env);
      instances[k] = p;
      everStarted.push(p);
      return p;
    };
    const stop = async (k: number, signal: NodeJS.Signals) => {
      const p = instances[k] as ServerProcess;
      instances[k] = null;
      await p.kill(signal);
    };
    const alive = () => instances.filter((x): x is ServerProcess => x !== null);
    const writers = () => alive().filter(isWriter);
    const db = new pg.Client({ connectionString: database.url });
    let stopLoad = false;
    const loops: Promise<void>[] = [];
    try {
      for (const k of [0, 1, 2]) await start(k);
      await db.connect();
      await until(() => writers().length === 1, 10_000, 'no instance was elected log writer');
      const admin = new EventSigner(readSecretKeyFile(init.adminKeyFile), 'admin');
      const stationKey = newSigner();
      const release = simulatedRelease('R-1', 'SENSOR-S3', '1.0.0');
      await new LedgerClient((instances[0] as ServerProcess).url, adminToken).appendAdmin(
        lineSetupEvents(admin, { stations: [{ stationId: 'ST-01', key: stationKey }], release, batch: { batchId: 'B-1', line: 'L1', plannedQuantity: 100_000 } }),
      );

      // Clients keep every checkpoint any instance serves; stations append through whichever instances run,
      // a failed request retried unchanged on another.
      const notes = new Set<string>();
      loops.push(
        (async () => {
          while (!stopLoad) {
            for (const i of alive()) {
              const note = await new LedgerClient(i.url, stationToken).getText('/v1/checkpoint').catch(() => null);
              if (note) notes.add(note);
            }
            await new Promise((r) => setTimeout(r, 100));
          }
        })(),
      );
      const acknowledged: SignedEvent[] = [];
      const station = async (w: number) => {
        const signer = new EventSigner(stationKey, 'ST-01');
        for (let u = 0; !stopLoad; u++) {
          const serial = `P${w}-${u}`;
          const batch = [signer.sign('UnitScanned', scanData(serial)), signer.sign('BootloaderWritten', bootloaderData(serial, release))];
          for (let attempt = 0; !stopLoad; attempt++) {
            const up = alive();
            const via = up[(w + u + attempt) % Math.max(1, up.length)];
            try {
              if (!via) throw new Error('no instance is running');
              await new LedgerClient(via.url, stationToken).append(batch.map((e) => e.envelope));
              acknowledged.push(...batch);
              break;
            } catch {
              await new Promise((r) => setTimeout(r, 50));
            }
          }
        }
      };
      for (const w of [0, 1, 2, 3]) loops.push(station(w));
      const ackedAtLeast = async (n: number, message: string) => until(() => acknowledged.length >= n, 60_000, message);
      await ackedAtLeast(100, 'the load did not reach 100 events');
      if (pq) {
        oldKeyText = (await new LedgerClient((instances[0] as ServerProcess).url, stationToken).getText(variant.keyPath)).trim();
        oldKeyId = keyIdOf(parseMlDsaVerifierKey(oldKeyText).publicKey);
      }

      // The writer stays on the old files for now; the two others are rolled, one after the other.
      const stale = instances.findIndex((x) => x !== null && isWriter(x));
      const [first, second] = [0, 1, 2].filter((k) => k !== stale) as [number, number];
      await stop(first, 'SIGTERM');
      const rotated = await cli(['keys', 'rotate', ...variant.flags, '--data', dirs[first] as string]);
      expect(rotated.code, rotated.stderr).toBe(0);
      const info = readLedgerInfo(join(dirs[first] as string, 'ledger.json'));
      const newKeyId = (pq ? info.mlDsaKeyId : info.keyId) as string;
      expect(pq ? info.mlDsaRotatedFrom : info.rotatedFrom).toBe(oldKeyId);
      await start(first);
      await stop(second, 'SIGTERM');
      copyKeyFiles(dirs[first] as string, dirs[second] as string, [variant.keyFile, `${variant.keyFile}.${oldKeyId}`, 'ledger.json']);
      await start(second);
      // Rolled but not the writer: the log still runs on the old key, and what a rolled instance signs over an
      // old-key checkpoint is signed by the old key (it holds it as rotatedFrom).
      const before = acknowledged.length;
      await ackedAtLeast(before + 50, 'the load did not go on through the rolled instances');
      const lastBefore = (acknowledged.at(-1) as SignedEvent).stream.slice('unit-'.length);
      const beforeDoc = await new LedgerClient((instances[first] as ServerProcess).url, adminToken).get<unknown>(`/v1/units/${encodeURIComponent(lastBefore)}/provenance`);
      const beforeFile = join(dirs[first] as string, 'before-rotation.provenance.json');
      writeFileSync(beforeFile, JSON.stringify(beforeDoc));
      const beforeVerified = await cli(['verify', beforeFile, ...pinnedOld(), '--json']);
      expect(beforeVerified.code, beforeVerified.stdout + beforeVerified.stderr).toBe(0);
      // Its SCITT receipt (RFC 9942) is by the checkpoint's key too: the old Ed25519 key, which its key set lists.
      const receiptOf = (i: ServerProcess, index: number) => fetch(`${i.url}/entries/${index}`, { headers: { authorization: `Bearer ${stationToken}` } });
      const firstEntry = (await db.query<{ data: Buffer }>('SELECT data FROM flashtrail.events ORDER BY position LIMIT 1')).rows[0] as { data: Buffer };
      const receipt = await receiptOf(instances[first] as ServerProcess, 0);
      expect(receipt.status).toBe(200);
      expect(verifyReceipt(new Uint8Array(await receipt.arrayBuffer()), new Uint8Array(firstEntry.data), { kid: fromHex(edKeyId), alg: -8, publicKey: edKey.publicKey }, nativeCrypto).index).toBe(0);
      const rotationsNow = async () => (await db.query("SELECT count(*)::int AS n FROM flashtrail.events WHERE type = 'LedgerKeyRotated'")).rows[0].n as number;
      expect(await rotationsNow()).toBe(0);

      // The old writer is stopped (its turn to be rolled): a rolled instance is elected and announces.
      await stop(stale, 'SIGTERM');
      await until(() => writers().length === 1, 15_000, 'no rolled instance took over as log writer');
      await untilAsync(async () => (await rotationsNow()) === 1, 15_000, 'the elected rolled instance did not announce the new key');
      const announcer = instances.findIndex((x) => x !== null && isWriter(x));
      const other = announcer === first ? second : first;
      await stop(announcer, 'SIGKILL');
      await until(() => writers().length === 1, 15_000, 'the other rolled instance did not take over');
      const afterKill = acknowledged.length;
      const sizeOf = (note: string) => Number(note.split('\n')[1]);
      const newestSeen = () => Math.max(0, ...[...notes].map(sizeOf));
      await until(() => acknowledged.length >= afterKill + 50 && newestSeen() > afterKill, 60_000, 'no checkpoint covered the load after the announcer was killed');

      // The operator forgot the third instance: it comes back on its old files, and wins the election while
      // the rolled one is stopped briefly. It must not sign, must say why, and must let the lock go.
      const staleProcess = await start(stale);
      await stop(other, 'SIGTERM');
      await until(() => /giving up the log writer lock for good/.test(staleProcess.output()), 30_000, `the stale instance did not refuse:\n${staleProcess.output().slice(-3000)}`);
      const refusal = staleProcess.output();
      expect(refusal).toContain(variant.refusal);
      expect(refusal).toContain(newKeyId);
      expect(refusal).toContain(oldKeyId);
      expect(isWriter(staleProcess)).toBe(false);
      // What it cannot sign it refuses as a problem, naming both keys; its key answer is the log's, not its own.
      const unsigned = await fetch(`${staleProcess.url}/v1/units/${encodeURIComponent(lastBefore)}/provenance`, { headers: { authorization: `Bearer ${adminToken}` } });
      const problem = (await unsigned.json()) as { code: string; detail: string };
      expect(problem.code).toBe('UNAVAILABLE');
      expect(problem.detail).toContain(newKeyId);
      expect(problem.detail).toContain(oldKeyId);
      expect((await receiptOf(staleProcess, 0)).status).toBe(503);
      // The lock it released is taken by the rolled instances as they come back.
      await start(other);
      await start(announcer);
      await until(() => writers().length === 1 && !isWriter(staleProcess), 15_000, 'no rolled instance took the lock the stale one released');
      const afterStale = acknowledged.length;
      await until(() => acknowledged.length >= afterStale + 50 && newestSeen() > afterStale, 60_000, 'no checkpoint covered the load after the stale instance gave up');
      stopLoad = true;
      await Promise.all(loops.splice(0));

      // GET /v1/ledger/key (/pq-key): the key in force at the newest checkpoint, on every instance (the stale one too).
      const announced = await db.query<{ data: Buffer }>("SELECT data FROM flashtrail.events WHERE type = 'LedgerKeyRotated'");
      const newKeyText = payloadOf((announced.rows[0] as { data: Buffer }).data).event.data.verifierKey as string;
      for (const i of alive()) expect((await new LedgerClient(i.url, stationToken).getText(variant.keyPath)).trim(), i.url).toBe(newKeyText);
      for (const i of alive()) expect((await new LedgerClient(i.url, stationToken).getText('/v1/ledger/key')).trim(), i.url).toBe(pq ? edKeyText : newKeyText);
      const newPublicKey = pq ? parseMlDsaVerifierKey(newKeyText).publicKey : parseVerifierKey(newKeyText).publicKey;
      expect(keyIdOf(newPublicKey)).toBe(newKeyId);
      // Every instance forgot the replaced key once the rotation was logged (the stale one never had it).
      for (const k of [first, second]) {
        const after = readLedgerInfo(join(dirs[k] as string, 'ledger.json'));
        expect(pq ? after.mlDsaRotatedFrom : after.rotatedFrom).toBeUndefined();
      }

      // A provenance document made after the rotation, verified by the CLI pinned to the old key.
      const writer = writers()[0] as ServerProcess;
      const follower = alive().find((x) => x !== writer && x !== staleProcess) as ServerProcess;
      const lastSerial = (acknowledged.at(-1) as SignedEvent).stream.slice('unit-'.length);
      const doc = await new LedgerClient(follower.url, adminToken).get<unknown>(`/v1/units/${encodeURIComponent(lastSerial)}/provenance`);
      const docFile = join(dirs[first] as string, 'after-rotation.provenance.json');
      writeFileSync(docFile, JSON.stringify(doc));
      const verified = await cli(['verify', docFile, ...pinnedOld(), '--json']);
      expect(verified.code, verified.stdout + verified.stderr).toBe(0);
      expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true });
      expect(verified.stdout).toContain(newKeyId.slice(0, 16));

      // Exactly one announcement, signed by the key it replaces; its leaf index is its place in $all.
      const events = await db.query<{ data: Buffer; type: string }>('SELECT data, type FROM flashtrail.events ORDER BY position');
      const rotationLeaves = events.rows.flatMap((r, index) => (r.type === 'LedgerKeyRotated' ? [index] : []));
      expect(rotationLeaves).toHaveLength(1);
      const rotationLeaf = rotationLeaves[0] as number;
      // The Ed25519 link is signed by the key it replaces; the ML-DSA-44 one's envelope by the Ed25519 key in force
      // (its post-quantum link, previousKeySignature, `flashtrail verify` checked above).
      expect(payloadOf((events.rows[rotationLeaf] as { data: Buffer }).data).envelope.signatures[0]?.keyid).toBe(edKeyId);
      const tree = new MemoryTree(nativeCrypto);
      for (const e of events.rows) tree.append(leafHash(new Uint8Array(e.data), nativeCrypto));

      // Every checkpoint on record (seen by clients, in the log's table, as CheckpointIssued) verifies by the key
      // in force at its size, and not by the other; each CheckpointIssued record by the key in force at its leaf.
      for (const r of (await db.query<{ note: string }>('SELECT note FROM flashtrail.merkle_checkpoints')).rows) notes.add(r.note);
      for (const [index, r] of events.rows.entries()) {
        if (r.type !== 'CheckpointIssued') continue;
        const { envelope, event } = payloadOf(r.data);
        notes.add(event.data.note as string);
        expect(envelope.signatures[0]?.keyid, `CheckpointIssued at leaf ${index}`).toBe(!pq && index > rotationLeaf ? newKeyId : edKeyId);
      }
      const checkpoints = [...notes].map((note) => {
        const size = sizeOf(note);
        const [inForce, replaced] = size > rotationLeaf ? [newKeyText, oldKeyText] : [oldKeyText, newKeyText];
        if (pq) {
          expect(verifyMlDsaLine(note, parseMlDsaVerifierKey(inForce), nativeCrypto), `checkpoint ${size}`).toMatchObject({ found: true, valid: true });
          expect(verifyMlDsaLine(note, parseMlDsaVerifierKey(replaced), nativeCrypto), `checkpoint ${size} by the other key`).toEqual({ found: false });
          return parseCheckpointBody(verifyNote(note, [edKey], nativeCrypto).text);
        }
        expect(verifyNote(note, [parseVerifierKey(inForce)], nativeCrypto).verifiedBy, `checkpoint ${size}`).toHaveLength(1);
        expect(() => verifyNote(note, [parseVerifierKey(replaced)], nativeCrypto), `checkpoint ${size} by the other key`).toThrow();
        return parseCheckpointBody(verifyNote(note, [parseVerifierKey(inForce)], nativeCrypto).text);
      });
      const sizes = [...new Set(checkpoints.map((c) => c.size))].sort((a, b) => a - b);
      expect(sizes.some((s) => s <= rotationLeaf)).toBe(true);
      expect(sizes.some((s) => s > rotationLeaf)).toBe(true);
      // One root per size, the events' own: no fork across the rotation; each consistent with the next.
      for (const c of checkpoints) expect(toHex(c.root), `checkpoint ${c.size}`).toBe(toHex(rootHash(tree, c.size, nativeCrypto)));
      const auditor = new LedgerClient(follower.url, adminToken);
      for (let k = 1; k < sizes.length; k++) {
        const [from, to] = [sizes[k - 1] as number, sizes[k] as number];
        const proof = await auditor.get<{ proof: string[] }>(`/v1/proofs/consistency?from=${from}&to=${to}`);
        const rootAt = (size: number) => (checkpoints.find((c) => c.size === size) as { root: Uint8Array }).root;
        expect(verifyConsistency(from, to, rootAt(from), rootAt(to), proof.proof.map(fromBase64), nativeCrypto)).toBe(true);
      }
      console.log(`${variant.algorithm}: ${acknowledged.length} events acknowledged; rotation at leaf ${rotationLeaf}; ${sizes.length} checkpoint sizes (${sizes.filter((s) => s <= rotationLeaf).length} by the old key), all consistent`);
    } finally {
      stopLoad = true;
      await Promise.allSettled(loops);
      await db.end().catch(() => undefined);
      for (const p of everStarted) await p.kill('SIGTERM');
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
      await database.drop();
    }
  }, 240_000);
});

async function until(condition: () => boolean, timeoutMs: number, message: string): Promise<void> {
  await untilAsync(() => Promise.resolve(condition()), timeoutMs, message);
}

async function untilAsync(condition: () => Promise<boolean>, timeoutMs: number, message: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(message);
    await new Promise((r) => setTimeout(r, 50));
  }
}
