/**
 * Writes a signed traceability export, format flashtrail.export.v4 (docs/format.md §7, §7.6.2; v3 from a ledger
 * that keeps no unit history map, or whose map is out of service; v5 for a selection by firmware digest where the
 * index log commits the firmware values, §7.6.3), as a stream: records
 * are produced one unit at a time, each line the RFC 8785 form of its record, hashed as they go, and the
 * ledger-signed in-toto statement closes the file.
 *
 * Everything that can fail before the first byte (the checkpoint, the records every unit depends on) happens
 * in `prepareExport`, so that a caller can still answer with an error; a failure after that throws from the
 * line generator, and the caller must abort the transfer rather than end it (a truncated file never verifies).
 */
import { createHash } from 'node:crypto';
import type { Ledger, StoredEvent } from '../write/pipeline.ts';
import type { LedgerLog } from '../read/ledger-log.ts';
import type { Checkpointer } from '../write/checkpointer.ts';
import type { ReadModel } from '../read/read-model.ts';
import type { Signer } from '../crypto/ed25519.ts';
import type { UnitFacts as ProductionFacts } from '../../projections/production.ts';
import type { UnitEvent } from '../../schemas/index.ts';
import { batchStream, LEDGER_KEY_ROTATIONS_STREAM, LEDGER_TRUST_STREAM, releaseStream, stationStream, unitStream } from '../event/streams.ts';
import { canonicalize, type KnownCanonical } from '../crypto/jcs.ts';
import type { MlDsaSigner } from '../crypto/ml-dsa.ts';
import { signStatement } from './statement.ts';
import { fromUtf8, toBase64, toHex } from '../crypto/encoding.ts';
import { checkpointSize } from './provenance.ts';
import { parseCheckpointBody } from '../tlog/checkpoint.ts';
import { parseNote } from '../tlog/note.ts';
import { selectionRefuses, subjectName, unitFactsOf, type FirmwareClaim } from '../verify/steps.ts';
import {
  EXPORT_FORMAT_V3,
  EXPORT_PREDICATE_TYPE_V3,
  EXPORT_FORMAT_V4,
  EXPORT_PREDICATE_TYPE_V4,
  EXPORT_FORMAT_V5,
  EXPORT_PREDICATE_TYPE_V5,
  FIRMWARE_ANSWER_MAX_SERIALS,
  FIRMWARE_PART_SERIALS,
  IN_TOTO_STATEMENT_TYPE,
  MAX_EXPORT_LINE_BYTES,
  type AdminRecordKind,
  type ExportRecord,
  type ExportSelection,
  type InTotoStatement,
  type LoggedEnvelope,
} from '../verify/export-format.ts';
import { LedgerError } from '../write/errors.ts';
import { nativeCrypto } from '../native/crypto.ts';
import type { Hash } from '../merkle/hash.ts';
import { inclusionProofs } from './shared-proofs.ts';
import { UnitMapError, type UnitMapIndex } from '../read/unit-map.ts';
import type { Logger } from 'pino';

export interface ExportDeps {
  readonly ledger: Ledger;
  readonly log: LedgerLog;
  readonly checkpointer: Checkpointer;
  readonly projections: ReadModel;
  readonly ledgerKey: Signer;
  /** Signs the statement beside the Ed25519 key (v3); null or absent: post-quantum signatures are off. */
  readonly mlDsaKey?: MlDsaSigner | null;
  /** The offline verifier page the ledger serves and the CLI writes next to the export (statement.ts verifierPageRecord). */
  readonly verifierPage?: { readonly name: 'verify.html'; readonly sha256: string } | null;
  readonly origin: string;
  readonly clock: () => Date;
  /** The unit history map: with it the export is v4, each unit with its map proof (docs/format.md §7.6.2). */
  readonly unitMap?: Pick<UnitMapIndex, 'exportEvidence' | 'firmwareEvidence'> | null;
  readonly logger?: Logger;
}

