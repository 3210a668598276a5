/**
 * `flashtrail renew FILE`: extends an older provenance document or export to the ledger's newest hybrid-signed
 * checkpoint (Ed25519 + ML-DSA-44) with the consistency proof between them, and writes the renewal bundle
 * (flashtrail.renewal.v2 holding the document; v3 naming the export by its SHA-256, docs/format.md §14.1), which
 * `flashtrail verify` checks offline. Nothing is re-signed: the evidence's history is kept by SHA-256 under a
 * root the post-quantum signature fixes (README: keeping evidence until 2037).
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { defineCommand } from '../command.ts';
import { CliError } from '../errors.ts';
import { httpUrl, readJsonFile, readTokenFile } from '../input.ts';
import { LedgerClient } from '../../client/ledger-client.ts';
import { configFromEnv, ledgerUrl } from '../../server/config.ts';
import { writeFileDurable } from '../../files/durable.ts';
import { parseCheckpointBody } from '../../tlog/checkpoint.ts';
import { parseNote } from '../../tlog/note.ts';
import { parseMlDsaVerifierKey, verifyMlDsaLine } from '../../tlog/ml-dsa-note.ts';
import { RENEWAL_FORMAT, RENEWAL_FORMAT_V3, type ExportRenewalBundle, type RenewalBundle } from '../../verify/renewal.ts';
import { nativeCrypto } from '../../native/crypto.ts';
import { readLines } from '../../native/export-verifier.ts';
import { isExportFile } from './verify.ts';

const sizeOf = (note: string) => parseCheckpointBody(parseNote(note).text).size;

/** An envelope's event type, or null when the ledger sent something else: the verifier judges the bundle, not this. */
function eventTypeOf(envelope: unknown): unknown {
  try {
    return (JSON.parse(Buffer.from((envelope as { payload: string }).payload, 'base64').toString('utf8')) as { type?: unknown }).type;
  } catch {
    return null;
  }
}

/** What renewal needs of an export, read once: the SHA-256 of all its bytes, its line-2 note, its first unit's serial. */
async function exportSubject(file: string): Promise<{ sha256: string; checkpoint: string; serial: string | null }> {
  const hash = createHash('sha256');
  let checkpoint: string | null = null;
  let serial: string | null = null;
  let line = 0;
  try {
    for await (const bytes of readLines(file)) {
      hash.update(bytes);
      line++;
      if (line === 2 || (serial === null && line > 2)) {
        const record = JSON.parse(Buffer.from(bytes).toString('utf8')) as { record?: unknown; note?: unknown; serial?: unknown };
        if (line === 2 && record.record === 'checkpoint' && typeof record.note === 'string') checkpoint = record.note;
        if (record.record === 'unit' && typeof record.serial === 'string') serial = record.serial;
      }
    }
  } catch (error) {
    throw new CliError(`${file} cannot be read as an export: ${(error as Error).message}`);
  }
  if (checkpoint === null) throw new CliError(`${file} is not an export: its line 2 is not a checkpoint record`);
  return { sha256: hash.digest('hex'), checkpoint, serial };
}

