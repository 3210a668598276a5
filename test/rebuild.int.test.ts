/**
 * flashtrail projections rebuild over a real data directory left by a real ledger server: it uses the
 * configured store, accepts a Merkle log that merely lagged behind the event log, and refuses (keeping the
 * old file, exit 1) when the event log no longer reproduces a signed checkpoint, naming the first leaf.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestLedger } from './helpers/ledger-fixture.ts';
import { configFromEnv, type LedgerConfig } from '../src/server/main.ts';
import { rebuildDerivedFiles } from '../src/server/rebuild.ts';
import { SqliteEventStore } from '../src/store/sqlite.ts';
import { MerkleLog } from '../src/read/merkle-log.ts';
import { SimulatedStation } from '../src/sim/simulated-station.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { EventSigner } from '../src/event/signer.ts';
import { parseCheckpointBody } from '../src/tlog/checkpoint.ts';
import { parseNote } from '../src/tlog/note.ts';
import { LEDGER_CHECKPOINT_STREAM } from '../src/event/streams.ts';
import { decodeTrustedEnvelope } from '../src/event/codec.ts';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..');
const run = promisify(execFile);
const root = mkdtempSync(join(tmpdir(), 'flashtrail-rebuild-'));
/** The data directory every test copies: a ledger that signed a checkpoint, then took more events. */
const original = join(root, 'original');
let signedSize = 0;
/** Every checkpoint signed, smallest first: a fresh ledger also signs its first one within a second of starting. */
let signedSizes: number[] = [];
/** The smallest signed checkpoint that covers `leaf`: the one a rebuild names when that leaf changed. */
const firstCovering = (leaf: number) => signedSizes.find((s) => s > leaf) as number;
let copies = 0;