/** Serials chosen by a selection, in order, from projection indexes. */
export async function selectUnits(deps: ExportDeps, selection: ExportSelection): Promise<string[]> {
  const { projections } = deps;
  await projections.catchUp();
  const sets: string[][] = [];
  if (selection.serials) sets.push([...selection.serials]);
  if (selection.batchId) sets.push(projections.findKeys('production', 'batch', selection.batchId).map((k) => k.slice('unit:'.length)));
  if (selection.firmwareSha256) sets.push(projections.findKeys('unit-state', 'firmware', selection.firmwareSha256));
  if (selection.customer) sets.push(projections.findKeys('production', 'customer', selection.customer).map((k) => k.slice('unit:'.length)));
  if (selection.from || selection.to) {
    sets.push(
      projections
        .rangeDocs<ProductionFacts | { kind: string }>('production', 'day', selection.from ?? '0000', selection.to ?? '9999')
        .filter((d): d is ProductionFacts => d.kind === 'unit')
        .map((u) => u.serial),
    );
  }
  if (sets.length === 0) throw new LedgerError('BODY_INVALID', 'select units by batchId, serials, firmwareSha256, customer or from/to');
  const [first, ...rest] = sets as [string[], ...string[][]];
  const others = rest.map((s) => new Set(s));
  // Code-unit order, which the format requires (serials are ASCII, so byte order too).
  return [...new Set(first)].filter((s) => others.every((o) => o.has(s))).sort();
}

/**
 * Gives other requests a turn once the caller has worked for `sliceMs`: an export of 100,000 units is
 * mostly synchronous SQLite reads (and nothing to write for a serial with no events), so without these
 * turns it would hold the event loop, and /healthz, for seconds.
 */
function eventLoopTurns(sliceMs = 10): () => Promise<void> {
  let since = performance.now();
  return async () => {
    if (performance.now() - since < sliceMs) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    since = performance.now();
  };
}

export interface PreparedExport {
  /** The checkpoint every proof in the file is against. */
  readonly checkpoint: string;
  /** v4 where the ledger's unit history map committed the checkpoint, v3 where it keeps none or it is out of service; v5 by firmware (§7.6.3). */
  readonly format: typeof EXPORT_FORMAT_V3 | typeof EXPORT_FORMAT_V4 | typeof EXPORT_FORMAT_V5;
  /** Why a selection by firmware got no v5 (the map, its commitment's version, the answer's size); null otherwise. */
  readonly formatNote: string | null;
  /** How many units the file is about to hold at most (v5: of the firmware answer, narrowed by the other members). */
  readonly candidates: number;
  /** The file, in chunks of whole lines; throws (after the first lines) if the export cannot be completed. */
  lines(): AsyncGenerator<string>;
}

/**
 * Signs (or reuses) the checkpoint the export is against and reads the records before the units, so that a
 * failure here (a checkpoint the ledger refuses to sign, an event not yet logged) is an error before any byte.
 */
