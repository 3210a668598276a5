/**
 * A monitor's audit of a whole log (docs/format.md §16), entry by entry in leaf order, resumable: fed the log's
 * entries as GET /v1/log/entries serves them, it checks every one the way a verifier checks evidence, with the
 * same steps (src/verify/steps.ts, ledger-keys.ts), and keeps what it needs to check the next one in a JSON state.
 *
 *   - each entry is an envelope the ledger's own decoder accepts (ENVELOPE_ERROR, PAYLOAD_NOT_CANONICAL, SCHEMA_ERROR);
 *   - its stream chains (CHAIN_BROKEN): its prev is the digest of the stream's entry before it, null for the first;
 *   - it is signed by the key that may sign it at its leaf (KEY_UNKNOWN, KEY_REVOKED, SIGNATURE_ERROR): a ledger
 *     record by the Ed25519 ledger key in force there (the pinned key, then the chain of LedgerKeyRotated links,
 *     each signed by the key it replaces: LEDGER_KEY_ERROR), an administrator record by a key of the last
 *     AdminKeysTrusted, a unit event by a key registered to its station and not revoked before it (§8.3);
 *   - the ML-DSA-44 chain: the key a LedgerKeyAnnounced names, then each version 2 link signed by the key it
 *     replaces (LEDGER_KEY_ERROR); pinned to the ledger's first ML-DSA-44 key, once the log names that key an
 *     unlinked LedgerKeyAnnounced of another key is a finding (LEDGER_KEY_ERROR) and is not followed (§5.5);
 *   - every checkpoint (logged, or handed to checkCheckpoint) of a tree that holds an ML-DSA-44 key carries a valid
 *     ML-DSA-44 line by the key in force at its size (the hybrid policy, CHECKPOINT_PQ_SIGNATURE_ERROR); pinned, the
 *     checkpoint handed to checkCheckpoint must be of a tree whose chain holds the pinned key (LEDGER_KEY_ERROR);
 *   - every CheckpointIssued note is signed by the key in force at leaf `size` and names the root the entries give
 *     (CHECKPOINT_SIGNATURE_ERROR, LOG_ROOT_MISMATCH; the root is compared when `size` is one of the last
 *     RECENT_ROOTS sizes, as it is when the ledger logs its checkpoint right after signing it);
 *   - a checkpoint handed to checkCheckpoint is signed by the key in force at its size, and its root is the RFC 6962
 *     root of the entries (a compact range, src/merkle/compact-range.ts);
 *   - the unit invariants (src/verify/unit-invariants.ts), fed every unit and administrator record that verified.
 *
 * A finding does not stop the audit: the entry's leaf still counts for the root and its digest becomes its
 * stream's head, so one bad entry is one finding, not a cascade. What the state holds grows with the number of
 * streams (one head per unit, station, release, batch), of station keys, of chip ids and MACs (the invariants),
 * and of ledger key rotations; not with the number of events. Pure: no Node-only APIs.
 */
import { portableCrypto, type CryptoBackend } from '../crypto/backend.ts';
import { bytesEqual, fromBase64, fromHex, fromUtf8, toBase64, toHex } from '../crypto/encoding.ts';
import { CompactRange } from '../merkle/compact-range.ts';
import { leafHash } from '../merkle/hash.ts';
import { streamOf } from '../event/streams.ts';
import { CheckpointFormatError, parseCheckpointBody, type Checkpoint } from '../tlog/checkpoint.ts';
import { NoteError, noteKeyId, verifyNote, type NoteKey } from '../tlog/note.ts';
import { parseMlDsaVerifierKey, type MlDsaNoteKey } from '../tlog/ml-dsa-note.ts';
import { checkCheckpointSignatures, type SignatureAlgorithm } from './signature-policy.ts';
import { VerificationError, type VerifyErrorCode } from './errors.ts';
import { followLedgerKeyChain, followMlDsaKeyChain, type LedgerKeyChain } from './ledger-keys.ts';
import { checkSignature, decodeLogEntry, fail, liveStationKey, recordStationKey, type Decoded, type KeyLives, type StationKeyLife } from './steps.ts';
import { UnitInvariants, type InvariantCode, type InvariantState } from './unit-invariants.ts';

