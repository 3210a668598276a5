/**
 * The commitment of the unit history map (docs/format.md §15): the index log, a C2SP log of its own (origin
 * `<ledger origin>/unit-map`, its own Ed25519 key), whose leaf i commits the map root as of the size of the
 * ledger's i-th signed checkpoint. A map root means something only once the ledger cannot show two of them for
 * one checkpoint: the index log's checkpoints go to the same witnesses as the ledger's, so a second map root for
 * a size would be a fork of a witnessed log. Pure.
 *
 * Verification of a unit's `history` evidence, in order:
 *   1. the index checkpoint is signed by the pinned index log key, its origin is the ledger's + "/unit-map";
 *      with a witness policy, its quorum cosigned it;
 *   2. the commitment leaf, rebuilt from the evidence's own ledger checkpoint and the claimed map root, is
 *      included in the index checkpoint at `index`;
 *   3. the map proof shows the unit's history value under that map root, and the value is the one the given unit
 *      events yield (verifyCompleteHistory): otherwise HISTORY_INCOMPLETE naming the unit and what is missing.
 */
import { portableCrypto, type CryptoBackend } from '../crypto/backend.ts';
import { fromBase64, fromHex, toHex, utf8 } from '../crypto/encoding.ts';
import { leafHash, type Hash } from '../merkle/hash.ts';
import { verifyInclusion } from '../merkle/proofs.ts';
import { CheckpointFormatError, formatCheckpointBody, parseCheckpointBody, type Checkpoint } from '../tlog/checkpoint.ts';
import { NoteError, verifyNote, type NoteKey } from '../tlog/note.ts';
import type { WitnessPolicy } from '../tlog/policy.ts';
import { HistoryEvidence } from '../../schemas/history.ts';
import { VerificationError, type FailureLocation } from './errors.ts';
import { verifyCompleteHistory, type UnitHistory } from './history-map.ts';
import { checkWitnesses, type WitnessReport } from './witnesses.ts';

export const INDEX_LOG_SUFFIX = '/unit-map';
export const MAP_COMMITMENT_HEADER = 'flashtrail/map-commitment/v1';
/** From the switch point on (§15.3): the committed root covers the unit histories and the firmware values (§15.6). */
export const MAP_COMMITMENT_HEADER_V2 = 'flashtrail/map-commitment/v2';
export type MapCommitmentVersion = 1 | 2;
const HEADERS: Record<MapCommitmentVersion, string> = { 1: MAP_COMMITMENT_HEADER, 2: MAP_COMMITMENT_HEADER_V2 };

export const indexLogOrigin = (ledgerOrigin: string): string => `${ledgerOrigin}${INDEX_LOG_SUFFIX}`;

export interface MapCommitment {
  /** The ledger checkpoint whose tree the map was built from (its origin, size and root). */
  readonly checkpoint: Checkpoint;
  /** The map root as of `checkpoint.size`. */
  readonly mapRoot: Hash;
  /** 1 (unit histories only) unless given; 2 once the map holds the firmware values too. */
  readonly version?: MapCommitmentVersion;
}

/** The leaf text: a header line, the ledger checkpoint body (three lines), and the map root line. */
export function formatCommitment(c: MapCommitment): string {
  return `${HEADERS[c.version ?? 1]}\n${formatCheckpointBody(c.checkpoint)}unit-map ${toHex(c.mapRoot)}\n`;
}

export function parseCommitment(text: string): MapCommitment & { readonly version: MapCommitmentVersion } {
  const lines = text.split('\n');
  const version = lines[0] === MAP_COMMITMENT_HEADER ? 1 : lines[0] === MAP_COMMITMENT_HEADER_V2 ? 2 : null;
  if (lines.length !== 6 || version === null || lines[5] !== '') throw new CheckpointFormatError(`a map commitment is "${MAP_COMMITMENT_HEADER}" (or v2), three checkpoint lines and a unit-map line`);
  const checkpoint = parseCheckpointBody(`${lines[1]}\n${lines[2]}\n${lines[3]}\n`);
  const m = /^unit-map ([0-9a-f]{64})$/.exec(lines[4] as string);
  if (!m) throw new CheckpointFormatError('the unit-map line is "unit-map <64 hex digits>"');
  return { checkpoint, mapRoot: fromHex(m[1] as string), version };
}