beforeAll(async () => {
  const t = await startTestLedger({ dataDir: original });
  try {
    const station = new SimulatedStation(new LedgerClient(t.url, t.tokens.station1), new EventSigner(t.stationKeys['ST-01'], 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId: t.batchId, hardwareRevision: 'rev-C' }, t.release);
    await station.flash('R-1', 'pass');
    signedSize = parseCheckpointBody(parseNote(await t.running.checkpointer.issue()).text).size;
    // Events after the checkpoint: the server's Merkle log only catches up when asked, so it lags behind.
    await station.flash('R-2', 'pass');
    signedSizes = (await t.running.store.readStream(LEDGER_CHECKPOINT_STREAM)).map((e) => (decodeTrustedEnvelope(e.data).event.data as { size: number }).size);
  } finally {
    await t.stop();
  }
}, 60_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

function copyOfLedger(): LedgerConfig {
  const dataDir = join(root, `copy-${++copies}`);
  cpSync(original, dataDir, { recursive: true });
  return configFromEnv({}, { dataDir });
}

const digestOf = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const files = (config: LedgerConfig) => ({ events: join(config.dataDir, 'events.sqlite'), merkle: join(config.dataDir, 'merkle.sqlite'), readModel: join(config.dataDir, 'readmodel.sqlite') });

async function logState(config: LedgerConfig): Promise<{ size: number; root: string }> {
  const store = new SqliteEventStore(files(config).events);
  const log = new MerkleLog(store, files(config).merkle);
  const state = { size: log.size, root: Buffer.from(log.root()).toString('hex') };
  log.close();
  await store.close();
  return state;
}

/** What an insider with the database file can do once the append-only triggers are dropped: change one event. */
async function alterEvent(config: LedgerConfig, leafIndex: number): Promise<void> {
  const db = new Database(files(config).events);
  db.exec('DROP TRIGGER events_append_only_update');
  const row = db.prepare('SELECT position FROM events ORDER BY position LIMIT 1 OFFSET ?').get(leafIndex) as { position: number };
  db.prepare("UPDATE events SET data = data || CAST(' ' AS BLOB) WHERE position = ?").run(row.position);
  db.close();
}

async function rebuild(config: LedgerConfig) {
  const lines: string[] = [];
  const result = await rebuildDerivedFiles(config, (l) => lines.push(l));
  return { ...result, text: lines.join('\n') };
}

describe('projections rebuild', () => {
  it('accepts a Merkle log that lagged behind the event log: the old tree is a prefix of the new one', async () => {
    const config = copyOfLedger();
    const before = await logState(config);
    const store = new SqliteEventStore(files(config).events);
    const events = (await store.readAll({ maxCount: 100_000 })).length;
    await store.close();
    expect(before.size).toBeGreaterThanOrEqual(signedSize);
    expect(before.size).toBeLessThan(events);

    const result = await rebuild(config);
    expect(result.text).not.toMatch(/WAS|no longer/);
    expect(result.ok, result.text).toBe(true);
    expect(result.merkle).toMatchObject({ ok: true, size: events, previous: before, checkpointsReproduced: signedSizes.length });
    expect(result.text).toMatch(new RegExp(`rebuilt Merkle log: ${events} leaves, root [0-9a-f]{64}; the previous log of ${before.size} leaves is a prefix of it; ${signedSizes.length} signed checkpoints reproduced`));
    expect(result.text).toMatch(/rebuild complete$/);
    const after = await logState(config);
    expect(after.size).toBe(events);
    // The checkpoint signed before the rebuild is still on record in the new file.
    const reopened = new SqliteEventStore(files(config).events);
    const log = new MerkleLog(reopened, files(config).merkle);
    expect(log.checkpoints().map((c) => c.size)).toEqual(signedSizes);
    log.close();
    await reopened.close();
    expect(existsSync(`${files(config).merkle}.rebuild-${process.pid}`)).toBe(false);
  });

  it('opens the configured store, not a file it guesses', async () => {
    const config = { ...copyOfLedger(), store: 'eventstoredb' as const, eventStoreConnectionString: null };
    await expect(rebuild(config)).rejects.toThrow(/FLASHTRAIL_STORE=eventstoredb needs FLASHTRAIL_EVENTSTORE_CONNECTION_STRING/);
  });

  it('refuses to replace the log from an event store that lacks signed events, and keeps it unchanged', async () => {
    const config = copyOfLedger();
    // The event store the configuration names is empty (the wrong store, a restore gone wrong).
    renameSync(files(config).events, `${files(config).events}.elsewhere`);
    const merkleBefore = digestOf(files(config).merkle);
    const result = await rebuild(config);
    expect(result.ok).toBe(false);
    const first = firstCovering(0);
    expect(result.merkle).toMatchObject({ ok: false, firstDivergingLeaf: 0, checkpoint: { size: first } });
    expect(result.text).toMatch(new RegExp(`refused to rebuild the Merkle log: the event log holds 0 events, fewer than the ${first} of signed checkpoint ${first} \\(merkle log\\); first diverging leaf: 0\\. The old Merkle log was kept unchanged`));
    expect(result.text).not.toMatch(/rebuild complete/);
    expect(digestOf(files(config).merkle)).toBe(merkleBefore);
  });

  it('refuses when an event under a signed checkpoint changed, names the first diverging leaf, and exits 1 from the CLI', async () => {
    const config = copyOfLedger();
    const changed = 3;
    expect(changed).toBeLessThan(signedSize);
    await alterEvent(config, changed);
    const merkleBefore = digestOf(files(config).merkle);
    const readModelBefore = digestOf(files(config).readModel);
    const result = await rebuild(config);
    expect(result.merkle).toMatchObject({ ok: false, firstDivergingLeaf: changed, checkpoint: { size: firstCovering(changed) } });
    expect(result.text).toMatch(new RegExp(`the event log no longer reproduces signed checkpoint ${firstCovering(changed)} \\(event store and merkle log\\).*; first diverging leaf: ${changed}\\.`));
    expect(digestOf(files(config).merkle)).toBe(merkleBefore);
    expect(digestOf(files(config).readModel)).toBe(readModelBefore);

    const cli = await run(process.execPath, [join(ROOT, 'bin', 'flashtrail.js'), 'projections', 'rebuild', '--data', config.dataDir]).then(
      (r) => ({ code: 0, stderr: r.stderr }),
      (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
    );
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(new RegExp(`first diverging leaf: ${changed}\\.`));
    expect(digestOf(files(config).merkle)).toBe(merkleBefore);
  });

  it('without an old Merkle log, the CheckpointIssued events alone still bind the rebuild', async () => {
    const config = copyOfLedger();
    rmSync(files(config).merkle);
    await alterEvent(config, 1);
    const result = await rebuild(config);
    const covering = firstCovering(1);
    expect(result.merkle).toMatchObject({ ok: false, firstDivergingLeaf: null, divergesWithin: [0, covering], checkpoint: { size: covering } });
    expect(result.text).toMatch(new RegExp(`signed checkpoint ${covering} \\(event store\\).*the first diverging leaf lies in \\[0, ${covering}\\)`));
    expect(existsSync(files(config).merkle)).toBe(false);
    const store = new SqliteEventStore(files(config).events);
    expect((await store.readStream(LEDGER_CHECKPOINT_STREAM)).length).toBe(signedSizes.length);
    await store.close();
  });
});
