/**
 * Offline verification of a unit's provenance document (docs/format.md §6, §8.1), as one pipeline of named
 * steps. Each step throws a VerificationError with a code, so a report says exactly what failed and where.
 * Pure: no Node-only APIs; the crypto backend is injected (node's native one in the CLI, the portable one in
 * a browser).
 *
 * Steps: format → checkpoint → envelopes → inclusion → keys → unit.
 * Trust starts from one pinned key, the ledger's: it signs the checkpoint and the AdminKeysTrusted events;
 * the administrator keys they name sign station, release and batch records; station keys sign the unit's
 * events. Leaf indices are trusted once their inclusion proofs verify, and key validity is judged by them:
 * a key counts for an event if its registration precedes the event in the log and no revocation does.
 */
import { checkCheckpointSignatures, type SignatureAlgorithm, type SignaturePolicy } from './signature-policy.ts';
import type { DsseEnvelope } from '../crypto/dsse.ts';
import { fromHex, toHex } from '../crypto/encoding.ts';
import { portableCrypto, type CryptoBackend } from '../crypto/backend.ts';
import type { Hash } from '../merkle/hash.ts';
import { CheckpointFormatError, parseCheckpointBody, parseTlogProof, type Checkpoint } from '../tlog/checkpoint.ts';
import { NoteError, verifyNote, type NoteKey } from '../tlog/note.ts';
import { followedPolicy, followLedgerKeyChain, followMlDsaKeyChain, mlDsaChainDetail } from './ledger-keys.ts';
import { PROVENANCE_FORMAT_V1, PROVENANCE_FORMAT_V2, PROVENANCE_FORMAT_V3 } from '../../schemas/provenance.ts';
import { historyStepDetail, verifyHistoryEvidence, type HistoryReport } from './map-commitment.ts';
import { leafHash } from '../merkle/hash.ts';
import { checkProvenanceStatement } from './provenance-statement.ts';
import { anyKeyFor, checkInclusions, decodeEntry, establishKeys, fail, verifyUnitEvents, type Decoded, type EntryRole, type KeyLives } from './steps.ts';
import { parseProvenanceDocument, type ProvenanceFormat } from './records.ts';
import { VerificationError } from './errors.ts';
import { observedSteps } from './plan.ts';
import { checkWitnesses, witnessStepDetail, type WitnessReport } from './witnesses.ts';
import { checkFreshness, freshnessDetail, type FreshnessReport } from './freshness.ts';
import type { WitnessPolicy } from '../tlog/policy.ts';
import type { HistoryEvidence } from '../../schemas/history.ts';

export { PROVENANCE_FORMAT_V1, PROVENANCE_FORMAT_V2, PROVENANCE_FORMAT_V3 };
/** What the ledger serves now. */
export const PROVENANCE_FORMAT = PROVENANCE_FORMAT_V3;

export interface ProvenanceEntry {
  readonly role: EntryRole;
  readonly leafIndex: number;
  readonly envelope: DsseEnvelope;
  /** C2SP tlog-proof text proving the envelope at leafIndex under the document's checkpoint. */
  readonly proof: string;
}

export interface ProvenanceDocument {
  readonly format: ProvenanceFormat;
  readonly serial: string;
  readonly checkpoint: string;
  readonly entries: readonly ProvenanceEntry[];
  /** v3: the unit's completeness evidence (docs/format.md §15), where the ledger keeps a unit history map. */
  readonly history?: HistoryEvidence;
  /** v3: the ledger's signed statement over the rest of the document (provenance-statement.ts). */
  readonly statement?: DsseEnvelope;
}

export interface StepReport {
  readonly step: string;
  readonly detail: string;
}

