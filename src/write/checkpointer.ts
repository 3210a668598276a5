/**
 * Signs C2SP checkpoints of the Merkle log with the ledger key, on a cadence and on demand, and records
 * each one as a CheckpointIssued event. It never signs two inconsistent checkpoints: before signing it
 * proves the new tree consistent with the last one it signed, and it refuses a tree that shrank or whose
 * root differs at a signed size. Each checkpoint reads one event of the checkpoint stream (its head),
 * however long the stream has grown.
 */
import type { Logger } from 'pino';
import type { EventStore, RecordedEvent } from '../store/event-store.ts';
import type { MerkleLog } from '../read/merkle-log.ts';
import { verifyConsistency } from '../merkle/proofs.ts';
import { formatCheckpointBody, parseCheckpointBody } from '../tlog/checkpoint.ts';
import { noteKeyId, signNote, verifyNote } from '../tlog/note.ts';
import { EventSigner } from '../event/signer.ts';
import type { Signer } from '../crypto/ed25519.ts';
import { LEDGER_CHECKPOINT_STREAM, LEDGER_TRUST_STREAM } from '../event/streams.ts';
import { decodeTrustedEnvelope as decodeTrustedEnvelopeWith, type DecodedEvent } from '../event/codec.ts';
import { nativeCrypto } from '../native/crypto.ts';
import { bytesEqual, fromHex, toHex } from '../crypto/encoding.ts';
import type { SignedEvent } from '../event/signer.ts';
import { envelopeBytes } from '../crypto/dsse.ts';
import { LedgerError } from './errors.ts';

const decodeStored = (bytes: Uint8Array) => decodeTrustedEnvelopeWith(bytes, nativeCrypto);

interface Head {
  readonly recorded: RecordedEvent;
  readonly decoded: DecodedEvent;
}

export interface CheckpointerOptions {
  readonly store: EventStore;
  readonly log: MerkleLog;
  readonly ledgerKey: Signer;
  readonly origin: string;
  readonly clock: () => Date;
  /** Issue once this many events arrived since the last checkpoint. */
  readonly everyEvents: number;
  /** Issue at least this often while events keep arriving. */
  readonly intervalMs: number;
  readonly logger?: Logger;
}

/** The ledger would have signed a checkpoint that contradicts one it signed before. Nothing was signed. */
export class CheckpointRefusedError extends LedgerError {
  constructor(message: string) {
    super('CHECKPOINT_REFUSED', message);
  }
}

export class Checkpointer {
  private readonly signer: EventSigner;
  private queue: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  /** Log size right after our own last CheckpointIssued event: growth up to it is not new work. */
  private quietSize = -1;
  private lastIssuedAt = 0;

  constructor(private readonly options: CheckpointerOptions) {
    this.signer = new EventSigner(options.ledgerKey, 'ledger', options.clock);
  }

  /** Records the administrator keys in force, when they differ from the last record. */
  async recordTrustedAdminKeys(keys: ReadonlyMap<string, Uint8Array>): Promise<void> {
    const last = await this.head(LEDGER_TRUST_STREAM);
    const wanted = [...keys.entries()].map(([keyId, pub]) => ({ keyId, publicKey: toHex(pub) })).sort((a, b) => a.keyId.localeCompare(b.keyId));
    const current = last?.decoded.event;
    if (current?.type === 'AdminKeysTrusted' && JSON.stringify([...current.data.keys].sort((a, b) => a.keyId.localeCompare(b.keyId)).map((k) => ({ keyId: k.keyId, publicKey: k.publicKey }))) === JSON.stringify(wanted)) return;
    await this.append(this.signer.sign('AdminKeysTrusted', { keys: wanted }, { prev: last?.decoded.digest ?? null }), last?.recorded.revision ?? null);
  }

  /** The latest signed checkpoint note, issuing the first one if there is none. */
  async latest(): Promise<string> {
    return this.options.log.latestCheckpoint()?.note ?? this.issue();
  }

