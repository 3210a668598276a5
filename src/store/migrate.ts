/**
 * Copies a ledger from one event store to another (the embedded SQLite file into PostgreSQL or KurrentDB,
 * and back), preserving commit order, event ids, bytes and so signatures, then proves the copy by
 * recomputing the Merkle root of both logs.
 */
import type { AppendRequest, EventStore, RecordedEvent } from './event-store.ts';
import { SqliteEventStore } from './sqlite.ts';
import { KurrentDBEventStore } from './kurrentdb.ts';
import { DEFAULT_POSTGRES_SCHEMA, PostgresEventStore } from './postgres.ts';
import { leafHash } from '../merkle/hash.ts';
import { MemoryTree, rootHash } from '../merkle/proofs.ts';
import { toHex } from '../crypto/encoding.ts';
import { nativeCrypto } from '../native/crypto.ts';

export const POSTGRES_URL = /^postgres(ql)?:\/\//;

/**
 * A PostgreSQL store URL: a libpq-style connection URL, plus an optional `schema` parameter (the schema of
 * the ledger's tables, default flashtrail), which is ours and is not passed on to the server.
 */
export function parsePostgresStoreUrl(url: string): { connectionString: string; schema: string } {
  const parsed = new URL(url);
  const schema = parsed.searchParams.get('schema') ?? DEFAULT_POSTGRES_SCHEMA;
  parsed.searchParams.delete('schema');
  return { connectionString: parsed.toString(), schema };
}

export function openStoreUrl(url: string): EventStore {
  if (url.startsWith('sqlite:')) return new SqliteEventStore(url.slice('sqlite:'.length));
  if (POSTGRES_URL.test(url)) {
    const { connectionString, schema } = parsePostgresStoreUrl(url);
    return new PostgresEventStore(connectionString, { schema });
  }
  if (/^(esdb|kurrentdb|kurrent|kdb)(\+discover)?:\/\//.test(url)) return new KurrentDBEventStore(url);
  throw new Error(`unknown store ${url}: use sqlite:PATH, postgres://user@host/database or kurrentdb://host:2113?tls=false`);
}

export interface MigrationResult {
  readonly events: number;
  readonly sourceRoot: string;
  readonly destinationRoot: string;
}

async function rootOf(store: EventStore): Promise<{ root: string; size: number }> {
  const tree = new MemoryTree(nativeCrypto);
  for (let after = -1n; ; ) {
    const batch = await store.readAll({ after, maxCount: 2000 });
    if (batch.length === 0) break;
    for (const e of batch) tree.append(leafHash(e.data, nativeCrypto));
    after = (batch[batch.length - 1] as RecordedEvent).position;
  }
  return { root: toHex(rootHash(tree, tree.size, nativeCrypto)), size: tree.size };
}

export async function migrate(from: EventStore, to: EventStore, progress: (copied: number, total: bigint) => void = () => undefined): Promise<MigrationResult> {
  const head = await from.headPosition();
  let copied = 0;
  for (let after = -1n; ; ) {
    const batch = await from.readAll({ after, maxCount: 1000 });
    if (batch.length === 0) break;
    // Consecutive events of one stream go in one request, with the revision they had; requests for
    // distinct streams go in one atomic append, whose positions follow the order of its requests, so
    // order is kept (a stream seen again starts the next append: its expectation depends on the first).
    let requests: AppendRequest[] = [];
    const flush = async () => {
      if (requests.length > 0) await to.appendToStreams(requests);
      requests = [];
    };
    for (let i = 0; i < batch.length; ) {
      const first = batch[i] as RecordedEvent;
      let j = i + 1;
      while (j < batch.length && (batch[j] as RecordedEvent).stream === first.stream) j++;
      if (requests.some((r) => r.stream === first.stream)) await flush();
      requests.push({
        stream: first.stream,
        events: batch.slice(i, j).map((e) => ({ id: e.id, type: e.type, data: e.data })),
        expected: first.revision === 0n ? 'no_stream' : first.revision - 1n,
      });
      i = j;
    }
    await flush();
    copied += batch.length;
    after = (batch[batch.length - 1] as RecordedEvent).position;
    progress(copied, head);
  }
  const [source, destination] = [await rootOf(from), await rootOf(to)];
  return { events: copied, sourceRoot: `${source.size}:${source.root}`, destinationRoot: `${destination.size}:${destination.root}` };
}