/** How many of the latest tree sizes keep their root, for CheckpointIssued records logged a little after. */
export const RECENT_ROOTS = 64;

export interface LogAuditFinding {
  readonly code: VerifyErrorCode | InvariantCode;
  readonly step: string;
  /** The leaf the finding is about (null for a checkpoint's). */
  readonly leafIndex: number | null;
  readonly message: string;
  readonly evidence?: Readonly<Record<string, unknown>>;
}

/** A logged record kept whole in the state: the key chains are followed from them again after a restart. */
interface KeptEntry {
  readonly leafIndex: number;
  readonly entry: string;
}

export interface LogAuditState {
  readonly version: 1;
  /** Entries audited: the next one is leaf `size`. */
  size: number;
  /** GET /v1/log/entries `next` after the last entry audited (null: from the start). */
  cursor: string | null;
  /** The compact range of the entries audited (CompactRange.toJson form). */
  range: [number, string][];
  /** tree size → base64 root, the last RECENT_ROOTS sizes. */
  roots: Record<string, string>;
  /** stream → hex digest of its last entry. */
  heads: Record<string, string>;
  /** keyId → hex public key, from the last AdminKeysTrusted (null before the first). */
  adminKeys: Record<string, string> | null;
  /** Station key registrations by key id (§8.3). */
  stationKeys: Record<string, StationKeyLife[]>;
  /** The Ed25519 LedgerKeyRotated records accepted, in leaf order. */
  rotations: KeptEntry[];
  /** The last LedgerKeyAnnounced and the ML-DSA-44 links accepted after it. */
  mlDsa: { announced: KeptEntry | null; links: KeptEntry[] };
  invariants: InvariantState;
}

const short = (hex: string) => `${hex.slice(0, 16)}…`;

export class LogAudit {
  private readonly range: CompactRange;
  private readonly lives: KeyLives;
  private readonly invariants: UnitInvariants;
  private chain: LedgerKeyChain;
  private rotations: Decoded[];
  private announced: Decoded | null;
  private links: Decoded[];

  private constructor(
    private readonly pinned: NoteKey,
    private readonly s: LogAuditState,
    private readonly crypto: CryptoBackend,
    private readonly pinnedMlDsa: MlDsaNoteKey | null,
  ) {
    this.range = new CompactRange(
      s.range.map(([size, hash]) => ({ size, hash: fromBase64(hash) })),
      crypto,
    );
    this.lives = new Map(Object.entries(s.stationKeys));
    this.invariants = UnitInvariants.fromJSON(s.invariants);
    const decode = (k: KeptEntry) => decodeLogEntry(k.leafIndex, JSON.parse(fromUtf8(fromBase64(k.entry))), crypto);
    this.rotations = s.rotations.map(decode);
    this.chain = followLedgerKeyChain(this.rotations, pinned, crypto);
    this.announced = s.mlDsa.announced ? decode(s.mlDsa.announced) : null;
    this.links = s.mlDsa.links.map(decode);
  }

  /**
   * An audit from leaf 0 of the log `pinned` (the ledger's first Ed25519 key) names; `pinnedMlDsa`, the ledger's
   * first ML-DSA-44 key, when the auditor pins it (otherwise the ML-DSA-44 chain is the one the log announces).
   */
  static start(pinned: NoteKey, crypto: CryptoBackend = portableCrypto, pinnedMlDsa: MlDsaNoteKey | null = null): LogAudit {
    return new LogAudit(
      pinned,
      { version: 1, size: 0, cursor: null, range: [], roots: { 0: toBase64(new CompactRange([], crypto).root()) }, heads: {}, adminKeys: null, stationKeys: {}, rotations: [], mlDsa: { announced: null, links: [] }, invariants: UnitInvariants.empty().toJSON() },
      crypto,
      pinnedMlDsa,
    );
  }

  /** An audit continued from a state kept by toJSON; throws TypeError on anything else (the caller names the file). */
  static fromJSON(value: unknown, pinned: NoteKey, crypto: CryptoBackend = portableCrypto, pinnedMlDsa: MlDsaNoteKey | null = null): LogAudit {
    const v = value as Partial<LogAuditState> | null;
    if (!v || typeof v !== 'object' || v.version !== 1 || !Number.isSafeInteger(v.size) || !Array.isArray(v.range) || !Array.isArray(v.rotations) || !v.mlDsa || !v.heads || !v.stationKeys || !v.roots) {
      throw new TypeError('not a version 1 log audit state');
    }
    const state = structuredClone(v as LogAuditState);
    return new LogAudit(pinned, state, crypto, pinnedMlDsa);
  }

