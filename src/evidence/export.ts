/**
 * Writes a signed traceability export (src/verify/export-format.ts) as a stream: records are produced one
 * unit at a time, hashed as they go, and the ledger-signed in-toto statement closes the file.
 */
import { createHash } from 'node:crypto';
import type { Ledger, StoredEvent } from '../write/pipeline.ts';
import type { LedgerLog } from '../read/ledger-log.ts';
import type { Checkpointer } from '../write/checkpointer.ts';
import type { ProjectionRunner } from '../read/projection-runner.ts';
import type { Signer } from '../crypto/ed25519.ts';
import type { UnitFacts } from '../../projections/production.ts';
import type { UnitView } from '../../projections/unit-state.ts';
import { LEDGER_TRUST_STREAM, releaseStream, stationStream, unitStream } from '../event/streams.ts';
import { signEnvelope } from '../crypto/dsse.ts';
import { canonicalBytes } from '../crypto/jcs.ts';
import { toBase64 } from '../crypto/encoding.ts';
import { checkpointSize } from './provenance.ts';
import { parseCheckpointBody } from '../tlog/checkpoint.ts';
import { parseNote } from '../tlog/note.ts';
import {
  EXPORT_FORMAT,
  EXPORT_PREDICATE_TYPE,
  IN_TOTO_PAYLOAD_TYPE,
  IN_TOTO_STATEMENT_TYPE,
  type ExportRecord,
  type ExportSelection,
  type InTotoStatement,
  type LoggedEnvelope,
} from '../verify/export-format.ts';
import { LedgerError } from '../write/errors.ts';
import { isUnitEvent } from '../../schemas/index.ts';
import { firmwareOf } from '../event/firmware.ts';

export interface ExportDeps {
  readonly ledger: Ledger;
  readonly log: LedgerLog;
  readonly checkpointer: Checkpointer;
  readonly projections: ProjectionRunner;
  readonly ledgerKey: Signer;
  readonly origin: string;
  readonly clock: () => Date;
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
        .rangeDocs<UnitFacts | { kind: string }>('production', 'day', selection.from ?? '0000', selection.to ?? '9999')
        .filter((d): d is UnitFacts => d.kind === 'unit')
        .map((u) => u.serial),
    );
  }
  if (sets.length === 0) throw new LedgerError('BODY_INVALID', 'select units by batchId, serials, firmwareSha256, customer or from/to');
  const [first, ...rest] = sets as [string[], ...string[][]];
  const others = rest.map((s) => new Set(s));
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

