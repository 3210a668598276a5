/// <reference lib="dom" />
/**
 * What the offline page does with a dropped file, apart from the DOM: tells an export from a provenance
 * document by its first line (as `flashtrail verify` does), verifies it with the pipelines of src/verify on
 * the portable backend (exports on a pool of Web Workers), and reports the CLI's own lines: `stepLines` for
 * every step that passed, `failureLine` for the one that failed, with the same code, step and location.
 */
import {
  MAX_EXPORT_LINE_BYTES,
  parseMlDsaVerifierKey,
  parseVerifierKey,
  portableCrypto,
  stepLines,
  failureLine,
  exportStepPlan,
  firmwareAnswerLine,
  provenanceStepPlan,
  renewalStepPlan,
  exportRenewalStepPlan,
  requiredSignatures,
  verifyExportLines,
  verifyProvenance,
  verifyRenewal,
  verifyExportRenewal,
  isRenewalBundle,
  VerificationError,
  type ExportReport,
  type MlDsaNoteKey,
  type NoteKey,
  type ProvenanceReport,
  type RenewalReport,
  type ExportRenewalReport,
  type SignatureAlgorithm,
  type SignaturePolicy,
  type StepReport,
  type UnitRecordVerifier,
  type UnitResult,
} from '../../verify/index.ts';
import { MAX_PROVENANCE_BYTES } from '../../../schemas/provenance.ts';
import { linesOfStream } from './lines.ts';
import type { WorkReply, WorkRequest } from './protocol.ts';

export interface Progress {
  readonly bytes: number;
  readonly total: number;
  readonly units: number;
  readonly events: number;
}

export type Kind = 'export' | 'provenance' | 'renewal' | 'export-renewal';

/** What a verdict says of the ledger's checkpoint signatures: the policy applied, and the algorithms that verified. */
export interface SignatureVerdict {
  readonly policy: 'hybrid' | 'classical';
  readonly verified: readonly SignatureAlgorithm[];
}

export type Outcome =
  | { readonly ok: true; readonly kind: 'export'; readonly report: ExportReport; readonly signatures: SignatureVerdict; readonly lines: string[] }
  | { readonly ok: true; readonly kind: 'provenance'; readonly report: ProvenanceReport; readonly signatures: SignatureVerdict; readonly lines: string[] }
  | { readonly ok: true; readonly kind: 'renewal'; readonly report: RenewalReport; readonly signatures: SignatureVerdict; readonly lines: string[] }
  | { readonly ok: true; readonly kind: 'export-renewal'; readonly report: ExportRenewalReport; readonly signatures: SignatureVerdict; readonly lines: string[] }
  | { readonly ok: false; readonly kind: Kind | 'input'; readonly error: VerificationError; readonly lines: string[] };

/** The keys and the policy the user gave, as text: what `--ledger-key`, `--ledger-pq-key` and `--signatures` are to the CLI. */
export interface Pinned {
  readonly ledgerKey: string;
  /** The ledger's ML-DSA-44 verifier key; empty when none is pinned. */
  readonly pqKey: string;
  /** 'hybrid', 'classical', or empty for the CLI's default (hybrid when an ML-DSA-44 key is pinned). */
  readonly signatures: string;
  /** The index log's verifier key (`--map-key`); empty or absent when none is pinned. */
  readonly mapKey?: string;
}

export interface RunOptions {
  /** Starts one Web Worker; the page makes it from a Blob URL of the bundled worker. */
  readonly startWorker: () => Worker;
  readonly workers: number;
  readonly onProgress?: (p: Progress) => void;
  readonly onLine?: (line: string) => void;
  /** The steps the verification will take, once the kind of file is known (plan.ts). */
  readonly onPlan?: (kind: Kind, steps: readonly string[]) => void;
  /** Each step as it passes. */
  readonly onStep?: (step: StepReport) => void;
}

/** The pinned key, as the CLI reads --ledger-key: a bad one is LEDGER_KEY_ERROR at step `input`. */
export function readLedgerKey(text: string): NoteKey {
  try {
    return parseVerifierKey(text.trim());
  } catch (error) {
    throw new VerificationError('LEDGER_KEY_ERROR', 'input', `the ledger key is not a ledger verifier key: ${(error as Error).message}`);
  }
}

