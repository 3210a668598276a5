/**
 * The verification steps shared by provenance documents and exports (docs/format.md §8). Pure: no Node-only
 * APIs. Each step throws a VerificationError naming the code, the step and the entry.
 *
 * The order matters, and is the same everywhere: an entry's leaf index is trusted only once its inclusion
 * proof verifies; key lives are judged by leaf indices; signatures by the keys live at those indices; chains
 * and summaries last.
 */
import type { DsseEnvelope } from '../crypto/dsse.ts';
import { verifyEnvelopeSignature } from '../crypto/dsse.ts';
import { decodeUntrustedEnvelope, EnvelopeDecodeError, type DecodedEvent, type EnvelopeProblemCode } from '../event/codec.ts';
import { streamOf } from '../event/streams.ts';
import { fromHex, toHex } from '../crypto/encoding.ts';
import { keyIdOf } from '../crypto/ed25519.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import { hashesEqual, leafHash, nodeHash, splitPoint, type Hash } from '../merkle/hash.ts';
import { verifyInclusion } from '../merkle/proofs.ts';
import { unitEventVersions, type LedgerEvent, type UnitEvent } from '../../schemas/index.ts';
import { firmwareOf } from '../event/firmware.ts';
import type { Checkpoint } from '../tlog/checkpoint.ts';
import type { NoteKey } from '../tlog/note.ts';
import { VerificationError, type FailureLocation, type VerifyErrorCode } from './errors.ts';
import type { ExportSelection } from './export-format.ts';

export type EntryRole = 'trust' | 'station' | 'release' | 'batch' | 'unit';

/** The event types each role may carry. */
const ROLE_TYPES: Record<EntryRole, readonly string[]> = {
  trust: ['AdminKeysTrusted', 'LedgerKeyRotated'],
  station: ['StationRegistered', 'StationKeyRegistered', 'StationKeyRevoked'],
  release: ['ReleaseApproved'],
  batch: ['BatchOpened'],
  unit: Object.keys(unitEventVersions),
};

export interface Decoded {
  readonly role: EntryRole;
  readonly leafIndex: number;
  readonly envelope: DsseEnvelope;
  /** Position of the entry in its document (or in its unit record), for error locations. */
  readonly position: number;
  /** Where the entry sits, for error locations: line of an export, JSON path of the member. */
  readonly at: FailureLocation;
  readonly event: LedgerEvent;
  readonly keyId: string;
  /** RFC 8785 bytes of the envelope, computed once: hashed for the chain and for the Merkle leaf. */
  readonly bytes: Uint8Array;
  /** SHA-256 of `bytes`, hex: what the stream's next event names as `prev`. */
  readonly digest: string;
  /** The payload's bytes as the decoder decoded them: the signature check does not decode them again. */
  readonly payloadBytes?: Uint8Array;
  /**
   * What the signature check needs, where the decoder had it at hand (the export fast reader): the signature's 64
   * bytes and the DSSE pre-authentication encoding PAE(payloadType, payloadBytes) it signs.
   */
  readonly signed?: { readonly signature: Uint8Array; readonly message: Uint8Array };
}

const ENVELOPE_PROBLEMS = { ENVELOPE_INVALID: 'ENVELOPE_ERROR', PAYLOAD_NOT_CANONICAL: 'PAYLOAD_NOT_CANONICAL', SCHEMA_INVALID: 'SCHEMA_ERROR' } as const satisfies Record<EnvelopeProblemCode, VerifyErrorCode>;

/**
 * An envelope handed to the verifier, decoded by the ledger's own untrusted decoder, so that the verifier
 * accepts exactly what the ledger accepts (canonical payload, no duplicate members, our payload type,
 * exactly one signature, the event schema), and checked to be of its role.
 */
export function decodeEntry(role: EntryRole, leafIndex: number, envelope: unknown, position: number, at: FailureLocation, crypto?: CryptoBackend): Decoded {
  const d = decodeAnyEntry(() => role, leafIndex, envelope, position, at, crypto);
  if (!ROLE_TYPES[role].includes(d.event.type)) throw fail('SUBJECT_MISMATCH', 'envelopes', d, `a ${role} entry cannot hold ${d.event.type}`);
  return d;
}

