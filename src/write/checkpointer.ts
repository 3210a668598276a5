/**
 * Signs C2SP checkpoints of the Merkle log with the ledger key, on a cadence and on demand, and records
 * each one as a CheckpointIssued event. It never signs two inconsistent checkpoints: before signing it
 * proves the new tree consistent with the last one it signed, and it refuses a tree that shrank or whose
 * root differs at a signed size. Each checkpoint reads one event of the checkpoint stream (its head),
 * however long the stream has grown.
 *
 * Two rules keep what it serves honest and the log from growing on its own:
 *   - the CheckpointIssued record is appended to the event store before the note is recorded in the Merkle
 *     log's table or returned to anyone: a crash in between leaves a checkpoint recorded but never served,
 *     never one served but unrecorded; the note served as "the latest" is always the latest recorded one;
 *   - a checkpoint's own record is not new content: when nothing but that record was appended since the
 *     latest checkpoint, the latest checkpoint is the answer. Reading never makes the log grow; only writes
 *     do (at most one checkpoint per batch of new events, whoever asks for it).
 */
import type { Logger } from 'pino';
import { WrongExpectedVersionError, type EventStore, type RecordedEvent } from '../store/event-store.ts';
import type { LedgerLog } from '../read/ledger-log.ts';
import { verifyConsistency } from '../merkle/proofs.ts';
import { formatCheckpointBody, formatTlogProof, parseCheckpointBody } from '../tlog/checkpoint.ts';
import type { RotationRecord } from '../verify/rotation-records.ts';
import { formatVerifierKey, noteKeyId, parseNote, signNote } from '../tlog/note.ts';
import { addMlDsaSignature, formatMlDsaVerifierKey, mlDsaNoteKeyId } from '../tlog/ml-dsa-note.ts';
import { signMlDsa44Native } from '../native/ml-dsa.ts';
import { mlDsaRotationData } from '../tlog/ml-dsa-rotation.ts';
import type { EventOf } from '../../schemas/index.ts';
import type { MlDsaSigner } from '../crypto/ml-dsa.ts';
import { EventSigner } from '../event/signer.ts';
import type { Signer } from '../crypto/ed25519.ts';
import { LEDGER_CHECKPOINT_STREAM, LEDGER_KEY_ROTATIONS_STREAM, LEDGER_KEYS_STREAM, LEDGER_TRUST_STREAM } from '../event/streams.ts';
import { decodeTrustedEnvelope as decodeTrustedEnvelopeWith, type DecodedEvent } from '../event/codec.ts';
import { nativeCrypto } from '../native/crypto.ts';
import { bytesEqual, fromBase64, fromHex, toBase64, toHex } from '../crypto/encoding.ts';
import type { SignedEvent } from '../event/signer.ts';
import { envelopeBytes } from '../crypto/dsse.ts';
import { LedgerError } from './errors.ts';
import { KeyFileError } from '../files/key-file.ts';

const decodeStored = (bytes: Uint8Array) => decodeTrustedEnvelopeWith(bytes, nativeCrypto);

interface Head {
  readonly recorded: RecordedEvent;
  readonly decoded: DecodedEvent;
}

export interface CheckpointerOptions {
  readonly store: EventStore;
  readonly log: LedgerLog;
  readonly ledgerKey: Signer;
  /**
   * The ledger's ML-DSA-44 key: with it every checkpoint carries a second, post-quantum signature line
   * (src/tlog/ml-dsa-note.ts), and the key is announced in the log (LedgerKeyAnnounced) before first use.
   */
  readonly mlDsaKey?: MlDsaSigner | null;
  readonly origin: string;
  readonly clock: () => Date;
  /** Issue once this many events arrived since the last checkpoint. */
  readonly everyEvents: number;
  /** Issue at least this often while events keep arriving. */
  readonly intervalMs: number;
  readonly logger?: Logger;
  /**
   * Where several API instances share one store, only the elected log writer signs; the others ask it for
   * a checkpoint and wait for it. Absent: this instance is the only one and always signs.
   */
  readonly leadership?: SigningLeadership;
  /**
   * Witnesses (C2SP tlog-witness) each new checkpoint is submitted to; the note latest() and issue() return
   * carries the cosignatures they gave. Absent: notes carry the ledger's signature alone.
   */
  readonly witnesses?: CheckpointWitnesses;
  /**
   * During a rotation on a shared log (ledger.json `rotatedFrom`): the key ledgerKey replaces. The elected writer
   * announces ledgerKey under it before its first checkpoint; until the tree holds that announcement, it is the
   * key in force and signs (docs/shared-log.md §2).
   */
  readonly rotatedFrom?: Signer;
  /** The same for the ML-DSA-44 key (ledger.json `mlDsaRotatedFrom`): announced by the elected writer (docs/format.md §5.5.1). */
  readonly mlDsaRotatedFrom?: MlDsaSigner;
  /**
   * Serializes the ledger's own record appends with the key rotation's (appendRecord). Absent: one of its own; a
   * test passes one it can watch.
   */
  readonly recordLock?: SerialLock;
}

/**
 * Runs tasks one at a time, in call order: the lock under which the ledger reads the key in force and appends the
 * record it signed with it, and under which a key rotation is appended, so that neither comes between the other's
 * read and append.
 */
export class SerialLock {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const run = this.tail.then(task);
    this.tail = run.catch(() => undefined);
    return run;
  }
}

