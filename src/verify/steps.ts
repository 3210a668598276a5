/**
 * The verification steps shared by provenance documents and exports. Pure: no Node-only APIs.
 * Each step throws a VerificationError naming the code, the step and the event.
 */
import type { DsseEnvelope } from '../crypto/dsse.ts';
import { verifyEnvelopeSignature } from '../crypto/dsse.ts';
import { decodeUntrustedEnvelope, EnvelopeDecodeError, type DecodedEvent, type EnvelopeProblemCode } from '../event/codec.ts';
import { fromHex } from '../crypto/encoding.ts';
import { keyIdOf } from '../crypto/ed25519.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import { leafHash, type Hash } from '../merkle/hash.ts';
import { verifyInclusion } from '../merkle/proofs.ts';
import { isUnitEvent, type LedgerEvent } from '../../schemas/index.ts';
import { firmwareOf } from '../event/firmware.ts';
import type { Checkpoint } from '../tlog/checkpoint.ts';
import type { NoteKey } from '../tlog/note.ts';
import { VerificationError, type VerifyErrorCode } from './errors.ts';

export type EntryRole = 'trust' | 'station' | 'unit';

export interface Decoded {
  readonly role: EntryRole;
  readonly leafIndex: number;
  readonly envelope: DsseEnvelope;
  /** Position of the entry in its document, for error locations. */
  readonly position: number;
  readonly event: LedgerEvent;
  readonly keyId: string;
  /** RFC 8785 bytes of the envelope, computed once: hashed for the chain and for the Merkle leaf. */
  readonly bytes: Uint8Array;
  /** SHA-256 of `bytes`, hex: what the stream's next event names as `prev`. */
  readonly digest: string;
}

/**
 * An envelope handed to the verifier, decoded by the ledger's own untrusted decoder, so that the verifier
 * accepts exactly what the ledger accepts (canonical payload, no duplicate members, our payload type,
 * exactly one signature, the event schema).
 */
export function decodeEntry(role: EntryRole, leafIndex: unknown, envelope: unknown, position: number, crypto?: CryptoBackend): Decoded {
  const at = { entry: position, ...(typeof leafIndex === 'number' ? { leafIndex } : {}) };
  if (typeof leafIndex !== 'number' || !Number.isSafeInteger(leafIndex) || leafIndex < 0) {
    throw new VerificationError('FORMAT_ERROR', 'envelopes', `entry ${position}: leaf index must be a non-negative integer`, at);
  }
  let decoded: DecodedEvent;
  try {
    decoded = decodeUntrustedEnvelope(envelope, crypto);
  } catch (error) {
    if (!(error instanceof EnvelopeDecodeError)) throw error;
    throw new VerificationError(ENVELOPE_PROBLEMS[error.code], 'envelopes', `entry ${position} (leaf ${leafIndex}): ${error.message}`, at);
  }
  return { role, leafIndex, envelope: decoded.envelope, position, event: decoded.event, keyId: (decoded.envelope.signatures[0] as { keyid: string }).keyid, bytes: decoded.bytes, digest: decoded.digest };
}

const ENVELOPE_PROBLEMS = { ENVELOPE_INVALID: 'ENVELOPE_ERROR', PAYLOAD_NOT_CANONICAL: 'PAYLOAD_NOT_CANONICAL', SCHEMA_INVALID: 'SCHEMA_ERROR' } as const satisfies Record<EnvelopeProblemCode, VerifyErrorCode>;

export function fail(code: VerifyErrorCode, step: string, d: Decoded, message: string): VerificationError {
  return new VerificationError(code, step, `entry ${d.position} (leaf ${d.leafIndex}, ${d.event.type} ${d.event.id}): ${message}`, {
    entry: d.position,
    leafIndex: d.leafIndex,
    eventId: d.event.id,
    eventType: d.event.type,
  });
}

function checkSignature(d: Decoded, publicKey: Uint8Array, crypto: CryptoBackend, step: string): void {
  if (!verifyEnvelopeSignature(d.envelope, publicKey, crypto)) throw fail('SIGNATURE_ERROR', step, d, `Ed25519 signature over ${d.event.type} does not verify`);
}

/** A station key's life in log positions: it signs events after `registeredAt` and before `revokedAt`. */
export interface StationKeyLife {
  readonly station: string;
  readonly publicKey: string;
  readonly registeredAt: number;
  revokedAt: number | null;
}

export type KeyLives = Map<string, StationKeyLife>;

/**
 * trust: AdminKeysTrusted records, signed by the ledger key; stations: registrations and key lifecycles,
 * signed by administrator keys trusted at that point of the log.
 */
