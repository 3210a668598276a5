/** `flashtrail verify` and `flashtrail verify-consistency`: offline checks against a pinned ledger key. */
import { readFileSync, statSync } from 'node:fs';
import { defineCommand } from '../command.ts';
import { CliError, describeExpectedFailure, UsageError } from '../errors.ts';
import { readTextFile, wholeNumber } from '../input.ts';
import { isRenewalBundle, verifyExportRenewal, verifyRenewal } from '../../verify/renewal.ts';
import { checkCheckpoint, firmwareAnswerLine, verifyProvenance, verifyCheckpointConsistency, VerificationError, parseVerifierKey, parseMlDsaVerifierKey, type MlDsaNoteKey, type SignaturePolicy, type StepReport } from '../../verify/index.ts';
import { nativeCrypto } from '../../native/crypto.ts';
import { fromBase64, toHex } from '../../crypto/encoding.ts';
import { LedgerClient } from '../../client/ledger-client.ts';
import { parseCheckpointBody } from '../../tlog/checkpoint.ts';
import { NoteError, parseNote } from '../../tlog/note.ts';
import { openSync, readSync, closeSync } from 'node:fs';
import { readLines, verifyExportFile, workerPoolVerifier } from '../../native/export-verifier.ts';
import { availableParallelism } from 'node:os';
import { portableCrypto } from '../../crypto/backend.ts';
import { MAX_PROVENANCE_BYTES } from '../../../schemas/provenance.ts';
import { failureLine, stepLines } from '../../verify/report.ts';
import { parseWitnessPolicy, PolicyError, type WitnessPolicy } from '../../tlog/policy.ts';
import type { WitnessReport } from '../../verify/witnesses.ts';

/** A witness policy file (C2SP tlog-policy); one that cannot be read or parsed is a FORMAT_ERROR naming it. */
export function readPolicy(file: string | undefined): WitnessPolicy | undefined {
  if (file === undefined) return undefined;
  let text: string;
  try {
    text = readTextFile(file, 'the witness policy');
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    throw new VerificationError('FORMAT_ERROR', 'input', error.message, { file });
  }
  try {
    return parseWitnessPolicy(text);
  } catch (error) {
    if (!(error instanceof PolicyError)) throw error;
    throw new VerificationError('FORMAT_ERROR', 'input', `${file} is not a witness policy: ${error.message}`, { file });
  }
}

function printWitnesses(o: VerifyOutput, w: WitnessReport | undefined): void {
  if (w) o.out(`  witnessed: quorum ${w.quorum}; ${w.cosignedBy.map((c) => `${c.witness} (${c.keyName}) at ${c.cosignedAt}`).join(', ') || 'no cosignature required'}`);
}

/**
 * --checkpoint FILE: a newer checkpoint the auditor holds (docs/format.md §5.3). It must verify under the pinned
 * key; the evidence must be against a tree at least as large (CHECKPOINT_STALE, as --at-least its size), and of the
 * same root where the sizes are equal (a fork: CONSISTENCY_PROOF_ERROR with both notes as evidence).
 */
export function readNewerCheckpoint(file: string, ledgerKey: ReturnType<typeof parseVerifierKey>): { note: string; size: number; root: string } {
  const note = readNoteFile(file);
  let checkpoint;
  try {
    checkpoint = checkCheckpoint(note, ledgerKey, nativeCrypto);
  } catch (error) {
    if (error instanceof VerificationError) throw new VerificationError(error.code, 'input', `--checkpoint ${file}: ${error.message}`, { file });
    throw error;
  }
  return { note, size: checkpoint.size, root: toHex(checkpoint.root) };
}

function checkAgainstNewer(newer: { note: string; size: number; root: string } | undefined, evidence: { size: number; root: string }, evidenceNote: string): void {
  if (newer && newer.size === evidence.size && newer.root !== evidence.root) {
    throw new VerificationError('CONSISTENCY_PROOF_ERROR', 'freshness', `the evidence's checkpoint and the one given with --checkpoint are two trees of size ${newer.size} with different roots: the ledger forked`, { field: 'checkpoint' }, { evidence: evidenceNote, held: newer.note });
  }
}