/** What the checkpointer needs of a witness set (src/witness/client.ts WitnessSet). */
export interface CheckpointWitnesses {
  /** How many witnesses are asked. */
  readonly size: number;
  cosign(
    note: string,
    size: number,
    prove: (from: number, to: number) => Promise<Uint8Array[]>,
    rotations?: () => Promise<readonly RotationRecord[]>,
  ): Promise<{ readonly note: string; readonly cosignedBy: readonly string[] }>;
}

/** How long a checkpoint some witness did not cosign is served as it is before they are asked again. */
const WITNESS_RETRY_MS = 10_000;

export interface SigningLeadership {
  /** Whether this instance holds the log writer's lock now. */
  isLeader(): boolean;
  /** Asks the log writer for a checkpoint of at least `size` leaves and resolves with it once signed. */
  requestCheckpoint(size: number): Promise<string>;
  /** Gives up the writer's lock for good (this process holds the wrong key): another instance signs. */
  abdicate?(reason: string): void;
}

/** The ledger would have signed a checkpoint that contradicts one it signed before. Nothing was signed. */
export class CheckpointRefusedError extends LedgerError {
  constructor(message: string) {
    super('CHECKPOINT_REFUSED', message);
  }
}

/** The newest checkpoint recorded as CheckpointIssued in the event store. */
interface RecordedCheckpoint {
  readonly size: number;
  readonly root: Uint8Array;
  readonly note: string;
  /** $all position of its CheckpointIssued event. */
  readonly position: bigint;
  readonly issuedAt: number;
}

export class Checkpointer {
  private queue: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  /** Read from the event store on first use, then kept: the ledger is the only writer of its streams. */
  private recorded: RecordedCheckpoint | null | undefined = undefined;
  /** The newest checkpoint as witnessed: the ledger's note, the note with cosignatures, and whether all cosigned. */
  private witnessed: { ledgerNote: string; note: string; complete: boolean; at: number } | null = null;
  private witnessing: { ledgerNote: string; done: Promise<string> } | null = null;
  /** On a shared log, set once this writer has put its ML-DSA-44 key (or rotation) in the log. */
  private mlDsaSettled = false;
  private readonly recordLock: SerialLock;

  constructor(private readonly options: CheckpointerOptions) {
    this.recordLock = options.recordLock ?? new SerialLock();
  }

  /**
   * Signs one of the ledger's records by the Ed25519 key in force (recordKey) and appends it at `expected`, both
   * under the lock a key rotation's append takes: a rotation cannot land between the choice of the key and the
   * append, which would put a record signed by the replaced key at a leaf after the rotation, where §5.4 requires
   * the new key and every verifier refuses it. Returns the record's $all position.
   */
  appendRecord(sign: (signer: EventSigner) => SignedEvent, expected: bigint | null): Promise<bigint> {
    return this.recordLock.run(async () => {
      // The lock orders this process's appends; another instance of a shared log may rotate between the choice of
      // the key and the append, so the append is also conditional on the rotation stream being where the key was
      // read from (docs/shared-log.md §2.2). Refused on that condition, the key is chosen again.
      for (let attempt = 1; ; attempt++) {
        const { key, rotationsRevision } = await this.recordKeyInForce();
        const signed = sign(new EventSigner(key, 'ledger', this.options.clock));
        try {
          return await this.append(signed, expected, signed.stream === LEDGER_KEY_ROTATIONS_STREAM ? undefined : rotationsRevision);
        } catch (error) {
          if (!(error instanceof WrongExpectedVersionError) || error.stream !== LEDGER_KEY_ROTATIONS_STREAM || signed.stream === LEDGER_KEY_ROTATIONS_STREAM || attempt >= 5) throw error;
          this.options.logger?.info({ stream: signed.stream, type: signed.event.type }, 'the ledger key was rotated while a record was being signed: signing it again with the key now in force');
        }
      }
    });
  }

