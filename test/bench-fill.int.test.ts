/**
 * The benchmarks' data set (bench/fixtures.ts fillLedger): built on signing threads, it is the same store,
 * row for row, as the plain construction on the fill's own thread, across transactions and across a stopped
 * and resumed fill; and what it writes is a valid ledger (schema versions, signatures, chains).
 */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { fillLedger } from '../bench/fixtures.ts';
import { readSecretKeyFile } from '../src/files/key-file.ts';
import { verifyEnvelopeSignature } from '../src/crypto/dsse.ts';
import { fromBase64 } from '../src/crypto/encoding.ts';
import { schemaVersionFor, type EventType } from '../schemas/index.ts';
import { createHash } from 'node:crypto';

const root = mkdtempSync(join(tmpdir(), 'flashtrail-bench-fill-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface StoredRow {
  position: number;
  stream: string;
  revision: number;
  id: string;
  type: string;
  data: Buffer;
}
const rowsOf = (dir: string): StoredRow[] => {
  const db = new Database(join(dir, 'events.sqlite'), { readonly: true });
  try {
    return db.prepare('SELECT position, stream, revision, id, type, data FROM events ORDER BY position').all() as StoredRow[];
  } finally {
    db.close();
  }
};

describe('bench fill', () => {
  it('writes on signing threads, stopped and resumed, the rows the plain construction writes', { timeout: 120_000 }, async () => {
    const threaded = join(root, 'threaded');
    // 500 units: three transactions; stopped after the first and resumed.
    const first = await fillLedger(threaded, 1_205, { threads: 2 });
    expect([first.units, first.written]).toEqual([200, 1_205]);
    const resumed = await fillLedger(threaded, 3_005, { threads: 2 });
    expect([resumed.events, resumed.units, resumed.drifted, resumed.written]).toEqual([3_005, 500, 10, 1_800]);
    // A rerun over the whole data set reuses it.
    expect((await fillLedger(threaded, 3_005, { threads: 2 })).written).toBe(0);

    // The plain construction over the same keys and clock origin (the fill's only random inputs).
    const plain = join(root, 'plain');
    mkdirSync(plain);
    for (const f of readdirSync(threaded)) if (!f.startsWith('events.sqlite')) cpSync(join(threaded, f), join(plain, f));
    await fillLedger(plain, 3_005, { threads: 0 });

    const rows = rowsOf(threaded);
    expect(rows).toHaveLength(3_005);
    expect(rows).toEqual(rowsOf(plain));

    // A valid ledger: every unit event at the version its data fits, signed by the station, chained in its stream.
    const station = readSecretKeyFile(join(threaded, 'bench-station.key'));
    const heads = new Map<string, string>();
    for (const row of rows) {
      const envelope = JSON.parse(row.data.toString('utf8')) as { payload: string; payloadType: string; signatures: { keyid: string; sig: string }[] };
      const event = JSON.parse(Buffer.from(fromBase64(envelope.payload)).toString('utf8')) as { type: EventType; schemaVersion: number; prev: string | null; data: unknown };
      expect(event.type).toBe(row.type);
      expect(event.prev).toBe(heads.get(row.stream) ?? null);
      heads.set(row.stream, createHash('sha256').update(row.data).digest('hex'));
      if (!row.stream.startsWith('unit-')) continue;
      expect(event.schemaVersion).toBe(schemaVersionFor(event.type, event.data));
      // The portable verifier is slow: a unit's events of every 25th unit (drifted ones included).
      if (row.stream.endsWith('0') && Number(row.stream.slice(-3)) % 25 === 0) expect(verifyEnvelopeSignature(envelope, station.publicKey)).toBe(true);
    }
  });
});