/** The first line of a file, bounded: an export starts with its header record, a provenance document does not. */
export function isExportFile(file: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    throw new VerificationError('FORMAT_ERROR', 'input', `cannot read ${describeExpectedFailure(error) ?? `${file}: ${(error as Error).message}`}`, { file });
  }
  try {
    const head = Buffer.alloc(64 * 1024);
    const n = readSync(fd, head, 0, head.length, 0);
    const nl = head.subarray(0, n).indexOf(10);
    if (nl < 0) return false;
    try {
      const first = JSON.parse(head.subarray(0, nl).toString('utf8')) as { record?: unknown };
      return first !== null && typeof first === 'object' && first.record === 'header';
    } catch {
      return false;
    }
  } finally {
    closeSync(fd);
  }
}

export async function verifyExportCommand(file: string, ledgerKey: string, o: VerifyOutput, options: { portable: boolean; workers?: number; progress: (line: string) => void; policyFile?: string; atLeast?: number; signatures?: SignatureOptions; pageFile?: string; mapKey?: string }): Promise<number> {
  const started = performance.now();
  let lastShown = 0;
  try {
    const policy = readPolicy(options.policyFile);
    const verifierPage = readPageFile(options.pageFile);
    const mapKey = options.mapKey === undefined ? undefined : readKey(options.mapKey, '--map-key', 'the index log key file', 'an index log verifier key');
    const report = await verifyExportFile(file, readKey(ledgerKey), {
      ...(mapKey ? { mapKey } : {}),
      ...(verifierPage ? { verifierPage } : {}),
      ...(policy ? { policy } : {}),
      ...(options.atLeast !== undefined ? { atLeast: options.atLeast } : {}),
      portable: options.portable,
      signatures: readSignaturePolicy(options.signatures),
      ...(options.workers ? { workers: options.workers } : {}),
      onProgress: (units, events) => {
        if (Date.now() - lastShown > 1000) {
          lastShown = Date.now();
          options.progress(`  verified ${units} units, ${events} events…`);
        }
      },
    });
    const seconds = (performance.now() - started) / 1000;
    // Peak resident memory of this process, worker threads included (kB on Linux).
    const peakMemoryMb = Math.round(process.resourceUsage().maxRSS / 1024);
    // CPU time of this process since it started, every thread (workers included): on a shared machine what the
    // wall-clock rate hides, and what a benchmark compares run to run.
    const usage = process.cpuUsage();
    const cpuSeconds = (usage.user + usage.system) / 1e6;
    if (o.json) {
      o.out(JSON.stringify({ ok: true, report: { ...report, seconds, cpuSeconds, peakMemoryMb } }, null, 2));
    } else {
      o.out(`verifying export ${file}`);
      printSteps(o, report.steps);
      o.out(`verified: ${report.units} units, ${report.events} events, stations ${report.stations.join(', ')}; checkpoint ${report.origin} size ${report.checkpoint.size}; ${(report.events / seconds).toFixed(0)} events/s, peak memory ${peakMemoryMb} MB`);
      for (const f of report.firmware) {
        const approval = report.format === 'flashtrail.export.v1' ? '' : f.approvedBy.length > 0 ? `  approved by release ${f.approvedBy.join(', ')}` : '  NOT approved by any release in the export';
        o.out(`  firmware ${f.sha256}  ${f.name}  on ${f.units} unit(s)${approval}`);
      }
      if (report.history) o.out(`  complete: every unit's events are all its events as of checkpoint size ${report.history.size}${report.freshness?.asOf ? ` (${report.freshness.asOf})` : ''} (map root ${report.history.mapRoot.slice(0, 16)}…, index log tree ${report.history.indexSize})`);
      const firmwareLine = firmwareAnswerLine(report);
      if (firmwareLine) o.out(`  ${firmwareLine}`);
      o.out(`  statement signed with ${report.statementSignatures.join(' + ')}`);
      if (report.verifierPage) {
        const p = report.verifierPage;
        o.out(p.sha256 === null ? '  verifier page: the statement names none' : `  verifier page sha256 ${p.sha256}: ${p.checked ? 'the page given matches' : 'no page given (--page FILE compares one)'}`);
      }
      printWitnesses(o, report.witnesses);
      for (const n of report.notProven) o.out(`  not proven: ${n}`);
    }
    return 0;
  } catch (error) {
    return failure(o, error);
  }
}

/**
 * `flashtrail verify EXPORT --renewal BUNDLE` (docs/format.md §14.1): the export verified as it was made, that it
 * is the file the bundle names, then the bundle's newer hybrid checkpoint and the consistency proof to it.
 */
