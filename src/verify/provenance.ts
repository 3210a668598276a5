/**
 * Offline verification of a unit's provenance document, as one pipeline of named steps. Each step throws a
 * VerificationError with a code, so a report says exactly what failed and where. Pure: no Node-only APIs;
 * the Ed25519 verifier is injected (node's native one in the CLI, the portable one in a browser).
 *
 * Steps: format → checkpoint → envelopes → trust → stations → unit → inclusion.
 * Trust starts from one pinned key, the ledger's: it signs the checkpoint and the AdminKeysTrusted events;
 * the administrator keys they name sign station key registrations; those keys sign the unit's events.
 * Key validity is judged by position in the log: a key counts for an event if its registration precedes
 * the event in the log and no revocation does.
 */
import type { DsseEnvelope } from '../crypto/dsse.ts';
import { envelopeBytes, envelopeDigest, verifyEnvelopeSignature } from '../crypto/dsse.ts';
import { fromBase64, fromHex, fromUtf8, toHex } from '../crypto/encoding.ts';
import { keyIdOf, verifyStrictPortable, type VerifyFn } from '../crypto/ed25519.ts';
import { leafHash } from '../merkle/hash.ts';
import { verifyInclusion } from '../merkle/proofs.ts';
import type { LedgerEvent } from '../../schemas/index.ts';
import { parseCheckpointBody, parseTlogProof, type Checkpoint } from './checkpoint.ts';
import { verifyNote, type NoteKey } from './note.ts';
import { VerificationError } from './errors.ts';

export const PROVENANCE_FORMAT = 'flashtrail.provenance.v1';

export interface ProvenanceEntry {
  readonly role: 'trust' | 'station' | 'unit';
  readonly leafIndex: number;
  readonly envelope: DsseEnvelope;
  /** C2SP tlog-proof text proving the envelope at leafIndex under the document's checkpoint. */
  readonly proof: string;
}

export interface ProvenanceDocument {
  readonly format: typeof PROVENANCE_FORMAT;
  readonly serial: string;
  readonly checkpoint: string;
  readonly entries: readonly ProvenanceEntry[];
}

export interface StepReport {
  readonly step: string;
  readonly detail: string;
}

export interface ProvenanceReport {
  readonly serial: string;
  readonly checkpoint: { origin: string; size: number; root: string };
  readonly events: number;
  readonly stations: string[];
  readonly firmware: { bootloader: string[]; application: string[] };
  readonly steps: StepReport[];
}

interface Decoded {
  readonly entry: ProvenanceEntry;
  readonly position: number;
  readonly event: LedgerEvent;
  readonly keyId: string;
}