export async function prepareExport(deps: ExportDeps, selection: ExportSelection, selected: readonly string[]): Promise<PreparedExport> {
  let serials = selected;
  const { ledger, log, checkpointer, projections } = deps;
  await log.catchUp();
  const note = await checkpointer.issue();
  // The statement is signed by the checkpoint's own key (docs/format.md §5.4; on a shared log mid-rotation, maybe the
  // replaced one), chosen before any header is sent: an instance that holds neither refuses as a problem document.
  const statementKeys = await checkpointer.statementKeysFor(note);
  const size = checkpointSize(note);
  const checkpoint = parseCheckpointBody(parseNote(note).text);
  const history = await historyOf(deps, size);
  const answer = selection.firmwareSha256 === undefined ? null : await firmwareAnswerOf(deps, selection.firmwareSha256, size, history !== null);
  const firmwareAnswer = answer && 'now' in answer ? answer : null;
  if (firmwareAnswer && history && firmwareAnswer.firmware.mapRoot !== history.shared.mapRoot) throw new LedgerError('INTERNAL', `the firmware answer's map root differs from the history record's at checkpoint ${size}`);
  const format = firmwareAnswer ? EXPORT_FORMAT_V5 : history ? EXPORT_FORMAT_V4 : EXPORT_FORMAT_V3;
  // v5: the units are the answer's (the map's rule, §7.6.3), narrowed by the other members; not the §7.5 projection's.
  if (firmwareAnswer) serials = await answerCandidates(deps, selection, firmwareAnswer);
  /** A stream's events up to the checkpoint, each leaf looked up once: a prefix, as the format requires. */
  const coveredPrefix = async (stream: string, limit?: number) => {
    const stored = await ledger.readStream(stream);
    const leaves = await log.leavesOfPositions(stored.map((e) => e.recorded.position));
    const out: { e: StoredEvent; leafIndex: number }[] = [];
    for (const e of stored) {
      const leaf = leaves.get(e.recorded.position);
      if (leaf === undefined || leaf.index >= size || (limit !== undefined && out.length >= limit)) break;
      out.push({ e, leafIndex: leaf.index });
    }
    return out;
  };
  const withProof = async (e: StoredEvent, leafIndex: number): Promise<LoggedEnvelope> => ({ leafIndex, envelope: e.envelope, proof: (await log.inclusionProof(leafIndex, size)).map(toBase64) });

  // The records before the units, in log order: the trust stream, every registered station's stream (they
  // are few, so that each unit stream is read only once below), and the first event of each batch and
  // release the selected units depend on.
  const admin: { kind: AdminRecordKind; e: StoredEvent; leafIndex: number }[] = [];
  for (const c of await coveredPrefix(LEDGER_TRUST_STREAM)) admin.push({ kind: 'trust', ...c });
  // The chain of ledger keys (docs/format.md §5.4): a verifier pinned to an older key follows it. None before a rotation.
  for (const c of await coveredPrefix(LEDGER_KEY_ROTATIONS_STREAM)) admin.push({ kind: 'trust', ...c });
  const stations = new Set(projections.findDocs<{ stationId: string }>('production', 'kind', 'station').map((s) => s.stationId));
  for (const s of [...stations].sort()) for (const c of await coveredPrefix(stationStream(s))) admin.push({ kind: 'station', ...c });
  const batchIds = new Set<string>();
  const prepareTurn = eventLoopTurns();
  for (const serial of serials) {
    await prepareTurn();
    const batchId = projections.get<ProductionFacts>('production', `unit:${serial}`)?.batchId;
    if (batchId) batchIds.add(batchId);
  }
  const batches = new Map<string, string>();
  const releases = new Map<string, { sbomSha256: string | null }>();
  for (const batchId of [...batchIds].sort()) {
    const [opened] = await coveredPrefix(batchStream(batchId), 1);
    if (opened?.e.event.type !== 'BatchOpened') continue;
    batches.set(batchId, opened.e.event.data.releaseId);
    admin.push({ kind: 'batch', ...opened });
  }
  for (const releaseId of [...new Set(batches.values())].sort()) {
    const [approved] = await coveredPrefix(releaseStream(releaseId), 1);
    if (approved?.e.event.type !== 'ReleaseApproved') throw new LedgerError('INTERNAL', `release ${releaseId} has no logged ReleaseApproved under checkpoint ${size}`);
    releases.set(releaseId, { sbomSha256: approved.e.event.data.sbomSha256 ?? null });
    admin.push({ kind: 'release', ...approved });
  }
  admin.sort((a, b) => a.leafIndex - b.leafIndex);
  const createdAt = deps.clock().toISOString();

  async function* lines(): AsyncGenerator<string> {
    const hash = createHash('sha256');
    let records = 0;
    let events = 0;
    let written = 0;
    const emit = (record: ExportRecord, what: string, known?: KnownCanonical): string => {
      const line = canonicalize(record, undefined, known) + '\n';
      if (Buffer.byteLength(line) > MAX_EXPORT_LINE_BYTES) throw new LedgerError('INTERNAL', `${what} would be a line longer than ${MAX_EXPORT_LINE_BYTES} bytes, which no verifier reads`);
      hash.update(line);
      records++;
      return line;
    };
    yield emit({ record: 'header', format, origin: deps.origin, createdAt, selection }, 'the header');
    yield emit({ record: 'checkpoint', note }, 'the checkpoint');
    if (history) yield emit({ record: 'history', ...history.shared }, 'the history record');
    if (firmwareAnswer) for (const part of firmwareParts(firmwareAnswer)) yield emit(part, 'a firmware record');
    for (const a of admin) yield emit({ record: a.kind, ...(await withProof(a.e, a.leafIndex)) }, `the ${a.kind} record at leaf ${a.leafIndex}`);

    const firmware = new Map<string, FirmwareClaim>();
    const releasesUsed = new Set<string>();
    const turn = eventLoopTurns();
    for (const serial of serials) {
      await turn();
      const covered = await coveredPrefix(unitStream(serial));
      if (covered.length === 0) continue;
      // What the record says is what its events say, as of the checkpoint: the same function the verifier runs.
      const facts = unitFactsOf(covered.map(({ e, leafIndex }) => ({ event: e.event as UnitEvent, leafIndex })));
      if (selectionRefuses(firmwareAnswer ? othersOf(selection) : selection, serial, facts) !== null) continue;
      const releaseId = facts.batchId === null ? null : (batches.get(facts.batchId) ?? null);
      if (facts.batchId !== null && releaseId === null) throw new LedgerError('INTERNAL', `unit ${serial} is in batch ${facts.batchId}, whose BatchOpened is not in the export`);
      if (releaseId !== null) releasesUsed.add(releaseId);
      for (const f of facts.firmware) {
        const key = `${f.kind} ${f.sha256}`;
        const known = firmware.get(key);
        if (!known || f.leafIndex < known.leafIndex) firmware.set(key, f);
      }
      events += covered.length;
      written++;
      // The unit's proofs together: events appended together share all but the lowest levels of their paths.
      const proofs = await inclusionProofs(log, covered.map((c) => c.leafIndex), size, nativeCrypto);
      const logged = covered.map(({ e, leafIndex }): LoggedEnvelope => ({ leafIndex, envelope: e.envelope, proof: (proofs.get(leafIndex) as Hash[]).map(toBase64) }));
      // Each envelope's line text is the RFC 8785 form the store keeps (e.bytes): spliced in, not serialized again.
      const envelopeTexts = new Map<object, string>(covered.map(({ e }) => [e.envelope, fromUtf8(e.bytes)]));
      yield emit({ record: 'unit', serial, chipId: facts.chipId, mac: facts.mac, batchId: facts.batchId, releaseId, events: logged, ...(history ? { history: history.prove(serial) } : {}) }, `unit ${serial}`, envelopeTexts);
    }

    const subject = [...firmware.values()]
      .map((f) => ({ name: subjectName(f), digest: { sha256: f.sha256 } }))
      .sort((a, b) => (a.digest.sha256 === b.digest.sha256 ? (a.name < b.name ? -1 : 1) : a.digest.sha256 < b.digest.sha256 ? -1 : 1));
    const sboms = [...releasesUsed].sort().flatMap((releaseId) => {
      const sha256 = releases.get(releaseId)?.sbomSha256;
      return sha256 ? [{ releaseId, sha256, mediaType: 'application/vnd.cyclonedx+json' as const }] : [];
    });
    const statement: InTotoStatement = {
      _type: IN_TOTO_STATEMENT_TYPE,
      subject,
      predicateType: firmwareAnswer ? EXPORT_PREDICATE_TYPE_V5 : history ? EXPORT_PREDICATE_TYPE_V4 : EXPORT_PREDICATE_TYPE_V3,
      predicate: {
        format,
        origin: deps.origin,
        createdAt,
        selection,
        checkpoint: { size: checkpoint.size, rootHash: toHex(checkpoint.root) },
        content: { sha256: hash.digest('hex'), records, units: written, events },
        sboms,
        verifierPage: deps.verifierPage ?? null,
      },
    };
    const envelope = signStatement(statement, statementKeys);
    yield canonicalize({ record: 'statement', envelope }) + '\n';
  }
  return { checkpoint: note, format, formatNote: answer && 'reason' in answer ? answer.reason : null, candidates: serials.length, lines: () => wholeLines(lines()) };
}