export function establishKeys(trust: readonly Decoded[], stations: readonly Decoded[], ledgerKey: NoteKey, crypto: CryptoBackend): KeyLives {
  const adminKeysFrom: { from: number; keys: Map<string, Uint8Array> }[] = [];
  for (const d of trust) {
    if (d.event.type !== 'AdminKeysTrusted') throw fail('SUBJECT_MISMATCH', 'trust', d, `a trust entry must be AdminKeysTrusted, not ${d.event.type}`);
    checkSignature(d, ledgerKey.publicKey, crypto, 'trust');
    adminKeysFrom.push({ from: d.leafIndex, keys: new Map(d.event.data.keys.map((k) => [k.keyId, fromHex(k.publicKey)])) });
  }
  adminKeysFrom.sort((a, b) => a.from - b.from);
  const lives: KeyLives = new Map();
  for (const d of [...stations].sort((a, b) => a.leafIndex - b.leafIndex)) {
    const inForce = [...adminKeysFrom].reverse().find((t) => t.from < d.leafIndex)?.keys;
    const adminKey = inForce?.get(d.keyId);
    if (!adminKey) throw fail('KEY_UNKNOWN', 'stations', d, `${d.event.type} is signed by ${d.keyId.slice(0, 16)}…, not an administrator key trusted at that point of the log`);
    checkSignature(d, adminKey, crypto, 'stations');
    if (d.event.type === 'StationKeyRegistered') {
      if (keyIdOf(fromHex(d.event.data.publicKey)) !== d.event.data.keyId) throw fail('FORMAT_ERROR', 'stations', d, 'key id is not the hash of the key');
      lives.set(d.event.data.keyId, { station: d.event.data.stationId, publicKey: d.event.data.publicKey, registeredAt: d.leafIndex, revokedAt: null });
    } else if (d.event.type === 'StationKeyRevoked') {
      const k = lives.get(d.event.data.keyId);
      if (k) k.revokedAt = d.leafIndex;
    } else if (d.event.type !== 'StationRegistered') {
      throw fail('SUBJECT_MISMATCH', 'stations', d, `a station entry cannot be ${d.event.type}`);
    }
  }
  return lives;
}

export interface UnitSummary {
  readonly stations: string[];
  readonly bootloader: string[];
  readonly application: string[];
}

/** A unit's events in stream order: signed by a key live at that point, chained, in log order. */
export function verifyUnitEvents(serial: string, unit: readonly Decoded[], lives: KeyLives, crypto: CryptoBackend): UnitSummary {
  let prev: string | null = null;
  let lastLeaf = -1;
  const stations = new Set<string>();
  const bootloader = new Set<string>();
  const application = new Set<string>();
  for (const d of unit) {
    if (d.event.source.kind !== 'station' || (d.event.data as { serial?: string }).serial !== serial) {
      throw fail('SUBJECT_MISMATCH', 'unit', d, `event is not a station event of unit ${serial}`);
    }
    const key = lives.get(d.keyId);
    if (!key || key.station !== d.event.source.id || key.registeredAt > d.leafIndex) {
      throw fail('KEY_UNKNOWN', 'unit', d, `key ${d.keyId.slice(0, 16)}… was not registered to station ${d.event.source.id} before this event`);
    }
    if (key.revokedAt !== null && key.revokedAt < d.leafIndex) {
      throw fail('KEY_REVOKED', 'unit', d, `key ${d.keyId.slice(0, 16)}… of station ${d.event.source.id} was revoked at leaf ${key.revokedAt}, before this event`);
    }
    checkSignature(d, fromHex(key.publicKey), crypto, 'unit');
    if (d.event.prev !== prev) {
      throw fail('CHAIN_BROKEN', 'unit', d, `prev is ${String(d.event.prev).slice(0, 16)}…, but the preceding event hashes to ${String(prev).slice(0, 16)}…`);
    }
    if (d.leafIndex <= lastLeaf) throw fail('LOG_ORDER_ERROR', 'unit', d, `leaf ${d.leafIndex} does not follow leaf ${lastLeaf}`);
    prev = d.digest;
    lastLeaf = d.leafIndex;
    stations.add(d.event.source.id);
    // The firmware a unit event attests (src/event/firmware.ts): the fixed sequence's, or a recipe's verified images.
    if (isUnitEvent(d.event)) {
      for (const f of firmwareOf(d.event)) {
        if (f.name === 'bootloader') bootloader.add(f.sha256);
        else if (f.name === 'application' || f.name === 'app') application.add(f.sha256);
      }
    }
  }
  return { stations: [...stations], bootloader: [...bootloader], application: [...application] };
}

/** The envelope is leaf `leafIndex` of the checkpointed tree. */
export function checkInclusion(d: Decoded, proof: readonly Hash[], checkpoint: Checkpoint, crypto: CryptoBackend): void {
  const leaf = leafHash(d.bytes, crypto);
  if (!verifyInclusion(leaf, d.leafIndex, checkpoint.size, proof, checkpoint.root, crypto)) {
    throw fail('INCLUSION_PROOF_ERROR', 'inclusion', d, `envelope is not leaf ${d.leafIndex} of the checkpointed tree of size ${checkpoint.size}`);
  }
}