  /** Plain JSON: the state a monitor keeps between polls. */
  toJSON(): LogAuditState {
    return {
      ...this.s,
      range: JSON.parse(this.range.toJson()) as [number, string][],
      stationKeys: Object.fromEntries(this.lives),
      invariants: this.invariants.toJSON(),
    };
  }

  /** Entries audited so far: the next one fed must be leaf `size`. */
  get size(): number {
    return this.s.size;
  }

  /** Where GET /v1/log/entries continues (`after`), null from the start. */
  get cursor(): string | null {
    return this.s.cursor;
  }

  /** The RFC 6962 root of the entries audited. */
  root(): Uint8Array {
    return this.range.root();
  }

  /** The Ed25519 ledger key in force at `leafIndex` (§5.4), as a note verifier key under the log's origin. */
  ledgerKeyAt(leafIndex: number): NoteKey {
    const key = this.chain.keyAt(leafIndex);
    return { name: this.pinned.name, id: noteKeyId(this.pinned.name, key.publicKey), publicKey: key.publicKey };
  }

  /** The ML-DSA-44 key the log names last (announced, then linked), or null before any announcement. */
  mlDsaKey(): MlDsaNoteKey | null {
    return this.mlDsaChain().at(-1)?.key ?? null;
  }

  /**
   * The ML-DSA-44 key in force at leaf `leafIndex` (§5.5.1): the key of the last announcement or link at a leaf
   * before it, of the chain followed since the last announcement; null before it (no key, or one not kept).
   */
  mlDsaKeyAt(leafIndex: number): MlDsaNoteKey | null {
    return this.mlDsaChain().filter((k) => k.leafIndex < leafIndex).at(-1)?.key ?? null;
  }

  /** The ML-DSA-44 keys of the chain followed, each from the leaf of the record that names it. */
  private mlDsaChain(): { leafIndex: number; key: MlDsaNoteKey }[] {
    return [this.announced, ...this.links].filter((d): d is Decoded => d !== null).map((d) => ({ leafIndex: d.leafIndex, key: mlDsaVerifierKeyOf(d) }));
  }

  /** The leaf of the record that names the pinned ML-DSA-44 key in the chain followed, null when none does (or none is pinned). */
  private pinnedMlDsaLeaf(): number | null {
    const pinned = this.pinnedMlDsa;
    return pinned ? (this.mlDsaChain().find((k) => k.key.id === pinned.id && bytesEqual(k.key.publicKey, pinned.publicKey))?.leafIndex ?? null) : null;
  }

  /** A page of GET /v1/log/entries (entries in leaf order from leaf `size`) and its `next` cursor; returns the findings. */
  observePage(entries: readonly Uint8Array[], next: string | null): LogAuditFinding[] {
    const findings: LogAuditFinding[] = [];
    for (const bytes of entries) findings.push(...this.observe(bytes));
    if (entries.length > 0) this.s.cursor = next;
    return findings;
  }

  private observe(bytes: Uint8Array): LogAuditFinding[] {
    const leafIndex = this.s.size;
    const findings: LogAuditFinding[] = [];
    const found = (error: unknown) => {
      if (!(error instanceof VerificationError)) throw error;
      findings.push({ code: error.code, step: error.step, leafIndex, message: error.message, evidence: { ...error.location, ...(error.evidence ?? {}) } });
    };
    try {
      let envelope: unknown;
      try {
        envelope = JSON.parse(fromUtf8(bytes));
      } catch (error) {
        throw new VerificationError('ENVELOPE_ERROR', 'envelopes', `leaf ${leafIndex} is not JSON text: ${(error as Error).message}`, { leafIndex });
      }
      const d = decodeLogEntry(leafIndex, envelope, this.crypto);
      const stream = streamOf(d.event);
      const head = this.s.heads[stream] ?? null;
      this.s.heads[stream] = d.digest;
      try {
        if (d.event.prev !== head) {
          throw fail('CHAIN_BROKEN', 'chains', d, head === null ? `the first entry of ${stream} has prev ${short(String(d.event.prev))}, not null` : `prev is ${short(String(d.event.prev))}, but the entry before it in ${stream} hashes to ${short(head)}`);
        }
      } catch (error) {
        found(error);
      }
      if (this.signedAsItMustBe(d, findings)) {
        for (const f of this.invariants.observe(d.event, leafIndex)) findings.push({ code: f.code, step: 'invariants', leafIndex, message: f.message, evidence: { serial: f.serial, ...f.evidence } });
      }
    } catch (error) {
      found(error);
    }
    this.range.append(leafHash(bytes, this.crypto));
    this.s.size++;
    this.s.roots[String(this.s.size)] = toBase64(this.range.root());
    delete this.s.roots[String(this.s.size - RECENT_ROOTS)];
    return findings;
  }