  /** Signs a checkpoint of the log as it is now (or returns the latest, if nothing was added since). */
  issue(): Promise<string> {
    const run = this.queue.then(() => this.issueNow());
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async issueNow(): Promise<string> {
    const { log, origin, ledgerKey } = this.options;
    await log.catchUp();
    const size = log.size;
    const head = await this.head(LEDGER_CHECKPOINT_STREAM);
    const latest = this.lastSigned(head);
    const root = log.root(size);
    if (latest && latest.size > size) {
      throw new CheckpointRefusedError(`the log has ${size} leaves but checkpoint ${latest.size} was already signed: refusing to sign a shrunken log`);
    }
    if (latest && latest.size === size) {
      if (!bytesEqual(latest.root, root)) throw new CheckpointRefusedError(`tree ${size} has another root than signed checkpoint ${size}: refusing to sign`);
      return latest.note;
    }
    if (latest && !verifyConsistency(latest.size, size, latest.root, root, log.consistencyProof(latest.size, size))) {
      throw new CheckpointRefusedError(`tree ${size} is not consistent with signed checkpoint ${latest.size}: refusing to sign`);
    }
    const note = signNote(formatCheckpointBody({ origin, size, root }), origin, ledgerKey.secretKey, ledgerKey.publicKey);
    const now = this.options.clock();
    // The append-only event store first: a crash between the two writes leaves the checkpoint recorded there
    // and missing from the Merkle log's table, which the start check records again (checkAtStart).
    await this.append(this.signer.sign('CheckpointIssued', { origin, size, rootHash: toHex(root), note }, { prev: head?.decoded.digest ?? null }), head?.recorded.revision ?? null);
    log.recordCheckpoint(size, root, note, now.toISOString());
    await log.catchUp();
    this.quietSize = log.size;
    this.lastIssuedAt = now.getTime();
    this.options.logger?.info({ size, origin }, 'checkpoint signed');
    return note;
  }

  /**
   * The newest checkpoint signed, from the Merkle log's table or from the append-only event store, where
   * each one is also recorded as CheckpointIssued: emptying the table (it is derived data, in a file an
   * insider can edit) does not let the ledger sign a fork. Where both know the newest size, they must agree.
   */
  private lastSigned(head: Head | null): { size: number; root: Uint8Array; note: string } | null {
    const table = this.options.log.latestCheckpoint();
    const issued = head?.decoded.event.type === 'CheckpointIssued' ? head.decoded.event.data : null;
    const recorded = issued ? { size: issued.size, root: fromHex(issued.rootHash), note: issued.note } : null;
    if (table && recorded && table.size === recorded.size && !bytesEqual(table.root, recorded.root)) {
      throw new CheckpointRefusedError(`checkpoint ${table.size} has one root in the Merkle log and another in the event store: refusing to sign`);
    }
    if (!table) return recorded;
    if (!recorded) return table;
    return recorded.size > table.size ? recorded : table;
  }

  /**
   * At start, before anything is signed or served: the newest signed checkpoint as the Merkle log's table has it
   * and as the event store's CheckpointIssued events have it must agree with each other, be signed by this
   * ledger's key, and be reproduced by the Merkle log (its root at their size). A checkpoint missing on one side
   * only (a crash between the two writes, or a table someone emptied) is recorded there again, so it binds the
   * next signature; a contradiction refuses to start, naming both.
   */
  async checkAtStart(): Promise<void> {
    const { log, ledgerKey, origin } = this.options;
    await log.catchUp();
    const head = await this.head(LEDGER_CHECKPOINT_STREAM);
    const issued = head?.decoded.event.type === 'CheckpointIssued' ? head.decoded.event.data : null;
    const recorded = issued ? { size: issued.size, root: fromHex(issued.rootHash), note: issued.note } : null;
    const table = log.latestCheckpoint();
    const key = { name: origin, id: noteKeyId(origin, ledgerKey.publicKey), publicKey: ledgerKey.publicKey };
    for (const [where, c] of [['the event store', recorded], ['the Merkle log', table]] as const) {
      if (!c) continue;
      let body: { size: number; root: Uint8Array };
      try {
        body = parseCheckpointBody(verifyNote(c.note, [key], nativeCrypto).text);
      } catch (error) {
        throw new CheckpointRefusedError(`the newest checkpoint in ${where} (size ${c.size}) is not signed by this ledger's key: ${(error as Error).message}; refusing to start`);
      }
      if (body.size !== c.size || !bytesEqual(body.root, c.root)) throw new CheckpointRefusedError(`the newest checkpoint in ${where} says size ${c.size}, its signed note size ${body.size}: refusing to start`);
      if (c.size > log.size) throw new CheckpointRefusedError(`checkpoint ${c.size} in ${where} was signed, but the event log holds only ${log.size} events: events were removed; refusing to start`);
      if (!bytesEqual(log.root(c.size), c.root)) {
        throw new CheckpointRefusedError(`the Merkle log's root at size ${c.size} is ${toHex(log.root(c.size)).slice(0, 16)}…, not the root of signed checkpoint ${c.size} in ${where} (${toHex(c.root).slice(0, 16)}…): the log was changed; refusing to start (flashtrail projections rebuild names the first diverging leaf)`);
      }
    }
    if (recorded && table && recorded.size === table.size && !bytesEqual(recorded.root, table.root)) {
      throw new CheckpointRefusedError(`checkpoint ${table.size} has one root in the Merkle log and another in the event store: refusing to start`);
    }
    const now = this.options.clock().toISOString();
    if (recorded && (!table || table.size < recorded.size)) {
      this.options.logger?.warn({ size: recorded.size, tableSize: table?.size ?? null }, 'the newest signed checkpoint was missing from the Merkle log table; recorded it again');
      log.recordCheckpoint(recorded.size, recorded.root, recorded.note, now);
    } else if (table && (!recorded || recorded.size < table.size)) {
      this.options.logger?.warn({ size: table.size, recordedSize: recorded?.size ?? null }, 'the newest signed checkpoint was missing from the event store; recorded it again as CheckpointIssued');
      await this.append(this.signer.sign('CheckpointIssued', { origin, size: table.size, rootHash: toHex(table.root), note: table.note }, { prev: head?.decoded.digest ?? null }), head?.recorded.revision ?? null);
    }
  }

  /** The last event of one of the ledger's streams, read alone: these streams grow for the ledger's lifetime. */
  private async head(stream: string): Promise<Head | null> {
    const [last] = await this.options.store.readStream(stream, { direction: 'backwards', maxCount: 1 });
    return last ? { recorded: last, decoded: decodeStored(last.data) } : null;
  }

  private async append(signed: SignedEvent, revision: bigint | null): Promise<void> {
    await this.options.store.appendToStream(signed.stream, [{ id: signed.event.id, type: signed.event.type, data: envelopeBytes(signed.envelope) }], { expected: revision ?? 'no_stream' });
  }

  /** Checks every second whether the cadence asks for a checkpoint. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      void this.tick().catch((error: unknown) => this.options.logger?.error({ err: (error as Error).message }, 'checkpoint failed'));
    }, Math.min(1000, this.options.intervalMs));
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    await this.options.log.catchUp();
    const size = this.options.log.size;
    const signed = this.options.log.latestCheckpoint()?.size ?? 0;
    const fresh = size - Math.max(signed, this.quietSize);
    if (fresh <= 0) return;
    const due = fresh >= this.options.everyEvents || this.options.clock().getTime() - this.lastIssuedAt >= this.options.intervalMs;
    if (due) await this.issue();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.queue;
  }
}
