/** `flashtrail verify` and `flashtrail verify-consistency`: offline checks against a pinned ledger key. */
import { readFileSync } from 'node:fs';
import { defineCommand } from '../command.ts';
import { CliError } from '../errors.ts';
import { readJsonFile, readTextFile, wholeNumber } from '../input.ts';
import { verifyProvenance, verifyCheckpointConsistency, VerificationError, parseVerifierKey, type StepReport } from '../../verify/index.ts';
import { nativeCrypto } from '../../native/crypto.ts';
import { fromBase64 } from '../../crypto/encoding.ts';
import { LedgerClient } from '../../client/ledger-client.ts';
import { parseCheckpointBody } from '../../tlog/checkpoint.ts';
import { NoteError, parseNote } from '../../tlog/note.ts';
import { openSync, readSync, closeSync } from 'node:fs';
import { verifyExportFile } from '../../native/export-verifier.ts';
import { EXPORT_FORMAT } from '../../verify/export-format.ts';
import { failureLine, stepLines } from '../../verify/report.ts';

/** An export starts with its header line; a provenance document is one JSON object. */
export function isExportFile(file: string): boolean {
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(200);
    const n = readSync(fd, head, 0, head.length, 0);
    return head.subarray(0, n).toString('utf8').includes(`"format":"${EXPORT_FORMAT}"`) && head.subarray(0, n).toString().startsWith('{"record":"header"');
  } finally {
    closeSync(fd);
  }
}

export async function verifyExportCommand(file: string, ledgerKey: string, o: VerifyOutput, options: { portable: boolean; workers?: number; progress: (line: string) => void }): Promise<number> {
  const started = performance.now();
  let lastShown = 0;
  try {
    const report = await verifyExportFile(file, readKey(ledgerKey), {
      portable: options.portable,
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
    if (o.json) {
      o.out(JSON.stringify({ ok: true, report: { ...report, seconds, peakMemoryMb } }, null, 2));
    } else {
      o.out(`verifying export ${file}`);
      printSteps(o, report.steps);
      o.out(`verified: ${report.units} units, ${report.events} events, stations ${report.stations.join(', ')}; checkpoint ${report.origin} size ${report.checkpoint.size}; ${(report.events / seconds).toFixed(0)} events/s, peak memory ${peakMemoryMb} MB`);
      for (const f of report.firmware) o.out(`  firmware ${f.sha256}  ${f.name}  on ${f.units} unit(s)`);
    }
    return 0;
  } catch (error) {
    return failure(o, error);
  }
}

export interface VerifyOutput {
  readonly out: (line: string) => void;
  readonly json: boolean;
}

function readKey(value: string): ReturnType<typeof parseVerifierKey> {
  const text = value.startsWith('@') ? readTextFile(value.slice(1), 'the ledger key file') : value;
  try {
    return parseVerifierKey(text.trim());
  } catch (error) {
    if (!(error instanceof NoteError)) throw error;
    throw new CliError(`--ledger-key ${value.startsWith('@') ? `${value.slice(1)} ` : ''}is not a ledger verifier key: ${error.message}`);
  }
}

function printSteps(o: VerifyOutput, steps: StepReport[]): void {
  for (const line of stepLines(steps)) o.out(line);
}

function failure(o: VerifyOutput, error: unknown): number {
  if (!(error instanceof VerificationError)) throw error;
  if (o.json) o.out(JSON.stringify({ ok: false, error: { code: error.code, step: error.step, message: error.message, location: error.location } }, null, 2));
  else o.out(failureLine(error));
  return 1;
}

export function verifyProvenanceFile(file: string, ledgerKey: string, o: VerifyOutput): number {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    return failure(o, new VerificationError('FORMAT_ERROR', 'format', `${file}: ${(error as Error).message}`));
  }
  try {
    const report = verifyProvenance(doc, readKey(ledgerKey), nativeCrypto);
    if (o.json) {
      o.out(JSON.stringify({ ok: true, report }, null, 2));
    } else {
      o.out(`verifying provenance of unit ${report.serial} (${file})`);
      printSteps(o, report.steps);
      o.out(`verified: ${report.events} events by ${report.stations.join(', ')}; application ${report.firmware.application.join(', ') || '-'}; checkpoint ${report.checkpoint.origin} size ${report.checkpoint.size}`);
    }
    return 0;
  } catch (error) {
    return failure(o, error);
  }
}

export async function verifyConsistencyFiles(
  oldFile: string,
  newFile: string,
  ledgerKey: string,
  source: { proofFile?: string; url?: string; token?: string },
  o: VerifyOutput,
): Promise<number> {
  try {
    const key = readKey(ledgerKey);
    const oldNote = readTextFile(oldFile, 'the old checkpoint');
    const newNote = readTextFile(newFile, 'the new checkpoint');
    let proof: string[];
    if (source.proofFile) {
      const json = readJsonFile(source.proofFile, 'the consistency proof') as { proof?: unknown };
      if (!Array.isArray(json?.proof) || !json.proof.every((p) => typeof p === 'string')) {
        throw new VerificationError('FORMAT_ERROR', 'proof', `${source.proofFile}: expected { "proof": [base64 hashes] }`);
      }
      proof = json.proof as string[];
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
    } else {
      throw new VerificationError('FORMAT_ERROR', 'proof', 'give the consistency proof with --proof FILE, or --url and a token to fetch it');
    }
    const report = verifyCheckpointConsistency(oldNote, newNote, proof.map(fromBase64), key, nativeCrypto);
    if (o.json) o.out(JSON.stringify({ ok: true, report }, null, 2));
    else {
      o.out(`verifying that checkpoint ${report.to.size} extends checkpoint ${report.from.size} of ${report.origin}`);
      printSteps(o, report.steps);
      o.out('verified: append-only');
    }
    return 0;
  } catch (error) {
    return failure(o, error);
  }
}

// Named, then exported: see defineCommand for why not `export default defineCommand(…)`.
const command = defineCommand({
  usage: ['FILE --ledger-key KEY|@FILE [--json] [--portable] [--workers N]'],
  description: [
    'Checks, with nothing but the pinned ledger key: every signature (strict RFC 8032), every chain link, that',
    'each signing key was registered and live, every inclusion proof, and the signed checkpoint. An export is',
    'verified in parallel on all cores. Prints each step; exits 1 at the first failure, naming its code.',
  ].join('\n'),
  arguments: [{ name: 'FILE', help: 'a provenance document (GET /v1/units/SERIAL/provenance) or an export (flashtrail export)' }],
  options: {
    'ledger-key': { type: 'string', value: 'KEY|@FILE', required: true, help: 'the verifier key the ledger printed at init (origin+id+key), or @file holding it' },
    json: { type: 'boolean', help: 'print the report, or the failure, as JSON' },
    portable: { type: 'boolean', help: 'verify with the pure-JavaScript Ed25519 and SHA-256 instead of OpenSSL' },
    workers: { type: 'string', value: 'N', help: 'worker threads for an export (default: one per core)' },
  },
  async run({ values, positionals }) {
    const file = positionals[0] as string;
    const key = values['ledger-key'] as string;
    const o = { out: (l: string) => console.log(l), json: values.json === true };
    if (isExportFile(file)) {
      const workers = values.workers === undefined ? undefined : wholeNumber(values.workers, '--workers', 0, 1, 256);
      return verifyExportCommand(file, key, o, { portable: values.portable === true, ...(workers ? { workers } : {}), progress: (l) => console.error(l) });
    }
    return verifyProvenanceFile(file, key, o);
  },
});

export default command;
