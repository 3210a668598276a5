/**
 * Real evidence for the tests of the verifiers that run away from the ledger (the standalone package, the
 * offline page): a ledger on loopback, a simulated batch, its signed export written by `exportToFile` (what
 * `flashtrail export` runs), one unit's provenance document, and tampered copies of both.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestLedger, type TestLedger } from './ledger-fixture.ts';
import { runSimulation, type SimulationResult } from '../../src/sim/run-simulation.ts';
import { exportToFile } from '../../src/cli/commands/export.ts';
import { canonicalize } from '../../src/crypto/jcs.ts';
import { fromBase64, toBase64 } from '../../src/crypto/encoding.ts';
import type { DsseEnvelope } from '../../src/crypto/dsse.ts';

export interface Evidence {
  readonly dir: string;
  readonly ledger: TestLedger;
  readonly sim: SimulationResult;
  /** The ledger verifier key, pinned as an auditor would (here taken from the ledger's own identity). */
  readonly verifierKey: string;
  readonly keyFile: string;
  /** The ledger's ML-DSA-44 verifier key (GET /v1/ledger/pq-key), and a file holding it. */
  readonly pqVerifierKey: string;
  readonly pqKeyFile: string;
  /** The index log's verifier key (GET /v1/unit-map/key): with it a v4 export's history is checked. */
  readonly mapVerifierKey: string;
  readonly exportFile: string;
  readonly provenanceFile: string;
  readonly serial: string;
  stop(): Promise<void>;
}