export const commitmentLeafHash = (c: MapCommitment, crypto: CryptoBackend = portableCrypto): Hash => leafHash(utf8(formatCommitment(c)), crypto);

export interface HistoryReport {
  /** Complete as of this ledger tree size. */
  readonly size: number;
  readonly events: number;
  /** Leaf of the unit's last event in that tree. */
  readonly lastLeaf: number;
  readonly mapRoot: string;
  /** The index checkpoint the commitment is proved against. */
  readonly indexSize: number;
  readonly indexWitnesses?: WitnessReport;
}

export interface HistoryCheckOptions {
  readonly policy?: WitnessPolicy;
}

/**
 * Checks a unit's `history` evidence against the evidence's verified ledger checkpoint and its unit events
 * (leaf index and RFC 6962 leaf hash each, in log order). `at` prefixes the reported field (`history` in a
 * provenance document, `history` of a unit record in an export).
 */
export function verifyHistoryEvidence(
  serial: string,
  events: readonly { leafIndex: number; leafHash: Hash }[],
  input: unknown,
  ledgerCheckpoint: Checkpoint,
  mapKey: NoteKey,
  crypto: CryptoBackend = portableCrypto,
  options: HistoryCheckOptions = {},
  at: FailureLocation = {},
): HistoryReport {
  const parsed = HistoryEvidence.safeParse(input);
  if (!parsed.success) throw historyFormatError(parsed.error, `history of ${serial}`, { ...at, serial });
  const evidence = parsed.data;
  const committed = verifyMapCommitment(evidence, ledgerCheckpoint, mapKey, crypto, options, { ...at, serial }, `unit ${serial}: `);
  return verifyUnitMapProof(serial, events, evidence, committed, crypto, at);
}

/** A map root tied to a verified ledger checkpoint by the index log (§15.5 steps 1 and 2). */
export interface CommittedMapRoot {
  readonly size: number;
  readonly mapRoot: string;
  readonly indexSize: number;
  /** The version of the committed leaf: 2 when the root covers the firmware values too (§15.6). */
  readonly version: MapCommitmentVersion;
  readonly indexWitnesses?: WitnessReport;
}

/** FORMAT_ERROR naming the member of a zod failure, under the field `at` names. */
export function historyFormatError(error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] }, what: string, at: FailureLocation): VerificationError {
  const issue = error.issues[0];
  const path = issue?.path.map(String).join('.') ?? '';
  return new VerificationError('FORMAT_ERROR', 'history', `${what}: ${path || 'history'}: ${issue?.message ?? 'invalid'}`, { ...at, field: at.field ? (path ? `${at.field}.${path}` : at.field) : path });
}

/**
 * §15.5 steps 1 and 2: the index checkpoint verifies under the pinned index log key (and, with a policy, its
 * quorum cosigned it), and includes the commitment of `mapRoot` for the ledger checkpoint. What units share:
 * a v4 export checks it once, in its history record; a provenance document in its own `history`.
 */