  /** The signer checks of one entry, and what a verified ledger or administrator record changes; false on a finding. */
  private signedAsItMustBe(d: Decoded, findings: LogAuditFinding[]): boolean {
    try {
      const e = d.event;
      if (e.source.kind === 'station') {
        checkSignature(d, liveStationKey(d, this.lives, 'keys'), this.crypto, 'keys');
        return true;
      }
      if (e.source.kind === 'admin') {
        const key = this.s.adminKeys?.[d.keyId];
        if (key === undefined) throw fail('KEY_UNKNOWN', 'keys', d, `${e.type} is signed by ${short(d.keyId)}, not an administrator key trusted at that point of the log`);
        checkSignature(d, fromHex(key), this.crypto, 'keys');
        recordStationKey(this.lives, d, 'keys');
        return true;
      }
      // A ledger record.
      if (e.type === 'LedgerKeyRotated' && e.data.algorithm === 'ed25519') {
        // Signed by the key it replaces, continuing the chain from the pinned key: followLedgerKeyChain's checks.
        const chain = followLedgerKeyChain([...this.rotations, d], this.pinned, this.crypto, 'ledger-keys');
        this.rotations.push(d);
        this.s.rotations.push(this.kept(d));
        this.chain = chain;
        return true;
      }
      const live = this.chain.keyAt(d.leafIndex);
      if (d.keyId !== live.keyId) throw fail('KEY_UNKNOWN', 'keys', d, `${e.type} must be signed by the ledger key ${short(live.keyId)} in force at leaf ${d.leafIndex}, not ${short(d.keyId)}`);
      checkSignature(d, live.publicKey, this.crypto, 'keys');
      if (e.type === 'AdminKeysTrusted') {
        this.s.adminKeys = Object.fromEntries(e.data.keys.map((k) => [k.keyId, k.publicKey]));
      } else if (e.type === 'LedgerKeyAnnounced') {
        const key = mlDsaVerifierKeyOf(d);
        const current = this.mlDsaKey();
        if (current !== null && current.id === key.id && bytesEqual(current.publicKey, key.publicKey)) return true;
        // Pinned, and the log already names the pinned key: trust in ML-DSA-44 keys flows only through links the
        // replaced key signs (§5.5.1); an unlinked announcement is what a ledger that lost its key does, and what
        // this monitor reports instead of following (its ML-DSA-44 chain stays the pinned one).
        if (this.pinnedMlDsaLeaf() !== null) {
          throw fail('LEDGER_KEY_ERROR', 'ledger-keys', d, `LedgerKeyAnnounced names the ML-DSA-44 key ${key.id}, unlinked: the key in force, ${current?.id ?? '(none)'}, of the chain from the pinned ${this.pinnedMlDsa?.id}, did not sign it; a monitor pinned to that key does not follow it (pin the new key out of band, with a new --state)`);
        }
        // An announcement replaces the ML-DSA-44 key, unlinked (§5.5): the chain starts again from it.
        this.announced = d;
        this.links = [];
        this.s.mlDsa = { announced: this.kept(d), links: [] };
      } else if (e.type === 'LedgerKeyRotated') {
        const announced = this.mlDsaAnnounced(d);
        followMlDsaKeyChain([...this.links, d], announced, this.crypto, 'ledger-keys');
        this.links.push(d);
        this.s.mlDsa.links.push(this.kept(d));
      } else if (e.type === 'CheckpointIssued') {
        this.checkIssued(d, e.data);
      }
      return true;
    } catch (error) {
      if (!(error instanceof VerificationError)) throw error;
      findings.push({ code: error.code, step: error.step, leafIndex: d.leafIndex, message: error.message, evidence: { ...error.location, ...(error.evidence ?? {}) } });
      return false;
    }
  }