export function verifyProvenance(input: unknown, ledgerKey: NoteKey, verify: VerifyFn = verifyStrictPortable): ProvenanceReport {
  const steps: StepReport[] = [];
  const done = (step: string, detail: string) => steps.push({ step, detail });

  const doc = checkShape(input);
  done('format', `${PROVENANCE_FORMAT} for unit ${doc.serial}, ${doc.entries.length} entries`);

  const checkpoint = checkCheckpoint(doc.checkpoint, ledgerKey, verify);
  done('checkpoint', `signed by ${ledgerKey.name} (${ledgerKey.id}): tree size ${checkpoint.size}, root ${toHex(checkpoint.root).slice(0, 16)}…`);

  const decoded = doc.entries.map((entry, position) => decodeEntry(entry, position));
  done('envelopes', `${decoded.length} DSSE envelopes decoded`);

  // Trust: which administrator keys are in force from which leaf on.
  const trust = decoded.filter((d) => d.entry.role === 'trust');
  const adminKeysFrom: { from: number; keys: Map<string, Uint8Array> }[] = [];
  for (const d of trust) {
    if (d.event.type !== 'AdminKeysTrusted') throw fail('SUBJECT_MISMATCH', 'trust', d, `a trust entry must be AdminKeysTrusted, not ${d.event.type}`);
    checkSignature(d, ledgerKey.publicKey, verify, 'trust');
    adminKeysFrom.push({ from: d.entry.leafIndex, keys: new Map(d.event.data.keys.map((k) => [k.keyId, fromHex(k.publicKey)])) });
  }
  adminKeysFrom.sort((a, b) => a.from - b.from);
  done('trust', `${trust.length} AdminKeysTrusted record(s) signed by the ledger key`);

  // Stations: registrations and key lifecycles, signed by administrators.
  const keyLife = new Map<string, { station: string; publicKey: Uint8Array; registeredAt: number; revokedAt: number | null }>();
  const stationEntries = decoded.filter((d) => d.entry.role === 'station').sort((a, b) => a.entry.leafIndex - b.entry.leafIndex);
  for (const d of stationEntries) {
    const inForce = [...adminKeysFrom].reverse().find((t) => t.from < d.entry.leafIndex)?.keys;
    const adminKey = inForce?.get(d.keyId);
    if (!adminKey) throw fail('KEY_UNKNOWN', 'stations', d, `${d.event.type} is signed by ${d.keyId.slice(0, 16)}…, not an administrator key trusted at that point of the log`);
    checkSignature(d, adminKey, verify, 'stations');
    if (d.event.type === 'StationKeyRegistered') {
      if (keyIdOf(fromHex(d.event.data.publicKey)) !== d.event.data.keyId) throw fail('FORMAT_ERROR', 'stations', d, 'key id is not the hash of the key');
      keyLife.set(d.event.data.keyId, { station: d.event.data.stationId, publicKey: fromHex(d.event.data.publicKey), registeredAt: d.entry.leafIndex, revokedAt: null });
    } else if (d.event.type === 'StationKeyRevoked') {
      const k = keyLife.get(d.event.data.keyId);
      if (k) k.revokedAt = d.entry.leafIndex;
    } else if (d.event.type !== 'StationRegistered') {
      throw fail('SUBJECT_MISMATCH', 'stations', d, `a station entry cannot be ${d.event.type}`);
    }
  }
  done('stations', `${stationEntries.length} station events signed by trusted administrator keys; ${keyLife.size} station key(s)`);

  // The unit's own events, in the order the document gives (its stream order).
  const unit = decoded.filter((d) => d.entry.role === 'unit');
  if (unit.length === 0) throw new VerificationError('FORMAT_ERROR', 'unit', 'the document holds no unit events');
  let prev: string | null = null;
  let lastLeaf = -1;
  const stations = new Set<string>();
  const bootloader = new Set<string>();
  const application = new Set<string>();
  for (const d of unit) {
    if (d.event.source.kind !== 'station' || (d.event.data as { serial?: string }).serial !== doc.serial) {
      throw fail('SUBJECT_MISMATCH', 'unit', d, `event is not a station event of unit ${doc.serial}`);
    }
    const key = keyLife.get(d.keyId);
    if (!key || key.station !== d.event.source.id || key.registeredAt > d.entry.leafIndex) {
      throw fail('KEY_UNKNOWN', 'unit', d, `key ${d.keyId.slice(0, 16)}… was not registered to station ${d.event.source.id} before this event`);
    }
    if (key.revokedAt !== null && key.revokedAt < d.entry.leafIndex) {
      throw fail('KEY_REVOKED', 'unit', d, `key ${d.keyId.slice(0, 16)}… of station ${d.event.source.id} was revoked at leaf ${key.revokedAt}, before this event`);
    }
    checkSignature(d, key.publicKey, verify, 'unit');
    if (d.event.prev !== prev) {
      throw fail('CHAIN_BROKEN', 'unit', d, `prev is ${String(d.event.prev).slice(0, 16)}…, but the preceding event hashes to ${String(prev).slice(0, 16)}…`);
    }
    if (d.entry.leafIndex <= lastLeaf) throw fail('LOG_ORDER_ERROR', 'unit', d, `leaf ${d.entry.leafIndex} does not follow leaf ${lastLeaf}`);
    prev = envelopeDigest(d.entry.envelope);
    lastLeaf = d.entry.leafIndex;
    stations.add(d.event.source.id);
    if (d.event.type === 'BootloaderWritten') bootloader.add(d.event.data.imageSha256);
    if (d.event.type === 'AppVerified' && d.event.data.result === 'pass') application.add(d.event.data.imageSha256);
  }
  done('unit', `${unit.length} events of ${doc.serial}: signatures valid (RFC 8032 strict), keys registered and unrevoked, hash chain unbroken`);

  // Last, the log: every envelope above is the leaf it claims to be in the checkpointed tree.
  for (const d of decoded) checkInclusion(d, doc.checkpoint, checkpoint);
  done('inclusion', `${decoded.length} inclusion proofs verify against the checkpoint (RFC 9162 §2.1.3.2)`);

  return {
    serial: doc.serial,
    checkpoint: { origin: checkpoint.origin, size: checkpoint.size, root: toHex(checkpoint.root) },
    events: unit.length,
    stations: [...stations],
    firmware: { bootloader: [...bootloader], application: [...application] },
    steps,
  };
}