export function verifyMapCommitment(
  evidence: Pick<HistoryEvidence, 'mapRoot' | 'commitment'>,
  ledgerCheckpoint: Checkpoint,
  mapKey: NoteKey,
  crypto: CryptoBackend = portableCrypto,
  options: HistoryCheckOptions = {},
  at: FailureLocation = {},
  subject = '',
): CommittedMapRoot {
  const field = (f: string) => ({ ...at, field: at.field ? `${at.field}.${f}` : f });
  const origin = indexLogOrigin(ledgerCheckpoint.origin);
  if (mapKey.name !== origin) throw new VerificationError('LEDGER_KEY_ERROR', 'history', `the pinned index log key is for ${mapKey.name}, not ${origin}`, field('commitment.checkpoint'));
  let text: string;
  try {
    text = verifyNote(evidence.commitment.checkpoint, [mapKey], crypto).text;
  } catch (error) {
    if (!(error instanceof NoteError)) throw error;
    throw new VerificationError('CHECKPOINT_SIGNATURE_ERROR', 'history', `the index log checkpoint is not signed by the pinned index log key ${mapKey.name}: ${error.message}`, field('commitment.checkpoint'));
  }
  let index: Checkpoint;
  try {
    index = parseCheckpointBody(text);
  } catch (error) {
    if (!(error instanceof CheckpointFormatError)) throw error;
    throw new VerificationError('FORMAT_ERROR', 'history', `index log checkpoint: ${error.message}`, field('commitment.checkpoint'));
  }
  if (index.origin !== origin) throw new VerificationError('CHECKPOINT_ORIGIN_ERROR', 'history', `index log checkpoint origin ${index.origin} is not ${origin}`, field('commitment.checkpoint'));
  // The ledger's policy names the ledger's log; the same witnesses cosign the index log.
  const indexWitnesses = options.policy ? checkWitnesses(evidence.commitment.checkpoint, { ...options.policy, logs: [] }, mapKey, crypto, field('commitment.checkpoint')) : undefined;

  const mapRoot = fromHex(evidence.mapRoot);
  const proof = evidence.commitment.proof.map((h) => fromBase64(h));
  // The leaf names its version (§15.3); the evidence does not, so the verifier rebuilds each and one must be included.
  const included = (version: MapCommitmentVersion) =>
    evidence.commitment.index < index.size && verifyInclusion(commitmentLeafHash({ checkpoint: ledgerCheckpoint, mapRoot, version }, crypto), evidence.commitment.index, index.size, proof, index.root, crypto);
  const version: MapCommitmentVersion | null = included(2) ? 2 : included(1) ? 1 : null;
  if (version === null) {
    throw new VerificationError(
      'HISTORY_INCOMPLETE',
      'history',
      `${subject}map root ${evidence.mapRoot.slice(0, 16)}… is not what the index log commits for checkpoint ${ledgerCheckpoint.size} (no inclusion of that commitment at index ${evidence.commitment.index} of index tree ${index.size})`,
      field('commitment'),
    );
  }
  return { size: ledgerCheckpoint.size, mapRoot: evidence.mapRoot, indexSize: index.size, version, ...(indexWitnesses ? { indexWitnesses } : {}) };
}

/**
 * §15.5 step 3: the unit's map proof under a committed map root, and its value the one its events yield.
 * `at.field` names where the value and proof are (`history` of a document or of a unit record).
 */
export function verifyUnitMapProof(
  serial: string,
  events: readonly { leafIndex: number; leafHash: Hash }[],
  evidence: { readonly value: string | null; readonly proof: string },
  committed: CommittedMapRoot,
  crypto: CryptoBackend = portableCrypto,
  at: FailureLocation = {},
): HistoryReport {
  const field = (f: string) => ({ ...at, serial, field: at.field ? `${at.field}.${f}` : f });
  if (evidence.value === null) {
    throw new VerificationError('HISTORY_INCOMPLETE', 'history', `unit ${serial}: the evidence claims the map holds no event of the unit, yet the document holds ${events.length}`, field('value'));
  }
  const history: UnitHistory = verifyCompleteHistory(serial, events, { root: fromHex(committed.mapRoot), size: committed.size, value: fromBase64(evidence.value), proof: fromBase64(evidence.proof) }, crypto);
  return {
    size: committed.size,
    events: history.count,
    lastLeaf: history.lastLeaf,
    mapRoot: committed.mapRoot,
    indexSize: committed.indexSize,
    ...(committed.indexWitnesses ? { indexWitnesses: committed.indexWitnesses } : {}),
  };
}

export function historyStepDetail(r: HistoryReport): string {
  return `complete as of tree size ${r.size}: the map committed in index log entry of tree ${r.indexSize} holds ${r.events} event(s) of the unit, the last at leaf ${r.lastLeaf}, exactly those given${r.indexWitnesses ? `; index checkpoint quorum ${r.indexWitnesses.quorum} met` : ''}`;
}