  private mlDsaAnnounced(d: Decoded): MlDsaNoteKey {
    if (!this.announced) throw fail('LEDGER_KEY_ERROR', 'ledger-keys', d, 'an ML-DSA-44 rotation before any LedgerKeyAnnounced: there is no key for it to replace');
    try {
      return parseMlDsaVerifierKey((this.announced.event.data as { verifierKey: string }).verifierKey);
    } catch (error) {
      if (!(error instanceof NoteError)) throw error;
      throw fail('LEDGER_KEY_ERROR', 'ledger-keys', this.announced, `the announced ML-DSA-44 verifier key is not valid: ${error.message}`);
    }
  }

  /** A CheckpointIssued record: its note is the ledger's, for the tree it names. */
  private checkIssued(d: Decoded, data: { size: number; rootHash: string; note: string }): void {
    const checkpoint = this.checkNote(data.note, d.leafIndex + 1, 'logged-checkpoints');
    try {
      this.checkMlDsaLine(data.note, checkpoint.size, 'logged-checkpoints', false);
    } catch (error) {
      if (!(error instanceof VerificationError)) throw error;
      // Located at the record that logged the note, as the other logged-checkpoint findings are.
      const located = fail(error.code, 'logged-checkpoints', d, `the note it logs: ${error.message}`);
      throw new VerificationError(located.code, located.step, located.message, located.location, { checkpoint: data.note });
    }
    if (checkpoint.size !== data.size || toHex(checkpoint.root) !== data.rootHash) throw fail('FORMAT_ERROR', 'logged-checkpoints', d, `the record names tree ${data.size} with root ${short(data.rootHash)}, its note tree ${checkpoint.size} with root ${short(toHex(checkpoint.root))}`);
    const root = this.s.roots[String(checkpoint.size)];
    if (root !== undefined && !bytesEqual(fromBase64(root), checkpoint.root)) {
      throw new VerificationError('LOG_ROOT_MISMATCH', 'logged-checkpoints', `leaf ${d.leafIndex}: the ledger logged a checkpoint of tree ${checkpoint.size} with root ${short(toHex(checkpoint.root))}, but the log's first ${checkpoint.size} entries give ${short(toHex(fromBase64(root)))}`, { leafIndex: d.leafIndex, eventId: d.event.id, eventType: d.event.type }, { checkpoint: data.note });
    }
  }

  /** A note signed by the ledger key in force at leaf `size` (known only once `size` ≤ `known` leaves are audited). */
  private checkNote(note: string, known: number, step: string): Checkpoint {
    let checkpoint: Checkpoint;
    try {
      checkpoint = parseCheckpointBody(note.slice(0, note.indexOf('\n\n') + 1));
    } catch (error) {
      if (!(error instanceof CheckpointFormatError)) throw error;
      throw new VerificationError('FORMAT_ERROR', step, `not a checkpoint: ${error.message}`, { field: 'checkpoint' }, { checkpoint: note });
    }
    if (checkpoint.origin !== this.pinned.name) throw new VerificationError('CHECKPOINT_ORIGIN_ERROR', step, `the checkpoint's origin is ${checkpoint.origin}, not ${this.pinned.name}`, { field: 'checkpoint' }, { checkpoint: note });
    if (checkpoint.size > known) throw new VerificationError('FORMAT_ERROR', step, `the checkpoint of tree ${checkpoint.size} is beyond the ${known} entries audited`, { field: 'checkpoint' }, { checkpoint: note });
    const key = this.ledgerKeyAt(checkpoint.size);
    try {
      verifyNote(note, [key], this.crypto);
    } catch (error) {
      if (!(error instanceof NoteError)) throw error;
      throw new VerificationError('CHECKPOINT_SIGNATURE_ERROR', step, `the checkpoint of tree ${checkpoint.size} is not signed by the ledger key ${key.id} in force at leaf ${checkpoint.size}: ${error.message}`, { field: 'checkpoint' }, { checkpoint: note });
    }
    return checkpoint;
  }