/**
 * A log entry of any type (a monitor reads every record, also those no evidence carries: CheckpointIssued,
 * LedgerKeyAnnounced, …), decoded as decodeEntry does; its role follows from its type, or from who signs it.
 */
export function decodeLogEntry(leafIndex: number, envelope: unknown, crypto?: CryptoBackend): Decoded {
  return decodeAnyEntry(roleOfEvent, leafIndex, envelope, leafIndex, { leafIndex }, crypto);
}

/** The role an event has in evidence; a type no role carries takes the role of its signer (ledger: trust, station: unit). */
function roleOfEvent(event: LedgerEvent): EntryRole {
  const role = (Object.keys(ROLE_TYPES) as EntryRole[]).find((r) => ROLE_TYPES[r].includes(event.type));
  if (role) return role;
  return event.source.kind === 'ledger' ? 'trust' : event.source.kind === 'station' ? 'unit' : 'release';
}

function decodeAnyEntry(roleOf: (event: LedgerEvent) => EntryRole, leafIndex: number, envelope: unknown, position: number, at: FailureLocation, crypto?: CryptoBackend): Decoded {
  const where = { ...at, entry: position, leafIndex };
  let decoded: DecodedEvent;
  try {
    decoded = decodeUntrustedEnvelope(envelope, crypto);
  } catch (error) {
    if (!(error instanceof EnvelopeDecodeError)) throw error;
    const path = error.issues[0]?.path;
    throw new VerificationError(ENVELOPE_PROBLEMS[error.code], 'envelopes', `entry ${position} (leaf ${leafIndex}): ${error.message}`, {
      ...where,
      field: [at.field, 'envelope', error.code === 'SCHEMA_INVALID' && path ? `payload.${path}` : error.code === 'ENVELOPE_INVALID' && path ? path : error.code === 'PAYLOAD_NOT_CANONICAL' ? 'payload' : undefined].filter((p) => p).join('.'),
    });
  }
  return { role: roleOf(decoded.event), leafIndex, envelope: decoded.envelope, position, at, event: decoded.event, keyId: (decoded.envelope.signatures[0] as { keyid: string }).keyid, bytes: decoded.bytes, digest: decoded.digest, ...(decoded.payloadBytes ? { payloadBytes: decoded.payloadBytes } : {}) };
}

export function locationOf(d: Decoded): FailureLocation {
  return { ...d.at, entry: d.position, leafIndex: d.leafIndex, eventId: d.event.id, eventType: d.event.type, stream: streamOf(d.event) };
}

export function fail(code: VerifyErrorCode, step: string, d: Decoded, message: string): VerificationError {
  return new VerificationError(code, step, `entry ${d.position} (leaf ${d.leafIndex}, ${d.event.type} ${d.event.id}): ${message}`, locationOf(d));
}

export function checkSignature(d: Decoded, publicKey: Uint8Array, crypto: CryptoBackend, step: string): void {
  const ok = d.signed ? crypto.verifyEd25519(d.signed.signature, d.signed.message, publicKey) : verifyEnvelopeSignature(d.envelope, publicKey, crypto, d.payloadBytes);
  if (!ok) throw fail('SIGNATURE_ERROR', step, d, `Ed25519 signature over ${d.event.type} does not verify`);
}

// ---------------------------------------------------------------------------------------------------------
// Inclusion

export interface Included {
  readonly d: Decoded;
  readonly proof: readonly Hash[];
}

/** The leaf ranges [start, end) whose hashes an inclusion proof of `index` lists, in proof order (sibling first). */
export function inclusionPathRanges(index: number, size: number): [number, number][] {
  const ranges: [number, number][] = [];
  const walk = (m: number, start: number, n: number): void => {
    if (n === 1) return;
    const k = splitPoint(n);
    if (m < k) {
      walk(m, start, k);
      ranges.push([start + k, start + n]);
    } else {
      walk(m - k, start + k, n - k);
      ranges.push([start, start + k]);
    }
  };
  walk(index, 0, size);
  return ranges;
}

