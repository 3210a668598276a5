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
import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import type { Ledger, StoredEvent } from '../write/pipeline.ts';
import type { EventStore } from '../store/event-store.ts';
import type { LedgerLog } from '../read/ledger-log.ts';
import type { Checkpointer } from '../write/checkpointer.ts';
import type { ReadModel } from '../read/read-model.ts';
import type { Signer } from '../crypto/ed25519.ts';
import type { UnitFacts as ProductionFacts } from '../../projections/production.ts';
import type { UnitEvent } from '../../schemas/index.ts';
import { batchStream, LEDGER_KEY_ROTATIONS_STREAM, LEDGER_TRUST_STREAM, releaseStream, stationStream, unitStream } from '../event/streams.ts';
import { canonicalize } from '../crypto/jcs.ts';
import type { MlDsaSigner } from '../crypto/ml-dsa.ts';
import { signStatement } from './statement.ts';
import { toBase64, toHex } from '../crypto/encoding.ts';
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
import { nativeCrypto, toBase64Native } from '../native/crypto.ts';
import { storedPayload } from '../native/stored-envelope.ts';
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
  /** The ledger's event store: unit streams are read from it without decoding the envelopes (else through `ledger`). */
  readonly store?: Pick<EventStore, 'readStream' | 'readStreams'>;
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

/**
 * The batches the production projection puts the selected units in. Where the units are a large share of the
 * ledger's (a batch, a customer), each batch's unit keys are read from the projection's batch index — keys only,
 * a fraction of a microsecond each — rather than every unit's document read and parsed; where they are a few
 * in a large ledger, each unit's document is read. The index is walked up to 16 keys per selected unit (about
 * what reading the documents would cost), and abandoned for the documents beyond that.
 */