function checkShape(input: unknown): ProvenanceDocument {
  const doc = input as Partial<ProvenanceDocument> | null;
  const ok =
    doc !== null &&
    typeof doc === 'object' &&
    doc.format === PROVENANCE_FORMAT &&
    typeof doc.serial === 'string' &&
    typeof doc.checkpoint === 'string' &&
    Array.isArray(doc.entries) &&
    doc.entries.every(
      (e) =>
        e !== null &&
        typeof e === 'object' &&
        ['trust', 'station', 'unit'].includes(e.role) &&
        Number.isSafeInteger(e.leafIndex) &&
        typeof e.proof === 'string' &&
        typeof e.envelope === 'object' &&
        e.envelope !== null,
    );
  if (!ok) throw new VerificationError('FORMAT_ERROR', 'format', `not a ${PROVENANCE_FORMAT} document`);
  return doc as ProvenanceDocument;
}

export function checkCheckpoint(note: string, ledgerKey: NoteKey, verify: VerifyFn): Checkpoint {
  let text: string;
  try {
    text = verifyNote(note, [ledgerKey], verify).text;
  } catch (error) {
    throw new VerificationError('CHECKPOINT_SIGNATURE_ERROR', 'checkpoint', `checkpoint is not signed by the pinned ledger key ${ledgerKey.name}: ${(error as Error).message}`);
  }
  let checkpoint: Checkpoint;
  try {
    checkpoint = parseCheckpointBody(text);
  } catch (error) {
    throw new VerificationError('FORMAT_ERROR', 'checkpoint', (error as Error).message);
  }
  if (checkpoint.origin !== ledgerKey.name) {
    throw new VerificationError('CHECKPOINT_ORIGIN_ERROR', 'checkpoint', `checkpoint origin ${checkpoint.origin} is not the ledger ${ledgerKey.name}`);
  }
  return checkpoint;
}

function decodeEntry(entry: ProvenanceEntry, position: number): Decoded {
  try {
    const env = entry.envelope;
    if (typeof env.payload !== 'string' || !Array.isArray(env.signatures) || env.signatures.length !== 1) throw new Error('expected one signature');
    const event = JSON.parse(fromUtf8(fromBase64(env.payload))) as LedgerEvent;
    const keyId = (env.signatures[0] as { keyid: string }).keyid;
    if (typeof event?.type !== 'string' || typeof event.data !== 'object') throw new Error('payload is not a ledger event');
    return { entry, position, event, keyId };
  } catch (error) {
    throw new VerificationError('ENVELOPE_ERROR', 'envelopes', `entry ${position}: ${(error as Error).message}`, { entry: position, leafIndex: entry.leafIndex });
  }
}

function checkInclusion(d: Decoded, note: string, checkpoint: Checkpoint): void {
  let proof;
  try {
    proof = parseTlogProof(d.entry.proof);
  } catch (error) {
    throw fail('INCLUSION_PROOF_ERROR', 'inclusion', d, `proof is not a c2sp tlog-proof: ${(error as Error).message}`);
  }
  if (proof.index !== d.entry.leafIndex) throw fail('INCLUSION_PROOF_ERROR', 'inclusion', d, `proof is for leaf ${proof.index}, entry claims ${d.entry.leafIndex}`);
  if (proof.checkpoint !== note) throw fail('INCLUSION_PROOF_ERROR', 'inclusion', d, 'proof is against another checkpoint than the document');
  const leaf = leafHash(envelopeBytes(d.entry.envelope));
  if (!verifyInclusion(leaf, proof.index, checkpoint.size, proof.proof, checkpoint.root)) {
    throw fail('INCLUSION_PROOF_ERROR', 'inclusion', d, `envelope is not leaf ${proof.index} of the checkpointed tree of size ${checkpoint.size}`);
  }
}

function checkSignature(d: Decoded, publicKey: Uint8Array, verify: VerifyFn, step: string): void {
  if (!verifyEnvelopeSignature(d.entry.envelope, publicKey, verify)) {
    throw fail('SIGNATURE_ERROR', step, d, `Ed25519 signature over ${d.event.type} does not verify`);
  }
}

function fail(code: VerificationError['code'], step: string, d: Decoded, message: string): VerificationError {
  return new VerificationError(code, step, `entry ${d.position} (leaf ${d.entry.leafIndex}, ${d.event.type} ${d.event.id}): ${message}`, {
    entry: d.position,
    leafIndex: d.entry.leafIndex,
    eventId: d.event.id,
    eventType: d.event.type,
  });
}