/**
 * Every entry is the leaf it claims to be in the checkpointed tree (RFC 9162 §2.1.3.2). When one is not, the
 * failure is placed where the fault is: an envelope signed by a key the file does not know was made by someone
 * else; an envelope whose signature no longer verifies was changed; a proof
 * that gives a wrong hash for another leaf this document holds points at that leaf (a stored leaf hash that
 * was edited shows up in its neighbours' proofs, not in its own); otherwise the entry itself is not in the tree.
 */
export function checkInclusions(entries: readonly Included[], checkpoint: Checkpoint, crypto: CryptoBackend, keyFor: (d: Decoded) => Uint8Array | null, step = 'inclusion'): void {
  // keyFor: the public key the entry's key id names anywhere in the file (its life aside), or null if none does.
  const leaves = entries.map(({ d }) => leafHash(d.bytes, crypto));
  const failed: number[] = [];
  entries.forEach(({ d, proof }, i) => {
    if (!verifyInclusion(leaves[i] as Hash, d.leafIndex, checkpoint.size, proof, checkpoint.root, crypto)) failed.push(i);
  });
  if (failed.length === 0) return;
  const first = entries[failed[0] as number] as Included;
  const key = keyFor(first.d);
  if (key === null) {
    throw fail('KEY_UNKNOWN', step, first.d, `the envelope is not leaf ${first.d.leafIndex} of the checkpointed tree, and it is signed by ${first.d.keyId.slice(0, 16)}…, a key this file gives no ${first.d.role === 'unit' ? 'station' : first.d.role === 'trust' ? 'ledger' : 'administrator'} that name: someone else made it`);
  }
  if (!verifyEnvelopeSignature(first.d.envelope, key, crypto)) {
    throw fail('SIGNATURE_ERROR', step, first.d, `the envelope is not leaf ${first.d.leafIndex} of the checkpointed tree, and its Ed25519 signature over ${first.d.event.type} does not verify: it was changed after it was signed`);
  }
  // What the document establishes about subtree hashes: each leaf whose proof verifies, and every node on its path.
  const known = new Map<string, { hash: Hash; leaf: number }>();
  const failedSet = new Set(failed);
  entries.forEach(({ d, proof }, i) => {
    // An entry whose own proof fails proves nothing about its leaf: only verified entries are evidence.
    if (failedSet.has(i)) return;
    known.set(`${d.leafIndex}:${d.leafIndex + 1}`, { hash: leaves[i] as Hash, leaf: d.leafIndex });
    let range: [number, number] = [d.leafIndex, d.leafIndex + 1];
    let hash = leaves[i] as Hash;
    inclusionPathRanges(d.leafIndex, checkpoint.size).forEach(([s, e], level) => {
      const sibling = proof[level] as Hash;
      hash = s < range[0] ? nodeHash(sibling, hash, crypto) : nodeHash(hash, sibling, crypto);
      range = [Math.min(s, range[0]), Math.max(e, range[1])];
      known.set(`${range[0]}:${range[1]}`, { hash, leaf: d.leafIndex });
    });
  });
  const byLeaf = new Map(entries.map(({ d }) => [d.leafIndex, d]));
  for (const i of failed) {
    const { d, proof } = entries[i] as Included;
    const ranges = inclusionPathRanges(d.leafIndex, checkpoint.size);
    for (const [level, [s, e]] of ranges.entries()) {
      const truth = known.get(`${s}:${e}`);
      const claimed = proof[level];
      if (!truth || !claimed || hashesEqual(truth.hash, claimed)) continue;
      const other = byLeaf.get(truth.leaf) as Decoded;
      const what = e - s === 1 ? `leaf ${s}` : `leaves [${s}, ${e})`;
      throw fail(
        'INCLUSION_PROOF_ERROR',
        step,
        other,
        `the proof of leaf ${d.leafIndex} (entry ${d.position}) gives ${what} the hash ${toHex(claimed).slice(0, 16)}…, but the envelope this document holds at leaf ${truth.leaf} gives ${toHex(truth.hash).slice(0, 16)}…: the log's stored hash of leaf ${truth.leaf} (or of a node above it) was changed`,
      );
    }
  }
  throw fail('INCLUSION_PROOF_ERROR', step, first.d, `envelope is not leaf ${first.d.leafIndex} of the checkpointed tree of size ${checkpoint.size}`);
}