async function batchesOf(projections: ReadModel, serials: readonly string[]): Promise<Set<string>> {
  const budget = 16 * serials.length;
  const selected = new Set(serials);
  const found = new Set<string>();
  let read = 0;
  const turn = eventLoopTurns();
  for (const { batchId } of projections.findDocs<{ batchId: string }>('production', 'kind', 'batch')) {
    await turn();
    const keys = read < budget ? projections.findKeys('production', 'batch', batchId, { limit: budget - read + 1 }) : [];
    read += 1 + keys.length;
    if (read > budget) break;
    if (keys.some((k) => selected.has(k.slice('unit:'.length)))) found.add(batchId);
  }
  if (read <= budget) return found;
  found.clear();
  for (const serial of serials) {
    await turn();
    const batchId = projections.get<ProductionFacts>('production', `unit:${serial}`)?.batchId;
    if (batchId) found.add(batchId);
  }
  return found;
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
  /**
   * The file as UTF-8, in chunks of whole lines (about CHUNK_CHARS each: a write or an HTTP chunk per chunk,
   * not per line); throws (after the first lines) if the export cannot be completed.
   */
  lines(): AsyncGenerator<Uint8Array>;
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
  /**
   * A unit's events in stream order, each as its canonical text and its parsed payload: read from the store
   * where the caller gave it (the envelope is not parsed, only its payload), else through the ledger.
   */
  const readUnitEvents = async (serial: string): Promise<UnitEventText[]> => {
    if (deps.store) return (await deps.store.readStream(unitStream(serial))).map((r) => storedUnitEvent(r.data, r.position));
    return (await ledger.readStream(unitStream(serial))).map((e) => ({ bytes: utf8Form(e.bytes), event: e.event as UnitEvent, position: e.recorded.position }));
  };
  /** The unit events of a step's serials: one query for all of them where the store reads streams together. */
  const readStepEvents = async (step: readonly string[]): Promise<UnitEventText[][]> => {
    if (!deps.store?.readStreams) return Promise.all(step.map((serial) => readUnitEvents(serial)));
    const found = await deps.store.readStreams(step.map(unitStream));
    return step.map((serial) => (found.get(unitStream(serial)) ?? []).map((r) => storedUnitEvent(r.data, r.position)));
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
  const batchIds = await batchesOf(projections, serials);
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

  async function* lines(): AsyncGenerator<Uint8Array> {
    const hash = createHash('sha256');
    let records = 0;
    let events = 0;
    let written = 0;
    const out = new ChunkWriter();
    /** The lines so far as one chunk, hashed: one hash update and one write per chunk. */
    const chunk = (): Buffer => {
      const bytes = out.take();
      hash.update(bytes);
      return bytes;
    };
    /** Ends the line written since `start`; a chunk to yield once the lines add up to CHUNK_BYTES, else null. */
    const endLine = (start: number, what: string): Buffer | null => {
      out.text('\n');
      if (out.length - start > MAX_EXPORT_LINE_BYTES) throw new LedgerError('INTERNAL', `${what} would be a line longer than ${MAX_EXPORT_LINE_BYTES} bytes, which no verifier reads`);
      records++;
      return out.length >= CHUNK_BYTES ? chunk() : null;
    };
    /** Adds a record's line (its RFC 8785 form). */
    const emit = (record: ExportRecord, what: string): Buffer | null => {
      const start = out.length;
      out.text(canonicalize(record));
      return endLine(start, what);
    };
    let full: Buffer | null;
    if ((full = emit({ record: 'header', format, origin: deps.origin, createdAt, selection }, 'the header'))) yield full;
    if ((full = emit({ record: 'checkpoint', note }, 'the checkpoint'))) yield full;
    if (history && (full = emit({ record: 'history', ...history.shared }, 'the history record'))) yield full;
    if (firmwareAnswer) for (const part of firmwareParts(firmwareAnswer)) if ((full = emit(part, 'a firmware record'))) yield full;
    for (const a of admin) if ((full = emit({ record: a.kind, ...(await withProof(a.e, a.leafIndex)) }, `the ${a.kind} record at leaf ${a.leafIndex}`))) yield full;

    const firmware = new Map<string, FirmwareClaim>();
    const releasesUsed = new Set<string>();
    const turn = eventLoopTurns();
    for (let from = 0; from < serials.length; from += UNITS_PER_STEP) {
      await turn();
      const step = serials.slice(from, from + UNITS_PER_STEP);
      const read = await readStepEvents(step);
      // One leaf lookup for every event of the step's units.
      const leaves = await log.leavesOfPositions(read.flatMap((events) => events.map((e) => e.position)));
      const kept: { serial: string; facts: ReturnType<typeof unitFactsOf>; releaseId: string | null; covered: (UnitEventText & { leafIndex: number })[] }[] = [];
      for (const [k, serial] of step.entries()) {
        const covered: (UnitEventText & { leafIndex: number })[] = [];
        for (const e of read[k] as UnitEventText[]) {
          const leaf = leaves.get(e.position);
          if (leaf === undefined || leaf.index >= size) break; // a prefix, as the format requires
          covered.push({ ...e, leafIndex: leaf.index });
        }
        if (covered.length === 0) continue;
        // What the record says is what its events say, as of the checkpoint: the same function the verifier runs.
        const facts = unitFactsOf(covered);
        if (selectionRefuses(firmwareAnswer ? othersOf(selection) : selection, serial, facts) !== null) continue;
        const releaseId = facts.batchId === null ? null : (batches.get(facts.batchId) ?? null);
        if (facts.batchId !== null && releaseId === null) throw new LedgerError('INTERNAL', `unit ${serial} is in batch ${facts.batchId}, whose BatchOpened is not in the export`);
        kept.push({ serial, facts, releaseId, covered });
      }
      // The step's proofs together: events appended together share all but the lowest levels of their paths,
      // and consecutive units' events share blocks of the tree.
      const proofs = await inclusionProofs(log, kept.flatMap((u) => u.covered.map((c) => c.leafIndex)), size, nativeCrypto);
      const base64 = new Map<Hash, string>(); // shared path nodes are encoded once
      const proofText = (leafIndex: number) => {
        let text = '[';
        for (const h of proofs.get(leafIndex) as Hash[]) {
          let b = base64.get(h);
          if (b === undefined) base64.set(h, (b = toBase64Native(h)));
          text += (text.length > 1 ? ',"' : '"') + b + '"';
        }
        return text + ']';
      };
      // The record's members around its events, as canonicalize writes them with the events' text spliced in.
      const logged: LoggedEnvelope[] = [];
      const splice = new Map([[logged, EVENTS_MARK]]);
      for (const { serial, facts, releaseId, covered } of kept) {
        await turn();
        if (releaseId !== null) releasesUsed.add(releaseId);
        for (const f of facts.firmware) {
          const key = `${f.kind} ${f.sha256}`;
          const known = firmware.get(key);
          if (!known || f.leafIndex < known.leafIndex) firmware.set(key, f);
        }
        events += covered.length;
        written++;
        // The events' RFC 8785 form, written here rather than by canonicalize: each member is an integer, base64
        // text (no escapes) or the envelope's canonical bytes as the store keeps them (copied, never decoded), and
        // the members are in code-unit order (envelope, leafIndex, proof). The array stays empty: the record's
        // text has a mark where the events go (a raw control character, which no canonical text holds).
        const record = canonicalize({ record: 'unit', serial, chipId: facts.chipId, mac: facts.mac, batchId: facts.batchId, releaseId, events: logged, ...(history ? { history: history.prove(serial) } : {}) }, undefined, splice);
        const mark = record.indexOf(EVENTS_MARK);
        const start = out.length;
        out.text(record.slice(0, mark) + '[{"envelope":');
        covered.forEach((c, i) => {
          out.bytes(c.bytes);
          out.ascii(`,"leafIndex":${c.leafIndex},"proof":${proofText(c.leafIndex)}}${i + 1 < covered.length ? ',{"envelope":' : ']'}`);
        });
        out.text(record.slice(mark + EVENTS_MARK.length));
        if ((full = endLine(start, `unit ${serial}`))) yield full;
      }
    }

    if (out.length > 0) yield chunk(); // the content digest covers every line before the statement
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
    yield Buffer.from(canonicalize({ record: 'statement', envelope }) + '\n', 'utf8');
  }
  return { checkpoint: note, format, formatNote: answer && 'reason' in answer ? answer.reason : null, candidates: serials.length, lines };
}

/** About how many bytes of lines make one chunk of the file (a unit line is about 10 KB). */
const CHUNK_BYTES = 1 << 19;

/** Where a unit record's events go in its canonical text (canonicalize writes a known value's text as it is). */
const EVENTS_MARK = '\u0000';

/**
 * The file's next chunk of lines, written as bytes: the envelopes' stored bytes are copied in as they are, not
 * decoded to text and encoded again. A chunk is a fresh buffer (the caller's stream may still hold the last one).
 */
class ChunkWriter {
  #buffer = Buffer.allocUnsafe(CHUNK_BYTES + (CHUNK_BYTES >> 2));
  length = 0;
  #room(n: number): void {
    if (this.length + n <= this.#buffer.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(2 * this.#buffer.length, this.length + n));
    this.#buffer.copy(bigger, 0, 0, this.length);
    this.#buffer = bigger;
  }
  text(s: string): void {
    this.#room(3 * s.length); // a UTF-16 code unit is at most 3 bytes of UTF-8
    this.length += this.#buffer.write(s, this.length, 'utf8');
  }
  /** Text of ASCII characters only (integers, base64, JSON punctuation). */
  ascii(s: string): void {
    this.#room(s.length);
    this.length += this.#buffer.write(s, this.length, 'latin1');
  }
  bytes(b: Uint8Array): void {
    this.#room(b.length);
    this.#buffer.set(b, this.length);
    this.length += b.length;
  }
  take(): Buffer {
    const chunk = this.#buffer.subarray(0, this.length);
    this.#buffer = Buffer.allocUnsafe(CHUNK_BYTES + (CHUNK_BYTES >> 2));
    this.length = 0;
    return chunk;
  }
}

/** Units read, proved and written together: one leaf lookup and one set of shared proofs for all their events. */
const UNITS_PER_STEP = 128;

/** A stored unit event as the writer needs it: its canonical bytes (copied into the line) and its payload. */
interface UnitEventText {
  readonly bytes: Uint8Array;
  readonly event: UnitEvent;
  readonly position: bigint;
}

/**
 * A stored envelope's bytes and its event. The store keeps the RFC 8785 form the ledger accepted (strict base64,
 * canonical payload, schema: src/event/codec.ts), whose first member is always the payload; so the payload is
 * cut out of the bytes and decoded with Node's decoder, and the envelope object, which the line does not need,
 * is never built. Anything else is parsed whole.
 */
function storedUnitEvent(bytes: Uint8Array, position: bigint): UnitEventText {
  const payload = storedPayload(bytes) ?? Buffer.from((JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')) as { payload: string }).payload, 'base64');
  return { bytes: utf8Form(bytes), event: JSON.parse(payload.toString('utf8')) as UnitEvent, position };
}

/**
 * The bytes as the line holds them: themselves, being UTF-8 (as every envelope the ledger accepted is); else
 * (a cell changed outside the ledger) the UTF-8 of their decoding, as the line held them when it was written as
 * text. A verifier refuses either.
 */
function utf8Form(bytes: Uint8Array): Uint8Array {
  return isUtf8(bytes) ? bytes : Buffer.from(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'), 'utf8');
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

/** The whole export as one stream of chunks of whole lines (prepare, then write). */
export async function* writeExport(deps: ExportDeps, selection: ExportSelection, serials: readonly string[]): AsyncGenerator<Uint8Array> {
  yield* (await prepareExport(deps, selection, serials)).lines();
}