export async function* writeExport(deps: ExportDeps, selection: ExportSelection, serials: readonly string[]): AsyncGenerator<string> {
  const { ledger, log, checkpointer, projections } = deps;
  const turn = eventLoopTurns();
  const hash = createHash('sha256');
  let records = 0;
  let events = 0;
  let written = 0;
  const emit = (record: ExportRecord): string => {
    const line = JSON.stringify(record) + '\n';
    hash.update(line);
    records++;
    return line;
  };

  await log.catchUp();
  const note = await checkpointer.issue();
  const size = checkpointSize(note);
  /** Each event's leaf under the export checkpoint, or null for an event appended after it. */
  const coveredLeaves = async (stored: readonly StoredEvent[]): Promise<(number | null)[]> => {
    const leaves = await log.leavesOfPositions(stored.map((e) => e.recorded.position));
    return stored.map((e) => {
      const leaf = leaves.get(e.recorded.position);
      return leaf !== undefined && leaf.index < size ? leaf.index : null;
    });
  };
  const withProof = async (e: StoredEvent, leafIndex: number): Promise<LoggedEnvelope> => ({ leafIndex, envelope: e.envelope, proof: (await log.inclusionProof(leafIndex, size)).map(toBase64) });
  const logged = async (stored: readonly StoredEvent[]): Promise<LoggedEnvelope[]> => {
    const leaves = await coveredLeaves(stored);
    return Promise.all(
      stored.map((e, i) => {
        const leafIndex = leaves[i] ?? null;
        if (leafIndex === null) throw new LedgerError('INTERNAL', `event ${e.event.id} is not covered by checkpoint ${size}`);
        return withProof(e, leafIndex);
      }),
    );
  };
  const createdAt = deps.clock().toISOString();
  yield emit({ record: 'header', format: EXPORT_FORMAT, origin: deps.origin, createdAt, selection });
  yield emit({ record: 'checkpoint', note });
  for (const e of await logged(await ledger.readStream(LEDGER_TRUST_STREAM))) yield emit({ record: 'trust', ...e });

  // Every registered station's records (they are few), so that each unit stream is read only once below.
  const stations = new Set(projections.findDocs<{ stationId: string }>('production', 'kind', 'station').map((s) => s.stationId));
  const releases = new Set<string>();
  const units: { serial: string; view: UnitView | null; facts: UnitFacts | null }[] = [];
  for (const serial of serials) {
    await turn();
    const facts = projections.get<UnitFacts>('production', `unit:${serial}`);
    units.push({ serial, view: projections.get<UnitView>('unit-state', serial), facts });
    if (facts?.releaseId) releases.add(facts.releaseId);
  }
  for (const s of [...stations].sort()) for (const e of await logged(await ledger.readStream(stationStream(s)))) yield emit({ record: 'station', ...e });

  const firmware = new Map<string, string>();
  for (const u of units) {
    await turn();
    // Each leaf is looked up once: events appended after the checkpoint are left out.
    const history = await ledger.readStream(unitStream(u.serial));
    const leaves = await coveredLeaves(history);
    const covered = history.map((e, i) => ({ e, leafIndex: leaves[i] ?? null })).filter((c): c is { e: StoredEvent; leafIndex: number } => c.leafIndex !== null);
    if (covered.length === 0) continue;
    for (const { e } of covered) {
      if (!isUnitEvent(e.event)) continue;
      // The fixed sequence names its versions; a recipe's images are named by the unit's release.
      for (const f of firmwareOf(e.event)) firmware.set(f.sha256, f.version !== undefined ? `${f.name} ${f.version}` : `${f.name} of release ${u.facts?.releaseId ?? '?'}`);
    }
    events += covered.length;
    written++;
    yield emit({
      record: 'unit',
      serial: u.serial,
      chipId: u.view?.chipId ?? null,
      mac: u.view?.mac ?? null,
      batchId: u.facts?.batchId ?? null,
      releaseId: u.facts?.releaseId ?? null,
      events: await Promise.all(covered.map(({ e, leafIndex }) => withProof(e, leafIndex))),
    });
  }

  const sboms: InTotoStatement['predicate']['sboms'][number][] = [];
  for (const releaseId of [...releases].sort()) {
    const approved = (await ledger.readStream(releaseStream(releaseId)))[0];
    if (approved?.event.type === 'ReleaseApproved' && approved.event.data.sbomSha256) {
      sboms.push({ releaseId, sha256: approved.event.data.sbomSha256, mediaType: 'application/vnd.cyclonedx+json' });
    }
  }
  const checkpoint = parseCheckpointBody(parseNote(note).text);
  const statement: InTotoStatement = {
    _type: IN_TOTO_STATEMENT_TYPE,
    subject: [...firmware.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([sha256, name]) => ({ name, digest: { sha256 } })),
    predicateType: EXPORT_PREDICATE_TYPE,
    predicate: {
      format: EXPORT_FORMAT,
      origin: deps.origin,
      createdAt,
      selection,
      checkpoint: { size: checkpoint.size, rootHash: Buffer.from(checkpoint.root).toString('hex') },
      content: { sha256: hash.digest('hex'), records, units: written, events },
      sboms,
    },
  };
  const envelope = signEnvelope(IN_TOTO_PAYLOAD_TYPE, canonicalBytes(statement), deps.ledgerKey);
  yield JSON.stringify({ record: 'statement', envelope }) + '\n';
}
