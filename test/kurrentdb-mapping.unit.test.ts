import { describe, expect, it } from 'vitest';
import { fromPortPosition, fromWrongExpectedVersion, isLedgerStream, toPortPosition, toRecordedEvent, toStreamState } from '../src/store/kurrentdb-mapping.ts';
import { WrongExpectedVersionError } from '../src/store/event-store.ts';

describe('KurrentDB mapping', () => {
  it('expected revisions map onto stream states unchanged, any by default', () => {
    expect(toStreamState(undefined)).toBe('any');
    for (const s of ['any', 'no_stream', 'stream_exists', 7n] as const) expect(toStreamState(s)).toBe(s);
  });

  it('wrong expected version errors become the port error, with the actual revision or no_stream', () => {
    const e = fromWrongExpectedVersion({ streamName: 'unit-A', expectedState: 3n, actualState: 5n });
    expect(e).toBeInstanceOf(WrongExpectedVersionError);
    expect(e).toMatchObject({ stream: 'unit-A', expected: 3n, actual: 5n });
    expect(fromWrongExpectedVersion({ streamName: 'unit-B', expectedState: 'stream_exists', actualState: 'no_stream' })).toMatchObject({ expected: 'stream_exists', actual: 'no_stream' });
  });

  it('$all positions: prepare position out, an inclusive (commit, prepare) start back in', () => {
    expect(toPortPosition({ commit: 120n, prepare: 100n })).toBe(100n);
    expect(() => toPortPosition(undefined)).toThrow();
    expect(fromPortPosition(undefined)).toBe('start');
    expect(fromPortPosition(-1n)).toBe('start');
    expect(fromPortPosition(100n)).toEqual({ commit: 100n, prepare: 100n });
  });

  it('recorded binary events keep their bytes; JSON events are refused', () => {
    const created = new Date('2026-01-01T00:00:00.000Z');
    const data = new Uint8Array([123, 125]);
    const e = toRecordedEvent({ id: 'id-1', type: 'UnitScanned', streamId: 'unit-A', revision: 2n, created, data, position: { commit: 9n, prepare: 9n } });
    expect(e).toEqual({ id: 'id-1', type: 'UnitScanned', stream: 'unit-A', revision: 2n, position: 9n, data, recordedAt: '2026-01-01T00:00:00.000Z' });
    expect(() => toRecordedEvent({ id: 'x', type: 'T', streamId: 's', revision: 0n, created, data: { a: 1 }, position: { commit: 1n, prepare: 1n } })).toThrow(/not a binary event/);
  });

  it('the $all filter keeps flashtrail streams only', () => {
    expect(['unit-A', 'station-ST-01', 'release-R', 'batch-B', 'ledger-trust'].every(isLedgerStream)).toBe(true);
    expect(['$stats-127.0.0.1:2113', 'orders-1', '$et-UnitScanned'].some(isLedgerStream)).toBe(false);
  });
});

describe('flashtrail migrate', () => {
  it('copies a ledger in order with ids and bytes, and proves it by identical Merkle roots (embedded → embedded here; esdb:// with a server)', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { randomUUID } = await import('node:crypto');
    const { SqliteEventStore } = await import('../src/store/sqlite.ts');
    const { migrate } = await import('../src/store/migrate.ts');
    const dir = mkdtempSync(join(tmpdir(), 'flashtrail-migrate-'));
    const from = new SqliteEventStore(join(dir, 'from.sqlite'));
    const to = new SqliteEventStore(join(dir, 'to.sqlite'));
    for (let i = 0; i < 2500; i++) {
      await from.appendToStream(`unit-${i % 7}`, [{ id: randomUUID(), type: 'T', data: new TextEncoder().encode(`{"i":${i}}`) }]);
    }
    const result = await migrate(from, to);
    expect(result.events).toBe(2500);
    expect(result.destinationRoot).toBe(result.sourceRoot);
    const [a, b] = [await from.readStream('unit-3'), await to.readStream('unit-3')];
    expect(b.map((e) => [e.id, e.revision, Buffer.from(e.data).toString()])).toEqual(a.map((e) => [e.id, e.revision, Buffer.from(e.data).toString()]));
    // Migrating again into the same destination is an idempotent replay: nothing is doubled.
    await expect(migrate(from, to)).resolves.toMatchObject({ events: 2500 });
    expect((await to.readAll({ maxCount: 10_000 })).length).toBe(2500);
    await from.close();
    await to.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
