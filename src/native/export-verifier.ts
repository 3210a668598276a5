/**
 * `flashtrail verify EXPORT`: streams the export file, hashing every byte, and verifies unit records on all
 * cores (worker threads). Memory stays bounded: at most a few batches of units are in flight at once.
 * Native Ed25519 by default; `portable` uses @noble/ed25519 (the same verdicts, slower).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { nativeCrypto } from './crypto.ts';
import { portableCrypto } from '../crypto/backend.ts';
import { toBase64, toHex } from '../crypto/encoding.ts';
import { VerificationError } from '../verify/errors.ts';
import type { NoteKey } from '../tlog/note.ts';
import { checkCheckpoint, type StepReport } from '../verify/provenance.ts';
import { decodeEntry, establishKeys, checkInclusion, type Decoded, type KeyLives } from '../verify/steps.ts';
import { verifyStatement, type UnitResult } from '../verify/export.ts';
import { EXPORT_FORMAT, type ExportRecord, type LoggedEnvelope } from '../verify/export-format.ts';
import type { Checkpoint } from '../tlog/checkpoint.ts';
import type { WorkReply, WorkRequest } from './export-worker.ts';
import { fromBase64 } from '../crypto/encoding.ts';

export interface ExportReport {
  readonly origin: string;
  readonly checkpoint: { size: number; root: string };
  readonly units: number;
  readonly events: number;
  readonly stations: string[];
  readonly firmware: { sha256: string; name: string; units: number }[];
  readonly createdAt: string;
  readonly workers: number;
  readonly ed25519: 'native' | 'portable';
  readonly steps: StepReport[];
}

/**
 * Lines of a file as bytes (newline included), pulled chunk by chunk: the file is read only as fast as lines
 * are consumed, and unit records travel to the workers undecoded, so this thread hashes bytes and nothing more.
 */
async function* readLines(file: string): AsyncGenerator<Buffer> {
  let rest: Buffer = Buffer.alloc(0);
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    const data = rest.length > 0 ? Buffer.concat([rest, chunk as Buffer]) : (chunk as Buffer);
    let start = 0;
    let nl: number;
    while ((nl = data.indexOf(10, start)) >= 0) {
      yield data.subarray(start, nl + 1);
      start = nl + 1;
    }
    rest = Buffer.from(data.subarray(start));
  }
  if (rest.length > 0) yield rest;
}

const UNIT_PREFIX = Buffer.from('{"record":"unit"');
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export interface VerifyExportOptions {
  readonly workers?: number;
  readonly portable?: boolean;
  readonly onProgress?: (units: number, events: number) => void;
}

const BATCH = 256;

/**
 * Compiled (dist/, the shipped runtime), the worker is plain JavaScript next to this file. Run from TypeScript
 * source (vitest, bin/dev.js), a worker thread starts without its parent's TypeScript loader, so a boot file
 * registers tsx (a dev dependency) first.
 */
const WORKER_URL = import.meta.url.endsWith('.ts') ? new URL('./export-worker-boot.mjs', import.meta.url) : new URL('./export-worker.js', import.meta.url);