type FirmwareAnswer = { now: string[]; formerly: string[]; sha256: string; firmware: { mapRoot: string; value: string | null; proof: string } };

/**
 * The proved answer for the selection's digest as of `size` (§15.6.1), or why the export cannot carry one and is
 * written as v4 (or v3): no history map, a units-only (v1) commitment at that size, more than 1,000,000 serials.
 */
async function firmwareAnswerOf(deps: ExportDeps, sha256: string, size: number, hasHistory: boolean): Promise<FirmwareAnswer | { reason: string } | null> {
  if (!hasHistory || !deps.unitMap) return { reason: 'the ledger keeps no unit history map (or it is out of service), so the export cannot prove that it holds every unit carrying the firmware' };
  const found = await deps.unitMap.firmwareEvidence(sha256, size);
  if (found === null) throw new LedgerError('UNAVAILABLE', `the unit history map has not committed checkpoint ${size} yet; retry shortly`);
  if (found.version === 1) return { reason: `the index log commits checkpoint ${size} with a units-only (v1) leaf, which holds no firmware: the answer cannot be proved until the ledger commits a v2 leaf (docs/format.md 15.3)` };
  const total = found.now.length + found.formerly.length;
  if (total > FIRMWARE_ANSWER_MAX_SERIALS) return { reason: `the firmware is carried by ${total} units, more than the ${FIRMWARE_ANSWER_MAX_SERIALS} a v5 export's answer holds (docs/format.md 7.6.3)` };
  return { now: found.now, formerly: found.formerly, sha256, firmware: found.evidence };
}

