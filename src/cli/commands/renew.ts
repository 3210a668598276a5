/**
 * `flashtrail renew FILE`: extends an older provenance document to the ledger's newest hybrid-signed checkpoint
 * (Ed25519 + ML-DSA-44) with the consistency proof between them, and writes the renewal bundle
 * (flashtrail.renewal.v1), which `flashtrail verify` checks offline. Nothing is re-signed: the document's
 * history is kept by SHA-256 under a root the post-quantum signature fixes (README: keeping evidence until 2037).
 */
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
import { RENEWAL_FORMAT, type RenewalBundle } from '../../verify/renewal.ts';
import { nativeCrypto } from '../../native/crypto.ts';

const sizeOf = (note: string) => parseCheckpointBody(parseNote(note).text).size;

/** An envelope's event type, or null when the ledger sent something else: the verifier judges the bundle, not this. */
function eventTypeOf(envelope: unknown): unknown {
  try {
    return (JSON.parse(Buffer.from((envelope as { payload: string }).payload, 'base64').toString('utf8')) as { type?: unknown }).type;
  } catch {
    return null;
  }
}

// Named, then exported: see defineCommand for why not `export default defineCommand(…)`.
const command = defineCommand({
  usage: ['FILE [--out FILE] [--url URL] [--token-file FILE] [--data DIR]'],
  description: [
    "Fetches the ledger's newest checkpoint (it must carry the ML-DSA-44 signature) and the consistency proof from",
    "FILE's checkpoint to it, and writes a renewal bundle that verifies offline: flashtrail verify BUNDLE",
    '--ledger-key KEY --ledger-pq-key PQKEY reports the evidence as renewed. The ledger is not trusted: the',
    'bundle holds only what the verifier checks.',
  ].join('\n'),
  arguments: [{ name: 'FILE', help: 'a provenance document (GET /v1/units/SERIAL/provenance)' }],
  options: {
    out: { type: 'string', value: 'FILE', help: 'where to write the bundle (default FILE.renewed.json)' },
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
    const evidence = readJsonFile(file, 'the provenance document') as { format?: unknown; checkpoint?: unknown; serial?: unknown };
    if (typeof evidence?.checkpoint !== 'string' || typeof evidence.format !== 'string' || !evidence.format.startsWith('flashtrail.provenance.') || typeof evidence.serial !== 'string') throw new CliError(`${file} is not a provenance document`);
    let from: number;
    try {
      from = sizeOf(evidence.checkpoint);
    } catch (error) {
      throw new CliError(`${file}: its checkpoint cannot be read: ${(error as Error).message}`);
    }
    const client = new LedgerClient(url, token);
    const pqKey = parseMlDsaVerifierKey((await client.getText('/v1/ledger/pq-key')).trim());
    // The unit's newest document: its checkpoint is the ledger's newest, and its trust entries hold every
    // LedgerKeyRotated of that tree with inclusion proofs against it, which take a verifier pinned to the
    // evidence's key to the key that signed it (§5.4, §14).
    const newest = await client.get<{ checkpoint: string; entries: { role: string; leafIndex: number; envelope: { payload: string }; proof: string }[] }>(`/v1/units/${encodeURIComponent(evidence.serial)}/provenance`);
    if (typeof newest?.checkpoint !== 'string' || !Array.isArray(newest.entries)) throw new CliError(`the ledger's provenance document of ${evidence.serial} has no checkpoint or entries: nothing to renew with`);
    const checkpoint = newest.checkpoint;
    const rotations = newest.entries
      .filter((e) => e.role === 'trust' && eventTypeOf(e.envelope) === 'LedgerKeyRotated')
      .map(({ leafIndex, envelope, proof }) => ({ leafIndex, envelope, proof }));
    const verdict = verifyMlDsaLine(checkpoint, pqKey, nativeCrypto);
    if (!verdict.found || !verdict.valid) throw new CliError(`the ledger's newest checkpoint carries no valid ML-DSA-44 signature by ${pqKey.name}: nothing to renew with`);
    const to = sizeOf(checkpoint);
    if (to < from) throw new CliError(`the ledger's newest checkpoint (${to}) is older than ${file}'s (${from})`);
    const { proof } = await client.get<{ proof: string[] }>(`/v1/proofs/consistency?from=${from}&to=${to}`);
    const bundle: RenewalBundle = { format: RENEWAL_FORMAT, evidence, checkpoint, consistency: proof, rotations };
    const out = values.out ?? `${file.replace(/\.json$/, '')}.renewed.json`;
    writeFileDurable(out, JSON.stringify(bundle, null, 2) + '\n', { mode: 0o644 });
    console.log(`wrote ${out}: ${file} (checkpoint ${from}) renewed by checkpoint ${to}, Ed25519 + ML-DSA-44${rotations.length > 0 ? `, across ${rotations.length} ledger key rotation(s)` : ''}`);
    return 0;
  },
});

export default command;