export async function verifyExportFile(file: string, ledgerKey: NoteKey, options: VerifyExportOptions = {}): Promise<ExportReport> {
  const portable = options.portable ?? false;
  const crypto = portable ? portableCrypto : nativeCrypto;
  const workerCount = Math.max(1, options.workers ?? availableParallelism());
  const steps: StepReport[] = [];
  const hash = createHash('sha256');
  const workers = Array.from(
    { length: workerCount },
    () => new Worker(WORKER_URL),
  );
  const pendingReplies = new Map<number, (reply: WorkReply) => void>();
  for (const w of workers) w.on('message', (reply: WorkReply) => pendingReplies.get(reply.id)?.(reply));
  let nextId = 0;
  let failure: VerificationError | null = null;
  const inFlight = new Set<Promise<void>>();
  const firmware = new Map<string, { name: string; units: number }>();
  const stations = new Set<string>();
  let units = 0;
  let events = 0;

  const dispatch = (batch: { line: number; bytes: Uint8Array }[], lives: [string, unknown][], checkpoint: Checkpoint) => {
    const id = nextId++;
    const worker = workers[id % workers.length] as Worker;
    const done = new Promise<void>((resolve) => {
      pendingReplies.set(id, (reply) => {
        pendingReplies.delete(id);
        if (reply.ok) record(reply.results);
        else failure ??= new VerificationError(reply.error.code, reply.error.step, reply.error.message, reply.error.location);
        resolve();
      });
    });
    worker.postMessage({ id, lives, checkpoint: { size: checkpoint.size, root: toBase64(checkpoint.root), origin: checkpoint.origin }, portable, units: batch } as WorkRequest);
    inFlight.add(done);
    void done.then(() => inFlight.delete(done));
  };
  const record = (results: UnitResult[]) => {
    for (const r of results) {
      units++;
      events += r.events;
      r.stations.forEach((s) => stations.add(s));
      for (const sha of r.bootloader) firmware.set(sha, { name: firmware.get(sha)?.name ?? 'bootloader', units: (firmware.get(sha)?.units ?? 0) + 1 });
      for (const sha of r.application) firmware.set(sha, { name: firmware.get(sha)?.name ?? 'application', units: (firmware.get(sha)?.units ?? 0) + 1 });
    }
    options.onProgress?.(units, events);
  };

  try {
    const lines = readLines(file);
    let lineNo = 0;
    let records = 0;
    let header: Extract<ExportRecord, { record: 'header' }> | null = null;
    let note: string | null = null;
    let checkpoint: Checkpoint | null = null;
    const trust: Decoded[] = [];
    const stationEntries: Decoded[] = [];
    const logged: { d: Decoded; proof: string[] }[] = [];
    // Once the trust and station records are read (before the first unit, or at the end of an export
    // without units): establish the keys and check those records' inclusion.
    const keysOf = (cp: Checkpoint): KeyLives => {
      const established = establishKeys(trust, stationEntries, ledgerKey, crypto);
      for (const { d, proof } of logged) checkInclusion(d, proof.map(fromBase64), cp, crypto);
      steps.push({ step: 'keys', detail: `${trust.length} trust and ${stationEntries.length} station records signed and included; ${established.size} station key(s)` });
      return established;
    };
    let lives: KeyLives | null = null;
    let livesWire: [string, unknown][] = [];
    let batch: { line: number; bytes: Uint8Array }[] = [];
    let statementEnvelope: Extract<ExportRecord, { record: 'statement' }>['envelope'] | null = null;
    let contentDigest = '';

    for await (const bytes of lines) {
      lineNo++;
      if (failure) break;
      if (statementEnvelope) throw new VerificationError('FORMAT_ERROR', 'format', `line ${lineNo}: nothing may follow the statement`, { line: lineNo });
      // Unit records, nearly all of the file, are parsed by the workers; this thread only hashes them.
      if (lives && checkpoint && bytes.subarray(0, UNIT_PREFIX.length).equals(UNIT_PREFIX)) {
        hash.update(bytes);
        records++;
        // A copy, so that the chunk it came from can be freed while the batch waits for a worker.
        batch.push({ line: lineNo, bytes: new Uint8Array(bytes) });
        if (batch.length >= BATCH) {
          dispatch(batch, livesWire, checkpoint);
          batch = [];
          while (inFlight.size >= workerCount * 2) await Promise.race(inFlight);
        }
        continue;
      }
      let text: string;
      let rec: ExportRecord;
      try {
        text = strictUtf8.decode(bytes);
        rec = JSON.parse(text) as ExportRecord;
      } catch {
        throw new VerificationError('FORMAT_ERROR', 'format', `line ${lineNo} is not JSON`, { line: lineNo });
      }
      if (rec.record === 'statement') {
        contentDigest = hash.digest('hex');
        statementEnvelope = rec.envelope;
        continue;
      }
      hash.update(bytes);
      records++;
      if (lineNo === 1) {
        if (rec.record !== 'header' || rec.format !== EXPORT_FORMAT) throw new VerificationError('FORMAT_ERROR', 'format', `not a ${EXPORT_FORMAT} file`, { line: 1 });
        header = rec;
        steps.push({ step: 'format', detail: `${EXPORT_FORMAT} from ${rec.origin}, created ${rec.createdAt}` });
        continue;
      }
      if (lineNo === 2) {
        if (rec.record !== 'checkpoint') throw new VerificationError('FORMAT_ERROR', 'format', 'line 2 must be the checkpoint', { line: 2 });
        note = rec.note;
        checkpoint = checkCheckpoint(rec.note, ledgerKey, crypto);
        steps.push({ step: 'checkpoint', detail: `signed by ${ledgerKey.name} (${ledgerKey.id}): tree size ${checkpoint.size}, root ${toHex(checkpoint.root).slice(0, 16)}…` });
        continue;
      }
      if (!checkpoint) throw new VerificationError('FORMAT_ERROR', 'format', 'missing checkpoint');
      if (rec.record === 'trust' || rec.record === 'station') {
        if (lives) throw new VerificationError('FORMAT_ERROR', 'format', `line ${lineNo}: ${rec.record} records must precede the units`, { line: lineNo });
        const d = decodeEntry(rec.record, (rec as LoggedEnvelope).leafIndex, (rec as LoggedEnvelope).envelope, lineNo);
        (rec.record === 'trust' ? trust : stationEntries).push(d);
        logged.push({ d, proof: [...(rec as LoggedEnvelope).proof] });
        continue;
      }
      if (rec.record !== 'unit') throw new VerificationError('FORMAT_ERROR', 'format', `line ${lineNo}: unknown record ${(rec as { record: string }).record}`, { line: lineNo });
      if (!lives) {
        lives = keysOf(checkpoint);
        livesWire = [...lives.entries()];
      }
      batch.push({ line: lineNo, bytes: new Uint8Array(bytes) });
      if (batch.length >= BATCH) {
        dispatch(batch, livesWire, checkpoint);
        batch = [];
        while (inFlight.size >= workerCount * 2) await Promise.race(inFlight);
      }
    }
    if (failure) throw failure;
    if (!lives && checkpoint) lives = keysOf(checkpoint);
    if (batch.length > 0 && checkpoint) dispatch(batch, livesWire, checkpoint);
    await Promise.all(inFlight);
    if (failure) throw failure;
    if (!header || !checkpoint || !note) throw new VerificationError('FORMAT_ERROR', 'format', 'the export is empty or truncated');
    steps.push({ step: 'units', detail: `${units} units, ${events} events: signatures valid (RFC 8032 strict, ${portable ? 'portable' : 'native'} Ed25519 on ${workerCount} thread(s)), keys live, chains unbroken, every event included` });

    if (!statementEnvelope) throw new VerificationError('FORMAT_ERROR', 'statement', 'the export has no closing statement: it is truncated');
    const statement = verifyStatement(statementEnvelope, ledgerKey, crypto);
    const p = statement.predicate;
    if (p.content.sha256 !== contentDigest) {
      throw new VerificationError('CONTENT_DIGEST_ERROR', 'statement', `the file's records hash to ${contentDigest.slice(0, 16)}…, the signed statement says ${p.content.sha256.slice(0, 16)}…: records were changed, added or removed`);
    }
    if (p.content.records !== records || p.content.units !== units || p.content.events !== events) {
      throw new VerificationError('CONTENT_DIGEST_ERROR', 'statement', `counts differ from the statement (records ${records}/${p.content.records}, units ${units}/${p.content.units}, events ${events}/${p.content.events})`);
    }
    if (p.checkpoint.size !== checkpoint.size || p.checkpoint.rootHash !== toHex(checkpoint.root)) {
      throw new VerificationError('CONTENT_DIGEST_ERROR', 'statement', 'the statement names another checkpoint than the file');
    }
    const subjects = new Set(statement.subject.map((s) => s.digest.sha256));
    for (const sha of firmware.keys()) {
      if (!subjects.has(sha)) throw new VerificationError('SUBJECT_MISMATCH', 'statement', `firmware ${sha.slice(0, 16)}… carried by exported units is not a subject of the statement`);
    }
    for (const s of statement.subject) {
      const f = firmware.get(s.digest.sha256);
      if (f) f.name = s.name;
    }
    steps.push({ step: 'statement', detail: `in-toto Statement signed by the ledger key commits to the content (sha256 ${contentDigest.slice(0, 16)}…, ${records} records) and ${statement.subject.length} firmware subject(s)` });
    return {
      origin: header.origin,
      checkpoint: { size: checkpoint.size, root: toHex(checkpoint.root) },
      units,
      events,
      stations: [...stations].sort(),
      firmware: [...firmware.entries()].map(([sha256, f]) => ({ sha256, ...f })),
      createdAt: header.createdAt,
      workers: workerCount,
      ed25519: portable ? 'portable' : 'native',
      steps,
    };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