/** The selection without its firmware member: in v5 the answer decides that member (§7.6.3). */
function othersOf(selection: ExportSelection): ExportSelection {
  const { firmwareSha256: _decidedByTheAnswer, ...others } = selection;
  return others;
}

/** The answer's serials in code-unit order, narrowed by the other selection members' projection indexes. */
async function answerCandidates(deps: ExportDeps, selection: ExportSelection, answer: FirmwareAnswer): Promise<string[]> {
  const all = [...answer.now, ...answer.formerly].sort();
  const others = othersOf(selection);
  if (Object.keys(others).length === 0) return all;
  const narrowed = new Set(await selectUnits(deps, others));
  return all.filter((s) => narrowed.has(s));
}

/** The answer in parts of at most FIRMWARE_PART_SERIALS serials, `now` first, then `formerly` (§7.6.3). */
export function* firmwareParts(answer: Pick<FirmwareAnswer, 'now' | 'formerly' | 'sha256'> & { firmware: { value: string | null; proof: string } }): Generator<Extract<ExportRecord, { record: 'firmware' }>> {
  const firmware = { value: answer.firmware.value, proof: answer.firmware.proof };
  const total = answer.now.length + answer.formerly.length;
  for (let from = 0; from === 0 || from < total; from += FIRMWARE_PART_SERIALS) {
    const to = from + FIRMWARE_PART_SERIALS;
    const now = answer.now.slice(Math.min(from, answer.now.length), Math.min(to, answer.now.length));
    const formerly = answer.formerly.slice(Math.max(0, from - answer.now.length), Math.max(0, to - answer.now.length));
    yield { record: 'firmware', sha256: answer.sha256, firmware, now, formerly };
  }
}

/**
 * The unit history map's evidence as of the export's checkpoint, or null for a v3 export: the ledger keeps no
 * map, or its map is out of service (it found the log contradicting it), which proves nothing and is logged.
 */
async function historyOf(deps: ExportDeps, size: number): Promise<Awaited<ReturnType<UnitMapIndex['exportEvidence']>>> {
  if (!deps.unitMap) return null;
  let evidence: Awaited<ReturnType<UnitMapIndex['exportEvidence']>>;
  try {
    evidence = await deps.unitMap.exportEvidence(size);
  } catch (error) {
    if (!(error instanceof UnitMapError)) throw error;
    deps.logger?.error({ size }, `export written as ${EXPORT_FORMAT_V3}, without history: ${error.message}`);
    return null;
  }
  if (!evidence) throw new LedgerError('UNAVAILABLE', `the unit history map has not committed checkpoint ${size} yet; retry shortly`);
  return evidence;
}

/**
 * Lines joined into chunks of about `chunkChars` (whole lines only): a write or an HTTP chunk per chunk,
 * not per line (a unit line is about 10 KB; a million-event export has 170,000 of them).
 */
async function* wholeLines(lines: AsyncGenerator<string>, chunkChars = 1 << 16): AsyncGenerator<string> {
  let pending: string[] = [];
  let chars = 0;
  try {
    for await (const line of lines) {
      pending.push(line);
      chars += line.length;
      if (chars < chunkChars) continue;
      const chunk = pending.join('');
      pending = [];
      chars = 0;
      yield chunk;
    }
    if (pending.length > 0) yield pending.join('');
  } finally {
    await lines.return(undefined);
  }
}

/** The whole export as one stream of lines (prepare, then write). */
export async function* writeExport(deps: ExportDeps, selection: ExportSelection, serials: readonly string[]): AsyncGenerator<string> {
  yield* (await prepareExport(deps, selection, serials)).lines();
}