export async function verifyExportRenewalCommand(file: string, bundleFile: string, ledgerKey: string, o: VerifyOutput, options: { portable: boolean; workers?: number; progress: (line: string) => void; policyFile?: string; atLeast?: number; signatures?: SignatureOptions; pageFile?: string; mapKey?: string }): Promise<number> {
  let lastShown = 0;
  try {
    const key = readKey(ledgerKey);
    const { mlDsaKey } = readSignaturePolicy(options.signatures);
    if (!mlDsaKey) throw new VerificationError('LEDGER_KEY_ERROR', 'input', "a renewal bundle is verified with the ledger's ML-DSA-44 key: give --ledger-pq-key", { file: bundleFile });
    const bundle = readJsonDocument(bundleFile, MAX_PROVENANCE_BYTES, 'the renewal bundle');
    const policy = readPolicy(options.policyFile);
    const verifierPage = readPageFile(options.pageFile);
    const mapKey = options.mapKey === undefined ? undefined : readKey(options.mapKey, '--map-key', 'the index log key file', 'an index log verifier key');
    let report;
    try {
      report = await verifyExportRenewal(bundle, readLines(file), key, mlDsaKey, {
        crypto: options.portable ? portableCrypto : nativeCrypto,
        units: workerPoolVerifier(Math.max(1, options.workers ?? availableParallelism()), options.portable),
        ...(mapKey ? { mapKey } : {}),
        ...(verifierPage ? { verifierPage } : {}),
        ...(policy ? { policy } : {}),
        ...(options.atLeast !== undefined ? { atLeast: options.atLeast } : {}),
        onProgress: (units, events) => {
          if (Date.now() - lastShown > 1000) {
            lastShown = Date.now();
            options.progress(`  verified ${units} units, ${events} events…`);
          }
        },
      });
    } catch (error) {
      if (error instanceof VerificationError) {
        // The bundle's own steps locate in the bundle, the export's in the export.
        const inBundle = !error.step.startsWith('evidence');
        throw new VerificationError(error.code, error.step, error.message, { file: inBundle ? bundleFile : file, ...error.location }, error.evidence);
      }
      const code = (error as NodeJS.ErrnoException).code;
      if (typeof code === 'string') throw new VerificationError('FORMAT_ERROR', 'evidence: format', `cannot read ${file}: ${(error as Error).message}`, { file });
      throw error;
    }
    if (o.json) o.out(JSON.stringify({ ok: true, report }, null, 2));
    else {
      o.out(`verifying the renewal of export ${file} (${bundleFile})`);
      printSteps(o, report.evidence.steps.map((s) => ({ ...s, step: `evidence: ${s.step}` })));
      printSteps(o, report.steps);
      o.out(`verified: ${report.evidence.units} units, ${report.evidence.events} events, stations ${report.evidence.stations.join(', ')}; checkpoint ${report.evidence.origin} size ${report.evidence.checkpoint.size}; renewed: ${report.renewed.statement}`);
      for (const n of report.evidence.notProven) o.out(`  not proven: ${n}`);
    }
    return 0;
  } catch (error) {
    return failure(o, error);
  }
}

/** The verifier page given with --page, as bytes; one that cannot be read is a FORMAT_ERROR naming it. */
function readPageFile(file: string | undefined): Uint8Array | undefined {
  if (file === undefined) return undefined;
  try {
    return new Uint8Array(readFileSync(file));
  } catch (error) {
    throw new VerificationError('FORMAT_ERROR', 'input', `cannot read the verifier page ${describeExpectedFailure(error) ?? `${file}: ${(error as Error).message}`}`, { file });
  }
}

/** --ledger-pq-key and --signatures, as given. */
export interface SignatureOptions {
  readonly pqKey?: string;
  readonly require?: string;
}