export async function makeEvidence(units: number, seed = 11): Promise<Evidence> {
  const dir = mkdtempSync(join(tmpdir(), 'flashtrail-evidence-'));
  const ledger = await startTestLedger();
  try {
    const sim = await runSimulation({
      units, stations: 2, seed, failureRates: { 'read-back-images': 0.1, 'write-nvs': 0.05 }, maxRetriesPerStep: 1, maxReworks: 1, defectRate: 0.02,
      drift: { station: 'ST-02', fromMinute: 0, minutes: 10 }, cycleSeconds: 60, dataDir: ledger.dataDir, url: ledger.url, json: false, out: () => undefined, progress: () => undefined,
    });
    const exportFile = join(dir, 'batch.ndjson');
    await exportToFile(ledger.url, ledger.tokens.auditor, { batchId: sim.batchId }, exportFile, () => undefined);
    const serial = unitWithEvents(readLines(exportFile), 5).serial;
    // The provenance document needs every event of the unit in the Merkle log; the ledger says 503 until the
    // log writer has reached them, and asks to retry.
    let response: Response;
    for (let attempt = 0; ; attempt++) {
      response = await fetch(`${ledger.url}/v1/units/${encodeURIComponent(serial)}/provenance`, { headers: { authorization: `Bearer ${ledger.tokens.auditor}` } });
      if (response.ok) break;
      if (response.status !== 503 || attempt === 100) throw new Error(`provenance of ${serial}: ${response.status} ${await response.text()}`);
      await response.text();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const provenanceFile = join(dir, `${serial}.json`);
    writeFileSync(provenanceFile, await response.text());
    const verifierKey = ledger.running.identity.verifierKey;
    const keyFile = join(dir, 'ledger.pub');
    writeFileSync(keyFile, verifierKey + '\n');
    const pqVerifierKey = ledger.running.identity.mlDsaVerifierKey;
    if (pqVerifierKey === null) throw new Error('the test ledger has no ML-DSA-44 key');
    const pqKeyFile = join(dir, 'ledger-ml-dsa.pub');
    const mapVerifierKey = ledger.running.unitMap?.verifierKey;
    if (mapVerifierKey === undefined) throw new Error('the test ledger keeps no unit history map');
    writeFileSync(pqKeyFile, pqVerifierKey + '\n');
    return {
      dir, ledger, sim, verifierKey, keyFile, pqVerifierKey, pqKeyFile, mapVerifierKey, exportFile, provenanceFile, serial,
      stop: async () => {
        await ledger.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await ledger.stop();
    throw error;
  }
}

export const readLines = (file: string) => readFileSync(file, 'utf8').trimEnd().split('\n');

interface UnitRecord {
  serial: string;
  events: { leafIndex: number; envelope: DsseEnvelope; proof: string[] }[];
}

function unitWithEvents(lines: string[], atLeast: number): UnitRecord {
  const line = lines.find((l) => {
    const r = JSON.parse(l) as { record?: string; events?: unknown[] };
    return r.record === 'unit' && (r.events?.length ?? 0) >= atLeast;
  });
  if (!line) throw new Error(`no unit with ${atLeast} events in the export`);
  return JSON.parse(line) as UnitRecord;
}

/** Rewrites the first unit record with at least 5 events; its line number (1-based) and serial come back. */
function editUnit(lines: string[], edit: (u: UnitRecord) => void): { lines: string[]; line: number; serial: string } {
  const i = lines.findIndex((l) => {
    const r = JSON.parse(l) as { record?: string; events?: unknown[] };
    return r.record === 'unit' && (r.events?.length ?? 0) >= 5;
  });
  const u = JSON.parse(lines[i] as string) as UnitRecord;
  edit(u);
  return { lines: lines.map((l, j) => (j === i ? canonicalize(u) : l)), line: i + 1, serial: u.serial };
}

/** One digit of a signed payload changed (the milliseconds of occurredAt: still valid JSON), signature kept. */
function flipPayloadByte(envelope: DsseEnvelope): void {
  const bytes = fromBase64(envelope.payload);
  const at = new TextDecoder().decode(bytes).indexOf('"occurredAt":"') + '"occurredAt":"'.length + 22;
  bytes[at] = (bytes[at] as number) ^ 0x01;
  envelope.payload = toBase64(bytes);
}

export interface TamperCase {
  readonly name: string;
  readonly file: string;
  /** The serial of the edited unit record, when one was edited. */
  readonly serial?: string;
}

/** Tampered copies of the export, each written to its own file: the CLI's verdict is the expected one. */
export function tamperedExports(evidence: Evidence): TamperCase[] {
  const cases: { name: string; edit: (lines: string[]) => { lines: string[]; serial?: string } }[] = [
    { name: 'changed-event-byte', edit: (lines) => editUnit(lines, (u) => flipPayloadByte((u.events[2] as UnitRecord['events'][number]).envelope)) },
    { name: 'deleted-event', edit: (lines) => editUnit(lines, (u) => void u.events.splice(2, 1)) },
    { name: 'removed-unit', edit: (lines) => ({ lines: lines.filter((_l, i) => i !== lines.findIndex((l) => (JSON.parse(l) as { record: string }).record === 'unit')) }) },
    { name: 'truncated', edit: (lines) => ({ lines: lines.slice(0, -1) }) },
  ];
  return cases.map(({ name, edit }) => {
    const result = edit(readLines(evidence.exportFile));
    const file = join(evidence.dir, `tampered-${name}.ndjson`);
    writeFileSync(file, result.lines.join('\n') + '\n');
    return { name, file, ...(result.serial ? { serial: result.serial } : {}) };
  });
}

/** The export with the last event of one unit record left out (issue 15's tamper case, docs/format.md §7.6.2). */
export function lastEventDropped(evidence: Evidence): TamperCase {
  const { lines, serial } = editUnit(readLines(evidence.exportFile), (u) => void u.events.pop());
  const file = join(evidence.dir, 'tampered-last-event-dropped.ndjson');
  writeFileSync(file, lines.join('\n') + '\n');
  return { name: 'last-event-dropped', file, ...(serial ? { serial } : {}) };
}

/** The provenance document with one event's payload byte changed (its signature kept). */
export function tamperedProvenance(evidence: Evidence): string {
  const doc = JSON.parse(readFileSync(evidence.provenanceFile, 'utf8')) as { entries: { envelope: DsseEnvelope }[] };
  flipPayloadByte((doc.entries[1] as { envelope: DsseEnvelope }).envelope);
  const file = join(evidence.dir, 'tampered-provenance.json');
  writeFileSync(file, JSON.stringify(doc));
  return file;
}

/** The checkpoint note without its ML-DSA-44 line, or with one character of that line's signature changed. */
const NOTE_EDITS = {
  'pq-line-removed': (note: string) => note.replace(/\n— \S+ [A-Za-z0-9+/=]{3000,}\n$/, '\n'),
  'pq-line-corrupted': (note: string) => note.replace(/(\n— \S+ [A-Za-z0-9+/=]{100})([A-Za-z0-9+/])/, (_m, head: string, c: string) => head + (c === 'A' ? 'B' : 'A')),
} as const;

export interface PqCase {
  readonly name: keyof typeof NOTE_EDITS;
  readonly exportFile: string;
  readonly provenanceFile: string;
}

/**
 * The export and the provenance document with the checkpoint's ML-DSA-44 line removed, or corrupted (the
 * Ed25519 line intact): what the hybrid policy must refuse with CHECKPOINT_PQ_SIGNATURE_ERROR.
 */
export function brokenPqCheckpoints(evidence: Evidence): PqCase[] {
  return (Object.keys(NOTE_EDITS) as (keyof typeof NOTE_EDITS)[]).map((name) => {
    const edit = NOTE_EDITS[name];
    const lines = readLines(evidence.exportFile);
    const record = JSON.parse(lines[1] as string) as { note: string };
    const edited = edit(record.note);
    if (edited === record.note) throw new Error(`${name}: the export's checkpoint has no ML-DSA-44 line to edit`);
    lines[1] = canonicalize({ ...record, note: edited });
    const exportFile = join(evidence.dir, `${name}.ndjson`);
    writeFileSync(exportFile, lines.join('\n') + '\n');
    const doc = JSON.parse(readFileSync(evidence.provenanceFile, 'utf8')) as { checkpoint: string; entries: { proof: string }[] };
    const note = doc.checkpoint;
    const provenanceFile = join(evidence.dir, `${name}.json`);
    writeFileSync(provenanceFile, JSON.stringify({ ...doc, checkpoint: edit(note), entries: doc.entries.map((e) => ({ ...e, proof: e.proof.replace(note, edit(note)) })) }));
    return { name, exportFile, provenanceFile };
  });
}