// ---------------------------------------------------------------------------------------------------------
// Keys

/** One registration of a station key, and its life in log positions: it signs events after `registeredAt` and before `revokedAt`. */
export interface StationKeyLife {
  readonly station: string;
  readonly publicKey: string;
  readonly registeredAt: number;
  revokedAt: number | null;
}

/** Station key registrations by key id. A key id may be registered to several stations: each has its own life. */
export type KeyLives = Map<string, StationKeyLife[]>;

/** What a ReleaseApproved record approves: each image's SHA-256 by image kind (see imageKind). */
export interface ApprovedRelease {
  readonly images: ReadonlyMap<string, string>;
  readonly sbomSha256: string | null;
}

/**
 * The kind of a firmware image, as statement subjects and reports name it: a recipe's `app` image is the
 * `application` of version 1 releases; every other image keeps its recipe name (bootloader, partition-table, …).
 */
export function imageKind(name: string): string {
  return name === 'app' ? 'application' : name;
}

export interface EstablishedKeys {
  readonly lives: KeyLives;
  /** batchId → releaseId, from the BatchOpened records. */
  readonly batches: Map<string, string>;
  /** releaseId → what its ReleaseApproved record approves. */
  readonly releases: Map<string, ApprovedRelease>;
  readonly counts: Record<Exclude<EntryRole, 'unit'>, number>;
}

/**
 * The records every unit depends on, in log order: AdminKeysTrusted signed by the ledger key (each replaces
 * the set before it); station, release and batch records signed by an administrator key trusted at that
 * point of the log. Each stream they belong to is a complete prefix: its first record has prev null, each
 * next one chains to the one before.
 */
export function establishKeys(records: readonly Decoded[], ledgerKey: NoteKey, crypto: CryptoBackend, step = 'keys', ledgerKeyAt?: (leafIndex: number) => { readonly keyId: string; readonly publicKey: Uint8Array }): EstablishedKeys {
  // Without a chain of ledger keys (§5.4), the pinned key signs every ledger record.
  const pinned = { keyId: keyIdOf(ledgerKey.publicKey), publicKey: ledgerKey.publicKey };
  const keyAt = ledgerKeyAt ?? (() => pinned);
  const sorted = [...records].sort((a, b) => a.leafIndex - b.leafIndex);
  const heads = new Map<string, string>();
  let adminKeys: Map<string, Uint8Array> | null = null;
  const lives: KeyLives = new Map();
  const batches = new Map<string, string>();
  const releases = new Map<string, ApprovedRelease>();
  const counts = { trust: 0, station: 0, release: 0, batch: 0 };
  let lastLeaf = -1;
  for (const d of sorted) {
    if (d.leafIndex === lastLeaf) throw fail('DUPLICATE_ENTRY', step, d, `leaf ${d.leafIndex} appears twice`);
    lastLeaf = d.leafIndex;
    const stream = streamOf(d.event);
    const head = heads.get(stream) ?? null;
    if (d.event.prev !== head) {
      throw fail('CHAIN_BROKEN', step, d, head === null ? `the first record of ${stream} in this file has prev ${String(d.event.prev).slice(0, 16)}…, not null: records of that stream are missing` : `prev is ${String(d.event.prev).slice(0, 16)}…, but the record before it in ${stream} hashes to ${head.slice(0, 16)}…`);
    }
    heads.set(stream, d.digest);
    if (d.role === 'trust') {
      const live = keyAt(d.leafIndex);
      if (d.keyId !== live.keyId) throw fail('KEY_UNKNOWN', step, d, `${d.event.type} must be signed by the ledger key ${live.keyId.slice(0, 16)}… in force at leaf ${d.leafIndex}, not ${d.keyId.slice(0, 16)}…`);
      checkSignature(d, live.publicKey, crypto, step);
      if (d.event.type === 'AdminKeysTrusted') adminKeys = new Map(d.event.data.keys.map((k) => [k.keyId, fromHex(k.publicKey)]));
      counts.trust++;
      continue;
    }
    const adminKey = adminKeys?.get(d.keyId);
    if (!adminKey) throw fail('KEY_UNKNOWN', step, d, `${d.event.type} is signed by ${d.keyId.slice(0, 16)}…, not an administrator key trusted at that point of the log`);
    checkSignature(d, adminKey, crypto, step);
    counts[d.role as 'station' | 'release' | 'batch']++;
    const e = d.event;
    if (e.type === 'StationKeyRegistered' || e.type === 'StationKeyRevoked') {
      recordStationKey(lives, d, step);
    } else if (e.type === 'BatchOpened') {
      batches.set(e.data.batchId, e.data.releaseId);
    } else if (e.type === 'ReleaseApproved') {
      const images = 'images' in e.data ? e.data.images.map((i) => [imageKind(i.name), i.sha256] as const) : ([['bootloader', e.data.bootloaderSha256], ['application', e.data.applicationSha256]] as const);
      releases.set(e.data.releaseId, { images: new Map(images), sbomSha256: e.data.sbomSha256 ?? null });
    }
  }
  for (const [batchId, releaseId] of batches) {
    if (!releases.has(releaseId)) {
      const d = sorted.find((r) => r.event.type === 'BatchOpened' && r.event.data.batchId === batchId) as Decoded;
      throw fail('SUMMARY_MISMATCH', step, d, `batch ${batchId} is opened against release ${releaseId}, whose ReleaseApproved record is not in the file`);
    }
  }
  return { lives, batches, releases, counts };
}