/** The signature policy of the options: a bad key or policy is a coded failure (LEDGER_KEY_ERROR). */
function readSignaturePolicy(options: SignatureOptions | undefined): SignaturePolicy {
  const require = options?.require;
  if (require !== undefined && require !== 'hybrid' && require !== 'classical') throw new VerificationError('LEDGER_KEY_ERROR', 'input', `--signatures must be hybrid or classical, not ${require}`);
  let mlDsaKey: MlDsaNoteKey | null = null;
  if (options?.pqKey !== undefined) {
    const file = options.pqKey.startsWith('@') ? options.pqKey.slice(1) : null;
    let text = options.pqKey;
    if (file !== null) {
      try {
        text = readTextFile(file, 'the ledger ML-DSA-44 key file');
      } catch (error) {
        if (!(error instanceof CliError)) throw error;
        throw new VerificationError('LEDGER_KEY_ERROR', 'input', error.message, { file });
      }
    }
    try {
      mlDsaKey = parseMlDsaVerifierKey(text.trim());
    } catch (error) {
      if (!(error instanceof NoteError)) throw error;
      throw new VerificationError('LEDGER_KEY_ERROR', 'input', `--ledger-pq-key is not an ML-DSA-44 verifier key: ${error.message}`, file !== null ? { file } : {});
    }
  }
  return { mlDsaKey, ...(require ? { require } : {}) };
}

export interface VerifyOutput {
  readonly out: (line: string) => void;
  readonly json: boolean;
}

/** The pinned key, from the option or @file; a bad one is a coded failure (LEDGER_KEY_ERROR), in --json too. */
export function readKey(value: string, option = '--ledger-key', what = 'the ledger key file', kind = 'a ledger verifier key'): ReturnType<typeof parseVerifierKey> {
  const file = value.startsWith('@') ? value.slice(1) : null;
  let text = value;
  if (file !== null) {
    try {
      text = readTextFile(file, what);
    } catch (error) {
      if (!(error instanceof CliError)) throw error;
      throw new VerificationError('LEDGER_KEY_ERROR', 'input', error.message, { file });
    }
  }
  try {
    return parseVerifierKey(text.trim());
  } catch (error) {
    if (!(error instanceof NoteError)) throw error;
    throw new VerificationError('LEDGER_KEY_ERROR', 'input', `${option} ${file !== null ? `${file} ` : ''}is not ${kind}: ${error.message}`, file !== null ? { file } : {});
  }
}

function printSteps(o: VerifyOutput, steps: StepReport[]): void {
  for (const line of stepLines(steps)) o.out(line);
}

/**
 * A verification failure is the report (stdout, exit 1). A failure to read the input (step `input`: a bad key,
 * a missing or malformed file) is, without --json, the command line's usual one line on stderr; with --json,
 * both are the JSON report, so that a machine always gets one.
 */
function failure(o: VerifyOutput, error: unknown): number {
  if (!(error instanceof VerificationError)) throw error;
  if (!o.json && error.step === 'input') throw error;
  if (o.json) o.out(JSON.stringify({ ok: false, error: error.toJSON() }, null, 2));
  else {
    o.out(failureLine(error));
    for (const [name, text] of Object.entries(error.evidence ?? {})) o.out(`  evidence ${name}:\n${text.replace(/^/gm, '    ')}`);
  }
  return 1;
}

export function verifyProvenanceFile(file: string, ledgerKey: string, o: VerifyOutput, policyFile?: string, atLeastGiven?: number, signatures?: SignatureOptions, mapKeyText?: string, newerFile?: string): number {
  try {
    const key = readKey(ledgerKey);
    const newer = newerFile === undefined ? undefined : readNewerCheckpoint(newerFile, key);
    const atLeast = newer ? Math.max(newer.size, atLeastGiven ?? 0) : atLeastGiven;
    const mapKey = mapKeyText === undefined ? undefined : readKey(mapKeyText, '--map-key', 'the index log key file', 'an index log verifier key');
    const policy = readPolicy(policyFile);
    const signaturePolicy = readSignaturePolicy(signatures);
    const doc = readJsonDocument(file, MAX_PROVENANCE_BYTES, 'the provenance document');
    if (isRenewalBundle(doc)) return verifyRenewalDocument(file, doc, key, signaturePolicy, o);
    let report;
    try {
      report = verifyProvenance(doc, key, nativeCrypto, { ...signaturePolicy, ...(policy ? { policy } : {}), ...(atLeast !== undefined ? { atLeast } : {}), ...(mapKey ? { mapKey } : {}) });
      checkAgainstNewer(newer, report.checkpoint, (doc as { checkpoint: string }).checkpoint);
    } catch (error) {
      if (error instanceof VerificationError) throw new VerificationError(error.code, error.step, error.message, { file, ...error.location }, error.evidence);
      throw error;
    }
    if (o.json) {
      o.out(JSON.stringify({ ok: true, report }, null, 2));
    } else {
      o.out(`verifying provenance of unit ${report.serial} (${file})`);
      printSteps(o, report.steps);
      const release = report.releaseId !== null ? `; batch ${String(report.batchId)} of release ${report.releaseId}${report.matchesRelease === false ? ' (firmware differs from the release)' : ''}` : '';
      o.out(`verified: ${report.events} events by ${report.stations.join(', ')}; application ${report.firmware.application.join(', ') || '-'}${release}; checkpoint ${report.checkpoint.origin} size ${report.checkpoint.size}`);
      printWitnesses(o, report.witnesses);
      if (report.history) o.out(`  complete: all ${report.history.events} events of ${report.serial} as of checkpoint size ${report.history.size}${report.freshness?.asOf ? ` (${report.freshness.asOf})` : ''}, the last at leaf ${report.history.lastLeaf}`);
      for (const n of report.notProven) o.out(`  not proven: ${n}`);
    }
    return 0;
  } catch (error) {
    return failure(o, error);
  }
}

