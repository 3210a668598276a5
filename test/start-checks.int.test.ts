/**
 * An insider with the data directory (append-only triggers dropped, rows of events.sqlite edited, deleted or
 * inserted, merkle.sqlite deleted) is caught at start: `flashtrail serve`, as a real process, refuses to start
 * and names the first diverging leaf and $all position, before it serves anything.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestLedger } from './helpers/ledger-fixture.ts';
import { SimulatedStation } from '../src/sim/simulated-station.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { EventSigner } from '../src/event/signer.ts';
import { oneLineFailure, runCli, type CliResult } from './helpers/cli.ts';
import { spawnLedger } from './helpers/server-process.ts';
import { parseCheckpointBody } from '../src/tlog/checkpoint.ts';
import { parseNote, parseVerifierKey } from '../src/tlog/note.ts';
import { verifyCheckpointConsistency } from '../src/verify/index.ts';
import { nativeCrypto } from '../src/native/crypto.ts';
import { fromBase64 } from '../src/crypto/encoding.ts';
import { decodeTrustedEnvelope } from '../src/event/codec.ts';
import { LEDGER_CHECKPOINT_STREAM } from '../src/event/streams.ts';

const root = mkdtempSync(join(tmpdir(), 'flashtrail-start-checks-'));
const baseline = join(root, 'baseline');
let signedNote = '';
let signedSize = 0;
/** Every checkpoint signed, smallest first: a fresh ledger also signs its first one within a second of starting. */
let signedSizes: number[] = [];
let verifierKey = '';
let copies = 0;