/** A verified StationKeyRegistered or StationKeyRevoked, applied to the key lives (§8.3); other records are ignored. */
export function recordStationKey(lives: KeyLives, d: Decoded, step: string): void {
  const e = d.event;
  if (e.type === 'StationKeyRegistered') {
    if (keyIdOf(fromHex(e.data.publicKey)) !== e.data.keyId) throw fail('FORMAT_ERROR', step, d, 'key id is not the hash of the key');
    const list = lives.get(e.data.keyId) ?? [];
    list.push({ station: e.data.stationId, publicKey: e.data.publicKey, registeredAt: d.leafIndex, revokedAt: null });
    lives.set(e.data.keyId, list);
  } else if (e.type === 'StationKeyRevoked') {
    const life = lives.get(e.data.keyId)?.find((l) => l.station === e.data.stationId && l.revokedAt === null);
    if (life) life.revokedAt = d.leafIndex;
  }
}

/** The public key an entry's key id names anywhere in the file, ignoring key lives: for diagnosis only. */
export function anyKeyFor(lives: KeyLives, d: Decoded): Uint8Array | null {
  const life = lives.get(d.keyId)?.find((l) => l.station === d.event.source.id);
  return life ? fromHex(life.publicKey) : null;
}

// ---------------------------------------------------------------------------------------------------------
// Units

/**
 * A firmware image the events support as a statement subject: the lowest leaf that reported it names its
 * version. Images attested by recipe events (ImagesVerified, UnitLocked) carry no version of their own: theirs
 * is the release the unit was scanned for (UnitScanned version 2).
 */
export interface FirmwareClaim {
  /** bootloader, application, or a recipe's image name (imageKind). */
  readonly kind: string;
  readonly sha256: string;
  readonly version: string;
  readonly leafIndex: number;
}

/** What a unit's signed events establish (docs/format.md §7.4): what its unsigned summary must say. */
export interface UnitFacts {
  readonly stations: string[];
  readonly batchId: string | null;
  readonly chipId: string | null;
  readonly mac: string | null;
  /** UTC day (YYYY-MM-DD) of the unit's first event. */
  readonly firstDay: string;
  readonly customers: string[];
  /** Every image hash an event of the unit names (bootloader written, application verified or not). */
  readonly images: string[];
  readonly firmware: FirmwareClaim[];
}