/** A renewal bundle (flashtrail renew): the evidence, then the newer hybrid checkpoint and the proof to it. */
function verifyRenewalDocument(file: string, doc: unknown, key: ReturnType<typeof parseVerifierKey>, policy: SignaturePolicy, o: VerifyOutput): number {
  if (!policy.mlDsaKey) throw new VerificationError('LEDGER_KEY_ERROR', 'input', 'a renewal bundle is verified with the ledger\'s ML-DSA-44 key: give --ledger-pq-key', { file });
  let report;
  try {
    report = verifyRenewal(doc, key, policy.mlDsaKey, nativeCrypto);
  } catch (error) {
    if (error instanceof VerificationError) throw new VerificationError(error.code, error.step, error.message, { file, ...error.location });
    throw error;
  }
  if (o.json) o.out(JSON.stringify({ ok: true, report }, null, 2));
  else {
    o.out(`verifying the renewal of unit ${report.evidence.serial} (${file})`);
    printSteps(o, report.steps);
    o.out(`verified: ${report.evidence.events} events by ${report.evidence.stations.join(', ')}; renewed: ${report.renewed.statement}`);
  }
  return 0;
}

/** A JSON file read whole, bounded in size; every way it can be unreadable is a FORMAT_ERROR naming the file. */
function readJsonDocument(file: string, maxBytes: number, what: string): unknown {
  let size: number;
  try {
    size = statSync(file).size;
  } catch (error) {
    throw new VerificationError('FORMAT_ERROR', 'input', `cannot read ${what}: ${describeExpectedFailure(error) ?? `${file}: ${(error as Error).message}`}`, { file });
  }
  if (size > maxBytes) throw new VerificationError('FORMAT_ERROR', 'input', `${file} (${what}) is ${size} bytes, more than the ${maxBytes} it may have`, { file });
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(readFileSync(file));
  } catch (error) {
    throw new VerificationError('FORMAT_ERROR', 'input', `${file} (${what}) is not UTF-8 text: ${describeExpectedFailure(error) ?? (error as Error).message}`, { file });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new VerificationError('FORMAT_ERROR', 'input', `${file} (${what}) is not valid JSON: ${(error as Error).message}`, { file });
  }
}