  /**
   * A checkpoint of the tree the audit has read to its end (its size is `size`): signed by the ledger key in force
   * at that size, its root the entries' root. Throws VerificationError (CHECKPOINT_SIGNATURE_ERROR, LOG_ROOT_MISMATCH, …).
   */
  checkCheckpoint(note: string): Checkpoint & { signatures: SignatureAlgorithm[] } {
    const checkpoint = this.checkNote(note, this.s.size, 'checkpoint');
    if (checkpoint.size !== this.s.size) throw new VerificationError('FORMAT_ERROR', 'checkpoint', `the checkpoint is of tree ${checkpoint.size}, the audit has read ${this.s.size} entries`, { field: 'checkpoint' }, { checkpoint: note });
    if (!bytesEqual(checkpoint.root, this.range.root())) {
      throw new VerificationError('LOG_ROOT_MISMATCH', 'checkpoint', `the checkpoint of tree ${checkpoint.size} has root ${short(toHex(checkpoint.root))}, but the ${checkpoint.size} entries the ledger serves give ${short(toHex(this.range.root()))}: the entries are not the log the ledger signed`, { field: 'checkpoint' }, { checkpoint: note });
    }
    return { ...checkpoint, signatures: this.checkMlDsaLine(note, checkpoint.size, 'checkpoint', true) };
  }

  /**
   * The hybrid policy (§5.5) for a checkpoint of tree `size`: with an ML-DSA-44 key in force at leaf `size`, its
   * line by that key must be there and verify (CHECKPOINT_PQ_SIGNATURE_ERROR). With a pinned key, a `current`
   * checkpoint (the one the ledger serves now) must be of a tree whose chain holds the pinned key
   * (LEDGER_KEY_ERROR); a logged one from before the pinned key's record is checked with the classical policy.
   */
  private checkMlDsaLine(note: string, size: number, step: string, current: boolean): SignatureAlgorithm[] {
    const pinnedLeaf = this.pinnedMlDsaLeaf();
    const pinned = this.pinnedMlDsa;
    if (pinned && (pinnedLeaf === null || pinnedLeaf >= size)) {
      if (!current) return ['Ed25519'];
      const chain = this.mlDsaChain().map((k) => `${k.key.id} (leaf ${k.leafIndex})`);
      throw new VerificationError('LEDGER_KEY_ERROR', step, `the pinned ML-DSA-44 key ${pinned.name}+${pinned.id} is not in the log's chain of ML-DSA-44 keys before leaf ${size}: ${chain.length > 0 ? chain.join(' → ') : 'the log announces none'}`, { field: 'checkpoint' }, { checkpoint: note });
    }
    const key = this.mlDsaKeyAt(size);
    if (key === null) return ['Ed25519'];
    try {
      return checkCheckpointSignatures(note, { mlDsaKey: key, require: 'hybrid' }, this.crypto);
    } catch (error) {
      if (!(error instanceof VerificationError)) throw error;
      const origin = pinned ? `the chain from the pinned ${pinned.id}` : 'the key the log announces';
      throw new VerificationError(error.code, step, `the checkpoint of tree ${size}: ${error.message}; ${key.id} is the ML-DSA-44 key in force at leaf ${size} (${origin})`, { field: 'checkpoint' }, { checkpoint: note });
    }
  }

  private kept(d: Decoded): KeptEntry {
    return { leafIndex: d.leafIndex, entry: toBase64(d.bytes) };
  }
}

/** The verifier key an ML-DSA-44 record (LedgerKeyAnnounced, LedgerKeyRotated version 2) names; LEDGER_KEY_ERROR when it is not one. */
function mlDsaVerifierKeyOf(d: Decoded): MlDsaNoteKey {
  try {
    return parseMlDsaVerifierKey((d.event.data as { verifierKey: string }).verifierKey);
  } catch (error) {
    if (!(error instanceof NoteError)) throw error;
    throw fail('LEDGER_KEY_ERROR', 'ledger-keys', d, `the ML-DSA-44 verifier key ${d.event.type} names is not valid: ${error.message}`);
  }
}