export interface ProvenanceReport {
  readonly format: ProvenanceFormat;
  readonly serial: string;
  readonly checkpoint: { origin: string; size: number; root: string };
  readonly events: number;
  readonly stations: string[];
  readonly batchId: string | null;
  /** The release of the unit's batch, proven by the batch and release records (v2); null otherwise. */
  readonly releaseId: string | null;
  readonly firmware: { bootloader: string[]; application: string[] };
  /** v2: whether every bootloader written and application verified is the one its release approves; null when not known. */
  readonly matchesRelease: boolean | null;
  readonly steps: StepReport[];
  /** The algorithms of the ledger's checkpoint signatures that verified (signature-policy.ts). */
  readonly signatures: SignatureAlgorithm[];
  /** v3: the algorithms of the ledger's signatures on the document's statement that verified. */
  readonly statementSignatures?: SignatureAlgorithm[];
  /** What this document cannot prove, said plainly (docs/format.md §6.5, §10). */
  readonly notProven: string[];
  /** The witnesses that cosigned the checkpoint, when a policy was given. */
  readonly witnesses?: WitnessReport;
  /** How old the evidence is (docs/format.md §5.3). */
  readonly freshness?: FreshnessReport;
  /** v3 with the index log key pinned: the unit's history is complete as of the checkpoint. */
  readonly history?: HistoryReport;
}

/** What must hold besides the document itself; the signature policy's members say which checkpoint signatures must verify. */
export interface VerifyOptions extends SignaturePolicy {
  /** A witness policy (C2SP tlog-policy): its quorum must have cosigned the checkpoint (WITNESS_QUORUM_NOT_MET). */
  readonly policy?: WitnessPolicy;
  /** The log is known to have at least this many leaves: refuse evidence against a smaller tree (CHECKPOINT_STALE). */
  readonly atLeast?: number;
  /** The verifier's clock, for the age of the evidence. */
  readonly now?: Date;
  /** The index log's verifier key (`<origin>/unit-map+…`): with it, a v3 document's `history` is checked (HISTORY_INCOMPLETE). */
  readonly mapKey?: NoteKey;
  /** Called as each step passes, for a live display (plan.ts). */
  readonly onStep?: (step: StepReport) => void;
}

const NOT_PROVEN = [
  'that the document holds every event of the unit: events after the last one shown may have been left out (per-unit completeness proofs come with the verifiable map)',
  'that the checkpoint is the newest, or that others were shown the same tree (witness cosignatures)',
];
const NOT_PROVEN_V1 = ["the unit's batch and release (v1 documents carry no batch or release records)"];