export async function verifyConsistencyFiles(
  oldFile: string,
  newFile: string,
  ledgerKey: string,
  source: { proofFile?: string; url?: string; token?: string; policyFile?: string },
  o: VerifyOutput,
): Promise<number> {
  try {
    const key = readKey(ledgerKey);
    const policy = readPolicy(source.policyFile);
    const oldNote = readNoteFile(oldFile);
    const newNote = readNoteFile(newFile);
    let proof: string[];
    if (source.proofFile) {
      const json = readJsonDocument(source.proofFile, 1024 * 1024, 'the consistency proof') as { proof?: unknown } | null;
      if (json === null || typeof json !== 'object' || !Array.isArray(json.proof) || json.proof.length > 64) {
        throw new VerificationError('FORMAT_ERROR', 'proof', `${source.proofFile}: expected { "proof": [base64 hashes] }`, { file: source.proofFile, field: 'proof' });
      }
      proof = json.proof.map((p: unknown, i: number) => {
        if (typeof p === 'string' && /^[A-Za-z0-9+/]{43}=$/.test(p)) return p;
        throw new VerificationError('FORMAT_ERROR', 'proof', `${source.proofFile}: proof[${i}] is not base64 of a 32-byte hash`, { file: source.proofFile, field: `proof[${i}]` });
      });
    } else if (source.url && source.token) {
      const size = (note: string) => {
        try {
          return parseCheckpointBody(parseNote(note).text).size;
        } catch {
          return 0;
        }
      };
      const from = size(oldNote);
      const to = size(newNote);
      proof = to >= from ? (await new LedgerClient(source.url, source.token).get<{ proof: string[] }>(`/v1/proofs/consistency?from=${from}&to=${to}`)).proof : [];
    } else if (sizeOf(oldNote) !== null && sizeOf(oldNote) === sizeOf(newNote)) {
      // Two checkpoints of one size need no proof: they agree, or they are a fork.
      proof = [];
    } else {
      throw new VerificationError('FORMAT_ERROR', 'proof', 'give the consistency proof with --proof FILE, or --url and a token to fetch it');
    }
    if (!Array.isArray(proof) || proof.length > 64) throw new VerificationError('FORMAT_ERROR', 'proof', 'the consistency proof is not an array of at most 64 base64 hashes', { field: 'proof' });
    const hashes = proof.map((p, i) => {
      try {
        const h = fromBase64(String(p));
        if (h.length === 32) return h;
      } catch {
        // reported below
      }
      throw new VerificationError('FORMAT_ERROR', 'proof', `the consistency proof's hash ${i} is not base64 of 32 bytes`, { field: `proof[${i}]`, ...(source.proofFile ? { file: source.proofFile } : {}) });
    });
    const report = verifyCheckpointConsistency(oldNote, newNote, hashes, key, nativeCrypto, policy ? { policy } : {});
    if (o.json) o.out(JSON.stringify({ ok: true, report }, null, 2));
    else {
      o.out(`verifying that checkpoint ${report.to.size} extends checkpoint ${report.from.size} of ${report.origin}`);
      printSteps(o, report.steps);
      o.out('verified: append-only');
      printWitnesses(o, report.witnesses);
    }
    return 0;
  } catch (error) {
    return failure(o, error);
  }
}

function sizeOf(note: string): number | null {
  try {
    return parseCheckpointBody(parseNote(note).text).size;
  } catch {
    return null;
  }
}

function readNoteFile(file: string): string {
  try {
    return readTextFile(file, 'a checkpoint');
  } catch (error) {
    if (error instanceof CliError) throw new VerificationError('FORMAT_ERROR', 'input', error.message, { file });
    throw error;
  }
}