// Named, then exported: see defineCommand for why not `export default defineCommand(…)`.
const command = defineCommand({
  usage: ['FILE [--out FILE] [--url URL] [--token-file FILE] [--data DIR]'],
  description: [
    "Fetches the ledger's newest checkpoint (it must carry the ML-DSA-44 signature) and the consistency proof from",
    "FILE's checkpoint to it, and writes a renewal bundle that verifies offline: flashtrail verify BUNDLE",
    '--ledger-key KEY --ledger-pq-key PQKEY reports the evidence as renewed (an export: flashtrail verify EXPORT',
    '--renewal BUNDLE …; the bundle names the export by its SHA-256). The ledger is not trusted: the bundle holds',
    'only what the verifier checks.',
  ].join('\n'),
  arguments: [{ name: 'FILE', help: 'a provenance document (GET /v1/units/SERIAL/provenance) or an export (flashtrail export)' }],
  options: {
    out: { type: 'string', value: 'FILE', help: 'where to write the bundle (default FILE.renewed.json, FILE without .json or .ndjson)' },
    url: { type: 'string', value: 'URL', help: 'the ledger (default http://FLASHTRAIL_HOST:FLASHTRAIL_PORT)' },
    'token-file': { type: 'string', value: 'FILE', help: 'auditor or admin bearer token (default <data>/admin.token)' },
    data: { type: 'string', value: 'DIR', help: 'data directory holding the default token (default FLASHTRAIL_DATA_DIR or ./data)' },
  },
  environment: ['FLASHTRAIL_DATA_DIR', 'FLASHTRAIL_HOST', 'FLASHTRAIL_PORT'],
  async run({ values, positionals }) {
    const file = positionals[0] as string;
    const config = configFromEnv(process.env, values.data !== undefined ? { dataDir: values.data } : {});
    const url = values.url !== undefined ? httpUrl(values.url, '--url') : ledgerUrl(config);
    const token = readTokenFile(values['token-file'] ?? join(config.dataDir, 'admin.token'));
    let isExport: boolean;
    try {
      isExport = isExportFile(file);
    } catch (error) {
      throw new CliError((error as Error).message);
    }
    // A document is carried whole (v2); an export is named by its digest and line-2 checkpoint (v3, §14.1).
    let evidence: { format?: unknown; checkpoint?: unknown; serial?: unknown };
    let subject: ExportRenewalBundle['subject'] | null = null;
    if (isExport) {
      const read = await exportSubject(file);
      if (read.serial === null) throw new CliError(`${file} holds no unit record: the ledger's rotation records are fetched with a unit's provenance document, so an export without units cannot be renewed`);
      subject = { kind: 'export', sha256: read.sha256, checkpoint: read.checkpoint };
      evidence = { checkpoint: read.checkpoint, serial: read.serial };
    } else {
      evidence = readJsonFile(file, 'the provenance document') as typeof evidence;
      if (typeof evidence?.checkpoint !== 'string' || typeof evidence.format !== 'string' || !evidence.format.startsWith('flashtrail.provenance.') || typeof evidence.serial !== 'string') throw new CliError(`${file} is not a provenance document or an export`);
    }
    const serial = evidence.serial as string;
    let from: number;
    try {
      from = sizeOf(evidence.checkpoint as string);
    } catch (error) {
      throw new CliError(`${file}: its checkpoint cannot be read: ${(error as Error).message}`);
    }
    const client = new LedgerClient(url, token);
    const pqKey = parseMlDsaVerifierKey((await client.getText('/v1/ledger/pq-key')).trim());
    // The unit's newest document (an export's first unit's): its checkpoint is the ledger's newest, and its trust
    // entries hold every LedgerKeyRotated of that tree with inclusion proofs against it, which take a verifier
    // pinned to the evidence's key to the key that signed it (§5.4, §14).
    const newest = await client.get<{ checkpoint: string; entries: { role: string; leafIndex: number; envelope: { payload: string }; proof: string }[] }>(`/v1/units/${encodeURIComponent(serial)}/provenance`);
    if (typeof newest?.checkpoint !== 'string' || !Array.isArray(newest.entries)) throw new CliError(`the ledger's provenance document of ${serial} has no checkpoint or entries: nothing to renew with`);
    const checkpoint = newest.checkpoint;
    const rotations = newest.entries
      .filter((e) => e.role === 'trust' && eventTypeOf(e.envelope) === 'LedgerKeyRotated')
      .map(({ leafIndex, envelope, proof }) => ({ leafIndex, envelope, proof }));
    const verdict = verifyMlDsaLine(checkpoint, pqKey, nativeCrypto);
    if (!verdict.found || !verdict.valid) throw new CliError(`the ledger's newest checkpoint carries no valid ML-DSA-44 signature by ${pqKey.name}: nothing to renew with`);
    const to = sizeOf(checkpoint);
    if (to < from) throw new CliError(`the ledger's newest checkpoint (${to}) is older than ${file}'s (${from})`);
    const { proof } = await client.get<{ proof: string[] }>(`/v1/proofs/consistency?from=${from}&to=${to}`);
    const bundle: RenewalBundle | ExportRenewalBundle = subject !== null ? { format: RENEWAL_FORMAT_V3, subject, checkpoint, consistency: proof, rotations } : { format: RENEWAL_FORMAT, evidence, checkpoint, consistency: proof, rotations };
    const out = values.out ?? `${file.replace(/\.(nd)?json$/, '')}.renewed.json`;
    writeFileDurable(out, JSON.stringify(bundle, null, 2) + '\n', { mode: 0o644 });
    console.log(`wrote ${out}: ${subject !== null ? `export ${file} (SHA-256 ${subject.sha256.slice(0, 16)}…, ` : `${file} (`}checkpoint ${from}) renewed by checkpoint ${to}, Ed25519 + ML-DSA-44${rotations.length > 0 ? `, across ${rotations.length} ledger key rotation(s)` : ''}`);
    return 0;
  },
});

export default command;