export function verifyProvenance(input: unknown, pinnedKey: NoteKey, crypto: CryptoBackend = portableCrypto, options: VerifyOptions = {}): ProvenanceReport {
  const steps = observedSteps(options.onStep);
  const done = (step: string, detail: string) => steps.push({ step, detail });

  const doc = parseProvenanceDocument(input);
  // "v2" rules: v2 and v3, which is v2 with its history and signed.
  const v2 = doc.format !== PROVENANCE_FORMAT_V1;
  const v3 = doc.format === PROVENANCE_FORMAT_V3;
  done('format', `${doc.format} for unit ${doc.serial}, ${doc.entries.length} entries`);

  // The chain of ledger keys first (§5.4): the checkpoint is signed by its last key. Entries that do not decode
  // are left to the envelopes step, which names them.
  // The ML-DSA-44 key's chain likewise (§5.5), when one is pinned: the checkpoint's ML-DSA-44 line and the
  // statement are its last key's.
  const rotations = rotationEntries(doc.entries, crypto);
  const chain = followLedgerKeyChain(rotations, pinnedKey, crypto);
  const ledgerKey = chain.signing;
  const mlDsaChain = options.mlDsaKey ? followMlDsaKeyChain(rotations, options.mlDsaKey, crypto) : null;
  const signaturePolicy = followedPolicy(options, mlDsaChain);
  const chainDetails = [
    ...(chain.rotations.length > 0 ? [`${chain.rotations.length} rotation(s) of the ledger key, each signed by the key it replaces, from the pinned ${pinnedKey.name} (${pinnedKey.id}) to ${ledgerKey.id}: ${chain.keys.map((k) => `${k.keyId.slice(0, 16)}…`).join(' → ')}`] : []),
    ...(mlDsaChain && options.mlDsaKey && mlDsaChain.rotations.length > 0 ? [mlDsaChainDetail(mlDsaChain, options.mlDsaKey)] : []),
  ];
  if (chainDetails.length > 0) done('ledger-keys', chainDetails.join('; '));
  const checkpoint = checkCheckpoint(doc.checkpoint, ledgerKey, crypto);
  const algorithms = checkCheckpointSignatures(doc.checkpoint, signaturePolicy, crypto);
  done('checkpoint', `signed by ${ledgerKey.name} (${ledgerKey.id}) with ${algorithms.join(' + ')}: tree size ${checkpoint.size}, root ${toHex(checkpoint.root).slice(0, 16)}…`);
  const witnesses = options.policy ? checkWitnesses(doc.checkpoint, options.policy, ledgerKey, crypto, { field: 'checkpoint' }, chain.keys) : undefined;
  if (witnesses) done('witnesses', witnessStepDetail(witnesses));
  // Said when asked (a size to reach) or when there is a time to say it by (witness cosignatures).
  const freshness = options.atLeast !== undefined || witnesses ? checkFreshness(checkpoint, options.atLeast, witnesses, options.now ?? new Date()) : undefined;
  if (freshness) done('freshness', freshnessDetail(freshness, options.atLeast));

  const decoded = doc.entries.map((entry, position) => decodeEntry(entry.role, entry.leafIndex, entry.envelope, position, { field: `entries[${position}]` }, crypto));
  const seen = new Map<number, Decoded>();
  decoded.forEach((d, i) => {
    const before = decoded[i - 1];
    if (seen.has(d.leafIndex)) throw fail('DUPLICATE_ENTRY', 'envelopes', d, `leaf ${d.leafIndex} is already entry ${(seen.get(d.leafIndex) as Decoded).position}`);
    if (v2 && before && before.leafIndex > d.leafIndex) throw fail('FORMAT_ERROR', 'envelopes', d, `entries must be in log order, and leaf ${d.leafIndex} follows leaf ${before.leafIndex}`);
    seen.set(d.leafIndex, d);
  });
  done('envelopes', `${decoded.length} DSSE envelopes decoded, each of its role${v2 ? ', in log order' : ''}`);

  // Leaf indices first: every later judgement (which key was live, which event came first) rests on them.
  const trustKeys = new Map<string, Uint8Array>();
  for (const d of decoded) if (d.event.type === 'AdminKeysTrusted') for (const k of d.event.data.keys) trustKeys.set(k.keyId, fromHex(k.publicKey));
  const adminEntries = decoded.filter((d) => d.role !== 'unit');
  // Station keys as the document's registrations name them, before anything about them is verified: only to
  // tell an envelope changed after signing from a misplaced one (docs/format.md §8.1 step 4).
  const registered: KeyLives = new Map();
  for (const d of adminEntries) {
    if (d.event.type !== 'StationKeyRegistered') continue;
    const list = registered.get(d.event.data.keyId) ?? [];
    list.push({ station: d.event.data.stationId, publicKey: d.event.data.publicKey, registeredAt: d.leafIndex, revokedAt: null });
    registered.set(d.event.data.keyId, list);
  }
  checkInclusions(
    decoded.map((d, i) => ({ d, proof: tlogProofHashes(d, (doc.entries[i] as { proof: string }).proof, doc.checkpoint, v2) })),
    checkpoint,
    crypto,
    (d) => (d.role === 'trust' ? (chain.keys.find((k) => k.keyId === d.keyId)?.publicKey ?? null) : d.role === 'unit' ? anyKeyFor(registered, d) : (trustKeys.get(d.keyId) ?? null)),
  );
  done('inclusion', `${decoded.length} inclusion proofs verify against the checkpoint (RFC 9162 §2.1.3.2)`);

  const keys = establishKeys(adminEntries, ledgerKey, crypto, 'keys', chain.keyAt);
  const c = keys.counts;
  done('keys', `${c.trust} AdminKeysTrusted record(s) signed by the ledger key; ${c.station} station${v2 ? `, ${c.release} release and ${c.batch} batch` : ''} record(s) signed by trusted administrator keys, chained; ${[...keys.lives.values()].reduce((n, l) => n + l.length, 0)} station key registration(s)`);

  // The unit's own events, in stream order (v2: log order, which is the same for an honest ledger).
  const unit = decoded.filter((d) => d.role === 'unit');
  if (unit.length === 0) throw new VerificationError('FORMAT_ERROR', 'unit', 'the document holds no unit events', { field: 'entries' });
  const facts = verifyUnitEvents(doc.serial, unit, keys.lives, crypto);
  let releaseId: string | null = null;
  let matchesRelease: boolean | null = null;
  if (v2) {
    const stationsOfUnit = new Set(facts.stations);
    for (const d of adminEntries) {
      if (d.role === 'station' && !stationsOfUnit.has((d.event.data as { stationId: string }).stationId)) throw fail('FORMAT_ERROR', 'unit', d, 'a station record of a station that signed none of the unit\'s events');
    }
    if (facts.batchId !== null) {
      releaseId = keys.batches.get(facts.batchId) ?? null;
      if (releaseId === null) throw new VerificationError('FORMAT_ERROR', 'unit', `the unit was scanned into batch ${facts.batchId}, whose BatchOpened record is not in the document`, { field: 'entries' });
    }
    for (const b of keys.batches.keys()) if (b !== facts.batchId) throw new VerificationError('FORMAT_ERROR', 'unit', `the document holds the batch record of ${b}, not the unit's batch`, { stream: `batch-${b}` });
    for (const r of keys.releases.keys()) if (r !== releaseId) throw new VerificationError('FORMAT_ERROR', 'unit', `the document holds the release record of ${r}, not the release of the unit's batch`, { stream: `release-${r}` });
    const release = releaseId !== null ? keys.releases.get(releaseId) : undefined;
    matchesRelease = release && facts.firmware.length > 0 ? facts.firmware.every((f) => release.images.get(f.kind) === f.sha256) : null;
  }
  done('unit', `${unit.length} events of ${doc.serial}: signatures valid (RFC 8032 strict), keys registered and unrevoked, hash chain unbroken from the first event, in log order${releaseId !== null ? `; batch ${String(facts.batchId)} of release ${releaseId}` : ''}`);

  // v3: that the unit entries are every event of the unit in the checkpoint's tree, not only a prefix.
  let history: HistoryReport | undefined;
  if (v3 && options.mapKey && doc.history === undefined) {
    throw new VerificationError('HISTORY_INCOMPLETE', 'history', `the document carries no history of ${doc.serial}: nothing proves its ${unit.length} unit events are all the unit's events (the ledger kept no unit history map)`, { serial: doc.serial, field: 'history' });
  } else if (v3 && options.mapKey) {
    const events = unit.map((d) => ({ leafIndex: d.leafIndex, leafHash: leafHash(d.bytes, crypto) }));
    history = verifyHistoryEvidence(doc.serial, events, doc.history, checkpoint, options.mapKey, crypto, options.policy ? { policy: options.policy } : {}, { field: 'history' });
    done('history', historyStepDetail(history));
  } else if (v3) {
    done('history', 'not checked: pin the index log key (GET /v1/unit-map/key; flashtrail verify --map-key) to prove the history complete');
  }

  // Last, so that every structural fault above keeps its own code; it covers `history` too.
  let statementSignatures: SignatureAlgorithm[] | undefined;
  if (v3) {
    const statement = checkProvenanceStatement(input as Parameters<typeof checkProvenanceStatement>[0], checkpoint, ledgerKey, signaturePolicy, crypto);
    statementSignatures = statement.signatures;
    done('statement', `the ledger signed this document (sha256 ${statement.sha256.slice(0, 16)}…, ${doc.entries.length} entries, ${unit.length} unit events) with ${statement.signatures.join(' + ')}: nothing was removed from it or added to it since`);
  }

  const images = (kind: 'bootloader' | 'application') => facts.firmware.filter((f) => f.kind === kind).sort((a, b) => a.leafIndex - b.leafIndex).map((f) => f.sha256);
  return {
    format: doc.format,
    serial: doc.serial,
    checkpoint: { origin: checkpoint.origin, size: checkpoint.size, root: toHex(checkpoint.root) },
    events: unit.length,
    stations: [...facts.stations].sort(),
    batchId: facts.batchId,
    releaseId,
    firmware: { bootloader: images('bootloader'), application: images('application') },
    matchesRelease,
    steps,
    signatures: algorithms,
    ...(statementSignatures ? { statementSignatures } : {}),
    notProven: notProvenWith((v2 ? NOT_PROVEN : [...NOT_PROVEN_V1, ...NOT_PROVEN]).filter((n) => !history || !n.startsWith('that the document holds every event')).map((n) => (history && n.startsWith('that the checkpoint is the newest') ? `${n}: the history is complete as of tree size ${history.size} only` : n)), witnesses),
    ...(witnesses ? { witnesses } : {}),
    ...(freshness ? { freshness } : {}),
    ...(history ? { history } : {}),
  };
}