// Named, then exported: see defineCommand for why not `export default defineCommand(…)`.
const command = defineCommand({
  usage: [
    'FILE --ledger-key KEY|@FILE [--map-key KEY|@FILE] [--checkpoint FILE] [--ledger-pq-key KEY|@FILE] [--signatures hybrid|classical] [--policy FILE] [--at-least N] [--page verify.html] [--json] [--portable] [--workers N]',
    'EXPORT --renewal BUNDLE --ledger-key KEY|@FILE --ledger-pq-key KEY|@FILE [--json] [--portable] [--workers N]',
  ],
  description: [
    'Checks, with nothing but the pinned ledger key: every signature (strict RFC 8032), every chain link, that',
    'each signing key was registered and live, every inclusion proof, and the signed checkpoint. An export is',
    'verified in parallel on all cores. Prints each step; exits 1 at the first failure, naming its code.',
  ].join('\n'),
  arguments: [{ name: 'FILE', help: 'a provenance document (GET /v1/units/SERIAL/provenance) or an export (flashtrail export)' }],
  options: {
    'ledger-key': { type: 'string', value: 'KEY|@FILE', required: true, help: 'the verifier key the ledger printed at init (origin+id+key), or @file holding it' },
    checkpoint: { type: 'string', value: 'FILE', help: 'a newer signed checkpoint you hold: refuse evidence against a smaller tree (CHECKPOINT_STALE) or a fork of it (CONSISTENCY_PROOF_ERROR)' },
    'map-key': { type: 'string', value: 'KEY|@FILE', help: "the index log's verifier key (GET /v1/unit-map/key): with it, a v3 document's or a v4 export's history is proved complete (HISTORY_INCOMPLETE)" },
    policy: { type: 'string', value: 'FILE', help: 'a witness policy (C2SP tlog-policy): refuse a checkpoint its quorum has not cosigned' },
    'at-least': { type: 'string', value: 'N', help: 'the log is known to have N leaves: refuse evidence against a smaller tree (CHECKPOINT_STALE)' },
    'ledger-pq-key': { type: 'string', value: 'KEY|@FILE', help: "the ledger's ML-DSA-44 verifier key (GET /v1/ledger/pq-key): with it, both checkpoint signatures are required" },
    signatures: { type: 'string', value: 'hybrid|classical', help: 'hybrid (default with --ledger-pq-key): Ed25519 and ML-DSA-44; classical: Ed25519 alone, for evidence from before the ML-DSA-44 key' },
    renewal: { type: 'string', value: 'BUNDLE', help: 'an export only: its renewal bundle (flashtrail renew EXPORT, flashtrail.renewal.v3): the export verified as made, then reported renewed by the bundle\'s newer hybrid checkpoint; needs --ledger-pq-key' },
    page: { type: 'string', value: 'FILE', help: 'an export only: the offline verifier page found next to it, compared with the SHA-256 its signed statement names (VERIFIER_PAGE_MISMATCH)' },
    json: { type: 'boolean', help: 'print the report, or the failure, as JSON' },
    portable: { type: 'boolean', help: 'verify with the pure-JavaScript Ed25519 and SHA-256 instead of OpenSSL' },
    workers: { type: 'string', value: 'N', help: 'worker threads for an export (default: one per core)' },
  },
  async run({ values, positionals }) {
    const file = positionals[0] as string;
    const key = values['ledger-key'] as string;
    const o = { out: (l: string) => console.log(l), json: values.json === true };
    const atLeast = values['at-least'] === undefined ? undefined : wholeNumber(values['at-least'], '--at-least', 0, 0, Number.MAX_SAFE_INTEGER);
    const signatures: SignatureOptions = { ...(values['ledger-pq-key'] !== undefined ? { pqKey: values['ledger-pq-key'] as string } : {}), ...(values.signatures !== undefined ? { require: values.signatures as string } : {}) };
    let isExport: boolean;
    try {
      isExport = isExportFile(file);
    } catch (error) {
      return failure(o, error);
    }
    if (values.renewal !== undefined) {
      if (!isExport) throw new UsageError('--renewal is for exports: a provenance document\'s renewal bundle holds the document (flashtrail verify BUNDLE)');
      if (values.checkpoint !== undefined) throw new UsageError('--checkpoint does not apply with --renewal: the bundle carries the newer checkpoint (use --at-least N for a size the log has reached)');
      if (values.signatures !== undefined) throw new UsageError('--signatures does not apply with --renewal: the export is verified as it was made (classical), the renewal checkpoint under the hybrid policy');
      const workers = values.workers === undefined ? undefined : wholeNumber(values.workers, '--workers', 0, 1, 256);
      return verifyExportRenewalCommand(file, values.renewal as string, key, o, { portable: values.portable === true, ...(workers ? { workers } : {}), ...(values.policy !== undefined ? { policyFile: values.policy } : {}), ...(atLeast !== undefined ? { atLeast } : {}), ...(values.page !== undefined ? { pageFile: values.page as string } : {}), ...(values['map-key'] !== undefined ? { mapKey: values['map-key'] as string } : {}), progress: (l) => console.error(l), signatures });
    }
    if (isExport) {
      let exportAtLeast = atLeast;
      if (values.checkpoint !== undefined) {
        try {
          exportAtLeast = Math.max(readNewerCheckpoint(values.checkpoint, readKey(key)).size, atLeast ?? 0);
        } catch (error) {
          return failure(o, error);
        }
      }
      const workers = values.workers === undefined ? undefined : wholeNumber(values.workers, '--workers', 0, 1, 256);
      return verifyExportCommand(file, key, o, { portable: values.portable === true, ...(workers ? { workers } : {}), ...(values.policy !== undefined ? { policyFile: values.policy } : {}), ...(exportAtLeast !== undefined ? { atLeast: exportAtLeast } : {}), ...(values.page !== undefined ? { pageFile: values.page as string } : {}), ...(values['map-key'] !== undefined ? { mapKey: values['map-key'] as string } : {}), progress: (l) => console.error(l), signatures });
    }
    if (values.page !== undefined) throw new UsageError('--page is for exports: a provenance document names no verifier page');
    return verifyProvenanceFile(file, key, o, values.policy, atLeast, signatures, values['map-key'] as string | undefined, values.checkpoint as string | undefined);
  },
});

export default command;
