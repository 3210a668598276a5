/**
 * `flashtrail monitor --map-key` (docs/format.md §15.3), a real process against a real ledger: it rebuilds the
 * unit history map from the log's entries and compares every root the index log commits. An insider who holds
 * the index log's key rewrites an earlier commitment (a map root that would hide an event) and re-signs the index
 * checkpoint over it: the ledger serves it without complaint, the monitor reports the commitment, exit 1.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestLedger, type TestLedger } from './helpers/ledger-fixture.ts';
import { SimulatedStation } from '../src/sim/simulated-station.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { EventSigner } from '../src/event/signer.ts';
import { readSecretKeyFile } from '../src/files/key-file.ts';
import { signNote } from '../src/tlog/note.ts';
import { formatCheckpointBody } from '../src/tlog/checkpoint.ts';
import { MemoryTree, rootHash } from '../src/merkle/proofs.ts';
import { leafHash } from '../src/merkle/hash.ts';
import { utf8 } from '../src/crypto/encoding.ts';
import { nativeCrypto } from '../src/native/crypto.ts';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..');
const run = promisify(execFile);
const cli = (args: string[]) => run(process.execPath, [join(ROOT, 'bin', 'flashtrail.js'), ...args]).then((r) => ({ code: 0, ...r }), (e: { code: number; stdout: string; stderr: string }) => e);
const dataDir = mkdtempSync(join(tmpdir(), 'flashtrail-monitor-map-'));
let t: TestLedger;
let ledgerKey: string;
let mapKey: string;

const keyOf = async (path: string) => (await (await fetch(`${t.url}${path}`, { headers: { authorization: `Bearer ${t.tokens.auditor}` } })).text()).trim();
const monitor = (state: string) => {
  const tokenFile = join(dataDir, 'auditor.token');
  writeFileSync(tokenFile, t.tokens.auditor + '\n', { mode: 0o600 });
  return cli(['monitor', '--ledger', t.url, '--ledger-key', ledgerKey, '--map-key', mapKey, '--state', join(dataDir, state), '--token-file', tokenFile, '--once']);
};
const lines = (stdout: string) => stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

beforeAll(async () => {
  t = await startTestLedger({ dataDir });
  const station = new SimulatedStation(new LedgerClient(t.url, t.tokens.station1), new EventSigner(t.stationKeys['ST-01'], 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId: t.batchId, hardwareRevision: 'rev-C' }, t.release);
  await station.flash('MON-1', 'pass');
  await fetch(`${t.url}/v1/checkpoint`, { method: 'POST', headers: { authorization: `Bearer ${t.tokens.admin}` } });
  await station.flash('MON-2', 'pass');
  await fetch(`${t.url}/v1/checkpoint`, { method: 'POST', headers: { authorization: `Bearer ${t.tokens.admin}` } });
  ledgerKey = await keyOf('/v1/ledger/key');
  mapKey = await keyOf('/v1/unit-map/key');
}, 60_000);
afterAll(async () => {
  await t?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('flashtrail monitor --map-key', () => {
  it('rebuilds the map from the log and finds every committed root', async () => {
    const r = await monitor('state-1.json');
    expect(r.code, r.stderr).toBe(0);
    const audit = lines(r.stdout).find((l) => l['kind'] === 'unit-map');
    expect(audit).toMatchObject({ kind: 'unit-map' });
    // One commitment per checkpoint signed: the two issued above.
    expect(audit!['commitments'] as number).toBeGreaterThanOrEqual(2);
    // The index log key is pinned in the state with the ledger's: a later run without the options still audits the map.
    const again = await cli(['monitor', '--ledger', t.url, '--state', join(dataDir, 'state-1.json'), '--token-file', join(dataDir, 'auditor.token'), '--once']);
    expect(again.code, again.stderr).toBe(0);
    expect(lines(again.stdout).find((l) => l['kind'] === 'unit-map')).toMatchObject({ kind: 'unit-map', commitments: audit!['commitments'] });
  });

  it('reports a commitment re-signed by an insider with a map root the log does not give', async () => {
    await t.stop();
    const db = new Database(join(dataDir, 'unit-map.sqlite'));
    const rows = db.prepare('SELECT idx, leaf FROM map_commitments ORDER BY idx').all() as { idx: number; leaf: string }[];
    const victim = rows[rows.length - 2]!;
    const forged = victim.leaf.replace(/unit-map [0-9a-f]{64}\n$/, `unit-map ${'ab'.repeat(32)}\n`);
    db.prepare('UPDATE map_commitments SET leaf = ? WHERE idx = ?').run(forged, victim.idx);
    const tree = new MemoryTree(nativeCrypto);
    for (const row of rows) tree.append(leafHash(utf8(row.idx === victim.idx ? forged : row.leaf), nativeCrypto));
    const origin = mapKey.split('+')[0]!;
    const key = readSecretKeyFile(join(dataDir, 'unit-map.key'));
    const note = signNote(formatCheckpointBody({ origin, size: tree.size, root: rootHash(tree, tree.size, nativeCrypto) }), origin, key.secretKey, key.publicKey);
    db.prepare("UPDATE map_meta SET value = ? WHERE key = 'index_note'").run(note);
    db.close();
    t = await startTestLedger({ dataDir, setup: false });

    const r = await monitor('state-2.json');
    expect(r.code).toBe(1);
    const finding = lines(r.stdout).find((l) => l['kind'] === 'finding');
    expect(finding).toMatchObject({ code: 'MAP_ROOT_MISMATCH', step: 'unit-map', index: victim.idx });
    expect(finding!['message']).toContain('abababababababab');
    expect((finding!['evidence'] as { indexCheckpoint: string }).indexCheckpoint).toContain(origin);
  }, 60_000);
});
