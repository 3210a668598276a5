/**
 * The store contract against a real PostgreSQL server (the int tier's throwaway cluster, or
 * FLASHTRAIL_TEST_POSTGRES_URL), and what only PostgreSQL has: append-only enforced by the server, global
 * order under concurrent writers from several connections, NOTIFY-driven subscriptions (group commit is in
 * the contract suite, as every store has it).
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PostgresEventStore } from '../src/store/postgres.ts';
import type { EventData } from '../src/store/event-store.ts';
import { describeEventStoreContract } from './store-contract.ts';
import { asSuperuser, createTestDatabase, describeWithPostgres, postgresTarget, type TestDatabase } from './helpers/postgres.ts';

const event = (body = `{"n":${Math.random()}}`): EventData => ({ id: randomUUID(), type: 'Tested', data: new TextEncoder().encode(body) });
const schemaName = () => `c_${randomUUID().replaceAll('-', '').slice(0, 12)}`;

let db: TestDatabase | null = null;
const target = postgresTarget();
beforeAll(async () => {
  if (target) db = await createTestDatabase(target);
});
afterAll(async () => db?.drop());

if (target) {
  // A schema per test: the suite checks head positions, which must not move under another test.
  describeEventStoreContract('PostgreSQL', async () => {
    const store = new PostgresEventStore((db as TestDatabase).url, { schema: schemaName(), pollIntervalMs: 200 });
    return { store, cleanup: () => store.close() };
  });
}

describeWithPostgres('PostgreSQL event store', (t) => {
  const open = (schema = schemaName()) => new PostgresEventStore((db as TestDatabase).url, { schema, pollIntervalMs: 10_000 });

  it('refuses UPDATE, DELETE and TRUNCATE of recorded events: revoked for the ledger role, refused by triggers for a superuser', async () => {
    const schema = schemaName();
    const store = open(schema);
    await store.appendToStream('unit-a', [event()]);
    const events = `${schema}.events`;
    const asLedger = new pg.Client({ connectionString: (db as TestDatabase).url });
    await asLedger.connect();
    try {
      for (const sql of [`UPDATE ${events} SET type = 'X'`, `DELETE FROM ${events}`, `TRUNCATE ${events}`]) {
        await expect(asLedger.query(sql)).rejects.toThrow(/permission denied/);
      }
    } finally {
      await asLedger.end();
    }
    for (const sql of [`UPDATE ${events} SET type = 'X'`, `DELETE FROM ${events}`, `TRUNCATE ${events}`]) {
      await expect(asSuperuser(t, (db as TestDatabase).name, sql)).rejects.toThrow(/append-only/);
    }
    expect((await store.readStream('unit-a')).map((e) => e.type)).toEqual(['Tested']);
    await store.close();
  });

  it('several stores on one schema (several processes, in effect) append concurrently: positions 1…n, no gaps, commit order equals position order', async () => {
    const schema = schemaName();
    const writers = [open(schema), open(schema), open(schema)];
    const reader = open(schema);
    // A reader polling $all while the writers run must only ever see a prefix without holes.
    let stop = false;
    const seenPrefixes: bigint[][] = [];
    const watching = (async () => {
      while (!stop) {
        const all = await reader.readAll({ maxCount: 10_000 });
        seenPrefixes.push(all.map((e) => e.position));
      }
    })();
    const acknowledged = await Promise.all(
      writers.map(async (w, k) => {
        const out: bigint[] = [];
        for (let i = 0; i < 40; i++) out.push(...(await w.appendToStream(`unit-w${k}`, [event(), event()], { expected: i === 0 ? 'no_stream' : BigInt(2 * i - 1) })).positions);
        return out;
      }),
    );
    stop = true;
    await watching;
    const all = await reader.readAll({ maxCount: 10_000 });
    expect(all.map((e) => e.position)).toEqual(Array.from({ length: 240 }, (_, i) => BigInt(i + 1)));
    expect(new Set(acknowledged.flat().map(String)).size).toBe(240);
    for (const prefix of seenPrefixes) expect(prefix).toEqual(Array.from({ length: prefix.length }, (_, i) => BigInt(i + 1)));
    expect(seenPrefixes.some((p) => p.length > 0 && p.length < 240)).toBe(true);
    for (const s of [...writers, reader]) await s.close();
  });

  it('a subscription is woken by NOTIFY from another connection, long before its poll interval', async () => {
    const schema = schemaName();
    const reader = open(schema); // polls every 10 s: only a notification can deliver within the deadline
    const writer = open(schema);
    await writer.appendToStream('unit-n', [event()]);
    const subscription = reader.subscribeToAll({ after: await reader.headPosition() });
    const next = (async () => {
      for await (const e of subscription) return { e, at: Date.now() };
      return null;
    })();
    await new Promise((r) => setTimeout(r, 300));
    const sent = Date.now();
    const appended = await writer.appendToStream('unit-n', [event()], { expected: 0n });
    const got = await next;
    expect(got?.e.position).toBe(appended.position);
    expect((got?.at ?? Infinity) - sent).toBeLessThan(2000);
    await subscription.close();
    await reader.close();
    await writer.close();
  });

  it('a subscription whose listening session is cut (server restart, network) reconnects and catches up', async () => {
    const schema = schemaName();
    const reader = open(schema); // polls every 10 s: only a restored LISTEN delivers within the deadline
    const writer = open(schema);
    const subscription = reader.subscribeToAll({ after: await reader.headPosition() });
    const seen: bigint[] = [];
    const done = (async () => {
      for await (const e of subscription) {
        seen.push(e.position);
        if (seen.length === 2) return;
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    await writer.appendToStream('unit-l', [event()]);
    await until(() => seen.length === 1, 3000);
    const cut = await asSuperuser(t, (db as TestDatabase).name, "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = 'flashtrail listener' AND datname = current_database()");
    expect(cut.rowCount).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 100));
    const appended = await writer.appendToStream('unit-l', [event()], { expected: 0n });
    await until(() => seen.length === 2, 5000);
    await done;
    expect(seen[1]).toBe(appended.position);
    await subscription.close();
    await reader.close();
    await writer.close();
  });

  it('refuses a schema of another format without touching it', async () => {
    const schema = schemaName();
    const store = open(schema);
    await store.headPosition();
    await store.close();
    await asSuperuser(t, (db as TestDatabase).name, `UPDATE ${schema}.store_meta SET value = 'flashtrail-events-v9'`);
    const again = open(schema);
    await expect(again.headPosition()).rejects.toThrow(/format flashtrail-events-v9/);
    await again.close();
  });
});

async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
