/** flashtrail migrate between two real stores (embedded → embedded here; kurrentdb:// where a server exists). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SqliteEventStore } from '../src/store/sqlite.ts';
import { migrate } from '../src/store/migrate.ts';

describe('flashtrail migrate', () => {
  it('copies a ledger in order with ids and bytes, and proves it by identical Merkle roots', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flashtrail-migrate-'));
    const from = new SqliteEventStore(join(dir, 'from.sqlite'));
    const to = new SqliteEventStore(join(dir, 'to.sqlite'));
    try {
      for (let i = 0; i < 2500; i++) {
        await from.appendToStream(`unit-${i % 7}`, [{ id: randomUUID(), type: 'T', data: new TextEncoder().encode(`{"i":${i}}`) }]);
      }
      const result = await migrate(from, to);
      expect(result.events).toBe(2500);
      expect(result.sourceRoot).toMatch(/^2500:[0-9a-f]{64}$/);
      expect(result.destinationRoot).toBe(result.sourceRoot);
      const [a, b] = [await from.readStream('unit-3'), await to.readStream('unit-3')];
      expect(a.length).toBeGreaterThan(0);
      expect(b.map((e) => [e.id, e.revision, Buffer.from(e.data).toString()])).toEqual(a.map((e) => [e.id, e.revision, Buffer.from(e.data).toString()]));
      // Migrating again into the same destination is an idempotent replay: nothing is doubled.
      await expect(migrate(from, to)).resolves.toMatchObject({ events: 2500, destinationRoot: result.sourceRoot });
      expect((await to.readAll({ maxCount: 10_000 })).length).toBe(2500);
    } finally {
      await from.close();
      await to.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