/** The index log key, as the CLI reads --map-key: none when empty; a bad one is LEDGER_KEY_ERROR at step `input`. */
export function readMapKey(text: string | undefined): NoteKey | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  try {
    return parseVerifierKey(text.trim());
  } catch (error) {
    throw new VerificationError('LEDGER_KEY_ERROR', 'input', `the index log key is not an index log verifier key: ${(error as Error).message}`);
  }
}

/** The signature policy, as the CLI reads --ledger-pq-key and --signatures: a bad one is LEDGER_KEY_ERROR at step `input`. */
export function readSignaturePolicy(pqKeyText: string, require: string): SignaturePolicy {
  if (require !== '' && require !== 'hybrid' && require !== 'classical') throw new VerificationError('LEDGER_KEY_ERROR', 'input', `the signature policy must be hybrid or classical, not ${require}`);
  let mlDsaKey: MlDsaNoteKey | null = null;
  if (pqKeyText.trim() !== '') {
    try {
      mlDsaKey = parseMlDsaVerifierKey(pqKeyText.trim());
    } catch (error) {
      throw new VerificationError('LEDGER_KEY_ERROR', 'input', `the ML-DSA-44 key is not an ML-DSA-44 verifier key: ${(error as Error).message}`);
    }
  }
  return { mlDsaKey, ...(require ? { require } : {}) };
}

/** An export starts with its header record; anything else is read as a provenance document. */
export async function isExport(file: Blob): Promise<boolean> {
  return (await exportHeaderOf(file)) !== null;
}

/** An export's header record (its first line), unchecked, or null: what the step plan forecasts from (its format). */
async function exportHeaderOf(file: Blob): Promise<{ readonly format?: unknown } | null> {
  const head = new Uint8Array(await file.slice(0, 64 * 1024).arrayBuffer());
  const nl = head.indexOf(10);
  if (nl < 0) return null;
  try {
    const first = JSON.parse(new TextDecoder().decode(head.subarray(0, nl))) as { record?: unknown; format?: unknown } | null;
    return first !== null && typeof first === 'object' && first.record === 'header' ? first : null;
  } catch {
    return null;
  }
}

/**
 * Verifies a dropped file. With `renewal`, a renewal bundle of an export (flashtrail.renewal.v3, docs/format.md
 * §14.1) chosen beside it, `file` must be that export: both are verified as `flashtrail verify EXPORT --renewal
 * BUNDLE` does.
 */