/** The trust entries that decode as LedgerKeyRotated: the links of the chain of ledger keys. */
function rotationEntries(entries: readonly { role: string; leafIndex: number; envelope: unknown }[], crypto: CryptoBackend): Decoded[] {
  const out: Decoded[] = [];
  entries.forEach((entry, position) => {
    if (entry.role !== 'trust') return;
    try {
      const d = decodeEntry('trust', entry.leafIndex, entry.envelope, position, { field: `entries[${position}]` }, crypto);
      if (d.event.type === 'LedgerKeyRotated') out.push(d);
    } catch (error) {
      if (!(error instanceof VerificationError)) throw error;
    }
  });
  return out;
}

/** With a witness quorum met, the split-view caveat no longer holds; freshness still does. */
export function notProvenWith(list: readonly string[], witnesses: WitnessReport | undefined): string[] {
  if (!witnesses || witnesses.cosignedBy.length === 0) return [...list];
  return list.map((n) => (n.includes('(witness cosignatures)') ? 'that the checkpoint is the newest: the witnesses cosigned it as the largest tree they had seen, at the times shown' : n));
}

/** The hashes of an entry's C2SP tlog-proof, which must be for its leaf and against the document's checkpoint. */
export function tlogProofHashes(d: Decoded, text: string, note: string, v2: boolean): Hash[] {
  let proof;
  try {
    proof = parseTlogProof(text);
  } catch (error) {
    throw fail('FORMAT_ERROR', 'inclusion', d, `proof is not a c2sp.org/tlog-proof@v1: ${(error as Error).message}`);
  }
  if (v2 && proof.extra) throw fail('FORMAT_ERROR', 'inclusion', d, 'the proof carries an extra line, which this format does not use');
  if (proof.index !== d.leafIndex) throw fail('INCLUSION_PROOF_ERROR', 'inclusion', d, `proof is for leaf ${proof.index}, entry claims ${d.leafIndex}`);
  if (proof.checkpoint !== note) throw fail('INCLUSION_PROOF_ERROR', 'inclusion', d, 'proof is against another checkpoint than the document');
  return proof.proof;
}

export function checkCheckpoint(note: string, ledgerKey: NoteKey, crypto: CryptoBackend): Checkpoint {
  let text: string;
  try {
    text = verifyNote(note, [ledgerKey], crypto).text;
  } catch (error) {
    if (!(error instanceof NoteError)) throw error;
    throw new VerificationError('CHECKPOINT_SIGNATURE_ERROR', 'checkpoint', `checkpoint is not signed by the pinned ledger key ${ledgerKey.name}: ${error.message}`, { field: 'checkpoint' });
  }
  let checkpoint: Checkpoint;
  try {
    checkpoint = parseCheckpointBody(text);
  } catch (error) {
    if (!(error instanceof CheckpointFormatError)) throw error;
    throw new VerificationError('FORMAT_ERROR', 'checkpoint', error.message, { field: 'checkpoint' });
  }
  if (checkpoint.origin !== ledgerKey.name) {
    throw new VerificationError('CHECKPOINT_ORIGIN_ERROR', 'checkpoint', `checkpoint origin ${checkpoint.origin} is not the ledger ${ledgerKey.name}`, { field: 'checkpoint' });
  }
  return checkpoint;
}