/** The public key of the registration of the event's key id to its station that is live at its leaf (§8.3). */
export function liveStationKey(d: Decoded, lives: KeyLives, step: string): Uint8Array {
  // The first registration of the key to the event's station before it that is live at its leaf (one per event, so
  // no array is made for it); else the first such registration that was revoked, to say so.
  const registrations = lives.get(d.keyId) ?? [];
  const station = d.event.source.id;
  let live: StationKeyLife | undefined;
  for (const l of registrations) {
    if (l.station === station && l.registeredAt < d.leafIndex && (l.revokedAt === null || l.revokedAt > d.leafIndex)) {
      live = l;
      break;
    }
  }
  if (!live) {
    const revoked = registrations.find((l) => l.station === station && l.registeredAt < d.leafIndex && l.revokedAt !== null);
    if (revoked) throw fail('KEY_REVOKED', step, d, `key ${d.keyId.slice(0, 16)}… of station ${d.event.source.id} was revoked at leaf ${String(revoked.revokedAt)}, before this event`);
    throw fail('KEY_UNKNOWN', step, d, `key ${d.keyId.slice(0, 16)}… was not registered to station ${d.event.source.id} before this event`);
  }
  let key = liveKeyBytes.get(live);
  if (!key) liveKeyBytes.set(live, (key = fromHex(live.publicKey)));
  return key;
}

/** Each registration's key decoded from hex once: it signs every event of its station. */
const liveKeyBytes = new WeakMap<StationKeyLife, Uint8Array>();

/** A unit's events in stream order: each signed by a key live at its leaf, chained from prev null, in log order. */
export function verifyUnitEvents(serial: string, unit: readonly Decoded[], lives: KeyLives, crypto: CryptoBackend, step = 'unit'): UnitFacts {
  let prev: string | null = null;
  let previous: Decoded | null = null;
  for (const d of unit) {
    if (d.event.source.kind !== 'station' || (d.event.data as { serial?: string }).serial !== serial) {
      throw fail('SUBJECT_MISMATCH', step, d, `event is not a station event of unit ${serial}`);
    }
    checkSignature(d, liveStationKey(d, lives, step), crypto, step);
    if (d.event.prev !== prev) {
      throw fail('CHAIN_BROKEN', step, d, prev === null ? `the unit's first event must have prev null, not ${String(d.event.prev).slice(0, 16)}…: earlier events are missing` : `prev is ${String(d.event.prev).slice(0, 16)}…, but the preceding event hashes to ${prev.slice(0, 16)}…`);
    }
    if (previous && d.leafIndex <= previous.leafIndex) {
      throw fail('LOG_ORDER_ERROR', step, d, `this event follows entry ${previous.position} (${previous.event.type}, leaf ${previous.leafIndex}) in its stream, but precedes it in the log (leaf ${d.leafIndex})`);
    }
    prev = d.digest;
    previous = d;
  }
  return unitFactsOf(unit.map((d) => ({ event: d.event as UnitEvent, leafIndex: d.leafIndex })));
}

/** The facts of a unit's events (already verified): one definition for the writer and every verifier. */
export function unitFactsOf(events: readonly { readonly event: UnitEvent; readonly leafIndex: number }[]): UnitFacts {
  const stations = new Set<string>();
  const customers = new Set<string>();
  const images = new Set<string>();
  const firmware = new Map<string, FirmwareClaim>();
  let batchId: string | null = null;
  let chipId: string | null = null;
  let mac: string | null = null;
  const claim = (kind: string, sha256: string, version: string, leafIndex: number) => {
    const key = `${kind} ${sha256}`;
    const known = firmware.get(key);
    if (!known || leafIndex < known.leafIndex) firmware.set(key, { kind, sha256, version, leafIndex });
  };
  let releaseId: string | null = null;
  const sha256 = /^[0-9a-f]{64}$/;
  for (const { event: e, leafIndex } of events) {
    stations.add(e.source.id);
    // Every whole image hash an event names, whatever became of it: a selection by firmware finds the unit by any.
    for (const hash of namedImageHashes(e)) if (sha256.test(hash)) images.add(hash);
    if (e.type === 'UnitScanned') {
      batchId = e.data.batchId;
      if ('releaseId' in e.data) releaseId = e.data.releaseId;
      else {
        chipId = e.data.chipId ?? chipId;
        mac = e.data.mac ?? mac;
      }
    } else if (e.type === 'IdentityRead') {
      chipId = e.data.chipId ?? chipId;
      mac = e.data.mac ?? mac;
    } else if (e.type === 'UnitShipped') {
      customers.add(e.data.customer);
    }
    // What the unit carries (src/event/firmware.ts): one answer for subjects, reports and the read model.
    for (const f of firmwareOf(e)) claim(imageKind(f.name), f.sha256, f.version ?? releaseId ?? '', leafIndex);
  }
  return {
    stations: [...stations],
    batchId,
    chipId,
    mac,
    firstDay: events[0]?.event.occurredAt.slice(0, 10) ?? '',
    customers: [...customers],
    images: [...images],
    firmware: [...firmware.values()],
  };
}