export async function verifyFile(file: File, pinned: Pinned, options: RunOptions, renewal?: File): Promise<Outcome> {
  const lines: string[] = [];
  const say = (line: string) => {
    lines.push(line);
    options.onLine?.(line);
  };
  const passed = (steps: readonly StepReport[]) => {
    for (const s of steps) options.onStep?.(s);
    for (const l of stepLines(steps)) say(l);
  };
  let kind: Kind | 'input' = 'input';
  try {
    const key = readLedgerKey(pinned.ledgerKey);
    const policy = readSignaturePolicy(pinned.pqKey, pinned.signatures);
    const mapKey = readMapKey(pinned.mapKey);
    const signatures = (verified: readonly SignatureAlgorithm[]): SignatureVerdict => ({ policy: requiredSignatures(policy), verified });
    const header = await exportHeaderOf(file);
    const exportFile = header !== null;
    if (renewal && !exportFile) throw new VerificationError('FORMAT_ERROR', 'input', `${renewal.name} was chosen as an export's renewal bundle, but ${file.name} is not an export (a provenance document's bundle holds the document: drop the bundle alone)`, { file: file.name });
    if (renewal) {
      kind = 'export-renewal';
      options.onPlan?.(kind, exportRenewalStepPlan({ format: header?.format }));
      const mlDsaKey = policy.mlDsaKey;
      if (!mlDsaKey) throw new VerificationError('LEDGER_KEY_ERROR', 'input', "a renewal bundle is verified with the ledger's ML-DSA-44 key: give it above", { file: renewal.name });
      const bundle = await readJson(renewal, 'the renewal bundle');
      say(`verifying the renewal of export ${file.name} (${renewal.name})`);
      const report = await verifyExportRenewalFile(file, renewal.name, bundle, key, mlDsaKey, options, mapKey);
      for (const l of stepLines(report.evidence.steps.map((s) => ({ ...s, step: `evidence: ${s.step}` })))) say(l);
      for (const l of stepLines(report.steps)) say(l);
      say(`verified: ${report.evidence.units} units, ${report.evidence.events} events, stations ${report.evidence.stations.join(', ')}; checkpoint ${report.evidence.origin} size ${report.evidence.checkpoint.size}; renewed: ${report.renewed.statement}`);
      for (const n of report.evidence.notProven) say(`  not proven: ${n}`);
      return { ok: true, kind, report, signatures: signatures(report.renewed.signatures), lines };
    }
    if (exportFile) {
      kind = 'export';
      // The header's format decides which steps run (a v5 export's firmware and completeness, §7.6.3).
      options.onPlan?.(kind, exportStepPlan({ format: header?.format }));
      say(`verifying export ${file.name}`);
      const started = performance.now();
      const report = await verifyExport(file, key, policy, options, mapKey);
      for (const l of stepLines(report.steps)) say(l);
      const seconds = (performance.now() - started) / 1000;
      say(`verified: ${report.units} units, ${report.events} events, stations ${report.stations.join(', ')}; checkpoint ${report.origin} size ${report.checkpoint.size}; ${(report.events / seconds).toFixed(0)} events/s`);
      for (const f of report.firmware) {
        const approval = report.format === 'flashtrail.export.v1' ? '' : f.approvedBy.length > 0 ? `  approved by release ${f.approvedBy.join(', ')}` : '  NOT approved by any release in the export';
        say(`  firmware ${f.sha256}  ${f.name}  on ${f.units} unit(s)${approval}`);
      }
      if (report.history) say(`  complete: every unit's events are all its events as of checkpoint size ${report.history.size}`);
      const firmwareLine = firmwareAnswerLine(report);
      if (firmwareLine) say(`  ${firmwareLine}`);
      for (const n of report.notProven) say(`  not proven: ${n}`);
      return { ok: true, kind, report, signatures: signatures(report.signatures), lines };
    }
    const doc = await readJson(file);
    const located = <T>(f: () => T): T => {
      try {
        return f();
      } catch (error) {
        if (error instanceof VerificationError) throw new VerificationError(error.code, error.step, error.message, { file: file.name, ...error.location });
        throw error;
      }
    };
    if (isRenewalBundle(doc)) {
      // A renewal bundle (flashtrail renew), as `flashtrail verify` reads one: it needs the ML-DSA-44 key.
      kind = 'renewal';
      options.onPlan?.(kind, renewalStepPlan());
      const mlDsaKey = policy.mlDsaKey;
      if (!mlDsaKey) throw new VerificationError('LEDGER_KEY_ERROR', 'input', "a renewal bundle is verified with the ledger's ML-DSA-44 key: give it above", { file: file.name });
      const report = located(() => verifyRenewal(doc, key, mlDsaKey, portableCrypto));
      say(`verifying the renewal of unit ${report.evidence.serial} (${file.name})`);
      passed(report.steps);
      say(`verified: ${report.evidence.events} events by ${report.evidence.stations.join(', ')}; renewed: ${report.renewed.statement}`);
      return { ok: true, kind, report, signatures: signatures(report.renewed.signatures), lines };
    }
    kind = 'provenance';
    options.onPlan?.(kind, provenanceStepPlan({ format: (doc as { format?: unknown }).format }));
    const report = located(() => verifyProvenance(doc, key, portableCrypto, { ...policy, ...(mapKey ? { mapKey } : {}), ...(options.onStep ? { onStep: options.onStep } : {}) }));
    say(`verifying provenance of unit ${report.serial} (${file.name})`);
    for (const l of stepLines(report.steps)) say(l);
    const release = report.releaseId !== null ? `; batch ${String(report.batchId)} of release ${report.releaseId}${report.matchesRelease === false ? ' (firmware differs from the release)' : ''}` : '';
    say(`verified: ${report.events} events by ${report.stations.join(', ')}; application ${report.firmware.application.join(', ') || '-'}${release}; checkpoint ${report.checkpoint.origin} size ${report.checkpoint.size}`);
    for (const n of report.notProven) say(`  not proven: ${n}`);
    return { ok: true, kind, report, signatures: signatures(report.signatures), lines };
  } catch (error) {
    if (!(error instanceof VerificationError)) throw error;
    say(failureLine(error));
    return { ok: false, kind, error, lines };
  }
}

/** The export's lines through verifyExportRenewal, on the worker pool; failures located in the export or the bundle. */
/**
 * An export file's lines and the options every export verification of the page takes: progress reported in bytes
 * read, units and events verified, and the worker pool.
 */
