/**
 * PostgreSQL for a test file: the cluster of the `int` tier's globalSetup (postgres-cluster.ts), one fresh
 * database per caller. Tests without a server skip and print why; nothing stands in for the server.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, inject } from 'vitest';
import type { PostgresTarget } from './postgres-cluster.ts';

export function postgresTarget(): PostgresTarget | null {
  const availability = inject('postgres');
  return availability?.available ? availability.target : null;
}

/** describe(), or describe.skip() with the reason printed, when there is no PostgreSQL server. */
export function describeWithPostgres(name: string, body: (target: PostgresTarget) => void): void {
  const availability = inject('postgres');
  if (availability?.available) {
    describe(name, () => body(availability.target));
    return;
  }
  const reason = availability?.reason ?? 'the int tier did not start a PostgreSQL cluster';
  console.log(`${name}: skipped: ${reason}`);
  describe.skip(`${name} (skipped: ${reason})`, () => body(null as never));
}

export interface TestDatabase {
  /** The ledger role's URL of the new database. */
  readonly url: string;
  /** A superuser URL of the same database. */
  readonly adminUrl: string;
  readonly name: string;
  drop(): Promise<void>;
}

async function admin<T>(target: PostgresTarget, run: (client: pg.Client) => Promise<T>, database?: string): Promise<T> {
  const url = new URL(target.adminUrl);
  if (database) url.pathname = `/${database}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/** A new, empty database owned by the ledger's role. */
export async function createTestDatabase(target: PostgresTarget): Promise<TestDatabase> {
  const name = `t_${randomBytes(6).toString('hex')}`;
  await admin(target, (c) => c.query(`CREATE DATABASE ${name} OWNER flashtrail`));
  const adminUrl = new URL(target.adminUrl);
  adminUrl.pathname = `/${name}`;
  return {
    name,
    url: `${target.roleBase}/${name}`,
    adminUrl: adminUrl.toString(),
    drop: () => admin(target, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

/** Runs one query as the superuser in a database (what an insider with DBA rights could do). */
export function asSuperuser<T extends pg.QueryResultRow>(target: PostgresTarget, database: string, sql: string, values: unknown[] = []): Promise<pg.QueryResult<T>> {
  return admin(target, (c) => c.query<T>(sql, values), database);
}