  /**
   * Records the administrator keys in force, when they differ from the last record. Instances starting
   * together on one store may race for the same revision: the loser reads the record again.
   */
  async recordTrustedAdminKeys(keys: ReadonlyMap<string, Uint8Array>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.recordTrustedAdminKeysOnce(keys);
      } catch (error) {
        if (!(error instanceof WrongExpectedVersionError) || attempt >= 5) throw error;
      }
    }
  }

  private async recordTrustedAdminKeysOnce(keys: ReadonlyMap<string, Uint8Array>): Promise<void> {
    const last = await this.head(LEDGER_TRUST_STREAM);
    const wanted = [...keys.entries()].map(([keyId, pub]) => ({ keyId, publicKey: toHex(pub) })).sort((a, b) => a.keyId.localeCompare(b.keyId));
    const current = last?.decoded.event;
    if (current?.type === 'AdminKeysTrusted' && JSON.stringify([...current.data.keys].sort((a, b) => a.keyId.localeCompare(b.keyId)).map((k) => ({ keyId: k.keyId, publicKey: k.publicKey }))) === JSON.stringify(wanted)) return;
    await this.appendRecord((signer) => signer.sign('AdminKeysTrusted', { keys: wanted }, { prev: last?.decoded.digest ?? null }), last?.recorded.revision ?? null);
  }

  /**
   * Announces the ledger's ML-DSA-44 key under its Ed25519 key, when the last announcement names another key
   * (a rotation) or there is none. Checkpoints signed after it carry both signatures; verifiers require both
   * for evidence whose checkpoint is at or after the announcement's leaf.
   */
  async announceMlDsaKey(): Promise<void> {
    const key = this.options.mlDsaKey;
    if (!key) return;
    for (let attempt = 1; ; attempt++) {
      try {
        const last = await this.head(LEDGER_KEYS_STREAM);
        if ((await this.mlDsaKeyInLog())?.keyId === key.keyId) return;
        // A key that no rotation names (one restored after its predecessor was lost): announced, not linked, so
        // verifiers pinned to the old key do not follow it (docs/format.md §5.5).
        const data = { algorithm: 'ml-dsa-44' as const, keyId: key.keyId, publicKey: toBase64(key.publicKey), verifierKey: formatMlDsaVerifierKey(this.options.origin, key.publicKey) };
        await this.appendRecord((signer) => signer.sign('LedgerKeyAnnounced', data, { prev: last?.decoded.digest ?? null }), last?.recorded.revision ?? null);
        return;
      } catch (error) {
        if (!(error instanceof WrongExpectedVersionError) || attempt >= 5) throw error;
      }
    }
  }

  /**
   * Announces this checkpointer's Ed25519 key (the new ledger key) by a LedgerKeyRotated record signed with the
   * key it replaces (docs/format.md §5.4), unless the chain already ends at it. Refuses when the chain in the log
   * ends at a third key: the replaced key given is not the one in force. Ledger records and checkpoints
   * signed after it are the new key's.
   */
  announceLedgerKeyRotation(previous: Signer): Promise<void> {
    // Under the records' lock (appendRecord): no record signed by `previous` is appended after this one.
    return this.recordLock.run(() => this.announceLedgerKeyRotationNow(previous));
  }

  private async announceLedgerKeyRotationNow(previous: Signer): Promise<void> {
    const { ledgerKey, origin, clock } = this.options;
    const last = await this.head(LEDGER_KEY_ROTATIONS_STREAM);
    // The stream holds both chains (§5.4, §5.5): the Ed25519 one's newest link.
    const current = (await this.rotationsInLog()).filter((r) => r.data.algorithm === 'ed25519').pop();
    if (current?.data.keyId === ledgerKey.keyId) return;
    if (current && current.data.keyId !== previous.keyId) {
      throw new KeyFileError(`the log's newest ledger key is ${current.data.keyId}, not ${previous.keyId}, which ledger.json says was replaced: refusing to announce ${ledgerKey.keyId}`);
    }
    const data = {
      algorithm: 'ed25519' as const,
      previousKeyId: previous.keyId,
      previousPublicKey: toHex(previous.publicKey),
      keyId: ledgerKey.keyId,
      publicKey: toHex(ledgerKey.publicKey),
      verifierKey: formatVerifierKey(origin, ledgerKey.publicKey),
    };
    await this.append(new EventSigner(previous, 'ledger', clock).sign('LedgerKeyRotated', data, { prev: last?.decoded.digest ?? null }), last?.recorded.revision ?? null);
  }

  /**
   * Announces this checkpointer's ML-DSA-44 key by a LedgerKeyRotated record (version 2, docs/format.md §5.5)
   * whose data the replaced ML-DSA-44 key signs (previousKeySignature) and whose envelope the Ed25519 ledger key
   * in force signs, unless the log already names it. Refuses when the log's ML-DSA-44 key is not the one given as
   * replaced: the link would not continue the chain.
   */
  async announceMlDsaKeyRotation(previous: MlDsaSigner): Promise<void> {
    const key = this.options.mlDsaKey;
    if (!key) throw new KeyFileError('an ML-DSA-44 key rotation needs post-quantum signatures on');
    const inLog = await this.mlDsaKeyInLog();
    if (inLog?.keyId === key.keyId) return;
    if (inLog?.keyId !== previous.keyId) {
      throw new KeyFileError(`the log's ML-DSA-44 key is ${inLog ? inLog.keyId : 'not announced'}, not ${previous.keyId}, which ledger.json says was replaced: refusing to announce ${key.keyId}`);
    }
    const last = await this.head(LEDGER_KEY_ROTATIONS_STREAM);
    await this.appendRecord((signer) => signer.sign('LedgerKeyRotated', mlDsaRotationData(this.options.origin, previous, key), { prev: last?.decoded.digest ?? null }), last?.recorded.revision ?? null);
  }

  /**
   * The elected writer of a shared log announces the Ed25519 rotation it holds, unless the log already names the
   * new key. Appended at the stream's expected revision: when another instance's announcement landed first, this
   * one fails with a conflict and the log's chain, re-read, already ends at the new key.
   */
  private async announceAsWriter(previous: Signer): Promise<void> {
    await onceMoreOnConflict(() => this.announceLedgerKeyRotation(previous));
  }

  /**
   * After the Ed25519 key is settled (keyInForceAt), the elected writer announces its ML-DSA-44 key: the rotation
   * it holds (mlDsaRotatedFrom), or the key itself when the log names none. It never announces a key of its own
   * over another the log already names: an instance on old files is refused by mlDsaKeyInForceAt instead.
   * Returns whether it appended a record. Once done, not again: what the log holds it holds for ever.
   */
  private async announceMlDsaAsWriter(): Promise<boolean> {
    if (this.mlDsaSettled || !this.options.mlDsaKey) return false;
    const previous = this.options.mlDsaRotatedFrom;
    const before = await this.mlDsaKeyInLog();
    if (previous) await onceMoreOnConflict(() => this.announceMlDsaKeyRotation(previous));
    else if (before === null) await this.announceMlDsaKey();
    this.mlDsaSettled = true;
    return (await this.mlDsaKeyInLog())?.keyId !== before?.keyId;
  }

  /**
   * The ML-DSA-44 key in force at leaf `size` (docs/format.md §5.5.1): the key of the last ML-DSA-44 record
   * (LedgerKeyAnnounced, or a version 2 LedgerKeyRotated) at a leaf before `size`; before the first in the tree,
   * the first rotation's replaced key, or the first announced key; with none in the log, the key this instance
   * starts from. Null when the log names no ML-DSA-44 key and this instance has none.
   */
  async mlDsaKeyInForce(size: number): Promise<{ keyId: string; verifierKey: string } | null> {
    const { mlDsaKey, mlDsaRotatedFrom, origin } = this.options;
    const records: { keyId: string; verifierKey: string; position: bigint; replaced: { keyId: string; verifierKey: string } | null }[] = [];
    for (const recorded of await this.options.store.readStream(LEDGER_KEYS_STREAM)) {
      const { event } = decodeStored(recorded.data);
      if (event.type === 'LedgerKeyAnnounced') records.push({ keyId: event.data.keyId, verifierKey: event.data.verifierKey, position: recorded.position, replaced: null });
    }
    for (const r of (await this.rotationsInLog()).filter((x) => x.data.algorithm === 'ml-dsa-44')) {
      records.push({ keyId: r.data.keyId, verifierKey: r.data.verifierKey, position: r.position, replaced: { keyId: r.data.previousKeyId, verifierKey: formatMlDsaVerifierKey(origin, fromBase64(r.data.previousPublicKey)) } });
    }
    records.sort((a, b) => (a.position < b.position ? -1 : a.position > b.position ? 1 : 0));
    const first = records[0];
    if (!first) {
      const own = mlDsaRotatedFrom ?? mlDsaKey;
      return own ? { keyId: own.keyId, verifierKey: formatMlDsaVerifierKey(origin, own.publicKey) } : null;
    }
    const leaves = await this.options.log.leavesOfPositions(records.map((r) => r.position));
    const last = records.filter((r) => (leaves.get(r.position)?.index ?? Number.MAX_SAFE_INTEGER) < size).at(-1);
    if (last) return { keyId: last.keyId, verifierKey: last.verifierKey };
    return first.replaced ?? { keyId: first.keyId, verifierKey: first.verifierKey };
  }

  /** The ML-DSA-44 verifier key of the newest checkpoint recorded (`GET /v1/ledger/pq-key`), null with none. */
  async mlDsaVerifierKeyInForce(): Promise<string | null> {
    const newest = await this.newestRecorded();
    if (!newest) await this.options.log.catchUp();
    return (await this.mlDsaKeyInForce(newest ? newest.size : await this.options.log.size()))?.verifierKey ?? null;
  }

  /**
   * The ML-DSA-44 key that makes the line of a checkpoint of `size` leaves, when this instance holds it; null with
   * post-quantum signatures off. Otherwise, like keyInForceAt, it refuses and gives up the writer's lock.
   */
  private async mlDsaKeyInForceAt(size: number): Promise<MlDsaSigner | null> {
    const { mlDsaKey, mlDsaRotatedFrom, leadership, logger } = this.options;
    if (!mlDsaKey) return null;
    const inForce = (await this.mlDsaKeyInForce(size))?.keyId ?? mlDsaKey.keyId;
    if (inForce === mlDsaKey.keyId) return mlDsaKey;
    if (mlDsaRotatedFrom && inForce === mlDsaRotatedFrom.keyId) return mlDsaRotatedFrom;
    const message = `the ML-DSA-44 ledger key in force at tree size ${size} is ${inForce}, but this instance holds ${mlDsaKey.keyId}: install the rotated ledger-ml-dsa.key, ledger-ml-dsa.key.<old key id> and ledger.json from an instance that has them, then restart; refusing to sign`;
    logger?.error({ size, mlDsaKeyInForce: inForce, heldMlDsaKey: mlDsaKey.keyId }, message);
    leadership?.abdicate?.(message);
    throw new CheckpointRefusedError(message);
  }

  /**
   * The Ed25519 ledger key in force at leaf `size` (docs/format.md §5.4): the new key of the last Ed25519
   * LedgerKeyRotated at a leaf before `size`, else the first link's replaced key; with no rotation in the log, the
   * key this instance starts from (ledger.json's `rotatedFrom` during a rotation not yet announced, else its own).
   * A function of the tree, not of timing.
   */
  async keyInForce(size: number): Promise<{ keyId: string; verifierKey: string }> {
    const { ledgerKey, rotatedFrom, origin } = this.options;
    const chain = (await this.rotationsInLog()).filter((r) => r.data.algorithm === 'ed25519');
    const first = chain[0];
    if (!first) {
      const own = rotatedFrom ?? ledgerKey;
      return { keyId: own.keyId, verifierKey: formatVerifierKey(origin, own.publicKey) };
    }
    const leaves = await this.options.log.leavesOfPositions(chain.map((r) => r.position));
    const last = chain.filter((r) => (leaves.get(r.position)?.index ?? Number.MAX_SAFE_INTEGER) < size).at(-1);
    if (last) return { keyId: last.data.keyId, verifierKey: last.data.verifierKey };
    return { keyId: first.data.previousKeyId, verifierKey: formatVerifierKey(origin, fromHex(first.data.previousPublicKey)) };
  }

  /**
   * Every Ed25519 key of the ledger's key chain, oldest first, with the tree sizes it signs (keyInForce as ranges):
   * the first key from size 0; a rotation at leaf L ends the replaced key at size L and starts the new one at L + 1.
   * What `/.well-known/scitt-keys` serves, so a receipt by a replaced key still finds its key after a restart. With
   * no rotation in the log: the key this instance starts from (`rotatedFrom` while a rotation is not announced yet:
   * the new key signs nothing before its announcement is in the tree, so it is not listed before).
   */
  async ledgerKeyChain(): Promise<{ key: { keyId: string; publicKey: Uint8Array }; validity: { from: number; until: number | null } }[]> {
    const { ledgerKey, rotatedFrom } = this.options;
    const chain = (await this.rotationsInLog()).filter((r) => r.data.algorithm === 'ed25519');
    const first = chain[0];
    if (!first) {
      const own = rotatedFrom ?? ledgerKey;
      return [{ key: own, validity: { from: 0, until: null } }];
    }
    await this.options.log.catchUp();
    const leaves = await this.options.log.leavesOfPositions(chain.map((r) => r.position));
    const out: { key: { keyId: string; publicKey: Uint8Array }; validity: { from: number; until: number | null } }[] = [];
    let from = 0;
    let key = { keyId: first.data.previousKeyId, publicKey: fromHex(first.data.previousPublicKey) };
    for (const link of chain) {
      const leaf = leaves.get(link.position)?.index;
      // A rotation the Merkle log has not reached yet: the replaced key is in force for every size until it does.
      if (leaf === undefined) break;
      out.push({ key, validity: { from, until: leaf } });
      from = leaf + 1;
      key = { keyId: link.data.keyId, publicKey: fromHex(link.data.publicKey) };
    }
    out.push({ key, validity: { from, until: null } });
    return out;
  }

  /** The verifier key of the newest checkpoint recorded (what `GET /v1/ledger/key` answers on every instance). */
  async verifierKeyInForce(): Promise<string> {
    const newest = await this.newestRecorded();
    if (newest) return (await this.keyInForce(newest.size)).verifierKey;
    await this.options.log.catchUp();
    return (await this.keyInForce(await this.options.log.size())).verifierKey;
  }

  /**
   * The signer of a ledger record appended now (docs/format.md §5.4: by the key in force at its leaf). Every
   * rotation already in the store precedes the record, so the key in force is the last one's new key, whether or
   * not the Merkle log has reached it; with none, the key this instance starts from. An instance that does not hold
   * it (on old files) refuses rather than put a record in the log that no verifier accepts.
   */

  /**
   * The Ed25519 key in force now (as `recordSigner`), for what the ledger signs that names no checkpoint: the CRA
   * documents (SBOMs, VEX, a notification list's envelope). Refuses like `recordSigner` on an instance without it.
   */
  async recordKey(): Promise<Signer> {
    return (await this.recordKeyInForce()).key;
  }

  /** recordKey, and the revision of the rotation stream it was read at (null: no rotation yet). */
  private async recordKeyInForce(): Promise<{ key: Signer; rotationsRevision: bigint | null }> {
    const { ledgerKey, rotatedFrom } = this.options;
    const rotations = await this.rotationsInLog();
    const last = rotations.filter((r) => r.data.algorithm === 'ed25519').at(-1);
    const inForce = last ? last.data.keyId : (rotatedFrom ?? ledgerKey).keyId;
    const key = [ledgerKey, ...(rotatedFrom ? [rotatedFrom] : [])].find((k) => k.keyId === inForce);
    if (!key) throw new LedgerError('UNAVAILABLE', `the ledger key in force is ${inForce}, but this instance holds ${ledgerKey.keyId}: it cannot sign ledger records; ask another instance, and install the rotated ledger.key, ledger.key.<old key id> and ledger.json here, then restart`, { keyInForce: inForce, heldKey: ledgerKey.keyId });
    return { key, rotationsRevision: rotations.at(-1)?.revision ?? null };
  }

  /**
   * The keys that sign a statement over checkpoint `note` (docs/format.md §5.4, §5.5.1: the checkpoint's own keys,
   * those in force at its size). During a rotation on a shared log an instance may hold the checkpoint's key as
   * `rotatedFrom`; an instance on old files holds neither after the rotation and refuses, naming both keys.
   */
  async statementKeysFor(note: string): Promise<{ ledgerKey: Signer; mlDsaKey: MlDsaSigner | null }> {
    // Every document of a checkpoint asks of the same note: its signature lines are parsed and their key ids hashed once.
    if (this.statementKeysOfNote?.note === note) return this.statementKeysOfNote.keys;
    const keys = await this.statementKeysNow(note);
    this.statementKeysOfNote = { note, keys };
    return keys;
  }

  private statementKeysOfNote: { note: string; keys: { ledgerKey: Signer; mlDsaKey: MlDsaSigner | null } } | null = null;

  private async statementKeysNow(note: string): Promise<{ ledgerKey: Signer; mlDsaKey: MlDsaSigner | null }> {
    const { ledgerKey, rotatedFrom, mlDsaKey, mlDsaRotatedFrom, origin } = this.options;
    const signedBy = new Set(parseNote(note).signatures.filter((s) => s.name === origin).map((s) => s.id));
    const size = sizeOfNote(note);
    const ed25519 = [ledgerKey, ...(rotatedFrom ? [rotatedFrom] : [])].find((k) => signedBy.has(noteKeyId(origin, k.publicKey)));
    if (!ed25519) {
      const inForce = await this.keyInForce(size);
      throw new LedgerError('UNAVAILABLE', `checkpoint ${size} is signed by the ledger key in force at its size, ${inForce.keyId}, but this instance holds ${ledgerKey.keyId}: it cannot sign evidence over it; ask another instance, and install the rotated ledger.key, ledger.key.<old key id> and ledger.json here, then restart`, { size, keyInForce: inForce.keyId, heldKey: ledgerKey.keyId });
    }
    if (!mlDsaKey) return { ledgerKey: ed25519, mlDsaKey: null };
    // A note with the Ed25519 line alone (made before the ML-DSA-44 key): the statement is hybrid as ever.
    if (signedBy.size < 2) return { ledgerKey: ed25519, mlDsaKey };
    const pq = [mlDsaKey, ...(mlDsaRotatedFrom ? [mlDsaRotatedFrom] : [])].find((k) => signedBy.has(mlDsaNoteKeyId(origin, k.publicKey)));
    if (!pq) {
      const inForce = (await this.mlDsaKeyInForce(size))?.keyId ?? 'unknown';
      throw new LedgerError('UNAVAILABLE', `checkpoint ${size} carries the ML-DSA-44 line of the key in force at its size, ${inForce}, but this instance holds ${mlDsaKey.keyId}: it cannot sign evidence over it; ask another instance, and install the rotated ledger-ml-dsa.key, ledger-ml-dsa.key.<old key id> and ledger.json here, then restart`, { size, mlDsaKeyInForce: inForce, heldMlDsaKey: mlDsaKey.keyId });
    }
    return { ledgerKey: ed25519, mlDsaKey: pq };
  }

  /**
   * The key that must sign a checkpoint of `size` leaves (keyInForce), when this instance holds it. Otherwise a
   * deposed writer or an instance on old files refuses rather than sign past a rotation, and gives up the lock.
   */
  private async keyInForceAt(size: number): Promise<Signer> {
    const { ledgerKey, rotatedFrom, leadership, logger } = this.options;
    const inForce = (await this.keyInForce(size)).keyId;
    if (inForce === ledgerKey.keyId) return ledgerKey;
    if (rotatedFrom && inForce === rotatedFrom.keyId) return rotatedFrom;
    const message = `the ledger key in force at tree size ${size} is ${inForce}, but this instance holds ${ledgerKey.keyId}: install the rotated ledger.key, ledger.key.<old key id> and ledger.json from an instance that has them, then restart; refusing to sign`;
    logger?.error({ size, keyInForce: inForce, heldKey: ledgerKey.keyId }, message);
    leadership?.abdicate?.(message);
    throw new CheckpointRefusedError(message);
  }

  /** The rotation records in the log, oldest first: a handful, read at start only. */
  private async rotationsInLog(): Promise<{ data: EventOf<'LedgerKeyRotated'>['data']; position: bigint; revision: bigint }[]> {
    const out: { data: EventOf<'LedgerKeyRotated'>['data']; position: bigint; revision: bigint }[] = [];
    for (const recorded of await this.options.store.readStream(LEDGER_KEY_ROTATIONS_STREAM)) {
      const { event } = decodeStored(recorded.data);
      if (event.type === 'LedgerKeyRotated') out.push({ data: event.data, position: recorded.position, revision: recorded.revision });
    }
    return out;
  }

  /** The ML-DSA-44 key the log names last: by its announcement (LedgerKeyAnnounced) or its latest rotation. */
  private async mlDsaKeyInLog(): Promise<{ keyId: string } | null> {
    const announced = await this.head(LEDGER_KEYS_STREAM);
    const rotated = (await this.rotationsInLog()).filter((r) => r.data.algorithm === 'ml-dsa-44').pop();
    const a = announced?.decoded.event.type === 'LedgerKeyAnnounced' ? { keyId: announced.decoded.event.data.keyId, position: announced.recorded.position } : null;
    const r = rotated ? { keyId: rotated.data.keyId, position: rotated.position } : null;
    if (!a || !r) return a ?? r;
    return a.position > r.position ? a : r;
  }

  /**
   * Reads the newest CheckpointIssued record and brings the Merkle log's table up to it (a crash between the
   * record and the table leaves the table one behind). Called at start; every other method calls it too.
   */
  async open(): Promise<void> {
    if (this.recorded !== undefined) return;
    const head = await this.head(LEDGER_CHECKPOINT_STREAM);
    this.recorded = head ? recordOf(head) : null;
    // Only the log writer may repair the table (on a shared log, the others cannot write it).
    if (this.options.leadership && !this.options.leadership.isLeader()) return;
    const table = await this.options.log.latestCheckpoint();
    if (this.recorded && (!table || table.size < this.recorded.size)) {
      const { size, root, note, issuedAt } = this.recorded;
      await this.options.log.recordCheckpoint(size, root, note, new Date(issuedAt).toISOString());
    }
  }

  /** The latest recorded checkpoint note, issuing the first one if there is none. */
  /** When the newest checkpoint this instance knows of was issued (ms since the epoch), or null before the first. */
  lastIssuedAt(): number | null {
    return this.recorded?.issuedAt ?? null;
  }

  async latest(): Promise<string> {
    if (this.isFollower()) {
      const recorded = await this.newestRecorded();
      return recorded ? this.withCosignatures(recorded.note, recorded.size) : this.issue();
    }
    await this.open();
    return this.recorded ? this.withCosignatures(this.recorded.note, this.recorded.size) : this.issue();
  }

  /**
   * The ledger's note with the witnesses' cosignatures: asked once per checkpoint (concurrent callers share
   * the request), and again after a while if some witness did not answer.
   */
  private withCosignatures(ledgerNote: string, size: number): Promise<string> {
    const witnesses = this.options.witnesses;
    if (!witnesses || witnesses.size === 0) return Promise.resolve(ledgerNote);
    const now = this.options.clock().getTime();
    const w = this.witnessed;
    if (w && w.ledgerNote === ledgerNote && (w.complete || now - w.at < WITNESS_RETRY_MS)) return Promise.resolve(w.note);
    if (this.witnessing?.ledgerNote === ledgerNote) return this.witnessing.done;
    const done = witnesses.cosign(ledgerNote, size, (from, to) => this.options.log.consistencyProof(from, to), () => this.rotationsProvedAt(ledgerNote, size)).then(
      (result) => {
        this.witnessed = { ledgerNote, note: result.note, complete: result.cosignedBy.length === witnesses.size, at: this.options.clock().getTime() };
        return result.note;
      },
      (error: unknown) => {
        this.options.logger?.error({ err: (error as Error).message }, 'witnessing failed; the checkpoint is served with the ledger signature alone');
        return ledgerNote;
      },
    );
    const entry = { ledgerNote, done: done.finally(() => { if (this.witnessing === entry) this.witnessing = null; }) };
    this.witnessing = entry;
    return entry.done;
  }

  /** On a shared log, an instance that is not the log writer: it never signs, it asks the writer. */
  private isFollower(): boolean {
    return this.options.leadership !== undefined && !this.options.leadership.isLeader();
  }

  /** The newest CheckpointIssued record in the event store, read now (the writer may have signed since). */
  private async newestRecorded(): Promise<RecordedCheckpoint | null> {
    const head = await this.head(LEDGER_CHECKPOINT_STREAM);
    return head ? recordOf(head) : null;
  }

  /**
   * A follower's checkpoint: the newest recorded one when it covers the log (nothing but its own record
   * was appended since), otherwise one the writer signs on request.
   */
  private async askWriter(leadership: SigningLeadership): Promise<string> {
    const { log } = this.options;
    await log.catchUp();
    const size = await log.size();
    const recorded = await this.newestRecorded();
    if (recorded && (recorded.size >= size || (size === recorded.size + 1 && (await log.leafOfPosition(recorded.position))?.index === recorded.size))) return recorded.note;
    return leadership.requestCheckpoint(size);
  }

  /** Signs a checkpoint of the log as it is now (or returns the latest, if nothing was added since). */
  issue(): Promise<string> {
    const run = this.queue.then(() => this.issueNow());
    this.queue = run.catch(() => undefined);
    // Witnessed outside the queue: a slow witness delays this caller, not the next signature.
    return run.then((note) => this.withCosignatures(note, sizeOfNote(note)));
  }

  private async issueNow(): Promise<string> {
    const { log, origin, leadership } = this.options;
    if (leadership && !leadership.isLeader()) return this.askWriter(leadership);
    // A writer elected after start: what it knew of the records may be stale.
    if (leadership && this.recorded !== undefined) this.recorded = await this.newestRecorded();
    await this.open();
    if (leadership && this.options.rotatedFrom) await this.announceAsWriter(this.options.rotatedFrom);
    await log.catchUp();
    let size = await log.size();
    const signingKey = await this.keyInForceAt(size);
    // The ML-DSA-44 records, signed by the Ed25519 key now known to be in force, go in before the checkpoint covers them.
    if (leadership && (await this.announceMlDsaAsWriter())) {
      await log.catchUp();
      size = await log.size();
    }
    const mlDsaKey = await this.mlDsaKeyInForceAt(size);
    const head = await this.head(LEDGER_CHECKPOINT_STREAM);
    const latest = await this.lastSigned(head);
    if (latest && latest.size > size) {
      throw new CheckpointRefusedError(`the log has ${size} leaves but checkpoint ${latest.size} was already signed: refusing to sign a shrunken log`);
    }
    if (latest && (await this.covers(latest, size))) {
      if (!bytesEqual(latest.root, await log.root(latest.size))) throw new CheckpointRefusedError(`tree ${latest.size} has another root than signed checkpoint ${latest.size}: refusing to sign`);
      return latest.note;
    }
    const root = await log.root(size);
    if (latest && !verifyConsistency(latest.size, size, latest.root, root, await log.consistencyProof(latest.size, size))) {
      throw new CheckpointRefusedError(`tree ${size} is not consistent with signed checkpoint ${latest.size}: refusing to sign`);
    }
    const now = this.options.clock();
    const classical = signNote(formatCheckpointBody({ origin, size, root }), origin, signingKey.secretKey, signingKey.publicKey);
    const note = mlDsaKey ? addMlDsaSignature(classical, origin, mlDsaKey, Math.floor(now.getTime() / 1000), signMlDsa44Native) : classical;
    // Recorded in the append-only store first: only a recorded checkpoint is ever shown to anyone.
    // A ledger record, signed like the checkpoint by the key in force at its leaf (§5.4).
    const signed = new EventSigner(signingKey, 'ledger', this.options.clock).sign('CheckpointIssued', { origin, size, rootHash: toHex(root), note, mapCommitment: 2 }, { prev: head?.decoded.digest ?? null });
    const position = await this.append(signed, head?.recorded.revision ?? null);
    await log.recordCheckpoint(size, root, note, now.toISOString());
    this.recorded = { size, root, note, position, issuedAt: now.getTime() };
    this.options.logger?.info({ size, origin }, 'checkpoint signed');
    return note;
  }

  /**
   * True when a signed checkpoint covers a log of `size` leaves: it is of that size, or the one leaf after it
   * is its own CheckpointIssued record, which is not new content.
   */
  private async covers(checkpoint: { readonly size: number }, size: number): Promise<boolean> {
    if (checkpoint.size === size) return true;
    const recorded = this.recorded;
    if (!recorded || recorded.size !== checkpoint.size || size !== recorded.size + 1) return false;
    return (await this.options.log.leafOfPosition(recorded.position))?.index === recorded.size;
  }

  /**
   * The newest checkpoint signed, from the Merkle log's table or from the append-only event store, where
   * each one is also recorded as CheckpointIssued: emptying the table (it is derived data, in a file an
   * insider can edit) does not let the ledger sign a fork. Where both know the newest size, they must agree.
   */
  private async lastSigned(head: Head | null): Promise<{ size: number; root: Uint8Array; note: string } | null> {
    const table = await this.options.log.latestCheckpoint();
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
   * Every LedgerKeyRotated of the tree of `size`, with its tlog-proof against `note` (that tree's checkpoint):
   * what a witness that knows the log by an older key is shown (src/witness/ledger-key.ts, docs/format.md §5.1.1).
   */
  async rotationsProvedAt(note: string, size: number): Promise<RotationRecord[]> {
    const recorded = await this.options.store.readStream(LEDGER_KEY_ROTATIONS_STREAM);
    if (recorded.length === 0) return [];
    const leaves = await this.options.log.leavesOfPositions(recorded.map((r) => r.position));
    const records: RotationRecord[] = [];
    for (const r of recorded) {
      const leaf = leaves.get(r.position);
      if (!leaf || leaf.index >= size) continue;
      const proof = await this.options.log.inclusionProof(leaf.index, size);
      records.push({ leafIndex: leaf.index, envelope: decodeStored(r.data).envelope, proof: formatTlogProof({ index: leaf.index, proof, checkpoint: note }) });
    }
    return records;
  }

  /** The last event of one of the ledger's streams, read alone: these streams grow for the ledger's lifetime. */
  private async head(stream: string): Promise<Head | null> {
    const [last] = await this.options.store.readStream(stream, { direction: 'backwards', maxCount: 1 });
    return last ? { recorded: last, decoded: decodeStored(last.data) } : null;
  }

  /**
   * Appends one of the ledger's own events; returns its $all position. `rotationsAt` (a revision, or null for
   * none): only while the rotation stream is still there, as a condition of the same atomic append.
   */
  private async append(signed: SignedEvent, revision: bigint | null, rotationsAt?: bigint | null): Promise<bigint> {
    const write = { stream: signed.stream, events: [{ id: signed.event.id, type: signed.event.type, data: envelopeBytes(signed.envelope) }], expected: revision ?? ('no_stream' as const) };
    if (rotationsAt === undefined) return (await this.options.store.appendToStream(write.stream, write.events, { expected: write.expected })).position;
    const [result] = await this.options.store.appendToStreams([write, { stream: LEDGER_KEY_ROTATIONS_STREAM, events: [], expected: rotationsAt ?? 'no_stream' }]);
    return (result as { position: bigint }).position;
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
    // Only the log writer signs on a cadence; the others would only ask it.
    if (this.options.leadership && !this.options.leadership.isLeader()) return;
    await this.open();
    await this.options.log.catchUp();
    const size = await this.options.log.size();
    const recorded = this.recorded;
    const fresh = !recorded ? size : (await this.covers(recorded, size)) ? 0 : size - recorded.size;
    if (fresh <= 0) return;
    const due = fresh >= this.options.everyEvents || this.options.clock().getTime() - (this.recorded?.issuedAt ?? 0) >= this.options.intervalMs;
    if (due) await this.issue();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.queue;
  }
}

/** Runs an append at a stream's expected revision, and once more when another instance's append landed first. */
async function onceMoreOnConflict(append: () => Promise<void>): Promise<void> {
  try {
    await append();
  } catch (error) {
    if (!(error instanceof WrongExpectedVersionError)) throw error;
    await append();
  }
}

function sizeOfNote(note: string): number {
  return parseCheckpointBody(parseNote(note).text).size;
}

function recordOf(head: Head): RecordedCheckpoint | null {
  const { event } = head.decoded;
  if (event.type !== 'CheckpointIssued') return null;
  return { size: event.data.size, root: fromHex(event.data.rootHash), note: event.data.note, position: head.recorded.position, issuedAt: Date.parse(event.occurredAt) };
}
