/**
 * Signs C2SP checkpoints of the Merkle log with the ledger key, on a cadence and on demand, and records
 * each one as a CheckpointIssued event. It never signs two inconsistent checkpoints: before signing it
 * proves the new tree consistent with the last one it signed, and it refuses a tree that shrank.
 */
import type { Logger } from 'pino';
import type { EventStore } from '../store/event-store.ts';
import type { MerkleLog } from '../read/merkle-log.ts';
import { verifyConsistency } from '../merkle/proofs.ts';
import { formatCheckpointBody } from '../tlog/checkpoint.ts';
import { signNote } from '../tlog/note.ts';
import { EventSigner } from '../event/signer.ts';
import type { Signer } from '../crypto/ed25519.ts';
import { LEDGER_CHECKPOINT_STREAM, LEDGER_TRUST_STREAM } from '../event/streams.ts';
import { decodeTrustedEnvelope as decodeTrustedEnvelopeWith } from '../event/codec.ts';
import { nativeCrypto } from '../native/crypto.ts';

const decodeTrustedEnvelope = (bytes: Uint8Array) => decodeTrustedEnvelopeWith(bytes, nativeCrypto);
import { toHex } from '../crypto/encoding.ts';
import type { SignedEvent } from '../event/signer.ts';
import { envelopeBytes } from '../crypto/dsse.ts';

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

export class CheckpointRefusedError extends Error {
  override readonly name = 'CheckpointRefusedError';
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
    const history = await this.options.store.readStream(LEDGER_TRUST_STREAM);
    const last = history[history.length - 1];
    const wanted = [...keys.entries()].map(([keyId, pub]) => ({ keyId, publicKey: toHex(pub) })).sort((a, b) => a.keyId.localeCompare(b.keyId));
    if (last) {
      const current = decodeTrustedEnvelope(last.data).event;
      if (current.type === 'AdminKeysTrusted' && JSON.stringify([...current.data.keys].sort((a, b) => a.keyId.localeCompare(b.keyId)).map((k) => ({ keyId: k.keyId, publicKey: k.publicKey }))) === JSON.stringify(wanted)) return;
    }
    const prev = last ? decodeTrustedEnvelope(last.data).digest : null;
    await this.append(this.signer.sign('AdminKeysTrusted', { keys: wanted }, { prev }), last ? last.revision : null);
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
    const latest = log.latestCheckpoint();
    if (latest && latest.size === size) return latest.note;
    if (latest && latest.size > size) {
      throw new CheckpointRefusedError(`the log has ${size} leaves but checkpoint ${latest.size} was already signed: refusing to sign a shrunken log`);
    }
    const root = log.root(size);
    if (latest && !verifyConsistency(latest.size, size, latest.root, root, log.consistencyProof(latest.size, size))) {
      throw new CheckpointRefusedError(`tree ${size} is not consistent with signed checkpoint ${latest.size}: refusing to sign`);
    }
    const note = signNote(formatCheckpointBody({ origin, size, root }), origin, ledgerKey.secretKey, ledgerKey.publicKey);
    const now = this.options.clock();
    log.recordCheckpoint(size, root, note, now.toISOString());
    const history = await this.options.store.readStream(LEDGER_CHECKPOINT_STREAM);
    const last = history[history.length - 1];
    await this.append(
      this.signer.sign('CheckpointIssued', { origin, size, rootHash: toHex(root), note }, { prev: last ? decodeTrustedEnvelope(last.data).digest : null }),
      last ? last.revision : null,
    );
    await log.catchUp();
    this.quietSize = log.size;
    this.lastIssuedAt = now.getTime();
    this.options.logger?.info({ size, origin }, 'checkpoint signed');
    return note;
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