beforeAll(async () => {
  const t = await startTestLedger({ dataDir: baseline });
  try {
    const station = new SimulatedStation(new LedgerClient(t.url, t.tokens.station1), new EventSigner(t.stationKeys['ST-01'], 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId: t.batchId, hardwareRevision: 'rev-C' }, t.release);
    await station.flash('S-1', 'pass');
    signedNote = await t.running.checkpointer.issue();
    signedSize = parseCheckpointBody(parseNote(signedNote).text).size;
    verifierKey = t.running.identity.verifierKey;
    // Events after the checkpoint, logged as leaves but under no signed checkpoint yet.
    await station.flash('S-2', 'pass');
    await t.running.log.catchUp();
    signedSizes = (await t.running.store.readStream(LEDGER_CHECKPOINT_STREAM)).map((e) => (decodeTrustedEnvelope(e.data).event.data as { size: number }).size);
  } finally {
    await t.stop();
  }
}, 60_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

function copy(): string {
  const dir = join(root, `copy-${++copies}`);
  cpSync(baseline, dir, { recursive: true });
  return dir;
}

/** What an insider with the database file can do once the append-only triggers are dropped. */
function tamper(dir: string, sql: (db: Database.Database) => void): void {
  const db = new Database(join(dir, 'events.sqlite'));
  db.exec('DROP TRIGGER events_append_only_update; DROP TRIGGER events_append_only_delete;');
  sql(db);
  db.close();
}

const positionOfLeaf = (dir: string, leaf: number): number => {
  const db = new Database(join(dir, 'merkle.sqlite'), { readonly: true });
  const row = db.prepare('SELECT position FROM merkle_leaves WHERE idx = ?').get(leaf) as { position: number };
  db.close();
  return row.position;
};

const serve = (dir: string, env: Record<string, string> = {}) => runCli(['serve', '--data', dir, '--port', '0'], { env: { FLASHTRAIL_LOG_LEVEL: 'silent', ...env }, timeoutMs: 20_000 });

function expectRefusal(r: CliResult, message: RegExp): void {
  const f = oneLineFailure(r);
  expect(f.stackFrames, r.stderr).toBe(false);
  expect(f.lines, r.stderr).toBe(1);
  expect(f.line).toMatch(/^flashtrail: refusing to start: /);
  expect(f.line).toMatch(message);
  expect(f.code).toBe(1);
}

describe('the newest leaves against the event store', () => {
  it('an edited event: refused, naming the leaf and the position', async () => {
    const dir = copy();
    const leaf = signedSize + 2;
    const position = positionOfLeaf(dir, leaf);
    tamper(dir, (db) => db.prepare("UPDATE events SET data = data || CAST(' ' AS BLOB) WHERE position = ?").run(position));
    expectRefusal(await serve(dir), new RegExp(`the event at \\$all position ${position} \\(unit-S-2, revision \\d+\\) is not the one leaf ${leaf} of the Merkle log hashed \\(changed\\)`));
  });

  it('a deleted event: refused, naming the leaf and the position', async () => {
    const dir = copy();
    const leaf = signedSize + 3;
    const position = positionOfLeaf(dir, leaf);
    tamper(dir, (db) => db.prepare('DELETE FROM events WHERE position = ?').run(position));
    expectRefusal(await serve(dir), new RegExp(`leaf ${leaf} of the Merkle log is the event at \\$all position ${position}, which the event store no longer holds \\(deleted`));
  });

  it('the newest events deleted: refused', async () => {
    const dir = copy();
    tamper(dir, (db) => db.prepare('DELETE FROM events WHERE position > (SELECT MAX(position) - 3 FROM events)').run());
    expectRefusal(await serve(dir), /which the event store no longer holds \(deleted\)/);
  });

  it('an event inserted among logged ones (later events moved up to make room): refused at the first displaced leaf', async () => {
    const dir = copy();
    const leaf = signedSize + 1;
    const position = positionOfLeaf(dir, leaf);
    tamper(dir, (db) => {
      db.prepare('UPDATE events SET position = position + 1000 WHERE position >= ?').run(position);
      db.prepare("INSERT INTO events (position, stream, revision, id, type, data, recorded_at) SELECT ?, stream, revision + 100, 'inserted-' || id, type, data, recorded_at FROM events WHERE position = ?").run(position, positionOfLeaf(dir, leaf - 1));
    });
    expectRefusal(await serve(dir), new RegExp(`the event at \\$all position ${position} \\(.*\\) is not the one leaf ${leaf} of the Merkle log hashed \\(changed\\)`));
  });

  it('an edit older than the compared leaves goes unnoticed at start while merkle.sqlite is intact; FLASHTRAIL_START_CHECK_LEAVES reaches it', async () => {
    const dir = copy();
    const position = positionOfLeaf(dir, 2);
    tamper(dir, (db) => db.prepare("UPDATE events SET data = data || CAST(' ' AS BLOB) WHERE position = ?").run(position));
    const server = await spawnLedger(dir, { FLASHTRAIL_START_CHECK_LEAVES: '3' });
    await server.kill('SIGTERM');
    expectRefusal(await serve(dir, { FLASHTRAIL_START_CHECK_LEAVES: '1000000000' }), new RegExp(`the event at \\$all position ${position} .* leaf 2 of the Merkle log hashed \\(changed\\)`));
  });
});

describe('the newest signed checkpoint against the Merkle log', () => {
  it('merkle.sqlite deleted: the log is re-derived, reproduces the signed checkpoint, and the next one is consistent with it', async () => {
    const dir = copy();
    rmSync(join(dir, 'merkle.sqlite'));
    const server = await spawnLedger(dir);
    try {
      expect(server.output()).toMatch(new RegExp(`the Merkle log was empty or missing: re-derived from the event store, it reproduces signed checkpoint ${signedSize}`));
      const token = readFileSync(join(dir, 'admin.token'), 'utf8').trim();
      const next = await (await fetch(`${server.url}/v1/checkpoint`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })).text();
      const to = parseCheckpointBody(parseNote(next).text).size;
      expect(to).toBeGreaterThan(signedSize);
      const proof = (await (await fetch(`${server.url}/v1/proofs/consistency?from=${signedSize}&to=${to}`, { headers: { authorization: `Bearer ${token}` } })).json()) as { proof: string[] };
      expect(verifyCheckpointConsistency(signedNote, next, proof.proof.map(fromBase64), parseVerifierKey(verifierKey), nativeCrypto).to.size).toBe(to);
    } finally {
      await server.kill('SIGTERM');
    }
  });

  it('merkle.sqlite deleted and an event under the checkpoint edited: refused, with the range the first diverging leaf lies in', async () => {
    const dir = copy();
    rmSync(join(dir, 'merkle.sqlite'));
    tamper(dir, (db) => db.prepare("UPDATE events SET data = data || CAST(' ' AS BLOB) WHERE position = (SELECT position FROM events ORDER BY position LIMIT 1 OFFSET 4)").run());
    // The older signed checkpoints narrow the range: between the last one that still holds and the first that does not.
    const below = Math.max(0, ...signedSizes.filter((s) => s <= 4));
    const above = signedSizes.find((s) => s > 4) as number;
    expectRefusal(await serve(dir), new RegExp(`the Merkle log of the event store no longer has the root of signed checkpoint ${signedSize} \\([0-9a-f]{64}\\); the first diverging leaf lies in \\[${below}, ${above}\\)`));
  });

  it('merkle.sqlite deleted and events under the checkpoint deleted: refused', async () => {
    const dir = copy();
    rmSync(join(dir, 'merkle.sqlite'));
    tamper(dir, (db) => db.prepare("DELETE FROM events WHERE stream = 'unit-S-1'").run());
    expectRefusal(await serve(dir), new RegExp(`signed checkpoint ${signedSize}`));
  });
});

describe('the read model is disposable', () => {
  it.each([
    ['garbage', () => Buffer.from('this is not an SQLite database, but it is where the read model was\n'.repeat(100))],
    ['a truncated copy', (file: string) => readFileSync(file).subarray(0, 3000)],
  ])('a damaged readmodel.sqlite (%s) is rebuilt from the event store at start, naming the file', async (_name, damaged) => {
    const dir = copy();
    const file = join(dir, 'readmodel.sqlite');
    writeFileSync(file, damaged(file), { mode: 0o600 });
    const server = await spawnLedger(dir);
    try {
      expect(server.output()).toMatch(new RegExp(`"msg":"${file.replaceAll('/', '\\/')} is damaged \\(.*\\): it is derived data, so it was deleted and is being rebuilt from the event store"`));
      const token = readFileSync(join(dir, 'admin.token'), 'utf8').trim();
      const unit = (await (await fetch(`${server.url}/v1/units/S-2`, { headers: { authorization: `Bearer ${token}` } })).json()) as { status: string };
      expect(unit.status).toBe('shipped');
    } finally {
      await server.kill('SIGTERM');
    }
  });
});