function exportInput(file: File, options: RunOptions, mapKey?: NoteKey) {
  let bytes = 0;
  let units = 0;
  let events = 0;
  const report = () => options.onProgress?.({ bytes, total: file.size, units, events });
  const lines = linesOfStream(file.stream(), MAX_EXPORT_LINE_BYTES, (n) => {
    bytes = n;
    report();
  });
  const verifyOptions = {
    crypto: portableCrypto,
    ...(mapKey ? { mapKey } : {}),
    ...(options.onStep ? { onStep: options.onStep } : {}),
    units: workerPool(options),
    onProgress: (u: number, e: number) => {
      units = u;
      events = e;
      report();
    },
  };
  return { lines, verifyOptions };
}

async function verifyExportRenewalFile(file: File, bundleName: string, bundle: unknown, key: NoteKey, mlDsaKey: MlDsaNoteKey, options: RunOptions, mapKey?: NoteKey): Promise<ExportRenewalReport> {
  const { lines, verifyOptions } = exportInput(file, options, mapKey);
  try {
    return await verifyExportRenewal(bundle, lines, key, mlDsaKey, verifyOptions);
  } catch (error) {
    if (error instanceof VerificationError) throw error.location.file ? error : new VerificationError(error.code, error.step, error.message, { file: error.step.startsWith('evidence') ? file.name : bundleName, ...error.location }, error.evidence);
    throw new VerificationError('FORMAT_ERROR', 'evidence: format', `cannot read ${file.name}: ${(error as Error).message}`, { file: file.name });
  }
}

async function verifyExport(file: File, key: NoteKey, signatures: SignaturePolicy, options: RunOptions, mapKey?: NoteKey): Promise<ExportReport> {
  const { lines, verifyOptions } = exportInput(file, options, mapKey);
  try {
    return await verifyExportLines(lines, key, { ...verifyOptions, signatures });
  } catch (error) {
    if (error instanceof VerificationError) throw error.location.file ? error : new VerificationError(error.code, error.step, error.message, { file: file.name, ...error.location });
    throw new VerificationError('FORMAT_ERROR', 'format', `cannot read ${file.name}: ${(error as Error).message}`, { file: file.name });
  }
}

/** Web Workers behind the pipeline's UnitRecordVerifier interface, batches dealt round robin. */
function workerPool(options: RunOptions): UnitRecordVerifier {
  const workers = Array.from({ length: Math.max(1, options.workers) }, () => options.startWorker());
  const pending = new Map<number, (reply: WorkReply) => void>();
  for (const w of workers) {
    w.onmessage = (event: MessageEvent<WorkReply>) => pending.get(event.data.id)?.(event.data);
    w.onerror = (event) => {
      for (const [id, settle] of pending) settle({ id, ok: false, error: { code: 'FORMAT_ERROR', step: 'unit', message: `a verifier worker failed: ${event.message}`, location: {} } });
    };
  }
  let nextId = 0;
  return {
    threads: workers.length,
    verify: (batch, context) =>
      new Promise<UnitResult[]>((resolve, reject) => {
        const id = nextId++;
        pending.set(id, (reply) => {
          pending.delete(id);
          if (reply.ok) resolve(reply.results);
          else reject(new VerificationError(reply.error.code, reply.error.step, reply.error.message, reply.error.location));
        });
        (workers[id % workers.length] as Worker).postMessage({ id, context, units: batch } satisfies WorkRequest);
      }),
    close: () => {
      for (const w of workers) w.terminate();
      return Promise.resolve();
    },
  };
}

/** A provenance document read whole, bounded; every way it can be unreadable is a FORMAT_ERROR naming the file. */
async function readJson(file: File, what = 'the provenance document'): Promise<unknown> {
  if (file.size > MAX_PROVENANCE_BYTES) throw new VerificationError('FORMAT_ERROR', 'input', `${file.name} (${what}) is ${file.size} bytes, more than the ${MAX_PROVENANCE_BYTES} it may have`, { file: file.name });
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(await file.arrayBuffer());
  } catch (error) {
    throw new VerificationError('FORMAT_ERROR', 'input', `${file.name} (${what}) is not UTF-8 text: ${(error as Error).message}`, { file: file.name });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new VerificationError('FORMAT_ERROR', 'input', `${file.name} (${what}) is not valid JSON: ${(error as Error).message}`, { file: file.name });
  }
}