/** The image hashes a unit event names: written, compared, read back or locked. */
function namedImageHashes(e: UnitEvent): string[] {
  switch (e.type) {
    case 'BootloaderWritten':
    case 'AppVerified':
      return [e.data.imageSha256];
    case 'ImagesWritten':
    case 'UnitLocked':
    case 'FirmwareUpdated':
      return e.data.images.map((i) => i.sha256);
    case 'ImagesVerified':
      return e.data.method === 'boot_log_elf_sha256' ? [] : e.data.images.flatMap((i) => [i.expected, i.reported]);
    case 'ProvisioningApplied':
      return 'image' in e.data && e.data.image ? [e.data.image.sha256] : [];
    default:
      return [];
  }
}

/** The unsigned summary of a unit record, which must say what its signed events (and batch record) say. */
export interface UnitSummaryFields {
  readonly chipId: string | null;
  readonly mac: string | null;
  readonly batchId: string | null;
  readonly releaseId: string | null;
}

/** The summary a unit record must carry. `batches` is null where the format has no batch records (v1). */
export function expectedSummary(facts: UnitFacts, batches: ReadonlyMap<string, string> | null): { fields: Omit<UnitSummaryFields, 'releaseId'> & { releaseId?: string | null }; missingBatch: string | null } {
  const base = { chipId: facts.chipId, mac: facts.mac, batchId: facts.batchId };
  if (!batches) return { fields: base, missingBatch: null };
  if (facts.batchId === null) return { fields: { ...base, releaseId: null }, missingBatch: null };
  const releaseId = batches.get(facts.batchId);
  return releaseId === undefined ? { fields: base, missingBatch: facts.batchId } : { fields: { ...base, releaseId }, missingBatch: null };
}

/** Null when the selection admits the unit; otherwise what it fails (docs/format.md §7.5). */
export function selectionRefuses(selection: ExportSelection, serial: string, facts: UnitFacts): string | null {
  if (selection.batchId !== undefined && facts.batchId !== selection.batchId) return `the selection is batch ${selection.batchId}, the unit's events put it in ${String(facts.batchId)}`;
  if (selection.serials !== undefined && !selection.serials.includes(serial)) return 'the selection lists serials, and not this one';
  if (selection.customer !== undefined && !facts.customers.includes(selection.customer)) return `the selection is customer ${selection.customer}, and the unit was not shipped to it`;
  if (selection.firmwareSha256 !== undefined && !facts.images.includes(selection.firmwareSha256)) return `the selection is firmware ${selection.firmwareSha256.slice(0, 16)}…, which no event of the unit names`;
  if (selection.from !== undefined && facts.firstDay < selection.from) return `the unit's first event (${facts.firstDay}) is before the selection's from day ${selection.from}`;
  if (selection.to !== undefined && facts.firstDay > selection.to) return `the unit's first event (${facts.firstDay}) is after the selection's to day ${selection.to}`;
  return null;
}

/** In-toto subject name of a firmware claim (v2). */
export function subjectName(f: FirmwareClaim): string {
  return `${f.kind} ${f.version}`;
}
