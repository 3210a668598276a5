/**
 * Copies a ledger from one event store to another (the embedded SQLite file into KurrentDB, typically),
 * preserving commit order, event ids, bytes and so signatures, then proves the copy by recomputing the
 * Merkle root of both logs.
 */
import type { EventStore, RecordedEvent } from './event-store.ts';
import { SqliteEventStore } from './sqlite.ts';
import { KurrentDBEventStore } from './kurrentdb.ts';
import { leafHash } from '../merkle/hash.ts';
import { MemoryTree, rootHash } from '../merkle/proofs.ts';
import { toHex } from '../crypto/encoding.ts';
import { nativeCrypto } from '../native/crypto.ts';

export function openStoreUrl(url: string): EventStore {
  if (url.startsWith('sqlite:')) return new SqliteEventStore(url.slice('sqlite:'.length));
  if (/^(esdb|kurrentdb|kurrent|kdb)(\+discover)?:\/\//.test(url)) return new KurrentDBEventStore(url);
  throw new Error(`unknown store ${url}: use sqlite:PATH or kurrentdb://host:2113?tls=false`);
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
    // Consecutive events of one stream go in one append, with the revision they had, so order is kept.
    for (let i = 0; i < batch.length; ) {
      const first = batch[i] as RecordedEvent;
      let j = i + 1;
      while (j < batch.length && (batch[j] as RecordedEvent).stream === first.stream) j++;
      const run = batch.slice(i, j);
      await to.appendToStream(
        first.stream,
        run.map((e) => ({ id: e.id, type: e.type, data: e.data })),
        { expected: first.revision === 0n ? 'no_stream' : first.revision - 1n },
      );
      i = j;
    }
    copied += batch.length;
    after = (batch[batch.length - 1] as RecordedEvent).position;
    progress(copied, head);
  }
  const [source, destination] = [await rootOf(from), await rootOf(to)];
  return { events: copied, sourceRoot: `${source.size}:${source.root}`, destinationRoot: `${destination.size}:${destination.root}` };
}
